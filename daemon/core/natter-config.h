/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "natter-store-sqlite.h"

G_BEGIN_DECLS

/**
 * NatterConfig:
 *
 * Every setting of natterd, from its defaults, the optional keyfile (`--config`) and the
 * command line, in that order of precedence.
 */
typedef struct {
  char            *listen_address;     /* (owned) default 127.0.0.1 */
  guint            port;               /* default 8080; 0 picks a free port */
  char            *data_dir;           /* (owned) default $XDG_DATA_HOME/natter */
  char            *tls_cert;           /* (owned) (nullable) */
  char            *tls_key;            /* (owned) (nullable) */
  NatterDurability durability;
  char            *node_id;            /* (owned) default the host name */

  /* Cluster node: PostgreSQL instead of SQLite, and Redis fan-out to the other nodes. */
  char            *postgres;           /* (owned) (nullable) a libpq conninfo or URI */
  char            *redis;              /* (owned) (nullable) redis:// or unix:// URI */
  char            *search_language;    /* (owned) PostgreSQL text search config, "simple" */

  guint            ping_interval_s;    /* 15 */
  guint            ping_timeout_s;     /* 30 */
  guint            max_frame_bytes;    /* 64 KiB */
  guint            max_body_bytes;     /* 16 KiB */
  guint            history_max;        /* 200 */
  guint            resume_cap;         /* 1000 */
  guint            search_max;         /* 100 */
  guint            token_ttl_s;        /* 30 days */
  guint            bad_frame_limit;    /* close with 1008 after this many bad frames in a row */

  /* Abuse limits */
  double           rate_per_s;         /* messages per second per user */
  guint            rate_burst;
  guint            max_rooms_per_user;
  guint            max_members_per_room;
  guint            max_queue_frames;   /* outgoing queue per session */
  guint            max_connections_per_ip;  /* 1024 */
  guint            max_connections;    /* accepted sockets at once; 0: from the descriptor limit */
  guint            header_timeout_s;   /* 10: from accept until the HTTP request is read */
  char           **allowed_origins;    /* (owned) (nullable) browser origins besides the Host */
  guint            max_sessions_per_user;   /* 64 */
  guint            login_failures;     /* failed logins of an account before throttling: 5 */
  guint            login_throttle_s;   /* how long throttled logins wait: 60 */
  guint            max_queue_bytes;

  /* The account D-Bus callers act as; created as an admin on first start if missing. */
  char            *owner;              /* (owned) default $USER, or "owner" */
  gboolean         no_dbus;
  guint            dbus_window;        /* 50: recent messages per room as D-Bus objects */
  char            *ready_file;         /* (owned) (nullable) written with the port when ready */

  /* Upstream mode: mirror an account of a remote natterd instead of hosting one. */
  char            *upstream_url;       /* (owned) (nullable) --upstream wss://HOST[:PORT]/ws */
  char            *upstream_user;      /* (owned) (nullable) --user: the account */
  char            *ca_file;            /* (owned) (nullable) --ca-file: a CA to trust too */
} NatterConfig;

NatterConfig *natter_config_new_defaults (void);
void          natter_config_free         (NatterConfig  *config);
/* Applies [natterd] settings from a keyfile on top of @config. */
gboolean      natter_config_load_keyfile (NatterConfig  *config,
                                          const char    *path,
                                          GError       **error);

char        **natter_config_parse_list   (const char    *value);
gboolean      natter_config_parse_listen (const char    *value,
                                          char         **out_host,
                                          guint16       *out_port,
                                          GError       **error);
gboolean      natter_config_parse_durability (const char       *value,
                                              NatterDurability *out,
                                              GError          **error);
gboolean      natter_config_validate     (NatterConfig  *config,
                                          GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterConfig, natter_config_free)

G_END_DECLS
