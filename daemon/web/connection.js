// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The WebSocket to natterd: one JSON frame per text message (subprotocol natter.v1.json),
// requests matched to replies by `id`, and reconnection with jittered exponential backoff.
//
// States, as shown to the user:
//   idle        not connected and not trying (logged out)
//   connecting  the WebSocket is opening
//   syncing     open; logging in and catching up on every room
//   online      caught up; sends go straight out
//   waiting     closed; the next attempt is scheduled (retryAt)
// The owner drives `syncing` → `online` through markOnline(), because only it knows when
// the catch-up is complete.

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30000;
const REQUEST_TIMEOUT_MS = 30000;
// With no frame for this long, a request probes the link; no reply means it is dead.
const PROBE_AFTER_MS = 40000;
const PROBE_TIMEOUT_MS = 10000;

export class NatterError extends Error {
  constructor(code, message, retryAfterMs) {
    super(message || code);
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Splits a server frame into its id and its one operation: {id, op, body}. */
function unpack(frame) {
  for (const [key, value] of Object.entries(frame)) {
    if (key !== 'id')
      return { id: frame.id, op: key, body: value ?? {} };
  }
  return { id: frame.id, op: null, body: {} };
}

export class Connection extends EventTarget {
  #url;
  #ws = null;
  #nextId = 1;
  #pending = new Map();
  #attempt = 0;
  #retryTimer = 0;
  #probeTimer = 0;
  #lastFrameAt = 0;
  #wanted = false;

  state = 'idle';
  // Counts sockets, so work begun for one socket can tell that another has replaced it.
  generation = 0;
  retryAt = 0;
  lastClose = null;

  constructor(url) {
    super();
    this.#url = url;
    addEventListener('online', () => this.retryNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible')
        this.retryNow();
    });
  }

  get url() {
    return this.#url;
  }

  /** Starts connecting, and keeps reconnecting until stop(). */
  start() {
    this.#wanted = true;
    if (!this.#ws && this.state !== 'waiting')
      this.#open();
  }

  stop() {
    this.#wanted = false;
    clearTimeout(this.#retryTimer);
    this.#drop(1000, 'logged out');
    this.#setState('idle');
  }

  /** Skips the backoff delay, e.g. on a click on "Retry now" or when the network is back. */
  retryNow() {
    if (this.#wanted && this.state === 'waiting') {
      clearTimeout(this.#retryTimer);
      this.#open();
    }
  }

  /** Called by the owner when login and catch-up are done: resets the backoff. */
  markOnline() {
    this.#attempt = 0;
    this.#setState('online');
  }

  /** Closes the socket and reconnects after the backoff, e.g. after a fatal login error. */
  restart(code = 4000, reason = 'restart') {
    this.#drop(code, reason);
  }

  /** Sends a frame that expects no reply (typing). */
  notify(op, body) {
    if (this.#ws?.readyState !== WebSocket.OPEN)
      return false;
    this.#ws.send(JSON.stringify({ [op]: body }));
    return true;
  }

  /**
   * Sends a request; resolves with {op, body} of the reply, rejects with a NatterError
   * (the server's error, or `disconnected` / `timeout`).
   */
  request(op, body = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
    if (this.#ws?.readyState !== WebSocket.OPEN)
      return Promise.reject(new NatterError('disconnected'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new NatterError('timeout'));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#ws.send(JSON.stringify({ id, [op]: body }));
    });
  }

  #setState(state) {
    if (this.state === state)
      return;
    this.state = state;
    this.dispatchEvent(new Event('state'));
  }

  #open() {
    this.#setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.#url, 'natter.v1.json');
    } catch (error) {
      this.lastClose = { code: 0, reason: String(error.message || error) };
      this.#scheduleRetry(0);
      return;
    }
    this.#ws = ws;
    this.generation++;
    ws.onopen = () => {
      this.#lastFrameAt = Date.now();
      this.#armProbe();
      this.#setState('syncing');
      this.dispatchEvent(new Event('open'));
    };
    ws.onmessage = (event) => this.#receive(event.data);
    ws.onclose = (event) => {
      if (this.#ws === ws)
        this.#closed(event.code, event.reason);
    };
    ws.onerror = () => {};
  }

  #receive(data) {
    this.#lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    const { id, op, body } = unpack(frame);
    if (id !== undefined && this.#pending.has(id)) {
      const { resolve, reject, timer } = this.#pending.get(id);
      this.#pending.delete(id);
      clearTimeout(timer);
      if (op === 'error')
        reject(new NatterError(body.code, body.message, body.retry_after_ms));
      else
        resolve({ op, body });
      return;
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: { op, body } }));
  }

  #armProbe() {
    clearTimeout(this.#probeTimer);
    const idle = Date.now() - this.#lastFrameAt;
    this.#probeTimer = setTimeout(() => {
      if (!this.#ws)
        return;
      if (Date.now() - this.#lastFrameAt < PROBE_AFTER_MS) {
        this.#armProbe();
        return;
      }
      this.request('rooms', {}, PROBE_TIMEOUT_MS).then(
        () => this.#armProbe(),
        (error) => {
          if (error.code === 'timeout')
            this.#drop(4001, 'no answer from the server');
        });
    }, Math.max(1000, PROBE_AFTER_MS - idle));
  }

  // Forgets the socket at once rather than waiting for a close handshake that a dead link
  // would never complete.
  #drop(code, reason) {
    const ws = this.#ws;
    if (!ws)
      return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(code >= 4000 || code === 1000 ? code : 4000, reason);
    } catch {
      // Already closing.
    }
    this.#closed(code, reason);
  }

  #closed(code, reason) {
    this.#ws = null;
    clearTimeout(this.#probeTimer);
    this.lastClose = { code, reason };
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(new NatterError('disconnected'));
    }
    this.#pending.clear();
    this.dispatchEvent(new CustomEvent('close', { detail: { code, reason } }));
    if (this.#wanted)
      this.#scheduleRetry(code);
    else
      this.#setState('idle');
  }

  #scheduleRetry(code) {
    // "Try again later" (1013) and policy closes (1008, 1009) must not hammer the server.
    const floor = code === 1013 ? 5000 : (code === 1008 || code === 1009) ? 2000 : 0;
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 16);
    // Jitter: anywhere in the upper half, so clients dropped together spread out.
    const delay = Math.max(floor, ceiling / 2 + Math.random() * ceiling / 2);
    this.retryAt = Date.now() + delay;
    this.#setState('waiting');
    this.dispatchEvent(new Event('retry-scheduled'));
    this.#retryTimer = setTimeout(() => this.#open(), delay);
  }
}
