/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-room.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SERVICE (natter_service_get_type ())

G_DECLARE_FINAL_TYPE (NatterService, natter_service, NATTER, SERVICE, GObject)

NatterService *natter_service_new                        (void);
void           natter_service_start                      (NatterService        *self);
void           natter_service_start_daemon               (NatterService        *self);
gboolean       natter_service_get_ready                  (NatterService        *self);
gboolean       natter_service_get_running                (NatterService        *self);
const char    *natter_service_get_status                 (NatterService        *self);
const char    *natter_service_get_account                (NatterService        *self);
const char    *natter_service_get_mode                   (NatterService        *self);
const char    *natter_service_get_node                   (NatterService        *self);
const char    *natter_service_get_version                (NatterService        *self);
gboolean       natter_service_get_admin                  (NatterService        *self);
GListModel    *natter_service_get_rooms                  (NatterService        *self);
NatterDBusChat *natter_service_get_root                  (NatterService        *self);
NatterRoom    *natter_service_lookup_room                (NatterService        *self,
                                                          const char           *name);
void           natter_service_set_notifications_handled  (NatterService        *self,
                                                          gboolean              handled);
void           natter_service_join_room_async            (NatterService        *self,
                                                          const char           *name,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
gboolean       natter_service_join_room_finish           (NatterService        *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
void           natter_service_send_direct_async          (NatterService        *self,
                                                          const char           *to,
                                                          const char           *body,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
char          *natter_service_send_direct_finish         (NatterService        *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
void           natter_service_broadcast_async            (NatterService        *self,
                                                          const char           *body,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
gboolean       natter_service_broadcast_finish           (NatterService        *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
void           natter_service_search_async               (NatterService        *self,
                                                          const char           *query,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
GListModel    *natter_service_search_finish              (NatterService        *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
void           natter_service_connect_async              (NatterService        *self,
                                                          const char           *url,
                                                          const char           *user,
                                                          const char           *password,
                                                          gboolean              remember,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
void           natter_service_create_account_async       (NatterService        *self,
                                                          const char           *url,
                                                          const char           *user,
                                                          const char           *password,
                                                          gboolean              remember,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
gboolean       natter_service_connect_finish             (NatterService        *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
void           natter_service_disconnect_async           (NatterService        *self,
                                                          gboolean              forget,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
gboolean       natter_service_disconnect_finish          (NatterService        *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
void           natter_service_set_mode_async             (NatterService        *self,
                                                          const char           *mode,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
gboolean       natter_service_set_mode_finish            (NatterService        *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);
gboolean       natter_service_get_mode_chosen            (NatterService        *self);
const char    *natter_service_get_listen_address         (NatterService        *self);
const char    *natter_service_get_listen_error           (NatterService        *self);
const char * const *natter_service_get_web_addresses     (NatterService        *self);
void           natter_service_set_listen_address_async   (NatterService        *self,
                                                          const char           *address,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
gboolean       natter_service_set_listen_address_finish  (NatterService        *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);

void           natter_service_call_async                 (NatterService        *self,
                                                          const char           *method,
                                                          GVariant             *parameters,
                                                          GCancellable         *cancellable,
                                                          GAsyncReadyCallback   callback,
                                                          gpointer              user_data);
GVariant      *natter_service_call_finish                (NatterService        *self,
                                                          GAsyncResult         *result,
                                                          GError              **error);

G_END_DECLS
