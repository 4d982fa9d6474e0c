// SPDX-License-Identifier: LGPL-2.1-or-later
//
// What people do to messages on the page: each message's menu (reply, react, edit, delete),
// editing the last message with Up, the reply being written, reactions, "edited" and the
// tombstone of a deleted message, @mentions (highlighted, completed with Tab) and the room's
// notification level. The state of messages comes from ChatClient (message-state.js applies
// the changes); this module only renders it and calls the client.

import { languageTag, t } from './i18n.js';
import { isChange, lastEditable, mentionSpans } from './message-state.js';

const $ = (id) => document.getElementById(id);
const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];
const MAX_EMOJI_BYTES = 32;
const QUOTE_CHARS = 140;
const LEVELS = ['all', 'mentions', 'none'];
const MENTION_TAIL_RE = /(^|[^a-z0-9_.@-])@([a-z0-9_.-]*)$/;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false)
      continue;
    if (key === 'class')
      node.className = value;
    else if (key === 'text')
      node.textContent = value;
    else if (key.startsWith('on'))
      node.addEventListener(key.slice(2), value);
    else if (key === 'dataset')
      Object.assign(node.dataset, value);
    else
      node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS('http://www.w3.org/2000/svg', 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

function excerpt(text) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > QUOTE_CHARS ? `${line.slice(0, QUOTE_CHARS - 1)}…` : line;
}

/**
 * A popup menu under @anchor, as GTK's: arrow keys move, Home/End jump, Escape (or Tab, or
 * a click elsewhere) closes and gives the focus back to @anchor.
 */
class PopupMenu {
  #node = null;
  #anchor = null;
  #onDocument = (event) => {
    if (this.#node && !this.#node.contains(event.target) && !this.#anchor?.contains(event.target))
      this.close(false);
  };

  get isOpen() {
    return this.#node !== null;
  }

  open(anchor, label, children) {
    this.close(false);
    this.#anchor = anchor;
    const menu = el('div', { class: 'popup-menu', role: 'menu', 'aria-label': label }, ...children);
    menu.addEventListener('keydown', (event) => this.#onKey(event));
    menu.addEventListener('click', (event) => {
      if (event.target.closest('[role^="menuitem"]'))
        this.close(true);
    }, true);
    document.body.append(menu);
    this.#node = menu;
    anchor.setAttribute('aria-expanded', 'true');
    this.#place();
    this.#items()[0]?.focus();
    document.addEventListener('pointerdown', this.#onDocument, true);
  }

  close(restoreFocus = true) {
    if (!this.#node)
      return;
    document.removeEventListener('pointerdown', this.#onDocument, true);
    this.#node.remove();
    this.#node = null;
    const anchor = this.#anchor;
    this.#anchor = null;
    anchor?.setAttribute('aria-expanded', 'false');
    if (restoreFocus && anchor?.isConnected)
      anchor.focus();
  }

  #items() {
    return [...this.#node.querySelectorAll('[role^="menuitem"]')];
  }

  #place() {
    const box = this.#anchor.getBoundingClientRect();
    const menu = this.#node;
    const width = menu.offsetWidth;
    const height = menu.offsetHeight;
    let left = Math.min(box.left, innerWidth - width - 8);
    left = Math.max(8, left);
    let top = box.bottom + 4;
    if (top + height > innerHeight - 8)
      top = Math.max(8, box.top - height - 4);
    menu.style.left = `${left}px`;
    menu.style.top = `${top}px`;
  }

  #onKey(event) {
    const items = this.#items();
    const at = items.indexOf(document.activeElement);
    let next = null;
    switch (event.key) {
    case 'ArrowDown':
    case 'ArrowRight':
      next = items[(at + 1) % items.length];
      break;
    case 'ArrowUp':
    case 'ArrowLeft':
      next = items[(at - 1 + items.length) % items.length];
      break;
    case 'Home':
      next = items[0];
      break;
    case 'End':
      next = items[items.length - 1];
      break;
    case 'Escape':
      event.preventDefault();
      event.stopPropagation();
      this.close(true);
      return;
    case 'Tab':
      event.preventDefault();
      this.close(true);
      return;
    default:
      return;
    }
    event.preventDefault();
    next?.focus();
  }
}

export class MessageActions {
  /**
   * @app: the page (app.js's App), for its nodes, toasts and jumps. @linkify renders text
   * with its links.
   */
  constructor(app, { linkify }) {
    this.app = app;
    this.client = app.client;
    this.linkify = linkify;
    this.menu = new PopupMenu();
    this.editing = null;
    this.replying = null;
    this.savedDraft = '';
    this.completion = null;
    this.pendingDelete = null;
    this.pendingReact = null;
    this.timeFormat = new Intl.DateTimeFormat(languageTag(), { dateStyle: 'full', timeStyle: 'short' });
    this.listFormat = new Intl.ListFormat(languageTag(), { type: 'conjunction' });

    this.client.addEventListener('changes', (event) => this.update(event.detail));
    // A reply shown before its original was loaded quotes it once it is.
    this.client.addEventListener('messages', ({ detail }) =>
      this.update({ room: detail.room, seqs: detail.added.map((message) => message.seq), quotesOnly: true }));
    this.client.addEventListener('rooms', () => this.renderNotify());
    $('composer-context-cancel').addEventListener('click', () => {
      this.cancelContext();
      $('composer-input').focus();
    });
    $('message-delete-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.confirmDelete();
    });
    $('message-delete-dialog').addEventListener('close', () => {
      const pending = this.pendingDelete;
      this.pendingDelete = null;
      if (pending)
        this.focusMessage(pending.room, pending.seq);
    });
    $('react-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitReaction();
    });
    $('react-dialog').addEventListener('close', () => {
      const pending = this.pendingReact;
      this.pendingReact = null;
      if (pending)
        this.focusMessage(pending.room, pending.seq);
    });
    $('notify-button').addEventListener('click', () => this.openNotifyMenu());
  }

  get room() {
    return this.app.current ? this.client.rooms.get(this.app.current) : null;
  }

  /** Whether @message is one the timeline shows (a change is shown on its target). */
  shows(message) {
    return !isChange(message);
  }

  /**
   * Whether a new message from someone else is announced, by the room's notification level
   * (docs/protocol.md, "Notification levels": at `mentions`, direct messages still are).
   */
  announces(message) {
    const room = this.client.rooms.get(message.room);
    const level = room?.notificationLevel ?? 'all';
    if (level === 'none')
      return false;
    return level === 'all' || room.kind === 'dm' || (message.mentions ?? []).includes(this.client.user);
  }

  mayDelete(room, message) {
    if (message.sender === this.client.user)
      return true;
    return this.client.isAdmin || room.role === 'owner' || room.role === 'moderator';
  }

  // ---- Rendering ------------------------------------------------------------------------

  /** The body of @message: its text with links, and its @mentions marked. */
  renderBody(message) {
    const text = message.body;
    const mentioned = new Set(message.mentions ?? []);
    const fragment = document.createDocumentFragment();
    let last = 0;
    for (const span of mentionSpans(text)) {
      if (!mentioned.has(span.user))
        continue;
      fragment.append(this.linkify(text.slice(last, span.start)));
      const me = span.user === this.client.user;
      fragment.append(el('span', { class: me ? 'mention mention-self' : 'mention', text: text.slice(span.start, span.end) }));
      last = span.end;
    }
    fragment.append(this.linkify(text.slice(last)));
    return fragment;
  }

  /** Adds to @node (a message just built by the page) what changes and replies show. */
  decorate(node, message) {
    const room = this.client.rooms.get(message.room);
    const content = node.querySelector('.message-content');
    const body = content.querySelector('.body');
    if (message.kind === 'deleted') {
      node.classList.add('deleted');
      body.replaceWith(el('div', { class: 'tombstone', text: t('message_deleted') }));
      return;
    }
    body.replaceChildren(this.renderBody(message));
    if ((message.mentions ?? []).includes(this.client.user) && message.sender !== this.client.user)
      node.classList.add('mentions-me');
    if (message.reply_to) {
      node.dataset.replyTo = String(message.reply_to);
      body.before(this.quote(room, message.reply_to));
    }
    const main = el('div', { class: 'message-main' });
    body.replaceWith(main);
    main.append(body);
    if (room && this.menuItems(room, message).length) {
      main.append(el('button', {
        type: 'button',
        class: 'icon-button message-menu-button',
        'aria-haspopup': 'menu',
        'aria-expanded': 'false',
        'aria-label': t('message_menu', { user: message.sender }),
        title: t('message_menu_title'),
        onclick: (event) => this.openMenu(event.currentTarget, message),
      }, icon('more')));
    }
    const footer = [];
    if (message.edited_ts) {
      footer.push(el('span', {
        class: 'edited',
        title: t('edited_at', { time: this.timeFormat.format(new Date(message.edited_ts)) }),
        text: t('edited'),
      }));
    }
    if (message.reactions?.length)
      footer.push(this.reactionChips(room, message));
    if (footer.length)
      content.append(el('div', { class: 'message-footer' }, ...footer));
  }

  quote(room, seq) {
    const original = room?.messages.get(seq);
    let who = null;
    let text;
    if (!original)
      text = t('reply_not_loaded');
    else if (original.kind === 'deleted')
      text = t('message_deleted');
    else {
      who = original.sender;
      text = excerpt(original.body);
    }
    const label = who ? t('reply_quote_label', { user: who, text }) : t('reply_quote_label_unknown', { text });
    return el('button', {
      type: 'button',
      class: 'reply-quote',
      'aria-label': label,
      title: t('reply_jump'),
      dataset: { seq: String(seq) },
      onclick: () => this.app.jumpTo(room.name, seq),
    }, icon('reply'),
    who ? el('span', { class: 'reply-sender', text: who }) : null,
    el('span', { class: 'reply-text', text }));
  }

  reactionChips(room, message) {
    const me = this.client.user;
    return el('div', { class: 'reactions' }, ...message.reactions.map(({ emoji, users }) => {
      const mine = users.includes(me);
      const names = this.listFormat.format(users);
      return el('button', {
        type: 'button',
        class: 'reaction',
        'aria-pressed': String(mine),
        'aria-label': t(mine ? 'reaction_label_mine' : 'reaction_label', { emoji, count: users.length, users: names }),
        title: t('reacted_by', { emoji, users: names }),
        dataset: { emoji },
        onclick: () => this.react(room.name, message.seq, emoji, !mine),
      }, el('span', { class: 'reaction-emoji', text: emoji }),
      el('span', { class: 'reaction-count', text: String(users.length) }));
    }));
  }

  /** Shows the new state of the messages @seqs of @room, and of the replies quoting them. */
  update({ room: name, seqs, quotesOnly = false }) {
    if (name !== this.app.current)
      return;
    const room = this.client.rooms.get(name);
    const redo = new Set(quotesOnly ? [] : seqs);
    for (const seq of seqs) {
      for (const node of document.querySelectorAll(`#message-list li[data-reply-to="${seq}"]`))
        redo.add(Number(node.dataset.seq));
    }
    let receipts = false;
    for (const seq of redo) {
      const old = this.app.nodes.get(seq);
      const message = room.messages.get(seq);
      if (!old || !message)
        continue;
      const active = document.activeElement;
      const focus = old.contains(active)
        ? (active === old ? 'node' : active.classList.contains('reaction') ? `reaction:${active.dataset.emoji}` : 'menu')
        : null;
      const node = this.app.messageNode(message);
      node.className = old.className;
      node.classList.toggle('deleted', message.kind === 'deleted');
      node.classList.toggle('mentions-me', (message.mentions ?? []).includes(this.client.user) &&
        message.sender !== this.client.user);
      if (old.dataset.day)
        node.dataset.day = old.dataset.day;
      receipts ||= Boolean(old.querySelector('.receipts'));
      old.replaceWith(node);
      this.app.nodes.set(seq, node);
      if (focus === 'node')
        node.focus({ preventScroll: true });
      else if (focus?.startsWith('reaction:'))
        (node.querySelector(`.reaction[data-emoji="${CSS.escape(focus.slice(9))}"]`) ??
          node.querySelector('.message-menu-button') ?? node).focus({ preventScroll: true });
      else if (focus)
        (node.querySelector('.message-menu-button') ?? node).focus({ preventScroll: true });
    }
    if (receipts)
      this.app.renderReceipts();
    if (this.editing && room.messages.get(this.editing.seq)?.kind === 'deleted' && this.editing.room === name)
      this.cancelContext();
  }

  focusMessage(name, seq) {
    if (name !== this.app.current)
      return;
    const node = this.app.nodes.get(seq);
    (node?.querySelector('.message-menu-button') ?? node ?? $('composer-input')).focus();
  }

  // ---- The message menu -----------------------------------------------------------------

  menuItems(room, message) {
    const items = [];
    const writable = room.kind !== 'system';
    if (message.kind === 'deleted')
      return items;
    if (writable)
      items.push({ label: t('reply'), icon: 'reply', run: () => this.startReply(message) });
    if (message.sender === this.client.user && message.kind === 'text')
      items.push({ label: t('edit'), icon: 'edit', run: () => this.startEdit(message) });
    if (this.mayDelete(room, message))
      items.push({ label: t('delete'), icon: 'delete', destructive: true, run: () => this.askDelete(message) });
    if (writable)
      items.push({ reactions: true });
    return items;
  }

  openMenu(anchor, message) {
    const room = this.client.rooms.get(message.room);
    if (!room)
      return;
    const rows = [];
    for (const item of this.menuItems(room, message)) {
      if (item.reactions) {
        rows.push(el('div', { class: 'menu-reactions', role: 'group', 'aria-label': t('react') },
          ...QUICK_REACTIONS.map((emoji) => el('button', {
            type: 'button', role: 'menuitem', class: 'menu-emoji', tabindex: '-1',
            'aria-label': t('react_with', { emoji }), title: t('react_with', { emoji }), text: emoji,
            onclick: () => this.react(room.name, message.seq, emoji, true),
          })),
          el('button', {
            type: 'button', role: 'menuitem', class: 'menu-emoji', tabindex: '-1',
            'aria-label': t('react_other'), title: t('react_other'),
            onclick: () => this.askReaction(message),
          }, icon('add'))));
        continue;
      }
      rows.push(el('button', {
        type: 'button', role: 'menuitem', tabindex: '-1',
        class: item.destructive ? 'menu-item destructive' : 'menu-item',
        onclick: item.run,
      }, icon(item.icon), el('span', { text: item.label })));
    }
    this.menu.open(anchor, t('message_menu', { user: message.sender }), rows);
  }

  // ---- Reply and edit in the composer ---------------------------------------------------

  startReply(message) {
    this.cancelContext(false);
    this.replying = { room: message.room, seq: message.seq };
    this.showContext(t('replying_to', { user: message.sender, text: excerpt(message.body) }));
    $('composer-input').focus();
  }

  startEdit(message) {
    const input = $('composer-input');
    this.cancelContext(false);
    this.savedDraft = input.value;
    this.editing = { room: message.room, seq: message.seq, body: message.body };
    this.showContext(t('editing_message'));
    input.value = message.body;
    this.app.autoGrow();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  showContext(text) {
    $('composer-context-text').textContent = text;
    $('composer-context').hidden = false;
    $('composer').classList.toggle('editing', Boolean(this.editing));
  }

  /** Leaves edit or reply mode; the draft from before an edit comes back. */
  cancelContext(restore = true) {
    const wasEditing = this.editing;
    this.editing = null;
    this.replying = null;
    $('composer-context').hidden = true;
    $('composer').classList.remove('editing');
    if (wasEditing && restore) {
      $('composer-input').value = this.savedDraft;
      this.app.autoGrow();
    }
    this.savedDraft = '';
  }

  /** The page opened another room (or none). */
  roomShown() {
    this.menu.close(false);
    this.cancelContext(false);
    this.completion = null;
    this.renderNotify();
  }

  /** Options for ChatClient.send() of the message being written: the reply, if any. */
  sendOptions() {
    const replying = this.replying;
    if (!replying || replying.room !== this.app.current)
      return {};
    return { replyTo: replying.seq };
  }

  /**
   * Takes the composer's text when it is an edit; returns whether it was one. The box then
   * holds again what was typed before the edit began.
   */
  submitEdit(body) {
    const editing = this.editing;
    if (!editing)
      return false;
    if (editing.room !== this.app.current) {
      this.cancelContext(false);
      return false;
    }
    const message = this.client.rooms.get(editing.room)?.messages.get(editing.seq);
    this.cancelContext(true);
    if (!body) {
      if (message)
        this.askDelete(message);
      return true;
    }
    if (body !== editing.body) {
      this.client.changeMessage(editing.room, 'edit', editing.seq, { body })
        .catch((error) => this.app.toast(t('edit_failed', { reason: this.app.errorText(error) })));
    }
    return true;
  }

  /** Keys in the composer: Up edits the last message, Tab completes, Escape cancels. */
  onComposerKey(event) {
    const input = event.currentTarget;
    if (event.key !== 'Tab')
      this.completion = null;
    if (event.key === 'ArrowUp' && !input.value && !event.shiftKey && !event.altKey &&
        !event.ctrlKey && !event.metaKey && !this.editing) {
      const room = this.room;
      const message = room && room.kind !== 'system' && lastEditable(room, this.client.user);
      if (!message)
        return false;
      event.preventDefault();
      this.startEdit(message);
      return true;
    }
    if (event.key === 'Escape' && (this.editing || this.replying)) {
      event.preventDefault();
      event.stopPropagation();
      this.cancelContext();
      return true;
    }
    if (event.key === 'Tab' && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey)
      return this.complete(event, input);
    return false;
  }

  // Completes the `@name` before the caret from the room's members; Tab again takes the next.
  complete(event, input) {
    const room = this.room;
    if (!room || input.selectionStart !== input.selectionEnd)
      return false;
    const caret = input.selectionStart;
    let state = this.completion;
    if (!state || state.value !== input.value || state.caret !== caret) {
      const match = input.value.slice(0, caret).match(MENTION_TAIL_RE);
      if (!match)
        return false;
      const prefix = match[2];
      const candidates = [...room.members]
        .filter((user) => user !== this.client.user && user.startsWith(prefix))
        .sort();
      if (!candidates.length)
        return false;
      state = { start: caret - prefix.length, end: caret, candidates, index: -1 };
    }
    event.preventDefault();
    state.index = (state.index + 1) % state.candidates.length;
    const name = state.candidates[state.index];
    const after = input.value.slice(state.end);
    const insert = after.startsWith(' ') ? name : `${name} `;
    input.value = input.value.slice(0, state.start) + insert + after;
    const end = state.start + insert.length;
    const caretAt = after.startsWith(' ') ? end + 1 : end;
    input.setSelectionRange(caretAt, caretAt);
    state.end = end;
    state.value = input.value;
    state.caret = caretAt;
    this.completion = state;
    this.app.autoGrow();
    $('announcer').textContent = state.candidates.length > 1
      ? t('completed_many', { user: name, index: state.index + 1, count: state.candidates.length })
      : t('completed_one', { user: name });
    return true;
  }

  // ---- Delete ---------------------------------------------------------------------------

  askDelete(message) {
    this.pendingDelete = { room: message.room, seq: message.seq };
    const own = message.sender === this.client.user;
    $('message-delete-text').textContent = own
      ? t('delete_message_text')
      : t('delete_message_other_text', { user: message.sender });
    $('message-delete-quote').textContent = excerpt(message.body);
    $('message-delete-error').textContent = '';
    $('message-delete-dialog').showModal();
    $('message-delete-cancel').focus();
  }

  async confirmDelete() {
    const pending = this.pendingDelete;
    if (!pending)
      return;
    const button = $('message-delete-submit');
    button.disabled = true;
    try {
      await this.client.changeMessage(pending.room, 'delete', pending.seq);
    } catch (error) {
      $('message-delete-error').textContent = this.app.errorText(error);
      return;
    } finally {
      button.disabled = false;
    }
    $('message-delete-dialog').close();
  }

  // ---- Reactions ------------------------------------------------------------------------

  react(name, seq, emoji, active) {
    this.client.changeMessage(name, 'react', seq, { emoji, active })
      .catch((error) => this.app.toast(t('react_failed', { reason: this.app.errorText(error) })));
  }

  askReaction(message) {
    this.pendingReact = { room: message.room, seq: message.seq };
    const input = $('react-input');
    input.value = '';
    input.removeAttribute('aria-invalid');
    $('react-error').textContent = '';
    $('react-dialog').showModal();
    input.focus();
  }

  async submitReaction() {
    const pending = this.pendingReact;
    const input = $('react-input');
    const emoji = input.value.trim();
    const bytes = new TextEncoder().encode(emoji).length;
    input.removeAttribute('aria-invalid');
    if (!pending)
      return;
    if (!emoji || bytes > MAX_EMOJI_BYTES) {
      $('react-error').textContent = t(emoji ? 'error_reaction_long' : 'error_reaction_empty');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    try {
      await this.client.changeMessage(pending.room, 'react', pending.seq, { emoji, active: true });
    } catch (error) {
      $('react-error').textContent = this.app.errorText(error);
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    $('react-dialog').close();
  }

  // ---- Notification level ---------------------------------------------------------------

  renderNotify() {
    const button = $('notify-button');
    const room = this.room;
    button.hidden = !room || room.draft;
    if (button.hidden) {
      this.menu.close(false);
      return;
    }
    const level = LEVELS.includes(room.notificationLevel) ? room.notificationLevel : 'all';
    button.dataset.level = level;
    button.title = t('notify_title', { level: t(`notify_${level}`) });
    button.replaceChildren(icon(level === 'none' ? 'bell-off' : 'bell'));
  }

  openNotifyMenu() {
    const room = this.room;
    if (!room)
      return;
    const anchor = $('notify-button');
    const current = room.notificationLevel ?? 'all';
    this.menu.open(anchor, t('notifications'), LEVELS.map((level) => el('button', {
      type: 'button', role: 'menuitemradio', tabindex: '-1', class: 'menu-item',
      'aria-checked': String(level === current),
      dataset: { level },
      onclick: () => this.setLevel(room.name, level),
    }, el('span', { class: 'menu-check', 'aria-hidden': 'true', text: level === current ? '✓' : '' }),
    el('span', { class: 'menu-text' },
      el('span', { text: t(`notify_${level}`) }),
      el('span', { class: 'menu-detail', text: t(`notify_${level}_detail`) })))));
  }

  async setLevel(name, level) {
    try {
      await this.client.setNotificationLevel(name, level);
    } catch (error) {
      this.app.toast(t('notify_failed', { reason: this.app.errorText(error) }));
    }
  }
}
