// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Scroll-back: a room with more history than one page loads older messages as the user
// scrolls up (or presses "Load Older Messages"), each exactly once, in order.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const fixture = new h.Fixture();
const COUNT = 180;

before(() => fixture.start());
after(async () => {
  await fixture.close();
  fixture.assertNoPageErrors();
});

test('scrolling up loads older history until the beginning', h.withReport(fixture, async () => {
  const alice = await fixture.newPage({ name: 'alice' });
  await h.register(alice, 'alice', 'alice-password-1');
  await h.joinRoom(alice, 'archive');

  // Another person fills the room through a bare WebSocket while alice looks elsewhere.
  const bob = await fixture.newPage({ name: 'bob' });
  await h.register(bob, 'bob', 'bob-password-1');
  const bodies = Array.from({ length: COUNT }, (_, i) => `Archived message number ${i + 1}`);
  const seqs = await h.sendRaw(fixture.browser, fixture.daemon.wsUrl,
    { user: 'bob', password: 'bob-password-1', room: 'archive', bodies, idPrefix: 'seed' });
  assert.deepEqual(seqs, Array.from({ length: COUNT }, (_, i) => i + 1));

  // A fresh page (no messages in memory) opens the room at the newest message.
  const reader = await fixture.newPage({ name: 'alice-2' });
  await h.logIn(reader, 'alice', 'alice-password-1');
  await h.openRoom(reader, 'archive');
  await h.waitForMessage(reader, `Archived message number ${COUNT}`);
  const first = await h.shownSeqs(reader);
  assert.ok(first.length < COUNT, `only the newest page is loaded at first (got ${first.length})`);
  assert.equal(await reader.locator('#history-start').isHidden(), true);

  // Scroll to the top again and again: each time older messages come.
  await h.eventually(async () => {
    await reader.locator('#timeline').evaluate((timeline) => { timeline.scrollTop = 0; });
    return (await h.shownSeqs(reader)).includes(1);
  }, { timeout: 30000, interval: 200, message: 'seq 1 after scrolling up' });
  await reader.locator('#history-start', { hasText: 'This is the beginning of the conversation.' }).waitFor();
  await reader.locator('#load-older').waitFor({ state: 'hidden' });

  const shown = await h.shownSeqs(reader);
  assert.deepEqual(shown, Array.from({ length: COUNT }, (_, i) => i + 1), 'every message once, in order');
  const texts = await reader.$$eval('#message-list li.message[data-seq] .body', (nodes) => nodes.map((n) => n.textContent));
  assert.deepEqual(texts, bodies);
}));

test('the keyboard can load older messages too', h.withReport(fixture, async () => {
  const page = await fixture.newPage({ name: 'alice-3' });
  await h.logIn(page, 'alice', 'alice-password-1');
  await h.openRoom(page, 'archive');
  await h.waitForMessage(page, `Archived message number ${COUNT}`);
  const before = (await h.shownSeqs(page))[0];
  assert.ok(before > 1);
  // Shift+Tab from the message box reaches the timeline, and Tab order leads to the button.
  await page.locator('#load-older').focus();
  await page.keyboard.press('Enter');
  await h.eventually(async () => (await h.shownSeqs(page))[0] < before, { message: 'an older page' });
  // Focus moves to an older message that was just loaded, so reading continues from there.
  await h.eventually(async () => {
    const focused = await page.evaluate(() => Number(document.activeElement?.dataset.seq));
    return focused < before;
  }, { message: 'focus on an older message' });
}));

test('a search result in a room this page has not opened jumps to the message', h.withReport(fixture, async () => {
  // A fresh page: archive's history is not in memory, and opening it starts loading the
  // newest page while the jump needs a much older one.
  const page = await fixture.newPage({ name: 'alice-4' });
  await h.logIn(page, 'alice', 'alice-password-1');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByLabel('Search messages').fill('"Archived message number 7"');
  await page.getByLabel('Search messages').press('Enter');
  const result = page.locator('#search-results .search-result', { hasText: /Archived message number 7$/ });
  await result.first().waitFor();
  await result.first().click();
  await page.locator('#room-title', { hasText: 'archive' }).waitFor();

  // The first click is enough: the message is loaded, focused and on screen.
  await page.waitForFunction(() => document.activeElement?.matches('li.message[data-seq="7"]'));
  const visible = await page.locator('li.message[data-seq="7"]').evaluate((node) => {
    const box = node.getBoundingClientRect();
    const timeline = document.getElementById('timeline').getBoundingClientRect();
    return box.top >= timeline.top && box.bottom <= timeline.bottom;
  });
  assert.equal(visible, true, 'the message is scrolled into view');
}));

test('at phone width a long room name does not wrap the message box placeholder', h.withReport(fixture, async () => {
  const room = 'a-room-with-a-rather-long-name-for-a-phone';
  const page = await fixture.newPage({ name: 'alice-phone', width: 375, height: 720 });
  await h.logIn(page, 'alice', 'alice-password-1');
  // h.joinRoom() would wait for the room list, which a phone hides behind the conversation.
  await page.getByRole('button', { name: 'New Conversation' }).first().click();
  await page.getByLabel('Join or create a room').fill(room);
  await page.getByLabel('Join or create a room').press('Enter');
  await page.locator('#room-title', { hasText: room }).waitFor();
  const box = page.locator('#composer-input');
  await box.waitFor();
  const placeholder = await box.getAttribute('placeholder');
  assert.ok(placeholder.length > 0);
  // One line: what shows of the placeholder is not taller than the box.
  const size = await box.evaluate((input) => ({ scroll: input.scrollHeight, client: input.clientHeight }));
  assert.ok(size.scroll <= size.client, `the placeholder wraps (${size.scroll} > ${size.client})`);
  await h.screenshot(page, 'composer-phone');
}));
