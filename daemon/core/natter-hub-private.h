/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The hub's internals, shared by the files of core/ that make up NatterHub, one concern
 * each:
 * - natter-hub.c: the object, requests and replies, the dispatch queue, clients, start,
 *   drain, metrics, and the NatterBackend the front ends use;
 * - natter-hub-rooms.c: rooms, members, subscriptions, presence, delivery in seq order,
 *   join and leave;
 * - natter-hub-login.c: register, login, tokens, the welcome, abuse limits, and the
 *   password check every operation that takes a password goes through;
 * - natter-hub-account.c: logout, sessions, revoke, password, delete_account and the
 *   administrators' account operations; closing ended sessions;
 * - natter-hub-requests.c: send, broadcast, history, room list, read, typing, search;
 * - natter-hub-moderation.c: who may see, join and moderate a room; create, invite,
 *   directory, roles, kick, ban, topic and blocks;
 * - natter-hub-levels.c: each member's notification level in a room;
 * - natter-hub-remote.c: what other writers of a shared store and other nodes change.
 * Nothing outside core/ includes this header: the cluster uses the hub's public API
 * (natter-hub.h). */

#include "natter-error.h"
#include "natter-hub.h"
#include "natter-seq-order.h"
#include "natter-throttle.h"

G_BEGIN_DECLS

typedef struct _Room Room;
typedef struct _Sub Sub;
typedef struct _ClientState ClientState;

struct _Room
{
  NatterHub      *hub;            /* (unowned) */
  char           *name;           /* (owned) */
  char           *kind;           /* (owned) */
  char           *topic;          /* (owned) (nullable) */
  /* Delivery to local clients in seq order, with later seqs held for a gap: see
   * natter_room_delivered_seq() and natter_room_last_seq(). */
  NatterSeqOrder *order;          /* (owned) */
  GHashTable     *members;        /* (owned) user name → read seq (guint64 *) */
  GHashTable     *subs;           /* (owned) ClientState * → Sub * (unowned, owned by the client) */
  /* The hub's membership_gen when this room's members last changed (shared store only). */
  guint64         membership_gen;
  /* Who may see and moderate it (natter-hub-moderation.c). */
  gboolean        is_private;
  GHashTable     *roles;          /* (owned) member → NatterRole, above NATTER_ROLE_MEMBER only */
  GHashTable     *invited;        /* (owned) set of user names */
  GHashTable     *banned;         /* (owned) set of user names */
  /* Members' notification levels (natter-hub-levels.c), other than "all". */
  GHashTable     *levels;         /* (owned) member → NatterNotificationLevel */
};

/* The highest seq delivered to local clients, in order. */
static inline guint64
natter_room_delivered_seq (Room *room)
{
  return natter_seq_order_get_cursor (room->order);
}

/* The highest seq known committed. */
static inline guint64
natter_room_last_seq (Room *room)
{
  return natter_seq_order_get_known (room->order);
}

struct _Sub
{
  Room    *room;              /* (unowned) */
  guint64  delivered;         /* highest seq sent to this client */
  guint64  first_live;        /* first seq delivered live, 0 if none yet */
  gboolean catching_up;       /* a resume is in flight: live messages are held */
  GQueue   held;              /* (owned) NatterEvent * with seq in held_seqs */
  GArray  *held_seqs;         /* (owned) guint64 */
};

struct _ClientState
{
  NatterClient *client;       /* (owned) */
  char         *user;         /* (owned) (nullable) until logged in */
  /* The session (token) it logged in with; NULL for front ends that have none. */
  char         *session;      /* (owned) (nullable) */
  gboolean      admin;
  gboolean      logging_in;
  /* Requests run in the order they came, except that sends, reads and typing may overlap
   * one another: anything else (login, join, history, …) waits for what came before it,
   * and what comes after waits for it. So a pipelined join-then-send or send-then-history
   * does what it says. */
  GQueue        waiting;      /* (owned) Natter__ClientFrame * not started yet */
  guint         running;      /* requests started and not answered */
  gboolean      barrier;      /* the running request is one that others wait for */
  gboolean      pumping;
  GHashTable   *subs;         /* (owned) room name → Sub * (owned) */
  NatterBucket  send_bucket;  /* sends of this connection */
  NatterBucket  event_bucket; /* typing notices and read markers of this connection */
};

struct _NatterHub
{
  GObject       parent_instance;

  NatterStore  *store;        /* (owned) */
  NatterConfig *config;       /* (unowned) outlives the hub */
  GHashTable   *rooms;        /* (owned) name → Room * (owned) */
  GHashTable   *user_rooms;   /* (owned) user → GHashTable set of Room * (unowned) */
  GHashTable   *clients;      /* (owned) NatterClient * → ClientState * (owned) */
  GHashTable   *online;       /* (owned) user → GPtrArray of ClientState * (unowned) */
  NatterBuckets *user_buckets; /* (owned) sends of each account, all connections */
  /* Abuse limits (natter-hub.c, "Rate limits"): a stranger's guesses slow the stranger,
   * not the account's owner, and no address can keep the password hashers to itself. */
  NatterThrottle *login_throttle;   /* (owned) failed logins per (account, address) */
  NatterThrottle *address_throttle; /* (owned) failed logins per address */
  NatterBuckets  *password_buckets; /* (owned) password checks per address */
  NatterBuckets  *register_buckets; /* (owned) registrations per address */
  NatterBuckets  *room_buckets;     /* (owned) rooms created per account */
  NatterBuckets  *invite_buckets;   /* (owned) invitations sent per account */
  NatterBuckets  *directory_buckets; /* (owned) directory queries per account */
  Room         *system;       /* (unowned) */

  gboolean      started;
  gboolean      draining;
  guint         in_flight;
  GTask        *drain_task;   /* (owned) (nullable) */

  guint64       n_messages;
  guint64       n_deliveries;
  guint64       n_requests;
  guint64       n_errors[NATTER_ERROR_N_CODES];

  /* A shared store (natter-hub-remote.c): other nodes write to it too. */
  gboolean      shared;
  /* Accounts that other nodes say are online (natter_hub_set_online_elsewhere()). */
  GHashTable   *online_elsewhere;  /* (owned) set of user names */
  gboolean      reloading;         /* a full membership reload is in flight */
  guint64       membership_gen;    /* bumped at every membership change */
  guint64       n_catch_ups;       /* messages delivered by back-filling from the store */
};

/* natter-hub-rooms.c: rooms and members, for natter-hub-remote.c too */
void  natter_hub_room_set_read_seq  (Room                  *room,
                                     const char            *user,
                                     guint64                seq);
void  natter_hub_add_member         (NatterHub             *self,
                                     Room                  *room,
                                     const char            *user,
                                     guint64                read_seq);
void  natter_hub_remove_member      (NatterHub             *self,
                                     Room                  *room,
                                     const char            *user);
Room *natter_hub_add_room           (NatterHub             *self,
                                     const char            *name,
                                     const char            *kind,
                                     const char            *topic,
                                     guint64                last_seq);
void  natter_hub_subscribe_user     (NatterHub             *self,
                                     const char            *user,
                                     Room                  *room,
                                     guint64                from_seq);
void  natter_hub_deliver_to_room    (NatterHub             *self,
                                     Room                  *room,
                                     NatterEvent           *event,
                                     ClientState           *except);
void  natter_hub_send_presence      (NatterHub             *self,
                                     const char            *user,
                                     gboolean               online);
void  natter_hub_send_member_event  (NatterHub             *self,
                                     Room                  *room,
                                     const char            *user,
                                     gboolean               joined);
/* With the member's @role (nullable) or who removed them, @by (nullable), and whether
 * that removal was a ban. */
void  natter_hub_send_member_event_full (NatterHub         *self,
                                         Room              *room,
                                         const char        *user,
                                         gboolean           joined,
                                         const char        *role,
                                         const char        *by,
                                         gboolean           banned);
/* @by (nullable) removed @user from @room (a kick, or a ban if @banned): as
 * natter_hub_remove_member(). */
void  natter_hub_remove_member_by   (NatterHub             *self,
                                     Room                  *room,
                                     const char            *user,
                                     const char            *by,
                                     gboolean               banned);
/* As natter_hub_remove_member(), telling the room's sessions with @event (a `member`
 * frame, as another node sent it). */
void  natter_hub_remove_member_event (NatterHub            *self,
                                      Room                 *room,
                                      const char           *user,
                                      NatterEvent          *event);
void  natter_hub_room_committed     (NatterHub             *self,
                                     Room                  *room,
                                     const Natter__Message *message);
void  natter_hub_room_backfill      (NatterHub             *self,
                                     Room                  *room);

/* Limits of the protocol and of the hub. */
#define DEFAULT_HISTORY_LIMIT 50
#define DEFAULT_SEARCH_LIMIT  20
#define MAX_QUERY_CHARS       256
#define MAX_CLIENT_MSG_ID     64
#define MAX_EMOJI_BYTES       32
/* The largest page the stores return at once. */
#define MAX_PAGE              200
#define MIN_PASSWORD_BYTES    8
#define MAX_PASSWORD_BYTES    1024
/* When to try again after a rate_limited error that carries no time of its own (the
 * password hashing queue was full). */
#define BUSY_RETRY_MS         1000
/* Requests a client may queue behind one that others wait for. */
#define MAX_WAITING_FRAMES    256
/* How long a later seq is held while an earlier one is missing, before back-filling it
 * from the store (only happens when several nodes commit into one room). */
#define GAP_HOLD_MS           50
/* How long a back-fill that failed (the store is unreachable) waits before trying again. */
#define GAP_RETRY_MS          1000

enum {
  SIGNAL_MESSAGE_COMMITTED,
  SIGNAL_ROOM_EVENT,
  SIGNAL_MEMBER_CHANGED,
  SIGNAL_PRESENCE_CHANGED,
  SIGNAL_ROOM_WATCHED,
  SIGNAL_ROOM_UNWATCHED,
  SIGNAL_SESSIONS_ENDED,
  N_SIGNALS
};

/* natter-hub.c: the hub's signals (what other nodes must hear of). */
extern guint natter_hub_signals[N_SIGNALS];

/* A request in flight. Holds the hub and the client alive until it is answered. */
typedef struct _Request Request;
struct _Request
{
  gint                 ref_count;
  NatterHub           *hub;     /* (owned) */
  NatterClient        *client;  /* (owned) */
  Natter__ClientFrame *frame;   /* (owned) */
  guint64              id;
  gboolean             has_id;
  char                *user;    /* (owned) (nullable) scratch */
  char                *room;    /* (owned) (nullable) scratch */
  char                *token;   /* (owned) (nullable) scratch */
  char                *login_key; /* (owned) (nullable) the login throttle's key */
  const char          *password;  /* (unowned) (nullable) in frame, being checked */
  void               (*verified) (Request *req); /* where a password check continues */
  gboolean             admin;
  gboolean             owner;     /* the account checked is natterd's local owner */
  gboolean             disabled;  /* the account checked is disabled */
  guint64              since_seq;
  gboolean             has_since;
  guint64              resume_end;
  gboolean             barrier;
  GAsyncReadyCallback  then;    /* where a multi-step request continues */
  /* Shared store: the room was read again from the store, and the request rerun. */
  gboolean             refreshed;
  guint64              refresh_gen;
  /* join of a new name: creating it lost to another creator; it joins their room. */
  gboolean             lost_create;
  /* send {to}: the recipient does not block the sender. */
  gboolean             block_checked;
};

static inline gint64
natter_hub_now_ms (void)
{
  return g_get_real_time () / 1000;
}

/* natter-hub.c: requests, replies, dispatch, clients */
void natter_hub_handle_request (Request     *req,
                           ClientState *cs);
void natter_hub_reply (Request *req, Natter__ServerFrame *frame);
void natter_hub_reply_ok (Request *req);
void natter_hub_reply_with_error (Request *req, NatterError code, const char *format, ...) G_GNUC_PRINTF (3, 4);
void natter_hub_reply_with_gerror (Request *req, const GError *error);
Request * natter_hub_request_ref (Request *req);
void natter_hub_request_unref (Request *req);
void natter_hub_send_error (NatterHub *self, NatterClient *client, gboolean has_id, guint64 id,
                       NatterError code, const char *message, guint retry_after_ms);

/* natter-hub-rooms.c */
void natter_hub_client_state_free (ClientState *cs);
ClientState * natter_hub_client_state_new (NatterClient *client);
void natter_hub_deliver (NatterHub *self, ClientState *cs, NatterEvent *event);
void natter_hub_handle_join (Request *req, ClientState *cs);
void natter_hub_handle_leave (Request *req, ClientState *cs);
ClientState * natter_hub_lookup_client (NatterHub *self, NatterClient *client);
gboolean natter_hub_refresh_and_retry (Request *req, const char *name);
void natter_hub_room_created_cb (GObject *source, GAsyncResult *result, gpointer user_data);
void natter_hub_room_drop_sub (NatterHub *self, Room *room, ClientState *cs);
Room * natter_hub_room_for_reading (Request *req, const char *user, const char *name);
void natter_hub_room_free (Room *room);
gboolean natter_hub_room_is_member (Room *room, const char *user);
void natter_hub_room_add_mentions (Room *room, Natter__Message *message);
guint64 natter_hub_room_read_seq (Room *room, const char *user);
void natter_hub_subscribe (NatterHub *self, ClientState *cs, Room *room, guint64 from_seq);
GHashTable * natter_hub_user_rooms (NatterHub *self, const char *user, gboolean create);

/* natter-hub-login.c */
gboolean natter_hub_event_rate_check (Request *req, ClientState *cs);
void natter_hub_finish_login (Request *req, const char *user, gboolean admin);
void natter_hub_handle_login (Request *req, ClientState *cs);
void natter_hub_handle_register (Request *req, ClientState *cs);
gboolean natter_hub_rate_check (NatterHub *self, ClientState *cs, guint *retry_after_ms);
gboolean natter_hub_check_password (Request *req, ClientState *cs, const char *user,
                                    const char *password, void (*verified) (Request *req));
/* natter-hub-account.c */
void natter_hub_handle_logout (Request *req, ClientState *cs);
void natter_hub_handle_sessions (Request *req, ClientState *cs);
void natter_hub_handle_revoke (Request *req, ClientState *cs);
void natter_hub_handle_password (Request *req, ClientState *cs);
void natter_hub_handle_delete_account (Request *req, ClientState *cs);
void natter_hub_handle_admin_users (Request *req, ClientState *cs);
void natter_hub_handle_admin_set_enabled (Request *req, ClientState *cs);
/* Closes the local connections of @user whose session is in @sessions (all of them if
 * NULL) but @except, with 1008. */
void natter_hub_close_sessions (NatterHub *self, const char *user,
                                const char * const *sessions, ClientState *except,
                                const char *reason);
void natter_hub_reply_rate_limited (Request *req, guint retry_after_ms, const char *message);
Natter__RoomInfo ** natter_hub_room_infos (NatterHub *self, const char *user, gsize *n_out, Natter__RoomInfo **storage);

/* natter-hub-requests.c */
void natter_hub_handle_broadcast (Request *req, ClientState *cs);
void natter_hub_handle_history (Request *req, ClientState *cs);
void natter_hub_handle_read (Request *req, ClientState *cs);
void natter_hub_handle_rooms (Request *req, ClientState *cs);
void natter_hub_handle_search (Request *req, ClientState *cs);
void natter_hub_handle_edit (Request *req, ClientState *cs);
void natter_hub_handle_delete (Request *req, ClientState *cs);
void natter_hub_handle_react (Request *req, ClientState *cs);
void natter_hub_handle_send (Request *req, ClientState *cs);
void natter_hub_handle_typing (Request *req, ClientState *cs);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Request, natter_hub_request_unref)

/* natter-hub-rooms.c: presence is the union of this node's sessions and other nodes'. */
gboolean natter_hub_user_online        (NatterHub             *self,
                                        const char            *user);

/* natter-hub-rooms.c: req->room was created for, or joined by, req->user in the store. */
void natter_hub_join_added (Request *req);

/* natter-hub-moderation.c */
void       natter_hub_room_apply_record  (Room                   *room,
                                          const NatterRoomRecord *record);
NatterRole natter_hub_room_role          (Room *room, const char *user);
/* Whether @user may see @room at all: public, or a member or invitee of a private one. */
gboolean   natter_hub_room_visible       (Room *room, const char *user, gboolean admin);
/* Whether @cs may join @room; answers forbidden when not. */
gboolean   natter_hub_may_join           (Request *req, ClientState *cs, Room *room);
gboolean   natter_hub_may_leave          (Request *req, Room *room, const char *user);
/* send {to}: checks once that @to does not block the sender, then runs the request again.
 * Returns TRUE when it took the request over (answered it, or will run it again). */
gboolean   natter_hub_check_blocked      (Request *req, ClientState *cs, const char *to);
void       natter_hub_apply_remote_invite     (NatterHub                 *self,
                                               Room                      *room,
                                               const Natter__Invited     *invite);
gboolean   natter_hub_apply_remote_moderation (NatterHub                 *self,
                                               Room                      *room,
                                               const Natter__ServerFrame *frame,
                                               gboolean                  *out_deliver);
void natter_hub_handle_create    (Request *req, ClientState *cs);
void natter_hub_handle_invite    (Request *req, ClientState *cs);
void natter_hub_handle_directory (Request *req, ClientState *cs);
void natter_hub_handle_set_role  (Request *req, ClientState *cs);
/* kick, ban and unban */
void natter_hub_handle_ban       (Request *req, ClientState *cs);
void natter_hub_handle_set_topic (Request *req, ClientState *cs);
/* block and unblock */
void natter_hub_handle_block     (Request *req, ClientState *cs);
void natter_hub_handle_invitations (Request *req, ClientState *cs);
void natter_hub_handle_decline   (Request *req, ClientState *cs);
/* The moderation log (natter-hub-modlog.c): adds an event after a moderation, and
 * answers moderation_log. */
void natter_hub_log_moderation   (NatterHub *self, const char *room, const char *kind,
                                  const char *user, const char *by, const char *reason,
                                  const char *role, const char *topic);
void natter_hub_handle_moderation_log (Request *req, ClientState *cs);

/* natter-hub-levels.c */
NatterNotificationLevel natter_hub_room_notification_level (Room *room, const char *user);
void natter_hub_handle_set_notification_level (Request *req, ClientState *cs);
/* Another node's session of @frame's account set its level: passes it on to this node's
 * sessions of the account. */
void natter_hub_receive_notification_level (NatterHub *self, Room *room,
                                            const Natter__ServerFrame *frame);

/* natter-hub-remote.c */
void     natter_hub_merge_room         (NatterHub              *self,
                                        const NatterRoomRecord *record,
                                        guint64                 since_gen);
void     natter_hub_fetch_room         (NatterHub              *self,
                                        const char             *name);
void     natter_hub_append_shared_metrics (NatterHub           *self,
                                           GString             *out);

G_END_DECLS
