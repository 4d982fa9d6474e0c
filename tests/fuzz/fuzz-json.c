/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-fuzz"

#include "config.h"

#include "natter-fuzz.h"

/**
 * natter_fuzz_json_one:
 * @data: (array length=len): a `natter.v1.json` frame, as a text WebSocket frame carries it
 * @len: its length
 *
 * Hostile JSON through the strict scanner, json-glib and the mapping, as client and as
 * server frame; what decodes must round-trip through both codecs unchanged.
 */
void
natter_fuzz_json_one (const guint8 *data,
                      gsize         len)
{
  natter_fuzz_codec_one (NATTER_CODEC_JSON, data, len);
}
