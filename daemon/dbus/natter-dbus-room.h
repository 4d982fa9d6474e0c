/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-dbus-client.h"
#include "natter-dbus-generated.h"

G_BEGIN_DECLS

/* The roles of MemberRoles and Role. */
#define NATTER_DBUS_ROLE_OWNER     "owner"
#define NATTER_DBUS_ROLE_MODERATOR "moderator"
#define NATTER_DBUS_ROLE_MEMBER    "member"

#define NATTER_TYPE_DBUS_ROOM (natter_dbus_room_get_type ())
G_DECLARE_FINAL_TYPE (NatterDBusRoom, natter_dbus_room, NATTER, DBUS_ROOM,
                      NatterDBusChatRoomSkeleton)

/**
 * NatterDBusRoom:
 *
 * The `io.github.natter.Chat.Room` object of one room of the local account, with its
 * window of recent messages as `io.github.natter.Chat.Message` objects. Its methods are
 * requests of the D-Bus front end's #NatterDBusClient; what the hub pushes about the room
 * reaches it through natter_dbus_room_add_message() and friends, called by the service.
 *
 * Signals:
 * - `left`: the account left the room through Leave(); the service drops the object.
 */

NatterDBusRoom *natter_dbus_room_new              (NatterDBusClient         *client,
                                                   GDBusObjectManagerServer *manager,
                                                   const char               *name,
                                                   const char               *account,
                                                   guint                     window_size);
const char     *natter_dbus_room_get_object_path  (NatterDBusRoom           *self);
const char     *natter_dbus_room_get_room_name    (NatterDBusRoom           *self);
void            natter_dbus_room_unexport         (NatterDBusRoom           *self);

void            natter_dbus_room_set_window_size  (NatterDBusRoom           *self,
                                                   guint                     window_size);

void            natter_dbus_room_update_info      (NatterDBusRoom           *self,
                                                   const Natter__RoomInfo   *info);
void            natter_dbus_room_update_joined    (NatterDBusRoom           *self,
                                                   const Natter__Joined     *joined);
void            natter_dbus_room_fill_window      (NatterDBusRoom           *self);
gboolean        natter_dbus_room_add_message      (NatterDBusRoom           *self,
                                                   const Natter__Message    *message,
                                                   gboolean                  live);
void            natter_dbus_room_member_changed   (NatterDBusRoom           *self,
                                                   const char               *user,
                                                   gboolean                  joined,
                                                   const char               *role,
                                                   const char               *by);
void            natter_dbus_room_topic_changed    (NatterDBusRoom           *self,
                                                   const char               *topic);
void            natter_dbus_room_presence_changed (NatterDBusRoom           *self,
                                                   const char               *user,
                                                   gboolean                  online);
void            natter_dbus_room_typing           (NatterDBusRoom           *self,
                                                   const char               *user,
                                                   gboolean                  active);
void            natter_dbus_room_receipt          (NatterDBusRoom           *self,
                                                   const char               *user,
                                                   guint64                   seq);

gboolean        natter_dbus_room_is_viewed        (NatterDBusRoom           *self);
void            natter_dbus_room_set_notification_level (NatterDBusRoom     *self,
                                                         const char         *level);

/* Object paths */
char           *natter_dbus_room_path_for_name    (const char               *name);

G_END_DECLS
