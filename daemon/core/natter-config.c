/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-config"

#include "config.h"

#include <math.h>
#include <gio/gio.h>

#include "natter-config.h"
#include "natter-error.h"

#define FIELD(member) G_STRUCT_OFFSET (NatterConfig, member)

/* Every setting of natterd, in the order of --help and README.md. The command line, the
 * keyfile, --help and README.md's options table are all made from this one table, so a
 * limit cannot differ between them. Every number has a maximum: a typo must not turn into
 * a queue of terabytes or a ping a year apart. Where the command line and the keyfile used
 * to disagree (max-queue-bytes: 4096 and 65536), the larger minimum is kept: a queue
 * smaller than one default frame would close clients for a single message. */
static const NatterSetting settings[] = {
  { .name = "config", .short_name = 'c', .type = NATTER_SETTING_PATH,
    .command_line_only = TRUE, .offset = FIELD (config_file), .arg = "FILE",
    .help = "Read settings from the [natterd] group of this keyfile; the command line wins" },
  { .name = "listen", .short_name = 'l', .type = NATTER_SETTING_LISTEN,
    .offset = FIELD (listen_address), .default_value = "127.0.0.1:8080", .arg = "HOST:PORT",
    .help = "Address and port to serve on; port 0 picks a free one" },
  { .name = "data-dir", .short_name = 'd', .type = NATTER_SETTING_PATH,
    .offset = FIELD (data_dir), .default_doc = "$XDG_DATA_HOME/natter", .arg = "DIR",
    .help = "Where the SQLite history lives" },
  { .name = "durability", .type = NATTER_SETTING_DURABILITY,
    .offset = FIELD (durability), .default_value = "normal", .arg = "normal|full",
    .help = "normal: survives a killed daemon; full: fsyncs every group commit, survives power loss" },
  { .name = "ping-interval", .type = NATTER_SETTING_UINT,
    .offset = FIELD (ping_interval_s), .default_value = "15", .min = 1, .max = 3600, .arg = "S",
    .help = "Seconds between WebSocket pings" },
  { .name = "ping-timeout", .type = NATTER_SETTING_UINT,
    .offset = FIELD (ping_timeout_s), .default_value = "30", .min = 2, .max = 7200, .arg = "S",
    .help = "Close peers silent for this many seconds with 1001; longer than --ping-interval" },
  { .name = "max-frame", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_frame_bytes), .default_value = "65536", .min = 1024,
    .max = 16 * 1024 * 1024, .arg = "BYTES",
    .help = "Largest incoming frame in bytes; larger ones close with 1009" },
  { .name = "max-body", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_body_bytes), .default_value = "16384", .min = 1,
    .max = 16 * 1024 * 1024, .arg = "BYTES",
    .help = "Largest message body in bytes; smaller than --max-frame" },
  { .name = "max-queue-bytes", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_queue_bytes), .default_value = "4194304", .min = 64 * 1024,
    .max = 1024 * 1024 * 1024, .arg = "BYTES",
    .help = "Bytes waiting for a client before it is closed as too slow with 1013" },
  { .name = "max-queue-frames", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_queue_frames), .default_value = "4096", .min = 16, .max = 10000000,
    .arg = "N", .help = "Frames waiting for a client before it is closed as too slow with 1013" },
  { .name = "max-connections-per-ip", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_connections_per_ip), .default_value = "1024", .min = 1,
    .max = 1000000, .arg = "N", .help = "WebSocket connections one address may hold" },
  { .name = "trusted-proxy", .type = NATTER_SETTING_LIST,
    .offset = FIELD (trusted_proxies), .arg = "ADDRESS[/BITS]",
    .help = "A load balancer whose connections may name their client, by a PROXY protocol "
            "v2 header or X-Forwarded-For; limits and logs then use the client's address. "
            "Repeatable, or a comma list" },
  { .name = "max-connections", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_connections), .default_doc = "the descriptor limit less 64",
    .min = 1, .max = 10000000, .arg = "N",
    .help = "Connections (HTTP and WebSocket) held at once; more wait in the backlog" },
  { .name = "header-timeout", .type = NATTER_SETTING_UINT,
    .offset = FIELD (header_timeout_s), .default_value = "10", .min = 1, .max = 3600,
    .arg = "S", .help = "Seconds a connection may take to send its HTTP request" },
  { .name = "allowed-origin", .type = NATTER_SETTING_LIST,
    .offset = FIELD (allowed_origins), .arg = "https://HOST[:PORT]",
    .help = "Web origins besides natterd's own whose pages may open WebSockets; "
            "repeatable, or a comma list" },
  { .name = "max-sessions-per-user", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_sessions_per_user), .default_value = "64", .min = 1, .max = 100000,
    .arg = "N", .help = "Sessions one account may hold at once" },
  { .name = "login-failures", .type = NATTER_SETTING_UINT,
    .offset = FIELD (login_failures), .default_value = "5", .min = 1, .max = 1000, .arg = "N",
    .help = "Failed password logins of an account from one address before that address waits" },
  { .name = "login-throttle", .type = NATTER_SETTING_UINT,
    .offset = FIELD (login_throttle_s), .default_value = "60", .min = 1, .max = 86400,
    .arg = "S", .help = "Seconds a throttled account waits between login attempts" },
  { .name = "address-login-failures", .type = NATTER_SETTING_UINT,
    .offset = FIELD (address_login_failures), .default_value = "20", .min = 1, .max = 100000,
    .arg = "N",
    .help = "Failed password logins from one address, whatever the accounts, before its logins "
            "wait --login-throttle" },
  { .name = "password-rate", .type = NATTER_SETTING_DOUBLE,
    .offset = FIELD (password_rate), .default_value = "2", .min = 0.01, .max = 100000,
    .arg = "RATE",
    .help = "Password logins and registrations one address may start per second" },
  { .name = "password-burst", .type = NATTER_SETTING_UINT,
    .offset = FIELD (password_burst), .default_value = "20", .min = 1, .max = 1000000,
    .arg = "N", .help = "Password logins and registrations one address may start at once" },
  { .name = "max-password-queue", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_password_queue), .default_value = "64", .min = 1, .max = 100000,
    .arg = "N",
    .help = "Password checks waiting or running at once; more get rate_limited at once" },
  { .name = "registrations-per-hour", .type = NATTER_SETTING_UINT,
    .offset = FIELD (registrations_per_hour), .default_value = "30", .min = 1,
    .max = 10000000, .arg = "N", .help = "Accounts one address may register per hour" },
  { .name = "rooms-per-hour", .type = NATTER_SETTING_UINT,
    .offset = FIELD (rooms_per_hour), .default_value = "100", .min = 1, .max = 10000000,
    .arg = "N", .help = "Rooms one account may create per hour" },
  { .name = "invites-per-hour", .type = NATTER_SETTING_UINT,
    .offset = FIELD (invites_per_hour), .default_value = "200", .min = 1, .max = 10000000,
    .arg = "N", .help = "Invitations one account may send per hour" },
  { .name = "directory-per-minute", .type = NATTER_SETTING_UINT,
    .offset = FIELD (directory_per_minute), .default_value = "60", .min = 1, .max = 10000000,
    .arg = "N", .help = "Room directory queries one account may make per minute" },
  { .name = "event-rate", .type = NATTER_SETTING_DOUBLE,
    .offset = FIELD (event_rate), .default_value = "10", .min = 0.01, .max = 1000000,
    .arg = "RATE", .help = "Typing notices and read markers a connection may send per second" },
  { .name = "event-burst", .type = NATTER_SETTING_UINT,
    .offset = FIELD (event_burst), .default_value = "30", .min = 1, .max = 1000000,
    .arg = "N", .help = "Typing notices and read markers a connection may send at once" },
  { .name = "token-ttl", .type = NATTER_SETTING_UINT,
    .offset = FIELD (token_ttl_s), .default_value = "2592000", .min = 60,
    .max = 10 * 366 * 24 * 3600, .arg = "S",
    .help = "Seconds a session token stays valid after login; 2592000 is 30 days" },
  { .name = "resume-cap", .type = NATTER_SETTING_UINT,
    .offset = FIELD (resume_cap), .default_value = "1000", .min = 1, .max = 1000000,
    .arg = "N", .help = "Most messages replayed by one join with since_seq" },
  { .name = "rate", .type = NATTER_SETTING_DOUBLE,
    .offset = FIELD (rate_per_s), .default_value = "20", .min = 0.01, .max = 1000000,
    .arg = "RATE",
    .help = "Messages per second a connection may send; an account gets twice that over all its connections" },
  { .name = "rate-burst", .type = NATTER_SETTING_UINT,
    .offset = FIELD (rate_burst), .default_value = "50", .min = 1, .max = 1000000, .arg = "N",
    .help = "Messages a connection may send in a burst" },
  { .name = "max-rooms-per-user", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_rooms_per_user), .default_value = "1000", .min = 1, .max = 1000000,
    .arg = "N", .help = "Public rooms one account may be a member of" },
  { .name = "max-members-per-room", .type = NATTER_SETTING_UINT,
    .offset = FIELD (max_members_per_room), .default_value = "10000", .min = 2,
    .max = 10000000, .arg = "N", .help = "Members one room may have" },
  { .name = "tls-cert", .type = NATTER_SETTING_PATH,
    .offset = FIELD (tls_cert), .arg = "FILE",
    .help = "Serve https and wss with this PEM certificate (needs --tls-key)" },
  { .name = "tls-key", .type = NATTER_SETTING_PATH,
    .offset = FIELD (tls_key), .arg = "FILE", .help = "The PEM private key of --tls-cert" },
  { .name = "ready-file", .type = NATTER_SETTING_PATH,
    .offset = FIELD (ready_file), .arg = "FILE", .help = "Write the bound port to FILE once serving" },
  { .name = "drain-delay", .type = NATTER_SETTING_DOUBLE,
    .offset = FIELD (drain_delay_s), .default_doc = "2 on a cluster node, else 0", .min = 0,
    .max = 3600, .arg = "S",
    .help = "On SIGTERM, seconds /readyz answers 503 while sessions are still served, before "
            "they are closed, so that a load balancer moves new clients first "
            "(docs/cluster.md)" },
  { .name = "no-dbus", .type = NATTER_SETTING_BOOL,
    .offset = FIELD (no_dbus), .help = "Do not export the D-Bus service" },
  { .name = "owner", .type = NATTER_SETTING_STRING,
    .offset = FIELD (owner), .default_doc = "the login name", .arg = "USER",
    .help = "The account D-Bus callers act as, created as an administrator on first start" },
  { .name = "dbus-window", .type = NATTER_SETTING_UINT,
    .offset = FIELD (dbus_window), .default_value = "50", .min = 0, .max = 10000, .arg = "N",
    .help = "Recent messages per room exported as D-Bus objects" },
  { .name = "replace", .short_name = 'r', .type = NATTER_SETTING_BOOL,
    .command_line_only = TRUE, .offset = FIELD (replace),
    .help = "Take io.github.natter.Natter.Daemon over from a running natterd" },
  { .name = "postgres", .type = NATTER_SETTING_STRING,
    .offset = FIELD (postgres), .arg = "URI",
    .help = "Keep history in this PostgreSQL database instead of SQLite: a cluster node (docs/cluster.md)" },
  { .name = "redis", .type = NATTER_SETTING_STRING,
    .offset = FIELD (redis), .arg = "URI",
    .help = "Fan messages out to the other nodes through this Redis (needs --postgres)" },
  { .name = "node-id", .type = NATTER_SETTING_STRING,
    .offset = FIELD (node_id), .default_doc = "the host name", .arg = "ID",
    .help = "This node's name in a cluster" },
  { .name = "search-language", .type = NATTER_SETTING_STRING,
    .offset = FIELD (search_language), .default_value = "simple", .arg = "CFG",
    .help = "PostgreSQL text search configuration for search" },
  { .name = "upstream", .type = NATTER_SETTING_STRING,
    .offset = FIELD (upstream_url), .arg = "wss://HOST[:PORT]/ws",
    .help = "Host nothing: mirror an account of the natterd at URL onto D-Bus (upstream mode: docs/modes.md)" },
  { .name = "user", .type = NATTER_SETTING_STRING,
    .offset = FIELD (upstream_user), .default_doc = "the one in the Secret Service",
    .arg = "NAME", .help = "The account on the --upstream server" },
  { .name = "ca-file", .type = NATTER_SETTING_PATH,
    .offset = FIELD (ca_file), .arg = "PEM",
    .help = "Also trust the certificate authorities in this PEM file for --upstream" },
  { .name = "allow-insecure-upstream", .type = NATTER_SETTING_BOOL,
    .offset = FIELD (allow_insecure_upstream),
    .help = "Allow an upstream ws:// URL (no TLS) to another machine, on a network you trust" },
  { .name = "create-admin", .type = NATTER_SETTING_STRING,
    .command_line_only = TRUE, .offset = FIELD (create_admin), .arg = "USER",
    .help = "Create an administrator account, reading its password from standard input, and exit" },
  /* Operator commands: each works on the store of a stopped or a running server, then
   * natterd exits. */
  { .name = "list-users", .type = NATTER_SETTING_BOOL,
    .command_line_only = TRUE, .offset = FIELD (list_users),
    .help = "Print the accounts (name, admin, disabled, created) and exit" },
  { .name = "disable-user", .type = NATTER_SETTING_STRING,
    .command_line_only = TRUE, .offset = FIELD (disable_user), .arg = "USER",
    .help = "Disable an account: its tokens end and its logins are refused; then exit" },
  { .name = "enable-user", .type = NATTER_SETTING_STRING,
    .command_line_only = TRUE, .offset = FIELD (enable_user), .arg = "USER",
    .help = "Enable a disabled account again and exit" },
  { .name = "reset-password", .type = NATTER_SETTING_STRING,
    .command_line_only = TRUE, .offset = FIELD (reset_password), .arg = "USER",
    .help = "Set an account's password, read from standard input, end its tokens, and exit" },
  { .name = "revoke-tokens", .type = NATTER_SETTING_STRING,
    .command_line_only = TRUE, .offset = FIELD (revoke_tokens), .arg = "USER",
    .help = "End every token (session) of an account and exit" },
  { .name = "backup", .type = NATTER_SETTING_PATH,
    .command_line_only = TRUE, .offset = FIELD (backup), .arg = "FILE",
    .help = "Copy the SQLite store to a new FILE, consistent even while the server writes, "
            "and exit; restore by starting natterd on a data directory holding the copy "
            "as natter.db" },
};

/**
 * natter_config_get_settings:
 * @n_settings: (out): how many there are
 *
 * Returns: (transfer none) (array length=n_settings): every setting of natterd
 */
const NatterSetting *
natter_config_get_settings (guint *n_settings)
{
  *n_settings = G_N_ELEMENTS (settings);
  return settings;
}

static const NatterSetting *
find_setting (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    if (g_str_equal (settings[i].name, name))
      return &settings[i];
  return NULL;
}

static gboolean
is_number (const NatterSetting *setting)
{
  return setting->type == NATTER_SETTING_UINT || setting->type == NATTER_SETTING_DOUBLE;
}

/* Locale-independent, and without an exponent for whole numbers. */
static char *
format_number (double value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  return g_strdup (g_ascii_formatd (buffer, sizeof buffer, "%.15g", value));
}

static gboolean
check_range (const NatterSetting *setting, const char *text, double value, GError **error)
{
  g_autofree char *limit = NULL;

  if (value < setting->min)
    {
      limit = format_number (setting->min);
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "%s is below the minimum %s", text, limit);
      return FALSE;
    }
  if (value > setting->max)
    {
      limit = format_number (setting->max);
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "%s is above the maximum %s", text, limit);
      return FALSE;
    }
  return TRUE;
}

/* Parses `HOST:PORT` (or `[V6]:PORT`); port 0 asks for a free port. */
static gboolean
parse_listen (const char  *value,
              char       **out_host,
              guint16     *out_port,
              GError     **error)
{
  g_autoptr(GSocketConnectable) address = NULL;
  g_autoptr(GError) local_error = NULL;

  address = g_network_address_parse (value, 8080, &local_error);
  if (address == NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "invalid address “%s”: %s", value, local_error->message);
      return FALSE;
    }
  *out_host = g_strdup (g_network_address_get_hostname (G_NETWORK_ADDRESS (address)));
  *out_port = g_network_address_get_port (G_NETWORK_ADDRESS (address));
  return TRUE;
}

static gboolean
parse_durability (const char        *value,
                  NatterDurability  *out,
                  GError           **error)
{
  if (g_strcmp0 (value, "normal") == 0)
    *out = NATTER_DURABILITY_NORMAL;
  else if (g_strcmp0 (value, "full") == 0)
    *out = NATTER_DURABILITY_FULL;
  else
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "expected “normal” or “full”, not “%s”", value);
      return FALSE;
    }
  return TRUE;
}

/* Parses @text, as typed on the command line or in the keyfile, into @config. The one
 * parser of both, so both accept the same values; the caller says where @text came from. */
static gboolean
setting_set (const NatterSetting  *setting,
             NatterConfig         *config,
             const char           *text,
             GError              **error)
{
  gpointer field = G_STRUCT_MEMBER_P (config, setting->offset);

  switch (setting->type)
    {
    case NATTER_SETTING_STRING:
    case NATTER_SETTING_PATH:
      g_free (*(char **) field);
      *(char **) field = g_strdup (text);
      return TRUE;

    case NATTER_SETTING_UINT:
      {
        guint64 value;

        if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &value, NULL))
          {
            g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                         "“%s” is not a whole number", text);
            return FALSE;
          }
        /* Above 2^53 a double rounds, but every maximum is far below that. */
        if (!check_range (setting, text, (double) value, error))
          return FALSE;
        *(guint *) field = (guint) value;
        return TRUE;
      }

    case NATTER_SETTING_DOUBLE:
      {
        char *end = NULL;
        double value = g_ascii_strtod (text, &end);

        if (end == text || *end != '\0' || !isfinite (value))
          {
            g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                         "“%s” is not a number", text);
            return FALSE;
          }
        if (!check_range (setting, text, value, error))
          return FALSE;
        *(double *) field = value;
        return TRUE;
      }

    case NATTER_SETTING_BOOL:
      /* The spellings GKeyFile accepts for a boolean. */
      if (g_str_equal (text, "true") || g_str_equal (text, "1"))
        *(gboolean *) field = TRUE;
      else if (g_str_equal (text, "false") || g_str_equal (text, "0"))
        *(gboolean *) field = FALSE;
      else
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "expected true or false, not “%s”", text);
          return FALSE;
        }
      return TRUE;

    case NATTER_SETTING_DURABILITY:
      return parse_durability (text, field, error);

    case NATTER_SETTING_LIST:
      {
        g_auto(GStrv) parts = g_strsplit (text, ",", -1);
        g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

        for (guint i = 0; parts[i] != NULL; i++)
          {
            g_strstrip (parts[i]);
            if (*parts[i] != '\0')
              g_strv_builder_add (builder, parts[i]);
          }
        g_strfreev (*(char ***) field);
        *(char ***) field = g_strv_builder_end (builder);
        return TRUE;
      }

    case NATTER_SETTING_LISTEN:
      {
        g_autofree char *host = NULL;
        guint16 port;

        if (!parse_listen (text, &host, &port, error))
          return FALSE;
        g_free (*(char **) field);
        *(char **) field = g_steal_pointer (&host);
        /* The one setting with two fields: the host is at @offset. */
        config->port = port;
        config->listen_given = TRUE;
        return TRUE;
      }

    default:
      g_assert_not_reached ();
    }
}

/**
 * natter_config_new_defaults:
 *
 * Returns: (transfer full): the settings natterd uses when nothing overrides them
 */
NatterConfig *
natter_config_new_defaults (void)
{
  NatterConfig *config = g_new0 (NatterConfig, 1);
  const char *user = g_get_user_name ();

  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      g_autoptr(GError) error = NULL;

      if (settings[i].default_value != NULL &&
          !setting_set (&settings[i], config, settings[i].default_value, &error))
        g_error ("The default of %s is not a valid value: %s", settings[i].name,
                 error->message);
    }
  config->listen_given = FALSE;
  /* The defaults that depend on where natterd runs (default_doc in the table). */
  config->data_dir = g_build_filename (g_get_user_data_dir (), "natter", NULL);
  config->node_id = g_strdup (g_get_host_name ());
  /* An account name must match the protocol's user syntax. */
  config->owner = g_ascii_strdown (user != NULL && *user != '\0' ? user : "owner", -1);
  /* Until set: natter_config_get_drain_delay_ms() picks by the mode. */
  config->drain_delay_s = -1;

  /* Limits of the protocol rather than settings of a deployment. */
  config->history_max = 200;
  config->search_max = 100;
  config->bad_frame_limit = 10;
  return config;
}

/**
 * natter_config_set:
 * @config: the settings
 * @name: a setting's name, as in the keyfile (`listen`)
 * @value: its value as it would be typed
 * @error: return location for a #GError
 *
 * Sets one setting, checked as the command line and the keyfile check it.
 *
 * Returns: %TRUE, or %FALSE for an unknown setting or a bad value
 */
gboolean
natter_config_set (NatterConfig  *config,
                   const char    *name,
                   const char    *value,
                   GError       **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    if (g_str_equal (settings[i].name, name))
      return setting_set (&settings[i], config, value, error);
  g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST, "unknown setting %s", name);
  return FALSE;
}

void
natter_config_free (NatterConfig *config)
{
  if (config == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      switch (settings[i].type)
        {
        case NATTER_SETTING_STRING:
        case NATTER_SETTING_PATH:
        case NATTER_SETTING_LISTEN:
          g_free (G_STRUCT_MEMBER (char *, config, settings[i].offset));
          break;
        case NATTER_SETTING_LIST:
          g_strfreev (G_STRUCT_MEMBER (char **, config, settings[i].offset));
          break;
        case NATTER_SETTING_UINT:
        case NATTER_SETTING_DOUBLE:
        case NATTER_SETTING_BOOL:
        case NATTER_SETTING_DURABILITY:
          break;
        default:
          g_assert_not_reached ();
        }
    }
  g_free (config);
}

/**
 * natter_config_load_keyfile:
 * @config: settings to update
 * @path: a keyfile with a `[natterd]` group
 *
 * Applies the keys of the `[natterd]` group, named as the long options of natterd
 * (`listen`, `data-dir`, `ping-interval`, …), on top of @config. An unknown key is an
 * error, not a silently ignored typo. The caller validates the result with
 * natter_config_validate() once every source of settings has been applied.
 */
gboolean
natter_config_load_keyfile (NatterConfig  *config,
                            const char    *path,
                            GError       **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_auto(GStrv) groups = NULL;
  g_auto(GStrv) keys = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      if (!g_str_equal (groups[i], "natterd"))
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "%s: unknown group [%s]: settings go in [natterd]", path, groups[i]);
          return FALSE;
        }
    }

  keys = g_key_file_get_keys (kf, "natterd", NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      const NatterSetting *setting = find_setting (keys[i]);
      g_autofree char *value = NULL;

      if (setting == NULL)
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "%s: unknown key “%s” in [natterd]", path, keys[i]);
          return FALSE;
        }
      if (setting->command_line_only)
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "%s: %s in [natterd]: only an option of the command line", path,
                       keys[i]);
          return FALSE;
        }
      value = g_key_file_get_string (kf, "natterd", keys[i], error);
      if (value == NULL || !setting_set (setting, config, value, error))
        {
          g_prefix_error (error, "%s: %s in [natterd]: ", path, keys[i]);
          return FALSE;
        }
    }
  return TRUE;
}

/* "(default 15; 1 to 3600)" */
static char *
describe_default_and_range (const NatterSetting *setting)
{
  g_autoptr(GString) text = g_string_new (NULL);

  if (setting->default_value != NULL)
    g_string_append_printf (text, "default %s", setting->default_value);
  else if (setting->default_doc != NULL)
    g_string_append_printf (text, "default: %s", setting->default_doc);
  if (is_number (setting))
    {
      g_autofree char *min = format_number (setting->min);
      g_autofree char *max = format_number (setting->max);

      g_string_append_printf (text, "%s%s to %s", text->len > 0 ? "; " : "", min, max);
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* The command line: each setting's text is kept as given, then applied on top of the
 * keyfile of --config, so the command line wins whatever the order of the options. */
typedef struct {
  NatterConfig *config;                          /* (unowned) */
  char         *values[G_N_ELEMENTS (settings)]; /* (owned) (nullable) as typed */
  gboolean      flags[G_N_ELEMENTS (settings)];
  GPtrArray    *descriptions;                    /* (owned) what the entries point to */
} CommandLine;

static void
command_line_free (gpointer data)
{
  CommandLine *command_line = data;

  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    g_free (command_line->values[i]);
  g_ptr_array_unref (command_line->descriptions);
  g_free (command_line);
}

static gboolean
command_line_apply (CommandLine *command_line, guint i, GError **error)
{
  const NatterSetting *setting = &settings[i];

  if (setting->type == NATTER_SETTING_BOOL)
    {
      if (command_line->flags[i])
        G_STRUCT_MEMBER (gboolean, command_line->config, setting->offset) = TRUE;
      return TRUE;
    }
  if (command_line->values[i] == NULL)
    return TRUE;
  if (!setting_set (setting, command_line->config, command_line->values[i], error))
    {
      g_prefix_error (error, "--%s: ", setting->name);
      return FALSE;
    }
  return TRUE;
}

/* A list setting given again: its values join the comma list parsed at the end. */
static gboolean
command_line_add_to_list (const char  *option_name,
                          const char  *value,
                          gpointer     data,
                          GError     **error)
{
  CommandLine *command_line = data;

  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      char *joined;

      if (!g_str_has_prefix (option_name, "--") || !g_str_equal (option_name + 2, settings[i].name))
        continue;
      joined = command_line->values[i] != NULL
               ? g_strconcat (command_line->values[i], ",", value, NULL)
               : g_strdup (value);
      g_free (command_line->values[i]);
      command_line->values[i] = joined;
      return TRUE;
    }
  g_assert_not_reached ();
}

static gboolean
command_line_parsed_cb (GOptionContext  *context,
                        GOptionGroup    *group,
                        gpointer         data,
                        GError         **error)
{
  CommandLine *command_line = data;
  NatterConfig *config = command_line->config;

  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      if (settings[i].offset == FIELD (config_file) && !command_line_apply (command_line, i, error))
        return FALSE;
    }
  if (config->config_file != NULL && !natter_config_load_keyfile (config, config->config_file, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      if (settings[i].offset != FIELD (config_file) && !command_line_apply (command_line, i, error))
        return FALSE;
    }
  return natter_config_validate (config, error);
}

/**
 * natter_config_get_option_group:
 * @config: settings to update
 *
 * An option group with every setting as an option (`--NAME`). After a successful parse,
 * @config holds the defaults, then the keyfile of `--config`, then the options given, and
 * natter_config_validate() has accepted the result; an error names the option as typed.
 * @config must outlive the group.
 *
 * Returns: (transfer full): a group to make the main group of a #GOptionContext
 */
GOptionGroup *
natter_config_get_option_group (NatterConfig *config)
{
  CommandLine *command_line = g_new0 (CommandLine, 1);
  g_autofree GOptionEntry *entries = g_new0 (GOptionEntry, G_N_ELEMENTS (settings) + 1);
  GOptionGroup *group;

  command_line->config = config;
  command_line->descriptions = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      const NatterSetting *setting = &settings[i];
      g_autofree char *suffix = describe_default_and_range (setting);
      char *description = *suffix != '\0' ? g_strdup_printf ("%s (%s)", setting->help, suffix)
                                          : g_strdup (setting->help);

      g_ptr_array_add (command_line->descriptions, description);
      entries[i].long_name = setting->name;
      entries[i].short_name = setting->short_name;
      entries[i].description = description;
      entries[i].arg_description = setting->arg;
      switch (setting->type)
        {
        case NATTER_SETTING_BOOL:
          entries[i].arg = G_OPTION_ARG_NONE;
          entries[i].arg_data = &command_line->flags[i];
          break;
        case NATTER_SETTING_PATH:
          entries[i].arg = G_OPTION_ARG_FILENAME;
          entries[i].arg_data = &command_line->values[i];
          break;
        case NATTER_SETTING_LIST:
          /* Each time the option is given adds to the list. */
          entries[i].arg = G_OPTION_ARG_CALLBACK;
          entries[i].arg_data = command_line_add_to_list;
          break;
        case NATTER_SETTING_STRING:
        case NATTER_SETTING_UINT:
        case NATTER_SETTING_DOUBLE:
        case NATTER_SETTING_DURABILITY:
        case NATTER_SETTING_LISTEN:
          /* Numbers too: parsed here, to check the range and name the option. */
          entries[i].arg = G_OPTION_ARG_STRING;
          entries[i].arg_data = &command_line->values[i];
          break;
        default:
          g_assert_not_reached ();
        }
    }

  group = g_option_group_new ("natterd", "natterd's settings", "Show natterd's settings",
                              command_line, command_line_free);
  g_option_group_add_entries (group, entries);
  g_option_group_set_parse_hooks (group, NULL, command_line_parsed_cb);
  return group;
}

static void
append_cell (GString *markdown, const char *text)
{
  if (*text != '\0')
    g_string_append_c (markdown, ' ');
  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '|')
        g_string_append_c (markdown, '\\');
      g_string_append_c (markdown, *p);
    }
  g_string_append (markdown, " |");
}

/**
 * natter_config_dup_options_markdown:
 *
 * The options table of README.md (`natterd --print-options-markdown`); a unit test
 * checks that README.md has what this prints.
 *
 * Returns: (transfer full): a Markdown table, one row per setting
 */
char *
natter_config_dup_options_markdown (void)
{
  g_autoptr(GString) markdown = g_string_new ("| option | default | range | description |\n"
                                              "|---|---|---|---|\n");

  for (guint i = 0; i < G_N_ELEMENTS (settings); i++)
    {
      const NatterSetting *setting = &settings[i];
      g_autoptr(GString) option = g_string_new (NULL);
      g_autofree char *default_cell = NULL;
      g_autofree char *range = NULL;
      g_autofree char *description = NULL;

      if (setting->short_name != 0)
        g_string_append_printf (option, "`-%c`, ", setting->short_name);
      g_string_append_printf (option, "`--%s%s%s`", setting->name,
                              setting->arg != NULL ? " " : "",
                              setting->arg != NULL ? setting->arg : "");
      if (setting->default_value != NULL)
        default_cell = g_strdup_printf ("`%s`", setting->default_value);
      else
        default_cell = g_strdup (setting->default_doc != NULL ? setting->default_doc : "");
      if (is_number (setting))
        {
          g_autofree char *min = format_number (setting->min);
          g_autofree char *max = format_number (setting->max);

          range = g_strdup_printf ("%s to %s", min, max);
        }
      description = g_strconcat (setting->help,
                                 setting->command_line_only ? " (command line only)" : "",
                                 NULL);

      g_string_append (markdown, "|");
      append_cell (markdown, option->str);
      append_cell (markdown, default_cell);
      append_cell (markdown, range != NULL ? range : "");
      append_cell (markdown, description);
      g_string_append_c (markdown, '\n');
    }
  return g_string_free (g_steal_pointer (&markdown), FALSE);
}

/**
 * natter_config_validate:
 *
 * Checks what no single setting can: the ones that depend on each other.
 */
/**
 * natter_config_get_drain_delay_ms:
 *
 * The drain delay, or its default: a cluster node sits behind a balancer, which needs
 * a few checks of /readyz to send new clients elsewhere; a single node has nowhere to
 * send them, so waiting would only delay its restart.
 *
 * Returns: milliseconds between turning unready and closing the sessions on SIGTERM
 */
guint
natter_config_get_drain_delay_ms (const NatterConfig *config)
{
  if (config->drain_delay_s >= 0)
    return (guint) (config->drain_delay_s * 1000 + 0.5);
  return config->postgres != NULL ? 2000 : 0;
}

gboolean
natter_config_validate (NatterConfig  *config,
                        GError       **error)
{
  if (config->ping_timeout_s <= config->ping_interval_s)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "ping-timeout (%u s) must be longer than ping-interval (%u s)",
                   config->ping_timeout_s, config->ping_interval_s);
      return FALSE;
    }
  if (config->redis != NULL && config->postgres == NULL)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                           "redis needs postgres: the nodes of a cluster share a database");
      return FALSE;
    }
  if ((config->tls_cert == NULL) != (config->tls_key == NULL))
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                           "TLS needs both tls-cert and tls-key");
      return FALSE;
    }
  if (config->upstream_url != NULL && config->no_dbus)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                           "upstream needs the D-Bus service that no-dbus turns off: it is "
                           "upstream mode's only front end");
      return FALSE;
    }
  if (config->max_body_bytes >= config->max_frame_bytes)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "max-body (%u) must be smaller than max-frame (%u)",
                   config->max_body_bytes, config->max_frame_bytes);
      return FALSE;
    }
  for (guint i = 0; config->trusted_proxies != NULL && config->trusted_proxies[i] != NULL; i++)
    {
      g_autoptr(GInetAddressMask) mask =
        g_inet_address_mask_new_from_string (config->trusted_proxies[i], NULL);

      if (mask == NULL)
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "trusted-proxy: “%s” is not an address or ADDRESS/BITS",
                       config->trusted_proxies[i]);
          return FALSE;
        }
    }
  return TRUE;
}
