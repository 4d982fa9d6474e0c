#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The WebSocket layer of natterd (RFC 6455) as a byte-level client sees it: fragmented
# messages, control frames between fragments, protocol errors and their close codes, the
# close handshake, and slow consumers being cut off with 1013 while fast ones lose
# nothing.

import asyncio
import json
import struct
import sys
import unittest

from natter_fixture import (JSON_PROTOCOL, NatterTestCase, RawWebSocket, daemon_args,
                            password_for)


def frame_json(raw, opcode=0x1):
    """Reads frames until a data frame; returns its JSON (pongs and pings are skipped)."""
    while True:
        frame = raw.recv_frame()
        assert frame is not None, "connection ended"
        op, payload = frame
        if op in (0x1, 0x2):
            return json.loads(payload)


class WebSocketTest(NatterTestCase):

    def raw(self):
        raw = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL])
        self.assertEqual(raw.status, 101)
        self.addCleanup(raw.close)
        return raw

    def raw_call(self, raw, frame):
        raw.send_frame(0x1, json.dumps(frame).encode())
        while True:
            reply = frame_json(raw)
            if reply.get("id") == frame.get("id"):
                return reply

    def assertClosedWith(self, raw, code):
        got, reason, _ = raw.read_until_close(timeout=10)
        self.assertEqual(got, code, f"close reason {reason!r}")
        return reason

    async def test_fragmented_message_with_ping_between(self):
        raw = self.raw()
        text = json.dumps({"id": 1, "register": {"user": "frag",
                                                 "password": password_for("frag")}}).encode()
        raw.send_frame(0x1, text[:10], fin=False)
        raw.send_frame(0x9, b"between")          # control frames may interleave
        raw.send_frame(0x0, text[10:20], fin=False)
        raw.send_frame(0x0, text[20:], fin=True)
        seen_pong = False
        while True:
            opcode, payload = raw.recv_frame()
            if opcode == 0xA:
                self.assertEqual(payload, b"between")
                seen_pong = True
            elif opcode == 0x1:
                reply = json.loads(payload)
                if reply.get("id") == 1:
                    break
        self.assertTrue(seen_pong)
        self.assertEqual(reply["welcome"]["user"], "frag")

    async def test_utf8_character_split_across_fragments(self):
        raw = self.raw()
        self.raw_call(raw, {"id": 1, "register": {"user": "split",
                                                  "password": password_for("split")}})
        self.raw_call(raw, {"id": 2, "join": {"room": "general"}})
        text = json.dumps({"id": 3, "send": {"room": "general", "body": "naïve ☃",
                                             "client_msg_id": "c1"}},
                          ensure_ascii=False).encode()
        cut = text.index("☃".encode()) + 1      # inside the three bytes of ☃
        raw.send_frame(0x1, text[:cut], fin=False)
        raw.send_frame(0x0, text[cut:], fin=True)
        reply = frame_json(raw)
        while reply.get("id") != 3:
            reply = frame_json(raw)
        self.assertIn("sent", reply)

    async def test_invalid_utf8_across_fragments_closes_1007(self):
        raw = self.raw()
        raw.send_frame(0x1, b'{"id": 1, "rooms": {"x": "\xe2', fin=False)
        raw.send_frame(0x0, b'\x28\xa1"}}', fin=True)
        self.assertClosedWith(raw, 1007)
        await self.assert_still_serving()

    async def test_unmasked_frame_closes_1002(self):
        raw = self.raw()
        payload = b'{"rooms": {}}'
        raw.sock.sendall(bytes([0x81, len(payload)]) + payload)
        self.assertClosedWith(raw, 1002)

    async def test_reserved_bits_close_1002(self):
        raw = self.raw()
        payload = b'{"rooms": {}}'
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        raw.sock.sendall(bytes([0xC1, 0x80 | len(payload)]) + mask + masked)
        self.assertClosedWith(raw, 1002)

    async def test_continuation_without_start_closes_1002(self):
        raw = self.raw()
        raw.send_frame(0x0, b"{}", fin=True)
        self.assertClosedWith(raw, 1002)

    async def test_unknown_opcode_closes_1002(self):
        raw = self.raw()
        raw.send_frame(0x3, b"?", fin=True)
        self.assertClosedWith(raw, 1002)

    async def test_oversized_header_closes_1009_before_payload(self):
        raw = self.raw()
        # Announce 10 MiB and send none of it: refused from the header alone.
        raw.sock.sendall(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 10 * 1024 * 1024) +
                         b"\x00\x00\x00\x00")
        self.assertClosedWith(raw, 1009)
        await self.assert_still_serving()

    async def test_fragments_over_the_limit_close_1009(self):
        raw = self.raw()
        chunk = b"x" * 40000
        raw.send_frame(0x1, chunk, fin=False)
        raw.send_frame(0x0, chunk, fin=True)     # 80,000 bytes > 64 KiB
        self.assertClosedWith(raw, 1009)

    async def test_client_close_is_echoed(self):
        raw = self.raw()
        raw.send_frame(0x8, struct.pack("!H", 1000) + b"bye")
        code, _, _ = raw.read_until_close(timeout=10)
        self.assertEqual(code, 1000)
        raw.sock.settimeout(10)
        self.assertEqual(raw.sock.recv(1), b"", "the server hangs up after the handshake")

    async def test_invalid_close_code_closes_1002(self):
        raw = self.raw()
        raw.send_frame(0x8, struct.pack("!H", 1005))   # 1005 may never be sent
        self.assertClosedWith(raw, 1002)

    @daemon_args("--max-queue-bytes", "65536")
    async def test_slow_consumer_closed_1013_fast_one_gets_everything(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "general"}, "joined")
        await bob.call("join", {"room": "general"}, "joined")

        # A reader that stops reading, with a tiny receive buffer so the server's queue
        # for it grows quickly.
        slow = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL], rcvbuf=4096)
        self.addCleanup(slow.close)
        self.raw_call(slow, {"id": 1, "register": {"user": "slow",
                                                   "password": password_for("slow")}})
        self.raw_call(slow, {"id": 2, "join": {"room": "general"}})

        n = 400
        body = "m" * 15000

        async def read_all(client):
            seqs = []
            while len(seqs) < n:
                frame = await client.recv_until(lambda f: "message" in f, timeout=60)
                seqs.append(frame["message"]["seq"])
            return seqs

        # The fast reader reads all along; the sender keeps a few sends in flight.
        bob_reads = asyncio.create_task(read_all(bob))
        window = 3
        for start in range(0, n, window):
            ids = range(start, min(n, start + window))
            for i in ids:
                await alice.send_raw(json.dumps({"id": 100 + i, "send": {
                    "room": "general", "body": f"{i:04d}{body}", "client_msg_id": f"c{i}"}}))
            for i in ids:
                reply = await alice.recv_until(lambda f, i=i: f.get("id") == 100 + i, timeout=60)
                self.assertIn("sent", reply, reply)

        # The fast reader got every message, in order.
        self.assertEqual(await asyncio.wait_for(bob_reads, 60), list(range(1, n + 1)))

        # The slow one, once it reads again, finds what fit in the buffers, then 1013.
        code, reason, _ = await asyncio.to_thread(slow.read_until_close, 20)
        self.assertEqual(code, 1013, reason)
        self.assertIn("too slow", reason)
        await self.assert_still_serving()

    async def test_many_members_each_get_every_message_once_in_order(self):
        # Each commit goes out to more connections than one sender thread takes at a time,
        # so a flush is shared out between the senders; every member must still see every
        # message exactly once and in seq order.
        n_members, n_senders, per_sender = 45, 3, 20

        # A few registrations at a time: each one hashes a password, and forty-five at
        # once queue long enough on a busy machine to run into the reply timeout.
        registering = asyncio.Semaphore(4)

        async def member(name):
            # Each member also hears the others join and leave: more than the library's
            # default queue holds unread, which would stall its reading and its close.
            client = await self.connect(name, max_queue=None)
            async with registering:
                await client.register(name, password_for(name))
            return client

        members = await asyncio.gather(*(member(f"m{i:02d}") for i in range(n_members)))
        await asyncio.gather(*(m.call("join", {"room": "crowd"}, "joined") for m in members))
        n = n_senders * per_sender

        # All of a sender's messages in flight at once, so that commits carry several.
        for k in range(n_senders):
            for i in range(per_sender):
                await members[k].send_raw(json.dumps({"id": 1000 + i, "send": {
                    "room": "crowd", "body": f"s{k} m{i}", "client_msg_id": f"s{k}-{i}"}}))

        async def read_all(client, n_acks):
            seqs, acks = [], 0
            while len(seqs) < n or acks < n_acks:
                frame = await client.recv_until(
                    lambda f: "message" in f or f.get("id", 0) >= 1000, timeout=30)
                if "message" in frame:
                    seqs.append(frame["message"]["seq"])
                else:
                    self.assertIn("sent", frame, frame)
                    acks += 1
            return seqs

        got = await asyncio.gather(*(read_all(m, per_sender if k < n_senders else 0)
                                     for k, m in enumerate(members)))
        for client, seqs in zip(members, got):
            self.assertEqual(seqs, list(range(1, n + 1)), client.label)

    async def assert_still_serving(self):
        carol = await self.user("carol")
        await carol.call("join", {"room": "after"}, "joined")
        reply = await carol.call("send", {"room": "after", "body": "still here",
                                          "client_msg_id": "s1"}, "sent")
        self.assertEqual(reply["seq"], 1)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], *sys.argv[1:]], verbosity=2)
