/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>
#include <protobuf-c/protobuf-c.h>

G_BEGIN_DECLS

/*
 * The protobuf JSON mapping over json-glib's JsonNode, for the tests and the fuzzers: a
 * second way into and out of the mapping that the daemon's text codec (natter-json.c) is
 * checked against. natterd itself only reads and writes text.
 */
JsonNode         *natter_test_node_from_message (const ProtobufCMessage            *message);
ProtobufCMessage *natter_test_node_to_message   (const ProtobufCMessageDescriptor  *descriptor,
                                                 JsonNode                          *node,
                                                 GError                           **error);

G_END_DECLS
