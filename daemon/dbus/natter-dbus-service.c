/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-dbus"

#include "config.h"

#include <string.h>

#include "natter-dbus-account.h"
#include "natter-dbus-client.h"
#include "natter-dbus-room.h"
#include "natter-dbus-service.h"
#include "natter-dbus-util.h"
#include "natter-error.h"
#include "natter-notifier.h"
#include "natter-search-provider.h"

struct _NatterDBusService
{
  NatterDBusChatSkeleton    parent_instance;

  NatterBackend            *backend;          /* (owned) */
  GDBusConnection          *connection;       /* (owned) */
  GDBusObjectManagerServer *manager;          /* (owned) */
  NatterDBusClient         *client;           /* (owned) */
  NatterSearchProvider     *search_provider;  /* (owned) */
  NatterNotifier           *notifier;         /* (owned) */
  GHashTable               *rooms;            /* (owned) room name → NatterDBusRoom * (owned) */
  GHashTable               *handlers;         /* (owned) unique name → name watch id: callers
                                               * that show notifications themselves */
  char                     *account;          /* (owned) */
  guint                     window_size;
  NatterDBusSwitchFunc      switch_func;      /* (nullable): the mode is fixed without */
  gpointer                  switch_data;      /* (unowned) */
  NatterDBusListenFunc      listen_func;      /* (nullable): no listener to move without */
  gpointer                  listen_data;      /* (unowned) */
};

static void natter_dbus_service_iface_init (NatterDBusChatIface *iface);
static void load_invitations (NatterDBusService *self);
static void drop_invitation (NatterDBusService *self, const char *room);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterDBusService, natter_dbus_service,
                               NATTER_DBUS_TYPE_CHAT_SKELETON,
                               G_IMPLEMENT_INTERFACE (NATTER_DBUS_TYPE_CHAT,
                                                      natter_dbus_service_iface_init))

/* ---------------------------------------------------------------------------------- */
/* Errors: one D-Bus name per protocol code, over the project's one error domain */

static const GDBusErrorEntry natter_dbus_error_entries[] = {
  { NATTER_ERROR_BAD_REQUEST,  "io.github.natter.Chat.Error.BadRequest" },
  { NATTER_ERROR_UNAUTHORIZED, "io.github.natter.Chat.Error.Unauthorized" },
  { NATTER_ERROR_FORBIDDEN,    "io.github.natter.Chat.Error.Forbidden" },
  { NATTER_ERROR_NOT_FOUND,    "io.github.natter.Chat.Error.NotFound" },
  { NATTER_ERROR_CONFLICT,     "io.github.natter.Chat.Error.Conflict" },
  { NATTER_ERROR_TOO_LARGE,    "io.github.natter.Chat.Error.TooLarge" },
  { NATTER_ERROR_RATE_LIMITED, "io.github.natter.Chat.Error.RateLimited" },
  { NATTER_ERROR_UNAVAILABLE,  "io.github.natter.Chat.Error.Unavailable" },
  { NATTER_ERROR_INTERNAL,     "io.github.natter.Chat.Error.Internal" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (natter_dbus_error_entries) == NATTER_ERROR_N_CODES);

static void
register_error_domain (void)
{
  static gsize quark = 0;

  /* The quark's name is the one G_DEFINE_QUARK gave NATTER_ERROR, so the entries map
   * that very domain. */
  g_dbus_error_register_error_domain ("natter-error-quark", &quark, natter_dbus_error_entries,
                                      G_N_ELEMENTS (natter_dbus_error_entries));
  g_assert ((GQuark) quark == NATTER_ERROR);
}

/* ---------------------------------------------------------------------------------- */
/* Rooms */

static void drop_room (NatterDBusService *self, const char *name);

static void
room_left_cb (NatterDBusRoom    *room,
              NatterDBusService *self)
{
  drop_room (self, natter_dbus_room_get_room_name (room));
}

static void
room_read_cb (NatterDBusRoom    *room,
              GParamSpec        *pspec,
              NatterDBusService *self)
{
  if (natter_dbus_chat_room_get_unread_count (NATTER_DBUS_CHAT_ROOM (room)) == 0)
    natter_notifier_withdraw (self->notifier, natter_dbus_room_get_room_name (room));
}

static void
room_viewed_cb (NatterDBusRoom    *room,
                NatterDBusService *self)
{
  if (natter_dbus_room_is_viewed (room))
    natter_notifier_withdraw (self->notifier, natter_dbus_room_get_room_name (room));
}

static void
unexport_room (gpointer data)
{
  NatterDBusRoom *room = data;

  natter_dbus_room_unexport (room);
  g_object_unref (room);
}

static void
drop_room (NatterDBusService *self,
           const char        *name)
{
  g_autofree char *room_name = g_strdup (name);

  if (g_hash_table_remove (self->rooms, room_name))
    natter_notifier_withdraw (self->notifier, room_name);
}

static NatterDBusRoom *
ensure_room (NatterDBusService *self,
             const char        *name,
             gboolean          *out_created)
{
  NatterDBusRoom *room = g_hash_table_lookup (self->rooms, name);

  *out_created = room == NULL;
  if (room != NULL)
    return room;

  room = natter_dbus_room_new (self->client, self->manager, name, self->account,
                               self->window_size);
  g_signal_connect_object (room, "left", G_CALLBACK (room_left_cb), self, 0);
  g_signal_connect_object (room, "notify::unread-count", G_CALLBACK (room_read_cb), self, 0);
  g_signal_connect_object (room, "viewed-changed", G_CALLBACK (room_viewed_cb), self, 0);
  g_hash_table_insert (self->rooms, g_strdup (name), room);
  return room;
}

/* A reply from the client of natterd's previous mode (SetMode() switched while the
 * request was in flight) speaks of the other account's rooms: it makes no object. */
static gboolean
from_current_client (NatterDBusService *self,
                     GObject           *source)
{
  return source == G_OBJECT (self->client);
}

static void
room_joined_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterDBusService) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterEvent) event = natter_dbus_client_request_finish (NATTER_DBUS_CLIENT (source),
                                                                    result, &error);
  const Natter__ServerFrame *frame;
  NatterDBusRoom *room;

  if (event == NULL)
    {
      g_debug ("Could not load a room: %s", error->message);
      return;
    }
  frame = natter_event_get_frame (event);
  if (frame->event_case != NATTER__SERVER_FRAME__EVENT_JOINED || frame->joined->room == NULL ||
      !from_current_client (self, source))
    return;
  room = g_hash_table_lookup (self->rooms, frame->joined->room);
  if (room == NULL)
    return;
  natter_dbus_room_update_joined (room, frame->joined);
  natter_dbus_room_fill_window (room);
}

/* A room of the account the service has no object for yet: `join` is idempotent for a
 * member and tells the members, then the window is loaded. */
static Natter__ClientFrame *
join_frame_new (const char *room)
{
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_JOIN;
  frame->join = g_new0 (Natter__Join, 1);
  natter__join__init (frame->join);
  frame->join->room = g_strdup (room);
  return frame;
}

static void
load_room (NatterDBusService *self,
           const char        *name)
{
  natter_dbus_client_request_async (self->client, join_frame_new (name), NULL, room_joined_cb,
                                    g_object_ref (self));
}

static void
apply_room_infos (NatterDBusService        *self,
                  Natter__RoomInfo * const *infos,
                  gsize                     n_infos)
{
  for (gsize i = 0; i < n_infos; i++)
    {
      gboolean created;
      NatterDBusRoom *room;

      if (infos[i]->name == NULL)
        continue;
      room = ensure_room (self, infos[i]->name, &created);
      natter_dbus_room_update_info (room, infos[i]);
      if (created)
        load_room (self, infos[i]->name);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Events pushed by the backend */

static gboolean
notifications_wanted (NatterDBusService     *self,
                      NatterDBusRoom        *room,
                      const Natter__Message *message)
{
  return g_hash_table_size (self->handlers) == 0 &&
         g_strcmp0 (message->sender, self->account) != 0 &&
         !natter_dbus_room_is_viewed (room) &&
         natter_notifier_level_allows (
           natter_dbus_chat_room_get_notification_level (NATTER_DBUS_CHAT_ROOM (room)),
           self->account, message);
}

static void
on_message (NatterDBusService     *self,
            const Natter__Message *message)
{
  NatterDBusRoom *room;
  gboolean created;

  if (message->room == NULL)
    return;
  room = ensure_room (self, message->room, &created);
  /* A direct message someone else started, or a room joined from another session. */
  if (created)
    load_room (self, message->room);
  if (natter_dbus_room_add_message (room, message, TRUE) &&
      notifications_wanted (self, room, message))
    natter_notifier_show (self->notifier, message);
  else if (message->has_target_seq)
    natter_notifier_message_changed (self->notifier, message);
}

static void
on_member (NatterDBusService      *self,
           const Natter__Member   *member)
{
  NatterDBusRoom *room;
  gboolean created;

  if (member->room == NULL || member->user == NULL)
    return;
  if (g_strcmp0 (member->user, self->account) == 0)
    {
      if (!member->joined)
        {
          /* Left, kicked or banned: the room says so (and by whom) before it goes. */
          room = g_hash_table_lookup (self->rooms, member->room);
          if (room != NULL)
            natter_dbus_room_member_changed (room, member->user, FALSE, NULL, member->by);
          drop_room (self, member->room);
          return;
        }
      room = ensure_room (self, member->room, &created);
      if (created)
        load_room (self, member->room);
      /* Joining used the invitation up. */
      drop_invitation (self, member->room);
    }
  room = g_hash_table_lookup (self->rooms, member->room);
  if (room == NULL)
    return;
  natter_dbus_room_member_changed (room, member->user, member->joined, member->role, member->by);
  /* Whether the newcomer is online is the backend's to say: ask it for the room again
   * (not for a new role: the member was one already). */
  if (member->joined && member->role == NULL && g_strcmp0 (member->user, self->account) != 0)
    load_room (self, member->room);
}

static void
on_topic (NatterDBusService  *self,
          const Natter__Topic *topic)
{
  NatterDBusRoom *room = topic->room != NULL ? g_hash_table_lookup (self->rooms, topic->room)
                                             : NULL;

  if (room != NULL)
    natter_dbus_room_topic_changed (room, topic->topic);
}

static void
on_invite (NatterDBusService     *self,
           const Natter__Invited *invited)
{
  if (invited->room == NULL)
    return;
  /* The list first, so that a front end reading it on the signal finds the room
   * (with the server's time once the list is read again). */
  load_invitations (self);
  natter_dbus_chat_emit_invited (NATTER_DBUS_CHAT (self), invited->room,
                                 invited->by != NULL ? invited->by : "");
  /* As for messages: not when a front end shows them itself. */
  if (g_hash_table_size (self->handlers) == 0)
    natter_notifier_show_invitation (self->notifier, invited->room, invited->by);
}

static void
on_presence (NatterDBusService       *self,
             const Natter__Presence  *presence)
{
  GHashTableIter iter;
  gpointer room;

  if (presence->user == NULL)
    return;
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, &room))
    natter_dbus_room_presence_changed (room, presence->user, presence->online);
}

/* Invitations: the backend's list (the server's, in upstream mode), read again at each
 * welcome and whenever it may have changed. */

static void
invitations_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterDBusService) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterEvent) event = natter_dbus_client_request_finish (NATTER_DBUS_CLIENT (source),
                                                                    result, &error);
  const Natter__InvitationList *list;
  GVariantBuilder builder;

  if (event == NULL)
    {
      g_debug ("Could not list the invitations: %s", error->message);
      return;
    }
  /* A reply from the client of a backend that was replaced since. */
  if (NATTER_DBUS_CLIENT (source) != self->client ||
      natter_event_get_frame (event)->event_case != NATTER__SERVER_FRAME__EVENT_INVITATION_LIST)
    return;
  list = natter_event_get_frame (event)->invitation_list;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssx)"));
  for (gsize i = 0; i < list->n_invitations; i++)
    if (list->invitations[i]->room != NULL)
      g_variant_builder_add (&builder, "(ssx)", list->invitations[i]->room,
                             list->invitations[i]->by != NULL ? list->invitations[i]->by : "",
                             (gint64) list->invitations[i]->ts);
  natter_dbus_chat_set_invitations (NATTER_DBUS_CHAT (self), g_variant_builder_end (&builder));
}

static void
load_invitations (NatterDBusService *self)
{
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_INVITATIONS;
  frame->invitations = g_new0 (Natter__Invitations, 1);
  natter__invitations__init (frame->invitations);
  natter_dbus_client_request_async (self->client, frame, NULL, invitations_cb,
                                    g_object_ref (self));
}

/* Takes @room out of the Invitations property (joined or declined). */
static void
drop_invitation (NatterDBusService *self,
                 const char        *room)
{
  GVariant *current = natter_dbus_chat_get_invitations (NATTER_DBUS_CHAT (self));
  GVariantBuilder builder;
  gboolean found = FALSE;
  GVariantIter iter;
  const char *name, *by;
  gint64 ts;

  if (current == NULL)
    return;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssx)"));
  g_variant_iter_init (&iter, current);
  while (g_variant_iter_next (&iter, "(&s&sx)", &name, &by, &ts))
    {
      if (g_str_equal (name, room))
        found = TRUE;
      else
        g_variant_builder_add (&builder, "(ssx)", name, by, ts);
    }
  if (found)
    natter_dbus_chat_set_invitations (NATTER_DBUS_CHAT (self), g_variant_builder_end (&builder));
  else
    g_variant_builder_clear (&builder);
}

static gboolean
natter_dbus_service_handle_decline_invitation (NatterDBusChat        *iface,
                                               GDBusMethodInvocation *invocation,
                                               const char            *room)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_DECLINE;
  frame->decline = g_new0 (Natter__Decline, 1);
  natter__decline__init (frame->decline);
  frame->decline->room = g_strdup (room);
  /* Gone from the list at once: declined now, or not there to decline. */
  drop_invitation (self, room);
  natter_dbus_client_request_async (self->client, frame, NULL, natter_dbus_call_return_ok_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
on_welcome (NatterDBusService      *self,
            const Natter__Welcome  *welcome)
{
  NatterDBusChat *iface = NATTER_DBUS_CHAT (self);

  if (welcome->user != NULL)
    {
      g_free (self->account);
      self->account = g_strdup (welcome->user);
      natter_dbus_chat_set_account (iface, welcome->user);
    }
  natter_dbus_chat_set_admin (iface, welcome->admin);
  if (welcome->epoch != NULL)
    natter_dbus_chat_set_epoch (iface, welcome->epoch);
  if (welcome->node != NULL)
    natter_dbus_chat_set_node (iface, welcome->node);
  apply_room_infos (self, (Natter__RoomInfo * const *) welcome->rooms, welcome->n_rooms);
  load_invitations (self);
}

static void
on_client_event (NatterDBusClient  *client,
                 NatterEvent       *event,
                 NatterDBusService *self)
{
  const Natter__ServerFrame *frame = natter_event_get_frame (event);
  NatterDBusRoom *room;

  switch ((int) frame->event_case)
    {
    case NATTER__SERVER_FRAME__EVENT_WELCOME:
      on_welcome (self, frame->welcome);
      break;
    case NATTER__SERVER_FRAME__EVENT_MESSAGE:
      on_message (self, frame->message);
      break;
    case NATTER__SERVER_FRAME__EVENT_MEMBER:
      on_member (self, frame->member);
      break;
    case NATTER__SERVER_FRAME__EVENT_PRESENCE:
      on_presence (self, frame->presence);
      break;
    case NATTER__SERVER_FRAME__EVENT_TOPIC:
      on_topic (self, frame->topic);
      break;
    case NATTER__SERVER_FRAME__EVENT_INVITE:
      on_invite (self, frame->invite);
      break;
    case NATTER__SERVER_FRAME__EVENT_TYPING:
      room = frame->typing->room != NULL ? g_hash_table_lookup (self->rooms, frame->typing->room)
                                         : NULL;
      if (room != NULL && frame->typing->user != NULL)
        natter_dbus_room_typing (room, frame->typing->user, frame->typing->active);
      break;
    case NATTER__SERVER_FRAME__EVENT_RECEIPT:
      room = frame->receipt->room != NULL ? g_hash_table_lookup (self->rooms, frame->receipt->room)
                                          : NULL;
      if (room != NULL && frame->receipt->user != NULL)
        natter_dbus_room_receipt (room, frame->receipt->user, frame->receipt->seq);
      break;
    case NATTER__SERVER_FRAME__EVENT_NOTIFICATION_LEVEL:
      room = frame->notification_level->room != NULL
             ? g_hash_table_lookup (self->rooms, frame->notification_level->room) : NULL;
      if (room != NULL && frame->notification_level->level != NULL)
        natter_dbus_room_set_notification_level (room, frame->notification_level->level);
      break;
    case NATTER__SERVER_FRAME__EVENT_ERROR:
      /* The answer to a request sent without an id (typing). */
      g_debug ("The backend refused a request of the D-Bus front end: %s: %s",
               frame->error->code, frame->error->message);
      break;
    default:
      g_debug ("Ignoring a frame of kind %d from the backend", (int) frame->event_case);
      break;
    }
}

/* ---------------------------------------------------------------------------------- */
/* Methods */

static int
compare_directory_rooms (gconstpointer a,
                         gconstpointer b)
{
  const Natter__DirectoryRoom *x = *(Natter__DirectoryRoom * const *) a;
  const Natter__DirectoryRoom *y = *(Natter__DirectoryRoom * const *) b;

  if (x->members != y->members)
    return x->members > y->members ? -1 : 1;
  return g_strcmp0 (x->name, y->name);
}

static void
join_room_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  NatterDBusService *self = call->self;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_JOINED);
  const Natter__Joined *joined;
  NatterDBusRoom *room;
  gboolean created;

  if (event == NULL)
    return;
  if (!from_current_client (self, source))
    {
      g_dbus_method_invocation_return_error (call->invocation, NATTER_ERROR,
                                             NATTER_ERROR_UNAVAILABLE,
                                             "natterd switched modes meanwhile");
      return;
    }
  joined = natter_event_get_frame (event)->joined;
  room = ensure_room (self, joined->room, &created);
  natter_dbus_room_update_joined (room, joined);
  natter_dbus_room_fill_window (room);
  natter_dbus_chat_complete_join_room (NATTER_DBUS_CHAT (self), call->invocation,
                                       natter_dbus_room_get_object_path (room));
}

static void
create_room_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  NatterDBusService *self = call->self;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_JOINED);
  const Natter__Joined *joined;
  NatterDBusRoom *room;
  gboolean created;

  if (event == NULL)
    return;
  if (!from_current_client (self, source))
    {
      g_dbus_method_invocation_return_error (call->invocation, NATTER_ERROR,
                                             NATTER_ERROR_UNAVAILABLE,
                                             "natterd switched modes meanwhile");
      return;
    }
  joined = natter_event_get_frame (event)->joined;
  room = ensure_room (self, joined->room, &created);
  natter_dbus_room_update_joined (room, joined);
  natter_dbus_chat_complete_create_room (NATTER_DBUS_CHAT (self), call->invocation,
                                         natter_dbus_room_get_object_path (room));
}

static gboolean
natter_dbus_service_handle_create_room (NatterDBusChat        *iface,
                                        GDBusMethodInvocation *invocation,
                                        const char            *name,
                                        gboolean               is_private,
                                        const char            *topic)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  /* The backend checks the name and the topic, and answers `joined`. */
  frame->op_case = NATTER__CLIENT_FRAME__OP_CREATE;
  frame->create = g_new0 (Natter__Create, 1);
  natter__create__init (frame->create);
  frame->create->room = g_strdup (name);
  frame->create->has_private_ = TRUE;
  frame->create->private_ = is_private;
  frame->create->topic = *topic != '\0' ? g_strdup (topic) : NULL;
  natter_dbus_client_request_async (self->client, frame, NULL, create_room_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
directory_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_DIRECTORY);
  const Natter__DirectoryList *list;
  g_autoptr(GPtrArray) rooms = NULL;
  GVariantBuilder builder;

  if (event == NULL)
    return;
  list = natter_event_get_frame (event)->directory;
  /* Most members first, as documented; the server lists them by name, which breaks ties. */
  rooms = g_ptr_array_new ();
  for (gsize i = 0; i < list->n_rooms; i++)
    if (list->rooms[i]->name != NULL)
      g_ptr_array_add (rooms, list->rooms[i]);
  g_ptr_array_sort (rooms, compare_directory_rooms);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssu)"));
  for (guint i = 0; i < rooms->len; i++)
    {
      const Natter__DirectoryRoom *room = g_ptr_array_index (rooms, i);

      g_variant_builder_add (&builder, "(ssu)", room->name,
                             room->topic != NULL ? room->topic : "", room->members);
    }
  natter_dbus_chat_complete_directory (NATTER_DBUS_CHAT (call->self), call->invocation,
                                       g_variant_builder_end (&builder));
}

static gboolean
natter_dbus_service_handle_directory (NatterDBusChat        *iface,
                                      GDBusMethodInvocation *invocation,
                                      const char            *query,
                                      guint                  limit)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_DIRECTORY;
  frame->directory = g_new0 (Natter__Directory, 1);
  natter__directory__init (frame->directory);
  /* "" and 0 mean "every room" and "the server's default", as documented; the backend
   * refuses a limit above 100. */
  frame->directory->query = *query != '\0' ? g_strdup (query) : NULL;
  frame->directory->has_limit = limit > 0;
  frame->directory->limit = limit;
  natter_dbus_client_request_async (self->client, frame, NULL, directory_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
request_block (NatterDBusService     *self,
               GDBusMethodInvocation *invocation,
               gboolean               block,
               const char            *user)
{
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();
  Natter__Block *op = g_new0 (Natter__Block, 1);

  natter__block__init (op);
  op->user = g_strdup (user);
  if (block)
    {
      frame->op_case = NATTER__CLIENT_FRAME__OP_BLOCK;
      frame->block = op;
    }
  else
    {
      frame->op_case = NATTER__CLIENT_FRAME__OP_UNBLOCK;
      frame->unblock = op;
    }
  natter_dbus_client_request_async (self->client, frame, NULL, natter_dbus_call_return_ok_cb,
                                    natter_dbus_call_new (self, invocation));
}

static gboolean
natter_dbus_service_handle_block (NatterDBusChat        *iface,
                                  GDBusMethodInvocation *invocation,
                                  const char            *user)
{
  request_block (NATTER_DBUS_SERVICE (iface), invocation, TRUE, user);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_service_handle_unblock (NatterDBusChat        *iface,
                                    GDBusMethodInvocation *invocation,
                                    const char            *user)
{
  request_block (NATTER_DBUS_SERVICE (iface), invocation, FALSE, user);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_service_handle_join_room (NatterDBusChat        *iface,
                                      GDBusMethodInvocation *invocation,
                                      const char            *name)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);

  natter_dbus_client_request_async (self->client, join_frame_new (name), NULL, join_room_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
sent_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_SENT);
  guint64 seq;

  if (event == NULL)
    return;
  /* SendDirect and Broadcast have the same reply: (t seq). */
  seq = natter_event_get_frame (event)->sent->seq;
  g_dbus_method_invocation_return_value (call->invocation, g_variant_new ("(t)", seq));
}

static gboolean
natter_dbus_service_handle_send_direct (NatterDBusChat        *iface,
                                        GDBusMethodInvocation *invocation,
                                        const char            *to,
                                        const char            *body)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_SEND;
  frame->send = g_new0 (Natter__Send, 1);
  natter__send__init (frame->send);
  frame->send->to = g_strdup (to);
  frame->send->body = g_strdup (body);
  frame->send->client_msg_id = natter_dbus_new_client_msg_id ();
  natter_dbus_client_request_async (self->client, frame, NULL, sent_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_service_handle_broadcast (NatterDBusChat        *iface,
                                      GDBusMethodInvocation *invocation,
                                      const char            *body)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_BROADCAST;
  frame->broadcast = g_new0 (Natter__Broadcast, 1);
  natter__broadcast__init (frame->broadcast);
  frame->broadcast->body = g_strdup (body);
  frame->broadcast->client_msg_id = natter_dbus_new_client_msg_id ();
  natter_dbus_client_request_async (self->client, frame, NULL, sent_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
search_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_SEARCH_RESULTS);
  const Natter__SearchResults *results;
  GVariantBuilder builder;

  if (event == NULL)
    return;
  results = natter_event_get_frame (event)->search_results;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(stxss)"));
  for (gsize i = 0; i < results->n_messages; i++)
    {
      const Natter__Message *m = results->messages[i];

      g_variant_builder_add (&builder, "(stxss)",
                             m->room != NULL ? m->room : "", m->seq, m->ts,
                             m->sender != NULL ? m->sender : "",
                             m->body != NULL ? m->body : "");
    }
  natter_dbus_chat_complete_search (NATTER_DBUS_CHAT (call->self), call->invocation,
                                    g_variant_builder_end (&builder));
}

static gboolean
natter_dbus_service_handle_search (NatterDBusChat        *iface,
                                   GDBusMethodInvocation *invocation,
                                   const char            *query,
                                   const char            *room,
                                   guint                  limit)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);
  Natter__ClientFrame *frame = natter_dbus_client_frame_new ();

  frame->op_case = NATTER__CLIENT_FRAME__OP_SEARCH;
  frame->search = g_new0 (Natter__Search, 1);
  natter__search__init (frame->search);
  frame->search->query = g_strdup (query);
  /* "" and 0 mean "every room" and "the server's default", as documented. */
  frame->search->room = *room != '\0' ? g_strdup (room) : NULL;
  frame->search->has_limit = limit > 0;
  frame->search->limit = limit;
  natter_dbus_client_request_async (self->client, frame, NULL, search_cb,
                                    natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
handler_vanished_cb (GDBusConnection *connection,
                     const char      *name,
                     gpointer         user_data)
{
  NatterDBusService *self = user_data;

  g_hash_table_remove (self->handlers, name);
}

static gboolean
natter_dbus_service_handle_set_notifications_handled (NatterDBusChat        *iface,
                                                      GDBusMethodInvocation *invocation,
                                                      gboolean               handled)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);

  natter_dbus_watch_caller (self->handlers, invocation, handled, handler_vanished_cb, self);
  natter_dbus_chat_complete_set_notifications_handled (iface, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
connected_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_backend_connect_finish (NATTER_BACKEND (source), result, &error))
    {
      g_dbus_method_invocation_return_gerror (call->invocation, error);
      return;
    }
  natter_dbus_chat_complete_connect (NATTER_DBUS_CHAT (call->self), call->invocation);
}

static void
account_created_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_backend_create_account_finish (NATTER_BACKEND (source), result, &error))
    {
      g_dbus_method_invocation_return_gerror (call->invocation, error);
      return;
    }
  natter_dbus_chat_complete_create_account (NATTER_DBUS_CHAT (call->self), call->invocation);
}

static void
switch_mode (NatterDBusService   *self,
             const char          *mode,
             const char          *url,
             const char          *user,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, switch_mode);
  self->switch_func (self, mode, url, user, task, self->switch_data);
}

/* A Connect() that first switches natterd from hosting to upstream mode. */
typedef struct
{
  NatterDBusCall *call;      /* (owned) */
  char           *url;       /* (owned) */
  char           *user;      /* (owned) */
  char           *password;  /* (owned) wiped when freed */
  gboolean        remember;
  gboolean        create;    /* CreateAccount() */
} ConnectData;

static void
connect_data_free (ConnectData *data)
{
  g_clear_pointer (&data->call, natter_dbus_call_free);
  g_free (data->url);
  g_free (data->user);
  if (data->password != NULL)
    memset (data->password, 0, strlen (data->password));
  g_free (data->password);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConnectData, connect_data_free)

static void
switched_for_connect_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(ConnectData) data = user_data;
  NatterDBusService *self = NATTER_DBUS_SERVICE (source);
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_dbus_method_invocation_return_gerror (data->call->invocation, error);
      return;
    }
  if (data->create)
    natter_backend_create_account_async (self->backend, data->url, data->user, data->password,
                                         data->remember, NULL, account_created_cb,
                                         g_steal_pointer (&data->call));
  else
    natter_backend_connect_async (self->backend, data->url, data->user, data->password,
                                  data->remember, NULL, connected_cb,
                                  g_steal_pointer (&data->call));
}

/* Connect() and CreateAccount(): in host mode, natterd switches to upstream mode first. */
static void
connect_or_create (NatterDBusService     *self,
                   GDBusMethodInvocation *invocation,
                   const char            *url,
                   const char            *user,
                   const char            *password,
                   gboolean               remember,
                   gboolean               create)
{
  ConnectData *data;

  if (self->switch_func == NULL ||
      g_strcmp0 (natter_dbus_chat_get_mode (NATTER_DBUS_CHAT (self)), "host") != 0)
    {
      if (create)
        natter_backend_create_account_async (self->backend, url, user, password, remember, NULL,
                                             account_created_cb,
                                             natter_dbus_call_new (self, invocation));
      else
        natter_backend_connect_async (self->backend, url, user, password, remember, NULL,
                                      connected_cb, natter_dbus_call_new (self, invocation));
      return;
    }
  if (*url == '\0')
    {
      g_dbus_method_invocation_return_error_literal (invocation, NATTER_ERROR,
                                                     NATTER_ERROR_BAD_REQUEST,
                                                     "Enter the address of the server to connect to.");
      return;
    }
  data = g_new0 (ConnectData, 1);
  data->call = natter_dbus_call_new (self, invocation);
  data->url = g_strdup (url);
  data->user = g_strdup (user);
  data->password = g_strdup (password);
  data->remember = remember;
  data->create = create;
  switch_mode (self, "upstream", url, *user != '\0' ? user : NULL, switched_for_connect_cb,
               data);
}

static gboolean
natter_dbus_service_handle_connect (NatterDBusChat        *iface,
                                    GDBusMethodInvocation *invocation,
                                    const char            *url,
                                    const char            *user,
                                    const char            *password,
                                    gboolean               remember)
{
  connect_or_create (NATTER_DBUS_SERVICE (iface), invocation, url, user, password, remember,
                     FALSE);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_service_handle_create_account (NatterDBusChat        *iface,
                                           GDBusMethodInvocation *invocation,
                                           const char            *url,
                                           const char            *user,
                                           const char            *password,
                                           gboolean               remember)
{
  connect_or_create (NATTER_DBUS_SERVICE (iface), invocation, url, user, password, remember,
                     TRUE);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_service_handle_set_listen_address (NatterDBusChat        *iface,
                                               GDBusMethodInvocation *invocation,
                                               const char            *address)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);
  g_autoptr(GError) error = NULL;

  if (self->listen_func == NULL)
    {
      g_dbus_method_invocation_return_error_literal (invocation, NATTER_ERROR,
                                                     NATTER_ERROR_BAD_REQUEST,
                                                     "This natterd is a node of a cluster: it listens where it was configured to.");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (!self->listen_func (self, address, &error, self->listen_data))
    {
      /* A port that is taken is the network's state, not a bad request. */
      if (error->domain != NATTER_ERROR)
        {
          g_autoptr(GError) unavailable = g_error_new_literal (NATTER_ERROR,
                                                               NATTER_ERROR_UNAVAILABLE,
                                                               error->message);

          g_dbus_method_invocation_return_gerror (invocation, unavailable);
        }
      else
        g_dbus_method_invocation_return_gerror (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  natter_dbus_chat_complete_set_listen_address (iface, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
mode_set_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_dbus_method_invocation_return_gerror (call->invocation, error);
      return;
    }
  natter_dbus_chat_complete_set_mode (NATTER_DBUS_CHAT (source), call->invocation);
}

static gboolean
natter_dbus_service_handle_set_mode (NatterDBusChat        *iface,
                                     GDBusMethodInvocation *invocation,
                                     const char            *mode)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);

  if (!g_str_equal (mode, "host") && !g_str_equal (mode, "upstream"))
    {
      g_dbus_method_invocation_return_error (invocation, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                                             "Unknown mode “%s”: it is “host” or “upstream”.",
                                             mode);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (self->switch_func == NULL)
    {
      g_dbus_method_invocation_return_error_literal (invocation, NATTER_ERROR,
                                                     NATTER_ERROR_BAD_REQUEST,
                                                     "This natterd is a node of a cluster: its mode cannot change.");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  switch_mode (self, mode, NULL, NULL, mode_set_cb, natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
natter_dbus_service_handle_disconnect (NatterDBusChat        *iface,
                                       GDBusMethodInvocation *invocation)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);
  g_autoptr(GError) error = NULL;

  if (natter_backend_disconnect (self->backend, &error))
    natter_dbus_chat_complete_disconnect (iface, invocation);
  else
    g_dbus_method_invocation_return_gerror (invocation, error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
forgotten_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_backend_forget_account_finish (NATTER_BACKEND (source), result, &error))
    {
      g_dbus_method_invocation_return_gerror (call->invocation, error);
      return;
    }
  natter_dbus_chat_complete_forget_account (NATTER_DBUS_CHAT (call->self), call->invocation);
}

static gboolean
natter_dbus_service_handle_forget_account (NatterDBusChat        *iface,
                                           GDBusMethodInvocation *invocation)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (iface);

  natter_backend_forget_account_async (self->backend, NULL, forgotten_cb,
                                       natter_dbus_call_new (self, invocation));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
natter_dbus_service_iface_init (NatterDBusChatIface *iface)
{
  iface->handle_join_room = natter_dbus_service_handle_join_room;
  iface->handle_send_direct = natter_dbus_service_handle_send_direct;
  iface->handle_broadcast = natter_dbus_service_handle_broadcast;
  iface->handle_search = natter_dbus_service_handle_search;
  iface->handle_set_notifications_handled = natter_dbus_service_handle_set_notifications_handled;
  iface->handle_connect = natter_dbus_service_handle_connect;
  iface->handle_create_account = natter_dbus_service_handle_create_account;
  iface->handle_set_mode = natter_dbus_service_handle_set_mode;
  iface->handle_set_listen_address = natter_dbus_service_handle_set_listen_address;
  iface->handle_disconnect = natter_dbus_service_handle_disconnect;
  iface->handle_forget_account = natter_dbus_service_handle_forget_account;
  iface->handle_create_room = natter_dbus_service_handle_create_room;
  iface->handle_directory = natter_dbus_service_handle_directory;
  iface->handle_decline_invitation = natter_dbus_service_handle_decline_invitation;
  iface->handle_block = natter_dbus_service_handle_block;
  iface->handle_unblock = natter_dbus_service_handle_unblock;
  natter_dbus_account_iface_init (iface);
}

/* ---------------------------------------------------------------------------------- */
/* Lifetime */

static void
natter_dbus_service_dispose (GObject *object)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (object);

  if (self->connection != NULL)
    {
      GDBusInterfaceSkeleton *root = G_DBUS_INTERFACE_SKELETON (self);
      GDBusInterfaceSkeleton *search = G_DBUS_INTERFACE_SKELETON (self->search_provider);

      if (g_dbus_interface_skeleton_has_connection (root, self->connection))
        g_dbus_interface_skeleton_unexport (root);
      if (search != NULL && g_dbus_interface_skeleton_has_connection (search, self->connection))
        g_dbus_interface_skeleton_unexport (search);
    }
  if (self->rooms != NULL)
    g_hash_table_remove_all (self->rooms);
  if (self->manager != NULL)
    g_dbus_object_manager_server_set_connection (self->manager, NULL);
  if (self->client != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->client, self);
      if (self->backend != NULL)
        natter_backend_remove_client (self->backend, NATTER_CLIENT (self->client));
    }
  /* Watches hold callbacks that point at us. */
  if (self->handlers != NULL)
    g_hash_table_remove_all (self->handlers);

  g_clear_object (&self->search_provider);
  g_clear_object (&self->notifier);
  g_clear_object (&self->manager);
  g_clear_object (&self->client);
  g_clear_object (&self->connection);
  g_clear_object (&self->backend);

  G_OBJECT_CLASS (natter_dbus_service_parent_class)->dispose (object);
}

static void
natter_dbus_service_finalize (GObject *object)
{
  NatterDBusService *self = NATTER_DBUS_SERVICE (object);

  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->handlers, g_hash_table_unref);
  g_clear_pointer (&self->account, g_free);

  G_OBJECT_CLASS (natter_dbus_service_parent_class)->finalize (object);
}

static void
natter_dbus_service_class_init (NatterDBusServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_dbus_service_dispose;
  object_class->finalize = natter_dbus_service_finalize;
}

static void
natter_dbus_service_init (NatterDBusService *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, unexport_room);
  self->handlers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, natter_dbus_unwatch);
  self->window_size = NATTER_DBUS_DEFAULT_WINDOW;
}

/* The root interface and the object manager, GNOME Shell's search provider and
 * notifications, all over self->client. */
static gboolean
export_service (NatterDBusService  *self,
                GDBusConnection    *connection,
                GError            **error)
{
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self), connection,
                                         NATTER_DBUS_PATH, error))
    return FALSE;
  self->manager = g_dbus_object_manager_server_new (NATTER_DBUS_PATH);
  g_dbus_object_manager_server_set_connection (self->manager, connection);

  self->search_provider = natter_search_provider_new (self->client);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->search_provider),
                                         connection, NATTER_SEARCH_PROVIDER_PATH, error))
    return FALSE;

  self->notifier = natter_notifier_new (connection);
  return TRUE;
}

static void
backend_status_cb (NatterBackend     *backend,
                   GParamSpec        *pspec,
                   NatterDBusService *self)
{
  NatterDBusChat *iface = NATTER_DBUS_CHAT (self);
  gboolean was_connected = natter_dbus_chat_get_connected (iface);
  g_autofree char *status = NULL;
  g_autofree char *status_message = NULL;
  GHashTableIter iter;
  gpointer name;

  g_object_get (backend, "status", &status, "status-message", &status_message, NULL);
  natter_dbus_chat_set_status_message (iface, status_message);
  natter_dbus_service_set_status (self, status);
  if (was_connected || !natter_dbus_chat_get_connected (iface))
    return;
  /* Members, and who is online, may have changed while the link was down. */
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    load_room (self, name);
}

static void
backend_account_cb (NatterBackend     *backend,
                    GParamSpec        *pspec,
                    NatterDBusService *self)
{
  g_autofree char *account = NULL;

  g_object_get (backend, "account", &account, NULL);
  g_free (self->account);
  self->account = account != NULL ? g_steal_pointer (&account) : g_strdup ("");
  natter_dbus_chat_set_account (NATTER_DBUS_CHAT (self), self->account);
}

/* What is known of the backend before its welcome, which tells the rest. */
static void
take_backend_state (NatterDBusService *self)
{
  NatterDBusChat *iface = NATTER_DBUS_CHAT (self);
  g_autofree char *mode = NULL;
  g_autofree char *node = NULL;
  g_autofree char *epoch = NULL;
  gboolean admin;

  g_object_get (self->backend, "mode", &mode, "admin", &admin, "node", &node, "epoch", &epoch,
                NULL);
  natter_dbus_chat_set_mode (iface, mode);
  natter_dbus_chat_set_admin (iface, admin);
  natter_dbus_chat_set_node (iface, node != NULL ? node : "");
  natter_dbus_chat_set_epoch (iface, epoch != NULL ? epoch : "");
  /* The new backend's welcome lists them. */
  natter_dbus_chat_set_invitations (iface, g_variant_new_array (G_VARIANT_TYPE ("(ssx)"),
                                                                NULL, 0));
  backend_account_cb (self->backend, NULL, self);
  backend_status_cb (self->backend, NULL, self);
}

/* Makes self->client the backend's local front end. */
static void
attach_client (NatterDBusService *self)
{
  g_signal_connect_object (self->client, "event", G_CALLBACK (on_client_event), self, 0);
  g_signal_connect_object (self->backend, "notify::status", G_CALLBACK (backend_status_cb),
                           self, 0);
  g_signal_connect_object (self->backend, "notify::status-message",
                           G_CALLBACK (backend_status_cb), self, 0);
  g_signal_connect_object (self->backend, "notify::account", G_CALLBACK (backend_account_cb),
                           self, 0);
  /* The welcome, with the account's rooms, arrives as an event: during this call, or
   * once the backend has it. */
  natter_backend_attach_local (self->backend, NATTER_CLIENT (self->client));
}

/**
 * natter_dbus_service_new:
 * @backend: the hub (started: natter_hub_start_finish() succeeded) or the link to a
 *   remote server (not started yet)
 * @connection: the session bus, on which natterd owns (or is about to own)
 *   `io.github.natter.Natter.Daemon`
 * @error: return location for a #GError
 *
 * Attaches to @backend as its local front end and exports the D-Bus API on @connection:
 * `io.github.natter.Chat` and the object manager at %NATTER_DBUS_PATH, the room and
 * message objects below it (loaded once the backend's welcome lists the rooms), and the
 * GNOME Shell search provider. The root interface's Mode, Account, Status,
 * StatusMessage and Connected follow @backend's properties; Connect(), Disconnect() and
 * ForgetAccount() are the backend's to answer. Call it from the `bus_acquired` callback
 * of g_bus_own_name(), so the objects are there before the name is. Drop the last
 * reference to unexport everything and detach from @backend.
 *
 * Returns: (transfer full): the service, or %NULL if exporting failed
 */
NatterDBusService *
natter_dbus_service_new (NatterBackend       *backend,
                         GDBusConnection     *connection,
                         GError             **error)
{
  g_autoptr(NatterDBusService) self = NULL;

  g_return_val_if_fail (NATTER_IS_BACKEND (backend), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  register_error_domain ();

  self = g_object_new (NATTER_TYPE_DBUS_SERVICE, NULL);
  self->backend = g_object_ref (backend);
  self->connection = g_object_ref (connection);
  natter_dbus_chat_set_version (NATTER_DBUS_CHAT (self), PACKAGE_VERSION);
  take_backend_state (self);

  self->client = natter_dbus_client_new (backend);
  if (!export_service (self, connection, error))
    return NULL;
  attach_client (self);

  return g_steal_pointer (&self);
}

/**
 * natter_dbus_service_set_window_size:
 * @self: a #NatterDBusService
 * @window_size: how many recent messages of each room are D-Bus objects
 *
 * Sets the window (default %NATTER_DBUS_DEFAULT_WINDOW); rooms drop their oldest
 * message objects at once when it shrinks and load older ones when it grows.
 */
void
natter_dbus_service_set_window_size (NatterDBusService *self,
                                     guint              window_size)
{
  GHashTableIter iter;
  gpointer room;

  g_return_if_fail (NATTER_IS_DBUS_SERVICE (self));

  self->window_size = window_size;
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, &room))
    {
      natter_dbus_room_set_window_size (room, window_size);
      natter_dbus_room_fill_window (room);
    }
}

/**
 * natter_dbus_service_set_mode:
 * @self: a #NatterDBusService
 * @mode: "host" (the default), "upstream" or "cluster"
 *
 * Sets the Mode property.
 */
void
natter_dbus_service_set_mode (NatterDBusService *self,
                              const char        *mode)
{
  g_return_if_fail (NATTER_IS_DBUS_SERVICE (self));
  g_return_if_fail (mode != NULL);

  natter_dbus_chat_set_mode (NATTER_DBUS_CHAT (self), mode);
}

/**
 * natter_dbus_service_set_status:
 * @self: a #NatterDBusService
 * @status: "connected" (the default), "connecting", "reconnecting", "offline" or
 *   "auth-failed"
 *
 * Sets the Status property, and Connected to whether @status is "connected".
 */
void
natter_dbus_service_set_status (NatterDBusService *self,
                                const char        *status)
{
  g_return_if_fail (NATTER_IS_DBUS_SERVICE (self));
  g_return_if_fail (status != NULL);

  natter_dbus_chat_set_status (NATTER_DBUS_CHAT (self), status);
  natter_dbus_chat_set_connected (NATTER_DBUS_CHAT (self), g_str_equal (status, "connected"));
}

/**
 * natter_dbus_service_set_mode_chosen:
 * @self: a #NatterDBusService
 * @chosen: whether natterd's mode was chosen (options, or the remembered choice)
 *
 * Sets the ModeChosen property.
 */
void
natter_dbus_service_set_mode_chosen (NatterDBusService *self,
                                     gboolean           chosen)
{
  g_return_if_fail (NATTER_IS_DBUS_SERVICE (self));

  natter_dbus_chat_set_mode_chosen (NATTER_DBUS_CHAT (self), chosen);
}

/**
 * natter_dbus_service_set_switch_func:
 * @self: a #NatterDBusService
 * @func: (nullable): what switches natterd's mode, or %NULL when it is fixed
 * @user_data: for @func
 *
 * Lets SetMode() and Connect() (in host mode) switch natterd's mode through @func.
 */
void
natter_dbus_service_set_switch_func (NatterDBusService    *self,
                                     NatterDBusSwitchFunc  func,
                                     gpointer              user_data)
{
  g_return_if_fail (NATTER_IS_DBUS_SERVICE (self));

  self->switch_func = func;
  self->switch_data = user_data;
}

/**
 * natter_dbus_service_set_backend:
 * @self: a #NatterDBusService
 * @backend: the backend of natterd's new mode
 *
 * Detaches from the current backend and attaches to @backend: the room and message
 * objects go away and those of @backend's account are exported once its welcome
 * lists them; the root interface's properties follow @backend. Callers that handle
 * notifications themselves stay known.
 */
void
natter_dbus_service_set_backend (NatterDBusService *self,
                                 NatterBackend     *backend)
{
  GHashTableIter iter;
  gpointer name;

  g_return_if_fail (NATTER_IS_DBUS_SERVICE (self));
  g_return_if_fail (NATTER_IS_BACKEND (backend));

  if (self->backend == backend)
    return;
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    natter_notifier_withdraw (self->notifier, name);
  g_hash_table_remove_all (self->rooms);
  g_signal_handlers_disconnect_by_data (self->client, self);
  g_signal_handlers_disconnect_by_data (self->backend, self);
  natter_backend_remove_client (self->backend, NATTER_CLIENT (self->client));
  g_clear_object (&self->client);
  g_set_object (&self->backend, backend);
  take_backend_state (self);

  self->client = natter_dbus_client_new (backend);
  natter_search_provider_set_client (self->search_provider, self->client);
  attach_client (self);
}

/**
 * natter_dbus_service_set_listen_func:
 * @self: a #NatterDBusService
 * @func: (nullable): what moves host mode's listener, or %NULL when it cannot move
 * @user_data: for @func
 *
 * Lets SetListenAddress() move host mode's listener through @func.
 */
void
natter_dbus_service_set_listen_func (NatterDBusService    *self,
                                     NatterDBusListenFunc  func,
                                     gpointer              user_data)
{
  g_return_if_fail (NATTER_IS_DBUS_SERVICE (self));

  self->listen_func = func;
  self->listen_data = user_data;
}

/**
 * natter_dbus_service_set_listening:
 * @self: a #NatterDBusService
 * @address: where host mode listens or tried to (`HOST:PORT`), or ""
 * @error_message: why it does not listen there, or ""
 * @web_addresses: (nullable): the web page's addresses for others
 *
 * Sets the ListenAddress, ListenError and WebAddresses properties.
 */
void
natter_dbus_service_set_listening (NatterDBusService  *self,
                                   const char         *address,
                                   const char         *error_message,
                                   const char * const *web_addresses)
{
  static const char * const none[] = { NULL };
  NatterDBusChat *iface = NATTER_DBUS_CHAT (self);

  g_return_if_fail (NATTER_IS_DBUS_SERVICE (self));

  natter_dbus_chat_set_listen_address (iface, address);
  natter_dbus_chat_set_listen_error (iface, error_message);
  natter_dbus_chat_set_web_addresses (iface, web_addresses != NULL ? web_addresses : none);
}

/**
 * natter_dbus_service_get_backend:
 * @self: a #NatterDBusService
 *
 * Returns: (transfer none): the backend the service is a front end of now
 */
NatterBackend *
natter_dbus_service_get_backend (NatterDBusService *self)
{
  g_return_val_if_fail (NATTER_IS_DBUS_SERVICE (self), NULL);
  return self->backend;
}

/**
 * natter_dbus_service_get_client:
 * @self: a #NatterDBusService
 *
 * Returns: (transfer none): the client through which D-Bus callers act on the backend
 */
NatterDBusClient *
natter_dbus_service_get_client (NatterDBusService *self)
{
  g_return_val_if_fail (NATTER_IS_DBUS_SERVICE (self), NULL);
  return self->client;
}
