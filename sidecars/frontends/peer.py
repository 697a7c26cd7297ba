"""Whether a client has left, asked of its socket without reading from it (docs/protocol.md, "Limits
for generation"). A generation asks between model steps, so a client that goes away stops paying
for one.

Left means: over unix, the peer closed its socket (hang-up); over TCP, the peer closed or shut down
its sending side (a FIN: the connection is no longer ESTABLISHED), or reset it. A TCP half-close
cannot be told from a close without writing, so a TCP client that half-closes while it waits for
a generation is taken as gone; a unix one is not. Our own `shutdown(SHUT_RD)`, with which a
stopping sidecar drains its connections, is not the client leaving: a poll for read hang-up would
report it, which is why TCP is asked for its state instead.
"""
from __future__ import annotations

import select
import socket
from collections.abc import Callable

_HUNG_UP = select.POLLHUP | select.POLLERR | select.POLLNVAL
_TCP_ESTABLISHED = 1  # tcp_info.tcpi_state, the first byte of TCP_INFO (linux/tcp_states.h)


def watcher(sock: socket.socket) -> Callable[[], bool]:
    """A cheap check, safe from any thread: True once the client of `sock` has left."""
    poller = select.poll()
    poller.register(sock.fileno(), _HUNG_UP)
    tcp_info = getattr(socket, "TCP_INFO", None)
    tcp = sock.family in (socket.AF_INET, socket.AF_INET6) and tcp_info is not None

    def gone() -> bool:
        if poller.poll(0):
            return True
        return tcp and sock.getsockopt(socket.IPPROTO_TCP, tcp_info, 1)[0] != _TCP_ESTABLISHED

    return gone
