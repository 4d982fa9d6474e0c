/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <protobuf-c/protobuf-c.h>

#include "natter.pb-c.h"

G_BEGIN_DECLS

/**
 * NatterCodec:
 * @NATTER_CODEC_JSON: subprotocol `natter.v1.json`, text frames
 * @NATTER_CODEC_PROTO: subprotocol `natter.v1.proto`, binary frames
 */
typedef enum {
  NATTER_CODEC_JSON,
  NATTER_CODEC_PROTO,
} NatterCodec;

#define NATTER_CODEC_N (NATTER_CODEC_PROTO + 1)

#define NATTER_SUBPROTOCOL_JSON  "natter.v1.json"
#define NATTER_SUBPROTOCOL_PROTO "natter.v1.proto"

const char       *natter_codec_to_subprotocol   (NatterCodec codec);
gboolean          natter_codec_from_subprotocol (const char  *subprotocol,
                                                 NatterCodec *out_codec);

/* Generic, over any protobuf-c message: */
GBytes           *natter_codec_encode           (NatterCodec                        codec,
                                                 const ProtobufCMessage            *message);
ProtobufCMessage *natter_codec_decode           (NatterCodec                        codec,
                                                 const ProtobufCMessageDescriptor  *descriptor,
                                                 const guint8                      *data,
                                                 gsize                              len,
                                                 GError                           **error);

/* The JSON mapping as UTF-8 text, as carried by `natter.v1.json` frames: */
GBytes           *natter_json_encode            (const ProtobufCMessage            *message);
ProtobufCMessage *natter_json_decode            (const ProtobufCMessageDescriptor  *descriptor,
                                                 const char                        *data,
                                                 gsize                              len,
                                                 GError                           **error);

/* Frames of the protocol: */
Natter__ClientFrame *natter_codec_decode_client_frame (NatterCodec    codec,
                                                       const guint8  *data,
                                                       gsize          len,
                                                       GError       **error);
Natter__ServerFrame *natter_codec_decode_server_frame (NatterCodec    codec,
                                                       const guint8  *data,
                                                       gsize          len,
                                                       GError       **error);

gboolean natter_codec_peek_id (NatterCodec   codec,
                               const guint8 *data,
                               gsize         len,
                               guint64      *out_id);

void natter_client_frame_free (Natter__ClientFrame *frame);
void natter_server_frame_free (Natter__ServerFrame *frame);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Natter__ClientFrame, natter_client_frame_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Natter__ServerFrame, natter_server_frame_free)

G_END_DECLS
