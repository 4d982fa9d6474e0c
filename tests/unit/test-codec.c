/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-test-codec"

#include "config.h"

#include <math.h>
#include <string.h>

#include "natter-codec.h"
#include "natter-error.h"
#include "natter-test-json-node.h"

/* A string that needs every kind of JSON escape, and UTF-8 of 2, 3 and 4 bytes. */
#define TRICKY "h\xc3\xa9llo \"w\\o\" /\n\r\t\b\f\x01\x1f \xe2\x80\xa8 \xf0\x9f\x98\x80 </script>"

/* ------------------------------------------------------------------------------------ */
/* Helpers */

/* Decodes from an exact-size copy, so that a read past the end shows under ASan. */
static ProtobufCMessage *
decode (NatterCodec                        codec,
        const ProtobufCMessageDescriptor  *descriptor,
        const void                        *data,
        gsize                              len,
        GError                           **error)
{
  g_autofree guint8 *copy = len > 0 ? g_memdup2 (data, len) : NULL;

  return natter_codec_decode (codec, descriptor, copy, len, error);
}

static ProtobufCMessage *
decode_json (const ProtobufCMessageDescriptor  *descriptor,
             const char                        *text,
             GError                           **error)
{
  return decode (NATTER_CODEC_JSON, descriptor, text, strlen (text), error);
}

static char *
encode_json (const ProtobufCMessage *message)
{
  g_autoptr(GBytes) bytes = natter_codec_encode (NATTER_CODEC_JSON, message);
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  g_assert_true (g_utf8_validate_len (data, len, NULL));
  g_assert_null (memchr (data, '\n', len));
  return g_strndup (data, len);
}

/* Two messages are equal if their protobuf encodings are: protobuf-c packs fields in
 * number order, so the encoding is canonical for the messages built here. */
static void
assert_same_message (const ProtobufCMessage *expected,
                     const ProtobufCMessage *actual)
{
  g_autoptr(GBytes) a = NULL;
  g_autoptr(GBytes) b = NULL;

  g_assert_nonnull (actual);
  g_assert_true (expected->descriptor == actual->descriptor);
  a = natter_codec_encode (NATTER_CODEC_PROTO, expected);
  b = natter_codec_encode (NATTER_CODEC_PROTO, actual);
  g_assert_true (g_bytes_equal (a, b));
}

static void
check_round_trip (const ProtobufCMessage *message)
{
  g_autoptr(JsonNode) node = NULL;
  ProtobufCMessage *decoded;
  GError *error = NULL;

  for (NatterCodec codec = 0; codec < NATTER_CODEC_N; codec++)
    {
      g_autoptr(GBytes) bytes = natter_codec_encode (codec, message);
      g_autoptr(GBytes) again = NULL;
      gsize len;
      const guint8 *data = g_bytes_get_data (bytes, &len);

      decoded = decode (codec, message->descriptor, data, len, &error);
      g_assert_no_error (error);
      assert_same_message (message, decoded);
      /* And the decoded message encodes to the same bytes. */
      again = natter_codec_encode (codec, decoded);
      g_assert_true (g_bytes_equal (bytes, again));
      protobuf_c_message_free_unpacked (decoded, NULL);
    }

  /* Through the tests' JsonNode mapping. */
  node = natter_test_node_from_message (message);
  decoded = natter_test_node_to_message (message->descriptor, node, &error);
  g_assert_no_error (error);
  assert_same_message (message, decoded);
  protobuf_c_message_free_unpacked (decoded, NULL);
}

/* ------------------------------------------------------------------------------------ */
/* Frames with every field set */

typedef struct
{
  Natter__ClientFrame frame;
  Natter__Register    register_;
  Natter__Login       login;
  Natter__Join        join;
  Natter__Leave       leave;
  Natter__Send        send;
  Natter__Broadcast   broadcast;
  Natter__History     history;
  Natter__Rooms       rooms;
  Natter__Read        read;
  Natter__Typing      typing;
  Natter__Search      search;
  Natter__Logout      logout;
  Natter__Sessions    sessions;
  Natter__Revoke      revoke;
  Natter__Password    password;
  Natter__DeleteAccount delete_account;
  Natter__AdminUsers  admin_users;
  Natter__AdminUser   admin_user;
  Natter__Create      create;
  Natter__Invite      invite;
  Natter__Directory   directory;
  Natter__SetRole     set_role;
  Natter__Moderate    moderate;
  Natter__SetTopic    set_topic;
  Natter__Block       block;
  Natter__Edit        edit;
  Natter__Delete      delete_;
  Natter__React       react;
  Natter__SetNotificationLevel set_notification_level;
  Natter__Invitations invitations;
  Natter__Decline     decline;
  Natter__ModerationLog moderation_log;
} ClientFrames;

static void
build_client_frame (ClientFrames *s,
                    guint32       op)
{
  s->frame = (Natter__ClientFrame) NATTER__CLIENT_FRAME__INIT;
  s->frame.has_id = TRUE;
  s->frame.id = G_MAXUINT64;
  s->frame.op_case = op;

  switch (op)
    {
    case NATTER__CLIENT_FRAME__OP_REGISTER:
      s->register_ = (Natter__Register) NATTER__REGISTER__INIT;
      s->register_.user = (char *) "alice";
      s->register_.password = (char *) TRICKY;
      s->frame.register_ = &s->register_;
      break;
    case NATTER__CLIENT_FRAME__OP_LOGIN:
      s->login = (Natter__Login) NATTER__LOGIN__INIT;
      s->login.user = (char *) "alice";
      s->login.password = (char *) "secret";
      s->login.token = (char *) "tok-123_ABC";
      s->frame.login = &s->login;
      break;
    case NATTER__CLIENT_FRAME__OP_JOIN:
      s->join = (Natter__Join) NATTER__JOIN__INIT;
      s->join.room = (char *) "general";
      s->join.has_since_seq = TRUE;
      s->join.since_seq = G_MAXUINT64 - 1;
      s->frame.join = &s->join;
      break;
    case NATTER__CLIENT_FRAME__OP_LEAVE:
      s->leave = (Natter__Leave) NATTER__LEAVE__INIT;
      s->leave.room = (char *) "general";
      s->frame.leave = &s->leave;
      break;
    case NATTER__CLIENT_FRAME__OP_SEND:
      s->send = (Natter__Send) NATTER__SEND__INIT;
      s->send.room = (char *) "general";
      s->send.to = (char *) "bob";
      s->send.body = (char *) TRICKY;
      s->send.client_msg_id = (char *) "c-17";
      s->send.has_reply_to = TRUE;
      s->send.reply_to = G_MAXUINT64;
      s->frame.send = &s->send;
      break;
    case NATTER__CLIENT_FRAME__OP_BROADCAST:
      s->broadcast = (Natter__Broadcast) NATTER__BROADCAST__INIT;
      s->broadcast.body = (char *) "maintenance at 10:00";
      s->broadcast.client_msg_id = (char *) "b-1";
      s->frame.broadcast = &s->broadcast;
      break;
    case NATTER__CLIENT_FRAME__OP_HISTORY:
      s->history = (Natter__History) NATTER__HISTORY__INIT;
      s->history.room = (char *) "general";
      s->history.has_before_seq = TRUE;
      s->history.before_seq = 9007199254740993; /* 2^53 + 1: not a double */
      s->history.has_after_seq = TRUE;
      s->history.after_seq = 0;
      s->history.has_limit = TRUE;
      s->history.limit = G_MAXUINT32;
      s->frame.history = &s->history;
      break;
    case NATTER__CLIENT_FRAME__OP_ROOMS:
      s->rooms = (Natter__Rooms) NATTER__ROOMS__INIT;
      s->frame.rooms = &s->rooms;
      break;
    case NATTER__CLIENT_FRAME__OP_READ:
      s->read = (Natter__Read) NATTER__READ__INIT;
      s->read.room = (char *) "dm:alice:bob";
      s->read.has_seq = TRUE;
      s->read.seq = 42;
      s->frame.read = &s->read;
      break;
    case NATTER__CLIENT_FRAME__OP_TYPING:
      s->typing = (Natter__Typing) NATTER__TYPING__INIT;
      s->typing.room = (char *) "general";
      s->typing.has_active = TRUE;
      s->typing.active = FALSE;
      s->typing.user = (char *) "alice";
      s->frame.typing = &s->typing;
      break;
    case NATTER__CLIENT_FRAME__OP_SEARCH:
      s->search = (Natter__Search) NATTER__SEARCH__INIT;
      s->search.query = (char *) "caf\xc3\xa9 OR \"tea\"";
      s->search.room = (char *) "general";
      s->search.has_limit = TRUE;
      s->search.limit = 0;
      s->frame.search = &s->search;
      break;
    case NATTER__CLIENT_FRAME__OP_LOGOUT:
      s->logout = (Natter__Logout) NATTER__LOGOUT__INIT;
      s->logout.has_all = TRUE;
      s->logout.all = TRUE;
      s->frame.logout = &s->logout;
      break;
    case NATTER__CLIENT_FRAME__OP_SESSIONS:
      s->sessions = (Natter__Sessions) NATTER__SESSIONS__INIT;
      s->frame.sessions = &s->sessions;
      break;
    case NATTER__CLIENT_FRAME__OP_REVOKE:
      s->revoke = (Natter__Revoke) NATTER__REVOKE__INIT;
      s->revoke.session = (char *) "0123456789abcdef";
      s->frame.revoke = &s->revoke;
      break;
    case NATTER__CLIENT_FRAME__OP_PASSWORD:
      s->password = (Natter__Password) NATTER__PASSWORD__INIT;
      s->password.old = (char *) TRICKY;
      s->password.new_ = (char *) "new password";
      s->frame.password = &s->password;
      break;
    case NATTER__CLIENT_FRAME__OP_DELETE_ACCOUNT:
      s->delete_account = (Natter__DeleteAccount) NATTER__DELETE_ACCOUNT__INIT;
      s->delete_account.password = (char *) TRICKY;
      s->frame.delete_account = &s->delete_account;
      break;
    case NATTER__CLIENT_FRAME__OP_ADMIN_USERS:
      s->admin_users = (Natter__AdminUsers) NATTER__ADMIN_USERS__INIT;
      s->admin_users.query = (char *) "al";
      s->admin_users.has_limit = TRUE;
      s->admin_users.limit = G_MAXUINT32;
      s->frame.admin_users = &s->admin_users;
      break;
    case NATTER__CLIENT_FRAME__OP_ADMIN_DISABLE:
    case NATTER__CLIENT_FRAME__OP_ADMIN_ENABLE:
      s->admin_user = (Natter__AdminUser) NATTER__ADMIN_USER__INIT;
      s->admin_user.user = (char *) "mallory";
      if (op == NATTER__CLIENT_FRAME__OP_ADMIN_DISABLE)
        s->frame.admin_disable = &s->admin_user;
      else
        s->frame.admin_enable = &s->admin_user;
      break;
    case NATTER__CLIENT_FRAME__OP_CREATE:
      s->create = (Natter__Create) NATTER__CREATE__INIT;
      s->create.room = (char *) "plans";
      s->create.has_private_ = TRUE;
      s->create.private_ = TRUE;
      s->create.topic = (char *) TRICKY;
      s->frame.create = &s->create;
      break;
    case NATTER__CLIENT_FRAME__OP_INVITE:
      s->invite = (Natter__Invite) NATTER__INVITE__INIT;
      s->invite.room = (char *) "plans";
      s->invite.user = (char *) "bob";
      s->frame.invite = &s->invite;
      break;
    case NATTER__CLIENT_FRAME__OP_DIRECTORY:
      s->directory = (Natter__Directory) NATTER__DIRECTORY__INIT;
      s->directory.query = (char *) TRICKY;
      s->directory.has_limit = TRUE;
      s->directory.limit = G_MAXUINT32;
      s->frame.directory = &s->directory;
      break;
    case NATTER__CLIENT_FRAME__OP_SET_ROLE:
      s->set_role = (Natter__SetRole) NATTER__SET_ROLE__INIT;
      s->set_role.room = (char *) "plans";
      s->set_role.user = (char *) "bob";
      s->set_role.role = (char *) "moderator";
      s->frame.set_role = &s->set_role;
      break;
    case NATTER__CLIENT_FRAME__OP_KICK:
    case NATTER__CLIENT_FRAME__OP_BAN:
    case NATTER__CLIENT_FRAME__OP_UNBAN:
      s->moderate = (Natter__Moderate) NATTER__MODERATE__INIT;
      s->moderate.room = (char *) "plans";
      s->moderate.user = (char *) "mallory";
      s->moderate.reason = (char *) TRICKY;
      if (op == NATTER__CLIENT_FRAME__OP_KICK)
        s->frame.kick = &s->moderate;
      else if (op == NATTER__CLIENT_FRAME__OP_BAN)
        s->frame.ban = &s->moderate;
      else
        s->frame.unban = &s->moderate;
      break;
    case NATTER__CLIENT_FRAME__OP_SET_TOPIC:
      s->set_topic = (Natter__SetTopic) NATTER__SET_TOPIC__INIT;
      s->set_topic.room = (char *) "plans";
      s->set_topic.topic = (char *) TRICKY;
      s->frame.set_topic = &s->set_topic;
      break;
    case NATTER__CLIENT_FRAME__OP_BLOCK:
    case NATTER__CLIENT_FRAME__OP_UNBLOCK:
      s->block = (Natter__Block) NATTER__BLOCK__INIT;
      s->block.user = (char *) "mallory";
      if (op == NATTER__CLIENT_FRAME__OP_BLOCK)
        s->frame.block = &s->block;
      else
        s->frame.unblock = &s->block;
      break;
    case NATTER__CLIENT_FRAME__OP_EDIT:
      s->edit = (Natter__Edit) NATTER__EDIT__INIT;
      s->edit.room = (char *) "general";
      s->edit.has_seq = TRUE;
      s->edit.seq = G_MAXUINT64;
      s->edit.body = (char *) TRICKY;
      s->edit.client_msg_id = (char *) "e-1";
      s->frame.edit = &s->edit;
      break;
    case NATTER__CLIENT_FRAME__OP_DELETE:
      s->delete_ = (Natter__Delete) NATTER__DELETE__INIT;
      s->delete_.room = (char *) "dm:alice:bob";
      s->delete_.has_seq = TRUE;
      s->delete_.seq = 1;
      s->delete_.client_msg_id = (char *) "d-1";
      s->frame.delete_ = &s->delete_;
      break;
    case NATTER__CLIENT_FRAME__OP_REACT:
      s->react = (Natter__React) NATTER__REACT__INIT;
      s->react.room = (char *) "general";
      s->react.has_seq = TRUE;
      s->react.seq = 2;
      s->react.emoji = (char *) "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd";
      s->react.has_active = TRUE;
      s->react.active = FALSE;
      s->react.client_msg_id = (char *) "r-1";
      s->frame.react = &s->react;
      break;
    case NATTER__CLIENT_FRAME__OP_SET_NOTIFICATION_LEVEL:
      s->set_notification_level = (Natter__SetNotificationLevel) NATTER__SET_NOTIFICATION_LEVEL__INIT;
      s->set_notification_level.room = (char *) "general";
      s->set_notification_level.level = (char *) "mentions";
      s->frame.set_notification_level = &s->set_notification_level;
      break;
    case NATTER__CLIENT_FRAME__OP_INVITATIONS:
      s->invitations = (Natter__Invitations) NATTER__INVITATIONS__INIT;
      s->frame.invitations = &s->invitations;
      break;
    case NATTER__CLIENT_FRAME__OP_DECLINE:
      s->decline = (Natter__Decline) NATTER__DECLINE__INIT;
      s->decline.room = (char *) "plans";
      s->frame.decline = &s->decline;
      break;
    case NATTER__CLIENT_FRAME__OP_MODERATION_LOG:
      s->moderation_log = (Natter__ModerationLog) NATTER__MODERATION_LOG__INIT;
      s->moderation_log.room = (char *) "general";
      s->moderation_log.has_before_ts = TRUE;
      s->moderation_log.before_ts = G_MAXINT64;
      s->moderation_log.has_limit = TRUE;
      s->moderation_log.limit = G_MAXUINT32;
      s->frame.moderation_log = &s->moderation_log;
      break;
    default:
      g_error ("ClientFrame op %u has no test frame: add it here", op);
    }
}

typedef struct
{
  Natter__ServerFrame    frame;
  Natter__Welcome        welcome;
  Natter__RoomInfo       room_infos[2];
  Natter__RoomInfo      *room_info_ptrs[2];
  Natter__Joined         joined;
  char                  *members[3];
  char                  *online[2];
  Natter__Sent           sent;
  Natter__HistoryPage    history;
  Natter__Message        messages[2];
  Natter__Message       *message_ptrs[2];
  Natter__RoomList       room_list;
  Natter__Ok             ok;
  Natter__Error          error;
  Natter__Message        message;
  Natter__Presence       presence;
  Natter__Member         member;
  Natter__Typing         typing;
  Natter__Receipt        receipt;
  Natter__SearchResults  search_results;
  Natter__SessionInfo    session_infos[2];
  Natter__SessionInfo   *session_info_ptrs[2];
  Natter__SessionList    session_list;
  Natter__UserInfo       user_info;
  Natter__UserInfo      *user_info_ptrs[1];
  Natter__UserList       user_list;
  char                  *ended_ids[2];
  Natter__SessionsEnded  sessions_ended;
  Natter__Invited        invited;
  Natter__DirectoryRoom  directory_rooms[2];
  Natter__DirectoryRoom *directory_room_ptrs[2];
  Natter__DirectoryList  directory;
  Natter__Topic          topic;
  Natter__NotificationLevel notification_level;
  Natter__Invitation     invitation_items[2];
  Natter__Invitation    *invitation_ptrs[2];
  Natter__InvitationList invitation_list;
  Natter__ModerationEvent moderation_events[2];
  Natter__ModerationEvent *moderation_event_ptrs[2];
  Natter__ModerationLogPage moderation_log;
} ServerFrames;

static void
fill_message (Natter__Message *m,
              guint            i)
{
  static char *users[] = { (char *) "alice", (char *) "bob" };
  static char *mentions[] = { (char *) "bob" };
  static Natter__Reaction reaction = {
    PROTOBUF_C_MESSAGE_INIT (&natter__reaction__descriptor),
    (char *) "\xf0\x9f\x8e\x89", G_N_ELEMENTS (users), users,
  };
  static Natter__Reaction *reactions[] = { &reaction };

  *m = (Natter__Message) NATTER__MESSAGE__INIT;
  m->room = (char *) (i == 0 ? "general" : "dm:alice:bob");
  m->has_seq = TRUE;
  m->seq = i == 0 ? G_MAXUINT64 : 1;
  m->has_ts = TRUE;
  m->ts = i == 0 ? G_MININT64 : G_GINT64_CONSTANT (1700000000123);
  m->sender = (char *) "alice";
  m->body = (char *) (i == 0 ? TRICKY : "");
  m->client_msg_id = (char *) "c-1";
  m->kind = (char *) (i == 0 ? "text" : "reaction");
  if (i == 0)
    {
      m->has_reply_to = TRUE;
      m->reply_to = G_MAXUINT64;
      m->has_edited_ts = TRUE;
      m->edited_ts = G_MININT64;
      m->n_reactions = G_N_ELEMENTS (reactions);
      m->reactions = reactions;
      m->n_mentions = G_N_ELEMENTS (mentions);
      m->mentions = mentions;
    }
  else
    {
      m->has_target_seq = TRUE;
      m->target_seq = 1;
      m->has_active = TRUE;
      m->active = FALSE;
    }
}

static void
fill_room_infos (ServerFrames *s)
{
  for (guint i = 0; i < 2; i++)
    {
      Natter__RoomInfo *r = &s->room_infos[i];

      *r = (Natter__RoomInfo) NATTER__ROOM_INFO__INIT;
      r->name = (char *) (i == 0 ? "general" : "system");
      r->topic = (char *) (i == 0 ? TRICKY : "");
      r->has_last_seq = TRUE;
      r->last_seq = G_MAXUINT64 - i;
      r->has_unread = TRUE;
      r->unread = i;
      r->kind = (char *) (i == 0 ? "room" : "system");
      r->has_read_seq = TRUE;
      r->read_seq = G_MAXINT64 + (guint64) i;
      r->has_private_ = TRUE;
      r->private_ = i == 0;
      r->role = (char *) (i == 0 ? "owner" : "member");
      s->room_info_ptrs[i] = r;
    }
}

static void
fill_messages (ServerFrames *s)
{
  for (guint i = 0; i < 2; i++)
    {
      fill_message (&s->messages[i], i);
      s->message_ptrs[i] = &s->messages[i];
    }
}

static void
build_server_frame (ServerFrames *s,
                    guint32       event)
{
  s->frame = (Natter__ServerFrame) NATTER__SERVER_FRAME__INIT;
  s->frame.has_id = TRUE;
  s->frame.id = 7;
  s->frame.event_case = event;

  switch (event)
    {
    case NATTER__SERVER_FRAME__EVENT_WELCOME:
      fill_room_infos (s);
      s->welcome = (Natter__Welcome) NATTER__WELCOME__INIT;
      s->welcome.user = (char *) "alice";
      s->welcome.token = (char *) "tok";
      s->welcome.epoch = (char *) "3f2a";
      s->welcome.n_rooms = 2;
      s->welcome.rooms = s->room_info_ptrs;
      s->welcome.has_admin = TRUE;
      s->welcome.admin = TRUE;
      s->welcome.node = (char *) "node-1";
      s->frame.welcome = &s->welcome;
      break;
    case NATTER__SERVER_FRAME__EVENT_JOINED:
      s->joined = (Natter__Joined) NATTER__JOINED__INIT;
      s->joined.room = (char *) "general";
      s->joined.has_last_seq = TRUE;
      s->joined.last_seq = 0;
      s->members[0] = (char *) "alice";
      s->members[1] = (char *) "bob";
      s->members[2] = (char *) TRICKY;
      s->joined.n_members = 3;
      s->joined.members = s->members;
      s->joined.has_has_more = TRUE;
      s->joined.has_more = TRUE;
      s->online[0] = (char *) "alice";
      s->online[1] = (char *) "";
      s->joined.n_online = 2;
      s->joined.online = s->online;
      s->joined.kind = (char *) "room";
      s->joined.topic = (char *) "Talk";
      s->joined.has_private_ = TRUE;
      s->joined.private_ = TRUE;
      s->joined.role = (char *) "moderator";
      s->frame.joined = &s->joined;
      break;
    case NATTER__SERVER_FRAME__EVENT_SENT:
      s->sent = (Natter__Sent) NATTER__SENT__INIT;
      s->sent.room = (char *) "general";
      s->sent.has_seq = TRUE;
      s->sent.seq = 17;
      s->sent.has_ts = TRUE;
      s->sent.ts = G_MAXINT64;
      s->sent.client_msg_id = (char *) "c-17";
      s->frame.sent = &s->sent;
      break;
    case NATTER__SERVER_FRAME__EVENT_HISTORY:
      fill_messages (s);
      s->history = (Natter__HistoryPage) NATTER__HISTORY_PAGE__INIT;
      s->history.room = (char *) "general";
      s->history.n_messages = 2;
      s->history.messages = s->message_ptrs;
      s->history.has_has_more = TRUE;
      s->history.has_more = FALSE;
      s->frame.history = &s->history;
      break;
    case NATTER__SERVER_FRAME__EVENT_ROOM_LIST:
      fill_room_infos (s);
      s->room_list = (Natter__RoomList) NATTER__ROOM_LIST__INIT;
      s->room_list.n_rooms = 2;
      s->room_list.rooms = s->room_info_ptrs;
      s->frame.room_list = &s->room_list;
      break;
    case NATTER__SERVER_FRAME__EVENT_OK:
      s->ok = (Natter__Ok) NATTER__OK__INIT;
      s->frame.ok = &s->ok;
      break;
    case NATTER__SERVER_FRAME__EVENT_ERROR:
      s->error = (Natter__Error) NATTER__ERROR__INIT;
      s->error.code = (char *) "rate_limited";
      s->error.message = (char *) TRICKY;
      s->error.has_retry_after_ms = TRUE;
      s->error.retry_after_ms = G_MAXUINT32;
      s->frame.error = &s->error;
      break;
    case NATTER__SERVER_FRAME__EVENT_MESSAGE:
      s->frame.has_id = FALSE;
      s->frame.id = 0;
      fill_message (&s->message, 0);
      s->frame.message = &s->message;
      break;
    case NATTER__SERVER_FRAME__EVENT_PRESENCE:
      s->presence = (Natter__Presence) NATTER__PRESENCE__INIT;
      s->presence.user = (char *) "bob";
      s->presence.has_online = TRUE;
      s->presence.online = TRUE;
      s->frame.presence = &s->presence;
      break;
    case NATTER__SERVER_FRAME__EVENT_MEMBER:
      s->member = (Natter__Member) NATTER__MEMBER__INIT;
      s->member.room = (char *) "general";
      s->member.user = (char *) "bob";
      s->member.has_joined = TRUE;
      s->member.joined = FALSE;
      s->member.role = (char *) "member";
      s->member.by = (char *) "alice";
      s->member.has_banned = TRUE;
      s->member.banned = TRUE;
      s->frame.member = &s->member;
      break;
    case NATTER__SERVER_FRAME__EVENT_TYPING:
      s->typing = (Natter__Typing) NATTER__TYPING__INIT;
      s->typing.room = (char *) "general";
      s->typing.has_active = TRUE;
      s->typing.active = TRUE;
      s->typing.user = (char *) "bob";
      s->frame.typing = &s->typing;
      break;
    case NATTER__SERVER_FRAME__EVENT_RECEIPT:
      s->receipt = (Natter__Receipt) NATTER__RECEIPT__INIT;
      s->receipt.room = (char *) "general";
      s->receipt.user = (char *) "bob";
      s->receipt.has_seq = TRUE;
      s->receipt.seq = 12345678901234;
      s->frame.receipt = &s->receipt;
      break;
    case NATTER__SERVER_FRAME__EVENT_SEARCH_RESULTS:
      fill_messages (s);
      s->search_results = (Natter__SearchResults) NATTER__SEARCH_RESULTS__INIT;
      s->search_results.n_messages = 2;
      s->search_results.messages = s->message_ptrs;
      s->frame.search_results = &s->search_results;
      break;
    case NATTER__SERVER_FRAME__EVENT_SESSION_LIST:
      for (guint i = 0; i < 2; i++)
        {
          Natter__SessionInfo *info = &s->session_infos[i];

          *info = (Natter__SessionInfo) NATTER__SESSION_INFO__INIT;
          info->id = (char *) (i == 0 ? "0123456789abcdef" : "fedcba9876543210");
          info->has_created_ts = TRUE;
          info->created_ts = i == 0 ? 0 : G_GINT64_CONSTANT (1700000000123);
          info->has_last_seen_ts = TRUE;
          info->last_seen_ts = G_MAXINT64;
          /* Unknown for sessions from before agents were recorded. */
          info->agent = (char *) (i == 0 ? NULL : TRICKY);
          info->has_current = TRUE;
          info->current = i == 1;
          s->session_info_ptrs[i] = info;
        }
      s->session_list = (Natter__SessionList) NATTER__SESSION_LIST__INIT;
      s->session_list.n_sessions = 2;
      s->session_list.sessions = s->session_info_ptrs;
      s->frame.session_list = &s->session_list;
      break;
    case NATTER__SERVER_FRAME__EVENT_USER_LIST:
      s->user_info = (Natter__UserInfo) NATTER__USER_INFO__INIT;
      s->user_info.user = (char *) "alice";
      s->user_info.has_admin = TRUE;
      s->user_info.admin = FALSE;
      s->user_info.has_disabled = TRUE;
      s->user_info.disabled = TRUE;
      s->user_info.has_created_ts = TRUE;
      s->user_info.created_ts = G_GINT64_CONSTANT (1700000000123);
      s->user_info_ptrs[0] = &s->user_info;
      s->user_list = (Natter__UserList) NATTER__USER_LIST__INIT;
      s->user_list.n_users = 1;
      s->user_list.users = s->user_info_ptrs;
      s->frame.user_list = &s->user_list;
      break;
    case NATTER__SERVER_FRAME__EVENT_SESSIONS_ENDED:
      s->ended_ids[0] = (char *) "0123456789abcdef";
      s->ended_ids[1] = (char *) "fedcba9876543210";
      s->sessions_ended = (Natter__SessionsEnded) NATTER__SESSIONS_ENDED__INIT;
      s->sessions_ended.user = (char *) "alice";
      s->sessions_ended.n_sessions = 2;
      s->sessions_ended.sessions = s->ended_ids;
      s->sessions_ended.has_all = TRUE;
      s->sessions_ended.all = FALSE;
      s->sessions_ended.reason = (char *) TRICKY;
      s->frame.sessions_ended = &s->sessions_ended;
      break;
    case NATTER__SERVER_FRAME__EVENT_INVITE:
      s->invited = (Natter__Invited) NATTER__INVITED__INIT;
      s->invited.room = (char *) "plans";
      s->invited.by = (char *) "alice";
      s->frame.invite = &s->invited;
      break;
    case NATTER__SERVER_FRAME__EVENT_DIRECTORY:
      for (guint i = 0; i < 2; i++)
        {
          Natter__DirectoryRoom *r = &s->directory_rooms[i];

          *r = (Natter__DirectoryRoom) NATTER__DIRECTORY_ROOM__INIT;
          r->name = (char *) (i == 0 ? "general" : "knitting");
          r->topic = (char *) (i == 0 ? TRICKY : "");
          r->has_members = TRUE;
          r->members = i == 0 ? G_MAXUINT32 : 0;
          s->directory_room_ptrs[i] = r;
        }
      s->directory = (Natter__DirectoryList) NATTER__DIRECTORY_LIST__INIT;
      s->directory.n_rooms = 2;
      s->directory.rooms = s->directory_room_ptrs;
      s->frame.directory = &s->directory;
      break;
    case NATTER__SERVER_FRAME__EVENT_TOPIC:
      s->topic = (Natter__Topic) NATTER__TOPIC__INIT;
      s->topic.room = (char *) "general";
      s->topic.topic = (char *) TRICKY;
      s->topic.by = (char *) "alice";
      s->frame.topic = &s->topic;
      break;
    case NATTER__SERVER_FRAME__EVENT_NOTIFICATION_LEVEL:
      s->notification_level = (Natter__NotificationLevel) NATTER__NOTIFICATION_LEVEL__INIT;
      s->notification_level.room = (char *) "general";
      s->notification_level.level = (char *) "none";
      s->frame.notification_level = &s->notification_level;
      break;
    case NATTER__SERVER_FRAME__EVENT_INVITATION_LIST:
      for (guint i = 0; i < 2; i++)
        {
          Natter__Invitation *inv = &s->invitation_items[i];

          *inv = (Natter__Invitation) NATTER__INVITATION__INIT;
          inv->room = (char *) (i == 0 ? "plans" : "garden");
          inv->by = (char *) (i == 0 ? "alice" : TRICKY);
          inv->has_ts = TRUE;
          inv->ts = i == 0 ? G_MAXINT64 : 0;
          s->invitation_ptrs[i] = inv;
        }
      s->invitation_list = (Natter__InvitationList) NATTER__INVITATION_LIST__INIT;
      s->invitation_list.n_invitations = 2;
      s->invitation_list.invitations = s->invitation_ptrs;
      s->frame.invitation_list = &s->invitation_list;
      break;
    case NATTER__SERVER_FRAME__EVENT_MODERATION_LOG:
      for (guint i = 0; i < 2; i++)
        {
          Natter__ModerationEvent *e = &s->moderation_events[i];

          *e = (Natter__ModerationEvent) NATTER__MODERATION_EVENT__INIT;
          e->has_ts = TRUE;
          e->ts = i == 0 ? 1 : G_MAXINT64;
          e->kind = (char *) (i == 0 ? "kick" : "topic");
          e->user = (char *) "bob";
          e->by = (char *) "alice";
          e->reason = i == 0 ? (char *) TRICKY : NULL;
          e->topic = i == 1 ? (char *) TRICKY : NULL;
          s->moderation_event_ptrs[i] = e;
        }
      s->moderation_log = (Natter__ModerationLogPage) NATTER__MODERATION_LOG_PAGE__INIT;
      s->moderation_log.room = (char *) "general";
      s->moderation_log.n_events = 2;
      s->moderation_log.events = s->moderation_event_ptrs;
      s->frame.moderation_log = &s->moderation_log;
      break;
    default:
      g_error ("ServerFrame event %u has no test frame: add it here", event);
    }
}

/* Every member of the frame's oneof has a test: a case added to the schema without
 * one makes the builder fail. */
static void
test_round_trip_client (gconstpointer data)
{
  ClientFrames s;

  build_client_frame (&s, GPOINTER_TO_UINT (data));
  check_round_trip (&s.frame.base);
}

static void
test_round_trip_server (gconstpointer data)
{
  ServerFrames s;

  build_server_frame (&s, GPOINTER_TO_UINT (data));
  check_round_trip (&s.frame.base);
}

static void
test_round_trip_empty (void)
{
  Natter__ClientFrame client = NATTER__CLIENT_FRAME__INIT;
  Natter__ServerFrame server = NATTER__SERVER_FRAME__INIT;

  check_round_trip (&client.base);
  check_round_trip (&server.base);
}

/* ------------------------------------------------------------------------------------ */
/* Exact JSON */

static void
test_json_decode_send (void)
{
  const char *text = "{\"id\":3,\"send\":{\"room\":\"general\",\"body\":\"hi\","
                     "\"client_msg_id\":\"c-17\"}}";
  g_autoptr(Natter__ClientFrame) frame = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *again = NULL;

  frame = natter_codec_decode_client_frame (NATTER_CODEC_JSON, (const guint8 *) text,
                                            strlen (text), &error);
  g_assert_no_error (error);
  g_assert_true (frame->has_id);
  g_assert_cmpuint (frame->id, ==, 3);
  g_assert_cmpint (frame->op_case, ==, NATTER__CLIENT_FRAME__OP_SEND);
  g_assert_cmpstr (frame->send->room, ==, "general");
  g_assert_null (frame->send->to);
  g_assert_cmpstr (frame->send->body, ==, "hi");
  g_assert_cmpstr (frame->send->client_msg_id, ==, "c-17");

  again = encode_json (&frame->base);
  g_assert_cmpstr (again, ==, text);
}

static void
test_json_decode_empty (void)
{
  g_autoptr(Natter__ClientFrame) frame = NULL;
  g_autoptr(GError) error = NULL;

  /* No operation is the dispatcher's error ("missing operation"), not the codec's. */
  frame = natter_codec_decode_client_frame (NATTER_CODEC_JSON, (const guint8 *) "{}", 2,
                                            &error);
  g_assert_no_error (error);
  g_assert_false (frame->has_id);
  g_assert_cmpint (frame->op_case, ==, NATTER__CLIENT_FRAME__OP__NOT_SET);
  natter_client_frame_free (g_steal_pointer (&frame));

  frame = natter_codec_decode_client_frame (NATTER_CODEC_JSON,
                                            (const guint8 *) "{\"id\":null,\"send\":null}",
                                            23, &error);
  g_assert_no_error (error);
  g_assert_false (frame->has_id);
  g_assert_cmpint (frame->op_case, ==, NATTER__CLIENT_FRAME__OP__NOT_SET);
  natter_client_frame_free (g_steal_pointer (&frame));

  frame = natter_codec_decode_client_frame (NATTER_CODEC_PROTO, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_false (frame->has_id);
  g_assert_cmpint (frame->op_case, ==, NATTER__CLIENT_FRAME__OP__NOT_SET);
}

static void
test_json_encode_sent (void)
{
  Natter__Sent sent = NATTER__SENT__INIT;
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  g_autofree char *text = NULL;

  sent.room = (char *) "general";
  sent.has_seq = TRUE;
  sent.seq = 17;
  sent.has_ts = TRUE;
  sent.ts = G_GINT64_CONSTANT (1700000000123);
  sent.client_msg_id = (char *) "c-17";
  frame.has_id = TRUE;
  frame.id = 3;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_SENT;
  frame.sent = &sent;

  text = encode_json (&frame.base);
  g_assert_cmpstr (text, ==,
                   "{\"id\":3,\"sent\":{\"room\":\"general\",\"seq\":17,\"ts\":1700000000123,"
                   "\"client_msg_id\":\"c-17\"}}");
}

static void
test_json_encode_values (void)
{
  Natter__ServerFrame frame = NATTER__SERVER_FRAME__INIT;
  Natter__Ok ok = NATTER__OK__INIT;
  Natter__Joined joined = NATTER__JOINED__INIT;
  Natter__Typing typing = NATTER__TYPING__INIT;
  Natter__Message message = NATTER__MESSAGE__INIT;
  char *members[] = { (char *) "a", (char *) "b" };
  g_autofree char *text = NULL;

  text = encode_json (&frame.base);
  g_assert_cmpstr (text, ==, "{}");
  g_clear_pointer (&text, g_free);

  frame.has_id = TRUE;
  frame.id = 5;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_OK;
  frame.ok = &ok;
  text = encode_json (&frame.base);
  g_assert_cmpstr (text, ==, "{\"id\":5,\"ok\":{}}");
  g_clear_pointer (&text, g_free);

  /* A false or zero that is present is written; an empty list is not. */
  joined.room = (char *) "r";
  joined.has_last_seq = TRUE;
  joined.n_members = 2;
  joined.members = members;
  joined.has_has_more = TRUE;
  frame.has_id = FALSE;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_JOINED;
  frame.joined = &joined;
  text = encode_json (&frame.base);
  g_assert_cmpstr (text, ==,
                   "{\"joined\":{\"room\":\"r\",\"last_seq\":0,\"members\":[\"a\",\"b\"],"
                   "\"has_more\":false}}");
  g_clear_pointer (&text, g_free);

  typing.room = (char *) "r";
  typing.has_active = TRUE;
  frame.event_case = NATTER__SERVER_FRAME__EVENT_TYPING;
  frame.typing = &typing;
  text = encode_json (&frame.base);
  g_assert_cmpstr (text, ==, "{\"typing\":{\"room\":\"r\",\"active\":false}}");
  g_clear_pointer (&text, g_free);

  /* 64-bit extremes are plain numbers; strings are escaped only where JSON needs it. */
  message.has_seq = TRUE;
  message.seq = G_MAXUINT64;
  message.has_ts = TRUE;
  message.ts = G_MININT64;
  message.body = (char *) "a\"b\\c/\nd\x01\x1f\x7f \xc3\xa9 \xe2\x80\xa8";
  frame.event_case = NATTER__SERVER_FRAME__EVENT_MESSAGE;
  frame.message = &message;
  text = encode_json (&frame.base);
  g_assert_cmpstr (text, ==,
                   "{\"message\":{\"seq\":18446744073709551615,\"ts\":-9223372036854775808,"
                   "\"body\":\"a\\\"b\\\\c/\\nd\\u0001\\u001f\x7f \xc3\xa9 \xe2\x80\xa8\"}}");
  g_clear_pointer (&text, g_free);

  /* A string that is not UTF-8 (a bug of the caller) still makes valid JSON. */
  message.has_seq = FALSE;
  message.has_ts = FALSE;
  message.body = (char *) "a\xff" "b";
  text = encode_json (&frame.base);
  g_assert_cmpstr (text, ==, "{\"message\":{\"body\":\"a\xef\xbf\xbd" "b\"}}");
}

typedef struct
{
  const char *input;
  const char *canonical;
} AcceptCase;

static const AcceptCase client_accept_cases[] = {
  { "{}", "{}" },
  { " \r\n\t{ \"id\" : 3 , \"rooms\" : { } } \n", "{\"id\":3,\"rooms\":{}}" },
  { "{\"id\":null,\"send\":null}", "{}" },
  { "{\"join\":null,\"send\":{\"room\":\"x\"}}", "{\"send\":{\"room\":\"x\"}}" },
  { "{\"id\":18446744073709551615}", "{\"id\":18446744073709551615}" },
  { "{\"id\":\"18446744073709551615\"}", "{\"id\":18446744073709551615}" },
  { "{\"id\":\"007\"}", "{\"id\":7}" },
  { "{\"id\":-0}", "{\"id\":0}" },
  { "{\"id\":\"-0\"}", "{\"id\":0}" },
  { "{\"id\":1.0}", "{\"id\":1}" },
  { "{\"id\":1e2}", "{\"id\":100}" },
  { "{\"id\":1E+2}", "{\"id\":100}" },
  { "{\"id\":1e19}", "{\"id\":10000000000000000000}" },
  { "{\"history\":{\"room\":\"r\",\"before_seq\":\"5\",\"after_seq\":0,\"limit\":200}}",
    "{\"history\":{\"room\":\"r\",\"before_seq\":5,\"after_seq\":0,\"limit\":200}}" },
  { "{\"history\":{\"limit\":4294967295}}", "{\"history\":{\"limit\":4294967295}}" },
  { "{\"typing\":{\"room\":\"r\",\"active\":false}}",
    "{\"typing\":{\"room\":\"r\",\"active\":false}}" },
  { "{\"s\\u0065nd\":{\"body\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\/ \\b\\f\\n\\r\\t\"}}",
    "{\"send\":{\"body\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 \\\"q\\\" / \\b\\f\\n\\r\\t\"}}" },
  { "{\"send\":{\"body\":\"\"}}", "{\"send\":{\"body\":\"\"}}" },
  { "{\"send\":{\"body\":\"\\u0001\\u007f\"}}", "{\"send\":{\"body\":\"\\u0001\x7f\"}}" },
};

static const AcceptCase server_accept_cases[] = {
  { "{\"sent\":{\"ts\":-9223372036854775808}}", "{\"sent\":{\"ts\":-9223372036854775808}}" },
  { "{\"sent\":{\"ts\":\"-9223372036854775808\"}}",
    "{\"sent\":{\"ts\":-9223372036854775808}}" },
  { "{\"sent\":{\"ts\":9223372036854775807}}", "{\"sent\":{\"ts\":9223372036854775807}}" },
  { "{\"sent\":{\"ts\":-5.0}}", "{\"sent\":{\"ts\":-5}}" },
  { "{\"joined\":{\"members\":[],\"online\":[\"a\"]}}", "{\"joined\":{\"online\":[\"a\"]}}" },
  { "{\"welcome\":{\"rooms\":[{\"name\":\"a\"},{}],\"admin\":true}}",
    "{\"welcome\":{\"rooms\":[{\"name\":\"a\"},{}],\"admin\":true}}" },
  { "{\"history\":{\"messages\":[{\"seq\":\"18446744073709551615\"}]}}",
    "{\"history\":{\"messages\":[{\"seq\":18446744073709551615}]}}" },
  { "{\"error\":{\"code\":\"forbidden\",\"message\":null}}",
    "{\"error\":{\"code\":\"forbidden\"}}" },
};

static void
check_accept_cases (const ProtobufCMessageDescriptor *descriptor,
                    const AcceptCase                 *cases,
                    gsize                             n_cases)
{
  for (gsize i = 0; i < n_cases; i++)
    {
      ProtobufCMessage *message;
      g_autofree char *text = NULL;
      GError *error = NULL;
      g_autofree char *escaped = g_strescape (cases[i].input, NULL);

      g_test_message ("accept: %s", escaped);
      message = decode_json (descriptor, cases[i].input, &error);
      g_assert_no_error (error);
      text = encode_json (message);
      g_assert_cmpstr (text, ==, cases[i].canonical);
      protobuf_c_message_free_unpacked (message, NULL);
    }
}

static void
test_json_accept (void)
{
  check_accept_cases (&natter__client_frame__descriptor, client_accept_cases,
                      G_N_ELEMENTS (client_accept_cases));
  check_accept_cases (&natter__server_frame__descriptor, server_accept_cases,
                      G_N_ELEMENTS (server_accept_cases));
}

/* ------------------------------------------------------------------------------------ */
/* Rejected input */

#define SYNTAX "frame is not valid JSON: "

typedef struct
{
  const char *input;
  const char *message;  /* exact, or a prefix if it ends with ": " */
} RejectCase;

static const RejectCase client_reject_cases[] = {
  /* Not JSON, or not one object */
  { "", SYNTAX },
  { "   ", SYNTAX },
  { "{\"id\":", SYNTAX },
  { "{\"id\":1", SYNTAX },
  { "{\"id\":1}{\"id\":2}", SYNTAX },
  { "{\"id\":1} x", SYNTAX },
  { "{\"id\":01}", SYNTAX },
  { "{\"id\":0x10}", SYNTAX },
  { "{\"id\":.5}", SYNTAX },
  { "{\"id\":1.}", SYNTAX },
  { "{\"id\":1e}", SYNTAX },
  { "{\"id\":+1}", SYNTAX },
  { "{\"id\":-}", SYNTAX },
  { "{\"id\":NaN}", SYNTAX },
  { "{\"id\":Infinity}", SYNTAX },
  { "{\"id\":tru}", SYNTAX },
  { "{\"id\":nul}", SYNTAX },
  { "{'id':1}", SYNTAX },
  { "{id:1}", SYNTAX },
  { "{\"id\":1,}", SYNTAX },
  { "{\"id\" 1}", SYNTAX },
  { "{\"id\":1 /* c */}", SYNTAX },
  { "{\"send\":{\"body\":\"a\\qb\"}}", SYNTAX },
  { "{\"send\":{\"body\":\"a\\u12\"}}", SYNTAX },
  { "{\"send\":{\"body\":\"a\\u12g4\"}}", SYNTAX },
  { "{\"send\":{\"body\":\"tab\there\"}}", SYNTAX },
  { "{\"send\":{\"body\":\"abc", SYNTAX },
  { "{\"send\":{\"body\":\"abc\\", SYNTAX },
  { "{\"id\":1}\xff", SYNTAX },
  { "\xef\xbb\xbf{}", SYNTAX },
  { "[1]", "frame is not a JSON object" },
  { "[]", "frame is not a JSON object" },
  { "\"x\"", "frame is not a JSON object" },
  { "null", "frame is not a JSON object" },
  { "42", "frame is not a JSON object" },

  /* Fields */
  { "{\"foo\":1}", "unknown field \"foo\" in ClientFrame" },
  { "{\"send\":{\"foo\":1}}", "unknown field \"foo\" in send" },
  { "{\"send\":{\"clientMsgId\":\"x\"}}", "unknown field \"clientMsgId\" in send" },
  { "{\"id\":1,\"id\":2}", "duplicate field \"id\" in ClientFrame" },
  { "{\"id\":1,\"\\u0069d\":2}", "duplicate field \"id\" in ClientFrame" },
  { "{\"send\":{},\"send\":{}}", "duplicate field \"send\" in ClientFrame" },
  { "{\"send\":{\"body\":\"a\",\"body\":\"b\"}}", "duplicate field \"body\" in send" },
  { "{\"join\":{},\"send\":{}}", "more than one operation (join, send)" },
  { "{\"send\":{\"room\":\"a\"},\"join\":{\"room\":\"b\"}}",
    "more than one operation (send, join)" },
  { "{\"rooms\":{},\"id\":1,\"search\":{\"query\":\"x\"}}",
    "more than one operation (rooms, search)" },

  /* Types */
  { "{\"id\":3,\"send\":{\"room\":5}}", "send.room: expected a string" },
  { "{\"send\":{\"room\":true}}", "send.room: expected a string" },
  { "{\"send\":{\"room\":{}}}", "send.room: expected a string" },
  { "{\"send\":{\"room\":[\"a\"]}}", "send.room: expected a string" },
  { "{\"send\":{\"room\":99999999999999999999}}", "send.room: expected a string" },
  { "{\"id\":\"abc\"}", "id: expected an integer" },
  { "{\"id\":true}", "id: expected an integer" },
  { "{\"id\":[]}", "id: expected an integer" },
  { "{\"id\":{}}", "id: expected an integer" },
  { "{\"typing\":{\"active\":1}}", "typing.active: expected true or false" },
  { "{\"typing\":{\"active\":\"true\"}}", "typing.active: expected true or false" },
  { "{\"send\":[]}", "send: expected an object" },
  { "{\"send\":\"x\"}", "send: expected an object" },
  { "{\"send\":1}", "send: expected an object" },
  { "{\"rooms\":true}", "rooms: expected an object" },

  /* Numbers */
  { "{\"id\":18446744073709551616}", "id: out of range" },
  { "{\"id\":99999999999999999999999}", "id: out of range" },
  { "{\"id\":-9223372036854775809}", "id: out of range" },
  { "{\"id\":1e400}", "id: out of range" },
  { "{\"id\":-1e400}", "id: out of range" },
  { "{\"id\":1.8446744073709552e19}", "id: out of range" },
  { "{\"id\":1.5}", "id: expected an integer" },
  { "{\"id\":1e-5}", "id: expected an integer" },
  { "{\"id\":-1}", "id: out of range" },
  { "{\"join\":{\"since_seq\":-1}}", "join.since_seq: out of range" },
  { "{\"history\":{\"limit\":4294967296}}", "history.limit: out of range" },
  { "{\"history\":{\"limit\":-1}}", "history.limit: out of range" },
  { "{\"history\":{\"limit\":\"4294967296\"}}", "history.limit: out of range" },
  { "{\"id\":\"18446744073709551616\"}", "id: out of range" },
  { "{\"id\":\"99999999999999999999999999999x\"}", "id: expected an integer" },
  { "{\"id\":\"-1\"}", "id: out of range" },
  { "{\"id\":\"1.5\"}", "id: expected an integer" },
  { "{\"id\":\"1e2\"}", "id: expected an integer" },
  { "{\"id\":\" 1\"}", "id: expected an integer" },
  { "{\"id\":\"+1\"}", "id: expected an integer" },
  { "{\"id\":\"-\"}", "id: expected an integer" },
  { "{\"id\":\"\"}", "id: expected an integer" },
  { "{\"id\":\"0x10\"}", "id: expected an integer" },

  /* Strings */
  { "{\"send\":{\"body\":\"\xff\"}}", "send.body: string is not valid UTF-8" },
  { "{\"send\":{\"body\":\"\xc0\xaf\"}}", "send.body: string is not valid UTF-8" },
  { "{\"send\":{\"body\":\"\xed\xa0\x80\"}}", "send.body: string is not valid UTF-8" },
  { "{\"send\":{\"body\":\"\xe2\x82\"}}", "send.body: string is not valid UTF-8" },
  { "{\"send\":{\"body\":\"\xf4\x90\x80\x80\"}}", "send.body: string is not valid UTF-8" },
  { "{\"\xff\":1}", "field name is not valid UTF-8" },
  { "{\"send\":{\"\xff\":1}}", "send: field name is not valid UTF-8" },
  { "{\"send\":{\"body\":\"a\\u0000b\"}}", "send.body: string contains a NUL character" },
  { "{\"send\":{\"body\":\"\\u0000\"}}", "send.body: string contains a NUL character" },
  { "{\"a\\u0000\":1}", "field name contains a NUL character" },
  { "{\"send\":{\"body\":\"\\ud800\"}}",
    "send.body: string contains an unpaired surrogate escape" },
  { "{\"send\":{\"body\":\"\\udc00\"}}",
    "send.body: string contains an unpaired surrogate escape" },
  { "{\"send\":{\"body\":\"\\ud800\\u0041\"}}",
    "send.body: string contains an unpaired surrogate escape" },
  { "{\"send\":{\"body\":\"\\ud800x\"}}",
    "send.body: string contains an unpaired surrogate escape" },
  { "{\"send\":{\"body\":\"\\ud800\\ud800\"}}",
    "send.body: string contains an unpaired surrogate escape" },
};

static const RejectCase server_reject_cases[] = {
  { "{\"sent\":{\"ts\":9223372036854775808}}", "sent.ts: out of range" },
  { "{\"sent\":{\"ts\":-9223372036854775809}}", "sent.ts: out of range" },
  { "{\"sent\":{\"ts\":\"9223372036854775808\"}}", "sent.ts: out of range" },
  { "{\"sent\":{\"ts\":9.3e18}}", "sent.ts: out of range" },
  { "{\"error\":{\"retry_after_ms\":4294967296}}", "error.retry_after_ms: out of range" },
  { "{\"joined\":{\"members\":\"a\"}}", "joined.members: expected an array" },
  { "{\"joined\":{\"members\":{}}}", "joined.members: expected an array" },
  { "{\"joined\":{\"members\":[1]}}", "joined.members[0]: expected a string" },
  { "{\"joined\":{\"members\":[\"a\",[]]}}", "joined.members[1]: expected a string" },
  { "{\"joined\":{\"members\":[99999999999999999999]}}",
    "joined.members[0]: expected a string" },
  { "{\"joined\":{\"members\":[\"a\",null]}}",
    "joined.members[1]: null is not allowed in a list" },
  { "{\"joined\":{\"members\":[\"a\",\"\\u0000\"]}}",
    "joined.members[1]: string contains a NUL character" },
  { "{\"welcome\":{\"rooms\":[{\"name\":5}]}}", "welcome.rooms[0].name: expected a string" },
  { "{\"welcome\":{\"rooms\":[{},{\"bogus\":1}]}}",
    "unknown field \"bogus\" in welcome.rooms[1]" },
  { "{\"welcome\":{\"rooms\":[{},{\"name\":\"a\",\"name\":\"b\"}]}}",
    "duplicate field \"name\" in welcome.rooms[1]" },
  { "{\"welcome\":{\"rooms\":[1]}}", "welcome.rooms[0]: expected an object" },
  { "{\"welcome\":{\"rooms\":[[]]}}", "welcome.rooms[0]: expected an object" },
  { "{\"history\":{\"messages\":[{},{\"seq\":-1}]}}", "history.messages[1].seq: out of range" },
  { "{\"history\":{\"messages\":[{\"seq\":18446744073709551616}]}}",
    "history.messages[0].seq: out of range" },
  { "{\"history\":{\"messages\":[{\"body\":\"\xff\"}]}}",
    "history.messages[0].body: string is not valid UTF-8" },
  { "{\"ok\":{},\"error\":{}}", "more than one operation (ok, error)" },
};

static void
assert_rejected (const GError *error,
                 const char   *expected)
{
  g_assert_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
  if (g_str_has_suffix (expected, ": "))
    g_assert_true (g_str_has_prefix (error->message, expected));
  else
    g_assert_cmpstr (error->message, ==, expected);
}

static void
check_reject_cases (const ProtobufCMessageDescriptor *descriptor,
                    const RejectCase                 *cases,
                    gsize                             n_cases)
{
  for (gsize i = 0; i < n_cases; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *escaped = g_strescape (cases[i].input, NULL);
      ProtobufCMessage *message;

      g_test_message ("reject: %s", escaped);
      message = decode_json (descriptor, cases[i].input, &error);
      g_assert_null (message);
      g_test_message ("  -> %s", error->message);
      assert_rejected (error, cases[i].message);
    }
}

static void
test_json_reject (void)
{
  check_reject_cases (&natter__client_frame__descriptor, client_reject_cases,
                      G_N_ELEMENTS (client_reject_cases));
  check_reject_cases (&natter__server_frame__descriptor, server_reject_cases,
                      G_N_ELEMENTS (server_reject_cases));
}

static void
test_json_reject_raw_nul (void)
{
  static const char text[] = "{\"send\":{\"body\":\"a\0b\"}}";
  g_autoptr(GError) error = NULL;
  ProtobufCMessage *message;

  message = decode (NATTER_CODEC_JSON, &natter__client_frame__descriptor, text,
                    sizeof text - 1, &error);
  g_assert_null (message);
  assert_rejected (error, "send.body: string contains a NUL character");
  g_clear_error (&error);

  message = decode (NATTER_CODEC_JSON, &natter__client_frame__descriptor, "{}\0", 3, &error);
  g_assert_null (message);
  assert_rejected (error, SYNTAX);
}

static GString *
nested (guint       levels,
        const char *open,
        const char *inner,
        const char *close)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < levels; i++)
    g_string_append (text, open);
  g_string_append (text, inner);
  for (guint i = 0; i < levels; i++)
    g_string_append (text, close);
  return text;
}

static void
test_json_reject_deep (void)
{
  static const char *too_deep = "frame is nested too deeply (more than 32 levels)";
  g_autoptr(GString) brackets = g_string_new ("{\"send\":{\"body\":");
  g_autoptr(GString) ok = NULL;
  g_autoptr(GString) deep = NULL;
  g_autoptr(GString) arrays = NULL;
  g_autoptr(GError) error = NULL;

  /* Hostile and unterminated: rejected long before the end, without recursing. */
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (brackets, '[');
  g_assert_null (decode_json (&natter__client_frame__descriptor, brackets->str, &error));
  assert_rejected (error, too_deep);
  g_clear_error (&error);

  g_string_erase (brackets, 0, strlen ("{\"send\":{\"body\":"));
  g_assert_null (decode_json (&natter__client_frame__descriptor, brackets->str, &error));
  assert_rejected (error, too_deep);
  g_clear_error (&error);

  /* 32 levels are fine as far as nesting goes; 33 are not. */
  ok = nested (32, "{\"x\":", "1", "}");
  g_assert_null (decode_json (&natter__client_frame__descriptor, ok->str, &error));
  assert_rejected (error, "unknown field \"x\" in ClientFrame");
  g_clear_error (&error);

  deep = nested (33, "{\"x\":", "1", "}");
  g_assert_null (decode_json (&natter__client_frame__descriptor, deep->str, &error));
  assert_rejected (error, too_deep);
  g_clear_error (&error);

  arrays = nested (31, "[", "1", "]");
  g_string_prepend (arrays, "{\"joined\":{\"members\":");
  g_string_append (arrays, "}}");
  g_assert_null (decode_json (&natter__server_frame__descriptor, arrays->str, &error));
  assert_rejected (error, too_deep);
}

/* ------------------------------------------------------------------------------------ */
/* Protobuf input */

static void
check_proto_rejected (const ProtobufCMessageDescriptor *descriptor,
                      const guint8                     *data,
                      gsize                             len,
                      const char                       *expected)
{
  g_autoptr(GError) error = NULL;

  g_assert_null (decode (NATTER_CODEC_PROTO, descriptor, data, len, &error));
  assert_rejected (error, expected);
}

static void
test_proto_reject (void)
{
  ClientFrames client;
  ServerFrames server;
  g_autoptr(GBytes) packed = NULL;
  gsize len;
  const guint8 *data;
  /* ClientFrame.send (6) { body (3): "a\0b" } */
  static const guint8 nul[] = { 0x32, 0x05, 0x1a, 0x03, 'a', 0x00, 'b' };
  /* Field 1 as a group, which protobuf-c does not support. */
  static const guint8 group[] = { 0x0b, 0x0c };

  check_proto_rejected (&natter__client_frame__descriptor, (const guint8 *) "\xff\xff\xff", 3,
                        "malformed protobuf frame");
  check_proto_rejected (&natter__client_frame__descriptor, group, sizeof group,
                        "malformed protobuf frame");
  check_proto_rejected (&natter__client_frame__descriptor, nul, sizeof nul,
                        "send.body: string contains a NUL character");

  build_client_frame (&client, NATTER__CLIENT_FRAME__OP_SEND);
  packed = natter_codec_encode (NATTER_CODEC_PROTO, &client.frame.base);
  data = g_bytes_get_data (packed, &len);
  check_proto_rejected (&natter__client_frame__descriptor, data, len - 1,
                        "malformed protobuf frame");
  g_clear_pointer (&packed, g_bytes_unref);

  client.send.body = (char *) "a\xff" "b";
  packed = natter_codec_encode (NATTER_CODEC_PROTO, &client.frame.base);
  data = g_bytes_get_data (packed, &len);
  check_proto_rejected (&natter__client_frame__descriptor, data, len,
                        "send.body: string is not valid UTF-8");
  g_clear_pointer (&packed, g_bytes_unref);

  build_server_frame (&server, NATTER__SERVER_FRAME__EVENT_JOINED);
  server.members[1] = (char *) "b\xc0";
  packed = natter_codec_encode (NATTER_CODEC_PROTO, &server.frame.base);
  data = g_bytes_get_data (packed, &len);
  check_proto_rejected (&natter__server_frame__descriptor, data, len,
                        "joined.members[1]: string is not valid UTF-8");
  g_clear_pointer (&packed, g_bytes_unref);

  build_server_frame (&server, NATTER__SERVER_FRAME__EVENT_WELCOME);
  server.room_infos[1].kind = (char *) "\xed\xa0\x80";
  packed = natter_codec_encode (NATTER_CODEC_PROTO, &server.frame.base);
  data = g_bytes_get_data (packed, &len);
  check_proto_rejected (&natter__server_frame__descriptor, data, len,
                        "welcome.rooms[1].kind: string is not valid UTF-8");
}

static void
test_proto_unknown_fields (void)
{
  /* id (1) = 3, then field 100 as a varint and field 101 as bytes: skipped, as protobuf
   * readers do. */
  static const guint8 data[] = { 0x08, 0x03, 0xa0, 0x06, 0x01, 0xaa, 0x06, 0x01, 0xff };
  g_autoptr(Natter__ClientFrame) frame = NULL;
  g_autoptr(GError) error = NULL;

  frame = natter_codec_decode_client_frame (NATTER_CODEC_PROTO, data, sizeof data, &error);
  g_assert_no_error (error);
  g_assert_true (frame->has_id);
  g_assert_cmpuint (frame->id, ==, 3);
  g_assert_cmpint (frame->op_case, ==, NATTER__CLIENT_FRAME__OP__NOT_SET);
}

/* ------------------------------------------------------------------------------------ */
/* The JsonNode mapping */

static void
test_node_mapping (void)
{
  ServerFrames s;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *message;
  g_autoptr(JsonNode) built = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *frame;
  JsonObject *send;

  build_server_frame (&s, NATTER__SERVER_FRAME__EVENT_MESSAGE);
  node = natter_test_node_from_message (&s.frame.base);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  g_assert_false (json_object_has_member (json_node_get_object (node), "id"));
  message = json_object_get_object_member (json_node_get_object (node), "message");
  /* Beyond a gint64, the mapping's decimal string. */
  g_assert_cmpstr (json_object_get_string_member (message, "seq"), ==,
                   "18446744073709551615");
  g_assert_cmpint (json_object_get_int_member (message, "ts"), ==, G_MININT64);
  g_assert_cmpstr (json_object_get_string_member (message, "body"), ==, TRICKY);

  /* A node built in code is checked like text. */
  frame = json_object_new ();
  send = json_object_new ();
  json_object_set_string_member (send, "body", "a\xff");
  json_object_set_object_member (frame, "send", send);
  built = json_node_init_object (json_node_alloc (), frame);
  json_object_unref (frame);
  g_assert_null (natter_test_node_to_message (&natter__client_frame__descriptor, built, &error));
  assert_rejected (error, "send.body: string is not valid UTF-8");
  g_clear_error (&error);

  g_clear_pointer (&built, json_node_unref);
  built = json_node_init_int (json_node_alloc (), 1);
  g_assert_null (natter_test_node_to_message (&natter__client_frame__descriptor, built, &error));
  assert_rejected (error, "frame is not a JSON object");
}

/* ------------------------------------------------------------------------------------ */
/* A message of every other kind of field, described by hand: the codecs know no message
 * of the schema, and this covers what the schema does not use yet (enums, floats, bytes,
 * signed and fixed integers, repeated scalars, scalar oneof members, proto3 fields, a
 * string with a default). */

typedef enum
{
  COLOR_RED = 0,
  COLOR_GREEN = 1,
  COLOR_BLUE = 5,
} Color;

static const ProtobufCEnumValue color_values[] = {
  { "RED", "COLOR_RED", COLOR_RED },
  { "GREEN", "COLOR_GREEN", COLOR_GREEN },
  { "BLUE", "COLOR_BLUE", COLOR_BLUE },
};
static const ProtobufCEnumValueIndex color_values_by_name[] = {
  { "BLUE", 2 },
  { "GREEN", 1 },
  { "RED", 0 },
};
static const ProtobufCIntRange color_value_ranges[] = { { 0, 0 }, { 5, 2 }, { 0, 3 } };

static const ProtobufCEnumDescriptor color_descriptor = {
  PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC,
  "test.Color", "Color", "Color", "test",
  G_N_ELEMENTS (color_values), color_values,
  G_N_ELEMENTS (color_values_by_name), color_values_by_name,
  2, color_value_ranges,
  NULL, NULL, NULL, NULL,
};

typedef struct
{
  ProtobufCMessage     base;
  protobuf_c_boolean   has_i32;
  int32_t              i32;
  protobuf_c_boolean   has_s64;
  int64_t              s64;
  protobuf_c_boolean   has_f32;
  uint32_t             f32;
  protobuf_c_boolean   has_sf64;
  int64_t              sf64;
  protobuf_c_boolean   has_fl;
  float                fl;
  protobuf_c_boolean   has_db;
  double               db;
  protobuf_c_boolean   has_color;
  int                  color;
  protobuf_c_boolean   has_data;
  ProtobufCBinaryData  data;
  size_t               n_doubles;
  double              *doubles;
  size_t               n_colors;
  int                 *colors;
  size_t               n_blobs;
  ProtobufCBinaryData *blobs;
  size_t               n_ints;
  int32_t             *ints;
  uint32_t             choice_case;
  union
  {
    int32_t pick_int;
    char   *pick_str;
  };
  int64_t              plain;
  char                *dflt;
} TestAll;

static const char test_all_dflt[] = "fallback";

#define OPTIONAL_FIELD(id, name, type, descriptor) \
  { #name, id, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_##type, offsetof (TestAll, has_##name), \
    offsetof (TestAll, name), descriptor, NULL, 0, 0, NULL, NULL }
#define REPEATED_FIELD(id, name, type, descriptor) \
  { #name, id, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_##type, offsetof (TestAll, n_##name), \
    offsetof (TestAll, name), descriptor, NULL, 0, 0, NULL, NULL }
#define ONEOF_FIELD(id, name, type) \
  { #name, id, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_##type, offsetof (TestAll, choice_case), \
    offsetof (TestAll, name), NULL, NULL, PROTOBUF_C_FIELD_FLAG_ONEOF, 0, NULL, NULL }

static const ProtobufCFieldDescriptor test_all_fields[] = {
  OPTIONAL_FIELD (1, i32, INT32, NULL),
  OPTIONAL_FIELD (2, s64, SINT64, NULL),
  OPTIONAL_FIELD (3, f32, FIXED32, NULL),
  OPTIONAL_FIELD (4, sf64, SFIXED64, NULL),
  OPTIONAL_FIELD (5, fl, FLOAT, NULL),
  OPTIONAL_FIELD (6, db, DOUBLE, NULL),
  OPTIONAL_FIELD (7, color, ENUM, &color_descriptor),
  OPTIONAL_FIELD (8, data, BYTES, NULL),
  REPEATED_FIELD (9, doubles, DOUBLE, NULL),
  REPEATED_FIELD (10, colors, ENUM, &color_descriptor),
  REPEATED_FIELD (11, blobs, BYTES, NULL),
  REPEATED_FIELD (12, ints, SINT32, NULL),
  ONEOF_FIELD (13, pick_int, INT32),
  ONEOF_FIELD (14, pick_str, STRING),
  { "plain", 15, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_INT64, 0, offsetof (TestAll, plain),
    NULL, NULL, 0, 0, NULL, NULL },
  { "dflt", 16, PROTOBUF_C_LABEL_OPTIONAL, PROTOBUF_C_TYPE_STRING, 0, offsetof (TestAll, dflt),
    NULL, test_all_dflt, 0, 0, NULL, NULL },
};
static const unsigned test_all_fields_by_name[] = {
  10, 6, 9, 7, 5, 15, 8, 2, 4, 0, 11, 12, 13, 14, 1, 3,
};
static const ProtobufCIntRange test_all_ranges[] = { { 1, 0 }, { 0, 16 } };

static void test_all_init (ProtobufCMessage *message);

static const ProtobufCMessageDescriptor test_all_descriptor = {
  PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
  "test.TestAll", "TestAll", "TestAll", "test",
  sizeof (TestAll),
  G_N_ELEMENTS (test_all_fields), test_all_fields, test_all_fields_by_name,
  1, test_all_ranges,
  test_all_init,
  NULL, NULL, NULL,
};

static void
test_all_init (ProtobufCMessage *message)
{
  TestAll *self = (TestAll *) message;

  memset (self, 0, sizeof *self);
  self->base = (ProtobufCMessage) PROTOBUF_C_MESSAGE_INIT (&test_all_descriptor);
  self->dflt = (char *) test_all_dflt;
}

static void
test_generic_descriptor (void)
{
  G_STATIC_ASSERT (G_N_ELEMENTS (test_all_fields_by_name) == G_N_ELEMENTS (test_all_fields));

  for (guint i = 1; i < G_N_ELEMENTS (test_all_fields_by_name); i++)
    g_assert_cmpstr (test_all_fields[test_all_fields_by_name[i - 1]].name, <,
                     test_all_fields[test_all_fields_by_name[i]].name);
}

/* Fills @t with every field set; it points to static storage. */
static void
fill_test_all (TestAll *t)
{
  static guint8 bytes[] = { 0x00, 0x01, 0x02, 0xff };
  static double doubles[] = { 1.5, 0.1, -0.0, 1e300, 5e-324, INFINITY, -INFINITY, NAN };
  static int colors[] = { COLOR_BLUE, COLOR_RED, COLOR_GREEN };
  static ProtobufCBinaryData blobs[] = {
    { 0, NULL }, { 1, (guint8 *) "\xfb" }, { 2, (guint8 *) "\xff\xfe" },
  };
  static int32_t ints[] = { G_MININT32, -1, 0, G_MAXINT32 };

  test_all_init (&t->base);
  t->has_i32 = TRUE;
  t->i32 = G_MININT32;
  t->has_s64 = TRUE;
  t->s64 = G_MININT64;
  t->has_f32 = TRUE;
  t->f32 = G_MAXUINT32;
  t->has_sf64 = TRUE;
  t->sf64 = G_MAXINT64;
  t->has_fl = TRUE;
  t->fl = 0.1f;
  t->has_db = TRUE;
  t->db = -2.5e-8;
  t->has_color = TRUE;
  t->color = COLOR_GREEN;
  t->has_data = TRUE;
  t->data.len = sizeof bytes;
  t->data.data = bytes;
  t->n_doubles = G_N_ELEMENTS (doubles);
  t->doubles = doubles;
  t->n_colors = G_N_ELEMENTS (colors);
  t->colors = colors;
  t->n_blobs = G_N_ELEMENTS (blobs);
  t->blobs = blobs;
  t->n_ints = G_N_ELEMENTS (ints);
  t->ints = ints;
  t->choice_case = 14;
  t->pick_str = (char *) TRICKY;
  t->plain = -7;
  t->dflt = (char *) "chosen";
}

static void
test_generic_round_trip (void)
{
  TestAll t;
  g_autofree char *text = NULL;

  fill_test_all (&t);
  check_round_trip (&t.base);

  text = encode_json (&t.base);
  g_assert_cmpstr (text, ==,
                   "{\"i32\":-2147483648,\"s64\":-9223372036854775808,\"f32\":4294967295,"
                   "\"sf64\":9223372036854775807,\"fl\":0.1,\"db\":-2.5e-08,\"color\":\"GREEN\","
                   "\"data\":\"AAEC/w==\","
                   "\"doubles\":[1.5,0.1,-0.0,1e+300,4.94065645841247e-324,\"Infinity\","
                   "\"-Infinity\",\"NaN\"],"
                   "\"colors\":[\"BLUE\",\"RED\",\"GREEN\"],\"blobs\":[\"\",\"+w==\",\"//4=\"],"
                   "\"ints\":[-2147483648,-1,0,2147483647],"
                   "\"pick_str\":\"h\xc3\xa9llo \\\"w\\\\o\\\" /\\n\\r\\t\\b\\f\\u0001\\u001f "
                   "\xe2\x80\xa8 \xf0\x9f\x98\x80 </script>\","
                   "\"plain\":-7,\"dflt\":\"chosen\"}");
  g_clear_pointer (&text, g_free);

  /* An unset string keeps its default, which is not written; a proto3 zero is not
   * written either; a scalar oneof member is. */
  test_all_init (&t.base);
  t.choice_case = 13;
  t.pick_int = 0;
  text = encode_json (&t.base);
  g_assert_cmpstr (text, ==, "{\"pick_int\":0}");
  check_round_trip (&t.base);
  g_clear_pointer (&text, g_free);

  /* An enum value without a name is written as its number. */
  test_all_init (&t.base);
  t.has_color = TRUE;
  t.color = 7;
  text = encode_json (&t.base);
  g_assert_cmpstr (text, ==, "{\"color\":7}");
}

static void
test_generic_default (void)
{
  TestAll *t;
  g_autoptr(GError) error = NULL;

  /* Decoded without the field, the default stays, and is not freed. */
  t = (TestAll *) decode_json (&test_all_descriptor, "{}", &error);
  g_assert_no_error (error);
  g_assert_true (t->dflt == test_all_dflt);
  protobuf_c_message_free_unpacked (&t->base, NULL);

  t = (TestAll *) decode_json (&test_all_descriptor, "{\"dflt\":\"x\",\"plain\":0}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (t->dflt, ==, "x");
  protobuf_c_message_free_unpacked (&t->base, NULL);
}

static const AcceptCase generic_accept_cases[] = {
  { "{\"color\":\"BLUE\"}", "{\"color\":\"BLUE\"}" },
  { "{\"color\":1}", "{\"color\":\"GREEN\"}" },
  { "{\"color\":\"5\"}", "{\"color\":\"BLUE\"}" },
  { "{\"color\":7}", "{\"color\":7}" },
  { "{\"color\":\"-7\"}", "{\"color\":-7}" },
  { "{\"colors\":[0,\"GREEN\",5.0]}", "{\"colors\":[\"RED\",\"GREEN\",\"BLUE\"]}" },
  { "{\"fl\":\"NaN\",\"db\":\"-Infinity\"}", "{\"fl\":\"NaN\",\"db\":\"-Infinity\"}" },
  { "{\"fl\":3.4028234663852886e38}", "{\"fl\":3.40282347e+38}" },
  { "{\"db\":12}", "{\"db\":12}" },
  { "{\"db\":\"-2.5\"}", "{\"db\":-2.5}" },
  { "{\"db\":99999999999999999999999}", "{\"db\":1e+23}" },
  { "{\"db\":-0.0}", "{\"db\":-0.0}" },
  /* Beyond a gint64 in a list, and a number longer than the scanner's stack copy. */
  { "{\"doubles\":[99999999999999999999999,1e2,-0.5]}", "{\"doubles\":[1e+23,100,-0.5]}" },
  { "{\"db\":1.000000000000000000000000000000000000000000000000000000000000000000000001}",
    "{\"db\":1}" },
  { "{\"data\":\"AAEC/w==\"}", "{\"data\":\"AAEC/w==\"}" },
  { "{\"data\":\"AAEC_w\"}", "{\"data\":\"AAEC/w==\"}" },
  { "{\"data\":\"\"}", "{\"data\":\"\"}" },
  { "{\"blobs\":[\"\",\"-_8=\"]}", "{\"blobs\":[\"\",\"+/8=\"]}" },
  { "{\"i32\":-2147483648,\"ints\":[1,\"2\",-3]}",
    "{\"i32\":-2147483648,\"ints\":[1,2,-3]}" },
  { "{\"s64\":\"-9223372036854775808\"}", "{\"s64\":-9223372036854775808}" },
  { "{\"f32\":4294967295}", "{\"f32\":4294967295}" },
  { "{\"pick_int\":null,\"pick_str\":\"x\"}", "{\"pick_str\":\"x\"}" },
  { "{\"plain\":0}", "{}" },
  { "{\"plain\":5}", "{\"plain\":5}" },
};

static const RejectCase generic_reject_cases[] = {
  { "{\"color\":\"PURPLE\"}", "color: unknown value \"PURPLE\" of test.Color" },
  { "{\"color\":4294967296}", "color: out of range" },
  { "{\"color\":99999999999999999999}", "color: out of range" },
  { "{\"color\":true}", "color: expected a value of test.Color" },
  /* An integer beyond a gint64 is a number, not a string, where the field is no number. */
  { "{\"pick_str\":99999999999999999999}", "pick_str: expected a string" },
  { "{\"data\":12345678901234567890123}", "data: expected a base64 string" },
  { "{\"colors\":[\"RED\",\"red\"]}", "colors[1]: unknown value \"red\" of test.Color" },
  { "{\"fl\":3.5e38}", "fl: out of range" },
  { "{\"fl\":\"nan\"}", "fl: expected a number" },
  { "{\"fl\":\"inf\"}", "fl: expected a number" },
  { "{\"db\":\"1e400\"}", "db: out of range" },
  { "{\"db\":1e400}", "db: out of range" },
  { "{\"db\":\"0x10\"}", "db: expected a number" },
  { "{\"db\":\" 1\"}", "db: expected a number" },
  { "{\"db\":\"\"}", "db: expected a number" },
  { "{\"db\":true}", "db: expected a number" },
  { "{\"doubles\":[1,null]}", "doubles[1]: null is not allowed in a list" },
  { "{\"data\":\"A\"}", "data: expected a base64 string" },
  { "{\"data\":\"AA=A\"}", "data: expected a base64 string" },
  { "{\"data\":\"AA*A\"}", "data: expected a base64 string" },
  { "{\"data\":\"AA===\"}", "data: expected a base64 string" },
  { "{\"data\":5}", "data: expected a base64 string" },
  { "{\"blobs\":[\"AA\",\"!\"]}", "blobs[1]: expected a base64 string" },
  { "{\"i32\":2147483648}", "i32: out of range" },
  { "{\"i32\":-2147483649}", "i32: out of range" },
  { "{\"ints\":[1,2147483648]}", "ints[1]: out of range" },
  { "{\"f32\":-1}", "f32: out of range" },
  { "{\"s64\":-9223372036854775809}", "s64: out of range" },
  { "{\"pick_int\":1,\"pick_str\":\"x\"}", "more than one operation (pick_int, pick_str)" },
  { "{\"pick_str\":\"x\",\"pick_int\":null,\"pick_int\":1}",
    "duplicate field \"pick_int\" in TestAll" },
  { "{\"pick_str\":1}", "pick_str: expected a string" },
  { "{\"plain\":1.5}", "plain: expected an integer" },
};

static void
test_generic_json (void)
{
  check_accept_cases (&test_all_descriptor, generic_accept_cases,
                      G_N_ELEMENTS (generic_accept_cases));
  check_reject_cases (&test_all_descriptor, generic_reject_cases,
                      G_N_ELEMENTS (generic_reject_cases));
}

static void
test_generic_proto_strings (void)
{
  TestAll t;
  g_autoptr(GBytes) packed = NULL;
  gsize len;
  const guint8 *data;

  test_all_init (&t.base);
  t.choice_case = 14;
  t.pick_str = (char *) "\xc3";
  packed = natter_codec_encode (NATTER_CODEC_PROTO, &t.base);
  data = g_bytes_get_data (packed, &len);
  check_proto_rejected (&test_all_descriptor, data, len, "pick_str: string is not valid UTF-8");
}

/* ------------------------------------------------------------------------------------ */
/* Mutated input: never a crash, never a leak, only a decoded frame or a bad_request */

static void
check_mutations (NatterCodec                       codec,
                 const ProtobufCMessageDescriptor *descriptor,
                 GBytes                           *original)
{
  static const char json_chars[] = "{}[]\",:\\0-e.u ";
  gsize len;
  const guint8 *data = g_bytes_get_data (original, &len);

  for (guint round = 0; round < 2000; round++)
    {
      g_autofree guint8 *copy = g_memdup2 (data, len);
      gsize copy_len = len;
      guint n = g_test_rand_int_range (1, 4);
      g_autoptr(GError) error = NULL;
      ProtobufCMessage *message;

      for (guint i = 0; i < n && copy_len > 0; i++)
        {
          gsize at = g_test_rand_int_range (0, copy_len);

          switch (g_test_rand_int_range (0, 4))
            {
            case 0:
              copy[at] = (guint8) g_test_rand_int_range (0, 256);
              break;
            case 1:
              copy[at] = (guint8) json_chars[g_test_rand_int_range (0, sizeof json_chars - 1)];
              break;
            case 2:
              copy_len = at;
              break;
            default:
              copy[at] ^= 0x80;
              break;
            }
        }

      message = decode (codec, descriptor, copy, copy_len, &error);
      if (message == NULL)
        {
          g_assert_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST);
          continue;
        }
      g_assert_no_error (error);
      /* Whatever was accepted encodes and decodes to the same message. The JSON text
       * compares them, since it leaves out the unknown fields a protobuf frame keeps. */
      for (NatterCodec other = 0; other < NATTER_CODEC_N; other++)
        {
          g_autoptr(GBytes) bytes = natter_codec_encode (other, message);
          gsize bytes_len;
          const guint8 *bytes_data = g_bytes_get_data (bytes, &bytes_len);
          g_autofree char *expected = encode_json (message);
          g_autofree char *actual = NULL;
          ProtobufCMessage *again;

          again = decode (other, descriptor, bytes_data, bytes_len, &error);
          g_assert_no_error (error);
          actual = encode_json (again);
          g_assert_cmpstr (actual, ==, expected);
          protobuf_c_message_free_unpacked (again, NULL);
        }
      protobuf_c_message_free_unpacked (message, NULL);
    }
}

static void
test_mutations (void)
{
  static const guint32 events[] = {
    NATTER__SERVER_FRAME__EVENT_WELCOME,
    NATTER__SERVER_FRAME__EVENT_JOINED,
    NATTER__SERVER_FRAME__EVENT_HISTORY,
  };
  ClientFrames client;
  TestAll all;

  fill_test_all (&all);
  for (NatterCodec codec = 0; codec < NATTER_CODEC_N; codec++)
    {
      g_autoptr(GBytes) bytes = natter_codec_encode (codec, &all.base);

      check_mutations (codec, &test_all_descriptor, bytes);
    }

  build_client_frame (&client, NATTER__CLIENT_FRAME__OP_HISTORY);
  for (NatterCodec codec = 0; codec < NATTER_CODEC_N; codec++)
    {
      g_autoptr(GBytes) bytes = natter_codec_encode (codec, &client.frame.base);

      check_mutations (codec, &natter__client_frame__descriptor, bytes);
    }

  for (guint i = 0; i < G_N_ELEMENTS (events); i++)
    {
      ServerFrames server;

      build_server_frame (&server, events[i]);
      for (NatterCodec codec = 0; codec < NATTER_CODEC_N; codec++)
        {
          g_autoptr(GBytes) bytes = natter_codec_encode (codec, &server.frame.base);

          check_mutations (codec, &natter__server_frame__descriptor, bytes);
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Subprotocols and frees */

static void
test_subprotocols (void)
{
  NatterCodec codec = NATTER_CODEC_PROTO;

  g_assert_cmpstr (natter_codec_to_subprotocol (NATTER_CODEC_JSON), ==, "natter.v1.json");
  g_assert_cmpstr (natter_codec_to_subprotocol (NATTER_CODEC_PROTO), ==, "natter.v1.proto");

  g_assert_true (natter_codec_from_subprotocol ("natter.v1.json", &codec));
  g_assert_cmpint (codec, ==, NATTER_CODEC_JSON);
  g_assert_true (natter_codec_from_subprotocol ("natter.v1.proto", &codec));
  g_assert_cmpint (codec, ==, NATTER_CODEC_PROTO);

  g_assert_false (natter_codec_from_subprotocol ("natter.v2.json", &codec));
  g_assert_false (natter_codec_from_subprotocol ("natter.v1.JSON", &codec));
  g_assert_false (natter_codec_from_subprotocol ("", &codec));
  g_assert_false (natter_codec_from_subprotocol (NULL, &codec));
  g_assert_cmpint (codec, ==, NATTER_CODEC_PROTO);
}

static void
test_free_null (void)
{
  natter_client_frame_free (NULL);
  natter_server_frame_free (NULL);
}

static void
add_oneof_tests (const char                       *prefix,
                 const ProtobufCMessageDescriptor *descriptor,
                 GTestDataFunc                     func)
{
  for (guint i = 0; i < descriptor->n_fields; i++)
    {
      const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
      g_autofree char *path = NULL;

      if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
        continue;
      path = g_strconcat (prefix, field->name, NULL);
      g_test_add_data_func (path, GUINT_TO_POINTER (field->id), func);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  add_oneof_tests ("/codec/round-trip/client/", &natter__client_frame__descriptor,
                   test_round_trip_client);
  add_oneof_tests ("/codec/round-trip/server/", &natter__server_frame__descriptor,
                   test_round_trip_server);
  g_test_add_func ("/codec/round-trip/empty", test_round_trip_empty);
  g_test_add_func ("/codec/json/decode-send", test_json_decode_send);
  g_test_add_func ("/codec/json/decode-empty", test_json_decode_empty);
  g_test_add_func ("/codec/json/encode-sent", test_json_encode_sent);
  g_test_add_func ("/codec/json/encode-values", test_json_encode_values);
  g_test_add_func ("/codec/json/accept", test_json_accept);
  g_test_add_func ("/codec/json/reject", test_json_reject);
  g_test_add_func ("/codec/json/reject-raw-nul", test_json_reject_raw_nul);
  g_test_add_func ("/codec/json/reject-deep", test_json_reject_deep);
  g_test_add_func ("/codec/json/node", test_node_mapping);
  g_test_add_func ("/codec/proto/reject", test_proto_reject);
  g_test_add_func ("/codec/proto/unknown-fields", test_proto_unknown_fields);
  g_test_add_func ("/codec/generic/descriptor", test_generic_descriptor);
  g_test_add_func ("/codec/generic/round-trip", test_generic_round_trip);
  g_test_add_func ("/codec/generic/default", test_generic_default);
  g_test_add_func ("/codec/generic/json", test_generic_json);
  g_test_add_func ("/codec/generic/proto-strings", test_generic_proto_strings);
  g_test_add_func ("/codec/mutations", test_mutations);
  g_test_add_func ("/codec/subprotocols", test_subprotocols);
  g_test_add_func ("/codec/free-null", test_free_null);

  return g_test_run ();
}
