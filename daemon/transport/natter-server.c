/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-server"

#include "config.h"

#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#include "natter-error.h"
#include "natter-listener.h"
#include "natter-server.h"
#include "natter-session.h"

#define WEB_RESOURCE_PREFIX "/io/github/natter/Natter/web"
#define LISTEN_BACKLOG 4096
/* libsoup 3.2 has no name for it. */
#define HTTP_TOO_MANY_REQUESTS 429
#define HTTP_UPGRADE_REQUIRED 426
/* Descriptors kept out of the connections' reach by default: the store (SQLite's files
 * or PostgreSQL's sockets), D-Bus, Redis, the poller and GLib's own. */
#define RESERVED_DESCRIPTORS 64

typedef struct
{
  NatterReadyFunc func;
  gpointer        user_data;
} ReadyCheck;

typedef struct
{
  NatterMetricsFunc func;
  gpointer          user_data;
} MetricsSource;

struct _NatterServer
{
  GObject     parent_instance;

  NatterHub  *hub;       /* (owned) */
  SoupServer *server;    /* (owned) */
  NatterListener *listener; /* (owned) (nullable) until listening */
  GTlsCertificate *certificate; /* (owned) (nullable) */
  GHashTable *sessions;  /* (owned) NatterSession * (owned) set */
  GHashTable *per_peer;  /* (owned) peer address → number of sessions */
  GArray     *ready_checks; /* (owned) ReadyCheck */
  GArray     *metrics;   /* (owned) MetricsSource */
  guint       heartbeat_source;
  gboolean    shutting_down;
};

G_DEFINE_FINAL_TYPE (NatterServer, natter_server, G_TYPE_OBJECT)

/* One timer for every session's heartbeat, rather than one per session. */
static gboolean
heartbeat_cb (gpointer user_data)
{
  NatterServer *self = user_data;
  g_autoptr(GPtrArray) sessions = g_ptr_array_new_with_free_func (g_object_unref);
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (sessions, g_object_ref (key));
  for (guint i = 0; i < sessions->len; i++)
    natter_session_heartbeat (g_ptr_array_index (sessions, i), now);
  return G_SOURCE_CONTINUE;
}

static guint
peer_count (NatterServer *self, const char *peer)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->per_peer, peer));
}

static void
on_session_closed (NatterSession *session,
                   gpointer       user_data)
{
  NatterServer *self = user_data;
  const char *peer = natter_client_get_peer (NATTER_CLIENT (session));
  guint n = peer_count (self, peer);

  if (n <= 1)
    g_hash_table_remove (self->per_peer, peer);
  else
    g_hash_table_insert (self->per_peer, g_strdup (peer), GUINT_TO_POINTER (n - 1));
  g_hash_table_remove (self->sessions, session);
}

/* The client's address: the connection's peer (which a PROXY header from a trusted
 * proxy has already made the client: natter-listener.c) or, when the peer is a trusted
 * proxy, the last address in X-Forwarded-For that is not one too. From anyone else the
 * header is the client's own claim and means nothing. */
static char *
peer_address (NatterServer      *self,
              SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  const char *forwarded;
  g_auto(GStrv) hops = NULL;
  g_autoptr(GInetAddress) address = NULL;

  if (remote == NULL || !G_IS_INET_SOCKET_ADDRESS (remote))
    return g_strdup ("unknown");
  address = g_object_ref (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  forwarded = soup_message_headers_get_list (soup_server_message_get_request_headers (msg),
                                             "X-Forwarded-For");
  if (forwarded == NULL)
    return g_inet_address_to_string (address);
  hops = g_strsplit (forwarded, ",", -1);
  for (guint i = g_strv_length (hops); i > 0 && natter_listener_is_trusted (self->listener, address); i--)
    {
      g_autoptr(GInetAddress) hop = g_inet_address_new_from_string (g_strstrip (hops[i - 1]));

      /* Not an address: stop at the last proxy that gave one. */
      if (hop == NULL)
        break;
      g_set_object (&address, hop);
    }
  return g_inet_address_to_string (address);
}

static const char *protocols[] = { NATTER_SUBPROTOCOL_JSON, NATTER_SUBPROTOCOL_PROTO, NULL };

/* Frames are small and each is wanted at once. With Nagle's algorithm a frame written
 * while an earlier small one is not yet acknowledged waits for that acknowledgement,
 * which a quiet peer may delay by tens of milliseconds. */
static void
set_no_delay (GSocket *socket)
{
  g_autoptr(GError) error = NULL;

  if (socket == NULL || g_socket_get_family (socket) == G_SOCKET_FAMILY_UNIX)
    return;
  if (!g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, TRUE, &error))
    g_debug ("Cannot set TCP_NODELAY: %s", error->message);
}

/* The 101 response is out: the connection is ours from here on. */
static void
upgraded_cb (SoupServerMessage *msg,
             gpointer           user_data)
{
  NatterServer *self = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  const char *protocol = soup_message_headers_get_one (headers, "Sec-WebSocket-Protocol");
  g_autofree char *peer = peer_address (self, msg);
  g_autoptr(GIOStream) stream = NULL;
  GSocket *socket;
  NatterCodec codec = NATTER_CODEC_JSON;
  NatterSession *session;

  g_signal_handlers_disconnect_by_func (msg, upgraded_cb, self);
  socket = natter_listener_upgraded (self->listener, soup_server_message_get_remote_address (msg));
  set_no_delay (socket);
  /* Plain TCP reads and writes the socket directly; TLS buffers inside its stream. */
  if (self->certificate != NULL)
    socket = NULL;
  stream = soup_server_message_steal_connection (msg);
  /* The handshake accepted only our subprotocols; none offered means JSON. */
  if (protocol != NULL)
    natter_codec_from_subprotocol (protocol, &codec);

  session = natter_session_new (NATTER_BACKEND (self->hub), natter_hub_get_config (self->hub),
                                stream, socket, codec, peer);
  /* Before any request: a login records it with the session's token. */
  natter_client_set_agent (NATTER_CLIENT (session),
                           soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                         "User-Agent"));
  g_signal_connect_object (session, "closed", G_CALLBACK (on_session_closed), self, 0);
  g_hash_table_add (self->sessions, session);
  g_hash_table_insert (self->per_peer, g_strdup (peer),
                       GUINT_TO_POINTER (peer_count (self, peer) + 1));
}

static void
respond_text (SoupServerMessage *msg,
              guint              status,
              const char        *content_type,
              const char        *text);

/* The authority (host[:port]) of an Origin, as a Host header would name it. */
static char *
origin_authority (const char *origin)
{
  g_autoptr(GUri) uri = g_uri_parse (origin, G_URI_FLAGS_NONE, NULL);
  const char *host = uri != NULL ? g_uri_get_host (uri) : NULL;
  g_autoptr(GString) authority = NULL;

  if (host == NULL || *host == '\0')
    return NULL;
  authority = g_string_new (NULL);
  if (strchr (host, ':') != NULL)
    g_string_append_printf (authority, "[%s]", host);
  else
    g_string_append (authority, host);
  if (g_uri_get_port (uri) != -1)
    g_string_append_printf (authority, ":%d", g_uri_get_port (uri));
  return g_string_free (g_steal_pointer (&authority), FALSE);
}

/* A browser names the page that opens a WebSocket in Origin, and lets any page open one
 * to any server: natterd talks only to its own page (the same host) and to origins the
 * operator allowed. Clients that are not browsers send no Origin, and pass. */
static gboolean
origin_allowed (const NatterConfig *config,
                SoupServerMessage  *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *origin = soup_message_headers_get_one (headers, "Origin");
  const char *host = soup_message_headers_get_one (headers, "Host");
  g_autofree char *authority = NULL;

  if (origin == NULL)
    return TRUE;
  if (config->allowed_origins != NULL)
    for (guint i = 0; config->allowed_origins[i] != NULL; i++)
      if (g_ascii_strcasecmp (config->allowed_origins[i], origin) == 0)
        return TRUE;
  authority = origin_authority (origin);
  return authority != NULL && host != NULL && g_ascii_strcasecmp (authority, host) == 0;
}

static void
websocket_cb (SoupServer        *server,
              SoupServerMessage *msg,
              const char        *path,
              GHashTable        *query,
              gpointer           user_data)
{
  NatterServer *self = user_data;
  const NatterConfig *config = natter_hub_get_config (self->hub);
  g_autoptr(GError) error = NULL;
  g_autofree char *peer = peer_address (self, msg);

  if (self->shutting_down)
    {
      /* Nothing more will be served on this connection: hang up, so that the client (or
       * balancer) tries another node at once. */
      soup_message_headers_append (soup_server_message_get_response_headers (msg),
                                   "Connection", "close");
      respond_text (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "text/plain", "shutting down\n");
      return;
    }
  if (peer_count (self, peer) >= config->max_connections_per_ip)
    {
      soup_message_headers_append (soup_server_message_get_response_headers (msg),
                                   "Retry-After", "10");
      /* Hang up: the address already holds enough connections. */
      soup_message_headers_append (soup_server_message_get_response_headers (msg),
                                   "Connection", "close");
      respond_text (msg, HTTP_TOO_MANY_REQUESTS, "text/plain",
                    "too many connections from this address\n");
      return;
    }
  if (!origin_allowed (config, msg))
    {
      respond_text (msg, SOUP_STATUS_FORBIDDEN, "text/plain",
                    "this origin may not open a WebSocket here (see --allowed-origin)\n");
      return;
    }
  /* RFC 6455 §4.4: a version we do not speak gets the list of those we do. */
  if (soup_message_headers_header_contains (soup_server_message_get_request_headers (msg),
                                            "Upgrade", "websocket") &&
      g_strcmp0 (soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                               "Sec-WebSocket-Version"), "13") != 0)
    {
      soup_message_headers_append (soup_server_message_get_response_headers (msg),
                                   "Sec-WebSocket-Version", "13");
      respond_text (msg, HTTP_UPGRADE_REQUIRED, "text/plain",
                    "unsupported WebSocket version: this server speaks version 13\n");
      return;
    }
  /* No extensions: permessage-deflate would let a small frame inflate without bound. */
  if (!soup_websocket_server_check_handshake (msg, NULL, (char **) protocols, NULL, &error))
    {
      g_autofree char *text = g_strdup_printf ("%s\n", error->message);

      respond_text (msg, SOUP_STATUS_BAD_REQUEST, "text/plain", text);
      return;
    }
  if (!soup_websocket_server_process_handshake (msg, NULL, (char **) protocols, NULL, NULL))
    return;
  g_signal_connect_object (msg, "wrote-informational", G_CALLBACK (upgraded_cb), self, 0);
}

static void
respond_text (SoupServerMessage *msg,
              guint              status,
              const char        *content_type,
              const char        *text)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY, text, strlen (text));
}

static void
healthz_cb (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  respond_text (msg, SOUP_STATUS_OK, "text/plain", "ok\n");
}

static void
readyz_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  NatterServer *self = user_data;
  g_autoptr(GString) why_not = g_string_new (NULL);

  if (self->shutting_down)
    g_string_append (why_not, "shutting down\n");
  for (guint i = 0; i < self->ready_checks->len; i++)
    {
      ReadyCheck *check = &g_array_index (self->ready_checks, ReadyCheck, i);
      check->func (check->user_data, why_not);
    }
  if (why_not->len > 0)
    respond_text (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "text/plain", why_not->str);
  else
    respond_text (msg, SOUP_STATUS_OK, "text/plain", "ready\n");
}

static void
metrics_cb (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  NatterServer *self = user_data;
  g_autoptr(GString) out = g_string_new (NULL);

  g_string_append_printf (out,
                          "# HELP natter_sessions Open WebSocket sessions.\n"
                          "# TYPE natter_sessions gauge\n"
                          "natter_sessions %u\n"
                          "# HELP natter_connections Accepted connections, HTTP and WebSocket.\n"
                          "# TYPE natter_connections gauge\n"
                          "natter_connections %u\n",
                          g_hash_table_size (self->sessions),
                          self->listener != NULL ? natter_listener_get_n_connections (self->listener) : 0);
  natter_hub_append_metrics (self->hub, out);
  for (guint i = 0; i < self->metrics->len; i++)
    {
      MetricsSource *source = &g_array_index (self->metrics, MetricsSource, i);

      source->func (source->user_data, out);
    }
  respond_text (msg, SOUP_STATUS_OK, "text/plain; version=0.0.4", out->str);
}

static const char *
content_type_for (const char *path)
{
  static const struct { const char *ext; const char *type; } types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".json", "application/json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".ico", "image/x-icon" },
    { ".webmanifest", "application/manifest+json" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    if (g_str_has_suffix (path, types[i].ext))
      return types[i].type;
  return "application/octet-stream";
}

/* Serves the web app from the GResource compiled into natterd. */
static void
web_cb (SoupServer        *server,
        SoupServerMessage *msg,
        const char        *path,
        GHashTable        *query,
        gpointer           user_data)
{
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *resource = NULL;
  g_autoptr(GBytes) bytes = NULL;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
      soup_message_headers_append (headers, "Allow", "GET, HEAD");
      return;
    }
  if (strstr (path, "..") != NULL || strstr (path, "//") != NULL)
    {
      respond_text (msg, SOUP_STATUS_NOT_FOUND, "text/plain", "not found\n");
      return;
    }
  if (g_str_equal (path, "/"))
    path = "/index.html";
  resource = g_strconcat (WEB_RESOURCE_PREFIX, path, NULL);
  bytes = g_resources_lookup_data (resource, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (bytes == NULL)
    {
      respond_text (msg, SOUP_STATUS_NOT_FOUND, "text/plain", "not found\n");
      return;
    }
  soup_message_headers_append (headers, "Cache-Control", "no-cache");
  soup_message_headers_append (headers, "X-Content-Type-Options", "nosniff");
  /* The page talks to the server that served it, and to no other: a link cannot point
   * it (and a password typed into it) elsewhere. Development builds may (web/build.js). */
  soup_message_headers_append (headers, "Content-Security-Policy",
#if NATTER_DEVELOPMENT
                               "default-src 'self'; connect-src 'self' ws: wss:; "
#else
                               "default-src 'self'; connect-src 'self'; "
#endif
                               "img-src 'self' data:; frame-ancestors 'none'");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, content_type_for (path), SOUP_MEMORY_COPY,
                                    g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

static void
natter_server_finalize (GObject *object)
{
  NatterServer *self = NATTER_SERVER (object);

  g_clear_handle_id (&self->heartbeat_source, g_source_remove);
  g_clear_pointer (&self->sessions, g_hash_table_unref);
  g_clear_pointer (&self->per_peer, g_hash_table_unref);
  if (self->listener != NULL)
    natter_listener_stop (self->listener);
  g_clear_object (&self->listener);
  g_clear_object (&self->certificate);
  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  g_clear_object (&self->hub);
  g_clear_pointer (&self->ready_checks, g_array_unref);
  g_clear_pointer (&self->metrics, g_array_unref);

  G_OBJECT_CLASS (natter_server_parent_class)->finalize (object);
}

static void
natter_server_class_init (NatterServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_server_finalize;
}

static void
natter_server_init (NatterServer *self)
{
  self->sessions = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  self->per_peer = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->ready_checks = g_array_new (FALSE, FALSE, sizeof (ReadyCheck));
  self->metrics = g_array_new (FALSE, FALSE, sizeof (MetricsSource));
}

static void
connection_cb (NatterListener *listener,
               GIOStream      *stream,
               GSocketAddress *local,
               GSocketAddress *remote,
               gpointer        user_data)
{
  NatterServer *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!soup_server_accept_iostream (self->server, stream, local, remote, &error))
    g_debug ("Cannot serve a connection: %s", error->message);
}

static void
request_read_cb (SoupServerMessage *msg,
                 gpointer           user_data)
{
  NatterServer *self = user_data;

  natter_listener_request_read (self->listener, soup_server_message_get_remote_address (msg));
}

/* The listener's deadline runs until the request is read: its headers and any body. */
static void
request_started_cb (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  g_signal_connect_object (msg, "got-body", G_CALLBACK (request_read_cb), user_data, 0);
}

/**
 * natter_server_new:
 * @hub: the hub sessions talk to
 *
 * Returns: (transfer full): a server, not yet listening
 */
NatterServer *
natter_server_new (NatterHub  *hub,
                   GError    **error)
{
  const NatterConfig *config = natter_hub_get_config (hub);
  g_autoptr(NatterServer) self = g_object_new (NATTER_TYPE_SERVER, NULL);
  self->hub = g_object_ref (hub);
  self->server = soup_server_new ("server-header", "natterd/" PACKAGE_VERSION " ", NULL);

  if (config->tls_cert != NULL || config->tls_key != NULL)
    {
      if (config->tls_cert == NULL || config->tls_key == NULL)
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "TLS needs both --tls-cert and --tls-key");
          return NULL;
        }
      /* The listener negotiates TLS itself (see natter_server_listen()). */
      self->certificate = g_tls_certificate_new_from_files (config->tls_cert, config->tls_key,
                                                            error);
      if (self->certificate == NULL)
        return NULL;
    }

  g_signal_connect_object (self->server, "request-started", G_CALLBACK (request_started_cb),
                           self, 0);
  soup_server_add_handler (self->server, "/ws", websocket_cb, self, NULL);
  self->heartbeat_source = g_timeout_add (MAX (500, config->ping_interval_s * 1000 / 2),
                                          heartbeat_cb, self);
  soup_server_add_handler (self->server, "/healthz", healthz_cb, self, NULL);
  soup_server_add_handler (self->server, "/readyz", readyz_cb, self, NULL);
  soup_server_add_handler (self->server, "/metrics", metrics_cb, self, NULL);
  soup_server_add_handler (self->server, NULL, web_cb, self, NULL);

  return g_steal_pointer (&self);
}

/* As many connections as the descriptor limit allows, less a reserve for everything
 * else natterd opens; half of a limit too small for that reserve. */
static guint
default_max_connections (void)
{
  struct rlimit limit;
  rlim_t n;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return 1024 - RESERVED_DESCRIPTORS;
  n = limit.rlim_cur == RLIM_INFINITY ? G_MAXINT : MIN (limit.rlim_cur, (rlim_t) G_MAXINT);
  return n > 2 * RESERVED_DESCRIPTORS ? n - RESERVED_DESCRIPTORS : MAX (1, n / 2);
}

gboolean
natter_server_listen (NatterServer  *self,
                      guint16       *out_port,
                      GError       **error)
{
  const NatterConfig *config = natter_hub_get_config (self->hub);
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocket) listen_socket = NULL;
  g_autoptr(GPtrArray) trusted = g_ptr_array_new_with_free_func (g_object_unref);
  NatterListenerLimits limits = {
    .max_connections = config->max_connections != 0 ? config->max_connections
                                                    : default_max_connections (),
    .max_per_address = config->max_connections_per_ip,
    .header_timeout_s = config->header_timeout_s,
    .trusted_proxies = trusted,
  };

  /* natter_config_validate() has parsed each of them. */
  for (guint i = 0; config->trusted_proxies != NULL && config->trusted_proxies[i] != NULL; i++)
    g_ptr_array_add (trusted, g_inet_address_mask_new_from_string (config->trusted_proxies[i],
                                                                   NULL));

  address = g_inet_address_new_from_string (config->listen_address);
  if (address == NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "listen address must be an IP address, not “%s”", config->listen_address);
      return FALSE;
    }
  socket_address = g_inet_socket_address_new (address, config->port);

  /* Our own socket, for a backlog that survives a burst of connects (GLib's default is
   * 10: a thousand clients arriving at once would see timeouts). */
  listen_socket = g_socket_new (g_inet_address_get_family (address), G_SOCKET_TYPE_STREAM,
                                G_SOCKET_PROTOCOL_TCP, error);
  if (listen_socket == NULL)
    return FALSE;
  g_socket_set_listen_backlog (listen_socket, LISTEN_BACKLOG);
  if (!g_socket_bind (listen_socket, socket_address, TRUE, error) ||
      !g_socket_listen (listen_socket, error))
    return FALSE;
  local = g_socket_get_local_address (listen_socket, error);
  if (local == NULL)
    return FALSE;
  if (out_port != NULL)
    *out_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));

  /* natterd accepts connections itself and hands them to libsoup. libsoup's own listener
   * stops for good on the first failed accept (out of descriptors, say), and bounds
   * neither how many connections it holds nor how long a request may take to arrive
   * (docs/architecture.md, "Accepting connections"). */
  self->listener = natter_listener_new (listen_socket, &limits, self->certificate);
  g_signal_connect_object (self->listener, "connection", G_CALLBACK (connection_cb), self, 0);
  g_debug ("Accepting up to %u connections", limits.max_connections);
  return TRUE;
}

void
natter_server_add_ready_check (NatterServer    *self,
                               NatterReadyFunc  func,
                               gpointer         user_data)
{
  ReadyCheck check = { func, user_data };

  g_return_if_fail (NATTER_IS_SERVER (self));
  g_array_append_val (self->ready_checks, check);
}

void
natter_server_add_metrics (NatterServer      *self,
                           NatterMetricsFunc  func,
                           gpointer           user_data)
{
  MetricsSource source = { func, user_data };

  g_return_if_fail (NATTER_IS_SERVER (self));
  g_array_append_val (self->metrics, source);
}

/**
 * natter_server_begin_drain:
 *
 * The first step of a graceful stop: `/readyz` answers 503 so that the balancer sends
 * new clients to other nodes, and a WebSocket that still arrives here is refused with
 * 503 (which a balancer may retry elsewhere). The listening socket stays open, or the
 * balancer could not see the 503; sessions already open are served as before.
 */
void
natter_server_begin_drain (NatterServer *self)
{
  g_return_if_fail (NATTER_IS_SERVER (self));

  self->shutting_down = TRUE;
}

/**
 * natter_server_shutdown:
 *
 * Refuses new connections and closes every session with 1001 (going away). Clients
 * reconnect and resume against another node or the next instance.
 */
void
natter_server_shutdown (NatterServer *self)
{
  g_autoptr(GPtrArray) sessions = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer key;

  g_return_if_fail (NATTER_IS_SERVER (self));

  self->shutting_down = TRUE;
  g_hash_table_iter_init (&iter, self->sessions);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (sessions, g_object_ref (key));
  for (guint i = 0; i < sessions->len; i++)
    natter_session_shutdown (g_ptr_array_index (sessions, i));
}

guint
natter_server_get_n_sessions (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), 0);
  return g_hash_table_size (self->sessions);
}
