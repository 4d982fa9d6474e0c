/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The hub's internals, shared by the files of core/ that make up NatterHub:
 * natter-hub.c (clients, requests and the rules) and natter-hub-remote.c (what other
 * writers of a shared store and other nodes change). Nothing outside core/ includes
 * this header: the cluster uses the hub's public API (natter-hub.h). */

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

/* natter-hub.c */
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
void  natter_hub_room_committed     (NatterHub             *self,
                                     Room                  *room,
                                     const Natter__Message *message);
void  natter_hub_room_backfill      (NatterHub             *self,
                                     Room                  *room);

/* natter-hub.c: what other nodes change reaches local clients through these. */
gboolean natter_hub_user_online        (NatterHub             *self,
                                        const char            *user);

/* natter-hub-remote.c */
void     natter_hub_merge_room         (NatterHub              *self,
                                        const NatterRoomRecord *record,
                                        guint64                 since_gen);
void     natter_hub_fetch_room         (NatterHub              *self,
                                        const char             *name);
void     natter_hub_append_shared_metrics (NatterHub           *self,
                                           GString             *out);

G_END_DECLS
