/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-app-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-application-private.h"
#include "natter-preferences-window.h"
#if NATTER_TEST_HOOKS
#include "natter-test-hooks.h"
#endif
#include "natter-welcome-dialog.h"
#include "natter-window-private.h"

/* The app's actions (“app.”). GtkApplication exports them on D-Bus at
 * /io/github/natter/Natter: natterd's notifications and GNOME Shell's search results
 * call open-room and search there, D-Bus-activating the app if needed. */

static void
open_room_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  NatterWindow *window = _natter_application_present (user_data);

  natter_window_open_room (window, g_variant_get_string (parameter, NULL));
}

/* (room, seq): natterd's notifications, GNOME Shell's search results and the app's own
 * notifications open the room at the message. */
static void
open_message_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  NatterWindow *window = _natter_application_present (user_data);
  const char *room;
  guint64 seq;

  g_variant_get (parameter, "(&st)", &room, &seq);
  natter_window_open_message (window, room, seq);
}

static void
search_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  NatterWindow *window = _natter_application_present (user_data);

  natter_window_search (window, g_variant_get_string (parameter, NULL));
}

static void
preferences_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  NatterApplication *self = user_data;
  NatterWindow *window = _natter_application_present (self);

  gtk_window_present (natter_preferences_window_new (GTK_WINDOW (window), self->service));
}

static void
connect_server_action (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  NatterApplication *self = user_data;
  NatterWindow *window = _natter_application_present (self);

  gtk_window_present (natter_welcome_dialog_new (GTK_WINDOW (window), self->service, TRUE));
}

static void
hosted_here_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterApplication) self = user_data;
  g_autoptr(GError) error = NULL;
  NatterWindow *window;

  if (natter_service_set_mode_finish (NATTER_SERVICE (source), result, &error) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  window = _natter_application_get_window (self);
  if (window != NULL)
    natter_window_show_toast (window, error->message);
}

/* Back from a server to the chat hosted on this computer, with its history. */
static void
host_here_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  NatterApplication *self = user_data;

  natter_service_set_mode_async (self->service, "host", NULL, hosted_here_cb,
                                 g_object_ref (self));
}

static void
mode_changed_cb (NatterApplication *self)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), "host-here");

  g_simple_action_set_enabled (G_SIMPLE_ACTION (action),
                               g_strcmp0 (natter_service_get_mode (self->service), "upstream") == 0);
}

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  NatterApplication *self = user_data;
  NatterWindow *window = _natter_application_present (self);
  g_autofree char *debug_info = NULL;
  static const char *developers[] = { "The Natter project", NULL };

  debug_info = g_strdup_printf ("natter %s\nGTK %u.%u.%u\nlibadwaita %u.%u.%u\n"
                                "natterd %s, mode %s, node %s, status %s\n",
                                PACKAGE_VERSION,
                                gtk_get_major_version (), gtk_get_minor_version (), gtk_get_micro_version (),
                                adw_get_major_version (), adw_get_minor_version (), adw_get_micro_version (),
                                natter_service_get_version (self->service),
                                natter_service_get_mode (self->service),
                                natter_service_get_node (self->service),
                                natter_service_get_status (self->service));

  adw_show_about_window (GTK_WINDOW (window),
                         "application-name", _("Natter"),
                         "application-icon", APP_ID,
                         "version", PACKAGE_VERSION,
                         "developer-name", _("The Natter project"),
                         "developers", developers,
                         "website", "https://github.com/natter/natter",
                         "issue-url", "https://github.com/natter/natter/issues",
                         "license-type", GTK_LICENSE_LGPL_2_1,
                         "copyright", _("© The Natter project"),
                         /* Translators: your name(s), one a line, to be credited in the about window */
                         "translator-credits", _("translator-credits"),
                         "debug-info", debug_info,
                         NULL);
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  NatterWindow *window = _natter_application_get_window (user_data);

  /* Closing saves the window's size and tells natterd the room is no longer viewed. */
  if (window != NULL)
    gtk_window_close (GTK_WINDOW (window));
  g_application_quit (G_APPLICATION (user_data));
}

static const GActionEntry app_actions[] = {
  { "open-room", open_room_action, "s" },
  { "open-message", open_message_action, "(st)" },
  { "search", search_action, "s" },
  { "preferences", preferences_action },
  { "connect-server", connect_server_action },
  { "host-here", host_here_action },
  { "about", about_action },
  { "quit", quit_action },
};

static const struct {
  const char *action;
  const char *accels[3];
} accels[] = {
  { "app.quit", { "<Control>q", NULL } },
  { "app.preferences", { "<Control>comma", NULL } },
  { "window.close", { "<Control>w", NULL } },
  { "win.search", { "<Control>f", NULL } },
  { "win.join-room", { "<Control>j", NULL } },
  { "win.new-direct", { "<Control>n", NULL } },
  { "win.go-back", { "<Alt>Left", NULL } },
};

void
_natter_application_actions_init (NatterApplication *self)
{
  g_autoptr(GAction) color_scheme = NULL;

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions), self);
  /* The style as a stateful action, also for the GUI tests' dark screenshot. */
  color_scheme = g_settings_create_action (self->settings, "color-scheme");
  g_action_map_add_action (G_ACTION_MAP (self), color_scheme);
  /* Hosting again is offered only while connected elsewhere. */
  g_signal_connect_object (self->service, "notify::mode", G_CALLBACK (mode_changed_cb), self,
                           G_CONNECT_SWAPPED);
  mode_changed_cb (self);

#if NATTER_TEST_HOOKS
  _natter_test_hooks_init (self);
#endif

  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (self), accels[i].action, accels[i].accels);
}
