/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-cluster"

#include "config.h"

#include <string.h>

#include "natter-cluster.h"
#include "natter-codec.h"

/* What a node of a cluster adds beside its hub (docs/cluster.md): PostgreSQL is the
 * truth, Redis only makes it fast.
 *
 * - After a local send commits, the node publishes the message on the room's Redis
 *   channel; typing and receipts travel the same way. Nodes subscribe to the channels of
 *   the rooms that local sessions read ("watched" rooms), and hand what arrives to the
 *   hub's in-order delivery, which holds a later seq briefly and back-fills a gap from
 *   the store.
 * - Memberships and presence travel on the broadcast channel, so that every node knows
 *   every room and member (a user may log in anywhere). A join is published as a
 *   `joined` frame naming the room, its kind, topic and privacy, the new member and
 *   their role, and the room's last seq at the join, which is where that member's
 *   sessions on other nodes start; a leave as a `member` frame with `joined: false`, a
 *   kick or ban as the same frame with `by` (one frame: the removed user's sessions and
 *   the room's on every node learn it once, with who did it). Roles, topics and
 *   invitations travel there too, for the nodes whose sessions do not read the room
 *   yet. Typing, receipts and messages go on the room's own channel.
 * - Redis may lose anything: every two seconds, and whenever Redis comes back, the node
 *   reads the last seq of its watched rooms from the store and fetches what it missed.
 *   While Redis is away (every ten seconds) and when it comes back, it also reads every
 *   room and its members again, for the joins and rooms it did not hear of.
 * - Redis away is a degraded node, not an unready one: its clients are still served
 *   correctly, only other nodes' messages arrive by polling the store (every half
 *   second, so that a conversation across nodes stays a conversation), and typing and
 *   presence from other nodes pause. A log line and natter_cluster_degraded say so.
 * - Ended sessions (revoked, logged out, a password changed, an account disabled or
 *   deleted) travel on the broadcast channel too, so that their connections on every
 *   node close; their tokens are gone from the store, which every login asks.
 * - Presence is aggregated per node: a user is online while a local session or another
 *   node says so. Nodes repeat their word every 30 s and it expires after 90 s, so the
 *   users of a node that was killed go offline.
 * - A room or membership this node has not heard of yet (made on another node while
 *   Redis was away, or a moment ago) is read from the store before a request is refused
 *   (see refresh_and_retry() in core/natter-hub.c).
 *
 * The cluster knows the hub only through its public API (natter-hub.h): its signals for
 * what this node's clients do, and natter_hub_receive_*() for what other nodes did. A
 * single node (a store of its own) has no NatterCluster. */

#define CATCH_UP_INTERVAL_MS 2000
/* While Redis is away the store is the only way other nodes' messages arrive. One
 * indexed query per node per tick: cheap next to the chat it carries. */
#define CATCH_UP_DEGRADED_INTERVAL_MS 500
/* While Redis is away, joins and new rooms of other nodes are read this often. */
#define RESYNC_AWAY_INTERVAL_US (10 * G_USEC_PER_SEC)
/* After a room gained its first local reader: time for the Redis subscription to be in
 * place, then one look at the store for what was published before it was. */
#define CHECK_SOON_MS        250
#define PRESENCE_TICK_S      10
#define PRESENCE_ANNOUNCE_TICKS 3
#define PRESENCE_TTL_US      (90 * G_USEC_PER_SEC)

struct _NatterCluster
{
  GObject      parent_instance;

  NatterHub   *hub;               /* (owned) */
  NatterStore *store;             /* (owned) the hub's, shared with the other nodes */
  NatterRedis *redis;             /* (owned) (nullable) */
  char        *node_id;           /* (owned) */
  gboolean     started;
  /* Accounts with sessions on other nodes: user → GHashTable of node id → gint64 *
   * (the monotonic time, in µs, when that node's word expires). */
  GHashTable  *remote_presence;   /* (owned) */
  guint        catch_up_source;
  gboolean     degraded;          /* Redis is configured but away */
  guint        check_soon_source;
  guint        presence_source;
  guint        presence_ticks;
  gboolean     checking_seqs;     /* a last-seqs query is in flight */
  gint64       resynced_at;       /* monotonic time of the last full reload */
};

G_DEFINE_FINAL_TYPE (NatterCluster, natter_cluster, G_TYPE_OBJECT)

/* ---------------------------------------------------------------------------------- */
/* Publishing what this node's clients do */

static void
publish (NatterCluster *self, const char *room, const Natter__ServerFrame *frame)
{
  g_autoptr(GBytes) payload = NULL;

  if (self->redis == NULL)
    return;
  payload = natter_codec_encode (NATTER_CODEC_PROTO, &frame->base);
  /* A publish Redis cannot take is counted there; the catch-up path delivers it. */
  natter_redis_publish (self->redis, room, payload);
}

static void
message_committed_cb (NatterHub             *hub,
                      const Natter__Message *message,
                      NatterCluster         *self)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;

  frame.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
  frame.message = (Natter__Message *) message;
  publish (self, message->room, &frame);
}

/* Typing and receipts, on the room's channel, to the nodes whose sessions read the room.
 * What changes the room itself (roles, removals, the topic, invitations) on the
 * broadcast channel: every node keeps every room, and answers `rooms` and `join` from
 * its copy. */
static void
room_event_cb (NatterHub                 *hub,
               const char                *room,
               const Natter__ServerFrame *frame,
               NatterCluster             *self)
{
  switch ((int) frame->event_case)
    {
    case NATTER__SERVER_FRAME__EVENT_MEMBER:
    case NATTER__SERVER_FRAME__EVENT_TOPIC:
    case NATTER__SERVER_FRAME__EVENT_INVITE:
      publish (self, NULL, frame);
      break;
    default:
      publish (self, room, frame);
      break;
    }
}

static void
publish_joined (NatterCluster *self, const char *room, const char *user)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Joined joined = NATTER__JOINED__INIT;
  const char *members[] = { user, NULL };
  g_autoptr(GPtrArray) owners = g_ptr_array_new ();
  g_autoptr(GPtrArray) moderators = g_ptr_array_new ();
  const char *kind, *topic;
  gboolean is_private = FALSE;
  guint64 last_seq;

  if (!natter_hub_describe_room (self->hub, room, &kind, &topic, &last_seq) ||
      !natter_hub_describe_room_roles (self->hub, room, members, &is_private, owners,
                                       moderators))
    return;
  joined.room = (char *) room;
  joined.kind = (char *) kind;
  joined.topic = (char *) topic;
  joined.has_last_seq = TRUE;
  joined.last_seq = last_seq;
  joined.n_members = 1;
  joined.members = (char **) members;
  /* Whether the room is private and the newcomer's role (its creator owns it), so that
   * the other nodes get them right from the start. */
  joined.has_private_ = TRUE;
  joined.private_ = is_private;
  joined.n_owners = owners->len;
  joined.owners = (char **) owners->pdata;
  joined.n_moderators = moderators->len;
  joined.moderators = (char **) moderators->pdata;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_JOINED;
  frame.joined = &joined;
  publish (self, NULL, &frame);
}

static void
publish_left (NatterCluster *self, const char *room, const char *user)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Member member = NATTER__MEMBER__INIT;

  member.room = (char *) room;
  member.user = (char *) user;
  member.has_joined = TRUE;
  member.joined = FALSE;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MEMBER;
  frame.member = &member;
  publish (self, NULL, &frame);
}

static void
member_changed_cb (NatterHub     *hub,
                   const char    *room,
                   const char    *user,
                   gboolean       joined,
                   NatterCluster *self)
{
  if (joined)
    publish_joined (self, room, user);
  else
    publish_left (self, room, user);
}

static void
publish_presence (NatterCluster *self, const char *user, gboolean online)
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

static void
presence_changed_cb (NatterHub     *hub,
                     const char    *user,
                     gboolean       online,
                     NatterCluster *self)
{
  publish_presence (self, user, online);
}

/* Tokens are gone from the store, which every login asks; this closes the connections
 * that already use them on the other nodes. */
static void
sessions_ended_cb (NatterHub          *hub,
                   const char         *user,
                   const char * const *sessions,
                   const char         *reason,
                   NatterCluster      *self)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__SessionsEnded ended = NATTER__SESSIONS_ENDED__INIT;

  ended.user = (char *) user;
  ended.has_all = TRUE;
  ended.all = sessions == NULL;
  ended.n_sessions = sessions != NULL ? g_strv_length ((GStrv) sessions) : 0;
  ended.sessions = (char **) sessions;
  ended.reason = (char *) reason;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_SESSIONS_ENDED;
  frame.sessions_ended = &ended;
  publish (self, NULL, &frame);
}

static void
receive_sessions_ended (NatterCluster *self, const Natter__SessionsEnded *ended)
{
  g_autoptr(GPtrArray) sessions = NULL;

  if (ended->user == NULL)
    return;
  if (ended->all)
    {
      natter_hub_receive_sessions_ended (self->hub, ended->user, NULL, ended->reason);
      return;
    }
  sessions = g_ptr_array_new ();
  for (gsize i = 0; i < ended->n_sessions; i++)
    g_ptr_array_add (sessions, ended->sessions[i]);
  g_ptr_array_add (sessions, NULL);
  natter_hub_receive_sessions_ended (self->hub, ended->user,
                                     (const char * const *) sessions->pdata, ended->reason);
}

/* ---------------------------------------------------------------------------------- */
/* Catching up from the store */

static void
seqs_checked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(NatterCluster) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) seqs = NULL;

  self->checking_seqs = FALSE;
  seqs = natter_store_get_last_seqs_finish (NATTER_STORE (source), result, &error);
  if (seqs == NULL)
    {
      /* The database is away: /readyz says so; try again at the next tick. */
      g_debug ("Could not check the rooms' last seqs: %s", error->message);
      return;
    }
  if (self->hub != NULL)
    natter_hub_apply_last_seqs (self->hub, seqs);
}

static void
check_seqs (NatterCluster *self)
{
  g_autoptr(GPtrArray) names = NULL;

  if (self->checking_seqs)
    return;
  names = natter_hub_list_watched_rooms (self->hub);
  if (names->len == 0)
    return;
  g_ptr_array_add (names, NULL);
  self->checking_seqs = TRUE;
  natter_store_get_last_seqs_async (self->store, (const char * const *) names->pdata, NULL,
                                    seqs_checked_cb, g_object_ref (self));
}

/* Whatever other nodes published while this node did not hear them (joins, leaves, new
 * rooms, messages) is read again from the store. */
static void
resync (NatterCluster *self)
{
  self->resynced_at = g_get_monotonic_time ();
  natter_hub_reload_rooms (self->hub);
}

static gboolean
catch_up_cb (gpointer user_data)
{
  NatterCluster *self = user_data;

  check_seqs (self);
  if (self->redis != NULL && !natter_redis_get_connected (self->redis) &&
      g_get_monotonic_time () - self->resynced_at > RESYNC_AWAY_INTERVAL_US)
    resync (self);
  return G_SOURCE_CONTINUE;
}

static void
schedule_catch_up (NatterCluster *self)
{
  g_clear_handle_id (&self->catch_up_source, g_source_remove);
  self->catch_up_source = g_timeout_add (self->degraded ? CATCH_UP_DEGRADED_INTERVAL_MS
                                                        : CATCH_UP_INTERVAL_MS,
                                         catch_up_cb, self);
}

/* Says once when the node turns degraded and once when it recovers, and polls the store
 * faster in between. */
static void
update_degraded (NatterCluster *self)
{
  gboolean degraded = self->redis != NULL && !natter_redis_get_connected (self->redis);

  if (degraded == self->degraded)
    return;
  self->degraded = degraded;
  if (degraded)
    g_message ("Degraded: Redis is unreachable; still serving, with other nodes' messages "
               "read from the store every %.1f s and their typing and presence paused",
               CATCH_UP_DEGRADED_INTERVAL_MS / 1000.0);
  else
    g_message ("No longer degraded: Redis is back, fan-out between nodes is live again");
  schedule_catch_up (self);
}

static gboolean
check_soon_cb (gpointer user_data)
{
  NatterCluster *self = user_data;

  self->check_soon_source = 0;
  check_seqs (self);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------------------- */
/* Watched rooms */

static void
room_watched_cb (NatterHub     *hub,
                 const char    *room,
                 NatterCluster *self)
{
  if (self->redis != NULL)
    natter_redis_subscribe_room (self->redis, room);
  if (self->started && self->check_soon_source == 0)
    self->check_soon_source = g_timeout_add (CHECK_SOON_MS, check_soon_cb, self);
}

static void
room_unwatched_cb (NatterHub     *hub,
                   const char    *room,
                   NatterCluster *self)
{
  if (self->redis != NULL)
    natter_redis_unsubscribe_room (self->redis, room);
}

/* ---------------------------------------------------------------------------------- */
/* Presence */

static void
receive_presence (NatterCluster *self, const char *origin, const char *user, gboolean online)
{
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

  natter_hub_set_online_elsewhere (self->hub, user,
                                   g_hash_table_contains (self->remote_presence, user));
}

static void
announce_presence (NatterCluster *self)
{
  g_autoptr(GPtrArray) users = natter_hub_list_online_users (self->hub);

  for (guint i = 0; i < users->len; i++)
    publish_presence (self, g_ptr_array_index (users, i), TRUE);
}

/* Forgets what nodes that stopped repeating themselves (killed, cut off) said. */
static void
expire_presence (NatterCluster *self)
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
    natter_hub_set_online_elsewhere (self->hub, g_ptr_array_index (offline, i), FALSE);
}

static gboolean
presence_tick_cb (gpointer user_data)
{
  NatterCluster *self = user_data;

  expire_presence (self);
  if (++self->presence_ticks % PRESENCE_ANNOUNCE_TICKS == 0)
    announce_presence (self);
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------------------------- */
/* Receiving from other nodes */

static void
receive_room_frame (NatterCluster *self, const char *room, const Natter__ServerFrame *frame)
{
  if (frame->event_case == NATTER__SERVER_FRAME__EVENT_MESSAGE)
    {
      if (g_strcmp0 (frame->message->room, room) == 0)
        natter_hub_receive_message (self->hub, frame->message);
    }
  else
    natter_hub_receive_room_event (self->hub, room, frame);
}

static void
receive_broadcast (NatterCluster *self, const char *origin, const Natter__ServerFrame *frame)
{
  switch ((int) frame->event_case)
    {
    case NATTER__SERVER_FRAME__EVENT_PRESENCE:
      if (frame->presence->user != NULL)
        receive_presence (self, origin, frame->presence->user, frame->presence->online);
      break;
    case NATTER__SERVER_FRAME__EVENT_JOINED:
      natter_hub_receive_joined (self->hub, frame->joined);
      break;
    case NATTER__SERVER_FRAME__EVENT_MEMBER:
      /* A leave, a kick or ban (with `by`), a role set. */
      if (frame->member->room != NULL)
        natter_hub_receive_room_event (self->hub, frame->member->room, frame);
      break;
    case NATTER__SERVER_FRAME__EVENT_TOPIC:
      if (frame->topic->room != NULL)
        natter_hub_receive_room_event (self->hub, frame->topic->room, frame);
      break;
    case NATTER__SERVER_FRAME__EVENT_INVITE:
      if (frame->invite->room != NULL)
        natter_hub_receive_room_event (self->hub, frame->invite->room, frame);
      break;
    case NATTER__SERVER_FRAME__EVENT_SESSIONS_ENDED:
      receive_sessions_ended (self, frame->sessions_ended);
      break;
    default:
      g_debug ("Ignoring a frame of type %d from %s", frame->event_case, origin);
      break;
    }
}

static void
redis_message_cb (NatterRedis   *redis,
                  const char    *room,
                  const char    *origin,
                  GBytes        *payload,
                  NatterCluster *self)
{
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
redis_connected_cb (NatterRedis   *redis,
                    GParamSpec    *pspec,
                    NatterCluster *self)
{
  if (!self->started)
    return;
  update_degraded (self);
  if (!natter_redis_get_connected (redis))
    return;
  /* Whatever was published while this node was not listening is lost: other nodes may
   * have forgotten this node's users, and this node missed joins and messages. */
  announce_presence (self);
  resync (self);
}

/* ---------------------------------------------------------------------------------- */

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

/**
 * natter_cluster_append_metrics:
 * @self: a #NatterCluster
 * @out: where to append Prometheus text-format metrics
 */
void
natter_cluster_append_metrics (NatterCluster *self,
                               GString       *out)
{
  g_return_if_fail (NATTER_IS_CLUSTER (self));

  g_string_append (out,
                   "# HELP natter_node_info This node's id.\n"
                   "# TYPE natter_node_info gauge\n"
                   "natter_node_info{node=\"");
  append_label_value (out, self->node_id);
  g_string_append (out, "\"} 1\n");
  g_string_append_printf (out,
                          "# HELP natter_cluster_degraded Whether Redis is away, so that "
                          "other nodes' messages arrive by polling the store.\n"
                          "# TYPE natter_cluster_degraded gauge\n"
                          "natter_cluster_degraded %d\n",
                          self->degraded ? 1 : 0);
  if (self->redis != NULL)
    natter_redis_append_metrics (self->redis, out);
}

/**
 * natter_cluster_start:
 * @self: a #NatterCluster
 *
 * Begins catching up and hearing other nodes: call once the hub has started.
 */
void
natter_cluster_start (NatterCluster *self)
{
  g_return_if_fail (NATTER_IS_CLUSTER (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  /* Redis may be down at start-up: the node serves, degraded, until it comes. */
  update_degraded (self);
  schedule_catch_up (self);
  if (self->redis != NULL)
    self->presence_source = g_timeout_add_seconds (PRESENCE_TICK_S, presence_tick_cb, self);
}

static void
natter_cluster_dispose (GObject *object)
{
  NatterCluster *self = NATTER_CLUSTER (object);

  /* Nothing more to publish, nothing more to hear. */
  if (self->hub != NULL)
    g_signal_handlers_disconnect_by_data (self->hub, self);
  if (self->redis != NULL)
    g_signal_handlers_disconnect_by_data (self->redis, self);
  g_clear_handle_id (&self->catch_up_source, g_source_remove);
  g_clear_handle_id (&self->check_soon_source, g_source_remove);
  g_clear_handle_id (&self->presence_source, g_source_remove);
  g_clear_object (&self->redis);
  g_clear_object (&self->store);
  g_clear_object (&self->hub);

  G_OBJECT_CLASS (natter_cluster_parent_class)->dispose (object);
}

static void
natter_cluster_finalize (GObject *object)
{
  NatterCluster *self = NATTER_CLUSTER (object);

  g_clear_pointer (&self->remote_presence, g_hash_table_unref);
  g_free (self->node_id);

  G_OBJECT_CLASS (natter_cluster_parent_class)->finalize (object);
}

static void
natter_cluster_class_init (NatterClusterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_cluster_dispose;
  object_class->finalize = natter_cluster_finalize;
}

static void
natter_cluster_init (NatterCluster *self)
{
  self->remote_presence = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                 (GDestroyNotify) g_hash_table_unref);
}

/**
 * natter_cluster_new:
 * @hub: a hub on a shared store (natter_store_is_shared())
 * @redis: (nullable): the fan-out to the other nodes; without it the node still
 *   catches up from the store, seconds late
 * @node_id: this node's id, for /metrics
 *
 * Returns: (transfer full): the node's cluster; call natter_cluster_start() once the hub
 *   has started, and drop it before the hub at shutdown
 */
NatterCluster *
natter_cluster_new (NatterHub   *hub,
                    NatterRedis *redis,
                    const char  *node_id)
{
  NatterCluster *self;

  g_return_val_if_fail (NATTER_IS_HUB (hub), NULL);
  g_return_val_if_fail (natter_store_is_shared (natter_hub_get_store (hub)), NULL);
  g_return_val_if_fail (redis == NULL || NATTER_IS_REDIS (redis), NULL);

  self = g_object_new (NATTER_TYPE_CLUSTER, NULL);
  self->hub = g_object_ref (hub);
  self->store = g_object_ref (natter_hub_get_store (hub));
  self->node_id = g_strdup (node_id);

  g_signal_connect_object (hub, "message-committed", G_CALLBACK (message_committed_cb),
                           self, 0);
  g_signal_connect_object (hub, "room-event", G_CALLBACK (room_event_cb), self, 0);
  g_signal_connect_object (hub, "member-changed", G_CALLBACK (member_changed_cb), self, 0);
  g_signal_connect_object (hub, "presence-changed", G_CALLBACK (presence_changed_cb),
                           self, 0);
  g_signal_connect_object (hub, "room-watched", G_CALLBACK (room_watched_cb), self, 0);
  g_signal_connect_object (hub, "room-unwatched", G_CALLBACK (room_unwatched_cb), self, 0);
  g_signal_connect_object (hub, "sessions-ended", G_CALLBACK (sessions_ended_cb), self, 0);

  if (redis != NULL)
    {
      self->redis = g_object_ref (redis);
      g_signal_connect_object (redis, "message", G_CALLBACK (redis_message_cb), self, 0);
      g_signal_connect_object (redis, "notify::connected", G_CALLBACK (redis_connected_cb),
                               self, 0);
    }
  return self;
}
