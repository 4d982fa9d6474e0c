/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-members-popover"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "natter-members-popover.h"
#include "natter-room-controls.h"
#include "natter-tooltips.h"

/* The members of the room on screen with their roles, from the conversation's header.
 * A member the account may act on opens a page of what it may do: owners change roles,
 * moderators and owners remove and ban. The buttons are the window's actions
 * (natter-room-actions.c), which ask before removing anyone. */
struct _NatterMembersPopover
{
  GtkPopover   parent_instance;

  NatterRoom  *room;      /* (owned) (nullable) */
  char        *account;   /* (owned) (nullable) */
  char        *selected;  /* (owned) (nullable): the member whose page is open */
  gboolean     admin;

  GtkStack    *stack;
  GtkLabel    *list_title;
  GtkListBox  *member_list;
  GtkWidget   *unban_button;
  GtkLabel    *member_title;
  GtkLabel    *member_role;
  GtkWidget   *owner_button;
  GtkWidget   *moderator_button;
  GtkWidget   *member_button;
  GtkWidget   *kick_button;
  GtkWidget   *ban_button;
};

G_DEFINE_FINAL_TYPE (NatterMembersPopover, natter_members_popover, GTK_TYPE_POPOVER)

static const char *
my_role (NatterMembersPopover *self)
{
  /* Server administrators may do what owners do. */
  if (self->admin)
    return "owner";
  return natter_room_get_role (self->room);
}

static gboolean
can_set_roles (NatterMembersPopover *self,
               const char           *user)
{
  return g_strcmp0 (user, self->account) != 0 && g_str_equal (my_role (self), "owner");
}

static gboolean
can_remove (NatterMembersPopover *self,
            const char           *user)
{
  const char *mine = my_role (self);

  if (g_strcmp0 (user, self->account) == 0)
    return FALSE;
  if (g_str_equal (mine, "owner"))
    return TRUE;
  return g_str_equal (mine, "moderator") &&
         !g_str_equal (natter_room_get_member_role (self->room, user), "owner");
}

static GtkWidget *
create_member_row (NatterMembersPopover *self,
                   const char           *user,
                   gboolean              online)
{
  GtkWidget *row = adw_action_row_new ();
  const char *role = natter_room_get_member_role (self->room, user);
  g_autofree char *subtitle = NULL;

  if (g_strcmp0 (user, self->account) == 0)
    /* Translators: the account's own line in a room's members: “Owner (you)” */
    subtitle = g_strdup_printf (_("%s (you)"), natter_rooms_role_label (role));
  else if (online)
    /* Translators: a member's role, and that they are online: “Moderator · online” */
    subtitle = g_strdup_printf (_("%s · online"), natter_rooms_role_label (role));
  else
    subtitle = g_strdup (natter_rooms_role_label (role));

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), user);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), adw_avatar_new (32, user, TRUE));
  if (can_set_roles (self, user) || can_remove (self, user))
    {
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), gtk_image_new_from_icon_name ("go-next-symbolic"));
    }
  else
    {
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);
    }
  return row;
}

static void
set_role_button (GtkWidget  *button,
                 const char *user,
                 const char *role,
                 gboolean    shown)
{
  gtk_widget_set_visible (button, shown);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "(ss)", user, role);
}

static void
show_member (NatterMembersPopover *self)
{
  const char *user = self->selected;
  const char *role;
  gboolean roles;
  gboolean remove;

  if (user == NULL || self->room == NULL || *natter_room_get_member_role (self->room, user) == '\0')
    {
      /* Gone from the room meanwhile. */
      g_clear_pointer (&self->selected, g_free);
      gtk_stack_set_visible_child_name (self->stack, "list");
      return;
    }
  role = natter_room_get_member_role (self->room, user);
  roles = can_set_roles (self, user);
  remove = can_remove (self, user);
  gtk_label_set_label (self->member_title, user);
  gtk_label_set_label (self->member_role, natter_rooms_role_label (role));
  set_role_button (self->owner_button, user, "owner", roles && !g_str_equal (role, "owner"));
  set_role_button (self->moderator_button, user, "moderator", roles && !g_str_equal (role, "moderator"));
  set_role_button (self->member_button, user, "member", roles && !g_str_equal (role, "member"));
  gtk_widget_set_visible (self->kick_button, remove);
  gtk_widget_set_visible (self->ban_button, remove);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (self->kick_button), "s", user);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (self->ban_button), "s", user);
  gtk_stack_set_visible_child_name (self->stack, "member");
}

static void
update (NatterMembersPopover *self)
{
  const char * const *members;
  const char * const *online;
  GtkWidget *child;
  guint n;
  g_autofree char *title = NULL;
  const char *mine;

  /* Built when shown: the room changes often (presence, typing, unread counts). */
  if (!gtk_widget_get_visible (GTK_WIDGET (self)))
    return;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->member_list))) != NULL)
    gtk_list_box_remove (self->member_list, child);
  if (self->room == NULL)
    return;

  members = natter_room_get_members (self->room);
  online = natter_room_get_online (self->room);
  n = members != NULL ? g_strv_length ((GStrv) members) : 0;
  for (guint i = 0; i < n; i++)
    gtk_list_box_append (self->member_list,
                         create_member_row (self, members[i],
                                            online != NULL && g_strv_contains (online, members[i])));
  title = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u member", "%u members", n), n);
  gtk_label_set_label (self->list_title, title);
  mine = my_role (self);
  gtk_widget_set_visible (self->unban_button, g_str_equal (mine, "owner") || g_str_equal (mine, "moderator"));

  if (self->selected != NULL)
    show_member (self);
}

static void
member_activated_cb (NatterMembersPopover *self,
                     GtkListBoxRow        *row)
{
  g_free (self->selected);
  self->selected = g_strdup (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)));
  show_member (self);
}

static void
back_clicked_cb (NatterMembersPopover *self)
{
  g_clear_pointer (&self->selected, g_free);
  gtk_stack_set_visible_child_name (self->stack, "list");
}

static void
closed_cb (NatterMembersPopover *self)
{
  back_clicked_cb (self);
}

static void
natter_members_popover_show (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (natter_members_popover_parent_class)->show (widget);
  update (NATTER_MEMBERS_POPOVER (widget));
}

static void
natter_members_popover_dispose (GObject *object)
{
  NatterMembersPopover *self = NATTER_MEMBERS_POPOVER (object);

  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  g_clear_object (&self->room);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_MEMBERS_POPOVER);

  G_OBJECT_CLASS (natter_members_popover_parent_class)->dispose (object);
}

static void
natter_members_popover_finalize (GObject *object)
{
  NatterMembersPopover *self = NATTER_MEMBERS_POPOVER (object);

  g_clear_pointer (&self->account, g_free);
  g_clear_pointer (&self->selected, g_free);

  G_OBJECT_CLASS (natter_members_popover_parent_class)->finalize (object);
}

static void
natter_members_popover_class_init (NatterMembersPopoverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_members_popover_dispose;
  object_class->finalize = natter_members_popover_finalize;
  widget_class->show = natter_members_popover_show;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-members-popover.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, stack);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, list_title);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, member_list);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, unban_button);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, member_title);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, member_role);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, owner_button);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, moderator_button);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, member_button);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, kick_button);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, ban_button);
  gtk_widget_class_bind_template_callback (widget_class, member_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, back_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, closed_cb);
}

static void
natter_members_popover_init (NatterMembersPopover *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  natter_tooltips_attach_all (GTK_WIDGET (self));
}

GtkWidget *
natter_members_popover_new (void)
{
  return g_object_new (NATTER_TYPE_MEMBERS_POPOVER, NULL);
}

/**
 * natter_members_popover_set_room:
 * @self: the popover
 * @room: (nullable): the room on screen
 * @account: the account the app acts as
 * @admin: whether the account administers the server (and may do what owners do)
 */
void
natter_members_popover_set_room (NatterMembersPopover *self,
                                 NatterRoom           *room,
                                 const char           *account,
                                 gboolean              admin)
{
  g_return_if_fail (NATTER_IS_MEMBERS_POPOVER (self));

  g_free (self->account);
  self->account = g_strdup (account);
  self->admin = admin;
  if (self->room != room)
    {
      if (self->room != NULL)
        g_signal_handlers_disconnect_by_data (self->room, self);
      g_set_object (&self->room, room);
      g_clear_pointer (&self->selected, g_free);
      gtk_stack_set_visible_child_name (self->stack, "list");
      if (room != NULL)
        {
          g_signal_connect_object (room, "notify::members", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
          g_signal_connect_object (room, "notify::online", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
          g_signal_connect_object (room, "notify::role", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
        }
    }
  update (self);
}
