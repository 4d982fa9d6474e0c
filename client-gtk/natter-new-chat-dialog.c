/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-new-chat-dialog"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "natter-new-chat-dialog.h"
#include "natter-window.h"

/* Join (or create) a room, or start a direct conversation with its first message. */
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
};

G_DEFINE_FINAL_TYPE (NatterNewChatDialog, natter_new_chat_dialog, ADW_TYPE_WINDOW)

/* The same rules as natterd's, so that the button only offers what can work. */
static gboolean
valid_name (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > 64)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '_' && *p != '.' && *p != '-')
      return FALSE;
  return TRUE;
}

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
  return valid_name (name);
}

/* A name that would work, made from what was typed: “Team Chat” → “team-chat”. */
static char *
suggest_name (const char *typed)
{
  g_autofree char *lower = g_utf8_strdown (typed, -1);
  GString *name = g_string_new (NULL);

  for (const char *p = lower; *p != '\0' && name->len < 64; p++)
    {
      if (g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '_' || *p == '.' || *p == '-')
        g_string_append_c (name, *p);
      else if (g_ascii_isspace (*p) && name->len > 0 && name->str[name->len - 1] != '-')
        g_string_append_c (name, '-');
    }
  while (name->len > 0 && name->str[name->len - 1] == '-')
    g_string_truncate (name, name->len - 1);
  return g_string_free (name, FALSE);
}

/* A room name that cannot work says why, and what would, rather than only greying
 * out Join. */
static void
explain_name (NatterNewChatDialog *self)
{
  g_autofree char *name = entry_text (self->name_row);
  g_autofree char *suggestion = NULL;
  g_autofree char *text = NULL;

  if (self->direct || *name == '\0' || valid_name (name))
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->name_row), "error");
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
      return;
    }
  suggestion = suggest_name (name);
  if (strlen (name) > 64)
    text = g_strdup (_("A room name has at most 64 characters."));
  else if (*suggestion != '\0')
    /* Translators: %s is a room name made from what the user typed */
    text = g_strdup_printf (_("A room name has only lower-case letters, digits, dots, dashes and underscores, without spaces. Try “%s”."),
                            suggestion);
  else
    text = g_strdup (_("A room name has only lower-case letters, digits, dots, dashes and underscores, without spaces."));
  gtk_widget_add_css_class (GTK_WIDGET (self->name_row), "error");
  gtk_label_set_label (self->error_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), TRUE);
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
  g_autofree char *name = entry_text (self->name_row);

  natter_service_join_room_finish (NATTER_SERVICE (source), result, &error);
  finish (self, name, error);
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
  self->busy = TRUE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->ok_button), FALSE);

  if (self->direct)
    natter_service_send_direct_async (self->service, name, message, self->cancellable,
                                      sent_cb, g_object_ref (self));
  else
    natter_service_join_room_async (self->service, name, self->cancellable,
                                    joined_cb, g_object_ref (self));
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
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_NEW_CHAT_DIALOG);

  G_OBJECT_CLASS (natter_new_chat_dialog_parent_class)->dispose (object);
}

static void
natter_new_chat_dialog_finalize (GObject *object)
{
  NatterNewChatDialog *self = NATTER_NEW_CHAT_DIALOG (object);

  g_clear_object (&self->service);
  g_clear_object (&self->cancellable);

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
    }
  return GTK_WINDOW (self);
}
