/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-fuzz"

#include "config.h"

#include <string.h>

#include "natter-fuzz.h"

/*
 * Replays the fuzz corpus and the regressions (tests/fuzz/corpus/<target>/ and
 * tests/fuzz/regressions/<target>/) through the bodies of the fuzz targets, in every
 * build: without libFuzzer, and under ASan+UBSan with -Db_sanitize. One test case per
 * file, each in its own process, so that a failure names its input.
 */

typedef void (*FuzzOne) (const guint8 *data,
                         gsize         len);

static const struct
{
  const char *name;
  FuzzOne     one;
} targets[] = {
  { "fuzz-json", natter_fuzz_json_one },
  { "fuzz-proto", natter_fuzz_proto_one },
  { "fuzz-dispatch", natter_fuzz_dispatch_one },
  { "fuzz-websocket", natter_fuzz_websocket_one },
};

typedef struct
{
  FuzzOne  one;
  char    *path;  /* (owned) */
} Replay;

static void
replay_free (gpointer data)
{
  Replay *replay = data;

  g_free (replay->path);
  g_free (replay);
}

static void
test_replay (gconstpointer data)
{
  const Replay *replay = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree guint8 *input = NULL;
  gsize len;

  /* In a child process, so that a crash, a sanitizer report or a leak (LeakSanitizer
   * checks at exit) fails this input, by name, and the others still run. */
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }

  if (!g_file_get_contents (replay->path, &contents, &len, &error))
    g_error ("%s", error->message);
  /* Exactly as large as the input, as libFuzzer passes it, so that ASan sees a read past
   * the end (g_file_get_contents() adds a nul). */
  input = len > 0 ? g_memdup2 (contents, len) : NULL;
  replay->one (input, len);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* Adds a test case per file of @dir to @replays; returns how many. */
static guint
add_dir (GPtrArray  *replays,
         const char *target,
         FuzzOne     one,
         const char *kind,
         gboolean    required)
{
  g_autofree char *dir_path = g_test_build_filename (G_TEST_DIST, "fuzz", kind, target, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, &error);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  /* Git keeps no empty directory: a target without regressions has none. */
  if (dir == NULL && !required && g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    return 0;
  if (dir == NULL)
    g_error ("%s", error->message);

  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  /* In a stable order, so that two runs read alike. */
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++)
    {
      const char *file = g_ptr_array_index (names, i);
      Replay *replay = g_new0 (Replay, 1);
      g_autofree char *test_path = g_strdup_printf ("/fuzz-replay/%s/%s/%s", target, kind, file);

      replay->one = one;
      replay->path = g_build_filename (dir_path, file, NULL);
      g_ptr_array_add (replays, replay);
      g_test_add_data_func (test_path, replay, test_replay);
    }
  return names->len;
}

int
main (int argc, char **argv)
{
  /* Freed after the run, not by each test case: a child process runs only one. */
  g_autoptr(GPtrArray) replays = g_ptr_array_new_with_free_func (replay_free);

  g_test_init (&argc, &argv, NULL);
  /* A failed input fails its test case; the other inputs still run. */
  g_test_set_nonfatal_assertions ();

  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      /* A missing corpus must not pass as an empty one. */
      if (add_dir (replays, targets[i].name, targets[i].one, "corpus", TRUE) == 0)
        g_error ("no seed corpus for %s", targets[i].name);
      add_dir (replays, targets[i].name, targets[i].one, "regressions", FALSE);
    }
  return g_test_run ();
}
