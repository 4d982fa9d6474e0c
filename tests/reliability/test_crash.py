#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Crash and shutdown checkers: clients send as fast as their acknowledgements allow, the
# daemon is killed with SIGKILL (or stopped with SIGTERM) in the middle of it and started
# again on the same data directory, and what was acknowledged is compared with what is
# read back: every `sent` is in history once, with its seq; seqs are gapless; a retry of
# an unacknowledged send returns the stored seq or a new one, never a second copy; and
# every client's resumed view equals the history.
#
# NATTER_SEED replays a run (the seed picks the bodies).

import asyncio
import json
import os
import random
import shutil
import signal
import sys
import unittest

import websockets

from reliability_common import (NatterTestCase, check_room_history, daemon_args,
                                eventually, full_history, message_key, seed_from_env)

ROOMS = ("north", "south", "east")
N_CLIENTS = 6
WINDOW = 8                 # sends in flight per client
KILL_AFTER_ACKS = 600      # acknowledged sends (all clients) before the kill
LOAD_TIMEOUT = 90


class LoadClient:
    """One account sending into every room with WINDOW sends in flight, recording each
    acknowledgement and each message pushed to it. Reads with its own loop rather than
    the fixture's recv_until, which would scan thousands of pending frames per reply."""

    def __init__(self, test, client, rng):
        self.test = test
        self.client = client
        self.user = client.welcome["user"]
        self.rng = rng
        self.window = asyncio.Semaphore(WINDOW)
        self.in_flight = {}      # request id -> send body
        self.acked = {}          # client_msg_id -> (send body, sent payload)
        self.refused = {}        # client_msg_id -> (send body, error payload)
        self.other = []          # replies that are neither sent nor error
        self.live = {room: [] for room in ROOMS}
        self.n = 0
        self.stopping = False

    def body(self):
        filler = self.rng.choice(["", "x" * self.rng.randrange(1, 400), "é☃🌍 ünïcödé",
                                  "line\nbreak\ttab", "'\"; --"])
        return f"{self.user} #{self.n} {filler}"

    async def reader(self):
        ws = self.client.ws
        while True:
            try:
                data = await ws.recv()
            except websockets.ConnectionClosed:
                return ws.close_code, ws.close_reason
            frame = json.loads(data)
            self.client.received.append((data, frame))
            if "id" in frame:
                op = self.in_flight.pop(frame["id"], None)
                if op is None:
                    self.other.append(frame)
                    continue
                if "sent" in frame:
                    self.acked[op["client_msg_id"]] = (op, frame["sent"])
                elif "error" in frame:
                    self.refused[op["client_msg_id"]] = (op, frame["error"])
                else:
                    self.other.append(frame)
                self.window.release()
            elif "message" in frame:
                m = frame["message"]
                if m["room"] in self.live:
                    self.live[m["room"]].append(m)

    async def sender(self):
        ws = self.client.ws
        while not self.stopping:
            await self.window.acquire()
            if self.stopping:
                return
            self.n += 1
            request_id = 1000 + self.n
            op = {"room": ROOMS[self.n % len(ROOMS)], "body": self.body(),
                  "client_msg_id": f"{self.user}-{self.n}"}
            self.in_flight[request_id] = op
            try:
                await ws.send(json.dumps({"id": request_id, "send": op}))
            except websockets.ConnectionClosed:
                return

    def unanswered(self):
        return list(self.in_flight.values())

    def unacked(self):
        return self.unanswered() + [op for op, _ in self.refused.values()]


class CrashTest(NatterTestCase):

    def setUp(self):
        self.rng = random.Random(seed_from_env("NATTER_SEED"))

    async def start_load(self):
        """N_CLIENTS accounts, each a member of every room before anyone sends, so that
        each session's live view of a room starts at seq 1."""
        clients = []
        for i in range(N_CLIENTS):
            client = await self.user(f"load{i}")
            for room in ROOMS:
                await client.call("join", {"room": room}, "joined")
            clients.append(LoadClient(self, client, random.Random(self.rng.random())))
        readers = [asyncio.create_task(c.reader()) for c in clients]
        senders = [asyncio.create_task(c.sender()) for c in clients]
        return clients, readers, senders

    async def stop_load(self, clients, readers, senders):
        """After the daemon is gone: lets every reader drain what reached it, then stops
        the senders. Returns the readers' close codes."""
        closes = await asyncio.wait_for(asyncio.gather(*readers), 30)
        for c in clients:
            c.stopping = True
            c.window.release()
        await asyncio.wait_for(asyncio.gather(*senders, return_exceptions=True), 30)
        return closes

    def check_live_views(self, clients):
        """A session receives each room's messages in seq order, from 1, without gaps."""
        for c in clients:
            for room in ROOMS:
                seqs = [m["seq"] for m in c.live[room]]
                self.assertEqual(seqs, list(range(1, len(seqs) + 1)),
                                 f"{c.user}: live view of {room}")

    async def histories(self, reader):
        result = {}
        for room in ROOMS:
            result[room] = await full_history(reader, room)
            check_room_history(self, room, result[room])
        return result

    def check_acked_stored(self, clients, history, allow_missing=False):
        """Every acknowledged send is in history at its seq, with its ts and body."""
        for c in clients:
            for cmid, (op, sent) in c.acked.items():
                self.assertEqual((sent["room"], sent["client_msg_id"]), (op["room"], cmid))
                stored = history[op["room"]]
                self.assertGreaterEqual(len(stored), sent["seq"],
                                        f"acknowledged {cmid} (seq {sent['seq']}) is lost")
                m = stored[sent["seq"] - 1]
                self.assertEqual((m["sender"], m["client_msg_id"], m["body"], m["ts"]),
                                 (c.user, cmid, op["body"], sent["ts"]),
                                 f"acknowledged {cmid} is not stored as acknowledged")

    def check_no_phantoms(self, clients, history):
        """Every stored message is one that some client sent, with the body it sent."""
        ops = {}
        for c in clients:
            for op, _ in c.acked.values():
                ops[(c.user, op["client_msg_id"])] = op
            for op in c.unacked():
                ops[(c.user, op["client_msg_id"])] = op
        for room, messages in history.items():
            for m in messages:
                key = message_key(m)
                self.assertIn(key, ops, f"{room}: a message nobody sent: {m!r}")
                self.assertEqual((room, m["body"]), (ops[key]["room"], ops[key]["body"]), m)

    def check_live_in_history(self, clients, history):
        """What was pushed live was committed: it is in history as pushed."""
        for c in clients:
            for room in ROOMS:
                for m in c.live[room]:
                    self.assertLessEqual(m["seq"], len(history[room]),
                                         f"{c.user} was pushed {room} #{m['seq']}, now lost")
                    self.assertEqual(history[room][m["seq"] - 1], m)

    async def resume(self, c, label):
        """A new connection of @c's account: login {token}, then join {room, since_seq: the
        last seq it saw}, pipelined as a reconnecting client does. Returns the session and
        its per-room views (what it saw before plus what the resume delivered)."""
        session = await self.connect(label)
        since = {room: (c.live[room][-1]["seq"] if c.live[room] else 0) for room in ROOMS}
        await session.send_frame({"id": 1, "login": {"token": c.client.welcome["token"]}})
        for i, room in enumerate(ROOMS):
            await session.send_frame({"id": 2 + i, "join": {"room": room,
                                                           "since_seq": since[room]}})
        welcome = await session.reply(1)
        self.assertIn("welcome", welcome, welcome)
        session.welcome = welcome["welcome"]
        views = {}
        for i, room in enumerate(ROOMS):
            joined = await session.reply(2 + i)
            self.assertIn("joined", joined, joined)
            views[room] = (list(c.live[room]), joined["joined"])
        return session, since, views

    async def collect(self, session, room, view, up_to):
        """Reads @session until it was pushed @room up to seq @up_to; returns @view followed
        by what the session was pushed of @room."""
        def pushed():
            return [f["message"] for _, f in session.received
                    if "message" in f and f["message"]["room"] == room]
        if not any(m["seq"] >= up_to for m in view + pushed()):
            await session.recv_until(lambda f: "message" in f and f["message"]["room"] == room
                                     and f["message"]["seq"] >= up_to, timeout=30)
        return view + pushed()

    async def interrupt_under_load(self, sig):
        """Sends under load, stops the daemon with @sig mid-stream, restarts it on the same
        data directory and checks what was acknowledged against what is stored."""
        clients, readers, senders = await self.start_load()
        epoch = clients[0].client.welcome["epoch"]

        def n_acked():
            refused = [c.refused for c in clients if c.refused]
            self.assertEqual(refused, [], "a send was refused under load")
            return sum(len(c.acked) for c in clients) >= KILL_AFTER_ACKS
        await eventually(n_acked, timeout=LOAD_TIMEOUT, interval=0.01,
                         message=f"fewer than {KILL_AFTER_ACKS} acks within {LOAD_TIMEOUT} s")

        rc = await self.daemon.stop_async(sig)
        closes = await self.stop_load(clients, readers, senders)
        if sig == signal.SIGKILL:
            self.assertEqual(rc, -signal.SIGKILL)
            self.assertEqual([code for code, _ in closes], [1006] * N_CLIENTS)
            for c in clients:
                self.assertEqual(c.refused, {}, f"{c.user}: sends refused")
        else:
            # A clean stop: exit status 0, every client told 1001 (going away), and
            # whatever was refused meanwhile was refused as `unavailable`.
            self.assertEqual(rc, 0, "natterd must exit 0 on SIGTERM")
            self.assertEqual([code for code, _ in closes], [1001] * N_CLIENTS, closes)
            for c in clients:
                self.assertEqual({e["code"] for _, e in c.refused.values()} - {"unavailable"},
                                 set(), f"{c.user}: {c.refused!r}")
        for c in clients:
            self.assertEqual(c.other, [], f"{c.user}: unexpected replies")
        unanswered = sum(len(c.unanswered()) for c in clients)
        refused = sum(len(c.refused) for c in clients)
        if sig == signal.SIGKILL:
            # The kill came mid-stream: sends were in flight.
            self.assertGreater(unanswered, 0, "no send was in flight at the kill")
        self.check_live_views(clients)
        sys.stderr.write(f"stopped with {sum(len(c.acked) for c in clients)} sends "
                         f"acknowledged, {refused} refused and {unanswered} unanswered\n")

        await self.daemon.start_async()
        checker = await self.user("checker")
        for room in ROOMS:
            await checker.call("join", {"room": room}, "joined")
        self.assertEqual(checker.welcome["epoch"], epoch, "a restart changed the epoch")
        before = await self.histories(checker)
        self.check_acked_stored(clients, before)
        self.check_no_phantoms(clients, before)
        self.check_live_in_history(clients, before)
        stored_keys = {message_key(m) for room in ROOMS for m in before[room]}
        for c in clients:
            for op, error in c.refused.values():
                self.assertNotIn((c.user, op["client_msg_id"]), stored_keys,
                                 f"refused with {error!r}, yet stored")
        stored_unacked = sum(1 for c in clients for op in c.unanswered()
                             if (c.user, op["client_msg_id"]) in stored_keys)
        sys.stderr.write(f"{stored_unacked} of the {unanswered} unanswered sends were "
                         "stored\n")

        # Each account resumes; its view (live before the kill, then the resume) must be the
        # history, exactly.
        sessions = []
        for c in clients:
            session, since, views = await self.resume(c, f"{c.user}-resumed")
            self.assertEqual(session.welcome["epoch"], epoch)
            for room in ROOMS:
                seen, joined = views[room]
                self.assertEqual(joined["last_seq"], len(before[room]), joined)
                self.assertIs(joined.get("has_more", False), False, joined)
                view = await self.collect(session, room, seen, len(before[room]))
                self.assertEqual(view, before[room], f"{c.user}: resumed view of {room}")
            sessions.append(session)

        # Every send without `sent` is retried with its client_msg_id: the stored seq, or a
        # new one, never a second copy.
        stored = {room: {message_key(m): m for m in before[room]} for room in ROOMS}
        next_seq = {room: len(before[room]) + 1 for room in ROOMS}
        retried = {}
        for c, session in zip(clients, sessions):
            for op in sorted(c.unacked(), key=lambda op: int(op["client_msg_id"]
                                                                  .rsplit("-", 1)[1])):
                sent = await session.call("send", op, "sent")
                self.assertEqual((sent["room"], sent["client_msg_id"]),
                                 (op["room"], op["client_msg_id"]))
                old = stored[op["room"]].get((c.user, op["client_msg_id"]))
                if old is not None:
                    self.assertEqual((sent["seq"], sent["ts"]), (old["seq"], old["ts"]),
                                     f"retry of stored {op['client_msg_id']}")
                else:
                    self.assertEqual(sent["seq"], next_seq[op["room"]],
                                     f"retry of lost {op['client_msg_id']}")
                    next_seq[op["room"]] += 1
                retried[(c.user, op["client_msg_id"])] = (op, sent)

        after = await self.histories(checker)
        for room in ROOMS:
            self.assertEqual(after[room][:len(before[room])], before[room],
                             f"{room}: retries changed the stored history")
            self.assertEqual(len(after[room]), next_seq[room] - 1)
        self.check_acked_stored(clients, after)
        for (user, cmid), (op, sent) in retried.items():
            m = after[op["room"]][sent["seq"] - 1]
            self.assertEqual((m["sender"], m["client_msg_id"], m["body"], m["ts"]),
                             (user, cmid, op["body"], sent["ts"]))
        # Every send any client made is now stored exactly once.
        n_sent = sum(c.n for c in clients)
        in_store = sum(len(after[room]) for room in ROOMS)
        self.assertEqual(in_store, sum(len(c.acked) for c in clients) + len(retried))
        self.assertEqual(in_store, n_sent)

        # The resumed sessions were pushed the retried messages live: their views are the
        # final history.
        for c, session in zip(clients, sessions):
            for room in ROOMS:
                view = await self.collect(session, room, list(c.live[room]), len(after[room]))
                self.assertEqual(view, after[room], f"{c.user}: final view of {room}")

    async def test_kill9_under_load_normal(self):
        await self.interrupt_under_load(signal.SIGKILL)

    @daemon_args("--durability", "full")
    async def test_kill9_under_load_full(self):
        await self.interrupt_under_load(signal.SIGKILL)

    async def test_sigterm_drains_in_flight_sends(self):
        await self.interrupt_under_load(signal.SIGTERM)

    @daemon_args("--durability", "full")
    async def test_sigterm_answers_every_send_it_read(self):
        # A burst written before the signal, behind a slow (fsync'd) commit: whatever the
        # daemon read, it answers, `sent` (and stored) or `unavailable` (and not stored).
        alice = await self.user("alice")
        await alice.call("join", {"room": "burst"}, "joined")
        n = 100
        for i in range(n):
            await alice.send_frame({"id": 100 + i, "send": {
                "room": "burst", "body": f"b{i}", "client_msg_id": f"b{i}"}})
        self.assertIn("sent", await alice.reply(100))
        self.assertEqual(await self.daemon.stop_async(), 0)
        code, reason = await alice.wait_closed()
        self.assertEqual(code, 1001, reason)
        replies = {f["id"]: f for _, f in alice.received if f.get("id", 0) >= 100}
        self.assertEqual(sorted(replies), list(range(100, 100 + n)), "unanswered sends")
        acked = [replies[100 + i]["sent"] for i in range(n) if "sent" in replies[100 + i]]
        for i in range(n):
            if "error" in replies[100 + i]:
                self.assertEqual(replies[100 + i]["error"]["code"], "unavailable")

        await self.daemon.start_async()
        again = await self.connect("alice-again")
        await again.login(token=alice.welcome["token"])
        stored = await full_history(again, "burst")
        check_room_history(self, "burst", stored)
        self.assertEqual([(m["seq"], m["ts"], m["client_msg_id"]) for m in stored],
                         [(a["seq"], a["ts"], a["client_msg_id"]) for a in acked])

    async def test_replaced_store_new_epoch(self):
        alice = await self.user("alice")
        await alice.call("join", {"room": "kept"}, "joined")
        await alice.call("send", {"room": "kept", "body": "one", "client_msg_id": "k1"}, "sent")
        epoch, token = alice.welcome["epoch"], alice.welcome["token"]
        self.assertEqual(await self.daemon.stop_async(), 0)

        # Another store in the same place: a new epoch, and nothing of the old one is valid.
        saved = os.path.join(self.workdir, "saved")
        shutil.move(self.daemon.data_dir, saved)
        os.makedirs(self.daemon.data_dir)
        await self.daemon.start_async()
        other = await self.user("alice")
        self.assertNotEqual(other.welcome["epoch"], epoch)
        stranger = await self.connect("old-token")
        await self.expect_error(stranger, "login", {"token": token}, "unauthorized")
        await self.expect_error(other, "history", {"room": "kept"}, "not_found")
        self.assertEqual(await self.daemon.stop_async(), 0)

        # The old store back: its epoch, its token, its history.
        shutil.rmtree(self.daemon.data_dir)
        shutil.move(saved, self.daemon.data_dir)
        await self.daemon.start_async()
        back = await self.connect("alice-back")
        welcome = await back.login(token=token)
        self.assertEqual(welcome["epoch"], epoch)
        page = await back.call("history", {"room": "kept"}, "history")
        self.assertEqual([(m["seq"], m["body"]) for m in page["messages"]], [(1, "one")])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], *sys.argv[1:]], verbosity=2)
