/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-store-postgres"

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include <libpq-fe.h>

#include "natter-error.h"
#include "natter-store-postgres.h"

/* Consecutive sends queued on one worker share a transaction, up to this many. */
#define APPEND_BATCH_MAX 64
/* How often the health thread checks that the database answers, and how long it waits. */
#define HEALTH_INTERVAL_US (1 * G_USEC_PER_SEC)
#define HEALTH_TIMEOUT_MS  3000
/* After a delete, a thread of its own runs VACUUM on the messages table, so that the
 * deleted versions of rows (old bodies, their search vectors) stop being kept: at most
 * once per this interval, whatever the number of deletes. docs/cluster.md says what else
 * an operator does to get them off the disk. */
#define VACUUM_INTERVAL_US (5 * 60 * G_USEC_PER_SEC)
#define HISTORY_LIMIT_MAX  200
#define SEARCH_LIMIT_MAX   1000
#define SEQ_MAX            "9223372036854775807"
/* The text search configuration the search column is built with: a copy of the
 * configured language with accents removed first. */
#define SEARCH_CONFIG      "natter_search"
/* Any constant; serialises migrations of nodes that start at the same time. */
#define MIGRATION_LOCK_KEY "7164530811"

/* ---------------------------------------------------------------------------------------
 * Schema. Each entry is one migration, applied in order, in one transaction with the
 * version bump. Never edit an entry once released: add a new one. */

static const char * const migrations[] = {
  /* 1 */
  "CREATE TABLE meta ("
  "  key text PRIMARY KEY,"
  "  value text NOT NULL);"
  "CREATE TABLE users ("
  "  name text PRIMARY KEY,"
  "  password_hash text NOT NULL,"
  "  admin boolean NOT NULL DEFAULT false);"
  "CREATE TABLE tokens ("
  "  token_hash text PRIMARY KEY,"
  "  user_name text NOT NULL REFERENCES users (name) ON DELETE CASCADE,"
  "  expires_at_ms bigint NOT NULL);"
  "CREATE INDEX tokens_user ON tokens (user_name);"
  "CREATE TABLE rooms ("
  "  name text PRIMARY KEY,"
  "  kind text NOT NULL,"
  "  topic text,"
  "  last_seq bigint NOT NULL DEFAULT 0);"
  "CREATE TABLE members ("
  "  room text NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,"
  "  user_name text NOT NULL,"
  "  read_seq bigint NOT NULL DEFAULT 0,"
  "  PRIMARY KEY (room, user_name));"
  "CREATE INDEX members_user ON members (user_name);"
  "CREATE TABLE messages ("
  "  room text NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,"
  "  seq bigint NOT NULL,"
  /* Insertion order across rooms, for search results newest first. */
  "  id bigint GENERATED ALWAYS AS IDENTITY,"
  "  ts bigint NOT NULL,"
  "  sender text NOT NULL,"
  "  body text NOT NULL,"
  "  client_msg_id text,"
  "  kind text NOT NULL,"
  "  PRIMARY KEY (room, seq));"
  /* NULLs are distinct: a send without client_msg_id is never a duplicate. */
  "CREATE UNIQUE INDEX messages_idempotency ON messages (sender, client_msg_id);"
  /* The search column (tsv) and its index are built by apply_text_search_config(). */
  "INSERT INTO meta (key, value) VALUES"
  "  ('epoch', replace (gen_random_uuid ()::text, '-', ''));"
  /* One round trip per send. The row lock on the room serialises the writers of a room
   * on every node, and the seq is only taken by a transaction that then inserts, so seqs
   * stay gapless. ON CONFLICT DO NOTHING waits for a concurrent send with the same
   * idempotency key and then yields to it; nothing is bumped in that case. */
  "CREATE FUNCTION natter_append (p_room text, p_sender text, p_body text,"
  "                               p_client_msg_id text, p_kind text, p_ts bigint)"
  "RETURNS TABLE (r_status text, r_room text, r_seq bigint, r_ts bigint, r_sender text,"
  "               r_body text, r_client_msg_id text, r_kind text)"
  "LANGUAGE plpgsql AS $$\n"
  "DECLARE\n"
  "  v_seq bigint;\n"
  "BEGIN\n"
  "  IF p_client_msg_id IS NOT NULL THEN\n"
  "    RETURN QUERY SELECT 'duplicate'::text, m.room, m.seq, m.ts, m.sender, m.body,\n"
  "                        m.client_msg_id, m.kind\n"
  "      FROM messages m WHERE m.sender = p_sender AND m.client_msg_id = p_client_msg_id;\n"
  "    IF FOUND THEN RETURN; END IF;\n"
  "  END IF;\n"
  "  SELECT r.last_seq + 1 INTO v_seq FROM rooms r WHERE r.name = p_room FOR UPDATE;\n"
  "  IF NOT FOUND THEN\n"
  "    RETURN QUERY SELECT 'not_found'::text, p_room, NULL::bigint, NULL::bigint,\n"
  "                        NULL::text, NULL::text, NULL::text, NULL::text;\n"
  "    RETURN;\n"
  "  END IF;\n"
  "  INSERT INTO messages (room, seq, ts, sender, body, client_msg_id, kind)\n"
  "    VALUES (p_room, v_seq, p_ts, p_sender, p_body, p_client_msg_id, p_kind)\n"
  "    ON CONFLICT (sender, client_msg_id) DO NOTHING;\n"
  "  IF NOT FOUND THEN\n"
  "    RETURN QUERY SELECT 'duplicate'::text, m.room, m.seq, m.ts, m.sender, m.body,\n"
  "                        m.client_msg_id, m.kind\n"
  "      FROM messages m WHERE m.sender = p_sender AND m.client_msg_id = p_client_msg_id;\n"
  "    RETURN;\n"
  "  END IF;\n"
  "  UPDATE rooms SET last_seq = v_seq WHERE name = p_room;\n"
  "  UPDATE members SET read_seq = GREATEST (read_seq, v_seq)\n"
  "    WHERE room = p_room AND user_name = p_sender;\n"
  "  RETURN QUERY SELECT 'ok'::text, p_room, v_seq, p_ts, p_sender, p_body,\n"
  "                      p_client_msg_id, p_kind;\n"
  "END\n"
  "$$;",

  /* 2: sessions and account states. Each token is a session with a public id (the start
   * of its hash, see natter_store_session_id()), its creation, last use and the client's
   * User-Agent; tokens and accounts from before keep working, with those unknown (0 and
   * NULL). A deleted account keeps its row, without password, so that its name stays
   * taken. */
  "ALTER TABLE tokens ADD COLUMN id text,"
  "  ADD COLUMN created_at_ms bigint NOT NULL DEFAULT 0,"
  "  ADD COLUMN last_seen_ms bigint NOT NULL DEFAULT 0,"
  "  ADD COLUMN agent text;"
  "UPDATE tokens SET id = substr (token_hash, 1, 16);"
  "CREATE UNIQUE INDEX tokens_id ON tokens (id);"
  "ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false,"
  "  ADD COLUMN deleted boolean NOT NULL DEFAULT false,"
  "  ADD COLUMN created_at_ms bigint NOT NULL DEFAULT 0;"
  "ALTER TABLE users ALTER COLUMN created_at_ms"
  "  SET DEFAULT (extract (epoch FROM clock_timestamp ()) * 1000)::bigint;",

  /* 3: rooms people control. Rooms from before are public and their members plain
   * members, so they keep working and have no owner until an admin sets one.
   * Invitations and bans go with their room; blocks are between users only. */
  "ALTER TABLE rooms ADD COLUMN private boolean NOT NULL DEFAULT false;"
  "ALTER TABLE members ADD COLUMN role text NOT NULL DEFAULT 'member';"
  "CREATE TABLE invitations ("
  "  room text NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,"
  "  user_name text NOT NULL,"
  "  invited_by text NOT NULL,"
  "  created_at_ms bigint NOT NULL"
  "    DEFAULT (extract (epoch FROM clock_timestamp ()) * 1000)::bigint,"
  "  PRIMARY KEY (room, user_name));"
  "CREATE TABLE bans ("
  "  room text NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,"
  "  user_name text NOT NULL,"
  "  banned_by text,"
  "  reason text,"
  "  created_at_ms bigint NOT NULL"
  "    DEFAULT (extract (epoch FROM clock_timestamp ()) * 1000)::bigint,"
  "  PRIMARY KEY (room, user_name));"
  "CREATE TABLE blocks ("
  "  user_name text NOT NULL,"
  "  blocked text NOT NULL,"
  "  created_at_ms bigint NOT NULL"
  "    DEFAULT (extract (epoch FROM clock_timestamp ()) * 1000)::bigint,"
  "  PRIMARY KEY (user_name, blocked));",
  /* 4: replies and message changes. target_seq is the message a reply answers or a change
   * (edit, delete, reaction) changes; the target row itself holds its current state (body,
   * edited_ts, kind 'deleted') and reactions have a table of their own, so that a history
   * page reads its messages and their reactions with two indexed range scans. */
  "ALTER TABLE messages ADD COLUMN target_seq bigint,"
  "  ADD COLUMN edited_ts bigint,"
  "  ADD COLUMN active boolean;"
  "CREATE INDEX messages_target ON messages (room, target_seq)"
  "  WHERE target_seq IS NOT NULL;"
  "CREATE TABLE reactions ("
  "  room text NOT NULL,"
  "  seq bigint NOT NULL,"
  "  emoji text NOT NULL,"
  "  user_name text NOT NULL,"
  "  PRIMARY KEY (room, seq, emoji, user_name));",
  /* 5: which new messages of a room notify each member: 'all', 'mentions' or 'none'. */
  "ALTER TABLE members ADD COLUMN notification_level text NOT NULL DEFAULT 'all';",
  /* 6: each room's moderation log: kicks, bans, unbans, role and topic changes, apart
   * from the messages so that their seqs stay what clients count (docs/protocol.md,
   * "Moderation log"). ts is unique within a room: the key pages by it. */
  "CREATE TABLE moderation_log ("
  "  room text NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,"
  "  ts bigint NOT NULL,"
  "  kind text NOT NULL,"
  "  user_name text NOT NULL,"
  "  by_user text NOT NULL,"
  "  reason text,"
  "  role text,"
  "  topic text,"
  "  PRIMARY KEY (room, ts));",
  /* 7: an account's pending invitations by an index: they are read at every login, and
   * invitations that are never used up or declined add up over time. */
  "CREATE INDEX invitations_user ON invitations (user_name);",
};

/* ---------------------------------------------------------------------------------------
 * Statements, prepared once per connection on first use. */

typedef enum {
  STMT_LOAD_ROOMS,
  STMT_LOAD_MEMBERS,
  STMT_CREATE_USER,
  STMT_GET_USER,
  STMT_CREATE_TOKEN,
  STMT_LOOKUP_TOKEN,
  STMT_LIST_SESSIONS,
  STMT_DELETE_TOKENS,
  STMT_SET_PASSWORD,
  STMT_SET_ACCOUNT_STATE,
  STMT_LIST_USERS,
  STMT_CREATE_ROOM,
  STMT_GET_ROOM,
  STMT_ROOM_EXISTS,
  STMT_ADD_MEMBER,
  STMT_REMOVE_MEMBER,
  STMT_APPEND,
  STMT_HISTORY_ASC,
  STMT_HISTORY_DESC,
  STMT_SET_READ,
  STMT_SET_NOTIFICATION_LEVEL,
  STMT_SEARCH,
  STMT_LAST_SEQS,
  STMT_ROOM_ACCESS,
  STMT_LIST_BLOCKS,
  STMT_LIST_INVITATIONS,
  STMT_MOD_DECLINE,
  STMT_DIRECTORY,
  STMT_MOD_CREATE,
  STMT_MOD_SET_ROLE,
  STMT_MOD_SET_TOPIC,
  STMT_MOD_INVITE,
  STMT_MOD_BAN,
  STMT_MOD_UNBAN,
  STMT_MOD_BLOCK,
  STMT_MOD_UNBLOCK,
  STMT_BY_CLIENT_MSG_ID,
  STMT_LOCK_ROOM,
  STMT_SELECT_TARGET,
  STMT_EDIT_TARGET,
  STMT_DELETE_TARGET,
  STMT_ERASE_EDITS,
  STMT_DELETE_REACTIONS,
  STMT_ADD_REACTION,
  STMT_REMOVE_REACTION,
  STMT_APPEND_CHANGE,
  STMT_SELECT_REACTIONS,
  STMT_LOG_MODERATION,
  STMT_MODERATION_LOG,
  N_STMTS
} Stmt;

#define MESSAGE_COLUMNS \
  "room, seq, ts, sender, body, client_msg_id, kind, target_seq, edited_ts, active"

static const struct {
  const char *name;
  const char *sql;
  int         n_params;
} statements[N_STMTS] = {
  [STMT_LOAD_ROOMS] = { "natter_load_rooms",
    "SELECT name, kind, topic, last_seq, private FROM rooms ORDER BY name", 0 },
  [STMT_LOAD_MEMBERS] = { "natter_load_members",
    "SELECT room, user_name, read_seq, role, notification_level FROM members"
    " ORDER BY room, user_name", 0 },
  /* One statement: an owner account is never left unmarked. */
  [STMT_CREATE_USER] = { "natter_create_user",
    "WITH created AS ("
    "  INSERT INTO users (name, password_hash, admin) VALUES ($1, $2, $3) RETURNING name)"
    " INSERT INTO meta (key, value) SELECT 'owner', name FROM created WHERE $4"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value", 4 },
  [STMT_GET_USER] = { "natter_get_user",
    "SELECT name, password_hash, admin,"
    "  EXISTS (SELECT 1 FROM meta WHERE key = 'owner' AND value = users.name),"
    "  disabled, deleted, created_at_ms"
    " FROM users WHERE name = $1", 1 },
  [STMT_CREATE_TOKEN] = { "natter_create_token",
    "INSERT INTO tokens (token_hash, user_name, expires_at_ms, id, created_at_ms,"
    "                    last_seen_ms, agent)"
    " VALUES ($1, $2, $3, $4, $5, $5, $6)", 6 },
  /* Records the use; only enabled accounts (disabling deletes the tokens too, this is
   * the second lock). */
  [STMT_LOOKUP_TOKEN] = { "natter_lookup_token",
    "UPDATE tokens t SET last_seen_ms = $2 FROM users u"
    " WHERE t.token_hash = $1 AND t.expires_at_ms > $2"
    "   AND u.name = t.user_name AND NOT u.disabled AND NOT u.deleted"
    " RETURNING t.user_name", 2 },
  [STMT_LIST_SESSIONS] = { "natter_list_sessions",
    "SELECT id, created_at_ms, last_seen_ms, agent FROM tokens"
    " WHERE user_name = $1 AND expires_at_ms > $2 ORDER BY created_at_ms, id", 2 },
  [STMT_DELETE_TOKENS] = { "natter_delete_tokens",
    "DELETE FROM tokens WHERE user_name = $1 AND ($2::text IS NULL OR id = $2)"
    "   AND ($3::text IS NULL OR id IS DISTINCT FROM $3)"
    " RETURNING id", 3 },
  /* One statement, so one transaction. The first row (NULL) says the account was
   * there; the others are the ids of the sessions ended. */
  [STMT_SET_PASSWORD] = { "natter_set_password",
    "WITH u AS (UPDATE users SET password_hash = $2 WHERE name = $1 AND NOT deleted"
    "           RETURNING name),"
    "     d AS (DELETE FROM tokens WHERE user_name IN (SELECT name FROM u)"
    "             AND ($3::text IS NULL OR id IS DISTINCT FROM $3) RETURNING id)"
    " SELECT NULL::text FROM u UNION ALL SELECT id FROM d", 3 },
  [STMT_SET_ACCOUNT_STATE] = { "natter_set_account_state",
    "WITH u AS (UPDATE users SET disabled = $2::boolean, deleted = $3::boolean,"
    "             password_hash = CASE WHEN $3::boolean THEN '' ELSE password_hash END"
    "           WHERE name = $1 AND NOT deleted RETURNING name),"
    "     d AS (DELETE FROM tokens WHERE ($2::boolean OR $3::boolean)"
    "             AND user_name IN (SELECT name FROM u) RETURNING id)"
    " SELECT NULL::text FROM u UNION ALL SELECT id FROM d", 3 },
  [STMT_LIST_USERS] = { "natter_list_users",
    "SELECT name, admin,"
    "  EXISTS (SELECT 1 FROM meta WHERE key = 'owner' AND value = users.name),"
    "  disabled, created_at_ms"
    " FROM users WHERE NOT deleted AND ($1::text IS NULL OR strpos (name, $1) > 0)"
    " ORDER BY name LIMIT $2", 2 },
  [STMT_CREATE_ROOM] = { "natter_create_room",
    "INSERT INTO rooms (name, kind, topic) VALUES ($1, $2, $3)"
    " ON CONFLICT (name) DO NOTHING", 3 },
  [STMT_GET_ROOM] = { "natter_get_room",
    "SELECT r.name, r.kind, r.topic, r.last_seq, r.private, m.user_name, m.read_seq, m.role,"
    "  m.notification_level"
    " FROM rooms r LEFT JOIN members m ON m.room = r.name"
    " WHERE r.name = $1 ORDER BY m.user_name", 1 },
  [STMT_ROOM_EXISTS] = { "natter_room_exists",
    "SELECT 1 FROM rooms WHERE name = $1", 1 },
  [STMT_ADD_MEMBER] = { "natter_add_member",
    "WITH i AS (DELETE FROM invitations WHERE room = $1 AND user_name = $2)"
    " INSERT INTO members (room, user_name) VALUES ($1, $2)"
    " ON CONFLICT (room, user_name) DO NOTHING", 2 },
  [STMT_REMOVE_MEMBER] = { "natter_remove_member",
    "DELETE FROM members WHERE room = $1 AND user_name = $2", 2 },
  [STMT_APPEND] = { "natter_append",
    "SELECT r_status, r_room, r_seq, r_ts, r_sender, r_body, r_client_msg_id, r_kind,"
    "  NULL::bigint, NULL::bigint, NULL::boolean"
    " FROM natter_append ($1, $2, $3, $4, $5, $6)", 6 },
  [STMT_HISTORY_ASC] = { "natter_history_asc",
    "SELECT " MESSAGE_COLUMNS " FROM messages"
    " WHERE room = $1 AND seq > $2 AND seq < $3 ORDER BY seq ASC LIMIT $4", 4 },
  [STMT_HISTORY_DESC] = { "natter_history_desc",
    "SELECT " MESSAGE_COLUMNS " FROM messages"
    " WHERE room = $1 AND seq > $2 AND seq < $3 ORDER BY seq DESC LIMIT $4", 4 },
  /* The marker never passes the room's last seq, so unread counts never underflow. */
  [STMT_SET_NOTIFICATION_LEVEL] = { "natter_set_notification_level",
    "UPDATE members SET notification_level = $3 WHERE room = $1 AND user_name = $2", 3 },
  [STMT_SET_READ] = { "natter_set_read",
    "UPDATE members SET read_seq = GREATEST (read_seq,"
    "   LEAST ($3::bigint, (SELECT last_seq FROM rooms WHERE name = $1)))"
    " WHERE room = $1 AND user_name = $2", 3 },
  [STMT_SEARCH] = { "natter_search",
    "SELECT m.room, m.seq, m.ts, m.sender, m.body, m.client_msg_id, m.kind,"
    "  m.target_seq, m.edited_ts, m.active"
    " FROM messages m"
    " WHERE m.tsv @@ to_tsquery ('" SEARCH_CONFIG "', $1)"
    "   AND m.kind IN ('text', 'broadcast')"
    "   AND ($2::text IS NULL OR m.room = $2)"
    "   AND (m.room = $3 OR EXISTS (SELECT 1 FROM members mb"
    "                               WHERE mb.room = m.room AND mb.user_name = $4))"
    " ORDER BY m.ts DESC, m.id DESC LIMIT $5", 5 },
  [STMT_LAST_SEQS] = { "natter_last_seqs",
    "SELECT name, last_seq FROM rooms WHERE name = ANY ($1::text[])", 1 },
  /* Of one room, or of all ($1 NULL): false for an invitation, true for a ban. */
  [STMT_ROOM_ACCESS] = { "natter_room_access",
    "SELECT room, user_name, false FROM invitations WHERE $1::text IS NULL OR room = $1"
    " UNION ALL SELECT room, user_name, true FROM bans WHERE $1::text IS NULL OR room = $1"
    " ORDER BY 1, 2", 1 },
  [STMT_LIST_INVITATIONS] = { "natter_list_invitations",
    "SELECT room, invited_by, created_at_ms FROM invitations WHERE user_name = $1"
    " ORDER BY created_at_ms, room", 1 },
  [STMT_MOD_DECLINE] = { "natter_mod_decline",
    "WITH d AS (DELETE FROM invitations WHERE room = $1 AND user_name = $2 RETURNING 1)"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM d) THEN 'ok' ELSE 'no_invitation' END", 2 },
  [STMT_LIST_BLOCKS] = { "natter_list_blocks",
    "SELECT blocked FROM blocks WHERE user_name = $1 ORDER BY blocked", 1 },
  /* The room's row lock orders the writers of one room's log across nodes; should two
   * still pick one ts, the primary key refuses the second, which tries again. */
  [STMT_LOG_MODERATION] = { "natter_log_moderation",
    "WITH r AS (SELECT name FROM rooms WHERE name = $1 FOR UPDATE)"
    " INSERT INTO moderation_log (room, ts, kind, user_name, by_user, reason, role, topic)"
    " SELECT r.name, greatest ($2::bigint,"
    "   coalesce ((SELECT max (ts) FROM moderation_log WHERE room = $1), 0) + 1),"
    "   $3, $4, $5, $6, $7, $8 FROM r", 8 },
  [STMT_MODERATION_LOG] = { "natter_moderation_log",
    "SELECT ts, kind, user_name, by_user, reason, role, topic FROM"
    " (SELECT * FROM moderation_log WHERE room = $1 AND ts < $2 ORDER BY ts DESC LIMIT $3) AS l"
    " ORDER BY ts", 3 },
  [STMT_DIRECTORY] = { "natter_directory",
    "SELECT r.name, r.topic, (SELECT count (*) FROM members m WHERE m.room = r.name)"
    " FROM rooms r WHERE r.kind = 'room' AND NOT r.private"
    /* lower () folds case by the database's locale: beyond ASCII where it is not C. */
    "   AND ($1::text IS NULL OR strpos (lower (r.name), lower ($1)) > 0"
    "        OR strpos (lower (coalesce (r.topic, '')), lower ($1)) > 0)"
    /* The busiest rooms are the ones worth listing first: the top $2 by members. */
    " ORDER BY 3 DESC, r.name LIMIT $2", 2 },
  /* Moderation: one statement each, so one transaction, answering 'ok', 'not_found'
   * (no room), 'not_member' or 'conflict'. */
  [STMT_MOD_CREATE] = { "natter_mod_create",
    "WITH r AS (INSERT INTO rooms (name, kind, topic, private)"
    "           VALUES ($1, 'room', $3, $4::boolean)"
    "           ON CONFLICT (name) DO NOTHING RETURNING name),"
    "     m AS (INSERT INTO members (room, user_name, role) SELECT name, $2, 'owner' FROM r)"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM r) THEN 'ok' ELSE 'conflict' END", 4 },
  [STMT_MOD_SET_ROLE] = { "natter_mod_set_role",
    "WITH u AS (UPDATE members SET role = $3 WHERE room = $1 AND user_name = $2 RETURNING 1)"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN 'ok'"
    "   WHEN EXISTS (SELECT 1 FROM rooms WHERE name = $1) THEN 'not_member'"
    "   ELSE 'not_found' END", 3 },
  [STMT_MOD_SET_TOPIC] = { "natter_mod_set_topic",
    "WITH u AS (UPDATE rooms SET topic = $2 WHERE name = $1 RETURNING 1)"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN 'ok' ELSE 'not_found' END", 2 },
  [STMT_MOD_INVITE] = { "natter_mod_invite",
    "WITH i AS (INSERT INTO invitations (room, user_name, invited_by)"
    "           SELECT name, $2, $3 FROM rooms WHERE name = $1"
    "           ON CONFLICT (room, user_name) DO UPDATE"
    "             SET invited_by = excluded.invited_by, created_at_ms = excluded.created_at_ms"
    "           RETURNING 1)"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM i) THEN 'ok' ELSE 'not_found' END", 3 },
  [STMT_MOD_BAN] = { "natter_mod_ban",
    "WITH b AS (INSERT INTO bans (room, user_name, banned_by, reason)"
    "           SELECT name, $2, $3, $4 FROM rooms WHERE name = $1"
    "           ON CONFLICT (room, user_name) DO UPDATE"
    "             SET banned_by = excluded.banned_by, reason = excluded.reason"
    "           RETURNING 1),"
    "     m AS (DELETE FROM members WHERE room = $1 AND user_name = $2),"
    "     i AS (DELETE FROM invitations WHERE room = $1"
    "           AND (user_name = $2 OR invited_by = $2))"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM b) THEN 'ok' ELSE 'not_found' END", 4 },
  [STMT_MOD_UNBAN] = { "natter_mod_unban",
    "WITH d AS (DELETE FROM bans WHERE room = $1 AND user_name = $2)"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM rooms WHERE name = $1) THEN 'ok'"
    "   ELSE 'not_found' END", 2 },
  [STMT_MOD_BLOCK] = { "natter_mod_block",
    "WITH b AS (INSERT INTO blocks (user_name, blocked) VALUES ($1, $2)"
    "           ON CONFLICT (user_name, blocked) DO NOTHING)"
    " SELECT 'ok'", 2 },
  [STMT_MOD_UNBLOCK] = { "natter_mod_unblock",
    "WITH d AS (DELETE FROM blocks WHERE user_name = $1 AND blocked = $2) SELECT 'ok'", 2 },
  [STMT_BY_CLIENT_MSG_ID] = { "natter_by_client_msg_id",
    "SELECT " MESSAGE_COLUMNS " FROM messages WHERE sender = $1 AND client_msg_id = $2", 2 },
  /* Taken first, as natter_append() does, so that changes and sends of a room queue on
   * one lock and never deadlock. */
  [STMT_LOCK_ROOM] = { "natter_lock_room",
    "SELECT 1 FROM rooms WHERE name = $1 FOR UPDATE", 1 },
  [STMT_SELECT_TARGET] = { "natter_select_target",
    "SELECT sender, kind FROM messages WHERE room = $1 AND seq = $2", 2 },
  [STMT_EDIT_TARGET] = { "natter_edit_target",
    "UPDATE messages SET body = $3, edited_ts = $4 WHERE room = $1 AND seq = $2", 4 },
  [STMT_DELETE_TARGET] = { "natter_delete_target",
    "UPDATE messages SET body = '', kind = 'deleted', edited_ts = NULL"
    " WHERE room = $1 AND seq = $2", 2 },
  [STMT_ERASE_EDITS] = { "natter_erase_edits",
    "UPDATE messages SET body = '' WHERE room = $1 AND target_seq = $2 AND kind = 'edit'", 2 },
  [STMT_DELETE_REACTIONS] = { "natter_delete_reactions",
    "DELETE FROM reactions WHERE room = $1 AND seq = $2", 2 },
  [STMT_ADD_REACTION] = { "natter_add_reaction",
    "INSERT INTO reactions (room, seq, emoji, user_name) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING", 4 },
  [STMT_REMOVE_REACTION] = { "natter_remove_reaction",
    "DELETE FROM reactions WHERE room = $1 AND seq = $2 AND emoji = $3 AND user_name = $4", 4 },
  [STMT_APPEND_CHANGE] = { "natter_append_change",
    "WITH r AS (UPDATE rooms SET last_seq = last_seq + 1 WHERE name = $1 RETURNING last_seq),"
    "     m AS (INSERT INTO messages (room, seq, ts, sender, body, client_msg_id, kind,"
    "                                 target_seq, active)"
    "           SELECT $1, r.last_seq, $3, $2, $4, $5, $6, $7, $8::boolean FROM r"
    "           RETURNING " MESSAGE_COLUMNS "),"
    "     u AS (UPDATE members SET read_seq = GREATEST (read_seq, (SELECT seq FROM m))"
    "           WHERE room = $1 AND user_name = $2)"
    " SELECT " MESSAGE_COLUMNS " FROM m", 8 },
  [STMT_SELECT_REACTIONS] = { "natter_select_reactions",
    "SELECT seq, emoji, user_name FROM reactions"
    " WHERE room = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq, emoji, user_name", 3 },
};

/* ---------------------------------------------------------------------------------------
 * Workers and jobs */

typedef struct _Worker Worker;
typedef struct _Job Job;

/* Runs on a worker thread. Returns the result (or GINT_TO_POINTER (TRUE) for boolean
 * results), or NULL with @error set. */
typedef gpointer (*JobFunc) (Worker *worker, Job *job, GError **error);

struct _Job
{
  JobFunc            run;
  GTask             *task;            /* (owned) (nullable) NULL for the stop sentinel */
  gboolean           repeatable;      /* safe to run again on a new connection */
  gboolean           is_append;
  gboolean           boolean_result;
  GDestroyNotify     result_free;

  /* Arguments */
  char              *name;            /* (owned) (nullable) room or user */
  char              *user;            /* (owned) (nullable) or a session to revoke */
  char              *kind;            /* (owned) (nullable) kind, or a client's agent */
  char              *text;            /* (owned) (nullable) topic, body, hash or query */
  char              *client_msg_id;   /* (owned) (nullable) or a session to keep */
  gint64             number;          /* ts, expiry, now or NatterAccountState */
  guint64            seq;
  gboolean           flag;
  gboolean           owner;       /* create_user: the local owner account; a change: a
                                   * moderator, who may delete the messages of others */
  guint              limit;
  NatterHistoryQuery query;
  GStrv              rooms;           /* (owned) (nullable) */
  char              *by;              /* (owned) (nullable) who moderates or blocks */
  NatterModerationEvent *event;       /* (owned) (nullable) for the moderation log */
  NatterModerationKind moderation;
  NatterRole         role;

  /* Outcome */
  gpointer           result;          /* (owned) (nullable) */
  GError            *error;           /* (owned) (nullable) */
};

struct _Worker
{
  NatterStorePostgres *store;         /* (unowned) */
  guint                index;
  GThread             *thread;        /* (owned) */
  GAsyncQueue         *queue;         /* (owned) (element-type Job) */

  /* Only touched by the worker's thread: */
  PGconn              *conn;          /* (owned) (nullable) */
  gboolean             prepared[N_STMTS];
};

struct _NatterStorePostgres
{
  GObject    parent_instance;

  char      *conninfo;                /* (owned) */
  char      *text_search_config;      /* (owned) */
  char      *epoch;                   /* (owned) */
  Worker    *workers;                 /* (owned) (array length=n_workers) */
  guint      n_workers;
  guint      next_worker;
  gboolean   closed;

  GThread   *health_thread;           /* (owned) (nullable) */
  GMutex     lock;
  GCond      health_cond;
  gboolean   health_stop;             /* (locked-by lock) */
  GThread   *vacuum_thread;           /* (owned) (nullable) */
  GCond      vacuum_cond;
  gboolean   vacuum_wanted;           /* (locked-by lock) a delete committed since */
  PGcancel  *vacuum_cancel;           /* (locked-by lock) (owned) (nullable) while running */
  gint       ready;                   /* (atomic) */

  /* For /metrics */
  gint       queued;                  /* (atomic) */
  gint       failures;                /* (atomic) */
  gint       reconnects;              /* (atomic) */
  guint64    appends;                 /* (locked-by lock) */
  guint64    append_transactions;     /* (locked-by lock) */
};

static void natter_store_postgres_iface_init (NatterStoreInterface *iface);

G_DEFINE_TYPE_WITH_CODE (NatterStorePostgres, natter_store_postgres, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (NATTER_TYPE_STORE,
                                                natter_store_postgres_iface_init))

static Job stop_job;

static void
job_free (Job *job)
{
  g_clear_object (&job->task);
  g_free (job->name);
  g_free (job->user);
  g_free (job->kind);
  g_free (job->text);
  g_free (job->by);
  g_clear_pointer (&job->event, natter_moderation_event_free);
  g_free (job->client_msg_id);
  g_strfreev (job->rooms);
  if (job->result != NULL && job->result_free != NULL)
    job->result_free (job->result);
  g_clear_error (&job->error);
  g_free (job);
}

static void
job_clear_outcome (Job *job)
{
  if (job->result != NULL && job->result_free != NULL)
    job->result_free (job->result);
  job->result = NULL;
  g_clear_error (&job->error);
}

/* Completes the task on its own context. The job travels there whole, so the worker
 * never drops the last reference to the task (and through it to the store) itself. */
static gboolean
job_return_cb (gpointer data)
{
  Job *job = data;

  if (job->error != NULL)
    g_task_return_error (job->task, g_steal_pointer (&job->error));
  else if (job->boolean_result)
    g_task_return_boolean (job->task, TRUE);
  else
    g_task_return_pointer (job->task, g_steal_pointer (&job->result), job->result_free);

  job_free (job);
  return G_SOURCE_REMOVE;
}

static void
job_complete (Job *job)
{
  NatterStorePostgres *self = g_task_get_source_object (job->task);
  g_autoptr(GSource) source = g_idle_source_new ();

  g_atomic_int_add (&self->queued, -1);
  if (job->error != NULL)
    g_atomic_int_inc (&self->failures);

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (source, "[natter] postgres result");
  g_source_set_callback (source, job_return_cb, job, NULL);
  g_source_attach (source, g_task_get_context (job->task));
}

/* ---------------------------------------------------------------------------------------
 * Connections */

static void
notice_processor (void *arg, const char *message)
{
  g_debug ("%s", message);
}

/* Our defaults come first so that anything in @conninfo overrides them. Keepalives
 * and a user timeout make a dead TCP peer an error instead of a hang. */
static PGconn *
connect_db (const char *conninfo, const char *connect_timeout, GError **error)
{
  const char * const keywords[] = {
    "connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "dbname", NULL
  };
  const char * const values[] = {
    connect_timeout, "natterd", "10", "5", "3", "20000", conninfo, NULL
  };
  PGconn *conn = PQconnectdbParams (keywords, values, TRUE);

  if (conn == NULL)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                           "Out of memory connecting to PostgreSQL");
      return NULL;
    }
  if (PQstatus (conn) != CONNECTION_OK)
    {
      g_autofree char *message = g_strstrip (g_strdup (PQerrorMessage (conn)));

      g_set_error (error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                   "Cannot connect to PostgreSQL: %s", message);
      PQfinish (conn);
      return NULL;
    }
  PQsetNoticeProcessor (conn, notice_processor, NULL);
  return conn;
}

static gboolean
connection_lost (PGconn *conn)
{
  return conn == NULL || PQstatus (conn) != CONNECTION_OK;
}

/* Maps a failed result to the project's error domain. Expected failures (a taken name, a
 * missing row) become their protocol codes; a lost connection is `unavailable`. */
static void
set_error_from_result (GError **error, PGconn *conn, const PGresult *res)
{
  const char *state = res != NULL ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
  g_autofree char *message = NULL;
  NatterError code = NATTER_ERROR_INTERNAL;

  message = g_strstrip (g_strdup (res != NULL && *PQresultErrorMessage (res) != '\0'
                                  ? PQresultErrorMessage (res)
                                  : PQerrorMessage (conn)));

  if (connection_lost (conn) || state == NULL)
    code = NATTER_ERROR_UNAVAILABLE;
  else if (g_str_equal (state, "23505"))
    code = NATTER_ERROR_CONFLICT;
  else if (g_str_equal (state, "23503"))
    code = NATTER_ERROR_NOT_FOUND;
  else if (g_str_has_prefix (state, "08") ||   /* connection exception */
           g_str_has_prefix (state, "57") ||   /* operator intervention: shutdown */
           g_str_has_prefix (state, "53") ||   /* insufficient resources */
           g_str_equal (state, "40001") ||     /* serialization failure */
           g_str_equal (state, "40P01"))       /* deadlock detected */
    code = NATTER_ERROR_UNAVAILABLE;
  else if (g_str_has_prefix (state, "22"))     /* data exception */
    code = NATTER_ERROR_BAD_REQUEST;

  g_debug ("PostgreSQL error %s: %s", state != NULL ? state : "-", message);

  g_set_error (error, NATTER_ERROR, code, "Database error: %s", message);
}

/* Reads whatever the server sent while the connection was idle, without blocking: a
 * server that restarted or ended the session (a FATAL message, then end of file) shows
 * up here, before a statement is sent into the void. */
static void
check_idle_connection (PGconn *conn)
{
  for (guint i = 0; i < 8 && !connection_lost (conn); i++)
    {
      struct pollfd pfd = { .fd = PQsocket (conn), .events = POLLIN };

      if (poll (&pfd, 1, 0) <= 0 || PQconsumeInput (conn) == 0)
        break;
    }
}

static gboolean
worker_ensure_connected (Worker *worker, GError **error)
{
  NatterStorePostgres *self = worker->store;

  if (worker->conn != NULL)
    check_idle_connection (worker->conn);

  if (!connection_lost (worker->conn))
    return TRUE;

  g_clear_pointer (&worker->conn, PQfinish);
  memset (worker->prepared, 0, sizeof worker->prepared);
  g_atomic_int_inc (&self->reconnects);

  worker->conn = connect_db (self->conninfo, "5", error);
  if (worker->conn == NULL)
    {
      g_atomic_int_set (&self->ready, FALSE);
      return FALSE;
    }
  return TRUE;
}

static PGresult *
worker_exec (Worker            *worker,
             Stmt               stmt,
             const char * const *values,
             ExecStatusType     expected,
             GError           **error)
{
  PGresult *res;

  if (!worker->prepared[stmt])
    {
      res = PQprepare (worker->conn, statements[stmt].name, statements[stmt].sql,
                       statements[stmt].n_params, NULL);
      if (PQresultStatus (res) != PGRES_COMMAND_OK)
        {
          set_error_from_result (error, worker->conn, res);
          PQclear (res);
          return NULL;
        }
      PQclear (res);
      worker->prepared[stmt] = TRUE;
    }

  res = PQexecPrepared (worker->conn, statements[stmt].name, statements[stmt].n_params,
                        values, NULL, NULL, 0);
  if (PQresultStatus (res) != expected)
    {
      set_error_from_result (error, worker->conn, res);
      PQclear (res);
      return NULL;
    }
  return res;
}

/* For the fixed transaction-control statements only: nothing user-supplied. */
static gboolean
worker_exec_simple (Worker *worker, const char *sql, GError **error)
{
  PGresult *res = PQexec (worker->conn, sql);
  gboolean ok = PQresultStatus (res) == PGRES_COMMAND_OK;

  if (!ok)
    set_error_from_result (error, worker->conn, res);
  PQclear (res);
  return ok;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PGresult, PQclear)

/* ---------------------------------------------------------------------------------------
 * Row helpers */

static const char *
get_text (const PGresult *res, int row, int col)
{
  return PQgetisnull (res, row, col) ? NULL : PQgetvalue (res, row, col);
}

static guint64
get_u64 (const PGresult *res, int row, int col)
{
  return g_ascii_strtoull (PQgetvalue (res, row, col), NULL, 10);
}

static gint64
get_i64 (const PGresult *res, int row, int col)
{
  return g_ascii_strtoll (PQgetvalue (res, row, col), NULL, 10);
}

static gboolean
get_bool (const PGresult *res, int row, int col)
{
  return PQgetvalue (res, row, col)[0] == 't';
}

/* Columns, from @col: those of MESSAGE_COLUMNS */
static Natter__Message *
message_from_row (const PGresult *res, int row, int col)
{
  Natter__Message *message;

  message = natter_message_new (get_text (res, row, col), get_u64 (res, row, col + 1),
                                get_i64 (res, row, col + 2), get_text (res, row, col + 3),
                                get_text (res, row, col + 4), get_text (res, row, col + 5),
                                get_text (res, row, col + 6));
  natter_message_set_refs (message,
                           !PQgetisnull (res, row, col + 7), get_u64 (res, row, col + 7),
                           PQgetisnull (res, row, col + 8) ? 0 : get_i64 (res, row, col + 8),
                           !PQgetisnull (res, row, col + 9), get_bool (res, row, col + 9));
  return message;
}

static NatterMemberRecord *
member_from_row (const PGresult *res, int row, int col)
{
  NatterMemberRecord *member = natter_member_record_new (get_text (res, row, col),
                                                         get_u64 (res, row, col + 1));

  /* A role this version does not know grants nothing beyond membership. */
  if (!natter_role_from_string (get_text (res, row, col + 2), &member->role))
    member->role = NATTER_ROLE_MEMBER;
  if (!natter_notification_level_from_string (get_text (res, row, col + 3),
                                              &member->notification_level))
    member->notification_level = NATTER_NOTIFICATION_LEVEL_ALL;
  return member;
}

/* Adds the invitations and bans of @access (room, user, is_ban) to @room, or to the rooms
 * of @by_name (@room NULL). */
static void
add_room_access (const PGresult *access, NatterRoomRecord *room, GHashTable *by_name)
{
  for (int i = 0; i < PQntuples (access); i++)
    {
      NatterRoomRecord *target = room != NULL ? room
                                 : g_hash_table_lookup (by_name, get_text (access, i, 0));

      /* Foreign keys make this always true. */
      if (target != NULL)
        g_ptr_array_add (get_bool (access, i, 2) ? target->banned : target->invited,
                         g_strdup (get_text (access, i, 1)));
    }
}

/* ---------------------------------------------------------------------------------------
 * Operations, on a worker thread */

static gpointer
run_load (Worker *worker, Job *job, GError **error)
{
  g_autoptr(PGresult) rooms = NULL;
  g_autoptr(PGresult) members = NULL;
  g_autoptr(PGresult) access = NULL;
  g_autoptr(NatterStoreSnapshot) snapshot = NULL;
  g_autoptr(GHashTable) by_name = NULL;
  gboolean ok;

  /* One snapshot of the database for both queries. */
  if (!worker_exec_simple (worker, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", error))
    return NULL;

  rooms = worker_exec (worker, STMT_LOAD_ROOMS, NULL, PGRES_TUPLES_OK, error);
  if (rooms != NULL)
    members = worker_exec (worker, STMT_LOAD_MEMBERS, NULL, PGRES_TUPLES_OK, error);
  if (members != NULL)
    {
      const char * const all[] = { NULL };

      access = worker_exec (worker, STMT_ROOM_ACCESS, all, PGRES_TUPLES_OK, error);
    }
  ok = access != NULL;

  if (!connection_lost (worker->conn))
    {
      g_autoptr(GError) end_error = NULL;

      if (!worker_exec_simple (worker, ok ? "COMMIT" : "ROLLBACK", &end_error) && ok)
        {
          g_propagate_error (error, g_steal_pointer (&end_error));
          return NULL;
        }
    }
  if (!ok)
    return NULL;

  snapshot = g_new0 (NatterStoreSnapshot, 1);
  snapshot->rooms = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_room_record_free);
  by_name = g_hash_table_new (g_str_hash, g_str_equal);

  for (int i = 0; i < PQntuples (rooms); i++)
    {
      NatterRoomRecord *room = natter_room_record_new (get_text (rooms, i, 0),
                                                       get_text (rooms, i, 1),
                                                       get_text (rooms, i, 2),
                                                       get_u64 (rooms, i, 3));
      room->is_private = get_bool (rooms, i, 4);
      g_ptr_array_add (snapshot->rooms, room);
      g_hash_table_insert (by_name, room->name, room);
    }

  for (int i = 0; i < PQntuples (members); i++)
    {
      NatterRoomRecord *room = g_hash_table_lookup (by_name, get_text (members, i, 0));

      if (room != NULL)
        g_ptr_array_add (room->members, member_from_row (members, i, 1));
    }
  add_room_access (access, NULL, by_name);

  return g_steal_pointer (&snapshot);
}

static gpointer
run_create_user (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->name, job->text, job->flag ? "true" : "false",
                                   job->owner ? "true" : "false" };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GError) local_error = NULL;

  res = worker_exec (worker, STMT_CREATE_USER, values, PGRES_COMMAND_OK, &local_error);
  if (res == NULL)
    {
      if (g_error_matches (local_error, NATTER_ERROR, NATTER_ERROR_CONFLICT))
        g_set_error (error, NATTER_ERROR, NATTER_ERROR_CONFLICT,
                     "The user name “%s” is taken", job->name);
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  return GINT_TO_POINTER (TRUE);
}

static gpointer
run_get_user (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->name };
  g_autoptr(PGresult) res = NULL;
  NatterUserRecord *user;

  res = worker_exec (worker, STMT_GET_USER, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                   "No user “%s”", job->name);
      return NULL;
    }

  user = g_new0 (NatterUserRecord, 1);
  user->name = g_strdup (get_text (res, 0, 0));
  user->password_hash = g_strdup (get_text (res, 0, 1));
  user->admin = get_bool (res, 0, 2);
  user->owner = get_bool (res, 0, 3);
  user->disabled = get_bool (res, 0, 4);
  user->deleted = get_bool (res, 0, 5);
  user->created_ts = get_i64 (res, 0, 6);
  return user;
}

static gpointer
run_create_token (Worker *worker, Job *job, GError **error)
{
  g_autofree char *expires = g_strdup_printf ("%" G_GINT64_FORMAT, job->number);
  g_autofree char *id = natter_store_session_id (job->text);
  g_autofree char *now = g_strdup_printf ("%" G_GINT64_FORMAT, g_get_real_time () / 1000);
  const char * const values[] = { job->text, job->name, expires, id, now, job->kind };
  g_autoptr(PGresult) res = NULL;

  res = worker_exec (worker, STMT_CREATE_TOKEN, values, PGRES_COMMAND_OK, error);
  return res != NULL ? GINT_TO_POINTER (TRUE) : NULL;
}

static gpointer
run_lookup_token (Worker *worker, Job *job, GError **error)
{
  g_autofree char *now = g_strdup_printf ("%" G_GINT64_FORMAT, job->number);
  const char * const values[] = { job->text, now };
  g_autoptr(PGresult) res = NULL;

  res = worker_exec (worker, STMT_LOOKUP_TOKEN, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED,
                           "Unknown or expired token");
      return NULL;
    }
  return g_strdup (get_text (res, 0, 0));
}

static gpointer
run_list_sessions (Worker *worker, Job *job, GError **error)
{
  g_autofree char *now = g_strdup_printf ("%" G_GINT64_FORMAT, job->number);
  const char * const values[] = { job->name, now };
  g_autoptr(PGresult) res = NULL;
  GPtrArray *sessions;

  res = worker_exec (worker, STMT_LIST_SESSIONS, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  sessions = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_session_record_free);
  for (int i = 0; i < PQntuples (res); i++)
    {
      NatterSessionRecord *session = g_new0 (NatterSessionRecord, 1);

      session->id = g_strdup (get_text (res, i, 0));
      session->created_ts = get_i64 (res, i, 1);
      session->last_seen_ts = get_i64 (res, i, 2);
      session->agent = g_strdup (get_text (res, i, 3));
      g_ptr_array_add (sessions, session);
    }
  return sessions;
}

/* The ids in column 0 of @res from row @first on. */
static GStrv
ids_from_rows (const PGresult *res, int first)
{
  g_autoptr(GStrvBuilder) ids = g_strv_builder_new ();

  for (int i = first; i < PQntuples (res); i++)
    if (!PQgetisnull (res, i, 0))
      g_strv_builder_add (ids, get_text (res, i, 0));
  return g_strv_builder_end (ids);
}

static gpointer
run_revoke_tokens (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->name, job->user, job->client_msg_id };
  g_autoptr(PGresult) res = NULL;

  res = worker_exec (worker, STMT_DELETE_TOKENS, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  if (job->user != NULL && PQntuples (res) == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No session “%s”", job->user);
      return NULL;
    }
  return ids_from_rows (res, 0);
}

/* For statements whose result has a NULL row when the account was there, then ids. */
static GStrv
ids_if_user_found (const PGresult *res, const char *user, GError **error)
{
  for (int i = 0; i < PQntuples (res); i++)
    if (PQgetisnull (res, i, 0))
      return ids_from_rows (res, 0);
  g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No user “%s”", user);
  return NULL;
}

static gpointer
run_set_password (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->name, job->text, job->client_msg_id };
  g_autoptr(PGresult) res = NULL;

  res = worker_exec (worker, STMT_SET_PASSWORD, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  return ids_if_user_found (res, job->name, error);
}

static gpointer
run_set_account_state (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = {
    job->name,
    job->number == NATTER_ACCOUNT_DISABLED ? "true" : "false",
    job->number == NATTER_ACCOUNT_DELETED ? "true" : "false",
  };
  g_autoptr(PGresult) res = NULL;

  res = worker_exec (worker, STMT_SET_ACCOUNT_STATE, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  return ids_if_user_found (res, job->name, error);
}

static gpointer
run_list_users (Worker *worker, Job *job, GError **error)
{
  g_autofree char *limit = g_strdup_printf ("%u", job->limit);
  const char * const values[] = { job->text, limit };
  g_autoptr(PGresult) res = NULL;
  GPtrArray *users;

  res = worker_exec (worker, STMT_LIST_USERS, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  users = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_user_record_free);
  for (int i = 0; i < PQntuples (res); i++)
    {
      NatterUserRecord *user = g_new0 (NatterUserRecord, 1);

      user->name = g_strdup (get_text (res, i, 0));
      user->admin = get_bool (res, i, 1);
      user->owner = get_bool (res, i, 2);
      user->disabled = get_bool (res, i, 3);
      user->created_ts = get_i64 (res, i, 4);
      g_ptr_array_add (users, user);
    }
  return users;
}

static gpointer
run_list_blocks (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->user };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GStrvBuilder) blocked = g_strv_builder_new ();

  res = worker_exec (worker, STMT_LIST_BLOCKS, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  for (int i = 0; i < PQntuples (res); i++)
    g_strv_builder_add (blocked, get_text (res, i, 0));
  return g_strv_builder_end (blocked);
}

static gpointer
run_list_invitations (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->user };
  g_autoptr(PGresult) res = NULL;
  GPtrArray *invitations;

  res = worker_exec (worker, STMT_LIST_INVITATIONS, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  invitations = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_invitation_free);
  for (int i = 0; i < PQntuples (res); i++)
    {
      NatterInvitation *invitation = g_new0 (NatterInvitation, 1);

      invitation->room = g_strdup (get_text (res, i, 0));
      invitation->by = g_strdup (get_text (res, i, 1));
      invitation->ts = (gint64) get_u64 (res, i, 2);
      g_ptr_array_add (invitations, invitation);
    }
  return invitations;
}

static gpointer
run_directory (Worker *worker, Job *job, GError **error)
{
  g_autofree char *limit = g_strdup_printf ("%u", job->limit);
  const char * const values[] = { job->text, limit };
  g_autoptr(PGresult) res = NULL;
  GPtrArray *entries;

  res = worker_exec (worker, STMT_DIRECTORY, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  entries = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_directory_entry_free);
  for (int i = 0; i < PQntuples (res); i++)
    {
      NatterDirectoryEntry *entry = g_new0 (NatterDirectoryEntry, 1);

      entry->name = g_strdup (get_text (res, i, 0));
      entry->topic = g_strdup (get_text (res, i, 1));
      entry->n_members = (guint) get_u64 (res, i, 2);
      g_ptr_array_add (entries, entry);
    }
  return entries;
}

static gpointer
run_log_moderation (Worker *worker, Job *job, GError **error)
{
  const NatterModerationEvent *event = job->event;
  g_autofree char *ts = g_strdup_printf ("%" G_GINT64_FORMAT, event->ts_ms);
  const char * const values[] = { job->name, ts, event->kind, event->user, event->by,
                                   event->reason, event->role, event->topic };

  for (guint attempt = 0;; attempt++)
    {
      g_autoptr(GError) local_error = NULL;
      g_autoptr(PGresult) res = worker_exec (worker, STMT_LOG_MODERATION, values,
                                             PGRES_COMMAND_OK, &local_error);

      if (res != NULL)
        {
          if (g_strcmp0 (PQcmdTuples (res), "0") == 0)
            {
              g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”",
                           job->name);
              return NULL;
            }
          return GINT_TO_POINTER (TRUE);
        }
      if (attempt >= 2 || !g_error_matches (local_error, NATTER_ERROR, NATTER_ERROR_CONFLICT))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }
}

static gpointer
run_moderation_log (Worker *worker, Job *job, GError **error)
{
  g_autofree char *before = g_strdup_printf ("%" G_GINT64_FORMAT,
                                             job->number > 0 ? job->number : G_MAXINT64);
  g_autofree char *limit = g_strdup_printf ("%u", job->limit);
  const char * const values[] = { job->name, before, limit };
  g_autoptr(PGresult) res = NULL;
  GPtrArray *events;

  res = worker_exec (worker, STMT_MODERATION_LOG, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  events = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_moderation_event_free);
  for (int i = 0; i < PQntuples (res); i++)
    {
      NatterModerationEvent *event = g_new0 (NatterModerationEvent, 1);

      event->ts_ms = get_i64 (res, i, 0);
      event->kind = g_strdup (get_text (res, i, 1));
      event->user = g_strdup (get_text (res, i, 2));
      event->by = g_strdup (get_text (res, i, 3));
      event->reason = g_strdup (get_text (res, i, 4));
      event->role = g_strdup (get_text (res, i, 5));
      event->topic = g_strdup (get_text (res, i, 6));
      g_ptr_array_add (events, event);
    }
  return events;
}

static gpointer
run_moderate (Worker *worker, Job *job, GError **error)
{
  const char *values[4] = { job->name, job->user, job->by, job->text };
  g_autoptr(PGresult) res = NULL;
  const char *status;
  Stmt stmt;

  switch (job->moderation)
    {
    case NATTER_MODERATION_CREATE:
      stmt = STMT_MOD_CREATE;
      values[2] = job->text;
      values[3] = job->flag ? "true" : "false";
      break;
    case NATTER_MODERATION_SET_ROLE:
      stmt = STMT_MOD_SET_ROLE;
      values[2] = natter_role_to_string (job->role);
      break;
    case NATTER_MODERATION_SET_TOPIC:
      stmt = STMT_MOD_SET_TOPIC;
      values[1] = job->text;
      break;
    case NATTER_MODERATION_INVITE:
      stmt = STMT_MOD_INVITE;
      break;
    case NATTER_MODERATION_BAN:
      stmt = STMT_MOD_BAN;
      break;
    case NATTER_MODERATION_UNBAN:
      stmt = STMT_MOD_UNBAN;
      break;
    case NATTER_MODERATION_DECLINE:
      stmt = STMT_MOD_DECLINE;
      break;
    case NATTER_MODERATION_BLOCK:
    case NATTER_MODERATION_UNBLOCK:
      stmt = job->moderation == NATTER_MODERATION_BLOCK ? STMT_MOD_BLOCK : STMT_MOD_UNBLOCK;
      values[0] = job->by;
      values[1] = job->user;
      break;
    default:
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_INTERNAL, "Unknown moderation %d",
                   job->moderation);
      return NULL;
    }

  res = worker_exec (worker, stmt, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  status = PQntuples (res) == 1 ? get_text (res, 0, 0) : NULL;
  if (g_strcmp0 (status, "ok") == 0)
    return GINT_TO_POINTER (TRUE);
  if (g_strcmp0 (status, "conflict") == 0)
    g_set_error (error, NATTER_ERROR, NATTER_ERROR_CONFLICT, "Room “%s” exists", job->name);
  else if (g_strcmp0 (status, "not_found") == 0)
    g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", job->name);
  else if (g_strcmp0 (status, "no_invitation") == 0)
    g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                 "No invitation of “%s” to “%s”", job->user, job->name);
  else if (g_strcmp0 (status, "not_member") == 0)
    g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                 "“%s” is not a member of “%s”", job->user, job->name);
  else
    g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                         "Unexpected reply to a moderation");
  return NULL;
}

static NatterRoomRecord *
fetch_room (Worker *worker, const char *name, GError **error)
{
  const char * const values[] = { name };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(PGresult) access = NULL;
  NatterRoomRecord *room;

  res = worker_exec (worker, STMT_GET_ROOM, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", name);
      return NULL;
    }

  room = natter_room_record_new (get_text (res, 0, 0), get_text (res, 0, 1),
                                 get_text (res, 0, 2), get_u64 (res, 0, 3));
  room->is_private = get_bool (res, 0, 4);
  for (int i = 0; i < PQntuples (res); i++)
    {
      if (!PQgetisnull (res, i, 5))
        g_ptr_array_add (room->members, member_from_row (res, i, 5));
    }

  /* A later snapshot than the members': a user banned in between shows as a member and
   * banned, and a ban always wins. */
  access = worker_exec (worker, STMT_ROOM_ACCESS, values, PGRES_TUPLES_OK, error);
  if (access == NULL)
    {
      natter_room_record_free (room);
      return NULL;
    }
  add_room_access (access, room, NULL);
  return room;
}

static gpointer
run_create_room (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->name, job->kind, job->text };
  g_autoptr(PGresult) res = NULL;
  NatterRoomRecord *room;

  res = worker_exec (worker, STMT_CREATE_ROOM, values, PGRES_COMMAND_OK, error);
  if (res == NULL)
    return NULL;

  /* A new snapshot: sees the room whichever node created it. */
  room = fetch_room (worker, job->name, error);
  if (room != NULL)
    g_ptr_array_set_size (room->members, 0);
  return room;
}

static gpointer
run_get_room (Worker *worker, Job *job, GError **error)
{
  return fetch_room (worker, job->name, error);
}

static gpointer
run_add_member (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->name, job->user };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(GError) local_error = NULL;

  res = worker_exec (worker, STMT_ADD_MEMBER, values, PGRES_COMMAND_OK, &local_error);
  if (res == NULL)
    {
      if (g_error_matches (local_error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND))
        g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", job->name);
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  return GINT_TO_POINTER (TRUE);
}

static gpointer
run_remove_member (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->name, job->user };
  g_autoptr(PGresult) res = NULL;

  res = worker_exec (worker, STMT_REMOVE_MEMBER, values, PGRES_COMMAND_OK, error);
  return res != NULL ? GINT_TO_POINTER (TRUE) : NULL;
}

static gpointer
run_append (Worker *worker, Job *job, GError **error)
{
  g_autofree char *ts = g_strdup_printf ("%" G_GINT64_FORMAT, job->number);
  const char * const values[] = {
    job->name, job->user, job->text, job->client_msg_id, job->kind, ts
  };
  g_autoptr(PGresult) res = NULL;
  const char *status;
  NatterAppendResult *result;

  res = worker_exec (worker, STMT_APPEND, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;

  status = PQntuples (res) == 1 ? get_text (res, 0, 0) : NULL;
  if (g_strcmp0 (status, "not_found") == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", job->name);
      return NULL;
    }
  if (g_strcmp0 (status, "ok") != 0 && g_strcmp0 (status, "duplicate") != 0)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                           "Unexpected reply of natter_append()");
      return NULL;
    }

  result = g_new0 (NatterAppendResult, 1);
  result->message = message_from_row (res, 0, 1);
  result->duplicate = g_str_equal (status, "duplicate");
  return result;
}

/* Adds to @messages (ascending, of @room) their reactions, read in one range scan. */
static gboolean
add_reactions (Worker *worker, const char *room, GPtrArray *messages, GError **error)
{
  Natter__Message *first = g_ptr_array_index (messages, 0);
  Natter__Message *last = g_ptr_array_index (messages, messages->len - 1);
  g_autofree char *from = g_strdup_printf ("%" G_GUINT64_FORMAT, first->seq);
  g_autofree char *to = g_strdup_printf ("%" G_GUINT64_FORMAT, last->seq);
  const char * const values[] = { room, from, to };
  g_autoptr(PGresult) res = NULL;
  guint i = 0;

  res = worker_exec (worker, STMT_SELECT_REACTIONS, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return FALSE;
  for (int row = 0; row < PQntuples (res); row++)
    {
      guint64 seq = get_u64 (res, row, 0);

      while (i < messages->len &&
             ((Natter__Message *) g_ptr_array_index (messages, i))->seq < seq)
        i++;
      if (i < messages->len &&
          ((Natter__Message *) g_ptr_array_index (messages, i))->seq == seq)
        natter_message_add_reaction (g_ptr_array_index (messages, i),
                                     get_text (res, row, 1), get_text (res, row, 2));
    }
  return TRUE;
}

/* A statement about the target message: room and seq, then @extra. */
static gboolean
exec_on_target (Worker *worker, Stmt stmt, Job *job, const char *seq, const char *extra1,
                const char *extra2, GError **error)
{
  const char * const values[] = { job->name, seq, extra1, extra2 };
  g_autoptr(PGresult) res = worker_exec (worker, stmt, values, PGRES_COMMAND_OK, error);

  return res != NULL;
}

/* Checks a reply or change against its target, applies it and appends it, in one
 * transaction. */
static NatterAppendResult *
change_in_transaction (Worker *worker, Job *job, GError **error)
{
  g_autofree char *seq = g_strdup_printf ("%" G_GUINT64_FORMAT, MIN (job->seq, G_MAXINT64));
  g_autofree char *ts = g_strdup_printf ("%" G_GINT64_FORMAT, job->number);
  gboolean is_reaction = g_str_equal (job->kind, NATTER_MESSAGE_KIND_REACTION);
  const char * const room_values[] = { job->name };
  const char * const target_values[] = { job->name, seq };
  const char * const append_values[] = {
    job->name, job->user, ts, job->text, job->client_msg_id, job->kind, seq,
    is_reaction ? (job->flag ? "true" : "false") : NULL
  };
  g_autoptr(PGresult) res = NULL;
  NatterAppendResult *result;

  if (job->client_msg_id != NULL)
    {
      const char * const values[] = { job->user, job->client_msg_id };

      res = worker_exec (worker, STMT_BY_CLIENT_MSG_ID, values, PGRES_TUPLES_OK, error);
      if (res == NULL)
        return NULL;
      if (PQntuples (res) == 1)
        {
          result = g_new0 (NatterAppendResult, 1);
          result->message = message_from_row (res, 0, 0);
          result->duplicate = TRUE;
          return result;
        }
      g_clear_pointer (&res, PQclear);
    }

  res = worker_exec (worker, STMT_LOCK_ROOM, room_values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", job->name);
      return NULL;
    }
  g_clear_pointer (&res, PQclear);

  res = worker_exec (worker, STMT_SELECT_TARGET, target_values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  if (PQntuples (res) == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                   "No message %s in “%s”", seq, job->name);
      return NULL;
    }
  if (!natter_store_check_change (job->kind, job->user, job->owner, job->seq,
                                  get_text (res, 0, 0), get_text (res, 0, 1), error))
    return NULL;
  g_clear_pointer (&res, PQclear);

  if (g_str_equal (job->kind, NATTER_MESSAGE_KIND_EDIT))
    {
      if (!exec_on_target (worker, STMT_EDIT_TARGET, job, seq, job->text, ts, error))
        return NULL;
    }
  else if (g_str_equal (job->kind, NATTER_MESSAGE_KIND_DELETE))
    {
      if (!exec_on_target (worker, STMT_DELETE_TARGET, job, seq, NULL, NULL, error) ||
          !exec_on_target (worker, STMT_ERASE_EDITS, job, seq, NULL, NULL, error) ||
          !exec_on_target (worker, STMT_DELETE_REACTIONS, job, seq, NULL, NULL, error))
        return NULL;
    }
  else if (is_reaction)
    {
      if (!exec_on_target (worker, job->flag ? STMT_ADD_REACTION : STMT_REMOVE_REACTION,
                           job, seq, job->text, job->user, error))
        return NULL;
    }

  res = worker_exec (worker, STMT_APPEND_CHANGE, append_values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;
  result = g_new0 (NatterAppendResult, 1);
  result->message = message_from_row (res, 0, 0);
  return result;
}

static gpointer
run_change (Worker *worker, Job *job, GError **error)
{
  NatterAppendResult *result;

  if (!worker_exec_simple (worker, "BEGIN", error))
    return NULL;
  result = change_in_transaction (worker, job, error);
  if (result == NULL)
    {
      if (!connection_lost (worker->conn))
        worker_exec_simple (worker, "ROLLBACK", NULL);
      return NULL;
    }
  if (!worker_exec_simple (worker, "COMMIT", error))
    {
      natter_append_result_free (result);
      return NULL;
    }
  if (g_str_equal (job->kind, NATTER_MESSAGE_KIND_DELETE))
    {
      NatterStorePostgres *self = worker->store;

      g_mutex_lock (&self->lock);
      self->vacuum_wanted = TRUE;
      g_cond_signal (&self->vacuum_cond);
      g_mutex_unlock (&self->lock);
    }
  return result;
}

static gpointer
run_history (Worker *worker, Job *job, GError **error)
{
  const NatterHistoryQuery *query = &job->query;
  /* Only after_seq pages forward; before_seq alone, or nothing, is the newest page. */
  gboolean ascending = query->has_after;
  guint limit = CLAMP (query->limit, 1, HISTORY_LIMIT_MAX);
  g_autofree char *after = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                            query->has_after ? MIN (query->after_seq, G_MAXINT64) : 0);
  g_autofree char *before = query->has_before
                            ? g_strdup_printf ("%" G_GUINT64_FORMAT, MIN (query->before_seq, G_MAXINT64))
                            : g_strdup (SEQ_MAX);
  g_autofree char *limit_str = g_strdup_printf ("%u", limit + 1);
  const char * const values[] = { job->name, after, before, limit_str };
  g_autoptr(PGresult) res = NULL;
  g_autoptr(NatterHistoryResult) result = NULL;
  int n;

  res = worker_exec (worker, ascending ? STMT_HISTORY_ASC : STMT_HISTORY_DESC, values,
                     PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;

  n = PQntuples (res);
  if (n == 0)
    {
      const char * const exists_values[] = { job->name };
      g_autoptr(PGresult) exists = NULL;

      exists = worker_exec (worker, STMT_ROOM_EXISTS, exists_values, PGRES_TUPLES_OK, error);
      if (exists == NULL)
        return NULL;
      if (PQntuples (exists) == 0)
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", job->name);
          return NULL;
        }
    }

  result = g_new0 (NatterHistoryResult, 1);
  result->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  result->has_more = n > (int) limit;
  n = MIN (n, (int) limit);

  for (int i = 0; i < n; i++)
    g_ptr_array_add (result->messages,
                     message_from_row (res, ascending ? i : n - 1 - i, 0));

  if (n > 0 && !add_reactions (worker, job->name, result->messages, error))
    return NULL;
  return g_steal_pointer (&result);
}

static gpointer
run_set_read (Worker *worker, Job *job, GError **error)
{
  g_autofree char *seq = g_strdup_printf ("%" G_GUINT64_FORMAT, MIN (job->seq, G_MAXINT64));
  const char * const values[] = { job->name, job->user, seq };
  g_autoptr(PGresult) res = NULL;

  res = worker_exec (worker, STMT_SET_READ, values, PGRES_COMMAND_OK, error);
  if (res == NULL)
    return NULL;
  if (g_strcmp0 (PQcmdTuples (res), "0") == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                   "“%s” is not a member of “%s”", job->user, job->name);
      return NULL;
    }
  return GINT_TO_POINTER (TRUE);
}

static gpointer
run_set_notification_level (Worker *worker, Job *job, GError **error)
{
  const char * const values[] = { job->name, job->user, job->text };
  g_autoptr(PGresult) res = NULL;

  res = worker_exec (worker, STMT_SET_NOTIFICATION_LEVEL, values, PGRES_COMMAND_OK, error);
  if (res == NULL)
    return NULL;
  if (g_strcmp0 (PQcmdTuples (res), "0") == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                   "“%s” is not a member of “%s”", job->user, job->name);
      return NULL;
    }
  return GINT_TO_POINTER (TRUE);
}

/* Turns what a user typed into a tsquery: every word must match and the last one may be
 * a prefix (search as you type). Words are runs of letters, digits and marks, so no
 * input is ever tsquery syntax and no input is a syntax error. Returns NULL when
 * nothing searchable is left. */
static char *
build_tsquery (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  GString *out = g_string_new (NULL);
  gboolean in_word = FALSE;

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isalnum (c) || g_unichar_ismark (c))
        {
          if (!in_word && out->len > 0)
            g_string_append (out, " & ");
          g_string_append_unichar (out, c);
          in_word = TRUE;
        }
      else
        {
          in_word = FALSE;
        }
    }

  if (out->len == 0)
    {
      g_string_free (out, TRUE);
      return NULL;
    }
  g_string_append (out, ":*");
  return g_string_free (out, FALSE);
}

static gpointer
run_search (Worker *worker, Job *job, GError **error)
{
  g_autofree char *limit = g_strdup_printf ("%u", CLAMP (job->limit, 1, SEARCH_LIMIT_MAX));
  g_autofree char *tsquery = NULL;
  g_autofree char *stripped = g_strstrip (g_strdup (job->text));
  const char *values[5];
  g_autoptr(PGresult) res = NULL;
  GPtrArray *messages;

  if (*stripped == '\0')
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                           "The search query is empty");
      return NULL;
    }

  messages = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  tsquery = build_tsquery (job->text);
  if (tsquery == NULL)
    return messages;

  values[0] = tsquery;
  values[1] = job->name;
  values[2] = NATTER_SYSTEM_ROOM;
  values[3] = job->user;
  values[4] = limit;
  res = worker_exec (worker, STMT_SEARCH, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    {
      g_ptr_array_unref (messages);
      return NULL;
    }

  for (int i = 0; i < PQntuples (res); i++)
    g_ptr_array_add (messages, message_from_row (res, i, 0));
  return messages;
}

/* Builds a text[] literal; every element is quoted and escaped, so any name is data. */
static char *
text_array_literal (const char * const *items)
{
  GString *out = g_string_new ("{");

  for (guint i = 0; items != NULL && items[i] != NULL; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      g_string_append_c (out, '"');
      for (const char *p = items[i]; *p != '\0'; p++)
        {
          if (*p == '"' || *p == '\\')
            g_string_append_c (out, '\\');
          g_string_append_c (out, *p);
        }
      g_string_append_c (out, '"');
    }
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}

static gpointer
run_last_seqs (Worker *worker, Job *job, GError **error)
{
  g_autofree char *array = text_array_literal ((const char * const *) job->rooms);
  const char * const values[] = { array };
  g_autoptr(PGresult) res = NULL;
  GHashTable *seqs;

  res = worker_exec (worker, STMT_LAST_SEQS, values, PGRES_TUPLES_OK, error);
  if (res == NULL)
    return NULL;

  seqs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (int i = 0; i < PQntuples (res); i++)
    {
      guint64 *seq = g_new (guint64, 1);

      *seq = get_u64 (res, i, 1);
      g_hash_table_insert (seqs, g_strdup (get_text (res, i, 0)), seq);
    }
  return seqs;
}

/* ---------------------------------------------------------------------------------------
 * The worker loop */

static void
worker_run_one (Worker *worker, Job *job)
{
  GCancellable *cancellable = g_task_get_cancellable (job->task);

  if (g_cancellable_set_error_if_cancelled (cancellable, &job->error))
    return;

  for (guint attempt = 0; attempt < 2; attempt++)
    {
      job_clear_outcome (job);
      if (!worker_ensure_connected (worker, &job->error))
        return;

      job->result = job->run (worker, job, &job->error);
      if (job->error == NULL)
        return;

      /* A write whose connection broke may or may not have committed: only reads
       * and idempotent writes run again. */
      if (!job->repeatable || !connection_lost (worker->conn))
        break;
    }

  /* The other codes are answers (conflict, not found, unavailable); this one is a bug
   * or a damaged database, and the operator should hear of it. */
  if (g_error_matches (job->error, NATTER_ERROR, NATTER_ERROR_INTERNAL))
    g_warning ("%s", job->error->message);
}

static gint
compare_jobs_by_room (gconstpointer a, gconstpointer b)
{
  const Job *job_a = *(Job * const *) a;
  const Job *job_b = *(Job * const *) b;

  return strcmp (job_a->name, job_b->name);
}

static void
fail_batch (GPtrArray *batch, const GError *error)
{
  for (guint i = 0; i < batch->len; i++)
    {
      Job *job = g_ptr_array_index (batch, i);

      job_clear_outcome (job);
      job->error = g_error_copy (error);
    }
}

/* Runs the sends in one transaction: one commit for all of them. If the transaction
 * fails as a whole (a deadlock between nodes, say), each send runs again on its own. */
static void
worker_run_batch (Worker *worker, GPtrArray *batch)
{
  g_autoptr(GError) error = NULL;
  gboolean aborted = FALSE;

  /* Rooms are locked in name order, so two nodes' batches cannot deadlock on them. The
   * sort is stable: sends to one room keep their order. */
  g_ptr_array_sort (batch, compare_jobs_by_room);

  if (!worker_ensure_connected (worker, &error) ||
      !worker_exec_simple (worker, "BEGIN", &error))
    {
      fail_batch (batch, error);
      return;
    }

  for (guint i = 0; i < batch->len && !aborted; i++)
    {
      Job *job = g_ptr_array_index (batch, i);

      if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (job->task),
                                                &job->error))
        continue;

      job->result = run_append (worker, job, &job->error);
      aborted = job->error != NULL &&
                (connection_lost (worker->conn) ||
                 PQtransactionStatus (worker->conn) == PQTRANS_INERROR);
    }

  if (!aborted && worker_exec_simple (worker, "COMMIT", &error))
    return;

  if (connection_lost (worker->conn))
    {
      g_autoptr(GError) lost = g_error_new (NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                                            "Lost the database connection");
      fail_batch (batch, error != NULL ? error : lost);
      return;
    }

  if (aborted)
    worker_exec_simple (worker, "ROLLBACK", NULL);

  g_debug ("Batch of %u sends failed; running them one by one", batch->len);
  for (guint i = 0; i < batch->len; i++)
    worker_run_one (worker, g_ptr_array_index (batch, i));
}

static gpointer
worker_thread (gpointer data)
{
  Worker *worker = data;
  g_autoptr(GPtrArray) batch = g_ptr_array_new ();
  Job *next = NULL;

  for (;;)
    {
      Job *job = next != NULL ? g_steal_pointer (&next) : g_async_queue_pop (worker->queue);

      if (job == &stop_job)
        break;

      if (!job->is_append)
        {
          worker_run_one (worker, job);
          job_complete (job);
          continue;
        }

      /* Collect the sends queued right behind this one; stop at anything else so the
       * worker keeps the order in which operations were issued. */
      g_ptr_array_add (batch, job);
      while (batch->len < APPEND_BATCH_MAX &&
             (next = g_async_queue_try_pop (worker->queue)) != NULL &&
             next != &stop_job && next->is_append)
        {
          g_ptr_array_add (batch, g_steal_pointer (&next));
        }

      g_mutex_lock (&worker->store->lock);
      worker->store->appends += batch->len;
      worker->store->append_transactions++;
      g_mutex_unlock (&worker->store->lock);

      if (batch->len == 1)
        worker_run_one (worker, job);
      else
        worker_run_batch (worker, batch);

      for (guint i = 0; i < batch->len; i++)
        job_complete (g_ptr_array_index (batch, i));
      g_ptr_array_set_size (batch, 0);
    }

  g_clear_pointer (&worker->conn, PQfinish);
  return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Health: a separate connection that checks, every second and with a deadline, that the
 * database answers. The load balancer reads the outcome through /readyz. */

static gboolean
health_ping (NatterStorePostgres *self, PGconn **conn)
{
  gint64 deadline = g_get_monotonic_time () + HEALTH_TIMEOUT_MS * 1000;
  gboolean ok = FALSE;
  PGresult *res;

  if (*conn != NULL)
    check_idle_connection (*conn);
  if (connection_lost (*conn))
    {
      g_autoptr(GError) error = NULL;

      g_clear_pointer (conn, PQfinish);
      *conn = connect_db (self->conninfo, "3", &error);
      if (*conn == NULL)
        {
          g_debug ("Health check: %s", error->message);
          return FALSE;
        }
    }

  if (!PQsendQuery (*conn, "SELECT 1"))
    {
      g_clear_pointer (conn, PQfinish);
      return FALSE;
    }

  for (;;)
    {
      struct pollfd pfd = { .fd = PQsocket (*conn), .events = POLLIN };
      gint64 remaining_ms = (deadline - g_get_monotonic_time ()) / 1000;
      int n;

      while (!PQisBusy (*conn))
        {
          res = PQgetResult (*conn);
          if (res == NULL)
            return ok;
          ok = PQresultStatus (res) == PGRES_TUPLES_OK;
          PQclear (res);
        }

      if (remaining_ms <= 0)
        break;
      n = poll (&pfd, 1, (int) remaining_ms);
      if (n < 0 && errno != EINTR)
        break;
      if (n > 0 && PQconsumeInput (*conn) == 0)
        break;
    }

  g_debug ("Health check: no answer from the database within %d ms", HEALTH_TIMEOUT_MS);
  g_clear_pointer (conn, PQfinish);
  return FALSE;
}

static gpointer
health_thread (gpointer data)
{
  NatterStorePostgres *self = data;
  PGconn *conn = NULL;

  g_mutex_lock (&self->lock);
  while (!self->health_stop)
    {
      gint64 deadline;
      gboolean ok;

      g_mutex_unlock (&self->lock);
      ok = health_ping (self, &conn);
      if (ok != g_atomic_int_get (&self->ready))
        g_message ("Database %s", ok ? "reachable again" : "unreachable: reporting not ready");
      g_atomic_int_set (&self->ready, ok);
      g_mutex_lock (&self->lock);

      deadline = g_get_monotonic_time () + HEALTH_INTERVAL_US;
      while (!self->health_stop &&
             g_cond_wait_until (&self->health_cond, &self->lock, deadline))
        ;
    }
  g_mutex_unlock (&self->lock);

  g_clear_pointer (&conn, PQfinish);
  return NULL;
}

/* VACUUM of the messages table after deletes, at most once per VACUUM_INTERVAL_US, on a
 * connection of its own (VACUUM cannot run in a transaction, and takes no lock that
 * stops reads or writes). Closing the store cancels one that runs. */
static gpointer
vacuum_thread (gpointer data)
{
  NatterStorePostgres *self = data;
  PGconn *conn = NULL;
  gint64 last = 0;

  g_mutex_lock (&self->lock);
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      PGresult *res;

      while (!self->health_stop &&
             (!self->vacuum_wanted ||
              (last != 0 && g_get_monotonic_time () < last + VACUUM_INTERVAL_US)))
        {
          if (!self->vacuum_wanted)
            g_cond_wait (&self->vacuum_cond, &self->lock);
          else
            g_cond_wait_until (&self->vacuum_cond, &self->lock, last + VACUUM_INTERVAL_US);
        }
      if (self->health_stop)
        break;
      self->vacuum_wanted = FALSE;
      g_mutex_unlock (&self->lock);

      last = g_get_monotonic_time ();
      if (conn == NULL || PQstatus (conn) != CONNECTION_OK)
        {
          g_clear_pointer (&conn, PQfinish);
          conn = connect_db (self->conninfo, "3", &error);
        }
      if (conn != NULL)
        {
          g_mutex_lock (&self->lock);
          self->vacuum_cancel = PQgetCancel (conn);
          g_mutex_unlock (&self->lock);
          res = PQexec (conn, "VACUUM messages");
          if (PQresultStatus (res) != PGRES_COMMAND_OK)
            g_debug ("VACUUM messages: %s", PQerrorMessage (conn));
          PQclear (res);
          g_mutex_lock (&self->lock);
          g_clear_pointer (&self->vacuum_cancel, PQfreeCancel);
          g_mutex_unlock (&self->lock);
        }
      else
        g_debug ("VACUUM messages: %s", error->message);

      g_mutex_lock (&self->lock);
    }
  g_mutex_unlock (&self->lock);

  g_clear_pointer (&conn, PQfinish);
  return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Start-up: schema and migrations, synchronously */

static PGresult *
exec_params (PGconn             *conn,
             const char         *sql,
             int                 n_params,
             const char * const *values,
             ExecStatusType      expected,
             GError            **error)
{
  PGresult *res = PQexecParams (conn, sql, n_params, NULL, values, NULL, NULL, 0);

  if (PQresultStatus (res) != expected)
    {
      set_error_from_result (error, conn, res);
      PQclear (res);
      return NULL;
    }
  return res;
}

/* Fixed SQL only (schema, transaction control): the simple query protocol runs several
 * statements at once. */
static gboolean
exec_command (PGconn *conn, const char *sql, GError **error)
{
  PGresult *res = PQexec (conn, sql);
  gboolean ok = PQresultStatus (res) == PGRES_COMMAND_OK;

  if (!ok)
    set_error_from_result (error, conn, res);
  PQclear (res);
  return ok;
}

static char *
get_meta (PGconn *conn, const char *key, GError **error)
{
  const char * const values[] = { key };
  g_autoptr(PGresult) res = exec_params (conn, "SELECT value FROM meta WHERE key = $1", 1,
                                         values, PGRES_TUPLES_OK, error);

  if (res == NULL || PQntuples (res) == 0)
    return NULL;
  return g_strdup (get_text (res, 0, 0));
}

static gboolean
set_meta (PGconn *conn, const char *key, const char *value, GError **error)
{
  const char * const values[] = { key, value };
  g_autoptr(PGresult) res = exec_params (conn,
                                         "INSERT INTO meta (key, value) VALUES ($1, $2)"
                                         " ON CONFLICT (key) DO UPDATE SET value = $2",
                                         2, values, PGRES_COMMAND_OK, error);
  return res != NULL;
}

/* Search ignores accents when the `unaccent` extension (PostgreSQL's contrib, trusted:
 * the database owner may create it) can be had. Without it, search still works, just
 * accent-sensitive. */
static gboolean
ensure_unaccent (PGconn *conn)
{
  g_autoptr(GError) error = NULL;

  if (!exec_command (conn, "SAVEPOINT natter_unaccent", NULL))
    return FALSE;
  if (exec_command (conn, "CREATE EXTENSION IF NOT EXISTS unaccent", &error))
    return exec_command (conn, "RELEASE SAVEPOINT natter_unaccent", NULL);

  g_message ("The PostgreSQL extension “unaccent” is not available (%s): search will be "
             "accent-sensitive", error->message);
  exec_command (conn, "ROLLBACK TO SAVEPOINT natter_unaccent", NULL);
  return FALSE;
}

/* (Re)builds the search configuration, column and index when the configured language
 * (or the availability of unaccent) changed since the last start, and only then: it
 * rewrites the messages table. DDL takes no parameters, so every name in it comes
 * from the server, quoted by the server (regconfig output, quote_ident). */
static gboolean
apply_text_search_config (NatterStorePostgres *self, PGconn *conn, GError **error)
{
  const char *config_values[] = { self->text_search_config };
  g_autoptr(PGresult) canonical = NULL;
  g_autoptr(PGresult) dicts = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *current = NULL;
  g_autofree char *current_unaccent = NULL;
  g_autofree char *sql = NULL;
  const char *base;
  gboolean unaccent;

  canonical = exec_params (conn, "SELECT $1::regconfig::text", 1, config_values,
                           PGRES_TUPLES_OK, &local_error);
  if (canonical == NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                   "Unknown text search configuration “%s”: %s",
                   self->text_search_config, local_error->message);
      return FALSE;
    }
  base = get_text (canonical, 0, 0);
  g_free (self->text_search_config);
  self->text_search_config = g_strdup (base);
  config_values[0] = base;

  unaccent = ensure_unaccent (conn);
  current = get_meta (conn, "text_search_config", &local_error);
  if (local_error == NULL)
    current_unaccent = get_meta (conn, "text_search_unaccent", &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (g_strcmp0 (current, base) == 0 &&
      g_strcmp0 (current_unaccent, unaccent ? "true" : "false") == 0)
    return TRUE;

  g_message ("Building the search index for text search configuration “%s”%s", base,
             unaccent ? ", accents ignored" : "");

  /* The dictionaries the language uses for words, with unaccent in front of them. */
  dicts = exec_params (conn,
                       "SELECT string_agg (quote_ident (n.nspname) || '.' || quote_ident (d.dictname),"
                       "                   ', ' ORDER BY m.mapseqno)"
                       " FROM pg_ts_config_map m"
                       " JOIN pg_ts_dict d ON d.oid = m.mapdict"
                       " JOIN pg_namespace n ON n.oid = d.dictnamespace"
                       " WHERE m.mapcfg = $1::regconfig"
                       "   AND m.maptokentype = (SELECT tokid FROM ts_token_type ('default')"
                       "                         WHERE alias = 'word')",
                       1, config_values, PGRES_TUPLES_OK, error);
  if (dicts == NULL)
    return FALSE;

  sql = g_strdup_printf ("ALTER TABLE messages DROP COLUMN IF EXISTS tsv;"
                         "DROP TEXT SEARCH CONFIGURATION IF EXISTS " SEARCH_CONFIG ";"
                         "CREATE TEXT SEARCH CONFIGURATION " SEARCH_CONFIG " (COPY = %s);",
                         base);
  if (!exec_command (conn, sql, error))
    return FALSE;

  if (unaccent && !PQgetisnull (dicts, 0, 0))
    {
      g_autoptr(PGresult) unaccent_dict = NULL;
      g_autofree char *mapping = NULL;

      unaccent_dict = exec_params (conn,
                                   "SELECT quote_ident (n.nspname) || '.' || quote_ident (d.dictname)"
                                   " FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace"
                                   " WHERE d.dictname = 'unaccent'",
                                   0, NULL, PGRES_TUPLES_OK, error);
      if (unaccent_dict == NULL || PQntuples (unaccent_dict) == 0)
        {
          g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                               "The unaccent dictionary is missing");
          return FALSE;
        }
      mapping = g_strdup_printf ("ALTER TEXT SEARCH CONFIGURATION " SEARCH_CONFIG
                                 " ALTER MAPPING FOR word, hword, hword_part WITH %s, %s",
                                 get_text (unaccent_dict, 0, 0), get_text (dicts, 0, 0));
      if (!exec_command (conn, mapping, error))
        return FALSE;
    }

  if (!exec_command (conn,
                     "ALTER TABLE messages ADD COLUMN tsv tsvector GENERATED ALWAYS AS"
                     "  (to_tsvector ('" SEARCH_CONFIG "'::regconfig, body)) STORED;"
                     "CREATE INDEX messages_tsv ON messages USING gin (tsv);",
                     error))
    return FALSE;

  return set_meta (conn, "text_search_config", base, error) &&
         set_meta (conn, "text_search_unaccent", unaccent ? "true" : "false", error);
}

static gboolean
migrate_locked (NatterStorePostgres *self, PGconn *conn, GError **error)
{
  g_autoptr(PGresult) version_res = NULL;
  g_autoptr(PGresult) epoch = NULL;
  guint version = 0;

  if (!exec_command (conn, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
                     error))
    return FALSE;

  version_res = exec_params (conn, "SELECT version FROM schema_version", 0, NULL,
                             PGRES_TUPLES_OK, error);
  if (version_res == NULL)
    return FALSE;
  if (PQntuples (version_res) > 0)
    version = (guint) get_u64 (version_res, 0, 0);
  else if (!exec_command (conn, "INSERT INTO schema_version (version) VALUES (0)", error))
    return FALSE;

  if (version > G_N_ELEMENTS (migrations))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                   "The database schema (version %u) is newer than this natterd (version %u)",
                   version, (guint) G_N_ELEMENTS (migrations));
      return FALSE;
    }

  for (guint v = version; v < G_N_ELEMENTS (migrations); v++)
    {
      g_autofree char *next = g_strdup_printf ("%u", v + 1);
      const char * const values[] = { next };
      g_autoptr(PGresult) res = NULL;

      g_message ("Migrating the database schema to version %u", v + 1);
      if (!exec_command (conn, migrations[v], error))
        return FALSE;
      res = exec_params (conn, "UPDATE schema_version SET version = $1", 1, values,
                         PGRES_COMMAND_OK, error);
      if (res == NULL)
        return FALSE;
    }

  if (!apply_text_search_config (self, conn, error))
    return FALSE;

  epoch = exec_params (conn, "SELECT value FROM meta WHERE key = 'epoch'", 0, NULL,
                       PGRES_TUPLES_OK, error);
  if (epoch == NULL)
    return FALSE;
  if (PQntuples (epoch) != 1)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                           "The database has no epoch");
      return FALSE;
    }
  self->epoch = g_strdup (get_text (epoch, 0, 0));
  return TRUE;
}

static gboolean
migrate (NatterStorePostgres *self, PGconn *conn, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (!exec_command (conn, "BEGIN", error))
    return FALSE;

  {
    g_autoptr(PGresult) res = exec_params (conn, "SELECT pg_advisory_xact_lock (" MIGRATION_LOCK_KEY ")",
                                           0, NULL, PGRES_TUPLES_OK, &local_error);
    if (res == NULL || !migrate_locked (self, conn, &local_error))
      {
        exec_command (conn, "ROLLBACK", NULL);
        g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                    "Cannot prepare the database: ");
        return FALSE;
      }
  }

  return exec_command (conn, "COMMIT", error);
}

/* ---------------------------------------------------------------------------------------
 * GObject */

static void
natter_store_postgres_close (NatterStore *store)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);

  if (self->closed)
    return;
  self->closed = TRUE;

  /* Workers finish what is queued (every queued write commits), then stop. */
  for (guint i = 0; i < self->n_workers; i++)
    g_async_queue_push (self->workers[i].queue, &stop_job);
  for (guint i = 0; i < self->n_workers; i++)
    g_clear_pointer (&self->workers[i].thread, g_thread_join);

  g_mutex_lock (&self->lock);
  self->health_stop = TRUE;
  g_cond_signal (&self->health_cond);
  g_cond_signal (&self->vacuum_cond);
  if (self->vacuum_cancel != NULL)
    {
      char message[256];

      PQcancel (self->vacuum_cancel, message, sizeof message);
    }
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&self->health_thread, g_thread_join);
  g_clear_pointer (&self->vacuum_thread, g_thread_join);
  g_atomic_int_set (&self->ready, FALSE);
}

static void
natter_store_postgres_finalize (GObject *object)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (object);

  natter_store_postgres_close (NATTER_STORE (self));

  for (guint i = 0; i < self->n_workers; i++)
    g_clear_pointer (&self->workers[i].queue, g_async_queue_unref);
  g_clear_pointer (&self->workers, g_free);
  g_clear_pointer (&self->conninfo, g_free);
  g_clear_pointer (&self->text_search_config, g_free);
  g_clear_pointer (&self->epoch, g_free);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->health_cond);
  g_cond_clear (&self->vacuum_cond);

  G_OBJECT_CLASS (natter_store_postgres_parent_class)->finalize (object);
}

static void
natter_store_postgres_class_init (NatterStorePostgresClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_store_postgres_finalize;
}

static void
natter_store_postgres_init (NatterStorePostgres *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->health_cond);
  g_cond_init (&self->vacuum_cond);
}

/* ---------------------------------------------------------------------------------------
 * The interface */

static Job *
job_new (NatterStorePostgres *self,
         JobFunc              run,
         gpointer             source_tag,
         GCancellable        *cancellable,
         GAsyncReadyCallback  callback,
         gpointer             user_data)
{
  Job *job = g_new0 (Job, 1);

  job->run = run;
  job->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (job->task, source_tag);
  g_task_set_name (job->task, "[natter] postgres");
  /* A write that committed reports its outcome even if the caller gave up meanwhile. */
  g_task_set_check_cancellable (job->task, FALSE);
  return job;
}

/* Jobs about one room (or user) go to one worker, so they run in the order issued;
 * jobs without a key spread over the workers. */
static void
queue_job (NatterStorePostgres *self, const char *key, Job *job)
{
  guint index;

  if (self->closed)
    {
      g_task_return_new_error (job->task, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                               "The store is closed");
      job_free (job);
      return;
    }

  if (key != NULL)
    index = g_str_hash (key) % self->n_workers;
  else
    index = self->next_worker++ % self->n_workers;

  g_atomic_int_inc (&self->queued);
  g_async_queue_push (self->workers[index].queue, job);
}

static const char *
natter_store_postgres_get_epoch (NatterStore *store)
{
  return NATTER_STORE_POSTGRES (store)->epoch;
}

static void
natter_store_postgres_load_async (NatterStore *store, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_load, natter_store_postgres_load_async, cancellable,
                      callback, user_data);

  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) natter_store_snapshot_free;
  queue_job (self, NULL, job);
}

static void
natter_store_postgres_create_user_async (NatterStore *store, const char *name,
                                         const char *password_hash, NatterAccountFlags flags,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_create_user, natter_store_postgres_create_user_async,
                      cancellable, callback, user_data);

  job->boolean_result = TRUE;
  job->name = g_strdup (name);
  job->text = g_strdup (password_hash);
  job->flag = (flags & (NATTER_ACCOUNT_ADMIN | NATTER_ACCOUNT_OWNER)) != 0;
  job->owner = (flags & NATTER_ACCOUNT_OWNER) != 0;
  queue_job (self, name, job);
}

/* Reading a user and reading a room take the same arguments. */
static void
queue_get_job (NatterStore *store, JobFunc run, gpointer source_tag, GDestroyNotify result_free,
               const char *name, GCancellable *cancellable,
               GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run, source_tag, cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = result_free;
  job->name = g_strdup (name);
  queue_job (self, name, job);
}

static void
natter_store_postgres_get_user_async (NatterStore *store, const char *name,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  queue_get_job (store, run_get_user, natter_store_postgres_get_user_async,
                 (GDestroyNotify) natter_user_record_free, name, cancellable, callback,
                 user_data);
}

static void
natter_store_postgres_create_token_async (NatterStore *store, const char *user,
                                          const char *token_hash, gint64 expires_at_ms,
                                          const char *agent, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_create_token, natter_store_postgres_create_token_async,
                      cancellable, callback, user_data);

  job->boolean_result = TRUE;
  job->name = g_strdup (user);
  job->text = g_strdup (token_hash);
  job->number = expires_at_ms;
  job->kind = g_strdup (agent);
  queue_job (self, user, job);
}

static void
natter_store_postgres_lookup_token_async (NatterStore *store, const char *token_hash,
                                          gint64 now_ms, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_lookup_token, natter_store_postgres_lookup_token_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = g_free;
  job->text = g_strdup (token_hash);
  job->number = now_ms;
  queue_job (self, NULL, job);
}

static void
natter_store_postgres_list_sessions_async (NatterStore *store, const char *user,
                                           gint64 now_ms, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_list_sessions, natter_store_postgres_list_sessions_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) g_ptr_array_unref;
  job->name = g_strdup (user);
  job->number = now_ms;
  queue_job (self, user, job);
}

static void
natter_store_postgres_revoke_tokens_async (NatterStore *store, const char *user,
                                           const char *session, const char *keep,
                                           GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_revoke_tokens, natter_store_postgres_revoke_tokens_async,
                      cancellable, callback, user_data);

  job->result_free = (GDestroyNotify) g_strfreev;
  job->name = g_strdup (user);
  job->user = g_strdup (session);
  job->client_msg_id = g_strdup (keep);
  queue_job (self, user, job);
}

static void
natter_store_postgres_set_password_async (NatterStore *store, const char *user,
                                          const char *password_hash, const char *keep,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_set_password, natter_store_postgres_set_password_async,
                      cancellable, callback, user_data);

  job->result_free = (GDestroyNotify) g_strfreev;
  job->name = g_strdup (user);
  job->text = g_strdup (password_hash);
  job->client_msg_id = g_strdup (keep);
  queue_job (self, user, job);
}

static void
natter_store_postgres_set_account_state_async (NatterStore *store, const char *user,
                                               NatterAccountState state,
                                               GCancellable *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_set_account_state,
                      natter_store_postgres_set_account_state_async, cancellable, callback,
                      user_data);

  job->result_free = (GDestroyNotify) g_strfreev;
  job->name = g_strdup (user);
  job->number = state;
  queue_job (self, user, job);
}

static void
natter_store_postgres_list_users_async (NatterStore *store, const char *query, guint limit,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_list_users, natter_store_postgres_list_users_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) g_ptr_array_unref;
  job->text = g_strdup (query);
  job->limit = limit;
  queue_job (self, NULL, job);
}

static void
natter_store_postgres_moderate_async (NatterStore *store, const NatterModeration *change,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_moderate, natter_store_postgres_moderate_async,
                      cancellable, callback, user_data);

  /* All but creation are idempotent; a repeated creation would report its own room as
   * taken. */
  job->repeatable = change->kind != NATTER_MODERATION_CREATE &&
                    change->kind != NATTER_MODERATION_DECLINE;
  job->boolean_result = TRUE;
  job->moderation = change->kind;
  job->name = g_strdup (change->room);
  job->user = g_strdup (change->user);
  job->by = g_strdup (change->by);
  job->text = g_strdup (change->text);
  job->role = change->role;
  job->flag = change->is_private;
  queue_job (self, change->room, job);
}

static void
natter_store_postgres_list_blocks_async (NatterStore *store, const char *user,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_list_blocks, natter_store_postgres_list_blocks_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) g_strfreev;
  job->user = g_strdup (user);
  queue_job (self, NULL, job);
}

static void
natter_store_postgres_list_invitations_async (NatterStore *store, const char *user,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_list_invitations, natter_store_postgres_list_invitations_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) g_ptr_array_unref;
  job->user = g_strdup (user);
  queue_job (self, NULL, job);
}

static void
natter_store_postgres_log_moderation_async (NatterStore *store, const char *room,
                                            const NatterModerationEvent *event,
                                            GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_log_moderation, natter_store_postgres_log_moderation_async,
                      cancellable, callback, user_data);

  job->boolean_result = TRUE;
  job->name = g_strdup (room);
  job->event = g_new0 (NatterModerationEvent, 1);
  job->event->ts_ms = event->ts_ms;
  job->event->kind = g_strdup (event->kind);
  job->event->user = g_strdup (event->user);
  job->event->by = g_strdup (event->by);
  job->event->reason = g_strdup (event->reason);
  job->event->role = g_strdup (event->role);
  job->event->topic = g_strdup (event->topic);
  queue_job (self, room, job);
}

static void
natter_store_postgres_moderation_log_async (NatterStore *store, const char *room,
                                            gint64 before_ts_ms, guint limit,
                                            GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_moderation_log, natter_store_postgres_moderation_log_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) g_ptr_array_unref;
  job->name = g_strdup (room);
  job->number = before_ts_ms;
  job->limit = limit;
  queue_job (self, room, job);
}

static void
natter_store_postgres_directory_async (NatterStore *store, const char *query, guint limit,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_directory, natter_store_postgres_directory_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) g_ptr_array_unref;
  job->text = g_strdup (query);
  job->limit = limit;
  queue_job (self, NULL, job);
}

static void
natter_store_postgres_create_room_async (NatterStore *store, const char *name,
                                         const char *kind, const char *topic,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_create_room, natter_store_postgres_create_room_async,
                      cancellable, callback, user_data);

  /* Safe to repeat: it creates the room only if missing. */
  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) natter_room_record_free;
  job->name = g_strdup (name);
  job->kind = g_strdup (kind);
  job->text = g_strdup (topic);
  queue_job (self, name, job);
}

static void
natter_store_postgres_get_room_async (NatterStore *store, const char *name,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  queue_get_job (store, run_get_room, natter_store_postgres_get_room_async,
                 (GDestroyNotify) natter_room_record_free, name, cancellable, callback,
                 user_data);
}

/* Adding and removing a member take the same arguments, and both are idempotent. */
static void
queue_member_job (NatterStore *store, JobFunc run, gpointer source_tag, const char *room,
                  const char *user, GCancellable *cancellable,
                  GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run, source_tag, cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->boolean_result = TRUE;
  job->name = g_strdup (room);
  job->user = g_strdup (user);
  queue_job (self, room, job);
}

static void
natter_store_postgres_add_member_async (NatterStore *store, const char *room,
                                        const char *user, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data)
{
  queue_member_job (store, run_add_member, natter_store_postgres_add_member_async, room, user,
                    cancellable, callback, user_data);
}

static void
natter_store_postgres_remove_member_async (NatterStore *store, const char *room,
                                           const char *user, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data)
{
  queue_member_job (store, run_remove_member, natter_store_postgres_remove_member_async, room,
                    user, cancellable, callback, user_data);
}

static void
natter_store_postgres_append_message_async (NatterStore *store, const char *room,
                                            const char *sender, const char *body,
                                            const char *client_msg_id, const char *kind,
                                            gint64 ts_ms, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_append, natter_store_postgres_append_message_async,
                      cancellable, callback, user_data);

  job->is_append = TRUE;
  job->result_free = (GDestroyNotify) natter_append_result_free;
  job->name = g_strdup (room);
  job->user = g_strdup (sender);
  job->text = g_strdup (body != NULL ? body : "");
  /* An empty id is no id: it must not make unrelated sends duplicates. */
  job->client_msg_id = client_msg_id != NULL && *client_msg_id != '\0'
                       ? g_strdup (client_msg_id) : NULL;
  job->kind = g_strdup (kind != NULL ? kind : NATTER_MESSAGE_KIND_TEXT);
  job->number = ts_ms;
  queue_job (self, room, job);
}

static void
natter_store_postgres_change_message_async (NatterStore *store,
                                            const NatterMessageChange *change,
                                            GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_change, natter_store_postgres_change_message_async,
                      cancellable, callback, user_data);

  job->result_free = (GDestroyNotify) natter_append_result_free;
  job->name = g_strdup (change->room);
  job->user = g_strdup (change->sender);
  job->text = g_strdup (change->body != NULL ? change->body : "");
  job->client_msg_id = change->client_msg_id != NULL && *change->client_msg_id != '\0'
                       ? g_strdup (change->client_msg_id) : NULL;
  job->kind = g_strdup (change->kind);
  job->number = change->ts_ms;
  job->seq = change->target_seq;
  job->flag = change->active;
  /* Whether the sender may delete the messages of others. */
  /* Only the upstream cache (SQLite) mirrors a server's changes. */
  g_warn_if_fail (!change->mirror);
  job->owner = change->moderator;
  /* Keyed by room like sends, so that a room's writes run in the order issued. */
  queue_job (self, change->room, job);
}

static void
natter_store_postgres_history_async (NatterStore *store, const char *room,
                                     const NatterHistoryQuery *query,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_history, natter_store_postgres_history_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) natter_history_result_free;
  job->name = g_strdup (room);
  job->query = *query;
  queue_job (self, room, job);
}

static void
natter_store_postgres_set_read_async (NatterStore *store, const char *room, const char *user,
                                      guint64 seq, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_set_read, natter_store_postgres_set_read_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;  /* only moves forward: safe to repeat */
  job->boolean_result = TRUE;
  job->name = g_strdup (room);
  job->user = g_strdup (user);
  job->seq = seq;
  queue_job (self, room, job);
}

static void
natter_store_postgres_set_notification_level_async (NatterStore *store, const char *room,
                                                    const char *user,
                                                    NatterNotificationLevel level,
                                                    GCancellable *cancellable,
                                                    GAsyncReadyCallback callback,
                                                    gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_set_notification_level,
                      natter_store_postgres_set_notification_level_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;  /* sets a value: safe to repeat */
  job->boolean_result = TRUE;
  job->name = g_strdup (room);
  job->user = g_strdup (user);
  job->text = g_strdup (natter_notification_level_to_string (level));
  queue_job (self, room, job);
}

static void
natter_store_postgres_search_async (NatterStore *store, const char *user, const char *query,
                                    const char *room, guint limit,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job = job_new (self, run_search, natter_store_postgres_search_async,
                      cancellable, callback, user_data);

  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) g_ptr_array_unref;
  job->user = g_strdup (user);
  job->text = g_strdup (query != NULL ? query : "");
  job->name = g_strdup (room);
  job->limit = limit;
  queue_job (self, NULL, job);
}

/* Other nodes write to the same database. */
static gboolean
natter_store_postgres_is_shared (NatterStore *store)
{
  return TRUE;
}

/* Whether the database answered the last health check (made every second, with a three
 * second deadline) and no operation has lost its connection since. Cheap: for `/readyz`. */
static gboolean
natter_store_postgres_is_ready (NatterStore *store)
{
  return g_atomic_int_get (&NATTER_STORE_POSTGRES (store)->ready);
}

/* Reads the last seq of many rooms in one query: the periodic check a cluster node runs
 * to notice messages it missed (Redis down, a dropped subscription). */
static void
natter_store_postgres_get_last_seqs_async (NatterStore          *store,
                                           const char * const   *rooms,
                                           GCancellable         *cancellable,
                                           GAsyncReadyCallback   callback,
                                           gpointer              user_data)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  Job *job;

  g_return_if_fail (rooms != NULL);

  job = job_new (self, run_last_seqs, natter_store_postgres_get_last_seqs_async,
                 cancellable, callback, user_data);
  job->repeatable = TRUE;
  job->result_free = (GDestroyNotify) g_hash_table_unref;
  job->rooms = g_strdupv ((char **) rooms);
  queue_job (self, NULL, job);
}

static void
natter_store_postgres_append_metrics (NatterStore *store, GString *out)
{
  NatterStorePostgres *self = NATTER_STORE_POSTGRES (store);
  guint64 appends, transactions;

  g_mutex_lock (&self->lock);
  appends = self->appends;
  transactions = self->append_transactions;
  g_mutex_unlock (&self->lock);

  g_string_append_printf (out,
                          "# HELP natter_postgres_up Whether the database answers health checks.\n"
                          "# TYPE natter_postgres_up gauge\n"
                          "natter_postgres_up %d\n"
                          "# HELP natter_postgres_queued Operations queued or running.\n"
                          "# TYPE natter_postgres_queued gauge\n"
                          "natter_postgres_queued %d\n"
                          "# HELP natter_postgres_failures_total Operations that failed.\n"
                          "# TYPE natter_postgres_failures_total counter\n"
                          "natter_postgres_failures_total %d\n"
                          "# HELP natter_postgres_connects_total Worker connections opened.\n"
                          "# TYPE natter_postgres_connects_total counter\n"
                          "natter_postgres_connects_total %d\n"
                          "# HELP natter_postgres_sends_total Sends written.\n"
                          "# TYPE natter_postgres_sends_total counter\n"
                          "natter_postgres_sends_total %" G_GUINT64_FORMAT "\n"
                          "# HELP natter_postgres_send_transactions_total Transactions that wrote sends.\n"
                          "# TYPE natter_postgres_send_transactions_total counter\n"
                          "natter_postgres_send_transactions_total %" G_GUINT64_FORMAT "\n",
                          g_atomic_int_get (&self->ready),
                          g_atomic_int_get (&self->queued),
                          g_atomic_int_get (&self->failures),
                          g_atomic_int_get (&self->reconnects),
                          appends, transactions);
}

static void
natter_store_postgres_iface_init (NatterStoreInterface *iface)
{
  iface->get_epoch = natter_store_postgres_get_epoch;
  iface->close = natter_store_postgres_close;
  iface->load_async = natter_store_postgres_load_async;
  iface->create_user_async = natter_store_postgres_create_user_async;
  iface->get_user_async = natter_store_postgres_get_user_async;
  iface->create_token_async = natter_store_postgres_create_token_async;
  iface->lookup_token_async = natter_store_postgres_lookup_token_async;
  iface->list_sessions_async = natter_store_postgres_list_sessions_async;
  iface->revoke_tokens_async = natter_store_postgres_revoke_tokens_async;
  iface->set_password_async = natter_store_postgres_set_password_async;
  iface->set_account_state_async = natter_store_postgres_set_account_state_async;
  iface->list_users_async = natter_store_postgres_list_users_async;
  iface->create_room_async = natter_store_postgres_create_room_async;
  iface->moderate_async = natter_store_postgres_moderate_async;
  iface->list_blocks_async = natter_store_postgres_list_blocks_async;
  iface->directory_async = natter_store_postgres_directory_async;
  iface->list_invitations_async = natter_store_postgres_list_invitations_async;
  iface->log_moderation_async = natter_store_postgres_log_moderation_async;
  iface->moderation_log_async = natter_store_postgres_moderation_log_async;
  iface->get_room_async = natter_store_postgres_get_room_async;
  iface->add_member_async = natter_store_postgres_add_member_async;
  iface->remove_member_async = natter_store_postgres_remove_member_async;
  iface->append_message_async = natter_store_postgres_append_message_async;
  iface->change_message_async = natter_store_postgres_change_message_async;
  iface->history_async = natter_store_postgres_history_async;
  iface->set_read_async = natter_store_postgres_set_read_async;
  iface->set_notification_level_async = natter_store_postgres_set_notification_level_async;
  iface->search_async = natter_store_postgres_search_async;
  iface->is_shared = natter_store_postgres_is_shared;
  iface->is_ready = natter_store_postgres_is_ready;
  iface->get_last_seqs_async = natter_store_postgres_get_last_seqs_async;
  iface->append_metrics = natter_store_postgres_append_metrics;
}

/* ---------------------------------------------------------------------------------------
 * Public API */

/**
 * natter_store_postgres_new:
 * @conninfo: a libpq connection string or URI, such as `postgresql:///natter`
 * @error: return location for a #GError
 *
 * Like natter_store_postgres_new_full() with the `simple` text search configuration and
 * %NATTER_STORE_POSTGRES_DEFAULT_WORKERS workers.
 *
 * Returns: (transfer full): a new #NatterStore, or %NULL with @error set
 */
NatterStore *
natter_store_postgres_new (const char *conninfo, GError **error)
{
  return natter_store_postgres_new_full (conninfo, NULL, 0, error);
}

/**
 * natter_store_postgres_new_full:
 * @conninfo: a libpq connection string or URI
 * @text_search_config: (nullable): the PostgreSQL text search configuration used for
 *   search, such as `english`; %NULL for `simple` (no stemming, any language)
 * @n_workers: connections (and threads) that run operations; 0 for the default
 * @error: return location for a #GError
 *
 * Connects, brings the schema up to date and starts the workers. This blocks: call it at
 * start-up, before the main loop runs. Nodes that start together migrate one at a time.
 * A change of @text_search_config rebuilds the search index.
 *
 * Returns: (transfer full): a new #NatterStore, or %NULL with @error set
 *   (%NATTER_ERROR_UNAVAILABLE when the database cannot be reached)
 */
NatterStore *
natter_store_postgres_new_full (const char  *conninfo,
                                const char  *text_search_config,
                                guint        n_workers,
                                GError     **error)
{
  g_autoptr(NatterStorePostgres) self = NULL;
  PGconn *conn;
  gboolean ok;

  g_return_val_if_fail (conninfo != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (NATTER_TYPE_STORE_POSTGRES, NULL);
  self->conninfo = g_strdup (conninfo);
  self->text_search_config = g_strdup (text_search_config != NULL && *text_search_config != '\0'
                                       ? text_search_config : "simple");

  conn = connect_db (conninfo, "10", error);
  if (conn == NULL)
    return NULL;
  ok = migrate (self, conn, error);
  PQfinish (conn);
  if (!ok)
    return NULL;

  self->n_workers = n_workers > 0 ? n_workers : NATTER_STORE_POSTGRES_DEFAULT_WORKERS;
  self->workers = g_new0 (Worker, self->n_workers);
  for (guint i = 0; i < self->n_workers; i++)
    {
      g_autofree char *name = g_strdup_printf ("natter-pg-%u", i);
      Worker *worker = &self->workers[i];

      worker->store = self;
      worker->index = i;
      worker->queue = g_async_queue_new ();
      worker->thread = g_thread_new (name, worker_thread, worker);
    }

  g_atomic_int_set (&self->ready, TRUE);
  self->health_thread = g_thread_new ("natter-pg-health", health_thread, self);
  self->vacuum_thread = g_thread_new ("natter-pg-vacuum", vacuum_thread, self);

  g_debug ("PostgreSQL store ready: epoch %s, %u workers, text search “%s”",
           self->epoch, self->n_workers, self->text_search_config);
  return NATTER_STORE (g_steal_pointer (&self));
}


/**
 * natter_store_postgres_get_text_search_config:
 * @self: a #NatterStorePostgres
 *
 * Returns: (transfer none): the text search configuration in use, as the server names it
 */
const char *
natter_store_postgres_get_text_search_config (NatterStorePostgres *self)
{
  g_return_val_if_fail (NATTER_IS_STORE_POSTGRES (self), NULL);
  return self->text_search_config;
}

