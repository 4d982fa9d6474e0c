/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-preferences-window"

#include "config.h"

#include <string.h>
#include <glib/gi18n.h>

#include "natter-account-page.h"
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
  AdwPreferencesGroup  *sharing_group;
  GtkSwitch            *network_switch;
  AdwEntryRow          *port_row;
  AdwActionRow         *address_row;
  GCancellable         *cancellable;  /* (owned) */
  gboolean              updating;     /* showing natterd's state, not the user's change */
  gboolean              port_edited;  /* the port row holds what the user typed */
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

/* ListenAddress is HOST:PORT, the host in brackets when it is IPv6. */
static guint
listen_port (const char *address)
{
  const char *colon = strrchr (address, ':');

  return colon != NULL ? (guint) g_ascii_strtoull (colon + 1, NULL, 10) : 0;
}

static void
update_sharing (NatterPreferencesWindow *self)
{
  const char *address = natter_service_get_listen_address (self->service);
  const char *listen_error = natter_service_get_listen_error (self->service);
  const char * const *web = natter_service_get_web_addresses (self->service);
  g_autofree char *port = g_strdup_printf ("%u", listen_port (address));
  g_autofree char *addresses = g_strjoinv ("\n", (char **) web);

  /* Only hosting listens: on a server others join there. */
  gtk_widget_set_visible (GTK_WIDGET (self->sharing_group), *address != '\0');
  if (*address == '\0')
    return;
  self->updating = TRUE;
  gtk_switch_set_active (self->network_switch,
                         g_str_has_prefix (address, "0.0.0.0:") || g_str_has_prefix (address, "[::]:"));
  if (!self->port_edited)
    gtk_editable_set_text (GTK_EDITABLE (self->port_row), port);
  self->updating = FALSE;

  if (*listen_error != '\0')
    {
      g_autofree char *why = g_strdup_printf (_("Nobody else can join: port %s cannot be used (%s). Choose another port."),
                                              port, listen_error);

      adw_action_row_set_subtitle (self->address_row, why);
    }
  else if (*addresses != '\0')
    adw_action_row_set_subtitle (self->address_row, addresses);
  else
    adw_action_row_set_subtitle (self->address_row, _("This computer is not on a network"));
}

static void
listen_set_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  NatterPreferencesWindow *self = user_data;
  g_autoptr(GError) error = NULL;

  /* Cancelled: the window is gone. */
  if (natter_service_set_listen_address_finish (NATTER_SERVICE (source), result, &error) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self), adw_toast_new (error->message));
  update_sharing (self);
}

/* The switch and the port together make the address natterd listens on. */
static void
apply_listen (NatterPreferencesWindow *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->port_row));
  g_autofree char *address = NULL;
  guint64 port;

  if (self->updating)
    return;
  if (!g_ascii_string_to_unsigned (text, 10, 1, 65535, &port, NULL))
    {
      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self),
                                        adw_toast_new (_("A port is a number from 1 to 65535")));
      return;
    }
  self->port_edited = FALSE;
  address = g_strdup_printf ("%s:%u", gtk_switch_get_active (self->network_switch) ? "0.0.0.0" : "127.0.0.1",
                             (guint) port);
  /* No reference for the callback: one would keep the window from being disposed
   * after it was destroyed, until after its transient parent was finalized (criticals
   * from GtkWindow when the app quit while natterd was still answering). Its dispose
   * cancels the call instead. */
  natter_service_set_listen_address_async (self->service, address, self->cancellable,
                                           listen_set_cb, self);
}

static void
port_changed_cb (NatterPreferencesWindow *self)
{
  if (!self->updating)
    self->port_edited = TRUE;
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
  update_sharing (self);
  adw_action_row_set_subtitle (self->account_row, or_unknown (natter_service_get_account (self->service)));
  adw_action_row_set_subtitle (self->node_row, or_unknown (natter_service_get_node (self->service)));
  adw_action_row_set_subtitle (self->version_row, or_unknown (natter_service_get_version (self->service)));
}

static void
natter_preferences_window_dispose (GObject *object)
{
  NatterPreferencesWindow *self = NATTER_PREFERENCES_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (object), NATTER_TYPE_PREFERENCES_WINDOW);
  G_OBJECT_CLASS (natter_preferences_window_parent_class)->dispose (object);
}

static void
natter_preferences_window_finalize (GObject *object)
{
  NatterPreferencesWindow *self = NATTER_PREFERENCES_WINDOW (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->service);
  g_clear_object (&self->cancellable);

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
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, sharing_group);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, network_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, port_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, address_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, mode_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, account_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, node_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, version_row);
}

static void
natter_preferences_window_init (NatterPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
  g_signal_connect_object (self->network_switch, "notify::active", G_CALLBACK (apply_listen), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->port_row, "changed", G_CALLBACK (port_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->port_row, "apply", G_CALLBACK (apply_listen), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->port_row, "entry-activated", G_CALLBACK (apply_listen), self,
                           G_CONNECT_SWAPPED);

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
  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (self),
                              ADW_PREFERENCES_PAGE (natter_account_page_new (service)));
  return GTK_WINDOW (self);
}
