/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natterd"

#include "config.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ifaddrs.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <glib-unix.h>

#include "natter-auth.h"
#include "natter-config.h"
#include "natter-dbus-service.h"
#include "natter-error.h"
#include "natter-hub.h"
#include "natter-mode-choice.h"
#include "natter-operator.h"
#include "natter-server.h"
#include "natter-store-sqlite.h"
#include "natter-upstream.h"
#if NATTER_HAVE_CLUSTER
#include "natter-cluster.h"
#include "natter-redis.h"
#include "natter-store-postgres.h"
#endif

typedef struct
{
  NatterConfig *config;   /* (owned) */
  GMainLoop    *loop;     /* (owned) */
  NatterStore  *store;    /* (owned) */
  NatterHub    *hub;      /* (owned) */
  /* A cluster node's fan-out and what it adds beside the hub (NULL otherwise). */
  GObject      *redis;    /* (owned) (nullable) NatterRedis */
  GObject      *cluster;  /* (owned) (nullable) NatterCluster */
  NatterServer *server;   /* (owned) (nullable) */
  NatterDBusService *dbus; /* (owned) (nullable) */
  NatterUpstream *upstream; /* (owned) (nullable) upstream mode: no store, hub or server */
  guint         bus_owner_id;
  gboolean      name_owned;
  guint16       port;     /* where the server listens, once it does */
  gboolean      mode_chosen;  /* by options, or remembered from the app (mode.ini) */
  NatterModeChoice *choice;   /* (owned) what mode.ini holds, or will */
  char         *listen_error; /* (owned) (nullable) why host mode does not listen */
  GTask        *switch_task;  /* (owned) (nullable) SetMode() or Connect() on its way to host mode */
  int           exit_status;
  gboolean      stopping;
  guint         drain_delay_source; /* unready, sessions still served */
  gint64        close_deadline;
} Daemon;

static void announce_ready (Daemon *daemon);
static void switch_mode (NatterDBusService *service, const char *mode, const char *url,
                         const char *user, GTask *task, gpointer user_data);
static void switched_to_host (Daemon *daemon);
static void publish_listening (Daemon *daemon);
static gboolean set_listen_address (NatterDBusService *service, const char *address,
                                    GError **error, gpointer user_data);

/* How long shutdown waits for clients to answer the close handshake. */
#define CLOSE_GRACE_US (2 * G_USEC_PER_SEC)

static void
daemon_quit (Daemon *daemon, int status)
{
  if (status != 0)
    daemon->exit_status = status;
  g_main_loop_quit (daemon->loop);
}

static gboolean
sessions_closed_cb (gpointer user_data)
{
  Daemon *daemon = user_data;

  if (natter_server_get_n_sessions (daemon->server) > 0 &&
      g_get_monotonic_time () < daemon->close_deadline)
    return G_SOURCE_CONTINUE;
  g_message ("Stopped");
  daemon_quit (daemon, 0);
  return G_SOURCE_REMOVE;
}

/* Shutdown, after the drain delay: refuse new work, let every request in flight commit
 * and be acknowledged, then close the sessions with 1001 so their clients reconnect
 * elsewhere or later. */
static void
drained_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *daemon = user_data;

  natter_hub_drain_finish (NATTER_HUB (source), result, NULL);
  if (daemon->server == NULL)
    {
      daemon_quit (daemon, 0);
      return;
    }
  g_message ("Closing %u sessions", natter_server_get_n_sessions (daemon->server));
  natter_server_shutdown (daemon->server);
  daemon->close_deadline = g_get_monotonic_time () + CLOSE_GRACE_US;
  g_timeout_add (20, sessions_closed_cb, daemon);
}

static void
upstream_stopped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  natter_upstream_shutdown_finish (NATTER_UPSTREAM (source), result, NULL);
  g_message ("Stopped");
  daemon_quit (user_data, 0);
}

static void
drain (Daemon *daemon)
{
  g_clear_handle_id (&daemon->drain_delay_source, g_source_remove);
  natter_hub_drain_async (daemon->hub, NULL, drained_cb, daemon);
}

static gboolean
drain_delay_cb (gpointer user_data)
{
  Daemon *daemon = user_data;

  daemon->drain_delay_source = 0;
  drain (daemon);
  return G_SOURCE_REMOVE;
}

/* @graceful: a stop asked for by a signal, as in a rolling restart. The node first turns
 * unready and keeps serving its sessions for the drain delay, so that the balancer sees
 * /readyz fail and sends new clients elsewhere before these ones are told to go. */
static void
begin_shutdown_full (Daemon *daemon, int status, gboolean graceful)
{
  guint delay_ms = natter_config_get_drain_delay_ms (daemon->config);

  if (status != 0)
    daemon->exit_status = status;
  if (daemon->stopping)
    {
      /* Asked again while waiting: the operator does not want to wait. */
      if (graceful && daemon->drain_delay_source != 0)
        {
          g_message ("Asked again: closing sessions now");
          drain (daemon);
        }
      return;
    }
  daemon->stopping = TRUE;
  if (daemon->upstream != NULL)
    {
      g_message ("Shutting down");
      natter_upstream_shutdown_async (daemon->upstream, NULL, upstream_stopped_cb, daemon);
      return;
    }
  if (graceful && daemon->server != NULL && delay_ms > 0)
    {
      g_message ("Draining: /readyz answers 503 and new connections are refused; "
                 "closing sessions in %.1f s", delay_ms / 1000.0);
      natter_server_begin_drain (daemon->server);
      daemon->drain_delay_source = g_timeout_add (delay_ms, drain_delay_cb, daemon);
      return;
    }
  g_message ("Shutting down");
  if (daemon->server != NULL)
    natter_server_begin_drain (daemon->server);
  drain (daemon);
}

static void
begin_shutdown (Daemon *daemon, int status)
{
  begin_shutdown_full (daemon, status, FALSE);
}

static gboolean
signal_cb (gpointer user_data)
{
  begin_shutdown_full (user_data, 0, TRUE);
  return G_SOURCE_CONTINUE;
}

/* D-Bus: the objects are exported as soon as the bus is there, before the name is
 * owned, so a caller that sees the name finds them. */
static void
bus_acquired_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;
  /* Upstream mode has no hub: the link to the remote server is the backend. */
  NatterBackend *backend = daemon->upstream != NULL ? NATTER_BACKEND (daemon->upstream)
                                                    : NATTER_BACKEND (daemon->hub);

  daemon->dbus = natter_dbus_service_new (backend, connection, &error);
  if (daemon->dbus == NULL)
    {
      g_printerr ("natterd: cannot export the D-Bus service: %s\n", error->message);
      begin_shutdown (daemon, 1);
      return;
    }
  natter_dbus_service_set_window_size (daemon->dbus, daemon->config->dbus_window);
  natter_dbus_service_set_mode_chosen (daemon->dbus, daemon->mode_chosen);
  if (daemon->upstream != NULL)
    natter_upstream_start (daemon->upstream);
  if (daemon->config->postgres != NULL)
    natter_dbus_service_set_mode (daemon->dbus, "cluster");
  else
    {
      natter_dbus_service_set_switch_func (daemon->dbus, switch_mode, daemon);
      natter_dbus_service_set_listen_func (daemon->dbus, set_listen_address, daemon);
    }
  publish_listening (daemon);
}

static void
name_acquired_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Daemon *daemon = user_data;

  daemon->name_owned = TRUE;
  if (daemon->upstream != NULL)
    g_message ("Owning %s on the session bus, mirroring %s", name, daemon->config->upstream_url);
  else
    {
      g_message ("Owning %s on the session bus, as account %s", name, daemon->config->owner);
      announce_ready (daemon);
    }
}

static void
name_lost_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Daemon *daemon = user_data;

  if (connection == NULL && daemon->dbus == NULL && daemon->upstream != NULL)
    {
      g_printerr ("natterd: upstream mode needs a session bus: D-Bus is its only front end\n");
      begin_shutdown (daemon, 1);
      return;
    }
  if (connection == NULL && daemon->dbus == NULL && daemon->server == NULL)
    {
      g_printerr ("natterd: no session bus and no port to serve on: %s\n", daemon->listen_error);
      begin_shutdown (daemon, 1);
      return;
    }
  if (connection == NULL && daemon->dbus == NULL)
    {
      /* No session bus at all (a server, a container): serve without D-Bus. */
      g_message ("No session bus: serving without D-Bus");
      g_clear_handle_id (&daemon->bus_owner_id, g_bus_unown_name);
      announce_ready (daemon);
      return;
    }
  if (daemon->name_owned)
    {
      /* Replaced (natterd --replace) or the bus went away: hand over cleanly. */
      g_message ("Lost %s; shutting down", name);
      begin_shutdown (daemon, 0);
    }
  else
    {
      g_printerr ("natterd: %s is owned by another process (use --replace to take it over)\n",
                  name);
      begin_shutdown (daemon, 1);
    }
}

static void
own_bus_name (Daemon *daemon)
{
  GBusNameOwnerFlags flags = G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT;

  if (daemon->stopping)
    return;
  if (daemon->config->replace)
    flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
  daemon->bus_owner_id = g_bus_own_name (G_BUS_TYPE_SESSION, NATTER_DAEMON_BUS_NAME, flags,
                                         bus_acquired_cb, name_acquired_cb, name_lost_cb,
                                         daemon, NULL);
}

static gboolean
write_ready_file (const char *path, guint16 port, GError **error)
{
  g_autofree char *contents = g_strdup_printf ("%u\n", port);

  return g_file_set_contents (path, contents, -1, error);
}

/* Ready means ready on every front end: the ready file is written once the server
 * listens and, with a session bus, once the D-Bus name is owned too. */
static void
announce_ready (Daemon *daemon)
{
  g_autoptr(GError) error = NULL;

  if (daemon->config->ready_file != NULL &&
      !write_ready_file (daemon->config->ready_file, daemon->port, &error))
    {
      g_printerr ("natterd: cannot write the ready file: %s\n", error->message);
      begin_shutdown (daemon, 1);
    }
}

#if NATTER_HAVE_CLUSTER
/* A node that cannot commit cannot serve. */
static gboolean
database_ready (gpointer user_data, GString *why_not)
{
  if (natter_store_is_ready (NATTER_STORE (user_data)))
    return TRUE;
  g_string_append (why_not, "database unreachable\n");
  return FALSE;
}

static void
cluster_metrics (gpointer user_data, GString *out)
{
  natter_cluster_append_metrics (NATTER_CLUSTER (user_data), out);
}

/* Serving as a cluster node: hear the other nodes, report on the database. Redis is
 * not a readiness check: every node shares the one Redis, so failing on it would take
 * the whole cluster out of the balancer at once, while a node without it still serves
 * correctly, degraded (natter-cluster.c). */
static void
start_cluster (Daemon *daemon)
{
  natter_cluster_start (NATTER_CLUSTER (daemon->cluster));
  natter_server_add_metrics (daemon->server, cluster_metrics, daemon->cluster);
  natter_server_add_ready_check (daemon->server, database_ready, daemon->store);
}

/* A cluster node's store. Blocks until the schema is up to date: the loop does not run
 * yet. */
static NatterStore *
open_shared_store (NatterConfig *config, GError **error)
{
  return natter_store_postgres_new_full (config->postgres, config->search_language, 0,
                                         error);
}

/* Redis (which may be down at start-up: the node connects when it comes), and the
 * cluster beside the hub. */
static gboolean
join_cluster (Daemon *daemon, GError **error)
{
  if (daemon->config->redis != NULL)
    {
      daemon->redis = G_OBJECT (natter_redis_new (daemon->config->redis,
                                                  daemon->config->node_id, error));
      if (daemon->redis == NULL)
        return FALSE;
    }
  daemon->cluster = G_OBJECT (natter_cluster_new (daemon->hub, NATTER_REDIS (daemon->redis),
                                                  daemon->config->node_id));
  return TRUE;
}
#else
static void
start_cluster (Daemon *daemon)
{
  g_assert_not_reached ();
}

static NatterStore *
open_shared_store (NatterConfig *config, GError **error)
{
  g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                       "this natterd was built without cluster support (meson -Dcluster=disabled): "
                       "--postgres and --redis need a build with libpq and hiredis");
  return NULL;
}

static gboolean
join_cluster (Daemon *daemon, GError **error)
{
  return open_shared_store (daemon->config, error) != NULL;
}
#endif

/* Where others reach host mode's web page: every address of this computer when it
 * listens on all of them. */
static GStrv
dup_web_addresses (Daemon *daemon)
{
  const char *scheme = daemon->config->tls_cert != NULL ? "https" : "http";
  const char *host = daemon->config->listen_address;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  struct ifaddrs *interfaces = NULL;

  if (daemon->server == NULL)
    return g_strv_builder_end (builder);
  if (!g_str_equal (host, "0.0.0.0") && !g_str_equal (host, "::"))
    {
      g_autofree char *url = strchr (host, ':') != NULL
        ? g_strdup_printf ("%s://[%s]:%u/", scheme, host, daemon->port)
        : g_strdup_printf ("%s://%s:%u/", scheme, host, daemon->port);

      g_strv_builder_add (builder, url);
      return g_strv_builder_end (builder);
    }
  if (getifaddrs (&interfaces) != 0)
    return g_strv_builder_end (builder);
  for (struct ifaddrs *i = interfaces; i != NULL; i = i->ifa_next)
    {
      g_autoptr(GSocketAddress) address = NULL;
      GInetAddress *inet;
      g_autofree char *text = NULL;
      g_autofree char *url = NULL;

      if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
                                  (i->ifa_addr->sa_family != AF_INET6 || g_str_equal (host, "0.0.0.0"))))
        continue;
      address = g_socket_address_new_from_native (i->ifa_addr,
                                                  i->ifa_addr->sa_family == AF_INET
                                                  ? sizeof (struct sockaddr_in)
                                                  : sizeof (struct sockaddr_in6));
      inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
      if (g_inet_address_get_is_loopback (inet) || g_inet_address_get_is_link_local (inet))
        continue;
      text = g_inet_address_to_string (inet);
      url = g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6
        ? g_strdup_printf ("%s://[%s]:%u/", scheme, text, daemon->port)
        : g_strdup_printf ("%s://%s:%u/", scheme, text, daemon->port);
      g_strv_builder_add (builder, url);
    }
  freeifaddrs (interfaces);
  return g_strv_builder_end (builder);
}

/* ListenAddress, ListenError and WebAddresses over D-Bus. */
static void
publish_listening (Daemon *daemon)
{
  g_autofree char *address = NULL;
  g_auto(GStrv) web = NULL;
  const char *host = daemon->config->listen_address;
  guint port = daemon->server != NULL ? daemon->port : daemon->config->port;

  if (daemon->dbus == NULL)
    return;
  if (daemon->upstream != NULL)
    {
      natter_dbus_service_set_listening (daemon->dbus, "", "", NULL);
      return;
    }
  address = strchr (host, ':') != NULL ? g_strdup_printf ("[%s]:%u", host, port)
                                       : g_strdup_printf ("%s:%u", host, port);
  web = dup_web_addresses (daemon);
  natter_dbus_service_set_listening (daemon->dbus, address,
                                     daemon->listen_error != NULL ? daemon->listen_error : "",
                                     (const char * const *) web);
}

/* Host mode's listener on the configured address. */
static gboolean
start_listening (Daemon *daemon, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  daemon->server = natter_server_new (daemon->hub, &local_error);
  if (daemon->server == NULL || !natter_server_listen (daemon->server, &daemon->port, &local_error))
    {
      g_clear_object (&daemon->server);
      g_free (daemon->listen_error);
      daemon->listen_error = g_strdup (local_error->message);
      publish_listening (daemon);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  g_clear_pointer (&daemon->listen_error, g_free);
  publish_listening (daemon);
  return TRUE;
}

/* Listens, then offers D-Bus: the owner account exists by then. */
static void
serve (Daemon *daemon)
{
  g_autoptr(GError) error = NULL;

  if (!start_listening (daemon, &error))
    {
      g_printerr ("natterd: cannot listen on %s:%u: %s\n", daemon->config->listen_address,
                  daemon->config->port, error->message);
      /* Without a port of its own natterd for the desktop still serves D-Bus: the app
       * shows why others cannot join and lets the user pick another port. A server
       * (no D-Bus) or a cluster node has nothing to offer without it. */
      if (daemon->config->no_dbus || daemon->config->postgres != NULL)
        {
          daemon_quit (daemon, 1);
          return;
        }
    }
  else if (daemon->cluster != NULL)
    {
      start_cluster (daemon);
      g_message ("Serving on %s://%s:%u/ as cluster node %s",
                 daemon->config->tls_cert != NULL ? "https" : "http",
                 daemon->config->listen_address, daemon->port, daemon->config->node_id);
    }
  else
    g_message ("Serving on %s://%s:%u/ (data in %s)",
               daemon->config->tls_cert != NULL ? "https" : "http",
               daemon->config->listen_address, daemon->port, daemon->config->data_dir);

  if (daemon->switch_task != NULL)
    switched_to_host (daemon);
  else if (daemon->config->no_dbus)
    announce_ready (daemon);
  else
    own_bus_name (daemon);
}

/* SetListenAddress(): listen somewhere else now, and from now on. */
static gboolean
set_listen_address (NatterDBusService *service,
                    const char        *address,
                    GError           **error,
                    gpointer           user_data)
{
  Daemon *daemon = user_data;

  if (daemon->upstream != NULL || daemon->switch_task != NULL)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                           "Only natterd hosting the chat listens: switch to host mode first.");
      return FALSE;
    }
  if (!natter_config_set (daemon->config, "listen", address, error))
    return FALSE;
  g_free (daemon->choice->listen);
  daemon->choice->listen = g_strdup (address);
  natter_mode_choice_save_async (daemon->choice, daemon->config->data_dir);
  /* The old listener goes first: the new address may be the same port. */
  if (daemon->server != NULL)
    natter_server_shutdown (daemon->server);
  g_clear_object (&daemon->server);
  if (!start_listening (daemon, error))
    {
      g_prefix_error (error, "Cannot listen on %s: ", address);
      return FALSE;
    }
  g_message ("Serving on %s:%u/ now", daemon->config->listen_address, daemon->port);
  return TRUE;
}

static void
owner_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_hub_create_user_finish (NATTER_HUB (source), result, &error))
    {
      g_printerr ("natterd: cannot create the owner account %s: %s\n",
                  daemon->config->owner, error->message);
      daemon_quit (daemon, 1);
      return;
    }
  g_message ("Created the owner account %s (an administrator)", daemon->config->owner);
  serve (daemon);
}

/* D-Bus callers act as the owner account without a password. natterd creates it before
 * it listens, marked as its own in the store, and never takes over an account of that
 * name that someone else registered: whoever knows that account's password would read
 * what the desktop user sends. */
static void
owner_checked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterUserRecord) owner = natter_store_get_user_finish (NATTER_STORE (source),
                                                                    result, &error);

  if (owner == NULL && g_error_matches (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
    {
      /* Nobody knows this password, nor needs to. */
      g_autofree char *password = natter_auth_new_token ();

      natter_hub_create_user_async (daemon->hub, daemon->config->owner, password,
                                    NATTER_ACCOUNT_OWNER, NULL, owner_created_cb, daemon);
      return;
    }
  if (owner == NULL)
    {
      g_printerr ("natterd: cannot look up the owner account: %s\n", error->message);
      daemon_quit (daemon, 1);
      return;
    }
  /* Administrators are only ever made on this machine (natterd itself, or
   * --create-admin), never over the network: an owner account that an earlier natterd
   * made, before it marked its own, is one. */
  if (!owner->owner && !owner->admin)
    {
      g_printerr ("natterd: the account “%s” exists but natterd did not create it as its "
                  "owner account (it may have been registered over the network), so D-Bus "
                  "callers cannot act as it. Start natterd with --owner NAME to use another "
                  "name, or --no-dbus to serve without D-Bus.\n", daemon->config->owner);
      daemon_quit (daemon, 1);
      return;
    }
  serve (daemon);
}

static void
hub_started_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_hub_start_finish (NATTER_HUB (source), result, &error))
    {
      g_printerr ("natterd: cannot load the store: %s\n", error->message);
      daemon_quit (daemon, 1);
      return;
    }
  if (daemon->config->no_dbus)
    serve (daemon);
  else
    natter_store_get_user_async (daemon->store, daemon->config->owner, NULL, owner_checked_cb,
                                 daemon);
}

static void
admin_created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_hub_create_user_finish (NATTER_HUB (source), result, &error))
    {
      g_printerr ("natterd: cannot create the administrator: %s\n", error->message);
      daemon_quit (daemon, 1);
      return;
    }
  g_print ("Administrator account created.\n");
  daemon_quit (daemon, 0);
}

static void
operator_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_operator_run_finish (result, &error))
    {
      g_printerr ("natterd: %s\n", error->message);
      daemon_quit (daemon, 1);
      return;
    }
  daemon_quit (daemon, 0);
}

/* --backup: SQLite's online backup of natter.db, whether a server is writing or not. */
static int
run_backup (NatterConfig *config)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *db_path = NULL;

  if (config->postgres != NULL)
    {
      g_printerr ("natterd: --backup copies the SQLite store; back up PostgreSQL with "
                  "pg_dump (docs/cluster.md)\n");
      return 2;
    }
  db_path = g_build_filename (config->data_dir, "natter.db", NULL);
  if (!natter_store_sqlite_backup (db_path, config->backup, &error))
    {
      g_printerr ("natterd: %s\n", error->message);
      return 1;
    }
  g_print ("Backed up %s to %s.\n", db_path, config->backup);
  return 0;
}

/* Each connection is a descriptor. A service manager's soft limit (1024 for a systemd
 * user service) is far below what the hard limit allows: take all of it. */
static void
raise_descriptor_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == limit.rlim_max)
    return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
    g_debug ("Cannot raise the descriptor limit: %s", g_strerror (errno));
}

/* The database holds direct messages and password hashes: only its owner may read it.
 * Files natterd creates get 0600 from the umask; files an older natterd created, 0644
 * perhaps, are tightened here, before SQLite opens them (its -wal and -shm files take the
 * database's mode). */
static void
protect_data_dir (const char *data_dir)
{
  static const char * const files[] = { "natter.db", "natter.db-wal", "natter.db-shm" };
  GStatBuf st;

  if (g_stat (data_dir, &st) == 0 && (st.st_mode & 0077) != 0)
    g_message ("Warning: %s can be opened by other users (mode %03o): consider chmod 700",
               data_dir, (guint) (st.st_mode & 0777));
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (data_dir, files[i], NULL);

      if (g_stat (path, &st) == 0 && (st.st_mode & 0077) != 0 && g_chmod (path, 0600) != 0)
        g_message ("Warning: cannot make %s private: %s", path, g_strerror (errno));
    }
}

/* The embedded store in the data directory: host mode's history. */
static NatterStore *
open_local_store (NatterConfig  *config,
                  GError       **error)
{
  g_autofree char *db_path = NULL;
  g_autoptr(GError) local_error = NULL;
  NatterStore *store;

  if (g_mkdir_with_parents (config->data_dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   "cannot create %s: %s", config->data_dir, g_strerror (saved_errno));
      return NULL;
    }
  protect_data_dir (config->data_dir);
  db_path = g_build_filename (config->data_dir, "natter.db", NULL);
  store = natter_store_sqlite_new (db_path, config->durability, &local_error);
  if (store == NULL)
    g_set_error (error, local_error->domain, local_error->code, "cannot open %s: %s", db_path,
                 local_error->message);
  return store;
}

/* ---------------------------------------------------------------------------------- */
/* The desktop's choice of mode (docs/modes.md): remembered in mode.ini, switched at run
 * time over D-Bus. The hub and its store stay open in upstream mode once they were, so
 * hosting again finds the history as it was; only the port is given up. */

/* natterd for the desktop (no mode in its options) runs as the user chose last time. */
static void
load_mode_choice (Daemon *daemon)
{
  NatterConfig *config = daemon->config;
  g_autoptr(GError) error = NULL;

  daemon->mode_chosen = TRUE;
  if (config->upstream_url != NULL || config->postgres != NULL || config->no_dbus)
    {
      daemon->choice = g_new0 (NatterModeChoice, 1);
      return;
    }
  daemon->choice = natter_mode_choice_load (config->data_dir, &error);
  if (daemon->choice == NULL)
    {
      g_message ("Warning: %s; hosting until the mode is chosen again", error->message);
      daemon->choice = g_new0 (NatterModeChoice, 1);
    }
  daemon->mode_chosen = daemon->choice->mode != NULL;
  if (daemon->choice->listen != NULL && !config->listen_given &&
      !natter_config_set (config, "listen", daemon->choice->listen, &error))
    g_message ("Warning: mode.ini's listen=%s: %s", daemon->choice->listen, error->message);
  if (g_strcmp0 (daemon->choice->mode, NATTER_MODE_UPSTREAM) == 0)
    {
      config->upstream_url = g_strdup (daemon->choice->upstream_url);
      config->upstream_user = g_strdup (daemon->choice->upstream_user);
    }
}

static void
remember_mode (Daemon *daemon)
{
  NatterModeChoice *choice = daemon->choice;

  g_free (choice->mode);
  choice->mode = g_strdup (daemon->upstream != NULL ? NATTER_MODE_UPSTREAM : NATTER_MODE_HOST);
  if (daemon->upstream != NULL)
    {
      g_free (choice->upstream_url);
      choice->upstream_url = g_strdup (daemon->config->upstream_url);
      g_free (choice->upstream_user);
      choice->upstream_user = g_strdup (daemon->config->upstream_user);
    }
  daemon->mode_chosen = TRUE;
  natter_dbus_service_set_mode_chosen (daemon->dbus, TRUE);
  natter_mode_choice_save_async (choice, daemon->config->data_dir);
}

static void
switched_to_host (Daemon *daemon)
{
  g_autoptr(GTask) task = g_steal_pointer (&daemon->switch_task);

  natter_dbus_service_set_backend (daemon->dbus, NATTER_BACKEND (daemon->hub));
  g_clear_object (&daemon->upstream);
  publish_listening (daemon);
  remember_mode (daemon);
  g_task_return_boolean (task, TRUE);
}

static void
upstream_left_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;

  natter_upstream_shutdown_finish (NATTER_UPSTREAM (source), result, NULL);
  if (daemon->hub != NULL)
    {
      serve (daemon);
      return;
    }
  /* natterd started in upstream mode: host mode's store and hub, as at start-up. */
  daemon->store = open_local_store (daemon->config, &error);
  if (daemon->store == NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&daemon->switch_task);

      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  daemon->hub = natter_hub_new (daemon->store, daemon->config);
  natter_hub_start_async (daemon->hub, NULL, hub_started_cb, daemon);
}

static void
switch_mode (NatterDBusService *service,
             const char        *mode,
             const char        *url,
             const char        *user,
             GTask             *task,
             gpointer           user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;

  if (daemon->switch_task != NULL || daemon->stopping)
    {
      g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_CONFLICT,
                               "natterd is already switching modes, or stopping.");
      g_object_unref (task);
      return;
    }
  if (g_str_equal (mode, NATTER_MODE_HOST))
    {
      if (daemon->upstream == NULL)
        {
          remember_mode (daemon);
          g_task_return_boolean (task, TRUE);
          g_object_unref (task);
          return;
        }
      daemon->switch_task = task;
      natter_upstream_shutdown_async (daemon->upstream, NULL, upstream_left_cb, daemon);
      return;
    }

  if (daemon->upstream == NULL)
    {
      if (url == NULL)
        {
          url = daemon->choice->upstream_url;
          user = daemon->choice->upstream_user;
        }
      g_free (daemon->config->upstream_url);
      daemon->config->upstream_url = g_strdup (url);
      g_free (daemon->config->upstream_user);
      daemon->config->upstream_user = g_strdup (user);
      if (daemon->config->upstream_url == NULL)
        {
          g_task_return_new_error (task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                                   "No server to connect to yet: connect to one first.");
          g_object_unref (task);
          return;
        }
      daemon->upstream = natter_upstream_new (daemon->config, &error);
      if (daemon->upstream == NULL)
        {
          /* Still hosting: a refused server (a malformed or cleartext URL) is not the
           * one used last. */
          g_free (daemon->config->upstream_url);
          daemon->config->upstream_url = g_strdup (daemon->choice->upstream_url);
          g_free (daemon->config->upstream_user);
          daemon->config->upstream_user = g_strdup (daemon->choice->upstream_user);
          g_task_return_error (task, g_steal_pointer (&error));
          g_object_unref (task);
          return;
        }
      /* Upstream mode hosts nothing: WebSocket clients are told to go away (1001). */
      if (daemon->server != NULL)
        natter_server_shutdown (daemon->server);
      g_clear_object (&daemon->server);
      natter_dbus_service_set_backend (service, NATTER_BACKEND (daemon->upstream));
      publish_listening (daemon);
      natter_upstream_start (daemon->upstream);
    }
  remember_mode (daemon);
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static char *
read_password_from_stdin (GError **error)
{
  char buffer[1100];
  size_t len;

  if (fgets (buffer, sizeof buffer, stdin) == NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "expected the password on standard input");
      return NULL;
    }
  len = strlen (buffer);
  while (len > 0 && (buffer[len - 1] == '\n' || buffer[len - 1] == '\r'))
    buffer[--len] = '\0';
  return g_strdup (buffer);
}

static gboolean
print_version_cb (const char *option_name, const char *value, gpointer data, GError **error)
{
  g_print ("natterd %s\n", PACKAGE_VERSION);
  exit (0);
}

/* README.md's options table is this output (a unit test compares them). */
static gboolean
print_options_markdown_cb (const char *option_name, const char *value, gpointer data,
                           GError **error)
{
  g_autofree char *markdown = natter_config_dup_options_markdown ();

  g_print ("%s", markdown);
  exit (0);
}

/* Every setting comes from natter-config.c's table; only what prints and exits is here. */
static gboolean
parse_options (NatterConfig *config, int *argc, char ***argv, GError **error)
{
  const GOptionEntry entries[] = {
    { "version", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, print_version_cb,
      "Print the version and exit", NULL },
    { "print-options-markdown", 0, G_OPTION_FLAG_NO_ARG | G_OPTION_FLAG_HIDDEN,
      G_OPTION_ARG_CALLBACK, print_options_markdown_cb,
      "Print the options as README.md's Markdown table and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- the Natter chat daemon");

  g_option_context_set_summary (context,
    "Serves chat over WebSockets (/ws), the web app (/), /healthz, /readyz and /metrics,\n"
    "and the io.github.natter.Chat D-Bus service on the session bus.");
  g_option_context_set_main_group (context, natter_config_get_option_group (config));
  g_option_context_add_main_entries (context, entries, NULL);
  return g_option_context_parse (context, argc, argv, error);
}

/* Either mode may have had the other's parts too, after a switch. */
static void
daemon_clear (Daemon *daemon)
{
  /* D-Bus and sessions first (they hold the hub), then the fan-out to other nodes, then
   * the hub, then flush and close the store. */
  g_clear_handle_id (&daemon->bus_owner_id, g_bus_unown_name);
  g_clear_object (&daemon->dbus);
  g_clear_object (&daemon->upstream);
  g_clear_object (&daemon->server);
  g_clear_object (&daemon->cluster);
  g_clear_object (&daemon->redis);
  g_clear_object (&daemon->hub);
  if (daemon->store != NULL)
    natter_store_close (daemon->store);
  g_clear_object (&daemon->store);
  g_clear_pointer (&daemon->loop, g_main_loop_unref);
  g_clear_pointer (&daemon->choice, natter_mode_choice_free);
  g_clear_pointer (&daemon->listen_error, g_free);
  natter_config_free (daemon->config);
}

/* Upstream mode: no store, hub or server of our own; the D-Bus service mirrors an
 * account of the remote server through the upstream link. */
static int
run_upstream (Daemon *daemon)
{
  g_autoptr(GError) error = NULL;

  daemon->upstream = natter_upstream_new (daemon->config, &error);
  if (daemon->upstream == NULL)
    {
      g_printerr ("natterd: %s\n", error->message);
      daemon_clear (daemon);
      return 2;
    }
  daemon->loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, signal_cb, daemon);
  g_unix_signal_add (SIGTERM, signal_cb, daemon);
  own_bus_name (daemon);
  g_main_loop_run (daemon->loop);

  daemon_clear (daemon);
  return daemon->exit_status;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  Daemon daemon = { 0, };
  guint n_operator;

  /* A peer that vanished must not end the daemon; writes report EPIPE instead. */
  signal (SIGPIPE, SIG_IGN);
  /* Nothing natterd writes (the database above all) is for other users. */
  umask (077);
  raise_descriptor_limit ();
  /* TLS 1.2 or later, served or used upstream: read by glib-networking when it first
   * sets up TLS, so before anything can. An operator's own setting wins. */
  g_setenv ("G_TLS_GNUTLS_PRIORITY", "NORMAL:%COMPAT:-VERS-TLS1.1:-VERS-TLS1.0", FALSE);
  setlocale (LC_ALL, "");
  /* Notification titles are translated (GETTEXT_PACKAGE, as the app). */
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  daemon.config = natter_config_new_defaults ();
  if (!parse_options (daemon.config, &argc, &argv, &error))
    {
      g_printerr ("natterd: %s\n", error->message);
      natter_config_free (daemon.config);
      return 2;
    }
  n_operator = natter_operator_n_commands (daemon.config) + (daemon.config->backup != NULL) +
               (daemon.config->create_admin != NULL);
  if (n_operator > 1)
    {
      g_printerr ("natterd: give one of --create-admin, --list-users, --disable-user, "
                  "--enable-user, --reset-password, --revoke-tokens and --backup at a time\n");
      natter_config_free (daemon.config);
      return 2;
    }
  if (daemon.config->backup != NULL)
    {
      int status = run_backup (daemon.config);

      natter_config_free (daemon.config);
      return status;
    }
  /* Operator commands work on this data directory whatever the desktop chose. */
  if (n_operator == 0)
    load_mode_choice (&daemon);
  if (daemon.config->upstream_url != NULL && n_operator == 0)
    return run_upstream (&daemon);

  if (daemon.config->postgres != NULL)
    {
      daemon.store = open_shared_store (daemon.config, &error);
      if (daemon.store == NULL)
        {
          g_printerr ("natterd: cannot open the PostgreSQL database: %s\n", error->message);
          daemon_clear (&daemon);
          return 1;
        }
    }
  else
    {
      daemon.store = open_local_store (daemon.config, &error);
      if (daemon.store == NULL)
        {
          g_printerr ("natterd: %s\n", error->message);
          daemon_clear (&daemon);
          return 1;
        }
    }

  daemon.loop = g_main_loop_new (NULL, FALSE);
  daemon.hub = natter_hub_new (daemon.store, daemon.config);

  /* Other nodes write to a shared store: the cluster stands beside the hub. */
  if (natter_store_is_shared (daemon.store) && n_operator == 0)
    {
      if (!join_cluster (&daemon, &error))
        {
          g_printerr ("natterd: %s\n", error->message);
          g_clear_object (&daemon.hub);
          natter_store_close (daemon.store);
          g_clear_object (&daemon.store);
          g_main_loop_unref (daemon.loop);
          natter_config_free (daemon.config);
          return 2;
        }
    }

  if (daemon.config->create_admin != NULL)
    {
      g_autofree char *password = read_password_from_stdin (&error);

      if (password == NULL)
        {
          g_printerr ("natterd: %s\n", error->message);
          daemon.exit_status = 1;
        }
      else
        {
          natter_hub_create_user_async (daemon.hub, daemon.config->create_admin, password,
                                        NATTER_ACCOUNT_ADMIN, NULL, admin_created_cb, &daemon);
          memset (password, 0, strlen (password));
          g_main_loop_run (daemon.loop);
        }
    }
  else if (n_operator > 0)
    {
      g_autofree char *password = NULL;

      if (daemon.config->reset_password != NULL)
        password = read_password_from_stdin (&error);
      if (daemon.config->reset_password != NULL && password == NULL)
        {
          g_printerr ("natterd: %s\n", error->message);
          daemon.exit_status = 1;
        }
      else
        {
          natter_operator_run_async (daemon.store, daemon.config, password, NULL,
                                     operator_done_cb, &daemon);
          g_main_loop_run (daemon.loop);
        }
      if (password != NULL)
        memset (password, 0, strlen (password));
    }
  else
    {
      g_unix_signal_add (SIGINT, signal_cb, &daemon);
      g_unix_signal_add (SIGTERM, signal_cb, &daemon);
      natter_hub_start_async (daemon.hub, NULL, hub_started_cb, &daemon);
      g_main_loop_run (daemon.loop);
    }

  daemon_clear (&daemon);
  return daemon.exit_status;
}
