/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-room-name"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "natter-room-name.h"

/* Room names as natterd takes them (`[a-z0-9_.-]{1,64}`), checked while they are typed,
 * so that the Join and New Room dialogs say why a name cannot work, rather than only
 * greying out their button. */

/**
 * natter_room_name_is_valid:
 * @name: a room name
 *
 * Returns: whether natterd takes @name as a room name
 */
gboolean
natter_room_name_is_valid (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > 64)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '_' && *p != '.' && *p != '-')
      return FALSE;
  return TRUE;
}

/* A name that would work, made from what was typed: “Team Chat” → “team-chat”. */
static char *
suggest_name (const char *typed)
{
  g_autofree char *lower = g_utf8_strdown (typed, -1);
  GString *name = g_string_new (NULL);

  for (const char *p = lower; *p != '\0' && name->len < 64; p++)
    {
      if (g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '_' || *p == '.' || *p == '-')
        g_string_append_c (name, *p);
      else if (g_ascii_isspace (*p) && name->len > 0 && name->str[name->len - 1] != '-')
        g_string_append_c (name, '-');
    }
  while (name->len > 0 && name->str[name->len - 1] == '-')
    g_string_truncate (name, name->len - 1);
  return g_string_free (name, FALSE);
}

/**
 * natter_room_name_explain:
 * @typed: what the user typed as a room name
 *
 * Returns: (transfer full) (nullable): why @typed cannot be a room name, and which name
 *   could, or %NULL when it can (or nothing was typed)
 */
char *
natter_room_name_explain (const char *typed)
{
  g_autofree char *suggestion = NULL;

  if (*typed == '\0' || natter_room_name_is_valid (typed))
    return NULL;
  if (strlen (typed) > 64)
    return g_strdup (_("A room name has at most 64 characters."));
  suggestion = suggest_name (typed);
  if (*suggestion != '\0')
    /* Translators: %s is a room name made from what the user typed */
    return g_strdup_printf (_("A room name has only lower-case letters, digits, dots, dashes and underscores, without spaces. Try “%s”."),
                            suggestion);
  return g_strdup (_("A room name has only lower-case letters, digits, dots, dashes and underscores, without spaces."));
}
