/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "test-hub"

#include "config.h"

#include <glib/gstdio.h>

#include "natter-auth.h"
#include "natter-error.h"
#include "natter-hub.h"
#include "natter-store-sqlite.h"

/* A front end that records every frame the hub delivers to it, and how it was ended. */
#define TEST_TYPE_CLIENT (test_client_get_type ())
G_DECLARE_FINAL_TYPE (TestClient, test_client, TEST, CLIENT, NatterClient)

struct _TestClient
{
  NatterClient  parent_instance;
  GPtrArray    *frames;  /* (owned) (element-type NatterEvent) */
  gushort       ended;   /* the close code it was ended with, 0 if not */
};

G_DEFINE_FINAL_TYPE (TestClient, test_client, NATTER_TYPE_CLIENT)

static void
test_client_deliver (NatterClient *client, NatterEvent *event)
{
  g_ptr_array_add (TEST_CLIENT (client)->frames, natter_event_ref (event));
}

static void
test_client_end (NatterClient *client, gushort code, const char *reason)
{
  g_assert_nonnull (reason);
  TEST_CLIENT (client)->ended = code;
}

static void
test_client_finalize (GObject *object)
{
  g_ptr_array_unref (TEST_CLIENT (object)->frames);
  G_OBJECT_CLASS (test_client_parent_class)->finalize (object);
}

static void
test_client_class_init (TestClientClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_client_finalize;
  NATTER_CLIENT_CLASS (klass)->deliver = test_client_deliver;
  NATTER_CLIENT_CLASS (klass)->end = test_client_end;
}

static void
test_client_init (TestClient *self)
{
  self->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_event_unref);
}

typedef struct
{
  char         *dir;     /* (owned) */
  NatterConfig *config;  /* (owned) */
  NatterStore  *store;   /* (owned) */
  NatterHub    *hub;     /* (owned) */
  guint64       next_id;
} Fixture;

#define WAIT_UNTIL(cond) \
  G_STMT_START { \
    gint64 deadline_ = g_get_monotonic_time () + 20 * G_USEC_PER_SEC; \
    while (!(cond)) \
      { \
        g_assert_cmpint (g_get_monotonic_time (), <, deadline_); \
        g_main_context_iteration (NULL, TRUE); \
      } \
  } G_STMT_END

static void
started_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (natter_hub_start_finish (NATTER_HUB (source), result, &error));
  g_assert_no_error (error);
  *(gboolean *) user_data = TRUE;
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  gboolean started = FALSE;

  fx->dir = g_dir_make_tmp ("natter-hub-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (fx->dir, "natter.db", NULL);
  fx->config = natter_config_new_defaults ();
  fx->store = natter_store_sqlite_new (path, NATTER_DURABILITY_NORMAL, &error);
  g_assert_no_error (error);
  fx->hub = natter_hub_new (fx->store, fx->config);
  natter_hub_start_async (fx->hub, NULL, started_cb, &started);
  WAIT_UNTIL (started);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autofree char *db = g_build_filename (fx->dir, "natter.db", NULL);
  g_autofree char *wal = g_strconcat (db, "-wal", NULL);
  g_autofree char *shm = g_strconcat (db, "-shm", NULL);

  g_clear_object (&fx->hub);
  natter_store_close (fx->store);
  g_clear_object (&fx->store);
  natter_config_free (fx->config);
  g_unlink (db);
  g_unlink (wal);
  g_unlink (shm);
  g_rmdir (fx->dir);
  g_free (fx->dir);
}

/* Sends a request and waits for the reply with its id. */
static const Natter__ServerFrame *
request (Fixture *fx, TestClient *client, Natter__ClientFrame *frame)
{
  guint64 id = ++fx->next_id;
  Natter__ClientFrame *copy;
  guint8 *buffer;
  gsize len;

  frame->has_id = TRUE;
  frame->id = id;
  len = natter__client_frame__get_packed_size (frame);
  buffer = g_malloc (len);
  natter__client_frame__pack (frame, buffer);
  copy = natter__client_frame__unpack (NULL, len, buffer);
  g_free (buffer);
  natter_hub_dispatch (fx->hub, NATTER_CLIENT (client), copy);

  for (gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;;)
    {
      for (guint i = 0; i < client->frames->len; i++)
        {
          const Natter__ServerFrame *reply = natter_event_get_frame (g_ptr_array_index (client->frames, i));

          if (reply->has_id && reply->id == id)
            return reply;
        }
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

static void
assert_error (const Natter__ServerFrame *reply, NatterError code)
{
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_ERROR);
  g_assert_cmpstr (reply->error->code, ==, natter_error_code_to_string (code));
}

static TestClient *
new_user (Fixture *fx, const char *name)
{
  TestClient *client = g_object_new (TEST_TYPE_CLIENT, NULL);
  Natter__ClientFrame frame = NATTER__CLIENT_FRAME__INIT;
  Natter__Register reg = NATTER__REGISTER__INIT;
  const Natter__ServerFrame *reply;

  natter_hub_add_client (fx->hub, NATTER_CLIENT (client));
  reg.user = (char *) name;
  reg.password = (char *) "correct horse";
  frame.op_case = NATTER__CLIENT_FRAME__OP_REGISTER;
  frame.register_ = &reg;
  reply = request (fx, client, &frame);
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_WELCOME);
  g_assert_cmpstr (reply->welcome->user, ==, name);
  return client;
}

static const Natter__ServerFrame *
join (Fixture *fx, TestClient *client, const char *room)
{
  Natter__ClientFrame frame = NATTER__CLIENT_FRAME__INIT;
  Natter__Join op = NATTER__JOIN__INIT;

  op.room = (char *) room;
  frame.op_case = NATTER__CLIENT_FRAME__OP_JOIN;
  frame.join = &op;
  return request (fx, client, &frame);
}

static const Natter__ServerFrame *
send_to (Fixture *fx, TestClient *client, const char *room, const char *to, const char *body,
         const char *client_msg_id)
{
  Natter__ClientFrame frame = NATTER__CLIENT_FRAME__INIT;
  Natter__Send op = NATTER__SEND__INIT;

  op.room = (char *) room;
  op.to = (char *) to;
  op.body = (char *) body;
  op.client_msg_id = (char *) client_msg_id;
  frame.op_case = NATTER__CLIENT_FRAME__OP_SEND;
  frame.send = &op;
  return request (fx, client, &frame);
}

static const Natter__ServerFrame *
history (Fixture *fx, TestClient *client, const char *room)
{
  Natter__ClientFrame frame = NATTER__CLIENT_FRAME__INIT;
  Natter__History op = NATTER__HISTORY__INIT;

  op.room = (char *) room;
  frame.op_case = NATTER__CLIENT_FRAME__OP_HISTORY;
  frame.history = &op;
  return request (fx, client, &frame);
}

static guint
count_messages (TestClient *client, const char *room)
{
  guint n = 0;

  for (guint i = 0; i < client->frames->len; i++)
    {
      const Natter__ServerFrame *f = natter_event_get_frame (g_ptr_array_index (client->frames, i));

      if (f->event_case == NATTER__SERVER_FRAME__EVENT_MESSAGE && g_str_equal (f->message->room, room))
        n++;
    }
  return n;
}

static void
test_requires_login (Fixture *fx, gconstpointer data)
{
  g_autoptr(TestClient) client = g_object_new (TEST_TYPE_CLIENT, NULL);

  natter_hub_add_client (fx->hub, NATTER_CLIENT (client));
  assert_error (join (fx, client, "general"), NATTER_ERROR_UNAUTHORIZED);
  assert_error (history (fx, client, "system"), NATTER_ERROR_UNAUTHORIZED);
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (client));
}

static void
test_room_membership (Fixture *fx, gconstpointer data)
{
  g_autoptr(TestClient) alice = new_user (fx, "alice");
  g_autoptr(TestClient) bob = new_user (fx, "bob");
  const Natter__ServerFrame *reply;

  reply = join (fx, alice, "general");
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_JOINED);
  g_assert_cmpstr (reply->joined->kind, ==, "room");

  /* Not a member yet: no sending, no reading. */
  assert_error (send_to (fx, bob, "general", NULL, "hi", "b-1"), NATTER_ERROR_FORBIDDEN);
  assert_error (history (fx, bob, "general"), NATTER_ERROR_FORBIDDEN);
  assert_error (send_to (fx, bob, "nowhere", NULL, "hi", "b-2"), NATTER_ERROR_NOT_FOUND);
  assert_error (join (fx, bob, "Bad Name"), NATTER_ERROR_BAD_REQUEST);

  reply = join (fx, bob, "general");
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_JOINED);
  g_assert_cmpuint (reply->joined->n_members, ==, 2);

  reply = send_to (fx, alice, "general", NULL, "hello", "a-1");
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_SENT);
  g_assert_cmpuint (reply->sent->seq, ==, 1);
  WAIT_UNTIL (count_messages (bob, "general") == 1);

  /* A retry with the same client_msg_id is the same message, delivered once. */
  reply = send_to (fx, alice, "general", NULL, "hello", "a-1");
  g_assert_cmpuint (reply->sent->seq, ==, 1);
  reply = send_to (fx, alice, "general", NULL, "again", "a-2");
  g_assert_cmpuint (reply->sent->seq, ==, 2);
  WAIT_UNTIL (count_messages (bob, "general") == 2);
  g_assert_cmpuint (count_messages (bob, "general"), ==, 2);

  reply = history (fx, bob, "general");
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_HISTORY);
  g_assert_cmpuint (reply->history->n_messages, ==, 2);

  /* The system room takes broadcasts only, and only from admins. */
  assert_error (send_to (fx, alice, "system", NULL, "hi", "a-3"), NATTER_ERROR_FORBIDDEN);
  {
    Natter__ClientFrame frame = NATTER__CLIENT_FRAME__INIT;
    Natter__Broadcast op = NATTER__BROADCAST__INIT;

    op.body = (char *) "attention";
    frame.op_case = NATTER__CLIENT_FRAME__OP_BROADCAST;
    frame.broadcast = &op;
    assert_error (request (fx, alice, &frame), NATTER_ERROR_FORBIDDEN);
  }

  natter_hub_remove_client (fx->hub, NATTER_CLIENT (alice));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (bob));
}

static void
test_direct_messages (Fixture *fx, gconstpointer data)
{
  g_autoptr(TestClient) alice = new_user (fx, "alice");
  g_autoptr(TestClient) bob = new_user (fx, "bob");
  g_autoptr(TestClient) carol = new_user (fx, "carol");
  const Natter__ServerFrame *reply;

  assert_error (send_to (fx, alice, NULL, "alice", "me", "a-1"), NATTER_ERROR_BAD_REQUEST);
  assert_error (send_to (fx, alice, NULL, "nobody", "hi", "a-2"), NATTER_ERROR_NOT_FOUND);
  assert_error (send_to (fx, alice, "general", "bob", "both", "a-3"), NATTER_ERROR_BAD_REQUEST);

  reply = send_to (fx, bob, NULL, "alice", "psst", "b-1");
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_SENT);
  g_assert_cmpstr (reply->sent->room, ==, "dm:alice:bob");
  g_assert_cmpuint (reply->sent->seq, ==, 1);
  /* The recipient gets it without joining anything. */
  WAIT_UNTIL (count_messages (alice, "dm:alice:bob") == 1);

  assert_error (history (fx, carol, "dm:alice:bob"), NATTER_ERROR_FORBIDDEN);
  assert_error (join (fx, carol, "dm:alice:bob"), NATTER_ERROR_FORBIDDEN);
  assert_error (send_to (fx, carol, "dm:alice:bob", NULL, "hi", "c-1"), NATTER_ERROR_FORBIDDEN);
  g_assert_cmpuint (count_messages (carol, "dm:alice:bob"), ==, 0);

  reply = history (fx, alice, "dm:alice:bob");
  g_assert_cmpuint (reply->history->n_messages, ==, 1);
  g_assert_cmpstr (reply->history->messages[0]->body, ==, "psst");

  natter_hub_remove_client (fx->hub, NATTER_CLIENT (alice));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (bob));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (carol));
}

static void
test_limits (Fixture *fx, gconstpointer data)
{
  g_autoptr(TestClient) alice = new_user (fx, "alice");
  g_autofree char *big = g_strnfill (fx->config->max_body_bytes + 1, 'x');
  guint limited = 0;

  /* Nearly no refill: what passes is the burst, however slow the machine. */
  fx->config->rate_per_s = 0.01;

  join (fx, alice, "general");
  assert_error (send_to (fx, alice, "general", NULL, big, "a-big"), NATTER_ERROR_TOO_LARGE);
  assert_error (send_to (fx, alice, "general", NULL, "", "a-empty"), NATTER_ERROR_BAD_REQUEST);
  assert_error (send_to (fx, alice, "general", NULL, "no id", NULL), NATTER_ERROR_BAD_REQUEST);

  /* The burst passes, then the bucket runs dry. */
  for (guint i = 0; i < fx->config->rate_burst + 5; i++)
    {
      g_autofree char *id = g_strdup_printf ("r-%u", i);
      const Natter__ServerFrame *reply = send_to (fx, alice, "general", NULL, "spam", id);

      if (reply->event_case == NATTER__SERVER_FRAME__EVENT_ERROR)
        {
          assert_error (reply, NATTER_ERROR_RATE_LIMITED);
          g_assert_true (reply->error->has_retry_after_ms);
          g_assert_cmpuint (reply->error->retry_after_ms, >, 0);
          limited++;
        }
    }
  g_assert_cmpuint (limited, >=, 4);
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (alice));
}

static const Natter__ServerFrame *
login (Fixture *fx, TestClient *client, const char *user, const char *password)
{
  Natter__ClientFrame frame = NATTER__CLIENT_FRAME__INIT;
  Natter__Login op = NATTER__LOGIN__INIT;

  op.user = (char *) user;
  op.password = (char *) password;
  frame.op_case = NATTER__CLIENT_FRAME__OP_LOGIN;
  frame.login = &op;
  return request (fx, client, &frame);
}

static TestClient *
new_client (Fixture *fx)
{
  TestClient *client = g_object_new (TEST_TYPE_CLIENT, NULL);

  natter_hub_add_client (fx->hub, NATTER_CLIENT (client));
  return client;
}

static void
test_login_throttle (Fixture *fx, gconstpointer data)
{
  g_autoptr(TestClient) alice = new_user (fx, "alice");
  g_autoptr(TestClient) bob = new_user (fx, "bob");
  g_autoptr(TestClient) guesser = new_client (fx);
  g_autoptr(TestClient) owner = new_client (fx);
  g_autoptr(TestClient) other = new_client (fx);
  const Natter__ServerFrame *reply;

  for (guint i = 0; i < fx->config->login_failures; i++)
    assert_error (login (fx, guesser, "alice", "wrong guess"), NATTER_ERROR_UNAUTHORIZED);

  /* The account is throttled, even for the right password... */
  reply = login (fx, guesser, "alice", "another guess");
  assert_error (reply, NATTER_ERROR_RATE_LIMITED);
  g_assert_cmpuint (reply->error->retry_after_ms, >, 0);
  assert_error (login (fx, owner, "alice", "correct horse"), NATTER_ERROR_RATE_LIMITED);

  /* ...but no other account is. */
  reply = login (fx, other, "bob", "correct horse");
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_WELCOME);

  natter_hub_remove_client (fx->hub, NATTER_CLIENT (alice));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (bob));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (guesser));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (owner));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (other));
}

static void
test_session_cap (Fixture *fx, gconstpointer data)
{
  g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(TestClient) extra = new_client (fx);

  fx->config->max_sessions_per_user = 3;
  g_ptr_array_add (clients, new_user (fx, "alice"));
  for (guint i = 1; i < 3; i++)
    {
      TestClient *client = new_client (fx);

      g_ptr_array_add (clients, client);
      g_assert_cmpint (login (fx, client, "alice", "correct horse")->event_case, ==,
                       NATTER__SERVER_FRAME__EVENT_WELCOME);
    }
  assert_error (login (fx, extra, "alice", "correct horse"), NATTER_ERROR_RATE_LIMITED);
  /* Not logged in: it may not do anything. */
  assert_error (join (fx, extra, "general"), NATTER_ERROR_UNAUTHORIZED);

  natter_hub_remove_client (fx->hub, g_ptr_array_index (clients, 0));
  g_assert_cmpint (login (fx, extra, "alice", "correct horse")->event_case, ==,
                   NATTER__SERVER_FRAME__EVENT_WELCOME);

  for (guint i = 1; i < clients->len; i++)
    natter_hub_remove_client (fx->hub, g_ptr_array_index (clients, i));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (extra));
}

static void
sessions_ended_cb (NatterHub          *hub,
                   const char         *user,
                   const char * const *sessions,
                   const char         *reason,
                   gpointer            user_data)
{
  GPtrArray *emitted = user_data;

  g_ptr_array_add (emitted, g_strdup_printf ("%s:%s", user,
                                             sessions != NULL ? sessions[0] : "(all)"));
}

/* Ending a session closes its clients with 1008 and tells other nodes; what other nodes
 * ended closes local clients and is not told again (no echo between nodes). */
static void
test_sessions_end (Fixture *fx, gconstpointer data)
{
  g_autoptr(TestClient) alice = new_user (fx, "alice");
  g_autoptr(TestClient) phone = new_client (fx);
  g_autoptr(TestClient) bob = new_user (fx, "bob");
  g_autoptr(GPtrArray) emitted = g_ptr_array_new_with_free_func (g_free);
  Natter__ClientFrame frame = NATTER__CLIENT_FRAME__INIT;
  Natter__Sessions sessions_op = NATTER__SESSIONS__INIT;
  Natter__Revoke revoke_op = NATTER__REVOKE__INIT;
  const Natter__ServerFrame *reply;
  g_autofree char *phone_session = NULL;
  g_autofree char *expected = NULL;

  g_signal_connect (fx->hub, "sessions-ended", G_CALLBACK (sessions_ended_cb), emitted);
  g_assert_cmpint (login (fx, phone, "alice", "correct horse")->event_case, ==,
                   NATTER__SERVER_FRAME__EVENT_WELCOME);

  frame.op_case = NATTER__CLIENT_FRAME__OP_SESSIONS;
  frame.sessions = &sessions_op;
  reply = request (fx, alice, &frame);
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_SESSION_LIST);
  g_assert_cmpuint (reply->session_list->n_sessions, ==, 2);
  for (guint i = 0; i < 2; i++)
    if (!reply->session_list->sessions[i]->current)
      phone_session = g_strdup (reply->session_list->sessions[i]->id);
  g_assert_nonnull (phone_session);

  /* Another account's session is not found, and nothing ends. */
  frame = (Natter__ClientFrame) NATTER__CLIENT_FRAME__INIT;
  frame.op_case = NATTER__CLIENT_FRAME__OP_REVOKE;
  revoke_op.session = phone_session;
  frame.revoke = &revoke_op;
  assert_error (request (fx, bob, &frame), NATTER_ERROR_NOT_FOUND);
  g_assert_cmpuint (phone->ended, ==, 0);
  g_assert_cmpuint (emitted->len, ==, 0);

  reply = request (fx, alice, &frame);
  g_assert_cmpint (reply->event_case, ==, NATTER__SERVER_FRAME__EVENT_OK);
  g_assert_cmpuint (phone->ended, ==, 1008);
  g_assert_cmpuint (alice->ended, ==, 0);
  expected = g_strdup_printf ("alice:%s", phone_session);
  g_assert_cmpuint (emitted->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (emitted, 0), ==, expected);

  natter_hub_receive_sessions_ended (fx->hub, "alice", NULL, "account disabled");
  g_assert_cmpuint (alice->ended, ==, 1008);
  g_assert_cmpuint (bob->ended, ==, 0);
  g_assert_cmpuint (emitted->len, ==, 1);

  g_signal_handlers_disconnect_by_data (fx->hub, emitted);
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (alice));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (phone));
  natter_hub_remove_client (fx->hub, NATTER_CLIENT (bob));
}

static void
test_names (void)
{
  g_autofree char *dm = natter_dm_room_name ("zed", "amy");

  g_assert_true (natter_validate_user_name ("a.b-c_9"));
  g_assert_false (natter_validate_user_name (""));
  g_assert_false (natter_validate_user_name ("Alice"));
  g_assert_false (natter_validate_user_name ("a b"));
  g_assert_false (natter_validate_user_name ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  g_assert_true (natter_validate_room_name ("general"));
  g_assert_false (natter_validate_room_name ("dm:a:b"));
  g_assert_false (natter_validate_room_name ("x'; DROP TABLE messages; --"));
  g_assert_cmpstr (dm, ==, "dm:amy:zed");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Hashing cost is not what these tests are about. */
  natter_auth_set_cost (1, 8192);

  g_test_add_func ("/hub/names", test_names);
  g_test_add ("/hub/requires-login", Fixture, NULL, fixture_setup, test_requires_login, fixture_teardown);
  g_test_add ("/hub/room-membership", Fixture, NULL, fixture_setup, test_room_membership, fixture_teardown);
  g_test_add ("/hub/direct-messages", Fixture, NULL, fixture_setup, test_direct_messages, fixture_teardown);
  g_test_add ("/hub/limits", Fixture, NULL, fixture_setup, test_limits, fixture_teardown);
  g_test_add ("/hub/login-throttle", Fixture, NULL, fixture_setup, test_login_throttle, fixture_teardown);
  g_test_add ("/hub/session-cap", Fixture, NULL, fixture_setup, test_session_cap, fixture_teardown);
  g_test_add ("/hub/sessions-end", Fixture, NULL, fixture_setup, test_sessions_end, fixture_teardown);
  return g_test_run ();
}
