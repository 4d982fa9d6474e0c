#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every error a client outside the project can provoke, and the hostile cases: garbage,
# oversized frames, invalid UTF-8, unknown subprotocols, silent peers. After each hostile
# case a well-behaved client on the same daemon must still chat normally.

import asyncio
import http.client
import time
import unittest

import websockets

from natter_fixture import (JSON_PROTOCOL, PROTO_PROTOCOL, NatterTestCase, RawWebSocket,
                            daemon_args, eventually, open_ws, password_for)

SEND_OK = {"room": "val", "body": "fine", "client_msg_id": "ok-1"}


class ErrorsTest(NatterTestCase):

    async def bad_frame(self, client, data, request_id):
        """Sends @data as one frame; the reply must be bad_request carrying @request_id
        (no id at all when None)."""
        await client.send_raw(data)
        frame = await client.error_reply(request_id)
        self.assertError(frame, "bad_request", request_id)

    async def test_bad_frames_get_bad_request(self):
        alice = await self.user("alice")
        cases = [
            ("this is not json", None),
            ('{"id": 5, "join": {"room": "a"}', 5),             # truncated: the id is still found
            ("[1, 2, 3]", None),
            ('"join"', None),
            ("{}", None),
            ('{"id": 6}', 6),                                    # missing op
            ('{"id": 7, "frobnicate": {}}', 7),                  # unknown op
            ('{"id": 8, "rooms": {}, "colour": "red"}', 8),      # unknown top-level key
            ('{"id": 9, "send": {"room": "val", "body": "b", "client_msg_id": "c", '
             '"colour": "red"}}', 9),                            # unknown key in the op
            ('{"id": 10, "join": {"room": 42}}', 10),            # wrong type
            ('{"id": 11, "history": {"room": "val", "limit": "many"}}', 11),
            ('{"id": 12, "join": "general"}', 12),               # op is not an object
            ('{"id": 13, "join": {"room": "a"}, "leave": {"room": "a"}}', 13),  # two ops
            ('{"id": 14, "join": {"room": "val", "since_seq": -1}}', 14),
            ('{"id": 15, "join": {"room": "val", "since_seq": 1.5}}', 15),
            ('{"id": 16, "typing": {"room": "val", "active": "yes"}}', 16),
            ('{"id": 17, "join": {"room": "va\\u0000l"}}', 17),    # U+0000 in a string
            ('{"id": 18, "join": {"room": "val", "since_seq": 18446744073709551616}}', 18),
            ('{"id": 19, "rooms": null}', 19),                   # null is absent: no op
            (b'\x0a\x02hi', None),                               # binary on JSON
        ]
        for data, request_id in cases:
            with self.subTest(frame=data):
                await alice.send_raw(data)
                frame = await alice.error_reply(request_id)
                # Still open and serving; this also resets the bad-frame count.
                await alice.call("rooms", {}, "room_list")
                self.assertError(frame, "bad_request", request_id)

        await alice.call("join", {"room": "val"}, "joined")
        sent = await alice.call("send", SEND_OK, "sent")
        self.assertEqual(sent["seq"], 1)
        # null means absent; the largest uint64 is in range.
        joined = await alice.call("join", {"room": "val", "since_seq": None}, "joined")
        self.assertEqual(joined["last_seq"], 1)
        await alice.call("join", {"room": "val", "since_seq": 18446744073709551615}, "joined")
        await self.assert_chat_works()

    async def test_unauthorized_before_login(self):
        client = await self.connect("anonymous")
        ops = [
            ("join", {"room": "general"}),
            ("leave", {"room": "general"}),
            ("send", {"room": "general", "body": "x", "client_msg_id": "1"}),
            ("send", {"to": "alice", "body": "x", "client_msg_id": "2"}),
            ("broadcast", {"body": "x", "client_msg_id": "3"}),
            ("history", {"room": "system"}),
            ("rooms", {}),
            ("read", {"room": "system", "seq": 1}),
            ("typing", {"room": "general", "active": True}),
            ("search", {"query": "x"}),
        ]
        for op, body in ops:
            with self.subTest(op=op):
                await self.expect_error(client, op, body, "unauthorized")

        alice = await self.user("alice")
        wrong = await self.expect_error(client, "login",
                                        {"user": "alice", "password": "not-the-password"},
                                        "unauthorized")
        unknown = await self.expect_error(client, "login",
                                          {"user": "nobody", "password": "not-the-password"},
                                          "unauthorized")
        # The reply does not tell which of the two was wrong.
        self.assertEqual(wrong["message"], unknown["message"])
        await self.expect_error(client, "login", {"token": "no-such-token"}, "unauthorized")
        await self.expect_error(client, "login", {"token": alice.welcome["token"] + "x"},
                                "unauthorized")

        # The same connection may still log in properly.
        welcome = await client.login("alice", password_for("alice"))
        self.assertEqual(welcome["user"], "alice")
        await client.call("rooms", {}, "room_list")

    async def test_register_validation_and_conflict(self):
        client = await self.connect("registrar")

        async def rejected(user, password, code="bad_request"):
            await self.expect_error(client, "register", {"user": user, "password": password},
                                    code)

        async def accepted(user, password):
            fresh = await self.connect(user)
            welcome = await fresh.register(user, password)
            self.assertEqual(welcome["user"], user)
            return fresh

        # Password: 8..1024 bytes (bytes, not characters).
        await rejected("pat", "x" * 7)
        await rejected("pat", "éé" + "abc")              # 7 bytes
        await rejected("pat", "x" * 1025)
        await self.expect_error(client, "register", {"user": "pat"}, "bad_request")
        await accepted("pat", "éé" + "abcd")             # 8 bytes
        await accepted("max", "x" * 1024)

        # Name syntax: [a-z0-9_.-]{1,32}
        for name in ["", "Alice", "a b", "ünï", "dm:a:b", "x" * 33, "semi;colon", "a/b"]:
            with self.subTest(name=name):
                await rejected(name, "good-password")
        await self.expect_error(client, "register", {"password": "good-password"},
                                "bad_request")
        await accepted("x" * 32, "good-password")
        await accepted("a.b-c_9", "good-password")

        await rejected("pat", "another-password", "conflict")
        await rejected("max", "x" * 1024, "conflict")

        # A session that is logged in cannot register or log in again.
        pat = await self.connect("pat-again")
        await pat.login("pat", "éé" + "abcd")
        await self.expect_error(pat, "register", {"user": "newname", "password": "good-password"},
                                "conflict")
        await self.expect_error(pat, "login", {"user": "max", "password": "x" * 1024},
                                "conflict")
        self.assertEqual((await pat.call("rooms", {}, "room_list"))["rooms"][0]["name"], "system")

        # The failures left no trace: the first password still works.
        other = await self.connect("pat-login")
        await self.expect_error(other, "login", {"user": "pat", "password": "another-password"},
                                "unauthorized")
        await other.login("pat", "éé" + "abcd")

    async def test_forbidden(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        carol = await self.user("carol")
        await alice.call("join", {"room": "club"}, "joined")
        await alice.call("send", {"to": "bob", "body": "psst", "client_msg_id": "d1"}, "sent")

        await self.expect_error(bob, "send", {"room": "club", "body": "x", "client_msg_id": "1"},
                                "forbidden")
        await self.expect_error(bob, "history", {"room": "club"}, "forbidden")
        await self.expect_error(carol, "join", {"room": "dm:alice:bob"}, "forbidden")
        await self.expect_error(carol, "history", {"room": "dm:alice:bob"}, "forbidden")
        await self.expect_error(carol, "send", {"room": "dm:alice:bob", "body": "x",
                                                "client_msg_id": "2"}, "forbidden")
        await self.expect_error(bob, "broadcast", {"body": "hear me", "client_msg_id": "3"},
                                "forbidden")
        await self.expect_error(bob, "send", {"room": "system", "body": "hear me",
                                              "client_msg_id": "4"}, "forbidden")
        await self.expect_error(bob, "leave", {"room": "system"}, "forbidden")
        await self.expect_error(bob, "typing", {"room": "system", "active": True}, "forbidden")
        await self.expect_error(bob, "typing", {"room": "club", "active": True}, "forbidden")
        # Nothing was written by the refused requests.
        page = await alice.call("history", {"room": "club"}, "history")
        self.assertEqual(page.get("messages", []), [])
        page = await bob.call("history", {"room": "system"}, "history")
        self.assertEqual(page.get("messages", []), [])

    async def test_not_found(self):
        alice = await self.user("alice")
        await self.expect_error(alice, "send", {"room": "nowhere", "body": "x",
                                                "client_msg_id": "1"}, "not_found")
        await self.expect_error(alice, "send", {"to": "ghost", "body": "x",
                                                "client_msg_id": "2"}, "not_found")
        # A DM cannot be joined before the conversation exists.
        await self.user("bob")
        await self.expect_error(alice, "join", {"room": "dm:alice:bob"}, "not_found")
        # None of these created anything.
        rooms = (await alice.call("rooms", {}, "room_list"))["rooms"]
        self.assertEqual([r["name"] for r in rooms], ["system"])

    async def test_send_and_name_validation(self):
        alice = await self.user("alice")
        await alice.call("join", {"room": "val"}, "joined")
        bad_sends = [
            {"room": "val", "body": "", "client_msg_id": "e1"},
            {"room": "val", "client_msg_id": "e2"},
            {"room": "val", "body": "no id"},
            {"room": "val", "body": "empty id", "client_msg_id": ""},
            {"room": "val", "body": "long id", "client_msg_id": "i" * 65},
            {"body": "nowhere", "client_msg_id": "e3"},
            {"to": "alice", "body": "to myself", "client_msg_id": "e4"},
        ]
        for body in bad_sends:
            with self.subTest(send=body):
                await self.expect_error(alice, "send", body, "bad_request")
        sent = await alice.call("send", {"room": "val", "body": "ok",
                                         "client_msg_id": "i" * 64}, "sent")
        self.assertEqual(sent["seq"], 1, "refused sends must not take a seq")

        for room in ["", "General", "a b", "x" * 65, "dm:alice", "dm:alice:bob:carol", "ü"]:
            with self.subTest(room=room):
                await self.expect_error(alice, "join", {"room": room}, "bad_request")
        joined = await alice.call("join", {"room": "x" * 64}, "joined")
        self.assertEqual(joined["room"], "x" * 64)
        await self.expect_error(alice, "history", {"room": "val", "limit": 201}, "bad_request")
        await self.expect_error(alice, "history", {"room": "val", "limit": 0}, "bad_request")
        await self.expect_error(alice, "search", {"query": ""}, "bad_request")
        await self.expect_error(alice, "search", {"query": "q" * 257}, "bad_request")
        await self.expect_error(alice, "search", {"query": "ok", "limit": 101}, "bad_request")
        await alice.call("search", {"query": "q" * 256, "limit": 100}, "search_results")
        page = await alice.call("history", {"room": "val", "limit": 200}, "history")
        self.assertEqual(len(page["messages"]), 1)

    async def test_too_large_body_keeps_connection(self):
        alice = await self.user("alice")
        await alice.call("join", {"room": "val"}, "joined")

        async def send(body, cmid):
            return await alice.request("send", {"room": "val", "body": body,
                                                "client_msg_id": cmid})

        await self.expect_error(alice, "send", {"room": "val", "body": "a" * 16385,
                                                "client_msg_id": "big-1"}, "too_large")
        # The limit is in bytes: 5462 three-byte characters are 16386 bytes.
        await self.expect_error(alice, "send", {"room": "val", "body": "€" * 5462,
                                                "client_msg_id": "big-2"}, "too_large")

        frame = await send("a" * 16384, "max-1")
        self.assertEqual(frame["sent"]["seq"], 1)
        frame = await send("€" * 5461, "max-2")
        self.assertEqual(frame["sent"]["seq"], 2)
        page = await alice.call("history", {"room": "val"}, "history")
        self.assertEqual([m["body"] for m in page["messages"]], ["a" * 16384, "€" * 5461])
        await self.assert_chat_works()

    @daemon_args("--rate", "1", "--rate-burst", "3")
    async def test_rate_limited(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "fast"}, "joined")
        await bob.call("join", {"room": "fast"}, "joined")

        ids = []
        for i in range(6):
            request_id = alice.take_id()
            ids.append(request_id)
            await alice.send_frame({"id": request_id, "send": {
                "room": "fast", "body": f"f{i}", "client_msg_id": f"f{i}"}})
        replies = [await alice.reply(i) for i in ids]
        kinds = [("sent" if "sent" in r else r["error"]["code"]) for r in replies]
        self.assertEqual(kinds, ["sent"] * 3 + ["rate_limited"] * 3)
        for request_id, reply in zip(ids[3:], replies[3:]):
            self.assertError(reply, "rate_limited", request_id)
            retry = reply["error"]["retry_after_ms"]
            self.assertJsonInt(retry, "retry_after_ms")
            self.assertGreater(retry, 0)
            self.assertLessEqual(retry, 1000)

        # The limit is per user: bob is not held back by alice.
        sent = await bob.call("send", {"room": "fast", "body": "b", "client_msg_id": "b"}, "sent")
        self.assertEqual(sent["seq"], 4)

        # Once the bucket refills, alice may send again.
        async def retried():
            frame = await alice.request("send", {"room": "fast", "body": "again",
                                                 "client_msg_id": "again"})
            if "error" in frame:
                self.assertEqual(frame["error"]["code"], "rate_limited")
                return None
            return frame["sent"]
        sent = await eventually(retried, timeout=5, interval=0.1)
        self.assertEqual(sent["seq"], 5)
        page = await bob.call("history", {"room": "fast"}, "history")
        self.assertEqual([m["seq"] for m in page["messages"]], [1, 2, 3, 4, 5])

    async def test_garbage_closes_1008(self):
        alice = await self.user("alice")
        for _ in range(9):
            await self.bad_frame(alice, "garbage", None)
        # A good frame breaks the run ...
        await alice.call("rooms", {}, "room_list")
        for _ in range(9):
            await self.bad_frame(alice, "{not json", None)
        # ... so only the tenth bad frame in a row closes the connection.
        await alice.send_raw("garbage")
        code, reason = await alice.wait_closed()
        self.assertEqual(code, 1008)
        self.assertNotEqual(reason, "")
        await self.assert_chat_works()

    async def oversized_frame(self, compression):
        alice = await self.connect("alice", compression=compression)
        await alice.register("alice", password_for("alice"))
        await alice.call("join", {"room": "val"}, "joined")

        # A frame of exactly 64 KiB is read (its body is too large, a request error).
        prefix = '{"id": 77, "send": {"room": "val", "client_msg_id": "c", "body": "'
        suffix = '"}}'
        frame = prefix + "a" * (65536 - len(prefix) - len(suffix)) + suffix
        self.assertEqual(len(frame.encode()), 65536)
        await alice.send_raw(frame)
        self.assertError(await alice.error_reply(77), "too_large", 77)
        await alice.call("rooms", {}, "room_list")

        # One byte more closes the connection with 1009.
        frame = prefix + "a" * (65537 - len(prefix) - len(suffix)) + suffix
        await alice.send_raw(frame)
        code, reason = await alice.wait_closed()
        self.assertEqual(code, 1009, f"close reason {reason!r}")
        self.assertNotEqual(reason, "")
        await self.assert_chat_works()

    async def test_oversized_frame_closes_1009(self):
        await self.oversized_frame(compression=None)

    async def test_oversized_compressed_frame_closes_1009(self):
        # Browsers compress with permessage-deflate; the limit is on the message, not on
        # its compressed form.
        await self.oversized_frame(compression="deflate")

    async def test_invalid_utf8_closes_1007(self):
        raw = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL])
        try:
            self.assertEqual(raw.status, 101)
            raw.send_frame(0x1, b'{"id": 1, "rooms": {"x": "\xc3\x28"}}')
            code, _, _ = await asyncio.to_thread(raw.read_until_close, 10)
        finally:
            raw.close()
        # The WebSocket layer rejects a text frame that is not UTF-8 (RFC 6455 8.1).
        self.assertEqual(code, 1007)
        await self.assert_chat_works()

    async def test_subprotocol_negotiation(self):
        raw = RawWebSocket(self.daemon.port, subprotocols=["natter.v2.json"])
        raw.close()
        self.assertEqual(raw.status, 400)
        with self.assertRaises(websockets.InvalidStatusCode) as cm:
            ws = await open_ws(self.daemon.url(), ["natter.v2.json", "chat"])
            await ws.close()
        self.assertEqual(cm.exception.status_code, 400)

        ws = await open_ws(self.daemon.url(), ["chat.other", PROTO_PROTOCOL])
        self.assertEqual(ws.subprotocol, PROTO_PROTOCOL)
        await ws.close()

        client = await self.connect("json", subprotocols=[JSON_PROTOCOL])
        self.assertEqual(client.subprotocol, JSON_PROTOCOL)
        await client.register("alice", password_for("alice"))

        # None offered means JSON.
        client = await self.connect("default", subprotocols=None)
        self.assertIsNone(client.subprotocol)
        welcome = await client.register("bob", password_for("bob"))
        self.assertEqual(welcome["user"], "bob")
        await client.call("join", {"room": "plain"}, "joined")
        await self.assert_chat_works()

    async def test_healthz(self):
        def get():
            conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                return response.status, response.read()
            finally:
                conn.close()
        status, body = await asyncio.to_thread(get)
        self.assertEqual(status, 200)
        self.assertEqual(body.strip(), b"ok")

    @daemon_args("--ping-interval", "1", "--ping-timeout", "3")
    async def test_heartbeat_drops_silent_peer(self):
        alice = await self.user("alice")
        raw = RawWebSocket(self.daemon.port, subprotocols=[JSON_PROTOCOL])
        try:
            self.assertEqual(raw.status, 101)
            start = time.monotonic()
            code, reason, n_pings = await asyncio.to_thread(raw.read_until_close, 15)
            elapsed = time.monotonic() - start
        finally:
            raw.close()
        self.assertEqual(code, 1001, f"close reason {reason!r}")
        self.assertGreaterEqual(n_pings, 1, "the server never pinged")
        # Silent for ping-timeout (3 s), noticed within one ping interval plus slack.
        self.assertGreaterEqual(elapsed, 2.0)
        self.assertLessEqual(elapsed, 3 + 1 + 2)

        # A peer that answers pings (websockets does) outlived the silent one.
        await alice.call("rooms", {}, "room_list")
        await self.assert_chat_works()

    async def test_create_admin_name_taken(self):
        await self.user("alice")
        self.assertEqual(await self.daemon.stop_async(), 0)

        result = await asyncio.to_thread(self.daemon.create_admin, "alice", "admin-password")
        self.assertNotEqual(result.returncode, 0)
        self.assertNotEqual((result.stdout + result.stderr).strip(), b"")

        result = await asyncio.to_thread(self.daemon.create_admin, "boss", "admin-password")
        self.assertEqual(result.returncode, 0, result.stderr)
        result = await asyncio.to_thread(self.daemon.create_admin, "boss", "admin-password")
        self.assertNotEqual(result.returncode, 0)
        self.assertNotEqual((result.stdout + result.stderr).strip(), b"")

        await self.daemon.start_async()
        boss = await self.connect("boss")
        self.assertIs((await boss.login("boss", "admin-password"))["admin"], True)
        alice = await self.user("alice", register=False)
        self.assertIs(alice.welcome.get("admin", False), False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
