/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter-dbus-client.h"

G_BEGIN_DECLS

/**
 * NatterDBusCall:
 * @self: the object whose method was called
 * @invocation: the call, answered when the request to the hub completes
 * @seq: a seq the answer needs, if any
 *
 * A D-Bus method call waiting for the reply to the request it made of the hub.
 */
typedef struct
{
  gpointer               self;        /* (owned) a GObject */
  GDBusMethodInvocation *invocation;  /* (owned) */
  guint64                seq;
} NatterDBusCall;

NatterDBusCall      *natter_dbus_call_new             (gpointer                        self,
                                                       GDBusMethodInvocation          *invocation);
void                 natter_dbus_call_free            (NatterDBusCall                 *call);
NatterEvent         *natter_dbus_call_finish_request  (NatterDBusCall                 *call,
                                                       GObject                        *source,
                                                       GAsyncResult                   *result,
                                                       Natter__ServerFrame__EventCase  expected);
void                 natter_dbus_call_return_ok_cb    (GObject                        *source,
                                                       GAsyncResult                   *result,
                                                       gpointer                        user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterDBusCall, natter_dbus_call_free)

Natter__ClientFrame *natter_dbus_client_frame_new     (void);
char                *natter_dbus_new_client_msg_id    (void);

void                 natter_dbus_watch_caller         (GHashTable                     *watches,
                                                       GDBusMethodInvocation          *invocation,
                                                       gboolean                        watch,
                                                       GBusNameVanishedCallback        vanished,
                                                       gpointer                        user_data);
void                 natter_dbus_unwatch              (gpointer                        watch_id);

G_END_DECLS
