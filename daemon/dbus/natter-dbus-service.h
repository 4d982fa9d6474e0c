/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-backend.h"
#include "natter-dbus-client.h"
#include "natter-dbus-generated.h"

G_BEGIN_DECLS

#define NATTER_DBUS_PATH "/io/github/natter/Chat"
#define NATTER_DBUS_DEFAULT_WINDOW 50

#define NATTER_TYPE_DBUS_SERVICE (natter_dbus_service_get_type ())
G_DECLARE_FINAL_TYPE (NatterDBusService, natter_dbus_service, NATTER, DBUS_SERVICE,
                      NatterDBusChatSkeleton)

/**
 * NatterDBusService:
 *
 * natterd's D-Bus API (data/io.github.natter.Chat.xml, docs/dbus.md): the
 * `io.github.natter.Chat` interface and an object manager at %NATTER_DBUS_PATH, one
 * `io.github.natter.Chat.Room` object per room of the local owner account with a window
 * of recent `io.github.natter.Chat.Message` objects, GNOME Shell's search provider, and
 * desktop notifications for new messages in rooms no one is viewing.
 *
 * It is a front end of a #NatterBackend like a WebSocket session: it acts as the
 * backend's local account and every D-Bus call becomes a request to the backend. With
 * the hub, a message sent over D-Bus is the same message, with the same seq, that
 * WebSocket clients see; with the upstream link, the objects mirror an account of a
 * remote server. The service never asks which one it has.
 */

/**
 * NatterDBusSwitchFunc:
 * @service: the service
 * @mode: "host" or "upstream"
 * @url: (nullable): for "upstream", the server to mirror, or %NULL for the one used last
 * @user: (nullable): for "upstream", the account on @url, or %NULL
 * @task: (transfer full): to return %TRUE once natter_dbus_service_set_backend() has the
 *   backend of @mode (at once if it already has), or a #GError
 * @user_data: what natter_dbus_service_set_switch_func() was given
 *
 * Switches natterd to @mode for SetMode() or Connect(). Only natterd's main program
 * can: it owns the hub, the store, the server and the upstream link.
 */
typedef void (*NatterDBusSwitchFunc) (NatterDBusService *service,
                                      const char        *mode,
                                      const char        *url,
                                      const char        *user,
                                      GTask             *task,
                                      gpointer           user_data);

/**
 * NatterDBusListenFunc:
 * @service: the service
 * @address: `HOST:PORT`
 * @error: return location for a #GError
 * @user_data: what natter_dbus_service_set_listen_func() was given
 *
 * Makes host mode listen on @address, for SetListenAddress().
 *
 * Returns: whether natterd listens there now
 */
typedef gboolean (*NatterDBusListenFunc) (NatterDBusService  *service,
                                          const char         *address,
                                          GError            **error,
                                          gpointer            user_data);

NatterDBusService *natter_dbus_service_new             (NatterBackend      *backend,
                                                        GDBusConnection    *connection,
                                                        GError            **error);

void               natter_dbus_service_set_window_size (NatterDBusService  *self,
                                                        guint               window_size);
void               natter_dbus_service_set_mode        (NatterDBusService  *self,
                                                        const char         *mode);
void               natter_dbus_service_set_mode_chosen (NatterDBusService  *self,
                                                        gboolean            chosen);
void               natter_dbus_service_set_switch_func (NatterDBusService  *self,
                                                        NatterDBusSwitchFunc func,
                                                        gpointer            user_data);
void               natter_dbus_service_set_listen_func (NatterDBusService  *self,
                                                        NatterDBusListenFunc func,
                                                        gpointer            user_data);
void               natter_dbus_service_set_listening   (NatterDBusService  *self,
                                                        const char         *address,
                                                        const char         *error_message,
                                                        const char * const *web_addresses);
void               natter_dbus_service_set_backend     (NatterDBusService  *self,
                                                        NatterBackend      *backend);
void               natter_dbus_service_set_status      (NatterDBusService  *self,
                                                        const char         *status);

NatterBackend     *natter_dbus_service_get_backend     (NatterDBusService  *self);
NatterDBusClient  *natter_dbus_service_get_client      (NatterDBusService  *self);

G_END_DECLS
