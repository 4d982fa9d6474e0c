/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-room-controls"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-room-controls.h"

/* The calls that let people run their rooms (docs/dbus.md, “Rooms”): on a room, invite,
 * kick, ban, unban, roles and the topic; on the root, creating rooms, the directory and
 * blocking. Each failure comes back in words for users (natter-errors.c). */

/* How many rooms the Join dialog lists at once. */
#define DIRECTORY_LIMIT 50

static GError *
not_running_error (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                              _("The chat service is not running"));
}

static void
call_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterRequest request = GPOINTER_TO_INT (g_task_get_task_data (task));
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);

  if (reply == NULL)
    {
      g_task_return_error (task, natter_error_for_user (error, request));
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&reply), (GDestroyNotify) g_variant_unref);
}

/* Calls @method on @proxy (NULL: natterd is not running) for @task. */
static void
call (GTask         *task,
      GDBusProxy    *proxy,
      NatterRequest  request,
      const char    *method,
      GVariant      *parameters)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (parameters);

  g_task_set_task_data (task, GINT_TO_POINTER (request), NULL);
  if (proxy == NULL)
    {
      g_task_return_error (task, not_running_error ());
      return;
    }
  g_dbus_proxy_call (proxy, method, owned, G_DBUS_CALL_FLAGS_NONE, -1,
                     g_task_get_cancellable (task), call_cb, g_object_ref (task));
}

static gboolean
finish_boolean (gpointer       source,
                GAsyncResult  *result,
                GError       **error)
{
  g_autoptr(GVariant) reply = NULL;

  g_return_val_if_fail (g_task_is_valid (result, source), FALSE);
  reply = g_task_propagate_pointer (G_TASK (result), error);
  return reply != NULL;
}

/**
 * natter_room_control_async:
 * @room: a room
 * @request: %NATTER_REQUEST_INVITE, %NATTER_REQUEST_KICK, %NATTER_REQUEST_BAN,
 *   %NATTER_REQUEST_UNBAN, %NATTER_REQUEST_SET_ROLE or %NATTER_REQUEST_SET_TOPIC
 * @user: (nullable): the user acted on; ignored for the topic
 * @value: (nullable): the reason (kick, ban), the role or the topic
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with natterd's answer
 * @user_data: data for @callback
 */
void
natter_room_control_async (NatterRoom          *room,
                           NatterRequest        request,
                           const char          *user,
                           const char          *value,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GDBusProxy *proxy;
  const char *method;
  GVariant *parameters;

  g_return_if_fail (NATTER_IS_ROOM (room));

  task = g_task_new (room, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_room_control_async);
  proxy = natter_room_get_proxy (room) != NULL ? G_DBUS_PROXY (natter_room_get_proxy (room)) : NULL;
  user = user != NULL ? user : "";
  value = value != NULL ? value : "";

  switch (request)
    {
    case NATTER_REQUEST_INVITE:
      method = "Invite";
      parameters = g_variant_new ("(s)", user);
      break;
    case NATTER_REQUEST_KICK:
      method = "Kick";
      parameters = g_variant_new ("(ss)", user, value);
      break;
    case NATTER_REQUEST_BAN:
      method = "Ban";
      parameters = g_variant_new ("(ss)", user, value);
      break;
    case NATTER_REQUEST_UNBAN:
      method = "Unban";
      parameters = g_variant_new ("(s)", user);
      break;
    case NATTER_REQUEST_SET_ROLE:
      method = "SetRole";
      parameters = g_variant_new ("(ss)", user, value);
      break;
    case NATTER_REQUEST_SET_TOPIC:
      method = "SetTopic";
      parameters = g_variant_new ("(s)", value);
      break;
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
    case NATTER_REQUEST_BLOCK:
    default:
      g_return_if_reached ();
    }
  call (task, proxy, request, method, parameters);
}

gboolean
natter_room_control_finish (NatterRoom    *room,
                            GAsyncResult  *result,
                            GError       **error)
{
  return finish_boolean (room, result, error);
}

static GDBusProxy *
root_proxy (NatterService *service)
{
  NatterDBusChat *root = natter_service_get_root (service);

  return root != NULL ? G_DBUS_PROXY (root) : NULL;
}

/**
 * natter_rooms_create_async:
 * @service: the service
 * @name: the new room's name
 * @is_private: whether only invited people may join it
 * @topic: its topic, or ""
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the room exists, with the account as its owner
 * @user_data: data for @callback
 */
void
natter_rooms_create_async (NatterService       *service,
                           const char          *name,
                           gboolean             is_private,
                           const char          *topic,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVICE (service));

  task = g_task_new (service, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_rooms_create_async);
  call (task, root_proxy (service), NATTER_REQUEST_CREATE_ROOM, "CreateRoom",
        g_variant_new ("(sbs)", name, is_private, topic != NULL ? topic : ""));
}

gboolean
natter_rooms_create_finish (NatterService  *service,
                            GAsyncResult   *result,
                            GError        **error)
{
  return finish_boolean (service, result, error);
}

/**
 * natter_rooms_directory_async:
 * @service: the service
 * @query: words the rooms' names or topics hold, or ""
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the public rooms
 * @user_data: data for @callback
 */
void
natter_rooms_directory_async (NatterService       *service,
                              const char          *query,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVICE (service));

  task = g_task_new (service, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_rooms_directory_async);
  call (task, root_proxy (service), NATTER_REQUEST_DIRECTORY, "Directory",
        g_variant_new ("(su)", query != NULL ? query : "", DIRECTORY_LIMIT));
}

/**
 * natter_rooms_directory_finish:
 * @service: the service
 * @result: the result given to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full) (nullable): the rooms as `a(ssu)`: name, topic, member count
 */
GVariant *
natter_rooms_directory_finish (NatterService  *service,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_autoptr(GVariant) reply = NULL;

  g_return_val_if_fail (g_task_is_valid (result, service), NULL);
  reply = g_task_propagate_pointer (G_TASK (result), error);
  if (reply == NULL)
    return NULL;
  return g_variant_get_child_value (reply, 0);
}

/**
 * natter_rooms_block_async:
 * @service: the service
 * @user: a user name
 * @block: %TRUE to block @user's direct messages, %FALSE to let them through again
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with natterd's answer
 * @user_data: data for @callback
 */
void
natter_rooms_block_async (NatterService       *service,
                          const char          *user,
                          gboolean             block,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVICE (service));

  task = g_task_new (service, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_rooms_block_async);
  call (task, root_proxy (service), NATTER_REQUEST_BLOCK, block ? "Block" : "Unblock",
        g_variant_new ("(s)", user));
}

gboolean
natter_rooms_block_finish (NatterService  *service,
                           GAsyncResult   *result,
                           GError        **error)
{
  return finish_boolean (service, result, error);
}

/**
 * natter_rooms_decline_invitation_async:
 * @service: the service
 * @room: the room the account was invited to
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with natterd's answer
 * @user_data: data for @callback
 *
 * Declines the account's invitation to @room (DeclineInvitation()).
 */
void
natter_rooms_decline_invitation_async (NatterService       *service,
                                       const char          *room,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVICE (service));

  task = g_task_new (service, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_rooms_decline_invitation_async);
  call (task, root_proxy (service), NATTER_REQUEST_JOIN, "DeclineInvitation", g_variant_new ("(s)", room));
}

gboolean
natter_rooms_decline_invitation_finish (NatterService  *service,
                                        GAsyncResult   *result,
                                        GError        **error)
{
  return finish_boolean (service, result, error);
}

/**
 * natter_rooms_get_invitations:
 * @service: the service
 *
 * Returns: (transfer none) (nullable): the account's pending invitations, `a(ssx)`:
 *   (room, who invited, when), oldest first; %NULL while natterd is not running
 */
GVariant *
natter_rooms_get_invitations (NatterService *service)
{
  NatterDBusChat *root;

  g_return_val_if_fail (NATTER_IS_SERVICE (service), NULL);

  root = natter_service_get_running (service) ? natter_service_get_root (service) : NULL;
  return root != NULL ? natter_dbus_chat_get_invitations (root) : NULL;
}

static int
compare_names (gconstpointer a,
               gconstpointer b,
               gpointer      user_data)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

/**
 * natter_rooms_dup_known_people:
 * @service: the service
 *
 * Returns: (transfer full): the people the account shares a room with, sorted, without
 *   the account itself: whom it can invite without knowing their name by heart
 */
GStrv
natter_rooms_dup_known_people (NatterService *service)
{
  g_autoptr(GHashTable) people = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree const char **names = NULL;
  GListModel *rooms = natter_service_get_rooms (service);
  const char *account = natter_service_get_account (service);
  guint n = g_list_model_get_n_items (rooms);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterRoom) room = g_list_model_get_item (rooms, i);
      const char * const *members = natter_room_get_members (room);

      /* Everybody is in the announcements room: that is not knowing someone. */
      if (members == NULL || g_str_equal (natter_room_get_kind (room), "system"))
        continue;
      for (guint j = 0; members[j] != NULL; j++)
        if (g_strcmp0 (members[j], account) != 0)
          g_hash_table_add (people, (gpointer) members[j]);
    }
  names = (const char **) g_hash_table_get_keys_as_array (people, NULL);
  g_qsort_with_data (names, g_hash_table_size (people), sizeof (char *),
                     compare_names, NULL);
  for (guint i = 0; names[i] != NULL; i++)
    g_strv_builder_add (builder, names[i]);
  return g_strv_builder_end (builder);
}

/**
 * natter_rooms_role_label:
 * @role: "owner", "moderator" or "member"
 *
 * Returns: the role in words for users
 */
const char *
natter_rooms_role_label (const char *role)
{
  if (g_strcmp0 (role, "owner") == 0)
    return _("Owner");
  if (g_strcmp0 (role, "moderator") == 0)
    return _("Moderator");
  return _("Member");
}
