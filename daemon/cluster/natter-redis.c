/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-redis"

#include "config.h"

#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/glib.h>

#include "natter-error.h"
#include "natter-redis.h"

#define CHANNEL_ROOM_PREFIX "natter:room:"
#define CHANNEL_BROADCAST   "natter:broadcast"
#define CHANNEL_NODE_PREFIX "natter:node:"

#define ENVELOPE_VERSION     1
#define BACKOFF_MIN_MS       100
#define BACKOFF_MAX_MS       5000
#define TICK_INTERVAL_S      1
/* A subscriber that has not heard the node's own heartbeat for this long is stale. */
#define HEARTBEAT_TIMEOUT_US (5 * G_USEC_PER_SEC)
/* Publishes not yet answered; beyond this Redis is not keeping up and publishes are
 * dropped (nodes catch up from the store) instead of buffering without bound. */
#define MAX_IN_FLIGHT        10000

typedef enum {
  LINK_PUBLISHER,
  LINK_SUBSCRIBER,
} LinkRole;

typedef struct
{
  NatterRedis       *owner;       /* (unowned) */
  LinkRole           role;
  redisAsyncContext *ac;          /* (owned by hiredis) (nullable) */
  GSource           *source;      /* (owned) (nullable) the adapter's RedisSource */
  GSource           *stale;       /* (owned) (nullable) the source of a freed context */
  gboolean           ready;       /* answered its first command */
  GSource           *retry;       /* (owned) (nullable) */
  guint              backoff_ms;
  guint              in_flight;
  gint64             last_heartbeat_us;
} Link;

/* What the subscriber connection should be subscribed to, per room. */
typedef enum {
  SUB_WANTED,          /* subscribed, or will be on (re)connect */
  SUB_LEAVING,         /* UNSUBSCRIBE sent, its reply pending */
  SUB_LEAVING_REJOIN,  /* UNSUBSCRIBE sent, but wanted again: SUBSCRIBE on its reply */
} SubState;

struct _NatterRedis
{
  GObject       parent_instance;

  char         *node_id;        /* (owned) */
  char         *node_channel;   /* (owned) */
  char         *host;           /* (owned) (nullable) */
  guint         port;
  char         *unix_path;      /* (owned) (nullable) */
  char         *password;       /* (owned) (nullable) */
  GMainContext *context;        /* (owned) */

  Link          links[2];
  GHashTable   *rooms;          /* (owned) (element-type utf8 SubState) */
  GSource      *tick;           /* (owned) */
  gboolean      connected;
  gboolean      disposing;

  guint64       published;
  guint64       dropped;
  guint64       received;
  guint64       reconnects;
};

enum {
  PROP_0,
  PROP_CONNECTED,
  N_PROPS
};

enum {
  SIGNAL_MESSAGE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (NatterRedis, natter_redis, G_TYPE_OBJECT)

static void link_connect (Link *link);

static const char *
link_name (Link *link)
{
  return link->role == LINK_PUBLISHER ? "publisher" : "subscriber";
}

static void
update_connected (NatterRedis *self)
{
  gboolean connected = self->links[LINK_PUBLISHER].ready &&
                       self->links[LINK_SUBSCRIBER].ready;

  if (connected == self->connected || self->disposing)
    return;

  self->connected = connected;
  if (connected)
    g_message ("Connected to Redis");
  else
    g_message ("Lost Redis: fan-out between nodes falls back to catching up from the store");
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
}

static char *
room_channel (const char *room)
{
  return g_strconcat (CHANNEL_ROOM_PREFIX, room, NULL);
}

/* ---------------------------------------------------------------------------------------
 * Connection life cycle */

static gboolean
retry_cb (gpointer data)
{
  Link *link = data;

  g_clear_pointer (&link->retry, g_source_unref);
  link_connect (link);
  return G_SOURCE_REMOVE;
}

static void
link_schedule_retry (Link *link)
{
  NatterRedis *self = link->owner;
  guint delay;

  if (self->disposing || link->retry != NULL)
    return;

  /* ±25 % jitter, so the nodes of a cluster do not reconnect in lockstep. */
  delay = link->backoff_ms * (75 + g_random_int_range (0, 51)) / 100;
  link->backoff_ms = MIN (link->backoff_ms * 2, BACKOFF_MAX_MS);

  link->retry = g_timeout_source_new (delay);
  g_source_set_static_name (link->retry, "[natter] redis reconnect");
  g_source_set_callback (link->retry, retry_cb, link, NULL);
  g_source_attach (link->retry, self->context);
}

/* The adapter's source outlives the context it watches, and hiredis may still call its
 * cleanup hook after telling us the context is gone (a failed connect reports first and
 * cleans up after). So: forget its pending events, so that a dispatch in progress does
 * not touch the freed context again, and take it off the loop only later. */
static void
link_retire_source (Link *link)
{
  if (link->source == NULL)
    return;
  ((RedisSource *) link->source)->poll_fd.revents = 0;
  g_assert (link->stale == NULL);
  link->stale = g_steal_pointer (&link->source);
}

static void
link_drop_stale_source (Link *link)
{
  if (link->stale == NULL)
    return;
  g_source_destroy (link->stale);
  g_clear_pointer (&link->stale, g_source_unref);
}

/* Called when hiredis has freed the context, or is about to. */
static void
link_lost (Link *link)
{
  NatterRedis *self = link->owner;

  link->ac = NULL;
  link->ready = FALSE;
  link->in_flight = 0;
  link_retire_source (link);
  update_connected (self);
  link_schedule_retry (link);
}

/* Closes the connection from outside any hiredis callback. */
static void
link_close (Link *link)
{
  redisAsyncContext *ac = g_steal_pointer (&link->ac);

  if (ac != NULL)
    {
      ac->data = NULL;
      redisAsyncFree (ac);
    }
  link_lost (link);
}

static void
on_connect (const redisAsyncContext *ac, int status)
{
  Link *link = ac->data;

  if (status == REDIS_OK || link == NULL)
    return;

  /* hiredis frees the context when this returns. */
  g_debug ("Redis %s: cannot connect: %s", link_name (link), ac->errstr);
  link_lost (link);
}

static void
on_disconnect (const redisAsyncContext *ac, int status)
{
  Link *link = ac->data;

  if (link == NULL)
    return;

  g_debug ("Redis %s: disconnected: %s", link_name (link),
           status == REDIS_OK ? "closed" : ac->errstr);
  link_lost (link);
}

static void
link_set_ready (Link *link)
{
  if (link->ready)
    return;
  link->ready = TRUE;
  link->backoff_ms = BACKOFF_MIN_MS;
  link->last_heartbeat_us = g_get_monotonic_time ();
  update_connected (link->owner);
}

static gboolean
reply_is_error (redisAsyncContext *ac, redisReply *reply, Link *link, const char *what)
{
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
    {
      g_warning ("Redis %s: %s failed: %s", link_name (link), what, reply->str);
      return TRUE;
    }
  return FALSE;
}

/* A refused AUTH: disconnect once the pending replies are in, and try again with the
 * backoff, so a corrected password takes effect without a restart. */
static void
on_auth_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  Link *link = ac->data;

  if (link == NULL || r == NULL)
    return;
  if (reply_is_error (ac, r, link, "AUTH"))
    redisAsyncDisconnect (ac);
}

static void
on_ping_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  Link *link = ac->data;

  if (link == NULL || r == NULL || reply_is_error (ac, r, link, "PING"))
    return;
  link_set_ready (link);
}

static void
on_publish_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  Link *link = ac->data;

  /* A NULL reply means the context is going away; link_lost() resets the count. */
  if (link == NULL || r == NULL)
    return;
  if (link->in_flight > 0)
    link->in_flight--;
  reply_is_error (ac, r, link, "PUBLISH");
}

static void on_subscriber_reply (redisAsyncContext *ac, void *r, void *privdata);

static void
send_subscribe (Link *link, const char * const *channels, guint n_channels)
{
  g_autofree const char **argv = g_new (const char *, n_channels + 1);
  g_autofree size_t *lens = g_new (size_t, n_channels + 1);

  if (link->ac == NULL || n_channels == 0)
    return;

  argv[0] = "SUBSCRIBE";
  lens[0] = strlen (argv[0]);
  for (guint i = 0; i < n_channels; i++)
    {
      argv[i + 1] = channels[i];
      lens[i + 1] = strlen (channels[i]);
    }
  redisAsyncCommandArgv (link->ac, on_subscriber_reply, NULL, (int) n_channels + 1, argv, lens);
}

static void
send_unsubscribe (Link *link, const char *channel)
{
  const char *argv[] = { "UNSUBSCRIBE", channel };
  const size_t lens[] = { strlen (argv[0]), strlen (channel) };

  /* Every unsubscribed channel answers through its SUBSCRIBE callback; hiredis takes
   * no callback for UNSUBSCRIBE itself. */
  if (link->ac != NULL)
    redisAsyncCommandArgv (link->ac, NULL, NULL, 2, argv, lens);
}

static void
subscribe_all (NatterRedis *self, Link *link)
{
  g_autoptr(GPtrArray) channels = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key, value;

  g_ptr_array_add (channels, g_strdup (self->node_channel));
  g_ptr_array_add (channels, g_strdup (CHANNEL_BROADCAST));

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      /* The connection is new: nothing is pending on it any more. */
      if (GPOINTER_TO_INT (value) == SUB_LEAVING)
        {
          g_hash_table_iter_remove (&iter);
          continue;
        }
      g_hash_table_iter_replace (&iter, GINT_TO_POINTER (SUB_WANTED));
      g_ptr_array_add (channels, room_channel (key));
    }

  send_subscribe (link, (const char * const *) channels->pdata, channels->len);
}

static void
link_connect (Link *link)
{
  NatterRedis *self = link->owner;
  redisAsyncContext *ac;

  if (self->disposing)
    return;

  link_drop_stale_source (link);
  self->reconnects++;
  if (self->unix_path != NULL)
    ac = redisAsyncConnectUnix (self->unix_path);
  else
    ac = redisAsyncConnect (self->host, (int) self->port);

  if (ac == NULL || ac->err != 0)
    {
      g_debug ("Redis %s: cannot connect: %s", link_name (link),
               ac != NULL ? ac->errstr : "out of memory");
      if (ac != NULL)
        redisAsyncFree (ac);
      link_schedule_retry (link);
      return;
    }

  if (self->unix_path == NULL)
    redisEnableKeepAlive (&ac->c);

  ac->data = link;
  link->ac = ac;
  link->source = redis_source_new (ac);
  g_source_set_static_name (link->source, "[natter] redis");
  g_source_attach (link->source, self->context);
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);

  if (self->password != NULL)
    {
      const char *argv[] = { "AUTH", self->password };
      const size_t lens[] = { 4, strlen (self->password) };

      redisAsyncCommandArgv (ac, on_auth_reply, NULL, 2, argv, lens);
    }

  /* The first answer marks the link ready: for the subscriber, the confirmation of its
   * first channel. */
  if (link->role == LINK_SUBSCRIBER)
    subscribe_all (self, link);
  else
    redisAsyncCommand (ac, on_ping_reply, NULL, "PING");
}

/* ---------------------------------------------------------------------------------------
 * Receiving */

/* Envelope: version (1 byte), length of the origin node id (1 byte), the node id, then
 * the payload. */
static void
handle_message (NatterRedis *self, const char *channel, const char *data, size_t len)
{
  const char *room = NULL;
  g_autofree char *origin = NULL;
  g_autoptr(GBytes) payload = NULL;
  guint node_len;

  if (len < 2 || (guchar) data[0] != ENVELOPE_VERSION)
    {
      g_debug ("Ignoring a malformed message on %s", channel);
      return;
    }
  node_len = (guchar) data[1];
  if (len < 2 + node_len)
    {
      g_debug ("Ignoring a truncated message on %s", channel);
      return;
    }
  origin = g_strndup (data + 2, node_len);
  if (g_str_equal (origin, self->node_id))
    return;

  if (g_str_has_prefix (channel, CHANNEL_ROOM_PREFIX))
    room = channel + strlen (CHANNEL_ROOM_PREFIX);
  else if (!g_str_equal (channel, CHANNEL_BROADCAST))
    return;

  self->received++;
  payload = g_bytes_new (data + 2 + node_len, len - 2 - node_len);
  g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, room, origin, payload);
}

static void
handle_unsubscribed (NatterRedis *self, Link *link, const char *channel)
{
  const char *room;
  gpointer state;

  if (!g_str_has_prefix (channel, CHANNEL_ROOM_PREFIX))
    return;
  room = channel + strlen (CHANNEL_ROOM_PREFIX);
  if (!g_hash_table_lookup_extended (self->rooms, room, NULL, &state))
    return;

  if (GPOINTER_TO_INT (state) == SUB_LEAVING_REJOIN)
    {
      g_hash_table_replace (self->rooms, g_strdup (room), GINT_TO_POINTER (SUB_WANTED));
      send_subscribe (link, &channel, 1);
    }
  else if (GPOINTER_TO_INT (state) == SUB_LEAVING)
    {
      g_hash_table_remove (self->rooms, room);
    }
}

static void
on_subscriber_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  Link *link = ac->data;
  redisReply *reply = r;
  NatterRedis *self;
  const char *type;
  const char *channel;

  if (link == NULL || reply == NULL)
    return;
  if (reply_is_error (ac, reply, link, "SUBSCRIBE"))
    return;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
      reply->element[0]->type != REDIS_REPLY_STRING ||
      reply->element[1]->type != REDIS_REPLY_STRING)
    return;

  self = link->owner;
  type = reply->element[0]->str;
  channel = reply->element[1]->str;

  if (g_str_equal (type, "message") && reply->element[2]->type == REDIS_REPLY_STRING)
    {
      if (g_str_equal (channel, self->node_channel))
        {
          link->last_heartbeat_us = g_get_monotonic_time ();
          return;
        }
      g_object_ref (self);
      handle_message (self, channel, reply->element[2]->str, reply->element[2]->len);
      g_object_unref (self);
    }
  else if (g_str_equal (type, "subscribe"))
    {
      link_set_ready (link);
    }
  else if (g_str_equal (type, "unsubscribe"))
    {
      handle_unsubscribed (self, link, channel);
    }
}

/* ---------------------------------------------------------------------------------------
 * Heartbeat: the node publishes to its own channel, so a subscription that silently
 * stopped delivering is noticed and rebuilt. */

static gboolean
tick_cb (gpointer data)
{
  NatterRedis *self = data;
  Link *publisher = &self->links[LINK_PUBLISHER];
  Link *subscriber = &self->links[LINK_SUBSCRIBER];

  if (publisher->ready && publisher->in_flight < MAX_IN_FLIGHT)
    {
      const char *argv[] = { "PUBLISH", self->node_channel, "" };
      const size_t lens[] = { 7, strlen (self->node_channel), 0 };

      publisher->in_flight++;
      redisAsyncCommandArgv (publisher->ac, on_publish_reply, NULL, 3, argv, lens);
    }

  if (publisher->ready && subscriber->ready &&
      g_get_monotonic_time () - subscriber->last_heartbeat_us > HEARTBEAT_TIMEOUT_US)
    {
      g_message ("Redis subscription stopped delivering; reconnecting it");
      link_close (subscriber);
    }

  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------------------------------
 * GObject */

static void
natter_redis_dispose (GObject *object)
{
  NatterRedis *self = NATTER_REDIS (object);

  self->disposing = TRUE;
  if (self->tick != NULL)
    g_source_destroy (self->tick);
  g_clear_pointer (&self->tick, g_source_unref);

  for (guint i = 0; i < G_N_ELEMENTS (self->links); i++)
    {
      Link *link = &self->links[i];

      if (link->retry != NULL)
        g_source_destroy (link->retry);
      g_clear_pointer (&link->retry, g_source_unref);
      link_close (link);
      link_drop_stale_source (link);
    }

  G_OBJECT_CLASS (natter_redis_parent_class)->dispose (object);
}

static void
natter_redis_finalize (GObject *object)
{
  NatterRedis *self = NATTER_REDIS (object);

  g_clear_pointer (&self->node_id, g_free);
  g_clear_pointer (&self->node_channel, g_free);
  g_clear_pointer (&self->host, g_free);
  g_clear_pointer (&self->unix_path, g_free);
  if (self->password != NULL)
    explicit_bzero (self->password, strlen (self->password));
  g_clear_pointer (&self->password, g_free);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (natter_redis_parent_class)->finalize (object);
}

static void
natter_redis_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  NatterRedis *self = NATTER_REDIS (object);

  switch (prop_id)
    {
    case PROP_CONNECTED:
      g_value_set_boolean (value, self->connected);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_redis_class_init (NatterRedisClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_redis_dispose;
  object_class->finalize = natter_redis_finalize;
  object_class->get_property = natter_redis_get_property;

  properties[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 3,
                  G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
                  G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
                  G_TYPE_BYTES);
}

static void
natter_redis_init (NatterRedis *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (self->links); i++)
    {
      self->links[i].owner = self;
      self->links[i].role = i;
      self->links[i].backoff_ms = BACKOFF_MIN_MS;
    }
}

/* ---------------------------------------------------------------------------------------
 * Public API */

/* Accepts redis://[:password@]host[:port][/db], unix:///path/to/socket (also
 * redis+unix:// and a bare absolute path); a `password` query parameter works for both. */
static gboolean
parse_uri (NatterRedis *self, const char *uri, GError **error)
{
  g_autoptr(GUri) parsed = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *scheme;
  const char *query;

  if (uri[0] == '/')
    {
      self->unix_path = g_strdup (uri);
      return TRUE;
    }

  parsed = g_uri_parse (uri, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_QUERY,
                        &local_error);
  if (parsed == NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "Invalid Redis URI “%s”: %s", uri, local_error->message);
      return FALSE;
    }

  scheme = g_uri_get_scheme (parsed);
  if (g_str_equal (scheme, "unix") || g_str_equal (scheme, "redis+unix"))
    {
      if (*g_uri_get_path (parsed) == '\0')
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "Redis URI “%s” names no socket", uri);
          return FALSE;
        }
      self->unix_path = g_strdup (g_uri_get_path (parsed));
    }
  else if (g_str_equal (scheme, "redis"))
    {
      self->host = g_strdup (g_uri_get_host (parsed) != NULL && *g_uri_get_host (parsed) != '\0'
                             ? g_uri_get_host (parsed) : "127.0.0.1");
      self->port = g_uri_get_port (parsed) > 0 ? (guint) g_uri_get_port (parsed) : 6379;
    }
  else
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "Unsupported Redis URI scheme “%s” (use redis:// or unix://)", scheme);
      return FALSE;
    }

  if (g_uri_get_password (parsed) != NULL && *g_uri_get_password (parsed) != '\0')
    self->password = g_strdup (g_uri_get_password (parsed));

  query = g_uri_get_query (parsed);
  if (query != NULL)
    {
      g_autoptr(GHashTable) params = g_uri_parse_params (query, -1, "&",
                                                         G_URI_PARAMS_NONE, NULL);
      const char *password = params != NULL ? g_hash_table_lookup (params, "password") : NULL;

      if (password != NULL)
        {
          g_free (self->password);
          self->password = g_strdup (password);
        }
    }

  return TRUE;
}

/**
 * natter_redis_new:
 * @uri: where Redis listens: `redis://host:port` or `unix:///path/redis.sock`, with an
 *   optional password (`redis://:secret@host`)
 * @node_id: this node's id, unique in the cluster (at most 255 bytes)
 * @error: return location for a #GError
 *
 * Starts connecting in the background on the thread-default main context; watch
 * #NatterRedis:connected. Fails only for an invalid @uri or @node_id: an unreachable
 * Redis is retried for as long as the object lives.
 *
 * Returns: (transfer full): a new #NatterRedis, or %NULL with @error set
 */
NatterRedis *
natter_redis_new (const char *uri, const char *node_id, GError **error)
{
  g_autoptr(NatterRedis) self = NULL;

  g_return_val_if_fail (uri != NULL, NULL);
  g_return_val_if_fail (node_id != NULL, NULL);

  if (*node_id == '\0' || strlen (node_id) > 255 || !g_utf8_validate (node_id, -1, NULL))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "Invalid node id “%s”: 1 to 255 bytes of UTF-8", node_id);
      return NULL;
    }

  self = g_object_new (NATTER_TYPE_REDIS, NULL);
  if (!parse_uri (self, uri, error))
    return NULL;

  self->node_id = g_strdup (node_id);
  self->node_channel = g_strconcat (CHANNEL_NODE_PREFIX, node_id, NULL);
  self->context = g_main_context_ref_thread_default ();

  self->tick = g_timeout_source_new_seconds (TICK_INTERVAL_S);
  g_source_set_static_name (self->tick, "[natter] redis heartbeat");
  g_source_set_callback (self->tick, tick_cb, self, NULL);
  g_source_attach (self->tick, self->context);

  link_connect (&self->links[LINK_PUBLISHER]);
  link_connect (&self->links[LINK_SUBSCRIBER]);

  return g_steal_pointer (&self);
}

const char *
natter_redis_get_node_id (NatterRedis *self)
{
  g_return_val_if_fail (NATTER_IS_REDIS (self), NULL);
  return self->node_id;
}

/**
 * natter_redis_get_connected:
 * @self: a #NatterRedis
 *
 * Returns: %TRUE if both connections are up and the subscriptions are in place
 */
gboolean
natter_redis_get_connected (NatterRedis *self)
{
  g_return_val_if_fail (NATTER_IS_REDIS (self), FALSE);
  return self->connected;
}

/**
 * natter_redis_publish:
 * @self: a #NatterRedis
 * @room: (nullable): the room the payload is about, or %NULL for every node
 * @payload: the bytes to send, usually a protobuf-encoded `ServerFrame`
 *
 * Publishes @payload on the room's channel (or the broadcast channel) with this node's
 * id. Never blocks.
 *
 * Returns: %TRUE if it was sent, %FALSE if it was dropped because Redis is not
 *   connected or not keeping up
 */
gboolean
natter_redis_publish (NatterRedis *self, const char *room, GBytes *payload)
{
  Link *publisher;
  g_autofree char *channel = NULL;
  g_autofree guchar *envelope = NULL;
  gsize payload_len, node_len, envelope_len;
  const guint8 *payload_data;
  const char *argv[3];
  size_t lens[3];

  g_return_val_if_fail (NATTER_IS_REDIS (self), FALSE);
  g_return_val_if_fail (payload != NULL, FALSE);

  publisher = &self->links[LINK_PUBLISHER];
  if (!publisher->ready || publisher->in_flight >= MAX_IN_FLIGHT)
    {
      self->dropped++;
      return FALSE;
    }

  payload_data = g_bytes_get_data (payload, &payload_len);
  node_len = strlen (self->node_id);
  envelope_len = 2 + node_len + payload_len;
  envelope = g_malloc (envelope_len);
  envelope[0] = ENVELOPE_VERSION;
  envelope[1] = (guchar) node_len;
  memcpy (envelope + 2, self->node_id, node_len);
  if (payload_len > 0)
    memcpy (envelope + 2 + node_len, payload_data, payload_len);

  channel = room != NULL ? room_channel (room) : g_strdup (CHANNEL_BROADCAST);
  argv[0] = "PUBLISH";
  lens[0] = 7;
  argv[1] = channel;
  lens[1] = strlen (channel);
  argv[2] = (const char *) envelope;
  lens[2] = envelope_len;

  if (redisAsyncCommandArgv (publisher->ac, on_publish_reply, NULL, 3, argv, lens) != REDIS_OK)
    {
      self->dropped++;
      return FALSE;
    }
  publisher->in_flight++;
  self->published++;
  return TRUE;
}

/**
 * natter_redis_subscribe_room:
 * @self: a #NatterRedis
 * @room: a room name
 *
 * Receives the room's payloads from other nodes from now on (and after every reconnect)
 * until natter_redis_unsubscribe_room(). Idempotent. A node subscribes to the rooms that
 * have local members.
 */
void
natter_redis_subscribe_room (NatterRedis *self, const char *room)
{
  Link *subscriber;
  gpointer state;
  g_autofree char *channel = NULL;

  g_return_if_fail (NATTER_IS_REDIS (self));
  g_return_if_fail (room != NULL);

  subscriber = &self->links[LINK_SUBSCRIBER];
  if (g_hash_table_lookup_extended (self->rooms, room, NULL, &state))
    {
      if (GPOINTER_TO_INT (state) == SUB_LEAVING)
        g_hash_table_replace (self->rooms, g_strdup (room),
                              GINT_TO_POINTER (SUB_LEAVING_REJOIN));
      return;
    }

  g_hash_table_insert (self->rooms, g_strdup (room), GINT_TO_POINTER (SUB_WANTED));
  channel = room_channel (room);
  send_subscribe (subscriber, (const char * const *) &channel, 1);
}

/**
 * natter_redis_unsubscribe_room:
 * @self: a #NatterRedis
 * @room: a room name
 *
 * Stops receiving the room's payloads, when its last local member left. Idempotent.
 */
void
natter_redis_unsubscribe_room (NatterRedis *self, const char *room)
{
  Link *subscriber;
  gpointer state;
  g_autofree char *channel = NULL;

  g_return_if_fail (NATTER_IS_REDIS (self));
  g_return_if_fail (room != NULL);

  subscriber = &self->links[LINK_SUBSCRIBER];
  if (!g_hash_table_lookup_extended (self->rooms, room, NULL, &state))
    return;

  switch ((SubState) GPOINTER_TO_INT (state))
    {
    case SUB_WANTED:
      if (subscriber->ac == NULL)
        {
          g_hash_table_remove (self->rooms, room);
          return;
        }
      g_hash_table_replace (self->rooms, g_strdup (room), GINT_TO_POINTER (SUB_LEAVING));
      channel = room_channel (room);
      send_unsubscribe (subscriber, channel);
      break;
    case SUB_LEAVING_REJOIN:
      g_hash_table_replace (self->rooms, g_strdup (room), GINT_TO_POINTER (SUB_LEAVING));
      break;
    case SUB_LEAVING:
    default:
      break;
    }
}

/**
 * natter_redis_is_subscribed:
 * @self: a #NatterRedis
 * @room: a room name
 *
 * Returns: %TRUE if the room is wanted: subscribed, or will be on reconnect
 */
gboolean
natter_redis_is_subscribed (NatterRedis *self, const char *room)
{
  gpointer state;

  g_return_val_if_fail (NATTER_IS_REDIS (self), FALSE);

  return g_hash_table_lookup_extended (self->rooms, room, NULL, &state) &&
         GPOINTER_TO_INT (state) != SUB_LEAVING;
}

/**
 * natter_redis_append_metrics:
 * @self: a #NatterRedis
 * @out: the Prometheus text exposition being built
 */
void
natter_redis_append_metrics (NatterRedis *self, GString *out)
{
  g_return_if_fail (NATTER_IS_REDIS (self));

  g_string_append_printf (out,
                          "# HELP natter_redis_up Whether both Redis connections are up.\n"
                          "# TYPE natter_redis_up gauge\n"
                          "natter_redis_up %d\n"
                          "# HELP natter_redis_published_total Payloads published to other nodes.\n"
                          "# TYPE natter_redis_published_total counter\n"
                          "natter_redis_published_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_redis_dropped_total Publishes dropped while Redis was away or behind.\n"
                          "# TYPE natter_redis_dropped_total counter\n"
                          "natter_redis_dropped_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_redis_received_total Payloads received from other nodes.\n"
                          "# TYPE natter_redis_received_total counter\n"
                          "natter_redis_received_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_redis_connects_total Connection attempts.\n"
                          "# TYPE natter_redis_connects_total counter\n"
                          "natter_redis_connects_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_redis_subscribed_rooms Room channels subscribed.\n"
                          "# TYPE natter_redis_subscribed_rooms gauge\n"
                          "natter_redis_subscribed_rooms %u\n",
                          self->connected ? 1 : 0, self->published, self->dropped,
                          self->received, self->reconnects,
                          g_hash_table_size (self->rooms));
}
