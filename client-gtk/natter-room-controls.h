/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-errors.h"
#include "natter-room.h"
#include "natter-service.h"

G_BEGIN_DECLS

void      natter_room_control_async      (NatterRoom           *room,
                                          NatterRequest         request,
                                          const char           *user,
                                          const char           *value,
                                          GCancellable         *cancellable,
                                          GAsyncReadyCallback   callback,
                                          gpointer              user_data);
gboolean  natter_room_control_finish     (NatterRoom           *room,
                                          GAsyncResult         *result,
                                          GError              **error);

void      natter_rooms_create_async      (NatterService        *service,
                                          const char           *name,
                                          gboolean              is_private,
                                          const char           *topic,
                                          GCancellable         *cancellable,
                                          GAsyncReadyCallback   callback,
                                          gpointer              user_data);
gboolean  natter_rooms_create_finish     (NatterService        *service,
                                          GAsyncResult         *result,
                                          GError              **error);
void      natter_rooms_directory_async   (NatterService        *service,
                                          const char           *query,
                                          GCancellable         *cancellable,
                                          GAsyncReadyCallback   callback,
                                          gpointer              user_data);
GVariant *natter_rooms_directory_finish  (NatterService        *service,
                                          GAsyncResult         *result,
                                          GError              **error);
void      natter_rooms_block_async       (NatterService        *service,
                                          const char           *user,
                                          gboolean              block,
                                          GCancellable         *cancellable,
                                          GAsyncReadyCallback   callback,
                                          gpointer              user_data);
gboolean  natter_rooms_block_finish      (NatterService        *service,
                                          GAsyncResult         *result,
                                          GError              **error);
void      natter_rooms_decline_invitation_async (NatterService *service,
                                                 const char    *room,
                                                 GCancellable  *cancellable,
                                                 GAsyncReadyCallback callback,
                                                 gpointer       user_data);
gboolean  natter_rooms_decline_invitation_finish (NatterService *service,
                                                  GAsyncResult  *result,
                                                  GError       **error);
GVariant *natter_rooms_get_invitations   (NatterService        *service);
GStrv     natter_rooms_dup_known_people  (NatterService        *service);
const char *natter_rooms_role_label      (const char           *role);

G_END_DECLS
