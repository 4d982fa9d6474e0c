/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-mention-completer"

#include "config.h"

#include <string.h>

#include "natter-mention-completer.h"

/* Tab after `@` and the start of a member's name in a text buffer (the composer): the
 * name in full when only one member fits, else as far as they agree, then each in turn
 * while Tab is pressed again. Typing anything else ends the turn. */
struct _NatterMentionCompleter
{
  GObject        parent_instance;

  GtkTextBuffer *buffer;      /* (owned) */
  char          *prefix;      /* (owned) (nullable): what is completed, while Tab cycles */
  guint          index;       /* the name offered last, while Tab cycles */
  gboolean       completing;  /* the buffer changes because of a completion */
};

G_DEFINE_FINAL_TYPE (NatterMentionCompleter, natter_mention_completer, G_TYPE_OBJECT)

static void
natter_mention_completer_finalize (GObject *object)
{
  NatterMentionCompleter *self = NATTER_MENTION_COMPLETER (object);

  g_clear_object (&self->buffer);
  g_clear_pointer (&self->prefix, g_free);

  G_OBJECT_CLASS (natter_mention_completer_parent_class)->finalize (object);
}

static void
natter_mention_completer_class_init (NatterMentionCompleterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_mention_completer_finalize;
}

static void
natter_mention_completer_init (NatterMentionCompleter *self)
{
}

static void
buffer_changed_cb (NatterMentionCompleter *self)
{
  /* Typing anything but a completion ends the turn through the names. */
  if (!self->completing)
    natter_mention_completer_reset (self);
}

/**
 * natter_mention_completer_new:
 * @buffer: the text to complete names in
 *
 * Returns: (transfer full): a completer for @buffer
 */
NatterMentionCompleter *
natter_mention_completer_new (GtkTextBuffer *buffer)
{
  NatterMentionCompleter *self;

  g_return_val_if_fail (GTK_IS_TEXT_BUFFER (buffer), NULL);

  self = g_object_new (NATTER_TYPE_MENTION_COMPLETER, NULL);
  self->buffer = g_object_ref (buffer);
  g_signal_connect_object (buffer, "changed", G_CALLBACK (buffer_changed_cb), self, G_CONNECT_SWAPPED);
  return self;
}

/**
 * natter_mention_completer_reset:
 * @self: a completer
 *
 * The next Tab starts afresh (another room, a sent message).
 */
void
natter_mention_completer_reset (NatterMentionCompleter *self)
{
  g_return_if_fail (NATTER_IS_MENTION_COMPLETER (self));
  g_clear_pointer (&self->prefix, g_free);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

/* The members whose names start with @prefix, sorted, @account left out. */
static GPtrArray *
members_starting_with (const char * const *members,
                       const char         *account,
                       const char         *prefix)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; members != NULL && members[i] != NULL; i++)
    if (g_str_has_prefix (members[i], prefix) && g_strcmp0 (members[i], account) != 0)
      g_ptr_array_add (names, g_strdup (members[i]));
  g_ptr_array_sort (names, compare_names);
  return names;
}

/* How many bytes all @names share at their start. */
static gsize
common_length (GPtrArray *names)
{
  const char *first = g_ptr_array_index (names, 0);
  gsize common;

  for (common = strlen (first); common > 0; common--)
    {
      guint i;

      for (i = 1; i < names->len && strncmp (first, g_ptr_array_index (names, i), common) == 0; i++)
        ;
      if (i == names->len)
        break;
    }
  return common;
}

/**
 * natter_mention_completer_complete:
 * @self: a completer
 * @members: (nullable): the room's members
 * @account: (nullable): the account, never offered
 *
 * Completes the name after `@` at the cursor, as Tab does.
 *
 * Returns: whether the cursor was after `@` and a name's start (the key is then taken,
 *   whether or not a member fits)
 */
gboolean
natter_mention_completer_complete (NatterMentionCompleter *self,
                                   const char * const     *members,
                                   const char             *account)
{
  GtkTextIter cursor;
  GtkTextIter word_start;
  g_autofree char *before = NULL;
  g_autoptr(GPtrArray) names = NULL;
  g_autofree char *replacement = NULL;
  const char *at;
  const char *prefix;

  g_return_val_if_fail (NATTER_IS_MENTION_COMPLETER (self), FALSE);

  gtk_text_buffer_get_iter_at_mark (self->buffer, &cursor, gtk_text_buffer_get_insert (self->buffer));
  word_start = cursor;
  gtk_text_iter_set_line_offset (&word_start, 0);
  before = gtk_text_buffer_get_text (self->buffer, &word_start, &cursor, FALSE);

  /* The word at the cursor: `@` then name characters, `@` not within a word. */
  at = before + strlen (before);
  while (at > before && (g_ascii_isalnum (at[-1]) || strchr ("_.-", at[-1]) != NULL))
    at--;
  if (at == before || at[-1] != '@' || (at - 1 > before && (g_ascii_isalnum (at[-2]) || at[-2] == '@')))
    return FALSE;
  prefix = self->prefix != NULL ? self->prefix : at;
  names = members_starting_with (members, account, prefix);
  if (names->len == 0)
    return TRUE;

  if (names->len == 1)
    {
      replacement = g_strconcat (g_ptr_array_index (names, 0), " ", NULL);
      g_clear_pointer (&self->prefix, g_free);
    }
  else if (self->prefix != NULL)
    {
      self->index = (self->index + 1) % names->len;
      replacement = g_strdup (g_ptr_array_index (names, self->index));
    }
  else if (common_length (names) > strlen (prefix))
    {
      replacement = g_strndup (g_ptr_array_index (names, 0), common_length (names));
    }
  else
    {
      /* Nothing more in common: go through the names. */
      self->prefix = g_strdup (prefix);
      self->index = 0;
      replacement = g_strdup (g_ptr_array_index (names, 0));
    }

  word_start = cursor;
  gtk_text_iter_backward_chars (&word_start, g_utf8_strlen (at, -1));
  self->completing = TRUE;
  gtk_text_buffer_begin_user_action (self->buffer);
  gtk_text_buffer_delete (self->buffer, &word_start, &cursor);
  gtk_text_buffer_insert (self->buffer, &word_start, replacement, -1);
  gtk_text_buffer_end_user_action (self->buffer);
  self->completing = FALSE;
  return TRUE;
}
