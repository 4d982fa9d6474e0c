/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-new-chat-dialog"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-new-chat-dialog.h"
#include "natter-room-controls.h"
#include "natter-room-name.h"
#include "natter-window.h"

/* Join (or create) a room, typed or found in the server's directory of public rooms,
 * or start a direct conversation with its first message. */

/* How long typing pauses before the directory is asked again. */
#define DIRECTORY_DELAY_MS 300

struct _NatterNewChatDialog
{
  AdwWindow            parent_instance;

  NatterService       *service;      /* (owned) */
  GCancellable        *cancellable;  /* (owned) */
  gboolean             direct;
  gboolean             busy;

  GtkButton           *ok_button;
  AdwPreferencesGroup *group;
  AdwEntryRow         *name_row;
  AdwEntryRow         *message_row;
  GtkLabel            *error_label;
  AdwPreferencesGroup *directory_group;
  GtkListBox          *directory_list;
  GtkLabel            *directory_status;

  GCancellable        *directory_cancellable;  /* (owned) (nullable) */
  guint                directory_source;
  char                *joining;                /* (owned) (nullable): the room being joined */
};

G_DEFINE_FINAL_TYPE (NatterNewChatDialog, natter_new_chat_dialog, ADW_TYPE_WINDOW)

static char *
entry_text (AdwEntryRow *row)
{
  return g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (row))));
}

static gboolean
is_valid (NatterNewChatDialog *self)
{
  g_autofree char *name = entry_text (self->name_row);
  g_autofree char *message = entry_text (self->message_row);

  if (self->direct)
    return *name != '\0' && *message != '\0';
  return natter_room_name_is_valid (name);
}

/* A room name that cannot work says why, and what would, rather than only greying
 * out Join. */
static void
explain_name (NatterNewChatDialog *self)
{
  g_autofree char *name = entry_text (self->name_row);
  g_autofree char *text = self->direct ? NULL : natter_room_name_explain (name);

  if (text == NULL)
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->name_row), "error");
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
      return;
    }
  gtk_widget_add_css_class (GTK_WIDGET (self->name_row), "error");
  gtk_label_set_label (self->error_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), TRUE);
}

/* The room directory -------------------------------------------------------------- */

static void join_room (NatterNewChatDialog *self, const char *name);

static void
set_directory_status (NatterNewChatDialog *self,
                      const char          *text)
{
  gtk_label_set_label (self->directory_status, text != NULL ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->directory_status), text != NULL);
}

static GtkWidget *
create_directory_row (const char *name,
                      const char *topic,
                      guint       n_members)
{
  GtkWidget *row = adw_action_row_new ();
  g_autofree char *count = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u member", "%u members", n_members),
                                            n_members);
  GtkWidget *count_label = gtk_label_new (count);

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), topic);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 2);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  gtk_widget_add_css_class (count_label, "dim-label");
  gtk_widget_add_css_class (count_label, "caption");
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), count_label);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), gtk_image_new_from_icon_name ("go-next-symbolic"));
  g_object_set_data_full (G_OBJECT (row), "natter-room", g_strdup (name), g_free);
  return row;
}

static void
directory_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(NatterNewChatDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) rooms = natter_rooms_directory_finish (NATTER_SERVICE (source), result, &error);
  g_autofree char *query = NULL;
  GtkWidget *child;
  GVariantIter iter;
  const char *name;
  const char *topic;
  guint32 n_members;

  if (rooms == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        set_directory_status (self, error->message);
      return;
    }

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->directory_list))) != NULL)
    gtk_list_box_remove (self->directory_list, child);
  g_variant_iter_init (&iter, rooms);
  while (g_variant_iter_next (&iter, "(&s&su)", &name, &topic, &n_members))
    gtk_list_box_append (self->directory_list, create_directory_row (name, topic, n_members));
  gtk_widget_set_visible (GTK_WIDGET (self->directory_list), g_variant_n_children (rooms) > 0);

  query = entry_text (self->name_row);
  if (g_variant_n_children (rooms) > 0)
    set_directory_status (self, NULL);
  else if (*query == '\0')
    set_directory_status (self, _("This server has no public rooms yet"));
  else
    set_directory_status (self, _("No public room matches"));
}

static gboolean
refresh_directory_cb (gpointer user_data)
{
  NatterNewChatDialog *self = user_data;
  g_autofree char *query = entry_text (self->name_row);

  self->directory_source = 0;
  g_cancellable_cancel (self->directory_cancellable);
  g_clear_object (&self->directory_cancellable);
  self->directory_cancellable = g_cancellable_new ();
  natter_rooms_directory_async (self->service, query, self->directory_cancellable,
                                directory_cb, g_object_ref (self));
  return G_SOURCE_REMOVE;
}

/* The directory follows what is typed, once typing pauses: it is rate-limited. */
static void
queue_directory (NatterNewChatDialog *self)
{
  if (self->direct)
    return;
  g_clear_handle_id (&self->directory_source, g_source_remove);
  self->directory_source = g_timeout_add (DIRECTORY_DELAY_MS, refresh_directory_cb, self);
}

static void
directory_row_activated_cb (NatterNewChatDialog *self,
                            GtkListBoxRow       *row)
{
  const char *name = g_object_get_data (G_OBJECT (row), "natter-room");

  if (name != NULL && !self->busy)
    join_room (self, name);
}

static void
update_button (NatterNewChatDialog *self)
{
  gtk_widget_set_sensitive (GTK_WIDGET (self->ok_button), !self->busy && is_valid (self));
}

static void
changed_cb (NatterNewChatDialog *self)
{
  update_button (self);
  explain_name (self);
  queue_directory (self);
}

static void
finish (NatterNewChatDialog *self,
        const char          *room,
        GError              *error)
{
  GtkWindow *parent = gtk_window_get_transient_for (GTK_WINDOW (self));

  self->busy = FALSE;
  if (error != NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      gtk_label_set_label (self->error_label, error->message);
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), TRUE);
      update_button (self);
      return;
    }
  if (NATTER_IS_WINDOW (parent))
    natter_window_open_room (NATTER_WINDOW (parent), room);
  gtk_window_destroy (GTK_WINDOW (self));
}

static void
joined_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(NatterNewChatDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_steal_pointer (&self->joining);

  natter_service_join_room_finish (NATTER_SERVICE (source), result, &error);
  finish (self, name, error);
}

static void
join_room (NatterNewChatDialog *self,
           const char          *name)
{
  self->busy = TRUE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->ok_button), FALSE);
  g_free (self->joining);
  self->joining = g_strdup (name);
  natter_service_join_room_async (self->service, name, self->cancellable,
                                  joined_cb, g_object_ref (self));
}

static void
sent_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(NatterNewChatDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *room = NULL;

  room = natter_service_send_direct_finish (NATTER_SERVICE (source), result, &error);
  finish (self, room, error);
}

static void
ok_clicked_cb (NatterNewChatDialog *self)
{
  g_autofree char *name = entry_text (self->name_row);
  g_autofree char *message = entry_text (self->message_row);

  if (self->busy || !is_valid (self))
    return;

  if (!self->direct)
    {
      join_room (self, name);
      return;
    }
  self->busy = TRUE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->ok_button), FALSE);
  natter_service_send_direct_async (self->service, name, message, self->cancellable,
                                    sent_cb, g_object_ref (self));
}

static void
activated_cb (NatterNewChatDialog *self)
{
  g_autofree char *message = entry_text (self->message_row);

  /* Enter in the user name moves on to the message while there is none. */
  if (self->direct && *message == '\0')
    {
      gtk_widget_grab_focus (GTK_WIDGET (self->message_row));
      return;
    }
  ok_clicked_cb (self);
}

static void
natter_new_chat_dialog_dispose (GObject *object)
{
  NatterNewChatDialog *self = NATTER_NEW_CHAT_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  g_cancellable_cancel (self->directory_cancellable);
  g_clear_handle_id (&self->directory_source, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_NEW_CHAT_DIALOG);

  G_OBJECT_CLASS (natter_new_chat_dialog_parent_class)->dispose (object);
}

static void
natter_new_chat_dialog_finalize (GObject *object)
{
  NatterNewChatDialog *self = NATTER_NEW_CHAT_DIALOG (object);

  g_clear_object (&self->service);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->directory_cancellable);
  g_clear_pointer (&self->joining, g_free);

  G_OBJECT_CLASS (natter_new_chat_dialog_parent_class)->finalize (object);
}

static void
natter_new_chat_dialog_class_init (NatterNewChatDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_new_chat_dialog_dispose;
  object_class->finalize = natter_new_chat_dialog_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-new-chat-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterNewChatDialog, ok_button);
  gtk_widget_class_bind_template_child (widget_class, NatterNewChatDialog, group);
  gtk_widget_class_bind_template_child (widget_class, NatterNewChatDialog, name_row);
  gtk_widget_class_bind_template_child (widget_class, NatterNewChatDialog, message_row);
  gtk_widget_class_bind_template_child (widget_class, NatterNewChatDialog, error_label);
  gtk_widget_class_bind_template_child (widget_class, NatterNewChatDialog, directory_group);
  gtk_widget_class_bind_template_child (widget_class, NatterNewChatDialog, directory_list);
  gtk_widget_class_bind_template_child (widget_class, NatterNewChatDialog, directory_status);
  gtk_widget_class_bind_template_callback (widget_class, directory_row_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, ok_clicked_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
natter_new_chat_dialog_init (NatterNewChatDialog *self)
{
  self->cancellable = g_cancellable_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * natter_new_chat_dialog_new:
 * @parent: the main window, which opens the conversation
 * @service: the service
 * @direct: %TRUE to start a direct conversation, %FALSE to join a room
 *
 * Returns: (transfer none): the dialog
 */
GtkWindow *
natter_new_chat_dialog_new (GtkWindow     *parent,
                            NatterService *service,
                            gboolean       direct)
{
  NatterNewChatDialog *self = g_object_new (NATTER_TYPE_NEW_CHAT_DIALOG,
                                            "transient-for", parent,
                                            NULL);

  self->service = g_object_ref (service);
  self->direct = direct;
  gtk_widget_set_visible (GTK_WIDGET (self->message_row), direct);
  gtk_widget_set_visible (GTK_WIDGET (self->directory_group), !direct);
  if (direct)
    {
      gtk_window_set_title (GTK_WINDOW (self), _("New Direct Message"));
      adw_preferences_group_set_title (self->group, _("Start a Conversation"));
      adw_preferences_group_set_description (self->group, _("Send a message to another user of this server"));
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->name_row), _("User name"));
      gtk_button_set_label (self->ok_button, _("_Send"));
    }
  else
    {
      gtk_window_set_title (GTK_WINDOW (self), _("Join a Room"));
      adw_preferences_group_set_title (self->group, _("Join or Create a Room"));
      adw_preferences_group_set_description (self->group,
                                             _("Lower-case letters, digits, dots, dashes and underscores. A room that does not exist yet is created."));
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->name_row), _("Room name"));
      gtk_button_set_label (self->ok_button, _("_Join"));
      gtk_window_set_default_size (GTK_WINDOW (self), 420, 560);
      set_directory_status (self, _("Looking for public rooms…"));
      refresh_directory_cb (self);
    }
  return GTK_WINDOW (self);
}
