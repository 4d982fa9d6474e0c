/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-error"

#include "config.h"

#include <gio/gio.h>

#include "natter-error.h"

G_DEFINE_QUARK (natter-error-quark, natter_error)

static const char * const codes[NATTER_ERROR_N_CODES] = {
  [NATTER_ERROR_BAD_REQUEST] = "bad_request",
  [NATTER_ERROR_UNAUTHORIZED] = "unauthorized",
  [NATTER_ERROR_FORBIDDEN] = "forbidden",
  [NATTER_ERROR_NOT_FOUND] = "not_found",
  [NATTER_ERROR_CONFLICT] = "conflict",
  [NATTER_ERROR_TOO_LARGE] = "too_large",
  [NATTER_ERROR_RATE_LIMITED] = "rate_limited",
  [NATTER_ERROR_UNAVAILABLE] = "unavailable",
  [NATTER_ERROR_INTERNAL] = "internal",
};

/**
 * natter_error_code_to_string:
 * @code: a #NatterError
 *
 * Returns: (transfer none): the protocol's name of @code, such as `bad_request`
 */
const char *
natter_error_code_to_string (NatterError code)
{
  if ((guint) code >= NATTER_ERROR_N_CODES)
    return codes[NATTER_ERROR_INTERNAL];
  return codes[code];
}

gboolean
natter_error_code_from_string (const char  *str,
                               NatterError *out_code)
{
  g_return_val_if_fail (out_code != NULL, FALSE);

  if (str == NULL)
    return FALSE;

  for (guint i = 0; i < NATTER_ERROR_N_CODES; i++)
    {
      if (g_str_equal (str, codes[i]))
        {
          *out_code = i;
          return TRUE;
        }
    }
  return FALSE;
}

/**
 * natter_error_code_for:
 * @error: any #GError
 *
 * Maps an error of any domain to the protocol code a client sees. Errors of other
 * domains are internal, except cancellation and closed connections, which mean the
 * service is going away.
 *
 * Returns: a #NatterError code
 */
NatterError
natter_error_code_for (const GError *error)
{
  if (error == NULL)
    return NATTER_ERROR_INTERNAL;
  if (error->domain == NATTER_ERROR && (guint) error->code < NATTER_ERROR_N_CODES)
    return error->code;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    return NATTER_ERROR_UNAVAILABLE;
  return NATTER_ERROR_INTERNAL;
}
