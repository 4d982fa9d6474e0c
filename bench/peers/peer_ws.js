#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A baseline chat server on Node.js + the `ws` package (pinned in package-lock.json).
//
// It speaks the benchmark's subset of the Natter JSON protocol (natter.v1.json) the way a
// Node chat server is usually written: register/login, join (in-memory rooms), send ->
// `sent {room, seq, ts, client_msg_id}` to the sender and `message` to every member, with
// a per-room seq. A baseline for docs/benchmarks.md, not a product:
//  - no password hashing: passwords are kept in memory in plain text, tokens are random;
//  - no persistence: `sent` is written at once, with nothing made durable;
//  - no idempotency, limits or history.
//
//   cd bench/peers && npm ci && node peer_ws.js --listen 127.0.0.1:PORT [--ready-file F]
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const { WebSocketServer } = require('ws');

const SUBPROTOCOL = 'natter.v1.json';

function parseArgs(argv) {
  const args = { listen: '127.0.0.1:8080', readyFile: null };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--listen' && i + 1 < argv.length) args.listen = argv[++i];
    else if (argv[i] === '--ready-file' && i + 1 < argv.length) args.readyFile = argv[++i];
    else {
      console.error('Usage: peer_ws.js [--listen HOST:PORT] [--ready-file FILE]');
      process.exit(2);
    }
  }
  return args;
}

const args = parseArgs(process.argv);
const colon = args.listen.lastIndexOf(':');
const host = args.listen.slice(0, colon);
const port = Number(args.listen.slice(colon + 1));

const passwords = new Map();
const tokens = new Map();
const rooms = new Map();

function getRoom(name) {
  let room = rooms.get(name);
  if (room === undefined) {
    room = { name, seq: 0, members: new Set() };
    rooms.set(name, room);
  }
  return room;
}

function reply(ws, id, body) {
  if (id !== undefined) body.id = id;
  ws.send(JSON.stringify(body));
}

function welcome(ws, id, user) {
  const token = crypto.randomBytes(16).toString('hex');
  tokens.set(token, user);
  ws.user = user;
  reply(ws, id, { welcome: { user, token, epoch: 'node-ws', rooms: [] } });
}

function onFrame(ws, data) {
  let frame;
  try {
    frame = JSON.parse(data);
  } catch (e) {
    reply(ws, undefined, { error: { code: 'bad_request', message: 'not JSON' } });
    return;
  }
  const id = frame.id;
  const op = Object.keys(frame).find((k) => k !== 'id');
  const a = frame[op] || {};
  switch (op) {
    case 'register':
      if (typeof a.user !== 'string' || passwords.has(a.user)) {
        reply(ws, id, { error: { code: 'conflict', message: 'user exists' } });
        return;
      }
      passwords.set(a.user, a.password);
      welcome(ws, id, a.user);
      return;
    case 'login': {
      const user = a.token !== undefined ? tokens.get(a.token)
        : (passwords.get(a.user) === a.password ? a.user : undefined);
      if (user === undefined) {
        reply(ws, id, { error: { code: 'unauthorized', message: 'login failed' } });
        return;
      }
      welcome(ws, id, user);
      return;
    }
    default:
      break;
  }
  if (ws.user === undefined) {
    reply(ws, id, { error: { code: 'unauthorized', message: 'log in first' } });
    return;
  }
  switch (op) {
    case 'join': {
      const room = getRoom(a.room);
      room.members.add(ws);
      ws.rooms.push(room);
      reply(ws, id, { joined: { room: room.name, last_seq: room.seq, members: [] } });
      return;
    }
    case 'send': {
      const room = getRoom(a.room);
      const seq = ++room.seq;
      const ts = Date.now();
      const cmid = a.client_msg_id || '';
      reply(ws, id, { sent: { room: room.name, seq, ts, client_msg_id: cmid } });
      // Serialize once and send the same Buffer to every member.
      const msg = Buffer.from(JSON.stringify({
        message: {
          room: room.name, seq, ts, sender: ws.user, body: a.body || '',
          client_msg_id: cmid, kind: 'text',
        },
      }));
      for (const member of room.members) member.send(msg, { binary: false });
      return;
    }
    default:
      reply(ws, id, { error: { code: 'bad_request', message: 'unsupported: ' + op } });
  }
}

const wss = new WebSocketServer({
  host,
  port,
  path: '/ws',
  backlog: 4096,
  maxPayload: 64 * 1024,
  perMessageDeflate: false,
  clientTracking: true,
  handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
});

wss.on('connection', (ws) => {
  ws.rooms = [];
  ws.alive = true;
  ws.on('pong', () => { ws.alive = true; });
  ws.on('message', (data, isBinary) => {
    ws.alive = true;
    if (!isBinary) onFrame(ws, data);
  });
  ws.on('close', () => {
    for (const room of ws.rooms) room.members.delete(ws);
  });
});

// Heartbeat as natterd does it: ping every 15 s, drop a peer silent for 30 s.
setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.alive && ws.silentSince !== undefined && Date.now() - ws.silentSince > 30000) {
      ws.terminate();
      continue;
    }
    if (ws.alive) ws.silentSince = undefined;
    else if (ws.silentSince === undefined) ws.silentSince = Date.now();
    ws.alive = false;
    ws.ping();
  }
}, 15000).unref();

wss.on('listening', () => {
  const actual = wss.address().port;
  if (args.readyFile) {
    fs.writeFileSync(args.readyFile + '.tmp', `${actual}\n`);
    fs.renameSync(args.readyFile + '.tmp', args.readyFile);
  }
  console.error(`peer_ws: listening on ${host}:${actual}`);
});
