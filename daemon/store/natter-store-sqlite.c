/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-store-sqlite"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "natter-error.h"
#include "natter-store-sqlite.h"
#include "natter-store-sqlite-private.h"

/*
 * The embedded store: one SQLite database in WAL mode.
 *
 * Every write goes to one writer thread through a queue. The writer takes whatever is
 * queued (up to MAX_BATCH operations) and runs it in one transaction, each operation in
 * its own savepoint, so a thousand concurrent sends cost one commit rather than a
 * thousand, and one failing operation does not undo the others. The messages a batch
 * appends enter the full-text index together, just before the commit. Operations complete
 * only after their transaction has committed.
 *
 * Reads run on a few reader threads, each with its own read-only connection. WAL lets them
 * read while the writer writes, and since each read starts a fresh read transaction, it
 * sees every write that completed before it was issued.
 *
 * Checkpoints, which copy the write-ahead log into the database file and wait for the disk,
 * run on a thread of their own, so a commit of the writer only appends to the log.
 *
 * Finished operations are handed back to the main context of their caller, where their
 * GTask is completed and released, so no store thread ever holds the last reference on
 * the store.
 */

#define MAX_BATCH        256
#define N_READERS        2
#define BUSY_TIMEOUT_MS  5000
#define HISTORY_MAX      200
#define SEARCH_MAX       200
#define SEARCH_MAX_WORDS 32
/* Write-ahead log frames waiting to be copied that ask for a checkpoint; at the hard limit
 * the writer checkpoints itself, between two transactions, so that the log cannot grow
 * without bound. Small, so that each cycle's syncs are short: the writer syncs the log
 * header when the log starts over, and waits for what the checkpoint left to flush. Not
 * too small either: that sync comes once per cycle. In the benchmarks 2,000 frames (8 MiB)
 * kept the many-rooms tail near the lowest measured (1,000) and durable sends at the
 * highest (4,000). */
#define CHECKPOINT_PAGES     2000
#define CHECKPOINT_PAGES_MAX (8 * CHECKPOINT_PAGES)
/* How much nicer than the rest of the daemon the checkpointer runs. In paired runs of the
 * many-rooms benchmark, with the two cores three quarters busy, this took p90 from
 * 3.6-5.1 ms to 3.0-3.4 ms (docs/benchmarks.md has the spread of p99). */
#define CHECKPOINTER_NICE    10
/* New messages enter the search index this long after their commit at the latest, or
 * once this many wait; a search waits for the index to have what was committed before it. */
#define INDEX_DELAY_US       (50 * G_TIME_SPAN_MILLISECOND)
#define INDEX_MAX_PENDING    2048
#define INDEX_RETRY_US       G_TIME_SPAN_SECOND
/* Under load (the last batch had more than one write) the writer waits this long after
 * a batch's first write for more to join it: fewer, larger transactions. */
#define GATHER_US            500
/* Schema 9 splits the search index by message id into shards of this many ids, one FTS5
 * table each (messages_fts_<id / size>). Before 3.42 FTS5 erases a deleted row's terms
 * from the file only by merging every segment that holds them ('optimize'): on one index
 * of 1,000,000 messages that took 1.3-4 s of the writer. A delete now merges one shard
 * only, a cost bounded by the shard size (about 5-15 ms here at 4,096, 35-90 ms at 16,384),
 * and a search walks the shards newest first, stopping at its limit (docs/benchmarks.md
 * has the measurements). The size is a property of the file, kept in meta. */
#define SEARCH_SHARD_SIZE    4096
/* After a delete the checkpointer empties the log with a TRUNCATE checkpoint, so that the
 * deleted text leaves the -wal file too: at most once per this interval, retried after it
 * while readers or the writer hold the log. */
#define TRUNCATE_INTERVAL_US G_TIME_SPAN_SECOND
/* A TRUNCATE checkpoint takes the write lock and then waits for the readers to finish
 * what they read; meanwhile the writer waits. It waits at most this long for either
 * before it gives up until the next interval. */
#define TRUNCATE_BUSY_MS     10

/* Each entry moves the schema from version i to i + 1 in one transaction. Add new
 * migrations at the end; never edit one that has shipped. */
static const char * const migrations[] = {
  /* 1: accounts, rooms and messages */
  "CREATE TABLE meta ("
  "  key   TEXT PRIMARY KEY,"
  "  value TEXT NOT NULL"
  ") WITHOUT ROWID;"
  "CREATE TABLE users ("
  "  name          TEXT PRIMARY KEY,"
  "  password_hash TEXT NOT NULL,"
  "  admin         INTEGER NOT NULL DEFAULT 0,"
  "  created_at    INTEGER NOT NULL"
  ") WITHOUT ROWID;"
  "CREATE TABLE tokens ("
  "  hash       TEXT PRIMARY KEY,"
  "  user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,"
  "  expires_at INTEGER NOT NULL"
  ") WITHOUT ROWID;"
  "CREATE INDEX tokens_user ON tokens (user);"
  "CREATE TABLE rooms ("
  "  name       TEXT PRIMARY KEY,"
  "  kind       TEXT NOT NULL,"
  "  topic      TEXT,"
  "  last_seq   INTEGER NOT NULL DEFAULT 0,"
  "  created_at INTEGER NOT NULL"
  ") WITHOUT ROWID;"
  "CREATE TABLE members ("
  "  room     TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,"
  "  user     TEXT NOT NULL,"
  "  read_seq INTEGER NOT NULL DEFAULT 0,"
  "  PRIMARY KEY (room, user)"
  ") WITHOUT ROWID;"
  "CREATE INDEX members_user ON members (user);"
  "CREATE TABLE messages ("
  "  id            INTEGER PRIMARY KEY,"
  "  room          TEXT NOT NULL REFERENCES rooms (name),"
  "  seq           INTEGER NOT NULL,"
  "  ts            INTEGER NOT NULL,"
  "  sender        TEXT NOT NULL,"
  "  body          TEXT NOT NULL,"
  "  client_msg_id TEXT,"
  "  kind          TEXT NOT NULL,"
  "  UNIQUE (room, seq)"
  ");"
  "CREATE UNIQUE INDEX messages_client_msg_id ON messages (sender, client_msg_id)"
  "  WHERE client_msg_id IS NOT NULL;",

  /* 2: full-text search over message bodies, kept in sync by triggers so that the index
   * changes in the transaction that changes the message; existing messages are indexed. */
  "CREATE VIRTUAL TABLE messages_fts USING fts5 ("
  "  body,"
  "  content = 'messages',"
  "  content_rowid = 'id',"
  "  tokenize = 'unicode61 remove_diacritics 2'"
  ");"
  "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
  "  INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);"
  "END;"
  "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
  "  INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);"
  "END;"
  "CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN"
  "  INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);"
  "  INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);"
  "END;"
  "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');",

  /* 3: new messages are indexed once per write transaction, by index_new_messages(), not
   * row by row: a per-row index write inside each operation's savepoint made FTS5 flush
   * its pending terms for every message. Deletes and body updates keep their triggers. */
  "DROP TRIGGER messages_fts_insert;",

  /* 4: new messages are indexed shortly after their commit, in transactions of their own
   * (see index_pending()); this row says up to which message id the index is complete,
   * so that what was committed but not yet indexed when natterd stopped is indexed when
   * it starts. Everything is indexed at this point. */
  "INSERT INTO meta (key, value)"
  "  SELECT 'search_indexed_id', coalesce (max (id), 0) FROM messages;",

  /* 5: sessions and account states. Each token is a session with a public id (the start
   * of its hash, see natter_store_session_id()), its creation, last use and the client's
   * User-Agent; tokens from before keep working, with those unknown (0 and NULL).
   * A deleted account keeps its row, without password, so that its name stays taken. */
  "ALTER TABLE tokens ADD COLUMN id TEXT;"
  "ALTER TABLE tokens ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE tokens ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE tokens ADD COLUMN agent TEXT;"
  "UPDATE tokens SET id = substr (hash, 1, 16);"
  "CREATE UNIQUE INDEX tokens_id ON tokens (id);"
  "ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE users ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;",

  /* 6: rooms people control. Rooms from before are public and their members plain
   * members, so they keep working and have no owner until an admin sets one.
   * Invitations and bans go with their room; blocks are between users only. */
  "ALTER TABLE rooms ADD COLUMN private INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE members ADD COLUMN role TEXT NOT NULL DEFAULT 'member';"
  "CREATE TABLE invitations ("
  "  room       TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,"
  "  user       TEXT NOT NULL,"
  "  invited_by TEXT NOT NULL,"
  "  created_at INTEGER NOT NULL,"
  "  PRIMARY KEY (room, user)"
  ") WITHOUT ROWID;"
  "CREATE TABLE bans ("
  "  room       TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,"
  "  user       TEXT NOT NULL,"
  "  banned_by  TEXT,"
  "  reason     TEXT,"
  "  created_at INTEGER NOT NULL,"
  "  PRIMARY KEY (room, user)"
  ") WITHOUT ROWID;"
  "CREATE TABLE blocks ("
  "  user       TEXT NOT NULL,"
  "  blocked    TEXT NOT NULL,"
  "  created_at INTEGER NOT NULL,"
  "  PRIMARY KEY (user, blocked)"
  ") WITHOUT ROWID;",

  /* 7: replies and message changes. target_seq is the message a reply answers or a change
   * (edit, delete, reaction) changes; the target row itself holds its current state (body,
   * edited_ts, kind 'deleted') and reactions have a table of their own, so that a history
   * page reads its messages and their reactions with two indexed range scans. */
  "ALTER TABLE messages ADD COLUMN target_seq INTEGER;"
  "ALTER TABLE messages ADD COLUMN edited_ts INTEGER;"
  "ALTER TABLE messages ADD COLUMN active INTEGER;"
  "CREATE INDEX messages_target ON messages (room, target_seq)"
  "  WHERE target_seq IS NOT NULL;"
  "CREATE TABLE reactions ("
  "  room  TEXT NOT NULL,"
  "  seq   INTEGER NOT NULL,"
  "  emoji TEXT NOT NULL,"
  "  user  TEXT NOT NULL,"
  "  PRIMARY KEY (room, seq, emoji, user)"
  ") WITHOUT ROWID;",

  /* 8: which new messages of a room notify each member: 'all', 'mentions' or 'none'. */
  "ALTER TABLE members ADD COLUMN notification_level TEXT NOT NULL DEFAULT 'all';",

  /* 9: the search index in shards by message id (see SEARCH_SHARD_SIZE), so that erasing
   * a deleted message rewrites one shard, not the whole index. Only messages that search
   * can return (text, broadcast) are indexed; edits and deletions update their shard from
   * the code, not by trigger. migrate_search_shards() then moves what messages_fts held
   * into the shards and drops it. */
  "CREATE TABLE search_shards (shard INTEGER PRIMARY KEY);"
  "DROP TRIGGER messages_fts_delete;"
  "DROP TRIGGER messages_fts_update;"
  "INSERT INTO meta (key, value) VALUES ('search_shard_size', '" G_STRINGIFY (SEARCH_SHARD_SIZE) "');",

  /* 10: each room's moderation log: kicks, bans, unbans, role and topic changes, apart
   * from the messages so that their seqs stay what clients count (docs/protocol.md,
   * "Moderation log"). ts is unique within a room: the key pages by it. */
  "CREATE TABLE moderation_log ("
  "  room    TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,"
  "  ts      INTEGER NOT NULL,"
  "  kind    TEXT NOT NULL,"
  "  user    TEXT NOT NULL,"
  "  by_user TEXT NOT NULL,"
  "  reason  TEXT,"
  "  role    TEXT,"
  "  topic   TEXT,"
  "  PRIMARY KEY (room, ts)"
  ") WITHOUT ROWID;",
  /* 11: an account's pending invitations by an index: they are read at every login, and
   * invitations that are never used up or declined add up over time. */
  "CREATE INDEX invitations_user ON invitations (user);",
};

/* The first schema version with a sharded search index. */
#define SCHEMA_SHARDED 9

#define MESSAGE_COLUMNS \
  "room, seq, ts, sender, body, client_msg_id, kind, target_seq, edited_ts, active"

typedef enum {
  STMT_BEGIN_IMMEDIATE,
  STMT_BEGIN,
  STMT_COMMIT,
  STMT_ROLLBACK,
  STMT_SAVEPOINT,
  STMT_RELEASE,
  STMT_ROLLBACK_TO,
  STMT_ENABLE_WAL,
  STMT_GET_SCHEMA_VERSION,
  STMT_INSERT_EPOCH,
  STMT_SELECT_EPOCH,
  STMT_DELETE_EXPIRED_TOKENS,
  STMT_INSERT_USER,
  STMT_SELECT_USER,
  STMT_SET_OWNER,
  STMT_INSERT_TOKEN,
  STMT_SELECT_TOKEN,
  STMT_TOUCH_TOKEN,
  STMT_SELECT_SESSIONS,
  STMT_DELETE_TOKENS,
  STMT_SET_PASSWORD,
  STMT_SET_ACCOUNT_STATE,
  STMT_SELECT_USERS,
  STMT_INSERT_ROOM,
  STMT_SELECT_ROOM,
  STMT_SELECT_ROOMS,
  STMT_SELECT_MEMBERS,
  STMT_SELECT_ALL_MEMBERS,
  STMT_SELECT_MEMBER,
  STMT_INSERT_MEMBER,
  STMT_DELETE_MEMBER,
  STMT_SET_READ,
  STMT_SET_NOTIFICATION_LEVEL,
  STMT_ADVANCE_READ,
  STMT_SELECT_BY_CLIENT_MSG_ID,
  STMT_SELECT_LAST_SEQ,
  STMT_SET_LAST_SEQ,
  STMT_INSERT_MESSAGE,
  STMT_INSERT_CHANGE,
  STMT_SELECT_TARGET,
  STMT_EDIT_TARGET,
  STMT_DELETE_TARGET,
  STMT_ERASE_EDITS,
  STMT_DELETE_REACTIONS,
  STMT_ADD_REACTION,
  STMT_REMOVE_REACTION,
  STMT_OPTIMIZE_INDEX,
  STMT_SELECT_REACTIONS,
  STMT_HISTORY_ASCENDING,
  STMT_HISTORY_DESCENDING,
  STMT_SEARCH,
  STMT_INDEX_NEW_MESSAGES,
  STMT_CREATE_PRIVATE_ROOM,
  STMT_INSERT_OWNER,
  STMT_SET_ROLE,
  STMT_SET_TOPIC,
  STMT_INSERT_INVITATION,
  STMT_DELETE_INVITATION,
  STMT_DELETE_INVITATIONS_BY,
  STMT_SELECT_INVITATIONS,
  STMT_INSERT_BAN,
  STMT_DELETE_BAN,
  STMT_INSERT_BLOCK,
  STMT_DELETE_BLOCK,
  STMT_SELECT_BLOCKS,
  STMT_SELECT_ROOM_ACCESS,
  STMT_SELECT_DIRECTORY,
  STMT_SELECT_UNINDEXED,
  STMT_SET_INDEXED_ID,
  STMT_SELECT_MAX_ID,
  STMT_ADD_SHARD,
  STMT_SELECT_SHARDS,
  STMT_INSERT_MODERATION_EVENT,
  STMT_SELECT_MODERATION_LOG,
  N_STMTS
} StmtId;

static const char * const stmt_sql[N_STMTS] = {
  [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
  [STMT_BEGIN] = "BEGIN",
  [STMT_COMMIT] = "COMMIT",
  [STMT_ROLLBACK] = "ROLLBACK",
  [STMT_SAVEPOINT] = "SAVEPOINT op",
  [STMT_RELEASE] = "RELEASE op",
  [STMT_ROLLBACK_TO] = "ROLLBACK TO op",
  [STMT_ENABLE_WAL] = "PRAGMA journal_mode = WAL",
  [STMT_GET_SCHEMA_VERSION] = "PRAGMA user_version",
  [STMT_INSERT_EPOCH] =
    "INSERT INTO meta (key, value) VALUES ('epoch', ?1) ON CONFLICT (key) DO NOTHING",
  [STMT_SELECT_EPOCH] = "SELECT value FROM meta WHERE key = 'epoch'",
  [STMT_DELETE_EXPIRED_TOKENS] = "DELETE FROM tokens WHERE expires_at <= ?1",
  [STMT_INSERT_USER] =
    "INSERT INTO users (name, password_hash, admin, created_at) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (name) DO NOTHING",
  [STMT_SELECT_USER] =
    "SELECT name, password_hash, admin,"
    "  EXISTS (SELECT 1 FROM meta WHERE key = 'owner' AND value = users.name),"
    "  disabled, deleted, created_at"
    " FROM users WHERE name = ?1",
  [STMT_SET_OWNER] =
    "INSERT INTO meta (key, value) VALUES ('owner', ?1)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  [STMT_INSERT_TOKEN] =
    "INSERT INTO tokens (hash, user, expires_at, id, created_at, last_seen, agent)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
  /* Only enabled accounts: disabling deletes the tokens too, this is the second lock. A
   * join, not `user IN (SELECT name FROM users WHERE …)`: SQLite plans that as a scan of
   * every account per login (4 ms at 10,000 accounts, on the writer). */
  [STMT_SELECT_TOKEN] =
    "SELECT t.user FROM tokens AS t JOIN users AS u ON u.name = t.user"
    " WHERE t.hash = ?1 AND t.expires_at > ?2 AND u.disabled = 0 AND u.deleted = 0",
  [STMT_TOUCH_TOKEN] = "UPDATE tokens SET last_seen = ?2 WHERE hash = ?1",
  [STMT_SELECT_SESSIONS] =
    "SELECT id, created_at, last_seen, agent FROM tokens"
    " WHERE user = ?1 AND expires_at > ?2 ORDER BY created_at, id",
  [STMT_DELETE_TOKENS] =
    "DELETE FROM tokens"
    " WHERE user = ?1 AND (?2 IS NULL OR id = ?2) AND (?3 IS NULL OR id IS NOT ?3)"
    " RETURNING id",
  [STMT_SET_PASSWORD] =
    "UPDATE users SET password_hash = ?2 WHERE name = ?1 AND deleted = 0",
  [STMT_SET_ACCOUNT_STATE] =
    "UPDATE users SET disabled = ?2, deleted = ?3,"
    "  password_hash = CASE WHEN ?3 THEN '' ELSE password_hash END"
    " WHERE name = ?1 AND deleted = 0",
  [STMT_SELECT_USERS] =
    "SELECT name, admin,"
    "  EXISTS (SELECT 1 FROM meta WHERE key = 'owner' AND value = users.name),"
    "  disabled, created_at"
    " FROM users WHERE deleted = 0 AND (?1 IS NULL OR instr (name, ?1) > 0)"
    " ORDER BY name LIMIT ?2",
  [STMT_INSERT_ROOM] =
    "INSERT INTO rooms (name, kind, topic, last_seq, created_at) VALUES (?1, ?2, ?3, 0, ?4)"
    " ON CONFLICT (name) DO NOTHING",
  [STMT_SELECT_ROOM] =
    "SELECT name, kind, topic, last_seq, private FROM rooms WHERE name = ?1",
  [STMT_SELECT_ROOMS] =
    "SELECT name, kind, topic, last_seq, private FROM rooms ORDER BY name",
  [STMT_SELECT_MEMBERS] =
    "SELECT user, read_seq, role, notification_level FROM members WHERE room = ?1 ORDER BY user",
  [STMT_SELECT_ALL_MEMBERS] =
    "SELECT room, user, read_seq, role, notification_level FROM members ORDER BY room, user",
  [STMT_SELECT_MEMBER] = "SELECT 1 FROM members WHERE room = ?1 AND user = ?2",
  [STMT_INSERT_MEMBER] =
    "INSERT INTO members (room, user, read_seq) VALUES (?1, ?2, 0)"
    " ON CONFLICT (room, user) DO NOTHING",
  [STMT_DELETE_MEMBER] = "DELETE FROM members WHERE room = ?1 AND user = ?2",
  /* Never past the room's last message, so a bogus seq cannot mark future ones read. */
  [STMT_SET_READ] =
    "UPDATE members SET read_seq = target.seq"
    "  FROM (SELECT min (?3, last_seq) AS seq FROM rooms WHERE name = ?1) AS target"
    " WHERE members.room = ?1 AND members.user = ?2 AND members.read_seq < target.seq",
  [STMT_SET_NOTIFICATION_LEVEL] =
    "UPDATE members SET notification_level = ?3 WHERE room = ?1 AND user = ?2",
  [STMT_ADVANCE_READ] =
    "UPDATE members SET read_seq = ?3 WHERE room = ?1 AND user = ?2 AND read_seq < ?3",
  [STMT_SELECT_BY_CLIENT_MSG_ID] =
    "SELECT " MESSAGE_COLUMNS " FROM messages WHERE sender = ?1 AND client_msg_id = ?2",
  /* Not one UPDATE … RETURNING: SQLite gathers RETURNING rows in a temporary b-tree it
   * opens on every run, which cost four times what a plain read and write do. */
  [STMT_SELECT_LAST_SEQ] = "SELECT last_seq FROM rooms WHERE name = ?1",
  [STMT_SET_LAST_SEQ] = "UPDATE rooms SET last_seq = ?2 WHERE name = ?1",
  [STMT_INSERT_MESSAGE] =
    "INSERT INTO messages (room, seq, ts, sender, body, client_msg_id, kind)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
  [STMT_INSERT_CHANGE] =
    "INSERT INTO messages (" MESSAGE_COLUMNS ")"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9)",
  [STMT_SELECT_TARGET] =
    "SELECT id, sender, kind FROM messages WHERE room = ?1 AND seq = ?2",
  [STMT_EDIT_TARGET] =
    "UPDATE messages SET body = ?3, edited_ts = ?4 WHERE room = ?1 AND seq = ?2",
  [STMT_DELETE_TARGET] =
    "UPDATE messages SET body = '', kind = 'deleted', edited_ts = NULL"
    " WHERE room = ?1 AND seq = ?2",
  [STMT_ERASE_EDITS] =
    "UPDATE messages SET body = '' WHERE room = ?1 AND target_seq = ?2 AND kind = 'edit'",
  [STMT_DELETE_REACTIONS] = "DELETE FROM reactions WHERE room = ?1 AND seq = ?2",
  [STMT_ADD_REACTION] =
    "INSERT INTO reactions (room, seq, emoji, user) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT DO NOTHING",
  [STMT_REMOVE_REACTION] =
    "DELETE FROM reactions WHERE room = ?1 AND seq = ?2 AND emoji = ?3 AND user = ?4",
  /* FTS5 (before 3.42, without secure-delete) only marks a deleted row's terms as gone
   * in a newer segment; merging every segment into one drops them from the file. */
  [STMT_OPTIMIZE_INDEX] = "INSERT INTO messages_fts (messages_fts) VALUES ('optimize')",
  [STMT_SELECT_REACTIONS] =
    "SELECT seq, emoji, user FROM reactions"
    " WHERE room = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq, emoji, user",
  [STMT_HISTORY_ASCENDING] =
    "SELECT " MESSAGE_COLUMNS " FROM messages"
    " WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq ASC LIMIT ?4",
  [STMT_HISTORY_DESCENDING] =
    "SELECT " MESSAGE_COLUMNS " FROM messages"
    " WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4",
  [STMT_SEARCH] =
    "SELECT m.room, m.seq, m.ts, m.sender, m.body, m.client_msg_id, m.kind,"
    "  m.target_seq, m.edited_ts, m.active"
    "  FROM messages_fts JOIN messages AS m ON m.id = messages_fts.rowid"
    " WHERE messages_fts MATCH ?1 AND m.kind IN ('text', 'broadcast')"
    "   AND (m.room = ?3 OR m.room IN (SELECT room FROM members WHERE user = ?2))"
    "   AND (?4 IS NULL OR m.room = ?4)"
    " ORDER BY messages_fts.rowid DESC LIMIT ?5",
  [STMT_INDEX_NEW_MESSAGES] =
    "INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages WHERE id >= ?1",
  [STMT_CREATE_PRIVATE_ROOM] =
    "INSERT INTO rooms (name, kind, topic, last_seq, created_at, private)"
    " VALUES (?1, 'room', ?2, 0, ?3, ?4) ON CONFLICT (name) DO NOTHING",
  [STMT_INSERT_OWNER] =
    "INSERT INTO members (room, user, read_seq, role) VALUES (?1, ?2, 0, 'owner')",
  [STMT_SET_ROLE] = "UPDATE members SET role = ?3 WHERE room = ?1 AND user = ?2",
  [STMT_SET_TOPIC] = "UPDATE rooms SET topic = ?2 WHERE name = ?1",
  [STMT_INSERT_INVITATION] =
    "INSERT INTO invitations (room, user, invited_by, created_at) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (room, user) DO UPDATE"
    "  SET invited_by = excluded.invited_by, created_at = excluded.created_at",
  [STMT_DELETE_INVITATION] = "DELETE FROM invitations WHERE room = ?1 AND user = ?2",
  [STMT_DELETE_INVITATIONS_BY] = "DELETE FROM invitations WHERE room = ?1 AND invited_by = ?2",
  [STMT_SELECT_INVITATIONS] =
    "SELECT room, invited_by, created_at FROM invitations WHERE user = ?1"
    " ORDER BY created_at, room",
  [STMT_INSERT_BAN] =
    "INSERT INTO bans (room, user, banned_by, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (room, user) DO UPDATE"
    "  SET banned_by = excluded.banned_by, reason = excluded.reason",
  [STMT_DELETE_BAN] = "DELETE FROM bans WHERE room = ?1 AND user = ?2",
  [STMT_INSERT_BLOCK] =
    "INSERT INTO blocks (user, blocked, created_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (user, blocked) DO NOTHING",
  [STMT_DELETE_BLOCK] = "DELETE FROM blocks WHERE user = ?1 AND blocked = ?2",
  [STMT_SELECT_BLOCKS] = "SELECT blocked FROM blocks WHERE user = ?1 ORDER BY blocked",
  /* Of one room, or of all (?1 NULL): 0 for an invitation, 1 for a ban. */
  [STMT_SELECT_ROOM_ACCESS] =
    "SELECT room, user, 0 FROM invitations WHERE ?1 IS NULL OR room = ?1"
    " UNION ALL SELECT room, user, 1 FROM bans WHERE ?1 IS NULL OR room = ?1"
    " ORDER BY 1, 2",
  [STMT_SELECT_DIRECTORY] =
    "SELECT r.name, r.topic, (SELECT count (*) FROM members m WHERE m.room = r.name)"
    " FROM rooms r WHERE r.kind = 'room' AND r.private = 0"
    "   AND (?1 IS NULL OR instr (natter_casefold (r.name), ?1) > 0"
    "        OR instr (natter_casefold (coalesce (r.topic, '')), ?1) > 0)"
    /* The busiest rooms are the ones worth listing first: the top ?2 by members. */
    " ORDER BY 3 DESC, r.name LIMIT ?2",
  [STMT_SELECT_UNINDEXED] =
    "SELECT min (id) FROM messages WHERE id >"
    "  (SELECT CAST (value AS INTEGER) FROM meta WHERE key = 'search_indexed_id')",
  [STMT_SET_INDEXED_ID] =
    "UPDATE meta SET value = (SELECT coalesce (max (id), 0) FROM messages)"
    " WHERE key = 'search_indexed_id'",
  [STMT_SELECT_MAX_ID] = "SELECT coalesce (max (id), 0) FROM messages",
  [STMT_ADD_SHARD] = "INSERT INTO search_shards (shard) VALUES (?1) ON CONFLICT DO NOTHING",
  [STMT_SELECT_SHARDS] = "SELECT shard FROM search_shards ORDER BY shard DESC",
  [STMT_INSERT_MODERATION_EVENT] =
    "INSERT INTO moderation_log (room, ts, kind, user, by_user, reason, role, topic)"
    " SELECT ?1, max (?2, coalesce ((SELECT max (ts) FROM moderation_log WHERE room = ?1), 0) + 1),"
    "   ?3, ?4, ?5, ?6, ?7, ?8"
    " WHERE EXISTS (SELECT 1 FROM rooms WHERE name = ?1)",
  [STMT_SELECT_MODERATION_LOG] =
    "SELECT ts, kind, user, by_user, reason, role, topic FROM"
    " (SELECT * FROM moderation_log WHERE room = ?1 AND ts < ?2 ORDER BY ts DESC LIMIT ?3)"
    " ORDER BY ts",
};

/* Statements on one search shard, for conn_borrow_shard(): each %s is the shard's table. */
#define SHARD_INDEX \
  "INSERT INTO %s (rowid, body) SELECT id, body FROM messages" \
  " WHERE id >= ?1 AND id < ?2 AND kind IN ('text', 'broadcast')"
/* A contentless index forgets a row given the exact text it indexed: the stored body. */
#define SHARD_UNINDEX \
  "INSERT INTO %s (%s, rowid, body) SELECT 'delete', id, body FROM messages" \
  " WHERE id = ?1 AND kind IN ('text', 'broadcast')"
/* FTS5 before 3.42 only marks a deleted row's terms as gone in a newer segment; merging
 * the shard's segments into one drops them from the file. */
#define SHARD_OPTIMIZE "INSERT INTO %s (%s) VALUES ('optimize')"
#define SHARD_SEARCH \
  "SELECT m.room, m.seq, m.ts, m.sender, m.body, m.client_msg_id, m.kind," \
  "  m.target_seq, m.edited_ts, m.active" \
  "  FROM %s JOIN messages AS m ON m.id = %s.rowid" \
  " WHERE %s MATCH ?1 AND m.kind IN ('text', 'broadcast')" \
  "   AND (m.room = ?3 OR m.room IN (SELECT room FROM members WHERE user = ?2))" \
  "   AND (?4 IS NULL OR m.room = ?4)" \
  " ORDER BY %s.rowid DESC LIMIT ?5"

/* A connection with its cache of prepared statements. Used by one thread at a time. */
typedef struct {
  sqlite3      *db;               /* (owned) */
  sqlite3_stmt *stmts[N_STMTS];   /* (owned) (nullable) each prepared on first use */
  /* Writer only: the lowest id of the messages appended and not yet in the search index,
   * or 0 if there are none. */
  sqlite3_int64 unindexed_from;
  /* Schema 9 on: statements on the search shards, by SQL (prepared on first use). */
  gboolean      sharded;
  gint64        shard_size;
  GHashTable   *shard_stmts;      /* (owned) (nullable) char * -> sqlite3_stmt * */
  gint64        top_shard;        /* writer only: the newest shard that exists, or -1 */
  gboolean      erased;           /* writer only: this batch deleted a message */
} Conn;

/* How the writer keeps the search index, by schema version. */
typedef enum {
  INDEX_BY_TRIGGER,   /* schema 2: a trigger per row (and schema 1 has no index) */
  INDEX_ON_COMMIT,    /* schema 3: once per write transaction, before its COMMIT */
  INDEX_DEFERRED,     /* schema 4: shortly after, in a transaction of its own */
} IndexMode;

static void
conn_free (Conn *conn)
{
  if (conn == NULL)
    return;
  for (guint i = 0; i < N_STMTS; i++)
    sqlite3_finalize (conn->stmts[i]);
  g_clear_pointer (&conn->shard_stmts, g_hash_table_unref);
  sqlite3_close (conn->db);
  g_free (conn);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Conn, conn_free)

/* A cached statement borrowed for one use: resetting it when it goes out of scope ends
 * any implicit read transaction and lets the next user bind afresh. */
typedef sqlite3_stmt BorrowedStmt;

static void
borrowed_stmt_release (BorrowedStmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BorrowedStmt, borrowed_stmt_release)

static NatterError
error_code_for_sqlite (int rc)
{
  switch (rc & 0xff)
    {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
      return NATTER_ERROR_UNAVAILABLE;
    case SQLITE_CONSTRAINT:
      return NATTER_ERROR_CONFLICT;
    default:
      return NATTER_ERROR_INTERNAL;
    }
}

static void
set_db_error (GError **error, sqlite3 *db, int rc)
{
  g_set_error (error, NATTER_ERROR, error_code_for_sqlite (rc), "Database error: %s",
               db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
}

static BorrowedStmt *
conn_borrow (Conn *conn, StmtId id, GError **error)
{
  if (conn->stmts[id] == NULL)
    {
      int rc = sqlite3_prepare_v3 (conn->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                   &conn->stmts[id], NULL);
      if (rc != SQLITE_OK)
        {
          set_db_error (error, conn->db, rc);
          return NULL;
        }
    }
  return conn->stmts[id];
}

/* A statement on one search shard, @format with the shard's number for each %s, cached
 * like those of conn_borrow(). The number is an integer, never outside input. */
static BorrowedStmt *
conn_borrow_shard (Conn *conn, const char *format, gint64 shard, GError **error)
{
  g_autofree char *table = g_strdup_printf ("messages_fts_%" G_GINT64_FORMAT, shard);
  g_autoptr(GString) sql = g_string_new (format);
  sqlite3_stmt *stmt;
  int rc;

  g_string_replace (sql, "%s", table, 0);
  if (conn->shard_stmts == NULL)
    conn->shard_stmts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) sqlite3_finalize);
  stmt = g_hash_table_lookup (conn->shard_stmts, sql->str);
  if (stmt != NULL)
    return stmt;
  rc = sqlite3_prepare_v3 (conn->db, sql->str, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      set_db_error (error, conn->db, rc);
      return NULL;
    }
  g_hash_table_insert (conn->shard_stmts, g_string_free (g_steal_pointer (&sql), FALSE), stmt);
  return stmt;
}

/* Steps @stmt once. Returns SQLITE_ROW or SQLITE_DONE, or 0 with @error set. */
static int
stmt_step (Conn *conn, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);

  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    return rc;
  set_db_error (error, conn->db, rc);
  return 0;
}

/* Runs a statement without parameters, such as BEGIN or COMMIT. */
static gboolean
conn_exec (Conn *conn, StmtId id, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, id, error);

  return stmt != NULL && stmt_step (conn, stmt, error) != 0;
}

static void
bind_text (sqlite3_stmt *stmt, int index, const char *text)
{
  if (text == NULL)
    sqlite3_bind_null (stmt, index);
  else
    sqlite3_bind_text (stmt, index, text, -1, SQLITE_STATIC);
}

static const char *
column_text (sqlite3_stmt *stmt, int column)
{
  return (const char *) sqlite3_column_text (stmt, column);
}

/* seq is unsigned on the wire and a signed 64-bit integer in SQL. */
static sqlite3_int64
seq_to_sql (guint64 seq)
{
  return (sqlite3_int64) MIN (seq, (guint64) G_MAXINT64);
}

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

/* A row of MESSAGE_COLUMNS. */
static Natter__Message *
message_from_row (sqlite3_stmt *stmt)
{
  Natter__Message *message;

  message = natter_message_new (column_text (stmt, 0), (guint64) sqlite3_column_int64 (stmt, 1),
                                sqlite3_column_int64 (stmt, 2), column_text (stmt, 3),
                                column_text (stmt, 4), column_text (stmt, 5),
                                column_text (stmt, 6));
  natter_message_set_refs (message,
                           sqlite3_column_type (stmt, 7) != SQLITE_NULL,
                           (guint64) sqlite3_column_int64 (stmt, 7),
                           sqlite3_column_int64 (stmt, 8),
                           sqlite3_column_type (stmt, 9) != SQLITE_NULL,
                           sqlite3_column_int (stmt, 9) != 0);
  return message;
}

static NatterRoomRecord *
room_from_row (sqlite3_stmt *stmt)
{
  NatterRoomRecord *room = natter_room_record_new (column_text (stmt, 0), column_text (stmt, 1),
                                                   column_text (stmt, 2),
                                                   (guint64) sqlite3_column_int64 (stmt, 3));

  room->is_private = sqlite3_column_int (stmt, 4) != 0;
  return room;
}

/* Columns, from @col: user, read_seq, role */
static NatterMemberRecord *
member_from_row (sqlite3_stmt *stmt, int col)
{
  NatterMemberRecord *member = natter_member_record_new (column_text (stmt, col),
                                                         (guint64) sqlite3_column_int64 (stmt, col + 1));

  /* A role this version does not know grants nothing beyond membership. */
  if (!natter_role_from_string (column_text (stmt, col + 2), &member->role))
    member->role = NATTER_ROLE_MEMBER;
  if (!natter_notification_level_from_string (column_text (stmt, col + 3),
                                              &member->notification_level))
    member->notification_level = NATTER_NOTIFICATION_LEVEL_ALL;
  return member;
}

/* Readers beside the writer need WAL; SQLite silently keeps the old journal mode where it
 * cannot have it (some network file systems), so check. */
static gboolean
enable_wal (Conn *conn, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_ENABLE_WAL, error);

  if (stmt == NULL)
    return FALSE;
  switch (stmt_step (conn, stmt, error))
    {
    case SQLITE_ROW:
      if (g_ascii_strcasecmp (column_text (stmt, 0), "wal") == 0)
        return TRUE;
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                   "The database cannot use write-ahead logging (journal mode %s)",
                   column_text (stmt, 0));
      return FALSE;
    case SQLITE_DONE:
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                           "No journal mode reported");
      return FALSE;
    default:
      return FALSE;
    }
}

/* Constant settings, no outside input. */
#define COMMON_PRAGMAS \
  "PRAGMA foreign_keys = ON;" \
  "PRAGMA temp_store = MEMORY;"
/* History pages read rows scattered over the whole table: map the file instead of a
 * pread() per page, and keep more of it cached (the cache grows only as it is used). */
#define READER_PRAGMAS COMMON_PRAGMAS \
  "PRAGMA query_only = ON;" \
  "PRAGMA mmap_size = 268435456;" \
  "PRAGMA cache_size = -32768;"
/* secure_delete: a deleted message's text must leave the file, not linger in free space. */
#define WRITER_PRAGMAS COMMON_PRAGMAS "PRAGMA journal_size_limit = 67108864;" \
  "PRAGMA secure_delete = ON;"

/* natter_casefold (text): @text case-folded as GLib folds it (Unicode, not only ASCII),
 * for matching without regard to case; the other side is folded with g_utf8_casefold(). */
static void
sql_casefold (sqlite3_context *context, int argc, sqlite3_value **argv)
{
  const char *text = (const char *) sqlite3_value_text (argv[0]);
  g_autofree char *folded = NULL;

  if (text == NULL)
    {
      sqlite3_result_null (context);
      return;
    }
  /* Stored text is valid UTF-8: the hub validates what it stores. */
  if (!g_utf8_validate (text, -1, NULL))
    {
      sqlite3_result_value (context, argv[0]);
      return;
    }
  folded = g_utf8_casefold (text, -1);
  sqlite3_result_text (context, g_steal_pointer (&folded), -1, g_free);
}

static Conn *
conn_open (const char *path, gboolean read_only, NatterDurability durability,
           guint busy_timeout_ms, GError **error)
{
  g_autoptr(Conn) conn = g_new0 (Conn, 1);
  const char *pragmas;
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc;

  flags |= read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  rc = sqlite3_open_v2 (path, &conn->db, flags, NULL);
  if (rc != SQLITE_OK)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE, "Cannot open %s: %s", path,
                   conn->db != NULL ? sqlite3_errmsg (conn->db) : sqlite3_errstr (rc));
      return NULL;
    }

  sqlite3_db_config (conn->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
  sqlite3_busy_timeout (conn->db, (int) busy_timeout_ms);
  rc = sqlite3_create_function_v2 (conn->db, "natter_casefold", 1,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                   NULL, sql_casefold, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      set_db_error (error, conn->db, rc);
      g_prefix_error (error, "Cannot set up %s: ", path);
      return NULL;
    }

  if (read_only)
    pragmas = READER_PRAGMAS;
  else if (durability == NATTER_DURABILITY_FULL)
    pragmas = WRITER_PRAGMAS "PRAGMA synchronous = FULL;";
  else
    pragmas = WRITER_PRAGMAS "PRAGMA synchronous = NORMAL;";
  rc = sqlite3_exec (conn->db, pragmas, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    set_db_error (error, conn->db, rc);
  /* WAL is a property of the file: readers find it set. */
  if (rc != SQLITE_OK || (!read_only && !enable_wal (conn, error)))
    {
      g_prefix_error (error, "Cannot set up %s: ", path);
      return NULL;
    }

  return g_steal_pointer (&conn);
}

/* The search shards (schema 9 on) */

/* Runs a statement of conn_borrow_shard() that returns no rows, with ids bound to the
 * parameters it has of ?1 and ?2. */
static gboolean
shard_run (Conn *conn, const char *format, gint64 shard, sqlite3_int64 id1, sqlite3_int64 id2,
           GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow_shard (conn, format, shard, error);

  if (stmt == NULL)
    return FALSE;
  if (sqlite3_bind_parameter_count (stmt) >= 1)
    sqlite3_bind_int64 (stmt, 1, id1);
  if (sqlite3_bind_parameter_count (stmt) >= 2)
    sqlite3_bind_int64 (stmt, 2, id2);
  return stmt_step (conn, stmt, error) != 0;
}

static gint64
shard_of (Conn *conn, sqlite3_int64 id)
{
  return id / conn->shard_size;
}

/* Makes the shard @shard exist, in the open transaction. */
static gboolean
ensure_shard (Conn *conn, gint64 shard, GError **error)
{
  g_autoptr(BorrowedStmt) add = conn_borrow (conn, STMT_ADD_SHARD, error);
  g_autofree char *create = NULL;
  g_autofree char *table = NULL;
  int rc;

  if (add == NULL)
    return FALSE;
  sqlite3_bind_int64 (add, 1, shard);
  if (stmt_step (conn, add, error) == 0)
    return FALSE;
  if (sqlite3_changes (conn->db) == 0)
    return TRUE;

  table = g_strdup_printf ("messages_fts_%" G_GINT64_FORMAT, shard);
  create = g_strdup_printf ("CREATE VIRTUAL TABLE %s USING fts5 ("
                            "  body, content = '', tokenize = 'unicode61 remove_diacritics 2')",
                            table);
  rc = sqlite3_exec (conn->db, create, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      set_db_error (error, conn->db, rc);
      return FALSE;
    }
  return TRUE;
}

/* Indexes the messages with ids from @from to @to (excluded) into their shards. When the
 * newest shard is left behind, its segments are merged into one first, once: a search then
 * opens one segment there, and a later delete in it has less to merge. */
static gboolean
index_into_shards (Conn *conn, sqlite3_int64 from, sqlite3_int64 to, gboolean optimize_full,
                   GError **error)
{
  for (gint64 shard = shard_of (conn, from); shard <= shard_of (conn, to - 1); shard++)
    {
      sqlite3_int64 lo = MAX (from, shard * conn->shard_size);
      sqlite3_int64 hi = MIN (to, (shard + 1) * conn->shard_size);

      if (shard > conn->top_shard)
        {
          if (optimize_full && conn->top_shard >= 0 &&
              !shard_run (conn, SHARD_OPTIMIZE, conn->top_shard, 0, 0, error))
            return FALSE;
          if (!ensure_shard (conn, shard, error))
            return FALSE;
          conn->top_shard = shard;
        }
      if (!shard_run (conn, SHARD_INDEX, shard, lo, hi, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
query_int64 (Conn *conn, StmtId id, gint64 *out_value, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, id, error);

  if (stmt == NULL || stmt_step (conn, stmt, error) != SQLITE_ROW)
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL, "No row");
      return FALSE;
    }
  *out_value = sqlite3_column_int64 (stmt, 0);
  return TRUE;
}

/* Reads how the search index of a database at schema 9 or later is sharded. */
static gboolean
load_search_shards (Conn *conn, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  conn->sharded = TRUE;
  conn->shard_size = 0;
  conn->top_shard = -1;
  rc = sqlite3_prepare_v2 (conn->db,
                           "SELECT (SELECT CAST (value AS INTEGER) FROM meta"
                           "         WHERE key = 'search_shard_size'),"
                           "       (SELECT coalesce (max (shard), -1) FROM search_shards)",
                           -1, &stmt, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      conn->shard_size = sqlite3_column_int64 (stmt, 0);
      conn->top_shard = sqlite3_column_int64 (stmt, 1);
      rc = SQLITE_OK;
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_OK)
    {
      set_db_error (error, conn->db, rc);
      return FALSE;
    }
  if (conn->shard_size <= 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                   "Bad search shard size %" G_GINT64_FORMAT, conn->shard_size);
      return FALSE;
    }
  return TRUE;
}

/* Migration 9, in its transaction: every message that search can return goes into its
 * shard (each shard merged into one segment), and the one index of before goes. At
 * 1,000,000 messages this takes a while, once. */
static gboolean
migrate_search_shards (Conn *conn, GError **error)
{
  g_autoptr(GArray) shards = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autofree char *select = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (!load_search_shards (conn, error))
    return FALSE;
  select = g_strdup_printf ("SELECT DISTINCT id / %" G_GINT64_FORMAT " FROM messages"
                            " WHERE kind IN ('text', 'broadcast') ORDER BY 1",
                            conn->shard_size);
  rc = sqlite3_prepare_v2 (conn->db, select, -1, &stmt, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 shard = sqlite3_column_int64 (stmt, 0);

      g_array_append_val (shards, shard);
      rc = SQLITE_OK;
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      set_db_error (error, conn->db, rc);
      return FALSE;
    }

  for (guint i = 0; i < shards->len; i++)
    {
      gint64 shard = g_array_index (shards, gint64, i);

      if (!index_into_shards (conn, shard * conn->shard_size, (shard + 1) * conn->shard_size,
                              FALSE, error) ||
          !shard_run (conn, SHARD_OPTIMIZE, shard, 0, 0, error))
        return FALSE;
    }

  rc = sqlite3_exec (conn->db, "DROP TABLE messages_fts;", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      set_db_error (error, conn->db, rc);
      return FALSE;
    }
  return conn_exec (conn, STMT_SET_INDEXED_ID, error);
}

/* Schema migrations */

static gboolean
get_schema_version (Conn *conn, guint *out_version, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_GET_SCHEMA_VERSION, error);

  if (stmt == NULL)
    return FALSE;
  switch (stmt_step (conn, stmt, error))
    {
    case SQLITE_ROW:
      *out_version = (guint) sqlite3_column_int (stmt, 0);
      return TRUE;
    case SQLITE_DONE:
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                           "No schema version reported");
      return FALSE;
    default:
      return FALSE;
    }
}

/* Applies the migration after the current version, inside the caller's transaction. */
static gboolean
apply_next_migration (Conn *conn, guint target, gboolean *out_done, GError **error)
{
  g_autofree char *set_version = NULL;
  guint version;
  int rc;

  if (!get_schema_version (conn, &version, error))
    return FALSE;
  if (version > G_N_ELEMENTS (migrations))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                   "The database has schema version %u; this natterd knows up to %u",
                   version, (guint) G_N_ELEMENTS (migrations));
      return FALSE;
    }
  if (version >= target)
    {
      *out_done = TRUE;
      return TRUE;
    }

  g_debug ("Migrating the database from schema version %u to %u", version, version + 1);
  rc = sqlite3_exec (conn->db, migrations[version], NULL, NULL, NULL);
  if (rc == SQLITE_OK && version + 1 == SCHEMA_SHARDED)
    {
      g_autoptr(GError) local_error = NULL;

      if (!migrate_search_shards (conn, &local_error))
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                      "Migration to schema version %u failed: ", version + 1);
          return FALSE;
        }
    }
  if (rc == SQLITE_OK)
    {
      set_version = g_strdup_printf ("PRAGMA user_version = %u", version + 1);
      rc = sqlite3_exec (conn->db, set_version, NULL, NULL, NULL);
    }
  if (rc != SQLITE_OK)
    {
      set_db_error (error, conn->db, rc);
      g_prefix_error (error, "Migration to schema version %u failed: ", version + 1);
      return FALSE;
    }

  *out_done = FALSE;
  return TRUE;
}

static void
rollback_if_open (Conn *conn)
{
  if (!sqlite3_get_autocommit (conn->db))
    conn_exec (conn, STMT_ROLLBACK, NULL);
}

/* One transaction per migration; the version is read inside it, so two processes opening
 * the same file cannot both apply a step. */
static gboolean
migrate (Conn *conn, guint target, GError **error)
{
  gboolean done = FALSE;

  while (!done)
    {
      if (!conn_exec (conn, STMT_BEGIN_IMMEDIATE, error))
        return FALSE;
      if (!apply_next_migration (conn, target, &done, error) ||
          !conn_exec (conn, STMT_COMMIT, error))
        {
          rollback_if_open (conn);
          return FALSE;
        }
    }
  return TRUE;
}

/* The epoch is made once, with the database, and never changes after. */
static char *
ensure_epoch (Conn *conn, GError **error)
{
  guchar bytes[16];
  char hex[sizeof bytes * 2 + 1];
  g_autoptr(BorrowedStmt) insert = NULL;
  g_autoptr(BorrowedStmt) select = NULL;

  randombytes_buf (bytes, sizeof bytes);
  sodium_bin2hex (hex, sizeof hex, bytes, sizeof bytes);

  insert = conn_borrow (conn, STMT_INSERT_EPOCH, error);
  if (insert == NULL)
    return NULL;
  bind_text (insert, 1, hex);
  if (stmt_step (conn, insert, error) == 0)
    return NULL;

  select = conn_borrow (conn, STMT_SELECT_EPOCH, error);
  if (select == NULL)
    return NULL;
  switch (stmt_step (conn, select, error))
    {
    case SQLITE_ROW:
      return g_strdup (column_text (select, 0));
    case SQLITE_DONE:
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                           "The database has no epoch");
      return NULL;
    default:
      return NULL;
    }
}

static gboolean
delete_expired_tokens (Conn *conn, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_DELETE_EXPIRED_TOKENS, error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, now_ms ());
  return stmt_step (conn, stmt, error) != 0;
}

/* Operations */

typedef struct _Op Op;

/* Runs @op on @conn. On success it may set op->result; on failure it sets @error. */
typedef gboolean (*OpFunc) (Conn *conn, Op *op, GError **error);

struct _Op
{
  OpFunc              run;             /* NULL for the marker that stops a thread */
  GTask              *task;            /* (owned) (nullable) */
  gboolean            after_index;     /* a read that goes through the writer first */

  /* Arguments, by operation */
  char               *room;            /* (owned) (nullable) room, or a session to revoke */
  char               *user;            /* (owned) (nullable) user, or sender */
  char               *text;            /* (owned) (nullable) body, topic, query or a hash */
  gboolean            text_is_secret;  /* wipe text when done */
  char               *client_msg_id;   /* (owned) (nullable) or a session to keep */
  char               *kind;            /* (owned) (nullable) kind, or a client's agent */
  gint64              i64;             /* ts, expiry or now, in ms */
  guint64             u64;             /* seq, limit or NatterAccountState */
  gboolean            flag;            /* admin */
  gboolean            owner;           /* the local owner account */
  gboolean            moderator;       /* may delete the messages of others */
  gboolean            mirror;          /* a change: see NatterMessageChange */
  gboolean            needs_index;     /* changes indexed rows: see index_before() */
  NatterHistoryQuery  history;
  NatterModerationKind moderation;
  NatterRole          role;
  char               *by;              /* (owned) (nullable) who moderates or blocks */
  NatterModerationEvent *event;        /* (owned) (nullable) for the moderation log */

  /* Outcome */
  gpointer            result;          /* (owned) (nullable) */
  GDestroyNotify      result_free;     /* NULL: the operation returns a boolean */
  GError             *error;           /* (owned) (nullable) */
};

static void
op_free (Op *op)
{
  if (op == NULL)
    return;
  if (op->text != NULL && op->text_is_secret)
    sodium_memzero (op->text, strlen (op->text));
  g_free (op->room);
  g_free (op->user);
  g_free (op->text);
  g_free (op->client_msg_id);
  g_free (op->kind);
  g_free (op->by);
  g_clear_pointer (&op->event, natter_moderation_event_free);
  if (op->result != NULL)
    op->result_free (op->result);
  g_clear_error (&op->error);
  g_clear_object (&op->task);
  g_free (op);
}

static void
op_set_result (Op *op, gpointer result, GDestroyNotify result_free)
{
  op->result = result;
  op->result_free = result_free;
}

static void
op_fail (Op *op, const GError *error)
{
  if (op->result != NULL)
    op->result_free (op->result);
  op->result = NULL;
  g_clear_error (&op->error);
  op->error = g_error_copy (error);
}

static void
op_return (Op *op)
{
  if (op->error != NULL)
    g_task_return_error (op->task, g_steal_pointer (&op->error));
  else if (op->result_free != NULL)
    g_task_return_pointer (op->task, g_steal_pointer (&op->result), op->result_free);
  else
    g_task_return_boolean (op->task, TRUE);
}

static gboolean
return_ops_cb (gpointer data)
{
  GPtrArray *ops = data;

  for (guint i = 0; i < ops->len; i++)
    op_return (g_ptr_array_index (ops, i));
  return G_SOURCE_REMOVE;
}

/* Hands finished operations to the main contexts of their callers: one idle per context
 * and batch, which completes the tasks there in order and releases them there. */
static void
complete_ops (GPtrArray *ops)
{
  g_autoptr(GPtrArray) pending = ops;

  while (pending->len > 0)
    {
      GMainContext *context = g_task_get_context (((Op *) g_ptr_array_index (pending, 0))->task);
      g_autoptr(GPtrArray) group = g_ptr_array_new_full (pending->len, (GDestroyNotify) op_free);
      g_autoptr(GPtrArray) others = g_ptr_array_new_with_free_func ((GDestroyNotify) op_free);
      g_autoptr(GSource) source = g_idle_source_new ();

      for (guint i = 0; i < pending->len; i++)
        {
          Op *op = g_steal_pointer (&pending->pdata[i]);

          g_ptr_array_add (g_task_get_context (op->task) == context ? group : others, op);
        }

      g_source_set_static_name (source, "[natter] store completion");
      g_source_set_callback (source, return_ops_cb, g_steal_pointer (&group),
                             (GDestroyNotify) g_ptr_array_unref);
      g_source_attach (source, context);

      g_clear_pointer (&pending, g_ptr_array_unref);
      pending = g_steal_pointer (&others);
    }
}

/* Writes, run by the writer thread inside a savepoint */

static gboolean
write_create_user (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_INSERT_USER, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->user);
  bind_text (stmt, 2, op->text);
  sqlite3_bind_int (stmt, 3, op->flag ? 1 : 0);
  sqlite3_bind_int64 (stmt, 4, now_ms ());
  if (stmt_step (conn, stmt, error) == 0)
    return FALSE;
  if (sqlite3_changes (conn->db) == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_CONFLICT, "The user name “%s” is taken",
                   op->user);
      return FALSE;
    }
  if (op->owner)
    {
      /* In the same savepoint: an owner account is never left unmarked. */
      g_autoptr(BorrowedStmt) owner = conn_borrow (conn, STMT_SET_OWNER, error);

      if (owner == NULL)
        return FALSE;
      bind_text (owner, 1, op->user);
      if (stmt_step (conn, owner, error) == 0)
        return FALSE;
    }
  return TRUE;
}

/* Runs an insert whose row refers to @name (a @what): a broken foreign key means there
 * is no such @what. */
static gboolean
step_insert_referencing (Conn *conn, sqlite3_stmt *stmt, const char *what, const char *name,
                         GError **error)
{
  int rc = sqlite3_step (stmt);

  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No %s “%s”", what, name);
      return FALSE;
    }
  if (rc != SQLITE_DONE)
    {
      set_db_error (error, conn->db, rc);
      return FALSE;
    }
  return TRUE;
}

static gboolean
write_create_token (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_INSERT_TOKEN, error);
  g_autofree char *id = natter_store_session_id (op->text);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->text);
  bind_text (stmt, 2, op->user);
  sqlite3_bind_int64 (stmt, 3, op->i64);
  bind_text (stmt, 4, id);
  sqlite3_bind_int64 (stmt, 5, now_ms ());
  bind_text (stmt, 6, op->kind);
  return step_insert_referencing (conn, stmt, "user", op->user, error);
}

/* A token login: the token's account, and the session's last use. */
static gboolean
write_use_token (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_TOKEN, error);
  g_autoptr(BorrowedStmt) touch = NULL;
  g_autofree char *user = NULL;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->text);
  sqlite3_bind_int64 (stmt, 2, op->i64);
  switch (stmt_step (conn, stmt, error))
    {
    case SQLITE_ROW:
      user = g_strdup (column_text (stmt, 0));
      break;
    case SQLITE_DONE:
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_UNAUTHORIZED,
                           "The token is unknown or expired");
      return FALSE;
    default:
      return FALSE;
    }
  touch = conn_borrow (conn, STMT_TOUCH_TOKEN, error);
  if (touch == NULL)
    return FALSE;
  bind_text (touch, 1, op->text);
  sqlite3_bind_int64 (touch, 2, op->i64);
  if (stmt_step (conn, touch, error) == 0)
    return FALSE;
  op_set_result (op, g_steal_pointer (&user), g_free);
  return TRUE;
}

/* Deletes the tokens of op->user matching @session and not @keep (each nullable) and
 * sets the op's result to their ids. */
static gboolean
delete_tokens (Conn *conn, Op *op, const char *session, const char *keep, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_DELETE_TOKENS, error);
  g_autoptr(GStrvBuilder) ids = g_strv_builder_new ();
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->user);
  bind_text (stmt, 2, session);
  bind_text (stmt, 3, keep);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    g_strv_builder_add (ids, column_text (stmt, 0));
  if (rc == 0)
    return FALSE;
  op_set_result (op, g_strv_builder_end (ids), (GDestroyNotify) g_strfreev);
  return TRUE;
}

static gboolean
write_revoke_tokens (Conn *conn, Op *op, GError **error)
{
  if (!delete_tokens (conn, op, op->room, op->client_msg_id, error))
    return FALSE;
  if (op->room != NULL && ((GStrv) op->result)[0] == NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No session “%s”", op->room);
      return FALSE;
    }
  return TRUE;
}

/* Runs an UPDATE of the row of op->user; no row means no such (undeleted) account. */
static gboolean
step_user_update (Conn *conn, sqlite3_stmt *stmt, Op *op, GError **error)
{
  if (stmt_step (conn, stmt, error) == 0)
    return FALSE;
  if (sqlite3_changes (conn->db) == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No user “%s”", op->user);
      return FALSE;
    }
  return TRUE;
}

static gboolean
write_set_password (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SET_PASSWORD, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->user);
  bind_text (stmt, 2, op->text);
  return step_user_update (conn, stmt, op, error) &&
         delete_tokens (conn, op, NULL, op->client_msg_id, error);
}

static gboolean
write_set_account_state (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SET_ACCOUNT_STATE, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->user);
  sqlite3_bind_int (stmt, 2, op->u64 == NATTER_ACCOUNT_DISABLED);
  sqlite3_bind_int (stmt, 3, op->u64 == NATTER_ACCOUNT_DELETED);
  if (!step_user_update (conn, stmt, op, error))
    return FALSE;
  if (op->u64 == NATTER_ACCOUNT_ENABLED)
    {
      op_set_result (op, g_new0 (char *, 1), (GDestroyNotify) g_strfreev);
      return TRUE;
    }
  return delete_tokens (conn, op, NULL, NULL, error);
}

/* Looks up @name; *out_room stays NULL if there is no such room. */
static gboolean
select_room (Conn *conn, const char *name, NatterRoomRecord **out_room, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_ROOM, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, name);
  switch (stmt_step (conn, stmt, error))
    {
    case SQLITE_ROW:
      *out_room = room_from_row (stmt);
      return TRUE;
    case SQLITE_DONE:
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
write_create_room (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) insert = conn_borrow (conn, STMT_INSERT_ROOM, error);
  g_autoptr(NatterRoomRecord) room = NULL;

  if (insert == NULL)
    return FALSE;
  bind_text (insert, 1, op->room);
  bind_text (insert, 2, op->kind);
  bind_text (insert, 3, op->text);
  sqlite3_bind_int64 (insert, 4, now_ms ());
  if (stmt_step (conn, insert, error) == 0)
    return FALSE;

  if (!select_room (conn, op->room, &room, error))
    return FALSE;
  if (room == NULL)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL, "The room vanished");
      return FALSE;
    }
  op_set_result (op, g_steal_pointer (&room), (GDestroyNotify) natter_room_record_free);
  return TRUE;
}

/* Runs statement @id with the two text parameters @a and @b. */
static gboolean
run_pair (Conn *conn, StmtId id, const char *a, const char *b, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, id, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, a);
  bind_text (stmt, 2, b);
  return stmt_step (conn, stmt, error) != 0;
}

static gboolean
write_add_member (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_INSERT_MEMBER, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->room);
  bind_text (stmt, 2, op->user);
  if (!step_insert_referencing (conn, stmt, "room", op->room, error))
    return FALSE;
  return run_pair (conn, STMT_DELETE_INVITATION, op->room, op->user, error);
}

static gboolean
fail_no_room (const char *room, GError **error)
{
  g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", room);
  return FALSE;
}

/* Checks that @room exists: changes that touch no row say nothing about that. */
static gboolean
require_room (Conn *conn, const char *room, GError **error)
{
  g_autoptr(NatterRoomRecord) record = NULL;

  if (!select_room (conn, room, &record, error))
    return FALSE;
  return record != NULL || fail_no_room (room, error);
}

static gboolean
write_moderate (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = NULL;

  switch (op->moderation)
    {
    case NATTER_MODERATION_CREATE:
      stmt = conn_borrow (conn, STMT_CREATE_PRIVATE_ROOM, error);
      if (stmt == NULL)
        return FALSE;
      bind_text (stmt, 1, op->room);
      bind_text (stmt, 2, op->text);
      sqlite3_bind_int64 (stmt, 3, now_ms ());
      sqlite3_bind_int (stmt, 4, op->flag);
      if (stmt_step (conn, stmt, error) == 0)
        return FALSE;
      if (sqlite3_changes (conn->db) == 0)
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_CONFLICT, "Room “%s” exists", op->room);
          return FALSE;
        }
      return run_pair (conn, STMT_INSERT_OWNER, op->room, op->user, error);

    case NATTER_MODERATION_SET_ROLE:
      stmt = conn_borrow (conn, STMT_SET_ROLE, error);
      if (stmt == NULL)
        return FALSE;
      bind_text (stmt, 1, op->room);
      bind_text (stmt, 2, op->user);
      bind_text (stmt, 3, natter_role_to_string (op->role));
      if (stmt_step (conn, stmt, error) == 0)
        return FALSE;
      if (sqlite3_changes (conn->db) == 0)
        {
          if (!require_room (conn, op->room, error))
            return FALSE;
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                       "“%s” is not a member of “%s”", op->user, op->room);
          return FALSE;
        }
      return TRUE;

    case NATTER_MODERATION_SET_TOPIC:
      stmt = conn_borrow (conn, STMT_SET_TOPIC, error);
      if (stmt == NULL)
        return FALSE;
      bind_text (stmt, 1, op->room);
      bind_text (stmt, 2, op->text);
      if (stmt_step (conn, stmt, error) == 0)
        return FALSE;
      return sqlite3_changes (conn->db) > 0 || fail_no_room (op->room, error);

    case NATTER_MODERATION_INVITE:
      stmt = conn_borrow (conn, STMT_INSERT_INVITATION, error);
      if (stmt == NULL)
        return FALSE;
      bind_text (stmt, 1, op->room);
      bind_text (stmt, 2, op->user);
      bind_text (stmt, 3, op->by);
      sqlite3_bind_int64 (stmt, 4, now_ms ());
      return step_insert_referencing (conn, stmt, "room", op->room, error);

    case NATTER_MODERATION_BAN:
      stmt = conn_borrow (conn, STMT_INSERT_BAN, error);
      if (stmt == NULL)
        return FALSE;
      bind_text (stmt, 1, op->room);
      bind_text (stmt, 2, op->user);
      bind_text (stmt, 3, op->by);
      bind_text (stmt, 4, op->text);
      sqlite3_bind_int64 (stmt, 5, now_ms ());
      return step_insert_referencing (conn, stmt, "room", op->room, error) &&
             run_pair (conn, STMT_DELETE_MEMBER, op->room, op->user, error) &&
             run_pair (conn, STMT_DELETE_INVITATION, op->room, op->user, error) &&
             run_pair (conn, STMT_DELETE_INVITATIONS_BY, op->room, op->user, error);

    case NATTER_MODERATION_DECLINE:
      if (!run_pair (conn, STMT_DELETE_INVITATION, op->room, op->user, error))
        return FALSE;
      if (sqlite3_changes (conn->db) == 0)
        {
          g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                       "No invitation of “%s” to “%s”", op->user, op->room);
          return FALSE;
        }
      return TRUE;

    case NATTER_MODERATION_UNBAN:
      return require_room (conn, op->room, error) &&
             run_pair (conn, STMT_DELETE_BAN, op->room, op->user, error);

    case NATTER_MODERATION_BLOCK:
      stmt = conn_borrow (conn, STMT_INSERT_BLOCK, error);
      if (stmt == NULL)
        return FALSE;
      bind_text (stmt, 1, op->by);
      bind_text (stmt, 2, op->user);
      sqlite3_bind_int64 (stmt, 3, now_ms ());
      return stmt_step (conn, stmt, error) != 0;

    case NATTER_MODERATION_UNBLOCK:
      return run_pair (conn, STMT_DELETE_BLOCK, op->by, op->user, error);

    default:
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_INTERNAL, "Unknown moderation %d",
                   op->moderation);
      return FALSE;
    }
}

static gboolean
write_remove_member (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_DELETE_MEMBER, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->room);
  bind_text (stmt, 2, op->user);
  return stmt_step (conn, stmt, error) != 0;
}

static gboolean
write_set_read (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) update = conn_borrow (conn, STMT_SET_READ, error);
  g_autoptr(BorrowedStmt) member = NULL;
  int rc;

  if (update == NULL)
    return FALSE;
  bind_text (update, 1, op->room);
  bind_text (update, 2, op->user);
  sqlite3_bind_int64 (update, 3, seq_to_sql (op->u64));
  if (stmt_step (conn, update, error) == 0)
    return FALSE;
  if (sqlite3_changes (conn->db) > 0)
    return TRUE;

  /* Nothing moved: either the marker is already there, or there is no such member. */
  member = conn_borrow (conn, STMT_SELECT_MEMBER, error);
  if (member == NULL)
    return FALSE;
  bind_text (member, 1, op->room);
  bind_text (member, 2, op->user);
  rc = stmt_step (conn, member, error);
  if (rc == SQLITE_DONE)
    g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "“%s” is not a member of “%s”",
                 op->user, op->room);
  return rc == SQLITE_ROW;
}

static gboolean
write_set_notification_level (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SET_NOTIFICATION_LEVEL, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->room);
  bind_text (stmt, 2, op->user);
  bind_text (stmt, 3, op->text);
  if (stmt_step (conn, stmt, error) == 0)
    return FALSE;
  if (sqlite3_changes (conn->db) == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "“%s” is not a member of “%s”",
                   op->user, op->room);
      return FALSE;
    }
  return TRUE;
}

static NatterAppendResult *
append_result_new (Natter__Message *message, gboolean duplicate)
{
  NatterAppendResult *result = g_new0 (NatterAppendResult, 1);

  result->message = message;
  result->duplicate = duplicate;
  return result;
}

/* Finds an earlier message of @sender with @client_msg_id; *out_message stays NULL if none. */
static gboolean
find_by_client_msg_id (Conn *conn, const char *sender, const char *client_msg_id,
                       Natter__Message **out_message, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_BY_CLIENT_MSG_ID, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, sender);
  bind_text (stmt, 2, client_msg_id);
  switch (stmt_step (conn, stmt, error))
    {
    case SQLITE_ROW:
      *out_message = message_from_row (stmt);
      return TRUE;
    case SQLITE_DONE:
      return TRUE;
    default:
      return FALSE;
    }
}

/* Takes the room's next seq; the writer's transaction makes the read and the write one
 * step. */
static gboolean
next_seq (Conn *conn, const char *room, gint64 *out_seq, GError **error)
{
  g_autoptr(BorrowedStmt) select = conn_borrow (conn, STMT_SELECT_LAST_SEQ, error);
  g_autoptr(BorrowedStmt) update = NULL;
  gint64 seq;

  if (select == NULL)
    return FALSE;
  bind_text (select, 1, room);
  switch (stmt_step (conn, select, error))
    {
    case SQLITE_ROW:
      seq = sqlite3_column_int64 (select, 0) + 1;
      break;
    case SQLITE_DONE:
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", room);
      return FALSE;
    default:
      return FALSE;
    }

  update = conn_borrow (conn, STMT_SET_LAST_SEQ, error);
  if (update == NULL)
    return FALSE;
  bind_text (update, 1, room);
  sqlite3_bind_int64 (update, 2, seq);
  if (stmt_step (conn, update, error) == 0)
    return FALSE;
  *out_seq = seq;
  return TRUE;
}

/* Inserts the message of @op with the room's next seq and completes @op with it. */
static gboolean
insert_message (Conn *conn, Op *op, gboolean has_target, gboolean has_active, GError **error)
{
  g_autoptr(BorrowedStmt) insert = NULL;
  g_autoptr(BorrowedStmt) advance = NULL;
  Natter__Message *message;
  gint64 seq;

  if (!next_seq (conn, op->room, &seq, error))
    return FALSE;

  /* The search index gets the row later: see index_pending(). */
  /* Plain messages leave the newer columns out: a store opened at an older schema (to
   * test its migration) writes them as that schema's code did. */
  insert = conn_borrow (conn, has_target ? STMT_INSERT_CHANGE : STMT_INSERT_MESSAGE, error);
  if (insert == NULL)
    return FALSE;
  bind_text (insert, 1, op->room);
  sqlite3_bind_int64 (insert, 2, seq);
  sqlite3_bind_int64 (insert, 3, op->i64);
  bind_text (insert, 4, op->user);
  bind_text (insert, 5, op->text);
  bind_text (insert, 6, op->client_msg_id);
  bind_text (insert, 7, op->kind);
  if (has_target)
    sqlite3_bind_int64 (insert, 8, seq_to_sql (op->u64));
  if (has_active)
    sqlite3_bind_int (insert, 9, op->flag);
  if (stmt_step (conn, insert, error) == 0)
    return FALSE;
  /* Ids only grow, so every message appended from here on in this transaction has an id
   * at least this one. If this operation's savepoint is rolled back, the row goes away
   * and the index never sees it. */
  if (conn->unindexed_from == 0)
    conn->unindexed_from = sqlite3_last_insert_rowid (conn->db);

  advance = conn_borrow (conn, STMT_ADVANCE_READ, error);
  if (advance == NULL)
    return FALSE;
  bind_text (advance, 1, op->room);
  bind_text (advance, 2, op->user);
  sqlite3_bind_int64 (advance, 3, seq);
  if (stmt_step (conn, advance, error) == 0)
    return FALSE;

  message = natter_message_new (op->room, (guint64) seq, op->i64, op->user, op->text,
                                op->client_msg_id, op->kind);
  natter_message_set_refs (message, has_target, op->u64, 0, has_active, op->flag);
  op_set_result (op, append_result_new (message, FALSE),
                 (GDestroyNotify) natter_append_result_free);
  return TRUE;
}

/* Completes @op with the earlier message of its sender and client_msg_id, if any. */
static gboolean
find_duplicate (Conn *conn, Op *op, gboolean *out_found, GError **error)
{
  Natter__Message *original = NULL;

  *out_found = FALSE;
  if (op->client_msg_id == NULL)
    return TRUE;
  if (!find_by_client_msg_id (conn, op->user, op->client_msg_id, &original, error))
    return FALSE;
  if (original != NULL)
    {
      op_set_result (op, append_result_new (original, TRUE),
                     (GDestroyNotify) natter_append_result_free);
      *out_found = TRUE;
    }
  return TRUE;
}

static gboolean
write_append_message (Conn *conn, Op *op, GError **error)
{
  gboolean duplicate;

  if (!find_duplicate (conn, op, &duplicate, error))
    return FALSE;
  return duplicate || insert_message (conn, op, FALSE, FALSE, error);
}

static gboolean
run_target_stmt (Conn *conn, StmtId id, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, id, error);

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->room);
  sqlite3_bind_int64 (stmt, 2, seq_to_sql (op->u64));
  if (id == STMT_EDIT_TARGET)
    {
      bind_text (stmt, 3, op->text);
      sqlite3_bind_int64 (stmt, 4, op->i64);
    }
  else if (id == STMT_ADD_REACTION || id == STMT_REMOVE_REACTION)
    {
      bind_text (stmt, 3, op->text);
      bind_text (stmt, 4, op->user);
    }
  return stmt_step (conn, stmt, error) != 0;
}

/* A reply or a change of the message op->u64: checks it against its target, applies it
 * to the target and appends it. */
static gboolean
write_change_message (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) select = NULL;
  g_autofree char *target_sender = NULL;
  g_autofree char *target_kind = NULL;
  sqlite3_int64 target_id = 0;
  gboolean duplicate;

  if (!find_duplicate (conn, op, &duplicate, error))
    return FALSE;
  if (duplicate)
    return TRUE;

  select = conn_borrow (conn, STMT_SELECT_TARGET, error);
  if (select == NULL)
    return FALSE;
  bind_text (select, 1, op->room);
  sqlite3_bind_int64 (select, 2, seq_to_sql (op->u64));
  switch (stmt_step (conn, select, error))
    {
    case SQLITE_ROW:
      target_id = sqlite3_column_int64 (select, 0);
      target_sender = g_strdup (column_text (select, 1));
      target_kind = g_strdup (column_text (select, 2));
      break;
    case SQLITE_DONE:
      if (op->mirror)
        return insert_message (conn, op, TRUE,
                               g_str_equal (op->kind, NATTER_MESSAGE_KIND_REACTION), error);
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND,
                   "No message %" G_GUINT64_FORMAT " in “%s”", op->u64, op->room);
      return FALSE;
    default:
      return FALSE;
    }
  g_clear_pointer (&select, borrowed_stmt_release);

  if (!natter_store_check_change (op->kind, op->user, op->moderator, op->u64, target_sender,
                                  target_kind, error))
    {
      if (!op->mirror)
        return FALSE;
      /* The copy's target is further along than the change (deleted already). */
      g_clear_error (error);
      return insert_message (conn, op, TRUE,
                             g_str_equal (op->kind, NATTER_MESSAGE_KIND_REACTION), error);
    }

  /* Schema 9 on, the target's shard is updated here (before, triggers did it): its old
   * text out, then the new one in, or the shard's segments merged so that the deleted
   * text leaves the file. The target is indexed: see index_before(). */
  if (g_str_equal (op->kind, NATTER_MESSAGE_KIND_EDIT))
    {
      if ((conn->sharded &&
           !shard_run (conn, SHARD_UNINDEX, shard_of (conn, target_id), target_id, 0, error)) ||
          !run_target_stmt (conn, STMT_EDIT_TARGET, op, error) ||
          (conn->sharded &&
           !shard_run (conn, SHARD_INDEX, shard_of (conn, target_id), target_id, target_id + 1,
                       error)))
        return FALSE;
    }
  else if (g_str_equal (op->kind, NATTER_MESSAGE_KIND_DELETE))
    {
      if ((conn->sharded &&
           !shard_run (conn, SHARD_UNINDEX, shard_of (conn, target_id), target_id, 0, error)) ||
          !run_target_stmt (conn, STMT_DELETE_TARGET, op, error) ||
          !run_target_stmt (conn, STMT_ERASE_EDITS, op, error) ||
          !run_target_stmt (conn, STMT_DELETE_REACTIONS, op, error))
        return FALSE;
      if (conn->sharded ? !shard_run (conn, SHARD_OPTIMIZE, shard_of (conn, target_id), 0, 0, error)
                        : !conn_exec (conn, STMT_OPTIMIZE_INDEX, error))
        return FALSE;
      conn->erased = TRUE;
    }
  else if (g_str_equal (op->kind, NATTER_MESSAGE_KIND_REACTION))
    {
      if (!run_target_stmt (conn, op->flag ? STMT_ADD_REACTION : STMT_REMOVE_REACTION, op,
                            error))
        return FALSE;
    }

  return insert_message (conn, op, TRUE, g_str_equal (op->kind, NATTER_MESSAGE_KIND_REACTION),
                         error);
}

/* Reads, run by a reader thread */

static gboolean
read_get_user (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_USER, error);
  NatterUserRecord *record;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->user);
  switch (stmt_step (conn, stmt, error))
    {
    case SQLITE_ROW:
      record = g_new0 (NatterUserRecord, 1);
      record->name = g_strdup (column_text (stmt, 0));
      record->password_hash = g_strdup (column_text (stmt, 1));
      record->admin = sqlite3_column_int (stmt, 2) != 0;
      record->owner = sqlite3_column_int (stmt, 3) != 0;
      record->disabled = sqlite3_column_int (stmt, 4) != 0;
      record->deleted = sqlite3_column_int (stmt, 5) != 0;
      record->created_ts = sqlite3_column_int64 (stmt, 6);
      op_set_result (op, record, (GDestroyNotify) natter_user_record_free);
      return TRUE;
    case SQLITE_DONE:
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No user “%s”", op->user);
      return FALSE;
    default:
      return FALSE;
    }
}

static gboolean
read_list_sessions (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_SESSIONS, error);
  g_autoptr(GPtrArray) sessions = NULL;
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->user);
  sqlite3_bind_int64 (stmt, 2, op->i64);
  sessions = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_session_record_free);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    {
      NatterSessionRecord *session = g_new0 (NatterSessionRecord, 1);

      session->id = g_strdup (column_text (stmt, 0));
      session->created_ts = sqlite3_column_int64 (stmt, 1);
      session->last_seen_ts = sqlite3_column_int64 (stmt, 2);
      session->agent = g_strdup (column_text (stmt, 3));
      g_ptr_array_add (sessions, session);
    }
  if (rc == 0)
    return FALSE;
  op_set_result (op, g_steal_pointer (&sessions), (GDestroyNotify) g_ptr_array_unref);
  return TRUE;
}

static gboolean
read_list_blocks (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_BLOCKS, error);
  g_autoptr(GStrvBuilder) blocked = g_strv_builder_new ();
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->user);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    g_strv_builder_add (blocked, column_text (stmt, 0));
  if (rc == 0)
    return FALSE;
  op_set_result (op, g_strv_builder_end (blocked), (GDestroyNotify) g_strfreev);
  return TRUE;
}

static gboolean
read_list_invitations (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_INVITATIONS, error);
  g_autoptr(GPtrArray) invitations = NULL;
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->user);
  invitations = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_invitation_free);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    {
      NatterInvitation *invitation = g_new0 (NatterInvitation, 1);

      invitation->room = g_strdup (column_text (stmt, 0));
      invitation->by = g_strdup (column_text (stmt, 1));
      invitation->ts = sqlite3_column_int64 (stmt, 2);
      g_ptr_array_add (invitations, invitation);
    }
  if (rc == 0)
    return FALSE;
  op_set_result (op, g_steal_pointer (&invitations), (GDestroyNotify) g_ptr_array_unref);
  return TRUE;
}

static gboolean
read_directory (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_DIRECTORY, error);
  g_autoptr(GPtrArray) entries = NULL;
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->text);
  sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) op->u64);
  entries = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_directory_entry_free);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    {
      NatterDirectoryEntry *entry = g_new0 (NatterDirectoryEntry, 1);

      entry->name = g_strdup (column_text (stmt, 0));
      entry->topic = g_strdup (column_text (stmt, 1));
      entry->n_members = (guint) sqlite3_column_int64 (stmt, 2);
      g_ptr_array_add (entries, entry);
    }
  if (rc == 0)
    return FALSE;
  op_set_result (op, g_steal_pointer (&entries), (GDestroyNotify) g_ptr_array_unref);
  return TRUE;
}

static gboolean
write_log_moderation (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_INSERT_MODERATION_EVENT, error);
  const NatterModerationEvent *event = op->event;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->room);
  sqlite3_bind_int64 (stmt, 2, event->ts_ms);
  bind_text (stmt, 3, event->kind);
  bind_text (stmt, 4, event->user);
  bind_text (stmt, 5, event->by);
  bind_text (stmt, 6, event->reason);
  bind_text (stmt, 7, event->role);
  bind_text (stmt, 8, event->topic);
  if (stmt_step (conn, stmt, error) == 0)
    return FALSE;
  if (sqlite3_changes (conn->db) == 0)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", op->room);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_moderation_log (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_MODERATION_LOG, error);
  g_autoptr(GPtrArray) events = NULL;
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->room);
  sqlite3_bind_int64 (stmt, 2, op->i64 > 0 ? op->i64 : G_MAXINT64);
  sqlite3_bind_int64 (stmt, 3, (sqlite3_int64) op->u64);
  events = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_moderation_event_free);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    {
      NatterModerationEvent *event = g_new0 (NatterModerationEvent, 1);

      event->ts_ms = sqlite3_column_int64 (stmt, 0);
      event->kind = g_strdup (column_text (stmt, 1));
      event->user = g_strdup (column_text (stmt, 2));
      event->by = g_strdup (column_text (stmt, 3));
      event->reason = g_strdup (column_text (stmt, 4));
      event->role = g_strdup (column_text (stmt, 5));
      event->topic = g_strdup (column_text (stmt, 6));
      g_ptr_array_add (events, event);
    }
  if (rc == 0)
    return FALSE;
  op_set_result (op, g_steal_pointer (&events), (GDestroyNotify) g_ptr_array_unref);
  return TRUE;
}

static gboolean
read_list_users (Conn *conn, Op *op, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_USERS, error);
  g_autoptr(GPtrArray) users = NULL;
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->text);
  sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) op->u64);
  users = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_user_record_free);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    {
      NatterUserRecord *user = g_new0 (NatterUserRecord, 1);

      user->name = g_strdup (column_text (stmt, 0));
      user->admin = sqlite3_column_int (stmt, 1) != 0;
      user->owner = sqlite3_column_int (stmt, 2) != 0;
      user->disabled = sqlite3_column_int (stmt, 3) != 0;
      user->created_ts = sqlite3_column_int64 (stmt, 4);
      g_ptr_array_add (users, user);
    }
  if (rc == 0)
    return FALSE;
  op_set_result (op, g_steal_pointer (&users), (GDestroyNotify) g_ptr_array_unref);
  return TRUE;
}

static gboolean
select_members (Conn *conn, NatterRoomRecord *room, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_MEMBERS, error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, room->name);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (room->members, member_from_row (stmt, 0));
  return rc == SQLITE_DONE;
}

/* Fills the invitations and bans of @room, or of every room of @by_name (@room NULL). */
static gboolean
select_room_access (Conn *conn, NatterRoomRecord *room, GHashTable *by_name, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_ROOM_ACCESS, error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, room != NULL ? room->name : NULL);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    {
      NatterRoomRecord *target = room != NULL ? room
                                 : g_hash_table_lookup (by_name, column_text (stmt, 0));

      /* Foreign keys make this always true. */
      if (target != NULL)
        g_ptr_array_add (sqlite3_column_int (stmt, 2) == 0 ? target->invited : target->banned,
                         g_strdup (column_text (stmt, 1)));
    }
  return rc == SQLITE_DONE;
}

/* Runs @func in one read transaction, so that what it reads with several statements is
 * one consistent snapshot. */
static gboolean
read_in_transaction (Conn *conn, Op *op, OpFunc func, GError **error)
{
  gboolean ok;

  if (!conn_exec (conn, STMT_BEGIN, error))
    return FALSE;
  ok = func (conn, op, error);
  rollback_if_open (conn);
  return ok;
}

static gboolean
read_get_room_snapshot (Conn *conn, Op *op, GError **error)
{
  g_autoptr(NatterRoomRecord) room = NULL;

  if (!select_room (conn, op->room, &room, error))
    return FALSE;
  if (room == NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", op->room);
      return FALSE;
    }
  if (!select_members (conn, room, error) || !select_room_access (conn, room, NULL, error))
    return FALSE;
  op_set_result (op, g_steal_pointer (&room), (GDestroyNotify) natter_room_record_free);
  return TRUE;
}

static gboolean
read_get_room (Conn *conn, Op *op, GError **error)
{
  return read_in_transaction (conn, op, read_get_room_snapshot, error);
}

static gboolean
read_load_snapshot (Conn *conn, Op *op, GError **error)
{
  g_autoptr(NatterStoreSnapshot) snapshot = g_new0 (NatterStoreSnapshot, 1);
  g_autoptr(GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(BorrowedStmt) rooms = conn_borrow (conn, STMT_SELECT_ROOMS, error);
  g_autoptr(BorrowedStmt) members = NULL;
  int rc;

  if (rooms == NULL)
    return FALSE;
  snapshot->rooms = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_room_record_free);
  while ((rc = stmt_step (conn, rooms, error)) == SQLITE_ROW)
    {
      NatterRoomRecord *room = room_from_row (rooms);

      g_ptr_array_add (snapshot->rooms, room);
      g_hash_table_insert (by_name, room->name, room);
    }
  if (rc != SQLITE_DONE)
    return FALSE;

  members = conn_borrow (conn, STMT_SELECT_ALL_MEMBERS, error);
  if (members == NULL)
    return FALSE;
  while ((rc = stmt_step (conn, members, error)) == SQLITE_ROW)
    {
      NatterRoomRecord *room = g_hash_table_lookup (by_name, column_text (members, 0));

      /* Foreign keys make this always true. */
      if (room != NULL)
        g_ptr_array_add (room->members, member_from_row (members, 1));
    }
  if (rc != SQLITE_DONE || !select_room_access (conn, NULL, by_name, error))
    return FALSE;

  op_set_result (op, g_steal_pointer (&snapshot), (GDestroyNotify) natter_store_snapshot_free);
  return TRUE;
}

static gboolean
read_load (Conn *conn, Op *op, GError **error)
{
  return read_in_transaction (conn, op, read_load_snapshot, error);
}

/* Adds to @messages (ascending, of @room) their reactions, read in one range scan. */
static gboolean
add_reactions (Conn *conn, const char *room, GPtrArray *messages, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_REACTIONS, error);
  Natter__Message *first = g_ptr_array_index (messages, 0);
  Natter__Message *last = g_ptr_array_index (messages, messages->len - 1);
  guint i = 0;
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, room);
  sqlite3_bind_int64 (stmt, 2, seq_to_sql (first->seq));
  sqlite3_bind_int64 (stmt, 3, seq_to_sql (last->seq));
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    {
      guint64 seq = (guint64) sqlite3_column_int64 (stmt, 0);

      while (i < messages->len &&
             ((Natter__Message *) g_ptr_array_index (messages, i))->seq < seq)
        i++;
      if (i < messages->len &&
          ((Natter__Message *) g_ptr_array_index (messages, i))->seq == seq)
        natter_message_add_reaction (g_ptr_array_index (messages, i),
                                     column_text (stmt, 1), column_text (stmt, 2));
    }
  return rc == SQLITE_DONE;
}

static gboolean
read_history (Conn *conn, Op *op, GError **error)
{
  const NatterHistoryQuery *query = &op->history;
  guint limit = CLAMP (query->limit, 1, HISTORY_MAX);
  /* Only after_seq pages forward from it; otherwise the page ends at the newest message
   * (below before_seq, if given). */
  gboolean descending = !query->has_after;
  g_autoptr(NatterRoomRecord) room = NULL;
  g_autoptr(BorrowedStmt) stmt = NULL;
  g_autoptr(NatterHistoryResult) result = NULL;
  int rc;

  if (!select_room (conn, op->room, &room, error))
    return FALSE;
  if (room == NULL)
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_NOT_FOUND, "No room “%s”", op->room);
      return FALSE;
    }

  stmt = conn_borrow (conn, descending ? STMT_HISTORY_DESCENDING : STMT_HISTORY_ASCENDING,
                      error);
  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, op->room);
  sqlite3_bind_int64 (stmt, 2, query->has_after ? seq_to_sql (query->after_seq) : 0);
  sqlite3_bind_int64 (stmt, 3, query->has_before ? seq_to_sql (query->before_seq) : G_MAXINT64);
  /* One more than asked tells whether there are more. */
  sqlite3_bind_int (stmt, 4, (int) limit + 1);

  result = g_new0 (NatterHistoryResult, 1);
  result->messages = g_ptr_array_new_full (MIN (limit, room->last_seq) + 1,
                                           (GDestroyNotify) natter_message_free);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    {
      if (result->messages->len == limit)
        {
          result->has_more = TRUE;
          continue;
        }
      g_ptr_array_add (result->messages, message_from_row (stmt));
    }
  if (rc != SQLITE_DONE)
    return FALSE;
  g_clear_pointer (&stmt, borrowed_stmt_release);

  /* Pages are always in ascending order. */
  if (descending)
    {
      gpointer *pdata = result->messages->pdata;
      guint n = result->messages->len;

      for (guint i = 0; i < n / 2; i++)
        {
          gpointer tmp = pdata[i];

          pdata[i] = pdata[n - 1 - i];
          pdata[n - 1 - i] = tmp;
        }
    }

  if (result->messages->len > 0 && !add_reactions (conn, op->room, result->messages, error))
    return FALSE;

  op_set_result (op, g_steal_pointer (&result), (GDestroyNotify) natter_history_result_free);
  return TRUE;
}

/* Word characters as the unicode61 tokenizer sees them (letters, digits, private use),
 * plus combining marks so that a decomposed accent stays in its word. */
static gboolean
is_word_char (gunichar c)
{
  return g_unichar_isalnum (c) || g_unichar_ismark (c) ||
         g_unichar_type (c) == G_UNICODE_PRIVATE_USE;
}

/**
 * fts_query_from_text:
 * @text: what the user typed
 *
 * Turns plain text into an FTS5 query that cannot fail to parse and has no operators:
 * every word becomes a quoted string, so quotes, `AND`/`OR`/`NOT`, parentheses, `*`,
 * `^`, `NEAR` and column filters in @text are only text. Words must all match; the last
 * one also matches as a prefix, for search as you type.
 *
 * Returns: (transfer full) (nullable): the query, or %NULL if @text holds no word
 */
static char *
fts_query_from_text (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  g_autoptr(GString) query = g_string_new (NULL);
  guint n_words = 0;

  for (const char *p = valid; *p != '\0' && n_words < SEARCH_MAX_WORDS;)
    {
      const char *start = p;

      while (*p != '\0' && is_word_char (g_utf8_get_char (p)))
        p = g_utf8_next_char (p);
      if (p == start)
        {
          p = g_utf8_next_char (p);
          continue;
        }

      if (n_words++ > 0)
        g_string_append_c (query, ' ');
      g_string_append_c (query, '"');
      for (const char *c = start; c < p; c++)
        {
          /* Word characters exclude '"', but a string in FTS5 escapes it by doubling. */
          if (*c == '"')
            g_string_append_c (query, '"');
          g_string_append_c (query, *c);
        }
      g_string_append_c (query, '"');
    }

  if (n_words == 0)
    return NULL;
  g_string_append_c (query, '*');
  return g_string_free (g_steal_pointer (&query), FALSE);
}

/* Schema 9 on: the shards newest first, each in rowid order, until the limit. One read
 * transaction, so that all of them are read at one moment. */
static gboolean
search_shards (Conn *conn, Op *op, const char *match, GPtrArray *messages, GError **error)
{
  g_autoptr(GArray) shards = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(BorrowedStmt) list = NULL;
  gboolean ok = TRUE;
  int rc;

  if (!conn_exec (conn, STMT_BEGIN, error))
    return FALSE;
  list = conn_borrow (conn, STMT_SELECT_SHARDS, error);
  if (list == NULL)
    ok = FALSE;
  while (ok && (rc = stmt_step (conn, list, error)) == SQLITE_ROW)
    {
      gint64 shard = sqlite3_column_int64 (list, 0);

      g_array_append_val (shards, shard);
    }
  if (ok && rc == 0)
    ok = FALSE;
  g_clear_pointer (&list, borrowed_stmt_release);

  for (guint i = 0; ok && i < shards->len && messages->len < op->u64; i++)
    {
      g_autoptr(BorrowedStmt) stmt = conn_borrow_shard (conn, SHARD_SEARCH,
                                                        g_array_index (shards, gint64, i),
                                                        error);

      if (stmt == NULL)
        {
          ok = FALSE;
          break;
        }
      bind_text (stmt, 1, match);
      bind_text (stmt, 2, op->user);
      bind_text (stmt, 3, NATTER_SYSTEM_ROOM);
      bind_text (stmt, 4, op->room);
      sqlite3_bind_int64 (stmt, 5, (sqlite3_int64) (op->u64 - messages->len));
      while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
        g_ptr_array_add (messages, message_from_row (stmt));
      if (rc != SQLITE_DONE)
        ok = FALSE;
    }

  if (ok)
    ok = conn_exec (conn, STMT_COMMIT, error);
  if (!ok)
    rollback_if_open (conn);
  return ok;
}

static gboolean
read_search (Conn *conn, Op *op, GError **error)
{
  g_autofree char *match = fts_query_from_text (op->text);
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_message_free);
  g_autoptr(BorrowedStmt) stmt = NULL;
  int rc;

  /* Only separators, such as "*" or "((": nothing can match. */
  if (match == NULL)
    {
      op_set_result (op, g_steal_pointer (&messages), (GDestroyNotify) g_ptr_array_unref);
      return TRUE;
    }

  if (conn->sharded)
    {
      if (!search_shards (conn, op, match, messages, error))
        return FALSE;
      op_set_result (op, g_steal_pointer (&messages), (GDestroyNotify) g_ptr_array_unref);
      return TRUE;
    }

  stmt = conn_borrow (conn, STMT_SEARCH, error);
  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, match);
  bind_text (stmt, 2, op->user);
  bind_text (stmt, 3, NATTER_SYSTEM_ROOM);
  bind_text (stmt, 4, op->room);
  sqlite3_bind_int64 (stmt, 5, (sqlite3_int64) op->u64);
  while ((rc = stmt_step (conn, stmt, error)) == SQLITE_ROW)
    g_ptr_array_add (messages, message_from_row (stmt));
  if (rc != SQLITE_DONE)
    return FALSE;

  op_set_result (op, g_steal_pointer (&messages), (GDestroyNotify) g_ptr_array_unref);
  return TRUE;
}

/* The store */

typedef struct {
  NatterStoreSqlite *store;   /* (unowned) */
  GThread           *thread;  /* (owned) (nullable) */
  Conn              *conn;    /* (owned) (nullable) */
} Reader;

struct _NatterStoreSqlite
{
  GObject       parent_instance;

  char         *epoch;          /* (owned) */

  GMutex        lock;           /* guards closed, and pushing onto the queues */
  gboolean      closed;
  GAsyncQueue  *write_queue;    /* (owned) (element-type Op) */
  GAsyncQueue  *read_queue;     /* (owned) (element-type Op) */

  Conn         *writer_conn;    /* (owned) (nullable) used by the writer thread */
  GThread      *writer;         /* (owned) (nullable) */
  IndexMode     index_mode;
  gint64        index_due;      /* writer only: when to index what waits, 0 if nothing does */
  guint         last_batch_len; /* writer only */
  /* Set by the writer while committed messages wait for the search index, before their
   * results go out: a search submitted after seeing a result finds it set, or finds them
   * indexed. */
  gint          index_pending;  /* (atomic) */
  Reader        readers[N_READERS];

  GMutex        checkpoint_lock;       /* guards the three fields below */
  GCond         checkpoint_cond;
  gboolean      checkpoint_requested;
  gboolean      checkpoint_stop;
  int           checkpointed_frames;   /* of the log, as the last checkpoint left it */
  gboolean      truncate_wanted;       /* a delete committed since the log was emptied */
  gint64        truncate_at;           /* monotonic: not before, see TRUNCATE_INTERVAL_US */
  gint64        truncated_at;          /* monotonic: when the log was last emptied */
  Conn         *checkpoint_conn;       /* (owned) (nullable) */
  GThread      *checkpointer;          /* (owned) (nullable) */
};

static void natter_store_sqlite_iface_init (NatterStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterStoreSqlite, natter_store_sqlite, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_STORE,
                                                      natter_store_sqlite_iface_init))

/* Adds the messages from conn->unindexed_from on to the search index, in the open
 * transaction, with one statement: FTS5 then writes one segment for all of them, where a
 * row-by-row index update inside each operation's savepoint made it flush once per
 * message. Edits and deletions index what waits first (index_before()), since the update
 * trigger expects the old row to be indexed. */
static gboolean
index_new_messages (Conn *conn, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = NULL;

  if (conn->unindexed_from == 0)
    return TRUE;
  if (conn->sharded)
    {
      gint64 max_id;

      return query_int64 (conn, STMT_SELECT_MAX_ID, &max_id, error) &&
             (max_id < conn->unindexed_from ||
              index_into_shards (conn, conn->unindexed_from, max_id + 1, TRUE, error));
    }
  stmt = conn_borrow (conn, STMT_INDEX_NEW_MESSAGES, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, conn->unindexed_from);
  return stmt_step (conn, stmt, error) != 0;
}

/* Schema 4: indexes the messages that wait, in a transaction of their own that also
 * records how far the index goes. Batching them over INDEX_DELAY_US makes the index
 * segments larger and fewer, and keeps this work out of the sends' commits. If it fails
 * the messages stay where they are (stored, acknowledged) and it is tried again later. */
static void
index_pending (NatterStoreSqlite *self)
{
  Conn *conn = self->writer_conn;
  g_autoptr(GError) error = NULL;

  if (conn->unindexed_from != 0)
    {
      if (!conn_exec (conn, STMT_BEGIN_IMMEDIATE, &error) ||
          !index_new_messages (conn, &error) ||
          !conn_exec (conn, STMT_SET_INDEXED_ID, &error) ||
          !conn_exec (conn, STMT_COMMIT, &error))
        {
          rollback_if_open (conn);
          g_warning ("Could not index new messages for search, trying again later: %s",
                     error->message);
          self->index_due = g_get_monotonic_time () + INDEX_RETRY_US;
          return;
        }
      conn->unindexed_from = 0;
    }
  self->index_due = 0;
  g_atomic_int_set (&self->index_pending, FALSE);
}

/* Before an operation that changes the body of stored messages: what waits for the index
 * goes in now, in the batch's transaction but outside the operation's savepoint, so that
 * the update trigger finds the old bodies indexed. If the batch fails, this is undone with
 * it and the messages wait again. */
static gboolean
index_before (NatterStoreSqlite *self, GError **error)
{
  Conn *conn = self->writer_conn;

  if (self->index_mode != INDEX_DEFERRED || conn->unindexed_from == 0)
    return TRUE;
  if (!index_new_messages (conn, error) || !conn_exec (conn, STMT_SET_INDEXED_ID, error))
    return FALSE;
  conn->unindexed_from = 0;
  return TRUE;
}

/* Finds the first message that the search index does not have yet (schema 4). */
static gboolean
find_unindexed (Conn *conn, GError **error)
{
  g_autoptr(BorrowedStmt) stmt = conn_borrow (conn, STMT_SELECT_UNINDEXED, error);

  if (stmt == NULL || stmt_step (conn, stmt, error) != SQLITE_ROW)
    return FALSE;
  conn->unindexed_from = sqlite3_column_int64 (stmt, 0);
  return TRUE;
}

/* A delete committed: the checkpointer empties the log soon (see checkpointer_thread). */
static void
request_truncate (NatterStoreSqlite *self)
{
  g_mutex_lock (&self->checkpoint_lock);
  if (!self->truncate_wanted)
    {
      self->truncate_wanted = TRUE;
      self->truncate_at = self->truncated_at == 0
                            ? g_get_monotonic_time ()
                            : MAX (g_get_monotonic_time (),
                                   self->truncated_at + TRUNCATE_INTERVAL_US);
      g_cond_signal (&self->checkpoint_cond);
    }
  g_mutex_unlock (&self->checkpoint_lock);
}

/* Runs one batch of writes in one transaction, then completes them. If the transaction
 * cannot commit, every write of the batch fails: nothing of it was stored, and since the
 * room counters are only in the database, the next batch continues without a gap. */
static void
run_batch (NatterStoreSqlite *self, GPtrArray *batch)
{
  Conn *conn = self->writer_conn;
  g_autoptr(GError) batch_error = NULL;
  sqlite3_int64 unindexed_before = conn->unindexed_from;

  self->last_batch_len = batch->len;
  conn->erased = FALSE;
  if (conn_exec (conn, STMT_BEGIN_IMMEDIATE, &batch_error))
    {
      for (guint i = 0; i < batch->len && batch_error == NULL; i++)
        {
          Op *op = g_ptr_array_index (batch, i);

          if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (op->task),
                                                    &op->error))
            continue;
          if ((op->needs_index && !index_before (self, &batch_error)) ||
              !conn_exec (conn, STMT_SAVEPOINT, &batch_error))
            break;
          if (op->run (conn, op, &op->error))
            conn_exec (conn, STMT_RELEASE, &batch_error);
          else if (conn_exec (conn, STMT_ROLLBACK_TO, &batch_error))
            conn_exec (conn, STMT_RELEASE, &batch_error);

          /* A severe error (disk full, I/O) can roll back the whole transaction. */
          if (batch_error == NULL && sqlite3_get_autocommit (conn->db))
            g_set_error_literal (&batch_error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                                 "The transaction was rolled back");
        }
      if (batch_error == NULL &&
          (self->index_mode != INDEX_ON_COMMIT || index_new_messages (conn, &batch_error)))
        conn_exec (conn, STMT_COMMIT, &batch_error);
      if (batch_error != NULL)
        rollback_if_open (conn);
    }

  if (batch_error == NULL && conn->erased)
    request_truncate (self);
  conn->erased = FALSE;

  if (batch_error != NULL || self->index_mode != INDEX_DEFERRED)
    conn->unindexed_from = unindexed_before;
  else if (conn->unindexed_from != 0 && self->index_due == 0)
    {
      /* Before the results go out: see index_pending. */
      g_atomic_int_set (&self->index_pending, TRUE);
      self->index_due = g_get_monotonic_time () + INDEX_DELAY_US;
    }

  if (batch_error != NULL)
    {
      g_warning ("Could not store %u operations: %s", batch->len, batch_error->message);
      for (guint i = 0; i < batch->len; i++)
        op_fail (g_ptr_array_index (batch, i), batch_error);
    }

  complete_ops (batch);
}

static gboolean
index_is_due (NatterStoreSqlite *self)
{
  Conn *conn = self->writer_conn;

  return self->index_due != 0 &&
         (g_get_monotonic_time () >= self->index_due ||
          sqlite3_last_insert_rowid (conn->db) - conn->unindexed_from >= INDEX_MAX_PENDING);
}

/* The next write, or NULL once the search index is due. */
static Op *
next_write (NatterStoreSqlite *self)
{
  gint64 wait;

  if (self->index_due == 0)
    return g_async_queue_pop (self->write_queue);
  wait = self->index_due - g_get_monotonic_time ();
  return wait > 0 ? g_async_queue_timeout_pop (self->write_queue, wait) : NULL;
}

/* More writes for a batch that has @n_ops so far: what queued up while the last batch
 * committed and, under load, what arrives within GATHER_US of its first one. The writer
 * sleeps through that time rather than wait on the queue, so that each write pushed
 * meanwhile does not wake it. */
static Op *
more_writes (NatterStoreSqlite *self, guint n_ops, gint64 first_at, gboolean *gathered)
{
  Op *op;
  gint64 wait;

  if (n_ops >= MAX_BATCH)
    return NULL;
  op = g_async_queue_try_pop (self->write_queue);
  if (op != NULL || *gathered || self->last_batch_len <= 1)
    return op;
  *gathered = TRUE;
  wait = first_at + GATHER_US - g_get_monotonic_time ();
  if (wait > 0)
    g_usleep (wait);
  return g_async_queue_try_pop (self->write_queue);
}

static gpointer
writer_thread (gpointer data)
{
  NatterStoreSqlite *self = data;
  gboolean stop = FALSE;

  while (!stop)
    {
      g_autoptr(GPtrArray) batch = g_ptr_array_new_full (64, (GDestroyNotify) op_free);
      Op *after_index = NULL;
      gboolean gathered = FALSE;
      gint64 first_at;
      Op *op;

      if (index_is_due (self))
        index_pending (self);
      op = next_write (self);
      first_at = g_get_monotonic_time ();

      /* Group commit: the writes that queue up go together. */
      while (op != NULL)
        {
          if (op->run == NULL)
            {
              op_free (op);
              stop = TRUE;
              break;
            }
          if (op->after_index)
            {
              after_index = op;
              break;
            }
          g_ptr_array_add (batch, op);
          op = more_writes (self, batch->len, first_at, &gathered);
        }

      if (batch->len > 0)
        run_batch (self, g_steal_pointer (&batch));
      /* A search queued behind writes: it goes to a reader once they are indexed. */
      if (after_index != NULL)
        {
          index_pending (self);
          g_async_queue_push (self->read_queue, after_index);
        }
    }

  /* What is stored is all in the index when the store closes. */
  index_pending (self);
  return NULL;
}

/* Records how much of the log a checkpoint copied into the database file. */
static void
set_checkpointed (NatterStoreSqlite *self, int rc, int n_checkpointed)
{
  if (rc != SQLITE_OK || n_checkpointed < 0)
    return;
  g_mutex_lock (&self->checkpoint_lock);
  self->checkpointed_frames = n_checkpointed;
  g_mutex_unlock (&self->checkpoint_lock);
}

/* Called by SQLite on the writer thread after each commit, with the log's length. A
 * checkpoint is asked for once CHECKPOINT_PAGES frames wait to be copied. Right after a
 * complete checkpoint the log is still long until it starts over, at a later commit;
 * asking again then would run checkpoints with nothing to copy, each syncing both files,
 * and their flushes delay the writer's own syncs. But once the log is twice that long it
 * has not been starting over (under a steady write load, frames committed while each
 * checkpoint runs keep it from ever being complete): then every commit asks, so that the
 * checkpoints catch up with the log and it starts over rather than grow. */
static int
wal_hook_cb (gpointer user_data, sqlite3 *db, const char *db_name, int n_pages)
{
  NatterStoreSqlite *self = user_data;
  int waiting;

  g_mutex_lock (&self->checkpoint_lock);
  if (n_pages < self->checkpointed_frames)
    self->checkpointed_frames = 0;  /* the log started over */
  waiting = n_pages - self->checkpointed_frames;
  if ((waiting >= CHECKPOINT_PAGES || n_pages >= 2 * CHECKPOINT_PAGES) &&
      waiting < CHECKPOINT_PAGES_MAX)
    {
      self->checkpoint_requested = TRUE;
      g_cond_signal (&self->checkpoint_cond);
    }
  g_mutex_unlock (&self->checkpoint_lock);

  if (waiting >= CHECKPOINT_PAGES_MAX)
    {
      int n_checkpointed = -1;
      int rc = sqlite3_wal_checkpoint_v2 (db, db_name, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                          &n_checkpointed);

      set_checkpointed (self, rc, n_checkpointed);
    }
  return SQLITE_OK;
}

/* Checkpoints are upkeep: on a busy machine they yield to the threads that serve requests.
 * On Linux nice values are per thread. Should the checkpointer fall behind, the writer
 * checkpoints itself once CHECKPOINT_PAGES_MAX frames wait (see wal_hook_cb). */
static void
lower_thread_priority (int by)
{
#ifdef __linux__
  id_t tid = (id_t) syscall (SYS_gettid);
  int nice_now;

  errno = 0;
  nice_now = getpriority (PRIO_PROCESS, tid);
  if (errno == 0 && setpriority (PRIO_PROCESS, tid, MIN (nice_now + by, 19)) != 0)
    g_debug ("Cannot lower this thread's priority: %s", g_strerror (errno));
#endif
}

static gpointer
checkpointer_thread (gpointer data)
{
  NatterStoreSqlite *self = data;

  lower_thread_priority (CHECKPOINTER_NICE);
  g_mutex_lock (&self->checkpoint_lock);
  for (;;)
    {
      int rc;
      int n_checkpointed = -1;

      gboolean truncate;

      while (!self->checkpoint_requested && !self->checkpoint_stop)
        {
          if (!self->truncate_wanted)
            g_cond_wait (&self->checkpoint_cond, &self->checkpoint_lock);
          else if (g_get_monotonic_time () < self->truncate_at)
            g_cond_wait_until (&self->checkpoint_cond, &self->checkpoint_lock,
                               self->truncate_at);
          else
            break;
        }
      if (self->checkpoint_stop)
        break;
      self->checkpoint_requested = FALSE;
      truncate = self->truncate_wanted && g_get_monotonic_time () >= self->truncate_at;
      if (truncate)
        self->truncate_wanted = FALSE;
      g_mutex_unlock (&self->checkpoint_lock);

      if (truncate)
        {
          /* After a delete: the whole log into the database file, then the log emptied,
           * so that the deleted text leaves the -wal file as well. */
          sqlite3_busy_timeout (self->checkpoint_conn->db, TRUNCATE_BUSY_MS);
          rc = sqlite3_wal_checkpoint_v2 (self->checkpoint_conn->db, NULL,
                                          SQLITE_CHECKPOINT_TRUNCATE, NULL, &n_checkpointed);
          sqlite3_busy_timeout (self->checkpoint_conn->db, 0);
          g_mutex_lock (&self->checkpoint_lock);
          if (rc == SQLITE_OK)
            self->truncated_at = g_get_monotonic_time ();
          else if (!self->truncate_wanted)
            {
              /* Readers or the writer held the log: again after the interval. */
              self->truncate_wanted = TRUE;
              self->truncate_at = g_get_monotonic_time () + TRUNCATE_INTERVAL_US;
            }
          g_mutex_unlock (&self->checkpoint_lock);
        }
      else
        {
          /* PASSIVE never blocks the writer or the readers; BUSY only means another
           * checkpoint is running. */
          rc = sqlite3_wal_checkpoint_v2 (self->checkpoint_conn->db, NULL,
                                          SQLITE_CHECKPOINT_PASSIVE, NULL, &n_checkpointed);
        }
      if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        g_warning ("Checkpoint failed: %s", sqlite3_errmsg (self->checkpoint_conn->db));
      set_checkpointed (self, rc, n_checkpointed);

      g_mutex_lock (&self->checkpoint_lock);
    }
  g_mutex_unlock (&self->checkpoint_lock);

  return NULL;
}

static gpointer
reader_thread (gpointer data)
{
  Reader *reader = data;
  NatterStoreSqlite *self = reader->store;

  for (;;)
    {
      g_autoptr(GPtrArray) done = g_ptr_array_new_full (1, (GDestroyNotify) op_free);
      Op *op = g_async_queue_pop (self->read_queue);

      if (op->run == NULL)
        {
          op_free (op);
          break;
        }
      if (!g_cancellable_set_error_if_cancelled (g_task_get_cancellable (op->task), &op->error))
        op->run (reader->conn, op, &op->error);
      g_ptr_array_add (done, op);
      complete_ops (g_steal_pointer (&done));
    }

  return NULL;
}

static Op *
op_new (NatterStoreSqlite *self, OpFunc run, gpointer source_tag, GCancellable *cancellable,
        GAsyncReadyCallback callback, gpointer user_data)
{
  Op *op = g_new0 (Op, 1);

  op->run = run;
  op->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (op->task, source_tag);
  return op;
}

static void
submit (NatterStoreSqlite *self, GAsyncQueue *queue, Op *op)
{
  g_mutex_lock (&self->lock);
  if (self->closed)
    {
      g_mutex_unlock (&self->lock);
      g_task_return_new_error (op->task, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE,
                               "The store is closed");
      op_free (op);
      return;
    }
  g_async_queue_push (queue, op);
  g_mutex_unlock (&self->lock);
}

static void
submit_write (NatterStoreSqlite *self, Op *op)
{
  /* Once queued, a write is done or not done: its result must say which, even if the
   * caller cancelled meanwhile. Writes cancelled before their batch starts are skipped. */
  g_task_set_check_cancellable (op->task, FALSE);
  submit (self, self->write_queue, op);
}

static void
submit_read (NatterStoreSqlite *self, Op *op)
{
  submit (self, self->read_queue, op);
}

static void
push_stop (GAsyncQueue *queue)
{
  g_async_queue_push (queue, g_new0 (Op, 1));
}

static void
natter_store_sqlite_close (NatterStore *store)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  gboolean was_closed;

  g_mutex_lock (&self->lock);
  was_closed = self->closed;
  self->closed = TRUE;
  /* Behind everything already queued, so all of it still runs. */
  if (!was_closed && self->writer != NULL)
    push_stop (self->write_queue);
  g_mutex_unlock (&self->lock);

  /* The writer first: it may still hand searches to the readers. */
  if (self->writer != NULL)
    g_thread_join (g_steal_pointer (&self->writer));
  for (guint i = 0; !was_closed && i < N_READERS; i++)
    if (self->readers[i].thread != NULL)
      push_stop (self->read_queue);

  g_mutex_lock (&self->checkpoint_lock);
  self->checkpoint_stop = TRUE;
  g_cond_signal (&self->checkpoint_cond);
  g_mutex_unlock (&self->checkpoint_lock);
  if (self->checkpointer != NULL)
    g_thread_join (g_steal_pointer (&self->checkpointer));
  g_clear_pointer (&self->checkpoint_conn, conn_free);

  for (guint i = 0; i < N_READERS; i++)
    {
      if (self->readers[i].thread != NULL)
        g_thread_join (g_steal_pointer (&self->readers[i].thread));
      g_clear_pointer (&self->readers[i].conn, conn_free);
    }
  /* The last connection to close checkpoints the WAL into the database file. */
  g_clear_pointer (&self->writer_conn, conn_free);
}

static const char *
natter_store_sqlite_get_epoch (NatterStore *store)
{
  return NATTER_STORE_SQLITE (store)->epoch;
}

static void
natter_store_sqlite_load_async (NatterStore *store, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);

  submit_read (self, op_new (self, read_load, natter_store_sqlite_load_async, cancellable,
                             callback, user_data));
}

static void
natter_store_sqlite_create_user_async (NatterStore *store, const char *name,
                                       const char *password_hash, NatterAccountFlags flags,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (name != NULL);
  g_return_if_fail (password_hash != NULL);

  op = op_new (self, write_create_user, natter_store_sqlite_create_user_async, cancellable,
               callback, user_data);
  op->user = g_strdup (name);
  op->text = g_strdup (password_hash);
  op->text_is_secret = TRUE;
  op->flag = (flags & (NATTER_ACCOUNT_ADMIN | NATTER_ACCOUNT_OWNER)) != 0;
  op->owner = (flags & NATTER_ACCOUNT_OWNER) != 0;
  submit_write (self, op);
}

static void
natter_store_sqlite_get_user_async (NatterStore *store, const char *name,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (name != NULL);

  op = op_new (self, read_get_user, natter_store_sqlite_get_user_async, cancellable,
               callback, user_data);
  op->user = g_strdup (name);
  submit_read (self, op);
}

static void
natter_store_sqlite_create_token_async (NatterStore *store, const char *user,
                                        const char *token_hash, gint64 expires_at_ms,
                                        const char *agent, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (user != NULL);
  g_return_if_fail (token_hash != NULL);

  op = op_new (self, write_create_token, natter_store_sqlite_create_token_async, cancellable,
               callback, user_data);
  op->user = g_strdup (user);
  op->text = g_strdup (token_hash);
  op->text_is_secret = TRUE;
  op->i64 = expires_at_ms;
  op->kind = g_strdup (agent);
  submit_write (self, op);
}

static void
natter_store_sqlite_lookup_token_async (NatterStore *store, const char *token_hash,
                                        gint64 now, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (token_hash != NULL);

  op = op_new (self, write_use_token, natter_store_sqlite_lookup_token_async, cancellable,
               callback, user_data);
  op->text = g_strdup (token_hash);
  op->text_is_secret = TRUE;
  op->i64 = now;
  submit_write (self, op);
}

static void
natter_store_sqlite_list_sessions_async (NatterStore *store, const char *user, gint64 now,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (user != NULL);

  op = op_new (self, read_list_sessions, natter_store_sqlite_list_sessions_async, cancellable,
               callback, user_data);
  op->user = g_strdup (user);
  op->i64 = now;
  submit_read (self, op);
}

static void
natter_store_sqlite_revoke_tokens_async (NatterStore *store, const char *user,
                                         const char *session, const char *keep,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (user != NULL);

  op = op_new (self, write_revoke_tokens, natter_store_sqlite_revoke_tokens_async, cancellable,
               callback, user_data);
  op->user = g_strdup (user);
  op->room = g_strdup (session);
  op->client_msg_id = g_strdup (keep);
  submit_write (self, op);
}

static void
natter_store_sqlite_set_password_async (NatterStore *store, const char *user,
                                        const char *password_hash, const char *keep,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (user != NULL);
  g_return_if_fail (password_hash != NULL);

  op = op_new (self, write_set_password, natter_store_sqlite_set_password_async, cancellable,
               callback, user_data);
  op->user = g_strdup (user);
  op->text = g_strdup (password_hash);
  op->text_is_secret = TRUE;
  op->client_msg_id = g_strdup (keep);
  submit_write (self, op);
}

static void
natter_store_sqlite_set_account_state_async (NatterStore *store, const char *user,
                                             NatterAccountState state,
                                             GCancellable *cancellable,
                                             GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (user != NULL);

  op = op_new (self, write_set_account_state, natter_store_sqlite_set_account_state_async,
               cancellable, callback, user_data);
  op->user = g_strdup (user);
  op->u64 = state;
  submit_write (self, op);
}

static void
natter_store_sqlite_list_users_async (NatterStore *store, const char *query, guint limit,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  op = op_new (self, read_list_users, natter_store_sqlite_list_users_async, cancellable,
               callback, user_data);
  op->text = g_strdup (query);
  op->u64 = limit;
  submit_read (self, op);
}

static void
natter_store_sqlite_moderate_async (NatterStore *store, const NatterModeration *change,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  op = op_new (self, write_moderate, natter_store_sqlite_moderate_async, cancellable,
               callback, user_data);
  op->moderation = change->kind;
  op->room = g_strdup (change->room);
  op->user = g_strdup (change->user);
  op->by = g_strdup (change->by);
  op->text = g_strdup (change->text);
  op->role = change->role;
  op->flag = change->is_private;
  submit_write (self, op);
}

static void
natter_store_sqlite_list_blocks_async (NatterStore *store, const char *user,
                                       GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  op = op_new (self, read_list_blocks, natter_store_sqlite_list_blocks_async, cancellable,
               callback, user_data);
  op->user = g_strdup (user);
  submit_read (self, op);
}

static void
natter_store_sqlite_list_invitations_async (NatterStore *store, const char *user,
                                            GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  op = op_new (self, read_list_invitations, natter_store_sqlite_list_invitations_async,
               cancellable, callback, user_data);
  op->user = g_strdup (user);
  submit_read (self, op);
}

static void
natter_store_sqlite_directory_async (NatterStore *store, const char *query, guint limit,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  op = op_new (self, read_directory, natter_store_sqlite_directory_async, cancellable,
               callback, user_data);
  /* Matched case-folded: see sql_casefold(). */
  op->text = query != NULL ? g_utf8_casefold (query, -1) : NULL;
  op->u64 = limit;
  submit_read (self, op);
}

static NatterModerationEvent *
moderation_event_copy (const NatterModerationEvent *event)
{
  NatterModerationEvent *copy = g_new0 (NatterModerationEvent, 1);

  copy->ts_ms = event->ts_ms;
  copy->kind = g_strdup (event->kind);
  copy->user = g_strdup (event->user);
  copy->by = g_strdup (event->by);
  copy->reason = g_strdup (event->reason);
  copy->role = g_strdup (event->role);
  copy->topic = g_strdup (event->topic);
  return copy;
}

static void
natter_store_sqlite_log_moderation_async (NatterStore *store, const char *room,
                                          const NatterModerationEvent *event,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  op = op_new (self, write_log_moderation, natter_store_sqlite_log_moderation_async,
               cancellable, callback, user_data);
  op->room = g_strdup (room);
  op->event = moderation_event_copy (event);
  submit_write (self, op);
}

static void
natter_store_sqlite_moderation_log_async (NatterStore *store, const char *room,
                                          gint64 before_ts_ms, guint limit,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  op = op_new (self, read_moderation_log, natter_store_sqlite_moderation_log_async, cancellable,
               callback, user_data);
  op->room = g_strdup (room);
  op->i64 = before_ts_ms;
  op->u64 = limit;
  /* Behind the writes queued before it: the hub adds an event right before it answers
   * the moderation, so whoever saw the answer finds the event. */
  op->after_index = TRUE;
  submit_write (self, op);
}

static void
natter_store_sqlite_create_room_async (NatterStore *store, const char *name, const char *kind,
                                       const char *topic, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (name != NULL);

  op = op_new (self, write_create_room, natter_store_sqlite_create_room_async, cancellable,
               callback, user_data);
  op->room = g_strdup (name);
  op->kind = g_strdup (kind != NULL ? kind : NATTER_ROOM_KIND_ROOM);
  op->text = g_strdup (topic);
  submit_write (self, op);
}

static void
natter_store_sqlite_get_room_async (NatterStore *store, const char *name,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (name != NULL);

  op = op_new (self, read_get_room, natter_store_sqlite_get_room_async, cancellable,
               callback, user_data);
  op->room = g_strdup (name);
  submit_read (self, op);
}

/* Adding and removing a member take the same arguments. */
static void
submit_member_write (NatterStore *store, OpFunc run, gpointer source_tag, const char *room,
                     const char *user, GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (room != NULL);
  g_return_if_fail (user != NULL);

  op = op_new (self, run, source_tag, cancellable, callback, user_data);
  op->room = g_strdup (room);
  op->user = g_strdup (user);
  submit_write (self, op);
}

static void
natter_store_sqlite_add_member_async (NatterStore *store, const char *room, const char *user,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data)
{
  submit_member_write (store, write_add_member, natter_store_sqlite_add_member_async, room, user,
                       cancellable, callback, user_data);
}

static void
natter_store_sqlite_remove_member_async (NatterStore *store, const char *room,
                                         const char *user, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  submit_member_write (store, write_remove_member, natter_store_sqlite_remove_member_async,
                       room, user, cancellable, callback, user_data);
}

static void
natter_store_sqlite_append_message_async (NatterStore *store, const char *room,
                                          const char *sender, const char *body,
                                          const char *client_msg_id, const char *kind,
                                          gint64 ts_ms, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (room != NULL);
  g_return_if_fail (sender != NULL);
  g_return_if_fail (body != NULL);

  op = op_new (self, write_append_message, natter_store_sqlite_append_message_async,
               cancellable, callback, user_data);
  op->room = g_strdup (room);
  op->user = g_strdup (sender);
  op->text = g_strdup (body);
  /* An empty id is no id: it must not make every later message a duplicate. */
  op->client_msg_id = (client_msg_id != NULL && *client_msg_id != '\0') ? g_strdup (client_msg_id)
                                                                         : NULL;
  op->kind = g_strdup (kind != NULL ? kind : NATTER_MESSAGE_KIND_TEXT);
  op->i64 = ts_ms;
  submit_write (self, op);
}

static void
natter_store_sqlite_change_message_async (NatterStore *store, const NatterMessageChange *change,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  op = op_new (self, write_change_message, natter_store_sqlite_change_message_async,
               cancellable, callback, user_data);
  op->room = g_strdup (change->room);
  op->user = g_strdup (change->sender);
  op->text = g_strdup (change->body != NULL ? change->body : "");
  op->client_msg_id = (change->client_msg_id != NULL && *change->client_msg_id != '\0')
                        ? g_strdup (change->client_msg_id) : NULL;
  op->kind = g_strdup (change->kind);
  op->i64 = change->ts_ms;
  op->u64 = change->target_seq;
  op->flag = change->active;
  op->moderator = change->moderator;
  op->mirror = change->mirror;
  op->needs_index = g_str_equal (change->kind, NATTER_MESSAGE_KIND_EDIT) ||
                    g_str_equal (change->kind, NATTER_MESSAGE_KIND_DELETE);
  submit_write (self, op);
}

static void
natter_store_sqlite_history_async (NatterStore *store, const char *room,
                                   const NatterHistoryQuery *query, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (room != NULL);

  op = op_new (self, read_history, natter_store_sqlite_history_async, cancellable, callback,
               user_data);
  op->room = g_strdup (room);
  op->history = *query;
  submit_read (self, op);
}

static void
natter_store_sqlite_set_read_async (NatterStore *store, const char *room, const char *user,
                                    guint64 seq, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (room != NULL);
  g_return_if_fail (user != NULL);

  op = op_new (self, write_set_read, natter_store_sqlite_set_read_async, cancellable,
               callback, user_data);
  op->room = g_strdup (room);
  op->user = g_strdup (user);
  op->u64 = seq;
  submit_write (self, op);
}

static void
natter_store_sqlite_set_notification_level_async (NatterStore *store, const char *room,
                                                  const char *user, NatterNotificationLevel level,
                                                  GCancellable *cancellable,
                                                  GAsyncReadyCallback callback,
                                                  gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (room != NULL);
  g_return_if_fail (user != NULL);

  op = op_new (self, write_set_notification_level,
               natter_store_sqlite_set_notification_level_async, cancellable, callback,
               user_data);
  op->room = g_strdup (room);
  op->user = g_strdup (user);
  op->text = g_strdup (natter_notification_level_to_string (level));
  submit_write (self, op);
}

static gboolean
is_blank (const char *text)
{
  if (text == NULL)
    return TRUE;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    if (!g_unichar_isspace (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

static void
natter_store_sqlite_search_async (NatterStore *store, const char *user, const char *query,
                                  const char *room, guint limit, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (store);
  Op *op;

  g_return_if_fail (user != NULL);

  op = op_new (self, read_search, natter_store_sqlite_search_async, cancellable, callback,
               user_data);
  if (is_blank (query))
    {
      g_task_return_new_error (op->task, NATTER_ERROR, NATTER_ERROR_BAD_REQUEST,
                               "The search query is empty");
      op_free (op);
      return;
    }
  op->user = g_strdup (user);
  op->text = g_strdup (query);
  op->room = g_strdup (room);
  op->u64 = CLAMP (limit, 1, SEARCH_MAX);
  /* Messages whose results are out but that are not in the index yet: the search
   * queues behind the writes, which index them first. */
  op->after_index = g_atomic_int_get (&self->index_pending);
  submit (self, op->after_index ? self->write_queue : self->read_queue, op);
}

static void
natter_store_sqlite_iface_init (NatterStoreInterface *iface)
{
  iface->get_epoch = natter_store_sqlite_get_epoch;
  iface->close = natter_store_sqlite_close;
  iface->load_async = natter_store_sqlite_load_async;
  iface->create_user_async = natter_store_sqlite_create_user_async;
  iface->get_user_async = natter_store_sqlite_get_user_async;
  iface->create_token_async = natter_store_sqlite_create_token_async;
  iface->lookup_token_async = natter_store_sqlite_lookup_token_async;
  iface->list_sessions_async = natter_store_sqlite_list_sessions_async;
  iface->revoke_tokens_async = natter_store_sqlite_revoke_tokens_async;
  iface->set_password_async = natter_store_sqlite_set_password_async;
  iface->set_account_state_async = natter_store_sqlite_set_account_state_async;
  iface->list_users_async = natter_store_sqlite_list_users_async;
  iface->create_room_async = natter_store_sqlite_create_room_async;
  iface->moderate_async = natter_store_sqlite_moderate_async;
  iface->list_blocks_async = natter_store_sqlite_list_blocks_async;
  iface->directory_async = natter_store_sqlite_directory_async;
  iface->list_invitations_async = natter_store_sqlite_list_invitations_async;
  iface->log_moderation_async = natter_store_sqlite_log_moderation_async;
  iface->moderation_log_async = natter_store_sqlite_moderation_log_async;
  iface->get_room_async = natter_store_sqlite_get_room_async;
  iface->add_member_async = natter_store_sqlite_add_member_async;
  iface->remove_member_async = natter_store_sqlite_remove_member_async;
  iface->append_message_async = natter_store_sqlite_append_message_async;
  iface->change_message_async = natter_store_sqlite_change_message_async;
  iface->history_async = natter_store_sqlite_history_async;
  iface->set_read_async = natter_store_sqlite_set_read_async;
  iface->set_notification_level_async = natter_store_sqlite_set_notification_level_async;
  iface->search_async = natter_store_sqlite_search_async;
}

static void
natter_store_sqlite_finalize (GObject *object)
{
  NatterStoreSqlite *self = NATTER_STORE_SQLITE (object);

  natter_store_sqlite_close (NATTER_STORE (self));
  g_clear_pointer (&self->write_queue, g_async_queue_unref);
  g_clear_pointer (&self->read_queue, g_async_queue_unref);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->checkpoint_lock);
  g_cond_clear (&self->checkpoint_cond);
  g_free (self->epoch);

  G_OBJECT_CLASS (natter_store_sqlite_parent_class)->finalize (object);
}

static void
natter_store_sqlite_class_init (NatterStoreSqliteClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_store_sqlite_finalize;
}

static void
natter_store_sqlite_init (NatterStoreSqlite *self)
{
  g_mutex_init (&self->lock);
  g_mutex_init (&self->checkpoint_lock);
  g_cond_init (&self->checkpoint_cond);
  self->write_queue = g_async_queue_new ();
  self->read_queue = g_async_queue_new ();
}

/* Process-wide settings, which SQLite accepts only before its first use. */
static void
configure_sqlite_once (void)
{
  static gsize configured = 0;

  if (g_once_init_enter (&configured))
    {
      /* Memory statistics take a global mutex on every allocation; nothing here reads them. */
      sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0);
      g_once_init_leave (&configured, 1);
    }
}

static gboolean
natter_store_sqlite_open (NatterStoreSqlite *self, const char *path,
                          NatterDurability durability, guint schema_version,
                          guint busy_timeout_ms, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);

  configure_sqlite_once ();
  if (sodium_init () < 0)
    {
      g_set_error_literal (error, NATTER_ERROR, NATTER_ERROR_INTERNAL,
                           "libsodium failed to initialise");
      return FALSE;
    }
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int errsv = errno;

      g_set_error (error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE, "Cannot create %s: %s", dir,
                   g_strerror (errsv));
      return FALSE;
    }

  self->writer_conn = conn_open (path, FALSE, durability, busy_timeout_ms, error);
  if (self->writer_conn == NULL ||
      !migrate (self->writer_conn, schema_version, error) ||
      !delete_expired_tokens (self->writer_conn, error))
    return FALSE;
  /* Before migration 3 a trigger indexed each row (and before 2 there is no index). */
  if (schema_version >= 4)
    {
      self->index_mode = INDEX_DEFERRED;
      if (!find_unindexed (self->writer_conn, error))
        return FALSE;
      if (self->writer_conn->unindexed_from != 0)
        {
          /* Committed, not indexed when natterd stopped: the writer starts with them. */
          self->index_pending = TRUE;
          self->index_due = g_get_monotonic_time ();
        }
    }
  else
    self->index_mode = schema_version == 3 ? INDEX_ON_COMMIT : INDEX_BY_TRIGGER;
  if (schema_version >= SCHEMA_SHARDED && !load_search_shards (self->writer_conn, error))
    return FALSE;
  self->epoch = ensure_epoch (self->writer_conn, error);
  if (self->epoch == NULL)
    return FALSE;

  /* Readers open only now: the file is in WAL mode and at the current schema. */
  for (guint i = 0; i < N_READERS; i++)
    {
      self->readers[i].conn = conn_open (path, TRUE, durability, busy_timeout_ms, error);
      if (self->readers[i].conn == NULL)
        return FALSE;
      self->readers[i].conn->sharded = self->writer_conn->sharded;
    }

  self->checkpoint_conn = conn_open (path, FALSE, durability, busy_timeout_ms, error);
  if (self->checkpoint_conn == NULL)
    return FALSE;
  /* PASSIVE checkpoints never wait; TRUNCATE ones wait TRUNCATE_BUSY_MS at most. */
  sqlite3_busy_timeout (self->checkpoint_conn->db, 0);
  self->checkpointer = g_thread_try_new ("natter-store-c", checkpointer_thread, self, error);
  if (self->checkpointer == NULL)
    return FALSE;
  /* Replaces SQLite's automatic checkpoints on the writer's connection. */
  sqlite3_wal_hook (self->writer_conn->db, wal_hook_cb, self);

  self->writer = g_thread_try_new ("natter-store-w", writer_thread, self, error);
  if (self->writer == NULL)
    return FALSE;
  for (guint i = 0; i < N_READERS; i++)
    {
      self->readers[i].store = self;
      self->readers[i].thread = g_thread_try_new ("natter-store-r", reader_thread,
                                                  &self->readers[i], error);
      if (self->readers[i].thread == NULL)
        return FALSE;
    }

  return TRUE;
}

/**
 * natter_store_sqlite_get_latest_schema_version:
 *
 * Returns: the schema version natter_store_sqlite_new() migrates a database to
 */
guint
natter_store_sqlite_get_latest_schema_version (void)
{
  return G_N_ELEMENTS (migrations);
}

/**
 * natter_store_sqlite_new_full:
 * @path: the database file; created, with its directory, if missing
 * @durability: how hard a commit syncs
 * @schema_version: migrate up to this version; 0 for the latest
 * @busy_timeout_ms: how long to wait for another process's lock
 * @error: return location for a #GError
 *
 * Like natter_store_sqlite_new(), with the knobs the tests need.
 *
 * Returns: (transfer full): the store, or %NULL with @error set
 */
NatterStore *
natter_store_sqlite_new_full (const char *path, NatterDurability durability,
                              guint schema_version, guint busy_timeout_ms, GError **error)
{
  g_autoptr(NatterStoreSqlite) self = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (schema_version <= G_N_ELEMENTS (migrations), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (NATTER_TYPE_STORE_SQLITE, NULL);
  if (!natter_store_sqlite_open (self, path, durability,
                                 schema_version == 0 ? G_N_ELEMENTS (migrations) : schema_version,
                                 busy_timeout_ms, error))
    return NULL;
  return NATTER_STORE (g_steal_pointer (&self));
}

/**
 * natter_store_sqlite_new:
 * @path: the database file; created, with its directory, if missing
 * @durability: %NATTER_DURABILITY_NORMAL survives a killed process,
 *   %NATTER_DURABILITY_FULL also a power loss
 * @error: return location for a #GError
 *
 * Opens (or creates) the database, migrates it to the current schema and starts the
 * writer and reader threads. This blocks, and is meant for start-up; every operation on
 * the store after it is asynchronous.
 *
 * Returns: (transfer full): the store, or %NULL with @error set
 */
NatterStore *
natter_store_sqlite_new (const char *path, NatterDurability durability, GError **error)
{
  return natter_store_sqlite_new_full (path, durability, 0, BUSY_TIMEOUT_MS, error);
}

/**
 * natter_store_sqlite_query_plans:
 * @path: a database file that natterd has opened once (so at the newest schema)
 * @error: return location for a #GError
 *
 * How SQLite plans each statement of the store on @path, so that a test can find the one
 * that scans a table per call where it should look a row up: a slow login or send does
 * not fail a test, it only makes a busy server slow.
 *
 * Returns: (transfer full) (element-type utf8): for each statement its SQL, then its plan
 *   (one line per step, as `EXPLAIN QUERY PLAN` gives them), alternating; %NULL on error
 */
GPtrArray *
natter_store_sqlite_query_plans (const char *path, GError **error)
{
  g_autoptr(Conn) conn = conn_open (path, TRUE, NATTER_DURABILITY_NORMAL, BUSY_TIMEOUT_MS,
                                    error);
  g_autoptr(GPtrArray) plans = g_ptr_array_new_with_free_func (g_free);

  if (conn == NULL)
    return NULL;
  for (guint i = 0; i < N_STMTS; i++)
    {
      g_autofree char *explain = g_strconcat ("EXPLAIN QUERY PLAN ", stmt_sql[i], NULL);
      g_autoptr(GString) plan = g_string_new (NULL);
      sqlite3_stmt *stmt = NULL;
      int rc = sqlite3_prepare_v2 (conn->db, explain, -1, &stmt, NULL);

      /* The one search index of schemas 2-8 is gone once the file is sharded. */
      if (rc != SQLITE_OK && strstr (stmt_sql[i], "messages_fts ") != NULL)
        continue;
      if (rc == SQLITE_OK)
        while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
          g_string_append_printf (plan, "%s\n", (const char *) sqlite3_column_text (stmt, 3));
      if (rc != SQLITE_DONE)
        {
          set_db_error (error, conn->db, rc);
          g_prefix_error (error, "Cannot explain \"%s\": ", stmt_sql[i]);
          sqlite3_finalize (stmt);
          return NULL;
        }
      sqlite3_finalize (stmt);
      g_ptr_array_add (plans, g_strdup (stmt_sql[i]));
      g_ptr_array_add (plans, g_string_free (g_steal_pointer (&plan), FALSE));
    }
  return g_steal_pointer (&plans);
}

/**
 * natter_store_sqlite_backup:
 * @path: the database file of a store, in use by a running natterd or not
 * @dest: a file that does not exist yet
 * @error: return location for a #GError
 *
 * Copies the database with SQLite's online backup API, in one step: one read
 * transaction, so the copy is the database as it was when the step began, while the
 * server goes on writing (in WAL mode a reader holds no writer back). Everything
 * committed before the call is in the copy. The copy is written beside @dest first and
 * renamed into place only when complete, so @dest is never half a database. Blocks:
 * for the command line, not for a main loop that serves.
 *
 * Returns: %TRUE if @dest holds the copy
 */
gboolean
natter_store_sqlite_backup (const char *path, const char *dest, GError **error)
{
  g_autofree char *partial = g_strconcat (dest, ".partial", NULL);
  sqlite3 *source = NULL;
  sqlite3 *target = NULL;
  sqlite3_backup *backup;
  int rc;

  g_return_val_if_fail (path != NULL && dest != NULL, FALSE);

  if (g_file_test (dest, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, NATTER_ERROR, NATTER_ERROR_CONFLICT,
                   "%s exists already; back up to a new file", dest);
      return FALSE;
    }
  rc = sqlite3_open_v2 (path, &source, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_busy_timeout (source, BUSY_TIMEOUT_MS);
      g_unlink (partial);
      rc = sqlite3_open_v2 (partial, &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    }
  if (rc != SQLITE_OK)
    {
      set_db_error (error, target != NULL ? target : source, rc);
      g_prefix_error (error, "Cannot open %s: ", target != NULL ? partial : path);
      sqlite3_close (target);
      sqlite3_close (source);
      return FALSE;
    }

  backup = sqlite3_backup_init (target, "main", source, "main");
  if (backup == NULL)
    {
      set_db_error (error, target, sqlite3_errcode (target));
      sqlite3_close (target);
      sqlite3_close (source);
      g_unlink (partial);
      return FALSE;
    }
  /* -1: every page in one step, under one read transaction of the source. */
  rc = sqlite3_backup_step (backup, -1);
  sqlite3_backup_finish (backup);
  if (rc != SQLITE_DONE)
    {
      set_db_error (error, target, rc);
      g_prefix_error (error, "Cannot copy %s: ", path);
      sqlite3_close (target);
      sqlite3_close (source);
      g_unlink (partial);
      return FALSE;
    }
  rc = sqlite3_close (target);
  sqlite3_close (source);
  if (rc != SQLITE_OK || g_rename (partial, dest) != 0)
    {
      int errsv = errno;

      g_set_error (error, NATTER_ERROR, NATTER_ERROR_UNAVAILABLE, "Cannot write %s: %s",
                   dest, g_strerror (errsv));
      g_unlink (partial);
      return FALSE;
    }
  return TRUE;
}
