/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "test-redis"

#include "config.h"

#include <signal.h>
#include <string.h>

#include <gio/gio.h>

#include "natter-error.h"
#include "natter-redis.h"

/* NatterRedis against a real redis-server: fan-out between two "nodes", subscriptions,
 * and what happens when Redis goes away and comes back.
 *
 * Runs under servers.py --redis, which provides NATTER_TEST_REDIS (a unix:// URI),
 * NATTER_TEST_REDIS_TCP (a redis:// one to the same server), NATTER_TEST_REDIS_DIR and
 * NATTER_TEST_SERVERS (to stop and start the server). */

typedef struct {
  char    *room;    /* (owned) (nullable) */
  char    *origin;  /* (owned) */
  GBytes  *payload; /* (owned) */
} Received;

typedef struct {
  NatterRedis *redis;     /* (owned) */
  GPtrArray   *received;  /* (owned) (element-type Received) */
  guint        n_connected_changes;
} Node;

typedef struct {
  Node a;
  Node b;
} Fixture;

static gboolean
set_true_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

#define WAIT_UNTIL(cond) \
  G_STMT_START { \
    gboolean timed_out_ = FALSE; \
    guint timeout_id_ = g_timeout_add_seconds (30, set_true_cb, &timed_out_); \
    while (!(cond) && !timed_out_) \
      g_main_context_iteration (NULL, TRUE); \
    if (timed_out_) \
      g_error ("Timed out waiting for %s", #cond); \
    g_source_remove (timeout_id_); \
  } G_STMT_END

static void
received_free (Received *received)
{
  g_free (received->room);
  g_free (received->origin);
  g_bytes_unref (received->payload);
  g_free (received);
}

static void
message_cb (NatterRedis *redis, const char *room, const char *origin, GBytes *payload,
            gpointer user_data)
{
  Node *node = user_data;
  Received *received = g_new0 (Received, 1);

  received->room = g_strdup (room);
  received->origin = g_strdup (origin);
  received->payload = g_bytes_ref (payload);
  g_ptr_array_add (node->received, received);
}

static void
connected_cb (NatterRedis *redis, GParamSpec *pspec, gpointer user_data)
{
  Node *node = user_data;

  node->n_connected_changes++;
}

static const char *
redis_uri (void)
{
  const char *uri = g_getenv ("NATTER_TEST_REDIS");

  if (uri == NULL)
    g_error ("NATTER_TEST_REDIS is not set: run this test through tests/cluster/servers.py");
  return uri;
}

static void
servers_ctl (const char *action)
{
  const char *script = g_getenv ("NATTER_TEST_SERVERS");
  const char *dir = g_getenv ("NATTER_TEST_REDIS_DIR");
  const char *argv[] = { "/usr/bin/python3", script, "ctl", "redis", dir, action, NULL };
  g_autoptr(GError) local_error = NULL;
  int status = 0;

  g_assert_nonnull (script);
  g_assert_nonnull (dir);
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status,
                &local_error);
  g_assert_no_error (local_error);
  g_spawn_check_wait_status (status, &local_error);
  g_assert_no_error (local_error);
}

static void
redis_cli (const char *command)
{
  g_autofree char *socket_path = g_build_filename (g_getenv ("NATTER_TEST_REDIS_DIR"),
                                                   "redis.sock", NULL);
  g_autofree char *cmdline = g_strdup_printf ("redis-cli -s %s %s", socket_path, command);
  g_autofree char *out = NULL;
  g_autoptr(GError) local_error = NULL;
  int status = 0;

  /* Its output must not end up in the TAP stream. */
  g_spawn_command_line_sync (cmdline, &out, NULL, &status, &local_error);
  g_assert_no_error (local_error);
  g_spawn_check_wait_status (status, &local_error);
  g_assert_no_error (local_error);
}

static void
node_init_uri (Node *node, const char *uri, const char *node_id, const char * const *rooms)
{
  g_autoptr(GError) local_error = NULL;

  node->received = g_ptr_array_new_with_free_func ((GDestroyNotify) received_free);
  node->redis = natter_redis_new (uri, node_id, &local_error);
  g_assert_no_error (local_error);
  g_assert_nonnull (node->redis);
  g_assert_cmpstr (natter_redis_get_node_id (node->redis), ==, node_id);
  g_signal_connect (node->redis, "message", G_CALLBACK (message_cb), node);
  g_signal_connect (node->redis, "notify::connected", G_CALLBACK (connected_cb), node);
  for (guint i = 0; rooms != NULL && rooms[i] != NULL; i++)
    natter_redis_subscribe_room (node->redis, rooms[i]);
}

static void
node_init (Node *node, const char *node_id, const char * const *rooms)
{
  node_init_uri (node, redis_uri (), node_id, rooms);
}

static void
node_clear (Node *node)
{
  g_clear_object (&node->redis);
  g_clear_pointer (&node->received, g_ptr_array_unref);
}

static void
setup (Fixture *fixture, gconstpointer user_data)
{
  const char * const rooms[] = { "general", "dm:alice:bob", NULL };

  node_init (&fixture->a, "node-a", rooms);
  node_init (&fixture->b, "node-b", rooms);
  WAIT_UNTIL (natter_redis_get_connected (fixture->a.redis) &&
              natter_redis_get_connected (fixture->b.redis));
}

static void
teardown (Fixture *fixture, gconstpointer user_data)
{
  node_clear (&fixture->a);
  node_clear (&fixture->b);
  /* Whatever the test did to the server, the next test gets a running one. */
  if (g_getenv ("NATTER_TEST_REDIS_DIR") != NULL)
    {
      g_autofree char *socket_path = g_build_filename (g_getenv ("NATTER_TEST_REDIS_DIR"),
                                                       "redis.sock", NULL);

      if (!g_file_test (socket_path, G_FILE_TEST_EXISTS))
        servers_ctl ("start");
    }
}

static GBytes *
bytes_from_string (const char *text)
{
  return g_bytes_new (text, strlen (text));
}

static gboolean
received_equals (Received *received, const char *room, const char *origin, GBytes *payload)
{
  return g_strcmp0 (received->room, room) == 0 &&
         g_str_equal (received->origin, origin) &&
         g_bytes_equal (received->payload, payload);
}

static gboolean
has_received (Node *node, const char *room, GBytes *payload)
{
  for (guint i = 0; i < node->received->len; i++)
    {
      Received *received = g_ptr_array_index (node->received, i);

      if (g_strcmp0 (received->room, room) == 0 && g_bytes_equal (received->payload, payload))
        return TRUE;
    }
  return FALSE;
}

/* Publishes until @to receives it: for subscriptions made while connected, whose
 * confirmation nobody waits for. */
static void
publish_until_received (Node *from, Node *to, const char *room, GBytes *payload)
{
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  while (!has_received (to, room, payload))
    {
      gint64 next = g_get_monotonic_time () + 50 * 1000;

      if (g_get_monotonic_time () > deadline)
        g_error ("Never received a publish on %s", room != NULL ? room : "the broadcast channel");
      natter_redis_publish (from->redis, room, payload);
      while (!has_received (to, room, payload) && g_get_monotonic_time () < next)
        g_main_context_iteration (NULL, FALSE);
    }
}

/* Tests */

static void
test_round_trip (Fixture *fixture, gconstpointer user_data)
{
  /* Protobuf is binary: NULs and high bytes must survive. */
  static const guint8 binary[] = { 0x4a, 0x00, 0x0a, 0xff, 0x00, 0x80, 0x12 };
  g_autoptr(GBytes) hello = g_bytes_new_static (binary, sizeof binary);
  g_autoptr(GBytes) dm = bytes_from_string ("to the dm");
  g_autoptr(GBytes) presence = bytes_from_string ("alice is online");
  g_autoptr(GBytes) reply = bytes_from_string ("reply");
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr(GString) metrics = g_string_new (NULL);

  g_assert_true (natter_redis_publish (fixture->a.redis, "general", hello));
  WAIT_UNTIL (fixture->b.received->len == 1);
  g_assert_true (received_equals (g_ptr_array_index (fixture->b.received, 0), "general",
                                  "node-a", hello));

  g_assert_true (natter_redis_publish (fixture->a.redis, "dm:alice:bob", dm));
  g_assert_true (natter_redis_publish (fixture->a.redis, NULL, presence));
  g_assert_true (natter_redis_publish (fixture->a.redis, "general", empty));
  WAIT_UNTIL (fixture->b.received->len == 4);
  /* In the order published. */
  g_assert_true (received_equals (g_ptr_array_index (fixture->b.received, 1), "dm:alice:bob",
                                  "node-a", dm));
  g_assert_true (received_equals (g_ptr_array_index (fixture->b.received, 2), NULL,
                                  "node-a", presence));
  g_assert_true (received_equals (g_ptr_array_index (fixture->b.received, 3), "general",
                                  "node-a", empty));

  /* a hears b, but never itself: b's reply is published after a's messages reached
   * Redis, so a would have had them first. */
  g_assert_true (natter_redis_publish (fixture->b.redis, "general", reply));
  WAIT_UNTIL (fixture->a.received->len >= 1);
  g_assert_cmpuint (fixture->a.received->len, ==, 1);
  g_assert_true (received_equals (g_ptr_array_index (fixture->a.received, 0), "general",
                                  "node-b", reply));

  natter_redis_append_metrics (fixture->a.redis, metrics);
  g_assert_nonnull (strstr (metrics->str, "natter_redis_up 1\n"));
  g_assert_nonnull (strstr (metrics->str, "natter_redis_published_total 4\n"));
  g_assert_nonnull (strstr (metrics->str, "natter_redis_subscribed_rooms 2\n"));
}

static void
test_subscriptions (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GBytes) first = bytes_from_string ("first");
  g_autoptr(GBytes) unheard = bytes_from_string ("nobody listens");
  g_autoptr(GBytes) marker = bytes_from_string ("marker");
  g_autoptr(GBytes) again = bytes_from_string ("again");
  g_autoptr(GBytes) other = bytes_from_string ("other room");

  /* Subscribing while connected. */
  g_assert_false (natter_redis_is_subscribed (fixture->b.redis, "late"));
  natter_redis_subscribe_room (fixture->b.redis, "late");
  natter_redis_subscribe_room (fixture->b.redis, "late");
  g_assert_true (natter_redis_is_subscribed (fixture->b.redis, "late"));
  publish_until_received (&fixture->a, &fixture->b, "late", first);

  /* A room nobody subscribed to reaches no one. */
  g_assert_true (natter_redis_publish (fixture->a.redis, "elsewhere", other));

  /* Unsubscribed: nothing more from that room. The marker, published after on the same
   * connection, arrives after anything that would have. */
  natter_redis_unsubscribe_room (fixture->b.redis, "late");
  g_assert_false (natter_redis_is_subscribed (fixture->b.redis, "late"));
  g_ptr_array_set_size (fixture->b.received, 0);
  publish_until_received (&fixture->a, &fixture->b, "general", marker);
  g_ptr_array_set_size (fixture->b.received, 0);
  g_assert_true (natter_redis_publish (fixture->a.redis, "late", unheard));
  g_assert_true (natter_redis_publish (fixture->a.redis, "general", marker));
  WAIT_UNTIL (has_received (&fixture->b, "general", marker));
  g_assert_false (has_received (&fixture->b, "late", unheard));
  g_assert_false (has_received (&fixture->b, "elsewhere", other));

  /* Leaving and coming back before Redis confirmed the leave: still subscribed. */
  natter_redis_subscribe_room (fixture->b.redis, "late");
  natter_redis_unsubscribe_room (fixture->b.redis, "late");
  natter_redis_subscribe_room (fixture->b.redis, "late");
  g_assert_true (natter_redis_is_subscribed (fixture->b.redis, "late"));
  publish_until_received (&fixture->a, &fixture->b, "late", again);

  natter_redis_unsubscribe_room (fixture->b.redis, "never-subscribed");
}

static void
check_restart (Fixture *fixture, const char *how)
{
  g_autoptr(GBytes) during = bytes_from_string ("while redis was away");
  g_autoptr(GBytes) after = bytes_from_string ("after the restart");
  g_autoptr(GBytes) broadcast = bytes_from_string ("broadcast after the restart");
  g_autoptr(GBytes) late = bytes_from_string ("subscribed while away");
  g_autoptr(GString) metrics = g_string_new (NULL);

  servers_ctl (how);
  WAIT_UNTIL (!natter_redis_get_connected (fixture->a.redis) &&
              !natter_redis_get_connected (fixture->b.redis));

  /* Dropped, and said so, once the publisher noticed too (the two connections notice
   * separately): nodes catch up from the store instead. */
  WAIT_UNTIL (!natter_redis_publish (fixture->a.redis, "general", during));
  natter_redis_append_metrics (fixture->a.redis, metrics);
  g_assert_nonnull (strstr (metrics->str, "natter_redis_up 0\n"));
  g_assert_null (strstr (metrics->str, "natter_redis_dropped_total 0\n"));

  /* Subscriptions made meanwhile take effect on reconnect. */
  natter_redis_subscribe_room (fixture->b.redis, "late");

  servers_ctl ("start");
  WAIT_UNTIL (natter_redis_get_connected (fixture->a.redis) &&
              natter_redis_get_connected (fixture->b.redis));

  /* Once connected again, the subscriptions are back in place: no retries needed. */
  g_ptr_array_set_size (fixture->b.received, 0);
  g_assert_true (natter_redis_publish (fixture->a.redis, "general", after));
  g_assert_true (natter_redis_publish (fixture->a.redis, NULL, broadcast));
  g_assert_true (natter_redis_publish (fixture->a.redis, "late", late));
  WAIT_UNTIL (fixture->b.received->len == 3);
  g_assert_true (received_equals (g_ptr_array_index (fixture->b.received, 0), "general",
                                  "node-a", after));
  g_assert_true (received_equals (g_ptr_array_index (fixture->b.received, 1), NULL,
                                  "node-a", broadcast));
  g_assert_true (received_equals (g_ptr_array_index (fixture->b.received, 2), "late",
                                  "node-a", late));
  g_assert_false (has_received (&fixture->b, "general", during));
  g_assert_cmpuint (fixture->b.n_connected_changes, ==, 3);
}

static void
test_restart (Fixture *fixture, gconstpointer user_data)
{
  check_restart (fixture, "stop");
}

static void
test_killed (Fixture *fixture, gconstpointer user_data)
{
  check_restart (fixture, "kill");
}

/* Redis drops the subscriber (as it does to one that falls behind its output buffer
 * limit): it reconnects and resubscribes by itself. */
static void
test_subscriber_dropped (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GBytes) after = bytes_from_string ("after the drop");

  redis_cli ("CLIENT KILL TYPE pubsub");
  WAIT_UNTIL (fixture->b.n_connected_changes >= 2 &&
              natter_redis_get_connected (fixture->b.redis));
  publish_until_received (&fixture->a, &fixture->b, "general", after);
}

/* A node that starts while Redis is down connects once it is up. */
static void
test_start_without_redis (Fixture *fixture, gconstpointer user_data)
{
  const char * const rooms[] = { "general", NULL };
  g_autoptr(GBytes) hello = bytes_from_string ("hello");
  Node c = { 0, };

  servers_ctl ("stop");
  node_init (&c, "node-c", rooms);
  g_assert_false (natter_redis_get_connected (c.redis));
  g_assert_false (natter_redis_publish (c.redis, "general", hello));

  servers_ctl ("start");
  WAIT_UNTIL (natter_redis_get_connected (c.redis) &&
              natter_redis_get_connected (fixture->a.redis));
  g_assert_true (natter_redis_publish (c.redis, "general", hello));
  WAIT_UNTIL (has_received (&fixture->a, "general", hello));
  node_clear (&c);
}

/* Over TCP, to the same server: fan-out with the unix socket nodes. */
static void
test_tcp (Fixture *fixture, gconstpointer user_data)
{
  const char * const rooms[] = { "general", NULL };
  const char *uri = g_getenv ("NATTER_TEST_REDIS_TCP");
  g_autoptr(GBytes) to_tcp = bytes_from_string ("to the TCP node");
  g_autoptr(GBytes) from_tcp = bytes_from_string ("from the TCP node");
  Node c = { 0, };

  g_assert_nonnull (uri);
  node_init_uri (&c, uri, "node-c", rooms);
  WAIT_UNTIL (natter_redis_get_connected (c.redis));

  g_assert_true (natter_redis_publish (fixture->a.redis, "general", to_tcp));
  WAIT_UNTIL (has_received (&c, "general", to_tcp));
  g_assert_true (natter_redis_publish (c.redis, "general", from_tcp));
  WAIT_UNTIL (has_received (&fixture->a, "general", from_tcp));

  /* Restarted: reconnects over TCP too. */
  servers_ctl ("stop");
  WAIT_UNTIL (!natter_redis_get_connected (c.redis));
  servers_ctl ("start");
  WAIT_UNTIL (natter_redis_get_connected (c.redis) &&
              natter_redis_get_connected (fixture->a.redis));
  g_ptr_array_set_size (c.received, 0);
  g_assert_true (natter_redis_publish (fixture->a.redis, "general", to_tcp));
  WAIT_UNTIL (has_received (&c, "general", to_tcp));
  node_clear (&c);
}

static guint64
metric (NatterRedis *redis, const char *name)
{
  g_autoptr(GString) metrics = g_string_new (NULL);
  g_autofree char *prefix = g_strconcat ("\n", name, " ", NULL);
  const char *line;

  natter_redis_append_metrics (redis, metrics);
  line = strstr (metrics->str, prefix);
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (prefix), NULL, 10);
}

/* Nothing listens on the port: a TCP connect fails asynchronously, again and again, and
 * the node keeps trying without harm. */
static void
test_tcp_refused (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autofree char *uri = NULL;
  g_autoptr(GError) local_error = NULL;
  Node c = { 0, };

  /* A port that was free a moment ago and is closed now. */
  g_socket_bind (socket, any, FALSE, &local_error);
  g_assert_no_error (local_error);
  bound = g_socket_get_local_address (socket, &local_error);
  g_assert_no_error (local_error);
  uri = g_strdup_printf ("redis://127.0.0.1:%u",
                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_socket_close (socket, NULL);

  node_init_uri (&c, uri, "node-c", NULL);
  WAIT_UNTIL (metric (c.redis, "natter_redis_connects_total") >= 6);
  g_assert_false (natter_redis_get_connected (c.redis));
  node_clear (&c);
}

static void
test_invalid (Fixture *fixture, gconstpointer user_data)
{
  const char *bad_uris[] = { "http://localhost", "unix://", "not a uri", "redis://[::1" };
  g_autofree char *long_id = g_strnfill (256, 'n');
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRedis) redis = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bad_uris); i++)
    {
      g_autoptr(NatterRedis) bad = natter_redis_new (bad_uris[i], "node", &local_error);

      g_test_message ("URI %s", bad_uris[i]);
      g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
      g_assert_null (bad);
      g_clear_error (&local_error);
    }

  redis = natter_redis_new (redis_uri (), "", &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
  g_assert_null (redis);
  g_clear_error (&local_error);

  redis = natter_redis_new (redis_uri (), long_id, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
  g_assert_null (redis);
}

int
main (int argc, char **argv)
{
  /* hiredis writes to sockets that Redis may have closed. */
  signal (SIGPIPE, SIG_IGN);

  g_test_init (&argc, &argv, NULL);

  g_test_add ("/redis/round-trip", Fixture, NULL, setup, test_round_trip, teardown);
  g_test_add ("/redis/subscriptions", Fixture, NULL, setup, test_subscriptions, teardown);
  g_test_add ("/redis/restart", Fixture, NULL, setup, test_restart, teardown);
  g_test_add ("/redis/killed", Fixture, NULL, setup, test_killed, teardown);
  g_test_add ("/redis/subscriber-dropped", Fixture, NULL, setup, test_subscriber_dropped,
              teardown);
  g_test_add ("/redis/start-without-redis", Fixture, NULL, setup, test_start_without_redis,
              teardown);
  g_test_add ("/redis/tcp", Fixture, NULL, setup, test_tcp, teardown);
  g_test_add ("/redis/tcp-refused", Fixture, NULL, setup, test_tcp_refused, teardown);
  g_test_add ("/redis/invalid", Fixture, NULL, setup, test_invalid, teardown);

  return g_test_run ();
}
