// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Rooms people control, driven through the page by three people: a private room created
// and found by nobody else, an invitation with user-name completion accepted from the
// sidebar, invitations kept by the server for someone with no page open and declined by
// dismissing them, the room directory, roles, a topic changed by a moderator and seen live, a kick
// that takes the room off the kicked person's page at once, a ban and an unban, the
// server's refusals shown next to what was tried, and blocking from a DM. Screenshots of
// the new dialogs (light, phone width, Chinese). Kicks, roles and topics in a watching
// member's timeline, live and after a reload.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const fixture = new h.Fixture();
let alice;
let bob;
let carol;

before(async () => {
  await fixture.start();
  alice = await fixture.newPage({ name: 'alice' });
  bob = await fixture.newPage({ name: 'bob' });
  carol = await fixture.newPage({ name: 'carol' });
  await h.register(alice, 'alice', 'alice-password-1');
  await h.register(bob, 'bob', 'bob-password-1');
  await h.register(carol, 'carol', 'carol-password-1');
});

after(async () => {
  await fixture.close();
  fixture.assertNoPageErrors();
});

/** Visible controls of the open dialog without an accessible name. */
function unlabelledInDialog(page) {
  return page.evaluate(() => {
    const missing = [];
    const dialog = document.querySelector('dialog[open]');
    for (const node of dialog.querySelectorAll('button, input, textarea, select')) {
      if (!node.checkVisibility() || node.closest('[hidden]'))
        continue;
      const name = node.getAttribute('aria-label') || node.getAttribute('aria-labelledby') ||
        (node.labels && [...node.labels].map((l) => l.textContent).join('').trim()) ||
        node.textContent.trim();
      if (!name)
        missing.push(node.outerHTML.slice(0, 120));
    }
    return missing;
  });
}

/** Whether the keyboard focus is inside the open dialog. */
function focusInDialog(page) {
  return page.evaluate(() => Boolean(document.activeElement?.closest('dialog[open]')));
}

async function openNew(page) {
  await page.getByRole('button', { name: 'New Conversation' }).first().click();
  await page.locator('#new-dialog[open]').waitFor();
}

async function createRoom(page, { name, topic, isPrivate }) {
  await openNew(page);
  await page.getByRole('button', { name: 'Create a Room…' }).click();
  await page.locator('#create-dialog[open]').waitFor();
  assert.equal(await focusInDialog(page), true);
  await page.getByLabel('Room name').fill(name);
  if (topic)
    await page.getByLabel('Topic (optional)').fill(topic);
  if (isPrivate)
    await page.getByLabel('Private room').check();
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.locator('#create-dialog').waitFor({ state: 'hidden' });
  await page.locator('#room-title', { hasText: name }).waitFor();
}

async function openMembers(page) {
  if (await page.locator('#members-pane').isHidden())
    await page.getByRole('button', { name: 'Members' }).click();
  await page.locator('#members-pane').waitFor();
}

async function openMember(page, user) {
  await openMembers(page);
  await page.locator('#member-list .member-button', { hasText: user }).click();
  await page.locator('#member-dialog[open]').waitFor();
}

async function openSettings(page) {
  await page.getByRole('button', { name: 'Room Settings' }).click();
  await page.locator('#room-dialog[open]').waitFor();
}

async function closeDialog(page) {
  await page.keyboard.press('Escape');
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
}

test('a private room: created with a topic, invisible to others, joined by invitation', h.withReport(fixture, async () => {
  // alice and bob share the lobby, which is where the invite completion finds bob.
  await h.joinRoom(alice, 'lobby');
  await h.joinRoom(bob, 'lobby');

  await createRoom(alice, { name: 'secret', topic: 'Plans nobody else sees', isPrivate: true });
  await alice.locator('#room-tags .tag', { hasText: 'Private' }).waitFor();
  await alice.locator('#room-tags .tag', { hasText: 'Owner' }).waitFor();
  await alice.locator('#room-subtitle', { hasText: 'Plans nobody else sees' }).waitFor();
  const row = alice.locator('.room-row[data-room="secret"]');
  await row.locator('use[href="#i-lock"]').waitFor({ state: 'attached' });
  assert.match(await row.locator('.sr-only').textContent(), /Private, Owner/);

  // carol shares nothing with it: the directory does not list it and joining is refused.
  await openNew(carol);
  await carol.getByLabel('Find public rooms').fill('secret');
  await carol.getByLabel('Find public rooms').press('Enter');
  await carol.locator('#directory-status', { hasText: 'No public rooms match “secret”' }).waitFor();
  assert.equal(await carol.locator('#directory-list li').count(), 0);
  await carol.getByLabel('Join or create a room').fill('secret');
  await carol.getByLabel('Join or create a room').press('Enter');
  await carol.locator('#join-error', { hasText: 'You cannot join secret: it is private and needs an invitation' }).waitFor();
  await closeDialog(carol);
  assert.equal(await carol.locator('.room-row[data-room="secret"]').count(), 0);

  // alice invites bob, completing his name from the people she shares rooms with.
  await openSettings(alice);
  assert.deepEqual(await unlabelledInDialog(alice), []);
  await alice.locator('#room-dialog-summary', { hasText: 'Private room' }).waitFor();
  const suggestions = await alice.$$eval('#invite-suggestions option', (options) => options.map((o) => o.value));
  assert.deepEqual(suggestions, ['bob']);
  await alice.getByLabel('Invite someone').fill('nobody');
  await alice.getByLabel('Invite someone').press('Enter');
  await alice.locator('#invite-error', { hasText: 'There is no user named nobody.' }).waitFor();
  assert.equal(await alice.getByLabel('Invite someone').getAttribute('aria-invalid'), 'true');
  await alice.getByLabel('Invite someone').fill('bob');
  await alice.getByLabel('Invite someone').press('Enter');
  await alice.locator('#invite-done', { hasText: 'Invitation to secret sent to bob.' }).waitFor();
  await h.screenshot(alice, 'rooms-settings-light');
  await closeDialog(alice);

  // bob sees the invitation arrive and joins from it.
  await bob.locator('.toast', { hasText: 'alice invited you to secret' }).waitFor();
  const invite = bob.locator('#invite-list .invite-row[data-room="secret"]');
  await invite.filter({ hasText: 'Invited by alice' }).waitFor();
  await h.screenshot(bob, 'rooms-invitation-light');
  await bob.getByRole('button', { name: 'Join secret' }).click();
  await bob.locator('#room-title', { hasText: 'secret' }).waitFor();
  await bob.locator('#room-subtitle', { hasText: 'Plans nobody else sees' }).waitFor();
  await bob.locator('#room-tags .tag', { hasText: 'Private' }).waitFor();
  await invite.waitFor({ state: 'detached' });
  await bob.locator('#invites').waitFor({ state: 'hidden' });
  await h.sendMessage(bob, 'Thanks for the invitation.');
  await h.openRoom(alice, 'secret');
  await h.waitForMessage(alice, 'Thanks for the invitation.');
}));

test('the room directory finds public rooms by name or topic and joins them', h.withReport(fixture, async () => {
  await createRoom(alice, { name: 'knitting', topic: 'Wool and needles' });
  assert.equal(await alice.locator('#room-tags .tag', { hasText: 'Private' }).count(), 0);

  await openNew(carol);
  // Opening the join flow lists the public rooms; the private one is not among them.
  await carol.locator('#directory-list li[data-room="lobby"]').waitFor();
  assert.equal(await carol.locator('#directory-list li[data-room="secret"]').count(), 0);
  // The server matches the query as written (case-sensitive) in names and topics.
  await carol.getByLabel('Find public rooms').fill('Wool');
  await carol.getByLabel('Find public rooms').press('Enter');
  const found = carol.locator('#directory-list li[data-room="knitting"]');
  await found.filter({ hasText: 'Wool and needles' }).filter({ hasText: '1 member' }).waitFor();
  await carol.locator('#directory-status', { hasText: '1 public room' }).waitFor();
  await h.screenshot(carol, 'rooms-directory-light');
  await carol.getByRole('button', { name: 'Join knitting' }).click();
  await carol.locator('#new-dialog').waitFor({ state: 'hidden' });
  await carol.locator('#room-title', { hasText: 'knitting' }).waitFor();
  await carol.locator('#room-subtitle', { hasText: 'Wool and needles' }).waitFor();

  await openNew(bob);
  await bob.getByLabel('Find public rooms').fill('knit');
  await bob.getByLabel('Find public rooms').press('Enter');
  await bob.locator('#directory-list li[data-room="knitting"]', { hasText: '2 members' }).waitFor();
  await bob.getByRole('button', { name: 'Join knitting' }).click();
  await bob.locator('#room-title', { hasText: 'knitting' }).waitFor();
}));

test('owners set roles, moderators change the topic, everyone sees it live', h.withReport(fixture, async () => {
  await h.openRoom(alice, 'knitting');
  await openMember(alice, 'carol');
  assert.equal(await focusInDialog(alice), true);
  assert.deepEqual(await unlabelledInDialog(alice), []);
  // The keyboard stays in the dialog, forwards and backwards, past either end.
  for (const key of [...Array(10).fill('Tab'), ...Array(10).fill('Shift+Tab')]) {
    await alice.keyboard.press(key);
    assert.equal(await focusInDialog(alice), true, `focus after ${key}`);
  }
  await alice.getByLabel('Role', { exact: true }).selectOption('moderator');
  await alice.getByRole('button', { name: 'Change Role' }).click();
  await alice.locator('#member-dialog-role', { hasText: 'Role in knitting: Moderator' }).waitFor();
  await closeDialog(alice);
  await alice.locator('#member-list .member-button', { hasText: 'carol' }).locator('.tag', { hasText: 'Moderator' }).waitFor();

  // carol sees her new role in the header, and alice's in the member list.
  await carol.locator('#room-tags .tag', { hasText: 'Moderator' }).waitFor();
  await openMembers(carol);
  await carol.locator('#member-list .member-button', { hasText: 'alice' }).locator('.tag', { hasText: 'Owner' }).waitFor();

  // A moderator may remove members but is not offered to remove an owner.
  await openMember(carol, 'alice');
  assert.equal(await carol.locator('#moderate-form').isHidden(), true);
  await closeDialog(carol);
  await openMember(carol, 'bob');
  await carol.getByRole('button', { name: 'Remove From Room' }).waitFor();
  await closeDialog(carol);

  // A moderator changes the topic; alice and bob see it without doing anything.
  await openSettings(carol);
  assert.equal(await carol.getByLabel('Topic', { exact: true }).getAttribute('readonly'), null);
  await carol.getByLabel('Topic', { exact: true }).fill('Wool, needles and patterns');
  await carol.getByRole('button', { name: 'Save Topic' }).click();
  await carol.locator('#topic-done', { hasText: 'Topic saved.' }).waitFor();
  await closeDialog(carol);
  await alice.locator('#room-subtitle', { hasText: 'Wool, needles and patterns' }).waitFor();
  await bob.locator('#room-subtitle', { hasText: 'Wool, needles and patterns' }).waitFor();
  await bob.locator('#announcer', { hasText: 'carol changed the topic of knitting to: Wool, needles and patterns' })
    .waitFor({ state: 'attached' });

  // A plain member reads the topic but is offered nothing they may not do.
  await openSettings(bob);
  assert.equal(await bob.getByLabel('Topic', { exact: true }).getAttribute('readonly'), '');
  assert.equal(await bob.getByRole('button', { name: 'Save Topic' }).isHidden(), true);
  assert.equal(await bob.locator('#unban-form').isHidden(), true);
  await closeDialog(bob);
  await openMember(bob, 'carol');
  assert.equal(await bob.locator('#role-form').isHidden(), true);
  assert.equal(await bob.locator('#moderate-form').isHidden(), true);
  await bob.getByRole('button', { name: 'Send a Direct Message' }).waitFor();
  await closeDialog(bob);

  // The server's refusal is shown where it was asked: the last owner cannot step down.
  await openMember(alice, 'alice');
  await alice.getByLabel('Role', { exact: true }).selectOption('member');
  await alice.getByRole('button', { name: 'Change Role' }).click();
  await alice.locator('#role-error', { hasText: 'Not allowed: only owners change roles' }).waitFor();
  assert.equal(await alice.locator('#role-error').getAttribute('role'), 'alert');
  await h.screenshot(alice, 'rooms-member-error-light');
  await closeDialog(alice);
  await alice.locator('#room-tags .tag', { hasText: 'Owner' }).waitFor();
  // Nor may the last owner leave a room others are still in.
  await alice.getByRole('button', { name: 'Leave Room' }).click();
  await alice.locator('.toast', { hasText: 'You are the last owner of knitting: make someone else owner before you leave.' }).waitFor();
  await alice.locator('.room-row[data-room="knitting"]').waitFor();
}));

test('a kick takes the room off the kicked page at once; a ban keeps them out until unbanned', h.withReport(fixture, async () => {
  // bob is looking at the private room when alice removes him.
  await h.openRoom(bob, 'secret');
  await h.openRoom(alice, 'secret');
  await openMember(alice, 'bob');
  await alice.getByLabel('Reason (optional)').fill('Off topic');
  await alice.getByRole('button', { name: 'Remove From Room' }).click();
  await alice.locator('#member-dialog').waitFor({ state: 'hidden' });
  await alice.locator('.toast', { hasText: 'bob was removed from secret.' }).waitFor();
  await alice.locator('#member-list .member-button', { hasText: 'bob' }).waitFor({ state: 'detached' });

  await bob.locator('.room-row[data-room="secret"]').waitFor({ state: 'detached' });
  await bob.locator('.toast', { hasText: 'You were removed from secret by alice.' }).waitFor();
  await bob.locator('#room-title', { hasText: 'Natter' }).waitFor();
  await h.screenshot(bob, 'rooms-kicked-light');
  // Without an invitation he cannot come back.
  await openNew(bob);
  await bob.getByLabel('Join or create a room').fill('secret');
  await bob.getByLabel('Join or create a room').press('Enter');
  await bob.locator('#join-error', { hasText: 'You cannot join secret' }).waitFor();
  await closeDialog(bob);

  // carol, a moderator of knitting, bans bob.
  await h.openRoom(carol, 'knitting');
  await openMember(carol, 'bob');
  await carol.getByRole('button', { name: 'Ban' }).click();
  await carol.locator('.toast', { hasText: 'bob was banned from knitting.' }).waitFor();
  await bob.locator('.room-row[data-room="knitting"]').waitFor({ state: 'detached' });
  // A ban says so, where a kick said "removed".
  await bob.locator('.toast', { hasText: 'You were banned from knitting by carol.' }).waitFor();
  await openNew(bob);
  await bob.getByLabel('Join or create a room').fill('knitting');
  await bob.getByLabel('Join or create a room').press('Enter');
  await bob.locator('#join-error', { hasText: 'You cannot join knitting' }).waitFor();
  await closeDialog(bob);

  // A banned user cannot be invited: the refusal says so.
  await openSettings(carol);
  await carol.getByLabel('Invite someone').fill('bob');
  await carol.getByLabel('Invite someone').press('Enter');
  await carol.locator('#invite-error', { hasText: 'You cannot invite bob to this room' }).waitFor();

  // Unbanned, he finds and joins it again.
  await carol.getByLabel('Unban someone').fill('bob');
  await carol.getByLabel('Unban someone').press('Enter');
  await carol.locator('#unban-done', { hasText: 'bob may join knitting again.' }).waitFor();
  await closeDialog(carol);
  await openNew(bob);
  await bob.getByLabel('Find public rooms').fill('knitting');
  await bob.getByLabel('Find public rooms').press('Enter');
  await bob.getByRole('button', { name: 'Join knitting' }).click();
  await bob.locator('#room-title', { hasText: 'knitting' }).waitFor();
}));

test('invitations wait on the server for someone with no page open; dismissing one declines it', h.withReport(fixture, async () => {
  // dave has an account but no page open when alice invites him twice.
  const away = await fixture.newPage({ name: 'dave-away' });
  await h.register(away, 'dave', 'dave-password-1');
  await away.context().close();
  for (const room of ['attic', 'den']) {
    await createRoom(alice, { name: room, isPrivate: true });
    await openSettings(alice);
    await alice.getByLabel('Invite someone').fill('dave');
    await alice.getByLabel('Invite someone').press('Enter');
    await alice.locator('#invite-done', { hasText: `Invitation to ${room} sent to dave.` }).waitFor();
    await closeDialog(alice);
  }

  // A browser that never saw the invitations lists both after logging in.
  const dave = await fixture.newPage({ name: 'dave' });
  await h.logIn(dave, 'dave', 'dave-password-1');
  await dave.locator('#invite-list .invite-row[data-room="attic"]', { hasText: 'Invited by alice' }).waitFor();
  await dave.locator('#invite-list .invite-row[data-room="den"]', { hasText: 'Invited by alice' }).waitFor();

  // Dismissing declines on the server: gone after a reload too, and den stays closed.
  await dave.getByRole('button', { name: 'Dismiss the invitation to den' }).click();
  await dave.locator('#invite-list .invite-row[data-room="den"]').waitFor({ state: 'detached' });
  await dave.reload();
  await h.waitOnline(dave);
  await dave.locator('#invite-list .invite-row[data-room="attic"]').waitFor();
  assert.equal(await dave.locator('#invite-list .invite-row[data-room="den"]').count(), 0);
  await openNew(dave);
  await dave.getByLabel('Join or create a room').fill('den');
  await dave.getByLabel('Join or create a room').press('Enter');
  await dave.locator('#join-error', { hasText: 'You cannot join den' }).waitFor();
  await closeDialog(dave);

  await dave.getByRole('button', { name: 'Join attic' }).click();
  await dave.locator('#room-title', { hasText: 'attic' }).waitFor();
  await dave.locator('#invites').waitFor({ state: 'hidden' });
}));

test('blocking someone from a DM refuses their messages until unblocked', h.withReport(fixture, async () => {
  await openNew(bob);
  await bob.getByLabel('Message someone').fill('alice');
  await bob.getByLabel('Message someone').press('Enter');
  await bob.locator('#room-title', { hasText: 'alice' }).waitFor();
  await h.sendMessage(bob, 'Hi alice, about the kick');
  await h.waitForMessage(bob, 'Hi alice, about the kick');

  await h.openRoom(alice, 'dm:alice:bob');
  await h.waitForMessage(alice, 'Hi alice, about the kick');
  await openMembers(alice);
  await alice.getByRole('button', { name: 'Block bob' }).click();
  await alice.locator('#block-status', { hasText: 'bob is blocked' }).waitFor();
  await alice.getByRole('button', { name: 'Unblock bob' }).waitFor();

  await h.sendMessage(bob, 'Are you there?');
  await bob.locator('#pending-list li.failed', { hasText: 'Not sent: You are not allowed to do that.' }).waitFor();

  await alice.getByRole('button', { name: 'Unblock bob' }).click();
  await alice.locator('#block-status', { hasText: 'bob is no longer blocked.' }).waitFor();
  await bob.locator('#pending-list li.failed').getByRole('button', { name: 'Retry' }).click();
  await h.waitForMessage(alice, 'Are you there?');
}));

/** The open room's timeline as text, in page order: message bodies and moderation lines. */
function timelineText(page) {
  return page.$$eval('#message-list > li', (nodes) => nodes.map((node) =>
    node.classList.contains('moderation-event') ? `~ ${node.textContent.trim()}`
      : node.querySelector('.body')?.textContent.trim() ?? ''));
}

test('kicks, roles and topics show between the messages, live and after a reload', h.withReport(fixture, async () => {
  await createRoom(alice, { name: 'weaving' });
  await h.joinRoom(bob, 'weaving');
  await h.joinRoom(carol, 'weaving');
  await h.openRoom(alice, 'weaving');
  await alice.locator('#member-list .member-button', { hasText: 'carol' }).waitFor();

  await h.sendMessage(alice, 'Welcome to weaving');
  await h.waitForMessage(carol, 'Welcome to weaving');
  await openMember(alice, 'bob');
  await alice.getByLabel('Reason (optional)').fill('Selling looms');
  await alice.getByRole('button', { name: 'Remove From Room' }).click();
  await alice.locator('#member-dialog').waitFor({ state: 'hidden' });
  // carol, who only watches, sees it with its reason (which the live event lacks).
  await carol.locator('#message-list .moderation-event', { hasText: 'bob was removed by alice: Selling looms' }).waitFor();

  await h.sendMessage(alice, 'Where were we');
  await h.waitForMessage(carol, 'Where were we');
  await openMember(alice, 'carol');
  await alice.getByLabel('Role', { exact: true }).selectOption('moderator');
  await alice.getByRole('button', { name: 'Change Role' }).click();
  await alice.locator('#member-dialog-role', { hasText: 'Role in weaving: Moderator' }).waitFor();
  await closeDialog(alice);
  await carol.locator('#message-list .moderation-event', { hasText: 'alice made carol a moderator' }).waitFor();

  await h.sendMessage(alice, 'Patterns next');
  await h.waitForMessage(carol, 'Patterns next');
  // carol looks at another room meanwhile: a topic change is not an unread message.
  await h.openRoom(carol, 'knitting');
  await openSettings(alice);
  await alice.getByLabel('Topic', { exact: true }).fill('Warp and weft');
  await alice.getByRole('button', { name: 'Save Topic' }).click();
  await alice.locator('#topic-done', { hasText: 'Topic saved.' }).waitFor();
  await closeDialog(alice);
  await h.sendMessage(alice, 'Bye for now');
  await carol.locator('.room-row[data-room="weaving"] .badge').waitFor();
  assert.equal(await carol.locator('.room-row[data-room="weaving"] .badge').textContent(), '1');
  await h.openRoom(carol, 'weaving');
  await carol.locator('#message-list .moderation-event', { hasText: 'alice changed the topic to: Warp and weft' }).waitFor();
  await h.waitForMessage(carol, 'Bye for now');

  const expected = [
    'Welcome to weaving',
    '~ bob was removed by alice: Selling looms',
    'Where were we',
    '~ alice made carol a moderator',
    'Patterns next',
    '~ alice changed the topic to: Warp and weft',
    'Bye for now',
  ];
  // Live: in order, each once (the live event and the log's copy of it are one line).
  await h.eventually(async () => JSON.stringify(await timelineText(carol)) === JSON.stringify(expected),
    { message: 'the live timeline in order' });
  // Quiet lines, read as plain text, never counted as messages.
  assert.equal(await carol.locator('#message-list .moderation-event').count(), 3);
  assert.equal(await carol.locator('#message-list .moderation-event[aria-hidden], #message-list .moderation-event[role]').count(), 0);

  // A reload reads them from the log, placed between the messages from history.
  await carol.reload();
  await carol.locator('html:not(.is-loading)').waitFor({ state: 'attached' });
  await h.waitOnline(carol);
  await h.openRoom(carol, 'weaving');
  await h.waitForMessage(carol, 'Bye for now');
  await h.eventually(async () => JSON.stringify(await timelineText(carol)) === JSON.stringify(expected),
    { message: 'the timeline after a reload in order' });
  await h.screenshot(carol, 'rooms-moderation-light');
}));

test('phone width and Chinese: the dialogs fit and speak the language', h.withReport(fixture, async () => {
  const narrow = await fixture.newPage({ name: 'alice-narrow', width: 390, height: 780 });
  await h.logIn(narrow, 'alice', 'alice-password-1');
  await h.openRoom(narrow, 'knitting');
  await narrow.locator('#room-tags .tag', { hasText: 'Owner' }).waitFor();
  await openMember(narrow, 'carol');
  const box = await narrow.locator('#member-dialog').boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390, `dialog fits: ${JSON.stringify(box)}`);
  await h.screenshot(narrow, 'rooms-member-narrow');
  await closeDialog(narrow);
  // Escape left the dialog; the conversation is still shown.
  await narrow.locator('#room-title', { hasText: 'knitting' }).waitFor();

  const zh = await fixture.newPage({ name: 'carol-zh', locale: 'zh-CN' });
  await zh.getByLabel('用户名').fill('carol');
  await zh.getByLabel('密码', { exact: true }).fill('carol-password-1');
  await zh.locator('#login-submit').click();
  await h.waitOnline(zh);
  await h.openRoom(zh, 'knitting');
  await zh.locator('#room-tags .tag', { hasText: '版主' }).waitFor();
  await zh.getByRole('button', { name: '聊天室设置' }).click();
  await zh.locator('#room-dialog-title', { hasText: 'knitting 设置' }).waitFor();
  await zh.getByLabel('邀请他人').fill('nobody');
  await zh.getByLabel('邀请他人').press('Enter');
  await zh.locator('#invite-error', { hasText: '没有名为 nobody 的用户。' }).waitFor();
  assert.deepEqual(await unlabelledInDialog(zh), []);
  await h.screenshot(zh, 'rooms-settings-zh_CN');
  await closeDialog(zh);
}));
