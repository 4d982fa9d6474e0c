#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Chat behaviour of the built natterd, seen from JSON WebSocket clients.
# Each test case runs against its own daemon; run one with
#   NATTERD=… NATTER_PROTO=… /usr/bin/python3 test_chat.py ChatTest.test_dm_is_private

import time
import unittest

from natter_fixture import NatterTestCase, daemon_args, eventually


def now_ms():
    return int(time.time() * 1000)


async def after_ms(ts):
    """Waits until the clock has moved past @ts, so the next message gets a later ts."""
    await eventually(lambda: now_ms() > ts + 1, timeout=2, interval=0.001)


class ChatTest(NatterTestCase):

    async def send(self, client, room, body, cmid):
        return await client.call("send", {"room": room, "body": body, "client_msg_id": cmid},
                                 "sent")

    def room_info(self, rooms, name):
        found = [r for r in rooms if r.get("name") == name]
        self.assertEqual(len(found), 1, f"room {name} listed {len(found)} times in {rooms!r}")
        return found[0]

    async def test_room_chat_both_ways(self):
        alice = await self.user("alice")
        bob = await self.user("bob")

        welcome = alice.welcome
        self.assertEqual(welcome["user"], "alice")
        self.assertIsInstance(welcome["token"], str)
        self.assertGreater(len(welcome["token"]), 16)
        self.assertIsInstance(welcome["epoch"], str)
        self.assertNotEqual(welcome["epoch"], "")
        self.assertIs(welcome.get("admin", False), False)
        self.assertEqual(self.room_info(welcome["rooms"], "system")["kind"], "system")
        self.assertEqual(bob.welcome["epoch"], welcome["epoch"])
        self.assertNotEqual(bob.welcome["token"], welcome["token"])

        joined = await alice.call("join", {"room": "general"}, "joined")
        self.assertEqual(joined["room"], "general")
        self.assertEqual(joined.get("last_seq", 0), 0)
        self.assertEqual(joined["members"], ["alice"])
        self.assertEqual(joined["kind"], "room")
        self.assertIs(joined.get("has_more", False), False)

        joined = await bob.call("join", {"room": "general"}, "joined")
        self.assertEqual(sorted(joined["members"]), ["alice", "bob"])

        before = now_ms()
        body = "héllo bob 🌍"
        sent = await self.send(alice, "general", body, "a-1")
        after = now_ms()
        self.assertEqual(sent["room"], "general")
        self.assertEqual(sent["seq"], 1)
        self.assertEqual(sent["client_msg_id"], "a-1")
        self.assertJsonInt(sent["seq"], "sent.seq")
        self.assertJsonInt(sent["ts"], "sent.ts")
        self.assertLessEqual(before - 2000, sent["ts"])
        self.assertLessEqual(sent["ts"], after + 2000)

        expected = {"room": "general", "seq": 1, "ts": sent["ts"], "sender": "alice",
                    "body": body, "client_msg_id": "a-1", "kind": "text"}
        # Both the recipient and the sender's own session (live-subscribed) get the event.
        self.assertEqual(await bob.next_event("message", room="general", seq=1), expected)
        self.assertEqual(await alice.next_event("message", room="general", seq=1), expected)

        sent = await self.send(bob, "general", "hi alice", "b-1")
        self.assertEqual(sent["seq"], 2)
        msg = await alice.next_event("message", room="general", seq=2)
        self.assertEqual(msg, {"room": "general", "seq": 2, "ts": sent["ts"], "sender": "bob",
                               "body": "hi alice", "client_msg_id": "b-1", "kind": "text"})

        # Every id in a raw reply is a JSON number, not a string.
        for raw, frame in alice.received:
            if "id" in frame:
                self.assertJsonInt(frame["id"], f"id in {raw}")

        # Joining again is harmless and reports the room's position.
        joined = await alice.call("join", {"room": "general"}, "joined")
        self.assertEqual(joined["last_seq"], 2)
        self.assertJsonInt(joined["last_seq"], "joined.last_seq")

        # Everyone is a member of `system`.
        joined = await bob.call("join", {"room": "system"}, "joined")
        self.assertEqual(joined["room"], "system")
        self.assertEqual(joined["kind"], "system")

    async def test_member_events_and_leave(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "club"}, "joined")
        await bob.call("join", {"room": "club"}, "joined")
        self.assertEqual(await alice.next_event("member", room="club", user="bob"),
                         {"room": "club", "user": "bob", "joined": True})

        self.assertEqual(await bob.call("leave", {"room": "club"}, "ok"), {})
        event = await alice.next_event("member", room="club", user="bob")
        self.assertIs(event.get("joined", False), False)

        await self.expect_error(bob, "send", {"room": "club", "body": "x", "client_msg_id": "1"},
                                "forbidden")
        await self.expect_error(bob, "history", {"room": "club"}, "forbidden")
        rooms = (await bob.call("rooms", {}, "room_list"))["rooms"]
        self.assertNotIn("club", [r["name"] for r in rooms])

        joined = await alice.call("join", {"room": "club"}, "joined")
        self.assertEqual(joined["members"], ["alice"])

    async def test_dm_is_private(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        carol = await self.user("carol")

        sent = await alice.call("send", {"to": "bob", "body": "secret zanzibar plan",
                                         "client_msg_id": "dm-1"}, "sent")
        self.assertEqual((sent["room"], sent["seq"]), ("dm:alice:bob", 1))
        expected = {"room": "dm:alice:bob", "seq": 1, "ts": sent["ts"], "sender": "alice",
                    "body": "secret zanzibar plan", "client_msg_id": "dm-1", "kind": "text"}
        # The recipient never joined anything and still gets it.
        self.assertEqual(await bob.next_event("message", room="dm:alice:bob"), expected)
        self.assertEqual(await alice.next_event("message", room="dm:alice:bob"), expected)

        sent = await bob.call("send", {"to": "alice", "body": "ok", "client_msg_id": "dm-2"},
                              "sent")
        self.assertEqual((sent["room"], sent["seq"]), ("dm:alice:bob", 2))
        await alice.next_event("message", room="dm:alice:bob", seq=2)

        # Names are sorted: carol writing to alice lands in dm:alice:carol.
        sent = await carol.call("send", {"to": "alice", "body": "hello", "client_msg_id": "c-1"},
                                "sent")
        self.assertEqual((sent["room"], sent["seq"]), ("dm:alice:carol", 1))
        await alice.next_event("message", room="dm:alice:carol", seq=1)
        await carol.next_event("message", room="dm:alice:carol", seq=1)

        # The third user can neither read, join, write nor find the DM.
        await self.expect_error(carol, "history", {"room": "dm:alice:bob"}, "forbidden")
        await self.expect_error(carol, "join", {"room": "dm:alice:bob"}, "forbidden")
        await self.expect_error(carol, "join", {"room": "dm:alice:bob", "since_seq": 0},
                                "forbidden")
        await self.expect_error(carol, "send", {"room": "dm:alice:bob", "body": "x",
                                                "client_msg_id": "c-2"}, "forbidden")
        results = await carol.call("search", {"query": "zanzibar"}, "search_results")
        self.assertEqual(results.get("messages", []), [])
        rooms = (await carol.call("rooms", {}, "room_list"))["rooms"]
        self.assertNotIn("dm:alice:bob", [r["name"] for r in rooms])
        # No event of the DM ever reached carol's session.
        leaked = [f for _, f in carol.received if "dm:alice:bob" in str(f.get("message", ""))]
        self.assertEqual(leaked, [])

        # The parties can.
        results = await bob.call("search", {"query": "zanzibar"}, "search_results")
        self.assertEqual([(m["room"], m["seq"]) for m in results["messages"]],
                         [("dm:alice:bob", 1)])
        page = await bob.call("history", {"room": "dm:alice:bob"}, "history")
        self.assertEqual([m["seq"] for m in page["messages"]], [1, 2])
        info = self.room_info((await bob.call("rooms", {}, "room_list"))["rooms"], "dm:alice:bob")
        self.assertEqual(info["kind"], "dm")
        self.assertEqual(info["last_seq"], 2)
        joined = await bob.call("join", {"room": "dm:alice:bob"}, "joined")
        self.assertEqual(joined["kind"], "dm")
        self.assertEqual(sorted(joined["members"]), ["alice", "bob"])

    async def test_history_paging(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "archive"}, "joined")
        n = 125

        # Pipelined: all sends go out before the first reply is read.
        ids = []
        for i in range(1, n + 1):
            request_id = alice.take_id()
            ids.append(request_id)
            await alice.send_frame({"id": request_id, "send": {
                "room": "archive", "body": f"message {i}", "client_msg_id": f"m-{i}"}})
        seqs = []
        for request_id in ids:
            frame = await alice.reply(request_id)
            self.assertIn("sent", frame, frame)
            seqs.append(frame["sent"]["seq"])
        self.assertEqual(seqs, list(range(1, n + 1)),
                         "one session's sends must be sequenced in the order they were sent")

        async def page(**query):
            result = await alice.call("history", {"room": "archive", **query}, "history")
            self.assertEqual(result["room"], "archive")
            messages = result.get("messages", [])
            for m in messages:
                self.assertEqual(m["body"], f"message {m['seq']}")
                self.assertEqual(m["client_msg_id"], f"m-{m['seq']}")
                self.assertEqual((m["room"], m["sender"], m["kind"]), ("archive", "alice", "text"))
                self.assertJsonInt(m["ts"], "message.ts")
            return [m["seq"] for m in messages], result.get("has_more", False)

        def span(first, last):
            return list(range(first, last + 1))

        # Without a position: the newest page, ascending; default limit 50.
        self.assertEqual(await page(), (span(76, 125), True))
        # Backwards.
        self.assertEqual(await page(before_seq=76), (span(26, 75), True))
        self.assertEqual(await page(before_seq=26), (span(1, 25), False))
        self.assertEqual(await page(before_seq=11, limit=10), (span(1, 10), False))
        self.assertEqual(await page(before_seq=12, limit=10), (span(2, 11), True))
        # Forwards.
        self.assertEqual(await page(after_seq=0), (span(1, 50), True))
        self.assertEqual(await page(after_seq=50), (span(51, 100), True))
        self.assertEqual(await page(after_seq=100), (span(101, 125), False))
        self.assertEqual(await page(after_seq=100, limit=25), (span(101, 125), False))
        self.assertEqual(await page(after_seq=99, limit=25), (span(100, 124), True))
        self.assertEqual(await page(after_seq=125), ([], False))
        # The largest page.
        self.assertEqual(await page(limit=200), (span(1, 125), False))
        self.assertEqual(await page(after_seq=0, limit=200), (span(1, 125), False))
        await self.expect_error(alice, "history", {"room": "archive", "limit": 201}, "bad_request")

        # Someone who is not a member cannot page it.
        await self.expect_error(bob, "history", {"room": "archive"}, "forbidden")

    async def test_search_scoped_to_readable_rooms(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        carol = await self.user("carol")
        await alice.call("join", {"room": "lobby"}, "joined")
        await bob.call("join", {"room": "lobby"}, "joined")
        await alice.call("join", {"room": "den"}, "joined")
        await carol.call("join", {"room": "den"}, "joined")

        s1 = await self.send(alice, "lobby", "the quokka smiles", "q1")
        await after_ms(s1["ts"])
        s2 = await self.send(carol, "den", "a quokka in the den", "q2")
        await after_ms(s2["ts"])
        s3 = await carol.call("send", {"to": "alice", "body": "quokka by mail",
                                       "client_msg_id": "q3"}, "sent")
        await self.send(alice, "lobby", "nothing to see", "q4")

        async def search(client, **query):
            result = await client.call("search", {"query": "quokka", **query}, "search_results")
            return [(m["room"], m["seq"], m["body"]) for m in result.get("messages", [])]

        lobby = ("lobby", s1["seq"], "the quokka smiles")
        den = ("den", s2["seq"], "a quokka in the den")
        dm = ("dm:alice:carol", s3["seq"], "quokka by mail")

        # Newest first, only rooms the caller may read.
        self.assertEqual(await search(alice), [dm, den, lobby])
        self.assertEqual(await search(bob), [lobby])
        self.assertEqual(await search(carol), [dm, den])
        self.assertEqual(await search(alice, room="den"), [den])
        self.assertEqual(await search(alice, limit=2), [dm, den])

        # Naming a room one cannot read finds nothing in it.
        frame = await bob.request("search", {"query": "quokka", "room": "den"})
        if "error" in frame:
            self.assertEqual(frame["error"]["code"], "forbidden")
        else:
            self.assertEqual(frame["search_results"].get("messages", []), [])

        # Full messages come back.
        result = await bob.call("search", {"query": "quokka"}, "search_results")
        self.assertEqual(result["messages"][0],
                         {"room": "lobby", "seq": s1["seq"], "ts": s1["ts"], "sender": "alice",
                          "body": "the quokka smiles", "client_msg_id": "q1", "kind": "text"})

    async def test_resume_after_reconnect(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "resume"}, "joined")
        await bob.call("join", {"room": "resume"}, "joined")
        for i in range(1, 4):
            await self.send(alice, "resume", f"r{i}", f"r{i}")
        await bob.next_event("message", room="resume", seq=3)
        token, epoch = bob.welcome["token"], bob.welcome["epoch"]
        await bob.close()

        for i in range(4, 9):
            await self.send(alice, "resume", f"r{i}", f"r{i}")

        bob = await self.connect("bob-again")
        welcome = await bob.login(token=token)
        self.assertEqual((welcome["user"], welcome["epoch"]), ("bob", epoch))
        self.assertEqual(self.room_info(welcome["rooms"], "resume")["last_seq"], 8)

        n_before = len(bob.received)
        joined = await bob.call("join", {"room": "resume", "since_seq": 3}, "joined")
        self.assertEqual(joined["last_seq"], 8)
        self.assertIs(joined.get("has_more", False), False)
        await bob.next_event("message", room="resume", seq=8)
        # A live message after the backlog: nothing may come twice or out of order.
        await self.send(alice, "resume", "r9", "r9")
        await bob.next_event("message", room="resume", seq=9)

        frames = [f for _, f in bob.received[n_before:]]
        kinds = [next(k for k in f if k != "id") for f in frames
                 if "joined" in f or ("message" in f and f["message"]["room"] == "resume")]
        self.assertEqual(kinds[0], "joined", "joined must precede the backlog")
        got = [(f["message"]["seq"], f["message"]["body"]) for f in frames
               if "message" in f and f["message"]["room"] == "resume"]
        self.assertEqual(got, [(i, f"r{i}") for i in range(4, 10)])

    async def test_pipelined_login_join_send(self):
        # A reconnecting client sends login, join and its queued message at once, without
        # waiting for each reply: the requests after login must see the session logged in.
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "pipe"}, "joined")
        await bob.call("join", {"room": "pipe"}, "joined")
        for i in range(1, 4):
            await self.send(alice, "pipe", f"p{i}", f"p{i}")
        token = bob.welcome["token"]
        await bob.close()

        bob = await self.connect("bob-pipelined")
        await bob.send_frame({"id": 1, "login": {"token": token}})
        await bob.send_frame({"id": 2, "join": {"room": "pipe", "since_seq": 1}})
        await bob.send_frame({"id": 3, "send": {"room": "pipe", "body": "queued",
                                                "client_msg_id": "q1"}})
        self.assertIn("welcome", await bob.reply(1))
        joined = await bob.reply(2)
        self.assertIn("joined", joined, joined)
        sent = await bob.reply(3)
        self.assertIn("sent", sent, sent)
        self.assertEqual(sent["sent"]["seq"], 4)
        await bob.next_event("message", room="pipe", seq=4)
        got = [f["message"]["seq"] for _, f in bob.received
               if "message" in f and f["message"]["room"] == "pipe"]
        self.assertEqual(got, [2, 3, 4])
        order = [next(k for k in f if k != "id") for _, f in bob.received if "id" in f]
        self.assertEqual(order, ["welcome", "joined", "sent"])

    @daemon_args("--resume-cap", "5")
    async def test_resume_cap_has_more(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "capped"}, "joined")
        for i in range(1, 13):
            await self.send(alice, "capped", f"c{i}", f"c{i}")

        n_before = len(bob.received)
        joined = await bob.call("join", {"room": "capped", "since_seq": 2}, "joined")
        self.assertEqual(joined["last_seq"], 12)
        self.assertIs(joined["has_more"], True)
        await bob.next_event("message", room="capped", seq=7)
        await self.send(alice, "capped", "c13", "c13")
        await bob.next_event("message", room="capped", seq=13)
        got = [f["message"]["seq"] for _, f in bob.received[n_before:]
               if "message" in f and f["message"]["room"] == "capped"]
        # The oldest five missed ones, then live traffic; the rest is paged with history.
        self.assertEqual(got, [3, 4, 5, 6, 7, 13])

        page = await bob.call("history", {"room": "capped", "after_seq": 7}, "history")
        self.assertEqual([m["seq"] for m in page["messages"]], [8, 9, 10, 11, 12, 13])
        self.assertIs(page.get("has_more", False), False)

    async def test_restart_keeps_history_epoch_and_tokens(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "persist"}, "joined")
        await bob.call("join", {"room": "persist"}, "joined")
        sent = []
        for i in range(1, 4):
            sent.append(await self.send(alice, "persist", f"p{i}", f"p{i}"))
        await bob.next_event("message", room="persist", seq=3)
        before = (await alice.call("history", {"room": "persist"}, "history"))["messages"]
        epoch = alice.welcome["epoch"]

        rc = await self.daemon.stop_async()
        self.assertEqual(rc, 0, "natterd must exit 0 on SIGTERM")
        for client in (alice, bob):
            code, reason = await client.wait_closed()
            self.assertEqual(code, 1001, f"{client.label} closed with {code} {reason!r}")

        await self.daemon.start_async()
        alice2 = await self.connect("alice-after")
        welcome = await alice2.login(token=alice.welcome["token"])
        self.assertEqual((welcome["user"], welcome["epoch"]), ("alice", epoch))
        self.assertEqual(self.room_info(welcome["rooms"], "persist")["last_seq"], 3)
        after = (await alice2.call("history", {"room": "persist"}, "history"))["messages"]
        self.assertEqual(after, before)
        self.assertEqual([m["ts"] for m in after], [s["ts"] for s in sent])

        bob2 = await self.user("bob", register=False)
        self.assertEqual(bob2.welcome["epoch"], epoch)
        bob3 = await self.connect("bob-token")
        await bob3.login(token=bob.welcome["token"])

        # Memberships survived too: a new message reaches bob's sessions without a join.
        s4 = await self.send(alice2, "persist", "p4", "p4")
        self.assertEqual(s4["seq"], 4)
        await bob2.next_event("message", room="persist", seq=4)
        await bob3.next_event("message", room="persist", seq=4)
        await self.expect_error(bob2, "register", {"user": "alice", "password": "whatever1"},
                                "conflict")

    async def test_sent_survives_sigkill(self):
        alice = await self.user("alice")
        await alice.call("join", {"room": "durable"}, "joined")
        ids = []
        for i in range(1, 21):
            request_id = alice.take_id()
            ids.append(request_id)
            await alice.send_frame({"id": request_id, "send": {
                "room": "durable", "body": f"d{i}", "client_msg_id": f"d{i}"}})
        acks = [(await alice.reply(i))["sent"] for i in ids]
        self.assertEqual([a["seq"] for a in acks], list(range(1, 21)))

        rc = await self.daemon.kill_async()
        self.assertEqual(rc, -9)
        code, _ = await alice.wait_closed()
        self.assertEqual(code, 1006)

        await self.daemon.start_async()
        alice = await self.connect("alice-after")
        await alice.login(token=self.clients[0].welcome["token"])
        page = await alice.call("history", {"room": "durable", "limit": 200}, "history")
        self.assertEqual([(m["seq"], m["body"], m["ts"]) for m in page["messages"]],
                         [(a["seq"], f"d{a['seq']}", a["ts"]) for a in acks])

        # A retry of an acknowledged send after the crash is still recognised.
        retry = await self.send(alice, "durable", "d20", "d20")
        self.assertEqual(retry, acks[-1])
        self.assertEqual((await self.send(alice, "durable", "d21", "d21"))["seq"], 21)

    async def test_idempotent_send(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "idem"}, "joined")
        await bob.call("join", {"room": "idem"}, "joined")

        first = await self.send(alice, "idem", "once", "same")
        again = await self.send(alice, "idem", "once", "same")
        self.assertEqual(again, first)
        self.assertEqual(first["seq"], 1)

        # Both copies in flight at once.
        id1, id2 = alice.take_id(), alice.take_id()
        frame = {"send": {"room": "idem", "body": "twice", "client_msg_id": "pipelined"}}
        await alice.send_frame({"id": id1, **frame})
        await alice.send_frame({"id": id2, **frame})
        r1, r2 = (await alice.reply(id1))["sent"], (await alice.reply(id2))["sent"]
        self.assertEqual(r1, r2)
        self.assertEqual(r1["seq"], 2)

        # The key is per sender: bob may use the same client_msg_id.
        third = await self.send(bob, "idem", "bob's", "same")
        self.assertEqual(third["seq"], 3)

        # Each was delivered exactly once (seq order makes seq 3 the barrier).
        for client in (alice, bob):
            await client.next_event("message", room="idem", seq=3)
            got = [f["message"]["seq"] for _, f in client.received
                   if "message" in f and f["message"]["room"] == "idem"]
            self.assertEqual(got, [1, 2, 3], client.label)
        page = await bob.call("history", {"room": "idem"}, "history")
        self.assertEqual([(m["seq"], m["body"]) for m in page["messages"]],
                         [(1, "once"), (2, "twice"), (3, "bob's")])

    async def test_unread_counts_and_read_receipts(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": "reads"}, "joined")
        await bob.call("join", {"room": "reads"}, "joined")
        for i in range(1, 4):
            await self.send(alice, "reads", f"u{i}", f"u{i}")

        async def info(client, room="reads"):
            return self.room_info((await client.call("rooms", {}, "room_list"))["rooms"], room)

        bob_info = await info(bob)
        self.assertEqual((bob_info["kind"], bob_info["last_seq"], bob_info["unread"]),
                         ("room", 3, 3))
        self.assertJsonInt(bob_info["unread"], "unread")
        alice_info = await info(alice)
        self.assertEqual(alice_info.get("unread", 0), 0, "own sends move the read marker")
        self.assertEqual((await info(bob, "system"))["kind"], "system")

        bob2 = await self.session_of(bob)
        self.assertEqual(await bob.call("read", {"room": "reads", "seq": 2}, "ok"), {})
        expected = {"room": "reads", "user": "bob", "seq": 2}
        self.assertEqual(await alice.next_event("receipt", room="reads", user="bob"), expected)
        self.assertEqual(await bob2.next_event("receipt", room="reads", user="bob"), expected)

        bob_info = await info(bob2)
        self.assertEqual((bob_info["unread"], bob_info["read_seq"]), (1, 2))

        await self.send(bob, "reads", "b1", "b1")
        self.assertEqual((await info(bob)).get("unread", 0), 0)
        self.assertEqual((await info(alice))["unread"], 1)

        # Bob's own send moved his marker to 4: reading up to it again (or to less) moves
        # nothing, so nothing is written or announced; the next receipt is for seq 5.
        await self.send(alice, "reads", "a5", "a5")
        await bob.call("read", {"room": "reads", "seq": 4}, "ok")
        await bob.call("read", {"room": "reads", "seq": 2}, "ok")
        await bob.call("read", {"room": "reads", "seq": 5}, "ok")
        self.assertEqual(await alice.next_event("receipt", room="reads", user="bob"),
                         {"room": "reads", "user": "bob", "seq": 5})

    async def test_typing(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        carol = await self.user("carol")
        await alice.call("join", {"room": "tt"}, "joined")
        await bob.call("join", {"room": "tt"}, "joined")

        typing_id = alice.take_id()
        await alice.send_frame({"id": typing_id, "typing": {"room": "tt", "active": True}})
        self.assertEqual(await bob.next_event("typing", room="tt"),
                         {"room": "tt", "user": "alice", "active": True})

        # No reply: the next request's reply arrives and nothing answered the typing.
        await alice.call("rooms", {}, "room_list")
        self.assertEqual([f for _, f in alice.received if f.get("id") == typing_id], [])

        await alice.send_frame({"typing": {"room": "tt", "active": False}})
        event = await bob.next_event("typing", room="tt")
        self.assertEqual((event["user"], event.get("active", False)), ("alice", False))

        # Not a member of tt: carol sees none of it.
        await self.send(alice, "tt", "barrier", "t1")
        await bob.next_event("message", room="tt", seq=1)
        self.assertEqual([f for _, f in carol.received if "typing" in f], [])

    async def test_presence(self):
        alice = await self.user("alice")
        await alice.call("join", {"room": "hang"}, "joined")
        bob = await self.user("bob")
        joined = await bob.call("join", {"room": "hang"}, "joined")
        self.assertEqual(sorted(joined["online"]), ["alice", "bob"])
        token = bob.welcome["token"]
        await bob.close()
        await alice.next_event("presence", user="bob", online=lambda online: not online)
        # Whatever presence came before the offline one is history now.
        alice.take_pending("presence")

        bob = await self.connect("bob-1")
        await bob.login(token=token)
        self.assertEqual(await alice.next_event("presence", user="bob"),
                         {"user": "bob", "online": True})

        bob2 = await self.connect("bob-2")
        await bob2.login(token=token)
        await bob.close()
        # bob2 is still online: alice sees its message and no offline presence before it.
        await self.send(bob2, "hang", "still here", "h1")
        await alice.next_event("message", room="hang", seq=1)
        self.assertEqual(alice.take_pending("presence"), [])

        await bob2.close()
        event = await alice.next_event("presence", user="bob")
        self.assertIs(event.get("online", False), False)

        joined = await alice.call("join", {"room": "hang"}, "joined")
        self.assertEqual(joined["online"], ["alice"])


class BroadcastTest(NatterTestCase):
    admin_account = ("root", "root-password-1")

    async def test_broadcast_reaches_every_session(self):
        root = await self.connect("root")
        welcome = await root.login("root", "root-password-1")
        self.assertIs(welcome["admin"], True)
        alice = await self.user("alice")
        self.assertIs(alice.welcome.get("admin", False), False)
        bob = await self.user("bob")
        bob2 = await self.session_of(bob)

        sent = await root.call("broadcast", {"body": "maintenance at noon",
                                             "client_msg_id": "bc-1"}, "sent")
        self.assertEqual((sent["room"], sent["seq"]), ("system", 1))
        expected = {"room": "system", "seq": 1, "ts": sent["ts"], "sender": "root",
                    "body": "maintenance at noon", "client_msg_id": "bc-1", "kind": "broadcast"}
        for client in (root, alice, bob, bob2):
            self.assertEqual(await client.next_event("message", room="system"), expected,
                             client.label)

        # A user registered later reads it in the system room's history.
        carol = await self.user("carol")
        page = await carol.call("history", {"room": "system"}, "history")
        self.assertEqual(page["messages"], [expected])
        info = [r for r in carol.welcome["rooms"] if r["name"] == "system"]
        self.assertEqual((info[0]["kind"], info[0]["last_seq"]), ("system", 1))

        await self.expect_error(alice, "broadcast", {"body": "me too", "client_msg_id": "x"},
                                "forbidden")
        await self.expect_error(alice, "send", {"room": "system", "body": "me too",
                                                "client_msg_id": "y"}, "forbidden")
        page = await alice.call("history", {"room": "system"}, "history")
        self.assertEqual(len(page["messages"]), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
