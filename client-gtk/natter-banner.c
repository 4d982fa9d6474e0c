/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-banner"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-banner.h"

/* The connection banner: natterd's Status property in words, with what the user can do
 * about it. Hidden while everything works. */
struct _NatterBanner
{
  GtkWidget      parent_instance;

  NatterService *service;   /* (owned) (nullable) */
  char          *action;    /* (owned) (nullable): what the button does */
  gboolean       active;    /* whether this one of the window's banners may show */

  GtkRevealer   *revealer;
  GtkWidget     *box;
  GtkLabel      *label;
  GtkButton     *button;
};

G_DEFINE_FINAL_TYPE (NatterBanner, natter_banner, GTK_TYPE_WIDGET)

static void
natter_banner_update (NatterBanner *self)
{
  const char *status = self->service != NULL ? natter_service_get_status (self->service) : "starting";
  const char *title = NULL;
  const char *button = NULL;
  const char *action = NULL;
  gboolean error = FALSE;

  if (g_str_equal (status, "unavailable"))
    {
      title = _("The chat service is not running");
      button = _("_Start");
      action = "start";
      error = TRUE;
    }
  else if (g_str_equal (status, "connecting"))
    {
      title = _("Connecting to the server…");
    }
  else if (g_str_equal (status, "reconnecting"))
    {
      title = _("Connection lost. Reconnecting…");
    }
  else if (g_str_equal (status, "offline"))
    {
      title = _("Offline: messages cannot be sent or received");
      error = TRUE;
    }
  else if (g_str_equal (status, "auth-failed"))
    {
      title = _("The server did not accept your account");
      button = _("_Sign In…");
      action = "sign-in";
      error = TRUE;
    }
  else if (g_str_equal (status, "certificate-error"))
    {
      title = _("The server’s certificate is not trusted");
      button = _("_Sign In…");
      action = "sign-in";
      error = TRUE;
    }

  else if (g_str_equal (status, "connected") && self->service != NULL &&
           *natter_service_get_listen_error (self->service) != '\0')
    {
      /* Hosting without a port: the chat works here, but nobody else can join. */
      title = _("Others cannot join: the port of the chat is not available");
      button = _("_Preferences");
      action = "preferences";
      error = TRUE;
    }
  if (title != NULL)
    gtk_label_set_label (self->label, title);
  gtk_widget_set_visible (GTK_WIDGET (self->button), button != NULL);
  if (button != NULL)
    gtk_button_set_label (self->button, button);
  gtk_button_set_use_underline (self->button, TRUE);
  g_free (self->action);
  self->action = g_strdup (action);
  if (error)
    gtk_widget_add_css_class (self->box, "error");
  else
    gtk_widget_remove_css_class (self->box, "error");
  gtk_revealer_set_reveal_child (self->revealer, title != NULL && self->active);
}

static void
button_clicked_cb (NatterBanner *self)
{
  if (g_strcmp0 (self->action, "start") == 0 && self->service != NULL)
    natter_service_start_daemon (self->service);
  else if (g_strcmp0 (self->action, "sign-in") == 0)
    gtk_widget_activate_action (GTK_WIDGET (self), "app.connect-server", NULL);
  else if (g_strcmp0 (self->action, "preferences") == 0)
    gtk_widget_activate_action (GTK_WIDGET (self), "app.preferences", NULL);
}

static void
natter_banner_dispose (GObject *object)
{
  NatterBanner *self = NATTER_BANNER (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_BANNER);
  g_clear_object (&self->service);
  g_clear_pointer (&self->action, g_free);

  G_OBJECT_CLASS (natter_banner_parent_class)->dispose (object);
}

static void
natter_banner_class_init (NatterBannerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_banner_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-banner.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterBanner, revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterBanner, box);
  gtk_widget_class_bind_template_child (widget_class, NatterBanner, label);
  gtk_widget_class_bind_template_child (widget_class, NatterBanner, button);
  gtk_widget_class_bind_template_callback (widget_class, button_clicked_cb);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
natter_banner_init (NatterBanner *self)
{
  self->active = TRUE;
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * natter_banner_set_service:
 * @self: a banner
 * @service: the service whose status the banner shows
 */
void
natter_banner_set_service (NatterBanner  *self,
                           NatterService *service)
{
  g_return_if_fail (NATTER_IS_BANNER (self));
  g_return_if_fail (NATTER_IS_SERVICE (service));

  g_set_object (&self->service, service);
  g_signal_connect_object (service, "notify::status", G_CALLBACK (natter_banner_update), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (service, "notify::listen-error", G_CALLBACK (natter_banner_update),
                           self, G_CONNECT_SWAPPED);
  natter_banner_update (self);
}

/**
 * natter_banner_set_active:
 * @self: a banner
 * @active: whether the banner shows the status
 *
 * A window with a banner in each pane shows one at a time. An inactive banner takes no
 * space either: a hidden revealer would still ask for its text's width.
 */
void
natter_banner_set_active (NatterBanner *self,
                          gboolean      active)
{
  g_return_if_fail (NATTER_IS_BANNER (self));

  self->active = !!active;
  gtk_widget_set_visible (GTK_WIDGET (self), self->active);
  natter_banner_update (self);
}

gboolean
natter_banner_get_revealed (NatterBanner *self)
{
  g_return_val_if_fail (NATTER_IS_BANNER (self), FALSE);
  return gtk_revealer_get_reveal_child (self->revealer);
}

const char *
natter_banner_get_title (NatterBanner *self)
{
  g_return_val_if_fail (NATTER_IS_BANNER (self), NULL);
  return gtk_label_get_label (self->label);
}
