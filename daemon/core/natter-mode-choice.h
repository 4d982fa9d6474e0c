/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_MODE_HOST     "host"
#define NATTER_MODE_UPSTREAM "upstream"

/**
 * NatterModeChoice:
 * @mode: (nullable): %NATTER_MODE_HOST or %NATTER_MODE_UPSTREAM, or %NULL when the user
 *   has not chosen yet
 * @upstream_url: (nullable): the server of upstream mode
 * @upstream_user: (nullable): the account on it
 * @listen: (nullable): where host mode listens, `HOST:PORT`, as set in the app's
 *   Preferences (the `--listen` option wins)
 *
 * The desktop user's choice of mode (and where hosting listens), kept in `mode.ini` in natterd's data directory so
 * that natterd started by D-Bus or systemd (with no options) runs as the user chose last
 * time. It holds no secret: credentials stay in the Secret Service.
 */
typedef struct
{
  char *mode;           /* (owned) (nullable) */
  char *upstream_url;   /* (owned) (nullable) */
  char *upstream_user;  /* (owned) (nullable) */
  char *listen;         /* (owned) (nullable) */
} NatterModeChoice;

NatterModeChoice *natter_mode_choice_load        (const char              *data_dir,
                                                  GError                 **error);
void              natter_mode_choice_save_async  (const NatterModeChoice  *choice,
                                                  const char              *data_dir);
void              natter_mode_choice_free        (NatterModeChoice        *choice);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterModeChoice, natter_mode_choice_free)

G_END_DECLS
