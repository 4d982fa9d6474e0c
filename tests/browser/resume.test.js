// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Connection handling a person can trust: the daemon is killed (SIGKILL) and restarted on the
// same data dir and port; the pages show that they are offline, reconnect by themselves,
// resume from their last seen seq, and show every message exactly once. A message written
// while disconnected is delivered exactly once after the reconnect.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const fixture = new h.Fixture();
const ROOM = 'resilient';
let alice;
let bob;

before(async () => {
  await fixture.start();
  alice = await fixture.newPage({ name: 'alice' });
  bob = await fixture.newPage({ name: 'bob' });
  await h.register(alice, 'alice', 'alice-password-1');
  await h.register(bob, 'bob', 'bob-password-1');
  await h.joinRoom(alice, ROOM);
  await h.joinRoom(bob, ROOM);
});

after(async () => {
  await fixture.close();
  fixture.assertNoPageErrors();
});

/** Asserts that the open room shows seqs 1..n, each exactly once, and nothing is pending. */
async function assertExactlyOnce(page, n) {
  const seqs = await h.shownSeqs(page);
  assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 1));
  assert.equal(await page.locator('#pending-list li').count(), 0);
}

test('after a SIGKILL and restart the pages resume and show each message once', h.withReport(fixture, async () => {
  for (let i = 1; i <= 5; i++)
    await h.sendMessage(i % 2 ? bob : alice, `before the crash ${i}`);
  await h.waitForMessage(alice, 'before the crash 5');
  await h.waitForMessage(bob, 'before the crash 5');

  await fixture.daemon.kill('SIGKILL');

  // Both pages say so, with the time of the next attempt and a way to retry now.
  for (const page of [alice, bob]) {
    await page.locator('#conn-status[data-state="waiting"]').waitFor();
    await page.locator('#conn-text', { hasText: 'Offline.' }).waitFor();
    await page.getByRole('button', { name: 'Retry Now' }).waitFor();
  }

  // Written while the server is down: kept in the outbox and shown as waiting.
  await h.sendMessage(alice, 'written while offline');
  await alice.locator('#pending-list li', { hasText: 'written while offline' })
    .filter({ hasText: 'Waiting for the connection…' }).waitFor();
  await alice.locator('#conn-text', { hasText: '1 message will be sent when back online.' }).waitFor();
  await h.screenshot(alice, 'offline');

  await fixture.daemon.start();

  // While the pages may still be backing off, others keep talking: the pages must get these
  // either live or through the resume, but once.
  const missed = ['missed while away 1', 'missed while away 2', 'missed while away 3'];
  await h.sendRaw(fixture.browser, fixture.daemon.wsUrl,
    { user: 'bob', password: 'bob-password-1', room: ROOM, bodies: missed, idPrefix: 'away' });

  await h.waitOnline(alice, 60000);
  await h.waitOnline(bob, 60000);
  for (const page of [alice, bob]) {
    await h.waitForMessage(page, 'written while offline');
    await h.waitForMessage(page, 'missed while away 3');
    await page.locator('#pending-list li').waitFor({ state: 'detached' });
  }
  // 5 before, 3 missed, 1 from the outbox.
  await assertExactlyOnce(alice, 9);
  await assertExactlyOnce(bob, 9);
  assert.equal(await h.messageLocator(bob, 'written while offline').count(), 1);

  // Live chat goes on after the resume.
  await h.sendMessage(bob, 'and we are back');
  await h.waitForMessage(alice, 'and we are back');
  await assertExactlyOnce(alice, 10);
}));

test('a reload resumes from the stored position without doubling anything', h.withReport(fixture, async () => {
  await alice.reload();
  await h.waitOnline(alice);
  await alice.locator(`.room-row[data-room="${ROOM}"][aria-current="page"]`).waitFor();
  await h.sendMessage(bob, 'after the reload');
  await h.waitForMessage(alice, 'after the reload');
  await h.eventually(async () => (await h.shownSeqs(alice)).includes(1), {
    message: 'history back to seq 1',
    interval: 200,
  });
  await assertExactlyOnce(alice, 11);
}));

test('a message written while cut off survives a reload and is delivered once', h.withReport(fixture, async () => {
  // Cut alice's page off the server (the page itself still loads): every WebSocket it
  // opens is closed with 1013 until the test lets it through.
  let cutOff = true;
  await alice.context().routeWebSocket(/\/ws$/, (ws) => {
    if (cutOff)
      ws.close({ code: 1013, reason: 'cut off by the test' });
    else
      ws.connectToServer();
  });
  await alice.reload();
  await alice.locator('#conn-status[data-state="waiting"]').waitFor();
  await alice.locator('#conn-text', { hasText: 'The server is busy.' }).waitFor();

  await h.sendMessage(bob, 'while alice was cut off 1');
  await h.sendMessage(bob, 'while alice was cut off 2');
  await h.sendMessage(alice, 'queued across a reload');
  const pending = alice.locator('#pending-list li', { hasText: 'queued across a reload' });
  await pending.waitFor();

  // The outbox is persisted: after a reload the message still waits, with the same id.
  const cid = await pending.getAttribute('data-cid');
  await alice.reload();
  await pending.waitFor();
  assert.equal(await pending.getAttribute('data-cid'), cid);
  await alice.locator('#conn-status[data-state="waiting"]').waitFor();

  cutOff = false;
  await alice.getByRole('button', { name: 'Retry Now' }).click();
  await h.waitOnline(alice);
  await h.waitForMessage(alice, 'while alice was cut off 2');
  await h.waitForMessage(alice, 'queued across a reload');
  await h.waitForMessage(bob, 'queued across a reload');
  await pending.waitFor({ state: 'detached' });
  await h.eventually(async () => (await h.shownSeqs(alice)).length === 14, {
    message: '14 messages on alice', interval: 200,
  });
  await assertExactlyOnce(alice, 14);
  await assertExactlyOnce(bob, 14);
}));

test('a send whose answer is lost is retried with the same id and stored once', h.withReport(fixture, async () => {
  // Between bob's page and the server: the first server frame that carries the
  // client_msg_id of bob's next message (its `sent` answer, or the message itself) is
  // swallowed and the connection cut, as if the network failed right after the server
  // stored it.
  const body = 'stored but never acknowledged';
  let cid = null;
  let cut = false;
  await bob.context().routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      const frame = JSON.parse(String(message));
      if (frame.send?.body === body)
        cid ??= frame.send.client_msg_id;
      server.send(message);
    });
    server.onMessage((message) => {
      if (!cut && cid && String(message).includes(cid)) {
        cut = true;
        server.close();
        ws.close({ code: 4000, reason: 'cut by the test' });
        return;
      }
      ws.send(message);
    });
  });
  await bob.reload();
  await h.waitOnline(bob);
  await bob.locator(`.room-row[data-room="${ROOM}"][aria-current="page"]`).waitFor({ state: 'attached' });
  await h.eventually(async () => (await h.shownSeqs(bob)).includes(1), { message: 'bob has history', interval: 200 });

  await h.sendMessage(bob, body);
  await h.waitForMessage(alice, body);
  await h.waitOnline(bob);
  await h.waitForMessage(bob, body);
  await bob.locator('#pending-list li').waitFor({ state: 'detached' });
  assert.ok(cut, 'the connection was cut after the server stored the message');

  // One more message proves nothing trails behind the retried one.
  await h.sendMessage(alice, 'the last word');
  await h.waitForMessage(bob, 'the last word');
  await assertExactlyOnce(alice, 16);
  await assertExactlyOnce(bob, 16);
}));
