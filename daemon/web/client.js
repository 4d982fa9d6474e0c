// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The chat model of the page: session, rooms, messages, positions and the outbox, kept in
// step with natterd over a Connection. The UI listens to its events and never talks to the
// socket itself.
//
// Resume. `pos` of a room is the highest seq up to which this page has every message. It is
// kept in localStorage per server, together with the session token and the store epoch.
// After (re)connecting the page logs in with the token and sends `join {room, since_seq: pos}`
// for each of its rooms; the server answers `joined` and replays what was missed. Messages
// are kept in a map by seq, so one that comes twice (live and in a replay) is stored once.
// A gap, or `has_more`, is filled with `history {after_seq: pos}` pages.
//
// Outbox. Every message the user writes goes into a persisted outbox first, with a
// client_msg_id made here. It is sent when the connection is online and removed when the
// server's `sent` (or the message itself) comes back. After a reconnect the outbox is sent
// again with the same client_msg_id, and the server's idempotency turns a retry of a message
// that had already been stored into the original `sent`.

import { Connection, NatterError } from './connection.js';
import { applyChanges, changeFields, findMentions } from './message-state.js';

export const USER_NAME_RE = /^[a-z0-9_.-]{1,32}$/;
export const ROOM_NAME_RE = /^[a-z0-9_.-]{1,64}$/;

const HISTORY_PAGE = 50;
const FILL_PAGE = 200;
// A frame this big can never be accepted; keeping it would only get the socket closed
// with 1009 again and again.
const MAX_FRAME_BYTES = 60000;
const TYPING_EXPIRY_MS = 8000;
const POSITIONS_SAVE_DELAY_MS = 250;
const LOGOUT_TIMEOUT_MS = 5000;

// The reasons natterd gives when it closes a connection with 1008 because its session was
// ended (docs/protocol.md, "Accounts and sessions"), mapped to why the page signed out.
// Reconnecting with the token would only be refused, so the page stops and says why.
const SESSION_ENDED = new Map([
  ['logged out', 'logged-out'],
  ['session revoked', 'revoked'],
  ['password changed', 'password-changed'],
  ['account disabled', 'disabled'],
  ['account deleted', 'deleted'],
]);

export function roomKind(name) {
  if (name === 'system')
    return 'system';
  return name.startsWith('dm:') ? 'dm' : 'room';
}

export function dmRoomName(a, b) {
  return 'dm:' + [a, b].sort().join(':');
}

/** The other party of a DM room `dm:A:B`, seen from @me. */
export function dmPeer(name, me) {
  const [a, b] = name.slice(3).split(':');
  return a === me ? b : a;
}

function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

class Store {
  #prefix;

  constructor(prefix) {
    this.#prefix = prefix;
  }

  get(key, fallback) {
    try {
      const text = localStorage.getItem(this.#prefix + key);
      return text === null ? fallback : JSON.parse(text);
    } catch {
      return fallback;
    }
  }

  set(key, value) {
    try {
      localStorage.setItem(this.#prefix + key, JSON.stringify(value));
    } catch {
      // Storage full or disabled: the page still works, it only forgets more on reload.
    }
  }

  remove(key) {
    try {
      localStorage.removeItem(this.#prefix + key);
    } catch {
      // As above.
    }
  }
}

export class Room {
  constructor(name, kind) {
    this.name = name;
    this.kind = kind || roomKind(name);
    this.topic = '';
    // Rooms people control: whether the room is private, the account's role, and the roles
    // of the other members (user → "owner" | "moderator"; anyone else is a "member").
    this.private = false;
    this.role = '';
    this.roles = new Map();
    this.lastSeq = 0;
    this.unread = 0;
    this.readSeq = 0;
    this.members = new Set();
    this.messages = new Map();
    this.oldest = null;
    this.pos = null;
    this.receipts = new Map();
    this.typing = new Map();
    this.draft = false;
    this.joined = false;
    this.notificationLevel = 'all';
    this.reachedStart = false;
    this.olderLoad = null;
    this.filling = null;
  }

  /** Whether a page of older messages is on its way. */
  get loadingOlder() {
    return this.olderLoad !== null;
  }

  get newest() {
    let newest = 0;
    for (const seq of this.messages.keys())
      newest = Math.max(newest, seq);
    return Math.max(newest, this.pos ?? 0);
  }

  get hasOlder() {
    if (this.draft || this.reachedStart)
      return false;
    const bottom = this.oldest ?? ((this.pos ?? this.lastSeq) + 1);
    return bottom > 1;
  }
}

export class ChatClient extends EventTarget {
  #store;
  #positions;
  #pendingAuth = null;
  #positionsTimer = 0;
  #roomsTimer;
  #readTimers = new Map();

  constructor(wsUrl) {
    super();
    this.conn = new Connection(wsUrl);
    // Everything is kept per server, so a page pointed at another server (?ws=) never
    // hands it this server's token.
    this.#store = new Store(`natter:${wsUrl}:`);
    this.session = this.#store.get('session', null);
    this.#positions = this.#store.get('positions', {});
    this.outbox = this.#store.get('outbox', []).map((entry) => ({ ...entry, inFlight: false }));
    this.rooms = new Map();
    this.online = new Set();
    // Set by the UI: whether the user is looking at the newest messages of a room.
    this.isReading = () => false;
    this.#roomsTimer = 0;
    if (this.session) {
      // The last known room list, so that a page loaded while the server is unreachable
      // still shows its conversations and can queue messages.
      for (const info of this.#store.get('rooms', []))
        this.#applyInfo(this.#ensureRoom(info.name, info.kind), info);
      for (const entry of this.outbox) {
        if (!this.rooms.has(entry.room))
          this.#ensureRoom(entry.room).draft = true;
      }
    }

    this.conn.addEventListener('open', () => this.#authenticate());
    this.conn.addEventListener('frame', (event) => this.#onFrame(event.detail));
    this.conn.addEventListener('close', (event) => this.#onClose(event.detail));
    this.conn.addEventListener('state', () => this.#emit('connection'));
    this.conn.addEventListener('retry-scheduled', () => this.#emit('connection'));
    addEventListener('pagehide', () => this.#savePositions());
  }

  get user() {
    return this.session?.user ?? null;
  }

  get isAdmin() {
    return Boolean(this.session?.admin);
  }

  get hasSession() {
    return Boolean(this.session?.token);
  }

  /** Reconnects with the stored token, if there is one. */
  start() {
    if (this.hasSession)
      this.conn.start();
  }

  /** Logs in (or registers) with a password; resolves once caught up, rejects with a NatterError. */
  logIn(user, password, create) {
    if (this.#pendingAuth)
      this.#pendingAuth.reject(new NatterError('cancelled'));
    return new Promise((resolve, reject) => {
      this.#pendingAuth = { op: create ? 'register' : 'login', user, password, resolve, reject };
      this.conn.stop();
      this.conn.start();
    });
  }

  /**
   * Logs out: asks the server to end this session (its token stops working everywhere),
   * then forgets everything here. Offline, or when the server does not answer in time, the
   * page forgets the token all the same, so nobody at this browser can use it again, and
   * reports `offline`: the server session then lasts until it expires or is revoked from
   * another device's account page. With `all`, every session of the account ends (the
   * others close with 1008). Resolves with `{offline}`.
   */
  async logOut({ all = false } = {}) {
    let offline = false;
    if (this.conn.state === 'online' || this.conn.state === 'syncing') {
      try {
        await this.conn.request('logout', all ? { all: true } : {}, LOGOUT_TIMEOUT_MS);
      } catch {
        offline = true;
      }
      // Ended meanwhile from elsewhere: that reason has been shown already.
      if (!this.session)
        return { offline: false };
    } else {
      offline = true;
    }
    this.conn.stop();
    this.#forget();
    this.#emit('logged-out', { reason: offline ? 'offline' : 'user' });
    return { offline };
  }

  #forget() {
    clearTimeout(this.#positionsTimer);
    clearTimeout(this.#roomsTimer);
    this.session = null;
    this.#positions = {};
    this.outbox = [];
    this.rooms.clear();
    this.online.clear();
    for (const key of ['session', 'positions', 'outbox', 'rooms', 'current'])
      this.#store.remove(key);
  }

  /** The room the user last looked at, remembered across reloads. */
  get currentRoom() {
    return this.#store.get('current', null);
  }

  set currentRoom(name) {
    this.#store.set('current', name);
  }

  #emit(type, detail) {
    if (type === 'rooms' && this.session) {
      clearTimeout(this.#roomsTimer);
      this.#roomsTimer = setTimeout(() => this.#saveRooms(), POSITIONS_SAVE_DELAY_MS);
    }
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #saveRooms() {
    if (!this.session)
      return;
    this.#store.set('rooms', [...this.rooms.values()].filter((room) => !room.draft).map((room) => ({
      name: room.name,
      kind: room.kind,
      topic: room.topic,
      last_seq: room.lastSeq,
      unread: room.unread,
      read_seq: room.readSeq,
      private: room.private,
      role: room.role,
      notification_level: room.notificationLevel,
    })));
  }

  async #authenticate() {
    const auth = this.#pendingAuth;
    let op;
    let body;
    if (auth) {
      op = auth.op;
      body = { user: auth.user, password: auth.password };
    } else if (this.session?.token) {
      op = 'login';
      body = { token: this.session.token };
    } else {
      this.conn.stop();
      return;
    }

    let reply;
    try {
      reply = await this.conn.request(op, body);
    } catch (error) {
      if (auth) {
        if (this.#pendingAuth === auth)
          this.#pendingAuth = null;
        this.conn.stop();
        auth.reject(error);
      } else if (error.code === 'unauthorized') {
        this.conn.stop();
        this.#forget();
        this.#emit('logged-out', { reason: 'expired' });
      } else if (error.code !== 'disconnected') {
        // unavailable, internal, timeout: the server may be starting or draining.
        this.conn.restart(4000, error.code);
      }
      return;
    }
    if (auth && this.#pendingAuth === auth)
      this.#pendingAuth = null;
    await this.#welcome(reply.body);
    auth?.resolve();
  }

  async #welcome(welcome) {
    const sameUser = this.session?.user === welcome.user;
    const epochChanged = sameUser && this.session.epoch && welcome.epoch &&
      this.session.epoch !== welcome.epoch;
    if (!sameUser || epochChanged) {
      // Positions (and, for another account, the outbox) mean nothing any more.
      this.#positions = {};
      this.rooms.clear();
      if (!sameUser)
        this.outbox = [];
      this.#savePositions();
      this.#saveOutbox();
      this.#emit('reset');
    }
    this.session = {
      user: welcome.user,
      token: welcome.token || this.session?.token,
      epoch: welcome.epoch ?? null,
      admin: Boolean(welcome.admin),
    };
    this.#store.set('session', this.session);

    const names = new Set();
    for (const info of welcome.rooms || []) {
      const room = this.#ensureRoom(info.name, info.kind);
      this.#applyInfo(room, info);
      names.add(info.name);
    }
    for (const [name, room] of this.rooms) {
      if (!names.has(name) && !room.draft)
        this.rooms.delete(name);
    }
    this.#emit('session');
    this.#emit('rooms');

    const conn = this.conn;
    const generation = conn.generation;
    await Promise.all([...names].map((name) => this.#join(name).catch((error) => {
      if (error.code !== 'disconnected')
        this.#emit('error', { error, context: 'join', room: name });
    })));
    if (conn.state !== 'syncing' || conn.generation !== generation)
      return;
    conn.markOnline();
    this.#flushOutbox();
  }

  #ensureRoom(name, kind) {
    let room = this.rooms.get(name);
    if (!room) {
      room = new Room(name, kind);
      room.pos = this.#positions[name] ?? null;
      this.rooms.set(name, room);
    }
    return room;
  }

  #applyInfo(room, info) {
    if (info.kind)
      room.kind = info.kind;
    room.topic = info.topic ?? room.topic;
    room.lastSeq = Math.max(room.lastSeq, info.last_seq ?? 0);
    room.readSeq = Math.max(room.readSeq, info.read_seq ?? 0);
    room.unread = this.isReading(room.name) ? 0 : (info.unread ?? 0);
    room.private = Boolean(info.private);
    room.role = info.role ?? room.role;
    room.notificationLevel = info.notification_level ?? room.notificationLevel;
  }

  // Joins (or re-joins) a room, replaying what was missed since `pos`.
  async #join(name) {
    const room = this.rooms.get(name);
    const since = room?.pos ?? null;
    const body = { room: name };
    if (since !== null)
      body.since_seq = since;
    const { body: joined } = await this.conn.request('join', body);
    this.#applyJoined(this.#ensureRoom(name, joined.kind), joined, since);
    if (joined.has_more)
      await this.#fill(this.rooms.get(name), joined.last_seq ?? 0);
  }

  #applyJoined(room, joined, since) {
    room.members = new Set(joined.members || []);
    for (const user of joined.online || [])
      this.online.add(user);
    if (joined.kind)
      room.kind = joined.kind;
    if (joined.topic !== undefined)
      room.topic = joined.topic;
    room.private = Boolean(joined.private);
    room.role = joined.role ?? '';
    room.roles = new Map([...(joined.owners || []).map((user) => [user, 'owner']),
      ...(joined.moderators || []).map((user) => [user, 'moderator'])]);
    room.notificationLevel = joined.notification_level ?? room.notificationLevel;
    room.joined = true;
    room.draft = false;
    if (room.pos === null) {
      // Without a position, everything up to now is history, loaded on scroll-back.
      room.pos = since ?? (joined.last_seq ?? 0);
      room.lastSeq = Math.max(room.lastSeq, room.pos);
      this.#advance(room);
    }
    this.#emit('rooms');
    this.#emit('members', room.name);
  }

  // Loads `history {after_seq: pos}` pages until pos reaches @target.
  #fill(room, target) {
    if (!room || room.pos === null)
      return Promise.resolve();
    if (room.filling)
      return room.filling.then(() => (room.pos < target ? this.#fill(room, target) : undefined));
    room.filling = (async () => {
      try {
        while (room.pos < target && this.rooms.get(room.name) === room) {
          const before = room.pos;
          const { body } = await this.conn.request('history',
            { room: room.name, after_seq: room.pos, limit: FILL_PAGE });
          this.#insert(room, body.messages || [], 'fill');
          if (room.pos === before)
            break;
        }
      } catch (error) {
        // Disconnected: the next sync resumes from pos.
      } finally {
        room.filling = null;
      }
    })();
    return room.filling;
  }

  // Stores messages not seen yet; returns the ones added.
  #insert(room, messages, source) {
    const added = [];
    for (const message of messages) {
      const seq = message.seq;
      if (!Number.isFinite(seq) || room.messages.has(seq))
        continue;
      const stored = {
        room: room.name,
        seq,
        ts: message.ts ?? 0,
        sender: message.sender ?? '',
        body: message.body ?? '',
        client_msg_id: message.client_msg_id ?? '',
        kind: message.kind || 'text',
        ...changeFields(message),
      };
      room.messages.set(seq, stored);
      if (room.oldest === null || seq < room.oldest)
        room.oldest = seq;
      if (seq === 1)
        room.reachedStart = true;
      if (stored.sender === this.user && stored.client_msg_id)
        this.#settle(stored.client_msg_id);
      added.push(stored);
    }
    if (added.length) {
      added.sort((a, b) => a.seq - b.seq);
      const changed = applyChanges(room, added);
      this.#advance(room);
      this.#emit('messages', { room: room.name, added, source });
      if (changed.length)
        this.#emit('changes', { room: room.name, seqs: changed });
    }
    return added;
  }

  #advance(room) {
    if (room.pos === null)
      return;
    const start = room.pos;
    while (room.messages.has(room.pos + 1))
      room.pos++;
    if (room.pos !== start || this.#positions[room.name] !== room.pos) {
      this.#positions[room.name] = room.pos;
      clearTimeout(this.#positionsTimer);
      this.#positionsTimer = setTimeout(() => this.#savePositions(), POSITIONS_SAVE_DELAY_MS);
    }
  }

  #savePositions() {
    clearTimeout(this.#positionsTimer);
    if (this.session)
      this.#store.set('positions', this.#positions);
  }

  #saveOutbox() {
    this.#store.set('outbox', this.outbox.map(({ inFlight, retryTimer, ...entry }) => entry));
  }

  #onFrame({ op, body }) {
    switch (op) {
    case 'message':
      this.#onMessage(body);
      break;
    case 'presence':
      if (body.online)
        this.online.add(body.user);
      else
        this.online.delete(body.user);
      this.#emit('presence', body.user);
      break;
    case 'member':
      this.#onMember(body);
      break;
    case 'typing':
      this.#onTyping(body);
      break;
    case 'receipt':
      this.#onReceipt(body);
      break;
    case 'invite':
      this.#emit('invite', body);
      break;
    case 'topic':
      this.#onTopic(body);
      break;
    case 'notification_level':
      if (this.rooms.has(body.room)) {
        this.rooms.get(body.room).notificationLevel = body.level;
        this.#emit('rooms');
      }
      break;
    case 'error':
      this.#emit('error', { error: new NatterError(body.code, body.message, body.retry_after_ms) });
      break;
    default:
      break;
    }
  }

  #onMessage(message) {
    if (!message.room)
      return;
    const known = this.rooms.has(message.room);
    const room = this.#ensureRoom(message.room);
    const fresh = message.seq > room.lastSeq;
    const added = this.#insert(room, [message], 'live');
    if (!added.length)
      return;
    if (room.typing.has(message.sender)) {
      clearTimeout(room.typing.get(message.sender));
      room.typing.delete(message.sender);
      this.#emit('typing', room.name);
    }
    if (fresh) {
      room.lastSeq = message.seq;
      if (message.sender !== this.user && !this.isReading(room.name))
        room.unread++;
    }
    this.#emit('rooms');
    if (!known) {
      // A DM someone else started, or a room joined from another page.
      this.#join(room.name).catch(() => {});
    } else if (room.pos !== null && room.pos < message.seq) {
      this.#fill(room, message.seq);
    }
  }

  #onMember({ room: name, user, joined, role, by, banned }) {
    const known = this.rooms.get(name);
    if (known && joined && role) {
      if (role === 'member')
        known.roles.delete(user);
      else
        known.roles.set(user, role);
      if (user === this.user)
        known.role = role;
    } else if (known && !joined) {
      known.roles.delete(user);
    }
    if (user === this.user) {
      if (joined && !this.rooms.has(name)) {
        this.#ensureRoom(name);
        this.#join(name).catch(() => {});
      } else if (!joined && this.rooms.has(name)) {
        this.rooms.delete(name);
        delete this.#positions[name];
        this.#savePositions();
        // Kicked or banned: the last frame of the room this page gets.
        if (by)
          this.#emit('removed', { room: name, by, banned: Boolean(banned) });
      }
      this.#emit('rooms');
      this.#emit('members', name);
      return;
    }
    const room = this.rooms.get(name);
    if (!room)
      return;
    if (joined) {
      room.members.add(user);
      // Joining takes a live session, and presence events only flow between people who
      // share a room: until now nobody told this page whether the newcomer is online. (A
      // role change, which carries a role, says nothing about that.)
      if (!role)
        this.online.add(user);
    } else {
      room.members.delete(user);
    }
    this.#emit('members', name);
    this.#emit('presence', user);
  }

  #onTopic({ room: name, topic, by }) {
    const room = this.rooms.get(name);
    if (!room)
      return;
    room.topic = topic ?? '';
    this.#emit('rooms');
    this.#emit('topic', { room: name, topic: room.topic, by });
  }

  #onTyping({ room: name, user, active }) {
    const room = this.rooms.get(name);
    if (!room || user === this.user)
      return;
    clearTimeout(room.typing.get(user));
    if (active) {
      room.typing.set(user, setTimeout(() => {
        room.typing.delete(user);
        this.#emit('typing', name);
      }, TYPING_EXPIRY_MS));
    } else {
      room.typing.delete(user);
    }
    this.#emit('typing', name);
  }

  #onReceipt({ room: name, user, seq }) {
    const room = this.rooms.get(name);
    if (!room)
      return;
    if (user === this.user) {
      // Read on another page of the same account.
      room.readSeq = Math.max(room.readSeq, seq);
      if (room.readSeq >= room.lastSeq)
        room.unread = 0;
      this.#emit('rooms');
      return;
    }
    room.receipts.set(user, Math.max(seq, room.receipts.get(user) ?? 0));
    this.#emit('receipts', name);
  }

  #onClose({ code, reason }) {
    if (code === 1008 && SESSION_ENDED.has(reason) && this.session) {
      this.#endSession(SESSION_ENDED.get(reason));
      return;
    }
    // Presence is unknown while disconnected; `joined.online` refills it after the resume.
    this.online.clear();
    this.#emit('presence');
    const poisoned = code === 1009 || code === 1008;
    for (const entry of this.outbox) {
      if (entry.inFlight && poisoned) {
        entry.closes = (entry.closes || 0) + 1;
        if (entry.closes >= 3) {
          entry.state = 'failed';
          entry.error = 'too_large';
        }
      }
    }
    this.#emit('outbox');
  }

  // The server ended this session: stop reconnecting and forget it, saying why.
  #endSession(reason) {
    this.conn.stop();
    this.#forget();
    this.#emit('logged-out', { reason });
  }

  // ---- The account ----------------------------------------------------------------------

  /** The account's signed-in sessions, oldest first. */
  async sessions() {
    const { body } = await this.conn.request('sessions');
    return body.sessions || [];
  }

  /** Ends the session @id; ending this page's own logs it out (the server closes with 1008). */
  async revokeSession(id, current) {
    await this.conn.request('revoke', { session: id });
    if (current)
      this.#endSession('revoked-here');
  }

  /** Changes the password; every other session of the account ends. */
  async changePassword(oldPassword, newPassword) {
    await this.conn.request('password', { old: oldPassword, new: newPassword });
  }

  /** Deletes the account; the page is logged out once the server says it is gone. */
  async deleteAccount(password) {
    await this.conn.request('delete_account', { password });
    // The server closes this connection with 1008 right after `ok`; not waiting for it
    // keeps the page from using a dead token should that close be lost.
    this.#endSession('deleted');
  }

  /** Administrators: the accounts whose names contain @query, by name. */
  async adminUsers(query) {
    const body = { limit: 100 };
    if (query)
      body.query = query;
    const { body: list } = await this.conn.request('admin_users', body);
    return list.users || [];
  }

  /** Administrators: disables (ending every session of) or enables @user. */
  async adminSetDisabled(user, disabled) {
    await this.conn.request(disabled ? 'admin_disable' : 'admin_enable', { user });
  }

  // ---- Actions of the user --------------------------------------------------------------

  /** Joins or creates a public room; resolves with its name. */
  async joinRoom(name) {
    const { body: joined } = await this.conn.request('join', { room: name });
    const room = this.#ensureRoom(joined.room || name, joined.kind);
    room.lastSeq = Math.max(room.lastSeq, joined.last_seq ?? 0);
    this.#applyJoined(room, joined, null);
    return room.name;
  }

  /** Creates a room (public or private, with a topic) owned by the user; resolves with its name. */
  async createRoom(name, { private: isPrivate = false, topic = '' } = {}) {
    const body = { room: name, private: isPrivate };
    if (topic)
      body.topic = topic;
    const { body: joined } = await this.conn.request('create', body);
    const room = this.#ensureRoom(joined.room || name, joined.kind);
    room.lastSeq = Math.max(room.lastSeq, joined.last_seq ?? 0);
    this.#applyJoined(room, joined, null);
    return room.name;
  }

  async leaveRoom(name) {
    await this.conn.request('leave', { room: name });
    this.rooms.delete(name);
    delete this.#positions[name];
    this.#savePositions();
    this.#emit('rooms');
  }

  /** Opens the DM with @user, as a draft until its first message; returns the room name. */
  openDm(user) {
    const name = dmRoomName(this.user, user);
    if (!this.rooms.has(name)) {
      const room = this.#ensureRoom(name, 'dm');
      room.draft = true;
      room.pos = null;
      room.members = new Set([this.user, user]);
      this.#emit('rooms');
    }
    return name;
  }

  /** Queues a message; it goes out now if online, else after reconnecting. */
  send(roomName, body, { replyTo } = {}) {
    const room = this.rooms.get(roomName);
    if (!room)
      throw new NatterError('not_found');
    const entry = { cid: newClientMsgId(), room: roomName, body, ts: Date.now(), state: 'queued' };
    if (replyTo && room.kind !== 'system')
      entry.reply_to = replyTo;
    if (room.kind === 'system')
      entry.broadcast = true;
    else if (room.kind === 'dm')
      entry.to = dmPeer(roomName, this.user);
    if (new TextEncoder().encode(JSON.stringify(this.#frameOf(entry))).length > MAX_FRAME_BYTES)
      throw new NatterError('too_large');
    this.outbox.push(entry);
    this.#saveOutbox();
    this.#emit('outbox', roomName);
    if (this.conn.state === 'online')
      this.#deliver(entry);
    return entry;
  }

  retry(cid) {
    const entry = this.outbox.find((e) => e.cid === cid);
    if (!entry)
      return;
    entry.state = 'queued';
    entry.error = null;
    entry.closes = 0;
    this.#saveOutbox();
    this.#emit('outbox', entry.room);
    if (this.conn.state === 'online')
      this.#deliver(entry);
  }

  discard(cid) {
    const entry = this.outbox.find((e) => e.cid === cid);
    if (!entry || entry.inFlight)
      return;
    this.#settle(cid);
  }

  #frameOf(entry) {
    if (entry.broadcast)
      return { op: 'broadcast', body: { body: entry.body, client_msg_id: entry.cid } };
    const send = entry.to ? { to: entry.to } : { room: entry.room };
    Object.assign(send, { body: entry.body, client_msg_id: entry.cid });
    if (entry.reply_to)
      send.reply_to = entry.reply_to;
    return { op: 'send', body: send };
  }

  #flushOutbox() {
    for (const entry of this.outbox) {
      if (entry.state !== 'failed')
        this.#deliver(entry);
    }
  }

  async #deliver(entry) {
    if (entry.inFlight)
      return;
    clearTimeout(entry.retryTimer);
    entry.inFlight = true;
    entry.state = 'sending';
    this.#emit('outbox', entry.room);
    const { op, body } = this.#frameOf(entry);
    let sent;
    try {
      ({ body: sent } = await this.conn.request(op, body));
    } catch (error) {
      entry.inFlight = false;
      if (!this.outbox.includes(entry))
        return;
      if (entry.state === 'failed') {
        // Marked by #onClose.
      } else if (['disconnected', 'timeout', 'unavailable'].includes(error.code)) {
        entry.state = 'queued';
      } else if (error.code === 'rate_limited') {
        entry.state = 'queued';
        entry.retryTimer = setTimeout(() => {
          if (this.conn.state === 'online' && this.outbox.includes(entry))
            this.#deliver(entry);
        }, Math.max(250, error.retryAfterMs ?? 1000));
        this.#emit('error', { error, context: 'send', room: entry.room });
      } else {
        entry.state = 'failed';
        entry.error = error.code;
        this.#emit('error', { error, context: 'send', room: entry.room });
      }
      this.#saveOutbox();
      this.#emit('outbox', entry.room);
      return;
    }
    entry.inFlight = false;
    this.#settle(entry.cid);
    const room = this.#ensureRoom(sent.room || entry.room);
    const wasDraft = room.draft;
    if (sent.seq > room.lastSeq)
      room.lastSeq = sent.seq;
    this.#insert(room, [{
      seq: sent.seq,
      ts: sent.ts,
      sender: this.user,
      body: entry.body,
      client_msg_id: entry.cid,
      kind: entry.broadcast ? 'broadcast' : 'text',
      reply_to: entry.reply_to,
      mentions: findMentions(entry.body, room.members),
    }], 'sent');
    if (wasDraft || !room.joined)
      this.#join(room.name).catch(() => {});
  }

  // The message of @cid is stored on the server: it leaves the outbox.
  #settle(cid) {
    const index = this.outbox.findIndex((e) => e.cid === cid);
    if (index < 0)
      return;
    const [entry] = this.outbox.splice(index, 1);
    clearTimeout(entry.retryTimer);
    this.#saveOutbox();
    this.#emit('outbox', entry.room);
  }

  /**
   * Edits, deletes or reacts to message @seq of @name (@op `edit`, `delete` or `react`,
   * @fields its other fields); resolves once stored, with the change applied here. These
   * need the connection: unlike a new message, a change waits in no outbox, so it never
   * lands on a message that changed meanwhile.
   */
  async changeMessage(name, op, seq, fields = {}) {
    const room = this.rooms.get(name);
    if (!room)
      throw new NatterError('not_found');
    if (this.conn.state !== 'online')
      throw new NatterError('disconnected');
    const cid = newClientMsgId();
    const { body: sent } = await this.conn.request(op, { room: name, seq, ...fields, client_msg_id: cid });
    const change = {
      seq: sent.seq, ts: sent.ts, sender: this.user, client_msg_id: cid, target_seq: seq,
      kind: op === 'react' ? 'reaction' : op, body: op === 'react' ? fields.emoji : (fields.body ?? ''),
    };
    if (op === 'react')
      change.active = fields.active !== false;
    if (op === 'edit')
      change.mentions = findMentions(fields.body, room.members);
    if (sent.seq > room.lastSeq)
      room.lastSeq = sent.seq;
    this.#insert(room, [change], 'sent');
  }

  /** Sets how @name notifies: `all`, `mentions` or `none`; other pages of the account follow. */
  async setNotificationLevel(name, level) {
    await this.conn.request('set_notification_level', { room: name, level });
    const room = this.rooms.get(name);
    if (room) {
      room.notificationLevel = level;
      this.#emit('rooms');
    }
  }

  /**
   * Loads a page of older messages of @name; resolves with whether any were added. A call
   * while a page is on its way gets that page's answer instead of asking again, so that
   * a search result's jump waits for the page the room's first opening asked for.
   */
  loadOlder(name, limit = HISTORY_PAGE) {
    const room = this.rooms.get(name);
    if (room?.olderLoad)
      return room.olderLoad;
    if (!room || !room.hasOlder)
      return Promise.resolve(false);
    room.olderLoad = this.#fetchOlder(room, limit).finally(() => {
      room.olderLoad = null;
      this.#emit('loading', name);
    });
    this.#emit('loading', name);
    return room.olderLoad;
  }

  async #fetchOlder(room, limit) {
    const before = room.oldest ?? ((room.pos ?? room.lastSeq) + 1);
    try {
      const { body } = await this.conn.request('history', { room: room.name, before_seq: before, limit });
      const messages = body.messages || [];
      if (!messages.length || body.has_more === false)
        room.reachedStart = true;
      return this.#insert(room, messages, 'older').length > 0;
    } catch (error) {
      if (error.code !== 'disconnected')
        this.#emit('error', { error, context: 'history', room: room.name });
      return false;
    }
  }

  /** Loads older pages until @seq is there; resolves with whether it is. */
  async reveal(name, seq) {
    const room = this.rooms.get(name);
    while (room && !room.messages.has(seq) && room.hasOlder && (room.oldest ?? Infinity) > seq) {
      if (!await this.loadOlder(name, FILL_PAGE))
        break;
    }
    return Boolean(room?.messages.has(seq));
  }

  async search(query, room) {
    const body = { query, limit: 50 };
    if (room)
      body.room = room;
    const { body: results } = await this.conn.request('search', body);
    return results.messages || [];
  }

  setTyping(name, active) {
    const room = this.rooms.get(name);
    if (room && !room.draft && room.kind !== 'system')
      this.conn.notify('typing', { room: name, active });
  }

  /** Marks everything shown in @name as read, sending `read` (coalesced) to the server. */
  markRead(name) {
    const room = this.rooms.get(name);
    if (!room || room.draft)
      return;
    const newest = room.newest;
    if (room.unread) {
      room.unread = 0;
      this.#emit('rooms');
    }
    if (newest <= room.readSeq || this.#readTimers.has(name))
      return;
    this.#readTimers.set(name, setTimeout(() => {
      this.#readTimers.delete(name);
      const seq = room.newest;
      if (seq <= room.readSeq || this.conn.state !== 'online')
        return;
      room.readSeq = seq;
      this.conn.request('read', { room: name, seq }).catch(() => {
        room.readSeq = 0;
      });
    }, 300));
  }
}
