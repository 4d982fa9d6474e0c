/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-errors"

#include "config.h"

#include <glib/gi18n.h>

#include "natter-errors.h"

/* natterd's D-Bus errors (docs/dbus.md, “Errors”) in the words of the app's users.
 * natterd's own messages are written for developers and scripts: they name methods and
 * options. The app shows what failed and what the user can do, and keeps natterd's text
 * for the debug log. */

#define NATTER_DBUS_ERROR "io.github.natter.Chat.Error."

static const char *
message_for (const char    *name,
             const GError  *error,
             NatterRequest  request)
{
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "BadRequest") == 0)
    {
      switch (request)
        {
        case NATTER_REQUEST_JOIN:
          return _("A room name has only lower-case letters, digits, dots, dashes and underscores");
        case NATTER_REQUEST_DIRECT:
          return _("Check the user name: it has only lower-case letters, digits, dots, dashes and underscores, and is not your own");
        case NATTER_REQUEST_SEND:
          return _("This message cannot be sent");
        case NATTER_REQUEST_CONNECT:
          return _("Check the server’s address: it looks like wss://chat.example.org/ws");
        case NATTER_REQUEST_LISTEN:
          return _("A port is a number from 1 to 65535");
        case NATTER_REQUEST_CREATE_ACCOUNT:
          return _("The server did not accept this user name or password. A user name has only lower-case letters, digits, dots, dashes and underscores; choose a longer password.");
        case NATTER_REQUEST_LEAVE:
        case NATTER_REQUEST_SEARCH:
        case NATTER_REQUEST_DISCONNECT:
        case NATTER_REQUEST_CHANGE_MESSAGE:
        default:
          return _("The chat service did not accept this request");
        }
    }
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "Unauthorized") == 0)
    return request == NATTER_REQUEST_CONNECT ?
           _("The server did not accept this user name and password") :
           _("The server no longer accepts your sign-in. Sign in again.");
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "Forbidden") == 0)
    {
      switch (request)
        {
        case NATTER_REQUEST_JOIN:
          return _("You cannot join this room");
        case NATTER_REQUEST_SEND:
          return _("You cannot write in this conversation");
        case NATTER_REQUEST_LEAVE:
          return _("You cannot leave this conversation");
        case NATTER_REQUEST_DIRECT:
        case NATTER_REQUEST_SEARCH:
        case NATTER_REQUEST_CONNECT:
        case NATTER_REQUEST_DISCONNECT:
        case NATTER_REQUEST_LISTEN:
        case NATTER_REQUEST_CREATE_ACCOUNT:
        case NATTER_REQUEST_CHANGE_MESSAGE:
        default:
          return _("You are not allowed to do this");
        }
    }
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "NotFound") == 0 && request == NATTER_REQUEST_CHANGE_MESSAGE)
    return _("This message was deleted in the meantime");
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "NotFound") == 0)
    return request == NATTER_REQUEST_DIRECT ?
           _("There is no user of that name on this server") :
           _("This conversation no longer exists");
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "Conflict") == 0 && request == NATTER_REQUEST_CREATE_ACCOUNT)
    return _("This user name is already taken on the server. Choose another one.");
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "Conflict") == 0)
    return _("Something changed in the meantime. Try again.");
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "TooLarge") == 0)
    return _("The message is too long");
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "RateLimited") == 0 && request == NATTER_REQUEST_CREATE_ACCOUNT)
    return _("The server takes no more new accounts from here for now. Try again later.");
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "RateLimited") == 0)
    return _("You are sending messages too fast. Wait a moment, then try again.");
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "Unavailable") == 0 && request == NATTER_REQUEST_LISTEN)
    return _("This port cannot be used: another program may use it. Choose another one.");
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "Unavailable") == 0)
    return request == NATTER_REQUEST_CONNECT || request == NATTER_REQUEST_CREATE_ACCOUNT ?
           _("The server cannot be reached, or its certificate is not trusted. Check the address and your network connection.") :
           _("The server cannot be reached right now. Try again later.");
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
    return _("This version of the chat service cannot do this. Update Natter.");
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    return _("The chat service is not answering. Try again later.");
  /* Internal, and anything this version of the app does not know. */
  return _("Something went wrong in the chat service. Try again later.");
}

/**
 * natter_error_for_user:
 * @error: an error of a D-Bus call to natterd
 * @request: what the call asked for
 *
 * Returns: (transfer full): an error of the same domain and code whose message is
 *   written for the app's users
 */
GError *
natter_error_for_user (const GError  *error,
                       NatterRequest  request)
{
  g_autofree char *name = NULL;

  g_return_val_if_fail (error != NULL, NULL);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy (error);
  name = g_dbus_error_get_remote_error (error);
  g_debug ("natterd answered %s", error->message);
  return g_error_new_literal (error->domain, error->code, message_for (name, error, request));
}
