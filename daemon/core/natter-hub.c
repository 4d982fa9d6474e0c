/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include <string.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-hub-private.h"

#define DEFAULT_HISTORY_LIMIT 50
#define DEFAULT_SEARCH_LIMIT  20
#define MAX_QUERY_CHARS       256
#define MAX_CLIENT_MSG_ID     64
/* The largest page the stores return at once. */
#define MAX_PAGE              200
#define MIN_PASSWORD_BYTES    8
#define MAX_PASSWORD_BYTES    1024
/* When to try again after a rate_limited error that carries no time of its own (the
 * password hashing queue was full). */
#define BUSY_RETRY_MS         1000
/* Requests a client may queue behind one that others wait for. */
#define MAX_WAITING_FRAMES    256
/* How long a later seq is held while an earlier one is missing, before back-filling it
 * from the store (only happens when several nodes commit into one room). */
#define GAP_HOLD_MS           50
/* How long a back-fill that failed (the store is unreachable) waits before trying again. */
#define GAP_RETRY_MS          1000

static void natter_hub_backend_init (NatterBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterHub, natter_hub, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_BACKEND, natter_hub_backend_init))

enum {
  PROP_0,
  PROP_BACKEND_FIRST,
};

enum {
  SIGNAL_MESSAGE_COMMITTED,
  SIGNAL_ROOM_EVENT,
  SIGNAL_MEMBER_CHANGED,
  SIGNAL_PRESENCE_CHANGED,
  SIGNAL_ROOM_WATCHED,
  SIGNAL_ROOM_UNWATCHED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* A request in flight. Holds the hub and the client alive until it is answered. */
typedef struct
{
  gint                 ref_count;
  NatterHub           *hub;     /* (owned) */
  NatterClient        *client;  /* (owned) */
  Natter__ClientFrame *frame;   /* (owned) */
  guint64              id;
  gboolean             has_id;
  char                *user;    /* (owned) (nullable) scratch */
  char                *room;    /* (owned) (nullable) scratch */
  char                *token;   /* (owned) (nullable) scratch */
  char                *login_key; /* (owned) (nullable) the login throttle's key */
  gboolean             admin;
  guint64              since_seq;
  gboolean             has_since;
  guint64              resume_end;
  gboolean             barrier;
  GAsyncReadyCallback  then;    /* where a multi-step request continues */
  /* Shared store: the room was read again from the store, and the request rerun. */
  gboolean             refreshed;
  guint64              refresh_gen;
} Request;

static void deliver_room_message (NatterHub *self, Room *room, const Natter__Message *message);
static void subscribe (NatterHub *self, ClientState *cs, Room *room, guint64 from_seq);
static void login_failed (Request *req, const GError *error);
static void resume_fetched_cb (GObject *source, GAsyncResult *result, gpointer user_data);
static void pump (NatterHub *self, ClientState *cs);

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

/* ---------------------------------------------------------------------------------- */
/* Names */

static gboolean
valid_name (const char *name, gsize max)
{
  gsize len = 0;

  if (name == NULL)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++, len++)
    {
      char c = *p;

      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
        return FALSE;
    }
  return len >= 1 && len <= max;
}

/**
 * natter_validate_user_name:
 *
 * Returns: whether @name matches `[a-z0-9_.-]{1,32}`
 */
gboolean
natter_validate_user_name (const char *name)
{
  return valid_name (name, 32);
}

/**
 * natter_validate_room_name:
 *
 * Returns: whether @name matches `[a-z0-9_.-]{1,64}`; DM rooms are not valid room names
 */
gboolean
natter_validate_room_name (const char *name)
{
  return valid_name (name, 64);
}

/**
 * natter_dm_room_name:
 *
 * Returns: (transfer full): `dm:A:B` with the two names sorted
 */
char *
natter_dm_room_name (const char *a,
                     const char *b)
{
  if (strcmp (a, b) > 0)
    return g_strdup_printf ("dm:%s:%s", b, a);
  return g_strdup_printf ("dm:%s:%s", a, b);
}

/* Parses `dm:A:B`; only sorted, distinct, valid names make a DM room name. */
static gboolean
parse_dm_name (const char *room, char **out_a, char **out_b)
{
  g_auto(GStrv) parts = NULL;

  if (room == NULL || !g_str_has_prefix (room, "dm:"))
    return FALSE;
  parts = g_strsplit (room + 3, ":", 3);
  if (g_strv_length (parts) != 2 ||
      !natter_validate_user_name (parts[0]) || !natter_validate_user_name (parts[1]) ||
      strcmp (parts[0], parts[1]) >= 0)
    return FALSE;
  *out_a = g_strdup (parts[0]);
  *out_b = g_strdup (parts[1]);
  return TRUE;
}

/* ---------------------------------------------------------------------------------- */
/* Rooms, subscriptions and clients */

static gint
compare_strv_items (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void     room_release (const Natter__Message *message, gpointer user_data);
static gboolean room_fetch   (guint64 after_seq, gpointer user_data);

/* Only several nodes writing one room commit its seqs out of order, and then the earlier
 * one is usually a moment behind: a gap waits briefly before it is back-filled from the
 * store, which has every committed message, so it is asked again until it answers. */
static const NatterSeqOrderPolicy room_order_policy = {
  .release = room_release,
  .fetch = room_fetch,
  .hold_ms = GAP_HOLD_MS,
  .retry_ms = GAP_RETRY_MS,
};

static Room *
room_new (NatterHub *self, const char *name, const char *kind, const char *topic,
          guint64 last_seq)
{
  Room *room = g_new0 (Room, 1);

  room->hub = self;
  room->name = g_strdup (name);
  room->kind = g_strdup (kind);
  room->topic = g_strdup (topic);
  room->order = natter_seq_order_new (&room_order_policy, last_seq, room);
  room->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  room->subs = g_hash_table_new (NULL, NULL);
  return room;
}

static void
room_free (Room *room)
{
  natter_seq_order_free (room->order);
  g_free (room->name);
  g_free (room->kind);
  g_free (room->topic);
  g_hash_table_unref (room->members);
  g_hash_table_unref (room->subs);
  g_free (room);
}

static gboolean
room_is_member (Room *room, const char *user)
{
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    return TRUE;
  return g_hash_table_contains (room->members, user);
}

static guint64
room_read_seq (Room *room, const char *user)
{
  guint64 *seq = g_hash_table_lookup (room->members, user);

  return seq != NULL ? *seq : 0;
}

void
natter_hub_room_set_read_seq (Room *room, const char *user, guint64 seq)
{
  guint64 *stored = g_hash_table_lookup (room->members, user);

  if (stored == NULL)
    {
      stored = g_new0 (guint64, 1);
      g_hash_table_insert (room->members, g_strdup (user), stored);
    }
  *stored = MAX (*stored, seq);
}

static GHashTable *
user_rooms (NatterHub *self, const char *user, gboolean create)
{
  GHashTable *set = g_hash_table_lookup (self->user_rooms, user);

  if (set == NULL && create)
    {
      set = g_hash_table_new (NULL, NULL);
      g_hash_table_insert (self->user_rooms, g_strdup (user), set);
    }
  return set;
}

void
natter_hub_add_member (NatterHub *self, Room *room, const char *user, guint64 read_seq)
{
  if (!g_hash_table_contains (room->members, user))
    room->membership_gen = ++self->membership_gen;
  natter_hub_room_set_read_seq (room, user, read_seq);
  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    g_hash_table_add (user_rooms (self, user, TRUE), room);
}

Room *
natter_hub_add_room (NatterHub *self, const char *name, const char *kind, const char *topic,
                     guint64 last_seq)
{
  Room *room = g_hash_table_lookup (self->rooms, name);

  if (room != NULL)
    {
      natter_seq_order_note_known (room->order, last_seq);
      return room;
    }
  room = room_new (self, name, kind, topic, last_seq);
  g_hash_table_insert (self->rooms, room->name, room);
  if (g_str_equal (kind, NATTER_ROOM_KIND_SYSTEM))
    self->system = room;
  return room;
}

static Sub *
sub_new (Room *room, guint64 from_seq)
{
  Sub *sub = g_new0 (Sub, 1);

  sub->room = room;
  sub->delivered = from_seq;
  g_queue_init (&sub->held);
  sub->held_seqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  return sub;
}

static void
sub_free (Sub *sub)
{
  g_queue_clear_full (&sub->held, (GDestroyNotify) natter_event_unref);
  g_array_unref (sub->held_seqs);
  g_free (sub);
}

static ClientState *
client_state_new (NatterClient *client)
{
  ClientState *cs = g_new0 (ClientState, 1);

  cs->client = g_object_ref (client);
  cs->subs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) sub_free);
  return cs;
}

static void
client_state_free (ClientState *cs)
{
  g_queue_clear_full (&cs->waiting, (GDestroyNotify) natter_client_frame_free);
  g_hash_table_unref (cs->subs);
  g_free (cs->user);
  g_object_unref (cs->client);
  g_free (cs);
}

static ClientState *
lookup_client (NatterHub *self, NatterClient *client)
{
  return g_hash_table_lookup (self->clients, client);
}

static void
deliver (NatterHub *self, ClientState *cs, NatterEvent *event)
{
  self->n_deliveries++;
  natter_client_deliver (cs->client, event);
}

static void
subscribe (NatterHub *self, ClientState *cs, Room *room, guint64 from_seq)
{
  if (g_hash_table_contains (cs->subs, room->name))
    return;
  g_hash_table_insert (cs->subs, g_strdup (room->name), sub_new (room, from_seq));
  g_hash_table_insert (room->subs, cs, g_hash_table_lookup (cs->subs, room->name));
  if (g_hash_table_size (room->subs) == 1)
    g_signal_emit (self, signals[SIGNAL_ROOM_WATCHED], 0, room->name);
}

/* @cs no longer reads @room. */
static void
room_drop_sub (NatterHub *self, Room *room, ClientState *cs)
{
  if (!g_hash_table_remove (room->subs, cs) || g_hash_table_size (room->subs) > 0)
    return;
  if (self->shared)
    {
      /* Nobody to deliver to: forget held messages; the cursor moves on by itself. */
      natter_seq_order_drop_held (room->order);
    }
  g_signal_emit (self, signals[SIGNAL_ROOM_UNWATCHED], 0, room->name);
}

static void
unsubscribe (NatterHub *self, ClientState *cs, Room *room)
{
  room_drop_sub (self, room, cs);
  g_hash_table_remove (cs->subs, room->name);
}

/* Subscribes every logged-in session of @user to @room, from @from_seq. */
void
natter_hub_subscribe_user (NatterHub *self, const char *user, Room *room, guint64 from_seq)
{
  GPtrArray *sessions = g_hash_table_lookup (self->online, user);

  for (guint i = 0; sessions != NULL && i < sessions->len; i++)
    subscribe (self, g_ptr_array_index (sessions, i), room, from_seq);
}

/* @user left @room: the room's sessions (the user's own included) hear it, then the
 * user's sessions stop receiving the room. */
void
natter_hub_remove_member (NatterHub *self, Room *room, const char *user)
{
  g_autofree char *name = g_strdup (user);
  GHashTable *mine;
  GPtrArray *sessions;

  if (!g_hash_table_remove (room->members, name))
    return;
  room->membership_gen = ++self->membership_gen;
  mine = user_rooms (self, name, FALSE);
  if (mine != NULL)
    g_hash_table_remove (mine, room);
  natter_hub_send_member_event (self, room, name, FALSE);
  sessions = g_hash_table_lookup (self->online, name);
  for (guint i = 0; sessions != NULL && i < sessions->len; i++)
    unsubscribe (self, g_ptr_array_index (sessions, i), room);
}

/* Sends @event to every subscriber of @room except @except. */
void
natter_hub_deliver_to_room (NatterHub *self, Room *room, NatterEvent *event, ClientState *except)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, room->subs);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (key != except)
      deliver (self, key, event);
}

/* ---------------------------------------------------------------------------------- */
/* Replies */

static Request *
request_ref (Request *req)
{
  req->ref_count++;
  return req;
}

static void
request_unref (Request *req)
{
  NatterHub *hub = req->hub;

  if (--req->ref_count > 0)
    return;

  if (req->frame != NULL)
    {
      ClientState *cs = lookup_client (hub, req->client);

      if (cs != NULL)
        {
          g_assert (cs->running > 0);
          cs->running--;
          if (req->barrier)
            cs->barrier = FALSE;
          pump (hub, cs);
        }
    }

  natter_client_frame_free (req->frame);
  g_free (req->user);
  g_free (req->room);
  if (req->token != NULL)
    memset (req->token, 0, strlen (req->token));
  g_free (req->token);
  g_free (req->login_key);
  g_object_unref (req->client);
  g_free (req);

  g_assert (hub->in_flight > 0);
  if (--hub->in_flight == 0 && hub->drain_task != NULL)
    {
      GTask *task = g_steal_pointer (&hub->drain_task);

      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
  g_object_unref (hub);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Request, request_unref)

static void
send_frame_to (NatterHub *self, NatterClient *client, Natter__ServerFrame *frame)
{
  ClientState *cs = lookup_client (self, client);
  g_autoptr(NatterEvent) event = NULL;

  if (cs == NULL)
    return; /* gone while the request was in flight */
  event = natter_event_new (frame);
  deliver (self, cs, event);
}

static void
reply (Request *req, Natter__ServerFrame *frame)
{
  frame->has_id = req->has_id;
  frame->id = req->id;
  send_frame_to (req->hub, req->client, frame);
}

static void
send_error (NatterHub *self, NatterClient *client, gboolean has_id, guint64 id,
            NatterError code, const char *message, guint retry_after_ms)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Error error = NATTER__ERROR__INIT;

  self->n_errors[code]++;
  error.code = (char *) natter_error_code_to_string (code);
  error.message = (char *) message;
  error.has_retry_after_ms = retry_after_ms > 0;
  error.retry_after_ms = retry_after_ms;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_ERROR;
  frame.error = &error;
  frame.has_id = has_id;
  frame.id = id;
  send_frame_to (self, client, &frame);
}

static void
reply_error (Request *req, NatterError code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
reply_error (Request *req, NatterError code, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  send_error (req->hub, req->client, req->has_id, req->id, code, message, 0);
}

static void
reply_gerror (Request *req, const GError *error)
{
  NatterError code = natter_error_code_for (error);

  if (error->domain != NATTER_ERROR)
    g_warning ("Request failed: %s", error->message);
  send_error (req->hub, req->client, req->has_id, req->id, code,
              error->domain == NATTER_ERROR ? error->message : "internal error",
              code == NATTER_ERROR_RATE_LIMITED ? BUSY_RETRY_MS : 0);
}

void
natter_hub_reply_error (NatterHub    *self,
                        NatterClient *client,
                        guint64       request_id,
                        gboolean      has_request_id,
                        const GError *error)
{
  g_return_if_fail (NATTER_IS_HUB (self));
  send_error (self, client, has_request_id, request_id, natter_error_code_for (error),
              error->message, 0);
}

static void
reply_ok (Request *req)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Ok ok = NATTER__OK__INIT;

  frame.event_case = NATTER__SERVER_FRAME__EVENT_OK;
  frame.ok = &ok;
  reply (req, &frame);
}

/* ---------------------------------------------------------------------------------- */
/* Presence */

void
natter_hub_send_presence (NatterHub *self, const char *user, gboolean online)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Presence presence = NATTER__PRESENCE__INIT;
  g_autoptr(NatterEvent) event = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);
  GHashTable *rooms = user_rooms (self, user, FALSE);
  GPtrArray *own = g_hash_table_lookup (self->online, user);
  GHashTableIter iter;
  gpointer key;

  presence.user = (char *) user;
  presence.has_online = TRUE;
  presence.online = online;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_PRESENCE;
  frame.presence = &presence;
  event = natter_event_new (&frame);

  /* Everyone who shares a room with @user, and the user's own other sessions. */
  if (rooms != NULL)
    {
      g_hash_table_iter_init (&iter, rooms);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          Room *room = key;
          GHashTableIter sub_iter;
          gpointer cs;

          g_hash_table_iter_init (&sub_iter, room->subs);
          while (g_hash_table_iter_next (&sub_iter, &cs, NULL))
            if (g_hash_table_add (seen, cs))
              deliver (self, cs, event);
        }
    }
  for (guint i = 0; own != NULL && i < own->len; i++)
    if (g_hash_table_add (seen, g_ptr_array_index (own, i)))
      deliver (self, g_ptr_array_index (own, i), event);
}

/* Whether @user has a session on this node or, as other nodes say, on another. */
gboolean
natter_hub_user_online (NatterHub *self, const char *user)
{
  GPtrArray *sessions = g_hash_table_lookup (self->online, user);

  return (sessions != NULL && sessions->len > 0) ||
         g_hash_table_contains (self->online_elsewhere, user);
}

/* ---------------------------------------------------------------------------------- */
/* Rate limits: token buckets per user and per connection */

/* The client's network address, for limits per address; local front ends have a label. */
static const char *
client_address (ClientState *cs)
{
  const char *peer = natter_client_get_peer (cs->client);

  return peer != NULL ? peer : "";
}

static void
reply_rate_limited (Request *req, guint retry_after_ms, const char *message)
{
  send_error (req->hub, req->client, req->has_id, req->id, NATTER_ERROR_RATE_LIMITED, message,
              retry_after_ms);
}

/* Typing notices and read markers: each one reaches every member (and a read is a
 * write), so a connection gets a budget of them as it does of sends. */
static gboolean
event_rate_check (Request *req, ClientState *cs)
{
  const NatterConfig *config = req->hub->config;
  guint retry_after_ms = 0;

  if (natter_bucket_take (&cs->event_bucket, config->event_rate, config->event_burst,
                          &retry_after_ms))
    return TRUE;
  reply_rate_limited (req, retry_after_ms,
                      "too many typing notices and read markers; retry later");
  return FALSE;
}

/* Password logins and registrations cost a password hash each: one address gets a
 * budget of them, so that it cannot keep the hashers to itself. */
static gboolean
password_rate_check (Request *req, ClientState *cs)
{
  guint retry_after_ms = 0;

  if (natter_buckets_take (req->hub->password_buckets, client_address (cs), &retry_after_ms))
    return TRUE;
  reply_rate_limited (req, retry_after_ms,
                      "too many password checks from this address; retry later");
  return FALSE;
}

static gboolean
rate_check (NatterHub *self, ClientState *cs, guint *retry_after_ms)
{
  /* A connection gets the user's rate; the user's bucket caps all connections together. */
  if (!natter_bucket_take (&cs->send_bucket, self->config->rate_per_s, self->config->rate_burst,
                           retry_after_ms))
    return FALSE;
  if (!natter_buckets_take (self->user_buckets, cs->user, retry_after_ms))
    {
      natter_bucket_give_back (&cs->send_bucket);
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------------- */
/* Login */

static void
fill_room_info (Natter__RoomInfo *info, Room *room, const char *user)
{
  guint64 read_seq = room_read_seq (room, user);

  natter__room_info__init (info);
  info->name = room->name;
  info->topic = room->topic;
  info->has_last_seq = TRUE;
  info->last_seq = natter_room_last_seq (room);
  info->has_unread = TRUE;
  info->unread = info->last_seq > read_seq ? info->last_seq - read_seq : 0;
  info->kind = room->kind;
  info->has_read_seq = TRUE;
  info->read_seq = read_seq;
}

/* The rooms of @user, `system` first, then by name. Returns (element-type Room). */
static GPtrArray *
rooms_of (NatterHub *self, const char *user)
{
  GPtrArray *rooms = g_ptr_array_new ();
  GHashTable *set = user_rooms (self, user, FALSE);

  if (set != NULL)
    {
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, set);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        g_ptr_array_add (rooms, key);
    }
    return rooms;
}

static gint
compare_rooms (gconstpointer a, gconstpointer b)
{
  const Room *x = *(Room * const *) a, *y = *(Room * const *) b;

  return strcmp (x->name, y->name);
}

static Natter__RoomInfo **
room_infos (NatterHub *self, const char *user, gsize *n_out, Natter__RoomInfo **storage)
{
  g_autoptr(GPtrArray) rooms = rooms_of (self, user);
  Natter__RoomInfo *infos;
  Natter__RoomInfo **ptrs;

  g_ptr_array_sort (rooms, compare_rooms);
  g_ptr_array_insert (rooms, 0, self->system);
  infos = g_new0 (Natter__RoomInfo, rooms->len);
  ptrs = g_new0 (Natter__RoomInfo *, rooms->len);
  for (guint i = 0; i < rooms->len; i++)
    {
      fill_room_info (&infos[i], g_ptr_array_index (rooms, i), user);
      ptrs[i] = &infos[i];
    }
  *n_out = rooms->len;
  *storage = infos;
  return ptrs;
}

static void
complete_login (Request *req, const char *user, gboolean admin, const char *token)
{
  NatterHub *self = req->hub;
  ClientState *cs = lookup_client (self, req->client);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Welcome welcome = NATTER__WELCOME__INIT;
  g_autofree Natter__RoomInfo *infos = NULL;
  g_autofree Natter__RoomInfo **ptrs = NULL;
  g_autoptr(GPtrArray) rooms = NULL;
  GPtrArray *sessions;
  gboolean first;

  if (cs == NULL)
    return;
  cs->logging_in = FALSE;
  sessions = g_hash_table_lookup (self->online, user);
  if (sessions != NULL && sessions->len >= self->config->max_sessions_per_user)
    {
      send_error (self, req->client, req->has_id, req->id, NATTER_ERROR_RATE_LIMITED,
                  "too many sessions for this account; close one first", 10000);
      return;
    }
  cs->user = g_strdup (user);
  cs->admin = admin;

  if (sessions == NULL)
    {
      sessions = g_ptr_array_new ();
      g_hash_table_insert (self->online, g_strdup (user), sessions);
    }
  first = sessions->len == 0;
  g_ptr_array_add (sessions, cs);

  /* Live from now on for every room the account is in; `join {since_seq}` fills in what
   * came before. */
  rooms = rooms_of (self, user);
  for (guint i = 0; i < rooms->len; i++)
    {
      Room *room = g_ptr_array_index (rooms, i);
      subscribe (self, cs, room, natter_room_delivered_seq (room));
    }
  subscribe (self, cs, self->system, natter_room_delivered_seq (self->system));

  welcome.user = (char *) user;
  welcome.token = (char *) token;
  welcome.epoch = (char *) natter_store_get_epoch (self->store);
  welcome.has_admin = TRUE;
  welcome.admin = admin;
  welcome.node = self->config->node_id;
  ptrs = room_infos (self, user, &welcome.n_rooms, &infos);
  welcome.rooms = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_WELCOME;
  frame.welcome = &welcome;
  reply (req, &frame);

  if (first)
    {
      g_signal_emit (self, signals[SIGNAL_PRESENCE_CHANGED], 0, user, TRUE);
      if (!g_hash_table_contains (self->online_elsewhere, user))
        natter_hub_send_presence (self, user, TRUE);
    }
}

static void
login_refreshed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) seqs = NULL;

  seqs = natter_store_get_last_seqs_finish (NATTER_STORE (source), result, &error);
  if (seqs == NULL)
    {
      login_failed (req, error);
      return;
    }
  natter_hub_apply_last_seqs (req->hub, seqs);
  complete_login (req, req->user, req->admin, req->token);
}

/* Logs the client in. On a shared store, rooms that no local session reads may be behind
 * the store: their last seq is read first, so that "live from now" means now. */
static void
finish_login (Request *req, const char *user, gboolean admin)
{
  NatterHub *self = req->hub;
  g_autoptr(GPtrArray) rooms = NULL;
  g_autoptr(GPtrArray) names = NULL;

  if (req->user != user)
    {
      g_free (req->user);
      req->user = g_strdup (user);
    }
  req->admin = admin;
  if (!self->shared)
    {
      complete_login (req, req->user, req->admin, req->token);
      return;
    }

  rooms = rooms_of (self, req->user);
  g_ptr_array_add (rooms, self->system);
  names = g_ptr_array_new ();
  for (guint i = 0; i < rooms->len; i++)
    {
      Room *room = g_ptr_array_index (rooms, i);

      if (g_hash_table_size (room->subs) == 0)
        g_ptr_array_add (names, room->name);
    }
  if (names->len == 0)
    {
      complete_login (req, req->user, req->admin, req->token);
      return;
    }
  g_ptr_array_add (names, NULL);
  natter_store_get_last_seqs_async (self->store, (const char * const *) names->pdata, NULL,
                                    login_refreshed_cb, request_ref (req));
}

static void
token_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_create_token_finish (NATTER_STORE (source), result, &error))
    {
      login_failed (req, error);
      return;
    }
  finish_login (req, req->user, req->admin);
}

/* Issues a new session token for @req->user, then welcomes the client. */
static void
issue_token (Request *req)
{
  g_autofree char *hash = NULL;
  gint64 expires = now_ms () + (gint64) req->hub->config->token_ttl_s * 1000;

  req->token = natter_auth_new_token ();
  hash = natter_auth_token_hash (req->token);
  natter_store_create_token_async (req->hub->store, req->user, hash, expires, NULL,
                                   token_created_cb, request_ref (req));
}

static void
login_failed (Request *req, const GError *error)
{
  ClientState *cs = lookup_client (req->hub, req->client);

  if (cs != NULL)
    cs->logging_in = FALSE;
  reply_gerror (req, error);
}

static void
register_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_create_user_finish (NATTER_STORE (source), result, &error))
    {
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_CONFLICT))
        {
          g_clear_error (&error);
          g_set_error (&error, NATTER_ERROR, NATTER_ERROR_CONFLICT,
                       "the user name “%s” is taken", req->user);
        }
      login_failed (req, error);
      return;
    }
  req->admin = FALSE;
  issue_token (req);
}

static void
register_hashed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = natter_auth_hash_password_finish (result, &error);

  if (hash == NULL)
    {
      login_failed (req, error);
      return;
    }
  natter_store_create_user_async (req->hub->store, req->user, hash, 0, NULL,
                                  register_created_cb, request_ref (req));
}

static gboolean
check_password (Request *req, const char *password)
{
  gsize len = password != NULL ? strlen (password) : 0;

  if (len < MIN_PASSWORD_BYTES || len > MAX_PASSWORD_BYTES)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST,
                   "password must be %u to %u bytes long", MIN_PASSWORD_BYTES,
                   MAX_PASSWORD_BYTES);
      return FALSE;
    }
  return TRUE;
}

static void
handle_register (Request *req, ClientState *cs)
{
  Natter__Register *op = req->frame->register_;
  guint retry_after_ms = 0;

  if (!natter_validate_user_name (op->user))
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST,
                   "user name must match [a-z0-9_.-]{1,32}");
      return;
    }
  if (!check_password (req, op->password))
    return;
  if (!natter_buckets_take (req->hub->register_buckets, client_address (cs), &retry_after_ms))
    {
      reply_rate_limited (req, retry_after_ms,
                          "too many new accounts from this address; retry later");
      return;
    }
  if (!password_rate_check (req, cs))
    {
      natter_buckets_give_back (req->hub->register_buckets, client_address (cs));
      return;
    }
  cs->logging_in = TRUE;
  req->user = g_strdup (op->user);
  natter_auth_hash_password_async (op->password, NULL, register_hashed_cb, request_ref (req));
}

static void
login_verified_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_auth_verify_password_finish (result, &error))
    {
      login_failed (req, error);
      return;
    }
  natter_throttle_success (req->hub->login_throttle, req->login_key);
  natter_throttle_forgive (req->hub->address_throttle, req->login_key + strlen (req->user) + 1);
  issue_token (req);
}

static void
login_user_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUserRecord) record = natter_store_get_user_finish (NATTER_STORE (source),
                                                                     result, &error);

  if (record == NULL && !g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
    {
      login_failed (req, error);
      return;
    }
  /* Unknown users are verified against a dummy hash: same answer, same time. */
  req->admin = record != NULL && record->admin;
  natter_auth_verify_password_async (record != NULL ? record->password_hash : NULL,
                                     req->frame->login->password, NULL,
                                     login_verified_cb, request_ref (req));
}

static void
token_user_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUserRecord) record = natter_store_get_user_finish (NATTER_STORE (source),
                                                                     result, &error);

  if (record == NULL)
    {
      g_autoptr(GError) unauthorized = g_error_new (NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED,
                                                    "invalid or expired token");
      login_failed (req, g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND)
                           ? unauthorized : error);
      return;
    }
  finish_login (req, record->name, record->admin);
}

static void
token_lookup_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = natter_store_lookup_token_finish (NATTER_STORE (source), result,
                                                           &error);

  if (user == NULL)
    {
      login_failed (req, error);
      return;
    }
  if (req->user != NULL && !g_str_equal (req->user, user))
    {
      g_autoptr(GError) unauthorized = g_error_new (NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED,
                                                    "invalid or expired token");
      login_failed (req, unauthorized);
      return;
    }
  natter_store_get_user_async (req->hub->store, user, NULL, token_user_cb,
                               request_ref (req));
}

static void
handle_login (Request *req, ClientState *cs)
{
  Natter__Login *op = req->frame->login;
  guint retry_after_ms = 0;
  const char *address;

  if (op->token != NULL && op->password == NULL)
    {
      g_autofree char *hash = NULL;

      if (*op->token == '\0' || strlen (op->token) > 256)
        {
          reply_error (req, NATTER_ERROR_UNAUTHORIZED, "invalid or expired token");
          return;
        }
      if (op->user != NULL && !natter_validate_user_name (op->user))
        {
          reply_error (req, NATTER_ERROR_BAD_REQUEST, "user name must match [a-z0-9_.-]{1,32}");
          return;
        }
      cs->logging_in = TRUE;
      req->user = g_strdup (op->user);
      req->token = g_strdup (op->token);
      hash = natter_auth_token_hash (op->token);
      natter_store_lookup_token_async (req->hub->store, hash, now_ms (), NULL,
                                       token_lookup_cb, request_ref (req));
      return;
    }
  if (op->token != NULL)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "give either a password or a token");
      return;
    }
  if (op->user == NULL || op->password == NULL)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "login needs user and password, or token");
      return;
    }
  if (!natter_validate_user_name (op->user) || strlen (op->password) > MAX_PASSWORD_BYTES)
    {
      reply_error (req, NATTER_ERROR_UNAUTHORIZED, "invalid user name or password");
      return;
    }
  /* Failures count per account and address, so that a stranger's guesses make the
   * stranger wait, not the account's owner; and per address, whatever the accounts, so
   * that guessing across many accounts is slowed too. */
  address = client_address (cs);
  req->login_key = g_strconcat (op->user, "\x1f", address, NULL);
  if (!natter_throttle_check (req->hub->login_throttle, req->login_key, &retry_after_ms))
    {
      reply_rate_limited (req, retry_after_ms,
                          "too many failed logins for this account from this address; "
                          "retry later");
      return;
    }
  if (!natter_throttle_check (req->hub->address_throttle, address, &retry_after_ms))
    {
      reply_rate_limited (req, retry_after_ms,
                          "too many failed logins from this address; retry later");
      return;
    }
  if (!password_rate_check (req, cs))
    return;
  /* Counted as failed until it succeeds, so guesses made in parallel count too. */
  natter_throttle_failure (req->hub->login_throttle, req->login_key);
  natter_throttle_failure (req->hub->address_throttle, address);
  cs->logging_in = TRUE;
  req->user = g_strdup (op->user);
  natter_store_get_user_async (req->hub->store, op->user, NULL, login_user_cb, request_ref (req));
}

/* ---------------------------------------------------------------------------------- */
/* Delivery in seq order */

static void
sub_deliver (NatterHub *self, ClientState *cs, Sub *sub, guint64 seq, NatterEvent *event)
{
  if (sub->catching_up)
    {
      natter_event_ref (event);
      g_queue_push_tail (&sub->held, event);
      g_array_append_val (sub->held_seqs, seq);
      return;
    }
  if (seq <= sub->delivered)
    return;
  if (sub->first_live == 0)
    sub->first_live = seq;
  sub->delivered = seq;
  deliver (self, cs, event);
}

static void
deliver_room_message (NatterHub *self, Room *room, const Natter__Message *message)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  g_autoptr(NatterEvent) event = NULL;
  GHashTableIter iter;
  gpointer cs, sub;

  frame.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
  frame.message = (Natter__Message *) message;
  event = natter_event_new (&frame);

  g_hash_table_iter_init (&iter, room->subs);
  while (g_hash_table_iter_next (&iter, &cs, &sub))
    sub_deliver (self, cs, sub, message->seq, event);
}

static void
room_release (const Natter__Message *message, gpointer user_data)
{
  Room *room = user_data;

  deliver_room_message (room->hub, room, message);
}

/* Delivers messages of @room strictly in seq order. A later seq that arrives before an
 * earlier one (several nodes commit into one room) is held briefly, then the gap is
 * back-filled from the store. */
void
natter_hub_room_committed (NatterHub *self, Room *room, const Natter__Message *message)
{
  natter_seq_order_feed (room->order, message);
}

typedef struct
{
  NatterHub *hub;   /* (owned) */
  char      *room;  /* (owned) */
} GapFill;

static GapFill *
gap_fill_new (NatterHub *self, Room *room)
{
  GapFill *fill = g_new0 (GapFill, 1);

  fill->hub = g_object_ref (self);
  fill->room = g_strdup (room->name);
  return fill;
}

static void
gap_fill_free (GapFill *fill)
{
  g_object_unref (fill->hub);
  g_free (fill->room);
  g_free (fill);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GapFill, gap_fill_free)

static void
gap_fill_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GapFill) fill = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterHistoryResult) page = natter_store_history_finish (NATTER_STORE (source),
                                                                     result, &error);
  NatterHub *self = fill->hub;
  Room *room = g_hash_table_lookup (self->rooms, fill->room);
  guint64 before;

  if (room == NULL)
    return;
  if (page == NULL)
    {
      /* Expected while the database is away: try again a little later. */
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE))
        g_debug ("Could not back-fill room %s: %s", fill->room, error->message);
      else
        g_warning ("Could not back-fill room %s: %s", fill->room, error->message);
      natter_seq_order_fetch_failed (room->order);
      return;
    }

  /* A node that missed many messages (Redis was away) pages until it has them all. */
  before = natter_room_delivered_seq (room);
  natter_seq_order_fetched (room->order, (Natter__Message * const *) page->messages->pdata,
                            page->messages->len);
  self->n_catch_ups += natter_room_delivered_seq (room) - before;
}

static gboolean
room_fetch (guint64 after_seq, gpointer user_data)
{
  Room *room = user_data;
  NatterHistoryQuery query = { 0, };

  query.has_after = TRUE;
  query.after_seq = after_seq;
  query.limit = MAX_PAGE;
  natter_store_history_async (room->hub->store, room->name, &query, NULL, gap_fill_cb,
                              gap_fill_new (room->hub, room));
  return TRUE;
}

/* Fetches what the store has after the room's delivered seq now, without waiting for
 * a held message's gap to fill by itself: the store is known to be ahead. */
void
natter_hub_room_backfill (NatterHub *self, Room *room)
{
  natter_seq_order_catch_up (room->order);
}

/* ---------------------------------------------------------------------------------- */
/* Rooms: access */

static void handle_request (Request *req, ClientState *cs);

static void
room_refreshed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_get_room_finish (NATTER_STORE (source),
                                                                    result, &error);
  ClientState *cs;

  if (record == NULL && !g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
    {
      reply_gerror (req, error);
      return;
    }
  if (record != NULL)
    natter_hub_merge_room (req->hub, record, req->refresh_gen);
  cs = lookup_client (req->hub, req->client);
  if (cs == NULL)
    return;
  /* The handler runs again from the start. */
  g_clear_pointer (&req->user, g_free);
  g_clear_pointer (&req->room, g_free);
  g_clear_pointer (&req->token, g_free);
  handle_request (req, cs);
}

/* Shared store: @name, or @user's membership of it, may come from another node, and this
 * node's copy of a room no local session reads may be behind. Reads the room from the
 * store, then runs the request again, which answers from what the store said. Returns
 * FALSE, doing nothing, on a store of its own or when the request ran again already. */
static gboolean
refresh_and_retry (Request *req, const char *name)
{
  NatterHub *self = req->hub;

  if (!self->shared || req->refreshed)
    return FALSE;
  req->refreshed = TRUE;
  req->refresh_gen = self->membership_gen;
  natter_store_get_room_async (self->store, name, NULL, room_refreshed_cb, request_ref (req));
  return TRUE;
}

/* Whether the store may know @name as a room @user may read: a room name, or a DM
 * of @user. */
static gboolean
may_read_name (const char *name, const char *user)
{
  g_autofree char *a = NULL, *b = NULL;

  if (parse_dm_name (name, &a, &b))
    return g_str_equal (a, user) || g_str_equal (b, user);
  return natter_validate_room_name (name);
}

/* Finds @name for reading by @user: not_found, or forbidden when not a member. Returns
 * NULL when it answered, or when the request runs again once the room was read from
 * the store (in a cluster). */
static Room *
room_for_reading (Request *req, const char *user, const char *name)
{
  Room *room;

  if (name == NULL)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "room is required");
      return NULL;
    }
  room = g_hash_table_lookup (req->hub->rooms, name);
  if ((room == NULL || !room_is_member (room, user)) && may_read_name (name, user) &&
      refresh_and_retry (req, name))
    return NULL;
  if (room == NULL)
    {
      g_autofree char *a = NULL, *b = NULL;

      if (!natter_validate_room_name (name) && !parse_dm_name (name, &a, &b))
        reply_error (req, NATTER_ERROR_BAD_REQUEST, "invalid room name");
      else if (a != NULL && !g_str_equal (a, user) && !g_str_equal (b, user))
        reply_error (req, NATTER_ERROR_FORBIDDEN, "“%s” is a direct conversation of other users",
                     name);
      else
        reply_error (req, NATTER_ERROR_NOT_FOUND, "no room “%s”", name);
      return NULL;
    }
  if (!room_is_member (room, user))
    {
      reply_error (req, NATTER_ERROR_FORBIDDEN, "not a member of “%s”", name);
      return NULL;
    }
  return room;
}

/* ---------------------------------------------------------------------------------- */
/* Join */

static void
hold_or_release (NatterHub *self, ClientState *cs, Sub *sub)
{
  guint n = sub->held_seqs->len;

  sub->catching_up = FALSE;
  for (guint i = 0; i < n; i++)
    {
      NatterEvent *event = g_queue_pop_head (&sub->held);
      guint64 seq = g_array_index (sub->held_seqs, guint64, i);

      sub_deliver (self, cs, sub, seq, event);
      natter_event_unref (event);
    }
  g_array_set_size (sub->held_seqs, 0);
}

static void
send_joined (Request *req, Room *room, gboolean has_more)
{
  NatterHub *self = req->hub;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Joined joined = NATTER__JOINED__INIT;
  g_autoptr(GPtrArray) members = g_ptr_array_new ();
  g_autoptr(GPtrArray) online = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      g_hash_table_iter_init (&iter, room->members);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          g_ptr_array_add (members, key);
          if (natter_hub_user_online (self, key))
            g_ptr_array_add (online, key);
        }
      g_ptr_array_sort (members, compare_strv_items);
      g_ptr_array_sort (online, compare_strv_items);
    }

  joined.room = room->name;
  joined.has_last_seq = TRUE;
  joined.last_seq = natter_room_last_seq (room);
  joined.n_members = members->len;
  joined.members = (char **) members->pdata;
  joined.n_online = online->len;
  joined.online = (char **) online->pdata;
  joined.has_has_more = TRUE;
  joined.has_more = has_more;
  joined.kind = room->kind;
  joined.topic = room->topic;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_JOINED;
  frame.joined = &joined;
  reply (req, &frame);
}

/* Pages through the store, up to 200 messages at a time, from req->since_seq up to
 * req->resume_end. */
static void
resume_fetch (Request *req, Room *room)
{
  NatterHistoryQuery query = { 0, };

  query.has_after = TRUE;
  query.after_seq = req->since_seq;
  query.limit = (guint) MIN (req->resume_end - req->since_seq, MAX_PAGE);
  natter_store_history_async (req->hub->store, room->name, &query, NULL, resume_fetched_cb,
                              request_ref (req));
}

static void
resume_fetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterHistoryResult) page = natter_store_history_finish (NATTER_STORE (source),
                                                                     result, &error);
  NatterHub *self = req->hub;
  ClientState *cs = lookup_client (self, req->client);
  Room *room = g_hash_table_lookup (self->rooms, req->room);
  Sub *sub;

  if (cs == NULL || room == NULL)
    return;
  sub = g_hash_table_lookup (cs->subs, room->name);
  if (sub == NULL)
    return;
  if (page == NULL)
    {
      /* The client has `joined`; it sees the error and pages with history. */
      reply_gerror (req, error);
      hold_or_release (self, cs, sub);
      return;
    }

  for (guint i = 0; i < page->messages->len; i++)
    {
      Natter__Message *message = g_ptr_array_index (page->messages, i);
      Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
      g_autoptr(NatterEvent) event = NULL;

      if (message->seq > req->resume_end)
        break;
      req->since_seq = message->seq;
      /* Skip what this session already got live. */
      if (sub->first_live != 0 && message->seq >= sub->first_live &&
          message->seq <= sub->delivered)
        continue;
      frame.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
      frame.message = message;
      event = natter_event_new (&frame);
      deliver (self, cs, event);
      sub->delivered = MAX (sub->delivered, message->seq);
    }

  if (page->messages->len > 0 && req->since_seq < req->resume_end)
    {
      resume_fetch (req, room);
      return;
    }
  hold_or_release (self, cs, sub);
}

/* Answers `joined` for a member, then replays what came after since_seq, at most
 * resume_cap messages; live messages that arrive meanwhile wait behind the replay. */
static void
join_member (Request *req, ClientState *cs, Room *room)
{
  NatterHub *self = req->hub;
  guint cap = self->config->resume_cap;
  guint64 delivered_seq;
  Sub *sub;

  subscribe (self, cs, room, natter_room_delivered_seq (room));
  sub = g_hash_table_lookup (cs->subs, room->name);
  delivered_seq = natter_room_delivered_seq (room);

  if (!req->has_since || req->since_seq >= delivered_seq || sub->catching_up)
    {
      /* Nothing to catch up (or a resume is already running): positions past the end
       * mean the client is ahead of us; never repeat what it has. */
      if (req->has_since && sub->first_live == 0)
        sub->delivered = MAX (sub->delivered, MIN (req->since_seq, delivered_seq));
      send_joined (req, room, FALSE);
      return;
    }

  /* Seqs are gapless, so the size of the backlog is known before reading it. */
  send_joined (req, room, delivered_seq - req->since_seq > cap);
  if (sub->first_live == 0)
    sub->delivered = req->since_seq;
  sub->catching_up = TRUE;
  g_free (req->room);
  req->room = g_strdup (room->name);
  req->resume_end = MIN (delivered_seq, req->since_seq + cap);
  resume_fetch (req, room);
}

void
natter_hub_send_member_event (NatterHub *self, Room *room, const char *user, gboolean joined)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Member member = NATTER__MEMBER__INIT;
  g_autoptr(NatterEvent) event = NULL;

  member.room = room->name;
  member.user = (char *) user;
  member.has_joined = TRUE;
  member.joined = joined;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MEMBER;
  frame.member = &member;
  event = natter_event_new (&frame);
  natter_hub_deliver_to_room (self, room, event, NULL);
}

static void
join_member_added_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  NatterHub *self = req->hub;
  ClientState *cs;
  Room *room;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    {
      reply_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (self->rooms, req->room);
  cs = lookup_client (self, req->client);
  if (room == NULL || cs == NULL)
    return;
  if (!room_is_member (room, cs->user))
    {
      natter_hub_add_member (self, room, cs->user, 0);
      /* The account's other sessions see the room from its start. */
      natter_hub_subscribe_user (self, cs->user, room, 0);
      natter_hub_send_member_event (self, room, cs->user, TRUE);
      g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, room->name, cs->user, TRUE);
    }
  join_member (req, cs, room);
}

/* A room was created for req->user: make them a member, then continue with req->then. */
static void
room_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_create_room_finish (NATTER_STORE (source),
                                                                       result, &error);

  if (record == NULL)
    {
      reply_gerror (req, error);
      return;
    }
  natter_hub_add_room (req->hub, record->name, record->kind, record->topic, record->last_seq);
  natter_store_add_member_async (req->hub->store, record->name, req->user, NULL, req->then,
                                 request_ref (req));
}

/* Rooms joined by choice: DMs that others start are not the account's doing. */
static guint
count_public_rooms (GHashTable *rooms)
{
  GHashTableIter iter;
  gpointer key;
  guint n = 0;

  g_hash_table_iter_init (&iter, rooms);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (g_str_equal (((Room *) key)->kind, NATTER_ROOM_KIND_ROOM))
      n++;
  return n;
}

static void
handle_join (Request *req, ClientState *cs)
{
  NatterHub *self = req->hub;
  Natter__Join *op = req->frame->join;
  Room *room;
  GHashTable *mine;
  g_autofree char *a = NULL, *b = NULL;
  guint retry_after_ms = 0;

  if (op->room == NULL)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "join.room is required");
      return;
    }
  req->has_since = op->has_since_seq;
  req->since_seq = op->since_seq;

  room = g_hash_table_lookup (self->rooms, op->room);
  /* A cluster reads what the store knows first, unless a local session reads the room
   * already (then this node is up to date with it). */
  if ((room == NULL || !room_is_member (room, cs->user) || g_hash_table_size (room->subs) == 0) &&
      may_read_name (op->room, cs->user) && refresh_and_retry (req, op->room))
    return;
  if (room != NULL && room_is_member (room, cs->user))
    {
      join_member (req, cs, room);
      return;
    }
  if (parse_dm_name (op->room, &a, &b))
    {
      if (!g_str_equal (a, cs->user) && !g_str_equal (b, cs->user))
        reply_error (req, NATTER_ERROR_FORBIDDEN, "“%s” is a direct conversation of other users",
                     op->room);
      else if (room == NULL)
        reply_error (req, NATTER_ERROR_NOT_FOUND,
                     "no conversation “%s” yet: send a message with “to” to start it", op->room);
      else
        {
          /* Rejoining one's own DM after leaving it. */
          req->user = g_strdup (cs->user);
          req->room = g_strdup (room->name);
          natter_store_add_member_async (self->store, room->name, cs->user, NULL,
                                         join_member_added_cb, request_ref (req));
        }
      return;
    }
  if (!natter_validate_room_name (op->room))
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "room name must match [a-z0-9_.-]{1,64}");
      return;
    }
  mine = user_rooms (self, cs->user, FALSE);
  if (mine != NULL && count_public_rooms (mine) >= self->config->max_rooms_per_user)
    {
      reply_error (req, NATTER_ERROR_FORBIDDEN, "room limit reached (%u rooms)",
                   self->config->max_rooms_per_user);
      return;
    }
  if (room != NULL && g_hash_table_size (room->members) >= self->config->max_members_per_room)
    {
      reply_error (req, NATTER_ERROR_FORBIDDEN, "“%s” is full", op->room);
      return;
    }

  if (room == NULL && !natter_buckets_take (self->room_buckets, cs->user, &retry_after_ms))
    {
      reply_rate_limited (req, retry_after_ms, "too many new rooms; retry later");
      return;
    }

  req->user = g_strdup (cs->user);
  req->room = g_strdup (op->room);
  if (room == NULL)
    {
      req->then = join_member_added_cb;
      natter_store_create_room_async (self->store, op->room, NATTER_ROOM_KIND_ROOM, NULL, NULL,
                                      room_created_cb, request_ref (req));
    }
  else
    natter_store_add_member_async (self->store, room->name, cs->user, NULL,
                                   join_member_added_cb, request_ref (req));
}

/* ---------------------------------------------------------------------------------- */
/* Leave */

static void
leave_removed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  NatterHub *self = req->hub;
  Room *room;

  if (!natter_store_remove_member_finish (NATTER_STORE (source), result, &error))
    {
      reply_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (self->rooms, req->room);
  if (room != NULL && g_hash_table_contains (room->members, req->user))
    {
      /* The account's own sessions (a browser, the D-Bus service) learn it too. */
      natter_hub_remove_member (self, room, req->user);
      g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, room->name, req->user, FALSE);
    }
  reply_ok (req);
}

static void
handle_leave (Request *req, ClientState *cs)
{
  Room *room = room_for_reading (req, cs->user, req->frame->leave->room);

  if (room == NULL)
    return;
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      reply_error (req, NATTER_ERROR_FORBIDDEN, "nobody can leave the system room");
      return;
    }
  req->user = g_strdup (cs->user);
  req->room = g_strdup (room->name);
  natter_store_remove_member_async (req->hub->store, room->name, cs->user, NULL,
                                    leave_removed_cb, request_ref (req));
}

/* ---------------------------------------------------------------------------------- */
/* Send and broadcast */

static void
send_appended_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterAppendResult) appended = natter_store_append_message_finish (NATTER_STORE (source),
                                                                              result, &error);
  NatterHub *self = req->hub;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Sent sent = NATTER__SENT__INIT;
  Natter__Message *message;
  Room *room;

  if (appended == NULL)
    {
      reply_gerror (req, error);
      return;
    }
  message = appended->message;

  /* Durable now: acknowledge, then fan out. */
  sent.room = message->room;
  sent.has_seq = TRUE;
  sent.seq = message->seq;
  sent.has_ts = TRUE;
  sent.ts = message->ts;
  sent.client_msg_id = message->client_msg_id;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_SENT;
  frame.sent = &sent;
  reply (req, &frame);

  room = g_hash_table_lookup (self->rooms, message->room);
  if (room != NULL && !appended->duplicate)
    {
      self->n_messages++;
      if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
        natter_hub_room_set_read_seq (room, message->sender, message->seq);
      natter_hub_room_committed (self, room, message);
      g_signal_emit (self, signals[SIGNAL_MESSAGE_COMMITTED], 0, message);
    }
}

static void
append (Request *req, Room *room, const char *body, const char *client_msg_id,
        const char *kind)
{
  natter_store_append_message_async (req->hub->store, room->name, req->user, body,
                                     client_msg_id, kind, now_ms (), NULL, send_appended_cb,
                                     request_ref (req));
}

static void
dm_member_added_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  NatterHub *self = req->hub;
  Room *room;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    {
      reply_gerror (req, error);
      return;
    }
  room = g_hash_table_lookup (self->rooms, req->room);
  if (room == NULL)
    return;
  /* Both parties' sessions see the conversation from its first message. */
  if (!room_is_member (room, req->user))
    {
      natter_hub_add_member (self, room, req->user, 0);
      natter_hub_subscribe_user (self, req->user, room, 0);
      g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, room->name, req->user, TRUE);
    }
  if (!room_is_member (room, req->token))
    {
      natter_hub_add_member (self, room, req->token, 0);
      natter_hub_subscribe_user (self, req->token, room, 0);
      g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, room->name, req->token, TRUE);
    }
  append (req, room, req->frame->send->body,
          req->frame->send->client_msg_id, NATTER_MESSAGE_KIND_TEXT);
}

static void
dm_first_member_added_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    {
      reply_gerror (req, error);
      return;
    }
  /* req->token holds the other party's name during DM set-up. */
  natter_store_add_member_async (req->hub->store, req->room, req->token, NULL,
                                 dm_member_added_cb, request_ref (req));
}

static void
dm_peer_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUserRecord) peer = natter_store_get_user_finish (NATTER_STORE (source),
                                                                   result, &error);

  if (peer == NULL)
    {
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
        reply_error (req, NATTER_ERROR_NOT_FOUND, "no user “%s”", req->token);
      else
        reply_gerror (req, error);
      return;
    }
  req->then = dm_first_member_added_cb;
  natter_store_create_room_async (req->hub->store, req->room, NATTER_ROOM_KIND_DM, NULL, NULL,
                                  room_created_cb, request_ref (req));
}

static gboolean
check_body (Request *req, const char *body)
{
  gsize len = body != NULL ? strlen (body) : 0;

  if (len == 0)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "body is required");
      return FALSE;
    }
  if (len > req->hub->config->max_body_bytes)
    {
      reply_error (req, NATTER_ERROR_TOO_LARGE, "body is %" G_GSIZE_FORMAT " bytes; the limit is %u",
                   len, req->hub->config->max_body_bytes);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_client_msg_id (Request *req, const char *id, gboolean required)
{
  gsize len = id != NULL ? strlen (id) : 0;

  if ((required && len == 0) || len > MAX_CLIENT_MSG_ID || (id != NULL && len == 0))
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "client_msg_id must be 1 to %u characters",
                   MAX_CLIENT_MSG_ID);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_rate (Request *req, ClientState *cs)
{
  guint retry_after_ms = 0;

  if (rate_check (req->hub, cs, &retry_after_ms))
    return TRUE;
  send_error (req->hub, req->client, req->has_id, req->id, NATTER_ERROR_RATE_LIMITED,
              "sending too fast; retry later", retry_after_ms);
  return FALSE;
}

static void
handle_send (Request *req, ClientState *cs)
{
  NatterHub *self = req->hub;
  Natter__Send *op = req->frame->send;
  Room *room;

  if ((op->room == NULL) == (op->to == NULL))
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "send needs exactly one of room or to");
      return;
    }
  if (!check_body (req, op->body) || !check_client_msg_id (req, op->client_msg_id, TRUE))
    return;

  if (op->to != NULL)
    {
      g_autofree char *name = NULL;

      if (!natter_validate_user_name (op->to))
        {
          reply_error (req, NATTER_ERROR_BAD_REQUEST, "user name must match [a-z0-9_.-]{1,32}");
          return;
        }
      if (g_str_equal (op->to, cs->user))
        {
          reply_error (req, NATTER_ERROR_BAD_REQUEST, "cannot send a direct message to yourself");
          return;
        }
      name = natter_dm_room_name (cs->user, op->to);
      room = g_hash_table_lookup (self->rooms, name);
      if (room != NULL && g_hash_table_size (room->subs) == 0 && refresh_and_retry (req, name))
        return;
      if (!check_rate (req, cs))
        return;
      req->user = g_strdup (cs->user);
      if (room != NULL && room_is_member (room, cs->user) && room_is_member (room, op->to))
        {
          append (req, room, op->body, op->client_msg_id, NATTER_MESSAGE_KIND_TEXT);
          return;
        }
      req->room = g_steal_pointer (&name);
      req->token = g_strdup (op->to);
      if (room != NULL)
        natter_store_add_member_async (self->store, req->room, req->user, NULL,
                                       dm_first_member_added_cb, request_ref (req));
      else
        natter_store_get_user_async (self->store, op->to, NULL, dm_peer_cb, request_ref (req));
      return;
    }

  room = room_for_reading (req, cs->user, op->room);
  if (room == NULL)
    return;
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      reply_error (req, NATTER_ERROR_FORBIDDEN, "only broadcasts go to the system room");
      return;
    }
  if (!check_rate (req, cs))
    return;
  req->user = g_strdup (cs->user);
  append (req, room, op->body, op->client_msg_id, NATTER_MESSAGE_KIND_TEXT);
}

static void
handle_broadcast (Request *req, ClientState *cs)
{
  Natter__Broadcast *op = req->frame->broadcast;
  g_autofree char *generated = NULL;

  if (!cs->admin)
    {
      reply_error (req, NATTER_ERROR_FORBIDDEN, "only administrators may broadcast");
      return;
    }
  if (!check_body (req, op->body) || !check_client_msg_id (req, op->client_msg_id, FALSE))
    return;
  if (op->client_msg_id == NULL)
    {
      g_autofree char *token = natter_auth_new_token ();
      generated = g_strdup_printf ("b-%.32s", token);
    }
  req->user = g_strdup (cs->user);
  append (req, req->hub->system, op->body,
          op->client_msg_id != NULL ? op->client_msg_id : generated,
          NATTER_MESSAGE_KIND_BROADCAST);
}

/* ---------------------------------------------------------------------------------- */
/* History, rooms, read, typing, search */

static void
history_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterHistoryResult) page = natter_store_history_finish (NATTER_STORE (source),
                                                                     result, &error);
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__HistoryPage history = NATTER__HISTORY_PAGE__INIT;

  if (page == NULL)
    {
      reply_gerror (req, error);
      return;
    }
  history.room = req->room;
  history.n_messages = page->messages->len;
  history.messages = (Natter__Message **) page->messages->pdata;
  history.has_has_more = TRUE;
  history.has_more = page->has_more;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_HISTORY;
  frame.history = &history;
  reply (req, &frame);
}

static void
handle_history (Request *req, ClientState *cs)
{
  Natter__History *op = req->frame->history;
  NatterHistoryQuery query = { 0, };
  Room *room;

  if (op->has_limit && (op->limit == 0 || op->limit > req->hub->config->history_max))
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "history.limit must be 1 to %u",
                   req->hub->config->history_max);
      return;
    }
  if (op->has_before_seq && op->has_after_seq && op->before_seq <= op->after_seq + 1)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "history: before_seq must be above after_seq");
      return;
    }
  room = room_for_reading (req, cs->user, op->room);
  if (room == NULL)
    return;
  query.has_before = op->has_before_seq;
  query.before_seq = op->before_seq;
  query.has_after = op->has_after_seq;
  query.after_seq = op->after_seq;
  query.limit = op->has_limit ? op->limit : DEFAULT_HISTORY_LIMIT;
  req->room = g_strdup (room->name);
  natter_store_history_async (req->hub->store, room->name, &query, NULL, history_cb,
                              request_ref (req));
}

static void
handle_rooms (Request *req, ClientState *cs)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__RoomList list = NATTER__ROOM_LIST__INIT;
  g_autofree Natter__RoomInfo *infos = NULL;
  g_autofree Natter__RoomInfo **ptrs = NULL;

  ptrs = room_infos (req->hub, cs->user, &list.n_rooms, &infos);
  list.rooms = ptrs;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_ROOM_LIST;
  frame.room_list = &list;
  reply (req, &frame);
}

static void
read_stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_set_read_finish (NATTER_STORE (source), result, &error))
    {
      reply_gerror (req, error);
      return;
    }
  reply_ok (req);
}

static void
read_member_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    {
      reply_gerror (req, error);
      return;
    }
  natter_store_set_read_async (req->hub->store, req->room, req->user, req->since_seq, NULL,
                               read_stored_cb, request_ref (req));
}

static void
handle_read (Request *req, ClientState *cs)
{
  NatterHub *self = req->hub;
  Natter__Read *op = req->frame->read;
  Room *room = room_for_reading (req, cs->user, op->room);
  gboolean had_marker;

  if (room == NULL)
    return;
  if (op->has_seq && op->seq > natter_room_last_seq (room) && refresh_and_retry (req, room->name))
    return;
  if (!op->has_seq || op->seq > natter_room_last_seq (room))
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "read.seq must be a seq of the room (1 to %"
                   G_GUINT64_FORMAT ")", natter_room_last_seq (room));
      return;
    }
  if (!event_rate_check (req, cs))
    return;
  had_marker = g_hash_table_contains (room->members, cs->user);
  if (had_marker && op->seq <= room_read_seq (room, cs->user))
    {
      /* Markers only move forward: one that would not move is neither written nor
       * announced, so repeating it costs the room nothing. */
      reply_ok (req);
      return;
    }
  natter_hub_room_set_read_seq (room, cs->user, op->seq);
  req->user = g_strdup (cs->user);
  req->room = g_strdup (room->name);
  req->since_seq = op->seq;

  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
      Natter__Receipt receipt = NATTER__RECEIPT__INIT;
      g_autoptr(NatterEvent) event = NULL;

      receipt.room = room->name;
      receipt.user = cs->user;
      receipt.has_seq = TRUE;
      receipt.seq = room_read_seq (room, cs->user);
      frame.event_case = NATTER__SERVER_FRAME__EVENT_RECEIPT;
      frame.receipt = &receipt;
      event = natter_event_new (&frame);
      natter_hub_deliver_to_room (self, room, event, cs);
      g_signal_emit (self, signals[SIGNAL_ROOM_EVENT], 0, room->name, &frame);
    }

  /* The system room has no membership rows until someone keeps a marker in it. */
  if (!had_marker && g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    natter_store_add_member_async (self->store, room->name, cs->user, NULL, read_member_cb,
                                   request_ref (req));
  else
    natter_store_set_read_async (self->store, room->name, cs->user, op->seq, NULL,
                                 read_stored_cb, request_ref (req));
}

static void
handle_typing (Request *req, ClientState *cs)
{
  Natter__Typing *op = req->frame->typing;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Typing typing = NATTER__TYPING__INIT;
  g_autoptr(NatterEvent) event = NULL;
  Room *room = room_for_reading (req, cs->user, op->room);

  if (room == NULL)
    return;
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM))
    {
      reply_error (req, NATTER_ERROR_FORBIDDEN, "nobody types in the system room");
      return;
    }
  if (!event_rate_check (req, cs))
    return;
  typing.room = room->name;
  typing.user = cs->user;
  typing.has_active = TRUE;
  typing.active = op->has_active ? op->active : TRUE;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_TYPING;
  frame.typing = &typing;
  event = natter_event_new (&frame);
  natter_hub_deliver_to_room (req->hub, room, event, cs);
  g_signal_emit (req->hub, signals[SIGNAL_ROOM_EVENT], 0, room->name, &frame);
  /* Typing has no reply on success. */
}

static void
search_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
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
  results.n_messages = messages->len;
  results.messages = (Natter__Message **) messages->pdata;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_SEARCH_RESULTS;
  frame.search_results = &results;
  reply (req, &frame);
}

static void
handle_search (Request *req, ClientState *cs)
{
  Natter__Search *op = req->frame->search;
  guint limit = op->has_limit ? op->limit : DEFAULT_SEARCH_LIMIT;

  if (op->query == NULL || g_utf8_strlen (op->query, -1) == 0 ||
      g_utf8_strlen (op->query, -1) > MAX_QUERY_CHARS)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "search.query must be 1 to %u characters",
                   MAX_QUERY_CHARS);
      return;
    }
  if (limit == 0 || limit > req->hub->config->search_max)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "search.limit must be 1 to %u",
                   req->hub->config->search_max);
      return;
    }
  if (op->room != NULL && room_for_reading (req, cs->user, op->room) == NULL)
    return;
  natter_store_search_async (req->hub->store, cs->user, op->query, op->room, limit, NULL,
                             search_cb, request_ref (req));
}

/* ---------------------------------------------------------------------------------- */
/* Dispatch */

static gboolean
is_barrier (const Natter__ClientFrame *frame)
{
  switch ((int) frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_SEND:
    case NATTER__CLIENT_FRAME__OP_READ:
    case NATTER__CLIENT_FRAME__OP_TYPING:
      return FALSE;
    default:
      return TRUE;
    }
}

static void start_request (NatterHub *self, ClientState *cs, Natter__ClientFrame *frame);

/* Starts the waiting requests of @cs that may run now. */
static void
pump (NatterHub *self, ClientState *cs)
{
  g_autoptr(NatterClient) client = NULL;

  if (cs->pumping)
    return;
  cs->pumping = TRUE;
  client = g_object_ref (cs->client);
  while (!g_queue_is_empty (&cs->waiting))
    {
      Natter__ClientFrame *frame = g_queue_peek_head (&cs->waiting);

      if (cs->barrier || (is_barrier (frame) && cs->running > 0))
        break;
      g_queue_pop_head (&cs->waiting);
      start_request (self, cs, frame);
      /* The request may have ended the client. */
      if (lookup_client (self, client) != cs)
        return;
    }
  cs->pumping = FALSE;
}

/**
 * natter_hub_dispatch:
 * @self: a #NatterHub
 * @client: the client the request came from (added with natter_hub_add_client())
 * @frame: (transfer full): the decoded request
 *
 * Handles one request. The reply, and any events it causes, reach @client through
 * natter_client_deliver(), possibly before this function returns.
 */
void
natter_hub_dispatch (NatterHub           *self,
                     NatterClient        *client,
                     Natter__ClientFrame *frame)
{
  ClientState *cs;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (frame != NULL);

  cs = lookup_client (self, client);
  if (cs == NULL)
    {
      natter_client_frame_free (frame);
      g_return_if_reached ();
    }
  if (g_queue_get_length (&cs->waiting) >= MAX_WAITING_FRAMES)
    {
      send_error (self, client, frame->has_id, frame->id, NATTER_ERROR_RATE_LIMITED,
                  "too many requests waiting; wait for replies", 100);
      natter_client_frame_free (frame);
      return;
    }
  g_queue_push_tail (&cs->waiting, frame);
  pump (self, cs);
}

/* Runs a logged-in client's request (again, after a cluster refresh). */
static void
handle_request (Request     *req,
                ClientState *cs)
{
  switch ((int) req->frame->op_case)
    {
    case NATTER__CLIENT_FRAME__OP_JOIN:
      handle_join (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_LEAVE:
      handle_leave (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_SEND:
      handle_send (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_BROADCAST:
      handle_broadcast (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_HISTORY:
      handle_history (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_ROOMS:
      handle_rooms (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_READ:
      handle_read (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_TYPING:
      handle_typing (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_SEARCH:
      handle_search (req, cs);
      break;
    case NATTER__CLIENT_FRAME__OP_REGISTER:
    case NATTER__CLIENT_FRAME__OP_LOGIN:
    case NATTER__CLIENT_FRAME__OP__NOT_SET:
    default:
      g_assert_not_reached ();
    }
}

static void
start_request (NatterHub           *self,
               ClientState         *cs,
               Natter__ClientFrame *frame)
{
  NatterClient *client = cs->client;
  Request *req;

  self->n_requests++;
  self->in_flight++;
  req = g_new0 (Request, 1);
  req->ref_count = 1;
  req->hub = g_object_ref (self);
  req->client = g_object_ref (client);
  req->frame = frame;
  req->has_id = frame->has_id;
  req->id = frame->id;
  req->barrier = is_barrier (frame);
  cs->running++;
  cs->barrier = req->barrier;

  if (self->draining || !self->started)
    {
      reply_error (req, NATTER_ERROR_UNAVAILABLE, "the server is shutting down");
      request_unref (req);
      return;
    }

  if (frame->op_case == NATTER__CLIENT_FRAME__OP__NOT_SET)
    {
      reply_error (req, NATTER_ERROR_BAD_REQUEST, "missing operation");
      request_unref (req);
      return;
    }

  if (frame->op_case == NATTER__CLIENT_FRAME__OP_REGISTER ||
      frame->op_case == NATTER__CLIENT_FRAME__OP_LOGIN)
    {
      if (cs->user != NULL || cs->logging_in)
        reply_error (req, NATTER_ERROR_CONFLICT, "already logged in");
      else if (frame->op_case == NATTER__CLIENT_FRAME__OP_REGISTER)
        handle_register (req, cs);
      else
        handle_login (req, cs);
      /* Asynchronous handlers hold their own reference. */
      request_unref (req);
      return;
    }

  if (cs->user == NULL)
    {
      reply_error (req, NATTER_ERROR_UNAUTHORIZED, "log in first");
      request_unref (req);
      return;
    }

  handle_request (req, cs);
  request_unref (req);
}

/* ---------------------------------------------------------------------------------- */
/* Clients */

/**
 * natter_hub_add_client:
 *
 * Starts tracking @client; it may send requests with natter_hub_dispatch() from now on.
 */
void
natter_hub_add_client (NatterHub    *self,
                       NatterClient *client)
{
  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (NATTER_IS_CLIENT (client));
  g_return_if_fail (lookup_client (self, client) == NULL);

  g_hash_table_insert (self->clients, client, client_state_new (client));
}

/**
 * natter_hub_remove_client:
 *
 * Forgets @client: no more events reach it, and requests in flight are answered into
 * the void. Other members see it go offline when it was the account's last session.
 */
void
natter_hub_remove_client (NatterHub    *self,
                          NatterClient *client)
{
  ClientState *cs;
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (NATTER_IS_HUB (self));

  cs = lookup_client (self, client);
  if (cs == NULL)
    return;

  g_hash_table_iter_init (&iter, cs->subs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    room_drop_sub (self, ((Sub *) value)->room, cs);

  if (cs->user != NULL)
    {
      g_autofree char *user = g_strdup (cs->user);
      GPtrArray *sessions = g_hash_table_lookup (self->online, user);

      if (sessions != NULL && g_ptr_array_remove_fast (sessions, cs) && sessions->len == 0)
        {
          g_hash_table_remove (self->online, user);
          g_hash_table_steal (self->clients, client);
          g_signal_emit (self, signals[SIGNAL_PRESENCE_CHANGED], 0, user, FALSE);
          if (!g_hash_table_contains (self->online_elsewhere, user))
            natter_hub_send_presence (self, user, FALSE);
          client_state_free (cs);
          return;
        }
    }
  g_hash_table_remove (self->clients, client);
}

/**
 * natter_hub_attach_local:
 *
 * Logs @client in as @user without credentials. Only for front ends that authenticate
 * callers themselves (the D-Bus service acts for the local owner account). The welcome
 * frame is delivered like any reply, without an id.
 */
void
natter_hub_attach_local (NatterHub    *self,
                         NatterClient *client,
                         const char   *user,
                         gboolean      admin)
{
  ClientState *cs;
  Request *req;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (self->started);

  cs = lookup_client (self, client);
  g_return_if_fail (cs != NULL && cs->user == NULL);

  self->in_flight++;
  req = g_new0 (Request, 1);
  req->ref_count = 1;
  req->hub = g_object_ref (self);
  req->client = g_object_ref (client);
  finish_login (req, user, admin);
  request_unref (req);
}

/* ---------------------------------------------------------------------------------- */
/* Accounts */

typedef struct
{
  char     *user;   /* (owned) */
  NatterAccountFlags flags;
} CreateUser;

static void
create_user_free (CreateUser *data)
{
  g_free (data->user);
  g_free (data);
}

static void
create_user_stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!natter_store_create_user_finish (NATTER_STORE (source), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
create_user_hashed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterHub *self = g_task_get_source_object (task);
  CreateUser *data = g_task_get_task_data (task);
  GError *error = NULL;
  g_autofree char *hash = natter_auth_hash_password_finish (result, &error);
  GCancellable *cancellable;

  if (hash == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  cancellable = g_task_get_cancellable (task);
  natter_store_create_user_async (self->store, data->user, hash, data->flags, cancellable,
                                  create_user_stored_cb, g_steal_pointer (&task));
}

/**
 * natter_hub_create_user_async:
 *
 * Creates an account, hashing @password off the main loop.
 */
void
natter_hub_create_user_async (NatterHub           *self,
                              const char          *user,
                              const char          *password,
                              NatterAccountFlags   flags,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  CreateUser *data;

  g_return_if_fail (NATTER_IS_HUB (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_hub_create_user_async);
  if (!natter_validate_user_name (user))
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                               "user name must match [a-z0-9_.-]{1,32}");
      return;
    }
  if (password == NULL || strlen (password) < MIN_PASSWORD_BYTES ||
      strlen (password) > MAX_PASSWORD_BYTES)
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                               "password must be %u to %u bytes long", MIN_PASSWORD_BYTES,
                               MAX_PASSWORD_BYTES);
      return;
    }
  data = g_new0 (CreateUser, 1);
  data->user = g_strdup (user);
  data->flags = flags;
  g_task_set_task_data (task, data, (GDestroyNotify) create_user_free);
  natter_auth_hash_password_async (password, cancellable, create_user_hashed_cb,
                                   g_steal_pointer (&task));
}

gboolean
natter_hub_create_user_finish (NatterHub     *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------------------------- */
/* Start, drain, metrics */

static void
system_room_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterHub *self = g_task_get_source_object (task);
  GError *error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_create_room_finish (NATTER_STORE (source),
                                                                       result, &error);

  if (record == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  natter_hub_add_room (self, record->name, NATTER_ROOM_KIND_SYSTEM, record->topic,
                       record->last_seq);
  self->started = TRUE;
  g_task_return_boolean (task, TRUE);
}

static void
load_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterHub *self = g_task_get_source_object (task);
  GError *error = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = natter_store_load_finish (NATTER_STORE (source),
                                                                      result, &error);
  GCancellable *cancellable;

  if (snapshot == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  for (guint i = 0; i < snapshot->rooms->len; i++)
    {
      NatterRoomRecord *record = g_ptr_array_index (snapshot->rooms, i);
      Room *room = natter_hub_add_room (self, record->name, record->kind, record->topic,
                                        record->last_seq);

      for (guint j = 0; j < record->members->len; j++)
        {
          NatterMemberRecord *member = g_ptr_array_index (record->members, j);
          natter_hub_add_member (self, room, member->user, member->read_seq);
        }
    }
  g_debug ("Loaded %u rooms", snapshot->rooms->len);
  cancellable = g_task_get_cancellable (task);
  natter_store_create_room_async (self->store, NATTER_SYSTEM_ROOM, NATTER_ROOM_KIND_SYSTEM,
                                  NULL, cancellable, system_room_cb, g_steal_pointer (&task));
}

/**
 * natter_hub_start_async:
 *
 * Loads rooms and memberships from the store and makes sure the `system` room exists.
 * Requests are refused with `unavailable` until this completes.
 */
void
natter_hub_start_async (NatterHub           *self,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_HUB (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_hub_start_async);
  natter_store_load_async (self->store, cancellable, load_cb, task);
}

gboolean
natter_hub_start_finish (NatterHub     *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_hub_drain_async:
 *
 * From now on new requests get `unavailable`; completes when every request in flight has
 * been answered (sends committed and acknowledged).
 */
void
natter_hub_drain_async (NatterHub           *self,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (self->drain_task == NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_hub_drain_async);
  self->draining = TRUE;
  if (self->in_flight == 0)
    g_task_return_boolean (task, TRUE);
  else
    self->drain_task = g_steal_pointer (&task);
}

gboolean
natter_hub_drain_finish (NatterHub     *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_hub_append_metrics:
 * @out: where to append Prometheus text-format metrics
 */
void
natter_hub_append_metrics (NatterHub *self,
                           GString   *out)
{
  g_return_if_fail (NATTER_IS_HUB (self));

  g_string_append_printf (out,
                          "# HELP natter_clients Connected clients (sessions and local front ends).\n"
                          "# TYPE natter_clients gauge\n"
                          "natter_clients %u\n"
                          "# HELP natter_users_online Accounts with at least one session.\n"
                          "# TYPE natter_users_online gauge\n"
                          "natter_users_online %u\n"
                          "# HELP natter_rooms Rooms known to this node.\n"
                          "# TYPE natter_rooms gauge\n"
                          "natter_rooms %u\n"
                          "# HELP natter_requests_total Requests handled.\n"
                          "# TYPE natter_requests_total counter\n"
                          "natter_requests_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_messages_total Messages committed through this node.\n"
                          "# TYPE natter_messages_total counter\n"
                          "natter_messages_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_deliveries_total Frames handed to clients.\n"
                          "# TYPE natter_deliveries_total counter\n"
                          "natter_deliveries_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_errors_total Error replies by code.\n"
                          "# TYPE natter_errors_total counter\n",
                          g_hash_table_size (self->clients),
                          g_hash_table_size (self->online),
                          g_hash_table_size (self->rooms),
                          self->n_requests, self->n_messages, self->n_deliveries);
  for (guint i = 0; i < NATTER_ERROR_N_CODES; i++)
    g_string_append_printf (out, "natter_errors_total{code=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            natter_error_code_to_string (i), self->n_errors[i]);
  if (self->shared)
    natter_hub_append_shared_metrics (self, out);
  natter_store_append_metrics (self->store, out);
}

NatterStore *
natter_hub_get_store (NatterHub *self)
{
  g_return_val_if_fail (NATTER_IS_HUB (self), NULL);
  return self->store;
}

const NatterConfig *
natter_hub_get_config (NatterHub *self)
{
  g_return_val_if_fail (NATTER_IS_HUB (self), NULL);
  return self->config;
}

/* ---------------------------------------------------------------------------------- */

static void
natter_hub_finalize (GObject *object)
{
  NatterHub *self = NATTER_HUB (object);

  g_clear_pointer (&self->online_elsewhere, g_hash_table_unref);
  g_clear_pointer (&self->clients, g_hash_table_unref);
  g_clear_pointer (&self->online, g_hash_table_unref);
  g_clear_pointer (&self->user_rooms, g_hash_table_unref);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->user_buckets, natter_buckets_free);
  g_clear_pointer (&self->login_throttle, natter_throttle_free);
  g_clear_pointer (&self->address_throttle, natter_throttle_free);
  g_clear_pointer (&self->password_buckets, natter_buckets_free);
  g_clear_pointer (&self->register_buckets, natter_buckets_free);
  g_clear_pointer (&self->room_buckets, natter_buckets_free);
  g_clear_object (&self->drain_task);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (natter_hub_parent_class)->finalize (object);
}

/* ---------------------------------------------------------------------------------- */
/* The backend of front ends */

static void
natter_hub_backend_add_client (NatterBackend *backend,
                               NatterClient  *client)
{
  natter_hub_add_client (NATTER_HUB (backend), client);
}

static void
natter_hub_backend_remove_client (NatterBackend *backend,
                                  NatterClient  *client)
{
  natter_hub_remove_client (NATTER_HUB (backend), client);
}

static void
natter_hub_backend_dispatch (NatterBackend       *backend,
                             NatterClient        *client,
                             Natter__ClientFrame *frame)
{
  natter_hub_dispatch (NATTER_HUB (backend), client, frame);
}

static void
natter_hub_backend_reply_error (NatterBackend *backend,
                                NatterClient  *client,
                                guint64        request_id,
                                gboolean       has_request_id,
                                const GError  *error)
{
  natter_hub_reply_error (NATTER_HUB (backend), client, request_id, has_request_id, error);
}

/* Local front ends (D-Bus) act as the owner account, an administrator. */
static void
natter_hub_backend_attach_local (NatterBackend *backend,
                                 NatterClient  *client)
{
  NatterHub *self = NATTER_HUB (backend);

  natter_hub_add_client (self, client);
  natter_hub_attach_local (self, client, self->config->owner, TRUE);
}

static void
natter_hub_backend_init (NatterBackendInterface *iface)
{
  iface->add_client = natter_hub_backend_add_client;
  iface->remove_client = natter_hub_backend_remove_client;
  iface->dispatch = natter_hub_backend_dispatch;
  iface->reply_error = natter_hub_backend_reply_error;
  iface->attach_local = natter_hub_backend_attach_local;
}

static void
natter_hub_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  NatterHub *self = NATTER_HUB (object);

  switch (prop_id - PROP_BACKEND_FIRST)
    {
    case NATTER_BACKEND_PROP_MODE:
      g_value_set_string (value, "host");
      break;
    case NATTER_BACKEND_PROP_ACCOUNT:
      g_value_set_string (value, self->config != NULL ? self->config->owner : NULL);
      break;
    case NATTER_BACKEND_PROP_ADMIN:
      g_value_set_boolean (value, TRUE);
      break;
    case NATTER_BACKEND_PROP_NODE:
      g_value_set_string (value, self->config != NULL ? self->config->node_id : NULL);
      break;
    case NATTER_BACKEND_PROP_EPOCH:
      g_value_set_string (value, self->store != NULL ? natter_store_get_epoch (self->store) : NULL);
      break;
    case NATTER_BACKEND_PROP_STATUS:
      g_value_set_string (value, NATTER_BACKEND_STATUS_CONNECTED);
      break;
    case NATTER_BACKEND_PROP_STATUS_MESSAGE:
      g_value_set_string (value, "");
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_hub_class_init (NatterHubClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = natter_hub_get_property;
  object_class->finalize = natter_hub_finalize;
  natter_backend_install_properties (object_class, PROP_BACKEND_FIRST);

  /* What this node's clients did that other nodes must hear of: the cluster
   * (cluster/natter-cluster.c) listens. Pointer arguments are valid during emission. */

  /**
   * NatterHub::message-committed:
   * @message: (type gpointer): the Natter__Message
   *
   * A client of this node sent a message, and it is durable.
   */
  signals[SIGNAL_MESSAGE_COMMITTED] =
    g_signal_new ("message-committed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);

  /**
   * NatterHub::room-event:
   * @room: the room
   * @frame: (type gpointer): the Natter__ServerFrame: a typing or receipt event
   *
   * A client of this node is typing in @room, or moved its read marker there.
   */
  signals[SIGNAL_ROOM_EVENT] =
    g_signal_new ("room-event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_POINTER);

  /**
   * NatterHub::member-changed:
   * @room: the room
   * @user: the account
   * @joined: whether @user joined or left
   *
   * A request on this node changed who is a member of @room.
   */
  signals[SIGNAL_MEMBER_CHANGED] =
    g_signal_new ("member-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING,
                  G_TYPE_BOOLEAN);

  /**
   * NatterHub::presence-changed:
   * @user: the account
   * @online: %TRUE when its first session on this node began, %FALSE when its last ended
   */
  signals[SIGNAL_PRESENCE_CHANGED] =
    g_signal_new ("presence-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);

  /**
   * NatterHub::room-watched:
   * @room: the room
   *
   * A session of this node reads @room, and none did before.
   */
  signals[SIGNAL_ROOM_WATCHED] =
    g_signal_new ("room-watched", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * NatterHub::room-unwatched:
   * @room: the room
   *
   * The last session of this node that read @room stopped.
   */
  signals[SIGNAL_ROOM_UNWATCHED] =
    g_signal_new ("room-unwatched", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
natter_hub_init (NatterHub *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) room_free);
  self->user_rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) g_hash_table_unref);
  self->clients = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) client_state_free);
  self->online = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_ptr_array_unref);
  self->online_elsewhere = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * natter_hub_new:
 * @store: the history store
 * @config: settings, which must outlive the hub
 *
 * Returns: (transfer full): a new hub; call natter_hub_start_async() before use
 */
NatterHub *
natter_hub_new (NatterStore        *store,
                const NatterConfig *config)
{
  NatterHub *self;

  g_return_val_if_fail (NATTER_IS_STORE (store), NULL);
  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (NATTER_TYPE_HUB, NULL);
  self->store = g_object_ref (store);
  self->config = (NatterConfig *) config;
  self->login_throttle = natter_throttle_new (config->login_failures, config->login_throttle_s);
  self->user_buckets = natter_buckets_new (config->rate_per_s * 2, config->rate_burst * 2);
  self->address_throttle = natter_throttle_new (config->address_login_failures,
                                                config->login_throttle_s);
  self->password_buckets = natter_buckets_new (config->password_rate, config->password_burst);
  self->register_buckets = natter_buckets_new (config->registrations_per_hour / 3600.0,
                                               config->registrations_per_hour);
  self->room_buckets = natter_buckets_new (config->rooms_per_hour / 3600.0,
                                           config->rooms_per_hour);
  natter_auth_set_max_pending (config->max_password_queue);
  /* Other nodes write to a shared store too: see natter-hub-remote.c. */
  self->shared = natter_store_is_shared (store);
  return self;
}
