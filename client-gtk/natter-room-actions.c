/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-room-actions"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-create-room-dialog.h"
#include "natter-invite-dialog.h"
#include "natter-members-popover.h"
#include "natter-room-controls.h"
#include "natter-window-private.h"

/* The window's actions (“win.”) for running rooms: creating them, inviting, the members
 * and their roles, kicks and bans, the topic, blocking someone from a direct
 * conversation; and what natterd tells about the account's rooms: invitations, and
 * being removed from one. Each asks before it removes anyone and says when it failed. */

static NatterRoom *
current_room (NatterWindow *self)
{
  return natter_conversation_get_room (self->conversation);
}

static gboolean
is_room (NatterRoom *room)
{
  return room != NULL && g_str_equal (natter_room_get_kind (room), "room");
}

/* The same rule as the message menus' (natter_room_get_can_moderate()), in a room
 * people run. */
static gboolean
moderates (NatterWindow *self,
           NatterRoom   *room)
{
  return is_room (room) && natter_room_get_can_moderate (room, natter_service_get_admin (self->service));
}

/* The other party of a direct conversation. */
static const char *
dm_user (NatterRoom *room)
{
  if (room == NULL || !g_str_equal (natter_room_get_kind (room), "dm"))
    return NULL;
  return natter_room_get_display_name (room);
}

/* Results -------------------------------------------------------------------------- */

typedef struct
{
  NatterWindow  *window;   /* (owned) */
  NatterRequest  request;
  char          *user;     /* (owned) (nullable) */
  char          *room;     /* (owned) */
  gboolean       blocking;
} Call;

static void
call_free (Call *call)
{
  g_object_unref (call->window);
  g_free (call->user);
  g_free (call->room);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static Call *
call_new (NatterWindow  *self,
          NatterRequest  request,
          NatterRoom    *room,
          const char    *user)
{
  Call *call = g_new0 (Call, 1);

  call->window = g_object_ref (self);
  call->request = request;
  call->user = g_strdup (user);
  call->room = g_strdup (room != NULL ? natter_room_get_display_name (room) : "");
  return call;
}

/* What failed, then why. */
static char *
failure_text (Call         *call,
              const GError *error)
{
  switch (call->request)
    {
    case NATTER_REQUEST_KICK:
      /* Translators: %s is a user name; then why it failed */
      return g_strdup_printf (_("Cannot remove %s: %s"), call->user, error->message);
    case NATTER_REQUEST_BAN:
      return g_strdup_printf (_("Cannot ban %s: %s"), call->user, error->message);
    case NATTER_REQUEST_UNBAN:
      return g_strdup_printf (_("Cannot unban %s: %s"), call->user, error->message);
    case NATTER_REQUEST_SET_ROLE:
      return g_strdup_printf (_("Cannot change the role of %s: %s"), call->user, error->message);
    case NATTER_REQUEST_SET_TOPIC:
      return g_strdup_printf (_("Cannot change the topic: %s"), error->message);
    case NATTER_REQUEST_BLOCK:
      return g_strdup_printf (_("Cannot block or unblock %s: %s"), call->user, error->message);
    case NATTER_REQUEST_JOIN:
    case NATTER_REQUEST_DIRECT:
    case NATTER_REQUEST_SEND:
    case NATTER_REQUEST_LEAVE:
    case NATTER_REQUEST_SEARCH:
    case NATTER_REQUEST_CONNECT:
    case NATTER_REQUEST_CREATE_ACCOUNT:
    case NATTER_REQUEST_DISCONNECT:
    case NATTER_REQUEST_LISTEN:
    case NATTER_REQUEST_CHANGE_MESSAGE:
    case NATTER_REQUEST_CREATE_ROOM:
    case NATTER_REQUEST_DIRECTORY:
    case NATTER_REQUEST_INVITE:
    default:
      return g_strdup (error->message);
    }
}

static void
show_result (Call         *call,
             const GError *error)
{
  g_autofree char *text = NULL;
  AdwToast *toast;

  if (error != NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      text = failure_text (call, error);
      natter_window_show_toast (call->window, text);
      return;
    }

  switch (call->request)
    {
    case NATTER_REQUEST_KICK:
      /* Translators: the first %s is a user name, the second a room name */
      text = g_strdup_printf (_("%s was removed from %s"), call->user, call->room);
      break;
    case NATTER_REQUEST_BAN:
      text = g_strdup_printf (_("%s was banned from %s"), call->user, call->room);
      toast = adw_toast_new (text);
      adw_toast_set_timeout (toast, 5);
      adw_toast_set_button_label (toast, _("_Undo"));
      adw_toast_set_action_name (toast, "win.unban");
      adw_toast_set_action_target (toast, "(ss)", call->room, call->user);
      adw_toast_overlay_add_toast (call->window->toast_overlay, toast);
      return;
    case NATTER_REQUEST_UNBAN:
      text = g_strdup_printf (_("%s may join %s again"), call->user, call->room);
      break;
    case NATTER_REQUEST_BLOCK:
      return;
    case NATTER_REQUEST_SET_ROLE:
    case NATTER_REQUEST_SET_TOPIC:
    case NATTER_REQUEST_JOIN:
    case NATTER_REQUEST_DIRECT:
    case NATTER_REQUEST_SEND:
    case NATTER_REQUEST_LEAVE:
    case NATTER_REQUEST_SEARCH:
    case NATTER_REQUEST_CONNECT:
    case NATTER_REQUEST_CREATE_ACCOUNT:
    case NATTER_REQUEST_DISCONNECT:
    case NATTER_REQUEST_LISTEN:
    case NATTER_REQUEST_CHANGE_MESSAGE:
    case NATTER_REQUEST_CREATE_ROOM:
    case NATTER_REQUEST_DIRECTORY:
    case NATTER_REQUEST_INVITE:
    default:
      /* The change shows where it happened: in the members, in the header. */
      return;
    }
  natter_window_show_toast (call->window, text);
}

static void
room_control_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(Call) call = user_data;
  g_autoptr(GError) error = NULL;

  natter_room_control_finish (NATTER_ROOM (source), result, &error);
  show_result (call, error);
}

static void
room_control (NatterWindow  *self,
              NatterRoom    *room,
              NatterRequest  request,
              const char    *user,
              const char    *value)
{
  natter_room_control_async (room, request, user, value, NULL, room_control_cb,
                             call_new (self, request, room, user));
}

/* Dialogs that ask ----------------------------------------------------------------- */

typedef void (*Confirmed) (NatterWindow *self,
                           NatterRoom   *room,
                           const char   *user,
                           const char   *text);

/* An AdwMessageDialog that asks before @confirmed, with an entry row titled
 * @entry_title (unless NULL) for a reason, a topic or a user name. */
static void
ask (NatterWindow          *self,
     NatterRoom            *room,
     const char            *user,
     const char            *heading,
     const char            *body,
     const char            *entry_title,
     const char            *entry_text,
     const char            *response_label,
     AdwResponseAppearance  appearance,
     Confirmed              confirmed);

static void
ask_response_cb (AdwMessageDialog *dialog,
                 const char       *response,
                 NatterWindow     *self)
{
  Confirmed confirmed = g_object_get_data (G_OBJECT (dialog), "natter-confirmed");
  NatterRoom *room = g_object_get_data (G_OBJECT (dialog), "natter-room");
  const char *user = g_object_get_data (G_OBJECT (dialog), "natter-user");
  GtkEditable *entry = g_object_get_data (G_OBJECT (dialog), "natter-entry");
  g_autofree char *text = NULL;

  if (!g_str_equal (response, "confirm"))
    return;
  if (entry != NULL)
    text = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  confirmed (self, room, user, text != NULL ? text : "");
}

static void
ask (NatterWindow          *self,
     NatterRoom            *room,
     const char            *user,
     const char            *heading,
     const char            *body,
     const char            *entry_title,
     const char            *entry_text,
     const char            *response_label,
     AdwResponseAppearance  appearance,
     Confirmed              confirmed)
{
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), heading, body));

  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "confirm", response_label, NULL);
  adw_message_dialog_set_response_appearance (dialog, "confirm", appearance);
  adw_message_dialog_set_default_response (dialog, appearance == ADW_RESPONSE_DESTRUCTIVE ? "cancel" : "confirm");
  adw_message_dialog_set_close_response (dialog, "cancel");
  if (entry_title != NULL)
    {
      GtkWidget *list = gtk_list_box_new ();
      GtkWidget *row = adw_entry_row_new ();

      gtk_list_box_set_selection_mode (GTK_LIST_BOX (list), GTK_SELECTION_NONE);
      gtk_widget_add_css_class (list, "boxed-list");
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), entry_title);
      gtk_editable_set_text (GTK_EDITABLE (row), entry_text != NULL ? entry_text : "");
      gtk_list_box_append (GTK_LIST_BOX (list), row);
      adw_message_dialog_set_extra_child (dialog, list);
      g_object_set_data (G_OBJECT (dialog), "natter-entry", row);
    }
  g_object_set_data (G_OBJECT (dialog), "natter-confirmed", confirmed);
  if (room != NULL)
    g_object_set_data_full (G_OBJECT (dialog), "natter-room", g_object_ref (room), g_object_unref);
  g_object_set_data_full (G_OBJECT (dialog), "natter-user", g_strdup (user), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (ask_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Actions -------------------------------------------------------------------------- */

static void
create_room_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  NatterWindow *self = user_data;

  gtk_window_present (natter_create_room_dialog_new (GTK_WINDOW (self), self->service));
}

static void
invite_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  NatterWindow *self = user_data;
  NatterRoom *room = current_room (self);

  if (!is_room (room))
    return;
  gtk_menu_button_popdown (self->members_button);
  gtk_window_present (natter_invite_dialog_new (GTK_WINDOW (self), self->service, room));
}

static void
topic_confirmed (NatterWindow *self,
                 NatterRoom   *room,
                 const char   *user,
                 const char   *text)
{
  room_control (self, room, NATTER_REQUEST_SET_TOPIC, NULL, text);
}

static void
edit_topic_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  NatterWindow *self = user_data;
  NatterRoom *room = current_room (self);
  g_autofree char *body = NULL;

  if (!is_room (room))
    return;
  /* Translators: %s is a room name */
  body = g_strdup_printf (_("Everyone in %s sees the new topic under its name."), natter_room_get_display_name (room));
  ask (self, room, NULL, _("Change the Topic"), body, _("Topic"), natter_room_get_topic (room),
       _("_Save"), ADW_RESPONSE_SUGGESTED, topic_confirmed);
}

static void
unban_confirmed (NatterWindow *self,
                 NatterRoom   *room,
                 const char   *user,
                 const char   *text)
{
  if (*text != '\0')
    room_control (self, room, NATTER_REQUEST_UNBAN, text, NULL);
}

static void
unban_user_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  NatterWindow *self = user_data;
  NatterRoom *room = current_room (self);
  g_autofree char *body = NULL;

  if (!is_room (room))
    return;
  gtk_menu_button_popdown (self->members_button);
  /* Translators: %s is a room name */
  body = g_strdup_printf (_("Someone banned from %s may join it again."), natter_room_get_display_name (room));
  ask (self, room, NULL, _("Unban Someone"), body, _("User name"), NULL,
       _("_Unban"), ADW_RESPONSE_SUGGESTED, unban_confirmed);
}

/* The toast's Undo after a ban: (room, user). */
static void
unban_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  NatterWindow *self = user_data;
  const char *name;
  const char *user;
  NatterRoom *room;

  g_variant_get (parameter, "(&s&s)", &name, &user);
  room = natter_service_lookup_room (self->service, name);
  if (room != NULL)
    room_control (self, room, NATTER_REQUEST_UNBAN, user, NULL);
}

static void
kick_confirmed (NatterWindow *self,
                NatterRoom   *room,
                const char   *user,
                const char   *text)
{
  room_control (self, room, NATTER_REQUEST_KICK, user, text);
}

static void
ban_confirmed (NatterWindow *self,
               NatterRoom   *room,
               const char   *user,
               const char   *text)
{
  room_control (self, room, NATTER_REQUEST_BAN, user, text);
}

static void
remove_member (NatterWindow *self,
               const char   *user,
               gboolean      ban)
{
  NatterRoom *room = current_room (self);
  g_autofree char *heading = NULL;

  if (!is_room (room))
    return;
  gtk_menu_button_popdown (self->members_button);
  if (ban)
    {
      /* Translators: the first %s is a user name, the second a room name */
      heading = g_strdup_printf (_("Ban %s from %s?"), user, natter_room_get_display_name (room));
      ask (self, room, user, heading,
           _("They leave the room, and cannot join, read or write in it until they are unbanned."),
           _("Reason (optional)"), NULL, _("_Ban"), ADW_RESPONSE_DESTRUCTIVE, ban_confirmed);
    }
  else
    {
      /* Translators: the first %s is a user name, the second a room name */
      heading = g_strdup_printf (_("Remove %s from %s?"), user, natter_room_get_display_name (room));
      ask (self, room, user, heading,
           _("They leave the room. They can join it again later, if it lets them."),
           _("Reason (optional)"), NULL, _("_Remove"), ADW_RESPONSE_DESTRUCTIVE, kick_confirmed);
    }
}

static void
kick_member_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  remove_member (user_data, g_variant_get_string (parameter, NULL), FALSE);
}

static void
ban_member_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  remove_member (user_data, g_variant_get_string (parameter, NULL), TRUE);
}

/* (user, role) */
static void
set_member_role_action (GSimpleAction *action,
                        GVariant      *parameter,
                        gpointer       user_data)
{
  NatterWindow *self = user_data;
  NatterRoom *room = current_room (self);
  const char *user;
  const char *role;

  if (!is_room (room))
    return;
  g_variant_get (parameter, "(&s&s)", &user, &role);
  room_control (self, room, NATTER_REQUEST_SET_ROLE, user, role);
}

static void
block_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(Call) call = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (!natter_rooms_block_finish (NATTER_SERVICE (source), result, &error))
    {
      show_result (call, error);
      return;
    }
  if (call->blocking)
    /* Translators: %s is a user name */
    text = g_strdup_printf (_("%s is blocked: their direct messages no longer reach you"), call->user);
  else
    text = g_strdup_printf (_("%s is no longer blocked"), call->user);
  natter_window_show_toast (call->window, text);
}

static void
block (NatterWindow *self,
       const char   *user,
       gboolean      blocking)
{
  Call *call = call_new (self, NATTER_REQUEST_BLOCK, NULL, user);

  call->blocking = blocking;
  natter_rooms_block_async (self->service, user, blocking, NULL, block_cb, call);
}

static void
block_confirmed (NatterWindow *self,
                 NatterRoom   *room,
                 const char   *user,
                 const char   *text)
{
  block (self, user, TRUE);
}

static void
block_user_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  NatterWindow *self = user_data;
  const char *user = dm_user (current_room (self));
  g_autofree char *heading = NULL;

  if (user == NULL)
    return;
  /* Translators: %s is a user name */
  heading = g_strdup_printf (_("Block %s?"), user);
  ask (self, NULL, user, heading,
       _("Their direct messages will no longer reach you. They are not told, and you can unblock them later."),
       NULL, NULL, _("_Block"), ADW_RESPONSE_DESTRUCTIVE, block_confirmed);
}

static void
unblock_user_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  NatterWindow *self = user_data;
  const char *user = dm_user (current_room (self));

  if (user != NULL)
    block (self, user, FALSE);
}

static const GActionEntry actions[] = {
  { "create-room", create_room_action },
  { "invite", invite_action },
  { "edit-topic", edit_topic_action },
  { "unban-user", unban_user_action },
  { "unban", unban_action, "(ss)" },
  { "kick-member", kick_member_action, "s" },
  { "ban-member", ban_member_action, "s" },
  { "set-member-role", set_member_role_action, "(ss)" },
  { "block-user", block_user_action },
  { "unblock-user", unblock_user_action },
};

static void
set_enabled (NatterWindow *self,
             const char   *name,
             gboolean      enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);

  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

/*
 * _natter_window_room_actions_update:
 * @self: a window
 *
 * Enables what the account's role allows in the room on screen, and shows its members.
 */
void
_natter_window_room_actions_update (NatterWindow *self)
{
  NatterRoom *room = current_room (self);
  gboolean moderator = moderates (self, room);
  GtkPopover *popover = gtk_menu_button_get_popover (self->members_button);

  set_enabled (self, "invite", is_room (room));
  set_enabled (self, "edit-topic", moderator);
  set_enabled (self, "unban-user", moderator);
  set_enabled (self, "kick-member", moderator);
  set_enabled (self, "ban-member", moderator);
  set_enabled (self, "set-member-role", moderator);
  set_enabled (self, "block-user", dm_user (room) != NULL);
  set_enabled (self, "unblock-user", dm_user (room) != NULL);

  gtk_widget_set_visible (GTK_WIDGET (self->members_button), is_room (room));
  natter_members_popover_set_room (NATTER_MEMBERS_POPOVER (popover), is_room (room) ? room : NULL,
                                   natter_service_get_account (self->service),
                                   natter_service_get_admin (self->service));
}

/* Pending invitations --------------------------------------------------------------- */

/* The account's pending invitations (natterd's Invitations: also those sent while the
 * app or natterd was not running), each with Join and Decline, above the rooms. */

#define INVITATION_LIST_KEY "natter-invitation-list"
#define INVITATIONS_KEY "natter-invitations"
#define INVITATION_TOASTS_KEY "natter-invitation-toasts"

static gboolean
invitations_contain (GVariant   *invitations,
                     const char *room)
{
  GVariantIter iter;
  const char *name, *by;
  gint64 ts;

  if (invitations == NULL)
    return FALSE;
  g_variant_iter_init (&iter, invitations);
  while (g_variant_iter_next (&iter, "(&s&sx)", &name, &by, &ts))
    if (g_str_equal (name, room))
      return TRUE;
  return FALSE;
}

static void
toast_dismissed_cb (AdwToast     *toast,
                    NatterWindow *self)
{
  GHashTable *toasts = g_object_get_data (G_OBJECT (self), INVITATION_TOASTS_KEY);
  const char *room = g_object_get_data (G_OBJECT (toast), "room");

  if (toasts != NULL && room != NULL && g_hash_table_lookup (toasts, room) == toast)
    g_hash_table_remove (toasts, room);
}

/* A new invitation also shows as a toast, seen where the sidebar is not (a narrow
 * window in a conversation); it goes with the invitation. */
static void
invited_cb (NatterWindow *self,
            const char   *room,
            const char   *by)
{
  GHashTable *toasts = g_object_get_data (G_OBJECT (self), INVITATION_TOASTS_KEY);
  g_autofree char *text = NULL;
  AdwToast *toast;

  /* Translators: the first %s is a user name, the second a room name */
  text = g_strdup_printf (_("%s invited you to %s"), by, room);
  toast = adw_toast_new (text);
  /* An invitation waits until it is taken or dismissed. */
  adw_toast_set_timeout (toast, 0);
  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_set_button_label (toast, _("_Join"));
  adw_toast_set_action_name (toast, "win.open-room");
  adw_toast_set_action_target (toast, "s", room);
  g_object_set_data_full (G_OBJECT (toast), "room", g_strdup (room), g_free);
  g_signal_connect_object (toast, "dismissed", G_CALLBACK (toast_dismissed_cb), self, 0);
  if (toasts != NULL)
    g_hash_table_replace (toasts, g_strdup (room), g_object_ref (toast));
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/* The toasts of the invitations that left @before for @after (joined, declined). */
static void
dismiss_toasts (NatterWindow *self,
                GVariant     *before,
                GVariant     *after)
{
  GHashTable *toasts = g_object_get_data (G_OBJECT (self), INVITATION_TOASTS_KEY);
  g_autoptr(GPtrArray) gone = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer room, toast;

  if (toasts == NULL)
    return;
  g_hash_table_iter_init (&iter, toasts);
  while (g_hash_table_iter_next (&iter, &room, &toast))
    if (invitations_contain (before, room) && !invitations_contain (after, room))
      g_ptr_array_add (gone, g_object_ref (toast));
  for (guint i = 0; i < gone->len; i++)
    {
      adw_toast_dismiss (gone->pdata[i]);
      g_object_unref (gone->pdata[i]);
    }
}

static void
decline_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(NatterWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  /* Done: the invitation leaves Invitations, and so the list. */
  if (!natter_rooms_decline_invitation_finish (NATTER_SERVICE (source), result, &error))
    natter_window_show_toast (self, error->message);
}

static void
decline_clicked_cb (GtkButton    *button,
                    NatterWindow *self)
{
  natter_rooms_decline_invitation_async (self->service, g_object_get_data (G_OBJECT (button), "room"),
                                         NULL, decline_cb, g_object_ref (self));
}

static GtkWidget *
create_invitation_row (NatterWindow *self,
                       const char   *room,
                       const char   *by)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *join = gtk_button_new_with_mnemonic (_("_Join"));
  GtkWidget *decline = gtk_button_new_with_mnemonic (_("_Decline"));
  g_autofree char *title = NULL;

  /* Translators: the first %s is a user name, the second a room name */
  title = g_strdup_printf (_("%s invited you to %s"), by, room);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);

  gtk_widget_set_valign (decline, GTK_ALIGN_CENTER);
  g_object_set_data_full (G_OBJECT (decline), "room", g_strdup (room), g_free);
  g_signal_connect_object (decline, "clicked", G_CALLBACK (decline_clicked_cb), self, 0);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), decline);

  /* Joining takes the invitation (open-room joins a room the account is not in). */
  gtk_widget_set_valign (join, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (join, "suggested-action");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (join), "win.open-room");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (join), "s", room);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), join);
  return row;
}

static void
update_invitations (NatterWindow *self)
{
  GtkListBox *list = g_object_get_data (G_OBJECT (self), INVITATION_LIST_KEY);
  GVariant *invitations = natter_rooms_get_invitations (self->service);
  GVariant *shown = g_object_get_data (G_OBJECT (self), INVITATIONS_KEY);
  GtkWidget *child;
  GVariantIter iter;
  const char *room, *by;
  gint64 ts;

  if (list == NULL)
    return;
  if (invitations != NULL && !g_variant_is_of_type (invitations, G_VARIANT_TYPE ("a(ssx)")))
    invitations = NULL;
  /* The service tells of any change of natterd's: rebuild only for a new list. */
  if (shown == invitations || (shown != NULL && invitations != NULL && g_variant_equal (shown, invitations)))
    return;
  dismiss_toasts (self, shown, invitations);
  g_object_set_data_full (G_OBJECT (self), INVITATIONS_KEY,
                          invitations != NULL ? g_variant_ref (invitations) : NULL,
                          (GDestroyNotify) g_variant_unref);

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (list))) != NULL)
    gtk_list_box_remove (list, child);
  if (invitations != NULL)
    {
      g_variant_iter_init (&iter, invitations);
      while (g_variant_iter_next (&iter, "(&s&sx)", &room, &by, &ts))
        gtk_list_box_append (list, create_invitation_row (self, room, by));
    }
  gtk_widget_set_visible (GTK_WIDGET (list), gtk_widget_get_first_child (GTK_WIDGET (list)) != NULL);
}

static void
add_invitation_list (NatterWindow *self)
{
  GtkWidget *list = gtk_list_box_new ();

  gtk_list_box_set_selection_mode (GTK_LIST_BOX (list), GTK_SELECTION_NONE);
  gtk_widget_add_css_class (list, "boxed-list");
  gtk_widget_set_margin_start (list, 6);
  gtk_widget_set_margin_end (list, 6);
  gtk_widget_set_margin_top (list, 6);
  gtk_widget_set_margin_bottom (list, 6);
  gtk_widget_set_visible (list, FALSE);
  gtk_box_insert_child_after (GTK_BOX (self->sidebar), list, GTK_WIDGET (self->sidebar_banner));
  g_object_set_data (G_OBJECT (self), INVITATION_LIST_KEY, list);
  update_invitations (self);
}

static void
removed_from_room_cb (NatterWindow *self,
                      NatterRoom   *room,
                      const char   *by)
{
  g_autofree char *text = NULL;

  /* Translators: the first %s is a user name, the second a room name */
  text = g_strdup_printf (_("%s removed you from %s"), by, natter_room_get_display_name (room));
  natter_window_show_toast (self, text);
}

void
_natter_window_room_actions_init (NatterWindow *self)
{
  g_action_map_add_action_entries (G_ACTION_MAP (self), actions, G_N_ELEMENTS (actions), self);
  gtk_menu_button_set_popover (self->members_button, natter_members_popover_new ());
}

/*
 * _natter_window_room_actions_set_service:
 * @self: a window
 *
 * Follows the service's news about the account's rooms, once the window has it.
 */
void
_natter_window_room_actions_set_service (NatterWindow *self)
{
  /* An invitation, new or older than the app, shows in the sidebar's list. */
  g_object_set_data_full (G_OBJECT (self), INVITATION_TOASTS_KEY,
                          g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref),
                          (GDestroyNotify) g_hash_table_unref);
  add_invitation_list (self);
  g_signal_connect_object (self->service, "invited", G_CALLBACK (invited_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->service, "notify", G_CALLBACK (update_invitations), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->service, "removed-from-room", G_CALLBACK (removed_from_room_cb), self,
                           G_CONNECT_SWAPPED);
  /* As the message menus do: the account's rights on the server changed. */
  g_signal_connect_object (self->service, "notify::admin", G_CALLBACK (_natter_window_room_actions_update), self,
                           G_CONNECT_SWAPPED);
}
