/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-hub"

#include "config.h"

#include "natter-hub-private.h"

/* Each member's notification level in a room: which new messages raise a notification for
 * the account, on every front end of it (docs/protocol.md, "Notification levels"). The
 * hub only keeps and tells it; the front ends that notify apply it. */

NatterNotificationLevel
natter_hub_room_notification_level (Room *room, const char *user)
{
  return (NatterNotificationLevel) GPOINTER_TO_INT (g_hash_table_lookup (room->levels, user));
}

static void
set_level (Room *room, const char *user, NatterNotificationLevel level)
{
  if (level == NATTER_NOTIFICATION_LEVEL_ALL)
    g_hash_table_remove (room->levels, user);
  else
    g_hash_table_insert (room->levels, g_strdup (user), GINT_TO_POINTER (level));
}

/* Tells @user's sessions on this node but @except of the level @frame carries. */
static void
tell_sessions (NatterHub *self, const char *user, const Natter__ServerFrame *frame,
               ClientState *except)
{
  GPtrArray *sessions = g_hash_table_lookup (self->online, user);
  g_autoptr(NatterEvent) event = NULL;

  if (sessions == NULL)
    return;
  event = natter_event_new (frame);
  for (guint i = 0; i < sessions->len; i++)
    {
      ClientState *cs = g_ptr_array_index (sessions, i);

      if (cs != except)
        natter_hub_deliver (self, cs, event);
    }
}

static void
level_stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  Natter__SetNotificationLevel *op = req->frame->set_notification_level;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__NotificationLevel level = NATTER__NOTIFICATION_LEVEL__INIT;
  NatterNotificationLevel value = NATTER_NOTIFICATION_LEVEL_ALL;
  Room *room;

  if (!natter_store_set_notification_level_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_notification_level_from_string (op->level, &value);
  room = g_hash_table_lookup (req->hub->rooms, req->room);
  if (room != NULL)
    set_level (room, req->user, value);
  natter_hub_reply_ok (req);

  level.room = req->room;
  level.level = op->level;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_NOTIFICATION_LEVEL;
  frame.notification_level = &level;
  tell_sessions (req->hub, req->user, &frame,
                 natter_hub_lookup_client (req->hub, req->client));
  /* The account's sessions on other nodes hear it on the room's channel, with whose it is;
   * natter_hub_receive_notification_level() passes it on to them only. */
  if (room != NULL)
    {
      level.user = req->user;
      g_signal_emit (req->hub, natter_hub_signals[SIGNAL_ROOM_EVENT], 0, room->name, &frame);
    }
}

static void
level_member_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Request) req = user_data;
  g_autoptr(GError) error = NULL;
  NatterNotificationLevel level = NATTER_NOTIFICATION_LEVEL_ALL;

  if (!natter_store_add_member_finish (NATTER_STORE (source), result, &error))
    {
      natter_hub_reply_with_gerror (req, error);
      return;
    }
  natter_notification_level_from_string (req->frame->set_notification_level->level, &level);
  natter_store_set_notification_level_async (req->hub->store, req->room, req->user, level,
                                             NULL, level_stored_cb,
                                             natter_hub_request_ref (req));
}

void
natter_hub_handle_set_notification_level (Request *req, ClientState *cs)
{
  NatterHub *self = req->hub;
  Natter__SetNotificationLevel *op = req->frame->set_notification_level;
  NatterNotificationLevel level;
  Room *room;

  if (op->level == NULL || !natter_notification_level_from_string (op->level, &level))
    {
      natter_hub_reply_with_error (req, NATTER_ERROR_BAD_REQUEST,
                                   "set_notification_level.level must be all, mentions or none");
      return;
    }
  room = natter_hub_room_for_reading (req, cs->user, op->room);
  if (room == NULL)
    return;
  req->user = g_strdup (cs->user);
  req->room = g_strdup (room->name);
  /* The system room has no membership rows until someone keeps something in it. */
  if (g_str_equal (room->kind, NATTER_ROOM_KIND_SYSTEM) &&
      !g_hash_table_contains (room->members, cs->user))
    natter_store_add_member_async (self->store, room->name, cs->user, NULL, level_member_cb,
                                   natter_hub_request_ref (req));
  else
    natter_store_set_notification_level_async (self->store, room->name, cs->user, level, NULL,
                                               level_stored_cb, natter_hub_request_ref (req));
}

void
natter_hub_receive_notification_level (NatterHub                 *self,
                                       Room                      *room,
                                       const Natter__ServerFrame *frame)
{
  Natter__NotificationLevel level = *frame->notification_level;
  Natter__ServerFrame local = NATTER__SERVER_FRAME__INIT;
  NatterNotificationLevel value;

  if (g_strcmp0 (level.room, room->name) != 0 || level.user == NULL ||
      !natter_notification_level_from_string (level.level, &value))
    return;
  if (g_hash_table_contains (room->members, level.user))
    set_level (room, level.user, value);
  /* Clients know who they are: the user's name is for the nodes only. */
  level.user = NULL;
  local.event_case = NATTER__SERVER_FRAME__EVENT_NOTIFICATION_LEVEL;
  local.notification_level = &level;
  tell_sessions (self, frame->notification_level->user, &local, NULL);
}
