// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The page: renders the ChatClient's state and turns the user's actions into its calls.

import { languageTag, loadTranslations, t, translateTree } from './i18n.js';
import { ChatClient, ROOM_NAME_RE, USER_NAME_RE, dmPeer } from './client.js';
import { DEVELOPMENT } from './build.js';
import { RoomsUI } from './rooms.js';
import { MessageActions } from './message-actions.js';
import { ModerationTimeline } from './moderation.js';

const $ = (id) => document.getElementById(id);
const NARROW = matchMedia('(max-width: 720px)');
const GROUP_WINDOW_MS = 5 * 60 * 1000;
const TYPING_REFRESH_MS = 3000;
const TYPING_IDLE_MS = 5000;
const TOAST_MS = 8000;
const AVATAR_COLOURS = 8;
const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

// What the login form says after the page was signed out, by ChatClient's reason.
const SIGNED_OUT_TEXT = {
  expired: 'session_expired',
  offline: 'signed_out_offline',
  'logged-out': 'signed_out_elsewhere',
  revoked: 'signed_out_revoked',
  'revoked-here': 'signed_out_revoked_here',
  'password-changed': 'signed_out_password',
  disabled: 'signed_out_disabled',
  deleted: 'signed_out_deleted',
};
const PASSWORD_MIN_BYTES = 8;
const PASSWORD_MAX_BYTES = 1024;

/** Another server named by `?ws=`: development builds only (see build.js). */
function serverOverride() {
  return DEVELOPMENT ? new URLSearchParams(location.search).get('ws') : null;
}

/** The WebSocket URL: `ws` next to the page (the only one a release build talks to). */
function socketUrl() {
  const override = serverOverride();
  if (override)
    return override;
  const url = new URL('ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '';
  url.hash = '';
  return url.href;
}

/**
 * A short name for a session's browser from its User-Agent header, e.g. "Firefox on Linux";
 * the whole header is kept in the row's tooltip.
 */
function describeAgent(agent) {
  if (!agent)
    return '';
  const browser = [['Edg/', 'Edge'], ['OPR/', 'Opera'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'],
    ['Chromium/', 'Chromium'], ['Safari/', 'Safari']].find(([token]) => agent.includes(token))?.[1];
  const system = [['Android', 'Android'], ['iPhone', 'iOS'], ['iPad', 'iOS'], ['Windows', 'Windows'],
    ['Mac OS', 'macOS'], ['CrOS', 'ChromeOS'], ['Linux', 'Linux']].find(([token]) => agent.includes(token))?.[1];
  if (browser && system)
    return t('session_agent', { browser, system });
  return browser || system || agent.slice(0, 60);
}

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

function hashName(name) {
  let hash = 0;
  for (const ch of name)
    hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash;
}

function avatar(name, extraClass = '') {
  return el('span', {
    class: `avatar colour-${hashName(name) % AVATAR_COLOURS} ${extraClass}`.trim(),
    'aria-hidden': 'true',
    text: (name[0] || '?').toUpperCase(),
  });
}

/** Body text with http(s) links made clickable; everything else stays text. */
function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    fragment.append(text.slice(last, match.index));
    fragment.append(el('a', { href: match[0], target: '_blank', rel: 'noopener noreferrer', text: match[0] }));
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

function highlight(text, query) {
  const fragment = document.createDocumentFragment();
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const lower = text.toLowerCase();
  let at = 0;
  while (at < text.length) {
    let best = -1;
    let length = 0;
    for (const word of words) {
      const found = lower.indexOf(word, at);
      if (found >= 0 && (best < 0 || found < best)) {
        best = found;
        length = word.length;
      }
    }
    if (best < 0)
      break;
    fragment.append(text.slice(at, best), el('mark', { text: text.slice(best, best + length) }));
    at = best + length;
  }
  fragment.append(text.slice(at));
  return fragment;
}

/**
 * Keeps Tab inside a modal dialog: from its last control to its first and back. (A modal
 * <dialog> makes the page inert, but Tab would still leave it for the browser's own UI.)
 */
function trapTab(dialog, event) {
  const controls = [...dialog.querySelectorAll(
    'button, input, select, textarea, a[href], [tabindex]:not([tabindex="-1"])')]
    .filter((node) => !node.disabled && !node.closest('[hidden]') && node.checkVisibility());
  if (!controls.length)
    return;
  const first = controls[0];
  const last = controls[controls.length - 1];
  const inside = dialog.contains(document.activeElement) && document.activeElement !== dialog;
  if (event.shiftKey && (!inside || document.activeElement === first)) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
    event.preventDefault();
    first.focus();
  }
}

class App {
  constructor(client) {
    this.client = client;
    this.current = null;
    this.nodes = new Map();
    this.seqs = [];
    this.newBelow = 0;
    this.createMode = false;
    this.restored = false;
    this.typingSent = 0;
    this.typingTimer = 0;
    this.statusTimer = 0;
    this.timeFormat = new Intl.DateTimeFormat(languageTag(), { hour: 'numeric', minute: '2-digit' });
    this.fullFormat = new Intl.DateTimeFormat(languageTag(), { dateStyle: 'full', timeStyle: 'short' });
    this.dayFormat = new Intl.DateTimeFormat(languageTag(), { weekday: 'long', month: 'long', day: 'numeric' });
    this.dayFormatYear = new Intl.DateTimeFormat(languageTag(), { dateStyle: 'long' });

    client.isReading = (name) => name === this.current && this.isAtBottom() &&
      document.visibilityState === 'visible' && !$('chat-view').hidden && this.conversationVisible();

    const on = (type, handler) => client.addEventListener(type, (event) => handler(event.detail));
    on('connection', () => {
      this.renderConnection();
      this.renderPending();
      if (this.client.conn.state === 'online')
        this.maybeLoadOlder();
    });
    on('session', () => this.renderSession());
    on('rooms', () => this.renderRooms());
    on('reset', () => this.showRoom(null));
    on('messages', (detail) => this.onMessages(detail));
    on('outbox', (room) => {
      if (!room || room === this.current)
        this.renderPending();
      this.renderConnection();
    });
    on('members', (room) => {
      if (room === this.current)
        this.renderHeader();
    });
    on('presence', () => {
      this.renderRooms();
      this.renderHeader();
    });
    on('typing', (room) => {
      if (room === this.current)
        this.renderTyping();
    });
    on('receipts', (room) => {
      if (room === this.current)
        this.renderReceipts();
    });
    on('loading', (room) => {
      if (room === this.current)
        this.renderOlder();
    });
    on('error', ({ error, context }) => {
      if (context === 'send')
        this.toast(t('send_failed', { reason: this.errorText(error) }));
      else
        this.toast(this.errorText(error));
    });
    on('logged-out', ({ reason }) => this.showLogin(SIGNED_OUT_TEXT[reason] ? t(SIGNED_OUT_TEXT[reason]) : ''));

    this.bindLogin();
    this.bindChat();
    this.rooms = new RoomsUI(this, { el, icon });
    this.actions = new MessageActions(this, { linkify });
    this.moderation = new ModerationTimeline(this, { el });
  }

  start() {
    if (this.client.hasSession) {
      this.showChat();
      this.client.start();
    } else {
      this.showLogin('');
    }
  }

  // ---- Login -----------------------------------------------------------------------------

  bindLogin() {
    const server = this.client.conn.url;
    if (serverOverride()) {
      $('login-server').hidden = false;
      $('login-server').textContent = t('login_server', { server });
    }
    $('login-mode').addEventListener('click', () => {
      this.createMode = !this.createMode;
      this.renderLoginMode();
      $('login-user').focus();
    });
    $('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitLogin();
    });
  }

  renderLoginMode() {
    const create = this.createMode;
    $('login-title').textContent = t(create ? 'register_title' : 'login_title');
    $('login-submit').textContent = t(create ? 'register_submit' : 'login_submit');
    $('login-switch-text').textContent = t(create ? 'login_have_account' : 'login_no_account');
    $('login-mode').textContent = t(create ? 'login_instead' : 'login_create');
    $('login-password').autocomplete = create ? 'new-password' : 'current-password';
    $('login-error').textContent = '';
  }

  async submitLogin() {
    const userInput = $('login-user');
    const passwordInput = $('login-password');
    const user = userInput.value.trim().toLowerCase();
    const password = passwordInput.value;
    const error = $('login-error');
    userInput.removeAttribute('aria-invalid');
    passwordInput.removeAttribute('aria-invalid');
    if (!USER_NAME_RE.test(user)) {
      error.textContent = t('error_user_name');
      userInput.setAttribute('aria-invalid', 'true');
      userInput.focus();
      return;
    }
    if (!password) {
      error.textContent = t('error_password_empty');
      passwordInput.setAttribute('aria-invalid', 'true');
      passwordInput.focus();
      return;
    }
    error.textContent = '';
    const button = $('login-submit');
    button.disabled = true;
    $('login-form').setAttribute('aria-busy', 'true');
    try {
      await this.client.logIn(user, password, this.createMode);
      passwordInput.value = '';
      this.showChat();
    } catch (failure) {
      if (failure.code === 'cancelled')
        return;
      error.textContent = failure.code === 'unauthorized' ? t('error_login_failed')
        : failure.code === 'conflict' ? t('error_user_taken')
        : failure.code === 'forbidden' && !this.createMode ? t('error_account_disabled')
        : this.errorText(failure);
      (failure.code === 'conflict' ? userInput : passwordInput).focus();
    } finally {
      button.disabled = false;
      $('login-form').removeAttribute('aria-busy');
    }
  }

  showLogin(message) {
    this.restored = false;
    // Whoever comes back after being signed out has an account: offer to log in.
    this.createMode = false;
    this.closeDialogs();
    document.querySelector('.skip-link').hidden = true;
    $('chat-view').hidden = true;
    $('login-view').hidden = false;
    this.renderLoginMode();
    $('login-error').textContent = message;
    this.showRoom(null);
    document.title = t('app_name');
    $('login-user').focus();
  }

  showChat() {
    document.querySelector('.skip-link').hidden = false;
    $('login-view').hidden = true;
    $('chat-view').hidden = false;
    this.renderSession();
    this.renderRooms();
    this.renderConnection();
    if (!this.restoreRoom() && !this.current)
      this.showRoom(null);
    if (!this.current || !NARROW.matches)
      $('new-button').focus();
  }

  // ---- Chat chrome -----------------------------------------------------------------------

  bindChat() {
    document.querySelector('.skip-link').addEventListener('click', (event) => {
      event.preventDefault();
      if (!$('composer').hidden && this.current)
        $('composer-input').focus();
      else
        (this.current ? $('timeline') : $('new-button')).focus();
    });
    $('conn-retry').addEventListener('click', () => this.client.conn.retryNow());
    $('logout-button').addEventListener('click', () => this.logOut());
    this.bindAccount();
    $('back-button').addEventListener('click', () => {
      const room = this.current;
      $('chat-view').classList.remove('show-conversation');
      this.focusRoomButton(room);
    });
    NARROW.addEventListener('change', () => this.renderHeader());

    $('new-button').addEventListener('click', () => this.openDialog('new-dialog', 'join-input'));
    $('empty-new').addEventListener('click', () => this.openDialog('new-dialog', 'join-input'));
    $('search-button').addEventListener('click', () => this.openSearch());
    for (const button of document.querySelectorAll('.dialog-close, .dialog-close-text'))
      button.addEventListener('click', () => button.closest('dialog').close());
    for (const dialog of document.querySelectorAll('dialog')) {
      // A click on the backdrop closes, as a GNOME dialog does.
      dialog.addEventListener('click', (event) => {
        if (event.target === dialog)
          dialog.close();
      });
      // Escape closes even from a search field, where Chromium would only clear the text.
      dialog.addEventListener('keydown', (event) => {
        if (event.key === 'Escape') {
          event.preventDefault();
          dialog.close();
        } else if (event.key === 'Tab') {
          trapTab(dialog, event);
        }
      });
    }

    $('join-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitJoin();
    });
    $('dm-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitDm();
    });
    $('search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.runSearch();
    });

    $('members-button').addEventListener('click', () => {
      const pane = $('members-pane');
      pane.hidden = !pane.hidden;
      $('members-button').setAttribute('aria-expanded', String(!pane.hidden));
      if (!pane.hidden)
        this.renderMembers();
    });
    $('leave-button').addEventListener('click', () => this.leaveCurrent());

    const composer = $('composer-input');
    composer.addEventListener('keydown', (event) => {
      if (this.actions.onComposerKey(event))
        return;
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        this.submitComposer();
      }
    });
    composer.addEventListener('input', () => {
      this.autoGrow();
      this.noteTyping();
    });
    composer.addEventListener('blur', () => this.stopTyping());
    $('composer').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitComposer();
    });

    const timeline = $('timeline');
    timeline.addEventListener('scroll', () => {
      if (this.isAtBottom()) {
        this.newBelow = 0;
        this.renderJump();
        if (this.current)
          this.client.markRead(this.current);
      }
      if (timeline.scrollTop < 300)
        this.maybeLoadOlder();
    }, { passive: true });
    $('load-older').addEventListener('click', () => this.loadOlder(true));
    $('jump-latest').addEventListener('click', () => {
      this.scrollToBottom();
      $('composer-input').focus();
    });
    this.olderObserver = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting))
        this.maybeLoadOlder();
    }, { root: timeline, rootMargin: '200px 0px 0px 0px' });
    this.olderObserver.observe($('older'));

    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.current && this.isAtBottom())
        this.client.markRead(this.current);
    });
    document.addEventListener('keydown', (event) => {
      // (Not the Escape that just closed a dialog: that one was handled, defaultPrevented.)
      if (event.key === 'Escape' && !event.defaultPrevented && !document.querySelector('dialog[open]') &&
          NARROW.matches && $('chat-view').classList.contains('show-conversation') &&
          document.activeElement !== $('composer-input'))
        $('back-button').click();
    });
  }

  // ---- Account ---------------------------------------------------------------------------

  async logOut() {
    const button = $('logout-button');
    button.disabled = true;
    try {
      await this.client.logOut();
    } finally {
      button.disabled = false;
    }
  }

  /** Ends every session of the account, this page's too: needs the server, so not offline. */
  async logOutEverywhere() {
    const button = $('logout-all');
    if (this.client.conn.state !== 'online' && this.client.conn.state !== 'syncing') {
      $('sessions-status').textContent = t('error_logout_all_offline');
      return;
    }
    button.disabled = true;
    try {
      await this.client.logOut({ all: true });
    } finally {
      button.disabled = false;
    }
  }

  bindAccount() {
    $('account-button').addEventListener('click', () => this.openAccount());
    $('logout-all').addEventListener('click', () => this.logOutEverywhere());
    $('password-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitPassword();
    });
    $('delete-open').addEventListener('click', () => {
      $('delete-password').value = '';
      $('delete-password').removeAttribute('aria-invalid');
      this.openDialog('delete-dialog', 'delete-password');
    });
    $('delete-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitDelete();
    });
    $('admin-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.loadUsers();
    });
    // The form holds passwords: nothing typed into it outlives the dialog.
    $('account-dialog').addEventListener('close', () => {
      for (const input of $('password-form').querySelectorAll('input'))
        input.value = '';
      $('password-done').textContent = '';
    });
    $('delete-dialog').addEventListener('close', () => {
      $('delete-password').value = '';
    });
  }

  openAccount() {
    $('password-done').textContent = '';
    for (const input of document.querySelectorAll('#account-dialog input[aria-invalid]'))
      input.removeAttribute('aria-invalid');
    $('admin-section').hidden = !this.client.isAdmin;
    this.openDialog('account-dialog', 'account-title');
    this.loadSessions();
    if (this.client.isAdmin)
      this.loadUsers();
  }

  async loadSessions() {
    const list = $('session-list');
    const status = $('sessions-status');
    list.setAttribute('aria-busy', 'true');
    status.textContent = '';
    let sessions;
    try {
      sessions = await this.client.sessions();
    } catch (error) {
      status.textContent = this.errorText(error);
      return;
    } finally {
      list.setAttribute('aria-busy', 'false');
    }
    // This device first, the others newest first: the one to revoke is usually the newest.
    sessions.sort((a, b) => Number(b.current) - Number(a.current) || b.created_ts - a.created_ts);
    list.replaceChildren(...sessions.map((session) => this.sessionRow(session)));
  }

  sessionRow(session) {
    const agent = describeAgent(session.agent) || t('session_unknown_agent');
    const when = [];
    if (session.created_ts)
      when.push(t('session_created', { time: this.fullFormat.format(new Date(session.created_ts)) }));
    if (session.last_seen_ts && !session.current)
      when.push(t('session_last_seen', { time: this.fullFormat.format(new Date(session.last_seen_ts)) }));
    return el('li', { class: 'account-row', dataset: { session: session.id, current: String(Boolean(session.current)) } },
      el('span', { class: 'account-row-text' },
        el('span', { class: 'account-row-title' }, el('span', { text: agent, title: session.agent || null }),
          session.current ? el('span', { class: 'tag', text: t('session_this_device') }) : null),
        el('span', { class: 'account-row-detail', text: when.join(' · ') })),
      el('button', {
        type: 'button', class: 'button small destructive', text: t('session_revoke'),
        'aria-label': session.current ? t('session_revoke_this') : t('session_revoke_label', { agent }),
        onclick: (event) => this.revokeSession(session, event.currentTarget),
      }));
  }

  async revokeSession(session, button) {
    button.disabled = true;
    try {
      await this.client.revokeSession(session.id, session.current);
    } catch (error) {
      $('sessions-status').textContent = this.errorText(error);
      button.disabled = false;
      return;
    }
    if (!session.current) {
      const row = button.closest('li');
      // The focus would be lost with the row: it moves to the list's next button.
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      next?.querySelector('button')?.focus();
    }
  }

  async submitPassword() {
    const oldInput = $('password-old');
    const newInput = $('password-new');
    const error = $('password-error');
    const done = $('password-done');
    oldInput.removeAttribute('aria-invalid');
    newInput.removeAttribute('aria-invalid');
    done.textContent = '';
    const bytes = new TextEncoder().encode(newInput.value).length;
    const fault = !oldInput.value ? [oldInput, 'error_password_empty']
      : bytes < PASSWORD_MIN_BYTES || bytes > PASSWORD_MAX_BYTES ? [newInput, 'error_password_length']
      : newInput.value === oldInput.value ? [newInput, 'error_password_same'] : null;
    if (fault) {
      error.textContent = t(fault[1]);
      fault[0].setAttribute('aria-invalid', 'true');
      fault[0].focus();
      return;
    }
    error.textContent = '';
    const button = $('password-submit');
    button.disabled = true;
    try {
      await this.client.changePassword(oldInput.value, newInput.value);
    } catch (failure) {
      // A wrong old password is worded as a wrong login is: nothing more to learn from it.
      error.textContent = failure.code === 'unauthorized' ? t('error_old_password') : this.errorText(failure);
      const at = failure.code === 'bad_request' ? newInput : oldInput;
      at.setAttribute('aria-invalid', 'true');
      at.focus();
      return;
    } finally {
      button.disabled = false;
    }
    oldInput.value = '';
    newInput.value = '';
    done.textContent = t('password_changed');
    this.loadSessions();
  }

  async submitDelete() {
    const input = $('delete-password');
    const error = $('delete-error');
    input.removeAttribute('aria-invalid');
    if (!input.value) {
      error.textContent = t('error_password_empty');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    error.textContent = '';
    const button = $('delete-submit');
    button.disabled = true;
    try {
      await this.client.deleteAccount(input.value);
    } catch (failure) {
      error.textContent = failure.code === 'unauthorized' ? t('error_wrong_password') : this.errorText(failure);
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      button.disabled = false;
    }
  }

  async loadUsers() {
    const query = $('admin-query').value.trim().toLowerCase().replace(/^@/, '');
    const status = $('admin-status');
    const list = $('user-list');
    if (query && !USER_NAME_RE.test(query)) {
      status.textContent = t('error_user_name');
      return;
    }
    status.textContent = t('searching');
    let users;
    try {
      users = await this.client.adminUsers(query);
    } catch (error) {
      status.textContent = this.errorText(error);
      return;
    }
    status.textContent = users.length ? t('admin_count', { count: users.length }) : t('admin_none');
    list.replaceChildren(...users.map((user) => this.userRow(user)));
  }

  userRow(user) {
    const states = [];
    if (user.admin)
      states.push(el('span', { class: 'tag', text: t('role_admin') }));
    if (user.disabled)
      states.push(el('span', { class: 'tag warning', text: t('user_disabled') }));
    const detail = user.created_ts
      ? t('user_created', { time: this.fullFormat.format(new Date(user.created_ts)) }) : '';
    // Administrators cannot disable themselves; the server refuses it anyway.
    const button = user.user === this.client.user ? null : el('button', {
      type: 'button',
      class: `button small ${user.disabled ? '' : 'destructive'}`.trim(),
      text: t(user.disabled ? 'user_enable' : 'user_disable'),
      'aria-label': t(user.disabled ? 'user_enable_label' : 'user_disable_label', { user: user.user }),
      onclick: (event) => this.setDisabled(user, !user.disabled, event.currentTarget),
    });
    return el('li', { class: 'account-row', dataset: { user: user.user, disabled: String(Boolean(user.disabled)) } },
      el('span', { class: 'account-row-text' },
        el('span', { class: 'account-row-title' }, el('span', { text: user.user }), ...states),
        el('span', { class: 'account-row-detail', text: detail })),
      button);
  }

  async setDisabled(user, disabled, button) {
    button.disabled = true;
    try {
      await this.client.adminSetDisabled(user.user, disabled);
    } catch (error) {
      $('admin-status').textContent = this.errorText(error);
      button.disabled = false;
      return;
    }
    const row = this.userRow({ ...user, disabled });
    button.closest('li').replaceWith(row);
    row.querySelector('button')?.focus();
    $('admin-status').textContent = t(disabled ? 'user_disabled_done' : 'user_enabled_done', { user: user.user });
  }

  openDialog(id, focusId) {
    const dialog = $(id);
    for (const error of dialog.querySelectorAll('.form-error'))
      error.textContent = '';
    if (!dialog.open)
      dialog.showModal();
    $(focusId).focus();
  }

  closeDialogs() {
    for (const dialog of document.querySelectorAll('dialog[open]'))
      dialog.close();
  }

  renderSession() {
    const user = this.client.user ?? '';
    $('me-name').textContent = user;
    $('me-role').hidden = !this.client.isAdmin;
    const me = $('me-avatar');
    me.className = `avatar small colour-${hashName(user) % AVATAR_COLOURS}`;
    me.textContent = (user[0] || '').toUpperCase();
    if (this.current)
      this.renderComposer();
  }

  renderConnection() {
    const conn = this.client.conn;
    const queued = this.client.outbox.filter((entry) => entry.state !== 'failed').length;
    clearTimeout(this.statusTimer);
    $('conn-status').dataset.state = conn.state;
    $('conn-retry').hidden = conn.state !== 'waiting';
    let message;
    let detail = '';
    switch (conn.state) {
    case 'online':
      message = t('status_online');
      break;
    case 'connecting':
      message = t('status_connecting');
      break;
    case 'syncing':
      message = t('status_syncing');
      break;
    case 'waiting': {
      message = this.closeText(conn.lastClose?.code) || t('status_offline');
      const seconds = Math.max(1, Math.ceil((conn.retryAt - Date.now()) / 1000));
      // The countdown is outside the live region, so it is not read out every second.
      detail = t('status_retry_in', { count: seconds });
      this.statusTimer = setTimeout(() => this.renderConnection(), 1000);
      break;
    }
    default:
      message = t('status_offline');
    }
    if (queued && conn.state !== 'online')
      message += ' ' + t('status_queued', { count: queued });
    if ($('conn-text').textContent !== message)
      $('conn-text').textContent = message;
    $('conn-detail').textContent = detail;
  }

  closeText(code) {
    switch (code) {
    case 1001:
      return t('close_going_away');
    case 1008:
      return t('close_policy');
    case 1009:
      return t('close_too_big');
    case 1013:
      return t('close_try_later');
    default:
      return '';
    }
  }

  errorText(error) {
    switch (error.code) {
    case 'rate_limited':
      return error.retryAfterMs
        ? t('error_rate_limited_wait', { count: Math.max(1, Math.ceil(error.retryAfterMs / 1000)) })
        : t('error_rate_limited');
    case 'too_large':
      return t('error_too_large');
    case 'forbidden':
      return t('error_forbidden');
    case 'not_found':
      return t('error_not_found');
    case 'unauthorized':
      return t('error_unauthorized');
    case 'conflict':
      return t('error_conflict');
    case 'bad_request':
      return error.message && error.message !== error.code
        ? t('error_bad_request_detail', { detail: error.message })
        : t('error_bad_request');
    case 'unavailable':
      return t('error_unavailable');
    case 'internal':
      return t('error_internal');
    case 'disconnected':
    case 'timeout':
      return t('error_disconnected');
    default:
      return t('error_unknown', { code: error.code });
    }
  }

  toast(message) {
    const box = $('toasts');
    for (const existing of box.children) {
      if (existing.firstChild.textContent === message)
        existing.remove();
    }
    const toast = el('div', { class: 'toast', role: 'alert' },
      el('span', { class: 'toast-text', text: message }),
      el('button', {
        type: 'button', class: 'icon-button', 'aria-label': t('dismiss'), title: t('dismiss'),
        onclick: () => toast.remove(),
      }, icon('close')));
    box.append(toast);
    setTimeout(() => toast.remove(), TOAST_MS);
  }

  roomLabel(room) {
    if (room.kind === 'system')
      return t('system_room');
    if (room.kind === 'dm')
      return dmPeer(room.name, this.client.user);
    return room.name;
  }

  sortedRooms() {
    const rooms = [...this.client.rooms.values()];
    const order = { system: 0, room: 1, dm: 2 };
    return rooms.sort((a, b) => (order[a.kind] ?? 1) - (order[b.kind] ?? 1) ||
      this.roomLabel(a).localeCompare(this.roomLabel(b)));
  }

  renderRooms() {
    const focused = document.activeElement?.dataset?.room;
    const roomList = $('room-list');
    const dmList = $('dm-list');
    roomList.replaceChildren();
    dmList.replaceChildren();
    let total = 0;
    for (const room of this.sortedRooms()) {
      total += room.unread;
      const label = this.roomLabel(room);
      let lead;
      if (room.kind === 'dm') {
        const peer = dmPeer(room.name, this.client.user);
        lead = el('span', { class: 'avatar-wrap' }, avatar(peer, 'small'),
          el('span', { class: `presence ${this.client.online.has(peer) ? 'online' : ''}` }));
      } else {
        lead = el('span', { class: `room-icon ${room.kind}` },
          icon(room.kind === 'system' ? 'megaphone' : room.private ? 'lock' : 'hash'));
      }
      const extra = this.rooms.rowExtras(room);
      if (room.kind === 'dm')
        extra.push(t(this.client.online.has(dmPeer(room.name, this.client.user)) ? 'online' : 'offline'));
      if (room.unread)
        extra.push(t('unread_count', { count: room.unread }));
      const button = el('button', {
        type: 'button',
        class: 'room-row',
        dataset: { room: room.name },
        'aria-current': room.name === this.current ? 'page' : null,
        onclick: () => this.showRoom(room.name, { focus: true }),
      }, lead,
      el('span', { class: 'room-name', text: label }),
      extra.length ? el('span', { class: 'sr-only', text: `, ${extra.join(', ')}` }) : null,
      room.unread ? el('span', { class: 'badge', 'aria-hidden': 'true', text: room.unread > 999 ? '999+' : String(room.unread) }) : null);
      (room.kind === 'dm' ? dmList : roomList).append(el('li', {}, button));
    }
    $('rooms-empty').hidden = roomList.children.length > 0;
    $('dms-empty').hidden = dmList.children.length > 0;
    document.title = total ? t('title_unread', { count: total }) : t('app_name');
    if (focused)
      this.focusRoomButton(focused);
    if (this.current && !this.client.rooms.has(this.current))
      this.showRoom(null);
    else
      this.restoreRoom();
    this.renderHeader();
  }

  // Opens the room of the last visit once its room is known.
  restoreRoom() {
    const remembered = this.client.currentRoom;
    if (this.restored || this.current || $('chat-view').hidden || !this.client.rooms.has(remembered))
      return false;
    this.showRoom(remembered, { focus: false });
    return true;
  }

  focusRoomButton(name) {
    const button = name && document.querySelector(`.room-row[data-room="${CSS.escape(name)}"]`);
    (button || $('new-button')).focus();
  }

  conversationVisible() {
    return !NARROW.matches || $('chat-view').classList.contains('show-conversation');
  }

  // ---- The conversation ------------------------------------------------------------------

  showRoom(name, { focus = false } = {}) {
    const changed = name !== this.current;
    if (changed)
      this.stopTyping();
    this.current = name;
    if (name) {
      this.client.currentRoom = name;
      this.restored = true;
    }
    $('chat-view').classList.toggle('show-conversation', Boolean(name) && (focus || !NARROW.matches));
    for (const button of document.querySelectorAll('.room-row')) {
      if (button.dataset.room === name)
        button.setAttribute('aria-current', 'page');
      else
        button.removeAttribute('aria-current');
    }
    if (changed) {
      this.nodes.clear();
      this.seqs = [];
      this.newBelow = 0;
      this.focusOlder = false;
      $('message-list').replaceChildren();
      $('pending-list').replaceChildren();
      $('composer-input').value = '';
      this.autoGrow();
      this.actions.roomShown();
      const room = name && this.client.rooms.get(name);
      if (room) {
        this.insertMessages([...room.messages.values()].sort((a, b) => a.seq - b.seq));
        this.moderation.roomShown();
        this.renderPending();
        this.renderReceipts();
      }
    }
    $('empty-state').hidden = Boolean(name);
    $('older').hidden = !name;
    this.renderHeader();
    this.renderComposer();
    this.renderTyping();
    this.renderOlder();
    this.renderJump();
    if (name) {
      this.scrollToBottom();
      this.maybeLoadOlder();
      this.client.markRead(name);
      if (focus)
        ($('composer').hidden ? $('timeline') : $('composer-input')).focus();
    }
  }

  renderHeader() {
    const room = this.current && this.client.rooms.get(this.current);
    const title = $('room-title');
    const subtitle = $('room-subtitle');
    const membersButton = $('members-button');
    this.rooms.renderHeader(room);
    if (!room) {
      title.textContent = t('app_name');
      subtitle.textContent = '';
      membersButton.hidden = true;
      $('members-pane').hidden = true;
      membersButton.setAttribute('aria-expanded', 'false');
      return;
    }
    title.textContent = this.roomLabel(room);
    if (room.kind === 'dm') {
      const peer = dmPeer(room.name, this.client.user);
      subtitle.textContent = t(this.client.online.has(peer) ? 'dm_online' : 'dm_offline');
    } else if (room.kind === 'system') {
      subtitle.textContent = t('system_subtitle');
    } else {
      const online = [...room.members].filter((user) => this.client.online.has(user)).length;
      subtitle.textContent = room.topic ||
        t('members_summary', { count: room.members.size, online });
    }
    membersButton.hidden = room.kind === 'system';
    if (membersButton.hidden)
      $('members-pane').hidden = true;
    membersButton.setAttribute('aria-expanded', String(!$('members-pane').hidden));
    if (!$('members-pane').hidden)
      this.renderMembers();
  }

  renderMembers() {
    const room = this.current && this.client.rooms.get(this.current);
    if (!room)
      return;
    const online = this.client.online;
    const members = this.rooms.sortMembers(room, online);
    $('members-title').textContent = t('members_title', { count: members.length });
    $('member-list').replaceChildren(...members.map((user) => {
      const isOnline = online.has(user);
      const label = el('span', { class: 'member-name', text: user });
      const state = el('span', { class: 'member-state', text: t(isOnline ? 'online' : 'offline') });
      const lead = el('span', { class: 'avatar-wrap' }, avatar(user, 'small'),
        el('span', { class: `presence ${isOnline ? 'online' : ''}` }));
      const tag = this.rooms.roleTag(room, user);
      const self = user === this.client.user;
      if (self && room.kind !== 'room')
        return el('li', { class: 'member' }, lead, label, el('span', { class: 'member-state', text: t('you') }));
      // In a room a member opens the member dialog (message, role, kick, ban).
      return el('li', {}, el('button', {
        type: 'button', class: 'member-button',
        title: room.kind === 'room' ? t('member_actions', { user }) : t('dm_with', { user }),
        'aria-haspopup': room.kind === 'room' ? 'dialog' : null,
        onclick: () => (room.kind === 'room' ? this.rooms.openMember(user)
          : this.showRoom(this.client.openDm(user), { focus: true })),
      }, lead, label, tag, self ? el('span', { class: 'member-state', text: t('you') }) : state));
    }));
    this.rooms.renderPane(room);
    $('leave-button').hidden = room.kind !== 'room';
  }

  renderComposer() {
    const room = this.current && this.client.rooms.get(this.current);
    const composer = $('composer');
    const note = $('composer-note');
    if (!room) {
      composer.hidden = true;
      note.hidden = true;
      return;
    }
    const readonly = room.kind === 'system' && !this.client.isAdmin;
    composer.hidden = readonly;
    note.hidden = !readonly;
    const label = room.kind === 'system' ? t('composer_broadcast')
      : t('composer_placeholder', { room: this.roomLabel(room) });
    $('composer-label').textContent = label;
    $('composer-input').placeholder = label;
    composer.classList.toggle('broadcast', room.kind === 'system');
  }

  autoGrow() {
    const input = $('composer-input');
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  }

  submitComposer() {
    const input = $('composer-input');
    const body = input.value.trim();
    if (!this.current)
      return;
    if (this.actions.submitEdit(body)) {
      this.autoGrow();
      return;
    }
    if (!body)
      return;
    try {
      this.client.send(this.current, body, this.actions.sendOptions());
    } catch (error) {
      this.toast(t('send_failed', { reason: this.errorText(error) }));
      return;
    }
    this.actions.cancelContext(false);
    input.value = '';
    this.autoGrow();
    this.stopTyping();
    this.scrollToBottom();
  }

  noteTyping() {
    if (!this.current)
      return;
    const now = Date.now();
    if (!$('composer-input').value) {
      this.stopTyping();
      return;
    }
    if (now - this.typingSent > TYPING_REFRESH_MS) {
      this.typingSent = now;
      this.typingRoom = this.current;
      this.client.setTyping(this.current, true);
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSent && this.typingRoom)
      this.client.setTyping(this.typingRoom, false);
    this.typingSent = 0;
    this.typingRoom = null;
  }

  renderTyping() {
    const room = this.current && this.client.rooms.get(this.current);
    const users = room ? [...room.typing.keys()].sort() : [];
    let text = '';
    if (users.length === 1)
      text = t('typing_one', { user: users[0] });
    else if (users.length === 2)
      text = t('typing_two', { user: users[0], other: users[1] });
    else if (users.length > 2)
      text = t('typing_many');
    $('typing').textContent = text;
  }

  submitJoin() {
    const input = $('join-input');
    const error = $('join-error');
    const name = input.value.trim().toLowerCase().replace(/^#/, '');
    input.removeAttribute('aria-invalid');
    if (!ROOM_NAME_RE.test(name)) {
      error.textContent = t('error_room_name');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    error.textContent = '';
    this.client.joinRoom(name).then((room) => {
      input.value = '';
      $('new-dialog').close();
      this.showRoom(room, { focus: true });
    }, (failure) => {
      error.textContent = this.rooms.actionError('join', failure, { room: name });
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    });
  }

  submitDm() {
    const input = $('dm-input');
    const error = $('dm-error');
    const user = input.value.trim().toLowerCase().replace(/^@/, '');
    input.removeAttribute('aria-invalid');
    if (!USER_NAME_RE.test(user) || user === this.client.user) {
      error.textContent = t(user === this.client.user ? 'error_dm_self' : 'error_user_name');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    error.textContent = '';
    input.value = '';
    $('new-dialog').close();
    this.showRoom(this.client.openDm(user), { focus: true });
  }

  async leaveCurrent() {
    const name = this.current;
    if (!name)
      return;
    try {
      await this.client.leaveRoom(name);
      this.showRoom(null);
      $('chat-view').classList.remove('show-conversation');
      $('new-button').focus();
    } catch (error) {
      this.toast(this.rooms.actionError('leave', error, { room: name }));
    }
  }

  // ---- Messages --------------------------------------------------------------------------

  isAtBottom() {
    const timeline = $('timeline');
    return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 48;
  }

  scrollToBottom() {
    const timeline = $('timeline');
    timeline.scrollTop = timeline.scrollHeight;
    this.newBelow = 0;
    this.renderJump();
  }

  renderJump() {
    const button = $('jump-latest');
    button.hidden = this.newBelow === 0;
    $('jump-text').textContent = t('new_messages', { count: this.newBelow });
  }

  renderOlder() {
    const room = this.current && this.client.rooms.get(this.current);
    const hasOlder = Boolean(room?.hasOlder);
    const button = $('load-older');
    button.hidden = !hasOlder;
    // Not disabled while loading: a disabled button would drop the keyboard focus.
    button.setAttribute('aria-disabled', String(Boolean(room?.loadingOlder)));
    button.textContent = t(room?.loadingOlder ? 'loading_older' : 'load_older');
    $('history-start').hidden = !room || hasOlder || room.draft || this.seqs.length === 0;
    $('timeline').setAttribute('aria-busy', String(Boolean(room?.loadingOlder)));
  }

  maybeLoadOlder() {
    const room = this.current && this.client.rooms.get(this.current);
    if (!room || !room.hasOlder || room.loadingOlder || this.client.conn.state !== 'online')
      return;
    const timeline = $('timeline');
    if (timeline.scrollTop < 300 || timeline.scrollHeight <= timeline.clientHeight + 300)
      this.loadOlder(false);
  }

  async loadOlder(fromButton) {
    // After a press of the button the keyboard goes to the first of the older messages,
    // whichever load (this one or one already running) brings them.
    if (fromButton)
      this.focusOlder = true;
    const name = this.current;
    const loaded = await this.client.loadOlder(name);
    if (loaded && name === this.current)
      requestAnimationFrame(() => this.maybeLoadOlder());
  }

  onMessages({ room: name, added, source }) {
    if (name !== this.current)
      return;
    const wasAtBottom = this.isAtBottom();
    const timeline = $('timeline');
    const fromBottom = timeline.scrollHeight - timeline.scrollTop;
    const inserted = this.insertMessages(added);
    this.moderation.sync();
    this.renderPending();
    this.renderReceipts();
    this.renderOlder();
    if (!inserted.length)
      return;
    if (source === 'older') {
      // Keep what the user is reading where it is on the screen.
      timeline.scrollTop = timeline.scrollHeight - fromBottom;
      if (this.focusOlder) {
        this.focusOlder = false;
        this.nodes.get(this.seqs[0])?.focus();
      }
      return;
    }
    const mine = inserted.every((message) => message.sender === this.client.user);
    if (wasAtBottom || (source === 'sent' && mine)) {
      this.scrollToBottom();
    } else {
      this.newBelow += inserted.filter((message) => message.sender !== this.client.user).length;
      this.renderJump();
    }
    if (source === 'live') {
      const last = inserted[inserted.length - 1];
      if (last.sender !== this.client.user && this.actions.announces(last)) {
        $('announcer').textContent = last.kind === 'broadcast'
          ? t('announce_broadcast', { body: last.body })
          : t('announce_message', { user: last.sender, body: last.body });
      }
    }
    if (this.client.isReading(name))
      this.client.markRead(name);
  }

  // Inserts messages in seq order; a seq already on the page is never added twice.
  insertMessages(messages) {
    const inserted = [];
    const list = $('message-list');
    for (const message of messages) {
      if (this.nodes.has(message.seq) || !this.actions.shows(message))
        continue;
      let lo = 0;
      let hi = this.seqs.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.seqs[mid] < message.seq)
          lo = mid + 1;
        else
          hi = mid;
      }
      const node = this.messageNode(message);
      const next = lo < this.seqs.length ? this.nodes.get(this.seqs[lo]) : null;
      list.insertBefore(node, next);
      // Moderation entries (moderation.js) sit between messages by time.
      while (node.previousElementSibling?.classList.contains('moderation-event') &&
        Number(node.previousElementSibling.dataset.ts) > message.ts)
        list.insertBefore(node, node.previousElementSibling);
      this.seqs.splice(lo, 0, message.seq);
      this.nodes.set(message.seq, node);
      this.group(node);
      if (next)
        this.group(next);
      inserted.push(message);
    }
    return inserted;
  }

  messageNode(message) {
    const date = new Date(message.ts);
    const own = message.sender === this.client.user;
    const broadcast = message.kind === 'broadcast';
    const classes = ['message'];
    if (own)
      classes.push('own');
    if (broadcast)
      classes.push('broadcast');
    const time = el('time', {
      datetime: date.toISOString(), title: this.fullFormat.format(date), text: this.timeFormat.format(date),
    });
    const header = el('div', { class: 'message-header' },
      broadcast ? el('span', { class: 'broadcast-label' }, icon('megaphone'), el('span', { text: t('broadcast_label') })) : null,
      el('span', { class: 'sender', text: message.sender }), time);
    const node = el('li', {
      class: classes.join(' '),
      tabindex: '-1',
      dataset: { seq: String(message.seq), sender: message.sender, ts: String(message.ts) },
    }, broadcast ? null : avatar(message.sender),
    el('div', { class: 'message-content' }, header,
      el('div', { class: 'body', dir: 'auto' }, linkify(message.body))));
    this.actions.decorate(node, message);
    return node;
  }

  dayLabel(date) {
    const now = new Date();
    const start = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
    const days = Math.round((start(now) - start(date)) / 86400000);
    if (days === 0)
      return t('today');
    if (days === 1)
      return t('yesterday');
    return (date.getFullYear() === now.getFullYear() ? this.dayFormat : this.dayFormatYear).format(date);
  }

  // Runs of messages by one sender within a few minutes share one header.
  group(node) {
    const prev = node.previousElementSibling;
    const ts = Number(node.dataset.ts);
    const date = new Date(ts);
    const prevDate = prev ? new Date(Number(prev.dataset.ts)) : null;
    const newDay = !prevDate || prevDate.toDateString() !== date.toDateString();
    node.classList.toggle('new-day', newDay);
    if (newDay)
      node.dataset.day = this.dayLabel(date);
    else
      delete node.dataset.day;
    const continued = !newDay && prev.dataset.sender === node.dataset.sender &&
      ts - Number(prev.dataset.ts) < GROUP_WINDOW_MS &&
      !node.classList.contains('broadcast') && !prev.classList.contains('broadcast');
    node.classList.toggle('continued', continued);
  }

  renderPending() {
    const list = $('pending-list');
    const entries = this.client.outbox.filter((entry) => entry.room === this.current);
    const online = this.client.conn.state === 'online';
    list.replaceChildren(...entries.map((entry) => {
      const state = entry.state === 'failed'
        ? t('message_failed', { reason: this.errorText({ code: entry.error }) })
        : entry.state === 'sending' && online ? t('message_sending') : t('message_queued');
      const actions = entry.state === 'failed'
        ? el('span', { class: 'pending-actions' },
          el('button', { type: 'button', class: 'link-button', text: t('retry'), onclick: () => this.client.retry(entry.cid) }),
          el('button', { type: 'button', class: 'link-button', text: t('discard'), onclick: () => this.client.discard(entry.cid) }))
        : null;
      return el('li', {
        class: `message own pending ${entry.state}`,
        dataset: { cid: entry.cid, sender: this.client.user },
      }, avatar(this.client.user ?? ''),
      el('div', { class: 'message-content' },
        el('div', { class: 'message-header' }, el('span', { class: 'sender', text: this.client.user })),
        entry.reply_to ? this.actions.quote(this.client.rooms.get(entry.room), entry.reply_to) : null,
        el('div', { class: 'body', dir: 'auto' }, linkify(entry.body)),
        el('div', { class: 'pending-state' }, el('span', { text: state }), actions)));
    }));
    const lastSeqNode = this.nodes.get(this.seqs[this.seqs.length - 1]);
    for (const node of list.children) {
      node.classList.toggle('continued', Boolean(lastSeqNode && lastSeqNode.dataset.sender === this.client.user) ||
        node !== list.firstElementChild);
    }
    this.renderEmpty();
  }

  renderEmpty() {
    const room = this.current && this.client.rooms.get(this.current);
    const list = $('message-list');
    let note = $('room-empty');
    const empty = room && this.seqs.length === 0 && !$('pending-list').children.length &&
      !room.hasOlder && !room.loadingOlder;
    if (!empty) {
      note?.remove();
      return;
    }
    if (!note) {
      note = el('p', { id: 'room-empty', class: 'room-empty' });
      list.before(note);
    }
    note.textContent = room.kind === 'dm' ? t('dm_empty', { user: this.roomLabel(room) })
      : room.kind === 'system' ? t('system_empty') : t('room_empty');
  }

  renderReceipts() {
    for (const old of document.querySelectorAll('#message-list .receipts'))
      old.remove();
    const room = this.current && this.client.rooms.get(this.current);
    if (!room || !this.seqs.length)
      return;
    const newest = this.seqs[this.seqs.length - 1];
    const bySeq = new Map();
    for (const [user, seq] of room.receipts) {
      if (user === this.client.user)
        continue;
      // A change (an edit, a reaction) is not shown by itself: the newest message up to it is.
      const at = this.seqs[this.seqs.findLastIndex((shown) => shown <= Math.min(seq, newest))];
      // "Seen" under one's own message says nothing.
      if (!this.nodes.has(at) || this.nodes.get(at).dataset.sender === user)
        continue;
      if (!bySeq.has(at))
        bySeq.set(at, []);
      bySeq.get(at).push(user);
    }
    for (const [seq, users] of bySeq) {
      users.sort();
      const node = this.nodes.get(seq);
      node.querySelector('.message-content').append(
        el('div', { class: 'receipts', text: t('seen_by', { users: users.join(', ') }) }));
    }
    this.renderEmpty();
  }

  // ---- Search ----------------------------------------------------------------------------

  openSearch() {
    const room = this.current && this.client.rooms.get(this.current);
    const here = $('search-here');
    here.disabled = !room || room.draft;
    if (here.disabled)
      here.checked = false;
    $('search-here-label').textContent = room ? t('search_only_in', { room: this.roomLabel(room) }) : t('search_only_here');
    this.openDialog('search-dialog', 'search-input');
    $('search-input').select();
  }

  async runSearch() {
    const query = $('search-input').value.trim();
    const status = $('search-status');
    const results = $('search-results');
    if (!query)
      return;
    status.textContent = t('searching');
    results.replaceChildren();
    let messages;
    try {
      messages = await this.client.search(query, $('search-here').checked ? this.current : null);
    } catch (error) {
      status.textContent = this.errorText(error);
      return;
    }
    status.textContent = messages.length ? t('search_count', { count: messages.length }) : t('search_none');
    results.replaceChildren(...messages.map((message) => {
      const room = this.client.rooms.get(message.room);
      const roomText = room ? this.roomLabel(room) : message.room;
      const date = new Date(message.ts);
      return el('li', {}, el('button', {
        type: 'button', class: 'search-result',
        onclick: () => this.jumpTo(message.room, message.seq),
      },
      el('span', { class: 'search-meta' },
        el('span', { class: 'search-room', text: roomText }),
        el('span', { class: 'sender', text: message.sender }),
        el('time', { datetime: date.toISOString(), text: this.fullFormat.format(date) })),
      el('span', { class: 'search-body' }, highlight(message.body ?? '', query))));
    }));
  }

  async jumpTo(name, seq) {
    $('search-dialog').close();
    if (!this.client.rooms.has(name))
      return;
    this.showRoom(name, { focus: false });
    $('chat-view').classList.add('show-conversation');
    if (!await this.client.reveal(name, seq) || name !== this.current)
      return;
    const node = this.nodes.get(seq);
    node.scrollIntoView({ block: 'center' });
    node.classList.add('flash');
    setTimeout(() => node.classList.remove('flash'), 2500);
    node.focus({ preventScroll: true });
  }
}

async function main() {
  const languages = navigator.languages?.length ? navigator.languages : [navigator.language];
  await loadTranslations(languages);
  translateTree(document);
  const app = new App(new ChatClient(socketUrl()));
  document.documentElement.classList.remove('is-loading');
  app.start();
}

main();
