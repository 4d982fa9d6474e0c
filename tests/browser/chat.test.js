// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Two people chat in a room and in a DM, an administrator broadcasts, search finds what was
// said, errors are shown, and the main views are saved as screenshots (light, dark, narrow).

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const fixture = new h.Fixture();
const ADMIN = { user: 'root', password: 'root-password-1' };
let alice;
let bob;

before(async () => {
  await fixture.start({ admin: ADMIN });
  alice = await fixture.newPage({ name: 'alice' });
  bob = await fixture.newPage({ name: 'bob' });
  await h.register(alice, 'alice', 'alice-password-1');
  await h.register(bob, 'bob', 'bob-password-1');
});

after(async () => {
  await fixture.close();
  fixture.assertNoPageErrors();
});

test('two people join a room and chat both ways', h.withReport(fixture, async () => {
  await h.joinRoom(alice, 'lobby');
  await h.joinRoom(bob, 'lobby');

  await h.sendMessage(alice, 'Hello Bob, welcome to the lobby!');
  await h.waitForMessage(bob, 'Hello Bob, welcome to the lobby!');
  await h.sendMessage(bob, 'Thanks Alice, glad to be here.');
  await h.waitForMessage(alice, 'Thanks Alice, glad to be here.');

  // Each side shows its own message as its own and the other's as the other's.
  await h.messageLocator(alice, 'Hello Bob, welcome to the lobby!').and(alice.locator('.own')).waitFor();
  assert.equal(await h.messageLocator(bob, 'Hello Bob, welcome to the lobby!').getAttribute('data-sender'), 'alice');
  assert.deepEqual(await h.shownSeqs(alice), await h.shownSeqs(bob));

  // A new message from someone else is announced to screen readers.
  await bob.locator('#announcer', { hasText: 'alice: Hello Bob, welcome to the lobby!' }).waitFor({ state: 'attached' });

  // Typing shows on the other side and goes away after sending.
  await bob.locator('#composer-input').pressSequentially('Is anyone');
  await alice.locator('#typing', { hasText: 'bob is typing…' }).waitFor();
  await bob.locator('#composer-input').fill('Is anyone else coming?');
  await bob.locator('#composer-input').press('Enter');
  await h.waitForMessage(alice, 'Is anyone else coming?');
  await alice.waitForFunction(() => document.getElementById('typing').textContent === '');

  // Read receipts: alice has the newest message on screen, so bob sees it read.
  await bob.locator('#message-list .receipts', { hasText: 'Seen by alice' }).waitFor();

  // Presence: the member list shows bob online to alice.
  await alice.getByRole('button', { name: 'Members' }).click();
  await alice.locator('#member-list .member-button', { hasText: 'bob' })
    .filter({ hasText: 'online' }).waitFor();
  await alice.getByRole('button', { name: 'Members' }).click();
  await alice.locator('#members-pane').waitFor({ state: 'hidden' });
}));

test('a direct message reaches only the other person', h.withReport(fixture, async () => {
  await alice.getByRole('button', { name: 'New Conversation' }).click();
  await alice.getByLabel('Message someone').fill('bob');
  await alice.getByLabel('Message someone').press('Enter');
  await alice.locator('#room-title', { hasText: 'bob' }).waitFor();
  await h.sendMessage(alice, 'Psst, a private word?');
  await h.waitForMessage(alice, 'Psst, a private word?');

  // Bob is in the lobby: the DM appears in his list, unread, under alice's name.
  const dmRow = bob.locator('#dm-list .room-row[data-room="dm:alice:bob"]');
  await dmRow.filter({ hasText: 'alice' }).locator('.badge', { hasText: '1' }).waitFor();
  await dmRow.click();
  await bob.locator('#room-title', { hasText: 'alice' }).waitFor();
  await h.waitForMessage(bob, 'Psst, a private word?');
  await dmRow.locator('.badge').waitFor({ state: 'detached' });
  await h.sendMessage(bob, 'Sure, what is it?');
  await h.waitForMessage(alice, 'Sure, what is it?');
  assert.equal(await alice.locator('#room-subtitle').textContent(), 'Direct message · online');
}));

test('an administrator broadcast shows in every page', h.withReport(fixture, async () => {
  const admin = await fixture.newPage({ name: 'root' });
  await h.logIn(admin, ADMIN.user, ADMIN.password);
  await admin.locator('#me-role', { hasText: 'Administrator' }).waitFor();
  await h.openRoom(admin, 'system');
  await h.sendMessage(admin, 'Maintenance tonight at 22:00.');

  for (const page of [admin, alice, bob]) {
    const row = page.locator('.room-row[data-room="system"]');
    if (page !== admin)
      await row.locator('.badge', { hasText: '1' }).waitFor();
    await row.click();
    const shown = page.locator('#message-list li.message.broadcast[data-seq]', { hasText: 'Maintenance tonight at 22:00.' });
    await shown.waitFor();
    assert.equal(await shown.count(), 1);
    await shown.locator('.broadcast-label', { hasText: 'Announcement' }).waitFor();
  }
  // Everyone else reads announcements but cannot write one.
  await alice.locator('#composer-note', { hasText: 'Only administrators can post announcements.' }).waitFor();
  assert.equal(await alice.locator('#composer').isHidden(), true);
  await h.screenshot(bob, 'broadcast-light');
}));

test('search finds messages in readable rooms and jumps to them', h.withReport(fixture, async () => {
  await alice.getByRole('button', { name: 'Search' }).click();
  await alice.getByLabel('Search messages').fill('glad');
  await alice.getByLabel('Search messages').press('Enter');
  const result = alice.locator('#search-results .search-result', { hasText: 'Thanks Alice, glad to be here.' });
  await result.waitFor();
  await alice.locator('#search-status', { hasText: '1 message found' }).waitFor();
  await result.click();
  await alice.locator('#room-title', { hasText: 'lobby' }).waitFor();
  await alice.waitForFunction(() => document.activeElement?.matches('li.message[data-seq]') &&
    document.activeElement.textContent.includes('glad to be here'));

  // Bob cannot find what alice and root said elsewhere unless he can read it.
  await bob.getByRole('button', { name: 'Search' }).click();
  await bob.getByLabel('Search messages').fill('private');
  await bob.getByLabel('Search messages').press('Enter');
  await bob.locator('#search-results .search-result', { hasText: 'Psst, a private word?' }).waitFor();
  await bob.keyboard.press('Escape');
  await bob.locator('#search-dialog').waitFor({ state: 'hidden' });
}));

test('errors are shown to the user', h.withReport(fixture, async () => {
  await h.openRoom(alice, 'lobby');
  // Bigger than the server's body limit (16 KiB by default) but within one frame.
  await h.sendMessage(alice, 'x'.repeat(20000));
  await alice.locator('#pending-list li.failed', { hasText: 'Not sent: The message is too long.' }).waitFor();
  const toast = alice.locator('.toast', { hasText: 'The message is too long.' });
  await toast.waitFor();
  assert.equal(await toast.getAttribute('role'), 'alert');
  await toast.getByRole('button', { name: 'Dismiss' }).click();
  await toast.waitFor({ state: 'detached' });
  await alice.locator('#pending-list li.failed').getByRole('button', { name: 'Discard' }).click();
  await alice.locator('#pending-list li').waitFor({ state: 'detached' });

  // A room name the server cannot accept is explained next to the field.
  await alice.getByRole('button', { name: 'New Conversation' }).click();
  await alice.getByLabel('Join or create a room').fill('Bad Name!');
  await alice.getByLabel('Join or create a room').press('Enter');
  await alice.locator('#join-error', { hasText: 'Room names are 1 to 64' }).waitFor();
  await alice.keyboard.press('Escape');
}));

test('screenshots: login, light, dark and narrow', h.withReport(fixture, async () => {
  const login = await fixture.newPage({ name: 'login' });
  await login.locator('#login-title', { hasText: 'Log in' }).waitFor();
  await h.screenshot(login, 'login-light');

  await h.openRoom(alice, 'lobby');
  await h.openRoom(bob, 'lobby');
  await h.sendMessage(alice, 'The notes from this morning are at https://wiki.example.org/natter/notes');
  await h.sendMessage(alice, 'Carol will join after lunch.');
  await h.waitForMessage(bob, 'Carol will join after lunch.');
  await h.sendMessage(bob, 'Great, reading them now.');
  await h.waitForMessage(alice, 'Great, reading them now.');
  await alice.locator('.message .body a[href="https://wiki.example.org/natter/notes"]').waitFor();
  await alice.getByRole('button', { name: 'Members' }).click();
  await alice.locator('#member-list .member-button', { hasText: 'bob' }).waitFor();
  await alice.locator('#composer-input').focus();
  await h.screenshot(alice, 'chat-light');
  await alice.getByRole('button', { name: 'Members' }).click();

  const dark = await fixture.newPage({ name: 'alice-dark', colorScheme: 'dark' });
  await h.logIn(dark, 'alice', 'alice-password-1');
  await h.openRoom(dark, 'lobby');
  await h.waitForMessage(dark, 'Great, reading them now.');
  await h.eventually(async () => (await h.shownSeqs(dark)).includes(1), { message: 'the whole lobby', interval: 200 });
  assert.equal(await dark.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(36, 36, 36)');
  await h.screenshot(dark, 'chat-dark');

  const narrow = await fixture.newPage({ name: 'bob-narrow', width: 390, height: 780 });
  await h.logIn(narrow, 'bob', 'bob-password-1');
  // At phone width the room list and the conversation are shown one at a time.
  await narrow.locator('#room-list').waitFor();
  assert.equal(await narrow.locator('#conversation').isHidden(), true);
  await h.screenshot(narrow, 'narrow-rooms');
  await h.openRoom(narrow, 'lobby');
  await h.waitForMessage(narrow, 'Great, reading them now.');
  assert.equal(await narrow.locator('#sidebar').isHidden(), true);
  await h.screenshot(narrow, 'narrow-chat');
  await narrow.getByRole('button', { name: 'Back to Conversations' }).click();
  await narrow.locator('.room-row[data-room="lobby"]').waitFor();
  assert.equal(await narrow.evaluate(() => document.activeElement?.dataset.room), 'lobby');
}));
