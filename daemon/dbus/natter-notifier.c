/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-dbus"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "natter-notifier.h"
#include "natter-store.h"

#define NOTIFICATIONS_NAME  "org.freedesktop.Notifications"
#define NOTIFICATIONS_PATH  "/org/freedesktop/Notifications"
#define NOTIFICATIONS_IFACE "org.freedesktop.Notifications"
#define PORTAL_NAME         "org.freedesktop.portal.Desktop"
#define PORTAL_PATH         "/org/freedesktop/portal/desktop"
#define PORTAL_IFACE        "org.freedesktop.portal.Notification"
/* The GTK app's GNotification ids too: in the portal, the app's notification for a room
 * and natterd's replace each other. */
#define PORTAL_ID_PREFIX    "room:"
#define MAX_BODY_CHARS      200
/* The app's settings schema (its ID without a development suffix). */
#define APP_SETTINGS_SCHEMA "io.github.natter.Natter"

/* One notification per room: shown, or being shown with a newer message waiting. */
typedef struct
{
  guint32          id;         /* 0 when none is shown */
  gboolean         in_flight;  /* a Notify call is on its way */
  gboolean         withdrawn;  /* withdrawn while in flight: close it when it arrives */
  Natter__Message *queued;     /* (owned) (nullable) the next message to show */
  guint64          seq;        /* the message shown, which a click opens */
  char            *token;      /* (owned) (nullable) the server's activation token for it */
} RoomNote;

struct _NatterNotifier
{
  GObject          parent_instance;

  GDBusConnection *connection;   /* (owned) */
  gboolean         use_portal;   /* sandboxed: notifications go through the portal */
  guint            watch_id;
  char            *server;       /* (owned) (nullable) unique name of the server */
  gboolean         body_markup;
  guint            action_subscription;
  guint            closed_subscription;
  guint            token_subscription;
  GHashTable      *rooms;        /* (owned) room name → RoomNote * (owned) */
  GCancellable    *cancellable;  /* (owned) */
  GSettings       *settings;     /* (owned) (nullable) the app's, if its schema is installed */
};

G_DEFINE_FINAL_TYPE (NatterNotifier, natter_notifier, G_TYPE_OBJECT)

static void
room_note_free (RoomNote *note)
{
  g_clear_pointer (&note->queued, natter_message_free);
  g_free (note->token);
  g_free (note);
}

/**
 * natter_notifier_activate_app:
 * @connection: the session bus
 * @action: an application action of the GTK app, such as `open-message`
 * @parameter: (nullable) (transfer floating): its parameter
 * @activation_token: (nullable): an XDG activation token for the app's window, from
 *   what the user clicked (a notification server's ActivationToken)
 * @startup_id: (nullable): an X11 startup notification id, or %NULL for
 *   @activation_token (which a notification server hands out for both)
 *
 * Activates the app (D-Bus-activating it if needed) and runs @action in it. The token
 * and id go in the platform data (`activation-token`, `desktop-startup-id`), with which
 * GTK presents the window with focus.
 */
void
natter_notifier_activate_app (GDBusConnection *connection,
                              const char      *action,
                              GVariant        *parameter,
                              const char      *activation_token,
                              const char      *startup_id)
{
  g_autofree char *path = g_strdelimit (g_strconcat ("/", APP_ID, NULL), ".", '/');
  GVariantBuilder params;
  GVariantBuilder platform_data;

  g_return_if_fail (G_IS_DBUS_CONNECTION (connection));

  g_variant_builder_init (&params, G_VARIANT_TYPE ("av"));
  if (parameter != NULL)
    g_variant_builder_add (&params, "v", parameter);
  g_variant_builder_init (&platform_data, G_VARIANT_TYPE_VARDICT);
  if (startup_id == NULL)
    startup_id = activation_token;
  if (activation_token != NULL && *activation_token != '\0')
    g_variant_builder_add (&platform_data, "{sv}", "activation-token",
                           g_variant_new_string (activation_token));
  if (startup_id != NULL && *startup_id != '\0')
    g_variant_builder_add (&platform_data, "{sv}", "desktop-startup-id",
                           g_variant_new_string (startup_id));
  g_dbus_connection_call (connection, APP_ID, path, "org.freedesktop.Application",
                          "ActivateAction",
                          g_variant_new ("(sava{sv})", action, &params, &platform_data),
                          NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL, NULL);
}

/* The room and message a notification opens, as the app's open-message action takes. */
static GVariant *
open_message_target (const char *room,
                     guint64     seq)
{
  return g_variant_new ("(st)", room, seq);
}

static RoomNote *
lookup_note_by_id (NatterNotifier  *self,
                   guint32          id,
                   const char     **out_room)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      RoomNote *note = value;

      if (note->id == id)
        {
          *out_room = key;
          return note;
        }
    }
  return NULL;
}

static void
close_notification (NatterNotifier *self,
                    guint32         id)
{
  g_dbus_connection_call (self->connection, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH,
                          NOTIFICATIONS_IFACE, "CloseNotification", g_variant_new ("(u)", id),
                          NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL, NULL);
}

/**
 * natter_notifier_level_allows:
 * @level: the room's notification level for the account: "all", "mentions" or "none"
 * @account: (nullable): the account's user name
 * @message: a new message of the room
 *
 * Whether the room's notification level lets @message notify: "none" lets nothing
 * through, "mentions" only a message whose server-computed mentions name @account and
 * direct messages, "all" (or a level this version does not know) everything.
 *
 * Returns: whether @message may raise a notification
 */
gboolean
natter_notifier_level_allows (const char            *level,
                              const char            *account,
                              const Natter__Message *message)
{
  if (g_strcmp0 (level, "none") == 0)
    return FALSE;
  if (g_strcmp0 (level, "mentions") != 0)
    return TRUE;
  if (message->room != NULL && g_str_has_prefix (message->room, "dm:"))
    return TRUE;
  for (gsize i = 0; account != NULL && i < message->n_mentions; i++)
    if (g_strcmp0 (message->mentions[i], account) == 0)
      return TRUE;
  return FALSE;
}

/**
 * natter_notifier_title_for:
 * @message: a message
 *
 * A title for @message, for a notification or a search result: who wrote it, and
 * where (the name of a direct-message room is `dm:A:B`, the broadcast room's `system`).
 *
 * Returns: (transfer full): the title
 */
char *
natter_notifier_title_for (const Natter__Message *message)
{
  const char *sender = message->sender != NULL ? message->sender : "";
  const char *room = message->room != NULL ? message->room : "";

  if (g_str_has_prefix (room, "dm:"))
    return g_strdup (sender);
  if (g_str_equal (room, NATTER_SYSTEM_ROOM))
    /* Translators: the title of a notification or search result; %s is a user name. */
    return g_strdup_printf (_("Announcement from %s"), sender);
  /* Translators: the title of a notification or search result: a user name, then a
   * room name. */
  return g_strdup_printf (_("%s in #%s"), sender, room);
}

static char *
body_for (NatterNotifier        *self,
          const Natter__Message *message)
{
  const char *body = message->body != NULL ? message->body : "";
  g_autofree char *text = NULL;

  /* The app's “Show message text” holds for natterd's notifications too: someone
   * looking at the screen must not read the message. */
  if (self->settings != NULL && !g_settings_get_boolean (self->settings, "notification-preview"))
    return g_strdup (_("New message"));

  if (g_utf8_strlen (body, -1) > MAX_BODY_CHARS)
    {
      g_autofree char *start = g_utf8_substring (body, 0, MAX_BODY_CHARS);
      text = g_strconcat (start, "…", NULL);
    }
  else
    text = g_strdup (body);
  /* A server that renders markup would render a chat message's `<b>` too. */
  if (self->body_markup)
    return g_markup_escape_text (text, -1);
  return g_steal_pointer (&text);
}

static void send_notify (NatterNotifier *self, const char *room, RoomNote *note,
                         const Natter__Message *message);

typedef struct
{
  NatterNotifier *self;  /* (owned) */
  char           *room;  /* (owned) */
} NotifyCall;

static void
notify_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  NotifyCall *call = user_data;
  g_autoptr(NatterNotifier) self = call->self;
  g_autofree char *room = call->room;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                             result, &error);
  RoomNote *note = g_hash_table_lookup (self->rooms, room);

  g_free (call);
  if (note == NULL)
    return;
  note->in_flight = FALSE;
  if (reply == NULL)
    {
      g_debug ("Could not show a notification: %s", error->message);
      g_hash_table_remove (self->rooms, room);
      return;
    }
  g_variant_get (reply, "(u)", &note->id);
  if (note->withdrawn)
    {
      close_notification (self, note->id);
      g_hash_table_remove (self->rooms, room);
      return;
    }
  if (note->queued != NULL)
    {
      g_autoptr(Natter__Message) next = g_steal_pointer (&note->queued);

      send_notify (self, room, note, next);
    }
}

static void
send_notify (NatterNotifier        *self,
             const char            *room,
             RoomNote              *note,
             const Natter__Message *message)
{
  g_autofree char *summary = natter_notifier_title_for (message);
  g_autofree char *body = body_for (self, message);
  const char *actions[] = { "default", _("Open"), NULL };
  GVariantBuilder hints;
  NotifyCall *call;

  g_variant_builder_init (&hints, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&hints, "{sv}", "desktop-entry", g_variant_new_string (APP_ID));
  g_variant_builder_add (&hints, "{sv}", "category", g_variant_new_string ("im.received"));

  call = g_new0 (NotifyCall, 1);
  call->self = g_object_ref (self);
  call->room = g_strdup (room);
  note->in_flight = TRUE;
  note->seq = message->seq;
  g_clear_pointer (&note->token, g_free);
  g_dbus_connection_call (self->connection, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH,
                          NOTIFICATIONS_IFACE, "Notify",
                          g_variant_new ("(susss^asa{sv}i)", _("Natter"), note->id, APP_ID,
                                         summary, body, actions, &hints, -1),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                          self->cancellable, notify_cb, call);
}

static void
portal_add_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                             result, &error);

  if (reply == NULL)
    g_debug ("Could not show a notification through the portal: %s", error->message);
}

/* The portal keeps one notification per id, so a room's next message replaces the
 * previous one without waiting for a reply; its default action opens the room in the
 * app, which the portal activates by its app ID. */
static void
portal_show (NatterNotifier        *self,
             const Natter__Message *message)
{
  g_autofree char *id = g_strconcat (PORTAL_ID_PREFIX, message->room, NULL);
  g_autofree char *title = natter_notifier_title_for (message);
  g_autofree char *body = body_for (self, message);
  GVariantBuilder notification;
  RoomNote *note;

  note = g_hash_table_lookup (self->rooms, message->room);
  if (note == NULL)
    {
      note = g_new0 (RoomNote, 1);
      g_hash_table_insert (self->rooms, g_strdup (message->room), note);
    }
  note->seq = message->seq;
  g_variant_builder_init (&notification, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&notification, "{sv}", "title", g_variant_new_string (title));
  g_variant_builder_add (&notification, "{sv}", "body", g_variant_new_string (body));
  g_variant_builder_add (&notification, "{sv}", "default-action",
                         g_variant_new_string ("app.open-message"));
  g_variant_builder_add (&notification, "{sv}", "default-action-target",
                         open_message_target (message->room, message->seq));
  g_dbus_connection_call (self->connection, PORTAL_NAME, PORTAL_PATH, PORTAL_IFACE,
                          "AddNotification", g_variant_new ("(sa{sv})", id, &notification),
                          G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable,
                          portal_add_cb, NULL);
}

/**
 * natter_notifier_show:
 * @self: a #NatterNotifier
 * @message: a new message
 *
 * Shows @message, replacing the room's previous notification, if a notification
 * server is running.
 */
void
natter_notifier_show (NatterNotifier        *self,
                      const Natter__Message *message)
{
  RoomNote *note;

  g_return_if_fail (NATTER_IS_NOTIFIER (self));
  g_return_if_fail (message != NULL && message->room != NULL);

  if (self->settings != NULL && !g_settings_get_boolean (self->settings, "notifications"))
    return;
  if (self->use_portal)
    {
      portal_show (self, message);
      return;
    }
  if (self->server == NULL)
    return;

  note = g_hash_table_lookup (self->rooms, message->room);
  if (note == NULL)
    {
      note = g_new0 (RoomNote, 1);
      g_hash_table_insert (self->rooms, g_strdup (message->room), note);
    }
  note->withdrawn = FALSE;
  if (note->in_flight)
    {
      g_clear_pointer (&note->queued, natter_message_free);
      note->queued = natter_message_copy (message);
      return;
    }
  send_notify (self, message->room, note, message);
}

/**
 * natter_notifier_withdraw:
 * @self: a #NatterNotifier
 * @room: a room name
 *
 * Closes the room's notification, if one is shown: the user read the room or has it
 * on screen.
 */
void
natter_notifier_withdraw (NatterNotifier *self,
                          const char     *room)
{
  RoomNote *note;

  g_return_if_fail (NATTER_IS_NOTIFIER (self));

  note = g_hash_table_lookup (self->rooms, room);
  if (note == NULL)
    return;
  if (note->in_flight)
    {
      note->withdrawn = TRUE;
      g_clear_pointer (&note->queued, natter_message_free);
      return;
    }
  if (self->use_portal)
    {
      g_autofree char *id = g_strconcat (PORTAL_ID_PREFIX, room, NULL);

      g_dbus_connection_call (self->connection, PORTAL_NAME, PORTAL_PATH, PORTAL_IFACE,
                              "RemoveNotification", g_variant_new ("(s)", id), NULL,
                              G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL, NULL);
    }
  else if (note->id != 0)
    close_notification (self, note->id);
  g_hash_table_remove (self->rooms, room);
}

/**
 * natter_notifier_message_changed:
 * @self: a #NatterNotifier
 * @change: an edit or a deletion of a message (`target_seq` says which)
 *
 * Makes the room's notification follow a change of the message it shows: an edit shows
 * the new text, a deletion closes it, since a deleted message's text must not stay on
 * the screen. Notifications of other messages are left alone.
 */
void
natter_notifier_message_changed (NatterNotifier        *self,
                                 const Natter__Message *change)
{
  g_autoptr(Natter__Message) edited = NULL;
  Natter__Message *shown;
  RoomNote *note;

  g_return_if_fail (NATTER_IS_NOTIFIER (self));
  g_return_if_fail (change != NULL);

  if (change->room == NULL || !change->has_target_seq)
    return;
  note = g_hash_table_lookup (self->rooms, change->room);
  if (note == NULL)
    return;
  /* The message waiting to be shown, if it is the one changed; else the one shown. */
  shown = note->queued != NULL && note->queued->seq == change->target_seq ? note->queued : NULL;
  if (shown == NULL && note->seq != change->target_seq)
    return;

  if (g_strcmp0 (change->kind, NATTER_MESSAGE_KIND_DELETE) == 0)
    {
      natter_notifier_withdraw (self, change->room);
      return;
    }
  if (g_strcmp0 (change->kind, NATTER_MESSAGE_KIND_EDIT) != 0)
    return;
  edited = natter_message_new (change->room, change->target_seq, change->ts, change->sender,
                               change->body, NULL, NATTER_MESSAGE_KIND_TEXT);
  if (shown != NULL)
    {
      g_clear_pointer (&note->queued, natter_message_free);
      note->queued = g_steal_pointer (&edited);
      return;
    }
  natter_notifier_show (self, edited);
}

/**
 * natter_notifier_show_invitation:
 * @self: a #NatterNotifier
 * @room: the room the account was invited to
 * @by: (nullable): who invited it
 *
 * Shows that the account was invited to @room, if notifications are on and a
 * notification server is running. The notification has no action: the app lists the
 * invitation itself.
 */
void
natter_notifier_show_invitation (NatterNotifier *self,
                                 const char     *room,
                                 const char     *by)
{
  g_autofree char *title = NULL;
  g_autofree char *body = NULL;
  const char *no_actions[] = { NULL };
  GVariantBuilder hints;

  g_return_if_fail (NATTER_IS_NOTIFIER (self));
  g_return_if_fail (room != NULL);

  if (self->settings != NULL && !g_settings_get_boolean (self->settings, "notifications"))
    return;
  /* Translators: the title of a notification; %s is a room name. */
  title = g_strdup_printf (_("Invitation to #%s"), room);
  if (by != NULL && *by != '\0')
    /* Translators: the text of a notification; the first %s is a user name, the second
     * a room name. */
    body = g_strdup_printf (_("%s invited you to #%s."), by, room);
  else
    /* Translators: the text of a notification; %s is a room name. */
    body = g_strdup_printf (_("You were invited to #%s."), room);
  if (self->body_markup && !self->use_portal)
    {
      g_autofree char *escaped = g_markup_escape_text (body, -1);

      g_free (body);
      body = g_steal_pointer (&escaped);
    }

  if (self->use_portal)
    {
      g_autofree char *id = g_strconcat ("invite:", room, NULL);
      GVariantBuilder notification;

      g_variant_builder_init (&notification, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&notification, "{sv}", "title", g_variant_new_string (title));
      g_variant_builder_add (&notification, "{sv}", "body", g_variant_new_string (body));
      g_dbus_connection_call (self->connection, PORTAL_NAME, PORTAL_PATH, PORTAL_IFACE,
                              "AddNotification", g_variant_new ("(sa{sv})", id, &notification),
                              G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable,
                              portal_add_cb, NULL);
      return;
    }
  if (self->server == NULL)
    return;

  g_variant_builder_init (&hints, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&hints, "{sv}", "desktop-entry", g_variant_new_string (APP_ID));
  g_variant_builder_add (&hints, "{sv}", "category", g_variant_new_string ("im"));
  g_dbus_connection_call (self->connection, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH,
                          NOTIFICATIONS_IFACE, "Notify",
                          g_variant_new ("(susss^asa{sv}i)", _("Natter"), 0, APP_ID,
                                         title, body, no_actions, &hints, -1),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                          self->cancellable, NULL, NULL);
}

static void
action_invoked_cb (GDBusConnection *connection,
                   const char      *sender,
                   const char      *path,
                   const char      *iface,
                   const char      *signal,
                   GVariant        *parameters,
                   gpointer         user_data)
{
  NatterNotifier *self = user_data;
  const char *action, *room = NULL;
  RoomNote *note;
  guint32 id;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(us)")))
    return;
  g_variant_get (parameters, "(u&s)", &id, &action);
  if (g_strcmp0 (sender, self->server) != 0 || (note = lookup_note_by_id (self, id, &room)) == NULL)
    return;
  natter_notifier_activate_app (self->connection, "open-message",
                                open_message_target (room, note->seq), note->token, NULL);
}

/* Servers of notification spec 1.2 (GNOME Shell among them) send a token for the app's
 * window just before ActionInvoked: without it, Wayland does not give the app focus. */
static void
activation_token_cb (GDBusConnection *connection,
                     const char      *sender,
                     const char      *path,
                     const char      *iface,
                     const char      *signal,
                     GVariant        *parameters,
                     gpointer         user_data)
{
  NatterNotifier *self = user_data;
  const char *token, *room = NULL;
  RoomNote *note;
  guint32 id;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(us)")))
    return;
  g_variant_get (parameters, "(u&s)", &id, &token);
  if (g_strcmp0 (sender, self->server) != 0 || (note = lookup_note_by_id (self, id, &room)) == NULL)
    return;
  g_free (note->token);
  note->token = g_strdup (token);
}

static void
notification_closed_cb (GDBusConnection *connection,
                        const char      *sender,
                        const char      *path,
                        const char      *iface,
                        const char      *signal,
                        GVariant        *parameters,
                        gpointer         user_data)
{
  NatterNotifier *self = user_data;
  const char *room = NULL;
  RoomNote *note;
  guint32 id, reason;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(uu)")))
    return;
  g_variant_get (parameters, "(uu)", &id, &reason);
  if (g_strcmp0 (sender, self->server) != 0)
    return;
  note = lookup_note_by_id (self, id, &room);
  if (note != NULL && !note->in_flight)
    g_hash_table_remove (self->rooms, room);
}

/* Portals that do not activate the app themselves hand the click back to the sender. */
static void
portal_action_invoked_cb (GDBusConnection *connection,
                          const char      *sender,
                          const char      *path,
                          const char      *iface,
                          const char      *signal,
                          GVariant        *parameters,
                          gpointer         user_data)
{
  NatterNotifier *self = user_data;
  const char *id, *action;
  g_autoptr(GVariant) args = NULL;
  g_autoptr(GVariant) target = NULL;
  g_autoptr(GVariant) platform_data = NULL;
  const char *token = NULL;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(ssav)")))
    return;

  g_variant_get (parameters, "(&s&s@av)", &id, &action, &args);
  if (!g_str_equal (action, "app.open-message") || !g_str_has_prefix (id, PORTAL_ID_PREFIX))
    return;
  /* The target, then (newer portals) the platform data with the activation token. */
  if (g_variant_n_children (args) > 0)
    g_variant_get_child (args, 0, "v", &target);
  if (target == NULL || !g_variant_is_of_type (target, G_VARIANT_TYPE ("(st)")))
    return;
  if (g_variant_n_children (args) > 1)
    g_variant_get_child (args, 1, "v", &platform_data);
  if (platform_data != NULL && g_variant_is_of_type (platform_data, G_VARIANT_TYPE_VARDICT))
    g_variant_lookup (platform_data, "activation-token", "&s", &token);
  natter_notifier_activate_app (self->connection, "open-message", g_steal_pointer (&target), token,
                                NULL);
}

static void
capabilities_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(NatterNotifier) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                             result, &error);
  g_autofree const char **caps = NULL;

  if (reply == NULL)
    {
      g_debug ("The notification server has no capabilities: %s", error->message);
      return;
    }
  g_variant_get (reply, "(^a&s)", &caps);
  self->body_markup = g_strv_contains (caps, "body-markup");
}

static void
server_appeared_cb (GDBusConnection *connection,
                    const char      *name,
                    const char      *owner,
                    gpointer         user_data)
{
  NatterNotifier *self = user_data;

  g_free (self->server);
  self->server = g_strdup (owner);
  self->body_markup = FALSE;
  g_dbus_connection_call (connection, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH,
                          NOTIFICATIONS_IFACE, "GetCapabilities", NULL, G_VARIANT_TYPE ("(as)"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, self->cancellable,
                          capabilities_cb, g_object_ref (self));
}

static void
server_vanished_cb (GDBusConnection *connection,
                    const char      *name,
                    gpointer         user_data)
{
  NatterNotifier *self = user_data;

  g_clear_pointer (&self->server, g_free);
  /* Its notifications went with it. */
  g_hash_table_remove_all (self->rooms);
}

static void
natter_notifier_dispose (GObject *object)
{
  NatterNotifier *self = NATTER_NOTIFIER (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->watch_id, g_bus_unwatch_name);
  if (self->connection != NULL)
    {
      if (self->action_subscription != 0)
        g_dbus_connection_signal_unsubscribe (self->connection, self->action_subscription);
      if (self->closed_subscription != 0)
        g_dbus_connection_signal_unsubscribe (self->connection, self->closed_subscription);
      if (self->token_subscription != 0)
        g_dbus_connection_signal_unsubscribe (self->connection, self->token_subscription);
      self->action_subscription = self->closed_subscription = self->token_subscription = 0;
    }
  g_clear_object (&self->connection);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (natter_notifier_parent_class)->dispose (object);
}

static void
natter_notifier_finalize (GObject *object)
{
  NatterNotifier *self = NATTER_NOTIFIER (object);

  g_clear_pointer (&self->server, g_free);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (natter_notifier_parent_class)->finalize (object);
}

static void
natter_notifier_class_init (NatterNotifierClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_notifier_dispose;
  object_class->finalize = natter_notifier_finalize;
}

static void
natter_notifier_init (NatterNotifier *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) room_note_free);
  self->cancellable = g_cancellable_new ();
}

/* The GTK app's settings (data/io.github.natter.Natter.gschema.xml), read where the app
 * writes them (dconf on a desktop): natterd notifies for the app when it is closed, so
 * the user's choices there apply. Without the app's schema (natterd alone) there is
 * nothing to honour. */
static GSettings *
app_settings_new (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APP_SETTINGS_SCHEMA, TRUE);
  if (schema == NULL)
    {
      g_debug ("No %s schema: notifications follow natterd's defaults", APP_SETTINGS_SCHEMA);
      return NULL;
    }
  return g_settings_new_full (schema, NULL, NULL);
}

/**
 * natter_notifier_new:
 * @connection: the session bus
 *
 * Returns: (transfer full): a new #NatterNotifier
 */
NatterNotifier *
natter_notifier_new (GDBusConnection *connection)
{
  NatterNotifier *self;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);

  self = g_object_new (NATTER_TYPE_NOTIFIER, NULL);
  self->connection = g_object_ref (connection);
  self->settings = app_settings_new ();
  /* A Flatpak sandbox lets natterd talk to the portals but not to the notification
   * server, so there it uses the portal, as GNotification does; GIO_USE_PORTALS=1 asks
   * for the portal elsewhere, as it does of GIO. */
  self->use_portal = g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS) ||
                     g_strcmp0 (g_getenv ("GIO_USE_PORTALS"), "1") == 0;
  if (self->use_portal)
    {
      self->action_subscription =
        g_dbus_connection_signal_subscribe (connection, PORTAL_NAME, PORTAL_IFACE,
                                            "ActionInvoked", PORTAL_PATH, NULL,
                                            G_DBUS_SIGNAL_FLAGS_NONE, portal_action_invoked_cb,
                                            self, NULL);
      return self;
    }
  self->action_subscription =
    g_dbus_connection_signal_subscribe (connection, NOTIFICATIONS_NAME, NOTIFICATIONS_IFACE,
                                        "ActionInvoked", NOTIFICATIONS_PATH, NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE, action_invoked_cb, self, NULL);
  self->closed_subscription =
    g_dbus_connection_signal_subscribe (connection, NOTIFICATIONS_NAME, NOTIFICATIONS_IFACE,
                                        "NotificationClosed", NOTIFICATIONS_PATH, NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE, notification_closed_cb, self,
                                        NULL);
  self->token_subscription =
    g_dbus_connection_signal_subscribe (connection, NOTIFICATIONS_NAME, NOTIFICATIONS_IFACE,
                                        "ActivationToken", NOTIFICATIONS_PATH, NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE, activation_token_cb, self,
                                        NULL);
  self->watch_id = g_bus_watch_name_on_connection (connection, NOTIFICATIONS_NAME,
                                                   G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                   server_appeared_cb, server_vanished_cb,
                                                   self, NULL);
  return self;
}
