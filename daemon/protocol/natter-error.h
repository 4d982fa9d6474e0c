/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NATTER_ERROR (natter_error_quark ())

/**
 * NatterError:
 *
 * The project's one error domain. Each code is a protocol error code (see
 * docs/protocol.md) and maps to one D-Bus error name `io.github.natter.Chat.Error.*`.
 */
typedef enum {
  NATTER_ERROR_BAD_REQUEST,
  NATTER_ERROR_UNAUTHORIZED,
  NATTER_ERROR_FORBIDDEN,
  NATTER_ERROR_NOT_FOUND,
  NATTER_ERROR_CONFLICT,
  NATTER_ERROR_TOO_LARGE,
  NATTER_ERROR_RATE_LIMITED,
  NATTER_ERROR_UNAVAILABLE,
  NATTER_ERROR_INTERNAL,
} NatterError;

#define NATTER_ERROR_N_CODES (NATTER_ERROR_INTERNAL + 1)

GQuark       natter_error_quark          (void);
const char  *natter_error_code_to_string (NatterError  code);
gboolean     natter_error_code_from_string (const char  *str,
                                            NatterError *out_code);
NatterError  natter_error_code_for       (const GError *error);

G_END_DECLS
