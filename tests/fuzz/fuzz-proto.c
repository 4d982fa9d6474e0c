/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-fuzz"

#include "config.h"

#include "natter-fuzz.h"

/**
 * natter_fuzz_proto_one:
 * @data: (array length=len): a `natter.v1.proto` frame, as a binary WebSocket frame
 *   carries it
 * @len: its length
 *
 * Hostile protobuf through protobuf-c and the wire string checks, as client and as server
 * frame; what decodes must round-trip through both codecs unchanged.
 */
void
natter_fuzz_proto_one (const guint8 *data,
                       gsize         len)
{
  natter_fuzz_codec_one (NATTER_CODEC_PROTO, data, len);
}
