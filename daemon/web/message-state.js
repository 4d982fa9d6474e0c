// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The current state of messages that were edited, deleted or reacted to (docs/protocol.md,
// "Message changes"). A change is a room message of its own, with a seq and a `target_seq`;
// ChatClient stores it like any other (so positions and resume stay gapless) and this module
// applies it to its target.
//
// A message arrives either as sent (live) or as the server's snapshot of it now (a history
// page, or a resume replay, which reads the store). Either way it is its `base`, and its
// `horizon` is the highest seq of the batch it came in: every change up to the horizon is in
// the base, and a change after it may or may not be. The state shown is the base with every
// change after the horizon applied in seq order. That is exact whichever of those later
// changes the base already holds, because each kind of change is idempotent in that order:
// the last edit sets the body, a deletion is final, and for each (emoji, user) the last
// reaction says whether it is on. So changes that arrive before their target (a page of
// older messages loaded after them) or out of order (a gap filled later) end in the
// server's state.

export const CHANGE_KINDS = new Set(['edit', 'delete', 'reaction']);
const MENTIONING_KINDS = new Set(['text', 'edit', 'broadcast']);

// A name is the longest run of name characters after "@", without trailing dots; "a@b" is
// not a mention (docs/protocol.md, "Mentions").
const MENTION_RE = /(^|[^a-z0-9_.@-])@([a-z0-9_.-]+)/g;

export function isChange(message) {
  return CHANGE_KINDS.has(message.kind);
}

/** Where in @text each `@name` is: `[{start, end, user}]`, the user without trailing dots. */
export function mentionSpans(text) {
  const spans = [];
  for (const match of text.matchAll(MENTION_RE)) {
    const user = match[2].replace(/\.+$/, '');
    if (!user)
      continue;
    const start = match.index + match[1].length;
    spans.push({ start, end: start + 1 + user.length, user });
  }
  return spans;
}

/** The members of @members named in @body, each once, as the server finds them. */
export function findMentions(body, members) {
  const found = [];
  for (const { user } of mentionSpans(body)) {
    if (members.has(user) && !found.includes(user))
      found.push(user);
  }
  return found;
}

/** The fields of a wire message the page keeps besides seq, ts, sender, body and kind. */
export function changeFields(message) {
  const fields = {
    mentions: Array.isArray(message.mentions) ? [...message.mentions] : null,
    reactions: (message.reactions || []).map(({ emoji, users }) => ({ emoji, users: [...(users || [])] })),
  };
  if (message.reply_to)
    fields.reply_to = message.reply_to;
  if (message.target_seq)
    fields.target_seq = message.target_seq;
  if (message.edited_ts)
    fields.edited_ts = message.edited_ts;
  if (message.kind === 'reaction')
    fields.active = message.active !== false;
  return fields;
}

function changesOf(room) {
  if (!room.changes)
    room.changes = new Map();
  return room.changes;
}

// The target's shown state: its base with the changes after its horizon, in seq order.
function recompute(room, target) {
  const base = target.base;
  let { body, kind, mentions } = base;
  let editedTs = base.edited_ts ?? null;
  const reactions = new Map(base.reactions.map(({ emoji, users }) => [emoji, new Set(users)]));
  for (const change of changesOf(room).get(target.seq) ?? []) {
    if (change.seq <= target.horizon)
      continue;
    if (kind === 'deleted')
      break;
    if (change.kind === 'edit') {
      body = change.body;
      editedTs = change.ts;
      mentions = change.mentions;
    } else if (change.kind === 'delete') {
      kind = 'deleted';
      body = '';
      editedTs = null;
      mentions = [];
      reactions.clear();
    } else if (change.kind === 'reaction' && change.body) {
      const users = reactions.get(change.body) ?? new Set();
      if (change.active)
        users.add(change.sender);
      else
        users.delete(change.sender);
      if (users.size)
        reactions.set(change.body, users);
      else
        reactions.delete(change.body);
    }
  }
  target.body = body;
  target.kind = kind;
  target.mentions = mentions;
  target.edited_ts = editedTs;
  target.reactions = [...reactions].map(([emoji, users]) => ({ emoji, users: [...users] }));
}

/**
 * Brings the state of @room's messages up to date after @added (just stored, in seq order)
 * came. Returns the seqs of messages stored before this batch whose state changed.
 */
export function applyChanges(room, added) {
  const horizon = added.length ? added[added.length - 1].seq : 0;
  const fresh = new Set();
  const touched = new Set();
  const changes = changesOf(room);
  for (const message of added) {
    // A replayed message may come without the mentions the server finds (the members of
    // the room are the same here).
    if (message.mentions === null)
      message.mentions = MENTIONING_KINDS.has(message.kind) ? findMentions(message.body, room.members) : [];
    if (isChange(message)) {
      const list = changes.get(message.target_seq) ?? [];
      let at = list.length;
      while (at > 0 && list[at - 1].seq > message.seq)
        at--;
      list.splice(at, 0, message);
      changes.set(message.target_seq, list);
      touched.add(message.target_seq);
    } else {
      message.base = {
        body: message.body,
        kind: message.kind,
        mentions: message.mentions,
        edited_ts: message.edited_ts ?? null,
        reactions: message.reactions,
      };
      message.horizon = horizon;
      fresh.add(message.seq);
      touched.add(message.seq);
    }
  }
  const updated = [];
  for (const seq of touched) {
    const target = room.messages.get(seq);
    if (!target || !target.base)
      continue;
    recompute(room, target);
    if (!fresh.has(seq))
      updated.push(seq);
  }
  return updated;
}

/** The newest message of @user in @room that can still be edited, or null. */
export function lastEditable(room, user) {
  let best = null;
  for (const message of room.messages.values()) {
    if (message.sender === user && message.kind === 'text' && (!best || message.seq > best.seq))
      best = message;
  }
  return best;
}
