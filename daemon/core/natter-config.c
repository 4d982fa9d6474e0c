/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-config"

#include "config.h"

#include <gio/gio.h>

#include "natter-config.h"
#include "natter-error.h"

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

  config->listen_address = g_strdup ("127.0.0.1");
  config->port = 8080;
  config->data_dir = g_build_filename (g_get_user_data_dir (), "natter", NULL);
  config->durability = NATTER_DURABILITY_NORMAL;
  config->node_id = g_strdup (g_get_host_name ());
  config->search_language = g_strdup ("simple");
  config->ping_interval_s = 15;
  config->ping_timeout_s = 30;
  config->max_frame_bytes = 64 * 1024;
  config->max_body_bytes = 16 * 1024;
  config->history_max = 200;
  config->resume_cap = 1000;
  config->search_max = 100;
  config->token_ttl_s = 30 * 24 * 3600;
  config->bad_frame_limit = 10;
  config->rate_per_s = 20.0;
  config->rate_burst = 50;
  config->max_rooms_per_user = 1000;
  config->max_members_per_room = 10000;
  config->max_queue_frames = 4096;
  config->max_queue_bytes = 4 * 1024 * 1024;
  config->max_connections_per_ip = 1024;
  config->header_timeout_s = 10;
  config->max_sessions_per_user = 64;
  config->login_failures = 5;
  config->login_throttle_s = 60;
  config->dbus_window = 50;
  /* An account name must match the protocol's user syntax. */
  config->owner = g_ascii_strdown (user != NULL && *user != '\0' ? user : "owner", -1);
  return config;
}

void
natter_config_free (NatterConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->listen_address);
  g_free (config->data_dir);
  g_free (config->tls_cert);
  g_free (config->tls_key);
  g_free (config->node_id);
  g_free (config->postgres);
  g_free (config->redis);
  g_free (config->search_language);
  g_free (config->owner);
  g_free (config->ready_file);
  g_free (config->upstream_url);
  g_free (config->upstream_user);
  g_free (config->ca_file);
  g_strfreev (config->allowed_origins);
  g_free (config);
}

static gboolean
read_uint (GKeyFile *kf, const char *key, guint *out, guint min, guint max, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  guint64 value;

  if (!g_key_file_has_key (kf, "natterd", key, NULL))
    return TRUE;
  value = g_key_file_get_uint64 (kf, "natterd", key, &local_error);
  if (local_error != NULL || value < min || value > max)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "config key %s: expected an integer in %u..%u", key, min, max);
      return FALSE;
    }
  *out = (guint) value;
  return TRUE;
}

static void
read_string (GKeyFile *kf, const char *key, char **out)
{
  g_autofree char *value = g_key_file_get_string (kf, "natterd", key, NULL);

  if (value != NULL)
    {
      g_free (*out);
      *out = g_steal_pointer (&value);
    }
}

/* Every key the [natterd] group may hold: a typo is an error, not a silent default. */
static const char * const known_keys[] = {
  "listen", "data-dir", "tls-cert", "tls-key", "node-id", "postgres", "redis",
  "search-language", "owner", "upstream", "user", "ca-file", "durability",
  "ping-interval", "ping-timeout", "max-frame", "max-body", "resume-cap", "rate",
  "rate-burst", "max-rooms-per-user", "max-members-per-room", "max-queue-frames",
  "max-queue-bytes", "token-ttl", "dbus-window", "max-connections-per-ip",
  "max-sessions-per-user", "login-failures", "login-throttle", "max-connections",
  "header-timeout", "allowed-origin", NULL
};

static gboolean
check_keys (GKeyFile *kf, GError **error)
{
  g_auto(GStrv) groups = g_key_file_get_groups (kf, NULL);
  g_auto(GStrv) keys = NULL;

  for (guint i = 0; groups[i] != NULL; i++)
    {
      if (!g_str_equal (groups[i], "natterd"))
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "unknown config group [%s]: settings go in [natterd]", groups[i]);
          return FALSE;
        }
    }
  keys = g_key_file_get_keys (kf, "natterd", NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      if (!g_strv_contains (known_keys, keys[i]))
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "unknown config key “%s” in [natterd]", keys[i]);
          return FALSE;
        }
    }
  return TRUE;
}

/**
 * natter_config_load_keyfile:
 * @config: settings to update
 * @path: a keyfile with a `[natterd]` group
 *
 * Keys are the long option names of natterd (`listen`, `data-dir`, `ping-interval`, …).
 */
gboolean
natter_config_load_keyfile (NatterConfig  *config,
                            const char    *path,
                            GError       **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *listen = NULL;
  g_autofree char *durability = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, error))
    return FALSE;
  if (!check_keys (kf, error))
    return FALSE;

  listen = g_key_file_get_string (kf, "natterd", "listen", NULL);
  if (listen != NULL)
    {
      g_autofree char *host = NULL;
      guint16 port = 0;

      if (!natter_config_parse_listen (listen, &host, &port, error))
        return FALSE;
      g_free (config->listen_address);
      config->listen_address = g_steal_pointer (&host);
      config->port = port;
    }

  read_string (kf, "data-dir", &config->data_dir);
  read_string (kf, "tls-cert", &config->tls_cert);
  read_string (kf, "tls-key", &config->tls_key);
  read_string (kf, "node-id", &config->node_id);
  read_string (kf, "postgres", &config->postgres);
  read_string (kf, "redis", &config->redis);
  read_string (kf, "search-language", &config->search_language);
  read_string (kf, "owner", &config->owner);
  read_string (kf, "upstream", &config->upstream_url);
  read_string (kf, "user", &config->upstream_user);
  read_string (kf, "ca-file", &config->ca_file);

  durability = g_key_file_get_string (kf, "natterd", "durability", NULL);
  if (durability != NULL && !natter_config_parse_durability (durability, &config->durability, error))
    return FALSE;

  if (!read_uint (kf, "ping-interval", &config->ping_interval_s, 1, 3600, error) ||
      !read_uint (kf, "ping-timeout", &config->ping_timeout_s, 1, 7200, error) ||
      !read_uint (kf, "max-frame", &config->max_frame_bytes, 1024, 16 * 1024 * 1024, error) ||
      !read_uint (kf, "max-body", &config->max_body_bytes, 1, 16 * 1024 * 1024, error) ||
      !read_uint (kf, "resume-cap", &config->resume_cap, 1, 1000000, error) ||
      !read_uint (kf, "rate-burst", &config->rate_burst, 1, 1000000, error) ||
      !read_uint (kf, "max-rooms-per-user", &config->max_rooms_per_user, 1, 1000000, error) ||
      !read_uint (kf, "max-members-per-room", &config->max_members_per_room, 2, 10000000, error) ||
      !read_uint (kf, "max-queue-frames", &config->max_queue_frames, 16, 10000000, error) ||
      !read_uint (kf, "max-queue-bytes", &config->max_queue_bytes, 65536, G_MAXINT, error) ||
      !read_uint (kf, "token-ttl", &config->token_ttl_s, 60, G_MAXINT, error) ||
      !read_uint (kf, "dbus-window", &config->dbus_window, 0, 10000, error) ||
      !read_uint (kf, "max-connections-per-ip", &config->max_connections_per_ip, 1, G_MAXINT, error) ||
      !read_uint (kf, "max-sessions-per-user", &config->max_sessions_per_user, 1, G_MAXINT, error) ||
      !read_uint (kf, "login-failures", &config->login_failures, 1, G_MAXINT, error) ||
      !read_uint (kf, "login-throttle", &config->login_throttle_s, 1, 86400, error) ||
      !read_uint (kf, "max-connections", &config->max_connections, 1, G_MAXINT, error) ||
      !read_uint (kf, "header-timeout", &config->header_timeout_s, 1, 3600, error))
    return FALSE;

  if (g_key_file_has_key (kf, "natterd", "allowed-origin", NULL))
    {
      g_autofree char *origins = g_key_file_get_string (kf, "natterd", "allowed-origin", NULL);

      g_strfreev (config->allowed_origins);
      config->allowed_origins = natter_config_parse_list (origins != NULL ? origins : "");
    }

  if (g_key_file_has_key (kf, "natterd", "rate", NULL))
    {
      g_autoptr(GError) local_error = NULL;
      double rate = g_key_file_get_double (kf, "natterd", "rate", &local_error);

      if (local_error != NULL || !(rate > 0))
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                       "config key rate: expected a positive number");
          return FALSE;
        }
      config->rate_per_s = rate;
    }

  return natter_config_validate (config, error);
}

/**
 * natter_config_parse_list:
 * @value: items separated by commas
 *
 * Returns: (transfer full): the items, trimmed, without empty ones
 */
char **
natter_config_parse_list (const char *value)
{
  g_auto(GStrv) parts = g_strsplit (value, ",", -1);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_strstrip (parts[i]);
      if (*parts[i] != '\0')
        g_strv_builder_add (builder, parts[i]);
    }
  return g_strv_builder_end (builder);
}

/**
 * natter_config_parse_listen:
 *
 * Parses `HOST:PORT` (or `[V6]:PORT`); port 0 asks for a free port.
 */
gboolean
natter_config_parse_listen (const char  *value,
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
                   "invalid listen address “%s”: %s", value, local_error->message);
      return FALSE;
    }
  *out_host = g_strdup (g_network_address_get_hostname (G_NETWORK_ADDRESS (address)));
  *out_port = g_network_address_get_port (G_NETWORK_ADDRESS (address));
  return TRUE;
}

gboolean
natter_config_parse_durability (const char        *value,
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
                   "durability must be “normal” or “full”, not “%s”", value);
      return FALSE;
    }
  return TRUE;
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
  if (config->max_body_bytes >= config->max_frame_bytes)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "max-body (%u) must be smaller than max-frame (%u)",
                   config->max_body_bytes, config->max_frame_bytes);
      return FALSE;
    }
  return TRUE;
}
