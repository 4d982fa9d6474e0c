/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-invite-dialog"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-invite-dialog.h"
#include "natter-room-controls.h"
#include "natter-window.h"

/* Invites someone to a room. The people the account shares rooms with are offered as
 * the name is typed, so that nobody has to know a user name by heart. */

/* How many people are offered at once. */
#define MAX_SUGGESTIONS 8

struct _NatterInviteDialog
{
  AdwWindow            parent_instance;

  NatterService       *service;      /* (owned) */
  NatterRoom          *room;         /* (owned) */
  GCancellable        *cancellable;  /* (owned) */
  GStrv                people;       /* (owned): whom to offer */
  char                *inviting;     /* (owned) (nullable): the user being invited */

  GtkButton           *invite_button;
  AdwPreferencesGroup *group;
  AdwEntryRow         *user_row;
  GtkLabel            *error_label;
  AdwPreferencesGroup *people_group;
  GtkListBox          *people_list;
};

G_DEFINE_FINAL_TYPE (NatterInviteDialog, natter_invite_dialog, ADW_TYPE_WINDOW)

static char *
entry_text (NatterInviteDialog *self)
{
  return g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->user_row))));
}

static void
show_error (NatterInviteDialog *self,
            const char         *text)
{
  gtk_label_set_label (self->error_label, text != NULL ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), text != NULL);
}

static void
update_suggestions (NatterInviteDialog *self)
{
  g_autofree char *typed = entry_text (self);
  GtkWidget *child;
  guint n = 0;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->people_list))) != NULL)
    gtk_list_box_remove (self->people_list, child);
  for (guint i = 0; self->people[i] != NULL && n < MAX_SUGGESTIONS; i++)
    {
      GtkWidget *row;

      /* The name typed in full needs no offer. */
      if (!g_str_has_prefix (self->people[i], typed) || g_str_equal (self->people[i], typed))
        continue;
      row = adw_action_row_new ();
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), self->people[i]);
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), adw_avatar_new (24, self->people[i], TRUE));
      gtk_list_box_append (self->people_list, row);
      n++;
    }
  gtk_widget_set_visible (GTK_WIDGET (self->people_group), n > 0);
}

static void
changed_cb (NatterInviteDialog *self)
{
  g_autofree char *typed = entry_text (self);

  show_error (self, NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->invite_button), self->inviting == NULL && *typed != '\0');
  update_suggestions (self);
}

static void
person_activated_cb (NatterInviteDialog *self,
                     GtkListBoxRow      *row)
{
  gtk_editable_set_text (GTK_EDITABLE (self->user_row),
                         adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)));
  gtk_widget_grab_focus (GTK_WIDGET (self->user_row));
}

static void
invited_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(NatterInviteDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user = g_steal_pointer (&self->inviting);
  g_autofree char *text = NULL;
  GtkWindow *parent;

  if (!natter_room_control_finish (NATTER_ROOM (source), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      gtk_widget_set_sensitive (GTK_WIDGET (self->invite_button), TRUE);
      show_error (self, error->message);
      return;
    }
  parent = gtk_window_get_transient_for (GTK_WINDOW (self));
  /* Translators: the first %s is a user name, the second a room name */
  text = g_strdup_printf (_("%s was invited to %s"), user, natter_room_get_display_name (self->room));
  if (NATTER_IS_WINDOW (parent))
    natter_window_show_toast (NATTER_WINDOW (parent), text);
  gtk_window_destroy (GTK_WINDOW (self));
}

static void
invite_clicked_cb (NatterInviteDialog *self)
{
  g_autofree char *user = entry_text (self);

  if (self->inviting != NULL || *user == '\0')
    return;
  self->inviting = g_strdup (user);
  gtk_widget_set_sensitive (GTK_WIDGET (self->invite_button), FALSE);
  show_error (self, NULL);
  natter_room_control_async (self->room, NATTER_REQUEST_INVITE, user, NULL, self->cancellable,
                             invited_cb, g_object_ref (self));
}

static void
natter_invite_dialog_dispose (GObject *object)
{
  NatterInviteDialog *self = NATTER_INVITE_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_INVITE_DIALOG);

  G_OBJECT_CLASS (natter_invite_dialog_parent_class)->dispose (object);
}

static void
natter_invite_dialog_finalize (GObject *object)
{
  NatterInviteDialog *self = NATTER_INVITE_DIALOG (object);

  g_clear_object (&self->service);
  g_clear_object (&self->room);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->people, g_strfreev);
  g_clear_pointer (&self->inviting, g_free);

  G_OBJECT_CLASS (natter_invite_dialog_parent_class)->finalize (object);
}

static void
natter_invite_dialog_class_init (NatterInviteDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_invite_dialog_dispose;
  object_class->finalize = natter_invite_dialog_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-invite-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterInviteDialog, invite_button);
  gtk_widget_class_bind_template_child (widget_class, NatterInviteDialog, group);
  gtk_widget_class_bind_template_child (widget_class, NatterInviteDialog, user_row);
  gtk_widget_class_bind_template_child (widget_class, NatterInviteDialog, error_label);
  gtk_widget_class_bind_template_child (widget_class, NatterInviteDialog, people_group);
  gtk_widget_class_bind_template_child (widget_class, NatterInviteDialog, people_list);
  gtk_widget_class_bind_template_callback (widget_class, changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, invite_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, person_activated_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
natter_invite_dialog_init (NatterInviteDialog *self)
{
  self->cancellable = g_cancellable_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * natter_invite_dialog_new:
 * @parent: the main window
 * @service: the service
 * @room: the room to invite to
 *
 * Returns: (transfer none): the dialog
 */
GtkWindow *
natter_invite_dialog_new (GtkWindow     *parent,
                          NatterService *service,
                          NatterRoom    *room)
{
  NatterInviteDialog *self = g_object_new (NATTER_TYPE_INVITE_DIALOG,
                                           "transient-for", parent,
                                           NULL);
  g_auto(GStrv) known = natter_rooms_dup_known_people (service);
  g_autoptr(GStrvBuilder) people = g_strv_builder_new ();
  const char * const *members = natter_room_get_members (room);
  g_autofree char *description = NULL;

  self->service = g_object_ref (service);
  self->room = g_object_ref (room);
  /* Members are there already. */
  for (guint i = 0; known[i] != NULL; i++)
    if (members == NULL || !g_strv_contains (members, known[i]))
      g_strv_builder_add (people, known[i]);
  self->people = g_strv_builder_end (people);

  /* Translators: %s is a room name */
  description = g_strdup_printf (_("They get an invitation to %s, and can then join it even if it is private."),
                                 natter_room_get_display_name (room));
  adw_preferences_group_set_title (self->group, natter_room_get_display_name (room));
  adw_preferences_group_set_description (self->group, description);
  update_suggestions (self);
  return GTK_WINDOW (self);
}
