#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Message changes and notification levels in upstream mode: `natterd --upstream` mirrors an
# account of a host natterd; Reply, Edit, Delete, React and SetNotificationLevel go to the
# host as wire requests, what people change there reaches the message objects and the
# local copy, and a deletion erases the text from the local copy's files. Run one case with
#   NATTERD=… /usr/bin/python3 test_upstream_messages.py UpstreamMessagesTest.test_changes_mirrored

import asyncio
import unittest

from gi.repository import GLib
from upstream_fixture import (BUS_NAME, CHAT_IFACE, MESSAGE_IFACE, ROOM_IFACE, ROOT_PATH,
                              UpstreamTestCase, eventually, room_path)
# tests/integration, on the path through upstream_fixture: the store erasure check.
from test_messages import checkpoint_and_read  # noqa: E402


class UpstreamMessagesTest(UpstreamTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        await self.register_on_host("alice")
        await self.register_on_host("bob")

    async def message_props(self, room, seq):
        objects = await self.managed_objects()
        return objects.get(f"{room_path(room)}/{seq}", {}).get(MESSAGE_IFACE)

    def body_is(self, room, seq, body):
        async def check():
            props = await self.message_props(room, seq)
            return props is not None and props["Body"] == body
        return check

    def changed(self, room):
        return [a for (_, _, a) in self.watcher.received("MessageChanged", room_path(room),
                                                         ROOM_IFACE)]

    async def room_call(self, room, method, signature, args, reply_type=None):
        return await self.watcher.call(BUS_NAME, room_path(room), ROOM_IFACE, method,
                                       GLib.Variant(signature, args), reply_type)

    async def test_changes_mirrored(self):
        """Edits, reactions, replies and deletions made from the desktop reach the host;
        those made on the host reach the desktop's objects; offline, HistoryDetailed shows
        the same state from the local copy."""
        await self.start_upstream()
        await self.connect()
        await self.join("chat")
        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "chat"}, "joined")

        mine = await self.send("chat", "helo")
        theirs = (await bob.call("send", {"room": "chat", "body": "hi @alice",
                                          "client_msg_id": "b1"}, "sent"))["seq"]
        await eventually(lambda: self.message_props("chat", theirs), message="no object")
        self.assertEqual((await self.message_props("chat", theirs))["Mentions"], ["alice"])

        (edit_seq,) = await self.room_call("chat", "Edit", "(ts)", (mine, "hello"), "(t)")
        event = await bob.next_event("message", room="chat", seq=edit_seq)
        self.assertEqual((event["kind"], event["target_seq"]), ("edit", mine))
        await eventually(self.body_is("chat", mine, "hello"), message="the edit did not apply")

        await bob.call("edit", {"room": "chat", "seq": theirs, "body": "hi again @alice"}, "sent")
        await eventually(self.body_is("chat", theirs, "hi again @alice"),
                         message="the host's edit did not reach the object")
        await bob.call("react", {"room": "chat", "seq": mine, "emoji": "👍"}, "sent")
        await self.room_call("chat", "React", "(tsb)", (theirs, "🎉", True), "(t)")
        await eventually(lambda: len(self.changed("chat")) == 4,
                         message=f"MessageChanged: {self.changed('chat')}")
        self.assertEqual([(c[0], c[2], c[3]) for c in self.changed("chat")],
                         [(mine, "alice", "edit"), (theirs, "bob", "edit"),
                          (mine, "bob", "reaction"), (theirs, "alice", "reaction")])
        self.assertEqual((await self.message_props("chat", mine))["Reactions"], [("👍", ["bob"])])

        (reply,) = await self.room_call("chat", "Reply", "(tss)", (theirs, "sure", ""), "(t)")
        event = await bob.next_event("message", room="chat", seq=reply)
        self.assertEqual(event["reply_to"], theirs)
        await eventually(lambda: self.message_props("chat", reply), message="no reply object")
        self.assertEqual((await self.message_props("chat", reply))["ReplyTo"], theirs)

        # bob may not edit the desktop's message.
        error = await bob.request("edit", {"room": "chat", "seq": mine, "body": "mine now"},
                                  expect_error=True)
        self.assertEqual(error["error"]["code"], "forbidden")

        # The local copy holds the same state: offline, HistoryDetailed answers from it.
        await self.room_call("chat", "Delete", "(t)", (reply,), "(t)")
        await eventually(lambda: len(self.changed("chat")) == 5)
        online = await self.room_call("chat", "HistoryDetailed", "(tu)", (0, 0),
                                      "(a(txsssa{sv})b)")
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Disconnect")
        await self.wait_status("offline")
        offline = await self.room_call("chat", "HistoryDetailed", "(tu)", (0, 0),
                                       "(a(txsssa{sv})b)")

        def state(page):
            # The local copy computes no mentions of its own.
            return [(m[0], m[2], m[3], m[4], m[5].get("reactions"), "edited_ts" in m[5],
                     m[5].get("reply_to")) for m in page[0]]
        self.assertEqual(state(offline), state(online))
        self.assertEqual(state(offline),
                         [(mine, "alice", "hello", "text", [("👍", ["bob"])], True, None),
                          (theirs, "bob", "hi again @alice", "text", [("🎉", ["alice"])], True,
                           None),
                          (reply, "alice", "", "deleted", None, False, theirs)])

    async def test_deletion_erases_the_local_copy(self):
        """A deleted message's text, and that of its earlier edits, leaves the local copy:
        its database, search index and write-ahead log hold no trace of it."""
        await self.start_upstream()
        await self.connect()
        await self.join("chat")
        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "chat"}, "joined")
        seq = (await bob.call("send", {"room": "chat", "body": "the key is qzvxkfirstword",
                                       "client_msg_id": "k1"}, "sent"))["seq"]
        await bob.call("edit", {"room": "chat", "seq": seq, "body": "the key is qzvxksecondword"},
                       "sent")
        await eventually(self.body_is("chat", seq, "the key is qzvxksecondword"),
                         message="the edit did not arrive")
        state = {}

        def checkpointed(needle, present):
            def check():
                state["contents"] = checkpoint_and_read(self.upstream.data_dir)
                return (state["contents"] is not None and
                        (needle in state["contents"]) == present)
            return check

        # The local copy does hold the text before: the test would see it.
        await eventually(checkpointed(b"qzvxksecondword", True),
                         message="the local copy never held the message")
        self.assertIn(b"qzvxkfirstword", state["contents"])

        await bob.call("delete", {"room": "chat", "seq": seq}, "sent")
        await eventually(lambda: [c for c in self.changed("chat") if c[3] == "delete"],
                         message="no MessageChanged for the deletion")
        props = await self.message_props("chat", seq)
        self.assertEqual((props["Kind"], props["Body"]), ("deleted", ""))
        await eventually(checkpointed(b"qzvxk", False), timeout=20,
                         message="the deleted text stayed in the local copy's files")

        # Offline, neither History nor Search finds it.
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Disconnect")
        await self.wait_status("offline")
        (found,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Search", "qzvxksecondword",
                                         "", "0")
        self.assertEqual(found, [])
        messages, _ = await self.history("chat")
        self.assertEqual([(m[0], m[3]) for m in messages if m[0] == seq], [(seq, "")])

    async def test_deletion_while_offline_erases_on_reconnect(self):
        """A message deleted on the server while the desktop was offline leaves its local
        copy when the desktop resumes."""
        await self.start_upstream()
        await self.connect()
        await self.join("chat")
        bob = await self.ws_login("bob")
        await bob.call("join", {"room": "chat"}, "joined")
        seq = (await bob.call("send", {"room": "chat", "body": "pin is qzvxkofflineword",
                                       "client_msg_id": "k1"}, "sent"))["seq"]
        await eventually(self.body_is("chat", seq, "pin is qzvxkofflineword"),
                         message="the message did not arrive")
        state = {}

        def checkpointed(present):
            def check():
                state["contents"] = checkpoint_and_read(self.upstream.data_dir)
                return (state["contents"] is not None and
                        (b"qzvxkofflineword" in state["contents"]) == present)
            return check

        await eventually(checkpointed(True), message="the local copy never held the message")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Disconnect")
        await self.wait_status("offline")
        await bob.call("delete", {"room": "chat", "seq": seq}, "sent")
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Connect", "", "", "", "true")
        await self.wait_status("connected")
        await eventually(lambda: [c for c in self.changed("chat") if c[3] == "delete"],
                         message="the deletion was not resumed")
        await eventually(checkpointed(False), timeout=20,
                         message="the text deleted while offline stayed in the local copy")

    async def test_notification_level(self):
        """SetNotificationLevel goes to the host, where the account's other sessions hear
        of it; a level set there reaches NotificationLevel."""
        await self.start_upstream()
        await self.connect()
        await self.join("chat")
        web = await self.ws_login("alice")
        await web.call("join", {"room": "chat"}, "joined")

        await self.room_call("chat", "SetNotificationLevel", "(s)", ("mentions",))
        event = await web.next_event("notification_level", room="chat")
        self.assertEqual(event["level"], "mentions")

        async def level_is(level):
            props = (await self.managed_objects())[room_path("chat")][ROOM_IFACE]
            return props["NotificationLevel"] == level
        self.assertTrue(await level_is("mentions"))

        await web.call("set_notification_level", {"room": "chat", "level": "none"}, "ok")
        await eventually(lambda: level_is("none"), message="NotificationLevel did not follow")

        # The host refuses a bad level, as it would from any client.
        name, _ = await self.gdbus_call_error(room_path("chat"),
                                              ROOM_IFACE + ".SetNotificationLevel", "loud")
        self.assertEqual(name, "io.github.natter.Chat.Error.BadRequest")

        # Restarted, natterd reads it from the host again.
        await self.stop_upstream()
        await self.start_upstream()
        await self.wait_status("connected")
        await eventually(lambda: level_is("none"), message="NotificationLevel was not kept")

        # Restarted with the host away, the local copy knows it.
        await self.stop_upstream()
        await asyncio.to_thread(self.host.stop)
        await self.start_upstream()
        await eventually(lambda: self.has_object(room_path("chat")),
                         message="the cached room did not appear")
        self.assertTrue(await level_is("none"))
        self.assertNotEqual(await self.status(), "connected")

    async def test_own_notification_level_kept_offline(self):
        """A level set over D-Bus is kept by the local copy too: the host tells only the
        account's other sessions, so the answer itself must update the copy."""
        await self.start_upstream()
        await self.connect()
        await self.join("chat")

        async def level_is(level):
            props = (await self.managed_objects())[room_path("chat")][ROOM_IFACE]
            return props["NotificationLevel"] == level

        await self.room_call("chat", "SetNotificationLevel", "(s)", ("mentions",))
        self.assertTrue(await level_is("mentions"))

        # Restarted with the host away, the local copy knows the level natterd set.
        await self.stop_upstream()
        await asyncio.to_thread(self.host.stop)
        await self.start_upstream()
        await eventually(lambda: self.has_object(room_path("chat")),
                         message="the cached room did not appear")
        self.assertNotEqual(await self.status(), "connected")
        self.assertTrue(await level_is("mentions"),
                        "the level set over D-Bus was lost from the local copy")


if __name__ == "__main__":
    unittest.main(verbosity=2)
