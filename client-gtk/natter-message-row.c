/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-message-row"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "natter-message-row.h"
#include "natter-tooltips.h"

/* One message in a conversation: avatar, sender and time for the first message of a
 * group, then the text. Later messages of the group (“continued”) show the text only. */
struct _NatterMessageRow
{
  GtkListBoxRow  parent_instance;

  NatterMessage *message;      /* (owned) */

  GtkWidget     *gutter;
  AdwAvatar     *avatar;
  GtkWidget     *header;
  GtkLabel      *sender_label;
  GtkLabel      *time_label;
  GtkLabel      *body_label;
};

G_DEFINE_FINAL_TYPE (NatterMessageRow, natter_message_row, GTK_TYPE_LIST_BOX_ROW)

/* The web page's rule (daemon/web/app.js): http and https only, without the punctuation
 * that ends a sentence. */
#define URL_PATTERN "\\bhttps?://[^\\s<>\"']+[^\\s<>\"'.,;:!?)\\]]"

/* The body as Pango markup: the text escaped, its links clickable. */
static char *
body_markup (const char *text)
{
  static GRegex *url_regex;
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *rest = NULL;
  GString *markup = g_string_new (NULL);
  int last = 0;

  if (g_once_init_enter (&url_regex))
    g_once_init_leave (&url_regex, g_regex_new (URL_PATTERN, G_REGEX_OPTIMIZE, 0, NULL));

  g_regex_match (url_regex, text, 0, &match);
  while (g_match_info_matches (match))
    {
      g_autofree char *url = g_match_info_fetch (match, 0);
      g_autofree char *escaped_url = g_markup_escape_text (url, -1);
      g_autofree char *before = NULL;
      int start;
      int end;

      g_match_info_fetch_pos (match, 0, &start, &end);
      before = g_markup_escape_text (text + last, start - last);
      g_string_append_printf (markup, "%s<a href=\"%s\">%s</a>", before, escaped_url, escaped_url);
      last = end;
      g_match_info_next (match, NULL);
    }
  rest = g_markup_escape_text (text + last, -1);
  g_string_append (markup, rest);
  return g_string_free (markup, FALSE);
}

static void
update_grouping (NatterMessageRow *self)
{
  gboolean continued = natter_message_get_continued (self->message);

  gtk_widget_set_visible (self->header, !continued);
  gtk_widget_set_visible (GTK_WIDGET (self->avatar), !continued);
  if (continued)
    gtk_widget_add_css_class (GTK_WIDGET (self), "continued");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "continued");
}

static void
update_own (NatterMessageRow *self)
{
  if (natter_message_get_own (self->message))
    gtk_widget_add_css_class (GTK_WIDGET (self->sender_label), "own");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->sender_label), "own");
}

static void
natter_message_row_dispose (GObject *object)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_MESSAGE_ROW);
  g_clear_object (&self->message);

  G_OBJECT_CLASS (natter_message_row_parent_class)->dispose (object);
}

static void
natter_message_row_class_init (NatterMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_message_row_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-message-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, gutter);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, avatar);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, header);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, sender_label);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, time_label);
  gtk_widget_class_bind_template_child (widget_class, NatterMessageRow, body_label);
}

static void
natter_message_row_init (NatterMessageRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * natter_message_row_new:
 * @message: a message
 *
 * Returns: (transfer floating): a row showing @message
 */
GtkWidget *
natter_message_row_new (NatterMessage *message)
{
  NatterMessageRow *self = g_object_new (NATTER_TYPE_MESSAGE_ROW, NULL);
  g_autoptr(GDateTime) time = natter_message_dup_datetime (message);
  g_autofree char *clock = g_date_time_format (time, "%H:%M");
  /* Translators: the date and time of a message in its tooltip, in the format of
   * g_date_time_format(). xgettext:no-c-format */
  g_autofree char *full = g_date_time_format (time, _("%A, %B %-d %Y, %H:%M"));
  const char *sender = natter_message_get_sender (message);
  g_autofree char *markup = NULL;

  self->message = g_object_ref (message);

  if (g_str_equal (natter_message_get_kind (message), "broadcast"))
    {
      g_autofree char *title = NULL;

      /* Translators: the header of an announcement; %s is the administrator who sent it */
      title = g_strdup_printf (_("Announcement from %s"), sender);
      gtk_label_set_label (self->sender_label, title);
      /* The row's own child, not a template child: the row unparents it itself. */
      gtk_widget_add_css_class (gtk_list_box_row_get_child (GTK_LIST_BOX_ROW (self)), "broadcast");
    }
  else
    {
      gtk_label_set_label (self->sender_label, sender);
    }
  adw_avatar_set_text (self->avatar, sender);
  gtk_label_set_label (self->time_label, clock);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->time_label), full);
  natter_tooltips_attach (GTK_WIDGET (self->time_label));
  markup = body_markup (natter_message_get_body (message));
  gtk_label_set_markup (self->body_label, markup);

  g_signal_connect_object (message, "notify::continued", G_CALLBACK (update_grouping), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (message, "notify::own", G_CALLBACK (update_own), self, G_CONNECT_SWAPPED);
  update_grouping (self);
  update_own (self);

  return GTK_WIDGET (self);
}

NatterMessage *
natter_message_row_get_message (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return self->message;
}

const char *
natter_message_row_get_sender (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return gtk_label_get_label (self->sender_label);
}

const char *
natter_message_row_get_time (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return gtk_label_get_label (self->time_label);
}

const char *
natter_message_row_get_body (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return gtk_label_get_text (self->body_label);
}

/**
 * natter_message_row_get_body_label:
 * @self: a message row
 *
 * Returns: (transfer none): the label showing the text, with its links
 */
GtkLabel *
natter_message_row_get_body_label (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return self->body_label;
}

gboolean
natter_message_row_get_header_visible (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), FALSE);
  return gtk_widget_get_visible (self->header);
}
