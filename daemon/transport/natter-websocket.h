/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Close codes of RFC 6455 that natterd uses. */
#define NATTER_CLOSE_NORMAL          1000
#define NATTER_CLOSE_GOING_AWAY      1001
#define NATTER_CLOSE_PROTOCOL_ERROR  1002
#define NATTER_CLOSE_ABNORMAL        1006
#define NATTER_CLOSE_BAD_DATA        1007
#define NATTER_CLOSE_POLICY          1008
#define NATTER_CLOSE_TOO_BIG         1009
#define NATTER_CLOSE_TRY_LATER       1013

typedef struct
{
  gsize max_message;      /* largest incoming message (all fragments); more closes with 1009 */
  gsize max_queue_bytes;  /* outgoing bytes not yet taken by the kernel… */
  guint max_queue_frames; /* …and frames: past either, the peer is too slow: close with 1013 */
} NatterWebsocketLimits;

#define NATTER_TYPE_WEBSOCKET (natter_websocket_get_type ())
G_DECLARE_FINAL_TYPE (NatterWebsocket, natter_websocket, NATTER, WEBSOCKET, GObject)

/**
 * NatterWebsocket:
 *
 * The server side of a WebSocket connection (RFC 6455) after the HTTP handshake, on the
 * stream libsoup hands over. natterd frames messages itself rather than through
 * SoupWebsocketConnection so that it can bound what waits to be written to a peer
 * (libsoup 3.2 queues without limit and tells nothing of it), share one payload between
 * every recipient, and write everything queued for a peer with one writev().
 *
 * Signals:
 * - `message` (gboolean is_text, GBytes *payload): a complete data message; text is
 *   valid UTF-8.
 * - `closed` (): the connection is gone; emitted once.
 */
NatterWebsocket *natter_websocket_new              (GIOStream                   *stream,
                                                    GSocket                     *socket,
                                                    const NatterWebsocketLimits *limits);
void             natter_websocket_send             (NatterWebsocket             *self,
                                                    gboolean                     is_text,
                                                    GBytes                      *payload);
void             natter_websocket_ping             (NatterWebsocket             *self);
void             natter_websocket_close            (NatterWebsocket             *self,
                                                    gushort                      code,
                                                    const char                  *reason);
gboolean         natter_websocket_is_open          (NatterWebsocket             *self);
gint64           natter_websocket_get_last_heard   (NatterWebsocket             *self);
gushort          natter_websocket_get_close_code   (NatterWebsocket             *self);
gsize            natter_websocket_get_queued_bytes (NatterWebsocket             *self);
gboolean         natter_websocket_is_writing       (NatterWebsocket             *self);

G_END_DECLS
