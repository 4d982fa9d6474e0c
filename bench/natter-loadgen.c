/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* natter-loadgen: a WebSocket load generator for the Natter JSON protocol.
 *
 * Each worker process is one epoll loop over its share of the connections, with its own
 * minimal client framing (handshake, masked text frames, ping/pong, close), so the load
 * generator costs little per frame and is not what limits a run. The parent process only
 * coordinates: it waits until every worker has its connections logged in and joined,
 * starts them at one instant, samples the server's /proc entries at the edges of the
 * measured window, and merges the workers' counters and latency histograms.
 *
 * Latency: a sender writes CLOCK_MONOTONIC (ns) at the start of each message body; every
 * receiving connection subtracts it from its own clock when the `message` event arrives.
 * The clock is system-wide, so senders and receivers may live in different workers. */

#define _GNU_SOURCE

#include "bench-wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RBUF_SIZE (4u << 20)
#define NSEC 1000000000ull

typedef enum {
  OP_SEND,
  OP_HISTORY,
  OP_SEARCH,
  OP_IDLE,
} Op;

typedef enum {
  AUTH_AUTO,     /* token if known, else register, else password login */
  AUTH_REGISTER,
  AUTH_LOGIN,    /* password login only */
  AUTH_NONE,     /* WebSocket handshake only */
} AuthMode;

/* --timeline: the deliveries of messages sent in one TIMELINE_SLOT_NS, counted on arrival. */
#define TIMELINE_SLOT_NS 10000000u

typedef struct {
  uint32_t n;
  uint32_t late;          /* slower than --late-ms */
  uint32_t max_us;
} TimelineSlot;

typedef struct {
  char       *host;
  int         port;
  char       *path;
  uint32_t    conns;
  uint32_t    rooms;
  uint32_t    senders;
  double      rate;
  uint32_t    window;
  double      duration;
  double      warmup;
  double      drain;
  uint32_t    body_size;
  uint32_t    procs;
  uint32_t    src_addrs;
  char       *user_prefix;
  uint32_t    user_offset;
  char       *room_prefix;
  char       *password;
  AuthMode    auth;
  char       *token_file;
  uint32_t    auth_concurrency;
  uint32_t    setup_concurrency;
  double      setup_timeout;
  int         server_pid;
  Op          op;
  uint32_t    history_limit;
  bool        history_random;
  char      **queries;
  uint32_t    n_queries;
  uint32_t    search_limit;
  char       *label;
  char       *json_file;
  char       *timeline_file;
  double      late_ms;
  bool        quiet;
} Options;

static Options opt;

/* The tokens known per user (index = user index - user_offset). */
static char **tokens;
static char   run_id[16];

/* ------------------------------------------------------------------------------------ */
/* Counters */

enum {
  ERR_BAD_REQUEST,
  ERR_UNAUTHORIZED,
  ERR_FORBIDDEN,
  ERR_NOT_FOUND,
  ERR_CONFLICT,
  ERR_TOO_LARGE,
  ERR_RATE_LIMITED,
  ERR_UNAVAILABLE,
  ERR_INTERNAL,
  ERR_OTHER,
  N_ERR
};

static const char *const err_names[N_ERR] = {
  "bad_request", "unauthorized", "forbidden", "not_found", "conflict", "too_large",
  "rate_limited", "unavailable", "internal", "other",
};

#define N_CLOSE_SLOTS 8

typedef struct {
  uint64_t conns_ok;
  uint64_t conns_failed;      /* could not connect, upgrade, log in or join */
  uint64_t disconnects;       /* ready connections the server closed or reset later */
  uint64_t sent;              /* in the measured window */
  uint64_t acked;
  uint64_t delivered;
  uint64_t sent_all;          /* over the whole run */
  uint64_t acked_all;
  uint64_t delivered_all;
  uint64_t errors[N_ERR];
  uint64_t errors_setup;      /* error replies during setup (not counted above) */
  uint64_t seq_gaps;
  uint64_t seq_dups;
  uint64_t pings;
  uint64_t other_frames;
  uint64_t stalled;           /* rate mode: a send was due but every sender's window was full */
  uint64_t missed;            /* rate mode: sends dropped because the backlog grew too long */
  uint64_t empty_replies;     /* history/search replies without a message */
  uint64_t bytes_in;
  uint64_t bytes_out;
  uint32_t close_code[N_CLOSE_SLOTS];
  uint64_t close_count[N_CLOSE_SLOTS];
  double   cpu_s;             /* this worker's CPU time in the window */
  uint64_t tokens_bytes;      /* size of the token text that follows the histograms */
} Counters;

static int
err_index (BSlice code)
{
  int i;

  for (i = 0; i < ERR_OTHER; i++)
    if (bslice_eq (code, err_names[i]))
      return i;
  return ERR_OTHER;
}

static void
count_close (Counters *c, uint32_t code)
{
  int i;

  for (i = 0; i < N_CLOSE_SLOTS; i++)
    {
      if (c->close_count[i] != 0 && c->close_code[i] == code)
        {
          c->close_count[i]++;
          return;
        }
      if (c->close_count[i] == 0)
        {
          c->close_code[i] = code;
          c->close_count[i] = 1;
          return;
        }
    }
  c->close_count[N_CLOSE_SLOTS - 1]++;
}

/* ------------------------------------------------------------------------------------ */
/* Connections */

typedef enum {
  ST_PENDING,
  ST_CONNECTING,
  ST_HANDSHAKE,
  ST_AUTH,
  ST_JOIN,
  ST_READY,
  ST_DEAD,
} ConnState;

typedef enum {
  STEP_TOKEN,
  STEP_REGISTER,
  STEP_PASSWORD,
} AuthStep;

typedef struct {
  uint64_t id;   /* 0: free */
  uint64_t t_ns;
  bool measured; /* sent while measuring: its reply counts in acked */
} Slot;

typedef struct Conn Conn;
struct Conn {
  int       fd;
  uint32_t  idx;          /* global connection index */
  int32_t   room;         /* -1: none */
  uint8_t   state;
  uint8_t   auth_step;
  bool      sender;
  bool      dirty;
  bool      want_out;
  bool      has_setup_slot;
  bool      has_auth_slot;
  bool      closing;
  uint8_t   frag_op;
  uint8_t  *in;
  uint32_t  in_len, in_cap;
  uint8_t  *out;
  uint32_t  out_off, out_len, out_cap;
  uint8_t  *frag;
  uint32_t  frag_len, frag_cap;
  char      ws_accept[29];
  uint64_t  next_id;
  uint64_t  pending_id;   /* the auth or join request in flight */
  uint64_t  last_seq;
  uint64_t  msg_n;
  uint64_t  paused_until;
  uint32_t  inflight;
  Slot     *slots;
  Conn     *next_dirty;
};

typedef struct {
  int        w;
  int        epfd;
  int        ctl_in;      /* from the parent */
  int        ctl_out;     /* to the parent */
  Conn      *conns;
  uint32_t   n;
  uint32_t   next_start;
  uint32_t   setup_active;
  uint32_t   auth_active;
  uint32_t  *auth_queue;  /* ring of local indices waiting for an auth slot */
  uint32_t   aq_head, aq_len;
  uint32_t   n_ready, n_failed;
  bool       reported;
  bool       go;
  bool       stopped;     /* senders stopped */
  uint64_t   go_ns, warm_ns, end_ns, drain_ns;
  bool       measuring;
  Conn      *dirty;
  uint8_t   *rbuf;
  uint8_t   *scratch;
  size_t     scratch_size;
  char     **room_names;
  uint32_t  *senders;     /* local indices */
  uint32_t   n_senders;
  uint32_t   rr;
  double     rate;        /* this worker's share */
  uint64_t   scheduled;
  uint32_t   paused_n;
  uint64_t   rng;
  uint64_t   last_progress;
  uint32_t   query_rr;
  struct sockaddr_in dst;
  char      *pad;
  Counters   c;
  BenchHist  lat;         /* delivery latency: message events */
  BenchHist  ack;         /* send → sent, or request → reply */
  TimelineSlot *timeline; /* --timeline: deliveries by send time, n_timeline slots */
  uint32_t   n_timeline;
} Worker;

static Worker wk;

static void die (const char *fmt, ...) __attribute__ ((format (printf, 1, 2), noreturn));

static void
die (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  fputs ("natter-loadgen: ", stderr);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
  va_end (ap);
  exit (2);
}

static void *
xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n);

  if (q == NULL && n != 0)
    die ("out of memory");
  return q;
}

static char *
xstrdup (const char *s)
{
  char *d = strdup (s);

  if (d == NULL)
    die ("out of memory");
  return d;
}

static uint64_t
rng_next (void)
{
  /* xorshift64*: the masking keys and random history positions need no more */
  wk.rng ^= wk.rng >> 12;
  wk.rng ^= wk.rng << 25;
  wk.rng ^= wk.rng >> 27;
  return wk.rng * 0x2545F4914F6CDD1Dull;
}

static char *
u64toa (uint64_t v, char *out)
{
  char tmp[24];
  int n = 0;

  do
    {
      tmp[n++] = (char) ('0' + v % 10);
      v /= 10;
    }
  while (v != 0);
  while (n > 0)
    *out++ = tmp[--n];
  return out;
}

static char *
put (char *o, const char *s)
{
  size_t n = strlen (s);

  memcpy (o, s, n);
  return o + n;
}

static void
user_name (uint32_t idx, char *out, size_t size)
{
  snprintf (out, size, "%s%" PRIu32, opt.user_prefix, opt.user_offset + idx);
}

static bool
write_all (int fd, const void *buf, size_t len)
{
  const uint8_t *p = buf;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      p += n;
      len -= (size_t) n;
    }
  return true;
}

static bool
read_all (int fd, void *buf, size_t len)
{
  uint8_t *p = buf;

  while (len > 0)
    {
      ssize_t n = read (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      p += n;
      len -= (size_t) n;
    }
  return true;
}

static double
self_cpu_s (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------------------------ */
/* Output */

static void
mark_dirty (Conn *c)
{
  if (!c->dirty)
    {
      c->dirty = true;
      c->next_dirty = wk.dirty;
      wk.dirty = c;
    }
}

static uint8_t *
out_reserve (Conn *c, size_t n)
{
  if (c->out_off > 0 && c->out_off == c->out_len)
    c->out_off = c->out_len = 0;
  if (c->out_len + n > c->out_cap)
    {
      if (c->out_off > 0)
        {
          memmove (c->out, c->out + c->out_off, c->out_len - c->out_off);
          c->out_len -= c->out_off;
          c->out_off = 0;
        }
      if (c->out_len + n > c->out_cap)
        {
          uint32_t cap = c->out_cap ? c->out_cap : 1024;

          while (cap < c->out_len + n)
            cap *= 2;
          c->out = xrealloc (c->out, cap);
          c->out_cap = cap;
        }
    }
  return c->out + c->out_len;
}

/* Queues a masked client frame. */
static void
send_frame (Conn *c, uint8_t opcode, const void *payload, size_t len)
{
  uint8_t *o = out_reserve (c, len + 14);
  uint64_t r = rng_next ();
  uint8_t mask[4];
  size_t hl;

  memcpy (mask, &r, 4);
  hl = ws_write_header (o, opcode, len, mask);
  memcpy (o + hl, payload, len);
  ws_mask (o + hl, len, mask);
  c->out_len += (uint32_t) (hl + len);
  wk.c.bytes_out += hl + len;
  mark_dirty (c);
}

static void
send_text (Conn *c, const char *payload, size_t len)
{
  send_frame (c, WS_OP_TEXT, payload, len);
}

static void conn_fail (Conn *c, const char *why);

static void
set_epoll_out (Conn *c, bool on)
{
  struct epoll_event ev;

  if (c->want_out == on)
    return;
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
  ev.data.ptr = c;
  epoll_ctl (wk.epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = on;
}

static void
flush_conn (Conn *c)
{
  while (c->out_off < c->out_len)
    {
      ssize_t n = write (c->fd, c->out + c->out_off, c->out_len - c->out_off);

      if (n > 0)
        {
          c->out_off += (uint32_t) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN))
        {
          set_epoll_out (c, true);
          return;
        }
      conn_fail (c, "write");
      return;
    }
  c->out_off = c->out_len = 0;
  set_epoll_out (c, false);
  if (c->closing)
    conn_fail (c, NULL);
}

static void
flush_dirty (void)
{
  while (wk.dirty != NULL)
    {
      Conn *c = wk.dirty;

      wk.dirty = c->next_dirty;
      c->dirty = false;
      c->next_dirty = NULL;
      if (c->state != ST_DEAD && c->state != ST_CONNECTING)
        flush_conn (c);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Setup: connect, upgrade, log in, join */

static void setup_pump (void);
static void auth_start (Conn *c);

static void
release_auth_slot (Conn *c)
{
  if (!c->has_auth_slot)
    return;
  c->has_auth_slot = false;
  wk.auth_active--;
  /* hand the slot to the next connection waiting for one */
  while (wk.aq_len > 0 && wk.auth_active < opt.auth_concurrency)
    {
      Conn *n = &wk.conns[wk.auth_queue[wk.aq_head]];

      wk.aq_head = (wk.aq_head + 1) % wk.n;
      wk.aq_len--;
      if (n->state == ST_AUTH)
        auth_start (n);
    }
}

static void
release_slots (Conn *c)
{
  if (c->has_setup_slot)
    {
      c->has_setup_slot = false;
      wk.setup_active--;
    }
  release_auth_slot (c);
}

static void
conn_fail (Conn *c, const char *why)
{
  bool was_ready = c->state == ST_READY;

  if (c->state == ST_DEAD)
    return;
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
  if (was_ready)
    {
      wk.n_ready--;
      if (why != NULL || !wk.stopped)
        wk.c.disconnects++;
    }
  else
    {
      wk.n_failed++;
      wk.c.conns_failed++;
      if (why != NULL && wk.c.conns_failed <= 3)
        fprintf (stderr, "natter-loadgen[%d]: connection %" PRIu32 " failed in setup: %s\n",
                 wk.w, c->idx, why);
    }
  c->state = ST_DEAD;
  if (c->paused_until != 0)
    {
      c->paused_until = 0;
      wk.paused_n--;
    }
  release_slots (c);
  free (c->in);
  c->in = NULL;
  c->in_len = c->in_cap = 0;
  free (c->frag);
  c->frag = NULL;
  c->frag_len = c->frag_cap = 0;
  free (c->out);
  c->out = NULL;
  c->out_off = c->out_len = c->out_cap = 0;
  if (!wk.reported)
    setup_pump ();
}

static void
conn_ready (Conn *c)
{
  c->state = ST_READY;
  wk.n_ready++;
  wk.c.conns_ok++;
  release_slots (c);
  setup_pump ();
}

static void
conn_start (Conn *c)
{
  struct epoll_event ev;
  int fd, one = 1;

  fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0)
    {
      c->state = ST_CONNECTING;
      c->fd = -1;
      conn_fail (c, strerror (errno));
      return;
    }
  c->fd = fd;
  c->state = ST_CONNECTING;
  c->has_setup_slot = true;
  wk.setup_active++;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (opt.src_addrs > 0)
    {
      struct sockaddr_in src;

      memset (&src, 0, sizeof src);
      src.sin_family = AF_INET;
      /* 127.0.0.2, 127.0.0.3, …: each source address has its own port range */
      src.sin_addr.s_addr = htonl (0x7F000002u + c->idx % opt.src_addrs);
      setsockopt (fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      if (bind (fd, (struct sockaddr *) &src, sizeof src) < 0)
        {
          conn_fail (c, strerror (errno));
          return;
        }
    }
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = c;
  c->want_out = true;
  if (epoll_ctl (wk.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      conn_fail (c, strerror (errno));
      return;
    }
  if (connect (fd, (struct sockaddr *) &wk.dst, sizeof wk.dst) < 0 && errno != EINPROGRESS)
    conn_fail (c, strerror (errno));
}

static void
send_handshake (Conn *c)
{
  uint8_t key_raw[16];
  char key[32];
  char req[512];
  int n, i;

  for (i = 0; i < 16; i += 8)
    {
      uint64_t r = rng_next ();

      memcpy (key_raw + i, &r, 8);
    }
  bench_base64 (key_raw, 16, key);
  ws_accept_key (key, strlen (key), c->ws_accept);
  n = snprintf (req, sizeof req,
                "GET %s HTTP/1.1\r\n"
                "Host: %s:%d\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: natter.v1.json\r\n"
                "\r\n",
                opt.path, opt.host, opt.port, key);
  memcpy (out_reserve (c, (size_t) n), req, (size_t) n);
  c->out_len += (uint32_t) n;
  mark_dirty (c);
  c->state = ST_HANDSHAKE;
}

static void
send_join (Conn *c)
{
  char buf[256];
  char *o = buf;

  c->state = ST_JOIN;
  c->pending_id = ++c->next_id;
  o = put (o, "{\"id\":");
  o = u64toa (c->pending_id, o);
  o = put (o, ",\"join\":{\"room\":\"");
  o = put (o, wk.room_names[c->room]);
  o = put (o, "\"}}");
  send_text (c, buf, (size_t) (o - buf));
}

static void
after_auth (Conn *c)
{
  if (c->room >= 0)
    send_join (c);
  else
    conn_ready (c);
}

static void
auth_send (Conn *c)
{
  char user[80];
  char buf[1024];
  char *o = buf;
  size_t n;

  user_name (c->idx, user, sizeof user);
  c->pending_id = ++c->next_id;
  o = put (o, "{\"id\":");
  o = u64toa (c->pending_id, o);
  switch ((AuthStep) c->auth_step)
    {
    case STEP_TOKEN:
      o = put (o, ",\"login\":{\"token\":");
      n = bj_escape (tokens[c->idx], o, 512);
      o += n;
      break;
    case STEP_REGISTER:
    case STEP_PASSWORD:
      o = put (o, c->auth_step == STEP_REGISTER ? ",\"register\":{\"user\":\"" : ",\"login\":{\"user\":\"");
      o = put (o, user);
      o = put (o, "\",\"password\":");
      n = bj_escape (opt.password, o, 256);
      o += n;
      break;
    default:
      break;
    }
  o = put (o, "}}");
  send_text (c, buf, (size_t) (o - buf));
}

/* Password operations cost an Argon2id hash on the server: at most auth_concurrency of
 * them are in flight. */
static void
auth_start (Conn *c)
{
  if (c->auth_step != STEP_TOKEN && !c->has_auth_slot)
    {
      if (wk.auth_active >= opt.auth_concurrency)
        {
          wk.auth_queue[(wk.aq_head + wk.aq_len) % wk.n] = (uint32_t) (c - wk.conns);
          wk.aq_len++;
          return;
        }
      c->has_auth_slot = true;
      wk.auth_active++;
    }
  auth_send (c);
}

static void
auth_begin (Conn *c)
{
  c->state = ST_AUTH;
  if (opt.auth == AUTH_NONE)
    {
      conn_ready (c);
      return;
    }
  if (opt.auth == AUTH_LOGIN)
    c->auth_step = STEP_PASSWORD;
  else if (opt.auth == AUTH_REGISTER)
    c->auth_step = STEP_REGISTER;
  else
    c->auth_step = tokens[c->idx] != NULL ? STEP_TOKEN : STEP_REGISTER;
  auth_start (c);
}

static void
setup_pump (void)
{
  static bool pumping;

  /* conn_start() may fail at once and call back here: loop instead of recursing */
  if (pumping)
    return;
  pumping = true;
  while (wk.next_start < wk.n && wk.setup_active < opt.setup_concurrency)
    conn_start (&wk.conns[wk.next_start++]);
  pumping = false;
}

/* Returns the bytes consumed, or -1 on failure. */
static ssize_t
handle_handshake (Conn *c, const uint8_t *buf, size_t len)
{
  const char *end = memmem (buf, len, "\r\n\r\n", 4);
  const char *line;
  bool accepted = false;

  if (end == NULL)
    {
      if (len <= 8192)
        return 0;
      conn_fail (c, "handshake response too long");
      return -1;
    }
  if (len < 12 || memcmp (buf, "HTTP/1.1 101", 12) != 0)
    {
      conn_fail (c, "upgrade refused");
      return -1;
    }
  for (line = (const char *) buf; line != NULL && line < end;)
    {
      const char *eol = memmem (line, (size_t) (end - line) + 2, "\r\n", 2);

      if (eol - line > 21 && strncasecmp (line, "Sec-WebSocket-Accept:", 21) == 0)
        {
          const char *v = line + 21;

          while (*v == ' ')
            v++;
          accepted = eol - v == 28 && memcmp (v, c->ws_accept, 28) == 0;
        }
      line = eol + 2;
    }
  if (!accepted)
    {
      conn_fail (c, "bad Sec-WebSocket-Accept");
      return -1;
    }
  auth_begin (c);
  return end + 4 - (const char *) buf;
}

/* ------------------------------------------------------------------------------------ */
/* Sending */

static bool
slot_take (Conn *c, uint64_t id, uint64_t now)
{
  Slot *s = &c->slots[id % opt.window];

  if (s->id != 0)
    return false;
  s->id = id;
  s->t_ns = now;
  s->measured = wk.measuring;
  c->inflight++;
  return true;
}

static Slot *
slot_find (Conn *c, uint64_t id)
{
  Slot *s;

  if (c->slots == NULL || id == 0)
    return NULL;
  s = &c->slots[id % opt.window];
  return s->id == id ? s : NULL;
}

static bool
can_send (Conn *c, uint64_t now)
{
  if (c->state != ST_READY || c->inflight >= opt.window)
    return false;
  if (c->paused_until != 0)
    {
      if (now < c->paused_until)
        return false;
      c->paused_until = 0;
      wk.paused_n--;
    }
  return c->slots[(c->next_id + 1) % opt.window].id == 0;
}

static void
do_send (Conn *c, uint64_t now)
{
  char *buf = (char *) wk.scratch;
  char *o = buf;
  uint64_t id = ++c->next_id;
  char digits[24];
  size_t dn, pad;

  slot_take (c, id, now);
  o = put (o, "{\"id\":");
  o = u64toa (id, o);
  switch (opt.op)
    {
    case OP_SEND:
      o = put (o, ",\"send\":{\"room\":\"");
      o = put (o, wk.room_names[c->room]);
      o = put (o, "\",\"body\":\"");
      dn = (size_t) (u64toa (now, digits) - digits);
      memcpy (o, digits, dn);
      o += dn;
      *o++ = ' ';
      pad = opt.body_size > dn + 1 ? opt.body_size - dn - 1 : 0;
      memcpy (o, wk.pad, pad);
      o += pad;
      o = put (o, "\",\"client_msg_id\":\"");
      o = put (o, run_id);
      *o++ = '-';
      o = u64toa (c->idx, o);
      *o++ = '-';
      o = u64toa (++c->msg_n, o);
      o = put (o, "\"}}");
      break;
    case OP_HISTORY:
      o = put (o, ",\"history\":{\"room\":\"");
      o = put (o, wk.room_names[c->room]);
      o = put (o, "\",\"limit\":");
      o = u64toa (opt.history_limit, o);
      if (opt.history_random && c->last_seq > opt.history_limit)
        {
          o = put (o, ",\"before_seq\":");
          o = u64toa (opt.history_limit + 1 + rng_next () % (c->last_seq - opt.history_limit), o);
        }
      o = put (o, "}}");
      break;
    case OP_SEARCH:
      o = put (o, ",\"search\":{\"query\":");
      o += bj_escape (opt.queries[wk.query_rr++ % opt.n_queries], o, 1024);
      o = put (o, ",\"limit\":");
      o = u64toa (opt.search_limit, o);
      o = put (o, "}}");
      break;
    case OP_IDLE:
    default:
      break;
    }
  send_text (c, buf, (size_t) (o - buf));
  wk.c.sent_all++;
  if (wk.measuring)
    wk.c.sent++;
}

static void
fill_window (Conn *c, uint64_t now)
{
  if (opt.rate > 0 || wk.stopped || !wk.go || !c->sender)
    return;
  while (can_send (c, now))
    do_send (c, now);
}

/* Rate mode: send what is due since go, round-robin over the senders. */
static void
rate_pump (uint64_t now)
{
  uint64_t due;
  uint64_t cap = (uint64_t) (wk.rate * 0.1) + 10;

  if (wk.n_senders == 0 || now < wk.go_ns)
    return;
  due = (uint64_t) ((double) (now - wk.go_ns) * wk.rate / 1e9);
  if (due > wk.scheduled + cap)
    {
      /* more than 100 ms behind: drop the backlog rather than burst */
      wk.c.missed += due - cap - wk.scheduled;
      wk.scheduled = due - cap;
    }
  while (wk.scheduled < due)
    {
      uint32_t tries;
      bool sent = false;

      for (tries = 0; tries < wk.n_senders; tries++)
        {
          Conn *c = &wk.conns[wk.senders[wk.rr]];

          wk.rr = (wk.rr + 1) % wk.n_senders;
          if (can_send (c, now))
            {
              do_send (c, now);
              sent = true;
              break;
            }
        }
      if (!sent)
        {
          wk.c.stalled++;
          break;
        }
      wk.scheduled++;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Receiving */

/* --timeline's slots: over the warm-up, the measured window and the drain. */
static uint32_t
timeline_slots (void)
{
  return (uint32_t) ((opt.warmup + opt.duration + opt.drain) * 1e9 / TIMELINE_SLOT_NS) + 1;
}

/* Counts a delivery against the slot of its send time @t, for --timeline. */
static void
timeline_record (uint64_t t, uint64_t latency_ns)
{
  TimelineSlot *slot;
  uint64_t i;

  if (wk.timeline == NULL)
    return;
  i = (t - wk.go_ns) / TIMELINE_SLOT_NS;
  if (i >= wk.n_timeline)
    return;
  slot = &wk.timeline[i];
  slot->n++;
  if ((double) latency_ns > opt.late_ms * 1e6)
    slot->late++;
  if (latency_ns / 1000 > slot->max_us)
    slot->max_us = latency_ns / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t) (latency_ns / 1000);
}

static void
handle_message (Conn *c, const char *obj, const char *end, uint64_t now)
{
  BjIter it;
  BSlice k, room = { NULL, 0 }, body = { NULL, 0 };
  const char *v;
  uint64_t seq = 0, t;

  if (!bj_obj_begin (&it, obj, end))
    return;
  while (bj_obj_next (&it, &k, &v))
    {
      if (k.n == 4 && memcmp (k.p, "room", 4) == 0)
        bj_get_str (v, end, &room);
      else if (k.n == 3 && memcmp (k.p, "seq", 3) == 0)
        bj_get_u64 (v, end, &seq);
      else if (k.n == 4 && memcmp (k.p, "body", 4) == 0)
        bj_get_str (v, end, &body);
    }
  if (c->room >= 0 && room.p != NULL && bslice_eq (room, wk.room_names[c->room]))
    {
      if (seq <= c->last_seq)
        wk.c.seq_dups++;
      else if (seq != c->last_seq + 1)
        wk.c.seq_gaps++;
      if (seq > c->last_seq)
        c->last_seq = seq;
    }
  wk.c.delivered_all++;
  if (!wk.measuring || body.p == NULL)
    return;
  /* only messages of this run carry a timestamp that is not in the future */
  {
    BSlice b = body;
    const char *end_b = b.p + b.n;
    const char *p = b.p;

    t = 0;
    while (p < end_b && *p >= '0' && *p <= '9')
      t = t * 10 + (uint64_t) (*p++ - '0');
    if (p == b.p || t > now || t < wk.go_ns)
      return;
  }
  wk.c.delivered++;
  hist_record (&wk.lat, now - t);
  timeline_record (t, now - t);
}

static void
handle_reply (Conn *c, uint64_t id, bool ok, bool empty, uint64_t now)
{
  Slot *s = slot_find (c, id);

  if (s == NULL)
    return;
  if (ok)
    {
      wk.c.acked_all++;
      /* The replies to the sends counted in sent, whenever they come: a reply to a send
       * of the warm-up is no measured ack, even when a busy machine returns it late. */
      if (s->measured)
        {
          wk.c.acked++;
          hist_record (&wk.ack, now - s->t_ns);
          if (empty)
            wk.c.empty_replies++;
        }
    }
  s->id = 0;
  c->inflight--;
  fill_window (c, now);
}

static void
save_token (Conn *c, const char *welcome, const char *end)
{
  const char *v = bj_find (welcome, end, "token");
  BSlice raw;
  char tok[512];

  if (v == NULL || !bj_get_str (v, end, &raw) || bj_unescape (raw, tok, sizeof tok) < 0)
    return;
  if (tokens[c->idx] != NULL && strcmp (tokens[c->idx], tok) == 0)
    return;
  free (tokens[c->idx]);
  tokens[c->idx] = xstrdup (tok);
  /* new tokens go to the parent with the results */
  {
    char user[80];
    size_t need;

    user_name (c->idx, user, sizeof user);
    need = strlen (user) + strlen (tok) + 2;
    if (wk.c.tokens_bytes + need + 1 > wk.scratch_size / 2)
      return;
    /* kept in the upper half of scratch until the end */
    memcpy (wk.scratch + wk.scratch_size / 2 + wk.c.tokens_bytes, user, strlen (user));
    wk.c.tokens_bytes += strlen (user);
    wk.scratch[wk.scratch_size / 2 + wk.c.tokens_bytes++] = ' ';
    memcpy (wk.scratch + wk.scratch_size / 2 + wk.c.tokens_bytes, tok, strlen (tok));
    wk.c.tokens_bytes += strlen (tok);
    wk.scratch[wk.scratch_size / 2 + wk.c.tokens_bytes++] = '\n';
  }
}

static void
handle_setup_reply (Conn *c, uint64_t id, BSlice op, const char *val, const char *end)
{
  if (id != c->pending_id)
    return;
  if (bslice_eq (op, "error"))
    {
      const char *cv = bj_find (val, end, "code");
      BSlice code = { "", 0 };

      if (cv != NULL)
        bj_get_str (cv, end, &code);
      wk.c.errors_setup++;
      if (c->state == ST_AUTH && opt.auth == AUTH_AUTO && c->auth_step != STEP_PASSWORD)
        {
          /* a stale token: register; the user exists already: log in with the password */
          c->auth_step = c->auth_step == STEP_TOKEN ? STEP_REGISTER : STEP_PASSWORD;
          auth_start (c);
          return;
        }
      {
        char why[128];

        snprintf (why, sizeof why, "%s: %.*s", c->state == ST_JOIN ? "join" : "auth",
                  (int) code.n, code.p);
        conn_fail (c, why);
      }
      return;
    }
  if (c->state == ST_AUTH && bslice_eq (op, "welcome"))
    {
      /* a token that worked stays valid: keep the file from growing with every run */
      if (c->auth_step != STEP_TOKEN)
        save_token (c, val, end);
      /* let the next password operation start */
      release_auth_slot (c);
      after_auth (c);
    }
  else if (c->state == ST_JOIN && bslice_eq (op, "joined"))
    {
      const char *v = bj_find (val, end, "last_seq");

      c->last_seq = 0;
      if (v != NULL)
        bj_get_u64 (v, end, &c->last_seq);
      conn_ready (c);
    }
}

static void
handle_text (Conn *c, const char *p, size_t len, uint64_t now)
{
  const char *end = p + len;
  BjIter it;
  BSlice k, op = { NULL, 0 };
  const char *v, *val = NULL;
  uint64_t id = 0;

  if (!bj_obj_begin (&it, p, end))
    {
      wk.c.other_frames++;
      return;
    }
  while (bj_obj_next (&it, &k, &v))
    {
      if (k.n == 2 && k.p[0] == 'i' && k.p[1] == 'd')
        bj_get_u64 (v, end, &id);
      else
        {
          op = k;
          val = v;
        }
    }
  if (op.p == NULL)
    {
      wk.c.other_frames++;
      return;
    }
  if (c->state == ST_AUTH || c->state == ST_JOIN)
    {
      handle_setup_reply (c, id, op, val, end);
      return;
    }
  switch (op.n)
    {
    case 7:
      if (memcmp (op.p, "message", 7) == 0)
        {
          handle_message (c, val, end, now);
          return;
        }
      if (memcmp (op.p, "history", 7) == 0)
        {
          const char *m = bj_find (val, end, "messages");
          const char *q = m != NULL ? bj_skip_ws (m + 1, end) : NULL;

          handle_reply (c, id, true, q == NULL || *q == ']', now);
          return;
        }
      break;
    case 4:
      if (memcmp (op.p, "sent", 4) == 0)
        {
          handle_reply (c, id, true, false, now);
          return;
        }
      break;
    case 5:
      if (memcmp (op.p, "error", 5) == 0)
        {
          const char *cv = bj_find (val, end, "code");
          BSlice code = { "", 0 };
          int e;

          if (cv != NULL)
            bj_get_str (cv, end, &code);
          e = err_index (code);
          wk.c.errors[e]++;
          if (e == ERR_RATE_LIMITED && c->paused_until == 0)
            {
              const char *rv = bj_find (val, end, "retry_after_ms");
              uint64_t ms = 10;

              if (rv != NULL)
                bj_get_u64 (rv, end, &ms);
              if (ms == 0)
                ms = 1;
              c->paused_until = now + ms * 1000000u;
              wk.paused_n++;
            }
          handle_reply (c, id, false, false, now);
          return;
        }
      break;
    case 14:
      if (memcmp (op.p, "search_results", 14) == 0)
        {
          const char *m = bj_find (val, end, "messages");
          const char *q = m != NULL ? bj_skip_ws (m + 1, end) : NULL;

          handle_reply (c, id, true, q == NULL || *q == ']', now);
          return;
        }
      break;
    default:
      break;
    }
  wk.c.other_frames++;
}

static void
handle_close (Conn *c, const uint8_t *payload, size_t len)
{
  uint32_t code = len >= 2 ? ((uint32_t) payload[0] << 8) | payload[1] : 1005;
  uint8_t reply[2] = { (uint8_t) (code >> 8), (uint8_t) code };

  count_close (&wk.c, code);
  if (!opt.quiet && code != 1000 && wk.c.close_count[0] + wk.c.close_count[1] <= 3)
    fprintf (stderr, "natter-loadgen[%d]: server closed connection %" PRIu32 " with %" PRIu32 " %.*s\n",
             wk.w, c->idx, code, len > 2 ? (int) len - 2 : 0, (const char *) payload + 2);
  send_frame (c, WS_OP_CLOSE, reply, len >= 2 ? 2 : 0);
  c->closing = true;
}

/* Processes every complete frame in @buf; returns the bytes consumed, or -1 if the
 * connection failed. */
static ssize_t
process_frames (Conn *c, uint8_t *buf, size_t len, uint64_t now)
{
  size_t off = 0;

  while (off < len && c->state != ST_DEAD && !c->closing)
    {
      WsFrame f;
      int r = ws_parse_frame (buf + off, len - off, &f);
      uint8_t *payload;
      size_t plen;

      if (r == 0)
        break;
      if (r < 0)
        {
          conn_fail (c, "bad frame");
          return -1;
        }
      payload = buf + off + f.header_len;
      plen = (size_t) f.payload_len;
      if (f.masked)
        ws_mask (payload, plen, f.mask);
      off += f.header_len + plen;
      switch (f.opcode)
        {
        case WS_OP_TEXT:
        case WS_OP_BINARY:
        case WS_OP_CONT:
          if (f.opcode != WS_OP_CONT)
            c->frag_op = f.opcode;
          if (f.fin && f.opcode != WS_OP_CONT)
            {
              if (f.opcode == WS_OP_TEXT)
                handle_text (c, (const char *) payload, plen, now);
              else
                wk.c.other_frames++;
              break;
            }
          if (c->frag_len + plen > c->frag_cap)
            {
              c->frag_cap = (uint32_t) (c->frag_len + plen) * 2;
              c->frag = xrealloc (c->frag, c->frag_cap);
            }
          memcpy (c->frag + c->frag_len, payload, plen);
          c->frag_len += (uint32_t) plen;
          if (f.fin)
            {
              if (c->frag_op == WS_OP_TEXT)
                handle_text (c, (const char *) c->frag, c->frag_len, now);
              c->frag_len = 0;
            }
          break;
        case WS_OP_PING:
          wk.c.pings++;
          send_frame (c, WS_OP_PONG, payload, plen);
          break;
        case WS_OP_PONG:
          break;
        case WS_OP_CLOSE:
          handle_close (c, payload, plen);
          break;
        default:
          conn_fail (c, "unknown opcode");
          return -1;
        }
    }
  return (ssize_t) off;
}

static void
on_readable (Conn *c)
{
  size_t len = c->in_len;
  int rounds;

  if (len > 0)
    memcpy (wk.rbuf, c->in, len);
  c->in_len = 0;
  for (rounds = 0; rounds < 4; rounds++)
    {
      size_t space = RBUF_SIZE - len;
      ssize_t n = read (c->fd, wk.rbuf + len, space);
      ssize_t used;
      uint64_t now;

      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        {
          conn_fail (c, n == 0 ? "closed by server" : strerror (errno));
          return;
        }
      if (n < 0)
        break;
      wk.c.bytes_in += (uint64_t) n;
      len += (size_t) n;
      now = bench_now_ns ();
      used = 0;
      if (c->state == ST_HANDSHAKE)
        {
          used = handle_handshake (c, wk.rbuf, len);
          if (used < 0)
            return;
          if (c->state == ST_HANDSHAKE)
            continue;
        }
      {
        ssize_t m = process_frames (c, wk.rbuf + used, len - (size_t) used, now);

        if (m < 0 || c->state == ST_DEAD)
          return;
        used += m;
      }
      if (used > 0)
        {
          memmove (wk.rbuf, wk.rbuf + used, len - (size_t) used);
          len -= (size_t) used;
        }
      if ((size_t) n < space || c->closing)
        break;
      if (len == RBUF_SIZE)
        {
          conn_fail (c, "frame too large");
          return;
        }
    }
  if (len > 0)
    {
      if (len > c->in_cap)
        {
          c->in = xrealloc (c->in, len);
          c->in_cap = (uint32_t) len;
        }
      memcpy (c->in, wk.rbuf, len);
      c->in_len = (uint32_t) len;
    }
}

static void
on_event (Conn *c, uint32_t events)
{
  if (c->state == ST_DEAD)
    return;
  if (c->state == ST_CONNECTING)
    {
      int err = 0;
      socklen_t elen = sizeof err;

      if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0)
        return;
      getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
      if (err != 0)
        {
          conn_fail (c, strerror (err));
          return;
        }
      send_handshake (c);
      flush_conn (c);
      return;
    }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    on_readable (c);
  if (c->state != ST_DEAD && (events & EPOLLOUT))
    flush_conn (c);
}

/* ------------------------------------------------------------------------------------ */
/* Worker */

typedef struct {
  uint64_t ok;
  uint64_t failed;
} SetupReport;

static void
report_setup (uint64_t now)
{
  SetupReport r;
  uint32_t i;
  char tag = 'R';

  /* whatever is not ready by the setup deadline counts as failed */
  for (i = 0; i < wk.n; i++)
    if (wk.conns[i].state != ST_READY && wk.conns[i].state != ST_DEAD)
      {
        if (wk.conns[i].state == ST_PENDING)
          {
            wk.conns[i].state = ST_CONNECTING;
            wk.conns[i].fd = -1;
          }
        conn_fail (&wk.conns[i], "setup timeout");
      }
  wk.reported = true;
  r.ok = wk.n_ready;
  r.failed = wk.n_failed;
  if (!write_all (wk.ctl_out, &tag, 1) || !write_all (wk.ctl_out, &r, sizeof r))
    die ("lost the parent");
  (void) now;
}

static void
on_control (uint64_t now)
{
  char tag;
  uint64_t go_ns;

  if (!read_all (wk.ctl_in, &tag, 1) || tag != 'G' || !read_all (wk.ctl_in, &go_ns, sizeof go_ns))
    {
      /* the parent is gone: stop */
      _exit (3);
    }
  wk.go_ns = go_ns;
  wk.warm_ns = go_ns + (uint64_t) (opt.warmup * 1e9);
  wk.end_ns = wk.warm_ns + (uint64_t) (opt.duration * 1e9);
  wk.drain_ns = wk.end_ns + (uint64_t) (opt.drain * 1e9);
  if (opt.timeline_file != NULL)
    {
      wk.n_timeline = timeline_slots ();
      wk.timeline = calloc (wk.n_timeline, sizeof (TimelineSlot));
      if (wk.timeline == NULL)
        die ("out of memory");
    }
  (void) now;
}

static void
start_go (uint64_t now)
{
  uint32_t i;

  wk.go = true;
  if (opt.rate > 0)
    return;
  for (i = 0; i < wk.n_senders; i++)
    fill_window (&wk.conns[wk.senders[i]], now);
}

static void
progress (uint64_t now)
{
  if (opt.quiet || now - wk.last_progress < 5 * NSEC)
    return;
  wk.last_progress = now;
  if (!wk.reported)
    fprintf (stderr, "natter-loadgen[%d]: setup %" PRIu32 "/%" PRIu32 " ready, %" PRIu32 " failed\n",
             wk.w, wk.n_ready, wk.n, wk.n_failed);
}

static void
worker_init (int w, int ctl_in, int ctl_out)
{
  uint32_t i, n = 0;
  struct epoll_event ev;

  memset (&wk, 0, sizeof wk);
  wk.w = w;
  wk.ctl_in = ctl_in;
  wk.ctl_out = ctl_out;
  wk.rng = bench_now_ns () ^ ((uint64_t) getpid () << 32) ^ 0x9E3779B97F4A7C15ull;
  hist_init (&wk.lat);
  hist_init (&wk.ack);
  for (i = (uint32_t) w; i < opt.conns; i += opt.procs)
    n++;
  wk.n = n;
  wk.conns = calloc (n ? n : 1, sizeof (Conn));
  wk.auth_queue = calloc (n ? n : 1, sizeof (uint32_t));
  wk.senders = calloc (n ? n : 1, sizeof (uint32_t));
  wk.rbuf = malloc (RBUF_SIZE);
  wk.scratch_size = 8u << 20;
  wk.scratch = malloc (wk.scratch_size);
  wk.pad = malloc (opt.body_size + 1);
  if (wk.conns == NULL || wk.auth_queue == NULL || wk.senders == NULL || wk.rbuf == NULL ||
      wk.scratch == NULL || wk.pad == NULL)
    die ("out of memory");
  memset (wk.pad, 'x', opt.body_size);
  if (opt.rooms > 0)
    {
      wk.room_names = calloc (opt.rooms, sizeof (char *));
      for (i = 0; i < opt.rooms; i++)
        {
          char name[128];

          snprintf (name, sizeof name, "%s%" PRIu32, opt.room_prefix, i);
          wk.room_names[i] = xstrdup (name);
        }
    }
  for (i = 0; i < n; i++)
    {
      Conn *c = &wk.conns[i];

      c->fd = -1;
      c->idx = (uint32_t) w + i * opt.procs;
      c->room = opt.rooms > 0 ? (int32_t) (c->idx % opt.rooms) : -1;
      c->state = ST_PENDING;
      c->sender = opt.op != OP_IDLE && c->idx < opt.senders && c->room >= 0;
      if (c->sender)
        {
          c->slots = calloc (opt.window, sizeof (Slot));
          if (c->slots == NULL)
            die ("out of memory");
          wk.senders[wk.n_senders++] = i;
        }
    }
  if (opt.senders > 0)
    wk.rate = opt.rate * wk.n_senders / (opt.senders < opt.conns ? opt.senders : opt.conns);
  wk.epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (wk.epfd < 0)
    die ("epoll_create1: %s", strerror (errno));
  ev.events = EPOLLIN;
  ev.data.ptr = NULL;
  epoll_ctl (wk.epfd, EPOLL_CTL_ADD, ctl_in, &ev);
  memset (&wk.dst, 0, sizeof wk.dst);
  wk.dst.sin_family = AF_INET;
  wk.dst.sin_port = htons ((uint16_t) opt.port);
  if (inet_pton (AF_INET, opt.host, &wk.dst.sin_addr) != 1)
    die ("--host must be an IPv4 address: %s", opt.host);
}

static int
worker_main (int w, int ctl_in, int ctl_out)
{
  struct epoll_event events[1024];
  uint64_t setup_deadline;
  double cpu0 = 0;

  worker_init (w, ctl_in, ctl_out);
  wk.last_progress = bench_now_ns ();
  setup_deadline = wk.last_progress + (uint64_t) (opt.setup_timeout * 1e9);
  setup_pump ();
  for (;;)
    {
      int timeout_ms = 100, n, i;
      uint64_t now = bench_now_ns ();

      if (wk.go_ns != 0)
        {
          uint64_t next = 0;

          if (!wk.go)
            next = wk.go_ns;
          else if (!wk.measuring && !wk.stopped && now < wk.warm_ns)
            next = wk.warm_ns;
          else if (!wk.stopped)
            next = wk.end_ns;
          else
            next = wk.drain_ns;
          timeout_ms = next > now ? (int) ((next - now) / 1000000u) + 1 : 0;
          if (timeout_ms > 100)
            timeout_ms = 100;
          if (wk.go && !wk.stopped && (opt.rate > 0 || wk.paused_n > 0) && timeout_ms > 1)
            timeout_ms = 1;
        }
      n = epoll_wait (wk.epfd, events, 1024, timeout_ms);
      if (n < 0 && errno != EINTR)
        die ("epoll_wait: %s", strerror (errno));
      now = bench_now_ns ();
      for (i = 0; i < n; i++)
        {
          if (events[i].data.ptr == NULL)
            on_control (now);
          else
            on_event (events[i].data.ptr, events[i].events);
        }
      /* Handling the events can take a while under load: what is sent next is stamped
       * with the time it is sent, not with when the events arrived. */
      if (n > 0)
        now = bench_now_ns ();
      if (!wk.reported && (wk.n_ready + wk.n_failed >= wk.n || now > setup_deadline))
        report_setup (now);
      if (wk.go_ns != 0)
        {
          if (!wk.go && now >= wk.go_ns)
            start_go (now);
          if (wk.go && !wk.measuring && !wk.stopped && now >= wk.warm_ns)
            {
              wk.measuring = true;
              cpu0 = self_cpu_s ();
            }
          if (!wk.stopped && now >= wk.end_ns)
            {
              wk.measuring = false;
              wk.stopped = true;
              wk.c.cpu_s = self_cpu_s () - cpu0;
            }
          if (wk.go && !wk.stopped)
            {
              if (opt.rate > 0)
                rate_pump (now);
              else if (wk.paused_n > 0)
                {
                  uint32_t k;

                  for (k = 0; k < wk.n_senders; k++)
                    fill_window (&wk.conns[wk.senders[k]], now);
                }
            }
          if (wk.stopped && now >= wk.drain_ns)
            break;
        }
      flush_dirty ();
      progress (now);
    }
  {
    char tag = 'D';

    if (!write_all (wk.ctl_out, &tag, 1) || !write_all (wk.ctl_out, &wk.c, sizeof wk.c) ||
        !write_all (wk.ctl_out, &wk.lat, sizeof wk.lat) ||
        !write_all (wk.ctl_out, &wk.ack, sizeof wk.ack) ||
        !write_all (wk.ctl_out, wk.scratch + wk.scratch_size / 2, wk.c.tokens_bytes) ||
        (wk.timeline != NULL &&
         !write_all (wk.ctl_out, wk.timeline, wk.n_timeline * sizeof (TimelineSlot))))
      return 3;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Parent: coordination, /proc sampling, the report */

typedef struct {
  bool     ok;
  double   cpu_s;
  uint64_t rss_kib;
  uint64_t hwm_kib;
  uint64_t threads;
} ProcSample;

static ProcSample
sample_proc (int pid)
{
  ProcSample s;
  char path[64], buf[4096];
  FILE *f;

  memset (&s, 0, sizeof s);
  if (pid <= 0)
    return s;
  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  f = fopen (path, "r");
  if (f == NULL)
    return s;
  if (fgets (buf, sizeof buf, f) != NULL)
    {
      /* fields after the ")" of the command name: state is field 3, utime 14, stime 15 */
      char *p = strrchr (buf, ')');
      unsigned long long ut = 0, st = 0;

      if (p != NULL &&
          sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
        {
          s.cpu_s = (double) (ut + st) / (double) sysconf (_SC_CLK_TCK);
          s.ok = true;
        }
    }
  fclose (f);
  snprintf (path, sizeof path, "/proc/%d/status", pid);
  f = fopen (path, "r");
  if (f == NULL)
    return s;
  while (fgets (buf, sizeof buf, f) != NULL)
    {
      unsigned long long v;

      if (sscanf (buf, "VmRSS: %llu", &v) == 1)
        s.rss_kib = v;
      else if (sscanf (buf, "VmHWM: %llu", &v) == 1)
        s.hwm_kib = v;
      else if (sscanf (buf, "Threads: %llu", &v) == 1)
        s.threads = v;
    }
  fclose (f);
  return s;
}

/* CPU seconds the whole machine spent busy (all but idle and iowait), from /proc/stat. */
static double
machine_busy_s (void)
{
  FILE *f = fopen ("/proc/stat", "r");
  unsigned long long v[8] = { 0 };
  double busy = 0;

  if (f == NULL)
    return 0;
  if (fscanf (f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
              &v[4], &v[5], &v[6], &v[7]) == 8)
    busy = (double) (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double) sysconf (_SC_CLK_TCK);
  fclose (f);
  return busy;
}

static void
sleep_until (uint64_t t_ns)
{
  struct timespec ts;

  ts.tv_sec = (time_t) (t_ns / NSEC);
  ts.tv_nsec = (long) (t_ns % NSEC);
  while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

static void
load_tokens (void)
{
  FILE *f;
  char line[1024];
  size_t plen = strlen (opt.user_prefix);

  tokens = calloc (opt.conns ? opt.conns : 1, sizeof (char *));
  if (tokens == NULL)
    die ("out of memory");
  if (opt.token_file == NULL || (f = fopen (opt.token_file, "r")) == NULL)
    return;
  while (fgets (line, sizeof line, f) != NULL)
    {
      char *sp = strchr (line, ' ');
      char *nl = strchr (line, '\n');
      char *endp;
      unsigned long idx;

      if (sp == NULL || (size_t) (sp - line) <= plen || strncmp (line, opt.user_prefix, plen) != 0)
        continue;
      if (nl != NULL)
        *nl = '\0';
      *sp = '\0';
      idx = strtoul (line + plen, &endp, 10);
      if (*endp != '\0' || idx < opt.user_offset || idx - opt.user_offset >= opt.conns)
        continue;
      free (tokens[idx - opt.user_offset]);
      tokens[idx - opt.user_offset] = xstrdup (sp + 1);
    }
  fclose (f);
}

static double
ms (uint64_t ns)
{
  return (double) ns / 1e6;
}

static void
json_hist (FILE *f, const char *name, const BenchHist *h)
{
  fprintf (f, ",\"%s\":{\"count\":%" PRIu64 ",\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}",
           name, h->total, h->total ? h->sum / (double) h->total / 1e6 : 0.0,
           ms (hist_quantile (h, 0.5)), ms (hist_quantile (h, 0.9)),
           ms (hist_quantile (h, 0.99)), ms (hist_quantile (h, 0.999)), ms (h->max));
}

static void
print_hist (const char *name, const BenchHist *h)
{
  if (h->total == 0)
    {
      printf ("  %-22s none\n", name);
      return;
    }
  printf ("  %-22s p50 %.3f ms  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (n=%" PRIu64 ")\n",
          name, ms (hist_quantile (h, 0.5)), ms (hist_quantile (h, 0.9)),
          ms (hist_quantile (h, 0.99)), ms (hist_quantile (h, 0.999)), ms (h->max), h->total);
}

static const char *
op_name (Op op)
{
  switch (op)
    {
    case OP_SEND: return "send";
    case OP_HISTORY: return "history";
    case OP_SEARCH: return "search";
    case OP_IDLE: return "idle";
    default: return "?";
    }
}

static void
report (FILE *f, bool human, const Counters *t, const BenchHist *lat, const BenchHist *ack,
        ProcSample s0, ProcSample sr, ProcSample s1, ProcSample s2, double lg_cpu,
        double setup_s, double machine_s)
{
  double d = opt.duration;
  uint64_t members = opt.rooms > 0 ? opt.conns / opt.rooms : 0;
  double expected = (double) t->acked_all * (double) members;
  /* CPU used by neither the server nor the load generator: other work on a shared machine */
  double others = machine_s - lg_cpu - (s0.ok ? s2.cpu_s - s1.cpu_s : 0.0);
  int i;

  if (human)
    {
      printf ("natter-loadgen: %s, %" PRIu32 " connections in %" PRIu32 " procs, %" PRIu32
              " rooms, %" PRIu32 " senders, %s, window %" PRIu32 ", %.1f s (+%.1f s warm-up)\n",
              op_name (opt.op), opt.conns, opt.procs, opt.rooms, opt.senders,
              opt.rate > 0 ? "paced" : "as fast as replies allow", opt.window, d, opt.warmup);
      printf ("  connections            %" PRIu64 " ready, %" PRIu64 " failed, %" PRIu64
              " dropped later; setup %.1f s\n", t->conns_ok, t->conns_failed, t->disconnects, setup_s);
      printf ("  sent                   %.0f /s (%" PRIu64 ")\n", t->sent / d, t->sent);
      printf ("  acked/replied          %.0f /s (%" PRIu64 ")\n", t->acked / d, t->acked);
      printf ("  delivered              %.0f /s (%" PRIu64 ")\n", t->delivered / d, t->delivered);
      if (opt.op == OP_SEND && expected > 0)
        printf ("  delivered/expected     %.4f over the run (%" PRIu64 " of %.0f)\n",
                t->delivered_all / expected, t->delivered_all, expected);
      print_hist ("delivery latency", lat);
      print_hist (opt.op == OP_SEND ? "ack latency" : "reply latency", ack);
      printf ("  errors                 ");
      for (i = 0; i < N_ERR; i++)
        if (t->errors[i])
          printf ("%s=%" PRIu64 " ", err_names[i], t->errors[i]);
      printf ("setup=%" PRIu64 " seq_gaps=%" PRIu64 " seq_dups=%" PRIu64 " stalled=%" PRIu64
              " missed=%" PRIu64 "\n", t->errors_setup, t->seq_gaps, t->seq_dups, t->stalled,
              t->missed);
      printf ("  close codes            ");
      for (i = 0; i < N_CLOSE_SLOTS; i++)
        if (t->close_count[i])
          printf ("%" PRIu32 "=%" PRIu64 " ", t->close_code[i], t->close_count[i]);
      printf ("\n  server pings answered  %" PRIu64 "\n", t->pings);
      if (s0.ok)
        printf ("  server                 RSS %" PRIu64 " KiB at start, %" PRIu64 " KiB ready (%.1f KiB/conn), %"
                PRIu64 " KiB at end, peak %" PRIu64 " KiB; CPU %.2f s in window (%.0f %%), %" PRIu64
                " threads\n",
                s0.rss_kib, sr.rss_kib,
                t->conns_ok ? ((double) sr.rss_kib - (double) s0.rss_kib) / (double) t->conns_ok : 0.0,
                s2.rss_kib, s2.hwm_kib, s2.cpu_s - s1.cpu_s, 100 * (s2.cpu_s - s1.cpu_s) / d,
                s2.threads);
      printf ("  load generator         CPU %.2f s in window (%.0f %%)\n", lg_cpu, 100 * lg_cpu / d);
      printf ("  everything else        CPU %.2f s in window (%.0f %%): other processes on the machine\n",
              others, 100 * others / d);
      return;
    }
  fprintf (f, "{\"tool\":\"natter-loadgen\",\"label\":");
  {
    char esc[512];

    if (bj_escape (opt.label ? opt.label : "", esc, sizeof esc) == 0)
      strcpy (esc, "\"\"");
    fputs (esc, f);
  }
  fprintf (f, ",\"op\":\"%s\",\"conns\":%" PRIu32 ",\"procs\":%" PRIu32 ",\"rooms\":%" PRIu32
           ",\"senders\":%" PRIu32 ",\"rate\":%.0f,\"window\":%" PRIu32 ",\"duration_s\":%.3f"
           ",\"warmup_s\":%.3f,\"body_size\":%" PRIu32,
           op_name (opt.op), opt.conns, opt.procs, opt.rooms, opt.senders, opt.rate, opt.window,
           d, opt.warmup, opt.body_size);
  fprintf (f, ",\"conns_ok\":%" PRIu64 ",\"conns_failed\":%" PRIu64 ",\"disconnects\":%" PRIu64
           ",\"setup_s\":%.3f", t->conns_ok, t->conns_failed, t->disconnects, setup_s);
  fprintf (f, ",\"sent\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"delivered\":%" PRIu64
           ",\"sent_per_s\":%.1f,\"acked_per_s\":%.1f,\"delivered_per_s\":%.1f"
           ",\"delivered_all\":%" PRIu64 ",\"acked_all\":%" PRIu64 ",\"delivery_ratio\":%.6f",
           t->sent, t->acked, t->delivered, t->sent / d, t->acked / d, t->delivered / d,
           t->delivered_all, t->acked_all, expected > 0 ? t->delivered_all / expected : 0.0);
  json_hist (f, "latency", lat);
  json_hist (f, "ack_latency", ack);
  fprintf (f, ",\"errors\":{");
  {
    bool first = true;

    for (i = 0; i < N_ERR; i++)
      if (t->errors[i])
        {
          fprintf (f, "%s\"%s\":%" PRIu64, first ? "" : ",", err_names[i], t->errors[i]);
          first = false;
        }
  }
  fprintf (f, "},\"errors_total\":%" PRIu64, t->errors[0] + t->errors[1] + t->errors[2] +
           t->errors[3] + t->errors[4] + t->errors[5] + t->errors[6] + t->errors[7] +
           t->errors[8] + t->errors[9]);
  fprintf (f, ",\"errors_setup\":%" PRIu64 ",\"seq_gaps\":%" PRIu64 ",\"seq_dups\":%" PRIu64
           ",\"stalled\":%" PRIu64 ",\"missed\":%" PRIu64 ",\"empty_replies\":%" PRIu64
           ",\"pings\":%" PRIu64 ",\"other_frames\":%" PRIu64 ",\"bytes_in\":%" PRIu64
           ",\"bytes_out\":%" PRIu64,
           t->errors_setup, t->seq_gaps, t->seq_dups, t->stalled, t->missed, t->empty_replies,
           t->pings, t->other_frames, t->bytes_in, t->bytes_out);
  fprintf (f, ",\"close_codes\":{");
  {
    bool first = true;

    for (i = 0; i < N_CLOSE_SLOTS; i++)
      if (t->close_count[i])
        {
          fprintf (f, "%s\"%" PRIu32 "\":%" PRIu64, first ? "" : ",", t->close_code[i],
                   t->close_count[i]);
          first = false;
        }
  }
  fprintf (f, "}");
  if (s0.ok)
    fprintf (f, ",\"server\":{\"pid\":%d,\"rss_start_kib\":%" PRIu64 ",\"rss_ready_kib\":%" PRIu64
             ",\"rss_window_start_kib\":%" PRIu64 ",\"rss_end_kib\":%" PRIu64 ",\"rss_peak_kib\":%" PRIu64
             ",\"rss_per_conn_kib\":%.3f,\"cpu_s\":%.3f,\"cpu_pct\":%.1f,\"setup_cpu_s\":%.3f,\"threads\":%" PRIu64 "}",
             opt.server_pid, s0.rss_kib, sr.rss_kib, s1.rss_kib, s2.rss_kib, s2.hwm_kib,
             t->conns_ok ? ((double) sr.rss_kib - (double) s0.rss_kib) / (double) t->conns_ok : 0.0,
             s2.cpu_s - s1.cpu_s, 100 * (s2.cpu_s - s1.cpu_s) / d, sr.cpu_s - s0.cpu_s, s2.threads);
  fprintf (f, ",\"loadgen_cpu_s\":%.3f,\"loadgen_cpu_pct\":%.1f,\"machine_cpu_s\":%.3f"
           ",\"others_cpu_pct\":%.1f}\n", lg_cpu, 100 * lg_cpu / d, machine_s, 100 * others / d);
}

/* Adds worker @w's --timeline slots, which follow its report on @fd, to @into. */
static void
timeline_merge (TimelineSlot *into, int fd, uint32_t w)
{
  uint32_t n = timeline_slots ();
  TimelineSlot *slots = calloc (n, sizeof (TimelineSlot));

  if (slots == NULL)
    die ("out of memory");
  if (!read_all (fd, slots, n * sizeof (TimelineSlot)))
    die ("worker %" PRIu32 " died", w);
  for (uint32_t i = 0; i < n; i++)
    {
      into[i].n += slots[i].n;
      into[i].late += slots[i].late;
      if (slots[i].max_us > into[i].max_us)
        into[i].max_us = slots[i].max_us;
    }
  free (slots);
}

static void
timeline_write (const TimelineSlot *slots)
{
  FILE *f = fopen (opt.timeline_file, "w");
  uint32_t n = timeline_slots ();

  if (f == NULL)
    die ("cannot write %s: %s", opt.timeline_file, strerror (errno));
  fprintf (f, "# %s: deliveries by send time, per %u ms from the start of the warm-up; the "
           "measured window is %.0f-%.0f ms\n# ms deliveries late(>%g ms) slowest_ms\n",
           opt.label != NULL ? opt.label : "natter-loadgen", TIMELINE_SLOT_NS / 1000000u,
           opt.warmup * 1e3, (opt.warmup + opt.duration) * 1e3, opt.late_ms);
  for (uint32_t i = 0; i < n; i++)
    if (slots[i].n > 0)
      fprintf (f, "%u %u %u %.2f\n", i * (TIMELINE_SLOT_NS / 1000000u), slots[i].n,
               slots[i].late, slots[i].max_us / 1e3);
  fclose (f);
}

static void
usage (FILE *f)
{
  fprintf (f,
    "Usage: natter-loadgen [OPTION…]\n"
    "Drives a Natter WebSocket server (JSON subprotocol) and reports throughput and latency.\n"
    "\n"
    "Target\n"
    "  --host ADDR            server IPv4 address (127.0.0.1)\n"
    "  --port PORT            server port (8080)\n"
    "  --path PATH            WebSocket path (/ws)\n"
    "  --server-pid PID       sample the server's RSS and CPU time from /proc/PID\n"
    "Shape\n"
    "  --conns N              connections, one user each (100)\n"
    "  --rooms R              rooms; connection i joins room i %% R; 0 joins none (1)\n"
    "  --senders S            connections 0..S-1 send (default: one per room)\n"
    "  --op OP                send | history | search | idle (send)\n"
    "  --rate R               messages (requests) per second in total; 0 = as fast as replies\n"
    "                         allow, each sender keeping --window in flight (0)\n"
    "  --window W             requests in flight per sender (4; 64 when --rate is set)\n"
    "  --body-size B          message body bytes, timestamp included (128)\n"
    "  --duration S           measured seconds (10)\n"
    "  --warmup S             seconds sent but not measured first (2)\n"
    "  --drain S              seconds to wait for in-flight deliveries after the window (1)\n"
    "  --history-limit N      history page size (50)\n"
    "  --history-random       page from a random before_seq instead of the newest page\n"
    "  --query Q[,Q…]         search queries, used in turn (hello)\n"
    "  --search-limit N       search result limit (20)\n"
    "Connections and accounts\n"
    "  --procs P              worker processes, each one epoll loop (1)\n"
    "  --src-addrs K          bind to source addresses 127.0.0.2 … 127.0.0.(K+1); 0 = no bind (8)\n"
    "  --user-prefix P        user names are P0, P1, … (bench)\n"
    "  --user-offset K        first user index (0)\n"
    "  --room-prefix P        room names are P0, P1, … (room)\n"
    "  --password PW          password for register/login (bench-password)\n"
    "  --auth MODE            auto (the token from --token-file if there is one, else\n"
    "                         register, and password login if the user exists) |\n"
    "                         register | login | none (auto)\n"
    "  --token-file F         tokens per user, read at start and appended to with new ones\n"
    "  --auth-concurrency N   password operations in flight per process (8)\n"
    "  --setup-concurrency N  connections being set up at once per process (256)\n"
    "  --setup-timeout S      give up on connections not ready by then (300)\n"
    "Output\n"
    "  --label TEXT           name of the run in the JSON line\n"
    "  --json FILE            also write the JSON line to FILE\n"
    "  --timeline FILE        write the measured deliveries per 10 ms of their send time\n"
    "                         (from the start of the warm-up): how many, how many were\n"
    "                         late, the slowest (ms)\n"
    "  --late-ms MS           what --timeline counts as late (10)\n"
    "  --quiet                no progress on stderr\n"
    "\n"
    "Prints a human-readable summary, then the same numbers as one JSON line.\n");
}

static void
parse_args (int argc, char **argv)
{
  enum {
    OPT_HOST = 1000, OPT_PORT, OPT_PATH, OPT_CONNS, OPT_ROOMS, OPT_SENDERS, OPT_RATE, OPT_WINDOW, OPT_DURATION,
    OPT_WARMUP, OPT_DRAIN, OPT_BODY, OPT_PROCS, OPT_SRC, OPT_UPREFIX, OPT_UOFFSET, OPT_RPREFIX, OPT_PASSWORD,
    OPT_AUTH, OPT_TOKENS, OPT_AUTHC, OPT_SETUPC, OPT_SETUPT, OPT_PID, OPT_OP, OPT_HLIMIT, OPT_HRANDOM, OPT_QUERY,
    OPT_SLIMIT, OPT_LABEL, OPT_JSON, OPT_TIMELINE, OPT_LATE, OPT_QUIET, OPT_HELP,
  };
  static const struct option longopts[] = {
    { "host", required_argument, NULL, OPT_HOST },
    { "port", required_argument, NULL, OPT_PORT },
    { "path", required_argument, NULL, OPT_PATH },
    { "conns", required_argument, NULL, OPT_CONNS },
    { "rooms", required_argument, NULL, OPT_ROOMS },
    { "senders", required_argument, NULL, OPT_SENDERS },
    { "rate", required_argument, NULL, OPT_RATE },
    { "window", required_argument, NULL, OPT_WINDOW },
    { "duration", required_argument, NULL, OPT_DURATION },
    { "warmup", required_argument, NULL, OPT_WARMUP },
    { "drain", required_argument, NULL, OPT_DRAIN },
    { "body-size", required_argument, NULL, OPT_BODY },
    { "procs", required_argument, NULL, OPT_PROCS },
    { "src-addrs", required_argument, NULL, OPT_SRC },
    { "user-prefix", required_argument, NULL, OPT_UPREFIX },
    { "user-offset", required_argument, NULL, OPT_UOFFSET },
    { "room-prefix", required_argument, NULL, OPT_RPREFIX },
    { "password", required_argument, NULL, OPT_PASSWORD },
    { "auth", required_argument, NULL, OPT_AUTH },
    { "token-file", required_argument, NULL, OPT_TOKENS },
    { "auth-concurrency", required_argument, NULL, OPT_AUTHC },
    { "setup-concurrency", required_argument, NULL, OPT_SETUPC },
    { "setup-timeout", required_argument, NULL, OPT_SETUPT },
    { "server-pid", required_argument, NULL, OPT_PID },
    { "op", required_argument, NULL, OPT_OP },
    { "history-limit", required_argument, NULL, OPT_HLIMIT },
    { "history-random", no_argument, NULL, OPT_HRANDOM },
    { "query", required_argument, NULL, OPT_QUERY },
    { "search-limit", required_argument, NULL, OPT_SLIMIT },
    { "label", required_argument, NULL, OPT_LABEL },
    { "json", required_argument, NULL, OPT_JSON },
    { "timeline", required_argument, NULL, OPT_TIMELINE },
    { "late-ms", required_argument, NULL, OPT_LATE },
    { "quiet", no_argument, NULL, OPT_QUIET },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
  };
  int ch;
  bool senders_set = false, window_set = false;
  const char *queries = "hello";

  opt.host = xstrdup ("127.0.0.1");
  opt.port = 8080;
  opt.path = xstrdup ("/ws");
  opt.conns = 100;
  opt.rooms = 1;
  opt.window = 4;
  opt.duration = 10;
  opt.warmup = 2;
  opt.drain = 1;
  opt.late_ms = 10;
  opt.body_size = 128;
  opt.procs = 1;
  opt.src_addrs = 8;
  opt.user_prefix = xstrdup ("bench");
  opt.room_prefix = xstrdup ("room");
  opt.password = xstrdup ("bench-password");
  opt.auth = AUTH_AUTO;
  opt.auth_concurrency = 8;
  opt.setup_concurrency = 256;
  opt.setup_timeout = 300;
  opt.op = OP_SEND;
  opt.history_limit = 50;
  opt.search_limit = 20;

  while ((ch = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    {
      switch (ch)
        {
        case OPT_HOST: free (opt.host); opt.host = xstrdup (optarg); break;
        case OPT_PORT: opt.port = atoi (optarg); break;
        case OPT_PATH: free (opt.path); opt.path = xstrdup (optarg); break;
        case OPT_CONNS: opt.conns = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_ROOMS: opt.rooms = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_SENDERS: opt.senders = (uint32_t) strtoul (optarg, NULL, 10); senders_set = true; break;
        case OPT_RATE: opt.rate = strtod (optarg, NULL); break;
        case OPT_WINDOW: opt.window = (uint32_t) strtoul (optarg, NULL, 10); window_set = true; break;
        case OPT_DURATION: opt.duration = strtod (optarg, NULL); break;
        case OPT_WARMUP: opt.warmup = strtod (optarg, NULL); break;
        case OPT_DRAIN: opt.drain = strtod (optarg, NULL); break;
        case OPT_BODY: opt.body_size = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_PROCS: opt.procs = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_SRC: opt.src_addrs = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_UPREFIX: free (opt.user_prefix); opt.user_prefix = xstrdup (optarg); break;
        case OPT_UOFFSET: opt.user_offset = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_RPREFIX: free (opt.room_prefix); opt.room_prefix = xstrdup (optarg); break;
        case OPT_PASSWORD: free (opt.password); opt.password = xstrdup (optarg); break;
        case OPT_AUTH:
          if (strcmp (optarg, "auto") == 0)
            opt.auth = AUTH_AUTO;
          else if (strcmp (optarg, "register") == 0)
            opt.auth = AUTH_REGISTER;
          else if (strcmp (optarg, "login") == 0)
            opt.auth = AUTH_LOGIN;
          else if (strcmp (optarg, "none") == 0)
            opt.auth = AUTH_NONE;
          else
            die ("unknown --auth %s", optarg);
          break;
        case OPT_TOKENS: opt.token_file = xstrdup (optarg); break;
        case OPT_AUTHC: opt.auth_concurrency = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_SETUPC: opt.setup_concurrency = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_SETUPT: opt.setup_timeout = strtod (optarg, NULL); break;
        case OPT_PID: opt.server_pid = atoi (optarg); break;
        case OPT_OP:
          if (strcmp (optarg, "send") == 0)
            opt.op = OP_SEND;
          else if (strcmp (optarg, "history") == 0)
            opt.op = OP_HISTORY;
          else if (strcmp (optarg, "search") == 0)
            opt.op = OP_SEARCH;
          else if (strcmp (optarg, "idle") == 0)
            opt.op = OP_IDLE;
          else
            die ("unknown --op %s", optarg);
          break;
        case OPT_HLIMIT: opt.history_limit = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_HRANDOM: opt.history_random = true; break;
        case OPT_QUERY: queries = optarg; break;
        case OPT_SLIMIT: opt.search_limit = (uint32_t) strtoul (optarg, NULL, 10); break;
        case OPT_LABEL: opt.label = xstrdup (optarg); break;
        case OPT_JSON: opt.json_file = xstrdup (optarg); break;
        case OPT_TIMELINE: opt.timeline_file = xstrdup (optarg); break;
        case OPT_LATE: opt.late_ms = strtod (optarg, NULL); break;
        case OPT_QUIET: opt.quiet = true; break;
        case OPT_HELP: usage (stdout); exit (0);
        default: usage (stderr); exit (2);
        }
    }
  if (optind < argc)
    die ("unexpected argument %s", argv[optind]);
  if (!senders_set)
    opt.senders = opt.rooms;
  if (opt.op == OP_IDLE)
    opt.senders = 0;
  if (opt.senders > opt.conns)
    opt.senders = opt.conns;
  if (!window_set && opt.rate > 0)
    opt.window = 64;
  if (opt.window == 0 || opt.procs == 0 || opt.conns == 0 || opt.duration <= 0 ||
      opt.setup_concurrency == 0 || opt.auth_concurrency == 0 || opt.port <= 0 ||
      opt.body_size > 60000)
    die ("invalid option value (see --help)");
  if (opt.procs > opt.conns)
    opt.procs = opt.conns;
  if (opt.rooms > opt.conns)
    die ("--rooms must not exceed --conns");
  if (opt.src_addrs > 250)
    die ("--src-addrs must be at most 250");
  {
    char *dup = xstrdup (queries), *save = NULL, *q;

    for (q = strtok_r (dup, ",", &save); q != NULL; q = strtok_r (NULL, ",", &save))
      {
        opt.queries = xrealloc (opt.queries, (opt.n_queries + 1) * sizeof (char *));
        opt.queries[opt.n_queries++] = xstrdup (q);
      }
    free (dup);
    if (opt.n_queries == 0)
      die ("--query needs at least one query");
  }
}

int
main (int argc, char **argv)
{
  pid_t *pids;
  int *up, *down;
  uint32_t w;
  ProcSample s0, sr, s1, s2;
  Counters total;
  BenchHist *lat, *ack;
  TimelineSlot *timeline = NULL;
  double lg_cpu = 0, setup_s, busy0, busy1;
  uint64_t t_start, go_ns, ok = 0, failed = 0;
  FILE *tok_out = NULL;

  parse_args (argc, argv);
  signal (SIGPIPE, SIG_IGN);
  load_tokens ();
  snprintf (run_id, sizeof run_id, "%08" PRIx64,
            (bench_now_ns () ^ ((uint64_t) getpid () << 20)) & 0xFFFFFFFFu);

  s0 = sample_proc (opt.server_pid);
  t_start = bench_now_ns ();
  pids = calloc (opt.procs, sizeof (pid_t));
  up = calloc (opt.procs, sizeof (int));
  down = calloc (opt.procs, sizeof (int));
  lat = malloc (sizeof (BenchHist));
  ack = malloc (sizeof (BenchHist));
  if (pids == NULL || up == NULL || down == NULL || lat == NULL || ack == NULL)
    die ("out of memory");
  fflush (NULL);
  for (w = 0; w < opt.procs; w++)
    {
      int pu[2], pd[2];

      if (pipe2 (pu, O_CLOEXEC) < 0 || pipe2 (pd, O_CLOEXEC) < 0)
        die ("pipe: %s", strerror (errno));
      pids[w] = fork ();
      if (pids[w] < 0)
        die ("fork: %s", strerror (errno));
      if (pids[w] == 0)
        {
          uint32_t k;

          for (k = 0; k < w; k++)
            {
              close (up[k]);
              close (down[k]);
            }
          close (pu[0]);
          close (pd[1]);
          _exit (worker_main ((int) w, pd[0], pu[1]));
        }
      close (pu[1]);
      close (pd[0]);
      up[w] = pu[0];
      down[w] = pd[1];
    }

  /* wait until every worker has its connections set up */
  for (w = 0; w < opt.procs; w++)
    {
      char tag;
      SetupReport r;

      if (!read_all (up[w], &tag, 1) || tag != 'R' || !read_all (up[w], &r, sizeof r))
        die ("worker %" PRIu32 " died during setup", w);
      ok += r.ok;
      failed += r.failed;
    }
  setup_s = (double) (bench_now_ns () - t_start) / 1e9;
  if (!opt.quiet)
    fprintf (stderr, "natter-loadgen: %" PRIu64 " connections ready, %" PRIu64 " failed, in %.1f s\n",
             ok, failed, setup_s);
  sr = sample_proc (opt.server_pid);
  go_ns = bench_now_ns () + 50000000u;
  for (w = 0; w < opt.procs; w++)
    {
      char tag = 'G';

      if (!write_all (down[w], &tag, 1) || !write_all (down[w], &go_ns, sizeof go_ns))
        die ("worker %" PRIu32 " is gone", w);
    }
  sleep_until (go_ns + (uint64_t) (opt.warmup * 1e9));
  s1 = sample_proc (opt.server_pid);
  busy0 = machine_busy_s ();
  sleep_until (go_ns + (uint64_t) ((opt.warmup + opt.duration) * 1e9));
  s2 = sample_proc (opt.server_pid);
  busy1 = machine_busy_s ();

  memset (&total, 0, sizeof total);
  hist_init (lat);
  hist_init (ack);
  if (opt.token_file != NULL)
    tok_out = fopen (opt.token_file, "a");
  if (opt.timeline_file != NULL && (timeline = calloc (timeline_slots (), sizeof (TimelineSlot))) == NULL)
    die ("out of memory");
  for (w = 0; w < opt.procs; w++)
    {
      char tag;
      Counters c;
      BenchHist *h = malloc (sizeof (BenchHist));
      int i, status;

      if (h == NULL)
        die ("out of memory");
      if (!read_all (up[w], &tag, 1) || tag != 'D' || !read_all (up[w], &c, sizeof c))
        die ("worker %" PRIu32 " died", w);
      if (!read_all (up[w], h, sizeof *h))
        die ("worker %" PRIu32 " died", w);
      hist_merge (lat, h);
      if (!read_all (up[w], h, sizeof *h))
        die ("worker %" PRIu32 " died", w);
      hist_merge (ack, h);
      free (h);
      if (c.tokens_bytes > 0)
        {
          char *buf = malloc (c.tokens_bytes);

          if (buf == NULL || !read_all (up[w], buf, c.tokens_bytes))
            die ("worker %" PRIu32 " died", w);
          if (tok_out != NULL)
            fwrite (buf, 1, c.tokens_bytes, tok_out);
          free (buf);
        }
      if (timeline != NULL)
        timeline_merge (timeline, up[w], w);
      waitpid (pids[w], &status, 0);
      total.conns_ok += c.conns_ok;
      total.conns_failed += c.conns_failed;
      total.disconnects += c.disconnects;
      total.sent += c.sent;
      total.acked += c.acked;
      total.delivered += c.delivered;
      total.sent_all += c.sent_all;
      total.acked_all += c.acked_all;
      total.delivered_all += c.delivered_all;
      for (i = 0; i < N_ERR; i++)
        total.errors[i] += c.errors[i];
      total.errors_setup += c.errors_setup;
      total.seq_gaps += c.seq_gaps;
      total.seq_dups += c.seq_dups;
      total.pings += c.pings;
      total.other_frames += c.other_frames;
      total.stalled += c.stalled;
      total.missed += c.missed;
      total.empty_replies += c.empty_replies;
      total.bytes_in += c.bytes_in;
      total.bytes_out += c.bytes_out;
      for (i = 0; i < N_CLOSE_SLOTS; i++)
        {
          uint64_t k;

          for (k = 0; k < c.close_count[i]; k++)
            count_close (&total, c.close_code[i]);
        }
      lg_cpu += c.cpu_s;
    }
  if (tok_out != NULL)
    fclose (tok_out);
  if (timeline != NULL)
    timeline_write (timeline);

  report (stdout, true, &total, lat, ack, s0, sr, s1, s2, lg_cpu, setup_s, busy1 - busy0);
  report (stdout, false, &total, lat, ack, s0, sr, s1, s2, lg_cpu, setup_s, busy1 - busy0);
  if (opt.json_file != NULL)
    {
      FILE *f = fopen (opt.json_file, "w");

      if (f == NULL)
        die ("cannot write %s: %s", opt.json_file, strerror (errno));
      report (f, false, &total, lat, ack, s0, sr, s1, s2, lg_cpu, setup_s, busy1 - busy0);
      fclose (f);
    }
  for (w = 0; w < opt.procs; w++)
    {
      close (up[w]);
      close (down[w]);
    }
  free (timeline);
  free (lat);
  free (ack);
  free (pids);
  free (up);
  free (down);
  return total.conns_ok > 0 ? 0 : 1;
}
