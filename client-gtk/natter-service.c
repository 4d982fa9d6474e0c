/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-service"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-errors.h"
#include "natter-service.h"

#define CHAT_PATH "/io/github/natter/Chat"

/* natterd as the app sees it, over D-Bus only: the root object (status, account) and,
 * through a GDBusObjectManagerClient, one NatterRoom per room object. Rooms outlive a
 * restart of natterd: when its name goes away they only lose their proxy, and get a
 * new one when it comes back, so the window keeps what it shows. */
struct _NatterService
{
  GObject             parent_instance;

  GCancellable       *cancellable;        /* (owned) */
  GDBusConnection    *connection;         /* (owned) (nullable) */
  NatterDBusChat     *root;               /* (owned) (nullable) */
  GDBusObjectManager *manager;            /* (owned) (nullable) */
  GListStore         *rooms;              /* (owned): NatterRoom */
  GHashTable         *rooms_by_name;      /* (owned): name → NatterRoom (unowned) */
  char               *epoch;              /* (owned) (nullable) */
  gboolean            unreachable;        /* the bus could not start natterd */
  gboolean            notifications_handled;
};

G_DEFINE_FINAL_TYPE (NatterService, natter_service, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_READY,
  PROP_RUNNING,
  PROP_STATUS,
  PROP_ACCOUNT,
  PROP_MODE,
  PROP_NODE,
  PROP_VERSION,
  PROP_ADMIN,
  PROP_LISTEN_ERROR,
  N_PROPS
};

enum {
  MESSAGE_RECEIVED,
  INVITED,
  REMOVED_FROM_ROOM,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
natter_service_dispose (GObject *object)
{
  NatterService *self = NATTER_SERVICE (object);

  g_cancellable_cancel (self->cancellable);
  if (self->manager != NULL)
    g_signal_handlers_disconnect_by_data (self->manager, self);
  if (self->root != NULL)
    g_signal_handlers_disconnect_by_data (self->root, self);
  g_clear_object (&self->manager);
  g_clear_object (&self->root);
  g_clear_object (&self->connection);
  if (self->rooms_by_name != NULL)
    g_hash_table_remove_all (self->rooms_by_name);
  if (self->rooms != NULL)
    g_list_store_remove_all (self->rooms);

  G_OBJECT_CLASS (natter_service_parent_class)->dispose (object);
}

static void
natter_service_finalize (GObject *object)
{
  NatterService *self = NATTER_SERVICE (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->rooms);
  g_clear_pointer (&self->rooms_by_name, g_hash_table_unref);
  g_clear_pointer (&self->epoch, g_free);

  G_OBJECT_CLASS (natter_service_parent_class)->finalize (object);
}

static void
natter_service_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  NatterService *self = NATTER_SERVICE (object);

  switch (prop_id)
    {
    case PROP_READY:
      g_value_set_boolean (value, natter_service_get_ready (self));
      break;
    case PROP_RUNNING:
      g_value_set_boolean (value, natter_service_get_running (self));
      break;
    case PROP_STATUS:
      g_value_set_string (value, natter_service_get_status (self));
      break;
    case PROP_ACCOUNT:
      g_value_set_string (value, natter_service_get_account (self));
      break;
    case PROP_MODE:
      g_value_set_string (value, natter_service_get_mode (self));
      break;
    case PROP_NODE:
      g_value_set_string (value, natter_service_get_node (self));
      break;
    case PROP_VERSION:
      g_value_set_string (value, natter_service_get_version (self));
      break;
    case PROP_ADMIN:
      g_value_set_boolean (value, natter_service_get_admin (self));
      break;
    case PROP_LISTEN_ERROR:
      g_value_set_string (value, natter_service_get_listen_error (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_service_class_init (NatterServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_service_dispose;
  object_class->finalize = natter_service_finalize;
  object_class->get_property = natter_service_get_property;

#define RO (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS)
  properties[PROP_READY] = g_param_spec_boolean ("ready", NULL, NULL, FALSE, RO);
  properties[PROP_RUNNING] = g_param_spec_boolean ("running", NULL, NULL, FALSE, RO);
  properties[PROP_STATUS] = g_param_spec_string ("status", NULL, NULL, NULL, RO);
  properties[PROP_ACCOUNT] = g_param_spec_string ("account", NULL, NULL, NULL, RO);
  properties[PROP_MODE] = g_param_spec_string ("mode", NULL, NULL, NULL, RO);
  properties[PROP_NODE] = g_param_spec_string ("node", NULL, NULL, NULL, RO);
  properties[PROP_VERSION] = g_param_spec_string ("version", NULL, NULL, NULL, RO);
  properties[PROP_ADMIN] = g_param_spec_boolean ("admin", NULL, NULL, FALSE, RO);
  properties[PROP_LISTEN_ERROR] = g_param_spec_string ("listen-error", NULL, NULL, NULL, RO);
#undef RO

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * NatterService::message-received:
   * @self: the service
   * @room: the message's room
   * @message: a new message, live
   */
  signals[MESSAGE_RECEIVED] =
    g_signal_new ("message-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, NATTER_TYPE_ROOM, NATTER_TYPE_MESSAGE);

  /**
   * NatterService::invited:
   * @self: the service
   * @room: the name of the room the account was invited to
   * @by: who invited the account
   */
  signals[INVITED] =
    g_signal_new ("invited", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);

  /**
   * NatterService::removed-from-room:
   * @self: the service
   * @room: the room the account was kicked or banned from; it goes away next
   * @by: the moderator or owner who did it
   */
  signals[REMOVED_FROM_ROOM] =
    g_signal_new ("removed-from-room", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, NATTER_TYPE_ROOM, G_TYPE_STRING);
}

static void
natter_service_init (NatterService *self)
{
  self->cancellable = g_cancellable_new ();
  self->rooms = g_list_store_new (NATTER_TYPE_ROOM);
  self->rooms_by_name = g_hash_table_new (g_str_hash, g_str_equal);
}

/**
 * natter_service_new:
 *
 * Returns: (transfer full): a service; call natter_service_start() to reach natterd
 */
NatterService *
natter_service_new (void)
{
  return g_object_new (NATTER_TYPE_SERVICE, NULL);
}

static void
notify_all (NatterService *self)
{
  g_object_freeze_notify (G_OBJECT (self));
  for (guint i = PROP_READY; i < N_PROPS; i++)
    g_object_notify_by_pspec (G_OBJECT (self), properties[i]);
  g_object_thaw_notify (G_OBJECT (self));
}

/* Rooms ---------------------------------------------------------------------------- */

static void
room_message_received_cb (NatterRoom    *room,
                          NatterMessage *message,
                          NatterService *self)
{
  g_signal_emit (self, signals[MESSAGE_RECEIVED], 0, room, message);
}

/* A message object's edits, reply, reactions and mentions, as HistoryDetailed() gives
 * them. Returns a floating `a{sv}`. */
static GVariant *
message_details (NatterDBusChatMessage *proxy)
{
  GVariantBuilder builder;
  GVariant *reactions = natter_dbus_chat_message_get_reactions (proxy);
  const char * const *mentions = natter_dbus_chat_message_get_mentions (proxy);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "edited_ts",
                         g_variant_new_int64 (natter_dbus_chat_message_get_edited_timestamp (proxy)));
  g_variant_builder_add (&builder, "{sv}", "reply_to",
                         g_variant_new_uint64 (natter_dbus_chat_message_get_reply_to (proxy)));
  if (reactions != NULL)
    g_variant_builder_add (&builder, "{sv}", "reactions", reactions);
  if (mentions != NULL)
    g_variant_builder_add (&builder, "{sv}", "mentions", g_variant_new_strv (mentions, -1));
  return g_variant_builder_end (&builder);
}

static void
room_member_changed_cb (NatterRoom    *room,
                        const char    *user,
                        gboolean       joined,
                        const char    *role,
                        const char    *by,
                        NatterService *self)
{
  /* Someone else took the account out of the room: the user is told why it goes. */
  if (!joined && by != NULL && *by != '\0' && g_strcmp0 (by, user) != 0 &&
      g_strcmp0 (user, natter_service_get_account (self)) == 0)
    g_signal_emit (self, signals[REMOVED_FROM_ROOM], 0, room, by);
}

static void
add_message_object (NatterService         *self,
                    NatterDBusChatMessage *proxy)
{
  NatterRoom *room = g_hash_table_lookup (self->rooms_by_name,
                                          natter_dbus_chat_message_get_room (proxy));
  g_autoptr(NatterMessage) message = NULL;

  if (room == NULL)
    return;
  message = natter_message_new (natter_dbus_chat_message_get_room (proxy),
                                natter_dbus_chat_message_get_seq (proxy),
                                natter_dbus_chat_message_get_timestamp (proxy),
                                natter_dbus_chat_message_get_sender (proxy),
                                natter_dbus_chat_message_get_body (proxy),
                                natter_dbus_chat_message_get_kind (proxy));
  natter_message_apply (message, natter_dbus_chat_message_get_body (proxy),
                        natter_dbus_chat_message_get_kind (proxy), message_details (proxy));
  natter_room_add_message (room, message);
  natter_room_message_arrived (room, natter_dbus_chat_message_get_client_msg_id (proxy));
}

static void
add_room_object (NatterService      *self,
                 NatterDBusChatRoom *proxy)
{
  const char *name = natter_dbus_chat_room_get_name (proxy);
  const char *room_path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (proxy));
  g_autolist(GDBusObject) objects = NULL;
  NatterRoom *room;

  if (name == NULL || *name == '\0')
    return;

  g_debug ("Room %s at %s", name, room_path);
  room = g_hash_table_lookup (self->rooms_by_name, name);
  if (room == NULL)
    {
      g_autoptr(NatterRoom) new_room = natter_room_new (name, natter_service_get_account (self));

      room = new_room;
      g_hash_table_insert (self->rooms_by_name, (char *) natter_room_get_name (room), room);
      g_signal_connect_object (room, "message-received",
                               G_CALLBACK (room_message_received_cb), self, 0);
      g_signal_connect_object (room, "member-changed",
                               G_CALLBACK (room_member_changed_cb), self, 0);
      natter_room_attach (room, proxy);
      g_list_store_append (self->rooms, room);
    }
  else
    {
      natter_room_attach (room, proxy);
    }

  /* The recent messages of the room are objects below it. */
  objects = g_dbus_object_manager_get_objects (self->manager);
  for (GList *l = objects; l != NULL; l = l->next)
    {
      const char *path = g_dbus_object_get_object_path (l->data);
      NatterDBusChatMessage *message;

      if (!g_str_has_prefix (path, room_path) || path[strlen (room_path)] != '/')
        continue;
      message = natter_dbus_object_peek_chat_message (NATTER_DBUS_OBJECT (l->data));
      if (message != NULL)
        add_message_object (self, message);
    }
}

static void
remove_room (NatterService *self,
             NatterRoom    *room)
{
  guint position;

  g_hash_table_remove (self->rooms_by_name, natter_room_get_name (room));
  if (g_list_store_find (self->rooms, room, &position))
    g_list_store_remove (self->rooms, position);
}

static void
object_added_cb (GDBusObjectManager *manager,
                 GDBusObject        *object,
                 NatterService      *self)
{
  NatterDBusChatRoom *room = natter_dbus_object_peek_chat_room (NATTER_DBUS_OBJECT (object));
  NatterDBusChatMessage *message = natter_dbus_object_peek_chat_message (NATTER_DBUS_OBJECT (object));

  if (room != NULL)
    add_room_object (self, room);
  if (message != NULL)
    add_message_object (self, message);
}

static void
object_removed_cb (GDBusObjectManager *manager,
                   GDBusObject        *object,
                   NatterService      *self)
{
  NatterDBusChatRoom *proxy = natter_dbus_object_peek_chat_room (NATTER_DBUS_OBJECT (object));
  g_autofree char *owner = NULL;
  NatterRoom *room;

  if (proxy == NULL)
    return;
  room = g_hash_table_lookup (self->rooms_by_name, natter_dbus_chat_room_get_name (proxy));
  if (room == NULL)
    return;

  /* The manager drops its owner before removing every object when natterd goes away
   * (see GDBusObjectManagerClient): then the room is only waiting for natterd. */
  owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (manager));
  g_debug ("Room %s removed (%s)", natter_room_get_name (room), owner != NULL ? "left" : "natterd went away");
  if (owner == NULL)
    natter_room_detach (room);
  else
    remove_room (self, room);
}

static void
manager_name_owner_cb (GObject       *manager,
                       GParamSpec    *pspec,
                       NatterService *self)
{
  g_autofree char *owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (manager));
  g_autoptr(GPtrArray) gone = NULL;
  guint n;

  if (owner == NULL)
    return;

  /* natterd is back and its objects are there: rooms it no longer has are gone. */
  gone = g_ptr_array_new_with_free_func (g_object_unref);
  n = g_list_model_get_n_items (G_LIST_MODEL (self->rooms));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);

      if (!natter_room_is_attached (room))
        g_ptr_array_add (gone, g_steal_pointer (&room));
    }
  for (guint i = 0; i < gone->len; i++)
    remove_room (self, g_ptr_array_index (gone, i));
}

static void
manager_ready_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  NatterService *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autolist(GDBusObject) objects = NULL;
  GDBusObjectManager *manager;

  manager = natter_dbus_object_manager_client_new_finish (result, &error);
  if (manager == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Cannot follow the rooms of natterd: %s", error->message);
      return;
    }
  self->manager = manager;
  g_signal_connect_object (manager, "object-added", G_CALLBACK (object_added_cb), self, 0);
  g_signal_connect_object (manager, "object-removed", G_CALLBACK (object_removed_cb), self, 0);
  g_signal_connect_object (manager, "notify::name-owner", G_CALLBACK (manager_name_owner_cb), self, 0);

  /* Rooms first, so that their message objects find them. */
  objects = g_dbus_object_manager_get_objects (manager);
  for (GList *l = objects; l != NULL; l = l->next)
    {
      NatterDBusChatRoom *room = natter_dbus_object_peek_chat_room (NATTER_DBUS_OBJECT (l->data));

      if (room != NULL)
        add_room_object (self, room);
    }
  notify_all (self);
}

/* The root object ------------------------------------------------------------------ */

static void
notifications_handled_cb (GObject      *source,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_dbus_chat_call_set_notifications_handled_finish (NATTER_DBUS_CHAT (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("SetNotificationsHandled failed: %s", error->message);
}

static void
send_notifications_handled (NatterService *self)
{
  if (!natter_service_get_running (self))
    return;
  natter_dbus_chat_call_set_notifications_handled (self->root, self->notifications_handled,
                                                   self->cancellable,
                                                   notifications_handled_cb, NULL);
}

static void
check_epoch (NatterService *self)
{
  const char *epoch = natter_dbus_chat_get_epoch (self->root);
  guint n;

  if (epoch == NULL || *epoch == '\0' || g_strcmp0 (epoch, self->epoch) == 0)
    return;
  if (self->epoch != NULL)
    {
      /* Another history store: the loaded messages' seqs mean nothing there. */
      n = g_list_model_get_n_items (G_LIST_MODEL (self->rooms));
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(NatterRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);
          natter_room_reset (room);
        }
    }
  g_free (self->epoch);
  self->epoch = g_strdup (epoch);
}

static void
update_account (NatterService *self)
{
  const char *account = natter_service_get_account (self);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->rooms));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);
      natter_room_set_account (room, account);
    }
}

static void
root_properties_changed_cb (GDBusProxy    *proxy,
                            GVariant      *changed,
                            GStrv          invalidated,
                            NatterService *self)
{
  check_epoch (self);
  update_account (self);
  notify_all (self);
}

static void
root_invited_cb (NatterDBusChat *root,
                 const char     *room,
                 const char     *by,
                 NatterService  *self)
{
  g_signal_emit (self, signals[INVITED], 0, room, by);
}

static void
root_name_owner_cb (GObject       *proxy,
                    GParamSpec    *pspec,
                    NatterService *self)
{
  /* natterd forgets its callers when it restarts: tell the new one again. */
  send_notifications_handled (self);
  notify_all (self);
}

static void
root_ready_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  NatterService *self = user_data;
  g_autoptr(GError) error = NULL;
  NatterDBusChat *root;

  root = natter_dbus_chat_proxy_new_finish (result, &error);
  if (root == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      /* natterd could not be started (its activation failed): the window says so and
       * offers Retry (natter_service_start_daemon()). */
      g_message ("Cannot reach natterd: %s", error->message);
      self->unreachable = TRUE;
      notify_all (self);
      return;
    }
  self->root = root;
  /* Long enough for a Send() that waits for a busy store. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (root), 60 * 1000);
  /* After the proxy's own handler, which drops its copies of changed string lists
   * (WebAddresses): before it, the getters would return the old ones. */
  g_signal_connect_object (root, "g-properties-changed", G_CALLBACK (root_properties_changed_cb), self,
                           G_CONNECT_AFTER);
  g_signal_connect_object (root, "notify::g-name-owner", G_CALLBACK (root_name_owner_cb), self, 0);
  g_signal_connect_object (root, "invited", G_CALLBACK (root_invited_cb), self, 0);
  check_epoch (self);
  send_notifications_handled (self);

  natter_dbus_object_manager_client_new (self->connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                         NATTER_DAEMON_BUS_NAME, CHAT_PATH, self->cancellable,
                                         manager_ready_cb, self);
  notify_all (self);
}

static void
bus_ready_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  NatterService *self = user_data;
  g_autoptr(GError) error = NULL;

  self->connection = g_bus_get_finish (result, &error);
  if (self->connection == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("No session bus: %s", error->message);
      notify_all (self);
      return;
    }
  /* Without G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, loading the properties starts natterd
   * through its activation file when it is not running. */
  natter_dbus_chat_proxy_new (self->connection, G_DBUS_PROXY_FLAGS_NONE, NATTER_DAEMON_BUS_NAME,
                              CHAT_PATH, self->cancellable, root_ready_cb, self);
}

/**
 * natter_service_start:
 * @self: a service
 *
 * Connects to the session bus, starting natterd if needed, and follows its rooms.
 */
void
natter_service_start (NatterService *self)
{
  g_return_if_fail (NATTER_IS_SERVICE (self));
  g_return_if_fail (self->connection == NULL);

  g_bus_get (G_BUS_TYPE_SESSION, self->cancellable, bus_ready_cb, self);
}

static void
start_service_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_message ("Cannot start natterd: %s", error->message);
}

/**
 * natter_service_start_daemon:
 * @self: a service
 *
 * Asks the bus to start natterd again (the “Retry” of the connection banner).
 */
void
natter_service_start_daemon (NatterService *self)
{
  g_return_if_fail (NATTER_IS_SERVICE (self));

  if (self->connection == NULL)
    return;
  if (self->root == NULL)
    {
      /* Following natterd failed at its start: follow it again, which starts it. */
      self->unreachable = FALSE;
      notify_all (self);
      natter_dbus_chat_proxy_new (self->connection, G_DBUS_PROXY_FLAGS_NONE, NATTER_DAEMON_BUS_NAME,
                                  CHAT_PATH, self->cancellable, root_ready_cb, self);
      return;
    }
  g_dbus_connection_call (self->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "StartServiceByName",
                          g_variant_new ("(su)", NATTER_DAEMON_BUS_NAME, 0),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1,
                          self->cancellable, start_service_cb, NULL);
}

/* Properties ----------------------------------------------------------------------- */

/**
 * natter_service_get_running:
 * @self: a service
 *
 * Returns: whether natterd is on the bus
 */
gboolean
natter_service_get_running (NatterService *self)
{
  g_autofree char *owner = NULL;

  g_return_val_if_fail (NATTER_IS_SERVICE (self), FALSE);

  if (self->root == NULL)
    return FALSE;
  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (self->root));
  return owner != NULL;
}

/**
 * natter_service_get_ready:
 * @self: a service
 *
 * Returns: whether natterd is on the bus and its rooms are known
 */
gboolean
natter_service_get_ready (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), FALSE);
  return self->manager != NULL && natter_service_get_running (self);
}

/**
 * natter_service_get_status:
 * @self: a service
 *
 * Returns: natterd's Status (`connected`, `connecting`, `reconnecting`, `offline`,
 *   `auth-failed`), `starting` while the app is still reaching it, or `unavailable`
 *   when it is not on the bus
 */
const char *
natter_service_get_status (NatterService *self)
{
  const char *status;

  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);

  if (self->root == NULL)
    return self->unreachable || (self->connection == NULL && g_cancellable_is_cancelled (self->cancellable)) ?
           "unavailable" : "starting";
  if (!natter_service_get_running (self))
    return "unavailable";
  status = natter_dbus_chat_get_status (self->root);
  return status != NULL && *status != '\0' ? status : "connected";
}

static const char *
root_string (NatterService *self,
             const char  *(*getter) (NatterDBusChat *))
{
  const char *value;

  if (self->root == NULL || !natter_service_get_running (self))
    return "";
  value = getter (self->root);
  return value != NULL ? value : "";
}

const char *
natter_service_get_account (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);
  return root_string (self, natter_dbus_chat_get_account);
}

const char *
natter_service_get_mode (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);
  return root_string (self, natter_dbus_chat_get_mode);
}

const char *
natter_service_get_node (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);
  return root_string (self, natter_dbus_chat_get_node);
}

const char *
natter_service_get_version (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);
  return root_string (self, natter_dbus_chat_get_version);
}

gboolean
natter_service_get_admin (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), FALSE);
  return natter_service_get_running (self) && natter_dbus_chat_get_admin (self->root);
}

/**
 * natter_service_get_rooms:
 * @self: a service
 *
 * Returns: (transfer none): the rooms of the account (#NatterRoom)
 */
GListModel *
natter_service_get_rooms (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);
  return G_LIST_MODEL (self->rooms);
}

/**
 * natter_service_get_root:
 * @self: a service
 *
 * Returns: (transfer none) (nullable): natterd's root object, while natterd is running
 */
NatterDBusChat *
natter_service_get_root (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);
  return natter_service_get_running (self) ? self->root : NULL;
}

/**
 * natter_service_lookup_room:
 * @self: a service
 * @name: a room name
 *
 * Returns: (transfer none) (nullable): the room called @name
 */
NatterRoom *
natter_service_lookup_room (NatterService *self,
                            const char    *name)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);
  return name != NULL ? g_hash_table_lookup (self->rooms_by_name, name) : NULL;
}

/**
 * natter_service_set_notifications_handled:
 * @self: a service
 * @handled: whether the app shows notifications itself
 *
 * Tells natterd, now and whenever it restarts, so that it does not notify as well.
 */
void
natter_service_set_notifications_handled (NatterService *self,
                                          gboolean       handled)
{
  g_return_if_fail (NATTER_IS_SERVICE (self));

  handled = !!handled;
  if (self->notifications_handled == handled)
    return;
  self->notifications_handled = handled;
  send_notifications_handled (self);
}

/* Calls on the root ---------------------------------------------------------------- */

static gboolean
check_running (NatterService *self,
               GTask         *task)
{
  if (natter_service_get_running (self))
    return TRUE;
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "%s",
                           _("The chat service is not running"));
  return FALSE;
}

/* A task for a call on the root, or NULL (the task answered) if natterd is not running. */
static GTask *
root_call_task_new (NatterService       *self,
                    gpointer             source_tag,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  if (!check_running (self, task))
    return NULL;
  return g_steal_pointer (&task);
}

static void
return_dbus_error (GTask         *task,
                   const GError  *error,
                   NatterRequest  request)
{
  g_task_return_error (task, natter_error_for_user (error, request));
}

static void
join_room_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  if (!natter_dbus_chat_call_join_room_finish (NATTER_DBUS_CHAT (source), &path, result, &error))
    return_dbus_error (task, error, NATTER_REQUEST_JOIN);
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * natter_service_join_room_async:
 * @self: a service
 * @name: a room name
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the account is a member
 * @user_data: data for @callback
 *
 * Joins (or creates) a room; it appears in natter_service_get_rooms().
 */
void
natter_service_join_room_async (NatterService       *self,
                                const char          *name,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVICE (self));
  g_return_if_fail (name != NULL);

  task = root_call_task_new (self, natter_service_join_room_async, cancellable, callback, user_data);
  if (task == NULL)
    return;
  natter_dbus_chat_call_join_room (self->root, name, cancellable, join_room_cb, g_steal_pointer (&task));
}

gboolean
natter_service_join_room_finish (NatterService  *self,
                                 GAsyncResult   *result,
                                 GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
send_direct_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  NatterService *self = g_task_get_source_object (task);
  const char *to = g_task_get_task_data (task);
  const char *account = natter_service_get_account (self);
  guint64 seq;

  if (!natter_dbus_chat_call_send_direct_finish (NATTER_DBUS_CHAT (source), &seq, result, &error))
    {
      return_dbus_error (task, error, NATTER_REQUEST_DIRECT);
      return;
    }
  /* The room of two users is dm:A:B with the names sorted. */
  if (g_strcmp0 (account, to) < 0)
    g_task_return_pointer (task, g_strdup_printf ("dm:%s:%s", account, to), g_free);
  else
    g_task_return_pointer (task, g_strdup_printf ("dm:%s:%s", to, account), g_free);
}

/**
 * natter_service_send_direct_async:
 * @self: a service
 * @to: a user name
 * @body: the first message
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the message was sent
 * @user_data: data for @callback
 *
 * Sends a direct message, which starts the conversation with @to if needed.
 */
void
natter_service_send_direct_async (NatterService       *self,
                                  const char          *to,
                                  const char          *body,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVICE (self));
  g_return_if_fail (to != NULL);
  g_return_if_fail (body != NULL);

  task = root_call_task_new (self, natter_service_send_direct_async, cancellable, callback, user_data);
  if (task == NULL)
    return;
  g_task_set_task_data (task, g_strdup (to), g_free);
  natter_dbus_chat_call_send_direct (self->root, to, body, cancellable, send_direct_cb,
                                     g_steal_pointer (&task));
}

/**
 * natter_service_send_direct_finish:
 * @self: a service
 * @result: the result given to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): the name of the direct-message room, or %NULL on error
 */
char *
natter_service_send_direct_finish (NatterService  *self,
                                   GAsyncResult   *result,
                                   GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
broadcast_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  guint64 seq;

  if (!natter_dbus_chat_call_broadcast_finish (NATTER_DBUS_CHAT (source), &seq, result, &error))
    return_dbus_error (task, error, NATTER_REQUEST_SEND);
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * natter_service_broadcast_async:
 * @self: a service
 * @body: the announcement
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the announcement was posted
 * @user_data: data for @callback
 *
 * Posts to the system room, which every user reads (administrators only).
 */
void
natter_service_broadcast_async (NatterService       *self,
                                const char          *body,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVICE (self));
  g_return_if_fail (body != NULL);

  task = root_call_task_new (self, natter_service_broadcast_async, cancellable, callback, user_data);
  if (task == NULL)
    return;
  natter_dbus_chat_call_broadcast (self->root, body, cancellable, broadcast_cb, g_steal_pointer (&task));
}

gboolean
natter_service_broadcast_finish (NatterService  *self,
                                 GAsyncResult   *result,
                                 GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
search_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autoptr(GListStore) store = NULL;
  GVariantIter iter;
  const char *room;
  guint64 seq;
  gint64 timestamp;
  const char *sender;
  const char *body;

  if (!natter_dbus_chat_call_search_finish (NATTER_DBUS_CHAT (source), &results, result, &error))
    {
      return_dbus_error (task, error, NATTER_REQUEST_SEARCH);
      return;
    }

  store = g_list_store_new (NATTER_TYPE_MESSAGE);
  g_variant_iter_init (&iter, results);
  while (g_variant_iter_next (&iter, "(&stx&s&s)", &room, &seq, &timestamp, &sender, &body))
    {
      g_autoptr(NatterMessage) message = natter_message_new (room, seq, timestamp, sender, body, "text");
      g_list_store_append (store, message);
    }
  g_task_return_pointer (task, g_steal_pointer (&store), g_object_unref);
}

/**
 * natter_service_search_async:
 * @self: a service
 * @query: words to search for
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the results
 * @user_data: data for @callback
 *
 * Searches the history of every room of the account.
 */
void
natter_service_search_async (NatterService       *self,
                             const char          *query,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVICE (self));
  g_return_if_fail (query != NULL);

  task = root_call_task_new (self, natter_service_search_async, cancellable, callback, user_data);
  if (task == NULL)
    return;
  natter_dbus_chat_call_search (self->root, query, "", 50, cancellable, search_cb,
                                g_steal_pointer (&task));
}

/**
 * natter_service_search_finish:
 * @self: a service
 * @result: the result given to the callback
 * @error: return location for an error
 *
 * Returns: (transfer full): the matching messages, newest first, or %NULL on error
 */
GListModel *
natter_service_search_finish (NatterService  *self,
                              GAsyncResult   *result,
                              GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Connect(), Disconnect() and ForgetAccount() belong to upstream mode, which an older
 * natterd lacks: they are called by name, and a missing method becomes an error that
 * says so (natter_error_for_user()). */
static void
account_call_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  const char *method = g_task_get_task_data (task);

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  if (reply == NULL)
    {
      return_dbus_error (task, error,
                         g_str_equal (method, "Connect") ? NATTER_REQUEST_CONNECT :
                         g_str_equal (method, "CreateAccount") ? NATTER_REQUEST_CREATE_ACCOUNT :
                         g_str_equal (method, "SetListenAddress") ? NATTER_REQUEST_LISTEN :
                         NATTER_REQUEST_DISCONNECT);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
account_call (NatterService       *self,
              GTask               *task,
              const char          *method,
              GVariant            *parameters)
{
  g_autoptr(GVariant) owned_parameters = parameters != NULL ? g_variant_ref_sink (parameters) : NULL;

  g_task_set_task_data (task, g_strdup (method), g_free);
  if (!check_running (self, task))
    {
      g_object_unref (task);
      return;
    }
  g_dbus_proxy_call (G_DBUS_PROXY (self->root), method, owned_parameters, G_DBUS_CALL_FLAGS_NONE,
                     -1, g_task_get_cancellable (task), account_call_cb, task);
}

/**
 * natter_service_connect_async:
 * @self: a service
 * @url: the server's WebSocket URL (`wss://host/ws`)
 * @user: the account on the server
 * @password: its password
 * @remember: whether natterd keeps the sign-in token (never the password) in the keyring
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when natterd has taken the account
 * @user_data: data for @callback
 *
 * Makes natterd the desktop's connection to a remote server (upstream mode).
 */
void
natter_service_connect_async (NatterService       *self,
                              const char          *url,
                              const char          *user,
                              const char          *password,
                              gboolean             remember,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_SERVICE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_service_connect_async);
  account_call (self, task, "Connect", g_variant_new ("(sssb)", url, user, password, remember));
}

gboolean
natter_service_connect_finish (NatterService  *self,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
forget_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
disconnect_then_forget_cb (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterService *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  GTask *forget;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  forget = g_task_new (self, g_task_get_cancellable (task), forget_cb, g_steal_pointer (&task));
  account_call (self, forget, "ForgetAccount", NULL);
}

/**
 * natter_service_disconnect_async:
 * @self: a service
 * @forget: whether natterd also removes the account's password from the keyring
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when natterd has let the account go
 * @user_data: data for @callback
 *
 * Signs out of the remote server (upstream mode).
 */
void
natter_service_disconnect_async (NatterService       *self,
                                 gboolean             forget,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_SERVICE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_service_disconnect_async);
  if (forget)
    {
      /* Signed out first, then forgotten. */
      GTask *disconnect = g_task_new (self, cancellable, disconnect_then_forget_cb, task);

      account_call (self, disconnect, "Disconnect", NULL);
      return;
    }
  account_call (self, task, "Disconnect", NULL);
}

gboolean
natter_service_disconnect_finish (NatterService  *self,
                                  GAsyncResult   *result,
                                  GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_service_set_mode_async:
 * @self: a service
 * @mode: "host" (chat on this computer) or "upstream" (the server used last)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once natterd runs in @mode
 * @user_data: data for @callback
 *
 * Switches natterd to @mode and has it remember the choice. The rooms of the old mode
 * go away and those of the new one come, as natterd's objects do.
 */
void
natter_service_set_mode_async (NatterService       *self,
                               const char          *mode,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_SERVICE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_service_set_mode_async);
  account_call (self, task, "SetMode", g_variant_new ("(s)", mode));
}

gboolean
natter_service_set_mode_finish (NatterService  *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_service_get_mode_chosen:
 * @self: a service
 *
 * Returns: whether natterd's mode was chosen (or natterd is not there to ask); %FALSE
 *   on a first run, when the app asks
 */
gboolean
natter_service_get_mode_chosen (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), TRUE);
  return !natter_service_get_running (self) || natter_dbus_chat_get_mode_chosen (self->root);
}

/**
 * natter_service_get_listen_address:
 * @self: a service
 *
 * Returns: where hosting listens (`HOST:PORT`), or "" when natterd does not host
 */
const char *
natter_service_get_listen_address (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);
  return root_string (self, natter_dbus_chat_get_listen_address);
}

/**
 * natter_service_get_listen_error:
 * @self: a service
 *
 * Returns: why hosting does not listen, as the system said it (such as “Address
 *   already in use”), or ""
 */
const char *
natter_service_get_listen_error (NatterService *self)
{
  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);
  return root_string (self, natter_dbus_chat_get_listen_error);
}

/**
 * natter_service_get_web_addresses:
 * @self: a service
 *
 * Returns: (transfer none): the addresses others open to chat here; empty when nobody can
 */
const char * const *
natter_service_get_web_addresses (NatterService *self)
{
  static const char * const none[] = { NULL };
  const char * const *addresses;

  g_return_val_if_fail (NATTER_IS_SERVICE (self), NULL);

  if (self->root == NULL || !natter_service_get_running (self))
    return none;
  addresses = natter_dbus_chat_get_web_addresses (self->root);
  return addresses != NULL ? addresses : none;
}

/**
 * natter_service_set_listen_address_async:
 * @self: a service
 * @address: `HOST:PORT`
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once natterd listens there, or could not
 * @user_data: data for @callback
 *
 * Moves where hosting listens (the port, and whether others on the network may join).
 */
void
natter_service_set_listen_address_async (NatterService       *self,
                                         const char          *address,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_SERVICE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_service_set_listen_address_async);
  account_call (self, task, "SetListenAddress", g_variant_new ("(s)", address));
}

gboolean
natter_service_set_listen_address_finish (NatterService  *self,
                                          GAsyncResult   *result,
                                          GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * natter_service_create_account_async:
 * @self: a service
 * @url: the server's WebSocket URL (`wss://host/ws`)
 * @user: the new account's name
 * @password: its password
 * @remember: whether natterd keeps the sign-in token (never the password) in the keyring
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the account exists and natterd has taken it
 * @user_data: data for @callback
 *
 * Creates an account on a remote server and makes natterd the desktop's connection to
 * it (upstream mode). Finish with natter_service_connect_finish().
 */
void
natter_service_create_account_async (NatterService       *self,
                                     const char          *url,
                                     const char          *user,
                                     const char          *password,
                                     gboolean             remember,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_SERVICE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_service_connect_async);
  account_call (self, task, "CreateAccount", g_variant_new ("(sssb)", url, user, password, remember));
}

static void
call_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);

  if (reply == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, g_steal_pointer (&reply), (GDestroyNotify) g_variant_unref);
}

/**
 * natter_service_call_async:
 * @self: a service
 * @method: a method of natterd's root object (io.github.natter.Chat)
 * @parameters: (nullable): its parameters; floating references are sunk
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with natterd's reply
 * @user_data: data for @callback
 *
 * Calls @method for a part of the app that shows natterd's errors in its own words (the
 * account page): natter_service_call_finish() returns the D-Bus error as it came.
 */
void
natter_service_call_async (NatterService       *self,
                           const char          *method,
                           GVariant            *parameters,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GVariant) owned_parameters = parameters != NULL ? g_variant_ref_sink (parameters) : NULL;
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (NATTER_IS_SERVICE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_service_call_async);
  if (!check_running (self, task))
    return;
  g_dbus_proxy_call (G_DBUS_PROXY (self->root), method, owned_parameters, G_DBUS_CALL_FLAGS_NONE,
                     -1, cancellable, call_cb, g_steal_pointer (&task));
}

/**
 * natter_service_call_finish:
 * @self: a service
 * @result: the result given to the callback
 * @error: return location for the D-Bus error
 *
 * Returns: (transfer full): the reply, or %NULL on error
 */
GVariant *
natter_service_call_finish (NatterService  *self,
                            GAsyncResult   *result,
                            GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
