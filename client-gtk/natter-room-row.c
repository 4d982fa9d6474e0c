/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-room-row"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "natter-room-row.h"
#include "natter-tooltips.h"

/* A room in the sidebar: its name, the newest message and the unread count. */
struct _NatterRoomRow
{
  GtkListBoxRow  parent_instance;

  NatterRoom    *room;           /* (owned) */

  AdwAvatar     *avatar;
  GtkLabel      *title_label;
  GtkLabel      *preview_label;
  GtkLabel      *badge;
  GtkWidget     *private_icon;
};

G_DEFINE_FINAL_TYPE (NatterRoomRow, natter_room_row, GTK_TYPE_LIST_BOX_ROW)

static void
natter_room_row_update (NatterRoomRow *self)
{
  NatterRoom *room = self->room;
  NatterMessage *last = natter_room_get_last_message (room);
  const char *body = NULL;
  guint64 unread = natter_room_get_unread_count (room);
  const char *kind = natter_room_get_kind (room);
  g_autofree char *badge = NULL;
  g_autofree char *accessible = NULL;

  gtk_label_set_label (self->title_label, natter_room_get_display_name (room));
  adw_avatar_set_text (self->avatar, natter_room_get_display_name (room));
  if (g_str_equal (kind, "dm"))
    {
      adw_avatar_set_show_initials (self->avatar, TRUE);
      adw_avatar_set_icon_name (self->avatar, NULL);
    }
  else
    {
      adw_avatar_set_show_initials (self->avatar, FALSE);
      adw_avatar_set_icon_name (self->avatar, natter_room_get_icon_name (room));
    }

  if (last != NULL)
    body = natter_message_get_deleted (last) ? _("This message was deleted") : natter_message_get_body (last);
  if (last == NULL)
    {
      g_autofree char *subtitle = natter_room_dup_subtitle (room);
      gtk_label_set_label (self->preview_label, subtitle);
    }
  else if (natter_message_get_own (last))
    {
      g_autofree char *preview = NULL;

      /* Translators: the newest message of a conversation, sent by the user */
      preview = g_strdup_printf (_("You: %s"), body);
      g_strdelimit (preview, "\n", ' ');
      gtk_label_set_label (self->preview_label, preview);
    }
  else
    {
      g_autofree char *preview = NULL;

      if (g_str_equal (kind, "dm"))
        preview = g_strdup (body);
      else
        /* Translators: the newest message of a room: “sender: text” */
        preview = g_strdup_printf (_("%s: %s"), natter_message_get_sender (last), body);
      g_strdelimit (preview, "\n", ' ');
      gtk_label_set_label (self->preview_label, preview);
    }

  if (unread > 0)
    {
      badge = unread > 999 ? g_strdup ("999+") : g_strdup_printf ("%" G_GUINT64_FORMAT, unread);
      gtk_widget_add_css_class (GTK_WIDGET (self), "unread");
      accessible = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s, %s unread message",
                                                 "%s, %s unread messages", unread),
                                    natter_room_get_display_name (room), badge);
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self), "unread");
      accessible = g_strdup (natter_room_get_display_name (room));
    }
  gtk_widget_set_visible (self->private_icon, natter_room_get_private (room));
  gtk_label_set_label (self->badge, badge != NULL ? badge : "");
  gtk_widget_set_visible (GTK_WIDGET (self->badge), badge != NULL);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible, -1);
}

static void
natter_room_row_dispose (GObject *object)
{
  NatterRoomRow *self = NATTER_ROOM_ROW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_ROOM_ROW);
  g_clear_object (&self->room);

  G_OBJECT_CLASS (natter_room_row_parent_class)->dispose (object);
}

static void
natter_room_row_class_init (NatterRoomRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_room_row_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-room-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterRoomRow, avatar);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomRow, title_label);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomRow, preview_label);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomRow, badge);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomRow, private_icon);
}

static void
natter_room_row_init (NatterRoomRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  natter_tooltips_attach (self->private_icon);
}

/**
 * natter_room_row_new:
 * @room: a room
 *
 * Returns: (transfer floating): a row that follows @room
 */
GtkWidget *
natter_room_row_new (NatterRoom *room)
{
  NatterRoomRow *self = g_object_new (NATTER_TYPE_ROOM_ROW, NULL);

  self->room = g_object_ref (room);
  g_signal_connect_object (room, "notify", G_CALLBACK (natter_room_row_update), self, G_CONNECT_SWAPPED);
  natter_room_row_update (self);
  return GTK_WIDGET (self);
}

NatterRoom *
natter_room_row_get_room (NatterRoomRow *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM_ROW (self), NULL);
  return self->room;
}

const char *
natter_room_row_get_title (NatterRoomRow *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM_ROW (self), NULL);
  return gtk_label_get_label (self->title_label);
}

/**
 * natter_room_row_get_private_shown:
 * @self: a row
 *
 * Returns: whether the row marks its room as private
 */
gboolean
natter_room_row_get_private_shown (NatterRoomRow *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM_ROW (self), FALSE);
  return gtk_widget_get_visible (self->private_icon);
}

/**
 * natter_room_row_get_badge:
 * @self: a row
 *
 * Returns: the unread count as the badge shows it, or "" when the badge is hidden
 */
const char *
natter_room_row_get_badge (NatterRoomRow *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM_ROW (self), NULL);
  return gtk_widget_get_visible (GTK_WIDGET (self->badge)) ? gtk_label_get_label (self->badge) : "";
}
