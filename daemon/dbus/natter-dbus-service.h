/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-config.h"
#include "natter-dbus-generated.h"
#include "natter-hub.h"
#include "natter-upstream.h"

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
 * It is a front end of the hub like a WebSocket session: it logs in as the owner
 * account and every D-Bus call becomes a request to the hub, so a message sent over
 * D-Bus is the same message, with the same seq, that WebSocket clients see. In upstream
 * mode the requests go to a #NatterUpstream instead, and the objects mirror an account
 * of a remote server.
 */

NatterDBusService *natter_dbus_service_new             (NatterHub          *hub,
                                                        GDBusConnection    *connection,
                                                        const NatterConfig *config,
                                                        GError            **error);
NatterDBusService *natter_dbus_service_new_for_upstream (NatterUpstream    *upstream,
                                                        GDBusConnection    *connection,
                                                        const NatterConfig *config,
                                                        GError            **error);

void               natter_dbus_service_set_window_size (NatterDBusService  *self,
                                                        guint               window_size);
void               natter_dbus_service_set_mode        (NatterDBusService  *self,
                                                        const char         *mode);
void               natter_dbus_service_set_status      (NatterDBusService  *self,
                                                        const char         *status);

G_END_DECLS
