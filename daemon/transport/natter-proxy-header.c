/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-proxy-header"

#include "config.h"

#include <string.h>

#include "natter-error.h"
#include "natter-proxy-header.h"

/* The PROXY protocol, version 2 (HAProxy's `send-proxy-v2`): a binary header a balancer
 * writes first on each connection it opens, naming the client it stands for. */

static const guint8 signature[12] = {
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define FIXED_SIZE 16
#define COMMAND_LOCAL 0x0
#define COMMAND_PROXY 0x1
#define FAMILY_TCP4 0x11
#define FAMILY_TCP6 0x21

/**
 * natter_proxy_header_parse:
 * @data: the first bytes of a connection
 * @len: how many there are
 * @out_consumed: (out): the size of the header, once it is whole
 * @out_client: (out) (transfer full) (nullable): the client it names; %NULL for a
 *   connection of the balancer's own (a `LOCAL` header, as in a health check) or an
 *   address family other than TCP over IPv4 or IPv6
 * @error: %NATTER_ERROR_BAD_REQUEST when @data is no PROXY v2 header or a broken one
 *
 * Returns: %NATTER_PROXY_HEADER_COMPLETE, %NATTER_PROXY_HEADER_INCOMPLETE (a prefix of a
 *   header: wait for more), or %NATTER_PROXY_HEADER_ABSENT (@data starts with something
 *   else, such as an HTTP request) or %NATTER_PROXY_HEADER_INVALID with @error set
 */
NatterProxyHeaderResult
natter_proxy_header_parse (const guint8        *data,
                           gsize                len,
                           gsize               *out_consumed,
                           GInetSocketAddress **out_client,
                           GError             **error)
{
  guint version, command, family;
  gsize body;
  g_autoptr(GInetAddress) address = NULL;
  guint16 port;

  *out_consumed = 0;
  *out_client = NULL;
  if (memcmp (data, signature, MIN (len, sizeof signature)) != 0)
    return NATTER_PROXY_HEADER_ABSENT;
  if (len < FIXED_SIZE)
    return NATTER_PROXY_HEADER_INCOMPLETE;

  version = data[12] >> 4;
  command = data[12] & 0x0f;
  family = data[13];
  body = ((gsize) data[14] << 8) | data[15];
  if (version != 2 || (command != COMMAND_LOCAL && command != COMMAND_PROXY))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "PROXY header of version %u, command %u", version, command);
      return NATTER_PROXY_HEADER_INVALID;
    }
  if (body > NATTER_PROXY_HEADER_MAX - FIXED_SIZE)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "PROXY header of %" G_GSIZE_FORMAT " bytes", FIXED_SIZE + body);
      return NATTER_PROXY_HEADER_INVALID;
    }
  if (len < FIXED_SIZE + body)
    return NATTER_PROXY_HEADER_INCOMPLETE;

  *out_consumed = FIXED_SIZE + body;
  if (command == COMMAND_LOCAL)
    return NATTER_PROXY_HEADER_COMPLETE;

  /* Source and destination addresses, then ports; TLVs after them are not needed. */
  if (family == FAMILY_TCP4 && body >= 12)
    {
      address = g_inet_address_new_from_bytes (data + FIXED_SIZE, G_SOCKET_FAMILY_IPV4);
      port = (guint16) ((data[FIXED_SIZE + 8] << 8) | data[FIXED_SIZE + 9]);
    }
  else if (family == FAMILY_TCP6 && body >= 36)
    {
      address = g_inet_address_new_from_bytes (data + FIXED_SIZE, G_SOCKET_FAMILY_IPV6);
      port = (guint16) ((data[FIXED_SIZE + 32] << 8) | data[FIXED_SIZE + 33]);
    }
  else if (family == FAMILY_TCP4 || family == FAMILY_TCP6)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "PROXY header too short for its addresses");
      return NATTER_PROXY_HEADER_INVALID;
    }
  else
    return NATTER_PROXY_HEADER_COMPLETE;

  *out_client = G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (address, port));
  return NATTER_PROXY_HEADER_COMPLETE;
}
