/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-fuzz"

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-fuzz.h"
#include "natter-hub.h"
#include "natter-store-sqlite.h"

/*
 * The command dispatcher under hostile requests: a real hub over a real SQLite store,
 * and a few clients that send what the input says.
 *
 * An input is lines of `natter.v1.json` frames, one frame per line. A line that starts
 * with a digit goes to client (digit mod 3), without the digit; any other line to client
 * 0. Each line is decoded as a session decodes a text frame and handed to the hub, or
 * answered with the decode error. Clients run their requests concurrently, as sessions
 * do; an empty line waits until every request before it was answered, which orders
 * requests across clients. To wait, each client sends a sentinel request, which the hub
 * runs only after every earlier request of that client was answered. The input ends with
 * such a wait.
 *
 * The account ADMIN_USER, with password ADMIN_PASSWORD, is an admin, for `broadcast`.
 * With NATTER_FUZZ_TRACE set, every frame a client receives is printed, to follow what a
 * reproducer does.
 *
 * Every input gets a new hub over a new database, torn down before the input ends: an
 * input does what it does whatever ran before it, so a reproducer reproduces, and what
 * one input allocates it frees, so that libFuzzer's leak check runs only when something
 * leaked (it scans the whole heap, which costs more than the input).
 */

#define N_CLIENTS    3
#define MAX_FRAMES   64
/* Requests are answered in milliseconds; this is for a hub that forgot one. */
#define DEADLINE_S   20
/* The sentinel's id; a request of the input that has it is moved one below. */
#define SENTINEL_ID  G_MAXUINT64
#define ADMIN_USER     "admin"
#define ADMIN_PASSWORD "correct horse"

/* ------------------------------------------------------------------------------------ */
/* A front end that checks what the hub sends it */

#define FUZZ_TYPE_CLIENT (fuzz_client_get_type ())
G_DECLARE_FINAL_TYPE (FuzzClient, fuzz_client, FUZZ, CLIENT, NatterClient)

struct _FuzzClient
{
  NatterClient parent_instance;
  guint        number;
  gboolean     answered;  /* the sentinel got its reply */
};

G_DEFINE_FINAL_TYPE (FuzzClient, fuzz_client, NATTER_TYPE_CLIENT)

static void
fuzz_client_deliver (NatterClient *client,
                     NatterEvent  *event)
{
  FuzzClient *self = FUZZ_CLIENT (client);
  const Natter__ServerFrame *frame = natter_event_get_frame (event);

  /* Whatever a client sends, what natterd answers is a frame any client can read. */
  for (NatterCodec codec = NATTER_CODEC_JSON; codec < NATTER_CODEC_N; codec++)
    {
      g_autoptr(GError) error = NULL;
      gsize len;
      const guint8 *data = g_bytes_get_data (natter_event_get_bytes (event, codec), &len);
      g_autofree guint8 *copy = len > 0 ? g_memdup2 (data, len) : NULL;
      g_autoptr(Natter__ServerFrame) decoded =
        natter_codec_decode_server_frame (codec, copy, len, &error);

      if (decoded == NULL)
        g_error ("natterd sent a %s frame that does not decode: %s",
                 natter_codec_to_subprotocol (codec), error->message);
    }

  if (frame->has_id && frame->id == SENTINEL_ID)
    {
      self->answered = TRUE;
      return;
    }
  if (g_getenv ("NATTER_FUZZ_TRACE") != NULL)
    {
      gsize len;
      const char *text = g_bytes_get_data (natter_event_get_bytes (event, NATTER_CODEC_JSON),
                                           &len);

      g_printerr ("%u< %.*s\n", self->number, (int) len, text);
    }
}

static void
fuzz_client_class_init (FuzzClientClass *klass)
{
  NATTER_CLIENT_CLASS (klass)->deliver = fuzz_client_deliver;
}

static void
fuzz_client_init (FuzzClient *self)
{
}

/* ------------------------------------------------------------------------------------ */
/* The hub and its store */

typedef struct
{
  char         *dir;     /* (owned) (nullable) */
  NatterConfig *config;  /* (owned) */
  NatterStore  *store;   /* (owned) */
  NatterHub    *hub;     /* (owned) */
} World;

static void
started_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_hub_start_finish (NATTER_HUB (source), result, &error))
    g_error ("the hub did not start: %s", error->message);
  *(gboolean *) user_data = TRUE;
}

static void
admin_created_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_hub_create_user_finish (NATTER_HUB (source), result, &error))
    g_error ("no admin account: %s", error->message);
  *(gboolean *) user_data = TRUE;
}

/* On tmpfs when there is one: SQLite's fsync()s on a disk cost more than the rest of an
 * input, and durability is not what this target is about. */
static char *
make_world_dir (GError **error)
{
  g_autofree char *shm = g_strdup ("/dev/shm/natter-fuzz-XXXXXX");

  if (g_mkdtemp (shm) != NULL)
    return g_steal_pointer (&shm);
  return g_dir_make_tmp ("natter-fuzz-XXXXXX", error);
}

static void
world_start (World *world)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  gboolean started = FALSE;
  gboolean admin_created = FALSE;

  world->dir = make_world_dir (&error);
  if (world->dir == NULL)
    g_error ("no temporary directory: %s", error->message);
  path = g_build_filename (world->dir, "natter.db", NULL);

  world->config = natter_config_new_defaults ();
  /* Limits small enough that a short input reaches them. */
  world->config->resume_cap = 4;
  world->config->max_rooms_per_user = 4;
  world->config->max_members_per_room = 3;

  world->store = natter_store_sqlite_new (path, NATTER_DURABILITY_NORMAL, &error);
  if (world->store == NULL)
    g_error ("no store: %s", error->message);
  world->hub = natter_hub_new (world->store, world->config);
  natter_hub_start_async (world->hub, NULL, started_cb, &started);
  while (!started)
    g_main_context_iteration (NULL, TRUE);
  natter_hub_create_user_async (world->hub, ADMIN_USER, ADMIN_PASSWORD, NATTER_ACCOUNT_ADMIN, NULL,
                                admin_created_cb, &admin_created);
  while (!admin_created)
    g_main_context_iteration (NULL, TRUE);
}

static void
world_stop (World *world)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  g_clear_object (&world->hub);
  natter_store_close (world->store);
  g_clear_object (&world->store);
  g_clear_pointer (&world->config, natter_config_free);
  /* Whatever finished after the last reply (presence, timers) runs now. */
  while (g_main_context_iteration (NULL, FALSE))
    ;

  /* The database and its journals: the directory holds nothing else. */
  dir = g_dir_open (world->dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (world->dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (world->dir);
  g_clear_pointer (&world->dir, g_free);
}

static void
dispatch_init (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      natter_fuzz_init ();
      /* Password hashing is not what this target is about: make it cheap. */
      natter_auth_set_cost (1, 8192);
      g_once_init_leave (&initialized, 1);
    }
}

/* ------------------------------------------------------------------------------------ */
/* One input */

/* Handles one frame as NatterSession handles a text frame. */
static void
dispatch_line (NatterHub    *hub,
               FuzzClient   *client,
               const guint8 *line,
               gsize         len)
{
  g_autoptr(GError) error = NULL;
  /* An exact-size copy, so that a read past the end of the frame shows under ASan. */
  g_autofree guint8 *data = g_memdup2 (line, len);
  Natter__ClientFrame *frame;

  frame = natter_codec_decode_client_frame (NATTER_CODEC_JSON, data, len, &error);
  if (frame == NULL)
    {
      guint64 id = 0;
      gboolean has_id = natter_codec_peek_id (NATTER_CODEC_JSON, data, len, &id);

      if (id == SENTINEL_ID)
        id--;
      natter_hub_reply_error (hub, NATTER_CLIENT (client), id, has_id, error);
      return;
    }
  if (frame->has_id && frame->id == SENTINEL_ID)
    frame->id--;
  natter_hub_dispatch (hub, NATTER_CLIENT (client), frame);
}

static void
send_sentinel (NatterHub  *hub,
               FuzzClient *client)
{
  /* Allocated as protobuf-c does, since the hub frees it as an unpacked frame. */
  Natter__ClientFrame *frame = g_new0 (Natter__ClientFrame, 1);

  natter__client_frame__init (frame);
  frame->has_id = TRUE;
  frame->id = SENTINEL_ID;
  /* Without an operation: a barrier that is answered with an error at once. */
  natter_hub_dispatch (hub, NATTER_CLIENT (client), frame);
}

static gboolean
all_answered (FuzzClient **clients)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    if (!clients[i]->answered)
      return FALSE;
  return TRUE;
}

static gboolean
deadline_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Waits until every request the clients sent so far was answered. */
static void
wait_for_replies (NatterHub   *hub,
                  FuzzClient **clients)
{
  gboolean expired = FALSE;
  guint deadline_id;

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      clients[i]->answered = FALSE;
      send_sentinel (hub, clients[i]);
    }

  deadline_id = g_timeout_add_seconds (DEADLINE_S, deadline_cb, &expired);
  while (!all_answered (clients))
    {
      if (expired)
        g_error ("the hub left requests unanswered for %u s", DEADLINE_S);
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (deadline_id);
}

/**
 * natter_fuzz_dispatch_one:
 * @data: (array length=len): lines of JSON frames (see the top of this file)
 * @len: its length
 *
 * The body of the dispatcher target. Aborts when the hub crashes, trips a critical, sends
 * a frame that does not decode, or leaves a request unanswered.
 */
void
natter_fuzz_dispatch_one (const guint8 *data,
                          gsize         len)
{
  World world = { NULL, };
  FuzzClient *clients[N_CLIENTS];
  gsize pos = 0;
  guint n_frames = 0;

  dispatch_init ();
  world_start (&world);

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      g_autofree char *peer = g_strdup_printf ("fuzz-%u", i);

      clients[i] = g_object_new (FUZZ_TYPE_CLIENT, NULL);
      clients[i]->number = i;
      natter_client_set_peer (NATTER_CLIENT (clients[i]), peer);
      natter_hub_add_client (world.hub, NATTER_CLIENT (clients[i]));
    }

  while (pos < len && n_frames < MAX_FRAMES)
    {
      const guint8 *line = data + pos;
      const guint8 *newline = memchr (line, '\n', len - pos);
      gsize line_len = newline != NULL ? (gsize) (newline - line) : len - pos;
      guint which = 0;

      pos += line_len + 1;
      if (line_len > 0 && g_ascii_isdigit (line[0]))
        {
          which = (guint) (line[0] - '0') % N_CLIENTS;
          line++;
          line_len--;
        }
      /* Empty frames are the codec targets' business; here an empty line is a wait. */
      if (line_len == 0)
        wait_for_replies (world.hub, clients);
      else
        dispatch_line (world.hub, clients[which], line, line_len);
      n_frames++;
    }
  wait_for_replies (world.hub, clients);

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      natter_hub_remove_client (world.hub, NATTER_CLIENT (clients[i]));
      g_object_unref (clients[i]);
    }
  world_stop (&world);
}
