/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-application"

#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>

#include "natter-application-private.h"

G_DEFINE_FINAL_TYPE (NatterApplication, natter_application, ADW_TYPE_APPLICATION)

/**
 * natter_application_new:
 *
 * Returns: (transfer full): the app
 */
NatterApplication *
natter_application_new (void)
{
  return g_object_new (NATTER_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/io/github/natter/Natter",
                       NULL);
}

NatterService *
_natter_application_get_service (NatterApplication *self)
{
  return self->service;
}

/*
 * _natter_application_get_window:
 * @self: the app
 *
 * Returns: (transfer none) (nullable): the main window, if there is one
 */
NatterWindow *
_natter_application_get_window (NatterApplication *self)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l != NULL; l = l->next)
    if (NATTER_IS_WINDOW (l->data))
      return l->data;
  return NULL;
}

/*
 * _natter_application_present:
 * @self: the app
 *
 * Returns: (transfer none): the main window, created if needed, presented
 */
NatterWindow *
_natter_application_present (NatterApplication *self)
{
  NatterWindow *window = _natter_application_get_window (self);

  if (window == NULL)
    window = natter_window_new (self);
  gtk_window_present (GTK_WINDOW (window));
  return window;
}

/* Notifications -------------------------------------------------------------------- */

static char *
notification_id (NatterRoom *room)
{
  return g_strconcat ("room:", natter_room_get_name (room), NULL);
}

static void
room_read_cb (NatterRoom        *room,
              GParamSpec        *pspec,
              NatterApplication *self)
{
  g_autofree char *id = NULL;

  if (natter_room_get_unread_count (room) > 0)
    return;
  /* Read, here or in another session of the account: the notification is old news. */
  id = notification_id (room);
  g_application_withdraw_notification (G_APPLICATION (self), id);
  g_signal_handlers_disconnect_by_func (room, room_read_cb, self);
  g_hash_table_remove (self->notified, natter_room_get_name (room));
}

static void show_notification (NatterApplication *self,
                               NatterRoom        *room,
                               NatterMessage     *message);

/* The notification shows its message as it is: an edit replaces the text, and a deleted
 * message's text leaves the screen with its notification. */
static void
notified_message_changed_cb (NatterMessage     *message,
                             NatterApplication *self)
{
  NatterRoom *room;
  const guint64 *seq;
  const gint64 *edited;
  g_autofree char *id = NULL;

  room = g_hash_table_lookup (self->notified, natter_message_get_room (message));
  seq = room != NULL ? g_object_get_data (G_OBJECT (room), "natter-notified-seq") : NULL;
  if (seq == NULL || *seq != natter_message_get_seq (message))
    return;
  if (!natter_message_get_deleted (message))
    {
      /* Reactions change the message too; only a new text is worth showing again. */
      edited = g_object_get_data (G_OBJECT (room), "natter-notified-edited");
      if (edited != NULL && *edited != natter_message_get_edited_timestamp (message) &&
          g_settings_get_boolean (self->settings, "notifications"))
        show_notification (self, room, message);
      return;
    }
  id = notification_id (room);
  g_application_withdraw_notification (G_APPLICATION (self), id);
  g_signal_handlers_disconnect_by_func (room, room_read_cb, self);
  g_hash_table_remove (self->notified, natter_room_get_name (room));
}

/* Shows @message as the notification of @room, replacing the room's previous one. */
static void
show_notification (NatterApplication *self,
                   NatterRoom        *room,
                   NatterMessage     *message)
{
  const char *kind = natter_room_get_kind (room);
  const char *sender = natter_message_get_sender (message);
  g_autoptr(GNotification) notification = NULL;
  g_autoptr(GIcon) icon = NULL;
  g_autofree char *title = NULL;
  g_autofree char *id = NULL;
  g_autofree char *body = NULL;

  if (g_str_equal (kind, "system"))
    title = g_strdup_printf (_("Announcement from %s"), sender);
  else if (g_str_equal (kind, "dm"))
    title = g_strdup (sender);
  else
    /* Translators: a notification's title: “sender in #room” */
    title = g_strdup_printf (_("%s in #%s"), sender, natter_room_get_display_name (room));

  if (g_settings_get_boolean (self->settings, "notification-preview"))
    {
      const char *text = natter_message_get_body (message);

      if (g_utf8_strlen (text, -1) > 200)
        {
          g_autofree char *start = g_utf8_substring (text, 0, 199);
          body = g_strconcat (start, "…", NULL);
        }
      else
        {
          body = g_strdup (text);
        }
    }
  else
    {
      body = g_strdup (_("New message"));
    }

  notification = g_notification_new (title);
  g_notification_set_body (notification, body);
  icon = g_themed_icon_new (APP_ID);
  g_notification_set_icon (notification, icon);
  g_notification_set_category (notification, "im.received");
  g_notification_set_default_action_and_target (notification, "app.open-message", "(st)",
                                                natter_room_get_name (room),
                                                natter_message_get_seq (message));

  id = notification_id (room);
  g_application_send_notification (G_APPLICATION (self), id, notification);
  g_object_set_data_full (G_OBJECT (room), "natter-notified-seq",
                          g_memdup2 (&(guint64) { natter_message_get_seq (message) }, sizeof (guint64)), g_free);
  g_object_set_data_full (G_OBJECT (room), "natter-notified-edited",
                          g_memdup2 (&(gint64) { natter_message_get_edited_timestamp (message) },
                                     sizeof (gint64)), g_free);
  g_signal_handlers_disconnect_by_func (message, notified_message_changed_cb, self);
  g_signal_connect_object (message, "changed", G_CALLBACK (notified_message_changed_cb), self, 0);

  if (!g_hash_table_contains (self->notified, natter_room_get_name (room)))
    {
      g_hash_table_insert (self->notified, g_strdup (natter_room_get_name (room)), g_object_ref (room));
      g_signal_connect_object (room, "notify::unread-count", G_CALLBACK (room_read_cb), self, 0);
    }
}

static void
message_received_cb (NatterService     *service,
                     NatterRoom        *room,
                     NatterMessage     *message,
                     NatterApplication *self)
{
  NatterWindow *window = _natter_application_get_window (self);
  const char *kind = natter_room_get_kind (room);

  if (natter_message_get_own (message) || !g_settings_get_boolean (self->settings, "notifications"))
    return;
  /* The room's level: a mention of the account (or a direct message) still notifies
   * with "mentions". */
  if (g_str_equal (natter_room_get_notification_level (room), "none") ||
      (g_str_equal (natter_room_get_notification_level (room), "mentions") && !g_str_equal (kind, "dm") &&
       !natter_message_mentions (message, natter_room_get_account (room))))
    return;
  /* The conversation is in front of the user. */
  if (window != NULL && gtk_window_is_active (GTK_WINDOW (window)) &&
      natter_window_get_visible_room (window) == room)
    return;
  show_notification (self, room, message);
}

/* natterd leaves invitations to the app (it handles notifications): the window shows
 * them, and a notification does while the window is not in front of the user. */
static void
invited_cb (NatterService     *service,
            const char        *room,
            const char        *by,
            NatterApplication *self)
{
  NatterWindow *window = _natter_application_get_window (self);
  g_autoptr(GNotification) notification = NULL;
  g_autoptr(GIcon) icon = NULL;
  g_autofree char *title = NULL;
  g_autofree char *body = NULL;
  g_autofree char *id = NULL;

  if (!g_settings_get_boolean (self->settings, "notifications") ||
      (window != NULL && gtk_window_is_active (GTK_WINDOW (window))))
    return;
  /* Translators: a notification's title; %s is a room name */
  title = g_strdup_printf (_("Invitation to join #%s"), room);
  /* Translators: %s is a user name */
  body = g_strdup_printf (_("%s invited you. Open the invitation to join."), by);
  notification = g_notification_new (title);
  g_notification_set_body (notification, body);
  icon = g_themed_icon_new (APP_ID);
  g_notification_set_icon (notification, icon);
  g_notification_set_category (notification, "im");
  g_notification_set_default_action_and_target (notification, "app.open-message", "(st)", room, (guint64) 0);
  id = g_strconcat ("invite:", room, NULL);
  g_application_send_notification (G_APPLICATION (self), id, notification);
}

/* Style ---------------------------------------------------------------------------- */

static void
color_scheme_cb (NatterApplication *self)
{
  g_autofree char *scheme = g_settings_get_string (self->settings, "color-scheme");
  AdwColorScheme color_scheme = ADW_COLOR_SCHEME_DEFAULT;

  if (g_str_equal (scheme, "light"))
    color_scheme = ADW_COLOR_SCHEME_FORCE_LIGHT;
  else if (g_str_equal (scheme, "dark"))
    color_scheme = ADW_COLOR_SCHEME_FORCE_DARK;
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (), color_scheme);
}

/* GApplication --------------------------------------------------------------------- */

static gboolean
sigterm_cb (gpointer user_data)
{
  /* As Quit does, so that the window saves its size and natterd hears that the room is
   * no longer viewed. */
  g_action_group_activate_action (G_ACTION_GROUP (user_data), "quit", NULL);
  return G_SOURCE_CONTINUE;
}

static void
natter_application_startup (GApplication *application)
{
  NatterApplication *self = NATTER_APPLICATION (application);

  G_APPLICATION_CLASS (natter_application_parent_class)->startup (application);

  g_set_application_name (_("Natter"));
  gtk_window_set_default_icon_name (APP_ID);

  self->settings = g_settings_new ("io.github.natter.Natter");
  g_signal_connect_object (self->settings, "changed::color-scheme", G_CALLBACK (color_scheme_cb),
                           self, G_CONNECT_SWAPPED);
  color_scheme_cb (self);

  self->service = natter_service_new ();
  g_signal_connect_object (self->service, "message-received", G_CALLBACK (message_received_cb), self, 0);
  g_signal_connect_object (self->service, "invited", G_CALLBACK (invited_cb), self, 0);
  /* The app shows its own notifications, whose action opens the room. */
  natter_service_set_notifications_handled (self->service, TRUE);
  natter_service_start (self->service);

  _natter_application_actions_init (self);
  self->sigterm_id = g_unix_signal_add (SIGTERM, sigterm_cb, self);
}

static void
natter_application_shutdown (GApplication *application)
{
  NatterApplication *self = NATTER_APPLICATION (application);

  G_APPLICATION_CLASS (natter_application_parent_class)->shutdown (application);

  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  g_hash_table_remove_all (self->notified);
  g_clear_object (&self->service);
  g_clear_object (&self->settings);
}

static void
natter_application_activate (GApplication *application)
{
  _natter_application_present (NATTER_APPLICATION (application));
}

static void
natter_application_finalize (GObject *object)
{
  NatterApplication *self = NATTER_APPLICATION (object);

  g_clear_pointer (&self->notified, g_hash_table_unref);

  G_OBJECT_CLASS (natter_application_parent_class)->finalize (object);
}

static void
natter_application_class_init (NatterApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = natter_application_finalize;
  app_class->startup = natter_application_startup;
  app_class->shutdown = natter_application_shutdown;
  app_class->activate = natter_application_activate;
}

static void
natter_application_init (NatterApplication *self)
{
  self->notified = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}
