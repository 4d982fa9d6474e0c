#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The bad-input suite, beyond tests/integration/test_errors.py: seeded garbage and
# truncated frames in both subprotocols (mutations of the fuzzers' seed corpus among
# them), invalid UTF-8 in protobuf strings, frames at the limit and one byte over, wrong
# types and huge numbers, SQL-looking and control-character names, other users' rooms and
# DMs, forged tokens, login floods, the per-address and per-account limits, room and
# member caps, and the same limits set in the keyfile.
#
# Each case gets the documented answer, exactly; and in each, a well-behaved pair of
# clients that was chatting on the same daemon before the attack sees nothing of it: no
# stray frame, a round trip of the same order of magnitude, its history as it was.
#
# NATTER_SEED replays the random frames.

import asyncio
import base64
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import websockets

from reliability_common import (JSON_PROTOCOL, PROTO_PROTOCOL, CalmPair, Daemon, JsonClient,
                                NatterTestCase, ProtoClient, daemon_args, eventually,
                                json_text, natter_pb2, password_for, seed_from_env,
                                sessions_open)

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "fuzz",
                      "corpus")
SENTINEL_BASE = 10 ** 12


# --------------------------------------------------------------------------------------
# Protobuf by hand, for what the protobuf library refuses to build (invalid UTF-8,
# wrong wire types)

def varint(n):
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def pb_key(field, wire_type):
    return varint(field << 3 | wire_type)


def pb_bytes(field, data):
    return pb_key(field, 2) + varint(len(data)) + data


def pb_varint(field, n):
    return pb_key(field, 0) + varint(n)


# ClientFrame field numbers (proto/natter.proto)
OP_FIELDS = {"register": 2, "login": 3, "join": 4, "leave": 5, "send": 6, "broadcast": 7,
             "history": 8, "rooms": 9, "read": 10, "typing": 11, "search": 12}

# (op, {string field: number}) for every string a client sends
STRING_FIELDS = [
    ("register", {"user": 1, "password": 2}),
    ("login", {"user": 1, "password": 2, "token": 3}),
    ("join", {"room": 1}),
    ("leave", {"room": 1}),
    ("send", {"room": 1, "to": 2, "body": 3, "client_msg_id": 4}),
    ("broadcast", {"body": 1, "client_msg_id": 2}),
    ("history", {"room": 1}),
    ("read", {"room": 1}),
    ("typing", {"room": 1}),
    ("search", {"query": 1, "room": 2}),
]

INVALID_UTF8 = [
    b"\xc3\x28",                  # a lead byte without its continuation
    b"ok\xff",                    # never valid
    b"\xc0\xaf",                  # overlong '/'
    b"\xed\xa0\x80",              # a UTF-16 surrogate
    b"\xf4\x90\x80\x80",          # past U+10FFFF
    b"ok\xe2\x82",                # cut in the middle of a character
    b"\x80",                      # a lone continuation byte
]

HOSTILE_NAMES = [
    "a'; DROP TABLE messages;--",
    "robert'); DROP TABLE users;--",
    "x' OR '1'='1",
    "\u0001",
    "a\u0001b",
    "tab\there",
    "new\nline",
    "\u202eevil",                 # RTL override
    "evil\u202e",
    "zero\u200bwidth",
    "\ufeffbom",
    "a" * 33,                     # one too long for a user (a room may have 64)
    "b" * 65,
    "%",
    "*",
    "a b",
    "../../etc/passwd",
    "café",
]


def random_text(rng, n):
    pool = ("{}[]\":,\\ abcxyz019-_.'" + "\u0001\u001f\u007f\u202e\ufeff" + "é☃🌍中")
    return "".join(rng.choice(pool) for _ in range(n))


def random_json_value(rng, depth=0):
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return rng.choice([None, True, False])
    if choice == 1:
        return rng.choice([0, -1, 2 ** 64, -2 ** 63 - 1, 1.5, 1e300, 18446744073709551615])
    if choice == 2:
        return random_text(rng, rng.randrange(0, 20))
    if choice == 3:
        return rng.choice(["", "general", "x" * 300])
    if choice == 4:
        return []
    if choice == 5:
        return [random_json_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    return {random_text(rng, rng.randrange(1, 8)): random_json_value(rng, depth + 1)
            for _ in range(rng.randrange(1, 4))}


def natterd_config(text):
    """Decorates a test method: natterd reads this keyfile (--config)."""
    def decorate(func):
        func.natterd_config = text
        return func
    return decorate


def id_prefixes(request_id):
    """The ids a JSON frame cut short may still carry: any leading digits of its id."""
    if request_id is None:
        return (None,)
    digits = str(request_id)
    return (None,) + tuple(int(digits[:n]) for n in range(1, len(digits) + 1))


def readable_ids(data):
    """The values of field 1 (the id, a varint) among the top-level fields of a protobuf
    frame, read until the first malformed field."""
    ids = []
    i = 0
    try:
        while i < len(data):
            key, i = read_varint(data, i)
            field, wire_type = key >> 3, key & 7
            if wire_type == 0:
                value, i = read_varint(data, i)
                if field == 1:
                    ids.append(value)
            elif wire_type == 1:
                i += 8
            elif wire_type == 2:
                n, i = read_varint(data, i)
                i += n
            elif wire_type == 5:
                i += 4
            else:
                break
    except IndexError:
        pass
    return tuple(ids)


def read_varint(data, i):
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value & (2 ** 64 - 1), i


def corpus_seeds(target, ext):
    """The client frames of a fuzz target's seed corpus."""
    directory = os.path.join(CORPUS, target)
    seeds = []
    for name in sorted(os.listdir(directory)):
        if name.startswith("client-") and name.endswith(ext):
            with open(os.path.join(directory, name), "rb") as f:
                seeds.append(f.read())
    if not seeds:
        raise AssertionError(f"no client seeds in {directory}")
    return seeds


class HostileTest(NatterTestCase):

    def setUp(self):
        self.rng = random.Random(seed_from_env("NATTER_SEED"))
        self.n_sentinel = 0

    async def asyncSetUp(self):
        await super().asyncSetUp()
        config = getattr(getattr(self, self._testMethodName), "natterd_config", None)
        if config is not None:
            # The keyfile must exist before natterd starts: start it again with it.
            path = os.path.join(self.workdir, "natterd.conf")
            with open(path, "w") as f:
                f.write(config)
            self.assertEqual(await self.daemon.stop_async(), 0)
            self.daemon.extra_args += ("--config", path)
            await self.daemon.start_async()
        self.pair = CalmPair(self, **self.calm_pair_options())
        await self.pair.start()

    def calm_pair_options(self):
        if self._testMethodName in ("test_connection_limit_per_address",
                                    "test_abuse_limits_in_config_file"):
            # The pair comes from another loopback address than the attack.
            return {"local_addr": ("127.0.0.2", 0)}
        return {}

    async def calm(self):
        """The well-behaved clients saw nothing of the attack, and new ones chat too."""
        await self.pair.check()
        await self.assert_chat_works()

    # Exchanges -------------------------------------------------------------------------

    async def exchange(self, client, data):
        """Sends @data as one frame, then a `rooms` request; returns every frame that came
        before the reply to the latter."""
        self.n_sentinel += 1
        sentinel = SENTINEL_BASE + self.n_sentinel
        await client.send_raw(data)
        if isinstance(client, ProtoClient):
            await client.send_raw(client.build("rooms", sentinel).SerializeToString())
        else:
            await client.send_raw(json_text({"id": sentinel, "rooms": {}}))
        before = []
        while True:
            frame = await client.recv_until(lambda f: True)
            if client._frame_id(frame) == sentinel:
                self.assertEqual(client._frame_kind(frame), "room_list", frame)
                return before
            before.append(frame)

    async def refused(self, client, data, code="bad_request", ids=(None,), what=None):
        """@data, sent as one frame, is answered by exactly one error @code whose id is one
        of @ids, and by nothing else."""
        frames = await self.exchange(client, data)
        what = what if what is not None else data[:200]
        self.assertEqual(len(frames), 1, f"{what!r} answered {frames!r}")
        frame = frames[0]
        self.assertEqual(client._frame_kind(frame), "error", f"{what!r} answered {frame!r}")
        error = client._payload(frame)
        self.assertEqual(client._get(error, "code"), code, f"{what!r} answered {frame!r}")
        self.assertNotEqual(client._get(error, "message"), "", frame)
        self.assertIn(client._frame_id(frame), ids, f"{what!r}: id of {frame!r}")
        return error

    async def quiet_user(self, name, proto=False):
        """A logged-in client whose own presence and member events are consumed, so that
        every frame it gets later answers something it sent."""
        if proto:
            client = await self.connect_proto(name)
            await client.register(name, password_for(name))
            await client.call("join", "joined", room=f"{name}-own")
            await self.exchange(client, client.build("rooms", 1).SerializeToString())
        else:
            client = await self.user(name)
            await client.call("join", {"room": f"{name}-own"}, "joined")
            await self.exchange(client, json_text({"id": 1, "rooms": {}}))
        client.pending.clear()
        return client

    # Garbage ---------------------------------------------------------------------------

    async def test_random_garbage_json(self):
        alice = await self.quiet_user("alice")
        valid = [s.decode() for s in corpus_seeds("fuzz-json", ".json")]
        valid += [json_text({"id": 77, "send": {"room": "alice-own", "body": "x" * 100,
                                                "client_msg_id": "c-1"}})]
        n = 0
        for _ in range(80):
            # Random text, valid UTF-8, that is not a JSON object.
            text = random_text(self.rng, self.rng.randrange(0, 120))
            try:
                if isinstance(json.loads(text), dict):
                    continue
            except ValueError:
                pass
            await self.refused(alice, text)
            n += 1
        for _ in range(80):
            # A valid request cut short: its id may still be found.
            request = self.rng.choice(valid)
            cut = request[:self.rng.randrange(0, len(request.rstrip()) - 1)]
            await self.refused(alice, cut, ids=id_prefixes(json.loads(request).get("id")))
            n += 1
        for _ in range(40):
            # Valid JSON that is not a frame.
            value = random_json_value(self.rng)
            if isinstance(value, dict):
                value = [value]
            await self.refused(alice, json.dumps(value))
            n += 1
        for _ in range(60):
            # A frame whose operation has a field of the wrong type, or an unknown one.
            request = json.loads(self.rng.choice(valid))
            op = next(k for k in request if k != "id")
            body = request[op] or {}
            if body and self.rng.random() < 0.7:
                field = self.rng.choice(sorted(body))
                wrong = random_json_value(self.rng)
                if type(wrong) is type(body[field]) or wrong is None:
                    continue
                body[field] = wrong
            else:
                body["x-" + random_text(self.rng, 4)] = 1
            request[op] = body
            await self.refused(alice, json.dumps(request), ids=(request.get("id"),))
            n += 1
        # An empty text frame.
        await self.refused(alice, "")
        sys.stderr.write(f"{n} garbage frames answered\n")

        # Garbage in parallel from several connections: each is closed with 1008 after ten
        # bad frames in a row.
        async def flood(i):
            client = await self.connect(f"flood{i}")
            for _ in range(10):
                await client.send_raw(random_text(self.rng, 30) + "{")
            code, reason = await client.wait_closed()
            return code, reason
        closes = await asyncio.gather(*(flood(i) for i in range(8)))
        self.assertEqual([code for code, _ in closes], [1008] * 8, closes)

        # Nothing was stored, nothing changed.
        page = await alice.call("history", {"room": "alice-own"}, "history")
        self.assertEqual(page.get("messages", []), [])
        await self.calm()

    async def test_random_garbage_protobuf(self):
        pb = natter_pb2()
        alice = await self.quiet_user("alice", proto=True)
        valid = corpus_seeds("fuzz-proto", ".pb")

        def parsed(data):
            frame = pb.ClientFrame()
            try:
                frame.ParseFromString(data)
            except Exception:
                return None
            return frame

        def allowed_ids(data):
            """None for a frame the daemon may well serve (not garbage); else the ids its
            error may carry: none, or one read off the frame before what broke it."""
            frame = parsed(data)
            if frame is not None and frame.WhichOneof("op") is not None:
                return None
            return (None,) + readable_ids(data)

        n = 0
        attempts = []
        for _ in range(100):
            attempts.append(bytes(self.rng.randrange(256)
                                  for _ in range(self.rng.randrange(1, 80))))
        for _ in range(100):
            seed = self.rng.choice(valid)
            attempts.append(seed[:self.rng.randrange(0, len(seed))])
        for _ in range(100):
            seed = bytearray(self.rng.choice(valid))
            for _ in range(self.rng.randrange(1, 4)):
                seed[self.rng.randrange(len(seed))] = self.rng.randrange(256)
            attempts.append(bytes(seed))
        for data in attempts:
            ids = allowed_ids(data)
            if ids is None:
                continue
            await self.refused(alice, data, ids=ids)
            n += 1
        sys.stderr.write(f"{n} garbage protobuf frames answered\n")
        self.assertGreater(n, 200)

        # A text frame on the protobuf subprotocol.
        await self.refused(alice, '{"id": 1, "rooms": {}}')
        page = await alice.call("history", "history", room="alice-own")
        self.assertEqual(list(page.messages), [])
        await self.calm()

    async def test_invalid_utf8_in_every_string(self):
        alice = await self.quiet_user("alice", proto=True)
        await alice.call("send", "sent", room="alice-own", body="before",
                         client_msg_id="b-1")
        await alice.next_event("message", room="alice-own", seq=1)
        request_id = 100
        for op, fields in STRING_FIELDS:
            for field, number in fields.items():
                for bad in INVALID_UTF8:
                    request_id += 1
                    data = pb_varint(1, request_id) + pb_bytes(OP_FIELDS[op],
                                                               pb_bytes(number, bad))
                    error = await self.refused(alice, data, ids=(request_id,),
                                               what=(op, field, bad))
                    self.assertIn(f"{op}.{field}", error.message)
        # The same strings in JSON, sent as binary frames on either subprotocol, and as
        # escapes of lone surrogates in text frames.
        bob = await self.quiet_user("bob")
        for bad in INVALID_UTF8:
            data = (b'{"id": 5, "send": {"room": "bob-own", "client_msg_id": "u", "body": "' +
                    bad + b'"}}')
            await self.refused(bob, data, ids=(None, 5))
            await self.refused(alice, data, ids=(None,))
        for escape in ["\\ud800", "\\udfff", "x\\ud83c", "\\udf0d\\ud83c"]:
            text = ('{"id": 6, "send": {"room": "bob-own", "client_msg_id": "s", "body": "' +
                    escape + '"}}')
            error = await self.refused(bob, text, ids=(6,))
            self.assertIn("send.body", error["message"])
        # A surrogate pair is one character, and fine.
        sent = await bob.call("send", {"room": "bob-own", "body": "\U0001f30d",
                                       "client_msg_id": "pair"}, "sent")
        self.assertEqual(sent["seq"], 1)

        # Nothing was stored, no account created.
        page = await alice.call("history", "history", room="alice-own")
        self.assertEqual([(m.seq, m.body) for m in page.messages], [(1, "before")])
        page = await bob.call("history", {"room": "bob-own"}, "history")
        self.assertEqual([m["body"] for m in page["messages"]], ["\U0001f30d"])
        await self.calm()

    # Limits ----------------------------------------------------------------------------

    def proto_send_of_size(self, pb, size, request_id):
        """A serialized `send` frame of exactly @size bytes."""
        frame = pb.ClientFrame(id=request_id)
        frame.send.room = "alice-own"
        frame.send.client_msg_id = "big"
        n = size
        for _ in range(10):
            frame.send.body = "a" * n
            got = len(frame.SerializeToString())
            if got == size:
                return frame.SerializeToString()
            n -= got - size
        raise AssertionError(f"no send frame of {size} bytes")

    async def test_protobuf_frame_at_limit_and_over(self):
        pb = natter_pb2()
        alice = await self.quiet_user("alice", proto=True)
        # Exactly 64 KiB: read, and its body is too large.
        data = self.proto_send_of_size(pb, 65536, 7)
        self.assertEqual(len(data), 65536)
        await self.refused(alice, data, code="too_large", ids=(7,))
        # One byte more: closed with 1009.
        data = self.proto_send_of_size(pb, 65537, 8)
        await alice.send_raw(data)
        code, reason = await alice.wait_closed()
        self.assertEqual(code, 1009, reason)
        self.assertNotEqual(reason, "")
        self.assertEqual([alice._frame_kind(f) for f in alice.pending], [],
                         "a frame over the limit must not be answered")
        await self.calm()

    @daemon_args("--max-frame", "4096", "--max-body", "2048")
    async def test_configured_limits_at_and_over(self):
        pb = natter_pb2()
        alice = await self.quiet_user("alice")
        carol = await self.quiet_user("carol", proto=True)

        # The body limit, in bytes: 2048 pass, 2049 are too large, on both codecs.
        async def send_utf8(request_id, body, cmid):
            await alice.send_raw(json.dumps({"id": request_id, "send": {
                "room": "alice-own", "body": body, "client_msg_id": cmid}}, ensure_ascii=False))
            return await alice.reply(request_id)
        reply = await send_utf8(5, "é" * 1024, "max")
        self.assertEqual(reply["sent"]["seq"], 1, reply)
        await alice.next_event("message", room="alice-own", seq=1)
        reply = await send_utf8(6, "é" * 1024 + "x", "over")
        self.assertError(reply, "too_large", 6)
        await carol.call("send", "sent", room="carol-own", body="b" * 2048, client_msg_id="m")
        await carol.next_event("message", room="carol-own", seq=1)
        frame = await carol.request("send", room="carol-own", body="b" * 2049,
                                    client_msg_id="o")
        self.assertEqual(frame.error.code, "too_large")

        # The frame limit: 4096 bytes are read, 4097 close the connection with 1009.
        prefix = '{"id": 9, "send": {"room": "alice-own", "client_msg_id": "f", "body": "'
        suffix = '"}}'
        text = prefix + "a" * (4096 - len(prefix) - len(suffix)) + suffix
        self.assertEqual(len(text.encode()), 4096)
        await self.refused(alice, text, code="too_large", ids=(9,))
        data = self.proto_send_of_size(pb, 4096, 10)
        data = data.replace(b"alice-own", b"carol-own")
        self.assertEqual(len(data), 4096)
        await self.refused(carol, data, code="too_large", ids=(10,))

        text = prefix + "a" * (4097 - len(prefix) - len(suffix)) + suffix
        await alice.send_raw(text)
        self.assertEqual((await alice.wait_closed())[0], 1009)
        data = self.proto_send_of_size(pb, 4097, 11).replace(b"alice-own", b"carol-own")
        await carol.send_raw(data)
        self.assertEqual((await carol.wait_closed())[0], 1009)

        # What was stored is what was acknowledged.
        other = await self.connect("alice-again")
        await other.login("alice", password_for("alice"))
        page = await other.call("history", {"room": "alice-own"}, "history")
        self.assertEqual([m["body"] for m in page["messages"]], ["é" * 1024])
        await self.calm()

    async def test_wrong_types_and_huge_numbers(self):
        alice = await self.quiet_user("alice")
        await alice.call("send", {"room": "alice-own", "body": "one", "client_msg_id": "o"},
                         "sent")
        await alice.next_event("message", room="alice-own", seq=1)
        big = "18446744073709551616"          # 2^64
        cases = [
            # (frame, ids the error may carry)
            ('{"id": ' + big + ', "rooms": {}}', (None,)),
            ('{"id": -1, "rooms": {}}', (None,)),
            ('{"id": true, "rooms": {}}', (None,)),
            ('{"id": 1.5, "rooms": {}}', (None,)),
            ('{"id": "abc", "rooms": {}}', (None,)),
            ('{"id": 1e400, "rooms": {}}', (None,)),
            ('{"id": 3, "id": 4, "rooms": {}}', (3, 4)),
            ('{"id": 5, "send": {"room": "alice-own", "body": "x", "client_msg_id": "a",'
             ' "client_msg_id": "b"}}', (5,)),
            ('{"id": 6, "history": {"room": "alice-own", "limit": 4294967296}}', (6,)),
            ('{"id": 7, "history": {"room": "alice-own", "limit": 1e400}}', (7,)),
            ('{"id": 8, "history": {"room": "alice-own", "after_seq": ' + big + '}}', (8,)),
            ('{"id": 9, "history": {"room": "alice-own", "after_seq": "abc"}}', (9,)),
            ('{"id": 10, "history": {"room": "alice-own", "before_seq": -5}}', (10,)),
            ('{"id": 11, "read": {"room": "alice-own", "seq": 1e19}}', (11,)),
            ('{"id": 12, "typing": {"room": "alice-own", "active": 1}}', (12,)),
            ('{"id": 13, "send": {"room": ["alice-own"], "body": "x", "client_msg_id": "c"}}',
             (13,)),
            ('{"id": 14, "send": {"room": "alice-own", "body": {"x": 1}, "client_msg_id": "c"}}',
             (14,)),
            ('{"id": 15, "rooms": []}', (15,)),
            ('{"id": 16, "search": {"query": 42}}', (16,)),
            ('{"id": 17, "join": {"room": "alice-own", "since_seq": NaN}}', (None, 17)),
            ('{"id": 18, "join": {"room": "alice-own", "since_seq": Infinity}}', (None, 18)),
            ('{"id": 19, "join": {"room": "alice-own", "since_seq": 0x10}}', (None, 19)),
            ('{"id": 20, "login": {"token": ' + "1" * 400 + '}}', (20,)),
            # Deep nesting and many keys, within the frame limit.
            ("[" * 30000 + "]" * 30000, (None,)),
            ('{"a":' * 10000 + "1" + "}" * 10000, (None,)),
            ("{" + ",".join(f'"k{i}": {i}' for i in range(3000)) + "}", (None,)),
            ('{"id": 21, "send": {"room": "alice-own", "body": "x", "client_msg_id": "c", '
             '"x": ' + "[" * 40 + "]" * 40 + "}}", (None, 21)),
            ('{"id": 22, "frobnicate": {}, "rooms": {}}', (22,)),
            ('{"id": 23, "": {}}', (23,)),
            ('{"id": 24, "ROOMS": {}}', (24,)),
        ]
        for text, ids in cases:
            with self.subTest(frame=text[:60]):
                await self.refused(alice, text, ids=ids)

        # The largest id is echoed exactly, as a JSON number.
        reply = await alice.request("rooms", {}, request_id=18446744073709551615)
        self.assertIn("room_list", reply)
        self.assertIn('"id":18446744073709551615', alice.received[-1][0].replace(" ", ""))
        # Seq positions past the end are empty, not errors.
        page = await alice.call("history", {"room": "alice-own",
                                            "after_seq": 18446744073709551615}, "history")
        self.assertEqual(page.get("messages", []), [])
        self.assertIs(page.get("has_more"), False)

        # The same on the protobuf subprotocol: unknown fields alone, wrong wire types,
        # overlong varints, lengths past the end, groups.
        carol = await self.quiet_user("carol", proto=True)
        proto_cases = [
            (pb_varint(1, 31) + pb_bytes(99, b""), (31,)),              # no operation
            (pb_varint(1, 32) + pb_varint(4, 5), (None, 32)),            # join as a varint
            (pb_varint(1, 33) + pb_bytes(4, pb_varint(1, 5)), (None, 33)),  # room as a varint
            (pb_varint(1, 34) + b"\xff" * 11, (None, 34)),               # varint too long
            (pb_varint(1, 35) + pb_key(4, 2) + varint(1000) + b"abc", (None, 35)),
            (pb_key(1, 0) + b"\xff" * 10 + b"\x01" + pb_bytes(9, b""), (None,)),
            (pb_varint(1, 36) + pb_key(5, 5) + b"\0\0\0\0", (None, 36)),  # fixed32
            (pb_varint(1, 37) + pb_key(7, 3), (None, 37)),               # start group
            (pb_varint(1, 38) + pb_key(0, 0) + b"\x01", (None, 38)),     # field 0
            (b"\x00", (None,)),
            (b"", (None,)),
        ]
        for data, ids in proto_cases:
            with self.subTest(frame=data):
                await self.refused(carol, data, ids=ids)
        frame = await carol.request("rooms")
        self.assertEqual(carol._frame_kind(frame), "room_list")

        # A field only the server sets is the server's: `typing.user` names the sender.
        bob = await self.user("bob")
        await bob.call("join", {"room": "alice-own"}, "joined")
        await alice.next_event("member", room="alice-own", user="bob")
        await alice.send_frame({"typing": {"room": "alice-own", "active": True,
                                           "user": "mallory"}})
        self.assertEqual(await bob.next_event("typing", room="alice-own"),
                         {"room": "alice-own", "user": "alice", "active": True})
        await carol.call("join", "joined", room="alice-own")
        await carol.send_raw(carol.build("typing", room="alice-own", active=False,
                                         user="mallory").SerializeToString())
        self.assertEqual(await bob.next_event("typing", room="alice-own", user="carol"),
                         {"room": "alice-own", "user": "carol", "active": False})
        self.assertEqual(bob.take_pending("typing"), [])

        page = await alice.call("history", {"room": "alice-own"}, "history")
        self.assertEqual([m["body"] for m in page["messages"]], ["one"])
        await self.calm()

    # Names -----------------------------------------------------------------------------

    async def test_hostile_names(self):
        alice = await self.quiet_user("alice")
        for i in range(1, 4):
            await alice.call("send", {"room": "alice-own", "body": f"known {i}",
                                      "client_msg_id": f"k{i}"}, "sent")
        before = (await alice.call("history", {"room": "alice-own"}, "history"))["messages"]

        stranger = await self.connect("stranger")
        for name in HOSTILE_NAMES:
            with self.subTest(name=name):
                await self.expect_error(stranger, "register",
                                        {"user": name, "password": "good-password"},
                                        "bad_request")
                await self.expect_error(alice, "send", {"to": name, "body": "x",
                                                        "client_msg_id": "n"}, "bad_request")
                if not re.fullmatch(r"[a-z0-9_.-]{1,64}", name):
                    await self.expect_error(alice, "join", {"room": name}, "bad_request")
                    await self.expect_error(alice, "history", {"room": name}, "bad_request")
                # A login attempt under such a name is a plain failure.
                await self.expect_error(stranger, "login",
                                        {"user": name, "password": "good-password"},
                                        "unauthorized")
        # Odd but valid names are ordinary names.
        for name in ["--", "..", ".", "_", "-", "0", "a" * 32]:
            with self.subTest(valid=name):
                client = await self.connect(f"odd-{name}")
                self.assertEqual((await client.register(name, "good-password"))["user"], name)
                joined = await client.call("join", {"room": name}, "joined")
                self.assertEqual(joined["room"], name)
                sent = await client.call("send", {"room": name, "body": name,
                                                  "client_msg_id": name}, "sent")
                self.assertEqual(sent["seq"], 1)

        # Bodies and client_msg_ids are data, stored and returned byte for byte.
        hostile_text = ["a'; DROP TABLE messages;--", "\u0001\u0002\u001f\u007f",
                        "\u202eevil\u202c", "%_*\\", "\"}]}", "\U0001f30d\u200b\ufeff",
                        "NEAR(a b) OR x*", "<script>alert(1)</script>"]
        for i, text in enumerate(hostile_text):
            sent = await alice.call("send", {"room": "alice-own", "body": text,
                                             "client_msg_id": text[:60]}, "sent")
            self.assertEqual(sent["client_msg_id"], text[:60])
            self.assertEqual(sent["seq"], 4 + i)
        page = await alice.call("history", {"room": "alice-own"}, "history")
        self.assertEqual(page["messages"][:3], before)
        self.assertEqual([(m["body"], m["client_msg_id"]) for m in page["messages"][3:]],
                         [(t, t[:60]) for t in hostile_text])

        # Search takes any query as text: FTS syntax and SQL are neither errors nor
        # wildcards, and only readable rooms answer.
        bob = await self.user("bob")
        await self.user("carol")
        await bob.call("send", {"to": "carol", "body": "secret words",
                                "client_msg_id": "s"}, "sent")
        for query in ['"', "(", ")", "*", "* *", "NEAR(", "a AND", "OR", "NOT x", "{a b}",
                      "body:secret", "secret*", "'; DROP TABLE messages;--", "%", "_",
                      "\u202e", "\u0001", "^secret", "-secret", "secret OR known"]:
            with self.subTest(query=query):
                result = await alice.call("search", {"query": query}, "search_results")
                rooms = {m["room"] for m in result.get("messages", [])}
                self.assertLessEqual(rooms, {"alice-own", "system"}, result)
        page = await alice.call("history", {"room": "alice-own"}, "history")
        self.assertEqual(page["messages"][:3], before)
        await self.calm()

    # Other people's rooms --------------------------------------------------------------

    async def test_other_users_rooms_and_dms(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        carol = await self.user("carol")
        await alice.call("join", {"room": "club"}, "joined")
        await bob.call("join", {"room": "club"}, "joined")
        await alice.call("send", {"room": "club", "body": "club secret",
                                  "client_msg_id": "c1"}, "sent")
        await alice.call("send", {"to": "bob", "body": "dm secret", "client_msg_id": "d1"},
                         "sent")
        await bob.call("leave", {"room": "club"}, "ok")

        dm = "dm:alice:bob"
        denied = [
            (carol, "history", {"room": dm}),
            (carol, "history", {"room": dm, "after_seq": 0, "limit": 200}),
            (carol, "search", {"query": "secret", "room": dm}),
            (carol, "join", {"room": dm}),
            (carol, "join", {"room": dm, "since_seq": 0}),
            (carol, "send", {"room": dm, "body": "x", "client_msg_id": "x1"}),
            (carol, "read", {"room": dm, "seq": 1}),
            (carol, "typing", {"room": dm, "active": True}),
            (carol, "leave", {"room": dm}),
            (carol, "history", {"room": "club"}),
            (carol, "search", {"query": "secret", "room": "club"}),
            (carol, "send", {"room": "club", "body": "x", "client_msg_id": "x2"}),
            (carol, "read", {"room": "club", "seq": 1}),
            (carol, "typing", {"room": "club", "active": True}),
            # A former member reads no more.
            (bob, "history", {"room": "club"}),
            (bob, "search", {"query": "secret", "room": "club"}),
            (bob, "read", {"room": "club", "seq": 1}),
            (bob, "send", {"room": "club", "body": "x", "client_msg_id": "x3"}),
        ]
        for client, op, body in denied:
            with self.subTest(who=client.label, op=op, body=body):
                await self.expect_error(client, op, body, "forbidden")
        # Names that are not the DM's canonical name are not a way in either.
        for name in ["dm:bob:alice", "dm:alice:bob:carol", "dm:alice", "DM:alice:bob"]:
            await self.expect_error(carol, "join", {"room": name}, "bad_request")
        # Search without a room only looks where the caller may read.
        for client in (carol, bob):
            result = await client.call("search", {"query": "secret"}, "search_results")
            rooms = {m["room"] for m in result.get("messages", [])}
            self.assertEqual(rooms - {dm} if client is bob else rooms, set(), result)

        # Alice keeps talking; neither carol nor bob (who left) gets a word of the club,
        # nor carol of the DM.
        sent = await alice.call("send", {"room": "club", "body": "after", "client_msg_id": "c2"},
                                "sent")
        await alice.send_frame({"typing": {"room": dm, "active": True}})
        # A read that moves alice's marker (her own message already did up to seq 1), so
        # bob's receipt marks the point where everything before it has reached him.
        reply = await bob.call("send", {"to": "alice", "body": "ok", "client_msg_id": "d2"},
                               "sent")
        await alice.call("read", {"room": dm, "seq": reply["seq"]}, "ok")
        await bob.next_event("receipt", room=dm, user="alice")
        await alice.next_event("message", room="club", seq=sent["seq"])
        await carol.call("rooms", {}, "room_list")
        await bob.call("rooms", {}, "room_list")

        def leaks(client, rooms):
            return [f for _, f in client.received if "id" not in f and any(
                isinstance(v, dict) and v.get("room") in rooms for v in f.values())]
        self.assertEqual(leaks(carol, {dm, "club"}), [])
        club_after_leave = [f for f in leaks(bob, {"club"})
                            if "message" in f and f["message"]["seq"] >= sent["seq"]]
        self.assertEqual(club_after_leave, [])
        rooms = [r["name"] for r in (await carol.call("rooms", {}, "room_list"))["rooms"]]
        self.assertEqual(rooms, ["system"])

        # The refused requests wrote nothing.
        page = await alice.call("history", {"room": dm}, "history")
        self.assertEqual([m["body"] for m in page["messages"]], ["dm secret", "ok"])
        page = await alice.call("history", {"room": "club"}, "history")
        self.assertEqual([m["body"] for m in page["messages"]], ["club secret", "after"])
        await self.calm()

    # Tokens ----------------------------------------------------------------------------

    @natterd_config("[natterd]\ntoken-ttl=60\n")
    async def test_forged_and_foreign_tokens(self):
        alice = await self.user("alice")
        token = alice.welcome["token"]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

        # A daemon on another data directory, with an account of the same name.
        other_dir = tempfile.mkdtemp(prefix="natter-other-", dir=self.workdir)
        other = Daemon(other_dir)
        await other.start_async()
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{other.port}/ws",
                                          subprotocols=[JSON_PROTOCOL], ping_interval=None)
            foreign_client = JsonClient(ws, "foreign")
            self.clients.append(foreign_client)
            foreign = (await foreign_client.register("alice", password_for("alice")))["token"]
            self.assertNotEqual(foreign_client.welcome["epoch"], alice.welcome["epoch"])
        finally:
            self.assertEqual(await other.stop_async(), 0)

        forged = ["", "x", "no-such-token", token[:-1], token + "A", token + "=",
                  token.upper() if token.upper() != token else token.lower(),
                  token[1:] + token[0], token[::-1], " " + token, token + "\n",
                  "A" * len(token), "\u202e" + token, token.replace(token[5], "~", 1),
                  "a" * 10000, foreign]
        for _ in range(20):
            forged.append("".join(self.rng.choice(alphabet) for _ in range(len(token))))
        changed = list(token)
        changed[len(token) // 2] = alphabet[(alphabet.index(changed[len(token) // 2]) + 1) % 64]
        forged.append("".join(changed))
        client = await self.connect("forger")
        for fake in forged:
            with self.subTest(token=fake[:50]):
                self.assertNotEqual(fake, token)
                await self.expect_error(client, "login", {"token": fake}, "unauthorized")
        # The real token, claimed for another account name, is refused too.
        await self.expect_error(client, "login", {"token": token, "user": "bob"},
                                "unauthorized")
        # Nothing above opened a session: the connection is still anonymous.
        await self.expect_error(client, "rooms", {}, "unauthorized")
        welcome = await client.login(token=token)
        self.assertEqual(welcome["user"], "alice")

        # This daemon runs with the shortest token-ttl, 60 s; a shorter one is refused at
        # start.
        config = os.path.join(self.workdir, "short.conf")
        with open(config, "w") as f:
            f.write("[natterd]\ntoken-ttl=59\n")
        result = await asyncio.to_thread(
            subprocess.run, [self.daemon_path(), "--config", config, "--data-dir",
                             os.path.join(self.workdir, "short"), "--listen", "127.0.0.1:0",
                             "--no-dbus"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=30)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(b"token-ttl", result.stderr)
        await self.calm()

    def daemon_path(self):
        return os.environ["NATTERD"]

    # Floods and limits -----------------------------------------------------------------

    async def test_pipeline_flood_behind_slow_login(self):
        # A password login takes a while (Argon2id); 300 requests pipelined behind it wait
        # in a queue of 256, and the rest are refused at once instead of piling up.
        await self.user("alice")
        client = await self.connect("pipeliner")
        await client.send_frame({"id": 1, "login": {"user": "alice",
                                                    "password": password_for("alice")}})
        for i in range(300):
            await client.send_frame({"id": 100 + i, "rooms": {}})
        self.assertIn("welcome", await client.reply(1))
        replies = [await client.reply(100 + i) for i in range(300)]
        self.assertEqual(["room_list" in r for r in replies], [True] * 256 + [False] * 44)
        for request_id, reply in zip(range(356, 400), replies[256:]):
            self.assertError(reply, "rate_limited", request_id)
            self.assertGreater(reply["error"]["retry_after_ms"], 0)
        # The connection is fine, and so is everyone else.
        await client.call("rooms", {}, "room_list")
        await self.calm()

    @natterd_config("[natterd]\nmax-rooms-per-user=3\nmax-members-per-room=3\n")
    async def test_room_and_member_caps(self):
        alice = await self.user("alice")
        for room in ("r1", "r2", "r3"):
            await alice.call("join", {"room": room}, "joined")
        error = await self.expect_error(alice, "join", {"room": "r4"}, "forbidden")
        self.assertIn("3", error["message"])
        # Joining again what one is in is not a new room.
        await alice.call("join", {"room": "r1"}, "joined")
        await alice.call("leave", {"room": "r3"}, "ok")
        await alice.call("join", {"room": "r4"}, "joined")

        # A room of three members takes no fourth, until one leaves.
        bob, carol, dave = [await self.user(name) for name in ("bob", "carol", "dave")]
        await bob.call("join", {"room": "r1"}, "joined")
        await carol.call("join", {"room": "r1"}, "joined")
        await self.expect_error(dave, "join", {"room": "r1"}, "forbidden")
        await self.expect_error(dave, "join", {"room": "r1", "since_seq": 0}, "forbidden")
        await self.expect_error(dave, "history", {"room": "r1"}, "forbidden")
        await carol.call("leave", {"room": "r1"}, "ok")
        await dave.call("join", {"room": "r1"}, "joined")
        members = (await alice.call("join", {"room": "r1"}, "joined"))["members"]
        self.assertEqual(members, ["alice", "bob", "dave"])

        # The cap is on what an account joins itself: others starting DMs with it cannot
        # use up its rooms and lock it out of joining any.
        await alice.call("leave", {"room": "r4"}, "ok")
        for name in ("m1", "m2", "m3"):
            stranger = await self.user(name)
            await stranger.call("send", {"to": "alice", "body": "hello",
                                         "client_msg_id": "hello"}, "sent")
        await alice.call("join", {"room": "r5"}, "joined")
        await self.calm()

    @daemon_args("--login-failures", "3", "--login-throttle", "2")
    async def test_login_flood_throttled(self):
        alice = await self.user("alice")
        await self.user("bob")
        attacker = await self.connect("attacker")
        for _ in range(3):
            await self.expect_error(attacker, "login", {"user": "alice", "password": "guess-1234"},
                                    "unauthorized")
        throttled_at = time.monotonic()
        for _ in range(20):
            error = await self.expect_error(attacker, "login",
                                            {"user": "alice", "password": "guess-5678"},
                                            "rate_limited")
            self.assertJsonInt(error["retry_after_ms"], "retry_after_ms")
            self.assertGreater(error["retry_after_ms"], 0)
            self.assertLessEqual(error["retry_after_ms"], 2000)
        # The right password waits too: the throttle is per account, not per connection.
        owner = await self.connect("owner")
        error = await self.expect_error(owner, "login", {"user": "alice",
                                                         "password": password_for("alice")},
                                        "rate_limited")
        self.assertLessEqual(error["retry_after_ms"], 2000)
        # Other accounts log in normally, and alice's open session is untouched.
        bob = await self.connect("bob-again")
        self.assertEqual((await bob.login("bob", password_for("bob")))["user"], "bob")
        await alice.call("rooms", {}, "room_list")
        # So do token logins of the throttled account.
        by_token = await self.connect("alice-token")
        self.assertEqual((await by_token.login(token=alice.welcome["token"]))["user"], "alice")

        # After the wait, the right password works and the count starts afresh.
        async def logged_in():
            frame = await owner.request("login", {"user": "alice",
                                                  "password": password_for("alice")},
                                        expect_error=True)
            if "error" in frame:
                self.assertEqual(frame["error"]["code"], "rate_limited", frame)
                return False
            return frame["welcome"]
        welcome = await eventually(logged_in, timeout=10, interval=0.2)
        self.assertEqual(welcome["user"], "alice")
        self.assertGreaterEqual(time.monotonic() - throttled_at, 1.5)
        for _ in range(2):
            await self.expect_error(attacker, "login", {"user": "alice", "password": "guess-9"},
                                    "unauthorized")
        await self.calm()

    @daemon_args("--login-failures", "3", "--login-throttle", "60")
    async def test_parallel_login_flood_throttled(self):
        # Guesses from many connections at once are counted as they are made: no more than
        # --login-failures of them are checked before the account is throttled.
        await self.user("alice")
        attackers = [await self.connect(f"attacker{i}") for i in range(20)]
        frames = await asyncio.gather(*(
            a.request("login", {"user": "alice", "password": f"guess-{i:04d}"},
                      expect_error=True) for i, a in enumerate(attackers)))
        codes = [f["error"]["code"] for f in frames]
        self.assertEqual(codes.count("unauthorized") + codes.count("rate_limited"), 20, codes)
        self.assertLessEqual(codes.count("unauthorized"), 3,
                             f"{codes.count('unauthorized')} guesses were checked: {codes}")
        owner = await self.connect("owner")
        await self.expect_error(owner, "login", {"user": "alice",
                                                 "password": password_for("alice")},
                                "rate_limited")
        await self.calm()

    async def open(self, subprotocols, local_addr=None):
        # As the fixture's clients, except for the close timeout: after closing a
        # connection with 1009 natterd does not read the client's close reply and keeps the
        # TCP connection for seconds; the close code is known long before.
        return await websockets.connect(self.daemon.url(), subprotocols=list(subprotocols),
                                        ping_interval=None, local_addr=local_addr,
                                        max_size=2 ** 24, open_timeout=10, close_timeout=1)

    async def connect(self, label="client", subprotocols=(JSON_PROTOCOL,), local_addr=None):
        client = JsonClient(await self.open(subprotocols, local_addr), label)
        self.clients.append(client)
        return client

    async def connect_proto(self, label="proto-client"):
        client = ProtoClient(await self.open([PROTO_PROTOCOL]), label)
        self.assertEqual(client.subprotocol, PROTO_PROTOCOL)
        self.clients.append(client)
        return client

    def handshake(self, source="127.0.0.1"):
        """A WebSocket handshake from the address @source: (status, headers, socket); the
        socket is left open after a 101, closed otherwise."""
        sock = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10,
                                        source_address=(source, 0))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.daemon.port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Protocol: {JSON_PROTOCOL}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
        if status != 101:
            sock.close()
        return status, headers, sock

    async def handshakes(self, n, source="127.0.0.1"):
        """@n handshakes at once; returns their (status, headers, socket)."""
        return await asyncio.gather(*(asyncio.to_thread(self.handshake, source)
                                      for _ in range(n)))

    @daemon_args("--max-connections-per-ip", "4")
    async def test_connection_limit_per_address(self):
        held = []
        try:
            await self.connection_limit(held)
        finally:
            for sock in held:
                sock.close()

    async def connection_limit(self, held):
        for _ in range(4):
            status, _, sock = await asyncio.to_thread(self.handshake)
            self.assertEqual(status, 101)
            held.append(sock)
        for _ in range(3):
            # Refused before any WebSocket, with an HTTP status and a Retry-After.
            status, headers, _ = await asyncio.to_thread(self.handshake)
            self.assertEqual(status, 429)
            self.assertTrue(headers.get("retry-after", "").isdigit(), headers)
        # Plain HTTP is not a WebSocket session and still answers.
        self.assertEqual(await asyncio.to_thread(self.http_get, "/healthz"), 200)
        # Another address is not held back.
        status, _, sock = await asyncio.to_thread(self.handshake, "127.0.0.3")
        self.assertEqual(status, 101)
        held.append(sock)

        # Closing frees places, and a burst of handshakes gets only the free places.
        held.pop(0).close()
        held.pop(0).close()
        # The pair, two held connections from 127.0.0.1 and one from 127.0.0.3.
        await eventually(lambda: sessions_open(self.daemon, 5), timeout=10,
                         message="closed connections still counted")
        burst = await self.handshakes(10)
        held.extend(sock for status, _, sock in burst if status == 101)
        self.assertEqual(sorted(status for status, _, _ in burst), [101] * 2 + [429] * 8)
        await self.pair.check()

    def http_get(self, path):
        """The status of a GET of @path."""
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    @natterd_config("[natterd]\nmax-sessions-per-user=1\nlogin-failures=1\n"
                    "login-throttle=60\nmax-connections-per-ip=4\n")
    async def test_abuse_limits_in_config_file(self):
        # Every option is also a key of the keyfile (README.md): the abuse limits too.
        alice = await self.user("alice")
        second = await self.connect("alice-second")
        attacker = await self.connect("attacker")
        with self.subTest(key="max-sessions-per-user"):
            await self.expect_error(second, "login", {"token": alice.welcome["token"]},
                                    "rate_limited")
        with self.subTest(key="login-failures"):
            await self.expect_error(attacker, "login", {"user": "alice",
                                                        "password": "guess-1234"},
                                    "unauthorized")
            await self.expect_error(attacker, "login", {"user": "alice",
                                                        "password": "guess-5678"},
                                    "rate_limited")
        with self.subTest(key="max-connections-per-ip"):
            # alice, second, attacker: the fourth connection from 127.0.0.1 is the last.
            status, _, sock = await asyncio.to_thread(self.handshake)
            self.assertEqual(status, 101)
            try:
                self.assertEqual((await asyncio.to_thread(self.handshake))[0], 429)
            finally:
                sock.close()
        await second.close()
        await attacker.close()
        await eventually(lambda: sessions_open(self.daemon, 3), timeout=10,
                         message="closed connections still counted")
        await self.calm()

    @daemon_args("--max-sessions-per-user", "3")
    async def test_session_limit_per_account(self):
        alice = await self.user("alice")
        sessions = [alice, await self.session_of(alice), await self.session_of(alice)]
        extra = await self.connect("alice-extra")
        error = await self.expect_error(extra, "login", {"token": alice.welcome["token"]},
                                        "rate_limited")
        self.assertGreater(error["retry_after_ms"], 0)
        await self.expect_error(extra, "login", {"user": "alice",
                                                 "password": password_for("alice")},
                                "rate_limited")
        # The refused connection is still usable, as another account.
        await extra.register("bob", password_for("bob"))
        await extra.call("rooms", {}, "room_list")
        # The sessions alice has keep working.
        for s in sessions:
            await s.call("rooms", {}, "room_list")

        # Closing one frees one place, and a burst of logins gets exactly that one.
        await sessions.pop().close()
        burst = [await self.connect(f"alice-burst{i}") for i in range(6)]

        async def one_login_passes():
            frames = await asyncio.gather(*(
                c.request("login", {"token": alice.welcome["token"]}, expect_error=True)
                for c in burst))
            kinds = sorted("welcome" if "welcome" in f else f["error"]["code"] for f in frames)
            if kinds == ["rate_limited"] * 6:
                return False
            self.assertEqual(kinds, ["rate_limited"] * 5 + ["welcome"], frames)
            return True
        await eventually(one_login_passes, timeout=10, interval=0.1)
        await self.calm()


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], *sys.argv[1:]], verbosity=2)
