/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-errors"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "natter-errors.h"

/* natterd's D-Bus errors (docs/dbus.md, “Errors”) in the words of the app's users.
 * natterd's own messages are written for developers and scripts: they name methods and
 * options. The app shows what failed and what the user can do, and keeps natterd's text
 * for the debug log. */

#define NATTER_DBUS_ERROR "io.github.natter.Chat.Error."

#define USER_NAME_RULE N_("Check the user name: it has only lower-case letters, digits, dots, dashes and underscores")

/* What the room controls (docs/dbus.md, “Rooms”) add to the general messages below, or
 * NULL where those say it. */
static const char *
room_message_for (const char    *name,
                  NatterRequest  request)
{
  const char *error_name;

  if (name == NULL || !g_str_has_prefix (name, NATTER_DBUS_ERROR))
    return NULL;
  error_name = name + strlen (NATTER_DBUS_ERROR);

  switch (request)
    {
    case NATTER_REQUEST_CREATE_ROOM:
      if (g_str_equal (error_name, "BadRequest"))
        return _("A room name has only lower-case letters, digits, dots, dashes and underscores, and a topic at most a few hundred characters");
      if (g_str_equal (error_name, "Conflict"))
        return _("A room of this name exists already. Join it, or choose another name.");
      if (g_str_equal (error_name, "Forbidden"))
        return _("You cannot create rooms on this server");
      if (g_str_equal (error_name, "RateLimited"))
        return _("You are creating rooms too fast. Wait a moment, then try again.");
      return NULL;
    case NATTER_REQUEST_DIRECTORY:
      if (g_str_equal (error_name, "RateLimited"))
        return _("The room list was asked for too often. Wait a moment, then try again.");
      return NULL;
    case NATTER_REQUEST_INVITE:
      if (g_str_equal (error_name, "BadRequest"))
        return _(USER_NAME_RULE);
      if (g_str_equal (error_name, "NotFound"))
        return _("There is no user of that name on this server");
      if (g_str_equal (error_name, "Forbidden"))
        return _("You cannot invite this person to this room");
      if (g_str_equal (error_name, "RateLimited"))
        return _("You are inviting people too fast. Wait a moment, then try again.");
      return NULL;
    case NATTER_REQUEST_KICK:
    case NATTER_REQUEST_BAN:
      if (g_str_equal (error_name, "BadRequest"))
        return _(USER_NAME_RULE);
      if (g_str_equal (error_name, "NotFound"))
        return request == NATTER_REQUEST_KICK ?
               _("This person is not a member of the room") :
               _("There is no user of that name on this server");
      if (g_str_equal (error_name, "Forbidden"))
        return _("Only moderators and owners can remove people; a moderator cannot remove an owner, and a room keeps at least one owner");
      return NULL;
    case NATTER_REQUEST_UNBAN:
      if (g_str_equal (error_name, "BadRequest"))
        return _(USER_NAME_RULE);
      if (g_str_equal (error_name, "NotFound"))
        return _("This person is not banned from the room");
      if (g_str_equal (error_name, "Forbidden"))
        return _("Only the room’s moderators and owners can let people back in");
      return NULL;
    case NATTER_REQUEST_SET_ROLE:
      if (g_str_equal (error_name, "NotFound"))
        return _("This person is not a member of the room");
      if (g_str_equal (error_name, "Forbidden"))
        return _("Only the room’s owners can change roles, and a room keeps at least one owner");
      return NULL;
    case NATTER_REQUEST_SET_TOPIC:
      if (g_str_equal (error_name, "BadRequest") || g_str_equal (error_name, "TooLarge"))
        return _("This topic is too long");
      if (g_str_equal (error_name, "Forbidden"))
        return _("Only the room’s moderators and owners can change its topic");
      return NULL;
    case NATTER_REQUEST_BLOCK:
      if (g_str_equal (error_name, "BadRequest"))
        return _(USER_NAME_RULE);
      if (g_str_equal (error_name, "NotFound"))
        return _("There is no user of that name on this server");
      return NULL;
    case NATTER_REQUEST_JOIN:
    case NATTER_REQUEST_DIRECT:
    case NATTER_REQUEST_SEND:
    case NATTER_REQUEST_LEAVE:
    case NATTER_REQUEST_SEARCH:
    case NATTER_REQUEST_CONNECT:
    case NATTER_REQUEST_CREATE_ACCOUNT:
    case NATTER_REQUEST_DISCONNECT:
    case NATTER_REQUEST_LISTEN:
    case NATTER_REQUEST_CHANGE_MESSAGE:
    default:
      return NULL;
    }
}

static const char *
message_for (const char    *name,
             const GError  *error,
             NatterRequest  request)
{
  const char *room_message = room_message_for (name, request);

  if (room_message != NULL)
    return room_message;
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
        case NATTER_REQUEST_CREATE_ROOM:
        case NATTER_REQUEST_DIRECTORY:
        case NATTER_REQUEST_INVITE:
        case NATTER_REQUEST_KICK:
        case NATTER_REQUEST_BAN:
        case NATTER_REQUEST_UNBAN:
        case NATTER_REQUEST_SET_ROLE:
        case NATTER_REQUEST_SET_TOPIC:
        case NATTER_REQUEST_BLOCK:
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
        case NATTER_REQUEST_CREATE_ROOM:
        case NATTER_REQUEST_DIRECTORY:
        case NATTER_REQUEST_INVITE:
        case NATTER_REQUEST_KICK:
        case NATTER_REQUEST_BAN:
        case NATTER_REQUEST_UNBAN:
        case NATTER_REQUEST_SET_ROLE:
        case NATTER_REQUEST_SET_TOPIC:
        case NATTER_REQUEST_BLOCK:
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
  if (g_strcmp0 (name, NATTER_DBUS_ERROR "RateLimited") == 0 && request >= NATTER_REQUEST_CREATE_ROOM)
    return _("Too many requests in a short time. Wait a moment, then try again.");
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
