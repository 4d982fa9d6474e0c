#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Message changes (docs/protocol.md, "Message changes"): replies, edits, deletions,
# reactions and mentions, seen from JSON and protobuf WebSocket clients.
# Run one with
#   NATTERD=… NATTER_PROTO=… /usr/bin/python3 test_messages.py MessagesTest.test_changes_in_order

import os
import sqlite3
import unittest

from natter_fixture import NatterTestCase, eventually, password_for


def read_all(data_dir):
    """The bytes of every file under @data_dir, as they are: nothing checkpointed."""
    contents = b""
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as f:
                    contents += f.read()
            except FileNotFoundError:
                pass
    return contents


def checkpoint_and_read(data_dir):
    """Copies the write-ahead log of every SQLite database under @data_dir into its file
    and empties it (retrying while natterd's own checkpoint holds it), then returns the
    bytes of every file there: databases, logs and anything else."""
    contents = b""
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            if name.endswith(".db"):
                db = sqlite3.connect(os.path.join(root, name))
                try:
                    busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                finally:
                    db.close()
                if busy:
                    return None
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                contents += f.read()
    return contents


class MessagesTest(NatterTestCase):

    async def pair(self, room="fix"):
        alice = await self.user("alice")
        bob = await self.user("bob")
        await alice.call("join", {"room": room}, "joined")
        await bob.call("join", {"room": room}, "joined")
        return alice, bob

    async def send(self, client, room, body, cmid, **extra):
        return await client.call("send", {"room": room, "body": body, "client_msg_id": cmid,
                                          **extra}, "sent")

    async def test_changes_in_order(self):
        alice, bob = await self.pair()
        first = await self.send(alice, "fix", "helo wrold", "m1")
        reply = await self.send(bob, "fix", "typo?", "m2", reply_to=first["seq"])
        edit = await alice.call("edit", {"room": "fix", "seq": first["seq"], "body": "hello world"},
                                "sent")
        react = await bob.call("react", {"room": "fix", "seq": first["seq"], "emoji": "👍"}, "sent")
        await alice.call("react", {"room": "fix", "seq": first["seq"], "emoji": "👍"}, "sent")
        unreact = await alice.call("react", {"room": "fix", "seq": first["seq"], "emoji": "👍",
                                             "active": False}, "sent")
        delete = await bob.call("delete", {"room": "fix", "seq": reply["seq"]}, "sent")
        # Gapless: every kind takes the next seq.
        self.assertEqual([first["seq"], reply["seq"], edit["seq"], react["seq"], unreact["seq"],
                          delete["seq"]], [1, 2, 3, 4, 6, 7])

        await alice.next_event("message", room="fix", seq=7)
        got = [f["message"] for _, f in alice.received
               if "message" in f and f["message"]["room"] == "fix"]
        self.assertEqual([m["seq"] for m in got], list(range(1, 8)))
        self.assertEqual([m["kind"] for m in got],
                         ["text", "text", "edit", "reaction", "reaction", "reaction", "delete"])
        self.assertEqual(got[1]["reply_to"], 1)
        self.assertEqual((got[2]["target_seq"], got[2]["body"]), (1, "hello world"))
        self.assertEqual((got[3]["target_seq"], got[3]["body"], got[3]["sender"]),
                         (1, "👍", "bob"))
        self.assertIs(got[5]["active"], False)
        self.assertEqual((got[6]["target_seq"], got[6].get("body", "")), (2, ""))

        page = await bob.call("history", {"room": "fix"}, "history")
        messages = {m["seq"]: m for m in page["messages"]}
        self.assertEqual(sorted(messages), list(range(1, 8)))
        self.assertEqual(messages[1]["body"], "hello world")
        self.assertEqual(messages[1]["kind"], "text")
        self.assertJsonInt(messages[1]["edited_ts"], "edited_ts")
        self.assertEqual(messages[1]["reactions"], [{"emoji": "👍", "users": ["bob"]}])
        self.assertEqual(messages[2]["kind"], "deleted")
        self.assertEqual(messages[2].get("body", ""), "")
        self.assertEqual(messages[2]["reply_to"], 1)

    async def test_resume_from_before_an_edit(self):
        alice, bob = await self.pair()
        first = await self.send(alice, "fix", "draft", "m1")
        await bob.next_event("message", room="fix", seq=first["seq"])
        token = bob.welcome["token"]
        await bob.close()

        await alice.call("edit", {"room": "fix", "seq": 1, "body": "final"}, "sent")
        await alice.call("react", {"room": "fix", "seq": 1, "emoji": "🎉"}, "sent")
        await self.send(alice, "fix", "after", "m2")

        bob = await self.connect("bob-again")
        await bob.login(token=token)
        await bob.call("join", {"room": "fix", "since_seq": 1}, "joined")
        await bob.next_event("message", room="fix", seq=4)
        got = [f["message"] for _, f in bob.received
               if "message" in f and f["message"]["room"] == "fix"]
        self.assertEqual([(m["seq"], m["kind"]) for m in got],
                         [(2, "edit"), (3, "reaction"), (4, "text")])
        self.assertEqual((got[0]["target_seq"], got[0]["body"]), (1, "final"))

        page = await bob.call("history", {"room": "fix", "after_seq": 1}, "history")
        self.assertEqual([(m["seq"], m["kind"]) for m in page["messages"]],
                         [(2, "edit"), (3, "reaction"), (4, "text")])

    async def test_idempotent_changes(self):
        alice, bob = await self.pair()
        await self.send(alice, "fix", "one", "m1")
        body = {"room": "fix", "seq": 1, "body": "uno", "client_msg_id": "e1"}
        once = await alice.call("edit", body, "sent")
        again = await alice.call("edit", body, "sent")
        self.assertEqual(once["seq"], again["seq"])
        react = {"room": "fix", "seq": 1, "emoji": "👍", "client_msg_id": "r1"}
        self.assertEqual((await bob.call("react", react, "sent"))["seq"],
                         (await bob.call("react", react, "sent"))["seq"])
        rooms = await bob.call("rooms", None, "room_list")
        self.assertEqual([r["last_seq"] for r in rooms["rooms"] if r["name"] == "fix"], [3])

    async def test_errors_store_nothing(self):
        alice, bob = await self.pair()
        carol = await self.user("carol")
        await carol.call("join", {"room": "elsewhere"}, "joined")
        for i in range(5):
            await self.send(carol, "elsewhere", "other room", f"c{i}")
        await self.send(alice, "fix", "alice's", "m1")
        await bob.call("delete", {"room": "fix", "seq": (await self.send(bob, "fix", "x", "m2"))["seq"]},
                       "sent")

        await self.expect_error(bob, "edit", {"room": "fix", "seq": 1, "body": "mine now"},
                                "forbidden")
        await self.expect_error(bob, "delete", {"room": "fix", "seq": 1}, "forbidden")
        await self.expect_error(carol, "react", {"room": "fix", "seq": 1, "emoji": "👍"},
                                "forbidden")
        await self.expect_error(alice, "send", {"room": "fix", "body": "re", "client_msg_id": "r",
                                                "reply_to": 99}, "not_found")
        # seq 5 exists in "elsewhere" only.
        await self.expect_error(alice, "react", {"room": "fix", "seq": 5, "emoji": "👍"},
                                "not_found")
        await self.expect_error(alice, "react", {"room": "fix", "seq": 1, "emoji": "👍" * 9},
                                "bad_request")
        await self.expect_error(alice, "react", {"room": "fix", "seq": 1}, "bad_request")
        await self.expect_error(alice, "edit", {"room": "fix", "body": "no seq"}, "bad_request")
        await self.expect_error(alice, "edit", {"room": "fix", "seq": 1, "body": ""},
                                "bad_request")
        # seq 2 was deleted; seq 3 is a change, not a message.
        await self.expect_error(bob, "edit", {"room": "fix", "seq": 2, "body": "back"},
                                "not_found")
        await self.expect_error(alice, "react", {"room": "fix", "seq": 3, "emoji": "👍"},
                                "bad_request")

        rooms = await alice.call("rooms", None, "room_list")
        self.assertEqual([r["last_seq"] for r in rooms["rooms"] if r["name"] == "fix"], [3])

    async def test_deletion_erases_text(self):
        alice, bob = await self.pair()
        await self.send(alice, "fix", "the code is zqxjwvsecret", "m1")
        await alice.call("edit", {"room": "fix", "seq": 1, "body": "the code is zqxjwvagain"},
                         "sent")
        found = await bob.call("search", {"query": "zqxjwvagain"}, "search_results")
        self.assertEqual(len(found.get("messages", [])), 1)
        state = {}

        def checkpointed():
            state["contents"] = checkpoint_and_read(self.daemon.data_dir)
            return state["contents"] is not None

        # The files do hold the text before: the test would see it.
        await eventually(checkpointed, message="the log could not be checkpointed")
        self.assertIn(b"zqxjwvagain", state["contents"])

        await alice.call("delete", {"room": "fix", "seq": 1}, "sent")
        found = await bob.call("search", {"query": "zqxjwvagain"}, "search_results")
        self.assertEqual(found.get("messages", []), [])
        await eventually(checkpointed, message="the log could not be checkpointed")
        self.assertNotIn(b"zqxjwv", state["contents"])

    async def test_deletion_leaves_the_log_by_itself(self):
        """natterd empties its write-ahead log after a delete by itself: with nothing
        checkpointed here, the text leaves every file within a few of its own checkpoint
        cycles (one a second at most)."""
        alice, bob = await self.pair()
        await self.send(alice, "fix", "the key is vqzxjkwalsecret", "m1")
        found = await bob.call("search", {"query": "vqzxjkwalsecret"}, "search_results")
        self.assertEqual(len(found.get("messages", [])), 1)
        self.assertIn(b"vqzxjkwalsecret", read_all(self.daemon.data_dir))

        await alice.call("delete", {"room": "fix", "seq": 1}, "sent")
        await eventually(lambda: b"vqzxjkwal" not in read_all(self.daemon.data_dir),
                         timeout=30.0, interval=0.2,
                         message="the deleted text stayed in natterd's files")
        # And natterd goes on.
        await self.send(alice, "fix", "after", "m2")

    async def test_mentions(self):
        alice, bob = await self.pair()
        await self.user("carol")
        sent = await self.send(alice, "fix", "@bob: ask @carol, or mail x@bob. @bob. @nobody",
                               "m1")
        msg = await bob.next_event("message", room="fix", seq=sent["seq"])
        self.assertEqual(msg["mentions"], ["bob"])
        page = await bob.call("history", {"room": "fix"}, "history")
        self.assertEqual(page["messages"][0]["mentions"], ["bob"])

    async def test_mentions_on_resume(self):
        # A session that joins with since_seq gets the messages it missed from the store:
        # they carry their mentions as live ones do.
        alice, bob = await self.pair()
        await self.send(alice, "fix", "before", "m1")
        sent = await self.send(alice, "fix", "@bob while you were away", "m2")
        other = await self.session_of(bob)
        await other.call("join", {"room": "fix", "since_seq": 1}, "joined")
        msg = await other.next_event("message", room="fix", seq=sent["seq"])
        self.assertEqual(msg["mentions"], ["bob"])

    async def test_protobuf_client(self):
        alice = await self.connect_proto("alice")
        await alice.register("alice", password_for("alice"))
        await alice.call("join", "joined", room="pb")
        sent = await alice.call("send", "sent", room="pb", body="hi", client_msg_id="p1")
        edit = await alice.call("edit", "sent", room="pb", seq=sent.seq, body="hello")
        react = await alice.call("react", "sent", room="pb", seq=sent.seq, emoji="👍")
        self.assertEqual((edit.seq, react.seq), (2, 3))
        page = await alice.call("history", "history", room="pb")
        first = page.messages[0]
        self.assertEqual((first.body, first.kind), ("hello", "text"))
        self.assertTrue(first.HasField("edited_ts"))
        self.assertEqual([(r.emoji, list(r.users)) for r in first.reactions], [("👍", ["alice"])])
        await alice.call("delete", "sent", room="pb", seq=sent.seq)
        page = await alice.call("history", "history", room="pb")
        self.assertEqual((page.messages[0].kind, page.messages[0].body), ("deleted", ""))


    async def test_moderator_deletes_any_message(self):
        alice = await self.user("alice")
        bob = await self.user("bob")
        carol = await self.user("carol")
        await alice.call("create", {"room": "modded"}, "joined")
        await bob.call("join", {"room": "modded"}, "joined")
        await carol.call("join", {"room": "modded"}, "joined")
        await alice.call("set_role", {"room": "modded", "user": "carol", "role": "moderator"}, "ok")
        await self.send(alice, "modded", "the owner's", "a1")
        await self.send(bob, "modded", "abuse", "b1")
        await self.expect_error(bob, "delete", {"room": "modded", "seq": 1}, "forbidden")
        await carol.call("delete", {"room": "modded", "seq": 2}, "sent")
        await alice.call("delete", {"room": "modded", "seq": 1}, "sent")
        page = await bob.call("history", {"room": "modded"}, "history")
        self.assertEqual([m["kind"] for m in page["messages"]][:2], ["deleted", "deleted"])


class AdminMessagesTest(NatterTestCase):
    admin_account = ("root", "root-password-1")

    async def test_admin_deletes_any_message(self):
        bob = await self.user("bob")
        root = await self.connect("root")
        await root.login("root", "root-password-1")
        await bob.call("join", {"room": "fix"}, "joined")
        await root.call("join", {"room": "fix"}, "joined")
        await bob.call("send", {"room": "fix", "body": "abuse", "client_msg_id": "b1"}, "sent")
        await root.call("delete", {"room": "fix", "seq": 1}, "sent")
        page = await bob.call("history", {"room": "fix"}, "history")
        self.assertEqual(page["messages"][0]["kind"], "deleted")


if __name__ == "__main__":
    unittest.main(verbosity=2)
