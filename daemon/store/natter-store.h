/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "natter.pb-c.h"

G_BEGIN_DECLS

/* Characters of a session id (natter_store_session_id()). */
#define NATTER_SESSION_ID_CHARS 16

/* Room kinds, as the protocol names them. */
#define NATTER_ROOM_KIND_ROOM   "room"
#define NATTER_ROOM_KIND_DM     "dm"
#define NATTER_ROOM_KIND_SYSTEM "system"
#define NATTER_SYSTEM_ROOM      "system"

/* Message kinds. */
#define NATTER_MESSAGE_KIND_TEXT      "text"
#define NATTER_MESSAGE_KIND_BROADCAST "broadcast"
#define NATTER_MESSAGE_KIND_EDIT      "edit"
#define NATTER_MESSAGE_KIND_DELETE    "delete"
#define NATTER_MESSAGE_KIND_REACTION  "reaction"
/* What history shows in place of a deleted message. */
#define NATTER_MESSAGE_KIND_DELETED   "deleted"

/**
 * NatterAccountFlags:
 * @NATTER_ACCOUNT_ADMIN: may broadcast and administer
 * @NATTER_ACCOUNT_OWNER: the local owner account that natterd created for the desktop
 *   user (D-Bus callers act as it); an administrator too. At most one account is it.
 */
typedef enum {
  NATTER_ACCOUNT_ADMIN = 1 << 0,
  NATTER_ACCOUNT_OWNER = 1 << 1,
} NatterAccountFlags;

typedef struct {
  char     *name;           /* (owned) */
  char     *password_hash;  /* (owned) crypto_pwhash_str() output */
  gboolean  admin;
  gboolean  owner;          /* created by natterd as its local owner account */
  gboolean  disabled;       /* an administrator disabled it: no logins, no sessions */
  gboolean  deleted;        /* deleted by its owner: the name stays taken, nothing else */
  gint64    created_ts;     /* ms; 0 if the store did not record it */
} NatterUserRecord;

/**
 * NatterAccountState:
 * @NATTER_ACCOUNT_ENABLED: may log in
 * @NATTER_ACCOUNT_DISABLED: an administrator turned it off; may be enabled again
 * @NATTER_ACCOUNT_DELETED: gone for good; its name can never be registered again
 */
typedef enum {
  NATTER_ACCOUNT_ENABLED,
  NATTER_ACCOUNT_DISABLED,
  NATTER_ACCOUNT_DELETED,
} NatterAccountState;

/* One login of an account: one token. Its id is public to the account (natter_store_session_id()),
 * the token itself is never stored. */
typedef struct {
  char   *id;               /* (owned) */
  gint64  created_ts;       /* ms; 0 for tokens issued before sessions were recorded */
  gint64  last_seen_ts;     /* ms of the last login with it; 0 if unknown */
  char   *agent;            /* (owned) (nullable) the client's User-Agent, if it sent one */
} NatterSessionRecord;

/**
 * NatterRole:
 * @NATTER_ROLE_MEMBER: reads and writes
 * @NATTER_ROLE_MODERATOR: also kicks, bans and sets the topic
 * @NATTER_ROLE_OWNER: also sets roles
 *
 * A member's role in a room, ordered: a role may do what the ones before it may.
 */
typedef enum {
  NATTER_ROLE_MEMBER,
  NATTER_ROLE_MODERATOR,
  NATTER_ROLE_OWNER,
} NatterRole;

/**
 * NatterNotificationLevel:
 * @NATTER_NOTIFICATION_LEVEL_ALL: every new message notifies
 * @NATTER_NOTIFICATION_LEVEL_MENTIONS: only messages that mention the member (and direct
 *   messages)
 * @NATTER_NOTIFICATION_LEVEL_NONE: nothing notifies
 *
 * Which new messages of a room notify a member, kept per account and room.
 */
typedef enum {
  NATTER_NOTIFICATION_LEVEL_ALL,
  NATTER_NOTIFICATION_LEVEL_MENTIONS,
  NATTER_NOTIFICATION_LEVEL_NONE,
} NatterNotificationLevel;

typedef struct {
  char       *user;         /* (owned) */
  guint64     read_seq;
  NatterRole  role;
  NatterNotificationLevel notification_level;
} NatterMemberRecord;

typedef struct {
  char      *name;          /* (owned) */
  char      *kind;          /* (owned) NATTER_ROOM_KIND_* */
  char      *topic;         /* (owned) (nullable) */
  guint64    last_seq;
  gboolean   is_private;    /* only members and invited users see it */
  GPtrArray *members;       /* (owned) (element-type NatterMemberRecord) */
  GPtrArray *invited;       /* (owned) (element-type utf8) invited, not yet joined */
  GPtrArray *banned;        /* (owned) (element-type utf8) */
} NatterRoomRecord;

/* One moderation of a room, as its moderation log keeps it (docs/protocol.md). */
typedef struct {
  gint64  ts_ms;            /* unique within the room: the store makes it so */
  char   *kind;             /* (owned) NATTER_MODERATION_EVENT_* */
  char   *user;             /* (owned) whom it concerns; for a topic, who set it */
  char   *by;               /* (owned) who did it */
  char   *reason;           /* (owned) (nullable) kick and ban */
  char   *role;             /* (owned) (nullable) role: the new role */
  char   *topic;            /* (owned) (nullable) topic: the new topic, NULL if cleared */
} NatterModerationEvent;

#define NATTER_MODERATION_EVENT_KICK  "kick"
#define NATTER_MODERATION_EVENT_BAN   "ban"
#define NATTER_MODERATION_EVENT_UNBAN "unban"
#define NATTER_MODERATION_EVENT_ROLE  "role"
#define NATTER_MODERATION_EVENT_TOPIC "topic"

/* A public room as the directory lists it. */
typedef struct {
  char  *name;              /* (owned) */
  char  *topic;             /* (owned) (nullable) */
  guint  n_members;
} NatterDirectoryEntry;

/* A pending invitation of an account. */
typedef struct {
  char   *room;             /* (owned) */
  char   *by;               /* (owned) who invited, the latest if several did */
  gint64  ts;               /* ms of that invitation */
} NatterInvitation;

/**
 * NatterModerationKind:
 * @NATTER_MODERATION_CREATE: creates @room (kind room, @is_private, @text as topic) with
 *   @user as its owner; fails with NATTER_ERROR_CONFLICT if the name is taken
 * @NATTER_MODERATION_SET_ROLE: gives member @user of @room the role @role; fails with
 *   NATTER_ERROR_NOT_FOUND if @user is not a member
 * @NATTER_MODERATION_SET_TOPIC: sets the topic of @room to @text (nullable)
 * @NATTER_MODERATION_INVITE: lets @user join private @room; @by invited
 * @NATTER_MODERATION_BAN: bans @user from @room (@by, reason @text); ends the
 *   membership and drops the invitation of @user and the invitations @user gave to
 *   @room in the same transaction
 * @NATTER_MODERATION_UNBAN: lifts the ban of @user in @room
 * @NATTER_MODERATION_BLOCK: @by blocks @user (no @room)
 * @NATTER_MODERATION_UNBLOCK: @by unblocks @user (no @room)
 * @NATTER_MODERATION_DECLINE: @user declines the invitation to @room: drops it; fails with
 *   NATTER_ERROR_NOT_FOUND if there is none
 *
 * A change to who may do what. Those naming a room fail with NATTER_ERROR_NOT_FOUND
 * if there is no such room; all but CREATE, SET_ROLE and DECLINE are idempotent.
 */
typedef enum {
  NATTER_MODERATION_CREATE,
  NATTER_MODERATION_SET_ROLE,
  NATTER_MODERATION_SET_TOPIC,
  NATTER_MODERATION_INVITE,
  NATTER_MODERATION_BAN,
  NATTER_MODERATION_UNBAN,
  NATTER_MODERATION_BLOCK,
  NATTER_MODERATION_UNBLOCK,
  NATTER_MODERATION_DECLINE,
} NatterModerationKind;

typedef struct {
  NatterModerationKind  kind;
  const char           *room;       /* (unowned) (nullable) */
  const char           *user;       /* (unowned) */
  const char           *by;         /* (unowned) (nullable) */
  const char           *text;       /* (unowned) (nullable) topic or reason */
  NatterRole            role;
  gboolean              is_private;
} NatterModeration;

typedef struct {
  GPtrArray *rooms;         /* (owned) (element-type NatterRoomRecord) */
} NatterStoreSnapshot;

typedef struct {
  Natter__Message *message; /* (owned) */
  gboolean         duplicate; /* an earlier send with the same (sender, client_msg_id) */
} NatterAppendResult;

/* A message that refers to another of its room: a reply (kind text) or a change (edit,
 * delete or reaction) of the message @target_seq. */
typedef struct {
  const char *room;
  const char *sender;
  const char *kind;          /* NATTER_MESSAGE_KIND_TEXT, _EDIT, _DELETE or _REACTION */
  const char *body;          /* the reply, the new body, "" or the emoji */
  const char *client_msg_id; /* (nullable) */
  guint64     target_seq;
  gboolean    active;        /* reactions: added, or taken back */
  gboolean    moderator;     /* may delete the messages of others */
  gint64      ts_ms;
  /* A copy of what a server already did (upstream mode's local copy, SQLite): applied to
   * the target as far as the copy allows (it may be deleted already, or missing), and
   * appended in any case, so that the copy's seqs stay the server's. */
  gboolean    mirror;
} NatterMessageChange;

typedef struct {
  gboolean has_before;
  guint64  before_seq;      /* messages with seq < before_seq, newest first page */
  gboolean has_after;
  guint64  after_seq;       /* messages with seq > after_seq, oldest first page */
  guint    limit;           /* 1..200 */
} NatterHistoryQuery;

typedef struct {
  GPtrArray *messages;      /* (owned) (element-type Natter__Message) ascending seq */
  gboolean   has_more;
} NatterHistoryResult;

#define NATTER_TYPE_STORE (natter_store_get_type ())
G_DECLARE_INTERFACE (NatterStore, natter_store, NATTER, STORE, GObject)

/**
 * NatterStoreInterface:
 *
 * The history store. Every operation is asynchronous and completes on the thread-default
 * main context of the caller; an implementation never blocks that context. Each `_async`
 * implementation completes a #GTask whose source object is the store, with the result
 * type documented on the matching natter_store_*_finish() function, so the finish
 * functions are shared by all implementations.
 */
struct _NatterStoreInterface
{
  GTypeInterface parent_iface;

  const char *(*get_epoch)        (NatterStore *self);
  void        (*close)            (NatterStore *self);

  void (*load_async)              (NatterStore *self, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*create_user_async)       (NatterStore *self, const char *name,
                                   const char *password_hash, NatterAccountFlags flags,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*get_user_async)          (NatterStore *self, const char *name,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*create_token_async)      (NatterStore *self, const char *user,
                                   const char *token_hash, gint64 expires_at_ms,
                                   const char *agent, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*lookup_token_async)      (NatterStore *self, const char *token_hash,
                                   gint64 now_ms, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*create_room_async)       (NatterStore *self, const char *name, const char *kind,
                                   const char *topic, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*get_room_async)          (NatterStore *self, const char *name,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*add_member_async)        (NatterStore *self, const char *room, const char *user,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*remove_member_async)     (NatterStore *self, const char *room, const char *user,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*append_message_async)    (NatterStore *self, const char *room, const char *sender,
                                   const char *body, const char *client_msg_id,
                                   const char *kind, gint64 ts_ms,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*change_message_async)    (NatterStore *self, const NatterMessageChange *change,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*history_async)           (NatterStore *self, const char *room,
                                   const NatterHistoryQuery *query,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*set_read_async)          (NatterStore *self, const char *room, const char *user,
                                   guint64 seq, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*set_notification_level_async) (NatterStore *self, const char *room,
                                        const char *user, NatterNotificationLevel level,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
  void (*search_async)            (NatterStore *self, const char *user, const char *query,
                                   const char *room, guint limit,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);

  void (*list_sessions_async)     (NatterStore *self, const char *user, gint64 now_ms,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*revoke_tokens_async)     (NatterStore *self, const char *user, const char *session,
                                   const char *keep, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*set_password_async)      (NatterStore *self, const char *user,
                                   const char *password_hash, const char *keep,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*set_account_state_async) (NatterStore *self, const char *user,
                                   NatterAccountState state, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*list_users_async)        (NatterStore *self, const char *query, guint limit,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*moderate_async)          (NatterStore *self, const NatterModeration *change,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*list_blocks_async)       (NatterStore *self, const char *user,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*directory_async)         (NatterStore *self, const char *query, guint limit,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*list_invitations_async)  (NatterStore *self, const char *user,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*log_moderation_async)    (NatterStore *self, const char *room,
                                   const NatterModerationEvent *event,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*moderation_log_async)    (NatterStore *self, const char *room, gint64 before_ts_ms,
                                   guint limit, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);

  /* What not every store can do; each may be NULL. */
  gboolean (*is_shared)           (NatterStore *self);
  gboolean (*is_ready)            (NatterStore *self);
  void (*get_last_seqs_async)     (NatterStore *self, const char * const *rooms,
                                   GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
  void (*append_metrics)          (NatterStore *self, GString *out);
};

const char *natter_store_get_epoch (NatterStore *self);
void        natter_store_close     (NatterStore *self);

void                 natter_store_load_async           (NatterStore *self, GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
NatterStoreSnapshot *natter_store_load_finish          (NatterStore *self, GAsyncResult *result, GError **error);

/* Fails with NATTER_ERROR_CONFLICT when the name is taken. With NATTER_ACCOUNT_OWNER, the
 * account is recorded as natterd's local owner in the same transaction. */
void                 natter_store_create_user_async    (NatterStore *self, const char *name,
                                                        const char *password_hash,
                                                        NatterAccountFlags flags,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean             natter_store_create_user_finish   (NatterStore *self, GAsyncResult *result, GError **error);

/* Fails with NATTER_ERROR_NOT_FOUND. */
void                 natter_store_get_user_async       (NatterStore *self, const char *name,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
NatterUserRecord    *natter_store_get_user_finish      (NatterStore *self, GAsyncResult *result, GError **error);

/* Records a session of @user: @agent (nullable) is the client's User-Agent; creation and
 * last use are now. */
void                 natter_store_create_token_async   (NatterStore *self, const char *user,
                                                        const char *token_hash, gint64 expires_at_ms,
                                                        const char *agent, GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean             natter_store_create_token_finish  (NatterStore *self, GAsyncResult *result, GError **error);

/* Returns the user name and records the session's use at @now_ms; fails with
 * NATTER_ERROR_UNAUTHORIZED for unknown or expired tokens, and for tokens of accounts
 * that are disabled or deleted. */
void                 natter_store_lookup_token_async   (NatterStore *self, const char *token_hash,
                                                        gint64 now_ms, GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
char                *natter_store_lookup_token_finish  (NatterStore *self, GAsyncResult *result, GError **error);

/* The live sessions of @user, oldest first. Returns (element-type NatterSessionRecord). */
void                 natter_store_list_sessions_async  (NatterStore *self, const char *user,
                                                        gint64 now_ms, GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
GPtrArray           *natter_store_list_sessions_finish (NatterStore *self, GAsyncResult *result, GError **error);

/* Deletes the tokens of @user: the one with id @session, or all of them (@session NULL)
 * except @keep (nullable). Returns (transfer full) the ids of the sessions ended, maybe
 * none; fails with NATTER_ERROR_NOT_FOUND if @session is not a session of @user. */
void                 natter_store_revoke_tokens_async  (NatterStore *self, const char *user,
                                                        const char *session, const char *keep,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
GStrv                natter_store_revoke_tokens_finish (NatterStore *self, GAsyncResult *result, GError **error);

/* Replaces the password hash of @user and, in the same transaction, deletes every token
 * of it but @keep (nullable). Returns (transfer full) the ids of the sessions ended;
 * fails with NATTER_ERROR_NOT_FOUND for an unknown or deleted account. */
void                 natter_store_set_password_async   (NatterStore *self, const char *user,
                                                        const char *password_hash, const char *keep,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
GStrv                natter_store_set_password_finish  (NatterStore *self, GAsyncResult *result, GError **error);

/* Enables, disables or deletes @user. Disabling and deleting delete its tokens in the
 * same transaction; deleting also drops its password hash and keeps the name taken.
 * Returns (transfer full) the ids of the sessions ended; fails with
 * NATTER_ERROR_NOT_FOUND for an unknown or already deleted account. */
void                 natter_store_set_account_state_async  (NatterStore *self, const char *user,
                                                            NatterAccountState state,
                                                            GCancellable *cancellable,
                                                            GAsyncReadyCallback callback,
                                                            gpointer user_data);
GStrv                natter_store_set_account_state_finish (NatterStore *self, GAsyncResult *result,
                                                            GError **error);

/* Accounts that are not deleted, by name, whose name contains @query (nullable), at most
 * @limit. Returns (element-type NatterUserRecord) without password hashes. */
void                 natter_store_list_users_async     (NatterStore *self, const char *query,
                                                        guint limit, GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
GPtrArray           *natter_store_list_users_finish    (NatterStore *self, GAsyncResult *result, GError **error);

/* Applies @change (see #NatterModerationKind) in one transaction. */
void                 natter_store_moderate_async       (NatterStore *self,
                                                        const NatterModeration *change,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean             natter_store_moderate_finish      (NatterStore *self, GAsyncResult *result, GError **error);

/* The users @user blocks, by name. Returns (transfer full). */
void                 natter_store_list_blocks_async    (NatterStore *self, const char *user,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
GStrv                natter_store_list_blocks_finish   (NatterStore *self, GAsyncResult *result, GError **error);

/* Public rooms (kind room, not private) whose name or topic contains @query (nullable)
 * regardless of case, by name, at most @limit. Returns (element-type NatterDirectoryEntry). */
void                 natter_store_directory_async      (NatterStore *self, const char *query,
                                                        guint limit, GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
GPtrArray           *natter_store_directory_finish     (NatterStore *self, GAsyncResult *result, GError **error);

/* The pending invitations of @user, oldest first. Returns (element-type NatterInvitation). */
void                 natter_store_list_invitations_async  (NatterStore *self, const char *user,
                                                           GCancellable *cancellable,
                                                           GAsyncReadyCallback callback,
                                                           gpointer user_data);
GPtrArray           *natter_store_list_invitations_finish (NatterStore *self, GAsyncResult *result,
                                                           GError **error);

/* Adds @event to the moderation log of @room. Its ts is @event->ts_ms, or 1 ms after the
 * room's latest if that is not earlier, so that ts is unique within the room. Fails with
 * NATTER_ERROR_NOT_FOUND if there is no such room. */
void                 natter_store_log_moderation_async (NatterStore *self, const char *room,
                                                        const NatterModerationEvent *event,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean             natter_store_log_moderation_finish (NatterStore *self, GAsyncResult *result, GError **error);

/* The newest @limit events of the moderation log of @room with ts < @before_ts_ms (0: no
 * bound), oldest first. Returns (element-type NatterModerationEvent). */
void                 natter_store_moderation_log_async (NatterStore *self, const char *room,
                                                        gint64 before_ts_ms, guint limit,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
GPtrArray           *natter_store_moderation_log_finish (NatterStore *self, GAsyncResult *result, GError **error);

/* Creates the room if missing; returns the stored room either way (members not filled). */
void                 natter_store_create_room_async    (NatterStore *self, const char *name,
                                                        const char *kind, const char *topic,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
NatterRoomRecord    *natter_store_create_room_finish   (NatterStore *self, GAsyncResult *result, GError **error);

/* Returns the room with its members; fails with NATTER_ERROR_NOT_FOUND. */
void                 natter_store_get_room_async       (NatterStore *self, const char *name,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
NatterRoomRecord    *natter_store_get_room_finish      (NatterStore *self, GAsyncResult *result, GError **error);

/* Idempotent; a new member is a NATTER_ROLE_MEMBER, and its invitation is used up. */
void                 natter_store_add_member_async     (NatterStore *self, const char *room, const char *user,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean             natter_store_add_member_finish    (NatterStore *self, GAsyncResult *result, GError **error);
void                 natter_store_remove_member_async  (NatterStore *self, const char *room, const char *user,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean             natter_store_remove_member_finish (NatterStore *self, GAsyncResult *result, GError **error);

/* Assigns the room's next seq in the transaction that persists the message and completes
 * only after commit. A (sender, client_msg_id) seen before returns the original message with
 * duplicate set. The sender's read marker moves to the new seq. */
void                 natter_store_append_message_async (NatterStore *self, const char *room,
                                                        const char *sender, const char *body,
                                                        const char *client_msg_id, const char *kind,
                                                        gint64 ts_ms, GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
NatterAppendResult  *natter_store_append_message_finish (NatterStore *self, GAsyncResult *result, GError **error);

/* Appends @change like natter_store_append_message_async() does a message, in the
 * transaction that applies it to its target: an edit replaces the target's body and sets
 * its edited_ts, a deletion erases its text (and that of its earlier edits) from the store
 * and the search index, a reaction adds or removes the sender's emoji. Fails, with nothing
 * stored, with NATTER_ERROR_NOT_FOUND when the target is not a message of the room or was
 * deleted, NATTER_ERROR_BAD_REQUEST when it is itself a change, and NATTER_ERROR_FORBIDDEN
 * when an edit is not by the target's sender or a deletion neither by it nor a moderator. */
void                 natter_store_change_message_async  (NatterStore *self,
                                                         const NatterMessageChange *change,
                                                         GCancellable *cancellable,
                                                         GAsyncReadyCallback callback, gpointer user_data);
NatterAppendResult  *natter_store_change_message_finish (NatterStore *self, GAsyncResult *result, GError **error);

/* Messages in their current state: the latest body and edited_ts, deleted ones with kind
 * NATTER_MESSAGE_KIND_DELETED and no body, the reactions summed up. */
void                 natter_store_history_async        (NatterStore *self, const char *room,
                                                        const NatterHistoryQuery *query,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
NatterHistoryResult *natter_store_history_finish       (NatterStore *self, GAsyncResult *result, GError **error);

/* Moves the marker forward only. */
void                 natter_store_set_read_async       (NatterStore *self, const char *room, const char *user,
                                                        guint64 seq, GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean             natter_store_set_read_finish      (NatterStore *self, GAsyncResult *result, GError **error);

/* Sets member @user's notification level in @room. Fails with NATTER_ERROR_NOT_FOUND when
 * @user is no member of @room. */
void                 natter_store_set_notification_level_async (NatterStore *self, const char *room,
                                                                const char *user,
                                                                NatterNotificationLevel level,
                                                                GCancellable *cancellable,
                                                                GAsyncReadyCallback callback,
                                                                gpointer user_data);
gboolean             natter_store_set_notification_level_finish (NatterStore *self, GAsyncResult *result,
                                                                 GError **error);

/* Full-text search over the rooms @user is a member of and `system`; newest first.
 * Returns (element-type Natter__Message). Fails with NATTER_ERROR_BAD_REQUEST for a
 * query the index cannot parse. */
void                 natter_store_search_async         (NatterStore *self, const char *user,
                                                        const char *query, const char *room,
                                                        guint limit, GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
GPtrArray           *natter_store_search_finish        (NatterStore *self, GAsyncResult *result, GError **error);

/* What a store can do beyond the above. A shared store has other writers (the other
 * nodes of a cluster): rooms, members and seqs may change behind this process's back,
 * and it can read the last seq of many rooms at once. */
gboolean             natter_store_is_shared            (NatterStore *self);
/* Whether the store can commit now (a shared store's database may be away). */
gboolean             natter_store_is_ready             (NatterStore *self);
/* Shared stores only. Returns (element-type utf8 guint64): room name → last seq, for the
 * rooms of @rooms that exist. */
void                 natter_store_get_last_seqs_async  (NatterStore *self, const char * const *rooms,
                                                        GCancellable *cancellable,
                                                        GAsyncReadyCallback callback, gpointer user_data);
GHashTable          *natter_store_get_last_seqs_finish (NatterStore *self, GAsyncResult *result, GError **error);
/* Appends the store's own Prometheus metrics, if it has any. */
void                 natter_store_append_metrics       (NatterStore *self, GString *out);

/* Records */
Natter__Message *natter_message_new  (const char *room, guint64 seq, gint64 ts,
                                      const char *sender, const char *body,
                                      const char *client_msg_id, const char *kind);
Natter__Message *natter_message_copy (const Natter__Message *message);
void             natter_message_free (Natter__Message *message);
/* Sets what a stored row says beyond natter_message_new(): its target (reply_to for a
 * text, target_seq for a change), when it was edited (0: never) and, for a reaction,
 * whether it was added. */
void             natter_message_set_refs (Natter__Message *message, gboolean has_target,
                                          guint64 target, gint64 edited_ts,
                                          gboolean has_active, gboolean active);
/* Adds @user to the reaction @emoji of @message; rows come grouped by emoji. */
void             natter_message_add_reaction (Natter__Message *message, const char *emoji,
                                              const char *user);
/* @target as the edit, deletion or reaction @change leaves it. */
Natter__Message *natter_message_apply_change (const Natter__Message *target,
                                              const Natter__Message *change);
/* The rules a reply or change by @user (a moderator or not) of a message of @target_sender
 * and @target_kind follows; both stores check them in the transaction that applies it. */
gboolean         natter_store_check_change (const char *kind, const char *user,
                                            gboolean moderator, guint64 target_seq,
                                            const char *target_sender,
                                            const char *target_kind, GError **error);

void natter_user_record_free      (NatterUserRecord *record);
void natter_session_record_free   (NatterSessionRecord *record);
/* The public id of the session whose token hashes to @token_hash. */
char *natter_store_session_id     (const char *token_hash);
void natter_member_record_free    (NatterMemberRecord *record);
void natter_directory_entry_free  (NatterDirectoryEntry *entry);
void natter_invitation_free       (NatterInvitation *invitation);
void natter_moderation_event_free (NatterModerationEvent *event);
/* The protocol's name of @role, and back; FALSE for a name that is no role. */
const char *natter_role_to_string (NatterRole role);
gboolean    natter_role_from_string (const char *name, NatterRole *out_role);
/* The protocol's name of @level ("all", "mentions", "none"), and back. */
const char *natter_notification_level_to_string (NatterNotificationLevel level);
gboolean    natter_notification_level_from_string (const char *name,
                                                   NatterNotificationLevel *out_level);
NatterMemberRecord *natter_member_record_new (const char *user, guint64 read_seq);
NatterRoomRecord *natter_room_record_new (const char *name, const char *kind,
                                          const char *topic, guint64 last_seq);
void natter_room_record_free      (NatterRoomRecord *record);
void natter_store_snapshot_free   (NatterStoreSnapshot *snapshot);
void natter_append_result_free    (NatterAppendResult *result);
void natter_history_result_free   (NatterHistoryResult *result);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Natter__Message, natter_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterUserRecord, natter_user_record_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterSessionRecord, natter_session_record_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterRoomRecord, natter_room_record_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterDirectoryEntry, natter_directory_entry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterInvitation, natter_invitation_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterModerationEvent, natter_moderation_event_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStoreSnapshot, natter_store_snapshot_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterAppendResult, natter_append_result_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterHistoryResult, natter_history_result_free)

G_END_DECLS
