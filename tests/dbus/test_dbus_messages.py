#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Message changes and notification levels over D-Bus: Reply, Edit, Delete, React,
# HistoryDetailed, MessageChanged, the message objects' new properties, NotificationLevel
# and what natterd's notifications make of it. Host mode, with WebSocket clients as the
# other users. Run one case with
#   NATTERD=… NATTER_DBUS_SERVICE_DIR=… /usr/bin/python3 test_dbus_messages.py \
#     DBusMessagesTest.test_edit

import asyncio
import unittest

from gi.repository import GLib

from natter_dbus_fixture import (BUS_NAME, ERROR_PREFIX, JSON_PROTOCOL, OWNER, ROOM_IFACE,
                                 DBusTestCase, JsonClient, daemon_args, eventually, open_ws,
                                 password_for, required_env, room_path)

NOTIFICATIONS = ("org.freedesktop.Notifications", "/org/freedesktop/Notifications")


class DBusMessagesTest(DBusTestCase):

    async def setup_room(self, room="general"):
        """alice (a WebSocket client) and the desktop's account in @room."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": room}, "joined")
        await self.join(room)
        return alice

    async def room_call(self, room, method, signature=None, args=None, reply_type=None):
        params = GLib.Variant(signature, args) if signature is not None else None
        return await self.watcher.call(BUS_NAME, room_path(room), ROOM_IFACE, method, params,
                                       reply_type)

    async def room_error(self, room, method, signature, *args):
        return await self.watcher.call_error(BUS_NAME, room_path(room), ROOM_IFACE,
                                             method, GLib.Variant(signature, args))

    async def history_detailed(self, room, before_seq, limit):
        return await self.room_call(room, "HistoryDetailed", "(tu)", (before_seq, limit),
                                    "(a(txsssa{sv})b)")

    def changed(self, room):
        """MessageChanged signals of @room so far: (seq, change_seq, sender, kind, body,
        details)."""
        return [a for (_, _, a) in self.watcher.received("MessageChanged", room_path(room))]

    async def message_props(self, room, seq):
        return (await self.message_objects(room)).get(seq)

    # ----------------------------------------------------------------------------------

    async def test_message_reply_and_mentions(self):
        """Reply() sends an answer; the new message's object carries ReplyTo and the
        server's Mentions, and alice sees reply_to on the wire."""
        alice = await self.setup_room()
        first = await alice.call("send", {"room": "general", "body": "question",
                                          "client_msg_id": "q"}, "sent")

        (seq,) = await self.gdbus_call(room_path("general"), ROOM_IFACE + ".Reply",
                                       str(first["seq"]), "answer for @alice", "")
        event = await alice.next_event("message", room="general", seq=seq)
        self.assertEqual(event["reply_to"], first["seq"])
        self.assertEqual(event["mentions"], ["alice"])

        await eventually(lambda: self.message_props("general", seq), message="no object")
        props = await self.message_props("general", seq)
        self.assertEqual(props["ReplyTo"], first["seq"])
        self.assertEqual(props["Mentions"], ["alice"])
        self.assertEqual(props["EditedTimestamp"], 0)
        self.assertEqual(props["Reactions"], [])
        self.assertEqual(props["Kind"], "text")

        # With a client_msg_id, a repeated call answers the first seq.
        (again,) = await self.gdbus_call(room_path("general"), ROOM_IFACE + ".Reply",
                                         str(first["seq"]), "once", "reply-1")
        (repeat,) = await self.gdbus_call(room_path("general"), ROOM_IFACE + ".Reply",
                                          str(first["seq"]), "once", "reply-1")
        self.assertEqual(again, repeat)

        # A reply to no message of the room.
        name, _ = await self.room_error("general", "Reply", "(tss)", 9999, "to nothing", "")
        self.assertEqual(name, ERROR_PREFIX + "NotFound")

    async def test_message_edit(self):
        """Edit() changes the desktop's own message: the object changes in place, alice
        gets the edit, MessageChanged tells it; editing alice's message is Forbidden."""
        alice = await self.setup_room()
        seq = await self.send("general", "helo")
        await eventually(lambda: self.message_props("general", seq), message="no object")

        (change_seq,) = await self.gdbus_call(room_path("general"), ROOM_IFACE + ".Edit",
                                              str(seq), "hello @alice")
        self.assertEqual(change_seq, seq + 1)
        event = await alice.next_event("message", room="general", seq=change_seq)
        self.assertEqual((event["kind"], event["target_seq"], event["body"]),
                         ("edit", seq, "hello @alice"))

        await eventually(lambda: self.changed("general"), message="no MessageChanged")
        (target, cseq, sender, kind, body, details), = self.changed("general")
        self.assertEqual((target, cseq, sender, kind, body),
                         (seq, change_seq, OWNER, "edit", "hello @alice"))
        self.assertEqual(details["kind"], "text")
        self.assertEqual(details["edited_ts"], event["ts"])
        self.assertEqual(details["mentions"], ["alice"])

        props = await self.message_props("general", seq)
        self.assertEqual(props["Body"], "hello @alice")
        self.assertEqual(props["EditedTimestamp"], event["ts"])
        self.assertEqual(props["Mentions"], ["alice"])
        # The change is no message object and no MessageReceived.
        self.assertNotIn(change_seq, await self.message_objects("general"))
        self.assertNotIn(change_seq, [a[0] for (_, _, a) in
                                      self.watcher.received("MessageReceived",
                                                            room_path("general"))])

        # alice edits her own message: the desktop's object follows.
        theirs = await alice.call("send", {"room": "general", "body": "mine",
                                           "client_msg_id": "m"}, "sent")
        await eventually(lambda: self.message_props("general", theirs["seq"]))
        await alice.call("edit", {"room": "general", "seq": theirs["seq"], "body": "still mine"},
                         "sent")
        await eventually(lambda: (self.message_props("general", theirs["seq"])),
                         message="no object")

        async def edited():
            props = await self.message_props("general", theirs["seq"])
            return props["Body"] == "still mine"
        await eventually(edited, message="alice's edit did not reach the object")

        # Someone else's message, an unknown seq, a deleted message.
        name, _ = await self.room_error("general", "Edit", "(ts)", theirs["seq"], "not yours")
        self.assertEqual(name, ERROR_PREFIX + "Forbidden")
        name, _ = await self.room_error("general", "Edit", "(ts)", 9999, "nothing")
        self.assertEqual(name, ERROR_PREFIX + "NotFound")
        await self.room_call("general", "Delete", "(t)", (seq,), reply_type="(t)")
        name, _ = await self.room_error("general", "Edit", "(ts)", seq, "again")
        self.assertEqual(name, ERROR_PREFIX + "NotFound")
        # Nothing of the refused edits was stored.
        page = await alice.call("history", {"room": "general"}, "history")
        self.assertFalse([m for m in page["messages"]
                          if m.get("body") in ("not yours", "nothing", "again")])

    async def test_message_delete(self):
        """Delete() erases the text: the object keeps its seq with Kind "deleted" and an
        empty Body, alice gets the deletion, HistoryDetailed shows the tombstone."""
        alice = await self.setup_room()
        seq = await self.send("general", "secret-word-7741")
        await eventually(lambda: self.message_props("general", seq), message="no object")

        (change_seq,) = await self.gdbus_call(room_path("general"), ROOM_IFACE + ".Delete",
                                              str(seq))
        event = await alice.next_event("message", room="general", seq=change_seq)
        self.assertEqual((event["kind"], event["target_seq"]), ("delete", seq))

        await eventually(lambda: self.changed("general"), message="no MessageChanged")
        (target, cseq, sender, kind, body, details), = self.changed("general")
        self.assertEqual((target, cseq, sender, kind, body, details["kind"]),
                         (seq, change_seq, OWNER, "delete", "", "deleted"))
        props = await self.message_props("general", seq)
        self.assertEqual((props["Kind"], props["Body"]), ("deleted", ""))
        # No property of any object holds the text any more.
        self.assertNotIn("secret-word-7741", repr(await self.managed_objects()))

        messages, _ = await self.history_detailed("general", 0, 0)
        self.assertEqual([(m[0], m[3], m[4]) for m in messages], [(seq, "", "deleted")])

        # bob, a plain member, may not delete the desktop's messages; alice, the room's
        # owner, may, and the desktop's object follows.
        bob = await self.ws_user("bob")
        await bob.call("join", {"room": "general"}, "joined")
        keep = await self.send("general", "keep")
        error = await bob.request("delete", {"room": "general", "seq": keep}, expect_error=True)
        self.assertEqual(error["error"]["code"], "forbidden")
        by_owner = await alice.call("delete", {"room": "general", "seq": keep}, "sent")
        await eventually(lambda: len(self.changed("general")) == 2,
                         message=f"no second MessageChanged: {self.changed('general')}")
        self.assertEqual(self.changed("general")[-1][:5],
                         (keep, by_owner["seq"], "alice", "delete", ""))
        name, _ = await self.room_error("general", "Delete", "(t)", 9999)
        self.assertEqual(name, ERROR_PREFIX + "NotFound")
        # The desktop's account is the server's administrator: it may delete bob's.
        theirs = await bob.call("send", {"room": "general", "body": "bob's",
                                         "client_msg_id": "b"}, "sent")
        (change_seq,) = await self.room_call("general", "Delete", "(t)", (theirs["seq"],), "(t)")
        await eventually(lambda: len(self.changed("general")) == 3)
        self.assertEqual(self.changed("general")[-1][:5],
                         (theirs["seq"], change_seq, OWNER, "delete", ""))

    async def test_message_react(self):
        """React() adds and takes back the desktop's reaction; alice's reactions reach the
        object too; an emoji over 32 bytes is BadRequest."""
        alice = await self.setup_room()
        seq = await self.send("general", "react to me")
        await eventually(lambda: self.message_props("general", seq), message="no object")

        (c1,) = await self.gdbus_call(room_path("general"), ROOM_IFACE + ".React",
                                      str(seq), "👍", "true")
        event = await alice.next_event("message", room="general", seq=c1)
        self.assertEqual((event["kind"], event["target_seq"], event["body"]),
                         ("reaction", seq, "👍"))
        await alice.call("react", {"room": "general", "seq": seq, "emoji": "👍"}, "sent")
        c3 = (await alice.call("react", {"room": "general", "seq": seq, "emoji": "🎉"},
                               "sent"))["seq"]

        async def reactions_are(expected):
            props = await self.message_props("general", seq)
            return props["Reactions"] == expected
        await eventually(lambda: reactions_are([("🎉", ["alice"]), ("👍", ["alice", OWNER])]),
                         message="the reactions did not reach the object")
        await eventually(lambda: len(self.changed("general")) == 3)
        last = self.changed("general")[-1]
        self.assertEqual(last[:5], (seq, c3, "alice", "reaction", "react to me"))
        self.assertEqual(last[5]["reactions"], [("🎉", ["alice"]), ("👍", ["alice", OWNER])])

        # Taking it back.
        await self.gdbus_call(room_path("general"), ROOM_IFACE + ".React", str(seq), "👍",
                              "false")
        await eventually(lambda: reactions_are([("🎉", ["alice"]), ("👍", ["alice"])]),
                         message="the reaction was not taken back")

        # HistoryDetailed agrees with the object.
        messages, has_more = await self.history_detailed("general", 0, 50)
        self.assertFalse(has_more)
        (m,) = messages
        self.assertEqual(m[0], seq)
        self.assertEqual(m[5]["reactions"], [("🎉", ["alice"]), ("👍", ["alice"])])

        name, _ = await self.room_error("general", "React", "(tsb)", seq, "x" * 33, True)
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")
        name, _ = await self.room_error("general", "React", "(tsb)", 9999, "👍", True)
        self.assertEqual(name, ERROR_PREFIX + "NotFound")

    @daemon_args("--dbus-window", "2")
    async def test_message_change_outside_window(self):
        """A change to a message older than the window still tells the message's state."""
        alice = await self.setup_room()
        old = await alice.call("send", {"room": "general", "body": "old one",
                                        "client_msg_id": "o"}, "sent")
        for i in range(3):
            await alice.call("send", {"room": "general", "body": f"newer {i}",
                                      "client_msg_id": f"n{i}"}, "sent")
        await eventually(lambda: self.message_props("general", old["seq"] + 3))
        self.assertNotIn(old["seq"], await self.message_objects("general"))
        await alice.call("react", {"room": "general", "seq": old["seq"], "emoji": "👀"}, "sent")
        await eventually(lambda: self.changed("general"), message="no MessageChanged")
        (target, _, sender, kind, body, details), = self.changed("general")
        self.assertEqual((target, sender, kind, body), (old["seq"], "alice", "reaction",
                                                        "old one"))
        self.assertEqual(details["reactions"], [("👀", ["alice"])])

    async def test_message_history_detailed(self):
        """HistoryDetailed folds edits and reactions into the messages they change and
        pages like History()."""
        alice = await self.setup_room()
        a = await alice.call("send", {"room": "general", "body": "one", "client_msg_id": "1"},
                             "sent")
        b = await self.send("general", "two")
        await alice.call("edit", {"room": "general", "seq": a["seq"], "body": "one!"}, "sent")
        await alice.call("react", {"room": "general", "seq": b, "emoji": "🙂"}, "sent")
        reply = await alice.call("send", {"room": "general", "body": "@desk three",
                                          "reply_to": b, "client_msg_id": "3"}, "sent")

        messages, has_more = await self.history_detailed("general", 0, 0)
        self.assertFalse(has_more)
        self.assertEqual([(m[0], m[2], m[3], m[4]) for m in messages],
                         [(a["seq"], "alice", "one!", "text"), (b, OWNER, "two", "text"),
                          (reply["seq"], "alice", "@desk three", "text")])
        self.assertIn("edited_ts", messages[0][5])
        self.assertEqual(messages[1][5], {"reactions": [("🙂", ["alice"])]})
        self.assertEqual(messages[2][5], {"reply_to": b, "mentions": [OWNER]})

        # A page whose records are all changes still reaches the message before them,
        # so that paging on with the smallest seq returned goes on.
        await alice.call("react", {"room": "general", "seq": b, "emoji": "👍"}, "sent")
        last = (await alice.call("react", {"room": "general", "seq": b, "emoji": "🎉"},
                                 "sent"))["seq"]
        messages, has_more = await self.history_detailed("general", last + 1, 2)
        self.assertEqual([m[0] for m in messages], [reply["seq"]])
        self.assertTrue(has_more)

        # Paging: before the reply, one message.
        messages, has_more = await self.history_detailed("general", b + 1, 1)
        self.assertEqual([m[0] for m in messages], [b])
        self.assertTrue(has_more)

    # Notification levels ----------------------------------------------------------------

    async def owner_session(self):
        """A WebSocket session of the desktop's own account (its password set with
        natterd's --reset-password, as an operator would)."""
        password = password_for(OWNER)
        proc = await asyncio.create_subprocess_exec(
            required_env("NATTERD"), "--data-dir", self.daemon.data_dir, "--reset-password",
            OWNER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, env=self.env)
        await asyncio.wait_for(proc.communicate((password + "\n").encode()), 60)
        self.assertEqual(proc.returncode, 0, "--reset-password failed")
        ws = await open_ws(self.daemon.url(), [JSON_PROTOCOL])
        client = JsonClient(ws, OWNER)
        self.clients.append(client)
        await client.login(OWNER, password)
        return client

    async def test_notification_level_property(self):
        """NotificationLevel starts at "all"; SetNotificationLevel() changes it on the
        server, for the account's other sessions too, and the property follows a change
        made elsewhere."""
        await self.join("general")
        self.assertEqual((await self.room_props("general"))["NotificationLevel"], "all")
        web = await self.owner_session()

        await self.room_call("general", "SetNotificationLevel", "(s)", ("mentions",))
        self.assertEqual((await self.room_props("general"))["NotificationLevel"], "mentions")
        event = await web.next_event("notification_level", room="general")
        self.assertEqual(event["level"], "mentions")
        rooms = (await web.call("rooms", {}, "room_list"))["rooms"]
        self.assertEqual([r["notification_level"] for r in rooms if r["name"] == "general"],
                         ["mentions"])

        # From the account's web session: the D-Bus property follows.
        await web.call("set_notification_level", {"room": "general", "level": "none"}, "ok")

        async def level_is(level):
            return (await self.room_props("general"))["NotificationLevel"] == level
        await eventually(lambda: level_is("none"), message="NotificationLevel did not follow")

        name, _ = await self.room_error("general", "SetNotificationLevel", "(s)", "loud")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")
        self.assertEqual((await self.room_props("general"))["NotificationLevel"], "none")

        # A natterd started again reads it from the server.
        await asyncio.to_thread(self.daemon.stop)
        await self.start_daemon()
        await eventually(lambda: level_is("none"), message="NotificationLevel was not kept")

    async def test_notification_levels_notify(self):
        """natterd's notifications follow each room's level: "none" is silent, "mentions"
        notifies only messages that mention the account (and direct messages), "all" every
        message, as before."""
        await self.start_mock("-t", "notification_daemon")
        alice = await self.ws_user("alice")
        for room, level in (("quiet", "none"), ("busy", "mentions"), ("loud", "all")):
            await alice.call("join", {"room": room}, "joined")
            await self.join(room)
            await self.room_call(room, "SetNotificationLevel", "(s)", (level,))

        async def notifies():
            return [a for (m, a) in await self.mock_calls(*NOTIFICATIONS) if m == "Notify"]

        async def say(room, body, n):
            await alice.call("send", {"room": room, "body": body, "client_msg_id": body}, "sent")
            await eventually(lambda: len(self.watcher.received("MessageReceived",
                                                               room_path(room))) >= n,
                             message=f"no MessageReceived in {room}")

        await say("quiet", "nobody hears this", 1)
        await say("quiet", f"not even @{OWNER}", 2)
        await say("busy", "plain chatter", 1)
        await say("busy", f"@{OWNER} look", 2)
        await say("loud", "everything counts", 1)
        # A direct message notifies in a "mentions" room too.
        dm = await alice.call("send", {"to": OWNER, "body": "psst", "client_msg_id": "dm"},
                              "sent")
        await eventually(lambda: room_path(dm["room"]) in self.managed_objects_sync(),
                         message="no DM room")
        await self.room_call(dm["room"], "SetNotificationLevel", "(s)", ("mentions",))
        await say(dm["room"], "psst again", 2)

        await eventually(lambda: self._bodies(notifies, 4),
                         message="the notifications that should come did not")
        self.assertEqual([n[4] for n in await notifies()],
                         [f"@{OWNER} look", "everything counts", "psst", "psst again"])

    async def test_notification_follows_edit_and_delete(self):
        """A notification shows its message as it is now: an edit replaces its text, a
        deletion closes it (the deleted text must not stay on the screen). A change of
        another message leaves it alone."""
        await self.start_mock("-t", "notification_daemon")
        alice = await self.setup_room()
        calls, count = self.notification_calls, self.notification_calls_reach

        older = await alice.call("send", {"room": "general", "body": "older",
                                          "client_msg_id": "o"}, "sent")
        await eventually(count("Notify", 1), message="no notification")
        sent = await alice.call("send", {"room": "general", "body": "the passwrod is hunter2",
                                         "client_msg_id": "p"}, "sent")
        await eventually(count("Notify", 2), message="no second notification")
        shown_id = (await calls("Notify"))[1][1]
        self.assertNotEqual(shown_id, 0)

        # An edit of a message no longer shown changes nothing.
        await alice.call("edit", {"room": "general", "seq": older["seq"], "body": "old"}, "sent")
        await alice.call("edit", {"room": "general", "seq": sent["seq"],
                                  "body": "the password is in the vault"}, "sent")
        await eventually(count("Notify", 3), message="the edit was not shown")
        notifies = await calls("Notify")
        self.assertEqual(len(notifies), 3)
        (_, replaces, _, summary, body, _, _, _) = notifies[2]
        self.assertEqual((replaces, summary, body),
                         (shown_id, "alice in #general", "the password is in the vault"))
        self.assertEqual(await calls("CloseNotification"), [])

        await alice.call("delete", {"room": "general", "seq": sent["seq"]}, "sent")
        await eventually(count("CloseNotification", 1),
                         message="the deleted message's notification stayed")
        self.assertEqual(await calls("CloseNotification"), [[shown_id]])
        self.assertEqual(len(await calls("Notify")), 3)

    async def _bodies(self, notifies, n):
        return len(await notifies()) >= n


if __name__ == "__main__":
    unittest.main()
