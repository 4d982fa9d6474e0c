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
