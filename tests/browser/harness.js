// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Fixtures of the browser tests: the built natterd on a free port with a temporary data
// directory, headless Chromium through playwright-core, and helpers that drive the page the
// way a person does (labels, buttons, the keyboard). Every wait is on a condition with a
// deadline; nothing sleeps for a fixed time.

'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SOURCE_ROOT = path.resolve(__dirname, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = process.env.NATTER_ARTIFACTS_DIR ||
  path.join(SOURCE_ROOT, 'tests', 'artifacts', 'browser');
const STEP_TIMEOUT = 20000;

function natterdPath() {
  if (process.env.NATTERD)
    return process.env.NATTERD;
  for (const dir of fs.readdirSync(SOURCE_ROOT).filter((d) => d.startsWith('build')).sort()) {
    const candidate = path.join(SOURCE_ROOT, dir, 'daemon', 'natterd');
    if (fs.existsSync(candidate))
      return candidate;
  }
  throw new Error('natterd not found: set NATTERD to the built daemon (meson test does)');
}

function loadPlaywright() {
  try {
    return require('playwright-core');
  } catch (error) {
    throw new Error('playwright-core is not installed: run `npm ci` in tests/browser ' +
      `(${error.message})`);
  }
}

/** Polls @predicate (sync or async) until it returns a truthy value, or throws after @timeout. */
async function eventually(predicate, { timeout = STEP_TIMEOUT, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastError = null;
  for (;;) {
    try {
      const value = await predicate();
      if (value)
        return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeout} ms waiting for ${message}` +
        (lastError ? `: ${lastError.message}` : ''));
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A natterd process on 127.0.0.1. start() picks a free port the first time and reuses it on
 * restart, so pages keep their URL across a kill.
 */
class Daemon {
  constructor(dataDir) {
    this.binary = natterdPath();
    this.dataDir = dataDir;
    this.runDir = makeTempDir('natter-run-');
    this.port = 0;
    this.proc = null;
    this.log = [];
    this.starts = 0;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}/`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Creates an admin account in the (stopped) daemon's data dir. */
  async createAdmin(name, password) {
    const proc = spawn(this.binary, ['--data-dir', this.dataDir, '--create-admin', name, '--no-dbus'],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    const output = [];
    proc.stdout.on('data', (data) => output.push(String(data)));
    proc.stderr.on('data', (data) => output.push(String(data)));
    proc.stdin.end(`${password}\n`);
    const code = await new Promise((resolve) => {
      proc.on('error', (error) => {
        output.push(String(error));
        resolve(-1);
      });
      proc.on('exit', resolve);
    });
    if (code !== 0)
      throw new Error(`natterd --create-admin ${name} exited with ${code}:\n${output.join('')}`);
  }

  async start() {
    // A port just freed by a killed process can take a moment to bind again.
    await eventually(() => this.#tryStart(), { timeout: 30000, interval: 200, message: 'natterd to start' });
  }

  async #tryStart() {
    const readyFile = path.join(this.runDir, `ready-${++this.starts}`);
    const args = ['--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir,
      '--ready-file', readyFile, '--no-dbus'];
    const proc = spawn(this.binary, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, G_DEBUG: process.env.G_DEBUG || 'fatal-criticals' },
    });
    const tag = `[natterd #${this.starts}]`;
    const collect = (data) => {
      for (const line of String(data).split('\n')) {
        if (line)
          this.log.push(`${tag} ${line}`);
      }
    };
    proc.stdout.on('data', collect);
    proc.stderr.on('data', collect);
    let exited = null;
    proc.on('error', (error) => {
      exited = { error };
      this.log.push(`${tag} failed to start: ${error.message}`);
    });
    proc.on('exit', (code, signal) => {
      exited = { code, signal };
      this.log.push(`${tag} exited: code ${code} signal ${signal}`);
    });
    const port = await eventually(() => {
      if (exited)
        return -1;
      try {
        const text = fs.readFileSync(readyFile, 'utf8').trim();
        return /^\d+$/.test(text) ? Number(text) : null;
      } catch {
        return null;
      }
    }, { timeout: 20000, message: `${readyFile} from natterd` });
    if (port < 0) {
      if (this.port === 0)
        throw new Error(`natterd exited before it was ready:\n${this.log.join('\n')}`);
      return false;
    }
    this.port = port;
    this.proc = proc;
    return true;
  }

  /** Kills the daemon (SIGKILL by default: no clean shutdown) and waits for it to be gone. */
  async kill(signal = 'SIGKILL') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null)
      return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await gone;
    this.proc = null;
  }

  async stop() {
    await this.kill('SIGTERM');
  }

  dumpLog() {
    return this.log.slice(-200).join('\n');
  }
}

async function launchBrowser() {
  const { chromium } = loadPlaywright();
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * A fixture for one test file: a daemon, a browser, and the pages opened through it. On a
 * failing test the daemon's log and each page's console are printed.
 */
class Fixture {
  constructor() {
    this.dataDir = makeTempDir('natter-data-');
    this.daemon = new Daemon(this.dataDir);
    this.browser = null;
    this.contexts = [];
    this.consoleLog = [];
    this.pageErrors = [];
  }

  async start({ admin } = {}) {
    if (admin)
      await this.daemon.createAdmin(admin.user, admin.password);
    await this.daemon.start();
    this.browser = await launchBrowser();
  }

  /** A new browser profile (its own localStorage) with one page on the chat. */
  async newPage({ locale = 'en-US', colorScheme = 'light', width = 1100, height = 760, name = 'page' } = {}) {
    const context = await this.browser.newContext({
      locale,
      colorScheme,
      viewport: { width, height },
      deviceScaleFactor: 1,
      reducedMotion: 'reduce',
    });
    this.contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('console', (msg) => this.consoleLog.push(`[${name} console.${msg.type()}] ${msg.text()}`));
    page.on('pageerror', (error) => {
      this.consoleLog.push(`[${name} pageerror] ${error.stack || error}`);
      this.pageErrors.push(`${name}: ${error.stack || error}`);
    });
    await page.goto(this.daemon.baseUrl);
    await page.locator('html:not(.is-loading)').waitFor({ state: 'attached' });
    return page;
  }

  async close() {
    for (const context of this.contexts)
      await context.close().catch(() => {});
    await this.browser?.close().catch(() => {});
    await this.daemon.stop().catch(() => {});
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.rmSync(this.daemon.runDir, { recursive: true, force: true });
  }

  /** Uncaught exceptions in any page are bugs even when every step passed. */
  assertNoPageErrors() {
    if (this.pageErrors.length)
      throw new Error(`uncaught errors in the page:\n${this.pageErrors.join('\n')}\n${this.report()}`);
  }

  report() {
    return `---- natterd log ----\n${this.daemon.dumpLog()}\n---- page console ----\n` +
      this.consoleLog.slice(-100).join('\n');
  }
}

/** Wraps node:test's test() so that a failure prints the fixture's logs. */
function withReport(fixture, body) {
  return async (t) => {
    try {
      await body(t);
    } catch (error) {
      console.error(fixture.report());
      throw error;
    }
  };
}

// ---- Driving the page ------------------------------------------------------------------

async function waitOnline(page, timeout = STEP_TIMEOUT) {
  await page.locator('#conn-status[data-state="online"]').waitFor({ timeout });
}

async function register(page, user, password) {
  await page.locator('#login-view').waitFor();
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create Account' }).click();
  await page.locator('#chat-view').waitFor();
  await waitOnline(page);
}

async function logIn(page, user, password) {
  await page.locator('#login-view').waitFor();
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log In' }).click();
  await page.locator('#chat-view').waitFor();
  await waitOnline(page);
}

async function joinRoom(page, room) {
  await page.getByRole('button', { name: 'New Conversation' }).first().click();
  await page.getByLabel('Join or create a room').fill(room);
  await page.getByLabel('Join or create a room').press('Enter');
  await page.locator('#room-title', { hasText: room }).waitFor();
  await page.locator(`.room-row[data-room="${room}"]`).waitFor();
}

async function openRoom(page, room) {
  await page.locator(`.room-row[data-room="${room}"]`).click();
  await page.locator(`.room-row[data-room="${room}"][aria-current="page"]`).waitFor({ state: 'attached' });
  await page.locator('#room-title').waitFor();
}

async function sendMessage(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
}

/** The message list's entry for @text (exact body), once it has a seq from the server. */
function messageLocator(page, text) {
  return page.locator('#message-list li.message[data-seq]')
    .filter({ has: page.locator('.body', { hasText: new RegExp(`^${escapeRegExp(text)}$`) }) });
}

async function waitForMessage(page, text) {
  await messageLocator(page, text).first().waitFor();
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Seqs of the messages shown in the open room, in page order. */
function shownSeqs(page) {
  return page.$$eval('#message-list li.message[data-seq]', (nodes) => nodes.map((n) => Number(n.dataset.seq)));
}

/**
 * Talks the wire protocol from a bare WebSocket in a blank page of @browser (a client the
 * app's code has nothing to do with): logs in, optionally joins, sends @bodies to @room in
 * order, retrying rate-limited sends after the server's retry_after_ms with the same
 * client_msg_id.
 */
async function sendRaw(browser, wsUrl, { user, password, room, bodies, join = true, idPrefix }) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    // A page of natterd's own origin: a browser's WebSocket from any other origin (a blank
    // page's is "null") is refused at the handshake.
    await page.goto(wsUrl.replace(/^ws/, 'http').replace(/\/ws$/, '/healthz'));
    return await page.evaluate(async ({ wsUrl, user, password, room, bodies, join, idPrefix }) => {
      const ws = new WebSocket(wsUrl, 'natter.v1.json');
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error('WebSocket failed'));
      });
      let nextId = 1;
      const waiting = new Map();
      ws.onmessage = (event) => {
        const frame = JSON.parse(event.data);
        if (frame.id !== undefined && waiting.has(frame.id)) {
          waiting.get(frame.id)(frame);
          waiting.delete(frame.id);
        }
      };
      const request = (op, body) => new Promise((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        ws.send(JSON.stringify({ id, [op]: body }));
      });
      const must = async (op, body) => {
        for (;;) {
          const reply = await request(op, body);
          if (!reply.error)
            return reply;
          if (reply.error.code !== 'rate_limited')
            throw new Error(`${op}: ${JSON.stringify(reply.error)}`);
          await new Promise((resolve) => setTimeout(resolve, reply.error.retry_after_ms || 200));
        }
      };
      await must('login', { user, password });
      if (join)
        await must('join', { room });
      const seqs = [];
      for (let i = 0; i < bodies.length; i++) {
        const reply = await must('send', { room, body: bodies[i], client_msg_id: `${idPrefix}-${i}` });
        seqs.push(reply.sent.seq);
      }
      ws.close();
      return seqs;
    }, { wsUrl, user, password, room, bodies, join, idPrefix: idPrefix || `raw-${Date.now()}` });
  } finally {
    await context.close();
  }
}

async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  return file;
}

module.exports = {
  ARTIFACTS,
  Daemon,
  Fixture,
  eventually,
  joinRoom,
  logIn,
  messageLocator,
  openRoom,
  register,
  screenshot,
  sendMessage,
  sendRaw,
  shownSeqs,
  waitForMessage,
  waitOnline,
  withReport,
};
