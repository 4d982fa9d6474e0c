/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-upstream"

#include "config.h"

#include <string.h>
#include <libsoup/soup.h>

#include "natter-account-secret.h"
#include "natter-backend.h"
#include "natter-error.h"
#include "natter-event.h"
#include "natter-hub.h"
#include "natter-seq-order.h"
#include "natter-upstream.h"
#include "natter-upstream-cache.h"

/* A history page or a resume can be much larger than what the server accepts from us. */
#define MAX_INCOMING_BYTES (32 * 1024 * 1024)
#define HISTORY_PAGE_MAX   200
#define HISTORY_DEFAULT    50
#define SEARCH_MAX         100
#define SEARCH_DEFAULT     20
/* Out-of-order messages kept per room while the gap before them is filled; beyond this
 * they are dropped and fetched again with the gap. */
#define HELD_MAX           10000
#define BACKOFF_MIN_MS     500
#define BACKOFF_MAX_MS     (60 * 1000)
/* How long shutdown waits for the server to answer our close frame. */
#define CLOSE_GRACE_MS     2000

typedef enum {
  LINK_DOWN,     /* no connection (maybe a reconnect timer) */
  LINK_OPENING,  /* TCP, TLS and the WebSocket handshake */
  LINK_LOGIN,    /* waiting for `welcome` */
  LINK_UP,
} LinkState;

typedef struct _UpstreamRequest UpstreamRequest;

typedef void (*ReplyFunc) (NatterUpstream      *self,
                           UpstreamRequest     *req,
                           Natter__ServerFrame *frame);

/* A request on the wire, or waiting for it: either the front end's (@client set), whose
 * reply goes back to it under its own id, or our own (@on_reply set). */
struct _UpstreamRequest
{
  Natter__ClientFrame *frame;         /* (owned) */
  NatterClient        *client;        /* (owned) (nullable) */
  guint64              client_id;
  gboolean             has_client_id;
  guint64              wire_id;
  ReplyFunc            on_reply;      /* (nullable) */
  char                *room;          /* (owned) (nullable) */
  gboolean             with_token;    /* a login with the token */
};

/* What the link knows of one room of the account. Messages go to the front end and the
 * cache strictly in seq order: @order's cursor is the last one passed on, later ones wait
 * there until the gap before them is filled by a resume or a history page. */
typedef struct
{
  NatterUpstream *upstream;   /* (unowned) */
  char           *name;       /* (owned) */
  char           *kind;       /* (owned) */
  char           *topic;      /* (owned) (nullable) */
  NatterSeqOrder *order;      /* (owned) */
  guint64         floor;      /* seqs up to this one are old history: cached, not announced */
  guint64         read_seq;
  gboolean        resuming;   /* a `join {since_seq}` replay may still be arriving */
  guint64         resume_end;
  gboolean        gapped;     /* seqs were skipped: the local copy of the room stops */
  GHashTable     *members;    /* (owned) set of user names */
} UpstreamRoom;

struct _NatterUpstream
{
  GObject                  parent_instance;

  /* Settings */
  char                    *data_dir;          /* (owned) */
  guint                    ping_interval_s;
  guint                    ping_timeout_s;
  GTlsDatabase            *ca_database;       /* (owned) (nullable) --ca-file */
  SoupSession             *session;           /* (owned) */

  /* The account */
  char                    *server;            /* (owned) (nullable) */
  char                    *user;              /* (owned) (nullable) */
  char                    *token;             /* (owned) (nullable) wiped when dropped */
  char                    *password;          /* (owned) (nullable) kept only until used */
  gboolean                 remember;          /* keep the token in the Secret Service */
  gboolean                 forget_on_login;   /* Connect(remember = false): drop stored secrets */
  gboolean                 keyring_checked;
  gboolean                 want_link;         /* connect, and reconnect when the link drops */
  GCancellable            *account_cancellable; /* (owned) cancelled when the account changes */
  NatterUpstreamCache     *cache;             /* (owned) (nullable) */
  gboolean                 cache_ready;       /* opened, or failed to */
  GHashTable              *rooms;             /* (owned) name → UpstreamRoom * (owned) */
  GHashTable              *left_rooms;        /* (owned) name → guint64 * (owned): how far
                                               * the copy of a room the account left goes */

  /* The link */
  LinkState                link;
  SoupWebsocketConnection *ws;                /* (owned) (nullable) */
  GCancellable            *link_cancellable;  /* (owned) (nullable) */
  GTlsCertificateFlags     tls_errors;        /* of the last handshake */
  GHashTable              *requests;          /* (owned) &wire_id → UpstreamRequest * (owned) */
  guint64                  next_id;
  gint64                   last_rx;           /* monotonic µs of the last frame or pong */
  guint                    heartbeat_source;
  guint                    reconnect_source;
  guint                    close_grace_source;
  guint                    attempt_timeout_source;
  guint                    attempt;           /* failed attempts since the last welcome */
  Natter__ServerFrame     *stashed_welcome;   /* (owned) (nullable) while the cache is reset */
  GQueue                   stashed_frames;    /* (owned) Natter__ServerFrame * (owned) */

  /* The front end */
  NatterClient            *client;            /* (owned) (nullable) */
  GQueue                   outbox;            /* (owned) UpstreamRequest * (owned): sends waiting */

  char                    *status;            /* (owned) */
  char                    *status_message;    /* (owned) */
  GTask                   *connect_task;      /* (owned) (nullable) a Connect() in progress */
  GTask                   *shutdown_task;     /* (owned) (nullable) */
};

static void natter_upstream_backend_init (NatterBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterUpstream, natter_upstream, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_BACKEND,
                                                      natter_upstream_backend_init))

enum {
  PROP_0,
  PROP_SERVER,
  PROP_BACKEND_FIRST,
  N_PROPS = PROP_BACKEND_FIRST + NATTER_BACKEND_N_PROPS
};

#define PROP_ACCOUNT        (PROP_BACKEND_FIRST + NATTER_BACKEND_PROP_ACCOUNT)
#define PROP_STATUS         (PROP_BACKEND_FIRST + NATTER_BACKEND_PROP_STATUS)
#define PROP_STATUS_MESSAGE (PROP_BACKEND_FIRST + NATTER_BACKEND_PROP_STATUS_MESSAGE)

static GParamSpec *properties[N_PROPS];

static void begin_attempt        (NatterUpstream *self);
static void proceed              (NatterUpstream *self);
static void link_lost            (NatterUpstream *self, const char *reason);
static void handle_frame         (NatterUpstream *self, Natter__ServerFrame *frame);
static void answer_offline       (NatterUpstream *self, UpstreamRequest *req);
static void open_cache           (NatterUpstream *self);

/* ---------------------------------------------------------------------------------- */
/* Small helpers */

static void
wipe_string (char **str)
{
  if (*str != NULL)
    {
      memset (*str, 0, strlen (*str));
      g_clear_pointer (str, g_free);
    }
}

static GPtrArray *
hash_table_values (GHashTable *table)
{
  GPtrArray *values = g_ptr_array_sized_new (g_hash_table_size (table));
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (values, value);
  return values;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

static Natter__ServerFrame *
server_frame_copy (const Natter__ServerFrame *frame)
{
  g_autoptr(GBytes) bytes = natter_codec_encode (NATTER_CODEC_PROTO, &frame->base);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  return natter__server_frame__unpack (NULL, len, data);
}

static Natter__ClientFrame *
client_frame_new (Natter__ClientFrame__OpCase op)
{
  Natter__ClientFrame *frame = g_new0 (Natter__ClientFrame, 1);

  natter__client_frame__init (frame);
  frame->op_case = op;
  return frame;
}

static const char *
kind_for_room_name (const char *name)
{
  if (g_str_equal (name, NATTER_SYSTEM_ROOM))
    return NATTER_ROOM_KIND_SYSTEM;
  if (g_str_has_prefix (name, "dm:"))
    return NATTER_ROOM_KIND_DM;
  return NATTER_ROOM_KIND_ROOM;
}

static void     room_release (const Natter__Message *message, gpointer user_data);
static gboolean room_fetch   (guint64 after_seq, gpointer user_data);
static void     room_lost    (guint64 first, guint64 last, gpointer user_data);

/* The server's seqs are gapless and it sends each room in order, so a gap is messages the
 * link missed (while it was down, or past a resume's cap): they are fetched at once, and
 * what the server cannot send any more is skipped. */
static const NatterSeqOrderPolicy room_order_policy = {
  .release = room_release,
  .fetch = room_fetch,
  .lost = room_lost,
  .max_held = HELD_MAX,
};

static UpstreamRoom *
room_new (NatterUpstream *self,
          const char     *name,
          const char     *kind,
          guint64         last_seq)
{
  UpstreamRoom *room = g_new0 (UpstreamRoom, 1);

  room->upstream = self;
  room->name = g_strdup (name);
  room->kind = g_strdup (kind != NULL ? kind : kind_for_room_name (name));
  room->order = natter_seq_order_new (&room_order_policy, last_seq, room);
  room->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return room;
}

static void
room_free (UpstreamRoom *room)
{
  g_free (room->name);
  g_free (room->kind);
  g_free (room->topic);
  natter_seq_order_free (room->order);
  g_hash_table_unref (room->members);
  g_free (room);
}

/* Every seq up to this one was handled. */
static guint64
room_seen (UpstreamRoom *room)
{
  return natter_seq_order_get_cursor (room->order);
}

static void
request_free (UpstreamRequest *req)
{
  g_clear_pointer (&req->frame, natter_client_frame_free);
  g_clear_object (&req->client);
  g_free (req->room);
  g_free (req);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (UpstreamRequest, request_free)

static gboolean
is_send (const UpstreamRequest *req)
{
  return req->frame->op_case == NATTER__CLIENT_FRAME__OP_SEND ||
         req->frame->op_case == NATTER__CLIENT_FRAME__OP_BROADCAST;
}

static const char *
server_label (NatterUpstream *self)
{
  return self->server != NULL ? self->server : "the server";
}

/* ---------------------------------------------------------------------------------- */
/* Status */

static void
set_status (NatterUpstream *self,
            const char     *status,
            const char     *format,
            ...) G_GNUC_PRINTF (3, 4);

static void
set_status (NatterUpstream *self,
            const char     *status,
            const char     *format,
            ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_object_freeze_notify (G_OBJECT (self));
  if (g_strcmp0 (self->status_message, message) != 0)
    {
      g_free (self->status_message);
      self->status_message = g_steal_pointer (&message);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS_MESSAGE]);
    }
  if (g_strcmp0 (self->status, status) != 0)
    {
      g_message ("Upstream %s: %s", status, self->status_message);
      g_free (self->status);
      self->status = g_strdup (status);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

static void
complete_connect (NatterUpstream *self,
                  const GError   *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->connect_task);

  if (task == NULL)
    return;
  if (error != NULL)
    g_task_return_error (task, g_error_copy (error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
fail_connect (NatterUpstream *self,
              NatterError     code,
              const char     *message)
{
  g_autoptr(GError) error = g_error_new_literal (NATTER_ERROR, code, message);

  complete_connect (self, error);
}

/* ---------------------------------------------------------------------------------- */
/* Talking to the front end */

static void
deliver_to (NatterClient              *client,
            const Natter__ServerFrame *frame)
{
  g_autoptr(NatterEvent) event = NULL;

  if (client == NULL)
    return;
  event = natter_event_new (frame);
  natter_client_deliver (client, event);
}

static void
deliver (NatterUpstream            *self,
         const Natter__ServerFrame *frame)
{
  deliver_to (self->client, frame);
}

/* Answers a front-end request with @frame, under the request's own id. */
static void
reply (UpstreamRequest     *req,
       Natter__ServerFrame *frame)
{
  frame->has_id = req->has_client_id;
  frame->id = req->client_id;
  deliver_to (req->client, frame);
}

static void
reply_error (UpstreamRequest *req,
             NatterError      code,
             const char      *format,
             ...) G_GNUC_PRINTF (3, 4);

static void
reply_error (UpstreamRequest *req,
             NatterError      code,
             const char      *format,
             ...)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Error error = NATTER__ERROR__INIT;
  g_autofree char *message = NULL;
  va_list args;

  /* A request without an id (typing) has nobody waiting for an answer. */
  if (!req->has_client_id)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  error.code = (char *) natter_error_code_to_string (code);
  error.message = message;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_ERROR;
  frame.error = &error;
  reply (req, &frame);
}

static void
reply_gerror (UpstreamRequest *req,
              const GError    *error)
{
  reply_error (req, natter_error_code_for (error), "%s", error->message);
}

static void
deliver_member (NatterUpstream *self,
                const char     *room,
                const char     *user,
                gboolean        joined)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Member member = NATTER__MEMBER__INIT;

  member.room = (char *) room;
  member.user = (char *) user;
  member.has_joined = TRUE;
  member.joined = joined;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MEMBER;
  frame.member = &member;
  deliver (self, &frame);
}

/* Makes every room object go away: the account changed, or was forgotten, or the
 * server's store was replaced. */
static void
drop_all_rooms (NatterUpstream *self)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer name;

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    g_ptr_array_add (names, g_strdup (name));
  g_hash_table_remove_all (self->rooms);
  g_hash_table_remove_all (self->left_rooms);
  for (guint i = 0; i < names->len && self->user != NULL; i++)
    deliver_member (self, g_ptr_array_index (names, i), self->user, FALSE);
}

static int
compare_room_names (gconstpointer a,
                    gconstpointer b)
{
  const UpstreamRoom *x = *(UpstreamRoom * const *) a, *y = *(UpstreamRoom * const *) b;
  gboolean sx = g_str_equal (x->kind, NATTER_ROOM_KIND_SYSTEM);
  gboolean sy = g_str_equal (y->kind, NATTER_ROOM_KIND_SYSTEM);

  /* As the server lists them: `system` first, then by name. */
  if (sx != sy)
    return sx ? -1 : 1;
  return strcmp (x->name, y->name);
}

/* RoomInfos of the rooms known locally, for a welcome or a room list while offline. */
static Natter__RoomInfo **
local_room_infos (NatterUpstream    *self,
                  gsize             *out_n,
                  Natter__RoomInfo **out_storage)
{
  g_autoptr(GPtrArray) rooms = hash_table_values (self->rooms);
  Natter__RoomInfo *infos = g_new0 (Natter__RoomInfo, MAX (rooms->len, 1));
  Natter__RoomInfo **ptrs = g_new0 (Natter__RoomInfo *, MAX (rooms->len, 1));

  g_ptr_array_sort (rooms, compare_room_names);
  for (guint i = 0; i < rooms->len; i++)
    {
      UpstreamRoom *room = g_ptr_array_index (rooms, i);
      Natter__RoomInfo *info = &infos[i];

      natter__room_info__init (info);
      info->name = room->name;
      info->topic = room->topic;
      info->kind = room->kind;
      info->has_last_seq = TRUE;
      info->last_seq = room_seen (room);
      info->has_read_seq = TRUE;
      info->read_seq = MIN (room->read_seq, info->last_seq);
      info->has_unread = TRUE;
      info->unread = info->last_seq - info->read_seq;
      ptrs[i] = info;
    }
  *out_n = rooms->len;
  *out_storage = infos;
  return ptrs;
}

/* What the cache knows, for the front end before (or without) the server's welcome. */
static void
deliver_local_welcome (NatterUpstream *self)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Welcome welcome = NATTER__WELCOME__INIT;
  g_autofree Natter__RoomInfo *storage = NULL;
  g_autofree Natter__RoomInfo **ptrs = NULL;

  welcome.user = self->user;
  welcome.epoch = self->cache != NULL ? (char *) natter_upstream_cache_get_epoch (self->cache)
                                      : NULL;
  ptrs = local_room_infos (self, &welcome.n_rooms, &storage);
  welcome.rooms = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_WELCOME;
  frame.welcome = &welcome;
  deliver (self, &frame);
}

/* ---------------------------------------------------------------------------------- */
/* Rooms: in-order delivery, once each */

static UpstreamRoom *
ensure_room (NatterUpstream *self,
             const char     *name,
             const char     *kind,
             gboolean       *out_created)
{
  UpstreamRoom *room = g_hash_table_lookup (self->rooms, name);
  gpointer key, copied;
  guint64 seen = 0;

  if (out_created != NULL)
    *out_created = room == NULL;
  if (room != NULL)
    return room;
  /* Rejoined: the copy goes on after what it has, so its seqs stay the server's. */
  if (g_hash_table_steal_extended (self->left_rooms, name, &key, &copied))
    {
      seen = *(guint64 *) copied;
      g_free (key);
      g_free (copied);
    }
  room = room_new (self, name, kind, seen);
  g_hash_table_insert (self->rooms, room->name, room);
  if (self->user != NULL)
    g_hash_table_add (room->members, g_strdup (self->user));
  if (self->cache != NULL)
    natter_upstream_cache_add_room (self->cache, room->name, room->kind, room->topic);
  return room;
}

static void
forget_room (NatterUpstream *self,
             const char     *name)
{
  UpstreamRoom *room = g_hash_table_lookup (self->rooms, name);

  if (room == NULL)
    return;
  if (!room->gapped)
    {
      guint64 seen = room_seen (room);

      g_hash_table_insert (self->left_rooms, g_strdup (name), g_memdup2 (&seen, sizeof seen));
    }
  g_hash_table_remove (self->rooms, name);
  if (self->cache != NULL && self->user != NULL)
    natter_upstream_cache_remove_member (self->cache, name, self->user);
}

/* Passes on the next message of @room: to the cache, and to the front end unless it is
 * old history being copied. */
static void
room_release (const Natter__Message *message,
              gpointer               user_data)
{
  UpstreamRoom *room = user_data;
  NatterUpstream *self = room->upstream;

  if (self->cache != NULL && !room->gapped)
    natter_upstream_cache_append (self->cache, message);
  /* The server moves a sender's read marker to their own message. */
  if (g_strcmp0 (message->sender, self->user) == 0 &&
      !g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    room->read_seq = MAX (room->read_seq, message->seq);
  if (room->resuming && message->seq >= room->resume_end)
    room->resuming = FALSE;

  if (message->seq > room->floor)
    {
      Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;

      frame.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
      frame.message = (Natter__Message *) message;
      deliver (self, &frame);
    }
}

/* The server could not fill a gap (its seqs are gapless, so this means lost data): the
 * room goes on after it, and its local copy, whose seqs would no longer be the server's,
 * stops there. */
static void
room_lost (guint64  first,
           guint64  last,
           gpointer user_data)
{
  UpstreamRoom *room = user_data;

  g_warning ("Messages %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " of %s are missing on %s; "
             "skipping them", first, last, room->name, server_label (room->upstream));
  room->gapped = TRUE;
}

static void
handle_message (NatterUpstream        *self,
                const Natter__Message *message)
{
  UpstreamRoom *room;

  if (message->room == NULL || message->seq == 0)
    return;
  /* A direct message someone started, or a room joined from another session: the
   * server sends it from its first message. */
  room = ensure_room (self, message->room, NULL, NULL);
  natter_seq_order_feed (room->order, message);
}

/* ---------------------------------------------------------------------------------- */
/* The wire */

static void
link_send (NatterUpstream      *self,
           Natter__ClientFrame *frame)
{
  g_autoptr(GBytes) bytes = natter_codec_encode (NATTER_CODEC_PROTO, &frame->base);

  soup_websocket_connection_send_message (self->ws, SOUP_WEBSOCKET_DATA_BINARY, bytes);
}

/* Puts @req on the wire; its reply is matched by a fresh id. Takes ownership. */
static void
send_request (NatterUpstream  *self,
              UpstreamRequest *req)
{
  g_assert (self->ws != NULL);

  /* Typing from the front end has no reply to wait for. */
  if (req->client != NULL && !req->has_client_id)
    {
      req->frame->has_id = FALSE;
      link_send (self, req->frame);
      request_free (req);
      return;
    }
  req->wire_id = self->next_id++;
  req->frame->has_id = TRUE;
  req->frame->id = req->wire_id;
  link_send (self, req->frame);
  g_hash_table_insert (self->requests, &req->wire_id, req);
}

static void
send_own_request (NatterUpstream      *self,
                  Natter__ClientFrame *frame,
                  const char          *room,
                  ReplyFunc            on_reply)
{
  UpstreamRequest *req = g_new0 (UpstreamRequest, 1);

  req->frame = frame;
  req->room = g_strdup (room);
  req->on_reply = on_reply;
  send_request (self, req);
}

/* ---------------------------------------------------------------------------------- */
/* Catching up */

static void
fetch_reply (NatterUpstream      *self,
             UpstreamRequest     *req,
             Natter__ServerFrame *frame)
{
  UpstreamRoom *room = g_hash_table_lookup (self->rooms, req->room);
  const Natter__HistoryPage *page;

  if (room == NULL)
    return;
  if (frame->event_case != NATTER__SERVER_FRAME__EVENT_HISTORY)
    {
      g_debug ("Cannot fetch the history of %s: %s", room->name,
               frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR ? frame->error->message
                                                                      : "unexpected reply");
      natter_seq_order_fetch_failed (room->order);
      return;
    }
  page = frame->history;
  for (gsize i = 0; i < page->n_messages; i++)
    if (page->messages[i]->room == NULL)
      page->messages[i]->room = strdup (room->name);
  natter_seq_order_fetched (room->order, page->messages, page->n_messages);
}

/* Asks for the messages after @after_seq, unless the link is down (the resume after the
 * next welcome brings them) or a resume is bringing them now. */
static gboolean
room_fetch (guint64  after_seq,
            gpointer user_data)
{
  UpstreamRoom *room = user_data;
  NatterUpstream *self = room->upstream;
  Natter__ClientFrame *frame;

  if (self->link != LINK_UP || room->resuming)
    return FALSE;
  frame = client_frame_new (NATTER__CLIENT_FRAME__OP_HISTORY);
  frame->history = g_new0 (Natter__History, 1);
  natter__history__init (frame->history);
  frame->history->room = g_strdup (room->name);
  frame->history->has_after_seq = TRUE;
  frame->history->after_seq = after_seq;
  frame->history->has_limit = TRUE;
  frame->history->limit = HISTORY_PAGE_MAX;
  send_own_request (self, frame, room->name, fetch_reply);
  return TRUE;
}

static void
update_members (NatterUpstream     *self,
                UpstreamRoom       *room,
                char * const       *members,
                gsize               n_members)
{
  g_autoptr(GHashTable) fresh = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer user;

  for (gsize i = 0; i < n_members; i++)
    {
      g_hash_table_add (fresh, g_strdup (members[i]));
      if (self->cache != NULL && !g_hash_table_contains (room->members, members[i]))
        natter_upstream_cache_add_member (self->cache, room->name, members[i]);
    }
  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, &user, NULL))
    if (self->cache != NULL && !g_hash_table_contains (fresh, user))
      natter_upstream_cache_remove_member (self->cache, room->name, user);
  g_hash_table_unref (room->members);
  room->members = g_steal_pointer (&fresh);
}

static void
apply_joined (NatterUpstream       *self,
              const Natter__Joined *joined)
{
  UpstreamRoom *room;

  if (joined->room == NULL)
    return;
  room = ensure_room (self, joined->room, joined->kind, NULL);
  if (joined->kind != NULL && g_strcmp0 (room->kind, joined->kind) != 0)
    {
      g_free (room->kind);
      room->kind = g_strdup (joined->kind);
    }
  if (g_strcmp0 (room->topic, joined->topic) != 0)
    {
      g_free (room->topic);
      room->topic = g_strdup (joined->topic);
    }
  natter_seq_order_note_known (room->order, joined->last_seq);
  /* `system` lists no members: everyone reads it. */
  if (joined->n_members > 0)
    update_members (self, room, joined->members, joined->n_members);
}

static void
resume_reply (NatterUpstream      *self,
              UpstreamRequest     *req,
              Natter__ServerFrame *frame)
{
  UpstreamRoom *room = g_hash_table_lookup (self->rooms, req->room);

  if (room == NULL)
    return;
  if (frame->event_case != NATTER__SERVER_FRAME__EVENT_JOINED)
    {
      room->resuming = FALSE;
      g_debug ("Cannot resume %s: %s", room->name,
               frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR ? frame->error->message
                                                                      : "unexpected reply");
      return;
    }
  apply_joined (self, frame->joined);
  if (frame->joined->has_more)
    {
      /* The replay stops at the server's resume cap: page through the rest. Pages and
       * replay may overlap; what was seen already is skipped. */
      room->resuming = FALSE;
    }
  else
    {
      room->resume_end = frame->joined->last_seq;
      room->resuming = room_seen (room) < room->resume_end;
    }
  natter_seq_order_catch_up (room->order);
}

/* ---------------------------------------------------------------------------------- */
/* Logging in */

static void
stored_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_account_secret_store_finish (result, &error))
    g_warning ("Cannot keep the session token in the Secret Service: %s", error->message);
}

static void
cleared_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_account_secret_clear_finish (result, &error))
    g_warning ("Cannot remove the account from the Secret Service: %s", error->message);
}

static void
auth_failed (NatterUpstream *self,
             const char     *message)
{
  self->want_link = FALSE;
  wipe_string (&self->password);
  wipe_string (&self->token);
  set_status (self, NATTER_BACKEND_STATUS_AUTH_FAILED,
              "%s refused the account %s: %s. Call Connect() with the password.",
              server_label (self), self->user, message);
  fail_connect (self, NATTER_ERROR_UNAUTHORIZED, self->status_message);
  link_lost (self, NULL);
}

static void send_login (NatterUpstream *self);

static void
fallback_password_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  char *password = natter_account_secret_lookup_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (password == NULL)
    {
      if (self->link == LINK_LOGIN)
        auth_failed (self, "the session token was refused and no password is stored");
      return;
    }
  wipe_string (&self->password);
  self->password = g_strdup (password);
  secret_password_free (password);
  if (self->link == LINK_LOGIN)
    send_login (self);
}

static void
welcome_received (NatterUpstream      *self,
                  Natter__ServerFrame *frame);

static void
login_reply (NatterUpstream      *self,
             UpstreamRequest     *req,
             Natter__ServerFrame *frame)
{
  NatterError code = NATTER_ERROR_INTERNAL;

  if (frame->event_case == NATTER__SERVER_FRAME__EVENT_WELCOME)
    {
      welcome_received (self, frame);
      return;
    }
  if (frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR)
    natter_error_code_from_string (frame->error->code, &code);
  if (code != NATTER_ERROR_UNAUTHORIZED)
    {
      g_autofree char *reason = g_strdup_printf ("login failed: %s",
                                                 frame->event_case == NATTER__SERVER_FRAME__EVENT_ERROR
                                                   ? frame->error->message : "unexpected reply");

      link_lost (self, reason);
      return;
    }

  if (req->with_token)
    {
      /* Expired or revoked: the password, if we have one, gets a new token. */
      g_debug ("The server refused the session token");
      wipe_string (&self->token);
      if (self->password != NULL)
        send_login (self);
      else
        natter_account_secret_lookup_async (self->server, self->user, NATTER_SECRET_PASSWORD,
                                            self->account_cancellable, fallback_password_cb,
                                            g_object_ref (self));
      return;
    }
  auth_failed (self, frame->error->message != NULL ? frame->error->message : "unauthorized");
}

static void
send_login (NatterUpstream *self)
{
  Natter__ClientFrame *frame = client_frame_new (NATTER__CLIENT_FRAME__OP_LOGIN);
  UpstreamRequest *req = g_new0 (UpstreamRequest, 1);

  frame->login = g_new0 (Natter__Login, 1);
  natter__login__init (frame->login);
  frame->login->user = g_strdup (self->user);
  if (self->token != NULL)
    {
      frame->login->token = g_strdup (self->token);
      req->with_token = TRUE;
    }
  else
    frame->login->password = g_strdup (self->password);
  req->frame = frame;
  req->on_reply = login_reply;
  self->link = LINK_LOGIN;
  send_request (self, req);
}

/* After the welcome (and the cache is right for the server's epoch): resume every room,
 * tell the front end, send what waited. */
static void
continue_welcome (NatterUpstream      *self,
                  Natter__ServerFrame *frame)
{
  Natter__Welcome *welcome = frame->welcome;
  g_autoptr(GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer name;

  for (gsize i = 0; i < welcome->n_rooms; i++)
    if (welcome->rooms[i]->name != NULL)
      g_hash_table_add (listed, welcome->rooms[i]->name);

  /* Rooms left from elsewhere while we were away. */
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    if (!g_hash_table_contains (listed, name))
      g_ptr_array_add (gone, g_strdup (name));
  for (guint i = 0; i < gone->len; i++)
    {
      forget_room (self, g_ptr_array_index (gone, i));
      deliver_member (self, g_ptr_array_index (gone, i), self->user, FALSE);
    }

  for (gsize i = 0; i < welcome->n_rooms; i++)
    {
      const Natter__RoomInfo *info = welcome->rooms[i];
      Natter__ClientFrame *join;
      gboolean created;
      UpstreamRoom *room;

      if (info->name == NULL)
        continue;
      room = ensure_room (self, info->name, info->kind, &created);
      /* A room never copied before: what it holds is history, not news. */
      if (created)
        room->floor = info->last_seq;
      if (g_strcmp0 (room->topic, info->topic) != 0)
        {
          g_free (room->topic);
          room->topic = g_strdup (info->topic);
        }
      natter_seq_order_note_known (room->order, info->last_seq);
      if (info->has_read_seq)
        room->read_seq = MAX (room->read_seq, info->read_seq);

      join = client_frame_new (NATTER__CLIENT_FRAME__OP_JOIN);
      join->join = g_new0 (Natter__Join, 1);
      natter__join__init (join->join);
      join->join->room = g_strdup (room->name);
      join->join->has_since_seq = TRUE;
      join->join->since_seq = room_seen (room);
      room->resuming = TRUE;
      room->resume_end = G_MAXUINT64;
      /* A page asked for on the last link will not come. */
      natter_seq_order_reset (room->order);
      send_own_request (self, join, room->name, resume_reply);
    }

  self->link = LINK_UP;
  self->attempt = 0;
  frame->has_id = FALSE;
  deliver (self, frame);

  set_status (self, NATTER_BACKEND_STATUS_CONNECTED, "Connected to %s as %s",
              self->server, self->user);
  complete_connect (self, NULL);

  while (!g_queue_is_empty (&self->outbox) && self->link == LINK_UP)
    send_request (self, g_queue_pop_head (&self->outbox));
}

static void
cache_reset_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_upstream_cache_close_finish (NATTER_UPSTREAM_CACHE (source), result, &error))
    g_warning ("Cannot remove the old copy of the history: %s", error->message);
  if (self->user != NULL)
    open_cache (self);
}

static void
welcome_received (NatterUpstream      *self,
                  Natter__ServerFrame *frame)
{
  Natter__Welcome *welcome = frame->welcome;
  const char *cached_epoch = self->cache != NULL ? natter_upstream_cache_get_epoch (self->cache)
                                                 : NULL;

  /* The token never goes further than this. */
  if (welcome->token != NULL)
    {
      gboolean changed = g_strcmp0 (welcome->token, self->token) != 0;

      wipe_string (&self->token);
      self->token = g_strdup (welcome->token);
      memset (welcome->token, 0, strlen (welcome->token));
      free (welcome->token);
      welcome->token = NULL;
      if (self->remember && changed)
        natter_account_secret_store_async (self->server, self->user, NATTER_SECRET_TOKEN,
                                           self->token, NULL, stored_cb, NULL);
    }
  if (self->forget_on_login)
    {
      self->forget_on_login = FALSE;
      natter_account_secret_clear_async (self->server, self->user, NULL, cleared_cb, NULL);
    }
  wipe_string (&self->password);

  if (welcome->epoch != NULL && cached_epoch != NULL && !g_str_equal (welcome->epoch, cached_epoch))
    {
      NatterUpstreamCache *cache = g_steal_pointer (&self->cache);

      /* The server's store was replaced: the copy's positions mean nothing any more. */
      g_message ("The store of %s was replaced (epoch %s, was %s): starting a new copy",
                 self->server, welcome->epoch, cached_epoch);
      drop_all_rooms (self);
      self->cache_ready = FALSE;
      self->stashed_welcome = server_frame_copy (frame);
      natter_upstream_cache_close_async (cache, TRUE, NULL, cache_reset_cb, g_object_ref (self));
      g_object_unref (cache);
      return;
    }
  if (welcome->epoch != NULL && self->cache != NULL)
    natter_upstream_cache_set_epoch (self->cache, welcome->epoch);
  continue_welcome (self, frame);
}

/* ---------------------------------------------------------------------------------- */
/* Frames from the server */

static void
handle_reply (NatterUpstream      *self,
              UpstreamRequest     *req,
              Natter__ServerFrame *frame)
{
  if (req->on_reply != NULL)
    {
      req->on_reply (self, req, frame);
      return;
    }
  /* The front end's own requests: keep the mirror in step, then pass the answer on. */
  if (frame->event_case == NATTER__SERVER_FRAME__EVENT_JOINED)
    apply_joined (self, frame->joined);
  else if (frame->event_case == NATTER__SERVER_FRAME__EVENT_OK &&
           req->frame->op_case == NATTER__CLIENT_FRAME__OP_READ)
    {
      const char *name = req->frame->read->room;
      UpstreamRoom *room = name != NULL ? g_hash_table_lookup (self->rooms, name) : NULL;

      if (room != NULL)
        room->read_seq = MAX (room->read_seq, req->frame->read->seq);
      if (self->cache != NULL && room != NULL)
        natter_upstream_cache_set_read (self->cache, room->name, req->frame->read->seq);
    }
  reply (req, frame);
}

static void
handle_member (NatterUpstream       *self,
               const Natter__Member *member)
{
  UpstreamRoom *room;

  if (member->room == NULL || member->user == NULL)
    return;
  if (g_strcmp0 (member->user, self->user) == 0)
    {
      if (member->joined)
        ensure_room (self, member->room, NULL, NULL);
      else
        forget_room (self, member->room);
      return;
    }
  room = g_hash_table_lookup (self->rooms, member->room);
  if (room == NULL)
    return;
  if (member->joined && g_hash_table_add (room->members, g_strdup (member->user)))
    {
      if (self->cache != NULL)
        natter_upstream_cache_add_member (self->cache, room->name, member->user);
    }
  else if (!member->joined && g_hash_table_remove (room->members, member->user))
    {
      if (self->cache != NULL)
        natter_upstream_cache_remove_member (self->cache, room->name, member->user);
    }
}

static void
handle_receipt (NatterUpstream        *self,
                const Natter__Receipt *receipt)
{
  UpstreamRoom *room;

  if (receipt->room == NULL || g_strcmp0 (receipt->user, self->user) != 0)
    return;
  room = g_hash_table_lookup (self->rooms, receipt->room);
  if (room == NULL)
    return;
  room->read_seq = MAX (room->read_seq, receipt->seq);
  if (self->cache != NULL)
    natter_upstream_cache_set_read (self->cache, room->name, receipt->seq);
}

/* Takes ownership of @frame. */
static void
handle_frame (NatterUpstream      *self,
              Natter__ServerFrame *frame)
{
  g_autoptr(Natter__ServerFrame) owned = frame;
  gpointer key = NULL, value = NULL;

  /* The cache is being replaced after a new epoch: everything waits for it. */
  if (self->stashed_welcome != NULL)
    {
      g_queue_push_tail (&self->stashed_frames, g_steal_pointer (&owned));
      return;
    }

  if (frame->has_id)
    {
      g_autoptr(UpstreamRequest) req = NULL;

      if (!g_hash_table_steal_extended (self->requests, &frame->id, &key, &value))
        {
          g_debug ("Ignoring a reply to no request (%" G_GUINT64_FORMAT ")", frame->id);
          return;
        }
      req = value;
      handle_reply (self, req, frame);
      return;
    }

  switch ((int) frame->event_case)
    {
    case NATTER__SERVER_FRAME__EVENT_MESSAGE:
      handle_message (self, frame->message);
      return;
    case NATTER__SERVER_FRAME__EVENT_MEMBER:
      handle_member (self, frame->member);
      break;
    case NATTER__SERVER_FRAME__EVENT_RECEIPT:
      handle_receipt (self, frame->receipt);
      break;
    case NATTER__SERVER_FRAME__EVENT_PRESENCE:
    case NATTER__SERVER_FRAME__EVENT_TYPING:
    case NATTER__SERVER_FRAME__EVENT_ERROR:
      break;
    default:
      g_debug ("Ignoring a frame of kind %d from the server", (int) frame->event_case);
      return;
    }
  deliver (self, frame);
}

/* ---------------------------------------------------------------------------------- */
/* The connection */

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               NatterUpstream          *self)
{
  g_autoptr(GError) error = NULL;
  Natter__ServerFrame *frame;
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);

  self->last_rx = g_get_monotonic_time ();
  if (type != SOUP_WEBSOCKET_DATA_BINARY)
    {
      g_debug ("Ignoring a text frame on %s", NATTER_SUBPROTOCOL_PROTO);
      return;
    }
  frame = natter_codec_decode_server_frame (NATTER_CODEC_PROTO, data, len, &error);
  if (frame == NULL)
    {
      g_debug ("Ignoring an undecodable frame from the server: %s", error->message);
      return;
    }
  g_object_ref (self);
  handle_frame (self, frame);
  g_object_unref (self);
}

static void
on_ws_pong (SoupWebsocketConnection *ws,
            GBytes                  *message,
            NatterUpstream          *self)
{
  self->last_rx = g_get_monotonic_time ();
}

static void
on_ws_error (SoupWebsocketConnection *ws,
             GError                  *error,
             NatterUpstream          *self)
{
  g_debug ("WebSocket error: %s", error->message);
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              NatterUpstream          *self)
{
  g_autofree char *reason = NULL;
  const char *data = soup_websocket_connection_get_close_data (ws);
  gushort code = soup_websocket_connection_get_close_code (ws);

  if (code != 0)
    reason = g_strdup_printf ("the server closed the connection (%u%s%s)", code,
                              data != NULL && *data != '\0' ? ": " : "",
                              data != NULL ? data : "");
  else
    reason = g_strdup ("the connection was lost");
  g_object_ref (self);
  link_lost (self, reason);
  g_object_unref (self);
}

/* The server pings us and we ping it (libsoup's keepalive), so a live link is never
 * silent for long; a half-open TCP connection is, and is dropped. */
static gboolean
heartbeat_cb (gpointer user_data)
{
  NatterUpstream *self = user_data;
  gint64 silent = g_get_monotonic_time () - self->last_rx;
  g_autofree char *reason = NULL;

  if (silent < (gint64) self->ping_timeout_s * G_USEC_PER_SEC)
    return G_SOURCE_CONTINUE;
  reason = g_strdup_printf ("no answer from the server for %u s", self->ping_timeout_s);
  self->heartbeat_source = 0;
  link_lost (self, reason);
  return G_SOURCE_REMOVE;
}

static char *
describe_certificate_errors (GTlsCertificateFlags flags)
{
  static const struct {
    GTlsCertificateFlags flag;
    const char *text;
  } problems[] = {
    { G_TLS_CERTIFICATE_UNKNOWN_CA,
      "it is not signed by a trusted certificate authority (a self-signed certificate?)" },
    { G_TLS_CERTIFICATE_BAD_IDENTITY, "it was issued for another host name" },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, "it is not valid yet" },
    { G_TLS_CERTIFICATE_EXPIRED, "it has expired" },
    { G_TLS_CERTIFICATE_REVOKED, "it was revoked" },
    { G_TLS_CERTIFICATE_INSECURE, "it uses an insecure algorithm" },
  };
  GString *text = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (problems); i++)
    if (flags & problems[i].flag)
      g_string_append_printf (text, "%s%s", text->len > 0 ? "; " : "", problems[i].text);
  if (text->len == 0)
    g_string_append (text, "it could not be verified");
  return g_string_free (text, FALSE);
}

/* Called only when the system's trust store refused the server's certificate. With
 * --ca-file, the certificate gets a second chance against that CA, host name included;
 * otherwise it is refused, never accepted silently. */
static gboolean
accept_certificate_cb (SoupMessage          *msg,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       NatterUpstream       *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnectable) identity = NULL;
  GUri *uri = soup_message_get_uri (msg);
  GTlsCertificateFlags flags;

  self->tls_errors = errors;
  if (self->ca_database == NULL)
    return FALSE;
  identity = g_network_address_new (g_uri_get_host (uri), (guint16) g_uri_get_port (uri));
  flags = g_tls_database_verify_chain (self->ca_database, certificate,
                                       G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, identity,
                                       NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &error);
  if (error != NULL)
    {
      g_debug ("Cannot verify the certificate with --ca-file: %s", error->message);
      return FALSE;
    }
  self->tls_errors = flags;
  return flags == 0;
}

static void
ws_connected_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupWebsocketConnection) ws = soup_session_websocket_connect_finish (SOUP_SESSION (source),
                                                                                result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->link_cancellable);
  g_clear_handle_id (&self->attempt_timeout_source, g_source_remove);

  if (ws == NULL && (self->tls_errors != 0 || error->domain == G_TLS_ERROR))
    {
      g_autofree char *problems = describe_certificate_errors (self->tls_errors);

      self->link = LINK_DOWN;
      self->want_link = FALSE;
      set_status (self, NATTER_BACKEND_STATUS_CERTIFICATE_ERROR,
                  "The TLS certificate of %s was refused: %s. %s", self->server, problems,
                  self->ca_database != NULL
                    ? "It is not signed by the authority of --ca-file either."
                    : "If you trust it, start natterd with --ca-file and the certificate "
                      "of its authority.");
      fail_connect (self, NATTER_ERROR_UNAVAILABLE, self->status_message);
      link_lost (self, NULL);
      return;
    }
  if (ws == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("cannot reach %s: %s", self->server,
                                                 error->message);

      self->link = LINK_DOWN;
      link_lost (self, reason);
      return;
    }
  if (g_strcmp0 (soup_websocket_connection_get_protocol (ws), NATTER_SUBPROTOCOL_PROTO) != 0)
    {
      g_autofree char *reason = g_strdup_printf ("%s does not speak %s", self->server,
                                                 NATTER_SUBPROTOCOL_PROTO);

      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_PROTOCOL_ERROR, NULL);
      self->link = LINK_DOWN;
      link_lost (self, reason);
      return;
    }

  self->ws = g_steal_pointer (&ws);
  soup_websocket_connection_set_max_incoming_payload_size (self->ws, MAX_INCOMING_BYTES);
  soup_websocket_connection_set_keepalive_interval (self->ws, self->ping_interval_s);
  g_signal_connect (self->ws, "message", G_CALLBACK (on_ws_message), self);
  g_signal_connect (self->ws, "pong", G_CALLBACK (on_ws_pong), self);
  g_signal_connect (self->ws, "error", G_CALLBACK (on_ws_error), self);
  g_signal_connect (self->ws, "closed", G_CALLBACK (on_ws_closed), self);
  self->last_rx = g_get_monotonic_time ();
  self->heartbeat_source = g_timeout_add_seconds (MAX (1, self->ping_interval_s / 2),
                                                  heartbeat_cb, self);
  g_debug ("Connected to %s; logging in as %s", self->server, self->user);
  send_login (self);
}

/* A server that accepts the TCP connection but never completes the handshake (a frozen
 * process) must not stall the link forever. */
static gboolean
attempt_timeout_cb (gpointer user_data)
{
  NatterUpstream *self = user_data;
  g_autofree char *reason = g_strdup_printf ("%s did not answer within %u s", self->server,
                                             self->ping_timeout_s);

  self->attempt_timeout_source = 0;
  link_lost (self, reason);
  return G_SOURCE_REMOVE;
}

static void
begin_attempt (NatterUpstream *self)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) error = NULL;
  char *protocols[] = { (char *) NATTER_SUBPROTOCOL_PROTO, NULL };

  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  /* Without the cache open, the positions to resume from are unknown: proceed() comes
   * back here once it is. */
  if (self->link != LINK_DOWN || !self->want_link || !self->cache_ready)
    return;

  uri = g_uri_parse (self->server, SOUP_HTTP_URI_FLAGS, &error);
  if (uri == NULL)
    {
      self->want_link = FALSE;
      set_status (self, NATTER_BACKEND_STATUS_OFFLINE, "Invalid server URL %s: %s",
                  self->server, error->message);
      fail_connect (self, NATTER_ERROR_BAD_REQUEST, self->status_message);
      return;
    }
  msg = soup_message_new_from_uri (SOUP_METHOD_GET, uri);
  g_signal_connect_object (msg, "accept-certificate", G_CALLBACK (accept_certificate_cb),
                           self, 0);
  self->tls_errors = 0;
  self->link = LINK_OPENING;
  self->link_cancellable = g_cancellable_new ();
  self->attempt_timeout_source = g_timeout_add_seconds (self->ping_timeout_s, attempt_timeout_cb,
                                                        self);
  soup_session_websocket_connect_async (self->session, msg, NULL, protocols, G_PRIORITY_DEFAULT,
                                        self->link_cancellable, ws_connected_cb,
                                        g_object_ref (self));
}

static gboolean
reconnect_cb (gpointer user_data)
{
  NatterUpstream *self = user_data;

  self->reconnect_source = 0;
  begin_attempt (self);
  return G_SOURCE_REMOVE;
}

/* Jittered exponential backoff: half the step, plus up to the other half at random, so
 * that many desktops do not come back to a restarted server all at once. */
static guint
next_backoff_ms (NatterUpstream *self)
{
  guint step = BACKOFF_MIN_MS;

  for (guint i = 0; i < self->attempt && step < BACKOFF_MAX_MS; i++)
    step *= 2;
  step = MIN (step, BACKOFF_MAX_MS);
  self->attempt++;
  return step / 2 + (guint) g_random_int_range (0, (gint32) (step / 2) + 1);
}

static int
compare_wire_id (gconstpointer a,
                 gconstpointer b)
{
  const UpstreamRequest *x = *(UpstreamRequest * const *) a, *y = *(UpstreamRequest * const *) b;

  return x->wire_id < y->wire_id ? -1 : x->wire_id > y->wire_id;
}

/* The link is gone (or must go). Sends in flight wait to be retried with their
 * client_msg_id, reads are answered from the cache, the rest fail; then, unless the
 * link is not wanted any more, a reconnect is scheduled. @reason: why, for the status
 * (%NULL when the caller set the status itself). */
static void
link_lost (NatterUpstream *self,
           const char     *reason)
{
  g_autoptr(GPtrArray) in_flight = NULL;
  g_autoptr(SoupWebsocketConnection) ws = g_steal_pointer (&self->ws);
  GHashTableIter iter;
  gpointer room;

  g_clear_handle_id (&self->heartbeat_source, g_source_remove);
  g_clear_handle_id (&self->attempt_timeout_source, g_source_remove);
  if (self->link_cancellable != NULL)
    {
      g_cancellable_cancel (self->link_cancellable);
      g_clear_object (&self->link_cancellable);
    }
  if (ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (ws, self);
      if (soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
    }
  self->link = LINK_DOWN;
  g_clear_pointer (&self->stashed_welcome, natter_server_frame_free);
  g_queue_clear_full (&self->stashed_frames, (GDestroyNotify) natter_server_frame_free);

  /* Sends go back to the head of the queue in their order; they are retried with their
   * client_msg_id, so one that did commit is not sent twice. */
  in_flight = hash_table_values (self->requests);
  g_hash_table_steal_all (self->requests);
  g_ptr_array_sort (in_flight, compare_wire_id);
  for (guint i = in_flight->len; i > 0; i--)
    {
      UpstreamRequest *req = g_ptr_array_index (in_flight, i - 1);

      if (req->client != NULL && is_send (req))
        {
          g_queue_push_head (&self->outbox, req);
          g_ptr_array_remove_index (in_flight, i - 1);
        }
    }
  for (guint i = 0; i < in_flight->len; i++)
    {
      g_autoptr(UpstreamRequest) req = g_ptr_array_index (in_flight, i);

      if (req->client == NULL)
        continue;
      switch ((int) req->frame->op_case)
        {
        case NATTER__CLIENT_FRAME__OP_JOIN:
        case NATTER__CLIENT_FRAME__OP_HISTORY:
        case NATTER__CLIENT_FRAME__OP_SEARCH:
        case NATTER__CLIENT_FRAME__OP_ROOMS:
          answer_offline (self, g_steal_pointer (&req));
          break;
        default:
          reply_error (req, NATTER_ERROR_UNAVAILABLE,
                       "The connection to %s was lost before it answered; try again",
                       server_label (self));
          break;
        }
    }

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, &room))
    {
      ((UpstreamRoom *) room)->resuming = FALSE;
      natter_seq_order_reset (((UpstreamRoom *) room)->order);
    }

  if (!self->want_link)
    {
      /* Nobody will send these: they fail now rather than never. */
      UpstreamRequest *req;

      while ((req = g_queue_pop_head (&self->outbox)) != NULL)
        {
          reply_error (req, NATTER_ERROR_UNAVAILABLE, "Not connected to %s (%s): %s",
                       server_label (self), self->status, self->status_message);
          request_free (req);
        }
      return;
    }
  if (reason != NULL && self->reconnect_source == 0)
    {
      guint delay = next_backoff_ms (self);
      g_autofree char *what = g_strdup (reason);

      what[0] = g_ascii_toupper (what[0]);
      set_status (self, NATTER_BACKEND_STATUS_RECONNECTING, "%s; trying again in %.1f s",
                  what, delay / 1000.0);
      if (self->connect_task != NULL)
        fail_connect (self, NATTER_ERROR_UNAVAILABLE, self->status_message);
      self->reconnect_source = g_timeout_add (delay, reconnect_cb, self);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Requests of the front end */

static void
enqueue_send (NatterUpstream  *self,
              UpstreamRequest *req)
{
  if (g_queue_get_length (&self->outbox) >= NATTER_UPSTREAM_QUEUE_MAX)
    {
      reply_error (req, NATTER_ERROR_UNAVAILABLE,
                   "Not connected to %s, and %u messages are already waiting to be sent; "
                   "try again once Status is “connected”", server_label (self),
                   NATTER_UPSTREAM_QUEUE_MAX);
      request_free (req);
      return;
    }
  g_queue_push_tail (&self->outbox, req);
}

static void
offline_joined (NatterUpstream  *self,
                UpstreamRequest *req)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Joined joined = NATTER__JOINED__INIT;
  g_autofree char **members = NULL;
  const char *name = req->frame->join->room;
  UpstreamRoom *room = name != NULL ? g_hash_table_lookup (self->rooms, name) : NULL;
  guint n;

  if (room == NULL)
    {
      reply_error (req, NATTER_ERROR_UNAVAILABLE,
                   "Not connected to %s: rooms can only be joined online", server_label (self));
      return;
    }
  members = (char **) g_hash_table_get_keys_as_array (room->members, &n);
  qsort (members, n, sizeof (char *), compare_strings);
  joined.room = room->name;
  joined.has_last_seq = TRUE;
  joined.last_seq = room_seen (room);
  joined.kind = room->kind;
  joined.topic = room->topic;
  /* Nobody is known to be online while we are not. */
  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      joined.members = members;
      joined.n_members = n;
    }
  frame.event_case = NATTER__SERVER_FRAME__EVENT_JOINED;
  frame.joined = &joined;
  reply (req, &frame);
}

static void
offline_room_list (NatterUpstream  *self,
                   UpstreamRequest *req)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__RoomList list = NATTER__ROOM_LIST__INIT;
  g_autofree Natter__RoomInfo *storage = NULL;
  g_autofree Natter__RoomInfo **ptrs = NULL;

  ptrs = local_room_infos (self, &list.n_rooms, &storage);
  list.rooms = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_ROOM_LIST;
  frame.room_list = &list;
  reply (req, &frame);
}

static void
offline_history_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(UpstreamRequest) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterHistoryResult) history = natter_store_history_finish (NATTER_STORE (source),
                                                                         result, &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__HistoryPage page = NATTER__HISTORY_PAGE__INIT;

  if (history == NULL)
    {
      reply_gerror (req, error);
      return;
    }
  page.room = req->frame->history->room;
  page.messages = (Natter__Message **) history->messages->pdata;
  page.n_messages = history->messages->len;
  page.has_has_more = TRUE;
  page.has_more = history->has_more;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_HISTORY;
  frame.history = &page;
  reply (req, &frame);
}

static void
offline_search_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(UpstreamRequest) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = natter_store_search_finish (NATTER_STORE (source), result,
                                                              &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__SearchResults results = NATTER__SEARCH_RESULTS__INIT;

  if (messages == NULL)
    {
      reply_gerror (req, error);
      return;
    }
  results.messages = (Natter__Message **) messages->pdata;
  results.n_messages = messages->len;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_SEARCH_RESULTS;
  frame.search_results = &results;
  reply (req, &frame);
}

/* Answers a read request from the local copy. Takes ownership of @req. */
static void
answer_offline (NatterUpstream  *self,
                UpstreamRequest *req)
{
  g_autoptr(UpstreamRequest) owned = req;
  NatterStore *store = self->cache != NULL ? natter_upstream_cache_get_store (self->cache) : NULL;

  switch ((int) req->frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_JOIN:
      offline_joined (self, req);
      return;
    case NATTER__CLIENT_FRAME__OP_ROOMS:
      offline_room_list (self, req);
      return;
    default:
      break;
    }

  if (store == NULL)
    {
      reply_error (req, NATTER_ERROR_UNAVAILABLE, "Not connected to %s, and there is no local "
                   "copy of the history", server_label (self));
      return;
    }

  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_HISTORY)
    {
      const Natter__History *op = req->frame->history;
      NatterHistoryQuery query = { 0, };

      if (op->room == NULL || g_hash_table_lookup (self->rooms, op->room) == NULL)
        {
          reply_error (req, NATTER_ERROR_NOT_FOUND, "No room “%s” in the local copy",
                       op->room != NULL ? op->room : "");
          return;
        }
      if (op->has_limit && (op->limit < 1 || op->limit > HISTORY_PAGE_MAX))
        {
          reply_error (req, NATTER_ERROR_BAD_REQUEST, "history.limit must be 1 to %u",
                       HISTORY_PAGE_MAX);
          return;
        }
      query.has_before = op->has_before_seq;
      query.before_seq = op->before_seq;
      query.has_after = op->has_after_seq;
      query.after_seq = op->after_seq;
      query.limit = op->has_limit ? op->limit : HISTORY_DEFAULT;
      natter_store_history_async (store, op->room, &query, NULL, offline_history_cb,
                                  g_steal_pointer (&owned));
      return;
    }

  if (req->frame->op_case == NATTER__CLIENT_FRAME__OP_SEARCH)
    {
      const Natter__Search *op = req->frame->search;

      if (op->query == NULL || *op->query == '\0' || g_utf8_strlen (op->query, -1) > 256)
        {
          reply_error (req, NATTER_ERROR_BAD_REQUEST, "search.query must be 1 to 256 characters");
          return;
        }
      if (op->has_limit && (op->limit < 1 || op->limit > SEARCH_MAX))
        {
          reply_error (req, NATTER_ERROR_BAD_REQUEST, "search.limit must be 1 to %u", SEARCH_MAX);
          return;
        }
      natter_store_search_async (store, self->user, op->query, op->room,
                                 op->has_limit ? op->limit : SEARCH_DEFAULT, NULL,
                                 offline_search_cb, g_steal_pointer (&owned));
      return;
    }

  reply_error (req, NATTER_ERROR_UNAVAILABLE, "Not connected to %s", server_label (self));
}

/* Forwards @frame to the server when the link is up. Otherwise sends wait for the link
 * (bounded by NATTER_UPSTREAM_QUEUE_MAX, retried with the same client_msg_id), reads are
 * answered from the local copy, and the rest fail with `unavailable`. */
static void
natter_upstream_dispatch (NatterBackend       *backend,
                          NatterClient        *client,
                          Natter__ClientFrame *frame)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);
  UpstreamRequest *req;

  req = g_new0 (UpstreamRequest, 1);
  req->frame = frame;
  req->client = g_object_ref (client);
  req->has_client_id = frame->has_id;
  req->client_id = frame->id;

  switch ((int) frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_LOGIN:
    case NATTER__CLIENT_FRAME__OP_REGISTER:
      reply_error (req, NATTER_ERROR_BAD_REQUEST,
                   "In upstream mode natterd logs in by itself: use Connect()");
      request_free (req);
      return;
    case NATTER__CLIENT_FRAME__OP__NOT_SET:
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "missing operation");
      request_free (req);
      return;
    default:
      break;
    }

  if (self->link == LINK_UP)
    {
      send_request (self, req);
      return;
    }

  switch ((int) frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_SEND:
    case NATTER__CLIENT_FRAME__OP_BROADCAST:
      if (self->want_link)
        {
          enqueue_send (self, req);
          return;
        }
      reply_error (req, NATTER_ERROR_UNAVAILABLE, "Not connected to %s (%s): %s",
                   server_label (self), self->status, self->status_message);
      break;
    case NATTER__CLIENT_FRAME__OP_JOIN:
    case NATTER__CLIENT_FRAME__OP_HISTORY:
    case NATTER__CLIENT_FRAME__OP_SEARCH:
    case NATTER__CLIENT_FRAME__OP_ROOMS:
      answer_offline (self, req);
      return;
    case NATTER__CLIENT_FRAME__OP_TYPING:
      /* Nobody to tell. */
      break;
    default:
      reply_error (req, NATTER_ERROR_UNAVAILABLE, "Not connected to %s (%s): %s",
                   server_label (self), self->status, self->status_message);
      break;
    }
  request_free (req);
}

/* @client, the front end (one at most), gets the account's rooms at once (from the local
 * copy) and everything the server pushes. */
static void
natter_upstream_add_client (NatterBackend *backend,
                            NatterClient  *client)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);

  g_return_if_fail (self->client == NULL);

  self->client = g_object_ref (client);
  natter_client_set_peer (client, "upstream");
  if (self->cache_ready)
    deliver_local_welcome (self);
}

static void
natter_upstream_remove_client (NatterBackend *backend,
                               NatterClient  *client)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);

  if (self->client == client)
    g_clear_object (&self->client);
}

/* ---------------------------------------------------------------------------------- */
/* The account: credentials and the local copy */

static void
token_found_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data);

static void
password_found_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  char *password = natter_account_secret_lookup_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error != NULL)
    g_warning ("Cannot read the Secret Service: %s", error->message);
  if (password != NULL)
    {
      wipe_string (&self->password);
      self->password = g_strdup (password);
      secret_password_free (password);
      self->remember = TRUE;
    }
  self->keyring_checked = TRUE;
  proceed (self);
}

static void
token_found_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  char *token = natter_account_secret_lookup_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error != NULL)
    {
      g_warning ("Cannot read the Secret Service: %s", error->message);
      self->keyring_checked = TRUE;
      proceed (self);
      return;
    }
  if (token == NULL)
    {
      natter_account_secret_lookup_async (self->server, self->user, NATTER_SECRET_PASSWORD,
                                          self->account_cancellable, password_found_cb,
                                          g_object_ref (self));
      return;
    }
  wipe_string (&self->token);
  self->token = g_strdup (token);
  secret_password_free (token);
  self->remember = TRUE;
  self->keyring_checked = TRUE;
  proceed (self);
}

/* Moves towards a link: once the local copy is open and credentials are known. */
static void
proceed (NatterUpstream *self)
{
  if (!self->want_link || !self->cache_ready || self->link != LINK_DOWN ||
      self->reconnect_source != 0)
    return;
  if (self->token == NULL && self->password == NULL)
    {
      if (!self->keyring_checked)
        {
          self->keyring_checked = TRUE;
          natter_account_secret_lookup_async (self->server, self->user, NATTER_SECRET_TOKEN,
                                              self->account_cancellable, token_found_cb,
                                              g_object_ref (self));
          return;
        }
      self->want_link = FALSE;
      set_status (self, NATTER_BACKEND_STATUS_OFFLINE,
                  "No credentials for %s on %s in the Secret Service: call Connect() with "
                  "the password", self->user, self->server);
      fail_connect (self, NATTER_ERROR_UNAUTHORIZED, self->status_message);
      return;
    }
  if (g_strcmp0 (self->status, NATTER_BACKEND_STATUS_RECONNECTING) != 0)
    set_status (self, NATTER_BACKEND_STATUS_CONNECTING, "Connecting to %s as %s",
                self->server, self->user);
  begin_attempt (self);
}

static void
cache_opened_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUpstreamCache) cache = natter_upstream_cache_open_finish (result, &error);
  g_autoptr(NatterStoreSnapshot) snapshot = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  /* Opened for an account that is not the current one any more. */
  if (cache != NULL && g_strcmp0 (natter_upstream_cache_get_user (cache), self->user) != 0)
    {
      natter_upstream_cache_close_async (cache, FALSE, NULL, NULL, NULL);
      return;
    }
  if (cache == NULL)
    g_warning ("No local copy of the history: %s", error->message);
  self->cache = g_steal_pointer (&cache);
  self->cache_ready = TRUE;

  snapshot = self->cache != NULL ? natter_upstream_cache_steal_snapshot (self->cache) : NULL;
  for (guint i = 0; snapshot != NULL && i < snapshot->rooms->len; i++)
    {
      const NatterRoomRecord *record = g_ptr_array_index (snapshot->rooms, i);
      gboolean member = g_str_equal (record->kind, NATTER_ROOM_KIND_SYSTEM);
      UpstreamRoom *room;

      for (guint j = 0; j < record->members->len && !member; j++)
        member = g_str_equal (((NatterMemberRecord *) g_ptr_array_index (record->members, j))->user,
                              self->user);
      if (!member)
        {
          g_hash_table_insert (self->left_rooms, g_strdup (record->name),
                               g_memdup2 (&record->last_seq, sizeof record->last_seq));
          continue;
        }
      room = room_new (self, record->name, record->kind, record->last_seq);
      room->topic = g_strdup (record->topic);
      for (guint j = 0; j < record->members->len; j++)
        {
          const NatterMemberRecord *m = g_ptr_array_index (record->members, j);

          g_hash_table_add (room->members, g_strdup (m->user));
          if (g_str_equal (m->user, self->user))
            room->read_seq = m->read_seq;
        }
      g_hash_table_insert (self->rooms, room->name, room);
    }

  if (self->stashed_welcome != NULL)
    {
      /* After a new epoch: carry on with the welcome that started it. */
      Natter__ServerFrame *welcome = g_steal_pointer (&self->stashed_welcome);
      g_autoptr(GQueue) frames = g_queue_copy (&self->stashed_frames);
      Natter__ServerFrame *frame;

      g_queue_clear (&self->stashed_frames);
      if (self->cache != NULL && welcome->welcome->epoch != NULL)
        natter_upstream_cache_set_epoch (self->cache, welcome->welcome->epoch);
      continue_welcome (self, welcome);
      natter_server_frame_free (welcome);
      while ((frame = g_queue_pop_head (frames)) != NULL)
        handle_frame (self, frame);
      return;
    }
  deliver_local_welcome (self);
  proceed (self);
}

static void
open_cache (NatterUpstream *self)
{
  self->cache_ready = FALSE;
  natter_upstream_cache_open_async (self->data_dir, self->server, self->user,
                                    self->account_cancellable, cache_opened_cb,
                                    g_object_ref (self));
}

static void
cache_closed_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_upstream_cache_close_finish (NATTER_UPSTREAM_CACHE (source), result, &error))
    {
      if (task != NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_warning ("Cannot close the local copy of the history: %s", error->message);
      return;
    }
  if (task != NULL)
    g_task_return_boolean (task, TRUE);
}

/* Stops the link (without reconnecting) and forgets everything about the current
 * account but its stored secrets; with @delete, its local copy goes too. @task, if any,
 * completes when the copy is closed. */
static void
leave_account (NatterUpstream *self,
               gboolean        delete,
               GTask          *task)
{
  g_autoptr(NatterUpstreamCache) cache = g_steal_pointer (&self->cache);

  self->want_link = FALSE;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  link_lost (self, NULL);
  drop_all_rooms (self);
  g_cancellable_cancel (self->account_cancellable);
  g_clear_object (&self->account_cancellable);
  self->account_cancellable = g_cancellable_new ();
  wipe_string (&self->token);
  wipe_string (&self->password);
  self->keyring_checked = FALSE;
  self->remember = FALSE;
  self->forget_on_login = FALSE;
  self->cache_ready = FALSE;
  if (cache != NULL)
    natter_upstream_cache_close_async (cache, delete, NULL, cache_closed_cb,
                                       task != NULL ? g_object_ref (task) : NULL);
  else if (task != NULL)
    g_task_return_boolean (task, TRUE);
}

static void
set_account (NatterUpstream *self,
             const char     *server,
             const char     *user)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (g_strcmp0 (self->server, server) != 0)
    {
      g_free (self->server);
      self->server = g_strdup (server);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SERVER]);
    }
  if (g_strcmp0 (self->user, user) != 0)
    {
      g_free (self->user);
      self->user = g_strdup (user);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACCOUNT]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

static void
found_user_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(NatterUpstream) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = natter_account_secret_find_user_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->user != NULL)
    return;
  if (user == NULL)
    {
      self->want_link = FALSE;
      set_status (self, NATTER_BACKEND_STATUS_OFFLINE,
                  "No account for %s in the Secret Service%s%s: call Connect()",
                  self->server, error != NULL ? ": " : "", error != NULL ? error->message : "");
      return;
    }
  set_account (self, self->server, user);
  open_cache (self);
}

/**
 * natter_upstream_start:
 *
 * Begins with the configured server and account: looks the account up in the Secret
 * Service if none was given, opens its local copy (the front end sees the cached rooms
 * at once), then connects with the stored credentials. Never blocks.
 */
void
natter_upstream_start (NatterUpstream *self)
{
  g_return_if_fail (NATTER_IS_UPSTREAM (self));

  self->want_link = TRUE;
  if (self->user == NULL)
    {
      set_status (self, NATTER_BACKEND_STATUS_CONNECTING,
                  "Looking for an account of %s in the Secret Service", self->server);
      natter_account_secret_find_user_async (self->server, self->account_cancellable,
                                             found_user_cb, g_object_ref (self));
      return;
    }
  set_status (self, NATTER_BACKEND_STATUS_CONNECTING, "Connecting to %s as %s",
              self->server, self->user);
  open_cache (self);
}

/* ---------------------------------------------------------------------------------- */
/* Connect(), Disconnect(), ForgetAccount() */

static gboolean
validate_url (const char  *url,
              GError     **error)
{
  g_autoptr(GUri) uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, NULL);
  const char *scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;

  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0' ||
      (g_strcmp0 (scheme, "ws") != 0 && g_strcmp0 (scheme, "wss") != 0))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "“%s” is not a WebSocket URL: expected wss://HOST[:PORT]/ws", url);
      return FALSE;
    }
  if (g_uri_get_user (uri) != NULL || g_uri_get_password (uri) != NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "the server URL must not hold credentials: give them to Connect()");
      return FALSE;
    }
  return TRUE;
}

/* Connects (again) as @user on @url ("" for the current ones). Another account's rooms
 * go away first. With a @password, @remember %FALSE removes what was stored for the
 * account. Completes once logged in, or with the first failure: NATTER_ERROR_UNAUTHORIZED
 * (credentials refused or missing), NATTER_ERROR_UNAVAILABLE (server out of reach, which
 * keeps being retried, or a refused certificate), NATTER_ERROR_BAD_REQUEST. */
static void
natter_upstream_connect_async (NatterBackend       *backend,
                               const char          *url,
                               const char          *user,
                               const char          *password,
                               gboolean             remember,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *server;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_upstream_connect_async);

  server = url != NULL && *url != '\0' ? url : self->server;
  if (user == NULL || *user == '\0')
    user = self->user;
  if (server == NULL || !validate_url (server, &error))
    {
      if (error == NULL)
        g_set_error (&error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, "no server URL given");
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (user == NULL || !natter_validate_user_name (user))
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                               "user name must match [a-z0-9_.-]{1,32}");
      return;
    }
  if (self->shutdown_task != NULL)
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                               "natterd is shutting down");
      return;
    }

  fail_connect (self, NATTER_ERROR_UNAVAILABLE, "replaced by another Connect()");
  if (g_strcmp0 (server, self->server) != 0 || g_strcmp0 (user, self->user) != 0)
    {
      g_autofree char *new_server = g_strdup (server);
      g_autofree char *new_user = g_strdup (user);

      leave_account (self, FALSE, NULL);
      set_account (self, new_server, new_user);
      open_cache (self);
    }
  else
    {
      /* The same account: a fresh link, keeping the rooms and what waits to be sent
       * (the link is still wanted, so link_lost() keeps the queue). */
      self->want_link = TRUE;
      g_clear_handle_id (&self->reconnect_source, g_source_remove);
      link_lost (self, NULL);
      self->keyring_checked = FALSE;
    }

  if (password != NULL && *password != '\0')
    {
      wipe_string (&self->token);
      wipe_string (&self->password);
      self->password = g_strdup (password);
      self->remember = remember;
      self->forget_on_login = !remember;
    }
  else if (remember)
    self->remember = TRUE;

  self->want_link = TRUE;
  self->attempt = 0;
  self->connect_task = g_steal_pointer (&task);
  set_status (self, NATTER_BACKEND_STATUS_CONNECTING, "Connecting to %s as %s",
              self->server, self->user);
  proceed (self);
}

static gboolean
natter_upstream_connect_finish (NatterBackend  *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == natter_upstream_connect_async,
                        FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Closes the link and stays offline (History and Search keep working from the local
 * copy) until Connect(). */
static gboolean
natter_upstream_disconnect (NatterBackend  *backend,
                            GError        **error)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);

  self->want_link = FALSE;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  set_status (self, NATTER_BACKEND_STATUS_OFFLINE, "Disconnected from %s: call Connect() to "
              "connect again", server_label (self));
  fail_connect (self, NATTER_ERROR_UNAVAILABLE, "cancelled by Disconnect()");
  link_lost (self, NULL);
  return TRUE;
}

typedef struct
{
  char *server;  /* (owned) */
  char *user;    /* (owned) */
} ForgetData;

static void
forget_data_free (ForgetData *data)
{
  g_free (data->server);
  g_free (data->user);
  g_free (data);
}

static void
forget_cleared_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_account_secret_clear_finish (result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
forget_copy_closed_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  ForgetData *data = g_task_get_task_data (task);

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("Cannot remove the local copy of the history: %s", error->message);
  natter_account_secret_clear_async (data->server, data->user, NULL, forget_cleared_cb,
                                     g_object_ref (task));
}

/* Disconnects, removes the account's secrets from the Secret Service and deletes its
 * local copy of the history; the rooms go away. Completes once the secrets are gone. */
static void
natter_upstream_forget_account_async (NatterBackend       *backend,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  NatterUpstream *self = NATTER_UPSTREAM (backend);
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) closed = NULL;
  ForgetData *data;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_upstream_forget_account_async);
  if (self->server == NULL || self->user == NULL)
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "no account to forget");
      return;
    }
  data = g_new0 (ForgetData, 1);
  data->server = g_strdup (self->server);
  data->user = g_strdup (self->user);
  g_task_set_task_data (task, data, (GDestroyNotify) forget_data_free);

  fail_connect (self, NATTER_ERROR_UNAVAILABLE, "cancelled by ForgetAccount()");
  closed = g_task_new (self, NULL, forget_copy_closed_cb, g_steal_pointer (&task));
  set_status (self, NATTER_BACKEND_STATUS_OFFLINE, "No account: call Connect()");
  leave_account (self, TRUE, closed);
  set_account (self, self->server, NULL);
}

static gboolean
natter_upstream_forget_account_finish (NatterBackend  *self,
                                       GAsyncResult   *result,
                                       GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
natter_upstream_backend_init (NatterBackendInterface *iface)
{
  iface->add_client = natter_upstream_add_client;
  iface->remove_client = natter_upstream_remove_client;
  iface->dispatch = natter_upstream_dispatch;
  iface->connect_async = natter_upstream_connect_async;
  iface->connect_finish = natter_upstream_connect_finish;
  iface->disconnect = natter_upstream_disconnect;
  iface->forget_account_async = natter_upstream_forget_account_async;
  iface->forget_account_finish = natter_upstream_forget_account_finish;
}

/* ---------------------------------------------------------------------------------- */
/* Shutdown */

static void
shutdown_copy_closed_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_upstream_cache_close_finish (NATTER_UPSTREAM_CACHE (source), result, &error))
    g_warning ("Cannot close the local copy of the history: %s", error->message);
  g_task_return_boolean (task, TRUE);
}

/* The link is closed (or given up on): fail what waits, close the copy. The room
 * objects stay until the D-Bus service goes. */
static void
finish_shutdown (NatterUpstream *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->shutdown_task);
  g_autoptr(NatterUpstreamCache) cache = g_steal_pointer (&self->cache);

  g_clear_handle_id (&self->close_grace_source, g_source_remove);
  if (self->ws != NULL)
    g_signal_handlers_disconnect_by_data (self->ws, self);
  link_lost (self, NULL);
  g_cancellable_cancel (self->account_cancellable);
  if (cache != NULL)
    natter_upstream_cache_close_async (cache, FALSE, NULL, shutdown_copy_closed_cb,
                                       g_steal_pointer (&task));
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
close_grace_cb (gpointer user_data)
{
  NatterUpstream *self = user_data;

  self->close_grace_source = 0;
  finish_shutdown (self);
  return G_SOURCE_REMOVE;
}

static void
shutdown_ws_closed (SoupWebsocketConnection *ws,
                    NatterUpstream          *self)
{
  finish_shutdown (self);
}

/**
 * natter_upstream_shutdown_async:
 *
 * Tells the server goodbye (close code 1001), waiting a moment for its answer, fails
 * the sends still waiting, and closes the local copy.
 */
void
natter_upstream_shutdown_async (NatterUpstream      *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_UPSTREAM (self));
  g_return_if_fail (self->shutdown_task == NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_upstream_shutdown_async);
  self->shutdown_task = g_steal_pointer (&task);
  self->want_link = FALSE;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  fail_connect (self, NATTER_ERROR_UNAVAILABLE, "natterd is shutting down");
  set_status (self, NATTER_BACKEND_STATUS_OFFLINE, "natterd is shutting down");

  if (self->ws != NULL && soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      g_signal_handlers_disconnect_by_data (self->ws, self);
      g_signal_connect (self->ws, "closed", G_CALLBACK (shutdown_ws_closed), self);
      g_clear_handle_id (&self->heartbeat_source, g_source_remove);
      soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                       "natterd is shutting down");
      self->close_grace_source = g_timeout_add (CLOSE_GRACE_MS, close_grace_cb, self);
      return;
    }
  finish_shutdown (self);
}

gboolean
natter_upstream_shutdown_finish (NatterUpstream  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------------------------- */
/* GObject */

static void
natter_upstream_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  NatterUpstream *self = NATTER_UPSTREAM (object);

  if (prop_id == PROP_SERVER)
    {
      g_value_set_string (value, self->server);
      return;
    }
  switch (prop_id - PROP_BACKEND_FIRST)
    {
    case NATTER_BACKEND_PROP_MODE:
      g_value_set_string (value, "upstream");
      break;
    case NATTER_BACKEND_PROP_ACCOUNT:
      g_value_set_string (value, self->user);
      break;
    case NATTER_BACKEND_PROP_ADMIN:
      /* Only the server's welcome can tell. */
      g_value_set_boolean (value, FALSE);
      break;
    case NATTER_BACKEND_PROP_NODE:
    case NATTER_BACKEND_PROP_EPOCH:
      g_value_set_string (value, NULL);
      break;
    case NATTER_BACKEND_PROP_STATUS:
      g_value_set_string (value, self->status);
      break;
    case NATTER_BACKEND_PROP_STATUS_MESSAGE:
      g_value_set_string (value, self->status_message);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_upstream_dispose (GObject *object)
{
  NatterUpstream *self = NATTER_UPSTREAM (object);

  self->want_link = FALSE;
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  g_clear_handle_id (&self->close_grace_source, g_source_remove);
  if (self->account_cancellable != NULL)
    g_cancellable_cancel (self->account_cancellable);
  if (self->requests != NULL)
    link_lost (self, NULL);
  g_clear_object (&self->client);
  g_clear_object (&self->cache);
  g_clear_object (&self->session);
  g_clear_object (&self->ca_database);
  g_clear_object (&self->account_cancellable);

  G_OBJECT_CLASS (natter_upstream_parent_class)->dispose (object);
}

static void
natter_upstream_finalize (GObject *object)
{
  NatterUpstream *self = NATTER_UPSTREAM (object);

  wipe_string (&self->token);
  wipe_string (&self->password);
  g_free (self->data_dir);
  g_free (self->server);
  g_free (self->user);
  g_free (self->status);
  g_free (self->status_message);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->left_rooms, g_hash_table_unref);
  g_clear_pointer (&self->requests, g_hash_table_unref);

  G_OBJECT_CLASS (natter_upstream_parent_class)->finalize (object);
}

static void
natter_upstream_class_init (NatterUpstreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_upstream_get_property;
  object_class->dispose = natter_upstream_dispose;
  object_class->finalize = natter_upstream_finalize;

  properties[PROP_SERVER] =
    g_param_spec_string ("server", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (object_class, PROP_SERVER, properties[PROP_SERVER]);
  natter_backend_install_properties (object_class, PROP_BACKEND_FIRST);
  /* The ones that change, for g_object_notify_by_pspec(). */
  properties[PROP_ACCOUNT] = g_object_class_find_property (object_class, "account");
  properties[PROP_STATUS] = g_object_class_find_property (object_class, "status");
  properties[PROP_STATUS_MESSAGE] = g_object_class_find_property (object_class, "status-message");
}

static void
natter_upstream_init (NatterUpstream *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) room_free);
  self->left_rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->requests = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                          (GDestroyNotify) request_free);
  self->next_id = 1;
  self->account_cancellable = g_cancellable_new ();
  self->status = g_strdup (NATTER_BACKEND_STATUS_OFFLINE);
  self->status_message = g_strdup ("");
  g_queue_init (&self->outbox);
  g_queue_init (&self->stashed_frames);
}

/**
 * natter_upstream_new:
 * @config: natterd's settings: `upstream_url` (required), `upstream_user`, `ca_file`,
 *   `data_dir` and the heartbeat (`ping_interval_s`, `ping_timeout_s`)
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the upstream link, not started yet, or %NULL if the
 *   settings are wrong (an invalid URL or user name, an unreadable --ca-file)
 */
NatterUpstream *
natter_upstream_new (const NatterConfig  *config,
                     GError             **error)
{
  g_autoptr(NatterUpstream) self = NULL;
  g_autofree char *user_agent = g_strdup_printf ("natterd/%s", PACKAGE_VERSION);

  g_return_val_if_fail (config != NULL && config->upstream_url != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!validate_url (config->upstream_url, error))
    return NULL;
  if (config->upstream_user != NULL && !natter_validate_user_name (config->upstream_user))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "--user must match [a-z0-9_.-]{1,32}");
      return NULL;
    }

  self = g_object_new (NATTER_TYPE_UPSTREAM, NULL);
  if (config->ca_file != NULL)
    {
      g_autoptr(GError) local_error = NULL;

      self->ca_database = g_tls_file_database_new (config->ca_file, &local_error);
      if (self->ca_database == NULL)
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "cannot read --ca-file %s: %s", config->ca_file, local_error->message);
          return NULL;
        }
    }
  self->data_dir = g_strdup (config->data_dir);
  self->ping_interval_s = config->ping_interval_s;
  self->ping_timeout_s = config->ping_timeout_s;
  self->server = g_strdup (config->upstream_url);
  self->user = g_strdup (config->upstream_user);
  self->session = soup_session_new_with_options ("user-agent", user_agent, NULL);
  return g_steal_pointer (&self);
}
