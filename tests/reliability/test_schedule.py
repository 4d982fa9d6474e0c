#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A seeded random schedule of clients that drop their connections at random points and
# resume, while others send. Each ends with exactly the room's history, in order, without
# gaps or duplicates.
#
# Steady clients send into two rooms, paced at random, and stay connected. Flaky clients
# connect (login {token} and join {room, since_seq} pipelined, as a reconnecting client
# does), read and send for a random while, then leave in one of four ways: a clean close,
# an aborted TCP connection (RST), half a frame then FIN, or half a frame then silence (the
# daemon's heartbeat must drop them). Sends left without a reply are retried on the next
# connection with the same client_msg_id. The resume cap is small, so resumes overflow it
# and page the rest with `history {after_seq}`.
#
# What is checked, per session and room: no message pushed twice or at or before the
# position the client resumed from, pushes in seq order (one gap allowed after a capped
# replay), and the same content whenever a seq is seen again. At the end: each room's
# history is gapless with each (sender, client_msg_id) once; every send any client made
# is in it at the seq it was acknowledged with (retries agree); every client's view equals
# it; the daemon holds no session that was dropped.
#
# NATTER_SEED replays a schedule; NATTER_SCHEDULE_SECONDS changes its length (default 25).

import asyncio
import json
import os
import random
import socket
import struct
import sys
import time
import unittest

import websockets

from reliability_common import (JSON_PROTOCOL, NatterTestCase, check_room_history,
                                daemon_args, eventually, full_history, message_key,
                                open_ws, password_for, seed_from_env, sessions_open)

ROOMS = ("alpha", "beta")
RESUME_CAP = 25
N_STEADY = 2
N_FLAKY = 4
DURATION = float(os.environ.get("NATTER_SCHEDULE_SECONDS", "25"))
MODES = ("close", "abort", "half-frame-fin", "half-frame-silence")


class View:
    """What one client knows of each room, over all its connections."""

    def __init__(self, owner):
        self.owner = owner
        self.have = {room: {} for room in ROOMS}
        self.problems = []

    def add(self, room, message, how):
        seq = message["seq"]
        known = self.have[room].get(seq)
        if known is None:
            self.have[room][seq] = message
        elif known != message:
            self.problems.append(f"{self.owner}: {room} #{seq} seen as {known!r}, then "
                                 f"{how} as {message!r}")

    def pos(self, room):
        """The highest seq up to which the client has every message."""
        n = 0
        while n + 1 in self.have[room]:
            n += 1
        return n


class RoomLog:
    """The pushes of one room on one session."""

    def __init__(self, since):
        self.since = since
        self.joined = None       # the `joined` payload once it arrived
        self.early = []          # seqs pushed before `joined` (live from login)
        self.after = []          # seqs pushed after it

    def problems(self, where):
        out = []
        seqs = self.early + self.after
        if len(set(seqs)) != len(seqs):
            out.append(f"{where}: pushed twice: {seqs}")
        if any(s <= self.since for s in seqs):
            out.append(f"{where}: pushed at or before since_seq {self.since}: {seqs}")
        if self.early and self.early != list(range(self.early[0],
                                                   self.early[0] + len(self.early))):
            out.append(f"{where}: live pushes before joined out of order: {self.early}")
        if self.joined is None:
            return out
        early = set(self.early)
        has_more = self.joined.get("has_more", False)
        expected = self.since + 1
        gap_used = False
        for s in self.after:
            while expected in early:
                expected += 1
            if s == expected:
                expected += 1
            elif (has_more and not gap_used and expected > self.since + RESUME_CAP and
                  s > expected):
                # The replay stopped at the cap; live pushes continue after the gap.
                gap_used = True
                expected = s + 1
            else:
                out.append(f"{where}: since_seq {self.since}, has_more {has_more}, early "
                           f"{self.early}: pushed {self.after}")
                break
        return out


class FlakySession:
    """One connection of a flaky client."""

    def __init__(self, owner, ws, number):
        self.owner = owner
        self.ws = ws
        self.label = f"{owner.user}#{number}"
        self.logs = {}
        self.requests = {}       # id -> (kind, detail)
        self.next_id = 1
        self.reader_task = None
        self.pagers = []

    def take_id(self):
        self.next_id += 1
        return self.next_id

    async def request(self, kind, frame, detail=None):
        request_id = self.take_id()
        self.requests[request_id] = (kind, detail)
        await self.ws.send(json.dumps({"id": request_id, **frame}))
        return request_id


class Flaky:
    def __init__(self, test, index, rng):
        self.test = test
        self.user = f"flaky{index}"
        self.rng = rng
        self.view = View(self.user)
        self.token = None
        self.unacked = {}        # client_msg_id -> send op, until a `sent` answers it
        self.acks = {}           # client_msg_id -> [sent payloads]
        self.n_sends = 0
        self.n_sessions = 0
        self.modes = {m: 0 for m in MODES}
        self.session_problems = []
        self.silent = []         # half-frame-silence connections, closed at the end
        self.stats = {"capped resumes": 0, "pushes before joined": 0, "retried sends": 0}

    # Reading ---------------------------------------------------------------------------

    async def read(self, session):
        ws = session.ws
        while True:
            try:
                data = await ws.recv()
            except websockets.ConnectionClosed:
                return
            frame = json.loads(data)
            if "id" in frame:
                self.on_reply(session, frame)
            elif "message" in frame:
                m = frame["message"]
                if m["room"] in ROOMS:
                    log = session.logs[m["room"]]
                    (log.after if log.joined is not None else log.early).append(m["seq"])
                    self.view.add(m["room"], m, f"pushed on {session.label}")

    def on_reply(self, session, frame):
        kind, detail = session.requests.pop(frame["id"], (None, None))
        if kind is None:
            self.session_problems.append(f"{session.label}: reply to nothing: {frame!r}")
        elif "error" in frame:
            self.session_problems.append(f"{session.label}: {kind} {detail!r} failed: "
                                         f"{frame['error']!r}")
        elif kind == "login":
            if frame.get("welcome", {}).get("user") != self.user:
                self.session_problems.append(f"{session.label}: login answered {frame!r}")
        elif kind == "join":
            joined = frame.get("joined")
            if joined is None or joined.get("room") != detail:
                self.session_problems.append(f"{session.label}: join answered {frame!r}")
                return
            session.logs[detail].joined = joined
            if joined.get("has_more", False):
                self.stats["capped resumes"] += 1
                session.pagers.append(asyncio.create_task(
                    self.page(session, detail, joined["last_seq"])))
        elif kind == "send":
            sent = frame.get("sent")
            if sent is None or sent["client_msg_id"] != detail["client_msg_id"]:
                self.session_problems.append(f"{session.label}: send answered {frame!r}")
                return
            self.acks.setdefault(detail["client_msg_id"], []).append(sent)
            self.unacked.pop(detail["client_msg_id"], None)
        elif kind == "history":
            page = frame.get("history")
            room, future = detail
            if page is None or page.get("room") != room:
                self.session_problems.append(f"{session.label}: history answered {frame!r}")
                return
            for m in page.get("messages", []):
                self.view.add(room, m, f"paged on {session.label}")
            if not future.done():
                future.set_result(page)

    async def page(self, session, room, last_seq):
        """After a capped resume: pages with history {after_seq} up to @last_seq."""
        try:
            while self.view.pos(room) < last_seq:
                future = asyncio.get_running_loop().create_future()
                await session.request("history", {"history": {
                    "room": room, "after_seq": self.view.pos(room), "limit": 200}},
                    (room, future))
                page = await future
                if not page.get("messages"):
                    return
        except websockets.ConnectionClosed:
            return

    # Connections -----------------------------------------------------------------------

    async def connect(self):
        """A new connection: login {token}, join every room since the last seq it holds,
        and retry the sends left without a reply, all pipelined."""
        self.n_sessions += 1
        ws = await open_ws(self.test.daemon.url(), [JSON_PROTOCOL])
        session = FlakySession(self, ws, self.n_sessions)
        # Positions are taken before anything is read on the new connection.
        session.logs = {room: RoomLog(self.view.pos(room)) for room in ROOMS}
        session.reader_task = asyncio.create_task(self.read(session))
        try:
            await session.request("login", {"login": {"token": self.token}})
            for room in ROOMS:
                await session.request("join", {"join": {
                    "room": room, "since_seq": session.logs[room].since}}, room)
            for op in list(self.unacked.values()):
                self.stats["retried sends"] += 1
                await session.request("send", {"send": op}, op)
        except websockets.ConnectionClosed:
            pass
        return session

    async def send_new(self, session):
        self.n_sends += 1
        body = f"{self.user} says {self.n_sends} " + self.rng.choice(
            ["", "é☃", "x" * self.rng.randrange(1, 300)])
        op = {"room": self.rng.choice(ROOMS), "body": body,
              "client_msg_id": f"{self.user}-{self.n_sends}"}
        self.unacked[op["client_msg_id"]] = op
        await session.request("send", {"send": op}, op)

    async def drop(self, session, mode):
        """Leaves @session in the way @mode names."""
        self.modes[mode] += 1
        ws = session.ws
        transport = ws.transport
        if mode == "close":
            await asyncio.wait_for(ws.close(), 10)
        elif mode == "abort":
            # SO_LINGER 0: close() sends RST instead of FIN.
            transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            # A masked text frame that announces 300 bytes and brings 60.
            payload = json.dumps({"id": 999999, "send": {
                "room": ROOMS[0], "body": "never finished " + "z" * 300,
                "client_msg_id": "never"}}).encode()[:60]
            mask = os.urandom(4)
            transport.write(bytes([0x81, 0x80 | 126]) + struct.pack("!H", 300) + mask +
                            bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            if mode == "half-frame-fin":
                transport.close()
            else:
                # Silence: nothing more is read (so no pong answers the daemon's pings)
                # and nothing more is written; the TCP connection stays open.
                transport.pause_reading()
                self.silent.append(ws)
        session.reader_task.cancel()
        for task in session.pagers:
            task.cancel()
        await asyncio.gather(session.reader_task, *session.pagers, return_exceptions=True)
        self.finish(session)

    def finish(self, session):
        for room, log in session.logs.items():
            self.stats["pushes before joined"] += len(log.early)
            self.session_problems.extend(log.problems(f"{session.label} {room}"))

    async def run(self, deadline):
        while time.monotonic() < deadline:
            session = await self.connect()
            leave_at = time.monotonic() + self.rng.uniform(0.0, 2.0)
            while time.monotonic() < leave_at and not session.reader_task.done():
                if len(self.unacked) < 4 and self.rng.random() < 0.5:
                    try:
                        await self.send_new(session)
                    except websockets.ConnectionClosed:
                        break
                # Pacing of this client's own traffic, not a wait for a condition.
                await asyncio.sleep(self.rng.uniform(0.0, 0.2))
            if self.rng.random() < 0.5 and not session.reader_task.done():
                # Leave with requests in flight.
                try:
                    for _ in range(self.rng.randrange(1, 4)):
                        await self.send_new(session)
                except websockets.ConnectionClosed:
                    pass
            await self.drop(session, self.rng.choice(MODES))
            await asyncio.sleep(self.rng.uniform(0.0, 1.0))

    async def final_connect(self):
        """The last connection, kept: waits until every send has its `sent`."""
        session = await self.connect()
        await eventually(lambda: not self.unacked or session.reader_task.done(), timeout=30,
                         message=f"{self.user}: retries unanswered: {self.unacked!r}")
        self.test.assertFalse(session.reader_task.done(), f"{session.label} was closed")
        return session


class Steady:
    """Stays connected, sends paced at random with a few sends in flight."""

    def __init__(self, test, client, rng):
        self.test = test
        self.client = client
        self.user = client.welcome["user"]
        self.rng = rng
        self.view = View(self.user)
        self.live = {room: [] for room in ROOMS}
        self.window = asyncio.Semaphore(3)
        self.in_flight = {}
        self.acks = {}
        self.problems = []
        self.n = 0

    async def read(self):
        ws = self.client.ws
        while True:
            try:
                data = await ws.recv()
            except websockets.ConnectionClosed:
                self.problems.append(f"{self.user}: closed with {ws.close_code}")
                return
            frame = json.loads(data)
            if "id" in frame:
                op = self.in_flight.pop(frame["id"], None)
                if op is None or "sent" not in frame:
                    self.problems.append(f"{self.user}: unexpected reply {frame!r}")
                else:
                    self.acks.setdefault(op["client_msg_id"], []).append(frame["sent"])
                self.window.release()
            elif "message" in frame and frame["message"]["room"] in ROOMS:
                m = frame["message"]
                self.live[m["room"]].append(m["seq"])
                self.view.add(m["room"], m, "pushed")

    async def send(self, deadline):
        ws = self.client.ws
        while time.monotonic() < deadline:
            await self.window.acquire()
            self.n += 1
            op = {"room": self.rng.choice(ROOMS), "body": f"{self.user} {self.n}",
                  "client_msg_id": f"{self.user}-{self.n}"}
            self.in_flight[1000 + self.n] = op
            await ws.send(json.dumps({"id": 1000 + self.n, "send": op}))
            await asyncio.sleep(self.rng.uniform(0.0, 0.03))


class ScheduleTest(NatterTestCase):

    @daemon_args("--resume-cap", str(RESUME_CAP), "--ping-interval", "1",
                 "--ping-timeout", "3")
    async def test_random_disconnect_resume(self):
        seed = seed_from_env("NATTER_SEED")
        rng = random.Random(seed)

        steady = []
        for i in range(N_STEADY):
            client = await self.user(f"steady{i}")
            for room in ROOMS:
                await client.call("join", {"room": room}, "joined")
            steady.append(Steady(self, client, random.Random(rng.random())))
        flaky = []
        for i in range(N_FLAKY):
            f = Flaky(self, i, random.Random(rng.random()))
            client = await self.connect(f"register-{f.user}")
            f.token = (await client.register(f.user, password_for(f.user)))["token"]
            await client.close()
            flaky.append(f)

        deadline = time.monotonic() + DURATION
        readers = [asyncio.create_task(s.read()) for s in steady]
        await asyncio.gather(*(s.send(deadline) for s in steady),
                             *(f.run(deadline) for f in flaky))
        await eventually(lambda: all(not s.in_flight for s in steady), timeout=30,
                         message="steady sends unanswered")

        sessions = [await f.final_connect() for f in flaky]
        checker = await self.user("checker")
        history = {}
        for room in ROOMS:
            await checker.call("join", {"room": room}, "joined")
            history[room] = await full_history(checker, room)
            check_room_history(self, room, history[room])
        modes = {m: sum(f.modes[m] for f in flaky) for m in MODES}
        sys.stderr.write(f"{sum(len(h) for h in history.values())} messages, "
                         f"{sum(f.n_sessions for f in flaky)} flaky connections, left by "
                         f"{modes}\n")

        # Every send is stored once, at the seq every `sent` for it named.
        stored = {room: {message_key(m): m for m in history[room]} for room in ROOMS}
        n_sends = 0
        for who in steady + flaky:
            n = who.n if isinstance(who, Steady) else who.n_sends
            n_sends += n
            for i in range(1, n + 1):
                cmid = f"{who.user}-{i}"
                acks = who.acks.get(cmid)
                self.assertTrue(acks, f"{cmid} never acknowledged")
                found = [stored[room].get((who.user, cmid)) for room in ROOMS]
                found = [m for m in found if m is not None]
                self.assertEqual(len(found), 1, f"{cmid} stored {len(found)} times")
                for sent in acks:
                    self.assertEqual((sent["room"], sent["seq"], sent["ts"]),
                                     (found[0]["room"], found[0]["seq"], found[0]["ts"]),
                                     f"{cmid}: acknowledgements disagree with the store")
        self.assertEqual(n_sends, sum(len(h) for h in history.values()),
                         "the history holds messages nobody sent")

        # Every client ends with exactly the history.
        for f in flaky:
            await eventually(lambda: all(f.view.pos(r) >= len(history[r]) for r in ROOMS),
                             timeout=30, message=f"{f.user} never caught up")
        for f, session in zip(flaky, sessions):
            f.finish(session)
        stats = {k: sum(f.stats[k] for f in flaky) for k in flaky[0].stats}
        sys.stderr.write(f"{stats}\n")
        for f in flaky:
            self.assertEqual(f.session_problems, [], f.user)
            self.assertEqual(f.view.problems, [], f.user)
            for room in ROOMS:
                self.assertEqual(f.view.have[room], {m["seq"]: m for m in history[room]},
                                 f"{f.user}: view of {room}")
        for s in steady:
            await eventually(lambda: all(len(s.live[r]) >= len(history[r]) for r in ROOMS),
                             timeout=30, message=f"{s.user} never caught up")
            self.assertEqual(s.problems, [], s.user)
            self.assertEqual(s.view.problems, [], s.user)
            for room in ROOMS:
                self.assertEqual(s.live[room], list(range(1, len(history[room]) + 1)),
                                 f"{s.user}: live view of {room}")
                self.assertEqual(s.view.have[room], {m["seq"]: m for m in history[room]})

        # Silent connections were dropped by the heartbeat, and no dropped connection
        # left a session behind.
        open_now = N_STEADY + N_FLAKY + 1
        await eventually(lambda: sessions_open(self.daemon, open_now), timeout=15,
                         message=f"natter_sessions is not {open_now}")
        for f in flaky:
            for ws in f.silent:
                ws.transport.abort()
        for task in readers:
            task.cancel()
        for f, session in zip(flaky, sessions):
            await session.ws.close()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], *sys.argv[1:]], verbosity=2)
