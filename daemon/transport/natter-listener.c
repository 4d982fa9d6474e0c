/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-listener"

#include "config.h"

#include "natter-listener.h"
#include "natter-proxy-header.h"

/* How long accepting pauses after the process ran out of descriptors (or memory). */
#define ACCEPT_RETRY_MS 1000
/* Accepts per wake-up, so that a flood of connects does not hold the main loop. */
#define ACCEPTS_PER_WAKEUP 64
/* A PROXY header comes in the first segment a balancer sends; the rare one split over
 * two is looked at again this often (the bytes wait, peeked, so the socket stays
 * readable and cannot be waited on). */
#define PROXY_HEADER_RETRY_MS 10

/* One accepted socket, from accept() until its GSocket is finalized (the descriptor is
 * closed by then): the counts are of descriptors, whoever holds them. */
typedef struct
{
  NatterListener *listener;  /* (owned) */
  char           *address;   /* (owned) the client's IP address */
  gboolean        counted;   /* against its address (not a trusted proxy's own) */
  GSocket        *socket;    /* (unowned) this is its qdata */
  guint           deadline;  /* until the request is read */
  gboolean        upgraded;
} Conn;

struct _NatterListener
{
  GObject               parent_instance;

  GSocket              *socket;        /* (owned) (nullable) listening; %NULL once stopped */
  GSource              *source;        /* (owned) (nullable) while accepting */
  GMainContext         *context;       /* (owned) */
  guint                 retry;         /* after running out of descriptors */
  NatterListenerLimits  limits;
  GTlsCertificate      *certificate;   /* (owned) (nullable) */
  GPtrArray            *trusted;       /* (owned) GInetAddressMask: trusted proxies */
  guint                 n_connections;
  GHashTable           *per_address;   /* (owned) address → sockets not yet upgraded */
};

G_DEFINE_FINAL_TYPE (NatterListener, natter_listener, G_TYPE_OBJECT)

enum {
  SIGNAL_CONNECTION,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* On a GSocket: its Conn. On the remote GSocketAddress handed to libsoup with it: the
 * GSocket, which is how a request finds its connection again. */
static G_DEFINE_QUARK (natter-listener-conn, conn)
static G_DEFINE_QUARK (natter-listener-socket, socket)

static gboolean accept_cb (GSocket *socket, GIOCondition condition, gpointer user_data);

/* Accepts again unless stopped, paused after an error, or full. */
static void
watch (NatterListener *self)
{
  if (self->source != NULL || self->retry != 0 || self->socket == NULL ||
      self->n_connections >= self->limits.max_connections)
    return;
  self->source = g_socket_create_source (self->socket, G_IO_IN, NULL);
  g_source_set_callback (self->source, G_SOURCE_FUNC (accept_cb), self, NULL);
  g_source_set_static_name (self->source, "[natter] accept");
  g_source_attach (self->source, self->context);
}

static void
unwatch (NatterListener *self)
{
  if (self->source != NULL)
    {
      g_source_destroy (self->source);
      g_clear_pointer (&self->source, g_source_unref);
    }
}

static guint
address_count (NatterListener *self, const char *address)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->per_address, address));
}

static void
address_forget (NatterListener *self, const char *address)
{
  guint n = address_count (self, address);

  if (n <= 1)
    g_hash_table_remove (self->per_address, address);
  else
    g_hash_table_insert (self->per_address, g_strdup (address), GUINT_TO_POINTER (n - 1));
}

static gboolean
conn_release (gpointer data)
{
  Conn *conn = data;
  NatterListener *self = conn->listener;

  g_clear_handle_id (&conn->deadline, g_source_remove);
  self->n_connections--;
  if (conn->counted && !conn->upgraded)
    address_forget (self, conn->address);
  watch (self);
  g_free (conn->address);
  g_object_unref (conn->listener);
  g_free (conn);
  return G_SOURCE_REMOVE;
}

/* The GSocket is gone. That may happen on another thread (the last reference of a stream
 * closed asynchronously): the counts belong to the listener's context. */
static void
conn_free (gpointer data)
{
  Conn *conn = data;

  conn->socket = NULL;
  g_main_context_invoke_full (conn->listener->context, G_PRIORITY_DEFAULT, conn_release,
                              conn, NULL);
}

/* No request within the deadline: hang up. A shutdown (not a close) lets whoever reads
 * the socket see the end of the stream and let go of it as after any disconnect. */
static gboolean
deadline_cb (gpointer user_data)
{
  Conn *conn = user_data;

  conn->deadline = 0;
  g_debug ("Closing a connection from %s: no request within %u s", conn->address,
           conn->listener->limits.header_timeout_s);
  g_socket_shutdown (conn->socket, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

static Conn *
conn_for_remote (GSocketAddress *remote)
{
  GSocket *socket = remote != NULL ? g_object_get_qdata (G_OBJECT (remote), socket_quark ()) : NULL;

  return socket != NULL ? g_object_get_qdata (G_OBJECT (socket), conn_quark ()) : NULL;
}

typedef struct
{
  NatterListener *listener;  /* (owned) */
  GSocketAddress *local;     /* (owned) */
  GSocketAddress *remote;    /* (owned) */
} Handshake;

static void
handshake_free (Handshake *handshake)
{
  g_object_unref (handshake->listener);
  g_object_unref (handshake->local);
  g_object_unref (handshake->remote);
  g_free (handshake);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Handshake, handshake_free)

static void
handshake_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(Handshake) handshake = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &error))
    {
      /* A client that speaks no TLS, or none we accept: its problem, not ours. */
      g_debug ("TLS handshake failed: %s", error->message);
      g_io_stream_close (G_IO_STREAM (source), NULL, NULL);
      return;
    }
  g_signal_emit (handshake->listener, signals[SIGNAL_CONNECTION], 0, source,
                 handshake->local, handshake->remote);
}

/* A new socket: counted against its client's address (unless @count is %FALSE: a
 * trusted proxy's own connection, which stands for many clients), given its deadline, and
 * handed on (after TLS, if any) with @client as its peer. */
static void
admit (NatterListener *self,
       GSocket        *socket,
       GSocketAddress *client,
       gboolean        count)
{
  g_autoptr(GSocketAddress) remote = g_object_ref (client);
  g_autoptr(GSocketAddress) local = g_socket_get_local_address (socket, NULL);
  g_autoptr(GSocketConnection) stream = NULL;
  g_autofree char *address = NULL;
  Conn *conn;

  if (local == NULL)
    {
      /* Already reset by the peer. */
      g_socket_close (socket, NULL);
      return;
    }
  address = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  if (count && address_count (self, address) >= self->limits.max_per_address)
    {
      g_debug ("Refusing a connection from %s: it has %u requests open already", address,
               address_count (self, address));
      g_socket_close (socket, NULL);
      return;
    }

  conn = g_new0 (Conn, 1);
  conn->listener = g_object_ref (self);
  conn->address = g_strdup (address);
  conn->counted = count;
  conn->socket = socket;
  conn->deadline = g_timeout_add_seconds (self->limits.header_timeout_s, deadline_cb, conn);
  g_object_set_qdata_full (G_OBJECT (socket), conn_quark (), conn, conn_free);
  g_object_set_qdata_full (G_OBJECT (remote), socket_quark (), g_object_ref (socket),
                           g_object_unref);
  if (count)
    g_hash_table_insert (self->per_address, g_steal_pointer (&address),
                         GUINT_TO_POINTER (address_count (self, conn->address) + 1));
  if (++self->n_connections >= self->limits.max_connections)
    {
      /* Full: the next connections wait in the kernel's backlog until one closes. */
      g_debug ("%u connections: not accepting until one closes", self->n_connections);
      unwatch (self);
    }

  stream = g_socket_connection_factory_create_connection (socket);
  if (self->certificate != NULL)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GIOStream) tls = g_tls_server_connection_new (G_IO_STREAM (stream),
                                                              self->certificate, &error);
      Handshake *handshake;

      if (tls == NULL)
        {
          g_warning ("Cannot start TLS: %s", error->message);
          g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
          return;
        }
      /* As libsoup's own listener: browsers often just drop the TCP connection. */
      g_tls_connection_set_require_close_notify (G_TLS_CONNECTION (tls), FALSE);
      handshake = g_new0 (Handshake, 1);
      handshake->listener = g_object_ref (self);
      handshake->local = g_steal_pointer (&local);
      handshake->remote = g_steal_pointer (&remote);
      g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, NULL,
                                        handshake_cb, handshake);
      return;
    }
  g_signal_emit (self, signals[SIGNAL_CONNECTION], 0, stream, local, remote);
}

/* A connection from a trusted proxy, until its PROXY header (if it sends one) is read. */
typedef struct
{
  NatterListener *listener;  /* (owned) */
  GSocket        *socket;    /* (owned) */
  GSocketAddress *remote;    /* (owned) the proxy's address */
  GSource        *source;    /* (owned) (nullable) waiting for the first bytes */
  guint           retry;     /* waiting for the rest of a split header */
  guint           deadline;
} Pending;

static void
pending_free (Pending *pending)
{
  if (pending->source != NULL)
    g_source_destroy (pending->source);
  g_clear_pointer (&pending->source, g_source_unref);
  g_clear_handle_id (&pending->retry, g_source_remove);
  g_clear_handle_id (&pending->deadline, g_source_remove);
  g_object_unref (pending->remote);
  g_object_unref (pending->socket);
  g_object_unref (pending->listener);
  g_free (pending);
}

static void pending_check (Pending *pending);

static gboolean
pending_readable_cb (GSocket      *socket,
                     GIOCondition  condition,
                     gpointer      user_data)
{
  Pending *pending = user_data;

  g_clear_pointer (&pending->source, g_source_unref);
  pending_check (pending);
  return G_SOURCE_REMOVE;
}

static gboolean
pending_retry_cb (gpointer user_data)
{
  Pending *pending = user_data;

  pending->retry = 0;
  pending_check (pending);
  return G_SOURCE_REMOVE;
}

static gboolean
pending_deadline_cb (gpointer user_data)
{
  Pending *pending = user_data;

  pending->deadline = 0;
  g_debug ("Closing a connection from a trusted proxy: no request within %u s",
           pending->listener->limits.header_timeout_s);
  g_socket_close (pending->socket, NULL);
  pending_free (pending);
  return G_SOURCE_REMOVE;
}

/* Looks at the first bytes without taking them: a PROXY header is read off the socket,
 * anything else (an HTTP request: a health check, or a proxy that names the client in
 * X-Forwarded-For instead) is left for the HTTP server. */
static void
pending_check (Pending *pending)
{
  guint8 buffer[NATTER_PROXY_HEADER_MAX];
  GInputVector vector = { buffer, sizeof buffer };
  gint flags = G_SOCKET_MSG_PEEK;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetSocketAddress) client = NULL;
  gsize consumed;
  gssize n;

  n = g_socket_receive_message (pending->socket, NULL, &vector, 1, NULL, NULL, &flags, NULL,
                                &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      pending->source = g_socket_create_source (pending->socket, G_IO_IN, NULL);
      g_source_set_callback (pending->source, G_SOURCE_FUNC (pending_readable_cb), pending,
                             NULL);
      g_source_attach (pending->source, pending->listener->context);
      return;
    }
  if (n <= 0)
    {
      g_socket_close (pending->socket, NULL);
      pending_free (pending);
      return;
    }

  switch (natter_proxy_header_parse (buffer, n, &consumed, &client, &error))
    {
    case NATTER_PROXY_HEADER_INCOMPLETE:
      pending->retry = g_timeout_add (PROXY_HEADER_RETRY_MS, pending_retry_cb, pending);
      return;
    case NATTER_PROXY_HEADER_ABSENT:
      admit (pending->listener, pending->socket, pending->remote, FALSE);
      break;
    case NATTER_PROXY_HEADER_INVALID:
      g_debug ("Closing a connection from a trusted proxy: %s", error->message);
      g_socket_close (pending->socket, NULL);
      break;
    case NATTER_PROXY_HEADER_COMPLETE:
      /* Peeked whole, so it is there to take. */
      if (g_socket_receive (pending->socket, (char *) buffer, consumed, NULL, NULL) !=
          (gssize) consumed)
        {
          g_socket_close (pending->socket, NULL);
          break;
        }
      if (client != NULL)
        admit (pending->listener, pending->socket, G_SOCKET_ADDRESS (client), TRUE);
      else
        admit (pending->listener, pending->socket, pending->remote, FALSE);
      break;
    default:
      g_assert_not_reached ();
    }
  pending_free (pending);
}

static void
take (NatterListener *self,
      GSocket        *socket)
{
  g_autoptr(GSocketAddress) remote = g_socket_get_remote_address (socket, NULL);
  Pending *pending;

  if (remote == NULL || !G_IS_INET_SOCKET_ADDRESS (remote))
    {
      /* Already reset by the peer. */
      g_socket_close (socket, NULL);
      return;
    }
  if (!natter_listener_is_trusted (self, g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote))))
    {
      admit (self, socket, remote, TRUE);
      return;
    }
  pending = g_new0 (Pending, 1);
  pending->listener = g_object_ref (self);
  pending->socket = g_object_ref (socket);
  pending->remote = g_steal_pointer (&remote);
  pending->deadline = g_timeout_add_seconds (self->limits.header_timeout_s,
                                             pending_deadline_cb, pending);
  pending_check (pending);
}

static gboolean
retry_cb (gpointer user_data)
{
  NatterListener *self = user_data;

  self->retry = 0;
  g_message ("Accepting connections again");
  watch (self);
  return G_SOURCE_REMOVE;
}

static gboolean
accept_cb (GSocket      *socket,
           GIOCondition  condition,
           gpointer      user_data)
{
  NatterListener *self = user_data;
  g_autoptr(NatterListener) hold G_GNUC_UNUSED = g_object_ref (self);

  for (guint i = 0; i < ACCEPTS_PER_WAKEUP && self->source != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocket) client = g_socket_accept (self->socket, NULL, &error);

      if (client != NULL)
        {
          take (self, client);
          continue;
        }
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES) ||
          g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
        {
          /* The connection stays in the backlog; the socket stays readable, so accepting
           * pauses rather than spin, and resumes on its own. */
          g_message ("Cannot accept connections: %s (%u open); accepting again in %u ms. "
                     "Raise the descriptor limit or lower --max-connections.",
                     error->message, self->n_connections, ACCEPT_RETRY_MS);
          unwatch (self);
          self->retry = g_timeout_add (ACCEPT_RETRY_MS, retry_cb, self);
          break;
        }
      /* That one connection failed (reset before it was accepted, …); the next may not. */
      g_debug ("Accept failed: %s", error->message);
    }
  return self->source != NULL ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/**
 * natter_listener_request_read:
 * @remote: the remote address libsoup reports for the request
 *
 * The request on that connection has arrived whole: its deadline is over.
 */
void
natter_listener_request_read (NatterListener *self,
                              GSocketAddress *remote)
{
  Conn *conn = conn_for_remote (remote);

  g_return_if_fail (NATTER_IS_LISTENER (self));
  if (conn != NULL)
    g_clear_handle_id (&conn->deadline, g_source_remove);
}

/**
 * natter_listener_upgraded:
 * @remote: the remote address libsoup reports for the request
 *
 * The connection is a WebSocket from now on: it no longer counts against its address's
 * open requests (it still counts against `max_connections`).
 *
 * Returns: (transfer none) (nullable): its socket
 */
GSocket *
natter_listener_upgraded (NatterListener *self,
                          GSocketAddress *remote)
{
  Conn *conn = conn_for_remote (remote);

  g_return_val_if_fail (NATTER_IS_LISTENER (self), NULL);
  if (conn == NULL)
    return NULL;
  g_clear_handle_id (&conn->deadline, g_source_remove);
  if (!conn->upgraded)
    {
      conn->upgraded = TRUE;
      if (conn->counted)
        address_forget (self, conn->address);
    }
  return conn->socket;
}

/**
 * natter_listener_is_trusted:
 * @address: a peer's address
 *
 * Returns: whether @address is one of the trusted proxies, which may name the client
 *   they stand for (a PROXY header, or `X-Forwarded-For`)
 */
gboolean
natter_listener_is_trusted (NatterListener *self,
                            GInetAddress   *address)
{
  g_return_val_if_fail (NATTER_IS_LISTENER (self), FALSE);

  for (guint i = 0; i < self->trusted->len; i++)
    if (g_inet_address_mask_matches (g_ptr_array_index (self->trusted, i), address))
      return TRUE;
  return FALSE;
}

guint
natter_listener_get_n_connections (NatterListener *self)
{
  g_return_val_if_fail (NATTER_IS_LISTENER (self), 0);
  return self->n_connections;
}

/**
 * natter_listener_stop:
 *
 * Stops accepting and closes the listening socket. Accepted connections are not touched.
 */
void
natter_listener_stop (NatterListener *self)
{
  g_return_if_fail (NATTER_IS_LISTENER (self));

  unwatch (self);
  g_clear_handle_id (&self->retry, g_source_remove);
  if (self->socket != NULL)
    g_socket_close (self->socket, NULL);
  g_clear_object (&self->socket);
}

static void
natter_listener_finalize (GObject *object)
{
  NatterListener *self = NATTER_LISTENER (object);

  natter_listener_stop (self);
  g_clear_object (&self->certificate);
  g_clear_pointer (&self->trusted, g_ptr_array_unref);
  g_clear_pointer (&self->per_address, g_hash_table_unref);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (natter_listener_parent_class)->finalize (object);
}

static void
natter_listener_class_init (NatterListenerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_listener_finalize;

  signals[SIGNAL_CONNECTION] =
    g_signal_new ("connection", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, G_TYPE_IO_STREAM, G_TYPE_SOCKET_ADDRESS,
                  G_TYPE_SOCKET_ADDRESS);
}

static void
natter_listener_init (NatterListener *self)
{
  self->per_address = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->context = g_main_context_ref_thread_default ();
}

/**
 * natter_listener_new:
 * @socket: a bound, listening socket
 * @limits: the bounds on accepted connections
 * @certificate: (nullable): serve TLS with it
 *
 * Returns: (transfer full): a listener, accepting once the main loop runs
 */
NatterListener *
natter_listener_new (GSocket                    *socket,
                     const NatterListenerLimits *limits,
                     GTlsCertificate            *certificate)
{
  NatterListener *self;

  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);

  self = g_object_new (NATTER_TYPE_LISTENER, NULL);
  self->socket = g_object_ref (socket);
  /* accept() must say "nothing to accept" instead of waiting for one. */
  g_socket_set_blocking (self->socket, FALSE);
  self->limits = *limits;
  self->limits.max_connections = MAX (1, self->limits.max_connections);
  self->limits.max_per_address = MAX (1, self->limits.max_per_address);
  self->limits.header_timeout_s = MAX (1, self->limits.header_timeout_s);
  self->certificate = certificate != NULL ? g_object_ref (certificate) : NULL;
  self->trusted = limits->trusted_proxies != NULL
                  ? g_ptr_array_ref (limits->trusted_proxies)
                  : g_ptr_array_new_with_free_func (g_object_unref);
  self->limits.trusted_proxies = NULL;
  watch (self);
  return self;
}
