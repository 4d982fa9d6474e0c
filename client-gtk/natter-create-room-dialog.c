/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-create-room-dialog"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-create-room-dialog.h"
#include "natter-room-controls.h"
#include "natter-room-name.h"
#include "natter-window.h"

/* Creates a room, public or private, with a topic: the account is its owner. */
struct _NatterCreateRoomDialog
{
  AdwWindow       parent_instance;

  NatterService  *service;      /* (owned) */
  GCancellable   *cancellable;  /* (owned) */
  char           *creating;     /* (owned) (nullable): the name asked for */

  GtkButton      *create_button;
  AdwEntryRow    *name_row;
  AdwEntryRow    *topic_row;
  GtkSwitch      *private_switch;
  GtkLabel       *error_label;
};

G_DEFINE_FINAL_TYPE (NatterCreateRoomDialog, natter_create_room_dialog, ADW_TYPE_WINDOW)

static char *
entry_text (AdwEntryRow *row)
{
  return g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (row))));
}

static void
show_error (NatterCreateRoomDialog *self,
            const char             *text)
{
  gtk_label_set_label (self->error_label, text != NULL ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), text != NULL);
}

static void
update (NatterCreateRoomDialog *self)
{
  g_autofree char *name = entry_text (self->name_row);

  gtk_widget_set_sensitive (GTK_WIDGET (self->create_button),
                            self->creating == NULL && natter_room_name_is_valid (name));
}

static void
changed_cb (NatterCreateRoomDialog *self)
{
  g_autofree char *name = entry_text (self->name_row);
  g_autofree char *explanation = natter_room_name_explain (name);

  if (explanation != NULL)
    gtk_widget_add_css_class (GTK_WIDGET (self->name_row), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->name_row), "error");
  show_error (self, explanation);
  update (self);
}

static void
created_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(NatterCreateRoomDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_steal_pointer (&self->creating);
  GtkWindow *parent;

  if (!natter_rooms_create_finish (NATTER_SERVICE (source), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      show_error (self, error->message);
      update (self);
      return;
    }
  parent = gtk_window_get_transient_for (GTK_WINDOW (self));
  if (NATTER_IS_WINDOW (parent))
    natter_window_open_room (NATTER_WINDOW (parent), name);
  gtk_window_destroy (GTK_WINDOW (self));
}

static void
create_clicked_cb (NatterCreateRoomDialog *self)
{
  g_autofree char *name = entry_text (self->name_row);
  g_autofree char *topic = entry_text (self->topic_row);

  if (self->creating != NULL || !natter_room_name_is_valid (name))
    return;
  self->creating = g_strdup (name);
  show_error (self, NULL);
  update (self);
  natter_rooms_create_async (self->service, name, gtk_switch_get_active (self->private_switch), topic,
                             self->cancellable, created_cb, g_object_ref (self));
}

static void
natter_create_room_dialog_dispose (GObject *object)
{
  NatterCreateRoomDialog *self = NATTER_CREATE_ROOM_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_CREATE_ROOM_DIALOG);

  G_OBJECT_CLASS (natter_create_room_dialog_parent_class)->dispose (object);
}

static void
natter_create_room_dialog_finalize (GObject *object)
{
  NatterCreateRoomDialog *self = NATTER_CREATE_ROOM_DIALOG (object);

  g_clear_object (&self->service);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->creating, g_free);

  G_OBJECT_CLASS (natter_create_room_dialog_parent_class)->finalize (object);
}

static void
natter_create_room_dialog_class_init (NatterCreateRoomDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_create_room_dialog_dispose;
  object_class->finalize = natter_create_room_dialog_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-create-room-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterCreateRoomDialog, create_button);
  gtk_widget_class_bind_template_child (widget_class, NatterCreateRoomDialog, name_row);
  gtk_widget_class_bind_template_child (widget_class, NatterCreateRoomDialog, topic_row);
  gtk_widget_class_bind_template_child (widget_class, NatterCreateRoomDialog, private_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterCreateRoomDialog, error_label);
  gtk_widget_class_bind_template_callback (widget_class, changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, create_clicked_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
natter_create_room_dialog_init (NatterCreateRoomDialog *self)
{
  self->cancellable = g_cancellable_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * natter_create_room_dialog_new:
 * @parent: the main window, which opens the new room
 * @service: the service
 *
 * Returns: (transfer none): the dialog
 */
GtkWindow *
natter_create_room_dialog_new (GtkWindow     *parent,
                               NatterService *service)
{
  NatterCreateRoomDialog *self = g_object_new (NATTER_TYPE_CREATE_ROOM_DIALOG,
                                               "transient-for", parent,
                                               NULL);

  self->service = g_object_ref (service);
  return GTK_WINDOW (self);
}
