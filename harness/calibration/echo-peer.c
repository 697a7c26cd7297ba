/*
 * The native echo peer: the IPC floor of this machine. It speaks the framed wire's echo
 * ([u32 BE N][u8 type 0][body] -> the same frame) on a unix or tcp socket, one thread per
 * connection, and nothing else. Usage: echo-peer unix:/path | tcp:127.0.0.1:0
 * Prints the same JSON ready line as the Python sidecar. Like the sidecar (sidecars/parent.py), it
 * ends when the harness that started it (SIDECAR_BENCH_PARENT_PID) dies, however it dies.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define MAX_FRAME (64u * 1024u * 1024u + 1u)

static int read_full(int fd, uint8_t *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const uint8_t *buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(fd, buf + put, n - put);
    if (w <= 0) return -1;
    put += (size_t)w;
  }
  return 0;
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  size_t cap = 1 << 16;
  uint8_t *buf = malloc(cap);
  for (;;) {
    uint8_t head[4];
    if (read_full(fd, head, 4) != 0) break;
    uint32_t n = ((uint32_t)head[0] << 24) | ((uint32_t)head[1] << 16) | ((uint32_t)head[2] << 8) | head[3];
    if (n == 0 || n > MAX_FRAME) break;
    if (n + 4 > cap) {
      cap = n + 4;
      uint8_t *grown = realloc(buf, cap);
      if (grown == NULL) break;
      buf = grown;
    }
    memcpy(buf, head, 4);
    if (read_full(fd, buf + 4, n) != 0) break;
    if (write_full(fd, buf, n + 4) != 0) break;
  }
  free(buf);
  close(fd);
  return NULL;
}

/* SIGTERM when the harness dies (Linux); a peer started by hand has no harness to follow. */
static void die_with_parent(void) {
#ifdef __linux__
  const char *parent = getenv("SIDECAR_BENCH_PARENT_PID");
  if (parent == NULL || *parent == '\0') return;
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return;
  if (getppid() != (pid_t)atol(parent)) raise(SIGTERM); /* it died before prctl took effect */
#endif
}

int main(int argc, char **argv) {
  die_with_parent();
  if (argc != 2) {
    fprintf(stderr, "usage: echo-peer unix:/path | tcp:127.0.0.1:PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const char *listen_at = argv[1];
  int lfd;
  char address[512];
  if (strncmp(listen_at, "unix:", 5) == 0) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strncpy(sa.sun_path, listen_at + 5, sizeof sa.sun_path - 1);
    unlink(sa.sun_path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0) { perror("bind"); return 1; }
    snprintf(address, sizeof address, "unix:%s", sa.sun_path);
  } else if (strncmp(listen_at, "tcp:127.0.0.1:", 14) == 0) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(listen_at + 14))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0) { perror("bind"); return 1; }
    socklen_t len = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &len);
    snprintf(address, sizeof address, "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
  } else {
    fprintf(stderr, "echo-peer: expected unix:PATH or tcp:127.0.0.1:PORT, got %s\n", listen_at);
    return 2;
  }
  if (listen(lfd, 128) != 0) { perror("listen"); return 1; }
  printf("{\"event\": \"ready\", \"model\": \"echo\", \"transport\": \"native-peer\", \"address\": \"%s\", \"pid\": %d}\n", address, (int)getpid());
  fflush(stdout);
  for (;;) {
    int cfd = accept(lfd, NULL, NULL);
    if (cfd < 0) continue;
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    pthread_create(&t, NULL, serve, (void *)(intptr_t)cfd);
    pthread_detach(t);
  }
}
