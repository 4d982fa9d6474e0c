/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-fuzz"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natter-fuzz.h"
#include "natter-websocket.h"

/*
 * WebSocket framing (RFC 6455) as natterd parses it after the handshake. The input is
 * the byte stream a client sends; it reaches a NatterWebsocket through a socket pair,
 * followed by the end of the stream. The client never reads, as a slow consumer does,
 * and the server's send buffer is as small as the kernel allows, so that the outgoing
 * queue and its limits come into play.
 *
 * Every message delivered must be within the limit and, for text, valid UTF-8; messages
 * are echoed back, as a session answers requests; what waits for the client must stay
 * within the queue limits (beyond them the connection is closed with 1013); and the
 * connection must end once the stream does.
 */

/* Small, so that short inputs reach them. */
#define MAX_MESSAGE      512
#define MAX_QUEUE_BYTES  1024
#define MAX_QUEUE_FRAMES 8
/* Room for the frame that crossed a limit, and the close frame after it. */
#define QUEUE_SLACK      (MAX_MESSAGE + 14 + 127)
#define DEADLINE_S       20

/* UTF-8 as RFC 6455 means it: U+0000 is a character too, which GLib's validators refuse,
 * so each run between NULs is checked on its own. */
static gboolean
is_utf8 (const char *data, gsize len)
{
  const char *nul;

  if (len == 0)
    return TRUE;
  while ((nul = memchr (data, '\0', len)) != NULL)
    {
      if (!g_utf8_validate_len (data, nul - data, NULL))
        return FALSE;
      len -= nul - data + 1;
      data = nul + 1;
    }
  return g_utf8_validate_len (data, len, NULL);
}

static void
on_message (NatterWebsocket *websocket,
            gboolean         is_text,
            GBytes          *payload,
            gpointer         user_data)
{
  gsize len;
  const char *data = g_bytes_get_data (payload, &len);

  if (len > MAX_MESSAGE)
    g_error ("a message of %" G_GSIZE_FORMAT " bytes was delivered, over the limit of %u",
             len, MAX_MESSAGE);
  if (is_text && !is_utf8 (data, len))
    g_error ("a text message that is not UTF-8 was delivered");
  natter_websocket_send (websocket, is_text, payload);
}

static void
on_closed (NatterWebsocket *websocket,
           gpointer         user_data)
{
  gboolean *closed = user_data;

  if (*closed)
    g_error ("closed was emitted twice");
  *closed = TRUE;
}

static gboolean
deadline_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
check_queue (NatterWebsocket *websocket)
{
  gsize queued = natter_websocket_get_queued_bytes (websocket);

  if (queued > MAX_QUEUE_BYTES + QUEUE_SLACK)
    g_error ("%" G_GSIZE_FORMAT " bytes wait for a client that does not read, over the "
             "limit of %u", queued, MAX_QUEUE_BYTES);
}

/* Runs the main loop until nothing is pending, including frames that the sender thread
 * is writing (what it wrote is accounted for only once the main loop hears back). */
static void
settle (NatterWebsocket *websocket,
        gboolean        *closed)
{
  while (closed == NULL || !*closed)
    {
      if (g_main_context_iteration (NULL, FALSE))
        continue;
      if (!natter_websocket_is_writing (websocket))
        break;
      g_main_context_iteration (NULL, TRUE);
    }
}

/**
 * natter_fuzz_websocket_one:
 * @data: (array length=len): what a client sends after the handshake
 * @len: its length
 *
 * The body of the WebSocket target (see the top of this file).
 */
void
natter_fuzz_websocket_one (const guint8 *data,
                           gsize         len)
{
  const NatterWebsocketLimits limits = { MAX_MESSAGE, MAX_QUEUE_BYTES, MAX_QUEUE_FRAMES };
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) server_socket = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(NatterWebsocket) websocket = NULL;
  int fds[2];
  int smallest = 1;
  gsize written = 0;
  gboolean closed = FALSE;
  gboolean expired = FALSE;
  guint deadline_id;

  natter_fuzz_init ();

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    g_error ("socketpair: %s", g_strerror (errno));
  /* The kernel raises this to its minimum. */
  setsockopt (fds[0], SOL_SOCKET, SO_SNDBUF, &smallest, sizeof smallest);
  server_socket = g_socket_new_from_fd (fds[0], &error);
  if (server_socket == NULL)
    g_error ("g_socket_new_from_fd: %s", error->message);
  connection = g_socket_connection_factory_create_connection (server_socket);
  websocket = natter_websocket_new (G_IO_STREAM (connection), server_socket, &limits);
  g_signal_connect (websocket, "message", G_CALLBACK (on_message), NULL);
  g_signal_connect (websocket, "closed", G_CALLBACK (on_closed), &closed);

  /* The client's bytes as fast as the socket takes them. */
  while (written < len && !closed)
    {
      gssize n = send (fds[1], data + written, len - written, MSG_DONTWAIT | MSG_NOSIGNAL);

      if (n > 0)
        written += n;
      else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        break;  /* the server hung up */
      g_main_context_iteration (NULL, FALSE);
    }
  /* Everything is taken in and what can be written is written before the end of the
   * stream, which ends the connection: this is where a client that never reads leaves
   * the server. (While it processes what it read, the queue may be longer.) */
  settle (websocket, &closed);
  if (!closed)
    check_queue (websocket);
  shutdown (fds[1], SHUT_WR);

  deadline_id = g_timeout_add_seconds (DEADLINE_S, deadline_cb, &expired);
  while (!closed)
    {
      if (expired)
        g_error ("the connection did not end within %u s of the end of the stream",
                 DEADLINE_S);
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (deadline_id);

  close (fds[1]);
  /* A flush may still hold the connection: nothing may reach this frame's variables. */
  g_signal_handlers_disconnect_by_data (websocket, &closed);
  settle (websocket, NULL);
  g_clear_object (&websocket);
  /* The asynchronous close of the stream. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}
