# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What the reliability checkers share: the integration harness (imported, not copied),
# seeds that can be replayed, paging a room's whole history, the checks every room's
# history must pass, and a well-behaved pair of clients that watches a daemon under
# attack for side effects.

import asyncio
import http.client
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                "integration"))

from natter_fixture import (JSON_PROTOCOL, PROTO_PROTOCOL, Daemon,  # noqa: E402
                            JsonClient, NatterTestCase, ProtoClient, RawWebSocket,
                            daemon_args, eventually, natter_pb2, open_ws, password_for,
                            wait_for)

__all__ = ["JSON_PROTOCOL", "PROTO_PROTOCOL", "Daemon", "JsonClient", "NatterTestCase",
           "ProtoClient", "RawWebSocket", "daemon_args", "eventually", "natter_pb2",
           "open_ws", "password_for", "wait_for", "seed_from_env", "message_key",
           "full_history", "check_room_history", "CalmPair", "metric", "sessions_open",
           "json_text"]

HISTORY_PAGE = 200


def seed_from_env(name):
    """A seed for random.Random: $@name if set, else a fresh one. Printed either way, so
    that a failing run can be replayed."""
    value = os.environ.get(name)
    seed = int(value) if value else random.SystemRandom().randrange(2 ** 32)
    sys.stderr.write(f"\nseed {seed} (replay with {name}={seed})\n")
    sys.stderr.flush()
    return seed


def message_key(message):
    """What identifies a message to its sender: (sender, client_msg_id)."""
    return message["sender"], message["client_msg_id"]


async def full_history(client, room, after_seq=0):
    """Every message of @room with seq > @after_seq, paged with `history {after_seq}`
    200 at a time, in order."""
    messages = []
    while True:
        page = await client.call("history", {"room": room, "after_seq": after_seq,
                                             "limit": HISTORY_PAGE}, "history")
        got = page.get("messages", [])
        if page.get("room") != room:
            raise AssertionError(f"history of {room} answered for {page.get('room')!r}")
        if not got:
            if page.get("has_more", False):
                raise AssertionError(f"history of {room}: has_more with an empty page")
            return messages
        seqs = [m["seq"] for m in got]
        if seqs != list(range(after_seq + 1, after_seq + 1 + len(got))):
            raise AssertionError(f"history of {room} after {after_seq}: seqs {seqs}")
        messages.extend(got)
        after_seq = seqs[-1]
        if not page.get("has_more", False):
            return messages


def check_room_history(test, room, messages):
    """A room's history: seqs 1..N without gap, each (sender, client_msg_id) once, each
    message complete."""
    test.assertEqual([m["seq"] for m in messages], list(range(1, len(messages) + 1)),
                     f"{room}: seqs are not 1..N")
    keys = [message_key(m) for m in messages]
    dupes = sorted({k for k in keys if keys.count(k) > 1}) if len(set(keys)) != len(keys) else []
    test.assertEqual(dupes, [], f"{room}: messages stored twice")
    for m in messages:
        test.assertEqual(m["room"], room, m)
        test.assertEqual(m["kind"], "text", m)
        test.assertIsInstance(m["ts"], int, m)
        test.assertIsInstance(m["body"], str, m)


class CalmPair:
    """Two well-behaved clients chatting in their own room while something hostile happens
    on the same daemon. baseline() measures their round trip; after the hostile case,
    check() asserts that nothing reached them meanwhile (no stray frame) and that their
    round trip is still of the same order of magnitude."""

    ROUNDS = 15
    # On a shared machine a fast round trip is a millisecond or two; anything under this
    # is not a slowdown anyone would notice.
    LATENCY_FLOOR = 0.25

    def __init__(self, test, prefix="calm", **connect_kwargs):
        self.test = test
        self.prefix = prefix
        self.room = f"{prefix}-room"
        self.connect_kwargs = connect_kwargs
        self.n = 0
        self.before = None

    async def start(self):
        t = self.test
        self.a = await t.connect(f"{self.prefix}-a", **self.connect_kwargs)
        self.b = await t.connect(f"{self.prefix}-b", **self.connect_kwargs)
        await self.a.register(f"{self.prefix}-a", password_for(self.prefix))
        await self.b.register(f"{self.prefix}-b", password_for(self.prefix))
        await self.a.call("join", {"room": self.room}, "joined")
        await self.b.call("join", {"room": self.room}, "joined")
        await self.a.next_event("member", room=self.room, user=f"{self.prefix}-b", joined=True)
        self.before = await self.round_trips()
        self.settle()

    def settle(self):
        """Consumes what the pair's own traffic produced (its messages, its members'
        presence and membership), so that anything pending later is stray."""
        users = {self.a.label, self.b.label}

        def own(frame):
            kind = next(k for k in frame if k != "id")
            payload = frame[kind]
            if kind == "message":
                return "id" not in frame and payload["room"] == self.room
            if kind in ("presence", "member"):
                return "id" not in frame and payload["user"] in users
            return False
        for client in (self.a, self.b):
            stray = [f for f in client.pending if not own(f)]
            self.test.assertEqual(stray, [], f"{client.label}: unexpected frames")
            client.pending = []

    async def round_trips(self):
        times = []
        for _ in range(self.ROUNDS):
            self.n += 1
            start = time.monotonic()
            sent = await self.a.call("send", {"room": self.room, "body": f"tick {self.n}",
                                              "client_msg_id": f"tick-{self.n}"}, "sent")
            got = await self.b.next_event("message", room=self.room, seq=sent["seq"])
            times.append(time.monotonic() - start)
            self.test.assertEqual((got["sender"], got["body"]),
                                  (f"{self.prefix}-a", f"tick {self.n}"))
            await self.a.next_event("message", room=self.room, seq=sent["seq"])
        return statistics.median(times)

    async def check(self):
        t = self.test
        t.assertTrue(t.daemon.running, "natterd is no longer running")
        # A request/reply on each first: every frame the daemon sent them before it is read.
        await self.a.call("rooms", {}, "room_list")
        await self.b.call("rooms", {}, "room_list")
        for client in (self.a, self.b):
            t.assertEqual(client.pending, [], f"{client.label}: stray frames during the "
                                              "hostile case")
        after = await self.round_trips()
        t.assertLessEqual(after, max(10 * self.before, self.LATENCY_FLOOR),
                          f"round trip went from {self.before * 1000:.1f} ms to "
                          f"{after * 1000:.1f} ms")
        page = await self.a.call("history", {"room": self.room, "limit": 200}, "history")
        t.assertEqual([m["body"] for m in page["messages"]],
                      [f"tick {i}" for i in range(1, self.n + 1)])
        self.settle()


def metric(port, name):
    """The value of @name in natterd's /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    if response.status != 200:
        raise AssertionError(f"/metrics answered {response.status}")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


async def sessions_open(daemon, n):
    """Whether natterd counts exactly @n open WebSocket sessions."""
    return await asyncio.to_thread(metric, daemon.port, "natter_sessions") == n


def json_text(frame):
    return json.dumps(frame, separators=(",", ":"))
