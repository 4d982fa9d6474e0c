/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* natter-fastpeer: the cheapest server that speaks the benchmark's subset of the Natter
 * JSON protocol (register, login, join, send → sent + message fan-out), in one epoll loop.
 *
 * It exists to show what the load generator can drive: each message is serialized into
 * one complete WebSocket frame once and the same bytes are appended to every member's
 * output buffer, which is flushed with one write per connection per loop iteration. It
 * has no accounts (any password is accepted, the token is derived from the user name),
 * no persistence, no limits and no backpressure. Never expose it. */

#define _GNU_SOURCE

#include "bench-wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct Room Room;
typedef struct Peer Peer;

struct Peer {
  int       fd;
  bool      upgraded;
  bool      dirty;
  bool      want_out;
  bool      closing;
  char      user[64];
  uint8_t  *in;
  size_t    in_len, in_cap;
  uint8_t  *out;
  size_t    out_off, out_len, out_cap;
  Room    **rooms;
  size_t    n_rooms;
  Peer     *next_dirty;
};

struct Room {
  char     *name;
  uint64_t  seq;
  Peer    **members;
  size_t    n_members, cap_members;
  Room     *next;
};

#define N_BUCKETS 65536

static Room *buckets[N_BUCKETS];
static int epfd;
static Peer *dirty;
static char *scratch;
static size_t scratch_cap;

static void *
xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n);

  if (q == NULL && n != 0)
    {
      fputs ("natter-fastpeer: out of memory\n", stderr);
      exit (2);
    }
  return q;
}

static uint32_t
hash (const char *s, size_t n)
{
  uint32_t h = 2166136261u;
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ (uint8_t) s[i]) * 16777619u;
  return h;
}

static Room *
room_get (BSlice name)
{
  uint32_t b = hash (name.p, name.n) % N_BUCKETS;
  Room *r;

  for (r = buckets[b]; r != NULL; r = r->next)
    if (bslice_eq (name, r->name))
      return r;
  r = calloc (1, sizeof *r);
  if (r == NULL)
    exit (2);
  r->name = strndup (name.p, name.n);
  r->next = buckets[b];
  buckets[b] = r;
  return r;
}

static void
mark_dirty (Peer *p)
{
  if (!p->dirty)
    {
      p->dirty = true;
      p->next_dirty = dirty;
      dirty = p;
    }
}

static void
out_append (Peer *p, const void *data, size_t n)
{
  if (p->out_off == p->out_len)
    p->out_off = p->out_len = 0;
  if (p->out_len + n > p->out_cap)
    {
      size_t cap = p->out_cap ? p->out_cap : 4096;

      if (p->out_off > 0)
        {
          memmove (p->out, p->out + p->out_off, p->out_len - p->out_off);
          p->out_len -= p->out_off;
          p->out_off = 0;
        }
      while (cap < p->out_len + n)
        cap *= 2;
      if (cap != p->out_cap)
        {
          p->out = xrealloc (p->out, cap);
          p->out_cap = cap;
        }
    }
  memcpy (p->out + p->out_len, data, n);
  p->out_len += n;
  mark_dirty (p);
}

/* Frames @payload as one unmasked text frame into scratch; returns its length. */
static size_t
frame_text (const char *payload, size_t n)
{
  uint8_t hdr[14];
  size_t hl = ws_write_header (hdr, WS_OP_TEXT, n, NULL);

  if (hl + n > scratch_cap)
    {
      scratch_cap = (hl + n) * 2;
      scratch = xrealloc (scratch, scratch_cap);
    }
  memmove (scratch + hl, payload, n);
  memcpy (scratch, hdr, hl);
  return hl + n;
}

static void
send_text (Peer *p, const char *payload, size_t n)
{
  uint8_t hdr[14];
  size_t hl = ws_write_header (hdr, WS_OP_TEXT, n, NULL);

  out_append (p, hdr, hl);
  out_append (p, payload, n);
}

static void
peer_close (Peer *p)
{
  size_t i, j;

  if (p->fd < 0)
    return;
  close (p->fd);
  p->fd = -1;
  for (i = 0; i < p->n_rooms; i++)
    {
      Room *r = p->rooms[i];

      for (j = 0; j < r->n_members; j++)
        if (r->members[j] == p)
          {
            r->members[j] = r->members[--r->n_members];
            break;
          }
    }
  free (p->rooms);
  p->rooms = NULL;
  p->n_rooms = 0;
  free (p->in);
  p->in = NULL;
  free (p->out);
  p->out = NULL;
  p->in_len = p->out_len = p->out_off = 0;
  p->in_cap = p->out_cap = 0;
  /* the struct is freed once it is off the dirty list */
  if (!p->dirty)
    free (p);
}

static void
flush_peer (Peer *p)
{
  while (p->out_off < p->out_len)
    {
      ssize_t n = write (p->fd, p->out + p->out_off, p->out_len - p->out_off);

      if (n > 0)
        {
          p->out_off += (size_t) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN))
        {
          if (!p->want_out)
            {
              struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = p };

              epoll_ctl (epfd, EPOLL_CTL_MOD, p->fd, &ev);
              p->want_out = true;
            }
          return;
        }
      peer_close (p);
      return;
    }
  p->out_off = p->out_len = 0;
  if (p->want_out)
    {
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = p };

      epoll_ctl (epfd, EPOLL_CTL_MOD, p->fd, &ev);
      p->want_out = false;
    }
  if (p->closing)
    peer_close (p);
}

static void
reply_error (Peer *p, uint64_t id, const char *code)
{
  char buf[256];
  int n = snprintf (buf, sizeof buf,
                    "{\"id\":%llu,\"error\":{\"code\":\"%s\",\"message\":\"not supported\"}}",
                    (unsigned long long) id, code);

  send_text (p, buf, (size_t) n);
}

static int64_t
now_ms (void)
{
  struct timeval tv;

  gettimeofday (&tv, NULL);
  return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void
handle_text (Peer *p, const char *data, size_t len)
{
  const char *end = data + len;
  BjIter it;
  BSlice k, op = { NULL, 0 };
  const char *v, *val = NULL;
  uint64_t id = 0;

  if (!bj_obj_begin (&it, data, end))
    {
      reply_error (p, 0, "bad_request");
      return;
    }
  while (bj_obj_next (&it, &k, &v))
    {
      if (bslice_eq (k, "id"))
        bj_get_u64 (v, end, &id);
      else
        {
          op = k;
          val = v;
        }
    }
  if (op.p == NULL)
    {
      reply_error (p, id, "bad_request");
      return;
    }
  if (bslice_eq (op, "register") || bslice_eq (op, "login"))
    {
      const char *uv = bj_find (val, end, "user");
      const char *tv = bj_find (val, end, "token");
      BSlice user = { NULL, 0 };
      char buf[512];
      int n;

      if (uv != NULL)
        bj_get_str (uv, end, &user);
      else if (tv != NULL && bj_get_str (tv, end, &user) && user.n > 4)
        {
          user.p += 4;
          user.n -= 4;
        }
      if (user.p == NULL || user.n == 0 || user.n >= sizeof p->user)
        {
          reply_error (p, id, "unauthorized");
          return;
        }
      memcpy (p->user, user.p, user.n);
      p->user[user.n] = '\0';
      n = snprintf (buf, sizeof buf,
                    "{\"id\":%llu,\"welcome\":{\"user\":\"%s\",\"token\":\"tok-%s\","
                    "\"epoch\":\"fastpeer\",\"rooms\":[]}}",
                    (unsigned long long) id, p->user, p->user);
      send_text (p, buf, (size_t) n);
    }
  else if (bslice_eq (op, "join"))
    {
      const char *rv = bj_find (val, end, "room");
      BSlice name;
      Room *r;
      char buf[512];
      int n;

      if (p->user[0] == '\0' || rv == NULL || !bj_get_str (rv, end, &name) || name.n == 0 ||
          name.n > 64)
        {
          reply_error (p, id, "bad_request");
          return;
        }
      r = room_get (name);
      if (r->n_members == r->cap_members)
        {
          r->cap_members = r->cap_members ? r->cap_members * 2 : 8;
          r->members = xrealloc (r->members, r->cap_members * sizeof (Peer *));
        }
      r->members[r->n_members++] = p;
      p->rooms = xrealloc (p->rooms, (p->n_rooms + 1) * sizeof (Room *));
      p->rooms[p->n_rooms++] = r;
      n = snprintf (buf, sizeof buf, "{\"id\":%llu,\"joined\":{\"room\":\"%s\",\"last_seq\":%llu}}",
                    (unsigned long long) id, r->name, (unsigned long long) r->seq);
      send_text (p, buf, (size_t) n);
    }
  else if (bslice_eq (op, "send"))
    {
      const char *rv = bj_find (val, end, "room");
      const char *bv = bj_find (val, end, "body");
      const char *cv = bj_find (val, end, "client_msg_id");
      BSlice name, body, cmid = { "", 0 };
      Room *r;
      char *msg;
      size_t cap, flen, i;
      int n;
      int64_t ts = now_ms ();

      if (p->user[0] == '\0' || rv == NULL || bv == NULL || !bj_get_str (rv, end, &name) ||
          !bj_get_str (bv, end, &body))
        {
          reply_error (p, id, "bad_request");
          return;
        }
      if (cv != NULL)
        bj_get_str (cv, end, &cmid);
      r = room_get (name);
      r->seq++;
      cap = body.n + cmid.n + name.n + 256;
      msg = malloc (cap);
      if (msg == NULL)
        exit (2);
      n = snprintf (msg, cap, "{\"id\":%llu,\"sent\":{\"room\":\"%s\",\"seq\":%llu,\"ts\":%lld,"
                    "\"client_msg_id\":\"%.*s\"}}",
                    (unsigned long long) id, r->name, (unsigned long long) r->seq,
                    (long long) ts, (int) cmid.n, cmid.p);
      send_text (p, msg, (size_t) n);
      n = snprintf (msg, cap, "{\"message\":{\"room\":\"%s\",\"seq\":%llu,\"ts\":%lld,"
                    "\"sender\":\"%s\",\"body\":\"%.*s\",\"client_msg_id\":\"%.*s\","
                    "\"kind\":\"text\"}}",
                    r->name, (unsigned long long) r->seq, (long long) ts, p->user,
                    (int) body.n, body.p, (int) cmid.n, cmid.p);
      /* one frame, the same bytes for every member */
      flen = frame_text (msg, (size_t) n);
      free (msg);
      for (i = 0; i < r->n_members; i++)
        out_append (r->members[i], scratch, flen);
    }
  else
    reply_error (p, id, "bad_request");
}

static bool
handle_upgrade (Peer *p)
{
  const char *req = (const char *) p->in;
  const char *end = memmem (p->in, p->in_len, "\r\n\r\n", 4);
  const char *line, *key = NULL;
  size_t key_len = 0;
  char accept[29], resp[512];
  int n;

  if (end == NULL)
    return p->in_len < 8192;
  for (line = req; line != NULL && line < end;)
    {
      const char *eol = memmem (line, (size_t) (end - line) + 2, "\r\n", 2);

      if (eol - line > 18 && strncasecmp (line, "Sec-WebSocket-Key:", 18) == 0)
        {
          key = line + 18;
          while (*key == ' ')
            key++;
          key_len = (size_t) (eol - key);
        }
      line = eol + 2;
    }
  if (key == NULL || strncmp (req, "GET /ws ", 8) != 0)
    {
      static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

      out_append (p, bad, sizeof bad - 1);
      p->closing = true;
      return true;
    }
  ws_accept_key (key, key_len, accept);
  n = snprintf (resp, sizeof resp,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: %s\r\n%s\r\n", accept,
                memmem (req, (size_t) (end - req), "natter.v1.json", 14) != NULL ?
                "Sec-WebSocket-Protocol: natter.v1.json\r\n" : "");
  out_append (p, resp, (size_t) n);
  p->upgraded = true;
  n = (int) (end + 4 - req);
  memmove (p->in, p->in + n, p->in_len - (size_t) n);
  p->in_len -= (size_t) n;
  return true;
}

static void
on_readable (Peer *p)
{
  for (;;)
    {
      ssize_t n;
      size_t off = 0;

      if (p->in_cap - p->in_len < 65536)
        {
          p->in_cap = p->in_cap ? p->in_cap * 2 : 131072;
          p->in = xrealloc (p->in, p->in_cap);
        }
      n = read (p->fd, p->in + p->in_len, p->in_cap - p->in_len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN))
        return;
      if (n <= 0)
        {
          peer_close (p);
          return;
        }
      p->in_len += (size_t) n;
      if (!p->upgraded)
        {
          if (!handle_upgrade (p))
            {
              peer_close (p);
              return;
            }
          if (!p->upgraded)
            continue;
        }
      while (off < p->in_len && !p->closing)
        {
          WsFrame f;
          int r = ws_parse_frame (p->in + off, p->in_len - off, &f);
          uint8_t *payload;

          if (r == 0)
            break;
          if (r < 0 || !f.masked || !f.fin || f.payload_len > 1 << 20)
            {
              peer_close (p);
              return;
            }
          payload = p->in + off + f.header_len;
          ws_mask (payload, (size_t) f.payload_len, f.mask);
          off += f.header_len + (size_t) f.payload_len;
          switch (f.opcode)
            {
            case WS_OP_TEXT:
              handle_text (p, (const char *) payload, (size_t) f.payload_len);
              break;
            case WS_OP_PING:
              {
                uint8_t hdr[14];
                size_t hl = ws_write_header (hdr, WS_OP_PONG, f.payload_len, NULL);

                out_append (p, hdr, hl);
                out_append (p, payload, (size_t) f.payload_len);
              }
              break;
            case WS_OP_CLOSE:
              {
                uint8_t hdr[14];
                size_t hl = ws_write_header (hdr, WS_OP_CLOSE, 0, NULL);

                out_append (p, hdr, hl);
                p->closing = true;
              }
              break;
            default:
              break;
            }
        }
      if (off > 0)
        {
          memmove (p->in, p->in + off, p->in_len - off);
          p->in_len -= off;
        }
      if (p->closing)
        return;
    }
}

int
main (int argc, char **argv)
{
  const char *listen_arg = "127.0.0.1:0", *ready_file = NULL;
  struct sockaddr_in addr;
  socklen_t alen = sizeof addr;
  struct epoll_event ev, events[1024];
  char host[64];
  const char *colon;
  int lfd, one = 1, i;

  for (i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--listen") == 0 && i + 1 < argc)
        listen_arg = argv[++i];
      else if (strcmp (argv[i], "--ready-file") == 0 && i + 1 < argc)
        ready_file = argv[++i];
      else
        {
          fprintf (stderr, "Usage: natter-fastpeer [--listen HOST:PORT] [--ready-file FILE]\n");
          return 2;
        }
    }
  colon = strrchr (listen_arg, ':');
  if (colon == NULL || (size_t) (colon - listen_arg) >= sizeof host)
    {
      fprintf (stderr, "natter-fastpeer: --listen wants HOST:PORT\n");
      return 2;
    }
  memcpy (host, listen_arg, (size_t) (colon - listen_arg));
  host[colon - listen_arg] = '\0';
  memset (&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons ((uint16_t) atoi (colon + 1));
  if (inet_pton (AF_INET, host, &addr.sin_addr) != 1)
    {
      fprintf (stderr, "natter-fastpeer: bad address %s\n", host);
      return 2;
    }
  signal (SIGPIPE, SIG_IGN);
  lfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (lfd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen (lfd, 4096) < 0)
    {
      perror ("natter-fastpeer: bind/listen");
      return 1;
    }
  getsockname (lfd, (struct sockaddr *) &addr, &alen);
  epfd = epoll_create1 (EPOLL_CLOEXEC);
  ev.events = EPOLLIN;
  ev.data.ptr = NULL;
  epoll_ctl (epfd, EPOLL_CTL_ADD, lfd, &ev);
  if (ready_file != NULL)
    {
      char tmp[4096];
      FILE *f;

      snprintf (tmp, sizeof tmp, "%s.tmp", ready_file);
      f = fopen (tmp, "w");
      if (f == NULL)
        return 1;
      fprintf (f, "%d\n", ntohs (addr.sin_port));
      fclose (f);
      rename (tmp, ready_file);
    }
  fprintf (stderr, "natter-fastpeer: listening on %s:%d\n", host, ntohs (addr.sin_port));
  for (;;)
    {
      int n = epoll_wait (epfd, events, 1024, -1);

      for (i = 0; i < n; i++)
        {
          Peer *p = events[i].data.ptr;

          if (p == NULL)
            {
              int fd;

              while ((fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
                {
                  Peer *np = calloc (1, sizeof *np);

                  if (np == NULL)
                    exit (2);
                  np->fd = fd;
                  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                  ev.events = EPOLLIN;
                  ev.data.ptr = np;
                  epoll_ctl (epfd, EPOLL_CTL_ADD, fd, &ev);
                }
              continue;
            }
          if (p->fd < 0)
            continue;
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            on_readable (p);
          if (p->fd >= 0 && (events[i].events & EPOLLOUT))
            flush_peer (p);
        }
      while (dirty != NULL)
        {
          Peer *p = dirty;

          dirty = p->next_dirty;
          p->dirty = false;
          if (p->fd >= 0)
            flush_peer (p);
          else
            free (p);
        }
    }
}
