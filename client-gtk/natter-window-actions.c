/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-window-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-new-chat-dialog.h"
#include "natter-window-private.h"

/* The window's actions (“win.”). GtkApplicationWindow exports them on D-Bus beside the
 * app's, at /io/github/natter/Natter/window/ID. */

static void
join_room_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  NatterWindow *self = user_data;

  gtk_window_present (natter_new_chat_dialog_new (GTK_WINDOW (self), self->service, FALSE));
}

static void
new_direct_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  NatterWindow *self = user_data;

  gtk_window_present (natter_new_chat_dialog_new (GTK_WINDOW (self), self->service, TRUE));
}

static void
search_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  natter_window_search (user_data, NULL);
}

static void
go_back_action (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  _natter_window_go_back (user_data);
}

static void
open_room_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  natter_window_open_room (user_data, g_variant_get_string (parameter, NULL));
}

static void
mark_read_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  NatterWindow *self = user_data;
  NatterRoom *room = natter_conversation_get_room (self->conversation);

  if (room != NULL)
    natter_room_mark_read (room);
}

static void
left_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(NatterWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_room_leave_finish (NATTER_ROOM (source), result, &error))
    {
      g_autofree char *text = g_strdup_printf (_("Cannot leave: %s"), error->message);
      natter_window_show_toast (self, text);
    }
}

static void
leave_response_cb (AdwMessageDialog *dialog,
                   const char       *response,
                   gpointer          user_data)
{
  NatterWindow *self = user_data;
  NatterRoom *room = g_object_get_data (G_OBJECT (dialog), "natter-room");

  if (g_strcmp0 (response, "leave") == 0 && room != NULL)
    natter_room_leave_async (room, NULL, left_cb, g_object_ref (self));
}

static void
leave_room_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  NatterWindow *self = user_data;
  NatterRoom *room = natter_conversation_get_room (self->conversation);
  AdwMessageDialog *dialog;

  if (room == NULL)
    return;

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), NULL, NULL));
  /* Translators: %s is a room or a person */
  adw_message_dialog_format_heading (dialog, _("Leave %s?"), natter_room_get_display_name (room));
  adw_message_dialog_set_body (dialog, _("Its messages will no longer reach you. You can come back later."));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "leave", _("_Leave"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "leave", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "natter-room", g_object_ref (room), g_object_unref);
  g_signal_connect_object (dialog, "response", G_CALLBACK (leave_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
notification_level_set_cb (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  g_autoptr(NatterWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_room_change_finish (NATTER_ROOM (source), result, &error))
    {
      g_autofree char *text = g_strdup_printf (_("Cannot change the notifications: %s"), error->message);

      natter_window_show_toast (self, text);
      _natter_window_actions_update (self);
    }
}

/* The room's notification level, in its menu; it changes once natterd says so. */
static void
notification_level_action (GSimpleAction *action,
                           GVariant      *state,
                           gpointer       user_data)
{
  NatterWindow *self = user_data;
  NatterRoom *room = natter_conversation_get_room (self->conversation);
  const char *level = g_variant_get_string (state, NULL);

  if (room == NULL || (!g_str_equal (level, "all") && !g_str_equal (level, "mentions") &&
                       !g_str_equal (level, "none")))
    return;
  g_simple_action_set_state (action, state);
  natter_room_set_notification_level_async (room, level, NULL, notification_level_set_cb, g_object_ref (self));
}

static const GActionEntry actions[] = {
  { "notification-level", NULL, "s", "'all'", notification_level_action },
  { "join-room", join_room_action },
  { "new-direct", new_direct_action },
  { "search", search_action },
  { "go-back", go_back_action },
  { "open-room", open_room_action, "s" },
  { "mark-read", mark_read_action },
  { "leave-room", leave_room_action },
};

static void
set_enabled (NatterWindow *self,
             const char   *name,
             gboolean      enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);

  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

/*
 * _natter_window_actions_update:
 * @self: a window
 *
 * Enables the actions that make sense for the room on screen.
 */
void
_natter_window_actions_update (NatterWindow *self)
{
  NatterRoom *room = natter_conversation_get_room (self->conversation);

  set_enabled (self, "mark-read", room != NULL);
  set_enabled (self, "leave-room", room != NULL && !g_str_equal (natter_room_get_kind (room), "system"));

  set_enabled (self, "notification-level", room != NULL && natter_room_is_attached (room));
  if (room != NULL)
    {
      GAction *level = g_action_map_lookup_action (G_ACTION_MAP (self), "notification-level");

      g_simple_action_set_state (G_SIMPLE_ACTION (level),
                                 g_variant_new_string (natter_room_get_notification_level (room)));
      g_signal_handlers_disconnect_by_func (room, _natter_window_actions_update, self);
      g_signal_connect_object (room, "notify::notification-level",
                               G_CALLBACK (_natter_window_actions_update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (room, "notify::attached",
                               G_CALLBACK (_natter_window_actions_update), self, G_CONNECT_SWAPPED);
    }
  _natter_window_room_actions_update (self);
}

void
_natter_window_actions_init (NatterWindow *self)
{
  g_action_map_add_action_entries (G_ACTION_MAP (self), actions, G_N_ELEMENTS (actions), self);
  _natter_window_room_actions_init (self);
}
