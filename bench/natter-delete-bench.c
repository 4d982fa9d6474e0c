/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * natter-delete-bench: what deleting a message costs the SQLite store's writer, on a
 * large store (bench/run.py delete makes one of 1,000,000 messages with natter-seed).
 *
 * It opens the store (at a given schema version: an older one runs that schema's code,
 * so the same binary measures before and after a change of the schema; opening at the
 * latest migrates, and the time that takes is reported), then deletes messages picked at
 * random, one at a time, each with a send into the same room queued right behind it.
 * The writer runs one operation after the other, so the time from submitting the delete
 * to its completion is the writer's time for it, and the send's time is what a user
 * sending at that moment waits. Plain sends, with no delete before them, are the
 * baseline. On a busy machine the wall time includes waiting for a core: the process's CPU
 * time over each round (the writer's work, and the checkpointer's meanwhile) is given too.
 * Every number is printed as one JSON object on stdout.
 */

#include "config.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "natter-store-sqlite.h"
#include "natter-store-sqlite-private.h"

static char *opt_db;
static gint opt_schema;
static gint opt_deletes = 20;
static gint opt_pause_ms = 100;

static GOptionEntry entries[] = {
  { "db", 0, 0, G_OPTION_ARG_FILENAME, &opt_db, "The store's database file (it is changed)", "PATH" },
  { "schema", 0, 0, G_OPTION_ARG_INT, &opt_schema, "Open at this schema version (default the latest: migrates)", "N" },
  { "deletes", 0, 0, G_OPTION_ARG_INT, &opt_deletes, "How many messages to delete (default 20)", "N" },
  { "pause-ms", 0, 0, G_OPTION_ARG_INT, &opt_pause_ms, "Pause between two deletes (default 100)", "MS" },
  G_OPTION_ENTRY_NULL
};

typedef struct {
  char    *room;
  char    *sender;
  guint64  seq;
} Target;

typedef struct {
  guint   pending;
  gint64  started;
  gint64  delete_done;
  gint64  send_done;
  GError *error;
} Round;

static void
round_done (Round *round, gboolean ok, GError *error, gint64 *out_done)
{
  *out_done = g_get_monotonic_time ();
  if (!ok && round->error == NULL)
    round->error = g_error_copy (error);
  round->pending--;
}

static void
deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Round *round = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterAppendResult) res = natter_store_change_message_finish (NATTER_STORE (source),
                                                                          result, &error);

  round_done (round, res != NULL, error, &round->delete_done);
}

static void
sent_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Round *round = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterAppendResult) res = natter_store_append_message_finish (NATTER_STORE (source),
                                                                          result, &error);

  round_done (round, res != NULL, error, &round->send_done);
}

static void
searched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *done = user_data;
  g_autoptr(GPtrArray) found = natter_store_search_finish (NATTER_STORE (source), result, NULL);

  /* The search is timed, not checked: what it found only has to be freed. */
  (void) found;
  *done = TRUE;
}

static double
cpu_ms (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000.0 +
         (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000.0;
}

static void
wait_for (guint *pending)
{
  while (*pending > 0)
    g_main_context_iteration (NULL, TRUE);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return x < y ? -1 : x > y;
}

/* "name": {"p50": …, "p99": …, "max": …} in ms, nearest rank. */
static void
print_stats (GString *out, const char *name, GArray *ms)
{
  double p50, p99, max;

  g_array_sort (ms, compare_doubles);
  p50 = g_array_index (ms, double, (ms->len - 1) * 50 / 100);
  p99 = g_array_index (ms, double, (ms->len - 1) * 99 / 100);
  max = g_array_index (ms, double, ms->len - 1);
  g_string_append_printf (out, ", \"%s\": {\"n\": %u, \"p50\": %.2f, \"p99\": %.2f, \"max\": %.2f}",
                          name, ms->len, p50, p99, max);
}

/* Random text messages of the store, and how many messages it has. */
static GPtrArray *
pick_targets (const char *path, guint n, gint64 *out_messages)
{
  GPtrArray *targets = g_ptr_array_new ();
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2 (db, "SELECT count (*) FROM messages", -1, &stmt, NULL) != SQLITE_OK ||
      sqlite3_step (stmt) != SQLITE_ROW)
    g_error ("Cannot read %s: %s", path, sqlite3_errmsg (db));
  *out_messages = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  if (sqlite3_prepare_v2 (db, "SELECT room, sender, seq FROM messages WHERE kind = 'text'"
                              " ORDER BY random () LIMIT ?1", -1, &stmt, NULL) != SQLITE_OK)
    g_error ("Cannot read %s: %s", path, sqlite3_errmsg (db));
  sqlite3_bind_int (stmt, 1, (int) n);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      Target *t = g_new0 (Target, 1);

      t->room = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
      t->sender = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
      t->seq = (guint64) sqlite3_column_int64 (stmt, 2);
      g_ptr_array_add (targets, t);
    }
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return targets;
}

/* One round: a delete of @target (or nothing) and a send right behind it. */
static void
run_round (NatterStore *store, Target *target, gboolean with_delete, GArray *delete_ms,
           GArray *send_ms, GArray *round_cpu_ms)
{
  double cpu_before = cpu_ms ();
  Round round = { 0, };
  NatterMessageChange change = {
    .room = target->room,
    .sender = target->sender,
    .kind = NATTER_MESSAGE_KIND_DELETE,
    .body = "",
    .target_seq = target->seq,
    .active = TRUE,
    .moderator = TRUE,
    .ts_ms = g_get_real_time () / 1000,
  };
  double ms;

  round.started = g_get_monotonic_time ();
  if (with_delete)
    {
      round.pending++;
      natter_store_change_message_async (store, &change, NULL, deleted_cb, &round);
    }
  round.pending++;
  natter_store_append_message_async (store, target->room, target->sender,
                                     "a message sent while a delete runs", NULL,
                                     NATTER_MESSAGE_KIND_TEXT, g_get_real_time () / 1000, NULL,
                                     sent_cb, &round);
  wait_for (&round.pending);
  if (round.error != NULL)
    g_error ("A write failed: %s", round.error->message);

  if (with_delete)
    {
      ms = (double) (round.delete_done - round.started) / 1000.0;
      g_array_append_val (delete_ms, ms);
    }
  ms = (double) (round.send_done - round.started) / 1000.0;
  g_array_append_val (send_ms, ms);
  ms = cpu_ms () - cpu_before;
  g_array_append_val (round_cpu_ms, ms);
  g_usleep ((gulong) opt_pause_ms * 1000);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("- time message deletes on a large SQLite store");
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterStore) store = NULL;
  g_autoptr(GPtrArray) targets = NULL;
  g_autoptr(GArray) delete_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) send_behind_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) send_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) delete_cpu_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) send_cpu_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GString) out = g_string_new (NULL);
  gboolean searched = FALSE;
  gint64 messages;
  gint64 t0;
  double open_ms;
  guint schema;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("natter-delete-bench: %s\n", error->message);
      return 2;
    }
  if (opt_db == NULL || opt_schema < 0 || opt_deletes < 1 || opt_pause_ms < 0 ||
      (guint) opt_schema > natter_store_sqlite_get_latest_schema_version ())
    {
      g_printerr ("natter-delete-bench: --db is required; --schema up to %u, --deletes ≥ 1\n",
                  natter_store_sqlite_get_latest_schema_version ());
      return 2;
    }
  schema = opt_schema == 0 ? natter_store_sqlite_get_latest_schema_version () : (guint) opt_schema;

  targets = pick_targets (opt_db, (guint) opt_deletes, &messages);
  if (targets->len == 0)
    {
      g_printerr ("natter-delete-bench: no text messages in %s\n", opt_db);
      return 1;
    }

  t0 = g_get_monotonic_time ();
  store = natter_store_sqlite_new_full (opt_db, NATTER_DURABILITY_NORMAL, schema, 5000, &error);
  if (store == NULL)
    {
      g_printerr ("natter-delete-bench: cannot open %s: %s\n", opt_db, error->message);
      return 1;
    }
  open_ms = (double) (g_get_monotonic_time () - t0) / 1000.0;
  /* Whatever waits for the search index goes in before the first round. */
  natter_store_search_async (store, "nobody", "warm", NULL, 1, NULL, searched_cb, &searched);
  while (!searched)
    g_main_context_iteration (NULL, TRUE);

  for (guint i = 0; i < targets->len; i++)
    run_round (store, g_ptr_array_index (targets, i), FALSE, NULL, send_ms, send_cpu_ms);
  for (guint i = 0; i < targets->len; i++)
    run_round (store, g_ptr_array_index (targets, i), TRUE, delete_ms, send_behind_ms,
               delete_cpu_ms);

  g_string_append_printf (out, "{\"schema\": %u, \"messages\": %" G_GINT64_FORMAT
                          ", \"open_ms\": %.1f", schema, messages, open_ms);
  print_stats (out, "delete_ms", delete_ms);
  print_stats (out, "send_behind_delete_ms", send_behind_ms);
  print_stats (out, "send_ms", send_ms);
  print_stats (out, "delete_round_cpu_ms", delete_cpu_ms);
  print_stats (out, "send_round_cpu_ms", send_cpu_ms);
  g_string_append (out, "}\n");
  fputs (out->str, stdout);

  natter_store_close (store);
  for (guint i = 0; i < targets->len; i++)
    {
      Target *t = g_ptr_array_index (targets, i);

      g_free (t->room);
      g_free (t->sender);
      g_free (t);
    }
  return 0;
}
