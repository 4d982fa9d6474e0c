// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Rooms people control, on the page: creating a room (public or private, with a topic), the
// room directory in the join flow, invitations, the room's settings (topic, invite, unban),
// the member dialog (roles, kick, ban), blocking someone from a DM, and the message shown
// when the user is removed from a room. The wire ops are in docs/protocol.md, "Rooms people
// control"; the server decides every rule, the page only hides what the user's role cannot
// do and explains the server's refusals.

import { t } from './i18n.js';
import { ROOM_NAME_RE, USER_NAME_RE, dmPeer } from './client.js';

const $ = (id) => document.getElementById(id);
const DIRECTORY_LIMIT = 50;
const DIRECTORY_DELAY_MS = 300;
const MAX_TEXT_BYTES = 1024;
const ROLE_ORDER = { owner: 0, moderator: 1, member: 2 };

function bytes(text) {
  return new TextEncoder().encode(text).length;
}

function cleanUser(text) {
  return text.trim().toLowerCase().replace(/^@/, '');
}

/** The translated name of a room role. */
export function roleText(role) {
  return t(`role_${ROLE_ORDER[role] === undefined ? 'member' : role}`);
}

export class RoomsUI {
  /**
   * @app: the page (app.js), for its client, dialogs, toasts and errors; @dom: its element
   * helpers ({el, icon}).
   */
  constructor(app, { el, icon }) {
    this.app = app;
    this.client = app.client;
    this.el = el;
    this.icon = icon;
    this.memberUser = null;
    this.dialogRoom = null;
    this.directoryAsked = 0;
    this.directoryTimer = 0;
    this.user = this.client.user;
    this.inviteList = [];
    this.invitesAsked = 0;

    const on = (type, handler) => this.client.addEventListener(type, (event) => handler(event.detail));
    on('invite', (invite) => this.onInvite(invite));
    on('removed', (removal) => this.onRemoved(removal));
    on('topic', (change) => this.onTopic(change));
    on('session', () => {
      this.user = this.client.user;
      // Earlier versions of the page kept invitations here; the server has them now.
      this.#remove('invites');
      this.loadInvites();
    });
    on('rooms', () => this.onRooms());
    on('members', (room) => {
      if (room !== this.dialogRoom)
        return;
      if ($('member-dialog').open)
        this.renderMember();
      if ($('room-dialog').open)
        this.renderRights(this.client.rooms.get(room));
    });
    on('logged-out', () => {
      // Logging out forgets what the page kept for the account, as the client does.
      this.inviteList = [];
      this.invitesAsked++;
      this.user = null;
      this.renderInvites();
    });
    this.bind();
  }

  // ---- Per-account memory: blocks live only on this page -------------------------------
  // (The server does not list them. They are kept at log out, so that the account's
  // blocks still show after logging in again on this browser.)

  #key(what) {
    return `natter:${this.client.conn.url}:${what}:${this.user}`;
  }

  #remove(what) {
    try {
      localStorage.removeItem(this.#key(what));
    } catch {
      // As below.
    }
  }

  #load(what) {
    try {
      return JSON.parse(localStorage.getItem(this.#key(what)) ?? '[]');
    } catch {
      return [];
    }
  }

  #save(what, value) {
    try {
      localStorage.setItem(this.#key(what), JSON.stringify(value));
    } catch {
      // Storage full or disabled: forgotten on reload, nothing worse.
    }
  }

  get invites() {
    return this.inviteList;
  }

  set invites(list) {
    this.inviteList = list;
  }

  get blocked() {
    return new Set(this.user ? this.#load('blocked') : []);
  }

  set blocked(set) {
    this.#save('blocked', [...set]);
  }

  // ---- Who may do what ------------------------------------------------------------------

  canModerate(room) {
    return room?.kind === 'room' && (room.role === 'owner' || room.role === 'moderator' || this.client.isAdmin);
  }

  isOwner(room) {
    return room?.kind === 'room' && (room.role === 'owner' || this.client.isAdmin);
  }

  roleOf(room, user) {
    if (user === this.client.user && room.role)
      return room.role;
    return room.roles.get(user) ?? 'member';
  }

  /** Members sorted owners, moderators, members; online first within each, then by name. */
  sortMembers(room, online) {
    return [...room.members].sort((a, b) =>
      (ROLE_ORDER[this.roleOf(room, a)] - ROLE_ORDER[this.roleOf(room, b)]) ||
      Number(online.has(b)) - Number(online.has(a)) || a.localeCompare(b));
  }

  /** A tag naming @user's role in @room, or null for a plain member or outside rooms. */
  roleTag(room, user) {
    if (room.kind !== 'room')
      return null;
    const role = this.roleOf(room, user);
    return role === 'member' ? null : this.el('span', { class: `tag role-${role}`, text: roleText(role) });
  }

  // The server's refusal of @op, worded for what the user tried.
  actionError(op, error, { user = '', room = '' } = {}) {
    if (error.code === 'forbidden') {
      switch (op) {
      case 'invite':
        return t('error_invite_forbidden', { user });
      case 'set_role':
        return t('error_role_forbidden');
      case 'kick':
      case 'ban':
        return t('error_moderate_forbidden', { user });
      case 'unban':
      case 'set_topic':
        return t('error_moderators_only');
      case 'join':
        return t('error_join_forbidden', { room });
      case 'leave':
        return t('error_leave_last_owner', { room });
      default:
        break;
      }
    } else if (error.code === 'not_found') {
      if (['invite', 'unban', 'ban', 'block', 'unblock'].includes(op))
        return t('error_no_user', { user });
      if (['kick', 'set_role'].includes(op))
        return t('error_not_member', { user });
    } else if (error.code === 'conflict' && op === 'create') {
      return t('error_room_exists', { room });
    }
    return this.app.errorText(error);
  }

  announce(text) {
    $('announcer').textContent = text;
  }

  // ---- Binding ---------------------------------------------------------------------------

  bind() {
    for (const id of ['new-button', 'empty-new'])
      $(id).addEventListener('click', () => this.openDirectory());
    $('directory-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.loadDirectory();
    });
    $('directory-input').addEventListener('input', () => {
      clearTimeout(this.directoryTimer);
      this.directoryTimer = setTimeout(() => this.loadDirectory(), DIRECTORY_DELAY_MS);
    });
    $('create-open').addEventListener('click', () => this.openCreate());
    $('create-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitCreate();
    });

    $('room-settings-button').addEventListener('click', () => this.openRoomDialog('topic-input'));
    $('invite-button').addEventListener('click', () => this.openRoomDialog('invite-input'));
    $('topic-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitTopic();
    });
    $('invite-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitInvite();
    });
    $('unban-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitUnban();
    });

    $('member-dm').addEventListener('click', () => {
      const user = this.memberUser;
      $('member-dialog').close();
      this.app.showRoom(this.client.openDm(user), { focus: true });
    });
    $('role-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitRole();
    });
    $('moderate-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitModerate('kick');
    });
    $('kick-button').addEventListener('click', () => this.submitModerate('kick'));
    $('ban-button').addEventListener('click', () => this.submitModerate('ban'));
    $('block-button').addEventListener('click', () => this.toggleBlock());

    for (const id of ['room-dialog', 'member-dialog'])
      $(id).addEventListener('close', () => {
        this.dialogRoom = null;
        this.memberUser = null;
      });
  }

  // ---- Header, room list and members pane (called by app.js) ----------------------------

  /** The tags next to the room's title: private, and the user's role. */
  renderHeader(room) {
    const tags = $('room-tags');
    const settings = $('room-settings-button');
    if (!room || room.kind !== 'room') {
      tags.replaceChildren();
      settings.hidden = true;
      return;
    }
    const items = [];
    if (room.private)
      items.push(this.el('span', { class: 'tag private' }, this.icon('lock'), this.el('span', { text: t('room_private') })));
    if (room.role && room.role !== 'member')
      items.push(this.el('span', { class: `tag role-${room.role}`, text: roleText(room.role) }));
    tags.replaceChildren(...items);
    settings.hidden = false;
  }

  /** What a room's row in the list says besides its name, for screen readers. */
  rowExtras(room) {
    const extra = [];
    if (room.kind !== 'room')
      return extra;
    if (room.private)
      extra.push(t('room_private'));
    if (room.role && room.role !== 'member')
      extra.push(roleText(room.role));
    return extra;
  }

  /** The members pane's buttons: invite in rooms, block in DMs. */
  renderPane(room) {
    $('invite-button').hidden = room.kind !== 'room';
    const block = $('block-button');
    block.hidden = room.kind !== 'dm';
    if (room.kind !== 'dm') {
      $('block-status').textContent = '';
      return;
    }
    const peer = dmPeer(room.name, this.client.user);
    const blocked = this.blocked.has(peer);
    block.textContent = t(blocked ? 'unblock_user' : 'block_user', { user: peer });
    block.classList.toggle('destructive', !blocked);
    block.dataset.user = peer;
  }

  onRooms() {
    // An invitation is used up once its room is in the list (joined here or elsewhere).
    const invites = this.invites;
    const left = invites.filter((invite) => !this.client.rooms.get(invite.room)?.joined);
    if (left.length !== invites.length)
      this.invites = left;
    this.renderInvites();
    if (this.dialogRoom && !this.client.rooms.has(this.dialogRoom)) {
      $('room-dialog').close();
      $('member-dialog').close();
    }
  }

  // ---- Invitations -----------------------------------------------------------------------
  // The server keeps them: the list is read at every login (and reconnection), and live
  // `invite` events add to it.

  async loadInvites() {
    const asked = ++this.invitesAsked;
    let list;
    try {
      ({ body: { invitations: list = [] } } = await this.client.conn.request('invitations'));
    } catch (error) {
      if (asked === this.invitesAsked && error.code !== 'disconnected')
        this.app.toast(this.actionError('invitations', error, {}));
      return;
    }
    if (asked !== this.invitesAsked)
      return;
    this.invites = list.filter(({ room }) => !this.client.rooms.get(room)?.joined)
      .map(({ room, by }) => ({ room, by: by ?? '' }));
    this.renderInvites();
  }

  onInvite({ room, by }) {
    if (!room)
      return;
    this.invites = [...this.invites.filter((invite) => invite.room !== room), { room, by: by ?? '' }];
    this.renderInvites();
    this.app.toast(t('invite_toast', { user: by ?? '', room }));
  }

  renderInvites() {
    const invites = this.user ? this.invites : [];
    $('invites').hidden = invites.length === 0;
    $('invite-list').replaceChildren(...invites.map(({ room, by }) => this.el('li', { class: 'invite-row', dataset: { room } },
      this.el('span', { class: 'room-icon' }, this.icon('mail')),
      this.el('span', { class: 'invite-text' },
        this.el('span', { class: 'room-name', text: room }),
        this.el('span', { class: 'invite-by', text: t('invite_from', { user: by }) })),
      this.el('button', {
        type: 'button', class: 'button small suggested', text: t('invite_accept'),
        'aria-label': t('invite_accept_label', { room }),
        onclick: (event) => this.acceptInvite(room, event.currentTarget),
      }),
      this.el('button', {
        type: 'button', class: 'icon-button', title: t('invite_dismiss_label', { room }),
        'aria-label': t('invite_dismiss_label', { room }),
        onclick: (event) => this.dismissInvite(room, event.currentTarget),
      }, this.icon('close')))));
  }

  async acceptInvite(room, button) {
    button.disabled = true;
    try {
      await this.client.joinRoom(room);
    } catch (error) {
      button.disabled = false;
      this.app.toast(this.actionError('join', error, { room }));
      return;
    }
    // Joining used the invitation up.
    this.dropInvite(room);
    this.app.showRoom(room, { focus: true });
  }

  /** Declines the invitation on the server; one it no longer has is gone all the same. */
  async dismissInvite(room, button) {
    if (button)
      button.disabled = true;
    try {
      await this.client.conn.request('decline', { room });
    } catch (error) {
      if (error.code !== 'not_found') {
        if (button)
          button.disabled = false;
        this.app.toast(this.actionError('decline', error, { room }));
        return;
      }
    }
    this.dropInvite(room);
  }

  dropInvite(room) {
    this.invites = this.invites.filter((invite) => invite.room !== room);
    this.renderInvites();
    if (document.activeElement === document.body || !document.activeElement)
      $('new-button').focus();
  }

  // ---- Removed, topic --------------------------------------------------------------------

  onRemoved({ room, by, banned }) {
    this.invites = this.invites.filter((invite) => invite.room !== room);
    this.renderInvites();
    this.app.toast(t(banned ? 'banned_from_room' : 'removed_from_room', { room, user: by }));
    if (!this.app.current)
      $('chat-view').classList.remove('show-conversation');
  }

  onTopic({ room, topic, by }) {
    if (by && by !== this.client.user)
      this.announce(topic ? t('topic_changed', { user: by, room, topic }) : t('topic_cleared', { user: by, room }));
    if (room === this.dialogRoom && $('room-dialog').open && document.activeElement !== $('topic-input'))
      $('topic-input').value = topic;
  }

  // ---- Directory and create (the join flow) ---------------------------------------------

  openDirectory() {
    $('directory-input').value = '';
    $('directory-list').replaceChildren();
    this.loadDirectory();
  }

  async loadDirectory() {
    clearTimeout(this.directoryTimer);
    const query = $('directory-input').value.trim();
    const status = $('directory-status');
    const asked = ++this.directoryAsked;
    status.textContent = t('searching');
    const body = { limit: DIRECTORY_LIMIT };
    if (query)
      body.query = query;
    let rooms;
    try {
      ({ body: { rooms = [] } } = await this.client.conn.request('directory', body));
    } catch (error) {
      if (asked === this.directoryAsked)
        status.textContent = this.app.errorText(error);
      return;
    }
    if (asked !== this.directoryAsked)
      return;
    status.textContent = rooms.length ? t('directory_count', { count: rooms.length })
      : query ? t('directory_none_for', { query }) : t('directory_none');
    $('directory-list').replaceChildren(...rooms.map((room) => this.directoryRow(room)));
  }

  directoryRow({ name, topic, members }) {
    const member = Boolean(this.client.rooms.get(name)?.joined);
    return this.el('li', { class: 'account-row directory-row', dataset: { room: name } },
      this.el('span', { class: 'account-row-text' },
        this.el('span', { class: 'account-row-title' }, this.el('span', { text: name }),
          member ? this.el('span', { class: 'tag', text: t('directory_joined') }) : null),
        this.el('span', { class: 'account-row-detail', text: topic ?? '' }),
        this.el('span', { class: 'account-row-detail', text: t('directory_members', { count: members ?? 0 }) })),
      this.el('button', {
        type: 'button', class: `button small ${member ? '' : 'suggested'}`.trim(),
        text: t(member ? 'directory_open' : 'directory_join'),
        'aria-label': t(member ? 'directory_open_label' : 'directory_join_label', { room: name }),
        onclick: (event) => this.joinFromDirectory(name, event.currentTarget),
      }));
  }

  async joinFromDirectory(name, button) {
    button.disabled = true;
    try {
      await this.client.joinRoom(name);
    } catch (error) {
      button.disabled = false;
      $('directory-status').textContent = this.actionError('join', error, { room: name });
      return;
    }
    $('new-dialog').close();
    this.app.showRoom(name, { focus: true });
  }

  openCreate() {
    const typed = $('join-input').value.trim().toLowerCase().replace(/^#/, '');
    $('new-dialog').close();
    $('create-name').value = ROOM_NAME_RE.test(typed) ? typed : '';
    $('create-topic').value = '';
    $('create-private').checked = false;
    for (const input of $('create-form').querySelectorAll('[aria-invalid]'))
      input.removeAttribute('aria-invalid');
    this.app.openDialog('create-dialog', 'create-name');
  }

  async submitCreate() {
    const nameInput = $('create-name');
    const topicInput = $('create-topic');
    const error = $('create-error');
    const name = nameInput.value.trim().toLowerCase().replace(/^#/, '');
    const topic = topicInput.value.trim();
    nameInput.removeAttribute('aria-invalid');
    topicInput.removeAttribute('aria-invalid');
    const fault = !ROOM_NAME_RE.test(name) ? [nameInput, t('error_room_name')]
      : bytes(topic) > MAX_TEXT_BYTES ? [topicInput, t('error_topic_long')] : null;
    if (fault) {
      error.textContent = fault[1];
      fault[0].setAttribute('aria-invalid', 'true');
      fault[0].focus();
      return;
    }
    error.textContent = '';
    const button = $('create-submit');
    button.disabled = true;
    try {
      await this.client.createRoom(name, { private: $('create-private').checked, topic });
    } catch (failure) {
      error.textContent = this.actionError('create', failure, { room: name });
      nameInput.setAttribute('aria-invalid', 'true');
      nameInput.focus();
      return;
    } finally {
      button.disabled = false;
    }
    $('create-dialog').close();
    this.app.showRoom(name, { focus: true });
  }

  // ---- Room settings: topic, invite, unban -----------------------------------------------

  currentRoom() {
    const room = this.app.current && this.client.rooms.get(this.app.current);
    return room?.kind === 'room' ? room : null;
  }

  openRoomDialog(focusId) {
    const room = this.currentRoom();
    if (!room)
      return;
    this.dialogRoom = room.name;
    const moderator = this.canModerate(room);
    $('room-dialog-title').textContent = t('room_settings_title', { room: room.name });
    $('topic-input').value = room.topic;
    $('invite-hint').textContent = t(room.private ? 'invite_hint_private' : 'invite_hint_public');
    $('invite-input').value = '';
    $('unban-input').value = '';
    this.renderRights(room);
    for (const done of $('room-dialog').querySelectorAll('.form-done'))
      done.textContent = '';
    for (const input of $('room-dialog').querySelectorAll('[aria-invalid]'))
      input.removeAttribute('aria-invalid');
    this.fillSuggestions(room);
    this.app.openDialog('room-dialog', focusId === 'topic-input' && !moderator ? 'invite-input' : focusId);
  }

  /** What the room dialog offers for the user's role; kept current when the role changes. */
  renderRights(room) {
    if (!room)
      return;
    const moderator = this.canModerate(room);
    $('room-dialog-summary').textContent = t(room.private ? 'room_summary_private' : 'room_summary_public',
      { role: roleText(room.role) });
    $('topic-input').readOnly = !moderator;
    $('topic-submit').hidden = !moderator;
    $('topic-hint').textContent = t(moderator ? 'topic_hint' : 'topic_readonly');
    $('unban-form').hidden = !moderator;
  }

  /** Completion for the invite field: people the user shares a room with, not yet in @room. */
  fillSuggestions(room) {
    const people = new Set();
    for (const other of this.client.rooms.values()) {
      if (other.kind === 'system')
        continue;
      for (const user of other.members)
        people.add(user);
      if (other.kind === 'dm')
        people.add(dmPeer(other.name, this.client.user));
    }
    people.delete(this.client.user);
    for (const user of room.members)
      people.delete(user);
    $('invite-suggestions').replaceChildren(...[...people].sort().map((user) => this.el('option', { value: user })));
  }

  async runForm({ op, body, input, error, done, params, doneText, button }) {
    error.textContent = '';
    if (done)
      done.textContent = '';
    input?.removeAttribute('aria-invalid');
    if (button)
      button.disabled = true;
    try {
      await this.client.conn.request(op, body);
    } catch (failure) {
      error.textContent = this.actionError(op, failure, params);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
      return false;
    } finally {
      if (button)
        button.disabled = false;
    }
    if (done && doneText)
      done.textContent = doneText;
    return true;
  }

  userFrom(input, error) {
    const user = cleanUser(input.value);
    if (!USER_NAME_RE.test(user)) {
      error.textContent = t('error_user_name');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return null;
    }
    return user;
  }

  async submitTopic() {
    const room = this.dialogRoom;
    const input = $('topic-input');
    const topic = input.value.trim();
    if (bytes(topic) > MAX_TEXT_BYTES) {
      $('topic-error').textContent = t('error_topic_long');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    await this.runForm({
      op: 'set_topic', body: { room, topic }, input, error: $('topic-error'), done: $('topic-done'),
      params: { room }, doneText: t(topic ? 'topic_saved' : 'topic_removed'), button: $('topic-submit'),
    });
  }

  async submitInvite() {
    const room = this.dialogRoom;
    const input = $('invite-input');
    const user = this.userFrom(input, $('invite-error'));
    if (!user)
      return;
    if (await this.runForm({
      op: 'invite', body: { room, user }, input, error: $('invite-error'), done: $('invite-done'),
      params: { room, user }, doneText: t('invite_done', { user, room }),
    }))
      input.value = '';
  }

  async submitUnban() {
    const room = this.dialogRoom;
    const input = $('unban-input');
    const user = this.userFrom(input, $('unban-error'));
    if (!user)
      return;
    if (await this.runForm({
      op: 'unban', body: { room, user }, input, error: $('unban-error'), done: $('unban-done'),
      params: { room, user }, doneText: t('unban_done', { user, room }),
    }))
      input.value = '';
  }

  // ---- A member: role, kick, ban ---------------------------------------------------------

  openMember(user) {
    const room = this.currentRoom();
    if (!room)
      return;
    this.dialogRoom = room.name;
    this.memberUser = user;
    $('moderate-reason').value = '';
    this.renderMember();
    const self = user === this.client.user;
    const first = !$('role-form').hidden ? 'role-select' : !self ? 'member-dm' : 'member-dialog-title';
    this.app.openDialog('member-dialog', first);
  }

  renderMember() {
    const room = this.dialogRoom && this.client.rooms.get(this.dialogRoom);
    const user = this.memberUser;
    if (!room || !user)
      return;
    if (!room.members.has(user)) {
      $('member-dialog').close();
      return;
    }
    const self = user === this.client.user;
    const role = this.roleOf(room, user);
    $('member-dialog-title').textContent = self ? t('member_you', { user }) : user;
    $('member-dialog-title').tabIndex = -1;
    $('member-dialog-role').textContent = t('member_role_line', { role: roleText(role), room: room.name });
    $('member-dm').hidden = self;
    $('role-form').hidden = !this.isOwner(room);
    if (document.activeElement !== $('role-select'))
      $('role-select').value = role;
    // Moderators may not remove owners; owners (and administrators) may remove anyone but
    // the last owner, which the server refuses with its reason.
    $('moderate-form').hidden = self || !this.canModerate(room) ||
      (role === 'owner' && !this.isOwner(room));
  }

  async submitRole() {
    const room = this.dialogRoom;
    const user = this.memberUser;
    const role = $('role-select').value;
    if (await this.runForm({
      op: 'set_role', body: { room, user, role }, input: $('role-select'), error: $('role-error'),
      params: { room, user },
    })) {
      this.announce(t('role_done', { user, role: roleText(role) }));
      this.app.toast(t('role_done', { user, role: roleText(role) }));
    }
  }

  async submitModerate(op) {
    const room = this.dialogRoom;
    const user = this.memberUser;
    const reasonInput = $('moderate-reason');
    const reason = reasonInput.value.trim();
    if (bytes(reason) > MAX_TEXT_BYTES) {
      $('moderate-error').textContent = t('error_reason_long');
      reasonInput.setAttribute('aria-invalid', 'true');
      reasonInput.focus();
      return;
    }
    const body = { room, user };
    if (reason)
      body.reason = reason;
    if (!await this.runForm({
      op, body, input: null, error: $('moderate-error'), params: { room, user },
      button: $(op === 'kick' ? 'kick-button' : 'ban-button'),
    }))
      return;
    $('member-dialog').close();
    this.app.toast(t(op === 'kick' ? 'kick_done' : 'ban_done', { user, room }));
    // The member's row is gone with them: the focus goes back to the list (or its toggle).
    if ($('members-pane').hidden)
      $('members-button').focus();
    else
      $('member-list').querySelector('button')?.focus();
  }

  // ---- Blocking, from a DM ---------------------------------------------------------------

  async toggleBlock() {
    const button = $('block-button');
    const user = button.dataset.user;
    if (!user)
      return;
    const blocked = this.blocked;
    const op = blocked.has(user) ? 'unblock' : 'block';
    const status = $('block-status');
    button.disabled = true;
    try {
      await this.client.conn.request(op, { user });
    } catch (error) {
      status.textContent = this.actionError(op, error, { user });
      return;
    } finally {
      button.disabled = false;
    }
    if (op === 'block')
      blocked.add(user);
    else
      blocked.delete(user);
    this.blocked = blocked;
    status.textContent = t(op === 'block' ? 'block_done' : 'unblock_done', { user });
    const room = this.client.rooms.get(this.app.current);
    if (room)
      this.renderPane(room);
  }
}
