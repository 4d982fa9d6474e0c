// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Messages people can fix and answer, through the page: editing the last message with Up,
// deleting with a confirmation (one's own, and as the room's owner someone else's), replies
// that quote and jump to their original (loading history for it), reactions with counts and
// who reacted, @mentions highlighted and completed with Tab, the room's notification level,
// and the same state after a reload and after changes made while a page was away.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const fixture = new h.Fixture();
const ROOM = 'team';
const FILLERS = 70;
let alice;
let bob;

before(async () => {
  await fixture.start();
  alice = await fixture.newPage({ name: 'alice' });
  bob = await fixture.newPage({ name: 'bob' });
  await h.register(alice, 'alice', 'alice-password-1');
  await h.register(bob, 'bob', 'bob-password-1');
  // alice creates the room, so she is its owner; bob is a member.
  await h.joinRoom(alice, ROOM);
  await h.joinRoom(bob, ROOM);
  // A third member whose name starts as bob's does, for name completion.
  const bea = await fixture.newPage({ name: 'bea' });
  await h.register(bea, 'bea', 'bea-password-1');
  await h.joinRoom(bea, ROOM);
  await bea.close();
});

after(async () => {
  await fixture.close();
  fixture.assertNoPageErrors();
});

async function seqOf(page, text) {
  await h.waitForMessage(page, text);
  return Number(await h.messageLocator(page, text).first().getAttribute('data-seq'));
}

function bySeq(page, seq) {
  return page.locator(`#message-list li.message[data-seq="${seq}"]`);
}

/** Opens the menu of the message @seq with the keyboard, as someone without a mouse does. */
async function openMenu(page, seq) {
  const button = bySeq(page, seq).locator('.message-menu-button');
  await button.focus();
  await page.keyboard.press('Enter');
  const menu = page.getByRole('menu');
  await menu.waitFor();
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  // The focus is in the menu, on its first item.
  await page.waitForFunction(() => document.activeElement?.getAttribute('role') === 'menuitem');
  return menu;
}

async function menuItems(page) {
  return page.getByRole('menu').locator('.menu-item').allTextContents();
}

test('Up in an empty message box edits the last message; everyone sees "edited"', h.withReport(fixture, async () => {
  await h.sendMessage(alice, 'Teh meeting is at 3');
  const seq = await seqOf(bob, 'Teh meeting is at 3');
  await seqOf(alice, 'Teh meeting is at 3');

  // Up, then Escape: nothing changes and the box is empty again.
  const box = alice.locator('#composer-input');
  await box.focus();
  await alice.keyboard.press('ArrowUp');
  assert.equal(await box.inputValue(), 'Teh meeting is at 3');
  await alice.locator('#composer-context', { hasText: 'Editing your message' }).waitFor();
  await alice.keyboard.press('Escape');
  await alice.locator('#composer-context').waitFor({ state: 'hidden' });
  assert.equal(await box.inputValue(), '');

  await alice.keyboard.press('ArrowUp');
  await box.fill('The meeting is at 3');
  await box.press('Enter');
  assert.equal(await box.inputValue(), '');
  await alice.locator('#composer-context').waitFor({ state: 'hidden' });

  for (const page of [alice, bob]) {
    const node = bySeq(page, seq);
    await node.locator('.body', { hasText: /^The meeting is at 3$/ }).waitFor();
    const edited = node.locator('.edited');
    await edited.waitFor();
    assert.equal(await edited.textContent(), 'edited');
    assert.match(await edited.getAttribute('title'), /^Edited .*\d/);
  }
  // The change is applied to its message, not shown as one of its own.
  assert.equal(await h.messageLocator(bob, 'Teh meeting is at 3').count(), 0);
  assert.deepEqual(await h.shownSeqs(alice), await h.shownSeqs(bob));
  assert.ok(!(await h.shownSeqs(bob)).includes(seq + 1), 'the edit has no entry of its own');
}));

test('deleting one\'s own message asks first and leaves a tombstone', h.withReport(fixture, async () => {
  await h.sendMessage(alice, 'Oops, wrong room');
  const seq = await seqOf(alice, 'Oops, wrong room');
  await seqOf(bob, 'Oops, wrong room');

  // Cancel first: nothing happens, and the focus goes back to the message's menu button.
  await openMenu(alice, seq);
  assert.deepEqual(await menuItems(alice), ['Reply', 'Edit', 'Delete']);
  await alice.getByRole('menuitem', { name: 'Delete' }).click();
  const dialog = alice.locator('#message-delete-dialog');
  await dialog.waitFor();
  await dialog.locator('#message-delete-text', { hasText: 'Your message will be removed for everyone.' }).waitFor();
  await dialog.locator('#message-delete-quote', { hasText: 'Oops, wrong room' }).waitFor();
  await alice.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  await alice.waitForFunction((s) => document.activeElement?.closest(`li[data-seq="${s}"]`) &&
    document.activeElement.classList.contains('message-menu-button'), seq);
  await h.waitForMessage(bob, 'Oops, wrong room');

  // With the keyboard only: the menu, down to Delete, Enter, then the dialog's Delete.
  await openMenu(alice, seq);
  await alice.keyboard.press('ArrowDown');
  await alice.keyboard.press('ArrowDown');
  await alice.keyboard.press('Enter');
  await dialog.waitFor();
  await h.screenshot(alice, 'messages-delete-confirm');
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await dialog.waitFor({ state: 'hidden' });

  for (const page of [alice, bob]) {
    await bySeq(page, seq).locator('.tombstone', { hasText: 'This message was deleted.' }).waitFor();
    assert.equal(await bySeq(page, seq).locator('.body').count(), 0);
    assert.equal(await bySeq(page, seq).locator('.message-menu-button').count(), 0);
    assert.equal(await h.messageLocator(page, 'Oops, wrong room').count(), 0);
  }
}));

test('the room\'s owner deletes someone else\'s message; a member cannot', h.withReport(fixture, async () => {
  await h.sendMessage(bob, 'Buy cheap watches here');
  const spam = await seqOf(alice, 'Buy cheap watches here');
  const meeting = await seqOf(bob, 'The meeting is at 3');

  // bob is a member: alice's message offers him no Edit and no Delete.
  await openMenu(bob, meeting);
  assert.deepEqual(await menuItems(bob), ['Reply']);
  await bob.keyboard.press('Escape');
  await bob.getByRole('menu').waitFor({ state: 'detached' });
  await bob.waitForFunction(() => document.activeElement?.classList.contains('message-menu-button'));

  // alice owns the room: she may delete bob's message, but not edit it.
  await openMenu(alice, spam);
  assert.deepEqual(await menuItems(alice), ['Reply', 'Delete']);
  await alice.getByRole('menuitem', { name: 'Delete' }).click();
  const dialog = alice.locator('#message-delete-dialog');
  await dialog.locator('#message-delete-text', { hasText: 'The message from bob will be removed for everyone.' }).waitFor();
  await dialog.getByRole('button', { name: 'Delete' }).click();
  for (const page of [alice, bob])
    await bySeq(page, spam).locator('.tombstone').waitFor();
}));

test('a reply quotes its original, and the quote jumps to it, loading history', h.withReport(fixture, async () => {
  await h.sendMessage(bob, 'Original question: who has the key?');
  const original = await seqOf(alice, 'Original question: who has the key?');
  const fillers = Array.from({ length: FILLERS }, (_, i) => `Filler ${i + 1}`);
  await h.sendRaw(fixture.browser, fixture.daemon.wsUrl,
    { user: 'bob', password: 'bob-password-1', room: ROOM, bodies: fillers, join: false, idPrefix: 'filler' });
  await h.waitForMessage(alice, `Filler ${FILLERS}`);

  await openMenu(alice, original);
  await alice.getByRole('menuitem', { name: 'Reply' }).click();
  await alice.locator('#composer-context', { hasText: 'Replying to bob: Original question: who has the key?' }).waitFor();
  await alice.waitForFunction(() => document.activeElement?.id === 'composer-input');
  await h.sendMessage(alice, 'I have it.');
  await alice.locator('#composer-context').waitFor({ state: 'hidden' });
  const reply = await seqOf(bob, 'I have it.');

  for (const page of [alice, bob]) {
    const quote = bySeq(page, reply).locator('.reply-quote');
    await quote.waitFor();
    assert.equal(await quote.locator('.reply-sender').textContent(), 'bob');
    assert.equal(await quote.locator('.reply-text').textContent(), 'Original question: who has the key?');
    // The quote comes before the reply's own text.
    assert.equal(await bySeq(page, reply).evaluate((node) =>
      Boolean(node.querySelector('.reply-quote').compareDocumentPosition(node.querySelector('.body')) &
        Node.DOCUMENT_POSITION_FOLLOWING)), true);
  }

  // A page that has only the newest messages: the original is not loaded yet.
  const fresh = await fixture.newPage({ name: 'bob-fresh' });
  await h.logIn(fresh, 'bob', 'bob-password-1');
  await h.openRoom(fresh, ROOM);
  const quote = bySeq(fresh, reply).locator('.reply-quote');
  await quote.waitFor();
  assert.equal(await bySeq(fresh, original).count(), 0, 'the original is beyond the first page');
  assert.equal(await quote.locator('.reply-text').textContent(), 'An earlier message');
  await quote.click();
  await fresh.waitForFunction((s) => {
    const node = document.activeElement;
    return node?.matches(`li.message[data-seq="${s}"]`) && node.classList.contains('flash');
  }, original);
  const visible = await bySeq(fresh, original).evaluate((node) => {
    const box = node.getBoundingClientRect();
    const timeline = document.getElementById('timeline').getBoundingClientRect();
    return box.top >= timeline.top && box.bottom <= timeline.bottom;
  });
  assert.equal(visible, true, 'the original is scrolled into view');
  // Now that it is loaded, the quote names it.
  await quote.locator('.reply-sender', { hasText: 'bob' }).waitFor();
  await fresh.close();
}));

test('reactions: chips with counts and who reacted; one\'s own toggles off', h.withReport(fixture, async () => {
  const seq = await seqOf(bob, 'The meeting is at 3');
  await seqOf(alice, 'The meeting is at 3');
  await openMenu(bob, seq);
  await bob.getByRole('menuitem', { name: 'React with 👍' }).click();

  const chip = (page) => bySeq(page, seq).locator('.reaction[data-emoji="👍"]');
  for (const page of [alice, bob]) {
    await chip(page).locator('.reaction-count', { hasText: /^1$/ }).waitFor();
    assert.equal(await chip(page).getAttribute('title'), 'bob reacted with 👍');
  }
  assert.equal(await chip(bob).getAttribute('aria-pressed'), 'true');
  assert.equal(await chip(alice).getAttribute('aria-pressed'), 'false');

  // alice adds hers by clicking the chip.
  await chip(alice).click();
  for (const page of [alice, bob]) {
    await chip(page).locator('.reaction-count', { hasText: /^2$/ }).waitFor();
    assert.equal(await chip(page).getAttribute('title'), 'bob and alice reacted with 👍');
  }
  assert.equal(await chip(alice).getAttribute('aria-pressed'), 'true');

  // bob takes his back with the keyboard: the chip keeps the focus.
  await chip(bob).focus();
  await bob.keyboard.press('Enter');
  for (const page of [alice, bob]) {
    await chip(page).locator('.reaction-count', { hasText: /^1$/ }).waitFor();
    assert.equal(await chip(page).getAttribute('title'), 'alice reacted with 👍');
  }
  assert.equal(await chip(bob).getAttribute('aria-pressed'), 'false');
  await bob.waitForFunction(() => document.activeElement?.dataset.emoji === '👍');

  // Any other emoji, typed in; too long a reaction is refused before it is sent.
  await openMenu(alice, seq);
  await alice.getByRole('menuitem', { name: 'Other Reaction' }).click();
  const input = alice.getByLabel('Emoji');
  await input.fill('x'.repeat(33));
  await input.press('Enter');
  await alice.locator('#react-error', { hasText: 'at most 32 bytes' }).waitFor();
  await input.fill('🦀');
  await input.press('Enter');
  await alice.locator('#react-dialog').waitFor({ state: 'hidden' });
  for (const page of [alice, bob]) {
    await bySeq(page, seq).locator('.reaction[data-emoji="🦀"] .reaction-count', { hasText: /^1$/ }).waitFor();
    assert.equal(await bySeq(page, seq).locator('.reaction').count(), 2);
  }
}));

test('mentions are highlighted, one\'s own most, and Tab completes names', h.withReport(fixture, async () => {
  const box = alice.locator('#composer-input');
  await box.fill('');
  await alice.waitForFunction(() => document.querySelector('#room-subtitle')?.textContent.startsWith('3 members'));
  await box.pressSequentially('@b');
  await box.press('Tab');
  assert.equal(await box.inputValue(), '@bea ');
  await alice.locator('#announcer', { hasText: 'Completed bea, 1 of 2; Tab for the next' }).waitFor({ state: 'attached' });
  await box.press('Tab');
  assert.equal(await box.inputValue(), '@bob ');
  await alice.locator('#announcer', { hasText: 'Completed bob, 2 of 2' }).waitFor({ state: 'attached' });
  assert.equal(await alice.evaluate(() => document.activeElement?.id), 'composer-input');
  await box.pressSequentially('can you check the notes?');
  await box.press('Enter');
  const seq = await seqOf(bob, '@bob can you check the notes?');

  const mine = bySeq(bob, seq).locator('.mention.mention-self');
  await mine.waitFor();
  assert.equal(await mine.textContent(), '@bob');
  assert.equal(await mine.evaluate((node) => getComputedStyle(node).display), 'inline', 'the mention stays in the line');
  assert.match(await bySeq(bob, seq).getAttribute('class'), /\bmentions-me\b/);
  // On alice's side the name is marked, but it is not her.
  await bySeq(alice, seq).locator('.mention', { hasText: '@bob' }).waitFor();
  assert.equal(await bySeq(alice, seq).locator('.mention.mention-self').count(), 0);
  assert.doesNotMatch(await bySeq(alice, seq).getAttribute('class'), /\bmentions-me\b/);

  // A name nobody has: Tab is left to move the focus on, and the text stays.
  await box.fill('@zed');
  await box.press('Tab');
  assert.equal(await box.inputValue(), '@zed');
  assert.notEqual(await alice.evaluate(() => document.activeElement?.id), 'composer-input');
  await box.fill('');
}));

test('the notification level is set from the room\'s menu and followed', h.withReport(fixture, async () => {
  const bell = alice.getByRole('button', { name: 'Notifications' });
  await bell.click();
  const menu = alice.getByRole('menu', { name: 'Notifications' });
  await menu.waitFor();
  assert.equal(await menu.getByRole('menuitemradio', { name: /All Messages/ }).getAttribute('aria-checked'), 'true');
  await h.screenshot(alice, 'messages-notifications');
  await menu.getByRole('menuitemradio', { name: /Mentions Only/ }).click();
  await alice.locator('#notify-button[title="Notifications: Mentions Only"]').waitFor();

  // Another page of alice's follows at once, and a new one starts with it.
  const other = await fixture.newPage({ name: 'alice-other' });
  await h.logIn(other, 'alice', 'alice-password-1');
  await h.openRoom(other, ROOM);
  await other.locator('#notify-button[title="Notifications: Mentions Only"]').waitFor();
  await alice.getByRole('button', { name: 'Notifications' }).click();
  await alice.getByRole('menuitemradio', { name: /Nothing/ }).click();
  await other.locator('#notify-button[title="Notifications: Nothing"]').waitFor();
  await alice.getByRole('button', { name: 'Notifications' }).click();
  await alice.getByRole('menuitemradio', { name: /Mentions Only/ }).click();
  await other.locator('#notify-button[title="Notifications: Mentions Only"]').waitFor();
  await other.close();

  // Mentions only: a message naming alice is announced, one that does not is not.
  await h.sendMessage(bob, 'Lunch is at noon.');
  await h.sendMessage(bob, '@alice lunch is at noon.');
  await alice.locator('#announcer', { hasText: 'bob: @alice lunch is at noon.' }).waitFor({ state: 'attached' });
  await h.sendMessage(bob, 'Take a coat.');
  await h.waitForMessage(alice, 'Take a coat.');
  assert.equal(await alice.locator('#announcer').textContent(), 'bob: @alice lunch is at noon.');

  // Nothing: not even a mention; All Messages: everything again.
  await alice.getByRole('button', { name: 'Notifications' }).click();
  await alice.getByRole('menuitemradio', { name: /Nothing/ }).click();
  await alice.locator('#notify-button[title="Notifications: Nothing"]').waitFor();
  await h.sendMessage(bob, '@alice are you there?');
  await h.waitForMessage(alice, '@alice are you there?');
  assert.equal(await alice.locator('#announcer').textContent(), 'bob: @alice lunch is at noon.');
  await alice.getByRole('button', { name: 'Notifications' }).click();
  await alice.getByRole('menuitemradio', { name: /All Messages/ }).click();
  await alice.locator('#notify-button[title="Notifications: All Messages"]').waitFor();
  await h.sendMessage(bob, 'Bring an umbrella.');
  await alice.locator('#announcer', { hasText: 'bob: Bring an umbrella.' }).waitFor({ state: 'attached' });
}));

test('after a reload, and after changes made while away, the page shows the current state', h.withReport(fixture, async () => {
  // Changes while bob's page is closed: it resumes from its saved position.
  const context = bob.context();
  const meeting = await seqOf(alice, 'The meeting is at 3');
  const notes = await seqOf(alice, '@bob can you check the notes?');
  await bob.close();
  await alice.locator('#composer-input').focus();
  await alice.keyboard.press('ArrowUp');
  assert.equal(await alice.locator('#composer-input').inputValue(), '@bob can you check the notes?');
  await alice.locator('#composer-input').fill('@bob can you check the new notes?');
  await alice.locator('#composer-input').press('Enter');
  await bySeq(alice, notes).locator('.body', { hasText: /^@bob can you check the new notes\?$/ }).waitFor();
  await openMenu(alice, meeting);
  await alice.getByRole('menuitem', { name: 'React with 🎉' }).click();
  await bySeq(alice, meeting).locator('.reaction[data-emoji="🎉"]').waitFor();
  // An edit from the menu over a half-written message: the draft comes back after it.
  await alice.locator('#composer-input').fill('a half-written thought');
  await openMenu(alice, meeting);
  await alice.getByRole('menuitem', { name: 'Edit' }).click();
  assert.equal(await alice.locator('#composer-input').inputValue(), 'The meeting is at 3');
  await alice.locator('#composer-input').fill('The meeting is at 4');
  await alice.locator('#composer-input').press('Enter');
  assert.equal(await alice.locator('#composer-input').inputValue(), 'a half-written thought');
  await alice.locator('#composer-input').fill('');
  await bySeq(alice, meeting).locator('.body', { hasText: /^The meeting is at 4$/ }).waitFor();

  bob = await context.newPage();
  bob.on('pageerror', (error) => fixture.pageErrors.push(`bob (resumed): ${error.stack || error}`));
  await bob.goto(fixture.daemon.baseUrl);
  await h.waitOnline(bob);
  await h.openRoom(bob, ROOM);
  await h.eventually(async () => {
    await bob.locator('#timeline').evaluate((timeline) => { timeline.scrollTop = 0; });
    return (await h.shownSeqs(bob)).includes(1);
  }, { message: 'the whole room', interval: 200, timeout: 30000 });

  const expectState = async (page) => {
    await bySeq(page, meeting).locator('.body', { hasText: /^The meeting is at 4$/ }).waitFor();
    await bySeq(page, meeting).locator('.edited').waitFor();
    await bySeq(page, meeting).locator('.reaction[data-emoji="🎉"]').waitFor();
    const chips = await bySeq(page, meeting).locator('.reaction').evaluateAll((nodes) =>
      nodes.map((node) => [node.dataset.emoji, node.querySelector('.reaction-count').textContent, node.title]));
    assert.deepEqual(chips.sort(), [
      ['🎉', '1', 'alice reacted with 🎉'],
      ['🦀', '1', 'alice reacted with 🦀'],
      ['👍', '1', 'alice reacted with 👍'],
    ].sort());
    await bySeq(page, notes).locator('.body', { hasText: /^@bob can you check the new notes\?$/ }).waitFor();
    await bySeq(page, notes).locator('.mention.mention-self', { hasText: '@bob' }).waitFor();
    const tombstones = await page.locator('#message-list .tombstone').count();
    assert.equal(tombstones, 2);
    assert.equal(await h.messageLocator(page, 'Oops, wrong room').count(), 0);
    assert.equal(await h.messageLocator(page, 'Teh meeting is at 3').count(), 0);
    await page.locator('#message-list .reply-quote .reply-sender', { hasText: 'bob' }).first().waitFor();
  };
  await expectState(bob);

  // A reload reads the same state from history.
  await bob.reload();
  await bob.locator('html:not(.is-loading)').waitFor({ state: 'attached' });
  await h.waitOnline(bob);
  await h.openRoom(bob, ROOM);
  await h.eventually(async () => {
    await bob.locator('#timeline').evaluate((timeline) => { timeline.scrollTop = 0; });
    return (await h.shownSeqs(bob)).includes(1);
  }, { message: 'the whole room', interval: 200, timeout: 30000 });
  await expectState(bob);
  await h.screenshot(bob, 'messages-light-top');
  await h.messageLocator(bob, 'I have it.').evaluate((node) => node.scrollIntoView({ block: 'start' }));
  await h.screenshot(bob, 'messages-light');
}));

test('at phone width the menu and the reactions fit the screen', h.withReport(fixture, async () => {
  const phone = await fixture.newPage({ name: 'alice-phone', width: 375, height: 720, colorScheme: 'dark' });
  await h.logIn(phone, 'alice', 'alice-password-1');
  await h.openRoom(phone, ROOM);
  const seq = await seqOf(phone, 'Bring an umbrella.');
  await openMenu(phone, seq);
  const box = await phone.getByRole('menu').boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 375, `the menu is within the screen (${JSON.stringify(box)})`);
  await h.screenshot(phone, 'messages-phone-menu');
  await phone.getByRole('menuitem', { name: 'React with 😂' }).click();
  await phone.getByRole('menu').waitFor({ state: 'detached' });
  await bySeq(phone, seq).locator('.reaction[data-emoji="😂"]').waitFor();
  const chips = await bySeq(phone, seq).locator('.reactions').boundingBox();
  assert.ok(chips.x >= 0 && chips.x + chips.width <= 375, `the reactions are within the screen (${JSON.stringify(chips)})`);
  await h.screenshot(phone, 'messages-phone');
}));
