/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "test-store"

#include "config.h"

#include <glib/gstdio.h>
#if NATTER_HAVE_CLUSTER
#include <libpq-fe.h>
#endif
#include <sqlite3.h>

#include "natter-error.h"
#include "natter-store.h"
#if NATTER_HAVE_CLUSTER
#include "natter-store-postgres.h"
#endif
#include "natter-store-sqlite.h"
#include "natter-store-sqlite-private.h"

/* The behaviour every NatterStore must have is tested through create_store(), so the same
 * tests can run against another implementation; the /store/sqlite/ tests are about this
 * implementation's file, schema and locking. */

typedef struct {
  char        *dir;    /* (owned) */
  char        *path;   /* (owned) */
  NatterStore *store;  /* (owned) (nullable) */
} Fixture;

/* With NATTER_TEST_POSTGRES=conninfo (tests/cluster), the same tests run against
 * PostgreSQL: each fixture gets a database of its own, named after its directory, so
 * reopening finds the same data. */
#if NATTER_HAVE_CLUSTER
static NatterStore *
create_postgres_store (Fixture *fixture, const char *admin_conninfo, GError **error)
{
  g_autofree char *base = g_path_get_basename (fixture->dir);
  g_autofree char *name = g_ascii_strdown (g_strdelimit (base, "-", '_'), -1);
  g_autofree char *create = g_strdup_printf ("CREATE DATABASE %s", name);
  g_autofree char *conninfo = g_strdup_printf ("%s dbname=%s", admin_conninfo, name);
  const char * const values[] = { name };
  PGconn *admin = PQconnectdb (admin_conninfo);
  PGresult *res;

  g_assert_cmpint (PQstatus (admin), ==, CONNECTION_OK);
  res = PQexecParams (admin, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL,
                      values, NULL, NULL, 0);
  g_assert_cmpint (PQresultStatus (res), ==, PGRES_TUPLES_OK);
  if (PQntuples (res) == 0)
    {
      PQclear (res);
      /* A name of [a-z0-9_] only: safe to spell out. */
      res = PQexec (admin, create);
      g_assert_cmpint (PQresultStatus (res), ==, PGRES_COMMAND_OK);
    }
  PQclear (res);
  PQfinish (admin);

  return natter_store_postgres_new (conninfo, error);
}
#else
static NatterStore *
create_postgres_store (Fixture *fixture, const char *admin_conninfo, GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "NATTER_TEST_POSTGRES is set, but this build has no cluster support");
  return NULL;
}
#endif

static NatterStore *
create_store (Fixture *fixture)
{
  g_autoptr(GError) local_error = NULL;
  const char *postgres = g_getenv ("NATTER_TEST_POSTGRES");
  NatterStore *store = postgres != NULL
                       ? create_postgres_store (fixture, postgres, &local_error)
                       : natter_store_sqlite_new (fixture->path, NATTER_DURABILITY_NORMAL,
                                                  &local_error);

  g_assert_no_error (local_error);
  g_assert_nonnull (store);
  return store;
}

static gboolean
set_true_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the main context until @cond holds; fails the test after a deadline. */
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

/* Runs what is already pending in the main context, such as completions of a closed store. */
static void
drain_main_context (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
remove_dir (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_dir (child);
      else
        g_assert_cmpint (g_unlink (child), ==, 0);
    }
  g_assert_cmpint (g_rmdir (path), ==, 0);
}

static void
close_store (Fixture *fixture)
{
  if (fixture->store == NULL)
    return;
  natter_store_close (fixture->store);
  drain_main_context ();
  g_clear_object (&fixture->store);
}

static void
reopen_store (Fixture *fixture)
{
  close_store (fixture);
  fixture->store = create_store (fixture);
}

static void
setup_paths (Fixture *fixture)
{
  g_autoptr(GError) local_error = NULL;

  fixture->dir = g_dir_make_tmp ("natter-store-XXXXXX", &local_error);
  g_assert_no_error (local_error);
  fixture->path = g_build_filename (fixture->dir, "natter.db", NULL);
}

static void
setup (Fixture *fixture, gconstpointer user_data)
{
  setup_paths (fixture);
  fixture->store = create_store (fixture);
}

/* For tests that open the database their own way. */
static void
setup_empty (Fixture *fixture, gconstpointer user_data)
{
  setup_paths (fixture);
}

static void
teardown (Fixture *fixture, gconstpointer user_data)
{
  close_store (fixture);
  remove_dir (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->path);
}

/* Synchronous wrappers: each issues one call and iterates the main context until it
 * completes. */

static void
result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  g_assert_null (*out);
  *out = g_object_ref (result);
}

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

static gboolean
create_account (Fixture *f, const char *name, const char *hash, NatterAccountFlags flags,
                GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_create_user_async (f->store, name, hash, flags, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_create_user_finish (f->store, result, error);
}

static gboolean
create_user (Fixture *f, const char *name, const char *hash, gboolean admin, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_create_user_async (f->store, name, hash, admin ? NATTER_ACCOUNT_ADMIN : 0,
                                  NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_create_user_finish (f->store, result, error);
}

static NatterUserRecord *
get_user (Fixture *f, const char *name, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_get_user_async (f->store, name, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_get_user_finish (f->store, result, error);
}

static gboolean
create_token (Fixture *f, const char *user, const char *hash, gint64 expires_at,
              GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_create_token_async (f->store, user, hash, expires_at, "test-agent/1", NULL,
                                   result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_create_token_finish (f->store, result, error);
}

static char *
lookup_token (Fixture *f, const char *hash, gint64 now, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_lookup_token_async (f->store, hash, now, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_lookup_token_finish (f->store, result, error);
}

static GPtrArray *
list_sessions (Fixture *f, const char *user, gint64 now)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  GPtrArray *sessions;

  natter_store_list_sessions_async (f->store, user, now, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  sessions = natter_store_list_sessions_finish (f->store, result, &local_error);
  g_assert_no_error (local_error);
  return sessions;
}

static GStrv
revoke_tokens (Fixture *f, const char *user, const char *session, const char *keep,
               GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_revoke_tokens_async (f->store, user, session, keep, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_revoke_tokens_finish (f->store, result, error);
}

static GStrv
set_password (Fixture *f, const char *user, const char *hash, const char *keep,
              GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_set_password_async (f->store, user, hash, keep, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_set_password_finish (f->store, result, error);
}

static GStrv
set_account_state (Fixture *f, const char *user, NatterAccountState state, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_set_account_state_async (f->store, user, state, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_set_account_state_finish (f->store, result, error);
}

static GPtrArray *
list_users (Fixture *f, const char *query, guint limit)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  GPtrArray *users;

  natter_store_list_users_async (f->store, query, limit, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  users = natter_store_list_users_finish (f->store, result, &local_error);
  g_assert_no_error (local_error);
  return users;
}

static NatterRoomRecord *
create_room_full (Fixture *f, const char *name, const char *kind, const char *topic,
                  GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_create_room_async (f->store, name, kind, topic, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_create_room_finish (f->store, result, error);
}

static void
create_room_of_kind (Fixture *f, const char *name, const char *kind, const char *topic)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) room = create_room_full (f, name, kind, topic, &local_error);

  g_assert_no_error (local_error);
  g_assert_cmpstr (room->name, ==, name);
}

static void
create_room (Fixture *f, const char *name)
{
  create_room_of_kind (f, name, NATTER_ROOM_KIND_ROOM, NULL);
}

static NatterRoomRecord *
get_room (Fixture *f, const char *name, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_get_room_async (f->store, name, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_get_room_finish (f->store, result, error);
}

static gboolean
add_member (Fixture *f, const char *room, const char *user, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_add_member_async (f->store, room, user, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_add_member_finish (f->store, result, error);
}

static gboolean
moderate (Fixture *f, NatterModerationKind kind, const char *room, const char *user,
          const char *by, const char *text, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  NatterModeration change = { .kind = kind, .room = room, .user = user, .by = by,
                              .text = text };

  natter_store_moderate_async (f->store, &change, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_moderate_finish (f->store, result, error);
}

static void
moderate_ok (Fixture *f, NatterModerationKind kind, const char *room, const char *user,
             const char *by, const char *text)
{
  g_autoptr(GError) local_error = NULL;

  g_assert_true (moderate (f, kind, room, user, by, text, &local_error));
  g_assert_no_error (local_error);
}

static gboolean
create_owned_room (Fixture *f, const char *room, const char *owner, gboolean is_private,
                   const char *topic, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  NatterModeration change = { .kind = NATTER_MODERATION_CREATE, .room = room,
                              .user = owner, .text = topic, .is_private = is_private };

  natter_store_moderate_async (f->store, &change, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_moderate_finish (f->store, result, error);
}

static gboolean
set_role (Fixture *f, const char *room, const char *user, NatterRole role, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  NatterModeration change = { .kind = NATTER_MODERATION_SET_ROLE, .room = room,
                              .user = user, .role = role };

  natter_store_moderate_async (f->store, &change, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_moderate_finish (f->store, result, error);
}

static GStrv
list_blocks (Fixture *f, const char *user)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  GStrv blocked;

  natter_store_list_blocks_async (f->store, user, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  blocked = natter_store_list_blocks_finish (f->store, result, &local_error);
  g_assert_no_error (local_error);
  return blocked;
}

static GPtrArray *
directory (Fixture *f, const char *query, guint limit)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  GPtrArray *entries;

  natter_store_directory_async (f->store, query, limit, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  entries = natter_store_directory_finish (f->store, result, &local_error);
  g_assert_no_error (local_error);
  return entries;
}

static NatterMemberRecord *
find_member (NatterRoomRecord *room, const char *user)
{
  for (guint i = 0; i < room->members->len; i++)
    {
      NatterMemberRecord *member = g_ptr_array_index (room->members, i);

      if (g_str_equal (member->user, user))
        return member;
    }
  return NULL;
}

static gboolean
contains (GPtrArray *names, const char *name)
{
  return g_ptr_array_find_with_equal_func (names, name, g_str_equal, NULL);
}

static NatterRoomRecord *
get_room_ok (Fixture *f, const char *name)
{
  g_autoptr(GError) local_error = NULL;
  NatterRoomRecord *room = get_room (f, name, &local_error);

  g_assert_no_error (local_error);
  return room;
}

/* A room with one member who can post: how most message tests start. */
static void
create_room_with_member (Fixture *f, const char *room, const char *user)
{
  g_autoptr(GError) local_error = NULL;

  g_assert_true (create_user (f, user, "hash", FALSE, &local_error));
  g_assert_no_error (local_error);
  create_room (f, room);
  g_assert_true (add_member (f, room, user, &local_error));
  g_assert_no_error (local_error);
}

static gboolean
remove_member (Fixture *f, const char *room, const char *user, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_remove_member_async (f->store, room, user, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_remove_member_finish (f->store, result, error);
}

static NatterAppendResult *
append (Fixture *f, const char *room, const char *sender, const char *body,
        const char *client_msg_id, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_append_message_async (f->store, room, sender, body, client_msg_id,
                                     NATTER_MESSAGE_KIND_TEXT, now_ms (), NULL, result_cb,
                                     &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_append_message_finish (f->store, result, error);
}

static guint64
append_ok (Fixture *f, const char *room, const char *sender, const char *body)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) result = append (f, room, sender, body, NULL, &local_error);

  g_assert_no_error (local_error);
  g_assert_false (result->duplicate);
  return result->message->seq;
}

static NatterAppendResult *
change (Fixture *f, const char *kind, const char *sender, guint64 target, const char *body,
        gboolean moderator, const char *client_msg_id, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  NatterMessageChange request = {
    .room = "general",
    .sender = sender,
    .kind = kind,
    .body = body,
    .client_msg_id = client_msg_id,
    .target_seq = target,
    .active = TRUE,
    .moderator = moderator,
    .ts_ms = now_ms (),
  };

  natter_store_change_message_async (f->store, &request, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_change_message_finish (f->store, result, error);
}

static guint64
change_ok (Fixture *f, const char *kind, const char *sender, guint64 target, const char *body)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) result = change (f, kind, sender, target, body, FALSE, NULL,
                                                 &local_error);

  g_assert_no_error (local_error);
  g_assert_false (result->duplicate);
  g_assert_cmpstr (result->message->kind, ==, kind);
  return result->message->seq;
}

static void
assert_change_fails (Fixture *f, const char *kind, const char *sender, guint64 target,
                     NatterError code)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) result = change (f, kind, sender, target, "x", FALSE, NULL,
                                                 &local_error);

  g_assert_error (local_error, NATTER_ERROR, code);
  g_assert_null (result);
}

static NatterHistoryResult *
history (Fixture *f, const char *room, gint64 after, gint64 before, guint limit,
         GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  NatterHistoryQuery query = {
    .has_after = after >= 0,
    .after_seq = after >= 0 ? (guint64) after : 0,
    .has_before = before >= 0,
    .before_seq = before >= 0 ? (guint64) before : 0,
    .limit = limit,
  };

  natter_store_history_async (f->store, room, &query, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_history_finish (f->store, result, error);
}

static gboolean
set_read (Fixture *f, const char *room, const char *user, guint64 seq, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_set_read_async (f->store, room, user, seq, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_set_read_finish (f->store, result, error);
}

static GPtrArray *
search (Fixture *f, const char *user, const char *query, const char *room, guint limit,
        GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_search_async (f->store, user, query, room, limit, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_search_finish (f->store, result, error);
}

static NatterStoreSnapshot *
load (Fixture *f, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_load_async (f->store, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_load_finish (f->store, result, error);
}

static guint64
read_seq_of (Fixture *f, const char *room, const char *user)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) record = get_room (f, room, &local_error);

  g_assert_no_error (local_error);
  for (guint i = 0; i < record->members->len; i++)
    {
      NatterMemberRecord *member = g_ptr_array_index (record->members, i);

      if (g_str_equal (member->user, user))
        return member->read_seq;
    }
  g_assert_not_reached ();
}

/* Asserts that @page holds exactly the seqs first..last, in order. */
static void
assert_page (NatterHistoryResult *page, guint64 first, guint64 last, gboolean has_more)
{
  g_assert_cmpuint (page->messages->len, ==, last >= first ? last - first + 1 : 0);
  for (guint i = 0; i < page->messages->len; i++)
    {
      Natter__Message *message = g_ptr_array_index (page->messages, i);

      g_assert_cmpuint (message->seq, ==, first + i);
    }
  g_assert_cmpint (page->has_more, ==, has_more);
}

/* Tests */

static void
test_epoch (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *epoch = g_strdup (natter_store_get_epoch (fixture->store));
  Fixture other = { NULL, };

  g_assert_cmpuint (strlen (epoch), ==, 32);
  for (const char *p = epoch; *p != '\0'; p++)
    g_assert_true (g_ascii_isxdigit (*p));

  reopen_store (fixture);
  g_assert_cmpstr (natter_store_get_epoch (fixture->store), ==, epoch);

  /* A new store is a new epoch. */
  setup (&other, NULL);
  g_assert_cmpstr (natter_store_get_epoch (other.store), !=, epoch);
  teardown (&other, NULL);
}

/* What the hub asks of a store instead of which one it is: PostgreSQL is shared with the
 * other nodes of a cluster and reads many rooms' last seqs at once; SQLite is this
 * process's alone. */
static void
test_capabilities (Fixture *fixture, gconstpointer user_data)
{
  gboolean shared = g_getenv ("NATTER_TEST_POSTGRES") != NULL;
  const char * const rooms[] = { "general", "nowhere", NULL };
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GHashTable) seqs = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GString) metrics = g_string_new (NULL);

  g_assert_true (natter_store_is_ready (fixture->store));
  g_assert_cmpint (natter_store_is_shared (fixture->store), ==, shared);
  natter_store_append_metrics (fixture->store, metrics);
  g_assert_cmpint (strstr (metrics->str, "natter_postgres_up 1\n") != NULL, ==, shared);
  if (!shared)
    return;

  create_room (fixture, "general");
  append_ok (fixture, "general", "alice", "one");
  natter_store_get_last_seqs_async (fixture->store, rooms, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  seqs = natter_store_get_last_seqs_finish (fixture->store, result, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (g_hash_table_size (seqs), ==, 1);
  g_assert_cmpuint (*(guint64 *) g_hash_table_lookup (seqs, "general"), ==, 1);
}

static void
test_users (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterUserRecord) alice = NULL;
  g_autoptr(NatterUserRecord) root = NULL;
  g_autoptr(NatterUserRecord) missing = NULL;

  g_assert_true (create_user (fixture, "alice", "$argon2id$alice", FALSE, &local_error));
  g_assert_no_error (local_error);
  g_assert_true (create_user (fixture, "root", "$argon2id$root", TRUE, &local_error));
  g_assert_no_error (local_error);

  g_assert_false (create_user (fixture, "alice", "$argon2id$other", TRUE, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_CONFLICT);
  g_clear_error (&local_error);

  alice = get_user (fixture, "alice", &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (alice->name, ==, "alice");
  g_assert_cmpstr (alice->password_hash, ==, "$argon2id$alice");
  g_assert_false (alice->admin);

  root = get_user (fixture, "root", &local_error);
  g_assert_no_error (local_error);
  g_assert_true (root->admin);

  missing = get_user (fixture, "nobody", &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_assert_null (missing);
}

/* natterd's local owner account is marked in the store when it is created, so that an
 * account someone registered under the owner's name is never taken for it. */
static void
test_owner (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterUserRecord) registered = NULL;
  g_autoptr(NatterUserRecord) owner = NULL;
  g_autoptr(NatterUserRecord) again = NULL;

  g_assert_true (create_user (fixture, "mallory", "$hash-m", FALSE, &local_error));
  registered = get_user (fixture, "mallory", &local_error);
  g_assert_no_error (local_error);
  g_assert_false (registered->owner);

  /* Taken: the owner is not created, and the name is not marked. */
  g_assert_false (create_account (fixture, "mallory", "$hash-o", NATTER_ACCOUNT_OWNER,
                                  &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_CONFLICT);
  g_clear_error (&local_error);
  g_clear_pointer (&registered, natter_user_record_free);
  registered = get_user (fixture, "mallory", &local_error);
  g_assert_no_error (local_error);
  g_assert_false (registered->owner);
  g_assert_false (registered->admin);

  g_assert_true (create_account (fixture, "alice", "$hash-a", NATTER_ACCOUNT_OWNER,
                                 &local_error));
  g_assert_no_error (local_error);
  owner = get_user (fixture, "alice", &local_error);
  g_assert_no_error (local_error);
  g_assert_true (owner->owner);
  g_assert_true (owner->admin);

  reopen_store (fixture);
  again = get_user (fixture, "alice", &local_error);
  g_assert_no_error (local_error);
  g_assert_true (again->owner);
}

static void
test_tokens (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  gint64 now = now_ms ();
  g_autofree char *user = NULL;
  g_autofree char *expired = NULL;
  g_autofree char *unknown = NULL;

  g_assert_true (create_user (fixture, "alice", "hash", FALSE, &local_error));
  g_assert_true (create_token (fixture, "alice", "token-hash-1", now + 3600000, &local_error));
  g_assert_no_error (local_error);

  user = lookup_token (fixture, "token-hash-1", now, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (user, ==, "alice");

  expired = lookup_token (fixture, "token-hash-1", now + 3600000, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED);
  g_assert_null (expired);
  g_clear_error (&local_error);

  unknown = lookup_token (fixture, "token-hash-2", now, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED);
  g_assert_null (unknown);
}

/* Token hashes as the hub makes them are 64 hex digits; the session id is their start. */
#define HASH_A1 "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define HASH_A2 "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2"
#define HASH_A3 "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3"
#define HASH_B1 "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1"

static void
create_tokens (Fixture *fixture, const char * const *hashes, const char *user)
{
  g_autoptr(GError) local_error = NULL;

  for (guint i = 0; hashes[i] != NULL; i++)
    {
      g_assert_true (create_token (fixture, user, hashes[i], now_ms () + 3600000, &local_error));
      g_assert_no_error (local_error);
    }
}

static void
test_sessions (Fixture *fixture, gconstpointer user_data)
{
  const char * const alice_hashes[] = { HASH_A1, HASH_A2, HASH_A3, NULL };
  const char * const bob_hashes[] = { HASH_B1, NULL };
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autofree char *id_a1 = natter_store_session_id (HASH_A1);
  g_autofree char *id_a2 = natter_store_session_id (HASH_A2);
  g_autofree char *id_a3 = natter_store_session_id (HASH_A3);
  g_autofree char *id_b1 = natter_store_session_id (HASH_B1);
  g_autofree char *user = NULL;
  g_auto(GStrv) revoked = NULL;
  g_auto(GStrv) none = NULL;
  g_auto(GStrv) rest = NULL;
  gint64 before = now_ms ();
  NatterSessionRecord *first;

  g_assert_true (create_user (fixture, "alice", "hash", FALSE, &local_error));
  g_assert_true (create_user (fixture, "bob", "hash", FALSE, &local_error));
  create_tokens (fixture, alice_hashes, "alice");
  create_tokens (fixture, bob_hashes, "bob");

  sessions = list_sessions (fixture, "alice", now_ms ());
  g_assert_cmpuint (sessions->len, ==, 3);
  first = g_ptr_array_index (sessions, 0);
  g_assert_cmpuint (strlen (first->id), ==, NATTER_SESSION_ID_CHARS);
  g_assert_cmpstr (first->agent, ==, "test-agent/1");
  g_assert_cmpint (first->created_ts, >=, before);
  g_assert_cmpint (first->last_seen_ts, ==, first->created_ts);

  /* A login with the token is its last use. */
  user = lookup_token (fixture, HASH_A1, now_ms () + 5000, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (user, ==, "alice");
  after = list_sessions (fixture, "alice", now_ms ());
  for (guint i = 0; i < after->len; i++)
    {
      NatterSessionRecord *session = g_ptr_array_index (after, i);

      if (g_str_equal (session->id, id_a1))
        g_assert_cmpint (session->last_seen_ts, >=, before + 5000);
      else
        g_assert_cmpint (session->last_seen_ts, <, before + 5000);
    }

  /* One session; another account's is not found, nor is an unknown one. */
  revoked = revoke_tokens (fixture, "alice", id_a2, NULL, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstrv (revoked, ((const char * const[]) { id_a2, NULL }));
  g_assert_null (lookup_token (fixture, HASH_A2, now_ms (), &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED);
  g_clear_error (&local_error);
  g_assert_null (revoke_tokens (fixture, "alice", id_b1, NULL, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);
  g_assert_null (revoke_tokens (fixture, "alice", id_a2, NULL, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);

  /* All but one, then all: nothing left to end is no error. */
  rest = revoke_tokens (fixture, "alice", NULL, id_a1, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstrv (rest, ((const char * const[]) { id_a3, NULL }));
  g_clear_pointer (&revoked, g_strfreev);
  revoked = revoke_tokens (fixture, "alice", NULL, NULL, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstrv (revoked, ((const char * const[]) { id_a1, NULL }));
  none = revoke_tokens (fixture, "alice", NULL, NULL, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (g_strv_length (none), ==, 0);
  g_clear_pointer (&sessions, g_ptr_array_unref);
  sessions = list_sessions (fixture, "alice", now_ms ());
  g_assert_cmpuint (sessions->len, ==, 0);

  /* Bob's session is untouched. */
  g_clear_pointer (&sessions, g_ptr_array_unref);
  sessions = list_sessions (fixture, "bob", now_ms ());
  g_assert_cmpuint (sessions->len, ==, 1);
}

static void
test_set_password (Fixture *fixture, gconstpointer user_data)
{
  const char * const hashes[] = { HASH_A1, HASH_A2, HASH_A3, NULL };
  g_autoptr(GError) local_error = NULL;
  g_autofree char *id_a1 = natter_store_session_id (HASH_A1);
  g_auto(GStrv) revoked = NULL;
  g_autoptr(NatterUserRecord) record = NULL;
  g_autofree char *user = NULL;

  g_assert_true (create_user (fixture, "alice", "old-hash", FALSE, &local_error));
  create_tokens (fixture, hashes, "alice");

  revoked = set_password (fixture, "alice", "new-hash", id_a1, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (g_strv_length (revoked), ==, 2);
  g_assert_false (g_strv_contains ((const char * const *) revoked, id_a1));
  record = get_user (fixture, "alice", &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (record->password_hash, ==, "new-hash");
  user = lookup_token (fixture, HASH_A1, now_ms (), &local_error);
  g_assert_no_error (local_error);
  g_assert_null (lookup_token (fixture, HASH_A3, now_ms (), &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED);
  g_clear_error (&local_error);

  g_assert_null (set_password (fixture, "nobody", "hash", NULL, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
}

static void
test_account_state (Fixture *fixture, gconstpointer user_data)
{
  const char * const hashes[] = { HASH_A1, HASH_A2, NULL };
  const char * const later[] = { HASH_A3, NULL };
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) disabled = NULL;
  g_auto(GStrv) enabled = NULL;
  g_auto(GStrv) deleted = NULL;
  g_autoptr(NatterUserRecord) record = NULL;
  g_autoptr(NatterUserRecord) gone = NULL;
  g_autoptr(GPtrArray) users = NULL;
  g_autofree char *user = NULL;

  g_assert_true (create_user (fixture, "alice", "hash", FALSE, &local_error));
  g_assert_true (create_user (fixture, "bob", "hash", FALSE, &local_error));
  create_tokens (fixture, hashes, "alice");

  /* Disabling ends every session, and no token of the account works meanwhile. */
  disabled = set_account_state (fixture, "alice", NATTER_ACCOUNT_DISABLED, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (g_strv_length (disabled), ==, 2);
  record = get_user (fixture, "alice", &local_error);
  g_assert_no_error (local_error);
  g_assert_true (record->disabled);
  g_assert_false (record->deleted);
  create_tokens (fixture, later, "alice");
  g_assert_null (lookup_token (fixture, HASH_A3, now_ms (), &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED);
  g_clear_error (&local_error);
  users = list_users (fixture, NULL, 10);
  g_assert_cmpuint (users->len, ==, 2);
  g_assert_true (((NatterUserRecord *) g_ptr_array_index (users, 0))->disabled);

  enabled = set_account_state (fixture, "alice", NATTER_ACCOUNT_ENABLED, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (g_strv_length (enabled), ==, 0);
  user = lookup_token (fixture, HASH_A3, now_ms (), &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (user, ==, "alice");

  /* Deleting keeps the name taken, and drops the password and the sessions. */
  deleted = set_account_state (fixture, "alice", NATTER_ACCOUNT_DELETED, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstrv (deleted, ((const char * const[]) { "a3a3a3a3a3a3a3a3", NULL }));
  gone = get_user (fixture, "alice", &local_error);
  g_assert_no_error (local_error);
  g_assert_true (gone->deleted);
  g_assert_cmpstr (gone->password_hash, ==, "");
  g_assert_false (create_user (fixture, "alice", "hash", FALSE, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_CONFLICT);
  g_clear_error (&local_error);
  g_assert_null (set_account_state (fixture, "alice", NATTER_ACCOUNT_ENABLED, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);
  g_assert_null (set_password (fixture, "alice", "hash", NULL, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);
  g_assert_null (set_account_state (fixture, "nobody", NATTER_ACCOUNT_DISABLED, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);

  g_clear_pointer (&users, g_ptr_array_unref);
  users = list_users (fixture, NULL, 10);
  g_assert_cmpuint (users->len, ==, 1);
  g_assert_cmpstr (((NatterUserRecord *) g_ptr_array_index (users, 0))->name, ==, "bob");
}

static void
test_list_users (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) matching = NULL;
  g_autoptr(GPtrArray) limited = NULL;
  g_autoptr(GPtrArray) literal = NULL;
  gint64 before = now_ms ();
  NatterUserRecord *first;

  g_assert_true (create_user (fixture, "carol", "hash", FALSE, &local_error));
  g_assert_true (create_user (fixture, "alice", "hash", TRUE, &local_error));
  g_assert_true (create_user (fixture, "alfred", "hash", FALSE, &local_error));
  g_assert_no_error (local_error);

  all = list_users (fixture, NULL, 100);
  g_assert_cmpuint (all->len, ==, 3);
  first = g_ptr_array_index (all, 0);
  g_assert_cmpstr (first->name, ==, "alfred");
  g_assert_false (first->admin);
  g_assert_null (first->password_hash);
  g_assert_cmpint (first->created_ts, >=, before - 1000);
  g_assert_true (((NatterUserRecord *) g_ptr_array_index (all, 1))->admin);

  matching = list_users (fixture, "al", 100);
  g_assert_cmpuint (matching->len, ==, 2);
  limited = list_users (fixture, NULL, 1);
  g_assert_cmpuint (limited->len, ==, 1);
  /* A substring, not a pattern. */
  literal = list_users (fixture, "%", 100);
  g_assert_cmpuint (literal->len, ==, 0);
}

static void
test_rooms (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) created = NULL;
  g_autoptr(NatterRoomRecord) again = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;
  g_autoptr(NatterRoomRecord) after_remove = NULL;
  g_autoptr(NatterRoomRecord) missing = NULL;

  created = create_room_full (fixture, "general", NATTER_ROOM_KIND_ROOM, "Anything goes",
                              &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (created->name, ==, "general");
  g_assert_cmpstr (created->kind, ==, NATTER_ROOM_KIND_ROOM);
  g_assert_cmpstr (created->topic, ==, "Anything goes");
  g_assert_cmpuint (created->last_seq, ==, 0);

  append_ok (fixture, "general", "alice", "hello");

  /* Creating it again returns the stored room, untouched. */
  again = create_room_full (fixture, "general", NATTER_ROOM_KIND_DM, "Other", &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (again->kind, ==, NATTER_ROOM_KIND_ROOM);
  g_assert_cmpstr (again->topic, ==, "Anything goes");
  g_assert_cmpuint (again->last_seq, ==, 1);

  g_assert_true (add_member (fixture, "general", "alice", &local_error));
  g_assert_true (add_member (fixture, "general", "alice", &local_error));
  g_assert_true (add_member (fixture, "general", "bob", &local_error));
  g_assert_no_error (local_error);

  room = get_room (fixture, "general", &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (room->last_seq, ==, 1);
  g_assert_cmpuint (room->members->len, ==, 2);
  g_assert_cmpstr (((NatterMemberRecord *) g_ptr_array_index (room->members, 0))->user, ==,
                   "alice");
  g_assert_cmpstr (((NatterMemberRecord *) g_ptr_array_index (room->members, 1))->user, ==,
                   "bob");

  g_assert_true (remove_member (fixture, "general", "bob", &local_error));
  g_assert_true (remove_member (fixture, "general", "bob", &local_error));
  g_assert_no_error (local_error);
  after_remove = get_room (fixture, "general", &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (after_remove->members->len, ==, 1);

  missing = get_room (fixture, "nowhere", &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_assert_null (missing);
  g_clear_error (&local_error);

  g_assert_false (add_member (fixture, "nowhere", "alice", &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
}

static void
test_append (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) missing = NULL;
  g_autoptr(NatterAppendResult) first = NULL;
  g_autoptr(NatterAppendResult) broadcast = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(NatterHistoryResult) page = NULL;
  Natter__Message *message;

  missing = append (fixture, "nowhere", "alice", "hello", "c-1", &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_assert_null (missing);
  g_clear_error (&local_error);

  create_room (fixture, "general");
  natter_store_append_message_async (fixture->store, "general", "alice", "héllo wörld", "c-1",
                                     NATTER_MESSAGE_KIND_TEXT, 1700000000123, NULL, result_cb,
                                     &result);
  WAIT_UNTIL (result != NULL);
  first = natter_store_append_message_finish (fixture->store, result, &local_error);
  g_assert_no_error (local_error);
  g_assert_false (first->duplicate);
  g_assert_cmpstr (first->message->room, ==, "general");
  g_assert_cmpuint (first->message->seq, ==, 1);
  g_assert_cmpint (first->message->ts, ==, 1700000000123);
  g_assert_cmpstr (first->message->sender, ==, "alice");
  g_assert_cmpstr (first->message->body, ==, "héllo wörld");
  g_assert_cmpstr (first->message->client_msg_id, ==, "c-1");
  g_assert_cmpstr (first->message->kind, ==, NATTER_MESSAGE_KIND_TEXT);

  /* Messages without an id are never duplicates of each other. */
  g_assert_cmpuint (append_ok (fixture, "general", "alice", "again"), ==, 2);
  g_assert_cmpuint (append_ok (fixture, "general", "alice", "again"), ==, 3);

  g_clear_object (&result);
  create_room_of_kind (fixture, NATTER_SYSTEM_ROOM, NATTER_ROOM_KIND_SYSTEM, NULL);
  natter_store_append_message_async (fixture->store, NATTER_SYSTEM_ROOM, "root", "maintenance",
                                     NULL, NATTER_MESSAGE_KIND_BROADCAST, now_ms (), NULL,
                                     result_cb, &result);
  WAIT_UNTIL (result != NULL);
  broadcast = natter_store_append_message_finish (fixture->store, result, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (broadcast->message->seq, ==, 1);

  page = history (fixture, "general", -1, -1, 10, &local_error);
  g_assert_no_error (local_error);
  assert_page (page, 1, 3, FALSE);
  message = g_ptr_array_index (page->messages, 0);
  g_assert_cmpstr (message->body, ==, "héllo wörld");
  g_assert_cmpint (message->ts, ==, 1700000000123);
  g_assert_cmpstr (message->client_msg_id, ==, "c-1");
  g_assert_null (((Natter__Message *) g_ptr_array_index (page->messages, 1))->client_msg_id);
}

typedef struct {
  guint      pending;
  GPtrArray *results;  /* (owned) (element-type NatterAppendResult) */
  GPtrArray *errors;   /* (owned) (element-type GError) */
} AppendBatch;

static void
append_batch_init (AppendBatch *batch)
{
  batch->results = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_append_result_free);
  batch->errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
}

static void
append_batch_clear (AppendBatch *batch)
{
  g_clear_pointer (&batch->results, g_ptr_array_unref);
  g_clear_pointer (&batch->errors, g_ptr_array_unref);
}

static void
append_batch_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AppendBatch *batch = user_data;
  GError *error = NULL;
  NatterAppendResult *appended = natter_store_append_message_finish (NATTER_STORE (source),
                                                                     result, &error);

  if (appended != NULL)
    g_ptr_array_add (batch->results, appended);
  else
    g_ptr_array_add (batch->errors, error);
  batch->pending--;
}

static void
append_batch_send (Fixture *f, AppendBatch *batch, const char *room, const char *sender,
                   const char *body, const char *client_msg_id)
{
  batch->pending++;
  natter_store_append_message_async (f->store, room, sender, body, client_msg_id,
                                     NATTER_MESSAGE_KIND_TEXT, now_ms (), NULL,
                                     append_batch_cb, batch);
}

static int
compare_uint64 (gconstpointer a, gconstpointer b)
{
  guint64 x = *(const guint64 *) a;
  guint64 y = *(const guint64 *) b;

  return x < y ? -1 : x > y;
}

static void
test_append_concurrent (Fixture *fixture, gconstpointer user_data)
{
  const char *rooms[] = { "r0", "r1", "r2", "r3", "r4" };
  const guint n_messages = 2000;
  AppendBatch batch = { 0, };
  g_autoptr(GHashTable) seqs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                      (GDestroyNotify) g_array_unref);

  for (guint i = 0; i < G_N_ELEMENTS (rooms); i++)
    {
      create_room (fixture, rooms[i]);
      g_hash_table_insert (seqs, (gpointer) rooms[i], g_array_new (FALSE, FALSE, sizeof (guint64)));
    }

  /* Everything in flight at once, including sends to a room that does not exist, which
   * share transactions with the others and must not disturb them. */
  append_batch_init (&batch);
  for (guint i = 0; i < n_messages; i++)
    {
      g_autofree char *sender = g_strdup_printf ("user%u", i % 100);
      g_autofree char *body = g_strdup_printf ("message %u", i);
      g_autofree char *client_msg_id = g_strdup_printf ("c-%u", i);

      append_batch_send (fixture, &batch, rooms[i % G_N_ELEMENTS (rooms)], sender, body,
                         client_msg_id);
      if (i % 100 == 50)
        append_batch_send (fixture, &batch, "nowhere", sender, body, NULL);
    }
  WAIT_UNTIL (batch.pending == 0);

  g_assert_cmpuint (batch.results->len, ==, n_messages);
  g_assert_cmpuint (batch.errors->len, ==, n_messages / 100);
  for (guint i = 0; i < batch.errors->len; i++)
    g_assert_error ((GError *) g_ptr_array_index (batch.errors, i), NATTER_ERROR, NATTER_ERROR_NOT_FOUND);

  for (guint i = 0; i < batch.results->len; i++)
    {
      NatterAppendResult *result = g_ptr_array_index (batch.results, i);

      g_assert_false (result->duplicate);
      g_array_append_val (g_hash_table_lookup (seqs, result->message->room),
                          result->message->seq);
    }

  /* Per room: exactly 1..n, each seq once, and the stored history agrees. */
  for (guint r = 0; r < G_N_ELEMENTS (rooms); r++)
    {
      GArray *room_seqs = g_hash_table_lookup (seqs, rooms[r]);
      g_autoptr(GError) local_error = NULL;
      g_autoptr(NatterRoomRecord) room = get_room (fixture, rooms[r], &local_error);
      guint64 after = 0;
      guint n_paged = 0;

      g_assert_no_error (local_error);
      g_array_sort (room_seqs, compare_uint64);
      g_assert_cmpuint (room_seqs->len, ==, n_messages / G_N_ELEMENTS (rooms));
      for (guint i = 0; i < room_seqs->len; i++)
        g_assert_cmpuint (g_array_index (room_seqs, guint64, i), ==, i + 1);
      g_assert_cmpuint (room->last_seq, ==, room_seqs->len);

      for (;;)
        {
          g_autoptr(NatterHistoryResult) page = history (fixture, rooms[r], (gint64) after, -1,
                                                         200, &local_error);

          g_assert_no_error (local_error);
          for (guint i = 0; i < page->messages->len; i++)
            {
              Natter__Message *message = g_ptr_array_index (page->messages, i);
              g_autofree char *expected_id = NULL;

              g_assert_cmpuint (message->seq, ==, after + 1);
              after = message->seq;
              n_paged++;
              /* The body and id were stored with the seq they were acked with. */
              g_assert_true (g_str_has_prefix (message->client_msg_id, "c-"));
              expected_id = g_strdup_printf ("c-%s", message->body + strlen ("message "));
              g_assert_cmpstr (message->client_msg_id, ==, expected_id);
            }
          if (!page->has_more)
            break;
        }
      g_assert_cmpuint (n_paged, ==, room_seqs->len);
    }

  append_batch_clear (&batch);
}

static void
test_idempotency (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) first = NULL;
  g_autoptr(NatterAppendResult) retry = NULL;
  g_autoptr(NatterAppendResult) other_sender = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;
  g_autoptr(NatterHistoryResult) page = NULL;
  AppendBatch batch = { 0, };
  guint64 concurrent_seq = 0;
  guint n_original = 0;

  create_room (fixture, "general");

  first = append (fixture, "general", "alice", "hello", "c-17", &local_error);
  g_assert_no_error (local_error);
  g_assert_false (first->duplicate);
  g_assert_cmpuint (first->message->seq, ==, 1);

  /* A retry, even with another body, returns the original message. */
  retry = append (fixture, "general", "alice", "hello (retry)", "c-17", &local_error);
  g_assert_no_error (local_error);
  g_assert_true (retry->duplicate);
  g_assert_cmpuint (retry->message->seq, ==, 1);
  g_assert_cmpstr (retry->message->body, ==, "hello");
  g_assert_cmpint (retry->message->ts, ==, first->message->ts);

  /* The id is the sender's own: someone else's c-17 is a new message. */
  other_sender = append (fixture, "general", "bob", "hi", "c-17", &local_error);
  g_assert_no_error (local_error);
  g_assert_false (other_sender->duplicate);
  g_assert_cmpuint (other_sender->message->seq, ==, 2);

  /* Retries racing each other: exactly one is stored. */
  append_batch_init (&batch);
  for (guint i = 0; i < 20; i++)
    append_batch_send (fixture, &batch, "general", "carol", "once", "c-race");
  WAIT_UNTIL (batch.pending == 0);
  g_assert_cmpuint (batch.errors->len, ==, 0);
  for (guint i = 0; i < batch.results->len; i++)
    {
      NatterAppendResult *result = g_ptr_array_index (batch.results, i);

      if (!result->duplicate)
        n_original++;
      if (concurrent_seq == 0)
        concurrent_seq = result->message->seq;
      g_assert_cmpuint (result->message->seq, ==, concurrent_seq);
    }
  g_assert_cmpuint (n_original, ==, 1);
  g_assert_cmpuint (concurrent_seq, ==, 3);
  append_batch_clear (&batch);

  room = get_room (fixture, "general", &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (room->last_seq, ==, 3);
  page = history (fixture, "general", -1, -1, 200, &local_error);
  g_assert_no_error (local_error);
  assert_page (page, 1, 3, FALSE);
}

static void
test_history (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  struct {
    gint64   after;
    gint64   before;
    guint    limit;
    guint64  first;
    guint64  last;     /* first > last: an empty page */
    gboolean has_more;
  } cases[] = {
    /* The newest page, then backwards */
    { -1, -1, 10, 16, 25, TRUE },
    { -1, 16, 10, 6, 15, TRUE },
    { -1, 6, 10, 1, 5, FALSE },
    { -1, 1, 10, 1, 0, FALSE },
    { -1, 100, 10, 16, 25, TRUE },
    /* Forwards */
    { 0, -1, 10, 1, 10, TRUE },
    { 10, -1, 10, 11, 20, TRUE },
    { 20, -1, 10, 21, 25, FALSE },
    { 15, -1, 10, 16, 25, FALSE },
    { 25, -1, 10, 1, 0, FALSE },
    { 1000, -1, 10, 1, 0, FALSE },
    /* A limit beyond the room */
    { -1, -1, 200, 1, 25, FALSE },
    { 0, -1, 200, 1, 25, FALSE },
    /* A range */
    { 5, 11, 3, 6, 8, TRUE },
    { 5, 11, 10, 6, 10, FALSE },
    { 5, 6, 10, 1, 0, FALSE },
    /* One at a time */
    { -1, -1, 1, 25, 25, TRUE },
    { 24, -1, 1, 25, 25, FALSE },
  };

  create_room (fixture, "empty");
  for (gint64 after = -1; after <= 0; after++)
    {
      g_autoptr(NatterHistoryResult) page = history (fixture, "empty", after, -1, 50, &local_error);

      g_assert_no_error (local_error);
      assert_page (page, 1, 0, FALSE);
    }

  create_room (fixture, "general");
  create_room (fixture, "other");
  for (guint i = 1; i <= 25; i++)
    {
      g_autofree char *body = g_strdup_printf ("message %u", i);

      g_assert_cmpuint (append_ok (fixture, "general", "alice", body), ==, i);
      /* Interleaved so that the room's messages are not contiguous in the table. */
      append_ok (fixture, "other", "bob", body);
    }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(NatterHistoryResult) page = NULL;

      g_test_message ("history after=%" G_GINT64_FORMAT " before=%" G_GINT64_FORMAT
                      " limit=%u", cases[i].after, cases[i].before, cases[i].limit);
      page = history (fixture, "general", cases[i].after, cases[i].before, cases[i].limit,
                      &local_error);
      g_assert_no_error (local_error);
      assert_page (page, cases[i].first, cases[i].last, cases[i].has_more);
      for (guint j = 0; j < page->messages->len; j++)
        g_assert_cmpstr (((Natter__Message *) g_ptr_array_index (page->messages, j))->room, ==,
                         "general");
    }
}

/* Replies, edits, deletions and reactions: each a message of its own, and history shows
 * every message in its current state. */
static void
test_changes (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) reply = NULL;
  g_autoptr(NatterAppendResult) again = NULL;
  g_autoptr(NatterHistoryResult) page = NULL;
  g_autoptr(GPtrArray) found = NULL;
  Natter__Message *m;
  guint64 first, second, edit, reaction;

  create_room_with_member (fixture, "general", "alice");
  g_assert_true (add_member (fixture, "general", "bob", NULL));
  first = append_ok (fixture, "general", "alice", "helo wrold");
  second = append_ok (fixture, "general", "bob", "secret hunter2");

  reply = change (fixture, NATTER_MESSAGE_KIND_TEXT, "bob", first, "an answer", FALSE, "r-1",
                  &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (reply->message->seq, ==, 3);
  g_assert_true (reply->message->has_reply_to);
  g_assert_cmpuint (reply->message->reply_to, ==, first);
  g_assert_false (reply->message->has_target_seq);
  again = change (fixture, NATTER_MESSAGE_KIND_TEXT, "bob", first, "an answer", FALSE, "r-1",
                  &local_error);
  g_assert_no_error (local_error);
  g_assert_true (again->duplicate);
  g_assert_cmpuint (again->message->seq, ==, 3);

  edit = change_ok (fixture, NATTER_MESSAGE_KIND_EDIT, "alice", first, "hello world");
  g_assert_cmpuint (edit, ==, 4);
  g_assert_cmpuint (change_ok (fixture, NATTER_MESSAGE_KIND_DELETE, "bob", second, ""), ==, 5);
  reaction = change_ok (fixture, NATTER_MESSAGE_KIND_REACTION, "bob", first, "👍");
  change_ok (fixture, NATTER_MESSAGE_KIND_REACTION, "alice", first, "👍");
  change_ok (fixture, NATTER_MESSAGE_KIND_REACTION, "alice", first, "🎉");
  g_assert_cmpuint (reaction, ==, 6);

  /* The rules: nothing is stored when one fails. */
  assert_change_fails (fixture, NATTER_MESSAGE_KIND_EDIT, "bob", first, NATTER_ERROR_FORBIDDEN);
  assert_change_fails (fixture, NATTER_MESSAGE_KIND_DELETE, "bob", first,
                       NATTER_ERROR_FORBIDDEN);
  assert_change_fails (fixture, NATTER_MESSAGE_KIND_EDIT, "bob", second,
                       NATTER_ERROR_NOT_FOUND);
  assert_change_fails (fixture, NATTER_MESSAGE_KIND_REACTION, "bob", second,
                       NATTER_ERROR_NOT_FOUND);
  assert_change_fails (fixture, NATTER_MESSAGE_KIND_TEXT, "bob", 999, NATTER_ERROR_NOT_FOUND);
  assert_change_fails (fixture, NATTER_MESSAGE_KIND_REACTION, "bob", edit,
                       NATTER_ERROR_BAD_REQUEST);

  page = history (fixture, "general", -1, -1, 50, &local_error);
  g_assert_no_error (local_error);
  assert_page (page, 1, 8, FALSE);
  m = g_ptr_array_index (page->messages, 0);
  g_assert_cmpstr (m->body, ==, "hello world");
  g_assert_true (m->has_edited_ts);
  g_assert_cmpuint (m->n_reactions, ==, 2);
  g_assert_cmpstr (m->reactions[0]->emoji, ==, "🎉");
  g_assert_cmpuint (m->reactions[0]->n_users, ==, 1);
  g_assert_cmpstr (m->reactions[1]->emoji, ==, "👍");
  g_assert_cmpuint (m->reactions[1]->n_users, ==, 2);
  g_assert_cmpstr (m->reactions[1]->users[0], ==, "alice");
  g_assert_cmpstr (m->reactions[1]->users[1], ==, "bob");
  m = g_ptr_array_index (page->messages, 1);
  g_assert_cmpstr (m->kind, ==, NATTER_MESSAGE_KIND_DELETED);
  g_assert_cmpstr (m->body, ==, "");
  m = g_ptr_array_index (page->messages, 3);
  g_assert_cmpstr (m->kind, ==, NATTER_MESSAGE_KIND_EDIT);
  g_assert_cmpuint (m->target_seq, ==, first);
  m = g_ptr_array_index (page->messages, 5);
  g_assert_cmpstr (m->kind, ==, NATTER_MESSAGE_KIND_REACTION);
  g_assert_true (m->has_active && m->active);

  /* A reaction taken back. */
  {
    g_autoptr(NatterHistoryResult) one = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(NatterAppendResult) undone = NULL;
    NatterMessageChange request = {
      .room = "general", .sender = "bob", .kind = NATTER_MESSAGE_KIND_REACTION,
      .body = "👍", .target_seq = first, .active = FALSE, .ts_ms = now_ms (),
    };

    natter_store_change_message_async (fixture->store, &request, NULL, result_cb, &result);
    WAIT_UNTIL (result != NULL);
    undone = natter_store_change_message_finish (fixture->store, result, &local_error);
    g_assert_no_error (local_error);
    g_assert_true (undone->message->has_active);
    g_assert_false (undone->message->active);
    one = history (fixture, "general", 0, 2, 1, &local_error);
    g_assert_no_error (local_error);
    m = g_ptr_array_index (one->messages, 0);
    g_assert_cmpuint (m->reactions[1]->n_users, ==, 1);
    g_assert_cmpstr (m->reactions[1]->users[0], ==, "alice");
  }

  /* Search finds the current text only, and never the changes themselves. */
  found = search (fixture, "alice", "world", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpuint (((Natter__Message *) g_ptr_array_index (found, 0))->seq, ==, first);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = search (fixture, "alice", "hunter2", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 0);
  g_clear_pointer (&found, g_ptr_array_unref);

  /* A moderator deletes the message of another, and its earlier edits go with it. */
  {
    g_autoptr(NatterAppendResult) deleted = change (fixture, NATTER_MESSAGE_KIND_DELETE, "bob",
                                                    first, "", TRUE, NULL, &local_error);
    g_autoptr(NatterHistoryResult) all = NULL;

    g_assert_no_error (local_error);
    g_assert_nonnull (deleted);
    all = history (fixture, "general", 0, -1, 50, &local_error);
    g_assert_no_error (local_error);
    m = g_ptr_array_index (all->messages, 0);
    g_assert_cmpstr (m->kind, ==, NATTER_MESSAGE_KIND_DELETED);
    g_assert_cmpuint (m->n_reactions, ==, 0);
    m = g_ptr_array_index (all->messages, edit - 1);
    g_assert_cmpstr (m->body, ==, "");
  }
  found = search (fixture, "alice", "world", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 0);
}

static gboolean
set_level (Fixture *f, const char *room, const char *user, NatterNotificationLevel level,
           GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_store_set_notification_level_async (f->store, room, user, level, NULL, result_cb,
                                             &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_set_notification_level_finish (f->store, result, error);
}

static NatterNotificationLevel
level_of (NatterStoreSnapshot *snapshot, const char *room, const char *user)
{
  for (guint i = 0; i < snapshot->rooms->len; i++)
    {
      NatterRoomRecord *record = g_ptr_array_index (snapshot->rooms, i);

      if (!g_str_equal (record->name, room))
        continue;
      for (guint j = 0; j < record->members->len; j++)
        {
          NatterMemberRecord *member = g_ptr_array_index (record->members, j);

          if (g_str_equal (member->user, user))
            return member->notification_level;
        }
    }
  g_assert_not_reached ();
}

static NatterNotificationLevel
room_level_of (Fixture *f, const char *room, const char *user)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) record = get_room (f, room, &local_error);

  g_assert_no_error (local_error);
  for (guint i = 0; i < record->members->len; i++)
    {
      NatterMemberRecord *member = g_ptr_array_index (record->members, i);

      if (g_str_equal (member->user, user))
        return member->notification_level;
    }
  g_assert_not_reached ();
}

static void
test_notification_levels (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = NULL;
  NatterNotificationLevel level;

  create_room (fixture, "general");
  g_assert_true (add_member (fixture, "general", "alice", &local_error));
  g_assert_true (add_member (fixture, "general", "bob", &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpint (room_level_of (fixture, "general", "alice"), ==,
                   NATTER_NOTIFICATION_LEVEL_ALL);

  g_assert_true (set_level (fixture, "general", "alice", NATTER_NOTIFICATION_LEVEL_MENTIONS,
                            &local_error));
  g_assert_no_error (local_error);
  g_assert_true (set_level (fixture, "general", "bob", NATTER_NOTIFICATION_LEVEL_NONE,
                            &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpint (room_level_of (fixture, "general", "alice"), ==,
                   NATTER_NOTIFICATION_LEVEL_MENTIONS);
  g_assert_cmpint (room_level_of (fixture, "general", "bob"), ==, NATTER_NOTIFICATION_LEVEL_NONE);
  snapshot = load (fixture, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpint (level_of (snapshot, "general", "alice"), ==,
                   NATTER_NOTIFICATION_LEVEL_MENTIONS);
  g_assert_cmpint (level_of (snapshot, "general", "bob"), ==, NATTER_NOTIFICATION_LEVEL_NONE);

  /* Not a member, no such room: nothing stored. */
  g_assert_false (set_level (fixture, "general", "carol", NATTER_NOTIFICATION_LEVEL_NONE,
                             &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);
  g_assert_false (set_level (fixture, "nowhere", "alice", NATTER_NOTIFICATION_LEVEL_NONE,
                             &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);

  /* The names, and back. */
  g_assert_cmpstr (natter_notification_level_to_string (NATTER_NOTIFICATION_LEVEL_MENTIONS), ==,
                   "mentions");
  g_assert_true (natter_notification_level_from_string ("none", &level));
  g_assert_cmpint (level, ==, NATTER_NOTIFICATION_LEVEL_NONE);
  g_assert_false (natter_notification_level_from_string ("loud", &level));
  g_assert_false (natter_notification_level_from_string (NULL, &level));
}

static void
test_read_markers (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;

  create_room (fixture, "general");
  g_assert_true (add_member (fixture, "general", "alice", &local_error));
  g_assert_true (add_member (fixture, "general", "bob", &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpuint (read_seq_of (fixture, "general", "alice"), ==, 0);

  /* Sending moves the sender's own marker, and only theirs. */
  append_ok (fixture, "general", "alice", "one");
  append_ok (fixture, "general", "alice", "two");
  append_ok (fixture, "general", "carol", "not a member");
  g_assert_cmpuint (read_seq_of (fixture, "general", "alice"), ==, 2);
  g_assert_cmpuint (read_seq_of (fixture, "general", "bob"), ==, 0);

  g_assert_true (set_read (fixture, "general", "bob", 2, &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpuint (read_seq_of (fixture, "general", "bob"), ==, 2);

  /* Never backwards. */
  g_assert_true (set_read (fixture, "general", "bob", 1, &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpuint (read_seq_of (fixture, "general", "bob"), ==, 2);
  g_assert_true (set_read (fixture, "general", "alice", 0, &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpuint (read_seq_of (fixture, "general", "alice"), ==, 2);

  g_assert_true (set_read (fixture, "general", "bob", 3, &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpuint (read_seq_of (fixture, "general", "bob"), ==, 3);

  /* A send never moves a marker back either. */
  append_ok (fixture, "general", "bob", "three");
  g_assert_cmpuint (read_seq_of (fixture, "general", "bob"), ==, 4);
}

static void
add_message_fixture (Fixture *f)
{
  g_autoptr(GError) local_error = NULL;

  create_room (f, "cats");
  create_room (f, "dogs");
  create_room_of_kind (f, NATTER_SYSTEM_ROOM, NATTER_ROOM_KIND_SYSTEM, NULL);
  g_assert_true (add_member (f, "cats", "alice", &local_error));
  g_assert_true (add_member (f, "cats", "bob", &local_error));
  g_assert_true (add_member (f, "dogs", "bob", &local_error));
  g_assert_no_error (local_error);

  append_ok (f, "cats", "alice", "My cat sat in the café");
  append_ok (f, "dogs", "bob", "The dog plan is secret, do not tell the cat people");
  append_ok (f, "cats", "bob", "Cats AND dogs: \"truce\" (maybe) NOT likely");
  append_ok (f, NATTER_SYSTEM_ROOM, "root", "Announcement: cat pictures are allowed");
}

static guint
count_in_room (GPtrArray *messages, const char *room)
{
  guint n = 0;

  for (guint i = 0; i < messages->len; i++)
    if (g_str_equal (((Natter__Message *) g_ptr_array_index (messages, i))->room, room))
      n++;
  return n;
}

static void
test_search (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) alice = NULL;
  g_autoptr(GPtrArray) bob = NULL;
  g_autoptr(GPtrArray) carol = NULL;
  g_autoptr(GPtrArray) filtered = NULL;
  g_autoptr(GPtrArray) forbidden = NULL;
  g_autoptr(GPtrArray) limited = NULL;
  Natter__Message *message;

  add_message_fixture (fixture);

  /* alice reads cats and system, never dogs; newest first. */
  alice = search (fixture, "alice", "cat", NULL, 50, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (alice->len, ==, 3);
  g_assert_cmpuint (count_in_room (alice, "dogs"), ==, 0);
  message = g_ptr_array_index (alice, 0);
  g_assert_cmpstr (message->room, ==, NATTER_SYSTEM_ROOM);
  g_assert_cmpstr (message->sender, ==, "root");
  g_assert_cmpuint (message->seq, ==, 1);
  message = g_ptr_array_index (alice, 2);
  g_assert_cmpstr (message->room, ==, "cats");
  g_assert_cmpstr (message->body, ==, "My cat sat in the café");
  g_assert_cmpuint (message->seq, ==, 1);

  bob = search (fixture, "bob", "cat", NULL, 50, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (bob->len, ==, 4);
  g_assert_cmpuint (count_in_room (bob, "dogs"), ==, 1);

  /* Not a member of anything: only the system room. */
  carol = search (fixture, "carol", "cat", NULL, 50, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (carol->len, ==, 1);
  g_assert_cmpuint (count_in_room (carol, NATTER_SYSTEM_ROOM), ==, 1);

  filtered = search (fixture, "alice", "cat", "cats", 50, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (filtered->len, ==, 2);
  g_assert_cmpuint (count_in_room (filtered, "cats"), ==, 2);

  /* Naming a room does not open it. */
  forbidden = search (fixture, "alice", "dog", "dogs", 50, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (forbidden->len, ==, 0);

  limited = search (fixture, "bob", "cat", NULL, 1, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (limited->len, ==, 1);
  g_assert_cmpstr (((Natter__Message *) g_ptr_array_index (limited, 0))->room, ==,
                   NATTER_SYSTEM_ROOM);
}

static void
test_search_text (Fixture *fixture, gconstpointer user_data)
{
  struct {
    const char *query;
    guint       n_results;
  } cases[] = {
    { "cafe", 1 },          /* diacritics do not matter */
    { "CAFÉ", 1 },          /* nor case */
    { "announ", 1 },        /* the last word is a prefix */
    { "cat sat", 1 },       /* every word must match */
    { "sat cat", 1 },
    { "cat dog", 0 },       /* alice cannot read the dog plan */
    { "truce", 1 },
    { "\"truce\"", 1 },
    { "AND", 1 },           /* operators are words */
    { "NOT likely", 1 },
    { "body:truce", 0 },    /* "body" "truce": no message has both */
    { "truce maybe", 1 },
  };
  const char *hostile[] = {
    "\"", "\"\"", "\"cat", "cat\"", "AND OR NOT (", ")", "(", "*", "cat*", "**", "^cat",
    "NEAR(cat dog)", "NEAR", "body:x", "body : x", "{body}: cat", "-cat", "+cat", "cat -",
    "'; DROP TABLE messages; --", "' OR 1=1 --", "\" OR \"\"=\"", "%", "_", "\\", "\\\"",
    "cat AND", "OR", "NOT", "a", "é", "😺", "猫", "\x01\x02", "rowid:1", "messages_fts:cat",
    "cat OR 1", "\xff\xfe invalid utf-8",
  };
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) empty = NULL;
  g_autoptr(GPtrArray) blank = NULL;

  add_message_fixture (fixture);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GPtrArray) results = NULL;

      g_test_message ("search '%s'", cases[i].query);
      results = search (fixture, "alice", cases[i].query, NULL, 50, &local_error);
      g_assert_no_error (local_error);
      g_assert_cmpuint (results->len, ==, cases[i].n_results);
    }

  for (guint i = 0; i < G_N_ELEMENTS (hostile); i++)
    {
      g_autoptr(GPtrArray) results = NULL;
      g_autofree char *escaped = g_strescape (hostile[i], NULL);

      g_test_message ("search '%s'", escaped);
      results = search (fixture, "alice", hostile[i], NULL, 50, &local_error);
      g_assert_no_error (local_error);
      g_assert_nonnull (results);
      g_assert_cmpuint (count_in_room (results, "dogs"), ==, 0);
    }

  empty = search (fixture, "alice", "", NULL, 50, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
  g_assert_null (empty);
  g_clear_error (&local_error);

  blank = search (fixture, "alice", " \t\n", NULL, 50, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
  g_assert_null (blank);

  /* The store still works. */
  g_assert_cmpuint (append_ok (fixture, "cats", "alice", "still here"), ==, 3);
}

static NatterRoomRecord *
find_room (NatterStoreSnapshot *snapshot, const char *name)
{
  for (guint i = 0; i < snapshot->rooms->len; i++)
    {
      NatterRoomRecord *room = g_ptr_array_index (snapshot->rooms, i);

      if (g_str_equal (room->name, name))
        return room;
    }
  return NULL;
}

static void
test_load (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterStoreSnapshot) empty = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = NULL;
  g_autoptr(NatterRoomRecord) dm = NULL;
  NatterRoomRecord *room;
  NatterMemberRecord *member;

  empty = load (fixture, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (empty->rooms->len, ==, 0);

  create_room (fixture, "general");
  dm = create_room_full (fixture, "dm:alice:bob", NATTER_ROOM_KIND_DM, NULL, &local_error);
  g_assert_no_error (local_error);
  create_room_of_kind (fixture, "topical", NATTER_ROOM_KIND_ROOM, "A topic");
  g_assert_true (add_member (fixture, "dm:alice:bob", "alice", &local_error));
  g_assert_true (add_member (fixture, "dm:alice:bob", "bob", &local_error));
  g_assert_no_error (local_error);
  append_ok (fixture, "dm:alice:bob", "alice", "hi");
  append_ok (fixture, "dm:alice:bob", "bob", "hello");
  append_ok (fixture, "dm:alice:bob", "alice", "how are you?");

  snapshot = load (fixture, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (snapshot->rooms->len, ==, 3);

  room = find_room (snapshot, "general");
  g_assert_nonnull (room);
  g_assert_cmpstr (room->kind, ==, NATTER_ROOM_KIND_ROOM);
  g_assert_cmpuint (room->last_seq, ==, 0);
  g_assert_cmpuint (room->members->len, ==, 0);

  room = find_room (snapshot, "topical");
  g_assert_cmpstr (room->topic, ==, "A topic");

  room = find_room (snapshot, "dm:alice:bob");
  g_assert_cmpstr (room->kind, ==, NATTER_ROOM_KIND_DM);
  g_assert_null (room->topic);
  g_assert_cmpuint (room->last_seq, ==, 3);
  g_assert_cmpuint (room->members->len, ==, 2);
  member = g_ptr_array_index (room->members, 0);
  g_assert_cmpstr (member->user, ==, "alice");
  g_assert_cmpuint (member->read_seq, ==, 3);
  member = g_ptr_array_index (room->members, 1);
  g_assert_cmpstr (member->user, ==, "bob");
  g_assert_cmpuint (member->read_seq, ==, 2);
}

/* Rooms from before roles, and rooms made by join: public, members with no more than
 * membership. A room made by create: its creator owns it, private if asked. */
static void
test_room_create (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) plain = NULL;
  g_autoptr(NatterRoomRecord) secret = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = NULL;
  NatterRoomRecord *loaded;

  create_room_with_member (fixture, "general", "alice");
  plain = get_room_ok (fixture, "general");
  g_assert_false (plain->is_private);
  g_assert_cmpint (find_member (plain, "alice")->role, ==, NATTER_ROLE_MEMBER);

  g_assert_true (create_owned_room (fixture, "secret", "bob", TRUE, "Plans", &local_error));
  g_assert_no_error (local_error);
  secret = get_room_ok (fixture, "secret");
  g_assert_true (secret->is_private);
  g_assert_cmpstr (secret->kind, ==, NATTER_ROOM_KIND_ROOM);
  g_assert_cmpstr (secret->topic, ==, "Plans");
  g_assert_cmpuint (secret->members->len, ==, 1);
  g_assert_cmpint (find_member (secret, "bob")->role, ==, NATTER_ROLE_OWNER);

  /* A name that is taken, by any kind of room, is a conflict and changes nothing. */
  g_assert_false (create_owned_room (fixture, "general", "bob", TRUE, NULL, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_CONFLICT);
  g_clear_error (&local_error);
  g_clear_pointer (&plain, natter_room_record_free);
  plain = get_room_ok (fixture, "general");
  g_assert_false (plain->is_private);
  g_assert_null (find_member (plain, "bob"));

  snapshot = load (fixture, &local_error);
  g_assert_no_error (local_error);
  loaded = find_room (snapshot, "secret");
  g_assert_true (loaded->is_private);
  g_assert_cmpint (find_member (loaded, "bob")->role, ==, NATTER_ROLE_OWNER);
  g_assert_false (find_room (snapshot, "general")->is_private);
}

static void
test_room_roles (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;
  NatterRole role;

  g_assert_true (create_owned_room (fixture, "club", "alice", FALSE, NULL, &local_error));
  g_assert_true (add_member (fixture, "club", "bob", &local_error));
  g_assert_no_error (local_error);

  g_assert_true (set_role (fixture, "club", "bob", NATTER_ROLE_MODERATOR, &local_error));
  g_assert_no_error (local_error);
  room = get_room_ok (fixture, "club");
  g_assert_cmpint (find_member (room, "bob")->role, ==, NATTER_ROLE_MODERATOR);
  g_assert_cmpint (find_member (room, "alice")->role, ==, NATTER_ROLE_OWNER);

  /* Joining again keeps the role. */
  g_assert_true (add_member (fixture, "club", "bob", &local_error));
  g_clear_pointer (&room, natter_room_record_free);
  room = get_room_ok (fixture, "club");
  g_assert_cmpint (find_member (room, "bob")->role, ==, NATTER_ROLE_MODERATOR);

  g_assert_false (set_role (fixture, "club", "carol", NATTER_ROLE_OWNER, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);
  g_assert_false (set_role (fixture, "nowhere", "bob", NATTER_ROLE_OWNER, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);

  /* Leaving drops the role: coming back is as a member. */
  g_assert_true (remove_member (fixture, "club", "bob", &local_error));
  g_assert_true (add_member (fixture, "club", "bob", &local_error));
  g_clear_pointer (&room, natter_room_record_free);
  room = get_room_ok (fixture, "club");
  g_assert_cmpint (find_member (room, "bob")->role, ==, NATTER_ROLE_MEMBER);

  g_assert_true (natter_role_from_string ("moderator", &role));
  g_assert_cmpint (role, ==, NATTER_ROLE_MODERATOR);
  g_assert_false (natter_role_from_string ("admin", &role));
  g_assert_cmpstr (natter_role_to_string (NATTER_ROLE_OWNER), ==, "owner");
}

static void
test_room_topic (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;

  create_room (fixture, "general");
  moderate_ok (fixture, NATTER_MODERATION_SET_TOPIC, "general", "alice", NULL, "Welcome");
  room = get_room_ok (fixture, "general");
  g_assert_cmpstr (room->topic, ==, "Welcome");

  moderate_ok (fixture, NATTER_MODERATION_SET_TOPIC, "general", "alice", NULL, NULL);
  g_clear_pointer (&room, natter_room_record_free);
  room = get_room_ok (fixture, "general");
  g_assert_null (room->topic);

  g_assert_false (moderate (fixture, NATTER_MODERATION_SET_TOPIC, "nowhere", "alice", NULL,
                            "x", &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
}

static void
test_room_invitations (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = NULL;

  g_assert_true (create_owned_room (fixture, "secret", "alice", TRUE, NULL, &local_error));
  g_assert_no_error (local_error);
  moderate_ok (fixture, NATTER_MODERATION_INVITE, "secret", "bob", "alice", NULL);
  /* Again: idempotent. */
  moderate_ok (fixture, NATTER_MODERATION_INVITE, "secret", "bob", "alice", NULL);
  moderate_ok (fixture, NATTER_MODERATION_INVITE, "secret", "carol", "alice", NULL);

  room = get_room_ok (fixture, "secret");
  g_assert_cmpuint (room->invited->len, ==, 2);
  g_assert_true (contains (room->invited, "bob"));
  g_assert_true (contains (room->invited, "carol"));

  /* Joining uses the invitation up. */
  g_assert_true (add_member (fixture, "secret", "bob", &local_error));
  g_assert_no_error (local_error);
  g_clear_pointer (&room, natter_room_record_free);
  room = get_room_ok (fixture, "secret");
  g_assert_false (contains (room->invited, "bob"));
  g_assert_nonnull (find_member (room, "bob"));

  snapshot = load (fixture, &local_error);
  g_assert_no_error (local_error);
  g_assert_true (contains (find_room (snapshot, "secret")->invited, "carol"));
  g_assert_cmpuint (find_room (snapshot, "secret")->invited->len, ==, 1);

  g_assert_false (moderate (fixture, NATTER_MODERATION_INVITE, "nowhere", "bob", "alice",
                            NULL, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
}

static GPtrArray *
list_invitations (Fixture *f, const char *user)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  GPtrArray *invitations;

  natter_store_list_invitations_async (f->store, user, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  invitations = natter_store_list_invitations_finish (f->store, result, &local_error);
  g_assert_no_error (local_error);
  return invitations;
}

/* An account's pending invitations: listed oldest first with who gave each, declined
 * (once), used up by joining, and withdrawn with their giver's ban from the room. */
static void
test_invitation_list (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;
  NatterInvitation *invitation;
  gint64 before = g_get_real_time () / 1000;

  g_assert_true (create_owned_room (fixture, "secret", "alice", TRUE, NULL, &local_error));
  g_assert_true (create_owned_room (fixture, "club", "alice", TRUE, NULL, &local_error));
  g_assert_true (create_owned_room (fixture, "annex", "alice", TRUE, NULL, &local_error));
  g_assert_true (add_member (fixture, "club", "mallory", &local_error));
  g_assert_no_error (local_error);

  list = list_invitations (fixture, "bob");
  g_assert_cmpuint (list->len, ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);

  moderate_ok (fixture, NATTER_MODERATION_INVITE, "secret", "bob", "alice", NULL);
  moderate_ok (fixture, NATTER_MODERATION_INVITE, "club", "bob", "mallory", NULL);
  moderate_ok (fixture, NATTER_MODERATION_INVITE, "club", "carol", "mallory", NULL);
  moderate_ok (fixture, NATTER_MODERATION_INVITE, "annex", "bob", "alice", NULL);
  list = list_invitations (fixture, "bob");
  g_assert_cmpuint (list->len, ==, 3);
  for (guint i = 0; i < list->len; i++)
    {
      invitation = g_ptr_array_index (list, i);
      g_assert_cmpint (invitation->ts, >=, before);
      if (i > 0)
        g_assert_cmpint (invitation->ts, >=,
                         ((NatterInvitation *) g_ptr_array_index (list, i - 1))->ts);
      if (g_str_equal (invitation->room, "club"))
        g_assert_cmpstr (invitation->by, ==, "mallory");
      else
        g_assert_cmpstr (invitation->by, ==, "alice");
    }
  g_clear_pointer (&list, g_ptr_array_unref);

  /* Declining drops it, once; nothing else changes. */
  moderate_ok (fixture, NATTER_MODERATION_DECLINE, "annex", "bob", NULL, NULL);
  g_assert_false (moderate (fixture, NATTER_MODERATION_DECLINE, "annex", "bob", NULL, NULL,
                            &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);
  g_assert_false (moderate (fixture, NATTER_MODERATION_DECLINE, "nowhere", "bob", NULL, NULL,
                            &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);
  room = get_room_ok (fixture, "annex");
  g_assert_cmpuint (room->invited->len, ==, 0);
  g_assert_null (find_member (room, "bob"));
  g_clear_pointer (&room, natter_room_record_free);

  /* The inviter's ban withdraws what they gave to that room. */
  moderate_ok (fixture, NATTER_MODERATION_BAN, "club", "mallory", "alice", "spam");
  list = list_invitations (fixture, "bob");
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_cmpstr (((NatterInvitation *) g_ptr_array_index (list, 0))->room, ==, "secret");
  g_clear_pointer (&list, g_ptr_array_unref);
  list = list_invitations (fixture, "carol");
  g_assert_cmpuint (list->len, ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);

  /* Joining uses the last one up. */
  g_assert_true (add_member (fixture, "secret", "bob", &local_error));
  g_assert_no_error (local_error);
  list = list_invitations (fixture, "bob");
  g_assert_cmpuint (list->len, ==, 0);
}

static void
test_room_bans (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = NULL;
  g_autoptr(GPtrArray) found = NULL;

  create_room_with_member (fixture, "general", "alice");
  g_assert_true (add_member (fixture, "general", "mallory", &local_error));
  append_ok (fixture, "general", "alice", "a message about llamas");
  moderate_ok (fixture, NATTER_MODERATION_INVITE, "general", "trudy", "alice", NULL);

  /* A ban ends the membership and the invitation at once. */
  moderate_ok (fixture, NATTER_MODERATION_BAN, "general", "mallory", "alice", "spam");
  moderate_ok (fixture, NATTER_MODERATION_BAN, "general", "trudy", "alice", NULL);
  room = get_room_ok (fixture, "general");
  g_assert_null (find_member (room, "mallory"));
  g_assert_cmpuint (room->banned->len, ==, 2);
  g_assert_true (contains (room->banned, "mallory"));
  g_assert_cmpuint (room->invited->len, ==, 0);

  /* A banned user's search no longer reaches the room. */
  found = search (fixture, "mallory", "llamas", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 0);

  /* Again: idempotent. */
  moderate_ok (fixture, NATTER_MODERATION_BAN, "general", "mallory", "alice", "more spam");
  snapshot = load (fixture, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (find_room (snapshot, "general")->banned->len, ==, 2);

  moderate_ok (fixture, NATTER_MODERATION_UNBAN, "general", "mallory", "alice", NULL);
  moderate_ok (fixture, NATTER_MODERATION_UNBAN, "general", "mallory", "alice", NULL);
  g_clear_pointer (&room, natter_room_record_free);
  room = get_room_ok (fixture, "general");
  g_assert_false (contains (room->banned, "mallory"));
  g_assert_true (contains (room->banned, "trudy"));
  /* Unbanning does not make a member again. */
  g_assert_null (find_member (room, "mallory"));

  g_assert_false (moderate (fixture, NATTER_MODERATION_BAN, "nowhere", "mallory", "alice",
                            NULL, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_clear_error (&local_error);
  g_assert_false (moderate (fixture, NATTER_MODERATION_UNBAN, "nowhere", "mallory", "alice",
                            NULL, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
}

static void
test_blocks (Fixture *fixture, gconstpointer user_data)
{
  g_auto(GStrv) none = NULL;
  g_auto(GStrv) two = NULL;
  g_auto(GStrv) one = NULL;
  g_auto(GStrv) theirs = NULL;

  none = list_blocks (fixture, "alice");
  g_assert_cmpuint (g_strv_length (none), ==, 0);

  moderate_ok (fixture, NATTER_MODERATION_BLOCK, NULL, "mallory", "alice", NULL);
  moderate_ok (fixture, NATTER_MODERATION_BLOCK, NULL, "mallory", "alice", NULL);
  moderate_ok (fixture, NATTER_MODERATION_BLOCK, NULL, "eve", "alice", NULL);
  two = list_blocks (fixture, "alice");
  g_assert_cmpuint (g_strv_length (two), ==, 2);
  g_assert_cmpstr (two[0], ==, "eve");
  g_assert_cmpstr (two[1], ==, "mallory");

  /* One way only. */
  theirs = list_blocks (fixture, "mallory");
  g_assert_cmpuint (g_strv_length (theirs), ==, 0);

  moderate_ok (fixture, NATTER_MODERATION_UNBLOCK, NULL, "eve", "alice", NULL);
  moderate_ok (fixture, NATTER_MODERATION_UNBLOCK, NULL, "eve", "alice", NULL);
  one = list_blocks (fixture, "alice");
  g_assert_cmpstrv (one, ((const char * const[]) { "mallory", NULL }));
}

static gboolean
log_moderation (Fixture *f, const char *room, gint64 ts_ms, const char *kind, const char *user,
                const char *by, const char *reason, const char *role, const char *topic,
                GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  NatterModerationEvent event = {
    .ts_ms = ts_ms, .kind = (char *) kind, .user = (char *) user, .by = (char *) by,
    .reason = (char *) reason, .role = (char *) role, .topic = (char *) topic,
  };

  natter_store_log_moderation_async (f->store, room, &event, NULL, result_cb, &result);
  WAIT_UNTIL (result != NULL);
  return natter_store_log_moderation_finish (f->store, result, error);
}

static GPtrArray *
moderation_log (Fixture *f, const char *room, gint64 before_ts_ms, guint limit)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) local_error = NULL;
  GPtrArray *events;

  natter_store_moderation_log_async (f->store, room, before_ts_ms, limit, NULL, result_cb,
                                     &result);
  WAIT_UNTIL (result != NULL);
  events = natter_store_moderation_log_finish (f->store, result, &local_error);
  g_assert_no_error (local_error);
  return events;
}

#define EVENT(events, i) ((NatterModerationEvent *) g_ptr_array_index ((events), (i)))

/* Each room's moderation log: every field kept, ts unique within the room (a second event
 * in the same millisecond gets the next one), pages of the newest before a ts, oldest
 * first, rooms apart, and nothing for a room that does not exist. */
static void
test_moderation_log (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) events = NULL;

  create_room (fixture, "general");
  create_room (fixture, "other");
  g_assert_true (log_moderation (fixture, "general", 1000, NATTER_MODERATION_EVENT_KICK, "bob",
                                 "alice", "spam", NULL, NULL, &local_error));
  g_assert_true (log_moderation (fixture, "general", 1000, NATTER_MODERATION_EVENT_BAN, "bob",
                                 "alice", NULL, NULL, NULL, &local_error));
  g_assert_true (log_moderation (fixture, "general", 999, NATTER_MODERATION_EVENT_ROLE, "carol",
                                 "alice", NULL, "moderator", NULL, &local_error));
  g_assert_true (log_moderation (fixture, "general", 5000, NATTER_MODERATION_EVENT_TOPIC,
                                 "alice", "alice", NULL, NULL, "Welcome", &local_error));
  g_assert_true (log_moderation (fixture, "general", 6000, NATTER_MODERATION_EVENT_UNBAN, "bob",
                                 "carol", NULL, NULL, NULL, &local_error));
  g_assert_true (log_moderation (fixture, "other", 1000, NATTER_MODERATION_EVENT_KICK, "dave",
                                 "erin", NULL, NULL, NULL, &local_error));
  g_assert_no_error (local_error);

  events = moderation_log (fixture, "general", 0, 50);
  g_assert_cmpuint (events->len, ==, 5);
  g_assert_cmpint (EVENT (events, 0)->ts_ms, ==, 1000);
  g_assert_cmpint (EVENT (events, 1)->ts_ms, ==, 1001);
  g_assert_cmpint (EVENT (events, 2)->ts_ms, ==, 1002);
  g_assert_cmpint (EVENT (events, 3)->ts_ms, ==, 5000);
  g_assert_cmpstr (EVENT (events, 0)->kind, ==, "kick");
  g_assert_cmpstr (EVENT (events, 0)->user, ==, "bob");
  g_assert_cmpstr (EVENT (events, 0)->by, ==, "alice");
  g_assert_cmpstr (EVENT (events, 0)->reason, ==, "spam");
  g_assert_null (EVENT (events, 0)->role);
  g_assert_null (EVENT (events, 1)->reason);
  g_assert_cmpstr (EVENT (events, 2)->role, ==, "moderator");
  g_assert_cmpstr (EVENT (events, 3)->topic, ==, "Welcome");
  g_assert_cmpstr (EVENT (events, 4)->kind, ==, "unban");
  g_assert_cmpstr (EVENT (events, 4)->by, ==, "carol");
  g_clear_pointer (&events, g_ptr_array_unref);

  /* The newest two before 5000, oldest first; the next page before the first of these. */
  events = moderation_log (fixture, "general", 5000, 2);
  g_assert_cmpuint (events->len, ==, 2);
  g_assert_cmpint (EVENT (events, 0)->ts_ms, ==, 1001);
  g_assert_cmpint (EVENT (events, 1)->ts_ms, ==, 1002);
  g_clear_pointer (&events, g_ptr_array_unref);
  events = moderation_log (fixture, "general", 1001, 2);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpint (EVENT (events, 0)->ts_ms, ==, 1000);
  g_clear_pointer (&events, g_ptr_array_unref);

  events = moderation_log (fixture, "other", 0, 50);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpstr (EVENT (events, 0)->user, ==, "dave");
  g_clear_pointer (&events, g_ptr_array_unref);
  events = moderation_log (fixture, "nowhere", 0, 50);
  g_assert_cmpuint (events->len, ==, 0);
  g_clear_pointer (&events, g_ptr_array_unref);

  g_assert_false (log_moderation (fixture, "nowhere", 1000, NATTER_MODERATION_EVENT_KICK, "bob",
                                  "alice", NULL, NULL, NULL, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
}

static void
test_directory (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) limited = NULL;
  g_autoptr(GPtrArray) by_topic = NULL;
  NatterDirectoryEntry *entry;

  create_room_with_member (fixture, "general", "alice");
  g_assert_true (add_member (fixture, "general", "bob", &local_error));
  g_assert_true (create_owned_room (fixture, "knitting", "bob", FALSE, "Wool and yarn",
                                    &local_error));
  g_assert_true (create_owned_room (fixture, "secret", "bob", TRUE, "Wool plans",
                                    &local_error));
  g_assert_no_error (local_error);
  create_room_of_kind (fixture, "dm:alice:bob", NATTER_ROOM_KIND_DM, NULL);
  create_room_of_kind (fixture, NATTER_SYSTEM_ROOM, NATTER_ROOM_KIND_SYSTEM, NULL);

  /* Public rooms only: not private ones, DMs or the system room. */
  all = directory (fixture, NULL, 100);
  g_assert_cmpuint (all->len, ==, 2);
  entry = g_ptr_array_index (all, 0);
  g_assert_cmpstr (entry->name, ==, "general");
  g_assert_null (entry->topic);
  g_assert_cmpuint (entry->n_members, ==, 2);
  entry = g_ptr_array_index (all, 1);
  g_assert_cmpstr (entry->name, ==, "knitting");
  g_assert_cmpstr (entry->topic, ==, "Wool and yarn");
  g_assert_cmpuint (entry->n_members, ==, 1);

  limited = directory (fixture, NULL, 1);
  g_assert_cmpuint (limited->len, ==, 1);

  by_topic = directory (fixture, "Wool", 100);
  g_assert_cmpuint (by_topic->len, ==, 1);
  g_assert_cmpstr (((NatterDirectoryEntry *) g_ptr_array_index (by_topic, 0))->name, ==,
                   "knitting");
}

/* Whether @entries is exactly the rooms @names (NULL-terminated), in order. */
static void
assert_directory_names (GPtrArray *entries, const char * const *names)
{
  g_assert_cmpuint (entries->len, ==, g_strv_length ((char **) names));
  for (guint i = 0; i < entries->len; i++)
    g_assert_cmpstr (((NatterDirectoryEntry *) g_ptr_array_index (entries, i))->name, ==,
                     names[i]);
}

/* The directory matches names and topics regardless of case, whichever side has capitals. */
static void
test_directory_case (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) lower = NULL;
  g_autoptr(GPtrArray) upper = NULL;
  g_autoptr(GPtrArray) by_name = NULL;
  g_autoptr(GPtrArray) none = NULL;
  const char * const knitting[] = { "knitting", NULL };
  const char * const both[] = { "knitting", "wool-shop", NULL };
  const char * const nothing[] = { NULL };

  g_assert_true (create_owned_room (fixture, "knitting", "bob", FALSE, "Wool and needles",
                                    &local_error));
  g_assert_true (create_owned_room (fixture, "wool-shop", "bob", FALSE, NULL, &local_error));
  g_assert_true (create_owned_room (fixture, "chess", "bob", FALSE, "Openings",
                                    &local_error));
  g_assert_no_error (local_error);

  lower = directory (fixture, "needles", 100);
  assert_directory_names (lower, knitting);
  upper = directory (fixture, "NEEDLES", 100);
  assert_directory_names (upper, knitting);
  /* A capital in the query finds the lowercase name as well as the topic. */
  by_name = directory (fixture, "Wool", 100);
  assert_directory_names (by_name, both);
  none = directory (fixture, "wool and yarn", 100);
  assert_directory_names (none, nothing);
}

/* The directory's limit takes the rooms with the most members, not the first by name. */
static void
test_directory_most_members_first (Fixture *fixture, gconstpointer user_data)
{
  static const struct { const char *room; guint members; } rooms[] = {
    { "alpha", 1 }, { "beta", 3 }, { "delta", 2 }, { "gamma", 3 }, { "zeta", 0 },
  };
  static const char * const users[] = { "u1", "u2", "u3" };
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) top = NULL;
  g_autoptr(GPtrArray) queried = NULL;
  const char * const expected[] = { "beta", "gamma", "delta", "alpha", "zeta" };
  const guint expected_members[] = { 3, 3, 2, 1, 0 };

  for (guint i = 0; i < G_N_ELEMENTS (rooms); i++)
    {
      create_room (fixture, rooms[i].room);
      for (guint j = 0; j < rooms[i].members; j++)
        {
          g_assert_true (add_member (fixture, rooms[i].room, users[j], &local_error));
          g_assert_no_error (local_error);
        }
    }

  /* Most members first, ties by name. */
  all = directory (fixture, NULL, 100);
  g_assert_cmpuint (all->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < all->len; i++)
    {
      NatterDirectoryEntry *entry = g_ptr_array_index (all, i);

      g_assert_cmpstr (entry->name, ==, expected[i]);
      g_assert_cmpuint (entry->n_members, ==, expected_members[i]);
    }

  /* The limit keeps the busiest: "alpha", first by name, is not among the top three. */
  top = directory (fixture, NULL, 3);
  g_assert_cmpuint (top->len, ==, 3);
  for (guint i = 0; i < top->len; i++)
    g_assert_cmpstr (((NatterDirectoryEntry *) g_ptr_array_index (top, i))->name, ==,
                     expected[i]);

  /* The same with a query: of beta, delta and zeta, the two busiest. */
  queried = directory (fixture, "ta", 2);
  g_assert_cmpuint (queried->len, ==, 2);
  g_assert_cmpstr (((NatterDirectoryEntry *) g_ptr_array_index (queried, 0))->name, ==, "beta");
  g_assert_cmpstr (((NatterDirectoryEntry *) g_ptr_array_index (queried, 1))->name, ==, "delta");
}

static void
test_persistence (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *epoch = g_strdup (natter_store_get_epoch (fixture->store));
  g_autoptr(NatterHistoryResult) page = NULL;
  g_autoptr(NatterUserRecord) user = NULL;
  g_autoptr(NatterAppendResult) retry = NULL;
  g_autofree char *token_user = NULL;
  AppendBatch batch = { 0, };

  g_assert_true (create_user (fixture, "alice", "hash", FALSE, &local_error));
  g_assert_true (create_token (fixture, "alice", "token", now_ms () + 60000, &local_error));
  g_assert_no_error (local_error);
  create_room (fixture, "general");
  g_assert_true (add_member (fixture, "general", "alice", &local_error));
  append_ok (fixture, "general", "alice", "before");

  /* Closing waits for what is queued: these are committed, and then complete. */
  append_batch_init (&batch);
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *id = g_strdup_printf ("late-%u", i);

      append_batch_send (fixture, &batch, "general", "alice", id, id);
    }
  natter_store_close (fixture->store);
  WAIT_UNTIL (batch.pending == 0);
  g_assert_cmpuint (batch.errors->len, ==, 0);
  g_assert_cmpuint (batch.results->len, ==, 100);
  append_batch_clear (&batch);

  reopen_store (fixture);
  g_assert_cmpstr (natter_store_get_epoch (fixture->store), ==, epoch);

  page = history (fixture, "general", 0, -1, 200, &local_error);
  g_assert_no_error (local_error);
  assert_page (page, 1, 101, FALSE);
  g_assert_cmpstr (((Natter__Message *) g_ptr_array_index (page->messages, 0))->body, ==,
                   "before");
  g_assert_cmpuint (read_seq_of (fixture, "general", "alice"), ==, 101);

  user = get_user (fixture, "alice", &local_error);
  g_assert_no_error (local_error);
  token_user = lookup_token (fixture, "token", now_ms (), &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (token_user, ==, "alice");

  /* Idempotency holds across a restart. */
  retry = append (fixture, "general", "alice", "late-42", "late-42", &local_error);
  g_assert_no_error (local_error);
  g_assert_true (retry->duplicate);
  g_assert_cmpuint (retry->message->seq, ==, 44);
  g_assert_cmpuint (append_ok (fixture, "general", "alice", "after"), ==, 102);
}

static void
test_closed (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterAppendResult) appended = NULL;
  g_autoptr(NatterHistoryResult) page = NULL;

  create_room (fixture, "general");
  natter_store_close (fixture->store);
  /* A second close is harmless. */
  natter_store_close (fixture->store);

  appended = append (fixture, "general", "alice", "too late", NULL, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE);
  g_assert_null (appended);
  g_clear_error (&local_error);

  page = history (fixture, "general", -1, -1, 10, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE);
  g_assert_null (page);
}

static void
test_finalize_without_close (Fixture *fixture, gconstpointer user_data)
{
  AppendBatch batch = { 0, };

  create_room (fixture, "general");
  append_batch_init (&batch);
  for (guint i = 0; i < 10; i++)
    append_batch_send (fixture, &batch, "general", "alice", "hi", NULL);
  /* The queued operations keep the store alive until they complete. */
  g_clear_object (&fixture->store);
  WAIT_UNTIL (batch.pending == 0);
  g_assert_cmpuint (batch.results->len, ==, 10);
  append_batch_clear (&batch);
  drain_main_context ();

  fixture->store = create_store (fixture);
  g_assert_cmpuint (append_ok (fixture, "general", "alice", "again"), ==, 11);
}

/* SQLite specific */

static sqlite3 *
open_raw (const char *path)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  return db;
}

static void
exec_raw (sqlite3 *db, const char *sql)
{
  char *message = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", sql, message);
}

/* Stores a message by alice in "general" behind the store's back, as a build that indexed
 * differently (or was killed before indexing) would have left it. */
/* A room with one member, as the schemas before roles stored them. */
static void
insert_room_raw (sqlite3 *db, const char *room, const char *user)
{
  char *sql = sqlite3_mprintf ("INSERT INTO rooms (name, kind, last_seq, created_at)"
                               " VALUES (%Q, 'room', 0, 0);"
                               "INSERT INTO members (room, user) VALUES (%Q, %Q)",
                               room, room, user);

  exec_raw (db, sql);
  sqlite3_free (sql);
}

static void
insert_message_raw (sqlite3 *db, gint64 seq, const char *body)
{
  g_autofree char *sql =
    g_strdup_printf ("UPDATE rooms SET last_seq = %" G_GINT64_FORMAT " WHERE name = 'general';"
                     "INSERT INTO messages (room, seq, ts, sender, body, kind)"
                     "  VALUES ('general', %" G_GINT64_FORMAT ", 0, 'alice', '%s', 'text');",
                     seq, seq, body);

  exec_raw (db, sql);
}

static gint64
query_int_raw (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  gint64 value;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return value;
}

/* The search shards of a database at schema 9 or later, newest first. */
static GArray *
shards_raw (sqlite3 *db)
{
  GArray *shards = g_array_new (FALSE, FALSE, sizeof (gint64));
  sqlite3_stmt *stmt = NULL;

  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT shard FROM search_shards ORDER BY shard DESC",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      gint64 shard = sqlite3_column_int64 (stmt, 0);

      g_array_append_val (shards, shard);
    }
  sqlite3_finalize (stmt);
  return shards;
}

/* How many messages the search index has for @query, over all shards. */
static gint64
count_indexed_db (sqlite3 *db, const char *query)
{
  g_autoptr(GArray) shards = shards_raw (db);
  gint64 n = 0;

  for (guint i = 0; i < shards->len; i++)
    {
      gint64 shard = g_array_index (shards, gint64, i);
      g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM messages_fts_%" G_GINT64_FORMAT
                                              " WHERE messages_fts_%" G_GINT64_FORMAT " MATCH '%s'",
                                              shard, shard, query);

      n += query_int_raw (db, sql);
    }
  return n;
}

/* FTS5's own check of every shard. */
static void
check_shards_raw (sqlite3 *db)
{
  g_autoptr(GArray) shards = shards_raw (db);

  for (guint i = 0; i < shards->len; i++)
    {
      gint64 shard = g_array_index (shards, gint64, i);
      g_autofree char *sql = g_strdup_printf ("INSERT INTO messages_fts_%" G_GINT64_FORMAT
                                              " (messages_fts_%" G_GINT64_FORMAT ")"
                                              " VALUES ('integrity-check')", shard, shard);

      exec_raw (db, sql);
    }
}

static void
test_sqlite_file (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  sqlite3 *db;
  sqlite3_stmt *stmt = NULL;

  /* The same, syncing every commit. */
  close_store (fixture);
  fixture->store = natter_store_sqlite_new (fixture->path, NATTER_DURABILITY_FULL,
                                            &local_error);
  g_assert_no_error (local_error);
  create_room (fixture, "general");
  append_ok (fixture, "general", "alice", "hello");

  db = open_raw (fixture->path);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA journal_mode", -1, &stmt, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpstr ((const char *) sqlite3_column_text (stmt, 0), ==, "wal");
  sqlite3_finalize (stmt);
  g_assert_cmpint (query_int_raw (db, "PRAGMA user_version"), ==,
                   natter_store_sqlite_get_latest_schema_version ());
  g_assert_cmpint (query_int_raw (db, "SELECT count(*) FROM meta WHERE key = 'epoch'"), ==, 1);
  sqlite3_close (db);

  /* Closing indexes what waits for the search index. */
  close_store (fixture);
  db = open_raw (fixture->path);
  g_assert_cmpint (count_indexed_db (db, "hello"), ==, 1);
  g_assert_cmpint (query_int_raw (db, "SELECT CAST (value AS INTEGER) FROM meta"
                                      " WHERE key = 'search_indexed_id'"),
                   ==, query_int_raw (db, "SELECT max (id) FROM messages"));
  sqlite3_close (db);
}

static gboolean
file_contains (const char *path, const char *word)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  gsize word_len = strlen (word);

  if (!g_file_get_contents (path, &contents, &len, NULL))
    return FALSE;

  /* Not g_strstr_len(): it stops at the first NUL, and the file is full of them. */
  for (gsize i = 0; i + word_len <= len; i++)
    if (memcmp (contents + i, word, word_len) == 0)
      return TRUE;
  return FALSE;
}

/* Copies the whole log into the database file and empties it; the store's own
 * checkpoints (after a delete, a TRUNCATE one) may hold it up for a moment. */
static gboolean
checkpoint_raw (const char *path)
{
  /* Tried again here for a while: nothing else would wake the caller's WAIT_UNTIL. */
  for (guint attempt = 0; attempt < 600; attempt++)
    {
      sqlite3 *db = open_raw (path);
      gint64 busy = query_int_raw (db, "PRAGMA wal_checkpoint(TRUNCATE)");

      sqlite3_close (db);
      if (busy == 0)
        return TRUE;
      g_usleep (50 * 1000);
    }
  return FALSE;
}

/* Deleting a message erases its text from the file: the row, its earlier edits, the
 * search index and the free pages, once the log is checkpointed. */
static void
test_sqlite_erase (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autofree char *wal = g_strconcat (fixture->path, "-wal", NULL);
  guint64 seq;

  create_room_with_member (fixture, "general", "alice");
  for (guint i = 0; i < 50; i++)
    append_ok (fixture, "general", "alice", "filler words to make segments");
  seq = append_ok (fixture, "general", "alice", "my password is zqxjwvpassword");
  change_ok (fixture, NATTER_MESSAGE_KIND_EDIT, "alice", seq, "oops zqxjwvedited");
  /* Into the index and the database file first, as time would do it. */
  found = search (fixture, "alice", "zqxjwvedited", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 1);
  g_clear_pointer (&found, g_ptr_array_unref);
  WAIT_UNTIL (checkpoint_raw (fixture->path));
  g_assert_true (file_contains (fixture->path, "zqxjwvedited"));

  change_ok (fixture, NATTER_MESSAGE_KIND_DELETE, "alice", seq, "");
  found = search (fixture, "alice", "zqxjwvedited", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 0);

  WAIT_UNTIL (checkpoint_raw (fixture->path));
  g_assert_false (file_contains (fixture->path, "zqxjwv"));
  g_assert_false (file_contains (wal, "zqxjwv"));
}

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* The search index in shards of a few message ids (the size is the file's, set here before
 * any message): results come newest first across shards and stop at the limit, prefixes
 * match, an edit moves its message's text and a delete in an old shard erases it. */
static void
test_sqlite_search_shards (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GArray) shards = NULL;
  guint64 secret = 0;
  sqlite3 *db;

  close_store (fixture);
  db = open_raw (fixture->path);
  exec_raw (db, "UPDATE meta SET value = '4' WHERE key = 'search_shard_size'");
  sqlite3_close (db);
  fixture->store = create_store (fixture);

  create_room_with_member (fixture, "general", "alice");
  for (guint i = 0; i < 30; i++)
    {
      g_autofree char *body = NULL;
      guint64 seq;

      if (i == 5)
        body = g_strdup ("secret qqxvbzsecret");
      else if (i % 3 == 0)
        body = g_strdup_printf ("shardword number %u", i);
      else
        body = g_strdup_printf ("filler %u", i);
      seq = append_ok (fixture, "general", "alice", body);
      if (i == 5)
        secret = seq;
    }

  found = search (fixture, "alice", "shardword", NULL, 100, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 10);
  for (guint i = 0; i < found->len; i++)
    g_assert_cmpuint (((Natter__Message *) g_ptr_array_index (found, i))->seq, ==, 28 - 3 * i);
  g_clear_pointer (&found, g_ptr_array_unref);

  /* The limit holds across shards. */
  found = search (fixture, "alice", "shardword", NULL, 3, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 3);
  g_assert_cmpuint (((Natter__Message *) g_ptr_array_index (found, 2))->seq, ==, 22);
  g_clear_pointer (&found, g_ptr_array_unref);

  /* Search as you type. */
  found = search (fixture, "alice", "shardw", NULL, 100, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 10);
  g_clear_pointer (&found, g_ptr_array_unref);

  /* An edit in an old shard: the new text found, the old one not. */
  change_ok (fixture, NATTER_MESSAGE_KIND_EDIT, "alice", 4, "renamed zzyzx");
  found = search (fixture, "alice", "shardword", NULL, 100, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 9);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = search (fixture, "alice", "zzyzx", NULL, 100, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpuint (((Natter__Message *) g_ptr_array_index (found, 0))->seq, ==, 4);
  g_clear_pointer (&found, g_ptr_array_unref);

  WAIT_UNTIL (checkpoint_raw (fixture->path));
  g_assert_true (file_contains (fixture->path, "qqxvbzsecret"));
  change_ok (fixture, NATTER_MESSAGE_KIND_DELETE, "alice", secret, "");
  found = search (fixture, "alice", "qqxvbzsecret", NULL, 100, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 0);
  g_clear_pointer (&found, g_ptr_array_unref);
  WAIT_UNTIL (checkpoint_raw (fixture->path));
  g_assert_false (file_contains (fixture->path, "qqxvbz"));

  db = open_raw (fixture->path);
  shards = shards_raw (db);
  g_assert_cmpuint (shards->len, >=, 7);
  g_assert_cmpint (count_indexed_db (db, "shardword"), ==, 9);
  g_assert_cmpint (count_indexed_db (db, "secret"), ==, 0);
  check_shards_raw (db);
  sqlite3_close (db);
}

/* After a delete the store empties the log by itself: without any checkpoint from here,
 * the deleted text leaves the -wal file and the database file within a few of the store's
 * own checkpoint cycles. */
static void
test_sqlite_erase_truncates_log (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autofree char *wal = g_strconcat (fixture->path, "-wal", NULL);
  guint64 seq;
  guint wake_id;

  create_room_with_member (fixture, "general", "alice");
  for (guint i = 0; i < 20; i++)
    append_ok (fixture, "general", "alice", "filler words");
  seq = append_ok (fixture, "general", "alice", "my token is vvqxzkwal");
  found = search (fixture, "alice", "vvqxzkwal", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 1);
  /* Far below the frames that ask for a checkpoint: it is in the log. */
  g_assert_true (file_contains (wal, "vvqxzkwal"));

  change_ok (fixture, NATTER_MESSAGE_KIND_DELETE, "alice", seq, "");
  wake_id = g_timeout_add (50, wake_cb, NULL);
  WAIT_UNTIL (!file_contains (wal, "vvqxzk") && !file_contains (fixture->path, "vvqxzk"));
  g_source_remove (wake_id);

  /* The store goes on writing. */
  append_ok (fixture, "general", "alice", "after the delete");
}

/* A store written by schema 8, with its one search index: opening it moves the index into
 * shards, search finds the old messages, and a delete erases as before. */
static void
test_sqlite_migration_search_shards (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  guint64 seq;
  sqlite3 *db;

  g_assert_cmpuint (natter_store_sqlite_get_latest_schema_version (), >=, 9);
  fixture->store = natter_store_sqlite_new_full (fixture->path, NATTER_DURABILITY_NORMAL, 8,
                                                 5000, &local_error);
  g_assert_no_error (local_error);
  create_room_with_member (fixture, "general", "alice");
  append_ok (fixture, "general", "alice", "before shards one");
  seq = append_ok (fixture, "general", "alice", "before shards two kkqzvwold");
  change_ok (fixture, NATTER_MESSAGE_KIND_REACTION, "alice", 1, "👍");
  found = search (fixture, "alice", "before", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 2);
  g_clear_pointer (&found, g_ptr_array_unref);
  close_store (fixture);

  db = open_raw (fixture->path);
  g_assert_cmpint (query_int_raw (db, "PRAGMA user_version"), ==, 8);
  g_assert_cmpint (query_int_raw (db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'before'"),
                   ==, 2);
  sqlite3_close (db);

  fixture->store = create_store (fixture);
  found = search (fixture, "alice", "befo", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 2);
  g_assert_cmpuint (((Natter__Message *) g_ptr_array_index (found, 0))->seq, ==, seq);
  g_clear_pointer (&found, g_ptr_array_unref);

  change_ok (fixture, NATTER_MESSAGE_KIND_DELETE, "alice", seq, "");
  found = search (fixture, "alice", "kkqzvwold", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 0);
  g_clear_pointer (&found, g_ptr_array_unref);
  append_ok (fixture, "general", "alice", "after shards");
  found = search (fixture, "alice", "shards", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 2);
  WAIT_UNTIL (checkpoint_raw (fixture->path));
  g_assert_false (file_contains (fixture->path, "kkqzvw"));
  /* And the room has a moderation log now. */
  g_assert_true (log_moderation (fixture, "general", 1000, NATTER_MODERATION_EVENT_TOPIC,
                                 "alice", "alice", NULL, NULL, "migrated", &local_error));
  g_assert_no_error (local_error);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = moderation_log (fixture, "general", 0, 10);
  g_assert_cmpuint (found->len, ==, 1);

  db = open_raw (fixture->path);
  g_assert_cmpint (query_int_raw (db, "PRAGMA user_version"), ==,
                   natter_store_sqlite_get_latest_schema_version ());
  g_assert_cmpint (query_int_raw (db, "SELECT count(*) FROM sqlite_schema WHERE name = 'messages_fts'"),
                   ==, 0);
  g_assert_cmpint (query_int_raw (db, "SELECT count(*) FROM meta WHERE key = 'search_shard_size'"),
                   ==, 1);
  g_assert_cmpint (count_indexed_db (db, "before"), ==, 1);
  g_assert_cmpint (count_indexed_db (db, "shards"), ==, 2);
  check_shards_raw (db);
  sqlite3_close (db);
}

static gint64
count_indexed_raw (const char *path, const char *word)
{
  sqlite3 *db = open_raw (path);
  gint64 n = count_indexed_db (db, word);

  sqlite3_close (db);
  return n;
}

/* New messages enter the search index in transactions of their own, shortly after their
 * commit; a search right after a send still finds it, since it waits for the index. */
static void
test_sqlite_fts_deferred (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  guint wake_id;

  create_room_with_member (fixture, "general", "alice");

  append_ok (fixture, "general", "alice", "first aardvark");
  found = search (fixture, "alice", "aardvark", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 1);
  g_clear_pointer (&found, g_ptr_array_unref);

  /* With no search to wait for it, the index catches up by itself. */
  append_ok (fixture, "general", "alice", "second aardvark");
  wake_id = g_timeout_add (10, wake_cb, NULL);
  WAIT_UNTIL (count_indexed_raw (fixture->path, "aardvark") == 2);
  g_source_remove (wake_id);

  found = search (fixture, "alice", "second", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 1);
}

/* Messages committed but not yet indexed when natterd stopped (it was killed) are indexed
 * when the store opens again. */
static void
test_sqlite_fts_recovery (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  sqlite3 *db;

  create_room_with_member (fixture, "general", "alice");
  append_ok (fixture, "general", "alice", "indexed before the crash");
  close_store (fixture);

  /* As a kill between the commit and the index leaves it: stored, not indexed. */
  db = open_raw (fixture->path);
  insert_message_raw (db, 2, "stored before the crash");
  g_assert_cmpint (count_indexed_db (db, "stored"), ==, 0);
  sqlite3_close (db);

  fixture->store = create_store (fixture);
  found = search (fixture, "alice", "crash", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 2);
  close_store (fixture);

  db = open_raw (fixture->path);
  check_shards_raw (db);
  g_assert_cmpint (query_int_raw (db, "SELECT CAST (value AS INTEGER) FROM meta"
                                      " WHERE key = 'search_indexed_id'"),
                   ==, 2);
  sqlite3_close (db);
}

/* Messages enter the full-text index in batches, not row by row: what is appended is all
 * indexed, what a failed or deduplicated send did not store is not, and the
 * external-content index matches the table. */
static void
test_sqlite_fts_batched (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  AppendBatch batch = { 0, };
  const guint n_messages = 600;
  sqlite3 *db;

  create_room_with_member (fixture, "general", "alice");

  append_batch_init (&batch);
  for (guint i = 0; i < n_messages; i++)
    {
      g_autofree char *body = g_strdup_printf ("batched word%u%s", i, i % 7 == 0 ? " zebra" : "");
      g_autofree char *client_msg_id = g_strdup_printf ("b-%u", i % (n_messages / 2));

      /* The second half repeats the first half's ids: duplicates, not stored again. */
      append_batch_send (fixture, &batch, "general", "alice", body, client_msg_id);
      if (i % 50 == 10)
        append_batch_send (fixture, &batch, "nowhere", "alice", "zebra lost", NULL);
    }
  WAIT_UNTIL (batch.pending == 0);
  g_assert_cmpuint (batch.results->len, ==, n_messages);
  g_assert_cmpuint (batch.errors->len, ==, n_messages / 50);
  append_batch_clear (&batch);

  found = search (fixture, "alice", "batched", NULL, 200, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 200);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = search (fixture, "alice", "word299", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 1);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = search (fixture, "alice", "word300", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 0);
  g_clear_pointer (&found, g_ptr_array_unref);

  /* One more, alone in its transaction; the search waits for it to be indexed. */
  append_ok (fixture, "general", "alice", "single zebra");
  found = search (fixture, "alice", "single", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 1);

  db = open_raw (fixture->path);
  g_assert_cmpint (query_int_raw (db, "SELECT count(*) FROM messages"), ==, n_messages / 2 + 1);
  g_assert_cmpint (count_indexed_db (db, "batched"), ==, n_messages / 2);
  g_assert_cmpint (count_indexed_db (db, "zebra"), ==,
                   query_int_raw (db, "SELECT count(*) FROM messages WHERE body LIKE '%zebra%'"));
  check_shards_raw (db);
  sqlite3_close (db);
}

/* A database of schema version 2 indexed each message by a trigger; migrating drops it and
 * the index stays complete, old messages and new. */
static void
test_sqlite_migration_fts_trigger (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  sqlite3 *db;

  g_assert_cmpuint (natter_store_sqlite_get_latest_schema_version (), >=, 3);
  fixture->store = natter_store_sqlite_new_full (fixture->path, NATTER_DURABILITY_NORMAL, 2,
                                                 5000, &local_error);
  g_assert_no_error (local_error);
  close_store (fixture);
  /* Written as that schema's code wrote it: the trigger indexes the row. */
  db = open_raw (fixture->path);
  insert_room_raw (db, "general", "alice");
  insert_message_raw (db, 1, "indexed by the old trigger");
  g_assert_cmpint (query_int_raw (db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'trigger'"),
                   ==, 1);
  sqlite3_close (db);

  fixture->store = create_store (fixture);
  append_ok (fixture, "general", "alice", "indexed with its batch");

  found = search (fixture, "alice", "indexed", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 2);

  db = open_raw (fixture->path);
  g_assert_cmpint (query_int_raw (db, "PRAGMA user_version"), ==,
                   natter_store_sqlite_get_latest_schema_version ());
  g_assert_cmpint (query_int_raw (db, "SELECT count(*) FROM sqlite_schema"
                                      " WHERE type = 'trigger' AND name LIKE 'messages_fts_%'"),
                   ==, 0);
  g_assert_cmpint (count_indexed_db (db, "indexed"), ==, 2);
  check_shards_raw (db);
  sqlite3_close (db);
}

static void
test_sqlite_migration (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *epoch = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(NatterHistoryResult) page = NULL;
  g_autoptr(NatterUserRecord) user = NULL;
  g_autofree char *token_user = NULL;
  g_autoptr(GPtrArray) sessions = NULL;
  g_autoptr(NatterRoomRecord) room = NULL;
  NatterSessionRecord *old_session;
  sqlite3 *db;

  g_assert_cmpuint (natter_store_sqlite_get_latest_schema_version (), >, 1);

  /* A database as the first schema made it, with data in it. */
  fixture->store = natter_store_sqlite_new_full (fixture->path, NATTER_DURABILITY_NORMAL, 1,
                                                 5000, &local_error);
  g_assert_no_error (local_error);
  epoch = g_strdup (natter_store_get_epoch (fixture->store));
  g_assert_true (create_user (fixture, "alice", "hash", FALSE, &local_error));
  g_assert_no_error (local_error);
  close_store (fixture);
  db = open_raw (fixture->path);
  insert_room_raw (db, "general", "alice");
  sqlite3_close (db);
  fixture->store = natter_store_sqlite_new_full (fixture->path, NATTER_DURABILITY_NORMAL, 1,
                                                 5000, &local_error);
  g_assert_no_error (local_error);
  append_ok (fixture, "general", "alice", "written before the search index existed");
  append_ok (fixture, "general", "alice", "second message");
  close_store (fixture);

  db = open_raw (fixture->path);
  g_assert_cmpint (query_int_raw (db, "PRAGMA user_version"), ==, 1);
  /* A session token as the first schema stored it. */
  exec_raw (db, "INSERT INTO tokens (hash, user, expires_at)"
                " VALUES ('" HASH_A1 "', 'alice', 9000000000000)");
  sqlite3_close (db);

  /* Opening migrates it, keeping everything. */
  fixture->store = create_store (fixture);
  g_assert_cmpstr (natter_store_get_epoch (fixture->store), ==, epoch);
  user = get_user (fixture, "alice", &local_error);
  g_assert_no_error (local_error);
  page = history (fixture, "general", -1, -1, 10, &local_error);
  g_assert_no_error (local_error);
  assert_page (page, 1, 2, FALSE);
  g_assert_cmpuint (read_seq_of (fixture, "general", "alice"), ==, 2);

  /* The migration indexed the old messages. */
  found = search (fixture, "alice", "index", NULL, 10, &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpuint (append_ok (fixture, "general", "alice", "third"), ==, 3);

  /* The old token still works, as a session with nothing known about it. */
  token_user = lookup_token (fixture, HASH_A1, now_ms (), &local_error);
  g_assert_no_error (local_error);
  g_assert_cmpstr (token_user, ==, "alice");
  sessions = list_sessions (fixture, "alice", now_ms ());
  g_assert_cmpuint (sessions->len, ==, 1);
  old_session = g_ptr_array_index (sessions, 0);
  g_assert_cmpstr (old_session->id, ==, "a1a1a1a1a1a1a1a1");
  g_assert_cmpint (old_session->created_ts, ==, 0);
  g_assert_null (old_session->agent);
  g_assert_false (user->disabled);

  /* The room from before roles is public, its member a plain member, and nobody owns it. */
  room = get_room_ok (fixture, "general");
  g_assert_false (room->is_private);
  g_assert_cmpuint (room->members->len, ==, 1);
  g_assert_cmpint (find_member (room, "alice")->role, ==, NATTER_ROLE_MEMBER);
  g_assert_cmpuint (room->invited->len, ==, 0);
  g_assert_cmpuint (room->banned->len, ==, 0);
  moderate_ok (fixture, NATTER_MODERATION_BAN, "general", "mallory", "alice", NULL);

  db = open_raw (fixture->path);
  g_assert_cmpint (query_int_raw (db, "PRAGMA user_version"), ==,
                   natter_store_sqlite_get_latest_schema_version ());
  sqlite3_close (db);
}

static void
test_sqlite_newer_schema (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterStore) store = NULL;
  sqlite3 *db;

  fixture->store = create_store (fixture);
  close_store (fixture);

  db = open_raw (fixture->path);
  exec_raw (db, "PRAGMA user_version = 999");
  sqlite3_close (db);

  store = natter_store_sqlite_new (fixture->path, NATTER_DURABILITY_NORMAL, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_INTERNAL);
  g_assert_null (store);
}

static void
test_sqlite_expired_tokens (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  sqlite3 *db;

  g_assert_true (create_user (fixture, "alice", "hash", FALSE, &local_error));
  g_assert_true (create_token (fixture, "alice", "old", now_ms () - 1, &local_error));
  g_assert_true (create_token (fixture, "alice", "new", now_ms () + 60000, &local_error));
  g_assert_no_error (local_error);
  g_assert_false (create_token (fixture, "nobody", "orphan", now_ms () + 60000, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);

  /* Expired tokens are dropped when the store opens. */
  reopen_store (fixture);
  db = open_raw (fixture->path);
  g_assert_cmpint (query_int_raw (db, "SELECT count(*) FROM tokens"), ==, 1);
  sqlite3_close (db);
}

static void
test_sqlite_set_read_bounds (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;

  create_room (fixture, "general");
  g_assert_true (add_member (fixture, "general", "alice", &local_error));
  append_ok (fixture, "general", "bob", "one");
  append_ok (fixture, "general", "bob", "two");

  /* A marker beyond the last message would hide the next ones: it stops at the last. */
  g_assert_true (set_read (fixture, "general", "alice", G_MAXUINT64, &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpuint (read_seq_of (fixture, "general", "alice"), ==, 2);
  append_ok (fixture, "general", "bob", "three");
  g_assert_cmpuint (read_seq_of (fixture, "general", "alice"), ==, 2);

  g_assert_false (set_read (fixture, "general", "carol", 1, &local_error));
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
}

static void
test_sqlite_history_bounds (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterHistoryResult) zero = NULL;
  g_autoptr(NatterHistoryResult) huge = NULL;
  g_autoptr(NatterHistoryResult) missing = NULL;
  AppendBatch batch = { 0, };

  create_room (fixture, "general");
  append_batch_init (&batch);
  for (guint i = 0; i < 250; i++)
    append_batch_send (fixture, &batch, "general", "alice", "hi", NULL);
  WAIT_UNTIL (batch.pending == 0);
  append_batch_clear (&batch);

  zero = history (fixture, "general", -1, -1, 0, &local_error);
  g_assert_no_error (local_error);
  assert_page (zero, 250, 250, TRUE);

  huge = history (fixture, "general", 0, -1, G_MAXUINT, &local_error);
  g_assert_no_error (local_error);
  assert_page (huge, 1, 200, TRUE);

  missing = history (fixture, "nowhere", -1, -1, 10, &local_error);
  g_assert_error (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND);
  g_assert_null (missing);
}

/* Another process holds the write lock: the batch fails as a whole, reads go on (WAL),
 * and once the lock is gone seqs continue without a gap. */
static void
test_sqlite_locked (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(NatterHistoryResult) during = NULL;
  AppendBatch batch = { 0, };
  GLogLevelFlags fatal_mask;
  sqlite3 *db;

  fixture->store = natter_store_sqlite_new_full (fixture->path, NATTER_DURABILITY_NORMAL, 0,
                                                 50, &local_error);
  g_assert_no_error (local_error);
  create_room (fixture, "general");
  append_ok (fixture, "general", "alice", "one");
  append_ok (fixture, "general", "alice", "two");

  db = open_raw (fixture->path);
  exec_raw (db, "BEGIN IMMEDIATE");

  /* The store warns about the failed batch; that is expected here. */
  fatal_mask = g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  append_batch_init (&batch);
  for (guint i = 0; i < 5; i++)
    append_batch_send (fixture, &batch, "general", "alice", "blocked", NULL);
  WAIT_UNTIL (batch.pending == 0);
  g_log_set_always_fatal (fatal_mask);

  g_assert_cmpuint (batch.errors->len, ==, 5);
  for (guint i = 0; i < batch.errors->len; i++)
    g_assert_error ((GError *) g_ptr_array_index (batch.errors, i), NATTER_ERROR,
                    NATTER_ERROR_UNAVAILABLE);
  append_batch_clear (&batch);

  during = history (fixture, "general", -1, -1, 10, &local_error);
  g_assert_no_error (local_error);
  assert_page (during, 1, 2, FALSE);

  exec_raw (db, "ROLLBACK");
  sqlite3_close (db);

  g_assert_cmpuint (append_ok (fixture, "general", "alice", "three"), ==, 3);
}

typedef struct {
  Fixture *fixture;
  guint    sent;
  guint    acked;
  guint    target;
  guint    failed;
} Load;

typedef struct {
  Load *load;
  char *room;   /* (owned) */
  char *name;   /* (owned) */
  guint n;
} Sender;

static void send_next (Sender *sender);

static void
throughput_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Sender *sender = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterAppendResult) appended = NULL;

  appended = natter_store_append_message_finish (NATTER_STORE (source), result, &error);
  if (appended == NULL)
    sender->load->failed++;
  sender->load->acked++;
  send_next (sender);
}

static void
send_next (Sender *sender)
{
  g_autofree char *id = NULL;

  if (sender->load->sent >= sender->load->target)
    return;
  sender->load->sent++;
  id = g_strdup_printf ("%s-%u", sender->name, sender->n++);
  natter_store_append_message_async (sender->load->fixture->store, sender->room, sender->name,
                                     "The quick brown fox jumps over the lazy dog", id,
                                     NATTER_MESSAGE_KIND_TEXT, now_ms (), NULL,
                                     throughput_cb, sender);
}

/* `test-store -m perf`: 100 senders, each with one send in flight, as chat clients do. */
static void
test_sqlite_throughput (Fixture *fixture, gconstpointer user_data)
{
  const guint n_senders = 100;
  const guint n_rooms = 10;
  Load load = { fixture, 0, 0, 200000, 0 };
  g_autofree Sender *senders = g_new0 (Sender, n_senders);
  gint64 start;
  double seconds;

  for (guint i = 0; i < n_rooms; i++)
    {
      g_autofree char *room = g_strdup_printf ("room%u", i);

      create_room (fixture, room);
    }

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n_senders; i++)
    {
      senders[i].load = &load;
      senders[i].room = g_strdup_printf ("room%u", i % n_rooms);
      senders[i].name = g_strdup_printf ("user%u", i);
      send_next (&senders[i]);
    }
  WAIT_UNTIL (load.acked == load.target);
  seconds = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;

  g_assert_cmpuint (load.failed, ==, 0);
  g_test_maximized_result (load.acked / seconds, "%.0f acked appends/s", load.acked / seconds);
  g_test_message ("%u appends from %u senders in %.2f s: %.0f/s", load.acked, n_senders,
                  seconds, load.acked / seconds);

  for (guint i = 0; i < n_senders; i++)
    {
      g_free (senders[i].room);
      g_free (senders[i].name);
    }
}

/* Every statement of the store looks rows up by an index, except the few below that read
 * a whole (small, or meant to be whole) table: a scan per login or per send does not fail
 * any other test, it only makes a busy server slow (a login once scanned every account). */
static void
test_sqlite_query_plans (Fixture *fixture, gconstpointer user_data)
{
  /* Statements allowed to scan, by a part of their SQL that names them. */
  static const char * const may_scan[] = {
    "DELETE FROM tokens WHERE expires_at <=",              /* hourly clean-up */
    "FROM users WHERE deleted = 0 AND (?1 IS NULL OR instr", /* administrators' search by part */
    "FROM rooms ORDER BY name",                            /* the load at start */
    "FROM members ORDER BY room, user",                    /* the load at start */
    "FROM invitations WHERE ?1 IS NULL OR room = ?1",      /* the load at start */
    "FROM rooms r WHERE r.kind = 'room' AND r.private = 0", /* directory search by part */
    "FROM search_shards",                                  /* one row per 4,096 messages */
  };
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) plans = natter_store_sqlite_query_plans (fixture->path, &local_error);
  guint scanning = 0;

  g_assert_no_error (local_error);
  g_assert_nonnull (plans);
  g_assert_cmpuint (plans->len % 2, ==, 0);
  g_assert_cmpuint (plans->len, >, 100);
  for (guint i = 0; i < plans->len; i += 2)
    {
      const char *sql = g_ptr_array_index (plans, i);
      const char *plan = g_ptr_array_index (plans, i + 1);
      gboolean allowed = FALSE;

      g_autoptr(GRegex) table_scan = g_regex_new ("^SCAN [a-z_]+", G_REGEX_MULTILINE, 0, NULL);

      if (!g_regex_match (table_scan, plan, 0, NULL))
        continue;
      for (guint j = 0; j < G_N_ELEMENTS (may_scan); j++)
        allowed |= strstr (sql, may_scan[j]) != NULL;
      if (!allowed)
        {
          g_test_message ("Scans a table:\n%s\n%s", sql, plan);
          scanning++;
        }
    }
  g_assert_cmpuint (scanning, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, setup, func, teardown)
#define ADD_EMPTY(path, func) \
  g_test_add (path, Fixture, NULL, setup_empty, func, teardown)

  ADD ("/store/epoch", test_epoch);
  ADD ("/store/capabilities", test_capabilities);
  ADD ("/store/users", test_users);
  ADD ("/store/tokens", test_tokens);
  ADD ("/store/sessions", test_sessions);
  ADD ("/store/set-password", test_set_password);
  ADD ("/store/account-state", test_account_state);
  ADD ("/store/list-users", test_list_users);
  ADD ("/store/owner", test_owner);
  ADD ("/store/rooms", test_rooms);
  ADD ("/store/append", test_append);
  ADD ("/store/append-concurrent", test_append_concurrent);
  ADD ("/store/idempotency", test_idempotency);
  ADD ("/store/history", test_history);
  ADD ("/store/read-markers", test_read_markers);
  ADD ("/store/notification-levels", test_notification_levels);
  ADD ("/store/changes", test_changes);
  ADD ("/store/search/scope", test_search);
  ADD ("/store/search/text", test_search_text);
  ADD ("/store/load", test_load);
  ADD ("/store/persistence", test_persistence);
  ADD ("/store/rooms/create", test_room_create);
  ADD ("/store/rooms/roles", test_room_roles);
  ADD ("/store/rooms/topic", test_room_topic);
  ADD ("/store/rooms/invitations", test_room_invitations);
  ADD ("/store/rooms/invitation-list", test_invitation_list);
  ADD ("/store/rooms/bans", test_room_bans);
  ADD ("/store/rooms/blocks", test_blocks);
  ADD ("/store/rooms/directory", test_directory);
  ADD ("/store/rooms/directory-case", test_directory_case);
  ADD ("/store/rooms/directory-most-members-first", test_directory_most_members_first);
  ADD ("/store/rooms/moderation-log", test_moderation_log);
  ADD ("/store/closed", test_closed);
  ADD ("/store/finalize-without-close", test_finalize_without_close);

  /* The rest is about the SQLite file; tests/cluster runs the above on PostgreSQL. */
  if (g_getenv ("NATTER_TEST_POSTGRES") != NULL)
    return g_test_run ();

  ADD ("/store/sqlite/file", test_sqlite_file);
  ADD ("/store/sqlite/query-plans", test_sqlite_query_plans);
  ADD ("/store/sqlite/fts-batched", test_sqlite_fts_batched);
  ADD ("/store/sqlite/fts-deferred", test_sqlite_fts_deferred);
  ADD ("/store/sqlite/fts-recovery", test_sqlite_fts_recovery);
  ADD ("/store/sqlite/erase", test_sqlite_erase);
  ADD ("/store/sqlite/erase-truncates-log", test_sqlite_erase_truncates_log);
  ADD ("/store/sqlite/search-shards", test_sqlite_search_shards);
  ADD_EMPTY ("/store/sqlite/migration-search-shards", test_sqlite_migration_search_shards);
  ADD_EMPTY ("/store/sqlite/migration", test_sqlite_migration);
  ADD_EMPTY ("/store/sqlite/migration-fts-trigger", test_sqlite_migration_fts_trigger);
  ADD_EMPTY ("/store/sqlite/newer-schema", test_sqlite_newer_schema);
  ADD ("/store/sqlite/expired-tokens", test_sqlite_expired_tokens);
  ADD ("/store/sqlite/set-read-bounds", test_sqlite_set_read_bounds);
  ADD ("/store/sqlite/history-bounds", test_sqlite_history_bounds);
  ADD_EMPTY ("/store/sqlite/locked", test_sqlite_locked);
  if (g_test_perf ())
    ADD ("/store/sqlite/throughput", test_sqlite_throughput);

#undef ADD
#undef ADD_EMPTY

  return g_test_run ();
}
