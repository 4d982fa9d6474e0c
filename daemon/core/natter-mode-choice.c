/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-mode-choice"

#include "config.h"

#include "natter-error.h"
#include "natter-mode-choice.h"

#define GROUP "desktop"

static char *
choice_path (const char *data_dir)
{
  return g_build_filename (data_dir, "mode.ini", NULL);
}

/**
 * natter_mode_choice_load:
 * @data_dir: natterd's data directory
 * @error: return location for a #GError
 *
 * Reads the remembered choice. It is read once, before the main loop runs, so it
 * reads the small file directly.
 *
 * Returns: (transfer full): the choice (with a %NULL mode when there is no file yet),
 *   or %NULL if the file exists but cannot be read or names an unknown mode
 */
NatterModeChoice *
natter_mode_choice_load (const char  *data_dir,
                         GError     **error)
{
  g_autoptr(NatterModeChoice) choice = g_new0 (NatterModeChoice, 1);
  g_autofree char *path = choice_path (data_dir);
  g_autoptr(GKeyFile) file = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;

  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&choice);
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, "cannot read %s: %s", path,
                   local_error->message);
      return NULL;
    }
  choice->mode = g_key_file_get_string (file, GROUP, "mode", NULL);
  choice->upstream_url = g_key_file_get_string (file, GROUP, "upstream", NULL);
  choice->upstream_user = g_key_file_get_string (file, GROUP, "user", NULL);
  choice->listen = g_key_file_get_string (file, GROUP, "listen", NULL);
  /* Preferences may set where to listen before any mode was chosen. */
  if (choice->mode != NULL && g_strcmp0 (choice->mode, NATTER_MODE_HOST) != 0 &&
      !(g_strcmp0 (choice->mode, NATTER_MODE_UPSTREAM) == 0 && choice->upstream_url != NULL))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "%s: mode must be “host”, or “upstream” with an upstream URL", path);
      return NULL;
    }
  return g_steal_pointer (&choice);
}

static void
saved_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* The choice still holds for this run; only the next start would not know it. */
  if (!g_file_replace_contents_finish (G_FILE (source), result, NULL, &error))
    g_message ("Cannot remember the mode in %s: %s", g_file_peek_path (G_FILE (source)),
               error->message);
}

/**
 * natter_mode_choice_save_async:
 * @choice: the choice
 * @data_dir: natterd's data directory
 *
 * Writes @choice in the background (atomically: the file is replaced).
 */
void
natter_mode_choice_save_async (const NatterModeChoice *choice,
                               const char             *data_dir)
{
  g_autoptr(GKeyFile) file = g_key_file_new ();
  g_autofree char *path = choice_path (data_dir);
  g_autoptr(GFile) target = g_file_new_for_path (path);
  g_autoptr(GBytes) bytes = NULL;
  char *contents;
  gsize length;

  g_key_file_set_comment (file, NULL, NULL,
                          " The mode natterd runs in for this desktop user, as chosen in the app",
                          NULL);
  if (choice->mode != NULL)
    g_key_file_set_string (file, GROUP, "mode", choice->mode);
  if (choice->listen != NULL)
    g_key_file_set_string (file, GROUP, "listen", choice->listen);
  if (choice->upstream_url != NULL)
    g_key_file_set_string (file, GROUP, "upstream", choice->upstream_url);
  if (choice->upstream_user != NULL)
    g_key_file_set_string (file, GROUP, "user", choice->upstream_user);
  contents = g_key_file_to_data (file, &length, NULL);
  bytes = g_bytes_new_take (contents, length);
  g_file_replace_contents_bytes_async (target, bytes, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL,
                                       saved_cb, NULL);
}

void
natter_mode_choice_free (NatterModeChoice *choice)
{
  if (choice == NULL)
    return;
  g_free (choice->mode);
  g_free (choice->upstream_url);
  g_free (choice->upstream_user);
  g_free (choice->listen);
  g_free (choice);
}
