/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-preferences-window"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-preferences-window.h"

/* The preferences (GSettings) and what natterd says about itself. */
struct _NatterPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  GSettings            *settings;   /* (owned) */
  NatterService        *service;    /* (owned) */

  AdwComboRow          *style_row;
  GtkSwitch            *notifications_switch;
  AdwActionRow         *preview_row;
  GtkSwitch            *preview_switch;
  GtkSwitch            *typing_switch;
  AdwActionRow         *mode_row;
  AdwActionRow         *account_row;
  AdwActionRow         *node_row;
  AdwActionRow         *version_row;
};

G_DEFINE_FINAL_TYPE (NatterPreferencesWindow, natter_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static const char * const styles[] = { "default", "light", "dark" };

static void
style_from_settings (NatterPreferencesWindow *self)
{
  g_autofree char *style = g_settings_get_string (self->settings, "color-scheme");

  for (guint i = 0; i < G_N_ELEMENTS (styles); i++)
    if (g_str_equal (style, styles[i]))
      adw_combo_row_set_selected (self->style_row, i);
}

static void
style_selected_cb (NatterPreferencesWindow *self)
{
  guint selected = adw_combo_row_get_selected (self->style_row);

  if (selected < G_N_ELEMENTS (styles))
    g_settings_set_string (self->settings, "color-scheme", styles[selected]);
}

static const char *
or_unknown (const char *value)
{
  return value != NULL && *value != '\0' ? value : _("Unknown");
}

static void
update_service (NatterPreferencesWindow *self)
{
  const char *mode = natter_service_get_mode (self->service);
  const char *where;

  if (g_str_equal (mode, "host"))
    where = _("On this computer");
  else if (g_str_equal (mode, "upstream"))
    where = _("On a server");
  else if (g_str_equal (mode, "cluster"))
    where = _("On a cluster of servers");
  else
    where = _("The chat service is not running");

  adw_action_row_set_subtitle (self->mode_row, where);
  adw_action_row_set_subtitle (self->account_row, or_unknown (natter_service_get_account (self->service)));
  adw_action_row_set_subtitle (self->node_row, or_unknown (natter_service_get_node (self->service)));
  adw_action_row_set_subtitle (self->version_row, or_unknown (natter_service_get_version (self->service)));
}

static void
natter_preferences_window_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), NATTER_TYPE_PREFERENCES_WINDOW);
  G_OBJECT_CLASS (natter_preferences_window_parent_class)->dispose (object);
}

static void
natter_preferences_window_finalize (GObject *object)
{
  NatterPreferencesWindow *self = NATTER_PREFERENCES_WINDOW (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->service);

  G_OBJECT_CLASS (natter_preferences_window_parent_class)->finalize (object);
}

static void
natter_preferences_window_class_init (NatterPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_preferences_window_dispose;
  object_class->finalize = natter_preferences_window_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, style_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, notifications_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, preview_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, preview_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, typing_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, mode_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, account_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, node_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, version_row);
}

static void
natter_preferences_window_init (NatterPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new ("io.github.natter.Natter");
  g_settings_bind (self->settings, "notifications", self->notifications_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "notification-preview", self->preview_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "notifications", self->preview_row, "sensitive", G_SETTINGS_BIND_GET);
  g_settings_bind (self->settings, "send-typing", self->typing_switch, "active", G_SETTINGS_BIND_DEFAULT);

  style_from_settings (self);
  g_signal_connect_object (self->settings, "changed::color-scheme", G_CALLBACK (style_from_settings), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->style_row, "notify::selected", G_CALLBACK (style_selected_cb), self, G_CONNECT_SWAPPED);
}

/**
 * natter_preferences_window_new:
 * @parent: the main window
 * @service: the service, for what natterd says about itself
 *
 * Returns: (transfer none): the preferences window
 */
GtkWindow *
natter_preferences_window_new (GtkWindow     *parent,
                               NatterService *service)
{
  NatterPreferencesWindow *self = g_object_new (NATTER_TYPE_PREFERENCES_WINDOW,
                                                "transient-for", parent,
                                                NULL);

  self->service = g_object_ref (service);
  g_signal_connect_object (service, "notify", G_CALLBACK (update_service), self, G_CONNECT_SWAPPED);
  update_service (self);
  return GTK_WINDOW (self);
}
