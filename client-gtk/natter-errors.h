/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What the app asked natterd to do, for an error message that says what failed. */
typedef enum {
  NATTER_REQUEST_JOIN,
  NATTER_REQUEST_DIRECT,
  NATTER_REQUEST_SEND,
  NATTER_REQUEST_LEAVE,
  NATTER_REQUEST_SEARCH,
  NATTER_REQUEST_CONNECT,
  NATTER_REQUEST_CREATE_ACCOUNT,
  NATTER_REQUEST_DISCONNECT,
  NATTER_REQUEST_LISTEN,
  NATTER_REQUEST_CHANGE_MESSAGE,  /* edit, delete, react, reply */
  NATTER_REQUEST_CREATE_ROOM,
  NATTER_REQUEST_DIRECTORY,
  NATTER_REQUEST_INVITE,
  NATTER_REQUEST_KICK,
  NATTER_REQUEST_BAN,
  NATTER_REQUEST_UNBAN,
  NATTER_REQUEST_SET_ROLE,
  NATTER_REQUEST_SET_TOPIC,
  NATTER_REQUEST_BLOCK,
} NatterRequest;

GError *natter_error_for_user (const GError  *error,
                               NatterRequest  request);

G_END_DECLS
