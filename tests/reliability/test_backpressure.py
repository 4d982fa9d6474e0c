#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Backpressure under volume: clients that stop reading are cut off with 1013 while tens of
# megabytes pass through their room, a fast reader in the same room receives every
# message in order, and natterd's memory stays flat instead of growing with what the slow
# ones did not read; and a burst the rate limits allow does not get readers that keep up
# (or keep reading, on a slow link) cut off as if they were slow. (tests/integration/test_websocket.py shows the cut-off
# itself for one slow consumer.)

import asyncio
import json
import os
import struct
import sys
import time
import unittest

import websockets

from reliability_common import (JSON_PROTOCOL, NatterTestCase, RawWebSocket, daemon_args,
                                eventually, sessions_open)

N_SLOW = 4
N_MESSAGES = 3000
BODY = "m" * 15000          # 3000 of them: 45 MB through the room
WINDOW = 3               # 45 KB in flight: under the queue bound even in one burst
QUEUE_BYTES = 65536
# Without the per-session bound, what the slow readers did not read stays queued: the
# resident size grows by 45 MB or more. With it, the daemon holds a few queues of 64 KiB;
# the rest is SQLite's cache and the allocator's slack (6 MiB measured in a plain build,
# 15 MiB under AddressSanitizer).
MAX_GROWTH = 24 * 1024 * 1024


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class BackpressureTest(NatterTestCase):

    def raw_call(self, raw, frame):
        raw.send_frame(0x1, json.dumps(frame).encode())
        while True:
            opcode, payload = raw.recv_frame()
            if opcode == 0x1:
                reply = json.loads(payload)
                if reply.get("id") == frame["id"]:
                    return reply

    # A heartbeat slower than the test: the slow readers, who answer no ping, are let go
    # for being slow, not for being silent.
    @daemon_args("--max-queue-bytes", str(QUEUE_BYTES), "--ping-interval", "100",
                 "--ping-timeout", "200")
    async def test_slow_consumers_cut_off_memory_flat(self):
        # Freed memory is reused at once under AddressSanitizer too, so that the resident
        # size measures what is live (no effect on other builds).
        self.assertEqual(await self.daemon.stop_async(), 0)
        self.daemon.env["ASAN_OPTIONS"] = ":".join(
            filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=0"]))
        await self.daemon.start_async()

        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "flood"}, "joined")
        await bob.call("join", {"room": "flood"}, "joined")

        # Accounts first (password hashing takes memory for a moment), then connections
        # with tiny receive buffers that log in with a token, join, and stop reading.
        tokens = []
        for i in range(N_SLOW):
            client = await self.user(f"slow{i}")
            tokens.append(client.welcome["token"])
            await client.close()
        slow = []
        for token in tokens:
            raw = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL], rcvbuf=4096)
            self.addCleanup(raw.close)
            self.assertIn("welcome", self.raw_call(raw, {"id": 1, "login": {"token": token}}))
            self.assertIn("joined", self.raw_call(raw, {"id": 2, "join": {"room": "flood"}}))
            slow.append(raw)

        # The fast reader reads all along, without keeping frames.
        seqs = []

        async def read_fast():
            while True:
                try:
                    frame = json.loads(await bob.ws.recv())
                except websockets.ConnectionClosed:
                    return
                if "message" in frame and frame["message"]["room"] == "flood":
                    seqs.append(frame["message"]["seq"])
        reader = asyncio.create_task(read_fast())

        async def send(start, n):
            ids = range(start, start + n)
            for i in ids:
                await alice.send_raw(json.dumps({"id": 1000 + i, "send": {
                    "room": "flood", "body": f"{i:05d}{BODY}", "client_msg_id": f"f{i}"}}))
            for i in ids:
                reply = await alice.reply(1000 + i, timeout=60)
                self.assertIn("sent", reply, reply)
            alice.take_pending("message")

        # Warm up the store and the allocator, then measure.
        for start in range(0, 21, WINDOW):
            await send(start, WINDOW)
        baseline = rss(self.daemon.proc.pid)
        peak = baseline
        for start in range(21, 21 + N_MESSAGES, WINDOW):
            await send(start, WINDOW)
            peak = max(peak, rss(self.daemon.proc.pid))
        sys.stderr.write(f"resident {baseline >> 20} MiB before, {peak >> 20} MiB at most\n")

        self.assertLess(peak - baseline, MAX_GROWTH,
                        f"resident size grew by {(peak - baseline) >> 20} MiB")
        total = 21 + N_MESSAGES
        await eventually(lambda: len(seqs) >= total or reader.done(), timeout=60,
                         message=f"the fast reader got {len(seqs)} of {total} messages")
        self.assertEqual(seqs, list(range(1, total + 1)), "the fast reader lost messages")

        # natterd let go of the slow sessions: only alice's and bob's remain.
        await eventually(lambda: sessions_open(self.daemon, 2), timeout=30,
                         message="slow sessions still open")
        for raw in slow:
            # What fit in the buffers, then 1013; unless natterd's close grace (5 s) ran
            # out before this client read again, and it hung up without the close frame.
            code, reason, _ = await asyncio.to_thread(raw.read_until_close, 30)
            if code is not None:
                self.assertEqual(code, 1013, reason)
                self.assertIn("too slow", reason)
        reader.cancel()

    # The default limits, which the harness raises for other tests.
    @daemon_args("--rate", "20", "--rate-burst", "50")
    async def test_burst_within_rate_limits_reaches_fast_readers(self):
        # Twelve accounts each send the burst their rate limit allows (50 messages of 16 KB)
        # at once: 9.6 MB for every member of the room. Everyone reads as fast as it can;
        # nobody is a slow consumer, so nobody may be cut off and nothing may be lost.
        n_senders, n_each = 12, 50
        body = "b" * 16000
        reader_client = await self.user("reader")
        await reader_client.call("join", {"room": "burst"}, "joined")
        senders = []
        for i in range(n_senders):
            client = await self.user(f"sender{i}")
            await client.call("join", {"room": "burst"}, "joined")
            senders.append(client)
        total = n_senders * n_each

        async def read_all(client, sends):
            """Reads everything; returns the seqs pushed and the replies to @sends."""
            seqs, replies = [], {}
            while len(seqs) < total or len(replies) < sends:
                try:
                    frame = json.loads(await asyncio.wait_for(client.ws.recv(), 60))
                except websockets.ConnectionClosed:
                    raise AssertionError(f"{client.label} closed with {client.ws.close_code} "
                                         f"{client.ws.close_reason!r} after {len(seqs)} "
                                         "messages") from None
                if "message" in frame and frame["message"]["room"] == "burst":
                    seqs.append(frame["message"]["seq"])
                elif frame.get("id", 0) >= 1000:
                    replies[frame["id"]] = frame
            return seqs, replies

        readers = [asyncio.create_task(read_all(reader_client, 0))]
        readers += [asyncio.create_task(read_all(c, n_each)) for c in senders]
        for i in range(n_each):
            for client in senders:
                await client.ws.send(json.dumps({"id": 1000 + i, "send": {
                    "room": "burst", "body": f"{client.label} {i} {body}",
                    "client_msg_id": f"b{i}"}}))
        results = await asyncio.gather(*readers)
        for (seqs, replies), client in zip(results, [reader_client] + senders):
            self.assertEqual(seqs, list(range(1, total + 1)), client.label)
            if client is not reader_client:
                refused = [f for f in replies.values() if "sent" not in f]
                self.assertEqual(refused, [], client.label)

    # One account's burst (400 messages of 16 KB) is more than the kernel's buffers (up to
    # 4 MiB) and the queue bound (2 MiB) together: the reader's queue stays over the bound for
    # seconds while it reads, but under four times it.
    @daemon_args("--rate", "20", "--rate-burst", "400", "--max-queue-bytes", "2097152")
    async def test_reader_that_keeps_reading_is_not_cut_off(self):
        # A reader on a slow link (a busy machine looks the same from the server) takes
        # 16 KB every 40 ms: it is behind, but it reads, so it is not cut off as too slow,
        # however long the burst takes to reach it; and it gets every message.
        n = 400
        body = "r" * 16000
        alice = await self.user("alice")
        await alice.call("join", {"room": "slow-link"}, "joined")
        token = (await self.user("reader")).welcome["token"]
        raw = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL], rcvbuf=16384)
        self.addCleanup(raw.close)
        self.assertIn("welcome", self.raw_call(raw, {"id": 1, "login": {"token": token}}))
        self.assertIn("joined", self.raw_call(raw, {"id": 2, "join": {"room": "slow-link"}}))
        for i in range(n):
            await alice.send_raw(json.dumps({"id": 100 + i, "send": {
                "room": "slow-link", "body": f"{i} {body}", "client_msg_id": f"s{i}"}}))

        def read_slowly():
            seqs = []
            buf = b""
            raw.sock.settimeout(30)
            while len(seqs) < n:
                chunk = raw.sock.recv(16384)
                if not chunk:
                    return seqs, "end of stream"
                buf += chunk
                while len(buf) >= 4:
                    length = buf[1] & 0x7F
                    start = 2 + {126: 2, 127: 8}.get(length, 0)
                    if length == 126:
                        length = struct.unpack("!H", buf[2:4])[0]
                    elif length == 127:
                        length = struct.unpack("!Q", buf[2:10])[0]
                    if len(buf) < start + length:
                        break
                    opcode, payload = buf[0] & 0x0F, buf[start:start + length]
                    buf = buf[start + length:]
                    if opcode == 0x8:
                        return seqs, f"closed: {payload[:2].hex()} {payload[2:]!r}"
                    frame = json.loads(payload) if opcode == 0x1 else {}
                    if "message" in frame and frame["message"]["room"] == "slow-link":
                        seqs.append(frame["message"]["seq"])
                # The slow link: pacing the reader, not waiting for a condition.
                time.sleep(0.04)
            return seqs, None

        async def sender_reads():
            """The sender reads as fast as it can (its own messages come back to it)."""
            replies = {}
            while len(replies) < n:
                frame = json.loads(await asyncio.wait_for(alice.ws.recv(), 60))
                if frame.get("id", 0) >= 100:
                    replies[frame["id"]] = frame
            return replies

        (seqs, ended), replies = await asyncio.gather(asyncio.to_thread(read_slowly),
                                                      sender_reads())
        self.assertIsNone(ended, f"after {len(seqs)} messages")
        self.assertEqual(seqs, list(range(1, n + 1)))
        self.assertEqual([f for f in replies.values() if "sent" not in f], [])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], *sys.argv[1:]], verbosity=2)
