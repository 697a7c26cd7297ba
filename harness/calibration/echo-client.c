/*
 * The native echo client: the other half of the 2x2 floor. It speaks the framed wire's echo
 * ([u32 BE N][u8 type 0][body] -> the same frame) over one connection, one request at a time,
 * timing each round trip with CLOCK_MONOTONIC, so a C client can be measured against the Python
 * sidecar (and the C peer) in the same rounds as the Node clients.
 *
 * Usage: echo-client ADDRESS TIMEOUT_MS, ADDRESS being unix:/path or tcp:HOST:PORT (IPv4).
 * Prints one JSON ready line once connected, then answers commands read from stdin, one per line:
 *   block PAYLOAD_BYTES MIN_REQUESTS DURATION_US WARMUP
 * with one line: `ok N NS1 ... NSN` (the latencies, nanoseconds). A failure ends the process (the
 * connection cannot go on) with two lines: `partial N NS1 ... NSN`, the round trips measured before
 * it, then `error CODE message`. End of stdin ends it cleanly.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAYLOAD (64u * 1024u * 1024u)

static int fd = -1;
static uint8_t *request, *reply;
/* The current block's latencies, so a failure mid-block still reports what was measured. */
static uint64_t *latencies;
static size_t count, latency_capacity;
static int in_block;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void print_latencies(const char *tag) {
  printf("%s %zu", tag, count);
  for (size_t i = 0; i < count; i++) printf(" %llu", (unsigned long long)latencies[i]);
  printf("\n");
}

static void fail(const char *code, const char *message) {
  if (in_block) print_latencies("partial");
  printf("error %s %s\n", code, message);
  fflush(stdout);
  exit(1);
}

/* A read or write that failed: a timeout (SO_RCVTIMEO/SO_SNDTIMEO) or a closed connection. */
static void io_failed(ssize_t r) {
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) fail("TIMEOUT", "no reply within the timeout");
  fail("SIDECAR_CLOSED", r == 0 ? "the server closed the connection" : strerror(errno));
}

static void read_full(uint8_t *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) io_failed(r);
    got += (size_t)r;
  }
}

static void write_full(const uint8_t *buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(fd, buf + put, n - put);
    if (w <= 0) io_failed(w);
    put += (size_t)w;
  }
}

/* One echo round trip of `size` payload bytes (already in request+5); returns its latency. */
static uint64_t round_trip(uint32_t size) {
  uint64_t t0 = now_ns();
  write_full(request, (size_t)size + 5);
  uint8_t head[5];
  read_full(head, 5);
  uint32_t n = ((uint32_t)head[0] << 24) | ((uint32_t)head[1] << 16) | ((uint32_t)head[2] << 8) | head[3];
  if (n != size + 1 || head[4] != 0) {
    if (head[4] == 255) fail("PROTOCOL_ERROR", "the server answered with an error frame");
    fail("MISMATCH", "the reply is not the echo of the request");
  }
  read_full(reply, size);
  uint64_t t1 = now_ns();
  if (memcmp(reply, request + 5, size) != 0) fail("MISMATCH", "the echoed bytes differ");
  return t1 - t0;
}

static void connect_to(const char *address, int timeout_ms) {
  if (strncmp(address, "unix:", 5) == 0) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strncpy(sa.sun_path, address + 5, sizeof sa.sun_path - 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) fail("CONNECT_FAILED", strerror(errno));
  } else if (strncmp(address, "tcp:", 4) == 0) {
    char host[256];
    const char *colon = strrchr(address + 4, ':');
    if (colon == NULL || (size_t)(colon - (address + 4)) >= sizeof host) fail("USAGE", "expected tcp:HOST:PORT");
    memcpy(host, address + 4, (size_t)(colon - (address + 4)));
    host[colon - (address + 4)] = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) fail("USAGE", "expected an IPv4 address");
    fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) fail("CONNECT_FAILED", strerror(errno));
  } else {
    fail("USAGE", "expected unix:PATH or tcp:HOST:PORT");
  }
  struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: echo-client unix:/path|tcp:HOST:PORT TIMEOUT_MS\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  connect_to(argv[1], atoi(argv[2]));
  printf("{\"event\": \"ready\", \"client\": \"native-client\", \"address\": \"%s\", \"pid\": %d}\n", argv[1], (int)getpid());
  fflush(stdout);
  size_t capacity = 0;
  char line[256];
  while (fgets(line, sizeof line, stdin) != NULL) {
    unsigned long size, min_requests, duration_us, warmup;
    if (sscanf(line, "block %lu %lu %lu %lu", &size, &min_requests, &duration_us, &warmup) != 4 || size > MAX_PAYLOAD) fail("USAGE", "expected: block PAYLOAD_BYTES MIN_REQUESTS DURATION_US WARMUP");
    if (size + 5 > capacity) {
      capacity = size + 5;
      request = realloc(request, capacity);
      reply = realloc(reply, capacity);
      if (request == NULL || reply == NULL) fail("INTERNAL", "out of memory");
    }
    uint32_t n = (uint32_t)size + 1;
    request[0] = (uint8_t)(n >> 24), request[1] = (uint8_t)(n >> 16), request[2] = (uint8_t)(n >> 8), request[3] = (uint8_t)n;
    request[4] = 0;
    for (size_t i = 0; i < size; i++) request[5 + i] = (uint8_t)((i * 31 + 7) & 0xff); /* the harness's echo pattern */
    for (unsigned long i = 0; i < warmup; i++) round_trip((uint32_t)size);
    count = 0;
    in_block = 1;
    uint64_t until = now_ns() + (uint64_t)duration_us * 1000u;
    while (now_ns() < until || count < min_requests) {
      if (count == latency_capacity) {
        size_t grown_capacity = latency_capacity ? latency_capacity * 2 : 4096;
        uint64_t *grown = realloc(latencies, grown_capacity * sizeof *grown);
        if (grown == NULL) fail("INTERNAL", "out of memory"); /* `latencies` still holds what was measured */
        latencies = grown;
        latency_capacity = grown_capacity;
      }
      uint64_t ns = round_trip((uint32_t)size); /* a failure exits inside, before this one is counted */
      latencies[count++] = ns;
    }
    in_block = 0;
    print_latencies("ok");
    fflush(stdout);
  }
  return 0;
}
