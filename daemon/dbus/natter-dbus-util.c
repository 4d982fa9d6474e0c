/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-dbus"

#include "config.h"

#include "natter-dbus-util.h"
#include "natter-error.h"

/* What the D-Bus objects (the service, its rooms, the search provider) share. */

/**
 * natter_dbus_call_new:
 * @self: (type GObject): the object whose method was called
 * @invocation: the call
 *
 * Returns: (transfer full): a call holding references on @self and @invocation
 */
NatterDBusCall *
natter_dbus_call_new (gpointer               self,
                      GDBusMethodInvocation *invocation)
{
  NatterDBusCall *call = g_new0 (NatterDBusCall, 1);

  call->self = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  return call;
}

/**
 * natter_dbus_call_free:
 * @call: (transfer full): a #NatterDBusCall
 */
void
natter_dbus_call_free (NatterDBusCall *call)
{
  g_clear_object (&call->self);
  g_clear_object (&call->invocation);
  g_free (call);
}

/**
 * natter_dbus_call_finish_request:
 * @call: the call that made the request
 * @source: the #NatterDBusClient the request went to
 * @result: the result passed to the request's callback
 * @expected: the kind of reply that answers the request
 *
 * Finishes a request made by natter_dbus_client_request_async(). On failure, or on a
 * reply of another kind, returns the error to the caller of @call.
 *
 * Returns: (transfer full) (nullable): the reply, or %NULL if @call was answered
 */
NatterEvent *
natter_dbus_call_finish_request (NatterDBusCall                 *call,
                                 GObject                        *source,
                                 GAsyncResult                   *result,
                                 Natter__ServerFrame__EventCase  expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterEvent) event = natter_dbus_client_request_finish (NATTER_DBUS_CLIENT (source),
                                                                    result, &error);

  if (event == NULL)
    {
      g_dbus_method_invocation_return_gerror (call->invocation, error);
      return NULL;
    }
  if (natter_event_get_frame (event)->event_case != expected)
    {
      g_dbus_method_invocation_return_error (call->invocation, NATTER_ERROR,
                                             NATTER_ERROR_INTERNAL, "unexpected reply");
      return NULL;
    }
  return g_steal_pointer (&event);
}

/**
 * natter_dbus_call_return_ok_cb:
 * @source: the #NatterDBusClient the request went to
 * @result: the result
 * @user_data: (transfer full): the #NatterDBusCall that made the request
 *
 * A natter_dbus_client_request_async() callback for a request answered with `ok` whose
 * method returns nothing: returns to the caller once the reply came, or the error.
 */
void
natter_dbus_call_return_ok_cb (GObject      *source,
                               GAsyncResult *result,
                               gpointer      user_data)
{
  g_autoptr(NatterDBusCall) call = user_data;
  g_autoptr(NatterEvent) event = natter_dbus_call_finish_request (call, source, result,
                                                                  NATTER__SERVER_FRAME__EVENT_OK);

  if (event != NULL)
    g_dbus_method_invocation_return_value (call->invocation, NULL);
}

/**
 * natter_dbus_client_frame_new:
 *
 * Returns: (transfer full): an empty request, for natter_dbus_client_request_async()
 */
Natter__ClientFrame *
natter_dbus_client_frame_new (void)
{
  Natter__ClientFrame *frame = g_new0 (Natter__ClientFrame, 1);

  natter__client_frame__init (frame);
  return frame;
}

/**
 * natter_dbus_new_client_msg_id:
 *
 * Returns: (transfer full): a fresh idempotency key for a send made over D-Bus
 */
char *
natter_dbus_new_client_msg_id (void)
{
  g_autofree char *uuid = g_uuid_string_random ();

  return g_strconcat ("dbus-", uuid, NULL);
}

/**
 * natter_dbus_watch_caller:
 * @watches: unique bus name → name watch id, destroying values with natter_dbus_unwatch()
 * @invocation: the call whose sender to watch or forget
 * @watch: whether to watch the sender (until it leaves the bus) or forget it
 * @vanished: called when a watched sender leaves the bus; it removes it from @watches
 * @user_data: data for @vanished
 *
 * Keeps the set of callers that asked for something (and have not left the bus yet). A
 * peer-to-peer caller has no name to watch and is never added.
 */
void
natter_dbus_watch_caller (GHashTable               *watches,
                          GDBusMethodInvocation    *invocation,
                          gboolean                  watch,
                          GBusNameVanishedCallback  vanished,
                          gpointer                  user_data)
{
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  GDBusConnection *connection;
  guint id;

  if (sender == NULL)
    return;
  if (!watch)
    {
      g_hash_table_remove (watches, sender);
      return;
    }
  if (g_hash_table_contains (watches, sender))
    return;

  connection = g_dbus_method_invocation_get_connection (invocation);
  id = g_bus_watch_name_on_connection (connection, sender, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                       NULL, vanished, user_data, NULL);
  g_hash_table_insert (watches, g_strdup (sender), GUINT_TO_POINTER (id));
}

/**
 * natter_dbus_unwatch:
 * @watch_id: a name watch id, as a pointer
 *
 * A #GDestroyNotify for the values of the tables natter_dbus_watch_caller() keeps.
 */
void
natter_dbus_unwatch (gpointer watch_id)
{
  g_bus_unwatch_name (GPOINTER_TO_UINT (watch_id));
}
