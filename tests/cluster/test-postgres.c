/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "test-postgres"

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "natter-error.h"
#include "natter-store-postgres.h"

/* What only the PostgreSQL store does: several nodes on one database, a server that
 * goes away and comes back, readiness, the search language. The behaviour every store
 * has is tested by tests/unit/test-store.c, which tests/cluster also runs here.
 *
 * Runs under servers.py --postgres, which provides NATTER_TEST_POSTGRES (the conninfo
 * of a superuser on the `postgres` database) and NATTER_TEST_POSTGRES_DIR. */

typedef struct {
  char        *dbname;    /* (owned) */
  char        *conninfo;  /* (owned) */
  NatterStore *store;     /* (owned) (nullable) */
  NatterStore *other;     /* (owned) (nullable) a second node */
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
    guint timeout_id_ = g_timeout_add_seconds (60, set_true_cb, &timed_out_); \
    while (!(cond) && !timed_out_) \
      g_main_context_iteration (NULL, TRUE); \
    if (timed_out_) \
      g_error ("Timed out waiting for %s", #cond); \
    g_source_remove (timeout_id_); \
  } G_STMT_END

/* For conditions nothing in the main context wakes up for (the health thread). */
#define POLL_UNTIL(cond) \
  G_STMT_START { \
    gint64 deadline_ = g_get_monotonic_time () + 60 * G_USEC_PER_SEC; \
    while (!(cond)) \
      { \
        if (g_get_monotonic_time () > deadline_) \
          g_error ("Timed out waiting for %s", #cond); \
        g_main_context_iteration (NULL, FALSE); \
        g_usleep (20000); \
      } \
  } G_STMT_END

static const char *
admin_conninfo (void)
{
  const char *conninfo = g_getenv ("NATTER_TEST_POSTGRES");

  if (conninfo == NULL)
    g_error ("NATTER_TEST_POSTGRES is not set: run this test through tests/cluster/servers.py");
  return conninfo;
}

static char *
admin_query (const char *sql, const char *param)
{
  const char * const values[] = { param };
  PGconn *conn = PQconnectdb (admin_conninfo ());
  PGresult *res;
  char *value = NULL;

  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);
  res = PQexecParams (conn, sql, param != NULL ? 1 : 0, NULL, values, NULL, NULL, 0);
  if (PQresultStatus (res) != PGRES_TUPLES_OK && PQresultStatus (res) != PGRES_COMMAND_OK)
    g_error ("%s: %s", sql, PQresultErrorMessage (res));
  if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) > 0)
    value = g_strdup (PQgetvalue (res, 0, 0));
  PQclear (res);
  PQfinish (conn);
  return value;
}

static void
servers_ctl (const char *action)
{
  const char *script = g_getenv ("NATTER_TEST_SERVERS");
  const char *dir = g_getenv ("NATTER_TEST_POSTGRES_DIR");
  const char *argv[] = { "/usr/bin/python3", script, "ctl", "postgres", dir, action, NULL };
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

static NatterStore *
open_store (Fixture *fixture, const char *text_search_config, GError **error)
{
  return natter_store_postgres_new_full (fixture->conninfo, text_search_config, 0, error);
}

static NatterStore *
open_store_ok (Fixture *fixture)
{
  g_autoptr(GError) local_error = NULL;
  NatterStore *store = open_store (fixture, NULL, &local_error);

  g_assert_no_error (local_error);
  g_assert_nonnull (store);
  return store;
}

static void
setup_empty (Fixture *fixture, gconstpointer user_data)
{
  static guint counter;
  g_autofree char *create = NULL;

  fixture->dbname = g_strdup_printf ("natter_pg_%d_%u", (int) getpid (), counter++);
  create = g_strdup_printf ("CREATE DATABASE %s", fixture->dbname);
  g_free (admin_query (create, NULL));
  fixture->conninfo = g_strdup_printf ("%s dbname=%s", admin_conninfo (), fixture->dbname);
}

static void
setup (Fixture *fixture, gconstpointer user_data)
{
  setup_empty (fixture, user_data);
  fixture->store = open_store_ok (fixture);
}

static void
close_store (NatterStore **store)
{
  if (*store == NULL)
    return;
  natter_store_close (*store);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (store);
}

static void
teardown (Fixture *fixture, gconstpointer user_data)
{
  close_store (&fixture->store);
  close_store (&fixture->other);
  g_free (fixture->dbname);
  g_free (fixture->conninfo);
}

/* Synchronous helpers */

static void
result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  g_assert_null (*out);
  *out = g_object_ref (result);
}

static void
create_room (NatterStore *store, const char *name)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;

  natter_store_create_room_async (store, name, NATTER_ROOM_KIND_ROOM, NULL, NULL, result_cb,
                                  &result);
  WAIT_UNTIL (result != NULL);
  room = natter_store_create_room_finish (store, result, &local_error);
  g_assert_no_error (local_error);
}

static void
add_member (NatterStore *store, const char *room, const char *user)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;

  natter_store_add_member_async (store, room, user, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  g_assert_true (natter_store_add_member_finish (store, result, &local_error));
  g_assert_no_error (local_error);
}

static NatterAppendResult *
append (NatterStore *store, const char *room, const char *body, const char *client_msg_id,
        GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_append_message_async (store, room, "alice", body, client_msg_id,
                                     NATTER_MESSAGE_KIND_TEXT, g_get_real_time () / 1000,
                                     NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_append_message_finish (store, result, error);
}

static guint64
append_ok (NatterStore *store, const char *room, const char *body)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) result = append (store, room, body, NULL, &local_error);

  g_assert_no_error (local_error);
  return result->message->seq;
}

static guint64
last_seq (NatterStore *store, const char *name)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;

  natter_store_get_room_async (store, name, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  room = natter_store_get_room_finish (store, result, &local_error);
  g_assert_no_error (local_error);
  return room->last_seq;
}

static GPtrArray *
search (NatterStore *store, const char *query)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  GPtrArray *found;

  natter_store_search_async (store, "alice", query, NULL, 50, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  found = natter_store_search_finish (store, result, &local_error);
  g_assert_no_error (local_error);
  return found;
}

typedef struct {
  guint      pending;
  GPtrArray *results;  /* (owned) (element-type NatterAppendResult) */
  guint      n_errors;
} Batch;

static void
batch_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Batch *batch = user_data;
  g_autoptr(GError) error = NULL;
  NatterAppendResult *appended;

  appended = natter_store_append_message_finish (NATTER_STORE (source), result, &error);
  if (appended != NULL)
    g_ptr_array_add (batch->results, appended);
  else
    batch->n_errors++;
  batch->pending--;
}

static void
batch_send (Batch *batch, NatterStore *store, const char *room, const char *sender,
            const char *client_msg_id)
{
  batch->pending++;
  natter_store_append_message_async (store, room, sender, "hello", client_msg_id,
                                     NATTER_MESSAGE_KIND_TEXT, g_get_real_time () / 1000,
                                     NULL, batch_cb, batch);
}

/* Tests */

/* Two nodes write to the same rooms at once: each room's seqs are still exactly 1..n,
 * and a retry racing on the other node is stored once. */
static void
test_two_nodes (Fixture *fixture, gconstpointer user_data)
{
  const char *rooms[] = { "general", "random", "dm:alice:bob" };
  const guint n_per_node = 600;
  Batch batch = { 0, g_ptr_array_new_with_free_func ((GDestroyNotify) natter_append_result_free), 0 };
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint n_original = 0;

  fixture->other = open_store_ok (fixture);
  g_assert_cmpstr (natter_store_get_epoch (fixture->store), ==,
                   natter_store_get_epoch (fixture->other));
  for (guint i = 0; i < G_N_ELEMENTS (rooms); i++)
    create_room (fixture->other, rooms[i]);

  for (guint i = 0; i < n_per_node; i++)
    {
      g_autofree char *a = g_strdup_printf ("a-%u", i);
      g_autofree char *b = g_strdup_printf ("b-%u", i);

      batch_send (&batch, fixture->store, rooms[i % G_N_ELEMENTS (rooms)], "user-a", a);
      batch_send (&batch, fixture->other, rooms[i % G_N_ELEMENTS (rooms)], "user-b", b);
      /* The same retry arriving at both nodes. */
      if (i % 50 == 0)
        {
          g_autofree char *race = g_strdup_printf ("race-%u", i);

          batch_send (&batch, fixture->store, "general", "carol", race);
          batch_send (&batch, fixture->other, "general", "carol", race);
        }
    }
  WAIT_UNTIL (batch.pending == 0);
  g_assert_cmpuint (batch.n_errors, ==, 0);

  for (guint i = 0; i < batch.results->len; i++)
    {
      NatterAppendResult *result = g_ptr_array_index (batch.results, i);
      g_autofree char *key = g_strdup_printf ("%s/%" G_GUINT64_FORMAT, result->message->room,
                                              result->message->seq);

      if (g_str_equal (result->message->sender, "carol"))
        {
          if (!result->duplicate)
            n_original++;
          continue;
        }
      g_assert_false (result->duplicate);
      /* No two sends share a seq. */
      g_assert_true (g_hash_table_add (seen, g_steal_pointer (&key)));
    }
  g_assert_cmpuint (n_original, ==, n_per_node / 50);

  for (guint r = 0; r < G_N_ELEMENTS (rooms); r++)
    {
      guint64 expected = 2 * n_per_node / G_N_ELEMENTS (rooms) +
                         (g_str_equal (rooms[r], "general") ? n_per_node / 50 : 0);

      /* Gapless: n sends, last seq n, on both nodes' view. */
      g_assert_cmpuint (last_seq (fixture->store, rooms[r]), ==, expected);
      g_assert_cmpuint (last_seq (fixture->other, rooms[r]), ==, expected);
    }

  g_ptr_array_unref (batch.results);
}

/* Nodes that start together on a new database: one migrates, both share the epoch. */
static void
migrate_thread (gpointer data, gpointer user_data)
{
  Fixture *fixture = user_data;
  GPtrArray *stores = data;
  g_autoptr(GError) local_error = NULL;
  NatterStore *store = open_store (fixture, NULL, &local_error);

  g_assert_no_error (local_error);
  g_ptr_array_add (stores, store);
}

static void
test_concurrent_start (Fixture *fixture, gconstpointer user_data)
{
  GPtrArray *stores[4];
  GThreadPool *pool = g_thread_pool_new (migrate_thread, fixture, G_N_ELEMENTS (stores),
                                         TRUE, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (stores); i++)
    {
      stores[i] = g_ptr_array_new_with_free_func (g_object_unref);
      g_thread_pool_push (pool, stores[i], NULL);
    }
  g_thread_pool_free (pool, FALSE, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (stores); i++)
    {
      NatterStore *store = g_ptr_array_index (stores[i], 0);

      g_assert_cmpstr (natter_store_get_epoch (store), ==,
                       natter_store_get_epoch (g_ptr_array_index (stores[0], 0)));
      natter_store_close (store);
    }
  while (g_main_context_iteration (NULL, FALSE))
    ;
  for (guint i = 0; i < G_N_ELEMENTS (stores); i++)
    g_ptr_array_unref (stores[i]);
}

/* The server ends every session (an operator, a failover): the next operations open new
 * connections and succeed, reads and writes alike. */
static void
test_sessions_terminated (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *killed = NULL;

  create_room (fixture->store, "general");
  for (guint i = 1; i <= 10; i++)
    g_assert_cmpuint (append_ok (fixture->store, "general", "before"), ==, i);

  killed = admin_query ("SELECT count (pg_terminate_backend (pid)) FROM pg_stat_activity"
                        " WHERE datname = $1 AND pid <> pg_backend_pid ()", fixture->dbname);
  g_assert_cmpint (atoi (killed), >, 0);

  g_assert_cmpuint (last_seq (fixture->store, "general"), ==, 10);
  for (guint i = 11; i <= 20; i++)
    g_assert_cmpuint (append_ok (fixture->store, "general", "after"), ==, i);
}

/* The server stops: the store reports not ready (for /readyz) and operations fail with
 * `unavailable`; once it is back, ready again and seqs go on without a gap. */
static void
test_server_down (Fixture *fixture, gconstpointer user_data)
{
  NatterStore *store = fixture->store;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) during = NULL;
  g_autoptr(GString) metrics = g_string_new (NULL);

  create_room (fixture->store, "general");
  append_ok (fixture->store, "general", "one");
  g_assert_true (natter_store_is_ready (store));

  servers_ctl ("stop");
  POLL_UNTIL (!natter_store_is_ready (store));

  during = append (fixture->store, "general", "lost", "c-during", &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE);
  g_assert_null (during);
  g_clear_error (&local_error);

  natter_store_append_metrics (store, metrics);
  g_assert_nonnull (strstr (metrics->str, "natter_postgres_up 0\n"));

  servers_ctl ("start");
  POLL_UNTIL (natter_store_is_ready (store));
  g_assert_cmpuint (append_ok (fixture->store, "general", "two"), ==, 2);
}

/* Killed hard, like a crash: same outcome. */
static void
test_server_killed (Fixture *fixture, gconstpointer user_data)
{
  NatterStore *store = fixture->store;

  create_room (fixture->store, "general");
  append_ok (fixture->store, "general", "one");

  servers_ctl ("kill");
  POLL_UNTIL (!natter_store_is_ready (store));
  servers_ctl ("start");
  POLL_UNTIL (natter_store_is_ready (store));

  g_assert_cmpuint (append_ok (fixture->store, "general", "two"), ==, 2);
}

static void
test_text_search_config (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterStore) invalid = NULL;
  g_autoptr(GPtrArray) simple = NULL;
  g_autoptr(GPtrArray) stemmed = NULL;
  g_autoptr(GPtrArray) accents = NULL;
  g_autoptr(GPtrArray) back = NULL;

  fixture->store = open_store_ok (fixture);
  g_assert_cmpstr (natter_store_postgres_get_text_search_config (NATTER_STORE_POSTGRES (fixture->store)),
                   ==, "simple");
  create_room (fixture->store, "general");
  add_member (fixture->store, "general", "alice");
  append_ok (fixture->store, "general", "She runs every morning");
  append_ok (fixture->store, "general", "Crème brûlée for dessert");

  simple = search (fixture->store, "running");
  g_assert_cmpuint (simple->len, ==, 0);
  close_store (&fixture->store);

  /* Another language rebuilds the index over the stored messages. */
  fixture->store = open_store (fixture, "english", &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (natter_store_postgres_get_text_search_config (NATTER_STORE_POSTGRES (fixture->store)),
                   ==, "english");
  stemmed = search (fixture->store, "running mornings");
  g_assert_cmpuint (stemmed->len, ==, 1);
  accents = search (fixture->store, "creme brulee");
  g_assert_cmpuint (accents->len, ==, 1);
  g_assert_cmpuint (append_ok (fixture->store, "general", "He ran"), ==, 3);
  close_store (&fixture->store);

  fixture->store = open_store_ok (fixture);
  back = search (fixture->store, "running");
  g_assert_cmpuint (back->len, ==, 0);

  invalid = open_store (fixture, "klingon", &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
  g_assert_null (invalid);
}

static void
test_newer_schema (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterStore) store = NULL;
  g_autofree char *admin = g_strdup_printf ("%s dbname=%s", admin_conninfo (), fixture->dbname);
  PGconn *conn;

  fixture->store = open_store_ok (fixture);
  close_store (&fixture->store);

  conn = PQconnectdb (admin);
  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);
  PQclear (PQexec (conn, "UPDATE schema_version SET version = 999"));
  PQfinish (conn);

  store = open_store (fixture, NULL, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_INTERNAL);
  g_assert_null (store);
}

static void
test_unreachable (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterStore) store = NULL;

  store = natter_store_postgres_new ("host=/nonexistent connect_timeout=2", &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE);
  g_assert_null (store);
}

/* A database from before sessions were recorded (schema 1): its tokens keep working,
 * as sessions with nothing known about them, and its accounts are enabled. Its rooms
 * are public and nobody owns them. */
static void
test_sessions_migration (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *admin = g_strdup_printf ("%s dbname=%s", admin_conninfo (), fixture->dbname);
  g_autoptr(GAsyncResult) looked_up = NULL;
  g_autoptr(GAsyncResult) listed = NULL;
  g_autoptr(GAsyncResult) got = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *user = NULL;
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(NatterUserRecord) record = NULL;
  g_autoptr(GAsyncResult) got_room = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;
  NatterSessionRecord *session;
  NatterMemberRecord *member;
  PGconn *conn;

  fixture->store = open_store_ok (fixture);
  close_store (&fixture->store);

  /* Back to what migration 1 made, with an account and a token in it: the later
   * migrations undone, newest first. */
  conn = PQconnectdb (admin);
  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);
  PQclear (PQexec (conn,
                   "DROP TABLE moderation_log;"
                   "ALTER TABLE members DROP COLUMN notification_level;"
                   "DROP TABLE reactions;"
                   "DROP INDEX messages_target;"
                   "ALTER TABLE messages DROP COLUMN target_seq, DROP COLUMN edited_ts,"
                   "  DROP COLUMN active;"
                   "DROP TABLE invitations, bans, blocks;"
                   "ALTER TABLE rooms DROP COLUMN private;"
                   "ALTER TABLE members DROP COLUMN role;"
                   "DROP INDEX tokens_id;"
                   "ALTER TABLE tokens DROP COLUMN id, DROP COLUMN created_at_ms,"
                   "  DROP COLUMN last_seen_ms, DROP COLUMN agent;"
                   "ALTER TABLE users DROP COLUMN disabled, DROP COLUMN deleted,"
                   "  DROP COLUMN created_at_ms;"
                   "UPDATE schema_version SET version = 1;"
                   "INSERT INTO users (name, password_hash, admin) VALUES ('alice', 'hash', false);"
                   "INSERT INTO tokens (token_hash, user_name, expires_at_ms)"
                   "  VALUES ('c0ffeec0ffeec0ffee00', 'alice', 9000000000000);"
                   "INSERT INTO rooms (name, kind) VALUES ('general', 'room');"
                   "INSERT INTO members (room, user_name) VALUES ('general', 'alice');"));
  PQfinish (conn);

  fixture->store = open_store_ok (fixture);
  natter_store_lookup_token_async (fixture->store, "c0ffeec0ffeec0ffee00", g_get_real_time () / 1000,
                                   NULL, result_cb, &looked_up);
  WAIT_UNTIL (looked_up != NULL);
  user = natter_store_lookup_token_finish (fixture->store, looked_up, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (user, ==, "alice");

  natter_store_list_sessions_async (fixture->store, "alice", g_get_real_time () / 1000, NULL,
                                    result_cb, &listed);
  WAIT_UNTIL (listed != NULL);
  sessions = natter_store_list_sessions_finish (fixture->store, listed, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (sessions->len, ==, 1);
  session = g_ptr_array_index (sessions, 0);
  g_assert_cmpstr (session->id, ==, "c0ffeec0ffeec0ff");
  g_assert_cmpint (session->created_ts, ==, 0);
  g_assert_cmpint (session->last_seen_ts, >, 0);
  g_assert_null (session->agent);

  natter_store_get_user_async (fixture->store, "alice", NULL, result_cb, &got);
  WAIT_UNTIL (got != NULL);
  record = natter_store_get_user_finish (fixture->store, got, &local_error);
  g_assert_no_error (local_error);
  g_assert_false (record->disabled);
  g_assert_false (record->deleted);
  g_assert_cmpint (record->created_ts, ==, 0);

  natter_store_get_room_async (fixture->store, "general", NULL, result_cb, &got_room);
  WAIT_UNTIL (got_room != NULL);
  room = natter_store_get_room_finish (fixture->store, got_room, &local_error);
  g_assert_no_error (local_error);
  g_assert_false (room->is_private);
  g_assert_cmpuint (room->members->len, ==, 1);
  member = g_ptr_array_index (room->members, 0);
  g_assert_cmpstr (member->user, ==, "alice");
  g_assert_cmpint (member->role, ==, NATTER_ROLE_MEMBER);
  g_assert_cmpuint (room->invited->len, ==, 0);
  g_assert_cmpuint (room->banned->len, ==, 0);
}

static void
test_last_seqs (Fixture *fixture, gconstpointer user_data)
{
  const char * const rooms[] = { "general", "random", "nowhere", "it's \"quoted\"", NULL };
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GHashTable) seqs = NULL;

  create_room (fixture->store, "general");
  create_room (fixture->store, "random");
  create_room (fixture->store, rooms[3]);
  append_ok (fixture->store, "general", "one");
  append_ok (fixture->store, "general", "two");
  append_ok (fixture->store, rooms[3], "one");

  natter_store_get_last_seqs_async (fixture->store, rooms, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  seqs = natter_store_get_last_seqs_finish (fixture->store, result, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (g_hash_table_size (seqs), ==, 3);
  g_assert_cmpuint (*(guint64 *) g_hash_table_lookup (seqs, "general"), ==, 2);
  g_assert_cmpuint (*(guint64 *) g_hash_table_lookup (seqs, "random"), ==, 0);
  g_assert_cmpuint (*(guint64 *) g_hash_table_lookup (seqs, rooms[3]), ==, 1);
  g_assert_false (g_hash_table_contains (seqs, "nowhere"));
}


static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* How many times the messages table of @fixture's database was vacuumed by a VACUUM
 * command (autovacuum counts apart). */
static gint64
vacuum_count (Fixture *fixture)
{
  PGconn *conn = PQconnectdb (fixture->conninfo);
  PGresult *res;
  gint64 n;

  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);
  res = PQexec (conn, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'messages'");
  g_assert_cmpint (PQresultStatus (res), ==, PGRES_TUPLES_OK);
  g_assert_cmpint (PQntuples (res), ==, 1);
  n = g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10);
  PQclear (res);
  PQfinish (conn);
  return n;
}

/* A delete has the store vacuum the messages table by itself, in the background, so that
 * the old versions of the row stop being kept. */
static void
test_vacuum_after_delete (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) deleted = NULL;
  NatterMessageChange change = {
    .room = "general",
    .sender = "alice",
    .kind = NATTER_MESSAGE_KIND_DELETE,
    .body = "",
    .active = TRUE,
    .ts_ms = g_get_real_time () / 1000,
  };
  guint wake_id;

  create_room (fixture->store, "general");
  add_member (fixture->store, "general", "alice");
  append_ok (fixture->store, "general", "kept");
  change.target_seq = append_ok (fixture->store, "general", "the code is 4711");
  g_assert_cmpint (vacuum_count (fixture), ==, 0);

  natter_store_change_message_async (fixture->store, &change, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  deleted = natter_store_change_message_finish (fixture->store, result, &local_error);
  g_assert_no_error (local_error);

  /* The statistics reach the view a moment after the VACUUM. */
  wake_id = g_timeout_add (100, wake_cb, NULL);
  WAIT_UNTIL (vacuum_count (fixture) > 0);
  g_source_remove (wake_id);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/postgres/two-nodes", Fixture, NULL, setup, test_two_nodes, teardown);
  g_test_add ("/postgres/concurrent-start", Fixture, NULL, setup_empty, test_concurrent_start,
              teardown);
  g_test_add ("/postgres/sessions-terminated", Fixture, NULL, setup, test_sessions_terminated,
              teardown);
  g_test_add ("/postgres/server-down", Fixture, NULL, setup, test_server_down, teardown);
  g_test_add ("/postgres/server-killed", Fixture, NULL, setup, test_server_killed, teardown);
  g_test_add ("/postgres/text-search-config", Fixture, NULL, setup_empty,
              test_text_search_config, teardown);
  g_test_add ("/postgres/newer-schema", Fixture, NULL, setup_empty, test_newer_schema,
              teardown);
  g_test_add ("/postgres/unreachable", Fixture, NULL, setup_empty, test_unreachable, teardown);
  g_test_add ("/postgres/last-seqs", Fixture, NULL, setup, test_last_seqs, teardown);
  g_test_add ("/postgres/vacuum-after-delete", Fixture, NULL, setup, test_vacuum_after_delete,
              teardown);
  g_test_add ("/postgres/sessions-migration", Fixture, NULL, setup_empty,
              test_sessions_migration, teardown);

  return g_test_run ();
}
