// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The page speaks the browser's language (Simplified Chinese here) and can be used with the
// keyboard alone: labelled controls, a sensible focus order, focus moved where work goes on.

'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness.js');

const fixture = new h.Fixture();
const WEB = path.join(__dirname, '..', '..', 'daemon', 'web');

before(() => fixture.start());
after(async () => {
  await fixture.close();
  fixture.assertNoPageErrors();
});

function focusedId(page) {
  return page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
}

/** Visible controls without an accessible name (label, aria-label or text). */
function unlabelledControls(page) {
  return page.evaluate(() => {
    const missing = [];
    for (const node of document.querySelectorAll('button, input, textarea, select, a[href], [tabindex]')) {
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

test('every catalogue translates every string', () => {
  const en = JSON.parse(fs.readFileSync(path.join(WEB, 'i18n', 'en.json'), 'utf8'));
  const zh = JSON.parse(fs.readFileSync(path.join(WEB, 'i18n', 'zh_CN.json'), 'utf8'));
  assert.deepEqual(Object.keys(zh).sort(), Object.keys(en).sort());
  for (const [key, value] of Object.entries(en)) {
    const placeholders = (text) => JSON.stringify(text).match(/\{\w+\}/g)?.sort() ?? [];
    assert.deepEqual([...new Set(placeholders(zh[key]))], [...new Set(placeholders(value))], `placeholders of ${key}`);
  }
});

test('the GResource lists every file of the page under its own path', () => {
  const xml = fs.readFileSync(path.join(WEB, 'natter-web.gresource.xml'), 'utf8');
  const listed = [...xml.matchAll(/<file alias="([^"]+)">([^<]+)<\/file>/g)];
  for (const [, alias, file] of listed)
    assert.equal(alias, file);
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(path.join(WEB, dir), { withFileTypes: true })) {
      const relative = path.posix.join(dir, entry.name);
      if (entry.isDirectory())
        walk(relative);
      else if (!/^(meson\.build|natter-web\.gresource\.xml)$/.test(relative))
        // A template (build.js.in) is in the page as what it generates.
        files.push(relative.replace(/\.in$/, ''));
    }
  };
  walk('');
  assert.deepEqual(listed.map(([, alias]) => alias).sort(), files.sort());
});

test('a zh-CN browser gets the Simplified Chinese page', h.withReport(fixture, async () => {
  const page = await fixture.newPage({ name: 'zh', locale: 'zh-CN' });
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
  await page.locator('#login-title', { hasText: '登录' }).waitFor();
  await page.getByRole('button', { name: '创建账户' }).click();
  await page.getByLabel('用户名').fill('lihua');
  await page.getByLabel('密码', { exact: true }).fill('lihua-password-1');
  await page.getByRole('button', { name: '创建账户' }).last().click();
  await h.waitOnline(page);
  await page.locator('#conn-text', { hasText: '已连接' }).waitFor();
  await page.locator('#rooms-heading', { hasText: '聊天室' }).waitFor();
  await page.locator('.room-row[data-room="system"]', { hasText: '公告' }).waitFor();

  await page.getByRole('button', { name: '新建会话' }).first().click();
  await page.getByLabel('加入或创建聊天室').fill('chaguan');
  await page.getByLabel('加入或创建聊天室').press('Enter');
  await page.locator('#composer-input[placeholder="发消息到 chaguan"]').waitFor();
  await h.sendMessage(page, '大家好！');
  await h.waitForMessage(page, '大家好！');
  await page.locator('#message-list li.new-day[data-day="今天"]').waitFor();
  await page.locator('#room-subtitle', { hasText: '1 位成员，1 位在线' }).waitFor();
  await h.screenshot(page, 'chat-zh_CN');
}));

test('the whole flow works with the keyboard alone', h.withReport(fixture, async () => {
  const page = await fixture.newPage({ name: 'keyboard' });
  const keys = page.keyboard;

  // The login form takes the focus; Tab walks it in reading order.
  await page.locator('#login-view').waitFor();
  assert.equal(await focusedId(page), 'login-user');
  await keys.press('Tab');
  assert.equal(await focusedId(page), 'login-password');
  await keys.press('Tab');
  assert.equal(await focusedId(page), 'login-submit');
  await keys.press('Tab');
  assert.equal(await focusedId(page), 'login-mode');
  await keys.press('Enter');
  await page.locator('#login-title', { hasText: 'Create an account' }).waitFor();
  assert.equal(await focusedId(page), 'login-user');
  assert.deepEqual(await unlabelledControls(page), []);

  // Errors are announced next to the field and the focus goes back to it.
  await keys.type('Not Valid!');
  await keys.press('Enter');
  await page.locator('#login-error', { hasText: 'User names are 1 to 32' }).waitFor();
  assert.equal(await focusedId(page), 'login-user');
  assert.equal(await page.locator('#login-user').getAttribute('aria-invalid'), 'true');

  await page.locator('#login-user').fill('');
  await keys.type('kim');
  await keys.press('Tab');
  await keys.type('kim-password-1');
  await keys.press('Enter');
  await h.waitOnline(page);

  // In the chat the first stop is the "new conversation" button; Enter opens its dialog
  // with the focus in the first field; Enter there joins and moves to the message box.
  assert.equal(await focusedId(page), 'new-button');
  await keys.press('Enter');
  assert.equal(await focusedId(page), 'join-input');
  await keys.type('keys');
  await keys.press('Enter');
  await page.locator('#room-title', { hasText: 'keys' }).waitFor();
  await h.eventually(async () => (await focusedId(page)) === 'composer-input', { message: 'focus in the message box' });
  await keys.type('Typed without a mouse');
  await keys.press('Enter');
  await h.waitForMessage(page, 'Typed without a mouse');
  assert.equal(await page.locator('#composer-input').inputValue(), '');

  // Shift+Enter starts a new line instead of sending.
  await keys.type('line one');
  await keys.press('Shift+Enter');
  await keys.type('line two');
  assert.equal(await page.locator('#composer-input').inputValue(), 'line one\nline two');
  await keys.press('Enter');
  await page.locator('#message-list .body', { hasText: /^line one\nline two$/ }).waitFor();

  // Escape closes a dialog and gives the focus back to the button that opened it.
  await page.locator('#search-button').focus();
  await keys.press('Enter');
  assert.equal(await focusedId(page), 'search-input');
  await keys.press('Escape');
  await page.locator('#search-dialog').waitFor({ state: 'hidden' });
  assert.equal(await focusedId(page), 'search-button');

  // The skip link is the first Tab stop of the page, just before the sidebar's first
  // button, and leads to the message box.
  await page.locator('#new-button').focus();
  await keys.press('Shift+Tab');
  assert.equal(await focusedId(page), 'A');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
  await keys.press('Enter');
  assert.equal(await focusedId(page), 'composer-input');

  // Landmarks and live regions are in place; every control has a name.
  assert.equal(await page.locator('nav').count(), 1);
  assert.equal(await page.locator('main:visible').count(), 1);
  assert.equal(await page.locator('#announcer[aria-live="polite"]').count(), 1);
  assert.equal(await page.locator('#conn-text[role="status"]').count(), 1);
  assert.deepEqual(await unlabelledControls(page), []);
}));
