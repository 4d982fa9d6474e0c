/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "natter-codec.h"

G_BEGIN_DECLS

/*
 * The bodies of the fuzz targets. Each is compiled into its libFuzzer binary and into the
 * replay test of the unit suite, so that the corpus and the regressions run through the
 * same code in every build. A body aborts on anything wrong: a crash, a GLib critical, a
 * frame that does not survive a round trip, a request the hub never answers.
 */
void natter_fuzz_json_one      (const guint8 *data,
                                gsize         len);
void natter_fuzz_proto_one     (const guint8 *data,
                                gsize         len);
void natter_fuzz_dispatch_one  (const guint8 *data,
                                gsize         len);
void natter_fuzz_websocket_one (const guint8 *data,
                                gsize         len);

/* Shared by the bodies (fuzz-common.c). */
void natter_fuzz_init             (void);
void natter_fuzz_codec_one        (NatterCodec             codec,
                                   const guint8           *data,
                                   gsize                   len);
void natter_fuzz_check_round_trip (const ProtobufCMessage *message);

G_END_DECLS
