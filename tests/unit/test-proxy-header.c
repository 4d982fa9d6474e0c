/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "test-proxy-header"

#include "config.h"

#include <string.h>

#include "natter-error.h"
#include "natter-proxy-header.h"

/* The PROXY protocol v2 header a trusted balancer puts first on a connection. The bytes
 * are those HAProxy's send-proxy-v2 writes. */

static const guint8 tcp4[] = {
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
  0x21, 0x11, 0x00, 0x0c,
  192, 0, 2, 7,  127, 0, 0, 1,  0xc3, 0x50,  0x1f, 0x90,
};

static char *
client_of (const guint8 *data, gsize len, gsize *consumed)
{
  g_autoptr(GInetSocketAddress) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;

  g_assert_cmpint (natter_proxy_header_parse (data, len, consumed, &client, &error), ==,
                   NATTER_PROXY_HEADER_COMPLETE);
  g_assert_no_error (error);
  g_assert_nonnull (client);
  address = g_inet_address_to_string (g_inet_socket_address_get_address (client));
  return g_strdup_printf ("%s:%u", address, g_inet_socket_address_get_port (client));
}

static void
test_tcp4 (void)
{
  guint8 data[sizeof tcp4 + 5];
  g_autofree char *client = NULL;
  gsize consumed;

  /* The HTTP request follows the header in the same segment: it is not taken. */
  memcpy (data, tcp4, sizeof tcp4);
  memcpy (data + sizeof tcp4, "GET /", 5);
  client = client_of (data, sizeof data, &consumed);
  g_assert_cmpstr (client, ==, "192.0.2.7:50000");
  g_assert_cmpuint (consumed, ==, sizeof tcp4);
}

static void
test_tcp6_with_tlv (void)
{
  guint8 data[16 + 36 + 7] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    0x21, 0x21, 0x00, 36 + 7,
  };
  g_autofree char *client = NULL;
  gsize consumed;

  data[16] = 0x20;
  data[17] = 0x01;
  data[16 + 15] = 0x01;       /* 2001::1 */
  data[16 + 32] = 0x01;
  data[16 + 33] = 0xbb;       /* port 443 */
  /* A TLV (PP2_TYPE_UNIQUE_ID, 4 bytes) after the addresses is skipped. */
  memcpy (data + 16 + 36, "\x05\x00\x04" "abcd", 7);
  client = client_of (data, sizeof data, &consumed);
  g_assert_cmpstr (client, ==, "2001::1:443");
  g_assert_cmpuint (consumed, ==, sizeof data);
}

/* A header split over two segments: wait for the rest, whichever byte it stops at. */
static void
test_incomplete (void)
{
  for (gsize len = 1; len < sizeof tcp4; len++)
    {
      g_autoptr(GInetSocketAddress) client = NULL;
      g_autoptr(GError) error = NULL;
      gsize consumed;

      g_assert_cmpint (natter_proxy_header_parse (tcp4, len, &consumed, &client, &error), ==,
                       NATTER_PROXY_HEADER_INCOMPLETE);
      g_assert_no_error (error);
      g_assert_null (client);
    }
}

/* A health check or a proxy that names clients in X-Forwarded-For sends HTTP at once. */
static void
test_absent (void)
{
  const char *request = "GET /readyz HTTP/1.1\r\n";
  g_autoptr(GInetSocketAddress) client = NULL;
  gsize consumed;

  g_assert_cmpint (natter_proxy_header_parse ((const guint8 *) request, strlen (request),
                                              &consumed, &client, NULL), ==,
                   NATTER_PROXY_HEADER_ABSENT);
  g_assert_cmpint (natter_proxy_header_parse ((const guint8 *) "\r\n\r\nX", 5, &consumed,
                                              &client, NULL), ==,
                   NATTER_PROXY_HEADER_ABSENT);
}

/* LOCAL: the balancer's own connection, which names nobody. */
static void
test_local (void)
{
  guint8 data[16];
  g_autoptr(GInetSocketAddress) client = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed;

  memcpy (data, tcp4, 16);
  data[12] = 0x20;
  data[13] = 0x00;
  data[15] = 0;
  g_assert_cmpint (natter_proxy_header_parse (data, sizeof data, &consumed, &client, &error),
                   ==, NATTER_PROXY_HEADER_COMPLETE);
  g_assert_no_error (error);
  g_assert_null (client);
  g_assert_cmpuint (consumed, ==, 16);
}

static void
test_invalid (void)
{
  guint8 data[sizeof tcp4];
  g_autoptr(GInetSocketAddress) client = NULL;
  g_autoptr(GError) error = NULL;
  gsize consumed;

  /* Version 1's binary form does not exist; version 3 is not known. */
  memcpy (data, tcp4, sizeof tcp4);
  data[12] = 0x31;
  g_assert_cmpint (natter_proxy_header_parse (data, sizeof data, &consumed, &client, &error),
                   ==, NATTER_PROXY_HEADER_INVALID);
  g_assert_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
  g_clear_error (&error);

  /* Longer than anything a balancer sends: not buffered. */
  memcpy (data, tcp4, sizeof tcp4);
  data[14] = 0xff;
  g_assert_cmpint (natter_proxy_header_parse (data, sizeof data, &consumed, &client, &error),
                   ==, NATTER_PROXY_HEADER_INVALID);
  g_clear_error (&error);

  /* TCP over IPv4 in fewer bytes than its addresses take. */
  memcpy (data, tcp4, sizeof tcp4);
  data[15] = 4;
  g_assert_cmpint (natter_proxy_header_parse (data, 20, &consumed, &client, &error),
                   ==, NATTER_PROXY_HEADER_INVALID);
  g_assert_null (client);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/proxy-header/tcp4", test_tcp4);
  g_test_add_func ("/proxy-header/tcp6-with-tlv", test_tcp6_with_tlv);
  g_test_add_func ("/proxy-header/incomplete", test_incomplete);
  g_test_add_func ("/proxy-header/absent", test_absent);
  g_test_add_func ("/proxy-header/local", test_local);
  g_test_add_func ("/proxy-header/invalid", test_invalid);
  return g_test_run ();
}
