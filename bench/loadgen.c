/*
 * trousers benchmark load generator.
 *
 * One process, one thread, epoll, non-blocking sockets. It checks every reply
 * byte: a server that drops, reorders, duplicates or corrupts data makes the run
 * fail (exit status 1, {"ok":false,...}) instead of looking fast.
 *
 * Every TCP workload used here (echo, "\r\n" lines, 4-byte big-endian
 * length-prefixed frames) has the property that the reply stream equals the
 * request stream, so each connection regenerates the expected message k from
 * (connection id, k) and compares the received bytes against it, however the
 * server splits or coalesces its writes.
 *
 * Modes:
 *   stream  conns connections, inflight messages outstanding on each; messages/s,
 *           MB/s and round-trip percentiles over the measurement window.
 *   accept  conns concurrent slots, each: connect, one message round trip,
 *           close; connections/s.
 *   udp     conns UDP sockets, inflight datagrams outstanding on each, a lost
 *           datagram frees its slot after timeout-ms; packets/s and loss %.
 *   idle    open conns connections (at most inflight connecting at once), one
 *           round trip on each, print "HOLDING <n>" and keep them open until a
 *           line/EOF on stdin or hold seconds pass.
 *
 * Usage:
 *   loadgen --mode=stream --target=127.0.0.1:PORT|[::1]:PORT|unix:/path
 *           [--kind=echo|line|frame] [--conns=50] [--inflight=16] [--size=32]
 *           [--duration=2] [--warmup=0.3] [--max=0] [--timeout-ms=250]
 *           [--hold=10] [--drain=5]
 *
 * Prints exactly one JSON line on stdout (idle mode: preceded by the HOLDING
 * line). Every run is bounded: warmup + duration + drain seconds (idle mode:
 * duration for the set-up + hold).
 *
 * Build: gcc -O2 -Wall -o bench/build/loadgen bench/loadgen.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { M_STREAM, M_ACCEPT, M_UDP, M_IDLE };
enum { K_ECHO, K_LINE, K_FRAME };
static const char *MODE_NAMES[] = {"stream", "accept", "udp", "idle"};
static const char *KIND_NAMES[] = {"echo", "line", "frame"};

static struct {
  int mode, kind;
  const char *target;
  int conns, inflight;
  size_t size;
  double duration, warmup, hold, drain;
  uint64_t max;
  int timeout_ms;
  int each; /* --send=each: one send() per message instead of one per batch */
  int sources; /* --sources=N: IPv4 connections come from 127.0.0.1 .. 127.0.0.N (more than ~28k) */
} O = {M_STREAM, K_ECHO, NULL, 50, 16, 32, 2.0, 0.3, 10.0, 5.0, 0, 250, 0, 1};

static struct sockaddr_storage ADDR;
static socklen_t ADDRLEN;
static int FAMILY;

/* ---------------------------------------------------------------- utilities */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double user_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static uint64_t T_PROCESS_START;

static void fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
  printf("{\"ok\":false,\"mode\":\"%s\",\"kind\":\"%s\",\"error\":\"%s\"}\n", MODE_NAMES[O.mode],
         KIND_NAMES[O.kind], msg);
  fflush(stdout);
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) fail("out of memory");
  return p;
}

/* Deterministic pseudo-random patterns; PLEN is prime, so message k of
 * connection c starts at a different offset for a long period. */
#define PLEN 65521u
static uint8_t *PAT; /* binary, PLEN + size bytes */
static uint8_t *PRN; /* printable (no '\r' / '\n'), PLEN + size bytes */

static void make_patterns(void) {
  size_t n = PLEN + O.size + 16;
  PAT = xmalloc(n);
  PRN = xmalloc(n);
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:;,!?#+*/=()[]{}<>@$%&";
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    PAT[i] = (uint8_t)(x >> 24);
    PRN[i] = (uint8_t)alphabet[(x >> 40) % (sizeof alphabet - 1)];
  }
}

/* Message k of connection conn, O.size bytes, valid for O.kind. */
static void gen_msg(uint32_t conn, uint64_t k, uint8_t *out) {
  size_t n = O.size;
  uint64_t off = (k * (uint64_t)n + (uint64_t)conn * 7919u) % PLEN;
  switch (O.kind) {
  case K_ECHO:
    memcpy(out, PAT + off, n);
    break;
  case K_LINE:
    memcpy(out, PRN + off, n - 2);
    out[n - 2] = '\r';
    out[n - 1] = '\n';
    break;
  case K_FRAME: {
    uint32_t len = (uint32_t)(n - 4);
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    memcpy(out + 4, PAT + off, n - 4);
    break;
  }
  }
}

/* Round-trip samples, nanoseconds. */
static uint32_t *SAMPLES;
static size_t NSAMPLES, SAMPLES_CAP = 4u << 20;

static void add_sample(uint64_t ns) {
  if (NSAMPLES < SAMPLES_CAP) SAMPLES[NSAMPLES++] = ns > 0xFFFFFFFFull ? 0xFFFFFFFFu : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void print_latency_fields(void) {
  if (!NSAMPLES) {
    printf(",\"samples\":0,\"p50_us\":null,\"p99_us\":null,\"max_us\":null");
    return;
  }
  qsort(SAMPLES, NSAMPLES, sizeof *SAMPLES, cmp_u32);
  size_t i50 = (NSAMPLES - 1) * 50 / 100, i99 = (NSAMPLES - 1) * 99 / 100;
  printf(",\"samples\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f", NSAMPLES,
         SAMPLES[i50] / 1e3, SAMPLES[i99] / 1e3, SAMPLES[NSAMPLES - 1] / 1e3);
}

static void parse_target(const char *t, int socktype) {
  memset(&ADDR, 0, sizeof ADDR);
  if (!strncmp(t, "unix:", 5)) {
    struct sockaddr_un *un = (struct sockaddr_un *)&ADDR;
    if (strlen(t + 5) >= sizeof un->sun_path) fail("unix path too long");
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, t + 5);
    ADDRLEN = sizeof *un;
    FAMILY = AF_UNIX;
    return;
  }
  char host[256];
  const char *port;
  if (t[0] == '[') {
    const char *e = strchr(t, ']');
    if (!e || e[1] != ':' || (size_t)(e - t - 1) >= sizeof host) fail("bad target %s", t);
    memcpy(host, t + 1, e - t - 1);
    host[e - t - 1] = 0;
    port = e + 2;
  } else {
    const char *c = strrchr(t, ':');
    if (!c || (size_t)(c - t) >= sizeof host) fail("bad target %s", t);
    memcpy(host, t, c - t);
    host[c - t] = 0;
    port = c + 1;
  }
  struct addrinfo hints = {0}, *res;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc) fail("getaddrinfo %s: %s", t, gai_strerror(rc));
  memcpy(&ADDR, res->ai_addr, res->ai_addrlen);
  ADDRLEN = res->ai_addrlen;
  FAMILY = res->ai_family;
  freeaddrinfo(res);
}

static void set_nodelay(int fd) {
  if (FAMILY == AF_UNIX) return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Raise RLIMIT_NOFILE towards need; returns the soft limit in force. */
static long raise_nofile(long need) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if ((long)rl.rlim_cur < need) {
    rlim_t want = (rlim_t)need;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) want = rl.rlim_max;
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return (long)rl.rlim_cur;
}

/* ------------------------------------------------------- stream connections */

enum { C_FREE, C_CONNECTING, C_ACTIVE, C_IDLE };

struct conn {
  int fd, state;
  uint32_t id;
  uint8_t *sbuf; /* pending output [soff, slen) */
  size_t soff, slen, scap;
  uint8_t *ebuf; /* expected message `done` (line / frame) */
  const uint8_t *exp; /* points at the expected message: ebuf or into PAT */
  size_t epos;
  int have_exp;
  uint64_t queued, done; /* messages queued for sending / fully echoed */
  uint64_t *tsend;       /* send time of message k at [k % inflight] */
  uint64_t t_start;      /* accept/idle: connect start */
};

static struct conn *CONNS;
static int EP;
static uint64_t T0, TW, TE;    /* start, end of warm-up, end of sending */
static uint64_t TOTAL_QUEUED, TOTAL_DONE, MEASURED, CONN_SEQ;
static int MAX_REACHED;
static uint64_t T_MAX_REACHED;
#define RBUFSZ (256u * 1024u)
static uint8_t RBUF[RBUFSZ];

static void conn_init_buffers(struct conn *c) {
  int win = O.mode == M_STREAM ? O.inflight : 1;
  c->scap = (size_t)win * O.size * 2 + 64;
  c->sbuf = xmalloc(c->scap);
  c->ebuf = xmalloc(O.size);
  c->tsend = xmalloc(sizeof(uint64_t) * (size_t)win);
}

static void conn_reset(struct conn *c) {
  c->soff = c->slen = 0;
  c->have_exp = 0;
  c->epos = 0;
  c->queued = c->done = 0;
}

static void queue_msg(struct conn *c, uint64_t t) {
  if (c->slen + O.size > c->scap) {
    memmove(c->sbuf, c->sbuf + c->soff, c->slen - c->soff);
    c->slen -= c->soff;
    c->soff = 0;
    if (c->slen + O.size > c->scap) {
      c->scap = (c->slen + O.size) * 2;
      c->sbuf = realloc(c->sbuf, c->scap);
      if (!c->sbuf) fail("out of memory");
    }
  }
  gen_msg(c->id, c->queued, c->sbuf + c->slen);
  c->slen += O.size;
  int win = O.mode == M_STREAM ? O.inflight : 1;
  c->tsend[c->queued % (uint64_t)win] = t;
  c->queued++;
  TOTAL_QUEUED++;
}

/* Write pending output until done or EAGAIN. */
static void flush(struct conn *c) {
  while (c->soff < c->slen) {
    ssize_t w = send(c->fd, c->sbuf + c->soff, c->slen - c->soff, MSG_NOSIGNAL);
    if (w > 0) {
      c->soff += (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      fail("conn %u: send: %s", c->id, strerror(errno));
    }
  }
  c->soff = c->slen = 0;
}

static int may_send(uint64_t t) {
  if (t >= TE) return 0;
  if (O.max && TOTAL_QUEUED >= O.max) {
    if (!MAX_REACHED) {
      MAX_REACHED = 1;
      T_MAX_REACHED = t;
    }
    return 0;
  }
  return 1;
}

static void finish_accept_conn(struct conn *c, uint64_t t);

/* Message c->done has been fully echoed at time t. */
static void complete(struct conn *c, uint64_t t) {
  int win = O.mode == M_STREAM ? O.inflight : 1;
  uint64_t sent = c->tsend[c->done % (uint64_t)win];
  c->done++;
  TOTAL_DONE++;
  switch (O.mode) {
  case M_STREAM:
    if (t >= TW && t < TE) {
      MEASURED++;
      add_sample(t - sent);
    }
    if (may_send(t)) {
      queue_msg(c, t);
      if (O.each) flush(c);
    }
    break;
  case M_ACCEPT:
    finish_accept_conn(c, t);
    break;
  case M_IDLE:
    c->state = C_IDLE;
    break;
  }
}

/* Compare received bytes against the expected message stream. */
static void consume(struct conn *c, const uint8_t *p, size_t n, uint64_t t) {
  while (n) {
    if (c->done >= c->queued)
      fail("conn %u: %zu unexpected extra bytes after reply %llu", c->id, n,
           (unsigned long long)c->done);
    if (!c->have_exp) {
      if (O.kind == K_ECHO) { /* echo messages are a slice of the pattern: no copy needed */
        c->exp = PAT + (c->done * (uint64_t)O.size + (uint64_t)c->id * 7919u) % PLEN;
      } else {
        gen_msg(c->id, c->done, c->ebuf);
        c->exp = c->ebuf;
      }
      c->epos = 0;
      c->have_exp = 1;
    }
    size_t want = O.size - c->epos, m = n < want ? n : want;
    if (memcmp(p, c->exp + c->epos, m)) {
      size_t i = 0;
      while (p[i] == c->exp[c->epos + i]) i++;
      fail("conn %u: reply %llu byte %zu: expected 0x%02x got 0x%02x (corrupt, dropped or reordered data)",
           c->id, (unsigned long long)c->done, c->epos + i, c->exp[c->epos + i], p[i]);
    }
    c->epos += m;
    p += m;
    n -= m;
    if (c->epos == O.size) {
      c->have_exp = 0;
      complete(c, t);
      if (c->state == C_FREE) {
        if (n) fail("conn %u: unexpected extra bytes after the reply", c->id);
        return; /* accept mode closed it */
      }
    }
  }
}

/* Read until EAGAIN (edge-triggered), then flush what the replies queued. */
static void do_read(struct conn *c) {
  for (;;) {
    ssize_t r = recv(c->fd, RBUF, RBUFSZ, 0);
    if (r > 0) {
      consume(c, RBUF, (size_t)r, now_ns());
      if (c->state == C_FREE) return;
      if ((size_t)r < RBUFSZ) break; /* short read: the socket is drained */
      continue;
    }
    if (r == 0)
      fail("conn %u: server closed the connection after %llu of %llu replies", c->id,
           (unsigned long long)c->done, (unsigned long long)c->queued);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    fail("conn %u: recv: %s", c->id, strerror(errno));
  }
  flush(c);
}

static int tcp_socket(void) {
  int fd = socket(FAMILY, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket: %s", strerror(errno));
  set_nodelay(fd);
  return fd;
}

/* Start a non-blocking connect; returns 0, or -1 for a retryable EAGAIN (unix backlog full). */
static int start_connect(struct conn *c, uint64_t t) {
  c->fd = tcp_socket();
  if (O.sources > 1 && FAMILY == AF_INET) {
    /* One loopback source address per ~28k connections: each (source, destination) pair
     * has only the ephemeral port range to use. */
    int one = 1; /* the port is chosen at connect(), per destination, not at bind() */
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
    src.sin_addr.s_addr = htonl(0x7F000001u + (uint32_t)(CONN_SEQ % (uint64_t)O.sources));
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) fail("bind source: %s", strerror(errno));
  }
  c->id = (uint32_t)CONN_SEQ++;
  conn_reset(c);
  c->t_start = t;
  if (connect(c->fd, (struct sockaddr *)&ADDR, ADDRLEN) < 0 && errno != EINPROGRESS) {
    if (errno == EAGAIN) {
      close(c->fd);
      c->fd = -1;
      c->state = C_FREE;
      return -1;
    }
    fail("connect: %s", strerror(errno));
  }
  c->state = C_CONNECTING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)(c - CONNS)};
  if (epoll_ctl(EP, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
  return 0;
}

/* Connecting socket became writable: check the result and send one message. */
static void connected(struct conn *c, uint64_t t) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) fail("connect: %s", strerror(err));
  c->state = C_ACTIVE;
  queue_msg(c, t);
  flush(c);
}

static void handle_event(struct conn *c, uint32_t events) {
  if (c->state == C_CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    connected(c, now_ns());
  }
  if (c->state == C_FREE) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) do_read(c);
  if (c->state != C_FREE && (events & EPOLLOUT)) flush(c);
}

static double cpu_w0, cpu_w1;
static uint64_t t_w0, t_w1;

/* Crossing the measurement window boundaries: sample CPU time. */
static void window_marks(uint64_t t) {
  if (!t_w0 && t >= TW) {
    t_w0 = t;
    cpu_w0 = cpu_s();
  }
  if (!t_w1 && (t >= TE || MAX_REACHED)) {
    t_w1 = t;
    cpu_w1 = cpu_s();
  }
}

static void print_common(double window_s) {
  double cpu_window = (t_w1 > t_w0 && t_w0) ? (cpu_w1 - cpu_w0) / ((t_w1 - t_w0) / 1e9) : 0;
  double wall = (now_ns() - T_PROCESS_START) / 1e9;
  printf("{\"ok\":true,\"mode\":\"%s\",\"kind\":\"%s\",\"conns\":%d,\"inflight\":%d,\"size\":%zu,"
         "\"window_s\":%.3f,\"loadgen_cpu_pct\":%.1f,\"loadgen_cpu_s\":%.3f,\"loadgen_user_s\":%.3f,"
         "\"loadgen_wall_s\":%.3f",
         MODE_NAMES[O.mode], KIND_NAMES[O.kind], O.conns, O.inflight, O.size, window_s,
         cpu_window * 100, cpu_s(), user_s(), wall);
}

static int run_stream(void) {
  CONNS = calloc((size_t)O.conns, sizeof *CONNS);
  if (!CONNS) fail("out of memory");
  EP = epoll_create1(EPOLL_CLOEXEC);
  /* Blocking connects before the clock starts. */
  for (int i = 0; i < O.conns; i++) {
    struct conn *c = &CONNS[i];
    c->fd = socket(FAMILY, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) fail("socket: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&ADDR, ADDRLEN) < 0) fail("connect: %s", strerror(errno));
    set_nodelay(c->fd);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->id = (uint32_t)i;
    c->state = C_ACTIVE;
    conn_init_buffers(c);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)i};
    if (epoll_ctl(EP, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
  }
  T0 = now_ns();
  TW = T0 + (uint64_t)(O.warmup * 1e9);
  TE = TW + (uint64_t)(O.duration * 1e9);
  for (int i = 0; i < O.conns; i++) {
    for (int j = 0; j < O.inflight && may_send(T0); j++) {
      queue_msg(&CONNS[i], T0);
      if (O.each) flush(&CONNS[i]);
    }
    flush(&CONNS[i]);
  }
  struct epoll_event evs[256];
  uint64_t t_drained = 0;
  for (;;) {
    uint64_t t = now_ns();
    window_marks(t);
    if ((t >= TE || MAX_REACHED) && TOTAL_DONE == TOTAL_QUEUED) {
      t_drained = t;
      break;
    }
    uint64_t stop = t_w1 ? t_w1 : TE;
    if (t > stop + (uint64_t)(O.drain * 1e9))
      fail("timed out waiting for %llu replies (server stalled or lost data)",
           (unsigned long long)(TOTAL_QUEUED - TOTAL_DONE));
    int n = epoll_wait(EP, evs, 256, 5);
    if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) handle_event(&CONNS[evs[i].data.u32], evs[i].events);
  }
  /* Window: warm-up end to send end; if --max stopped it early, to the drain. */
  uint64_t wend = MAX_REACHED ? t_drained : TE;
  uint64_t wstart = TW;
  if (MAX_REACHED && T_MAX_REACHED < TW) { /* never got past the warm-up: count everything */
    wstart = T0;
    MEASURED = TOTAL_DONE;
  }
  double window = (wend - wstart) / 1e9;
  print_common(window);
  printf(",\"messages\":%llu,\"total_messages\":%llu,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f",
         (unsigned long long)MEASURED, (unsigned long long)TOTAL_DONE, MEASURED / window,
         MEASURED * (double)O.size / window / 1e6);
  print_latency_fields();
  printf("}\n");
  return 0;
}

/* ------------------------------------------------------------------ accept */

static uint64_t ACCEPTS_MEASURED, ACCEPTS_TOTAL;
static int ACTIVE_SLOTS;

static void finish_accept_conn(struct conn *c, uint64_t t) {
  close(c->fd); /* orderly close: FIN after the reply has been read */
  c->fd = -1;
  c->state = C_FREE;
  ACTIVE_SLOTS--;
  ACCEPTS_TOTAL++;
  if (t >= TW && t < TE) {
    ACCEPTS_MEASURED++;
    add_sample(t - c->t_start);
  }
}

static int run_accept(void) {
  CONNS = calloc((size_t)O.conns, sizeof *CONNS);
  if (!CONNS) fail("out of memory");
  for (int i = 0; i < O.conns; i++) {
    conn_init_buffers(&CONNS[i]);
    CONNS[i].fd = -1;
  }
  EP = epoll_create1(EPOLL_CLOEXEC);
  T0 = now_ns();
  TW = T0 + (uint64_t)(O.warmup * 1e9);
  TE = TW + (uint64_t)(O.duration * 1e9);
  struct epoll_event evs[256];
  for (;;) {
    uint64_t t = now_ns();
    window_marks(t);
    for (int i = 0; i < O.conns; i++)
      if (CONNS[i].state == C_FREE && may_send(t) && start_connect(&CONNS[i], t) == 0) ACTIVE_SLOTS++;
    if ((t >= TE || MAX_REACHED) && ACTIVE_SLOTS == 0) break;
    uint64_t stop = t_w1 ? t_w1 : TE;
    if (t > stop + (uint64_t)(O.drain * 1e9))
      fail("timed out waiting for %d connections to finish", ACTIVE_SLOTS);
    int n = epoll_wait(EP, evs, 256, 5);
    if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) handle_event(&CONNS[evs[i].data.u32], evs[i].events);
  }
  double window = (TE - TW) / 1e9;
  if (MAX_REACHED) { /* bounded by --max: rate over the whole run */
    window = (now_ns() - T0) / 1e9;
    ACCEPTS_MEASURED = ACCEPTS_TOTAL;
  }
  print_common(window);
  printf(",\"connections\":%llu,\"total_connections\":%llu,\"conns_per_s\":%.1f",
         (unsigned long long)ACCEPTS_MEASURED, (unsigned long long)ACCEPTS_TOTAL,
         ACCEPTS_MEASURED / window);
  print_latency_fields();
  printf("}\n");
  return 0;
}

/* -------------------------------------------------------------------- idle */

/* An event on an idle connection: only EOF / an error (dropped) or stray data matter. */
static int idle_check(struct conn *c) {
  ssize_t r = recv(c->fd, RBUF, RBUFSZ, 0);
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    epoll_ctl(EP, EPOLL_CTL_DEL, c->fd, NULL);
    c->state = C_FREE;
    return 1;
  }
  if (r > 0) fail("conn %u: unexpected data on an idle connection", c->id);
  return 0;
}

static int run_idle(void) {
  long limit = raise_nofile((long)O.conns + 64);
  int requested = O.conns;
  if (O.conns > limit - 64) O.conns = (int)(limit - 64);
  if (O.conns < 1) fail("fd limit %ld too low", limit);
  CONNS = calloc((size_t)O.conns, sizeof *CONNS);
  if (!CONNS) fail("out of memory");
  for (int i = 0; i < O.conns; i++) {
    conn_init_buffers(&CONNS[i]);
    CONNS[i].fd = -1;
  }
  EP = epoll_create1(EPOLL_CLOEXEC);
  T0 = now_ns();
  TW = T0;
  TE = T0 + (uint64_t)(O.duration * 1e9); /* deadline for setting up */
  int started = 0, pending = 0, established = 0;
  struct epoll_event evs[512];
  while (established < O.conns) {
    uint64_t t = now_ns();
    if (t > TE) fail("set-up timed out: %d of %d connections established", established, O.conns);
    while (started < O.conns && pending < O.inflight) {
      if (start_connect(&CONNS[started], t) < 0) break;
      started++;
      pending++;
    }
    int n = epoll_wait(EP, evs, 512, 5);
    if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
      struct conn *c = &CONNS[evs[i].data.u32];
      if (c->state == C_IDLE) {
        if (idle_check(c)) fail("conn %u: closed by the server while idle", c->id);
        continue;
      }
      if (c->state == C_FREE) continue;
      handle_event(c, evs[i].events);
      if (c->state == C_IDLE) {
        pending--;
        established++;
      }
    }
  }
  uint64_t t_up = now_ns();
  double setup = (t_up - T0) / 1e9;
  printf("HOLDING %d\n", established);
  fflush(stdout);
  /* Hold until stdin says so (line or EOF) or the hold time passes. */
  struct epoll_event sev = {.events = EPOLLIN, .data.u32 = 0xFFFFFFFFu};
  (void)epoll_ctl(EP, EPOLL_CTL_ADD, 0, &sev); /* fails harmlessly if stdin is a file */
  uint64_t t_hold_end = t_up + (uint64_t)(O.hold * 1e9);
  int dropped = 0, done = 0;
  while (!done && now_ns() < t_hold_end) {
    int n = epoll_wait(EP, evs, 512, 20);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u32 == 0xFFFFFFFFu) {
        done = 1;
        continue;
      }
      struct conn *c = &CONNS[evs[i].data.u32];
      if (c->state == C_IDLE) dropped += idle_check(c);
    }
  }
  double held = (now_ns() - t_up) / 1e9;
  for (int i = 0; i < O.conns; i++)
    if (CONNS[i].fd >= 0) close(CONNS[i].fd);
  t_w0 = t_w1 = 0;
  print_common(setup);
  printf(",\"requested\":%d,\"fd_limit\":%ld,\"connections\":%d,\"setup_s\":%.3f,\"conns_per_s\":%.1f,"
         "\"held_s\":%.3f,\"dropped\":%d}\n",
         requested, limit, established, setup, established / setup, held, dropped);
  return 0;
}

/* --------------------------------------------------------------------- udp */

enum { U_NONE, U_OUT, U_DONE, U_LOST };
#define URING (1u << 16)

struct usock {
  int fd;
  uint64_t next_seq, oldest, outstanding;
  uint8_t *state;
  uint64_t *tsend;
};

static void udp_gen(uint32_t sock, uint64_t seq, uint8_t *out) {
  size_t n = O.size;
  out[0] = (uint8_t)sock;
  out[1] = (uint8_t)(sock >> 8);
  out[2] = (uint8_t)(sock >> 16);
  out[3] = (uint8_t)(sock >> 24);
  for (int i = 0; i < 8; i++) out[4 + i] = (uint8_t)(seq >> (8 * i));
  uint64_t off = (seq * (uint64_t)n + (uint64_t)sock * 7919u) % PLEN;
  memcpy(out + 12, PAT + off, n - 12);
}

static int run_udp(void) {
  if (O.size < 12) fail("udp size must be >= 12");
  struct usock *S = calloc((size_t)O.conns, sizeof *S);
  if (!S) fail("out of memory");
  EP = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < O.conns; i++) {
    S[i].fd = socket(FAMILY, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (S[i].fd < 0) fail("socket: %s", strerror(errno));
    if (connect(S[i].fd, (struct sockaddr *)&ADDR, ADDRLEN) < 0) fail("connect: %s", strerror(errno));
    S[i].state = calloc(URING, 1);
    S[i].tsend = calloc(URING, sizeof(uint64_t));
    if (!S[i].state || !S[i].tsend) fail("out of memory");
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(EP, EPOLL_CTL_ADD, S[i].fd, &ev);
  }
  uint8_t *pkt = xmalloc(O.size), *exp = xmalloc(O.size);
  uint64_t timeout = (uint64_t)O.timeout_ms * 1000000ull;
  uint64_t sent = 0, received = 0, lost = 0, late = 0, dups = 0, sent_measured = 0, lost_measured = 0;
  T0 = now_ns();
  TW = T0 + (uint64_t)(O.warmup * 1e9);
  TE = TW + (uint64_t)(O.duration * 1e9);
  struct epoll_event evs[64];
  for (;;) {
    uint64_t t = now_ns();
    window_marks(t);
    uint64_t total_out = 0;
    for (int i = 0; i < O.conns; i++) {
      struct usock *s = &S[i];
      /* expire */
      while (s->oldest < s->next_seq) {
        uint32_t slot = (uint32_t)(s->oldest % URING);
        if (s->state[slot] == U_OUT) {
          if (t - s->tsend[slot] < timeout && s->next_seq - s->oldest < URING) break;
          s->state[slot] = U_LOST;
          s->outstanding--;
          lost++;
          if (s->tsend[slot] >= TW && s->tsend[slot] < TE) lost_measured++;
        }
        s->oldest++;
      }
      /* refill the window */
      while (s->outstanding < (uint64_t)O.inflight && may_send(t)) {
        if (s->next_seq - s->oldest >= URING) break;
        udp_gen((uint32_t)i, s->next_seq, pkt);
        ssize_t w = send(s->fd, pkt, O.size, 0);
        if (w < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR) break;
          fail("udp send: %s", strerror(errno));
        }
        uint32_t slot = (uint32_t)(s->next_seq % URING);
        s->state[slot] = U_OUT;
        s->tsend[slot] = t;
        s->next_seq++;
        s->outstanding++;
        sent++;
        TOTAL_QUEUED++;
        if (t >= TW && t < TE) sent_measured++;
      }
      total_out += s->outstanding;
    }
    if ((t >= TE || MAX_REACHED) && total_out == 0) break;
    int n = epoll_wait(EP, evs, 64, 1);
    if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
    for (int e = 0; e < n; e++) {
      struct usock *s = &S[evs[e].data.u32];
      for (;;) {
        ssize_t r = recv(s->fd, RBUF, RBUFSZ, 0);
        if (r < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          if (errno == EINTR) continue;
          fail("udp recv: %s", strerror(errno));
        }
        uint64_t tr = now_ns();
        if ((size_t)r != O.size) fail("udp: reply of %zd bytes, expected %zu", r, O.size);
        uint32_t sock = RBUF[0] | RBUF[1] << 8 | RBUF[2] << 16 | (uint32_t)RBUF[3] << 24;
        uint64_t seq = 0;
        for (int i = 0; i < 8; i++) seq |= (uint64_t)RBUF[4 + i] << (8 * i);
        if (sock != evs[e].data.u32 || seq >= s->next_seq) fail("udp: reply with a bad header");
        udp_gen(sock, seq, exp);
        if (memcmp(exp, RBUF, O.size)) fail("udp: corrupt reply to datagram %llu", (unsigned long long)seq);
        uint32_t slot = (uint32_t)(seq % URING);
        if (seq < s->oldest && s->next_seq - seq >= URING) {
          late++;
          continue;
        }
        if (s->state[slot] == U_OUT) {
          s->state[slot] = U_DONE;
          s->outstanding--;
          received++;
          if (tr >= TW && tr < TE) {
            MEASURED++;
            add_sample(tr - s->tsend[slot]);
          }
        } else if (s->state[slot] == U_LOST) {
          late++;
        } else {
          dups++;
        }
      }
    }
  }
  if (dups) fail("udp: %llu duplicated replies", (unsigned long long)dups);
  double window = (TE - TW) / 1e9;
  if (MAX_REACHED) {
    window = (now_ns() - T0) / 1e9;
    MEASURED = received;
  }
  print_common(window);
  printf(",\"sent\":%llu,\"received\":%llu,\"lost\":%llu,\"late\":%llu,\"packets\":%llu,"
         "\"pkts_per_s\":%.1f,\"loss_pct\":%.4f,\"loss_pct_window\":%.4f",
         (unsigned long long)sent, (unsigned long long)received, (unsigned long long)lost,
         (unsigned long long)late, (unsigned long long)MEASURED, MEASURED / window,
         sent ? 100.0 * lost / sent : 0.0, sent_measured ? 100.0 * lost_measured / sent_measured : 0.0);
  print_latency_fields();
  printf("}\n");
  return 0;
}

/* -------------------------------------------------------------------- main */

static int lookup(const char *v, const char **names, int n, const char *what) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i])) return i;
  fail("unknown %s %s", what, v);
  return -1;
}

int main(int argc, char **argv) {
  T_PROCESS_START = now_ns();
  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *eq = strchr(a, '=');
    if (strncmp(a, "--", 2) || !eq) fail("bad argument %s (expected --key=value)", a);
    size_t kl = (size_t)(eq - a - 2);
    const char *k = a + 2, *v = eq + 1;
#define KEY(s) (kl == strlen(s) && !strncmp(k, s, kl))
    if (KEY("mode")) O.mode = lookup(v, MODE_NAMES, 4, "mode");
    else if (KEY("kind")) O.kind = lookup(v, KIND_NAMES, 3, "kind");
    else if (KEY("target")) O.target = v;
    else if (KEY("conns")) O.conns = atoi(v);
    else if (KEY("inflight")) O.inflight = atoi(v);
    else if (KEY("size")) O.size = (size_t)strtoul(v, NULL, 10);
    else if (KEY("duration")) O.duration = atof(v);
    else if (KEY("warmup")) O.warmup = atof(v);
    else if (KEY("hold")) O.hold = atof(v);
    else if (KEY("drain")) O.drain = atof(v);
    else if (KEY("max")) O.max = strtoull(v, NULL, 10);
    else if (KEY("timeout-ms")) O.timeout_ms = atoi(v);
    else if (KEY("sources")) O.sources = atoi(v);
    else if (KEY("send")) {
      if (!strcmp(v, "each")) O.each = 1;
      else if (!strcmp(v, "batch")) O.each = 0;
      else fail("--send must be each or batch");
    }
    else fail("unknown option --%.*s", (int)kl, k);
#undef KEY
  }
  if (!O.target) fail("--target is required");
  if (O.conns < 1 || O.inflight < 1) fail("--conns and --inflight must be >= 1");
  if (O.size < 4 || O.size > (1u << 24)) fail("--size must be 4..16777216");
  if (O.duration <= 0 || O.duration > 600 || O.warmup < 0 || O.warmup > 60 || O.hold < 0 || O.hold > 600 ||
      O.drain <= 0 || O.drain > 60)
    fail("durations out of range");
  if (O.mode != M_UDP) raise_nofile((long)O.conns + 64);
  make_patterns();
  SAMPLES = xmalloc(sizeof *SAMPLES * SAMPLES_CAP);
  parse_target(O.target, O.mode == M_UDP ? SOCK_DGRAM : SOCK_STREAM);
  int rc;
  switch (O.mode) {
  case M_STREAM: rc = run_stream(); break;
  case M_ACCEPT: rc = run_accept(); break;
  case M_IDLE: rc = run_idle(); break;
  default: rc = run_udp(); break;
  }
  fflush(stdout);
  return rc;
}
