/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "natter-store-sqlite.h"

G_BEGIN_DECLS

/**
 * NatterConfig:
 *
 * Every setting of natterd, from its defaults, the optional keyfile (`--config`) and the
 * command line, in that order of precedence. natter_config_get_settings() describes each.
 */
typedef struct {
  char            *listen_address;     /* (owned) default 127.0.0.1 */
  guint            port;               /* default 8080; 0 picks a free port */
  gboolean         listen_given;       /* listen was set: command line or keyfile */
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
  /* (owned) (nullable) addresses and CIDRs of balancers whose word on the client address
   * (PROXY v2 header, X-Forwarded-For) is taken */
  char           **trusted_proxies;
  guint            max_sessions_per_user;   /* 64 */
  guint            login_failures;     /* failed logins of an account before throttling: 5 */
  guint            login_throttle_s;   /* how long throttled logins wait: 60 */
  guint            address_login_failures; /* failed logins from one address, any account */
  double           password_rate;      /* password checks per second per address */
  guint            password_burst;
  guint            max_password_queue; /* password hashes waiting or running at once */
  guint            registrations_per_hour; /* accounts one address may create */
  guint            rooms_per_hour;     /* rooms one account may create */
  guint            invites_per_hour;   /* invitations one account may send */
  guint            directory_per_minute; /* directory queries of one account */
  double           event_rate;         /* typing and read markers per second per connection */
  guint            event_burst;
  guint            max_queue_bytes;

  /* The account D-Bus callers act as; created as an admin on first start if missing. */
  char            *owner;              /* (owned) default $USER, or "owner" */
  gboolean         no_dbus;
  gboolean         replace;            /* take the bus name over from a running natterd */
  guint            dbus_window;        /* 50: recent messages per room as D-Bus objects */
  char            *ready_file;         /* (owned) (nullable) written with the port when ready */
  /* On SIGTERM, seconds /readyz answers 503 while sessions go on, before they are
   * closed with 1001; negative: natter_config_get_drain_delay_ms() picks. */
  double           drain_delay_s;

  /* Upstream mode: mirror an account of a remote natterd instead of hosting one. */
  char            *upstream_url;       /* (owned) (nullable) --upstream wss://HOST[:PORT]/ws */
  char            *upstream_user;      /* (owned) (nullable) --user: the account */
  char            *ca_file;            /* (owned) (nullable) --ca-file: a CA to trust too */
  gboolean         allow_insecure_upstream; /* ws:// to other hosts than this one */

  /* Command line only */
  char            *config_file;        /* (owned) (nullable) the keyfile read (--config) */
  char            *create_admin;       /* (owned) (nullable) create this admin and exit */
  /* Operator commands (natter-operator.c), each then exit */
  gboolean         list_users;
  char            *disable_user;       /* (owned) (nullable) */
  char            *enable_user;        /* (owned) (nullable) */
  char            *reset_password;     /* (owned) (nullable) new password on stdin */
  char            *revoke_tokens;      /* (owned) (nullable) */
  char            *backup;             /* (owned) (nullable) SQLite only: copy to this file */
} NatterConfig;

/**
 * NatterSettingType:
 * @NATTER_SETTING_STRING: a `char *`
 * @NATTER_SETTING_PATH: a `char *` in the file name encoding
 * @NATTER_SETTING_UINT: a `guint` within the setting's min and max
 * @NATTER_SETTING_DOUBLE: a `double` within the setting's min and max
 * @NATTER_SETTING_BOOL: a `gboolean`; a flag without a value on the command line
 * @NATTER_SETTING_DURABILITY: a #NatterDurability, `normal` or `full`
 * @NATTER_SETTING_LISTEN: `HOST:PORT`, into `listen_address` and `port`
 * @NATTER_SETTING_LIST: a %NULL-terminated `char **` from a comma list; the option may be
 *   given several times
 */
typedef enum {
  NATTER_SETTING_STRING,
  NATTER_SETTING_PATH,
  NATTER_SETTING_UINT,
  NATTER_SETTING_DOUBLE,
  NATTER_SETTING_BOOL,
  NATTER_SETTING_DURABILITY,
  NATTER_SETTING_LISTEN,
  NATTER_SETTING_LIST,
} NatterSettingType;

/**
 * NatterSetting:
 * @name: the long option without `--`, and the key in the `[natterd]` group
 * @short_name: the short option, or 0
 * @type: how the value is parsed and stored
 * @command_line_only: not a key of the keyfile (what to do now, not how to run)
 * @offset: where the value lives in #NatterConfig
 * @default_value: (nullable): the default as it would be typed; %NULL: unset, or
 *   computed at run time and described by @default_doc
 * @default_doc: (nullable): the default in words, when it is computed at run time
 * @min: the smallest value a number may take
 * @max: the largest value a number may take
 * @arg: (nullable): what the value looks like in `--help`
 * @help: one line for `--help` and README.md
 *
 * One setting of natterd. The command line, the keyfile, `--help` and the options
 * table of README.md are all made from the table of these, so they cannot disagree.
 */
typedef struct {
  const char        *name;
  char               short_name;
  NatterSettingType  type;
  gboolean           command_line_only;
  gsize              offset;
  const char        *default_value;
  const char        *default_doc;
  double             min;
  double             max;
  const char        *arg;
  const char        *help;
} NatterSetting;

const NatterSetting *natter_config_get_settings (guint *n_settings);

NatterConfig *natter_config_new_defaults (void);
void          natter_config_free         (NatterConfig  *config);
gboolean      natter_config_load_keyfile (NatterConfig  *config,
                                          const char    *path,
                                          GError       **error);
GOptionGroup *natter_config_get_option_group (NatterConfig *config);
gboolean      natter_config_set          (NatterConfig  *config,
                                          const char    *name,
                                          const char    *value,
                                          GError       **error);
char         *natter_config_dup_options_markdown (void);

gboolean      natter_config_validate     (NatterConfig  *config,
                                          GError       **error);
guint         natter_config_get_drain_delay_ms (const NatterConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterConfig, natter_config_free)

G_END_DECLS
