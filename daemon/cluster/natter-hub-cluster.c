/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include <string.h>

#include "natter-codec.h"
#include "natter-hub-private.h"
#include "natter-store-postgres.h"

/* What a hub adds when it is one node of a cluster (docs/cluster.md): PostgreSQL is the
 * truth, Redis only makes it fast.
 *
 * - After a local send commits, the node publishes the message on the room's Redis
 *   channel; typing and receipts travel the same way. Nodes subscribe to the channels of
 *   the rooms that local sessions read ("watched" rooms), and hand what arrives to the
 *   hub's in-order delivery, which holds a later seq briefly and back-fills a gap from
 *   the store.
 * - Memberships and presence travel on the broadcast channel, so that every node knows
 *   every room and member (a user may log in anywhere). A join is published as a
 *   `joined` frame naming the room, its kind and topic, the new member and the room's
 *   last seq at the join, which is where that member's sessions on other nodes start;
 *   a leave as a `member` frame with `joined: false`.
 * - Redis may lose anything: every two seconds, and whenever Redis comes back, the node
 *   reads the last seq of its watched rooms from the store and fetches what it missed.
 *   While Redis is away (every ten seconds) and when it comes back, it also reads every
 *   room and its members again, for the joins and rooms it did not hear of.
 * - Presence is aggregated per node: a user is online while a local session or another
 *   node says so. Nodes repeat their word every 30 s and it expires after 90 s, so the
 *   users of a node that was killed go offline.
 * - A room or membership this node has not heard of yet (made on another node while
 *   Redis was away, or a moment ago) is read from the store before a request is refused
 *   (see refresh_and_retry() in natter-hub.c).
 *
 * On a single node (a SQLite store) every function here does nothing. */

#define CATCH_UP_INTERVAL_MS 2000
/* While Redis is away, joins and new rooms of other nodes are read this often. */
#define RESYNC_AWAY_INTERVAL_US (10 * G_USEC_PER_SEC)
/* After a room gained its first local reader: time for the Redis subscription to be in
 * place, then one look at the store for what was published before it was. */
#define CHECK_SOON_MS        250
#define PRESENCE_TICK_S      10
#define PRESENCE_ANNOUNCE_TICKS 3
#define PRESENCE_TTL_US      (90 * G_USEC_PER_SEC)

static gboolean
watched (Room *room)
{
  return g_hash_table_size (room->subs) > 0;
}

/* ---------------------------------------------------------------------------------- */
/* Publishing */

static void
publish (NatterHub *self, const char *room, const Natter__ServerFrame *frame)
{
  g_autoptr(GBytes) payload = NULL;

  if (self->redis == NULL)
    return;
  payload = natter_codec_encode (NATTER_CODEC_PROTO, &frame->base);
  /* A publish Redis cannot take is counted there; the catch-up path delivers it. */
  natter_redis_publish (self->redis, room, payload);
}

void
natter_hub_cluster_publish_message (NatterHub             *self,
                                    const Natter__Message *message)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;

  frame.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
  frame.message = (Natter__Message *) message;
  publish (self, message->room, &frame);
}

/* Typing and receipts, on the room's channel. */
void
natter_hub_cluster_publish_frame (NatterHub                 *self,
                                  const char                *room,
                                  const Natter__ServerFrame *frame)
{
  publish (self, room, frame);
}

void
natter_hub_cluster_publish_joined (NatterHub  *self,
                                   Room       *room,
                                   const char *user)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Joined joined = NATTER__JOINED__INIT;
  char *members[] = { (char *) user };

  joined.room = room->name;
  joined.kind = room->kind;
  joined.topic = room->topic;
  joined.has_last_seq = TRUE;
  joined.last_seq = room->last_seq;
  joined.n_members = G_N_ELEMENTS (members);
  joined.members = members;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_JOINED;
  frame.joined = &joined;
  publish (self, NULL, &frame);
}

void
natter_hub_cluster_publish_left (NatterHub  *self,
                                 Room       *room,
                                 const char *user)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Member member = NATTER__MEMBER__INIT;

  member.room = room->name;
  member.user = (char *) user;
  member.has_joined = TRUE;
  member.joined = FALSE;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MEMBER;
  frame.member = &member;
  publish (self, NULL, &frame);
}

void
natter_hub_cluster_publish_presence (NatterHub  *self,
                                     const char *user,
                                     gboolean    online)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Presence presence = NATTER__PRESENCE__INIT;

  presence.user = (char *) user;
  presence.has_online = TRUE;
  presence.online = online;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_PRESENCE;
  frame.presence = &presence;
  publish (self, NULL, &frame);
}

/* ---------------------------------------------------------------------------------- */
/* Catching up from the store */

/* The store says the room's last seq is @seq. A room no local session reads just moves
 * its cursor to the end; a watched one fetches what it has not delivered. */
static void
apply_last_seq (NatterHub *self, Room *room, guint64 seq)
{
  room->last_seq = MAX (room->last_seq, seq);
  if (!watched (room))
    {
      room->delivered_seq = MAX (room->delivered_seq, room->last_seq);
      return;
    }
  if (room->last_seq > room->delivered_seq)
    natter_hub_room_backfill (self, room);
}

void
natter_hub_cluster_apply_last_seqs (NatterHub  *self,
                                    GHashTable *seqs)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, seqs);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Room *room = g_hash_table_lookup (self->rooms, key);

      if (room != NULL)
        apply_last_seq (self, room, *(guint64 *) value);
    }
}

static void
seqs_checked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(NatterHub) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) seqs = NULL;

  self->checking_seqs = FALSE;
  seqs = natter_store_postgres_get_last_seqs_finish (NATTER_STORE_POSTGRES (source), result,
                                                     &error);
  if (seqs == NULL)
    {
      /* The database is away: /readyz says so; try again at the next tick. */
      g_debug ("Could not check the rooms' last seqs: %s", error->message);
      return;
    }
  natter_hub_cluster_apply_last_seqs (self, seqs);
}

static void
check_seqs (NatterHub *self)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  if (self->checking_seqs)
    return;
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (watched (value))
      g_ptr_array_add (names, ((Room *) value)->name);
  if (names->len == 0)
    return;
  g_ptr_array_add (names, NULL);
  self->checking_seqs = TRUE;
  natter_store_postgres_get_last_seqs_async (NATTER_STORE_POSTGRES (self->store),
                                             (const char * const *) names->pdata, NULL,
                                             seqs_checked_cb, g_object_ref (self));
}

static void resync (NatterHub *self);

static gboolean
catch_up_cb (gpointer user_data)
{
  NatterHub *self = user_data;

  check_seqs (self);
  if (self->redis != NULL && !natter_redis_get_connected (self->redis) &&
      g_get_monotonic_time () - self->resynced_at > RESYNC_AWAY_INTERVAL_US)
    resync (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
check_soon_cb (gpointer user_data)
{
  NatterHub *self = user_data;

  self->check_soon_source = 0;
  check_seqs (self);
  return G_SOURCE_REMOVE;
}

/**
 * natter_hub_cluster_merge_room:
 * @record: the room as the store has it, with its members
 * @since_gen: the hub's membership_gen when the store was asked
 *
 * Makes this node's copy of a room match the store's: the room itself, its last seq and
 * its members. Members that changed on this node after the store was asked are left as
 * they are: this node knows better.
 */
void
natter_hub_cluster_merge_room (NatterHub              *self,
                               const NatterRoomRecord *record,
                               guint64                 since_gen)
{
  Room *room = g_hash_table_lookup (self->rooms, record->name);
  g_autoptr(GHashTable) stored = NULL;
  g_autoptr(GPtrArray) gone = NULL;
  GHashTableIter iter;
  gpointer key;
  gboolean system;

  if (room == NULL)
    room = natter_hub_add_room (self, record->name, record->kind, record->topic,
                                record->last_seq);
  apply_last_seq (self, room, record->last_seq);

  if (room->membership_gen > since_gen)
    return;
  system = g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM);
  stored = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < record->members->len; i++)
    {
      NatterMemberRecord *member = g_ptr_array_index (record->members, i);

      g_hash_table_add (stored, member->user);
      if (!system && !g_hash_table_contains (room->members, member->user))
        {
          GPtrArray *sessions = g_hash_table_lookup (self->online, member->user);

          /* When a membership began is not known here. A DM is personal and small: its
           * sessions get what the user has not read; a room is live from now (its
           * history is a page away). */
          if (g_str_equal (room->kind, NATTER_ROOM_KIND_DM) && !watched (room) &&
              sessions != NULL && sessions->len > 0)
            room->delivered_seq = MIN (room->delivered_seq, member->read_seq);
          natter_hub_add_member (self, room, member->user, member->read_seq);
          natter_hub_subscribe_user (self, member->user, room, room->delivered_seq);
        }
      else
        natter_hub_room_set_read_seq (room, member->user, member->read_seq);
    }
  if (system)
    return;

  gone = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (stored, key))
      g_ptr_array_add (gone, g_strdup (key));
  for (guint i = 0; i < gone->len; i++)
    natter_hub_remove_member (self, room, g_ptr_array_index (gone, i));
}

typedef struct
{
  NatterHub *hub;       /* (owned) */
  guint64    since_gen;
} Fetch;

static Fetch *
fetch_new (NatterHub *self)
{
  Fetch *fetch = g_new0 (Fetch, 1);

  fetch->hub = g_object_ref (self);
  fetch->since_gen = self->membership_gen;
  return fetch;
}

static void
fetch_free (Fetch *fetch)
{
  g_object_unref (fetch->hub);
  g_free (fetch);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Fetch, fetch_free)

static void
room_fetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Fetch) fetch = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoomRecord) record = natter_store_get_room_finish (NATTER_STORE (source),
                                                                    result, &error);

  if (record == NULL)
    {
      g_debug ("Could not read a room another node announced: %s", error->message);
      return;
    }
  natter_hub_cluster_merge_room (fetch->hub, record, fetch->since_gen);
}

static void
resynced_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Fetch) fetch = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = natter_store_load_finish (NATTER_STORE (source),
                                                                      result, &error);

  fetch->hub->resyncing = FALSE;
  if (snapshot == NULL)
    {
      g_debug ("Could not read the rooms again: %s", error->message);
      return;
    }
  for (guint i = 0; i < snapshot->rooms->len; i++)
    natter_hub_cluster_merge_room (fetch->hub, g_ptr_array_index (snapshot->rooms, i),
                                   fetch->since_gen);
  g_debug ("Read %u rooms again after Redis was away", snapshot->rooms->len);
}

/* Whatever other nodes published while this node did not hear them (joins, leaves, new
 * rooms, messages) is read again from the store. */
static void
resync (NatterHub *self)
{
  if (self->resyncing)
    return;
  self->resyncing = TRUE;
  self->resynced_at = g_get_monotonic_time ();
  natter_store_load_async (self->store, NULL, resynced_cb, fetch_new (self));
}

/* ---------------------------------------------------------------------------------- */
/* Watched rooms */

void
natter_hub_cluster_room_watched (NatterHub *self,
                                 Room      *room)
{
  if (!self->clustered)
    return;
  if (self->redis != NULL)
    natter_redis_subscribe_room (self->redis, room->name);
  if (self->started && self->check_soon_source == 0)
    self->check_soon_source = g_timeout_add (CHECK_SOON_MS, check_soon_cb, self);
}

void
natter_hub_cluster_room_unwatched (NatterHub *self,
                                   Room      *room)
{
  if (!self->clustered)
    return;
  if (self->redis != NULL)
    natter_redis_unsubscribe_room (self->redis, room->name);
  /* Nobody to deliver to: forget held messages; the cursor moves on by itself. */
  g_clear_handle_id (&room->gap_source, g_source_remove);
  g_tree_remove_all (room->pending);
}

/* ---------------------------------------------------------------------------------- */
/* Presence */

gboolean
natter_hub_cluster_online_elsewhere (NatterHub  *self,
                                     const char *user)
{
  return self->remote_presence != NULL && g_hash_table_contains (self->remote_presence, user);
}

static gboolean
online_anywhere (NatterHub *self, const char *user)
{
  GPtrArray *sessions = g_hash_table_lookup (self->online, user);

  return (sessions != NULL && sessions->len > 0) ||
         natter_hub_cluster_online_elsewhere (self, user);
}

static void
receive_presence (NatterHub *self, const char *origin, const char *user, gboolean online)
{
  gboolean before = online_anywhere (self, user);
  GHashTable *nodes = g_hash_table_lookup (self->remote_presence, user);

  if (online)
    {
      gint64 *expiry = g_new (gint64, 1);

      *expiry = g_get_monotonic_time () + PRESENCE_TTL_US;
      if (nodes == NULL)
        {
          nodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
          g_hash_table_insert (self->remote_presence, g_strdup (user), nodes);
        }
      g_hash_table_replace (nodes, g_strdup (origin), expiry);
    }
  else if (nodes != NULL)
    {
      g_hash_table_remove (nodes, origin);
      if (g_hash_table_size (nodes) == 0)
        g_hash_table_remove (self->remote_presence, user);
    }

  if (online_anywhere (self, user) != before)
    natter_hub_send_presence (self, user, !before);
}

static void
announce_presence (NatterHub *self)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->online);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (((GPtrArray *) value)->len > 0)
      natter_hub_cluster_publish_presence (self, key, TRUE);
}

/* Forgets what nodes that stopped repeating themselves (killed, cut off) said. */
static void
expire_presence (NatterHub *self)
{
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GPtrArray) offline = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter, node_iter;
  gpointer key, value, expiry;

  g_hash_table_iter_init (&iter, self->remote_presence);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_hash_table_iter_init (&node_iter, value);
      while (g_hash_table_iter_next (&node_iter, NULL, &expiry))
        if (*(gint64 *) expiry < now)
          g_hash_table_iter_remove (&node_iter);
      if (g_hash_table_size (value) == 0)
        {
          g_ptr_array_add (offline, g_strdup (key));
          g_hash_table_iter_remove (&iter);
        }
    }
  for (guint i = 0; i < offline->len; i++)
    if (!online_anywhere (self, g_ptr_array_index (offline, i)))
      natter_hub_send_presence (self, g_ptr_array_index (offline, i), FALSE);
}

static gboolean
presence_tick_cb (gpointer user_data)
{
  NatterHub *self = user_data;

  expire_presence (self);
  if (++self->presence_ticks % PRESENCE_ANNOUNCE_TICKS == 0)
    announce_presence (self);
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------------------------- */
/* Receiving from other nodes */

static void
receive_message (NatterHub *self, Room *room, const Natter__Message *message)
{
  if (message->seq == 0 || message->sender == NULL)
    return;
  if (!watched (room))
    {
      /* Still subscribed for a moment after the last local reader left. */
      apply_last_seq (self, room, message->seq);
      return;
    }
  if (!g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM) &&
      g_hash_table_contains (room->members, message->sender))
    natter_hub_room_set_read_seq (room, message->sender, message->seq);
  natter_hub_room_committed (self, room, message);
}

static void
receive_room_frame (NatterHub *self, const char *name, const Natter__ServerFrame *frame)
{
  Room *room = g_hash_table_lookup (self->rooms, name);
  g_autoptr(NatterEvent) event = NULL;

  /* A node subscribes only to rooms it has, and forgets none. */
  if (room == NULL)
    return;

  switch ((int) frame->event_case)
    {
    case NATTER__SERVER_FRAME__EVENT_MESSAGE:
      if (g_strcmp0 (frame->message->room, name) == 0)
        receive_message (self, room, frame->message);
      break;
    case NATTER__SERVER_FRAME__EVENT_TYPING:
      if (g_strcmp0 (frame->typing->room, name) != 0 || frame->typing->user == NULL)
        break;
      event = natter_event_new (frame);
      natter_hub_deliver_to_room (self, room, event, NULL);
      break;
    case NATTER__SERVER_FRAME__EVENT_RECEIPT:
      if (g_strcmp0 (frame->receipt->room, name) != 0 || frame->receipt->user == NULL)
        break;
      if (g_hash_table_contains (room->members, frame->receipt->user))
        natter_hub_room_set_read_seq (room, frame->receipt->user, frame->receipt->seq);
      event = natter_event_new (frame);
      natter_hub_deliver_to_room (self, room, event, NULL);
      break;
    default:
      g_debug ("Ignoring a frame of type %d on room %s", frame->event_case, name);
      break;
    }
}

/* @user joined @room on another node when the room was at @since. */
static void
apply_join (NatterHub *self, Room *room, const char *user, guint64 since)
{
  if (!natter_validate_user_name (user) || g_hash_table_contains (room->members, user))
    return;
  if (!watched (room))
    {
      /* Its cursor may be old: the newcomer's sessions here start where the join was. */
      room->last_seq = MAX (room->last_seq, since);
      room->delivered_seq = since;
    }
  natter_hub_add_member (self, room, user, 0);
  natter_hub_subscribe_user (self, user, room, since);
  /* As on the node of the join: public rooms announce their members. */
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_ROOM))
    natter_hub_send_member_event (self, room, user, TRUE);
}

static void
receive_joined (NatterHub *self, const Natter__Joined *joined)
{
  Room *room;
  gboolean learned = FALSE;

  if (joined->room == NULL || joined->kind == NULL ||
      !(g_str_equal (joined->kind, NATTER_ROOM_KIND_ROOM) ||
        g_str_equal (joined->kind, NATTER_ROOM_KIND_DM)))
    return;
  room = g_hash_table_lookup (self->rooms, joined->room);
  if (room == NULL)
    {
      room = natter_hub_add_room (self, joined->room, joined->kind, joined->topic,
                                  joined->last_seq);
      learned = TRUE;
    }
  for (gsize i = 0; i < joined->n_members; i++)
    apply_join (self, room, joined->members[i], joined->last_seq);
  /* The frame names the newcomers only: the other members come from the store. */
  if (learned)
    natter_store_get_room_async (self->store, room->name, NULL, room_fetched_cb,
                                 fetch_new (self));
}

static void
receive_broadcast (NatterHub *self, const char *origin, const Natter__ServerFrame *frame)
{
  Room *room;

  switch ((int) frame->event_case)
    {
    case NATTER__SERVER_FRAME__EVENT_PRESENCE:
      if (frame->presence->user != NULL)
        receive_presence (self, origin, frame->presence->user, frame->presence->online);
      break;
    case NATTER__SERVER_FRAME__EVENT_JOINED:
      receive_joined (self, frame->joined);
      break;
    case NATTER__SERVER_FRAME__EVENT_MEMBER:
      if (frame->member->room == NULL || frame->member->user == NULL || frame->member->joined)
        break;
      room = g_hash_table_lookup (self->rooms, frame->member->room);
      if (room != NULL)
        natter_hub_remove_member (self, room, frame->member->user);
      break;
    default:
      g_debug ("Ignoring a frame of type %d from %s", frame->event_case, origin);
      break;
    }
}

static void
redis_message_cb (NatterRedis *redis,
                  const char  *room,
                  const char  *origin,
                  GBytes      *payload,
                  gpointer     user_data)
{
  NatterHub *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(Natter__ServerFrame) frame = NULL;
  gsize len;
  const guint8 *data;

  if (!self->started)
    return;
  data = g_bytes_get_data (payload, &len);
  frame = natter_codec_decode_server_frame (NATTER_CODEC_PROTO, data, len, &error);
  if (frame == NULL)
    {
      g_debug ("Ignoring a payload from %s: %s", origin, error->message);
      return;
    }
  if (room != NULL)
    receive_room_frame (self, room, frame);
  else
    receive_broadcast (self, origin, frame);
}

static void
redis_connected_cb (GObject    *object,
                    GParamSpec *pspec,
                    gpointer    user_data)
{
  NatterHub *self = user_data;

  if (!self->started || !natter_redis_get_connected (self->redis))
    return;
  /* Whatever was published while this node was not listening is lost: other nodes may
   * have forgotten this node's users, and this node missed joins and messages. */
  announce_presence (self);
  resync (self);
}

/* ---------------------------------------------------------------------------------- */

/**
 * natter_hub_set_redis:
 * @self: a #NatterHub on a PostgreSQL store
 * @redis: (nullable): the fan-out to the other nodes, or %NULL to let go of it
 *
 * Makes the hub a node of a cluster that shares Redis: it publishes what its clients do
 * and delivers what other nodes publish. Call before natter_hub_start_async(); %NULL
 * (at shutdown) stops the fan-out.
 */
void
natter_hub_set_redis (NatterHub   *self,
                      NatterRedis *redis)
{
  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (redis == NULL || NATTER_IS_REDIS (redis));
  g_return_if_fail (redis == NULL || (self->clustered && !self->started));

  if (self->redis != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->redis, self);
      g_clear_object (&self->redis);
      g_clear_handle_id (&self->presence_source, g_source_remove);
    }
  if (redis == NULL)
    return;

  self->redis = g_object_ref (redis);
  if (self->remote_presence == NULL)
    self->remote_presence = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                   (GDestroyNotify) g_hash_table_unref);
  g_signal_connect_object (redis, "message", G_CALLBACK (redis_message_cb), self, 0);
  g_signal_connect_object (redis, "notify::connected", G_CALLBACK (redis_connected_cb),
                           self, 0);
}

void
natter_hub_cluster_start (NatterHub *self)
{
  if (!self->clustered)
    return;
  self->catch_up_source = g_timeout_add (CATCH_UP_INTERVAL_MS, catch_up_cb, self);
  if (self->redis != NULL)
    self->presence_source = g_timeout_add_seconds (PRESENCE_TICK_S, presence_tick_cb, self);
}

void
natter_hub_cluster_stop (NatterHub *self)
{
  natter_hub_set_redis (self, NULL);
  g_clear_handle_id (&self->catch_up_source, g_source_remove);
  g_clear_handle_id (&self->check_soon_source, g_source_remove);
}

static void
append_label_value (GString *out, const char *value)
{
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '\\' || *p == '"')
        g_string_append_c (out, '\\');
      if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

void
natter_hub_cluster_append_metrics (NatterHub *self,
                                   GString   *out)
{
  if (!self->clustered)
    return;

  g_string_append (out,
                   "# HELP natter_node_info This node's id.\n"
                   "# TYPE natter_node_info gauge\n"
                   "natter_node_info{node=\"");
  append_label_value (out, self->config->node_id);
  g_string_append_printf (out,
                          "\"} 1\n"
                          "# HELP natter_catch_up_messages_total Messages delivered after "
                          "fetching them from the store (a gap, Redis away).\n"
                          "# TYPE natter_catch_up_messages_total counter\n"
                          "natter_catch_up_messages_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_users_online_elsewhere Accounts other nodes say are "
                          "online.\n"
                          "# TYPE natter_users_online_elsewhere gauge\n"
                          "natter_users_online_elsewhere %u\n",
                          self->n_catch_ups,
                          self->remote_presence != NULL
                            ? g_hash_table_size (self->remote_presence) : 0);
  natter_store_postgres_append_metrics (NATTER_STORE_POSTGRES (self->store), out);
  if (self->redis != NULL)
    natter_redis_append_metrics (self->redis, out);
}
