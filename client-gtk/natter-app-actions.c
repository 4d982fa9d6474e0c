/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-app-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-application-private.h"
#include "natter-preferences-window.h"
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
  { "search", search_action, "s" },
  { "preferences", preferences_action },
  { "connect-server", connect_server_action },
  { "about", about_action },
  { "quit", quit_action },
};

/* For the GUI tests (tests/gui), which drive the app from outside through its exported
 * actions. Each reads or works the widgets themselves: describe reports what the
 * widgets show, type and key go through the composer's own input handling. Only there
 * with NATTER_TEST_HOOKS=1. */

static NatterWindow *
test_window (NatterApplication *self)
{
  NatterWindow *window = _natter_application_get_window (self);

  if (window == NULL)
    g_warning ("test action without a window");
  return window;
}

static void
test_describe_action (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  g_autoptr(GVariant) description = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  if (window == NULL)
    return;
  description = g_variant_ref_sink (_natter_window_describe (window));
  text = g_variant_print (description, TRUE);
  if (!g_file_set_contents (g_variant_get_string (parameter, NULL), text, -1, &error))
    g_warning ("test-describe: %s", error->message);
}

static void
test_screenshot_action (GSimpleAction *action,
                        GVariant      *parameter,
                        gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  g_autoptr(GError) error = NULL;

  if (window != NULL && !_natter_window_save_png (window, g_variant_get_string (parameter, NULL), &error))
    g_message ("test-screenshot: %s", error->message);
}

static void
test_resize_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  int width;
  int height;

  if (window == NULL)
    return;
  g_variant_get (parameter, "(ii)", &width, &height);
  gtk_window_unmaximize (GTK_WINDOW (window));
  gtk_window_set_default_size (GTK_WINDOW (window), width, height);
}

static void
test_type_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);

  if (window != NULL)
    natter_conversation_insert_text (window->conversation, g_variant_get_string (parameter, NULL));
}

static void
test_key_action (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  guint keyval = 0;
  GdkModifierType state = 0;

  if (window == NULL)
    return;
  if (!gtk_accelerator_parse (g_variant_get_string (parameter, NULL), &keyval, &state))
    {
      g_warning ("test-key: cannot parse %s", g_variant_get_string (parameter, NULL));
      return;
    }
  /* A key the composer leaves alone goes to the text view, which starts a new line for
   * Return. */
  if (!natter_conversation_handle_key (window->conversation, keyval, state) && keyval == GDK_KEY_Return)
    natter_conversation_insert_text (window->conversation, "\n");
}

static void
test_scroll_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  NatterWindow *window = test_window (user_data);
  const char *where = g_variant_get_string (parameter, NULL);

  if (window != NULL)
    natter_conversation_scroll (window->conversation,
                                g_str_equal (where, "top") ? GTK_SCROLL_START : GTK_SCROLL_END);
}

static const GActionEntry test_actions[] = {
  { "test-scroll", test_scroll_action, "s" },
  { "test-describe", test_describe_action, "s" },
  { "test-screenshot", test_screenshot_action, "s" },
  { "test-resize", test_resize_action, "(ii)" },
  { "test-type", test_type_action, "s" },
  { "test-key", test_key_action, "s" },
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

  if (self->test_hooks)
    g_action_map_add_action_entries (G_ACTION_MAP (self), test_actions, G_N_ELEMENTS (test_actions), self);

  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (self), accels[i].action, accels[i].accels);
}
