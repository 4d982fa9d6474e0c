/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-websocket"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "natter-websocket.h"

#define OPCODE_CONTINUATION 0x0
#define OPCODE_TEXT         0x1
#define OPCODE_BINARY       0x2
#define OPCODE_CLOSE        0x8
#define OPCODE_PING         0x9
#define OPCODE_PONG         0xA

/* Reads per wake-up, so one busy peer cannot starve the others. */
#define MAX_READS_PER_WAKEUP 8
#define READ_CHUNK           (16 * 1024)
/* Frames per writev(): two vectors each, under IOV_MAX. */
#define MAX_FRAMES_PER_WRITE 64
/* Sender threads (see "The sender"), and how many connections' jobs one needs before a
 * flush is shared out to another. */
#define MAX_SENDERS          4
#define JOBS_PER_HANDOFF     32
/* How long a close handshake may take before the connection is dropped. */
#define CLOSE_TIMEOUT_MS     5000
/* How far past its limits a queue may grow between two flushes, and for how long a queue
 * past them may wait without the peer taking a byte. */
#define BACKLOG_BURST_FACTOR 4
#define BACKLOG_GRACE_MS     2000

typedef enum {
  STATE_OPEN,
  STATE_CLOSING,
  STATE_CLOSED,
} State;

typedef struct
{
  GList   link;       /* in outq: no list node to allocate per frame */
  guint8  header[10];
  guint8  header_len;
  GBytes *payload;    /* (owned) (nullable) */
  gsize   size;       /* header_len + payload size */
  gsize   written;
} OutFrame;

typedef struct _WriteJob WriteJob;

struct _NatterWebsocket
{
  GObject                parent_instance;

  GIOStream             *stream;        /* (owned) */
  GPollableInputStream  *input;         /* (unowned) of stream */
  GPollableOutputStream *output;        /* (unowned) of stream */
  /* Plain TCP: the socket's fd sits in the process-wide epoll set (see "The poller").
   * Otherwise (TLS, which buffers inside): a pollable GSource per direction. */
  int                    fd;            /* (unowned) -1 when not polled by fd */
  gboolean               want_write;    /* fd mode: waiting for the socket to take more */
  /* Plain TCP: a sender thread writes this fd (see "The sender"); -1 otherwise. */
  int                    write_fd;      /* (unowned) */
  WriteJob              *job;           /* (unowned) frames with the sender, or %NULL */
  gboolean               close_after_job;  /* closed while the sender had its frames */
  gboolean               drop_after_job;   /* closed as too slow while it had them */
  GSource               *read_source;   /* (owned) (nullable) */
  GSource               *write_source;  /* (owned) (nullable) */
  NatterWebsocketLimits  limits;

  GByteArray            *inbuf;         /* (owned) received, not yet parsed */
  GByteArray            *message;       /* (owned) fragments of the message being received */
  gboolean               in_message;
  gboolean               message_is_text;

  GQueue                 outq;          /* (owned) OutFrame * */
  gsize                  queued_bytes;
  gboolean               flush_pending;

  State                  state;
  gboolean               close_sent;
  gboolean               close_received;
  gboolean               discard_input;  /* after a protocol error nothing more is parsed */
  gint64                 last_heard;     /* monotonic µs of the last whole frame read */
  gushort                close_code;
  guint                  close_timeout;
  guint                  backlog_timeout;
  gboolean               took_bytes;     /* the socket took some since backlog_timeout began */
  int                    kernel_queued;  /* bytes the kernel held then, or -1 */
};

G_DEFINE_FINAL_TYPE (NatterWebsocket, natter_websocket, G_TYPE_OBJECT)

enum {
  SIGNAL_MESSAGE,
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void start_flush (NatterWebsocket *self);
static void shutdown_stream (NatterWebsocket *self);
static void stream_closed_cb (GObject *source, GAsyncResult *result, gpointer user_data);

/* ---------------------------------------------------------------------------------- */
/* The poller
 *
 * GLib's main loop walks every GSource and polls every fd on each iteration, so with one
 * source per connection an iteration costs O(connections) even when one of them is
 * busy. Plain TCP connections therefore share one epoll set, watched by a single GSource
 * whose dispatch handles only the connections that are ready. */

typedef struct
{
  GSource source;
  int     epfd;
} PollerSource;

static PollerSource *poller;  /* (owned) attached to the main context for good */

static gboolean on_readable (GObject *stream, gpointer user_data);
static gboolean on_writable (GObject *stream, gpointer user_data);

#define POLLER_BATCH 256

static gboolean
poller_dispatch (GSource     *source,
                 GSourceFunc  callback,
                 gpointer     user_data)
{
  PollerSource *ps = (PollerSource *) source;
  struct epoll_event events[POLLER_BATCH];
  NatterWebsocket *ready[POLLER_BATCH];
  int n = epoll_wait (ps->epfd, events, POLLER_BATCH, 0);

  /* Hold every ready connection first: handling one may close another. */
  for (int i = 0; i < n; i++)
    ready[i] = g_object_ref (events[i].data.ptr);
  for (int i = 0; i < n; i++)
    {
      NatterWebsocket *self = ready[i];

      if (self->fd >= 0 && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        on_readable (NULL, self);
      if (self->fd >= 0 && self->want_write && (events[i].events & (EPOLLOUT | EPOLLERR)))
        on_writable (NULL, self);
      g_object_unref (self);
    }
  return G_SOURCE_CONTINUE;
}

static void
poller_finalize (GSource *source)
{
  close (((PollerSource *) source)->epfd);
}

static GSourceFuncs poller_funcs = {
  .dispatch = poller_dispatch,
  .finalize = poller_finalize,
};

static int
poller_fd (void)
{
  if (poller == NULL)
    {
      int epfd = epoll_create1 (EPOLL_CLOEXEC);

      if (epfd < 0)
        return -1;
      poller = (PollerSource *) g_source_new (&poller_funcs, sizeof (PollerSource));
      poller->epfd = epfd;
      g_source_set_name ((GSource *) poller, "natter websocket poller");
      g_source_add_unix_fd ((GSource *) poller, epfd, G_IO_IN);
      g_source_attach ((GSource *) poller, g_main_context_get_thread_default ());
    }
  return poller->epfd;
}

static void
poller_update (NatterWebsocket *self, int op)
{
  struct epoll_event event = { 0, };

  event.events = EPOLLIN | (self->want_write ? EPOLLOUT : 0);
  event.data.ptr = self;
  if (epoll_ctl (poller->epfd, op, self->fd, &event) != 0)
    g_warning ("epoll_ctl failed: %s", g_strerror (errno));
}

/* Starts or stops waiting for the socket to take more. */
static void
watch_writable (NatterWebsocket *self, gboolean on)
{
  if (self->fd >= 0)
    {
      if (self->want_write != on)
        {
          self->want_write = on;
          poller_update (self, EPOLL_CTL_MOD);
        }
      return;
    }
  if (on && self->write_source == NULL)
    {
      self->write_source = g_pollable_output_stream_create_source (self->output, NULL);
      g_source_set_callback (self->write_source, G_SOURCE_FUNC (on_writable), self, NULL);
      g_source_attach (self->write_source, g_main_context_get_thread_default ());
    }
  else if (!on && self->write_source != NULL)
    {
      g_source_destroy (self->write_source);
      g_clear_pointer (&self->write_source, g_source_unref);
    }
}

static gboolean
waiting_to_write (NatterWebsocket *self)
{
  if (self->job != NULL)
    return TRUE;
  return self->fd >= 0 ? self->want_write : self->write_source != NULL;
}

static void
unwatch (NatterWebsocket *self)
{
  if (self->fd >= 0)
    {
      epoll_ctl (poller->epfd, EPOLL_CTL_DEL, self->fd, NULL);
      self->fd = -1;
      self->want_write = FALSE;
    }
  if (self->read_source != NULL)
    {
      g_source_destroy (self->read_source);
      g_clear_pointer (&self->read_source, g_source_unref);
    }
  watch_writable (self, FALSE);
}

/* Reads whatever libsoup had already buffered beyond the handshake, once the caller
 * has connected its signals. */
static gboolean
first_read_cb (gpointer user_data)
{
  NatterWebsocket *self = user_data;

  if (self->fd >= 0)
    on_readable (NULL, self);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------------------- */
/* Writing */

static void
out_frame_free (OutFrame *frame)
{
  g_clear_pointer (&frame->payload, g_bytes_unref);
  g_free (frame);
}

/* What of @frame is not written yet, as at most two vectors (header, payload), appended
 * at @vectors. Returns how many it appended. */
static guint
out_frame_pending (const OutFrame *frame, GOutputVector *vectors)
{
  gsize done = frame->written;
  guint n = 0;

  if (done < frame->header_len)
    {
      vectors[n].buffer = frame->header + done;
      vectors[n++].size = frame->header_len - done;
      done = 0;
    }
  else
    done -= frame->header_len;
  if (frame->payload != NULL)
    {
      gsize size;
      const guint8 *data = g_bytes_get_data (frame->payload, &size);

      vectors[n].buffer = data + done;
      vectors[n++].size = size - done;
    }
  return n;
}

/* Takes what a write wrote (*@written bytes, from @frame on) off @frame. Returns %TRUE
 * if that finished it, with *@written reduced by what was left of it; %FALSE if part of
 * it is still to be written (*@written is then used up). */
static gboolean
out_frame_consume (OutFrame *frame, gsize *written)
{
  gsize left = frame->size - frame->written;

  if (*written < left)
    {
      frame->written += *written;
      *written = 0;
      return FALSE;
    }
  *written -= left;
  return TRUE;
}

/* The queue links the frames through their own list nodes. */
static void
outq_push_tail (NatterWebsocket *self, OutFrame *frame)
{
  frame->link.data = frame;
  g_queue_push_tail_link (&self->outq, &frame->link);
}

static void
outq_push_head (NatterWebsocket *self, OutFrame *frame)
{
  frame->link.data = frame;
  g_queue_push_head_link (&self->outq, &frame->link);
}

static OutFrame *
outq_pop_head (NatterWebsocket *self)
{
  GList *link = g_queue_pop_head_link (&self->outq);

  return link != NULL ? link->data : NULL;
}

static void
outq_clear (NatterWebsocket *self)
{
  OutFrame *frame;

  while ((frame = outq_pop_head (self)) != NULL)
    out_frame_free (frame);
}

static void
enqueue (NatterWebsocket *self, guint8 opcode, GBytes *payload)
{
  OutFrame *frame = g_new0 (OutFrame, 1);
  gsize len = payload != NULL ? g_bytes_get_size (payload) : 0;

  frame->header[0] = 0x80 | opcode;
  if (len < 126)
    {
      frame->header[1] = (guint8) len;
      frame->header_len = 2;
    }
  else if (len <= G_MAXUINT16)
    {
      frame->header[1] = 126;
      frame->header[2] = (guint8) (len >> 8);
      frame->header[3] = (guint8) len;
      frame->header_len = 4;
    }
  else
    {
      frame->header[1] = 127;
      for (guint i = 0; i < 8; i++)
        frame->header[2 + i] = (guint8) ((guint64) len >> (56 - 8 * i));
      frame->header_len = 10;
    }
  frame->payload = len > 0 ? g_bytes_ref (payload) : NULL;
  frame->size = frame->header_len + len;

  outq_push_tail (self, frame);
  self->queued_bytes += frame->size;
  start_flush (self);
}

static gboolean backlog_timeout_cb (gpointer user_data);
static guint queued_frames (NatterWebsocket *self);

/* Bytes written to the socket that the peer has not acknowledged yet, or -1 if unknown
 * (TLS). They drain while the peer reads even when natterd writes nothing: the kernel
 * says the socket is writable again only once a good part of its buffer is free. */
static int
kernel_queued (NatterWebsocket *self)
{
  int n;

  if (self->fd < 0 || ioctl (self->fd, SIOCOUTQ, &n) != 0)
    return -1;
  return n;
}

/* A peer that does not read what it is sent (messages, or pongs to its own pings) is
 * too slow to follow. What the kernel took does not count: the queue is judged after a
 * flush. A reader that keeps up may still fall behind during a burst (many senders' bursts
 * into one room add up, and a busy machine reads slowly), so the queue may stay over its
 * limits as long as the peer keeps reading: it is closed with 1013 when BACKLOG_GRACE_MS
 * pass without the socket taking a byte, or at once past @factor times the limits (which
 * bounds memory whatever the peer does). */
static gboolean
check_backlog (NatterWebsocket *self, guint factor)
{
  g_autofree char *reason = NULL;
  guint frames = queued_frames (self);
  gboolean over = self->queued_bytes > self->limits.max_queue_bytes ||
                  frames > self->limits.max_queue_frames;
  gboolean far_over = self->queued_bytes > (gsize) self->limits.max_queue_bytes * factor ||
                      frames > self->limits.max_queue_frames * factor;

  if (self->state != STATE_OPEN)
    return TRUE;
  if (!over)
    {
      g_clear_handle_id (&self->backlog_timeout, g_source_remove);
      return TRUE;
    }
  if (!far_over)
    {
      if (self->backlog_timeout == 0)
        {
          self->took_bytes = FALSE;
          self->kernel_queued = kernel_queued (self);
          self->backlog_timeout = g_timeout_add (BACKLOG_GRACE_MS, backlog_timeout_cb, self);
        }
      return TRUE;
    }
  g_clear_handle_id (&self->backlog_timeout, g_source_remove);
  reason = g_strdup_printf ("too slow: %" G_GSIZE_FORMAT " bytes waiting", self->queued_bytes);
  g_debug ("Closing a slow consumer: %s", reason);
  natter_websocket_close (self, NATTER_CLOSE_TRY_LATER, reason);
  return FALSE;
}

static gboolean
backlog_timeout_cb (gpointer user_data)
{
  NatterWebsocket *self = user_data;
  int now_queued = kernel_queued (self);

  self->backlog_timeout = 0;

  /* The peer read (the socket took bytes, or the kernel's share drained; or a write is
   * still out, its outcome unknown): another grace period if the queue is still over.
   * Otherwise it took nothing for all of it: judged as if far over. */
  if (self->took_bytes || self->job != NULL ||
      (now_queued >= 0 && self->kernel_queued >= 0 && now_queued < self->kernel_queued))
    check_backlog (self, BACKLOG_BURST_FACTOR);
  else
    check_backlog (self, 0);
  return G_SOURCE_REMOVE;
}

/* After a write: judges the backlog, waits for the socket or writes again if frames are
 * left (@socket_full: the socket took less than it was offered), and hangs up once the
 * close handshake is done and everything is out. */
static void
after_write (NatterWebsocket *self, gboolean socket_full)
{
  if (!check_backlog (self, BACKLOG_BURST_FACTOR))
    return;
  if (!g_queue_is_empty (&self->outq))
    {
      if (socket_full)
        watch_writable (self, TRUE);
      else
        start_flush (self);
      return;
    }
  watch_writable (self, FALSE);
  /* Everything is out. After both close frames the TCP connection goes too, and at once
   * after a protocol error: the peer's answer could not be parsed anyway. */
  if (self->close_sent && (self->close_received || self->discard_input))
    shutdown_stream (self);
}

/* ---------------------------------------------------------------------------------- */
/* The sender
 *
 * On loopback and fast links most of a delivery's cost is the kernel's: each write runs
 * the TCP send path and, for local peers, their receive path and wake-up too. Plain TCP
 * connections therefore hand their frames to sender threads, as GDBus hands its messages
 * to its worker thread: the main loop moves up to MAX_FRAMES_PER_WRITE frames from a
 * connection's queue into a job, shares the jobs of one flush out among the senders (see
 * hand_out_jobs()), and goes back to reading and routing while they write them. One
 * commit's deliveries arrive at once (a batch of messages times the members of each
 * room), and with one sender per processor that burst is written in parallel rather than
 * queued behind one thread. A sender only calls sendmsg(); what was written comes back to
 * the main loop, which keeps all the state: the queues, the limits, the close handshake.
 * A connection has at most one job out, so its frames stay in order. While a job is out
 * the main loop does not touch its frames, and does not close the fd. */

struct _WriteJob
{
  NatterWebsocket *ws;                              /* (owned) */
  int              fd;
  guint            n_frames;
  OutFrame        *frames[MAX_FRAMES_PER_WRITE];    /* (owned) (nullable) each */
  /* Set by the sender */
  gsize            written;
  int              error;                           /* errno of a failed write, or 0 */
  gboolean         socket_full;                     /* the socket took less than offered */
};

static GAsyncQueue  *sender_queue;    /* (owned) GPtrArray * of WriteJob * */
static guint         n_senders;
static GMainContext *sender_context;  /* (owned) where finished jobs come back */

static void
write_job_free (WriteJob *job)
{
  for (guint i = 0; i < job->n_frames; i++)
    if (job->frames[i] != NULL)
      out_frame_free (job->frames[i]);
  g_object_unref (job->ws);
  g_free (job);
}

/* Runs on the sender thread: one sendmsg() for the whole job. */
static void
write_job_run (WriteJob *job)
{
  GOutputVector vectors[MAX_FRAMES_PER_WRITE * 2];
  struct iovec iov[MAX_FRAMES_PER_WRITE * 2];
  struct msghdr msg = { 0, };
  gsize total = 0;
  guint n = 0;
  gssize r;

  for (guint i = 0; i < job->n_frames; i++)
    n += out_frame_pending (job->frames[i], vectors + n);
  for (guint i = 0; i < n; i++)
    {
      iov[i].iov_base = (gpointer) vectors[i].buffer;
      iov[i].iov_len = vectors[i].size;
      total += vectors[i].size;
    }
  msg.msg_iov = iov;
  msg.msg_iovlen = n;

  do
    r = sendmsg (job->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);

  if (r >= 0)
    {
      job->written = r;
      job->socket_full = (gsize) r < total;
    }
  else if (errno == EAGAIN)
    job->socket_full = TRUE;
  else
    job->error = errno;
}

/* Back on the main loop: what was written leaves the queue, the rest goes back to its
 * head, in order. */
static void
write_job_finish (WriteJob *job)
{
  NatterWebsocket *self = job->ws;
  gsize written = job->written;
  guint first_left = 0;

  g_assert (self->job == job);
  self->job = NULL;

  if (self->state == STATE_CLOSED)
    {
      /* Closed meanwhile: the frames go with the job; the fd can go now. */
      if (self->close_after_job)
        {
          self->close_after_job = FALSE;
          g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, NULL,
                                   stream_closed_cb, NULL);
        }
      return;
    }

  if (written > 0)
    self->took_bytes = TRUE;
  for (; first_left < job->n_frames && written > 0; first_left++)
    {
      if (!out_frame_consume (job->frames[first_left], &written))
        break;
      self->queued_bytes -= job->frames[first_left]->size;
    }
  for (guint i = job->n_frames; i > first_left; i--)
    {
      OutFrame *frame = g_steal_pointer (&job->frames[i - 1]);

      /* Closed as too slow meanwhile: only a frame already begun must be finished. */
      if (self->drop_after_job && frame->written == 0)
        {
          self->queued_bytes -= frame->size;
          out_frame_free (frame);
          continue;
        }
      outq_push_head (self, frame);
    }
  self->drop_after_job = FALSE;

  if (job->error != 0)
    {
      g_debug ("Write failed: %s", g_strerror (job->error));
      shutdown_stream (self);
      return;
    }
  after_write (self, job->socket_full);
}

static gboolean
write_jobs_done_cb (gpointer data)
{
  GPtrArray *jobs = data;

  for (guint i = 0; i < jobs->len; i++)
    write_job_finish (g_ptr_array_index (jobs, i));
  return G_SOURCE_REMOVE;
}

static gpointer
sender_thread (gpointer data)
{
  for (;;)
    {
      GPtrArray *jobs = g_async_queue_pop (sender_queue);
      g_autoptr(GSource) source = g_idle_source_new ();

      for (guint i = 0; i < jobs->len; i++)
        write_job_run (g_ptr_array_index (jobs, i));

      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_static_name (source, "[natter] websocket writes");
      g_source_set_callback (source, write_jobs_done_cb, jobs,
                             (GDestroyNotify) g_ptr_array_unref);
      g_source_attach (source, sender_context);
    }
  return NULL;
}

/* Starts the senders with the poller, on the first plain TCP connection: one per
 * processor, up to MAX_SENDERS. */
static gboolean
sender_start (void)
{
  guint wanted = CLAMP (g_get_num_processors (), 1, MAX_SENDERS);

  if (sender_queue != NULL)
    return TRUE;
  sender_queue = g_async_queue_new ();
  sender_context = g_main_context_ref_thread_default ();
  for (guint i = 0; i < wanted; i++)
    {
      g_autoptr(GError) error = NULL;
      GThread *thread = g_thread_try_new ("natter-ws-send", sender_thread, NULL, &error);

      if (thread == NULL)
        {
          g_warning ("Cannot start a sender thread: %s", error->message);
          break;
        }
      g_thread_unref (thread);
      n_senders++;
    }
  if (n_senders == 0)
    {
      g_warning ("No sender thread: writing from the main loop");
      g_clear_pointer (&sender_queue, g_async_queue_unref);
      g_clear_pointer (&sender_context, g_main_context_unref);
      return FALSE;
    }
  return TRUE;
}

/* Moves the head of the queue into a job for the sender. */
static WriteJob *
write_job_take (NatterWebsocket *self)
{
  WriteJob *job = g_new0 (WriteJob, 1);

  job->ws = g_object_ref (self);
  job->fd = self->write_fd;
  while (job->n_frames < MAX_FRAMES_PER_WRITE && !g_queue_is_empty (&self->outq))
    job->frames[job->n_frames++] = outq_pop_head (self);
  self->job = job;
  return job;
}

static guint
queued_frames (NatterWebsocket *self)
{
  return g_queue_get_length (&self->outq) + (self->job != NULL ? self->job->n_frames : 0);
}

/* Nothing left to write: neither queued nor with the sender. */
static gboolean
output_drained (NatterWebsocket *self)
{
  return g_queue_is_empty (&self->outq) && self->job == NULL;
}

/* ---------------------------------------------------------------------------------- */

/* Writes as much of the queue as the socket takes, many frames per writev(), from the
 * main loop: for TLS, whose stream must not be used from two threads. */
static void
flush (NatterWebsocket *self)
{
  while (!g_queue_is_empty (&self->outq) && self->state != STATE_CLOSED)
    {
      GOutputVector vectors[MAX_FRAMES_PER_WRITE * 2];
      guint n = 0;
      gsize written = 0;
      g_autoptr(GError) error = NULL;
      GPollableReturn ret;

      for (GList *l = self->outq.head; l != NULL && n + 2 <= G_N_ELEMENTS (vectors); l = l->next)
        n += out_frame_pending (l->data, vectors + n);

      ret = g_pollable_output_stream_writev_nonblocking (self->output, vectors, n, &written,
                                                         NULL, &error);
      if (ret == G_POLLABLE_RETURN_WOULD_BLOCK)
        break;
      if (ret == G_POLLABLE_RETURN_FAILED)
        {
          g_debug ("Write failed: %s", error->message);
          shutdown_stream (self);
          return;
        }

      if (written > 0)
        self->took_bytes = TRUE;
      while (written > 0 && out_frame_consume (g_queue_peek_head (&self->outq), &written))
        {
          OutFrame *frame = outq_pop_head (self);

          self->queued_bytes -= frame->size;
          out_frame_free (frame);
        }
    }

  if (self->state != STATE_CLOSED)
    after_write (self, TRUE);
}

static gboolean
on_writable (GObject *stream, gpointer user_data)
{
  NatterWebsocket *self = user_data;
  g_autoptr(NatterWebsocket) hold G_GNUC_UNUSED = g_object_ref (self);

  if (self->write_fd >= 0)
    {
      watch_writable (self, FALSE);
      start_flush (self);
      return G_SOURCE_REMOVE;
    }
  if (self->write_source != NULL)
    g_clear_pointer (&self->write_source, g_source_unref);
  flush (self);
  return G_SOURCE_REMOVE;
}

/* Frames queued while the main loop runs one dispatch go out together: every connection
 * with something queued is flushed once, from one idle callback. */
static GPtrArray *pending_flushes;  /* (owned) NatterWebsocket * (owned) */
static guint flush_idle;

/* Shares a flush's jobs out to the senders in runs of equal size: one run for each
 * JOBS_PER_HANDOFF jobs begun, but no more runs than senders. Each run wakes a sender and
 * comes back to the main loop on its own, so fewer runs are fewer wake-ups on both sides. */
static void
hand_out_jobs (GPtrArray *jobs)  /* (transfer full) */
{
  guint n_runs = MIN (n_senders, (jobs->len + JOBS_PER_HANDOFF - 1) / JOBS_PER_HANDOFF);
  guint start = 0;

  for (guint r = 0; r < n_runs; r++)
    {
      guint end = (guint) ((guint64) jobs->len * (r + 1) / n_runs);
      GPtrArray *run = g_ptr_array_new_full (end - start, (GDestroyNotify) write_job_free);

      for (; start < end; start++)
        g_ptr_array_add (run, g_ptr_array_index (jobs, start));
      g_async_queue_push (sender_queue, run);
    }
  g_ptr_array_set_free_func (jobs, NULL);
  g_ptr_array_unref (jobs);
}

static gboolean
flush_all_cb (gpointer user_data)
{
  g_autoptr(GPtrArray) list = g_steal_pointer (&pending_flushes);
  g_autoptr(GPtrArray) jobs = NULL;

  flush_idle = 0;
  for (guint i = 0; list != NULL && i < list->len; i++)
    {
      NatterWebsocket *self = g_ptr_array_index (list, i);

      self->flush_pending = FALSE;
      if (waiting_to_write (self) || self->state == STATE_CLOSED)
        continue;
      if (self->write_fd < 0)
        flush (self);
      else if (g_queue_is_empty (&self->outq))
        after_write (self, FALSE);
      else
        {
          if (jobs == NULL)
            jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) write_job_free);
          g_ptr_array_add (jobs, write_job_take (self));
        }
    }
  if (jobs != NULL)
    hand_out_jobs (g_steal_pointer (&jobs));
  return G_SOURCE_REMOVE;
}

static void
start_flush (NatterWebsocket *self)
{
  if (self->flush_pending || waiting_to_write (self) || self->state == STATE_CLOSED)
    return;
  self->flush_pending = TRUE;
  if (pending_flushes == NULL)
    pending_flushes = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (pending_flushes, g_object_ref (self));
  if (flush_idle == 0)
    flush_idle = g_idle_add_full (G_PRIORITY_DEFAULT, flush_all_cb, NULL, NULL);
}

/* ---------------------------------------------------------------------------------- */
/* Closing */

static void
stream_closed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
}

static void
shutdown_stream (NatterWebsocket *self)
{
  g_autoptr(NatterWebsocket) hold G_GNUC_UNUSED = g_object_ref (self);

  if (self->state == STATE_CLOSED)
    return;
  self->state = STATE_CLOSED;
  if (!self->close_received && !self->close_sent)
    self->close_code = NATTER_CLOSE_ABNORMAL;
  g_clear_handle_id (&self->close_timeout, g_source_remove);
  g_clear_handle_id (&self->backlog_timeout, g_source_remove);
  unwatch (self);
  outq_clear (self);
  self->queued_bytes = 0;
  /* The sender may still be writing to the fd: it must not be closed, and so reused,
   * before the job is back. */
  if (self->job != NULL)
    self->close_after_job = TRUE;
  else
    g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, NULL, stream_closed_cb, NULL);
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}

static gboolean
close_timeout_cb (gpointer user_data)
{
  NatterWebsocket *self = user_data;

  self->close_timeout = 0;
  g_debug ("Close handshake timed out");
  shutdown_stream (self);
  return G_SOURCE_REMOVE;
}

static void
send_close_frame (NatterWebsocket *self, gushort code, const char *reason)
{
  guint8 buffer[125];
  gsize len = 0;

  if (code != 0)
    {
      const char *end = NULL;
      gsize reason_len = reason != NULL ? strlen (reason) : 0;

      /* A control frame carries at most 125 bytes: cut the reason at a character. */
      if (reason_len > sizeof buffer - 2)
        {
          g_utf8_validate (reason, sizeof buffer - 2, &end);
          reason_len = end - reason;
        }
      buffer[0] = code >> 8;
      buffer[1] = code & 0xff;
      if (reason_len > 0)
        memcpy (buffer + 2, reason, reason_len);
      len = 2 + reason_len;
    }
  self->close_sent = TRUE;
  if (len > 0)
    {
      g_autoptr(GBytes) payload = g_bytes_new (buffer, len);
      enqueue (self, OPCODE_CLOSE, payload);
    }
  else
    enqueue (self, OPCODE_CLOSE, NULL);
}

/**
 * natter_websocket_close:
 * @code: the close code
 * @reason: (nullable): a short reason for the peer
 *
 * Starts the close handshake. For %NATTER_CLOSE_TRY_LATER (a peer too slow to read what
 * it is sent), what is still queued is dropped first: that is the point of closing it.
 */
void
natter_websocket_close (NatterWebsocket *self,
                        gushort          code,
                        const char      *reason)
{
  g_return_if_fail (NATTER_IS_WEBSOCKET (self));

  if (self->state != STATE_OPEN)
    return;
  self->state = STATE_CLOSING;
  self->close_code = code;
  g_clear_handle_id (&self->backlog_timeout, g_source_remove);

  if (code == NATTER_CLOSE_TRY_LATER)
    {
      /* Keep only a frame that is half written, or the stream would not parse. With a
       * job out, that frame is in the job, and the job's other frames go when it is back. */
      OutFrame *head = g_queue_peek_head (&self->outq);
      gboolean keep_head = head != NULL && head->written > 0;

      if (keep_head)
        outq_pop_head (self);
      while (!g_queue_is_empty (&self->outq))
        {
          OutFrame *frame = outq_pop_head (self);

          self->queued_bytes -= frame->size;
          out_frame_free (frame);
        }
      if (keep_head)
        outq_push_head (self, head);
      self->drop_after_job = self->job != NULL;
    }
  send_close_frame (self, code, reason);
  self->close_timeout = g_timeout_add (CLOSE_TIMEOUT_MS, close_timeout_cb, self);
}

/* ---------------------------------------------------------------------------------- */
/* Reading */

/* Closes over a broken peer: what it sends from here on is not parsed. */
static void
fail (NatterWebsocket *self, gushort code, const char *reason)
{
  self->discard_input = TRUE;
  natter_websocket_close (self, code, reason);
}

static gboolean
valid_close_code (gushort code)
{
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         code == 1012 || code == 1013 || code == 1014 || (code >= 3000 && code <= 4999);
}

/* Text is UTF-8 (RFC 6455 §8.1), in which U+0000 is a character like any other; GLib's
 * validator refuses NUL, so each stretch between NULs is validated on its own. */
static gboolean
utf8_validate_with_nul (const char *data, gsize len)
{
  const char *end;

  while (!g_utf8_validate_len (data, len, &end))
    {
      if (end == data + len || *end != '\0')
        return FALSE;
      len -= end - data + 1;
      data = end + 1;
    }
  return TRUE;
}

static void
handle_close (NatterWebsocket *self, const guint8 *data, gsize len)
{
  gushort code = 1005;  /* no status received */

  if (len == 1)
    {
      fail (self, NATTER_CLOSE_PROTOCOL_ERROR, "truncated close frame");
      return;
    }
  if (len >= 2)
    {
      code = (data[0] << 8) | data[1];
      if (!valid_close_code (code))
        {
          fail (self, NATTER_CLOSE_PROTOCOL_ERROR, "invalid close code");
          return;
        }
      if (!utf8_validate_with_nul ((const char *) data + 2, len - 2))
        {
          fail (self, NATTER_CLOSE_BAD_DATA, "close reason is not UTF-8");
          return;
        }
    }

  self->close_received = TRUE;
  if (self->close_sent)
    {
      /* The answer to our close: done once our frames are out. */
      if (output_drained (self))
        shutdown_stream (self);
      return;
    }
  /* The peer closes: answer with its code, then hang up. */
  self->state = STATE_CLOSING;
  self->close_code = code;
  send_close_frame (self, code == 1005 ? 0 : code, NULL);
  self->close_timeout = g_timeout_add (CLOSE_TIMEOUT_MS, close_timeout_cb, self);
}

static void
deliver_message (NatterWebsocket *self, gboolean is_text, GBytes *payload)
{
  gsize len;
  const char *data = g_bytes_get_data (payload, &len);

  if (is_text && !utf8_validate_with_nul (data, len))
    {
      fail (self, NATTER_CLOSE_BAD_DATA, "text message is not valid UTF-8");
      return;
    }
  g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, is_text, payload);
}

/* Parses the whole frames at the start of @buf (unmasking them in place). Returns the
 * number of bytes consumed. */
static gsize
process_frames (NatterWebsocket *self, guint8 *buf, gsize buf_len)
{
  gsize pos = 0;

  while (self->state != STATE_CLOSED && !self->discard_input &&
         !(self->state == STATE_CLOSING && self->close_received))
    {
      const guint8 *data = buf + pos;
      gsize avail = buf_len - pos;
      gboolean fin, masked;
      guint8 opcode, len7;
      gsize header_len = 2;
      guint64 len;
      guint8 mask[4];
      guint8 *payload;

      if (avail < 2)
        break;
      fin = (data[0] & 0x80) != 0;
      opcode = data[0] & 0x0f;
      masked = (data[1] & 0x80) != 0;
      len7 = data[1] & 0x7f;
      header_len += len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
      header_len += masked ? 4 : 0;
      if (avail < header_len)
        break;

      if (len7 == 126)
        len = ((guint64) data[2] << 8) | data[3];
      else if (len7 == 127)
        {
          len = 0;
          for (guint i = 0; i < 8; i++)
            len = (len << 8) | data[2 + i];
        }
      else
        len = len7;

      if ((data[0] & 0x70) != 0)
        {
          fail (self, NATTER_CLOSE_PROTOCOL_ERROR, "reserved bits set");
          break;
        }
      if (!masked)
        {
          fail (self, NATTER_CLOSE_PROTOCOL_ERROR, "client frames must be masked");
          break;
        }
      if (opcode >= OPCODE_CLOSE)
        {
          if (opcode > OPCODE_PONG)
            {
              fail (self, NATTER_CLOSE_PROTOCOL_ERROR, "unknown opcode");
              break;
            }
          if (!fin || len > 125)
            {
              fail (self, NATTER_CLOSE_PROTOCOL_ERROR, "invalid control frame");
              break;
            }
        }
      else if (opcode > OPCODE_BINARY)
        {
          fail (self, NATTER_CLOSE_PROTOCOL_ERROR, "unknown opcode");
          break;
        }
      else if (len > self->limits.max_message ||
               (self->in_message && self->message->len + len > self->limits.max_message))
        {
          /* Refused from the header alone: the payload is never buffered. */
          fail (self, NATTER_CLOSE_TOO_BIG, "message too large");
          break;
        }
      if (avail - header_len < len)
        break;

      memcpy (mask, data + header_len - 4, 4);
      payload = (guint8 *) data + header_len;
      for (gsize i = 0; i < len; i++)
        payload[i] ^= mask[i & 3];
      pos += header_len + len;

      switch (opcode)
        {
        case OPCODE_TEXT:
        case OPCODE_BINARY:
          if (self->in_message)
            {
              fail (self, NATTER_CLOSE_PROTOCOL_ERROR,
                                      "new message inside a fragmented one");
              break;
            }
          if (self->state != STATE_OPEN)
            break;
          if (fin)
            {
              g_autoptr(GBytes) bytes = g_bytes_new (payload, len);
              deliver_message (self, opcode == OPCODE_TEXT, bytes);
            }
          else
            {
              self->in_message = TRUE;
              self->message_is_text = opcode == OPCODE_TEXT;
              g_byte_array_append (self->message, payload, len);
            }
          break;

        case OPCODE_CONTINUATION:
          if (!self->in_message)
            {
              fail (self, NATTER_CLOSE_PROTOCOL_ERROR,
                                      "continuation without a message");
              break;
            }
          g_byte_array_append (self->message, payload, len);
          if (fin)
            {
              g_autoptr(GBytes) bytes = NULL;

              self->in_message = FALSE;
              bytes = g_byte_array_free_to_bytes (g_steal_pointer (&self->message));
              self->message = g_byte_array_new ();
              if (self->state == STATE_OPEN)
                deliver_message (self, self->message_is_text, bytes);
            }
          break;

        case OPCODE_CLOSE:
          handle_close (self, payload, len);
          break;

        case OPCODE_PING:
          if (self->state == STATE_OPEN)
            {
              g_autoptr(GBytes) bytes = g_bytes_new (payload, len);
              enqueue (self, OPCODE_PONG, bytes);
              check_backlog (self, BACKLOG_BURST_FACTOR);
            }
          break;

        case OPCODE_PONG:
          break;

        default:
          g_assert_not_reached ();
        }
    }
  /* Any frame shows the peer is there: data, a fragment, its own ping or our pong. */
  if (pos > 0)
    self->last_heard = g_get_monotonic_time ();
  return pos;
}

/* How many more bytes the frame that starts @buf needs before process_frames() can
 * decide on it: 0 once it is whole, or once its header alone refuses it (too large). */
static gsize
frame_bytes_missing (NatterWebsocket *self, const guint8 *buf, gsize len)
{
  gsize header_len = 2;
  guint8 len7;
  guint64 payload_len;

  if (len < 2)
    return 2 - len;
  len7 = buf[1] & 0x7f;
  header_len += len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  header_len += (buf[1] & 0x80) ? 4 : 0;
  if (len < header_len)
    return header_len - len;
  if (len7 == 126)
    payload_len = ((guint64) buf[2] << 8) | buf[3];
  else if (len7 == 127)
    {
      payload_len = 0;
      for (guint i = 0; i < 8; i++)
        payload_len = (payload_len << 8) | buf[2 + i];
    }
  else
    payload_len = len7;
  if (payload_len > self->limits.max_message)
    return 0;
  return header_len + payload_len > len ? header_len + payload_len - len : 0;
}

/* Nothing the peer sends is parsed any more: after a protocol error, or after its close
 * frame (RFC 6455 §5.5.1: nothing follows it). */
static gboolean
ignoring_input (NatterWebsocket *self)
{
  return self->discard_input || self->close_received;
}

/* Parses @n bytes just read. A frame split across reads waits in inbuf, which therefore
 * holds at most one frame (of at most max_message bytes) and its header: only what that
 * frame still misses is copied there, the rest is parsed where it was read. */
static void
take_input (NatterWebsocket *self, guint8 *data, gsize n)
{
  while (n > 0 && self->inbuf->len > 0 && self->state != STATE_CLOSED &&
         !ignoring_input (self))
    {
      gsize missing = frame_bytes_missing (self, self->inbuf->data, self->inbuf->len);
      gsize take = MIN (missing, n);

      g_byte_array_append (self->inbuf, data, take);
      data += take;
      n -= take;
      if (missing > take)
        return;
      if (frame_bytes_missing (self, self->inbuf->data, self->inbuf->len) > 0)
        continue;  /* the header is whole now; the payload is still to come */
      process_frames (self, self->inbuf->data, self->inbuf->len);
      /* Give the storage back, not just the length. */
      g_byte_array_unref (self->inbuf);
      self->inbuf = g_byte_array_new ();
    }
  if (self->state == STATE_CLOSED || ignoring_input (self))
    {
      if (self->inbuf->len > 0)
        {
          g_byte_array_unref (self->inbuf);
          self->inbuf = g_byte_array_new ();
        }
      return;
    }
  if (n > 0)
    {
      gsize consumed = process_frames (self, data, n);

      if (self->state != STATE_CLOSED && !ignoring_input (self) && consumed < n)
        g_byte_array_append (self->inbuf, data + consumed, n - consumed);
    }
}

static gboolean
on_readable (GObject *stream, gpointer user_data)
{
  NatterWebsocket *self = user_data;
  g_autoptr(NatterWebsocket) hold G_GNUC_UNUSED = g_object_ref (self);

  for (guint i = 0; i < MAX_READS_PER_WAKEUP && self->state != STATE_CLOSED; i++)
    {
      /* One buffer for every connection: a connection keeps only the bytes of a frame
       * that has not fully arrived, so an idle one holds no read buffer at all. */
      static guint8 scratch[READ_CHUNK];
      g_autoptr(GError) error = NULL;
      gssize n;

      n = g_pollable_input_stream_read_nonblocking (self->input, scratch, sizeof scratch,
                                                    NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      if (n <= 0)
        {
          if (n < 0)
            g_debug ("Read failed: %s", error->message);
          shutdown_stream (self);
          break;
        }
      /* After the peer's close (or a protocol error) what it sends is read and dropped,
       * so that it costs no memory while our close frame goes out. */
      take_input (self, scratch, n);
    }

  if (self->state == STATE_CLOSED)
    return G_SOURCE_REMOVE;
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------------------------- */

/**
 * natter_websocket_send:
 * @is_text: a text message (@payload is UTF-8) or a binary one
 * @payload: the message; shared, not copied
 *
 * Queues one unfragmented message. When what waits for the peer passes the limits, the
 * peer is too slow to read: the connection is closed with 1013.
 */
void
natter_websocket_send (NatterWebsocket *self,
                       gboolean         is_text,
                       GBytes          *payload)
{
  g_return_if_fail (NATTER_IS_WEBSOCKET (self));

  if (self->state != STATE_OPEN)
    return;
  enqueue (self, is_text ? OPCODE_TEXT : OPCODE_BINARY, payload);
  check_backlog (self, BACKLOG_BURST_FACTOR);
}

void
natter_websocket_ping (NatterWebsocket *self)
{
  g_return_if_fail (NATTER_IS_WEBSOCKET (self));

  if (self->state == STATE_OPEN)
    enqueue (self, OPCODE_PING, NULL);
}

/**
 * natter_websocket_get_last_heard:
 *
 * Returns: the monotonic time of the last whole frame the peer sent (any frame: data,
 *   control, a fragment), or of the connection's start
 */
gint64
natter_websocket_get_last_heard (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), 0);
  return self->last_heard;
}

gboolean
natter_websocket_is_open (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), FALSE);
  return self->state == STATE_OPEN;
}

gushort
natter_websocket_get_close_code (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), 0);
  return self->close_code;
}

gsize
natter_websocket_get_queued_bytes (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), 0);
  return self->queued_bytes;
}

/**
 * natter_websocket_is_writing:
 *
 * Returns: whether a sender thread has frames of this connection right now; their
 *   bytes still count in natter_websocket_get_queued_bytes() until the main loop learns
 *   how much of them the socket took
 */
gboolean
natter_websocket_is_writing (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), FALSE);
  return self->job != NULL;
}

static void
natter_websocket_dispose (GObject *object)
{
  NatterWebsocket *self = NATTER_WEBSOCKET (object);

  if (self->state != STATE_CLOSED && self->stream != NULL)
    {
      /* Dropped while open: hang up without a handshake. */
      self->state = STATE_CLOSED;
      g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, NULL, stream_closed_cb, NULL);
    }
  g_clear_handle_id (&self->close_timeout, g_source_remove);
  g_clear_handle_id (&self->backlog_timeout, g_source_remove);
  unwatch (self);
  outq_clear (self);
  g_clear_object (&self->stream);

  G_OBJECT_CLASS (natter_websocket_parent_class)->dispose (object);
}

static void
natter_websocket_finalize (GObject *object)
{
  NatterWebsocket *self = NATTER_WEBSOCKET (object);

  g_byte_array_unref (self->inbuf);
  g_byte_array_unref (self->message);

  G_OBJECT_CLASS (natter_websocket_parent_class)->finalize (object);
}

static void
natter_websocket_class_init (NatterWebsocketClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_websocket_dispose;
  object_class->finalize = natter_websocket_finalize;

  signals[SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_BOOLEAN, G_TYPE_BYTES);
  signals[SIGNAL_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
}

static void
natter_websocket_init (NatterWebsocket *self)
{
  self->fd = -1;
  self->write_fd = -1;
  self->last_heard = g_get_monotonic_time ();
  self->inbuf = g_byte_array_new ();
  self->message = g_byte_array_new ();
  g_queue_init (&self->outq);
}

/**
 * natter_websocket_new:
 * @stream: the connection after a successful handshake, with pollable streams
 * @socket: (nullable): its socket when @stream reads and writes it directly (plain TCP),
 *   so that it can join the shared epoll set; %NULL for TLS
 * @limits: incoming and outgoing bounds
 *
 * Returns: (transfer full): a connection that starts reading once the main loop runs
 */
NatterWebsocket *
natter_websocket_new (GIOStream                   *stream,
                      GSocket                     *socket,
                      const NatterWebsocketLimits *limits)
{
  NatterWebsocket *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (G_IS_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream)), NULL);
  g_return_val_if_fail (G_IS_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream)), NULL);

  self = g_object_new (NATTER_TYPE_WEBSOCKET, NULL);
  self->stream = g_object_ref (stream);
  self->input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
  self->output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream));
  self->limits = *limits;

  if (socket != NULL && poller_fd () >= 0)
    {
      self->fd = g_socket_get_fd (socket);
      if (sender_start ())
        self->write_fd = self->fd;
      poller_update (self, EPOLL_CTL_ADD);
      /* libsoup may hold the first frames already: epoll will not announce those. */
      g_idle_add_full (G_PRIORITY_DEFAULT, first_read_cb, g_object_ref (self), g_object_unref);
    }
  else
    {
      self->read_source = g_pollable_input_stream_create_source (self->input, NULL);
      g_source_set_callback (self->read_source, G_SOURCE_FUNC (on_readable), self, NULL);
      g_source_attach (self->read_source, g_main_context_get_thread_default ());
    }
  return self;
}
