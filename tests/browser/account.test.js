// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The account page: Log Out ends the session on the server, signed-in devices are listed and
// revoked, the password is changed, the account is deleted after a confirmation, and an
// administrator disables and enables a user. Every page whose session the server ends shows
// why on the login form instead of reconnecting.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness.js');

const fixture = new h.Fixture();
const ADMIN = { user: 'root', password: 'root-password-1' };

before(() => fixture.start({ admin: ADMIN }));
after(async () => {
  await fixture.close();
  fixture.assertNoPageErrors();
});

/** The stored session of @page (token and all), as the page keeps it in localStorage. */
function storedSession(page) {
  return page.evaluate((key) => localStorage.getItem(key), `natter:${fixture.daemon.wsUrl}:session`);
}

/** A new browser profile that starts out with @session in its storage, as a copied token would. */
async function pageWithSession(session, name) {
  const page = await fixture.newPage({ name });
  await page.evaluate(([key, value]) => localStorage.setItem(key, value),
    [`natter:${fixture.daemon.wsUrl}:session`, session]);
  await page.reload();
  await page.locator('html:not(.is-loading)').waitFor({ state: 'attached' });
  return page;
}

/** `login {token}` from a bare WebSocket of natterd's origin: the reply's op or error code. */
async function tokenLogin(token) {
  const context = await fixture.browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(fixture.daemon.baseUrl + 'healthz');
    return await page.evaluate(async ({ wsUrl, token }) => {
      const ws = new WebSocket(wsUrl, 'natter.v1.json');
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error('WebSocket failed'));
      });
      const reply = await new Promise((resolve) => {
        ws.onmessage = (event) => resolve(JSON.parse(event.data));
        ws.send(JSON.stringify({ id: 1, login: { token } }));
      });
      ws.close();
      return reply.error ? reply.error.code : Object.keys(reply).find((key) => key !== 'id');
    }, { wsUrl: fixture.daemon.wsUrl, token });
  } finally {
    await context.close();
  }
}

async function openAccount(page) {
  await page.getByRole('button', { name: 'Account', exact: true }).click();
  await page.locator('#account-dialog[open]').waitFor();
  await page.locator('#session-list[aria-busy="false"] li').first().waitFor();
}

/** Waits for @page to show the login form with @message, and not to reconnect. */
async function waitSignedOut(page, message) {
  await page.locator('#login-view').waitFor();
  await page.locator('#login-error', { hasText: message }).waitFor();
  assert.equal(await page.locator('#conn-status').getAttribute('data-state'), 'idle');
  assert.equal(await storedSession(page), null);
}

test('Log Out ends the session on the server, not only in the browser', h.withReport(fixture, async () => {
  const first = await fixture.newPage({ name: 'ann' });
  await h.register(first, 'ann', 'ann-password-1');
  const session = await storedSession(first);
  const token = JSON.parse(session).token;
  const copy = await pageWithSession(session, 'ann-copy');
  await h.waitOnline(copy);

  await first.getByRole('button', { name: 'Log Out' }).click();
  await first.locator('#login-view').waitFor();
  assert.equal(await first.locator('#login-error').textContent(), '');
  // The other page of the same token is closed and says why, once.
  await waitSignedOut(copy, 'This session was logged out in another window.');
  assert.equal(await tokenLogin(token), 'unauthorized');
}));

test('the account page lists devices and revokes another one', h.withReport(fixture, async () => {
  const laptop = await fixture.newPage({ name: 'ben-laptop' });
  await h.register(laptop, 'ben', 'ben-password-1');
  const phone = await fixture.newPage({ name: 'ben-phone', width: 390, height: 780 });
  await h.logIn(phone, 'ben', 'ben-password-1');

  await openAccount(laptop);
  const rows = laptop.locator('#session-list li');
  await h.eventually(async () => (await rows.count()) === 2, { message: 'two sessions' });
  // This device comes first and is marked; every row has its own labelled Revoke button.
  const mine = rows.first();
  assert.equal(await mine.getAttribute('data-current'), 'true');
  await mine.locator('.tag', { hasText: 'This device' }).waitFor();
  assert.equal(await rows.nth(1).locator('.tag').count(), 0);
  await h.screenshot(laptop, 'account-light');

  const other = rows.nth(1).getByRole('button', { name: /^Revoke / });
  await other.focus();
  await laptop.keyboard.press('Enter');
  await waitSignedOut(phone, 'This device was logged out from another device.');
  await h.screenshot(phone, 'signed-out-narrow');
  await h.eventually(async () => (await rows.count()) === 1, { message: 'the revoked row to go' });
  assert.equal(await h.eventually(() => laptop.evaluate(() => document.activeElement?.textContent)), 'Revoke');

  // Revoking this device logs this page out.
  await mine.getByRole('button', { name: 'Revoke this device (logs out here)' }).click();
  await waitSignedOut(laptop, 'You revoked this device’s session and are logged out.');
}));

test('changing the password ends the other sessions', h.withReport(fixture, async () => {
  const desk = await fixture.newPage({ name: 'cat-desk' });
  await h.register(desk, 'cat', 'cat-password-1');
  const other = await fixture.newPage({ name: 'cat-other' });
  await h.logIn(other, 'cat', 'cat-password-1');

  await openAccount(desk);
  await desk.getByLabel('Current password').fill('not-the-password');
  await desk.getByLabel('New password').fill('cat-password-2');
  await desk.getByRole('button', { name: 'Change Password' }).click();
  // A wrong current password says so, and nothing more.
  await desk.locator('#password-error', { hasText: /^The current password is wrong\.$/ }).waitFor();
  assert.equal(await desk.evaluate(() => document.activeElement?.id), 'password-old');
  assert.equal(await desk.getByLabel('Current password').getAttribute('aria-invalid'), 'true');

  await desk.getByLabel('Current password').fill('cat-password-1');
  await desk.getByLabel('New password').fill('short');
  await desk.getByLabel('New password').press('Enter');
  await desk.locator('#password-error', { hasText: 'at least 8 characters' }).waitFor();

  await desk.getByLabel('New password').fill('cat-password-2');
  await desk.getByLabel('New password').press('Enter');
  await desk.locator('#password-done', { hasText: 'Password changed.' }).waitFor();
  await waitSignedOut(other, 'Your password was changed');
  await h.eventually(async () => (await desk.locator('#session-list li').count()) === 1,
    { message: 'only this device left' });
  await h.waitOnline(desk);

  await h.logIn(other, 'cat', 'cat-password-2');
}));

test('Log Out Everywhere ends every session of the account', h.withReport(fixture, async () => {
  const desk = await fixture.newPage({ name: 'fay-desk' });
  await h.register(desk, 'fay', 'fay-password-1');
  const deskToken = JSON.parse(await storedSession(desk)).token;
  const phone = await fixture.newPage({ name: 'fay-phone', width: 390, height: 780 });
  await h.logIn(phone, 'fay', 'fay-password-1');
  const phoneToken = JSON.parse(await storedSession(phone)).token;
  await h.waitOnline(phone);

  await openAccount(desk);
  await h.eventually(async () => (await desk.locator('#session-list li').count()) === 2,
    { message: 'two sessions' });
  await desk.getByRole('button', { name: 'Log Out Everywhere' }).click();
  // This page is logged out as by Log Out, the phone is told why, and no token works.
  await desk.locator('#login-view').waitFor();
  assert.equal(await desk.locator('#login-error').textContent(), '');
  assert.equal(await storedSession(desk), null);
  await waitSignedOut(phone, 'This session was logged out in another window.');
  assert.equal(await tokenLogin(deskToken), 'unauthorized');
  assert.equal(await tokenLogin(phoneToken), 'unauthorized');
  // The account itself is fine: the password still logs in.
  await h.logIn(desk, 'fay', 'fay-password-1');
}));

test('deleting the account asks for the password and says what happens', h.withReport(fixture, async () => {
  const page = await fixture.newPage({ name: 'dan' });
  await h.register(page, 'dan', 'dan-password-1');
  const second = await fixture.newPage({ name: 'dan-second' });
  await h.logIn(second, 'dan', 'dan-password-1');

  await openAccount(page);
  await page.getByRole('button', { name: 'Delete Account…' }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete your account?' });
  await confirm.waitFor();
  await confirm.getByText('The messages you sent stay in their rooms').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'delete-password');
  // Cancel leaves the account alone and the account page open.
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await confirm.waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#account-dialog').isVisible(), true);

  await page.getByRole('button', { name: 'Delete Account…' }).click();
  await confirm.getByRole('button', { name: 'Delete Account' }).click();
  await confirm.locator('#delete-error', { hasText: 'Enter a password.' }).waitFor();
  await confirm.getByLabel('Enter your password to confirm').fill('wrong-password');
  await confirm.getByLabel('Enter your password to confirm').press('Enter');
  await confirm.locator('#delete-error', { hasText: /^The password is wrong\.$/ }).waitFor();
  await h.screenshot(page, 'delete-account-light');
  await confirm.getByLabel('Enter your password to confirm').fill('dan-password-1');
  await confirm.getByRole('button', { name: 'Delete Account' }).click();

  await waitSignedOut(page, 'Your account has been deleted.');
  await waitSignedOut(second, 'Your account has been deleted.');
  // Nobody can take the name.
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('User name').fill('dan');
  await page.getByLabel('Password', { exact: true }).fill('dan-password-1');
  await page.getByRole('button', { name: 'Create Account' }).click();
  await page.locator('#login-error', { hasText: 'That user name is taken.' }).waitFor();
}));

test('an administrator disables and enables a user', h.withReport(fixture, async () => {
  const eve = await fixture.newPage({ name: 'eve' });
  await h.register(eve, 'eve', 'eve-password-1');
  const admin = await fixture.newPage({ name: 'root' });
  await h.logIn(admin, ADMIN.user, ADMIN.password);

  // Not for everyone: the users list is the administrators'.
  await openAccount(eve);
  assert.equal(await eve.locator('#admin-section').isHidden(), true);
  await eve.keyboard.press('Escape');

  await openAccount(admin);
  const section = admin.locator('#admin-section');
  await section.locator('#user-list li[data-user="root"]').waitFor();
  // An administrator cannot disable their own account, so there is no button for it.
  assert.equal(await section.locator('li[data-user="root"] button').count(), 0);
  await section.getByLabel('Search users').fill('ev');
  await section.getByLabel('Search users').press('Enter');
  await section.locator('#admin-status', { hasText: '1 user' }).waitFor();
  assert.deepEqual(await section.locator('#user-list li').evaluateAll((rows) => rows.map((r) => r.dataset.user)), ['eve']);

  await section.getByRole('button', { name: 'Disable eve' }).click();
  await section.locator('li[data-user="eve"][data-disabled="true"]').locator('.tag', { hasText: 'Disabled' }).waitFor();
  assert.equal(await admin.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Enable eve');
  await waitSignedOut(eve, 'Your account has been disabled by an administrator.');
  await h.screenshot(admin, 'account-admin-light');

  await eve.getByLabel('User name').fill('eve');
  await eve.getByLabel('Password', { exact: true }).fill('eve-password-1');
  await eve.getByRole('button', { name: 'Log In' }).click();
  await eve.locator('#login-error', { hasText: 'This account is disabled.' }).waitFor();

  await section.getByRole('button', { name: 'Enable eve' }).click();
  await section.locator('li[data-user="eve"][data-disabled="false"]').waitFor();
  await h.logIn(eve, 'eve', 'eve-password-1');
}));

test('the account page in Chinese at phone width', h.withReport(fixture, async () => {
  const page = await fixture.newPage({ name: 'zh-narrow', locale: 'zh-CN', width: 390, height: 780 });
  await page.getByRole('button', { name: '创建账户' }).click();
  await page.getByLabel('用户名').fill('fang');
  await page.getByLabel('密码', { exact: true }).fill('fang-password-1');
  await page.getByRole('button', { name: '创建账户' }).last().click();
  await h.waitOnline(page);
  await page.getByRole('button', { name: '账户', exact: true }).click();
  await page.locator('#session-list li .tag', { hasText: '本设备' }).waitFor();
  // Nothing sticks out sideways at phone width.
  assert.equal(await page.evaluate(() => {
    const dialog = document.getElementById('account-dialog');
    return dialog.scrollWidth <= dialog.clientWidth;
  }), true);
  await h.screenshot(page, 'account-zh-narrow');
}));

test('Log Out while the server is unreachable forgets the token and says so; Log Out Everywhere waits for it', h.withReport(fixture, async () => {
  const page = await fixture.newPage({ name: 'amy' });
  await h.register(page, 'amy', 'amy-password-1');
  const { token } = JSON.parse(await storedSession(page));
  await openAccount(page);
  await fixture.daemon.kill();
  await page.locator('#conn-status[data-state="waiting"]').waitFor();
  // Log Out Everywhere needs the server: it says so and the page stays logged in.
  await page.getByRole('button', { name: 'Log Out Everywhere' }).click();
  await page.locator('#sessions-status', { hasText: 'log out everywhere once this page is online' }).waitFor();
  assert.notEqual(await storedSession(page), null);
  await page.keyboard.press('Escape');
  await page.locator('#account-dialog[open]').waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Log Out' }).click();
  await waitSignedOut(page, 'the session stays valid on the server until it expires');
  // The server never heard of it: the token works until it expires or is revoked.
  await fixture.daemon.start();
  assert.equal(await tokenLogin(token), 'welcome');
}));
