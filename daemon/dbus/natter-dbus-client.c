/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-dbus"

#include "config.h"

#include "natter-dbus-client.h"
#include "natter-error.h"

struct _NatterDBusClient
{
  NatterClient   parent_instance;

  NatterBackend *backend;  /* (owned) the hub, or the link to the remote server */
  GHashTable    *pending;  /* (owned) request id → GTask * (owned) */
  guint64        next_id;

  /* Requests made while the backend delivers to us wait here for an idle callback, so
   * it is never re-entered from inside its own delivery loops. */
  guint          delivering;
  GQueue         outbox;   /* (owned) Natter__ClientFrame * (owned) */
  guint          flush_source;
};

G_DEFINE_FINAL_TYPE (NatterDBusClient, natter_dbus_client, NATTER_TYPE_CLIENT)

enum {
  SIGNAL_EVENT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
fail_pending (NatterDBusClient *self,
              const char       *reason)
{
  g_autoptr(GHashTable) pending = g_steal_pointer (&self->pending);
  GHashTableIter iter;
  gpointer task;

  self->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  g_hash_table_iter_init (&iter, pending);
  while (g_hash_table_iter_next (&iter, NULL, &task))
    g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE, "%s", reason);
}

static gboolean
flush_outbox_cb (gpointer user_data)
{
  NatterDBusClient *self = user_data;
  Natter__ClientFrame *frame;

  self->flush_source = 0;
  while ((frame = g_queue_pop_head (&self->outbox)) != NULL)
    natter_backend_dispatch (self->backend, NATTER_CLIENT (self), frame);
  return G_SOURCE_REMOVE;
}

static void
dispatch (NatterDBusClient    *self,
          Natter__ClientFrame *frame)
{
  if (self->delivering == 0 && g_queue_is_empty (&self->outbox))
    {
      natter_backend_dispatch (self->backend, NATTER_CLIENT (self), frame);
      return;
    }
  g_queue_push_tail (&self->outbox, frame);
  if (self->flush_source == 0)
    self->flush_source = g_idle_add (flush_outbox_cb, self);
}

static void
handle_event (NatterDBusClient *self,
              NatterEvent      *event)
{
  const Natter__ServerFrame *frame = natter_event_get_frame (event);
  gpointer key = NULL, value = NULL;

  if (frame->has_id &&
      g_hash_table_steal_extended (self->pending, &frame->id, &key, &value))
    {
      g_autoptr(GTask) task = value;
      NatterError code;

      g_free (key);
      if (frame->event_case != NATTER__SERVER_FRAME__EVENT_ERROR)
        {
          g_task_return_pointer (task, natter_event_ref (event),
                                 (GDestroyNotify) natter_event_unref);
          return;
        }
      if (!natter_error_code_from_string (frame->error->code, &code))
        code = NATTER_ERROR_INTERNAL;
      g_task_return_new_error (task, NATTER_ERROR, code, "%s",
                               frame->error->message != NULL ? frame->error->message
                                                             : frame->error->code);
      return;
    }

  g_signal_emit (self, signals[SIGNAL_EVENT], 0, event);
}

static void
natter_dbus_client_deliver (NatterClient *client,
                            NatterEvent  *event)
{
  NatterDBusClient *self = NATTER_DBUS_CLIENT (client);

  g_object_ref (self);
  self->delivering++;
  handle_event (self, event);
  self->delivering--;
  g_object_unref (self);
}

static void
natter_dbus_client_dispose (GObject *object)
{
  NatterDBusClient *self = NATTER_DBUS_CLIENT (object);

  g_clear_handle_id (&self->flush_source, g_source_remove);
  g_queue_clear_full (&self->outbox, (GDestroyNotify) natter_client_frame_free);
  if (self->pending != NULL)
    fail_pending (self, "the D-Bus service is shutting down");
  g_clear_object (&self->backend);

  G_OBJECT_CLASS (natter_dbus_client_parent_class)->dispose (object);
}

static void
natter_dbus_client_finalize (GObject *object)
{
  NatterDBusClient *self = NATTER_DBUS_CLIENT (object);

  g_clear_pointer (&self->pending, g_hash_table_unref);

  G_OBJECT_CLASS (natter_dbus_client_parent_class)->finalize (object);
}

static void
natter_dbus_client_class_init (NatterDBusClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  NatterClientClass *client_class = NATTER_CLIENT_CLASS (klass);

  object_class->dispose = natter_dbus_client_dispose;
  object_class->finalize = natter_dbus_client_finalize;
  client_class->deliver = natter_dbus_client_deliver;

  /**
   * NatterDBusClient::event:
   * @event: (type gpointer): the #NatterEvent, valid during the emission
   *
   * A pushed event, or a reply to no request in flight.
   */
  signals[SIGNAL_EVENT] =
    g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
natter_dbus_client_init (NatterDBusClient *self)
{
  self->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  self->next_id = 1;
  g_queue_init (&self->outbox);
}

/**
 * natter_dbus_client_new:
 * @backend: the hub, or the link to the remote server, that the client will talk to
 *
 * Creates the client. The caller attaches it to @backend with
 * natter_backend_attach_local().
 *
 * Returns: (transfer full): a new #NatterDBusClient
 */
NatterDBusClient *
natter_dbus_client_new (NatterBackend *backend)
{
  NatterDBusClient *self;

  g_return_val_if_fail (NATTER_IS_BACKEND (backend), NULL);

  self = g_object_new (NATTER_TYPE_DBUS_CLIENT, NULL);
  self->backend = g_object_ref (backend);
  natter_client_set_peer (NATTER_CLIENT (self), "dbus");
  return self;
}

/**
 * natter_dbus_client_request_async:
 * @self: a #NatterDBusClient
 * @frame: (transfer full): the request; its id is set here
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the reply
 * @user_data: data for @callback
 *
 * Hands @frame to the backend and completes when the reply with its id arrives.
 */
void
natter_dbus_client_request_async (NatterDBusClient    *self,
                                  Natter__ClientFrame *frame,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  gint64 *key;

  g_return_if_fail (NATTER_IS_DBUS_CLIENT (self));
  g_return_if_fail (frame != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_dbus_client_request_async);

  frame->has_id = TRUE;
  frame->id = self->next_id++;
  key = g_new (gint64, 1);
  *key = (gint64) frame->id;
  /* Registered before dispatching: the backend may answer before it returns. */
  g_hash_table_insert (self->pending, key, g_steal_pointer (&task));
  dispatch (self, frame);
}

/**
 * natter_dbus_client_request_finish:
 * @self: a #NatterDBusClient
 * @result: the result passed to the callback
 * @error: return location for a #NATTER_ERROR, set from the backend's `error` reply
 *
 * Returns: (transfer full): the reply, which is never an `error` frame
 */
NatterEvent *
natter_dbus_client_request_finish (NatterDBusClient  *self,
                                   GAsyncResult      *result,
                                   GError           **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == natter_dbus_client_request_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * natter_dbus_client_send:
 * @self: a #NatterDBusClient
 * @frame: (transfer full): a request that has no reply on success, such as `typing`
 *
 * Hands @frame to the backend without waiting for anything.
 */
void
natter_dbus_client_send (NatterDBusClient    *self,
                         Natter__ClientFrame *frame)
{
  g_return_if_fail (NATTER_IS_DBUS_CLIENT (self));
  g_return_if_fail (frame != NULL);

  frame->has_id = FALSE;
  dispatch (self, frame);
}
