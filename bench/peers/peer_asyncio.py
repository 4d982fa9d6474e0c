#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A baseline chat server on Python asyncio + websockets (Debian python3-websockets 10.4).

It speaks the benchmark's subset of the Natter JSON protocol (natter.v1.json) the way an
asyncio chat server is usually written: register/login, join (in-memory rooms), send ->
`sent {room, seq, ts, client_msg_id}` to the sender and `message` to every member, with a
per-room seq. It is a baseline for docs/benchmarks.md, not a product:

- no password hashing: passwords are kept in memory in plain text and the token is a
  random hex string (natterd hashes with Argon2id, which only matters at login);
- no persistence: `sent` is written at once, with nothing made durable;
- no idempotency, limits or history.

Run with Debian's interpreter: /usr/bin/python3 peer_asyncio.py --listen 127.0.0.1:PORT
"""

import argparse
import asyncio
import json
import os
import secrets
import sys
import time

import websockets

SUBPROTOCOL = "natter.v1.json"


class Room:
    __slots__ = ("name", "seq", "members")

    def __init__(self, name):
        self.name = name
        self.seq = 0
        self.members = set()


class Server:
    def __init__(self):
        self.passwords = {}
        self.tokens = {}
        self.rooms = {}

    def room(self, name):
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name)
        return room

    async def handler(self, ws, path):
        if path != "/ws":
            await ws.close(1008, "unknown path")
            return
        user = None
        joined = []
        try:
            async for data in ws:
                try:
                    frame = json.loads(data)
                    rid = frame.pop("id", None)
                    (op, args), = frame.items()
                except (ValueError, TypeError, AttributeError):
                    await ws.send(json.dumps({"error": {"code": "bad_request",
                                                        "message": "not a frame"}}))
                    continue
                reply = None
                if op == "register" or op == "login":
                    name = args.get("user")
                    if "token" in args:
                        name = self.tokens.get(args["token"])
                        ok = name is not None
                    elif op == "register":
                        ok = name is not None and name not in self.passwords
                        if ok:
                            self.passwords[name] = args.get("password", "")
                    else:
                        ok = self.passwords.get(name) == args.get("password")
                    if ok:
                        user = name
                        token = secrets.token_hex(16)
                        self.tokens[token] = name
                        reply = {"welcome": {"user": name, "token": token,
                                             "epoch": "asyncio", "rooms": []}}
                    else:
                        code = "conflict" if op == "register" else "unauthorized"
                        reply = {"error": {"code": code, "message": op + " failed"}}
                elif user is None:
                    reply = {"error": {"code": "unauthorized", "message": "log in first"}}
                elif op == "join":
                    room = self.room(args["room"])
                    room.members.add(ws)
                    joined.append(room)
                    reply = {"joined": {"room": room.name, "last_seq": room.seq,
                                        "members": []}}
                elif op == "send":
                    room = self.room(args["room"])
                    room.seq += 1
                    ts = int(time.time() * 1000)
                    cmid = args.get("client_msg_id", "")
                    reply = {"sent": {"room": room.name, "seq": room.seq, "ts": ts,
                                      "client_msg_id": cmid}}
                    if rid is not None:
                        reply["id"] = rid
                    await ws.send(json.dumps(reply))
                    reply = None
                    # Serialize once; websockets.broadcast() writes the same frame to every
                    # open member without awaiting each one.
                    message = json.dumps({"message": {
                        "room": room.name, "seq": room.seq, "ts": ts, "sender": user,
                        "body": args.get("body", ""), "client_msg_id": cmid,
                        "kind": "text"}})
                    websockets.broadcast(room.members, message)
                else:
                    reply = {"error": {"code": "bad_request", "message": "unsupported: " + op}}
                if reply is not None:
                    if rid is not None:
                        reply["id"] = rid
                    await ws.send(json.dumps(reply))
        except websockets.ConnectionClosed:
            pass
        finally:
            for room in joined:
                room.members.discard(ws)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT")
    parser.add_argument("--ready-file", help="written with the port once listening")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    server = Server()
    async with websockets.serve(server.handler, host, int(port),
                                subprotocols=[SUBPROTOCOL],
                                compression=None,
                                max_size=64 * 1024,
                                ping_interval=15, ping_timeout=30,
                                backlog=4096) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        if args.ready_file:
            tmp = args.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(f"{port}\n")
            os.rename(tmp, args.ready_file)
        print(f"peer_asyncio: listening on {host}:{port}", file=sys.stderr)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
