/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The largest header accepted: the addresses and a few TLVs (HAProxy sends some, such as
 * a unique id, when configured to). */
#define NATTER_PROXY_HEADER_MAX 512

typedef enum
{
  NATTER_PROXY_HEADER_COMPLETE,
  NATTER_PROXY_HEADER_INCOMPLETE,
  NATTER_PROXY_HEADER_ABSENT,
  NATTER_PROXY_HEADER_INVALID,
} NatterProxyHeaderResult;

NatterProxyHeaderResult natter_proxy_header_parse (const guint8        *data,
                                                   gsize                len,
                                                   gsize               *out_consumed,
                                                   GInetSocketAddress **out_client,
                                                   GError             **error);

G_END_DECLS
