// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Moderation in a room's timeline: kicks, bans, unbans, role and topic changes shown as quiet
// one-line entries between the messages, by time (docs/protocol.md, "Moderation log").
//
// They are not messages: they have no seq, are never counted as unread and never move a
// position. They come two ways. Live, from `member {joined: false, by}` (a kick or a ban),
// `member {joined: true, role, by}` and `topic {by}`, which carry no time: such an entry is
// placed after the newest message the page had when it came (`after`). And from the room's
// log (`moderation_log`), read for the time the loaded messages span: from the oldest loaded
// message to now, and further back as older messages load. A log event is unique by its `ts`;
// it takes the place of a live entry saying the same thing (kind, user, by, role, topic) that
// came after a message older than it, so an event is shown once however it arrived.

import { t } from './i18n.js';

const LOG_PAGE = 100;
const REFRESH_PAGE = 20;
// How far the log's clock may be behind the clock of the messages (both are server clocks,
// possibly of different nodes) when a log event is matched to a live entry.
const CLOCK_SLACK_MS = 5000;

function sameEvent(a, b) {
  return a.kind === b.kind && a.user === b.user && a.by === b.by &&
    (a.kind !== 'role' || a.role === b.role) && (a.kind !== 'topic' || (a.topic ?? '') === (b.topic ?? ''));
}

/** The entry's text, e.g. "bob was removed by alice: spam". */
export function moderationText({ kind, user, by, reason, role, topic }) {
  switch (kind) {
  case 'kick':
    return reason ? t('mod_kick_reason', { user, by, reason }) : t('mod_kick', { user, by });
  case 'ban':
    return reason ? t('mod_ban_reason', { user, by, reason }) : t('mod_ban', { user, by });
  case 'unban':
    return t('mod_unban', { user, by });
  case 'role':
    return t(role === 'owner' ? 'mod_role_owner' : role === 'moderator' ? 'mod_role_moderator' : 'mod_role_member',
      { user, by });
  case 'topic':
    return topic ? t('mod_topic', { user, topic }) : t('mod_topic_cleared', { user });
  default:
    return '';
  }
}

class RoomLog {
  constructor() {
    this.entries = [];       // every entry known, log and live
    this.byTs = new Set();   // the ts of every log event held
    this.from = Infinity;    // every log event with ts >= from is held
    this.done = false;       // the log's start is held
    this.loading = null;
  }
}

export class ModerationTimeline {
  /** @app: the page (app.js), for its client, current room, message nodes and grouping. */
  constructor(app, { el }) {
    this.app = app;
    this.client = app.client;
    this.el = el;
    this.logs = new Map();
    this.nodes = new Map(); // entry → node, for the room shown
    this.client.conn.addEventListener('frame', (event) => this.onFrame(event.detail));
    this.client.conn.addEventListener('state', () => {
      if (this.client.conn.state === 'online')
        this.catchUp();
    });
    const forget = () => {
      this.logs.clear();
      this.nodes.clear();
    };
    this.client.addEventListener('session', forget);
    this.client.addEventListener('logged-out', forget);
  }

  #log(name) {
    if (!this.logs.has(name))
      this.logs.set(name, new RoomLog());
    return this.logs.get(name);
  }

  onFrame({ op, body }) {
    if (!body?.room || !body.by)
      return;
    const room = this.client.rooms.get(body.room);
    if (!room || room.kind !== 'room')
      return;
    let entry;
    if (op === 'member' && !body.joined)
      entry = { kind: body.banned ? 'ban' : 'kick', user: body.user, by: body.by };
    else if (op === 'member' && body.role)
      entry = { kind: 'role', user: body.user, by: body.by, role: body.role };
    else if (op === 'topic')
      entry = { kind: 'topic', user: body.by, by: body.by, topic: body.topic || undefined };
    else
      return;
    const log = this.#log(body.room);
    const after = room.messages.get(room.newest)?.ts ?? 0;
    // After the newest message and after any entry already there.
    const last = log.entries.reduce((max, other) => Math.max(max, other.ts), 0);
    Object.assign(entry, { live: true, after, ts: Math.max(after, last) + 0.001 });
    // The log may already hold it (read after the event was stored, before it arrived).
    const known = log.entries.find((other) => !other.live && !other.claimed &&
      other.ts >= after - CLOCK_SLACK_MS && sameEvent(other, entry));
    if (known) {
      known.claimed = true;
      return;
    }
    log.entries.push(entry);
    if (body.room === this.app.current)
      this.#show(entry);
    // The live event has no time and no reason: the log's newest end has both.
    this.#refresh(body.room, log);
  }

  #refresh(name, log) {
    this.client.conn.request('moderation_log', { room: name, limit: REFRESH_PAGE }).then(({ body }) => {
      if (this.logs.get(name) !== log)
        return;
      this.#merge(log, body.events || []);
      if (name === this.app.current)
        this.render();
    }, () => {});
  }

  // Merges a page of the log; returns nothing.
  #merge(log, events) {
    for (const event of events) {
      if (!Number.isFinite(event.ts) || log.byTs.has(event.ts))
        continue;
      log.byTs.add(event.ts);
      const entry = {
        ts: event.ts, kind: event.kind, user: event.user ?? '', by: event.by ?? '',
        reason: event.reason, role: event.role, topic: event.topic,
      };
      const live = log.entries.find((other) => other.live &&
        other.after - CLOCK_SLACK_MS <= entry.ts && sameEvent(other, entry));
      if (live) {
        // The same event: the live entry takes the log's time and details.
        Object.assign(live, entry, { live: false, claimed: true });
        const node = this.nodes.get(live);
        if (node) {
          node.remove();
          this.nodes.delete(live);
        }
      } else {
        log.entries.push(entry);
      }
    }
  }

  async #fetch(name, log, lower) {
    try {
      while (!log.done && log.from > lower && this.client.rooms.has(name)) {
        const body = { room: name, limit: LOG_PAGE };
        if (Number.isFinite(log.from))
          body.before_ts = log.from;
        const { body: page } = await this.client.conn.request('moderation_log', body);
        if (this.logs.get(name) !== log)
          return;
        const events = page.events || [];
        this.#merge(log, events);
        if (events.length < LOG_PAGE) {
          log.done = true;
          log.from = -Infinity;
        } else {
          log.from = Math.min(log.from, events[0].ts);
        }
      }
    } catch (error) {
      // Disconnected, or a server without the log: the timeline shows what came live.
    }
  }

  // The oldest time the loaded messages of @room cover (0: from the room's start).
  #lower(room) {
    if (!room.hasOlder)
      return 0;
    let oldest = Infinity;
    for (const message of room.messages.values())
      oldest = Math.min(oldest, message.ts);
    return oldest;
  }

  /** Called by the page after messages of the room shown were added, and when a room is shown. */
  sync() {
    const name = this.app.current;
    const room = name && this.client.rooms.get(name);
    if (!room || room.kind !== 'room' || room.draft)
      return;
    const log = this.#log(name);
    const lower = this.#lower(room);
    if (lower < log.from && !log.done && !log.loading && lower !== Infinity) {
      log.loading = this.#fetch(name, log, lower).finally(() => {
        log.loading = null;
        if (this.app.current === name)
          this.sync();
      });
    }
    this.render();
  }

  /** The room shown changed: its list was emptied. */
  roomShown() {
    this.nodes.clear();
    this.sync();
  }

  // After a reconnect: what happened while away is at the log's newest end.
  catchUp() {
    for (const [name, log] of this.logs)
      this.#refresh(name, log);
  }

  render() {
    const name = this.app.current;
    const room = name && this.client.rooms.get(name);
    const log = name && this.logs.get(name);
    if (!room || !log)
      return;
    const lower = this.#lower(room);
    for (const entry of log.entries) {
      if (!this.nodes.has(entry) && (entry.live || entry.ts >= lower))
        this.#show(entry);
    }
  }

  // Puts @entry's line after everything in the list at or before its time.
  #show(entry) {
    const list = document.getElementById('message-list');
    const node = this.el('li', {
      class: 'moderation-event',
      dataset: { ts: String(entry.ts), moderation: entry.kind },
    }, this.el('span', { class: 'moderation-text', dir: 'auto', text: moderationText(entry) }));
    let before = null;
    for (let child = list.lastElementChild; child; child = child.previousElementSibling) {
      if (child.dataset.ts === undefined)
        continue;
      if (Number(child.dataset.ts) <= entry.ts)
        break;
      before = child;
    }
    list.insertBefore(node, before);
    this.nodes.set(entry, node);
    if (before?.dataset.seq)
      this.app.group(before);
  }
}
