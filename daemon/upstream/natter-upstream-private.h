/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* NatterUpstream's internals, shared by the natter-upstream*.c files that make it up.
 * Nothing outside upstream/ includes this header. */

#include <libsoup/soup.h>

#include "natter-account-secret.h"
#include "natter-backend.h"
#include "natter-error.h"
#include "natter-event.h"
#include "natter-hub.h"
#include "natter-seq-order.h"
#include "natter-upstream.h"
#include "natter-upstream-cache.h"

G_BEGIN_DECLS

/* A history page or a resume can be much larger than what the server accepts from us. */
#define MAX_INCOMING_BYTES (32 * 1024 * 1024)
#define HISTORY_PAGE_MAX   200
#define HISTORY_DEFAULT    50
#define SEARCH_MAX         100
#define SEARCH_DEFAULT     20
/* Out-of-order messages kept per room while the gap before them is filled; beyond this
 * they are dropped and fetched again with the gap. */
#define HELD_MAX           10000
#define BACKOFF_MIN_MS     500
#define BACKOFF_MAX_MS     (60 * 1000)
/* How long shutdown waits for the server to answer our close frame. */
#define CLOSE_GRACE_MS     2000

typedef enum {
  LINK_DOWN,     /* no connection (maybe a reconnect timer) */
  LINK_OPENING,  /* TCP, TLS and the WebSocket handshake */
  LINK_LOGIN,    /* waiting for `welcome` */
  LINK_UP,
} LinkState;

typedef struct _UpstreamRequest UpstreamRequest;

typedef void (*ReplyFunc) (NatterUpstream      *self,
                           UpstreamRequest     *req,
                           Natter__ServerFrame *frame);

/* A request on the wire, or waiting for it: either the front end's (@client set), whose
 * reply goes back to it under its own id, or our own (@on_reply set). */
struct _UpstreamRequest
{
  Natter__ClientFrame *frame;         /* (owned) */
  NatterClient        *client;        /* (owned) (nullable) */
  guint64              client_id;
  gboolean             has_client_id;
  guint64              wire_id;
  ReplyFunc            on_reply;      /* (nullable) */
  char                *room;          /* (owned) (nullable) */
  gboolean             with_token;    /* a login with the token */
};

/* What the link knows of one room of the account. Messages go to the front end and the
 * cache strictly in seq order: @order's cursor is the last one passed on, later ones wait
 * there until the gap before them is filled by a resume or a history page. */
typedef struct
{
  NatterUpstream *upstream;   /* (unowned) */
  char           *name;       /* (owned) */
  char           *kind;       /* (owned) */
  char           *topic;      /* (owned) (nullable) */
  NatterSeqOrder *order;      /* (owned) */
  guint64         floor;      /* seqs up to this one are old history: cached, not announced */
  guint64         read_seq;
  gboolean        resuming;   /* a `join {since_seq}` replay may still be arriving */
  guint64         resume_end;
  gboolean        gapped;     /* seqs were skipped: the local copy of the room stops */
  GHashTable     *members;    /* (owned) set of user names */
  /* Who may see and moderate the room, as the server last said (not kept in the cache). */
  gboolean        is_private;
  char           *role;       /* (owned) (nullable) the account's */
  GHashTable     *roles;      /* (owned) owners and moderators: user name → role (owned) */
  char           *notification_level; /* (owned) (nullable) the account's, as the server said */
} UpstreamRoom;

struct _NatterUpstream
{
  GObject                  parent_instance;

  /* Settings */
  char                    *data_dir;          /* (owned) */
  guint                    ping_interval_s;
  guint                    ping_timeout_s;
  GTlsDatabase            *ca_database;       /* (owned) (nullable) --ca-file */
  gboolean                 allow_insecure;    /* --allow-insecure-upstream */
  SoupSession             *session;           /* (owned) */

  /* The account */
  char                    *server;            /* (owned) (nullable) */
  char                    *user;              /* (owned) (nullable) */
  char                    *token;             /* (owned) (nullable) wiped when dropped */
  char                    *password;          /* (owned) (nullable) kept only until used */
  gboolean                 remember;          /* keep the token in the Secret Service */
  gboolean                 forget_on_login;   /* Connect(remember = false): drop stored secrets */
  gboolean                 register_first;    /* CreateAccount(): `register`, not `login` */
  gboolean                 keyring_checked;
  gboolean                 want_link;         /* connect, and reconnect when the link drops */
  GCancellable            *account_cancellable; /* (owned) cancelled when the account changes */
  NatterUpstreamCache     *cache;             /* (owned) (nullable) */
  gboolean                 cache_ready;       /* opened, or failed to */
  GHashTable              *rooms;             /* (owned) name → UpstreamRoom * (owned) */
  GHashTable              *left_rooms;        /* (owned) name → guint64 * (owned): how far
                                               * the copy of a room the account left goes */

  /* The link */
  LinkState                link;
  SoupWebsocketConnection *ws;                /* (owned) (nullable) */
  GCancellable            *link_cancellable;  /* (owned) (nullable) */
  GTlsCertificateFlags     tls_errors;        /* of the last handshake */
  GHashTable              *requests;          /* (owned) &wire_id → UpstreamRequest * (owned) */
  guint64                  next_id;
  gint64                   last_rx;           /* monotonic µs of the last frame or pong */
  guint                    heartbeat_source;
  guint                    reconnect_source;
  guint                    close_grace_source;
  guint                    attempt_timeout_source;
  guint                    attempt;           /* failed attempts since the last welcome */
  Natter__ServerFrame     *stashed_welcome;   /* (owned) (nullable) while the cache is reset */
  GQueue                   stashed_frames;    /* (owned) Natter__ServerFrame * (owned) */

  /* The front end */
  NatterClient            *client;            /* (owned) (nullable) */
  GQueue                   outbox;            /* (owned) UpstreamRequest * (owned): sends waiting */

  char                    *status;            /* (owned) */
  char                    *status_message;    /* (owned) */
  GTask                   *connect_task;      /* (owned) (nullable) a Connect() in progress */
  GTask                   *shutdown_task;     /* (owned) (nullable) */
};

/* natter-upstream.c: the object, its status and its front end */
void natter_upstream_wipe_string (char **str);
GPtrArray *natter_upstream_hash_table_values (GHashTable *table);
Natter__ClientFrame *natter_upstream_client_frame_new (Natter__ClientFrame__OpCase op);
void natter_upstream_request_free (UpstreamRequest *req);
const char *natter_upstream_server_label (NatterUpstream *self);
void natter_upstream_set_status (NatterUpstream *self,
                                 const char     *status,
                                 const char     *format,
                                 ...) G_GNUC_PRINTF (3, 4);
void natter_upstream_complete_connect (NatterUpstream *self,
                                       const GError   *error);
void natter_upstream_fail_connect (NatterUpstream *self,
                                   NatterError     code,
                                   const char     *message);
void natter_upstream_deliver (NatterUpstream            *self,
                              const Natter__ServerFrame *frame);
void natter_upstream_reply (UpstreamRequest     *req,
                            Natter__ServerFrame *frame);
void natter_upstream_reply_error (UpstreamRequest *req,
                                  NatterError      code,
                                  const char      *format,
                                  ...) G_GNUC_PRINTF (3, 4);
void natter_upstream_deliver_member (NatterUpstream *self,
                                     const char     *room,
                                     const char     *user,
                                     gboolean        joined);
void natter_upstream_set_account (NatterUpstream *self,
                                  const char     *server,
                                  const char     *user);
gboolean natter_upstream_validate_url (const char  *url,
                                      gboolean     allow_insecure,
                                      GError     **error);

/* natter-upstream-link.c: the connection, logging in, frames from the server */
void natter_upstream_send_request (NatterUpstream  *self,
                                   UpstreamRequest *req);
void natter_upstream_send_own_request (NatterUpstream      *self,
                                       Natter__ClientFrame *frame,
                                       const char          *room,
                                       ReplyFunc            on_reply);
void natter_upstream_continue_welcome (NatterUpstream      *self,
                                       Natter__ServerFrame *frame);
void natter_upstream_handle_frame (NatterUpstream      *self,
                                   Natter__ServerFrame *frame);
void natter_upstream_begin_attempt (NatterUpstream *self);
void natter_upstream_link_lost (NatterUpstream *self,
                                const char     *reason);

/* natter-upstream-tls.c: the server's certificate */
char *natter_upstream_describe_certificate_errors (GTlsCertificateFlags flags);
gboolean natter_upstream_accept_certificate_cb (SoupMessage          *msg,
                                                GTlsCertificate      *certificate,
                                                GTlsCertificateFlags  errors,
                                                NatterUpstream       *self);

/* natter-upstream-rooms.c: the mirrored rooms and their in-order delivery */
UpstreamRoom *natter_upstream_room_new (NatterUpstream *self,
                                        const char     *name,
                                        const char     *kind,
                                        guint64         last_seq);
void natter_upstream_room_free (UpstreamRoom *room);
guint64 natter_upstream_room_seen (UpstreamRoom *room);
void natter_upstream_drop_all_rooms (NatterUpstream *self);
Natter__RoomInfo **natter_upstream_local_room_infos (NatterUpstream    *self,
                                                     gsize             *out_n,
                                                     Natter__RoomInfo **out_storage);
void natter_upstream_deliver_local_welcome (NatterUpstream *self);
UpstreamRoom *natter_upstream_ensure_room (NatterUpstream *self,
                                           const char     *name,
                                           const char     *kind,
                                           gboolean       *out_created);
void natter_upstream_forget_room (NatterUpstream *self,
                                  const char     *name);
void natter_upstream_handle_message (NatterUpstream        *self,
                                     const Natter__Message *message);
void natter_upstream_apply_joined (NatterUpstream       *self,
                                   const Natter__Joined *joined);
void natter_upstream_resume_reply (NatterUpstream      *self,
                                   UpstreamRequest     *req,
                                   Natter__ServerFrame *frame);
void natter_upstream_handle_topic (NatterUpstream       *self,
                                   const Natter__Topic  *topic);
void natter_upstream_room_roles (UpstreamRoom *room,
                                 GPtrArray    *owners,
                                 GPtrArray    *moderators);
void natter_upstream_handle_member (NatterUpstream       *self,
                                    const Natter__Member *member);
void natter_upstream_handle_receipt (NatterUpstream        *self,
                                     const Natter__Receipt *receipt);
void natter_upstream_set_notification_level (UpstreamRoom *room,
                                             const char   *level);
void natter_upstream_handle_notification_level (NatterUpstream                  *self,
                                                const Natter__NotificationLevel *level);

/* natter-upstream-offline.c: answers from the local copy */
void natter_upstream_answer_offline (NatterUpstream  *self,
                                     UpstreamRequest *req);

/* natter-upstream-account.c: the account, its secrets and its local copy; Connect() and friends */
void natter_upstream_proceed (NatterUpstream *self);
void natter_upstream_open_cache (NatterUpstream *self);
void natter_upstream_connect_async (NatterBackend       *backend,
                                    const char          *url,
                                    const char          *user,
                                    const char          *password,
                                    gboolean             remember,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
void natter_upstream_create_account_async (NatterBackend       *backend,
                                           const char          *url,
                                           const char          *user,
                                           const char          *password,
                                           gboolean             remember,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
gboolean natter_upstream_connect_finish (NatterBackend  *self,
                                         GAsyncResult   *result,
                                         GError        **error);
gboolean natter_upstream_disconnect (NatterBackend  *backend,
                                     GError        **error);
void natter_upstream_forget_account_async (NatterBackend       *backend,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);
gboolean natter_upstream_forget_account_finish (NatterBackend  *self,
                                                GAsyncResult   *result,
                                                GError        **error);
void natter_upstream_password_changed_async (NatterBackend       *backend,
                                             const char          *password,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
gboolean natter_upstream_password_changed_finish (NatterBackend  *self,
                                                  GAsyncResult   *result,
                                                  GError        **error);
void natter_upstream_logged_out_async (NatterBackend       *backend,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
gboolean natter_upstream_logged_out_finish (NatterBackend  *self,
                                            GAsyncResult   *result,
                                            GError        **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (UpstreamRequest, natter_upstream_request_free)

G_END_DECLS
