/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-seed"

/* natter-seed: fills a natterd data directory (or, with --postgres, a cluster's
 * database) for the benchmarks, through natterd's own store code (libnatter), so the data
 * is exactly what the daemon would have written.
 *
 * - users: N accounts sharing one Argon2id hash (hashed once: registering thousands of
 *   users through the daemon costs one hash each), each with a fresh session token; the
 *   tokens go to a file the load generator reads (`--token-file`), so its connections log
 *   in with `login {token}` and no hashing at all;
 * - rooms: R public rooms, with the first M users as members of every one of them;
 * - messages: K messages spread round-robin over the rooms, with bodies of words whose
 *   frequencies are known, so search queries have known selectivity:
 *   "hello" in ~20 % of the messages, "release" in ~1 %, "zebra" in ~0.01 %, plus filler
 *   words from a 10,000-word synthetic vocabulary.
 *
 * Every write goes through the store's asynchronous API with a bounded number in flight,
 * so its writer thread batches them into large transactions. */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-store-sqlite.h"
#include "natter-store-sqlite-private.h"
#if NATTER_HAVE_CLUSTER
#include "natter-store-postgres.h"
#endif

typedef struct {
  GMainLoop   *loop;
  NatterStore *store;        /* (owned) */
  guint        inflight;
  guint        max_inflight;
  guint64      next;         /* the next item to submit in the current phase */
  guint64      done;
  guint64      total;
  guint64      conflicts;
  GError      *error;        /* (owned) (nullable) the first failure */
  char        *password_hash;
  GString     *tokens;       /* (owned) "user token\n" lines */
  gint64       t_phase;
  GRand       *rand;         /* (owned) deterministic bodies */
} Seed;

static char    *opt_data_dir;
static char    *opt_postgres;
static char    *opt_token_file;
static char    *opt_user_prefix = (char *) "bench";
static char    *opt_room_prefix = (char *) "room";
static char    *opt_password = (char *) "bench-password";
static gint     opt_users;
static gint     opt_user_offset;
static gint     opt_rooms;
static gint     opt_members;
static gint64   opt_messages;
static gint     opt_body_words = 12;
static gint     opt_inflight = 4096;
static gboolean opt_full;
static gint opt_schema;
static double   opt_changed;

static GOptionEntry entries[] = {
  { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_data_dir, "natterd data directory (created if missing)", "DIR" },
  { "postgres", 0, 0, G_OPTION_ARG_STRING, &opt_postgres, "Write to this PostgreSQL database instead (a cluster's)", "CONNINFO" },
  { "users", 0, 0, G_OPTION_ARG_INT, &opt_users, "Accounts to create: PREFIX0 … (0)", "N" },
  { "user-offset", 0, 0, G_OPTION_ARG_INT, &opt_user_offset, "First account index (0)", "K" },
  { "user-prefix", 0, 0, G_OPTION_ARG_STRING, &opt_user_prefix, "Account name prefix (bench)", "P" },
  { "password", 0, 0, G_OPTION_ARG_STRING, &opt_password, "Password of every account (bench-password)", "PW" },
  { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_token_file, "Append \"user token\" lines here", "FILE" },
  { "rooms", 0, 0, G_OPTION_ARG_INT, &opt_rooms, "Public rooms to create: PREFIX0 … (0)", "R" },
  { "room-prefix", 0, 0, G_OPTION_ARG_STRING, &opt_room_prefix, "Room name prefix (room)", "P" },
  { "members", 0, 0, G_OPTION_ARG_INT, &opt_members, "The first M accounts join every room (all)", "M" },
  { "messages", 0, 0, G_OPTION_ARG_INT64, &opt_messages, "Messages to append, round-robin over the rooms (0)", "K" },
  { "body-words", 0, 0, G_OPTION_ARG_INT, &opt_body_words, "Filler words per message (12)", "W" },
  { "inflight", 0, 0, G_OPTION_ARG_INT, &opt_inflight, "Store operations in flight (4096)", "N" },
  { "full", 0, 0, G_OPTION_ARG_NONE, &opt_full, "Open with durability full (default normal)", NULL },
  { "schema", 0, 0, G_OPTION_ARG_INT, &opt_schema, "SQLite: write the store at this schema version, as its code did (default the latest)", "N" },
  { "changed", 0, 0, G_OPTION_ARG_DOUBLE, &opt_changed, "Then edit or react to this fraction of the messages, evenly spread, half each (0)", "F" },
  { NULL }
};

typedef void (*SubmitFunc) (Seed *seed, guint64 i);

static void
phase_progress (Seed *seed, const char *what)
{
  double s = (g_get_monotonic_time () - seed->t_phase) / 1e6;

  g_printerr ("natter-seed: %s: %" G_GUINT64_FORMAT " in %.1f s (%.0f/s)%s\n", what, seed->done, s,
              s > 0 ? seed->done / s : 0.0,
              seed->conflicts ? " (some existed already)" : "");
}

static void pump (Seed *seed);

static SubmitFunc current_submit;

static void
op_done (Seed *seed, gboolean ok, GError *error)
{
  seed->inflight--;
  seed->done++;
  if (!ok)
    {
      if (g_error_matches (error, NATTER_ERROR, NATTER_ERROR_CONFLICT))
        seed->conflicts++;
      else if (seed->error == NULL)
        seed->error = g_error_copy (error);
    }
  if (seed->done % 100000 == 0)
    phase_progress (seed, "progress");
  pump (seed);
}

static void
pump (Seed *seed)
{
  while (seed->error == NULL && seed->next < seed->total && seed->inflight < seed->max_inflight)
    {
      seed->inflight++;
      current_submit (seed, seed->next++);
    }
  if (seed->inflight == 0 && (seed->next >= seed->total || seed->error != NULL))
    g_main_loop_quit (seed->loop);
}

static void
run_phase (Seed *seed, const char *what, guint64 total, SubmitFunc submit)
{
  if (total == 0)
    return;
  seed->next = seed->done = seed->conflicts = 0;
  seed->total = total;
  seed->t_phase = g_get_monotonic_time ();
  current_submit = submit;
  pump (seed);
  g_main_loop_run (seed->loop);
  if (seed->error != NULL)
    {
      g_printerr ("natter-seed: %s failed: %s\n", what, seed->error->message);
      exit (1);
    }
  phase_progress (seed, what);
}

static char *
user_name (guint64 i)
{
  return g_strdup_printf ("%s%" G_GUINT64_FORMAT, opt_user_prefix, opt_user_offset + i);
}

static char *
room_name (guint64 i)
{
  return g_strdup_printf ("%s%" G_GUINT64_FORMAT, opt_room_prefix, i);
}

/* users */

static void
user_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = natter_store_create_user_finish (NATTER_STORE (source), result, &error);

  op_done (user_data, ok, error);
}

static void
submit_user (Seed *seed, guint64 i)
{
  g_autofree char *name = user_name (i);

  natter_store_create_user_async (seed->store, name, seed->password_hash, 0, NULL,
                                  user_created_cb, seed);
}

static void
token_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = natter_store_create_token_finish (NATTER_STORE (source), result, &error);

  op_done (user_data, ok, error);
}

static void
submit_token (Seed *seed, guint64 i)
{
  g_autofree char *name = user_name (i);
  g_autofree char *token = natter_auth_new_token ();
  g_autofree char *hash = natter_auth_token_hash (token);
  /* as long as the daemon's default token lifetime */
  gint64 expires = g_get_real_time () / 1000 + (gint64) 30 * 24 * 3600 * 1000;

  g_string_append_printf (seed->tokens, "%s %s\n", name, token);
  natter_store_create_token_async (seed->store, name, hash, expires, NULL, NULL,
                                   token_created_cb, seed);
}

/* rooms and members */

static void
room_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoomRecord) room = natter_store_create_room_finish (NATTER_STORE (source),
                                                                       result, &error);

  op_done (user_data, room != NULL, error);
}

static void
submit_room (Seed *seed, guint64 i)
{
  g_autofree char *name = room_name (i);

  natter_store_create_room_async (seed->store, name, NATTER_ROOM_KIND_ROOM, NULL, NULL,
                                  room_created_cb, seed);
}

static void
member_added_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = natter_store_add_member_finish (NATTER_STORE (source), result, &error);

  op_done (user_data, ok, error);
}

static void
submit_member (Seed *seed, guint64 i)
{
  g_autofree char *room = room_name (i / (guint64) opt_members);
  g_autofree char *user = user_name (i % (guint64) opt_members);

  natter_store_add_member_async (seed->store, room, user, NULL, member_added_cb, seed);
}

/* messages */

static const char *const syllables[] = {
  "ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "du", "fa", "gi", "ho", "ju", "be",
  "co", "da", "fe", "gu", "hi", "jo", "ku", "la", "me", "ni", "po", "qu", "re", "sa", "te",
  "vi", "wo",
};

static void
append_filler_word (GString *s, guint32 w)
{
  /* 10,000 words of three syllables; 32^3 > 10,000 so each index is its own word */
  g_string_append (s, syllables[w % 32]);
  g_string_append (s, syllables[(w / 32) % 32]);
  g_string_append (s, syllables[(w / 1024) % 32]);
}

static void
message_appended_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterAppendResult) res = natter_store_append_message_finish (NATTER_STORE (source),
                                                                          result, &error);

  op_done (user_data, res != NULL, error);
}

static void
submit_message (Seed *seed, guint64 i)
{
  g_autofree char *room = room_name (i % (guint64) opt_rooms);
  g_autofree char *sender = user_name ((i / (guint64) opt_rooms) % (guint64) opt_members);
  g_autofree char *cmid = g_strdup_printf ("seed-%" G_GUINT64_FORMAT, i);
  g_autoptr(GString) body = g_string_sized_new (128);
  /* a year of history up to now, oldest first */
  gint64 now_ms = g_get_real_time () / 1000;
  gint64 ts = now_ms - (gint64) (((double) (seed->total - i) / (double) seed->total) * 365.0 * 86400e3);
  double u = g_rand_double (seed->rand);

  for (gint k = 0; k < opt_body_words; k++)
    {
      if (k > 0)
        g_string_append_c (body, ' ');
      append_filler_word (body, (guint32) g_rand_int_range (seed->rand, 0, 10000));
    }
  if (u < 0.2)
    g_string_append (body, " hello");
  if (g_rand_double (seed->rand) < 0.01)
    g_string_append (body, " release");
  if (g_rand_double (seed->rand) < 0.0001)
    g_string_append (body, " zebra");
  natter_store_append_message_async (seed->store, room, sender, body->str, cmid,
                                     NATTER_MESSAGE_KIND_TEXT, ts, NULL,
                                     message_appended_cb, seed);
}

static void
change_appended_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterAppendResult) res = natter_store_change_message_finish (NATTER_STORE (source),
                                                                          result, &error);

  op_done (user_data, res != NULL, error);
}

/* The @i-th change: of every (1 / opt_changed)-th message, an edit by its sender or a
 * reaction by the next member, in turn. */
static void
submit_change (Seed *seed, guint64 i)
{
  guint64 target = (guint64) ((double) i / opt_changed);
  guint64 round = target / (guint64) opt_rooms;
  g_autofree char *room = room_name (target % (guint64) opt_rooms);
  g_autofree char *sender = user_name (round % (guint64) opt_members);
  g_autofree char *reactor = user_name ((round + 1) % (guint64) opt_members);
  gboolean edit = i % 2 == 0;
  NatterMessageChange change = {
    .room = room,
    .sender = edit ? sender : reactor,
    .kind = edit ? NATTER_MESSAGE_KIND_EDIT : NATTER_MESSAGE_KIND_REACTION,
    .body = edit ? "edited: the body as it reads now" : "👍",
    .target_seq = round + 1,
    .active = TRUE,
    .ts_ms = g_get_real_time () / 1000,
  };

  natter_store_change_message_async (seed->store, &change, NULL, change_appended_cb, seed);
}

static void
hash_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Seed *seed = user_data;

  seed->password_hash = natter_auth_hash_password_finish (result, &seed->error);
  g_main_loop_quit (seed->loop);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("- fill a natterd data directory for the benchmarks");
  g_autoptr(GError) error = NULL;
  g_autofree char *db_path = NULL;
  Seed seed = { 0, };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("natter-seed: %s\n", error->message);
      return 2;
    }
  if ((opt_data_dir == NULL) == (opt_postgres == NULL) || opt_users < 0 || opt_rooms < 0 ||
      opt_messages < 0 || opt_inflight < 1 || opt_changed < 0 || opt_changed > 1 ||
      (opt_messages > 0 && (opt_rooms == 0 || opt_users == 0)))
    {
      g_printerr ("natter-seed: --data-dir or --postgres is required; --messages needs --rooms "
                  "and --users\n");
      return 2;
    }
  if (opt_members <= 0 || opt_members > opt_users)
    opt_members = opt_users;

  if (opt_postgres != NULL)
    {
#if NATTER_HAVE_CLUSTER
      seed.store = natter_store_postgres_new_full (opt_postgres, "simple", 0, &error);
      if (seed.store == NULL)
        {
          g_printerr ("natter-seed: cannot open the PostgreSQL database: %s\n", error->message);
          return 1;
        }
#else
      g_printerr ("natter-seed: built without cluster support: no --postgres\n");
      return 2;
#endif
    }
  else
    {
      if (g_mkdir_with_parents (opt_data_dir, 0700) != 0)
        {
          g_printerr ("natter-seed: cannot create %s\n", opt_data_dir);
          return 1;
        }
      db_path = g_build_filename (opt_data_dir, "natter.db", NULL);
      if (opt_schema < 0 || (guint) opt_schema > natter_store_sqlite_get_latest_schema_version ())
        {
          g_printerr ("natter-seed: no schema version %d\n", opt_schema);
          return 2;
        }
      seed.store = natter_store_sqlite_new_full (db_path,
                                                 opt_full ? NATTER_DURABILITY_FULL : NATTER_DURABILITY_NORMAL,
                                                 (guint) opt_schema, 5000, &error);
      if (seed.store == NULL)
        {
          g_printerr ("natter-seed: cannot open %s: %s\n", db_path, error->message);
          return 1;
        }
    }
  seed.loop = g_main_loop_new (NULL, FALSE);
  seed.max_inflight = (guint) opt_inflight;
  seed.tokens = g_string_new (NULL);
  seed.rand = g_rand_new_with_seed (42);

  if (opt_users > 0)
    {
      natter_auth_hash_password_async (opt_password, NULL, hash_cb, &seed);
      g_main_loop_run (seed.loop);
      if (seed.password_hash == NULL)
        {
          g_printerr ("natter-seed: hashing failed: %s\n", seed.error->message);
          return 1;
        }
      run_phase (&seed, "users", (guint64) opt_users, submit_user);
      run_phase (&seed, "tokens", (guint64) opt_users, submit_token);
    }
  run_phase (&seed, "rooms", (guint64) opt_rooms, submit_room);
  run_phase (&seed, "members", (guint64) opt_rooms * (guint64) opt_members, submit_member);
  run_phase (&seed, "messages", (guint64) opt_messages, submit_message);
  run_phase (&seed, "changes", (guint64) (opt_changed * (double) opt_messages), submit_change);

  if (opt_token_file != NULL && seed.tokens->len > 0)
    {
      FILE *f = fopen (opt_token_file, "a");

      if (f == NULL || fwrite (seed.tokens->str, 1, seed.tokens->len, f) != seed.tokens->len ||
          fclose (f) != 0)
        {
          g_printerr ("natter-seed: cannot write %s\n", opt_token_file);
          return 1;
        }
    }
  natter_store_close (seed.store);
  g_clear_object (&seed.store);
  g_main_loop_unref (seed.loop);
  g_string_free (seed.tokens, TRUE);
  g_rand_free (seed.rand);
  g_free (seed.password_hash);
  return 0;
}
