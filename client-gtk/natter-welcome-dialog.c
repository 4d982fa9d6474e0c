/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-welcome-dialog"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-tooltips.h"
#include "natter-welcome-dialog.h"

/* First run, and “Connect to a Server…”: host the chat on this computer (natterd's
 * default) or hand a remote server's account to natterd (upstream mode). */
struct _NatterWelcomeDialog
{
  AdwWindow            parent_instance;

  NatterService       *service;       /* (owned) */
  GCancellable        *cancellable;   /* (owned) */
  gboolean             connect_only;
  gboolean             busy;

  GtkButton           *back_button;
  GtkButton           *connect_button;
  GtkSpinner          *spinner;
  GtkStack            *stack;
  AdwActionRow        *host_row;
  AdwActionRow        *server_row;
  AdwEntryRow         *url_row;
  AdwEntryRow         *user_row;
  AdwPasswordEntryRow *password_row;
  GtkSwitch           *remember_switch;
  GtkSwitch           *create_switch;
  GtkLabel            *error_label;
};

G_DEFINE_FINAL_TYPE (NatterWelcomeDialog, natter_welcome_dialog, ADW_TYPE_WINDOW)

static const char *
text_of (gpointer editable)
{
  return gtk_editable_get_text (GTK_EDITABLE (editable));
}

static gboolean
is_valid (NatterWelcomeDialog *self)
{
  const char *url = text_of (self->url_row);

  return (g_str_has_prefix (url, "wss://") || g_str_has_prefix (url, "ws://")) &&
         strlen (url) > strlen ("wss://") &&
         *text_of (self->user_row) != '\0' &&
         *text_of (self->password_row) != '\0';
}

static void
update (NatterWelcomeDialog *self)
{
  gboolean connect_page = g_strcmp0 (gtk_stack_get_visible_child_name (self->stack), "connect") == 0;

  gtk_widget_set_visible (GTK_WIDGET (self->back_button), connect_page && !self->connect_only);
  gtk_widget_set_visible (GTK_WIDGET (self->connect_button), connect_page);
  gtk_widget_set_sensitive (GTK_WIDGET (self->connect_button), !self->busy && is_valid (self));
  gtk_button_set_label (self->connect_button, gtk_switch_get_active (self->create_switch)
                                              ? _("C_reate Account") : _("C_onnect"));
  gtk_spinner_set_spinning (self->spinner, self->busy);
  gtk_widget_set_visible (GTK_WIDGET (self->spinner), self->busy);
}

static void
show_error (NatterWelcomeDialog *self,
            const char          *message)
{
  gtk_label_set_label (self->error_label, message);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void
changed_cb (NatterWelcomeDialog *self)
{
  show_error (self, NULL);
  update (self);
}

static void
back_clicked_cb (NatterWelcomeDialog *self)
{
  gtk_stack_set_visible_child_name (self->stack, "choose");
  gtk_window_set_title (GTK_WINDOW (self), _("Welcome to Natter"));
  update (self);
}

static void
show_connect_page (NatterWelcomeDialog *self)
{
  gtk_stack_set_visible_child_name (self->stack, "connect");
  gtk_window_set_title (GTK_WINDOW (self), _("Connect to a Server"));
  gtk_widget_grab_focus (GTK_WIDGET (self->url_row));
  update (self);
}

static void
done (NatterWelcomeDialog *self,
      GError              *error)
{
  self->busy = FALSE;
  if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error != NULL)
    {
      show_error (self, error->message);
      update (self);
      return;
    }
  gtk_window_destroy (GTK_WINDOW (self));
}

static void
mode_set_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(NatterWelcomeDialog) self = user_data;
  g_autoptr(GError) error = NULL;

  natter_service_set_mode_finish (NATTER_SERVICE (source), result, &error);
  done (self, error);
}

static void
choice_activated_cb (NatterWelcomeDialog *self,
                     GtkListBoxRow       *row)
{
  if (row == GTK_LIST_BOX_ROW (self->server_row))
    {
      show_connect_page (self);
      return;
    }

  /* natterd switches to hosting (finding its history as it was) and remembers it, so
   * the next start does not ask again. */
  self->busy = TRUE;
  update (self);
  natter_service_set_mode_async (self->service, "host", self->cancellable, mode_set_cb,
                                 g_object_ref (self));
}

static void
connected_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(NatterWelcomeDialog) self = user_data;
  g_autoptr(GError) error = NULL;

  natter_service_connect_finish (NATTER_SERVICE (source), result, &error);
  done (self, error);
}

static void
connect_clicked_cb (NatterWelcomeDialog *self)
{
  if (self->busy || !is_valid (self))
    return;
  self->busy = TRUE;
  show_error (self, NULL);
  update (self);
  if (gtk_switch_get_active (self->create_switch))
    natter_service_create_account_async (self->service, text_of (self->url_row),
                                         text_of (self->user_row), text_of (self->password_row),
                                         gtk_switch_get_active (self->remember_switch),
                                         self->cancellable, connected_cb, g_object_ref (self));
  else
    natter_service_connect_async (self->service, text_of (self->url_row), text_of (self->user_row),
                                  text_of (self->password_row),
                                  gtk_switch_get_active (self->remember_switch),
                                  self->cancellable, connected_cb, g_object_ref (self));
}

static void
natter_welcome_dialog_dispose (GObject *object)
{
  NatterWelcomeDialog *self = NATTER_WELCOME_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_WELCOME_DIALOG);

  G_OBJECT_CLASS (natter_welcome_dialog_parent_class)->dispose (object);
}

static void
natter_welcome_dialog_finalize (GObject *object)
{
  NatterWelcomeDialog *self = NATTER_WELCOME_DIALOG (object);

  g_clear_object (&self->service);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (natter_welcome_dialog_parent_class)->finalize (object);
}

static void
natter_welcome_dialog_class_init (NatterWelcomeDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_welcome_dialog_dispose;
  object_class->finalize = natter_welcome_dialog_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-welcome-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, back_button);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, connect_button);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, spinner);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, stack);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, host_row);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, server_row);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, url_row);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, user_row);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, password_row);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, remember_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, create_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterWelcomeDialog, error_label);
  gtk_widget_class_bind_template_callback (widget_class, back_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, choice_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, connect_clicked_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
natter_welcome_dialog_init (NatterWelcomeDialog *self)
{
  self->cancellable = g_cancellable_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
  natter_tooltips_attach_all (GTK_WIDGET (self));
}

/**
 * natter_welcome_dialog_new:
 * @parent: the main window
 * @service: the service
 * @connect_only: %TRUE to go straight to the server's address and account
 *
 * Returns: (transfer none): the dialog
 */
GtkWindow *
natter_welcome_dialog_new (GtkWindow     *parent,
                           NatterService *service,
                           gboolean       connect_only)
{
  NatterWelcomeDialog *self = g_object_new (NATTER_TYPE_WELCOME_DIALOG,
                                            "transient-for", parent,
                                            NULL);

  self->service = g_object_ref (service);
  self->connect_only = connect_only;
  if (connect_only)
    show_connect_page (self);
  update (self);
  return GTK_WINDOW (self);
}
