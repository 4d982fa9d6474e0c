#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# natterd's D-Bus service, tested on a private bus against the built daemon with `gdbus`,
# Gio, gjs, dbusmock and WebSocket clients. Each test case is its own meson test; run one
# with
#   NATTERD=… NATTER_DBUS_SERVICE_DIR=… /usr/bin/python3 test_dbus.py DBusTest.test_introspect

import asyncio
import json
import os
import signal
import socket
import unittest

from gi.repository import GLib

from natter_dbus_fixture import (BUS_NAME, CHAT_IFACE, ERROR_PREFIX, JSON_PROTOCOL,
                                 MESSAGE_IFACE, OWNER, ROOM_IFACE, ROOT_PATH, SEARCH_IFACE,
                                 SEARCH_PATH, START_TIMEOUT, DBusTestCase, JsonClient,
                                 activatable, daemon_args, eventually, no_daemon, open_ws,
                                 password_for, required_env, room_path)

NOTIFICATIONS = ("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
APP = ("io.github.natter.Natter", "/io/github/natter/Natter")
PORTAL = ("org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop")


class DBusTest(DBusTestCase):

    async def ws_message(self, client, room, seq=None):
        fields = {"room": room}
        if seq is not None:
            fields["seq"] = seq
        return await client.next_event("message", **fields)

    # ----------------------------------------------------------------------------------

    async def test_introspect(self):
        """gdbus introspect shows the object manager, the root interface and its
        properties, room objects and message objects."""
        await self.join("general")
        seq = await self.send("general", "hello")

        _, out, _ = await self.gdbus("introspect", "--session", "--dest", BUS_NAME,
                                     "--object-path", ROOT_PATH)
        for needle in ("interface org.freedesktop.DBus.ObjectManager",
                       "GetManagedObjects(", "interface io.github.natter.Chat {",
                       "JoinRoom(in  s name,", "SendDirect(", "Broadcast(", "Search(",
                       "readonly s Mode = 'host';", f"readonly s Account = '{OWNER}';",
                       "readonly b Admin = true;", "readonly b Connected = true;",
                       "readonly s Status = 'connected';", "readonly s Node = 'testnode';",
                       "readonly s Epoch = '", "node rooms"):
            self.assertIn(needle, out)

        _, out, _ = await self.gdbus("introspect", "--session", "--dest", BUS_NAME,
                                     "--object-path", ROOT_PATH, "--recurse")
        self.assertIn(f"node {room_path('general')} {{", out)
        self.assertIn(f"node {room_path('system')} {{", out)
        self.assertIn(f"node {room_path('general')}/{seq} {{", out)
        self.assertIn("interface io.github.natter.Chat.Room {", out)
        self.assertIn("interface io.github.natter.Chat.Message {", out)
        for needle in ("Send(in  s body,", "History(in  t before_seq,", "MarkRead(in  t seq);",
                       "Leave();", "SetTyping(in  b active);", "MessageReceived(t seq,",
                       "Typing(s user,", "Receipt(s user,", "Presence(s user,",
                       "readonly s Name = 'general';", "readonly s Kind = 'room';",
                       f"readonly t LastSeq = {seq};", "readonly s Body = 'hello';",
                       f"readonly s Sender = '{OWNER}';"):
            self.assertIn(needle, out)

    async def test_gdbus_send_reaches_websocket(self):
        """A message sent with gdbus is the message WebSocket clients get, same seq."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")

        path = await self.join("general")
        self.assertEqual(path, room_path("general"))
        event = await alice.next_event("member", room="general", user=OWNER)
        self.assertIs(event["joined"], True)

        seq = await self.send("general", "hello from gdbus")
        message = await self.ws_message(alice, "general", seq)
        self.assertEqual((message["sender"], message["body"], message["kind"]),
                         (OWNER, "hello from gdbus", "text"))
        self.assertTrue(message["client_msg_id"].startswith("dbus-"), message)

        props = await self.room_props("general")
        self.assertEqual(props["Members"], ["alice", OWNER])
        self.assertEqual(props["Online"], ["alice", OWNER])
        self.assertEqual((props["LastSeq"], props["ReadSeq"], props["UnreadCount"]),
                         (seq, seq, 0))

        page = await alice.call("history", {"room": "general"}, "history")
        self.assertEqual([(m["seq"], m["body"]) for m in page["messages"]],
                         [(seq, "hello from gdbus")])

    async def test_websocket_message_becomes_object_and_signal(self):
        """A WebSocket message appears as a Message object and a MessageReceived signal;
        MarkRead sends the WebSocket client a receipt."""
        await self.join("general")
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        sent = await alice.call("send", {"room": "general", "body": "hi desk",
                                         "client_msg_id": "a-1"}, "sent")
        seq = sent["seq"]
        path = f"{room_path('general')}/{seq}"

        await eventually(lambda: self.watcher.received("MessageReceived", room_path("general")),
                         message="no MessageReceived signal")
        (signal_path, _, args), = self.watcher.received("MessageReceived", room_path("general"))
        self.assertEqual(args, (seq, sent["ts"], "alice", "hi desk", "text", path))
        added = [a for (_, _, a) in self.watcher.received("InterfacesAdded", ROOT_PATH)
                 if a[0] == path]
        self.assertEqual(len(added), 1)
        self.assertIn(MESSAGE_IFACE, added[0][1])

        messages = await self.message_objects("general")
        self.assertEqual(messages[seq], {"Room": "general", "Seq": seq, "Sender": "alice",
                                         "Body": "hi desk", "Timestamp": sent["ts"],
                                         "Kind": "text", "ClientMsgId": "a-1",
                                         "EditedTimestamp": 0, "ReplyTo": 0, "Reactions": [],
                                         "Mentions": []})
        props = await self.room_props("general")
        self.assertEqual((props["LastSeq"], props["UnreadCount"]), (seq, 1))

        await self.gdbus_call(room_path("general"), ROOM_IFACE + ".MarkRead", "0")
        receipt = await alice.next_event("receipt", room="general")
        self.assertEqual((receipt["user"], receipt["seq"]), (OWNER, seq))
        props = await self.room_props("general")
        self.assertEqual((props["ReadSeq"], props["UnreadCount"]), (seq, 0))

    async def test_window_is_bounded(self):
        """Only the newest 50 messages of a room are objects; History pages the rest."""
        await self.join("busy")
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "busy"}, "joined")
        for i in range(1, 31):
            await alice.call("send", {"room": "busy", "body": f"ws {i}",
                                      "client_msg_id": f"w{i}"}, "sent")
        for i in range(31, 61):
            self.assertEqual(await self.send("busy", f"dbus {i}"), i)

        await eventually(lambda: len(self.watcher.received("MessageReceived",
                                                           room_path("busy"))) == 60,
                         message="not every message was signalled")
        messages = await self.message_objects("busy")
        self.assertEqual(sorted(messages), list(range(11, 61)))
        removed = [a[0] for (_, _, a) in self.watcher.received("InterfacesRemoved", ROOT_PATH)]
        self.assertEqual(sorted(int(p.rsplit("/", 1)[1]) for p in removed), list(range(1, 11)))
        self.assertEqual((await self.room_props("busy"))["LastSeq"], 60)

        page, has_more = await self.gdbus_call(room_path("busy"), ROOM_IFACE + ".History",
                                               "0", "20")
        self.assertEqual([m[0] for m in page], list(range(41, 61)))
        self.assertIs(has_more, True)
        page, has_more = await self.gdbus_call(room_path("busy"), ROOM_IFACE + ".History",
                                               "41", "0")
        self.assertEqual([m[0] for m in page], list(range(1, 41)))
        self.assertEqual(page[0][2:], ("alice", "ws 1", "text"))
        self.assertIs(has_more, False)

    async def test_window_size_option(self):
        """--dbus-window sets the window, and a restarted daemon fills it from history."""
        await self.join("general")
        for i in range(1, 9):
            await self.send("general", f"message {i}")
        self.assertEqual(await asyncio.to_thread(self.daemon.stop), 0)

        await self.start_daemon("--dbus-window", "5")
        await eventually(self._window_is(list(range(4, 9))), message="window is not 4..8")
        seq = await self.send("general", "message 9")
        self.assertEqual(seq, 9)
        await eventually(self._window_is(list(range(5, 10))), message="window is not 5..9")

    @daemon_args("--dbus-window", "0")
    async def test_window_zero_still_signals(self):
        """With no window, messages are only signals."""
        await self.join("general")
        seq = await self.send("general", "fleeting")
        await eventually(lambda: self.watcher.received("MessageReceived", room_path("general")),
                         message="no MessageReceived signal")
        (_, _, args), = self.watcher.received("MessageReceived", room_path("general"))
        self.assertEqual((args[0], args[3]), (seq, "fleeting"))
        self.assertEqual(await self.message_objects("general"), {})
        self.assertEqual((await self.room_props("general"))["LastSeq"], seq)

    def _window_is(self, expected):
        async def check():
            return sorted(await self.message_objects("general")) == expected
        return check

    async def test_errors_are_dbus_errors(self):
        """Hub errors come back as the documented io.github.natter.Chat.Error.* names."""
        alice = await self.ws_user("alice")
        await self.ws_user("bob")
        await alice.call("send", {"to": "bob", "body": "psst", "client_msg_id": "p"}, "sent")
        await self.join("general")

        cases = [
            (ROOT_PATH, CHAT_IFACE + ".JoinRoom", ["Bad Name"], "BadRequest"),
            (ROOT_PATH, CHAT_IFACE + ".JoinRoom", ["dm:alice:bob"], "Forbidden"),
            (ROOT_PATH, CHAT_IFACE + ".SendDirect", ["nobody", "hi"], "NotFound"),
            (ROOT_PATH, CHAT_IFACE + ".SendDirect", [OWNER, "hi"], "BadRequest"),
            (ROOT_PATH, CHAT_IFACE + ".Search", ["", "", "0"], "BadRequest"),
            (ROOT_PATH, CHAT_IFACE + ".Search", ["x", "dm:alice:bob", "0"], "Forbidden"),
            (room_path("general"), ROOM_IFACE + ".Send", [""], "BadRequest"),
            (room_path("general"), ROOM_IFACE + ".Send", ["x" * 17000], "TooLarge"),
            (room_path("general"), ROOM_IFACE + ".History", ["0", "500"], "BadRequest"),
            (room_path("system"), ROOM_IFACE + ".Send", ["hi"], "Forbidden"),
            (room_path("system"), ROOM_IFACE + ".Leave", [], "Forbidden"),
            (room_path("system"), ROOM_IFACE + ".SetTyping", ["true"], "Forbidden"),
        ]
        for path, method, args, expected in cases:
            name, message = await self.gdbus_call_error(path, method, *args)
            self.assertEqual(name, ERROR_PREFIX + expected, f"{method} {str(args)[:60]}")
            self.assertNotEqual(message.strip(), "")

        # Through Gio, as the GTK app sees them.
        name, _ = await self.watcher.call_error(BUS_NAME, ROOT_PATH, CHAT_IFACE, "JoinRoom",
                                                GLib.Variant("(s)", ("no/slash",)), "(o)")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")

    @daemon_args("--rate", "1", "--rate-burst", "1")
    async def test_rate_limited_error(self):
        """Sending too fast over D-Bus is RateLimited, like over WebSocket."""
        await self.join("general")
        await self.send("general", "one")
        name, _ = await self.gdbus_call_error(room_path("general"), ROOM_IFACE + ".Send", "two")
        self.assertEqual(name, ERROR_PREFIX + "RateLimited")

    async def test_direct_messages_and_broadcast(self):
        """SendDirect creates the DM room object; DMs from others and broadcasts arrive as
        objects and signals."""
        alice = await self.ws_user("alice")
        (seq,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SendDirect", "alice", "hi alice")
        message = await self.ws_message(alice, f"dm:alice:{OWNER}", seq)
        self.assertEqual((message["sender"], message["body"]), (OWNER, "hi alice"))

        dm = room_path(f"dm:alice:{OWNER}")
        self.assertEqual(dm, ROOT_PATH + "/rooms/dm_3aalice_3adesk")
        await eventually(self._has_message(f"dm:alice:{OWNER}", seq), message="no DM object")
        props = await self.room_props(f"dm:alice:{OWNER}")
        self.assertEqual((props["Name"], props["Kind"]), (f"dm:alice:{OWNER}", "dm"))

        sent = await alice.call("send", {"to": OWNER, "body": "hi desk",
                                         "client_msg_id": "a1"}, "sent")
        await eventually(lambda: self.watcher.received("MessageReceived", dm)[-1:] and
                         self.watcher.received("MessageReceived", dm)[-1][2][0] == sent["seq"],
                         message="no MessageReceived for the DM")

        # Bob starts a DM with the owner: a room the service did not know appears.
        bob = await self.ws_user("bob")
        sent = await bob.call("send", {"to": OWNER, "body": "hello from bob",
                                       "client_msg_id": "b1"}, "sent")
        await eventually(self._has_message(f"dm:bob:{OWNER}", sent["seq"]),
                         message="no object for bob's DM")
        props = await self.room_props(f"dm:bob:{OWNER}")
        self.assertEqual(props["Kind"], "dm")
        await eventually(self._members_are(f"dm:bob:{OWNER}", ["bob", OWNER]),
                         message="the DM's members were not loaded")

        (seq,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Broadcast", "maintenance at 5")
        for client in (alice, bob):
            message = await self.ws_message(client, "system", seq)
            self.assertEqual((message["sender"], message["kind"]), (OWNER, "broadcast"))
        await eventually(self._has_message("system", seq), message="no broadcast object")
        self.assertEqual((await self.message_objects("system"))[seq]["Kind"], "broadcast")

    def _has_message(self, room, seq):
        async def check():
            return seq in await self.message_objects(room)
        return check

    def _members_are(self, room, members):
        async def check():
            return (await self.room_props(room))["Members"] == members
        return check

    async def test_typing_receipts_presence(self):
        """Typing, receipts and presence of members arrive as signals and properties;
        SetTyping reaches WebSocket members."""
        general = room_path("general")
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")

        await alice.send_frame({"typing": {"room": "general", "active": True}})
        await eventually(lambda: ("alice", True) in [a for (_, _, a) in
                                                     self.watcher.received("Typing", general)],
                         message="no Typing signal")

        # A message of the desktop user's that alice reads (her own would not move her
        # marker, so it would announce nothing).
        seq = await self.send("general", "x")
        await alice.call("read", {"room": "general", "seq": seq}, "ok")
        await eventually(lambda: ("alice", seq) in
                         [a for (_, _, a) in self.watcher.received("Receipt", general)],
                         message="no Receipt signal")

        await self.gdbus_call(general, ROOM_IFACE + ".SetTyping", "true")
        typing = await alice.next_event("typing", room="general")
        self.assertEqual((typing["user"], typing["active"]), (OWNER, True))

        bob = await self.ws_user("bob")
        await bob.call("join", {"room": "general"}, "joined")
        await eventually(self._members_are("general", ["alice", "bob", OWNER]),
                         message="bob is not listed as a member")
        await eventually(self._online_is("general", ["alice", "bob", OWNER]),
                         message="bob is not listed as online")
        self.clients.remove(bob)
        await bob.close()
        await eventually(lambda: ("bob", False) in
                         [a for (_, _, a) in self.watcher.received("Presence", general)],
                         message="no Presence signal")
        await eventually(self._online_is("general", ["alice", OWNER]),
                         message="bob is still online")

    def _online_is(self, room, online):
        async def check():
            return (await self.room_props(room))["Online"] == online
        return check

    async def test_leave_removes_objects(self):
        """Leave removes the room and its message objects; members see the account go."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")
        seq = await self.send("general", "bye")
        await eventually(self._has_message("general", seq))

        await self.gdbus_call(room_path("general"), ROOM_IFACE + ".Leave")
        event = await alice.next_event("member", room="general", user=OWNER, joined=False)
        self.assertEqual(event["user"], OWNER)
        objects = await self.managed_objects()
        self.assertFalse([p for p in objects if p.startswith(room_path("general"))], objects)
        # The watcher hears the signals on its own connection, maybe after the call returned.
        def removed():
            paths = {a[0] for (_, _, a) in self.watcher.received("InterfacesRemoved", ROOT_PATH)}
            return {room_path("general"), f"{room_path('general')}/{seq}"} <= paths
        await eventually(removed, message="no InterfacesRemoved for the room and its message")

        # Joining again brings it back with its recent messages.
        await self.join("general")
        await eventually(self._has_message("general", seq), message="window not reloaded")

    async def test_search(self):
        """Search, and GNOME Shell's search provider, return matching messages."""
        await self.join("general")
        await self.send("general", "the quick brown fox")
        await self.send("general", "lazy dogs sleep")
        await self.send("general", "foxes are quick")

        (results,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Search", "quick", "", "0")
        self.assertEqual([(r[0], r[1], r[3], r[4]) for r in results],
                         [("general", 3, OWNER, "foxes are quick"),
                          ("general", 1, OWNER, "the quick brown fox")])
        (results,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Search", "quick", "general",
                                           "1")
        self.assertEqual([r[1] for r in results], [3])

        (ids,) = await self.gdbus_call(SEARCH_PATH, SEARCH_IFACE + ".GetInitialResultSet",
                                       "['qui']")
        self.assertEqual(ids, ["general#3", "general#1"])
        (ids,) = await self.gdbus_call(SEARCH_PATH, SEARCH_IFACE + ".GetSubsearchResultSet",
                                       "['general#3', 'general#1']", "['quick', 'brown']")
        self.assertEqual(ids, ["general#1"])
        (metas,) = await self.gdbus_call(SEARCH_PATH, SEARCH_IFACE + ".GetResultMetas",
                                         "['general#1', 'unknown#9']")
        self.assertEqual(metas, [{"id": "general#1", "name": f"{OWNER} in #general",
                                  "description": "the quick brown fox",
                                  "clipboardText": "the quick brown fox"}])
        (ids,) = await self.gdbus_call(SEARCH_PATH, SEARCH_IFACE + ".GetInitialResultSet",
                                       "['\"(*']")
        self.assertEqual(ids, [])

        # Activating a result opens its room in the app.
        await self.start_mock(APP[0], APP[1], "org.freedesktop.Application")
        await self.watcher.call(APP[0], APP[1], "org.freedesktop.DBus.Mock", "AddMethod",
                                GLib.Variant("(sssss)", ("", "ActivateAction", "sava{sv}", "",
                                                         "")))
        await self.gdbus_call(SEARCH_PATH, SEARCH_IFACE + ".ActivateResult", "general#1",
                              "['quick']", "0")
        await eventually(self._app_action_called("open-message", ("general", 1), {}),
                         message="the app was not asked to open the room at the message")
        # The time of the click becomes X11's startup notification id.
        await self.gdbus_call(SEARCH_PATH, SEARCH_IFACE + ".ActivateResult", "general#1",
                              "['quick']", "1234")
        await eventually(self._app_action_called("open-message", ("general", 1),
                                                 {"desktop-startup-id": "_TIME1234"}),
                         message="the click's time was not passed on")

    def _app_action_called(self, action, parameter, platform_data=None):
        """Whether the app was asked for @action with @parameter (and, if given, with
        exactly @platform_data)."""
        async def check():
            calls = await self.mock_calls(*APP)
            return any(m == "ActivateAction" and a[0] == action and list(a[1]) == [parameter] and
                       (platform_data is None or dict(a[2]) == platform_data)
                       for (m, a) in calls)
        return check

    async def test_notifications(self):
        """New messages from others in rooms nobody views raise a notification through
        org.freedesktop.Notifications; viewing or reading the room withdraws it."""
        await self.start_mock("-t", "notification_daemon")
        general = room_path("general")
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")

        async def notifies():
            return [a for (m, a) in await self.mock_calls(*NOTIFICATIONS) if m == "Notify"]

        await self.send("general", "my own message")
        await alice.call("send", {"room": "general", "body": "<b>hi</b> desk",
                                  "client_msg_id": "1"}, "sent")
        await eventually(notifies, message="no notification")
        (app, replaces, icon, summary, body, actions, hints, _), = await notifies()
        self.assertEqual((app, replaces, icon), ("Natter", 0, "io.github.natter.Natter"))
        self.assertEqual((summary, body), ("alice in #general", "&lt;b&gt;hi&lt;/b&gt; desk"))
        self.assertEqual(list(actions)[0], "default")
        self.assertEqual(hints["desktop-entry"], "io.github.natter.Natter")

        # The next message replaces the room's notification.
        await alice.call("send", {"room": "general", "body": "again", "client_msg_id": "2"},
                         "sent")
        await eventually(self._n_notifies(notifies, 2), message="no second notification")
        self.assertEqual((await notifies())[1][1], 1)

        # Reading the room withdraws it.
        await self.gdbus_call(general, ROOM_IFACE + ".MarkRead", "0")
        await eventually(self._mock_called(NOTIFICATIONS, "CloseNotification"),
                         message="the notification was not withdrawn")

        # Clicking it opens the room in the app.
        await self.start_mock(APP[0], APP[1], "org.freedesktop.Application")
        await self.watcher.call(APP[0], APP[1], "org.freedesktop.DBus.Mock", "AddMethod",
                                GLib.Variant("(sssss)", ("", "ActivateAction", "sava{sv}", "",
                                                         "")))
        third = await alice.call("send", {"room": "general", "body": "third",
                                          "client_msg_id": "3"}, "sent")
        await eventually(self._n_notifies(notifies, 3), message="no third notification")
        # The mock numbers new notifications 1, 2, …: this one, after a close, is 2. As
        # GNOME Shell does, the server sends an activation token before the action.
        await self.watcher.call(*NOTIFICATIONS, "org.freedesktop.DBus.Mock", "EmitSignal",
                                GLib.Variant("(sssav)", ("org.freedesktop.Notifications",
                                                         "ActivationToken", "us",
                                                         [GLib.Variant("u", 2),
                                                          GLib.Variant("s", "token-17")])))
        await self.watcher.call(*NOTIFICATIONS, "org.freedesktop.DBus.Mock", "EmitSignal",
                                GLib.Variant("(sssav)", ("org.freedesktop.Notifications",
                                                         "ActionInvoked", "us",
                                                         [GLib.Variant("u", 2),
                                                          GLib.Variant("s", "default")])))
        await eventually(self._app_action_called("open-message", ("general", third["seq"]),
                                                 {"activation-token": "token-17",
                                                  "desktop-startup-id": "token-17"}),
                         message="the app was not asked to open the message, with the token")

        # While a caller views the room, nothing is shown.
        await self.watcher.call(BUS_NAME, general, ROOM_IFACE, "SetViewed",
                                GLib.Variant("(b)", (True,)))
        await alice.call("send", {"room": "general", "body": "seen", "client_msg_id": "4"},
                         "sent")
        await eventually(lambda: self.watcher.received("MessageReceived", general)[-1][2][3]
                         == "seen")
        # A message in another room still notifies: proves nothing is just slow.
        await alice.call("join", {"room": "other"}, "joined")
        await self.join("other")
        await alice.call("send", {"room": "other", "body": "elsewhere", "client_msg_id": "5"},
                         "sent")
        await eventually(self._n_notifies(notifies, 4), message="no notification for other")
        self.assertEqual([n[4] for n in await notifies()], ["&lt;b&gt;hi&lt;/b&gt; desk",
                                                             "again", "third", "elsewhere"])

        # A front end that shows notifications itself silences the daemon.
        await self.watcher.call(BUS_NAME, ROOT_PATH, CHAT_IFACE, "SetNotificationsHandled",
                                GLib.Variant("(b)", (True,)))
        await alice.call("send", {"room": "other", "body": "quiet", "client_msg_id": "6"},
                         "sent")
        await eventually(lambda: self.watcher.received("MessageReceived",
                                                       room_path("other"))[-1][2][3] == "quiet")
        await self.watcher.call(BUS_NAME, ROOT_PATH, CHAT_IFACE, "SetNotificationsHandled",
                                GLib.Variant("(b)", (False,)))
        await alice.call("send", {"room": "other", "body": "loud", "client_msg_id": "7"},
                         "sent")
        await eventually(self._n_notifies(notifies, 5), message="no notification after")
        self.assertEqual((await notifies())[4][4], "loud")

    @no_daemon
    async def test_notifications_portal(self):
        """In a sandbox (GIO_USE_PORTALS=1 stands in for a Flatpak) notifications go
        through the notification portal, never to the notification server, with the GTK
        app's ids; reading the room withdraws it and a click handed back opens it."""
        await self.start_mock("-t", "notification_daemon")
        await self.start_mock(*PORTAL, "org.freedesktop.portal.Notification")
        for method, signature in (("AddNotification", "sa{sv}"), ("RemoveNotification", "s")):
            await self.watcher.call(PORTAL[0], PORTAL[1], "org.freedesktop.DBus.Mock",
                                    "AddMethod", GLib.Variant("(sssss)", (
                                        "", method, signature, "", "")))
        self.daemon.env["GIO_USE_PORTALS"] = "1"
        await self.start_daemon()
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")

        async def added():
            return [a for (m, a) in await self.mock_calls(*PORTAL) if m == "AddNotification"]

        first = await alice.call("send", {"room": "general", "body": "<b>hi</b> desk",
                                          "client_msg_id": "1"}, "sent")
        await eventually(added, message="no notification through the portal")
        (note_id, note), = await added()
        self.assertEqual(note_id, "room:general")
        self.assertEqual(note, {"title": "alice in #general", "body": "<b>hi</b> desk",
                                "default-action": "app.open-message",
                                "default-action-target": ("general", first["seq"])})

        await self.gdbus_call(room_path("general"), ROOM_IFACE + ".MarkRead", "0")
        await eventually(self._mock_called(PORTAL, "RemoveNotification"),
                         message="the notification was not withdrawn")
        self.assertEqual([a for (m, a) in await self.mock_calls(*PORTAL)
                          if m == "RemoveNotification"], [["room:general"]])

        await self.start_mock(APP[0], APP[1], "org.freedesktop.Application")
        await self.watcher.call(APP[0], APP[1], "org.freedesktop.DBus.Mock", "AddMethod",
                                GLib.Variant("(sssss)", ("", "ActivateAction", "sava{sv}", "",
                                                         "")))
        again = await alice.call("send", {"room": "general", "body": "again",
                                          "client_msg_id": "2"}, "sent")
        await eventually(self._n_notifies(added, 2), message="no second notification")
        # The target, then the platform data with the activation token (newer portals).
        await self.watcher.call(*PORTAL, "org.freedesktop.DBus.Mock", "EmitSignal",
                                GLib.Variant("(sssav)", (
                                    "org.freedesktop.portal.Notification", "ActionInvoked",
                                    "ssav", [GLib.Variant("s", "room:general"),
                                             GLib.Variant("s", "app.open-message"),
                                             GLib.Variant("av", [
                                                 GLib.Variant("(st)", ("general", again["seq"])),
                                                 GLib.Variant("a{sv}", {
                                                     "activation-token": GLib.Variant("s", "tok")})
                                             ])])))
        await eventually(self._app_action_called("open-message", ("general", again["seq"]),
                                                 {"activation-token": "tok",
                                                  "desktop-startup-id": "tok"}),
                         message="the app was not asked to open the message")
        self.assertEqual(await self.mock_calls(*NOTIFICATIONS), [])

    def _n_notifies(self, notifies, n):
        async def check():
            return len(await notifies()) >= n
        return check

    def _mock_called(self, mock, method):
        async def check():
            return any(m == method for (m, _) in await self.mock_calls(*mock))
        return check

    async def test_gjs_object_manager_client(self):
        """A gjs script, like a GNOME Shell extension, lists the rooms through
        Gio.DBusObjectManagerClient, follows new messages and answers in a room."""
        await self.join("general")
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")

        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "follow-rooms.js")
        proc = await asyncio.create_subprocess_exec("gjs", script, "2", env=self.env,
                                                    stdout=asyncio.subprocess.PIPE)
        try:
            async def next_line():
                line = await asyncio.wait_for(proc.stdout.readline(), 30)
                self.assertTrue(line, "gjs ended early")
                return json.loads(line)

            ready = await next_line()
            self.assertEqual(ready["event"], "ready")
            self.assertEqual([(r["name"], r["kind"]) for r in ready["rooms"]],
                             [("general", "room"), ("system", "system")])
            self.assertEqual(ready["rooms"][0]["members"], ["alice", OWNER])

            seqs = []
            for body in ("first", "second"):
                sent = await alice.call("send", {"room": "general", "body": body,
                                                 "client_msg_id": body}, "sent")
                seqs.append(sent["seq"])
            events = []
            while not events or events[-1]["event"] not in ("sent", "error"):
                events.append(await next_line())
            messages = [(e["seq"], e["sender"], e["body"]) for e in events
                        if e["event"] == "message"]
            objects = [(e["seq"], e["sender"], e["body"]) for e in events
                       if e["event"] == "object"]
            expected = [(seqs[0], "alice", "first"), (seqs[1], "alice", "second")]
            self.assertEqual(messages, expected)
            self.assertEqual(objects, expected)
            self.assertEqual(events[-1]["event"], "sent", events[-1])

            reply = await self.ws_message(alice, "general", events[-1]["seq"])
            self.assertEqual((reply["sender"], reply["body"]), (OWNER, "reply from gjs"))
            self.assertEqual(await asyncio.wait_for(proc.wait(), 30), 0)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    @no_daemon
    async def test_owner_account_never_taken_over(self):
        """An account of the owner's name that someone registered over the network (here
        while natterd served without D-Bus) is never adopted: natterd refuses to offer
        D-Bus as it and says what to do. The owner account natterd creates exists before
        it listens, so nobody can register its name first."""
        await asyncio.to_thread(self.daemon.start, "--no-dbus")
        stranger = await self.ws_user(OWNER)
        await stranger.call("join", {"room": "general"}, "joined")
        self.assertEqual(self.daemon.stop(), 0)

        refused = self.daemon.spawn()
        await asyncio.to_thread(refused.wait, START_TIMEOUT)
        self.assertEqual(refused.returncode, 1, self.daemon.log_text())
        self.assertIn(f"the account “{OWNER}” exists but natterd did not create it",
                      self.daemon.log_text())
        self.assertIn("--owner NAME", self.daemon.log_text())
        self.assertIsNone(self.watcher.name_owner(BUS_NAME))
        self.assertFalse(os.path.exists(refused.ready_file))

        # Another owner name: natterd creates it before serving, marked as its own, so
        # registering it over the network is a conflict, and a restart adopts it.
        await self.start_daemon("--owner", "desk2")
        ws = await open_ws(self.daemon.url(), [JSON_PROTOCOL])
        late = JsonClient(ws, "late")
        self.clients.append(late)
        frame = await late.request("register", {"user": "desk2",
                                                "password": password_for("desk2")},
                                   expect_error=True)
        self.assertEqual(frame["error"]["code"], "conflict", frame)
        self.assertEqual(self.daemon.stop(), 0)
        await self.start_daemon("--owner", "desk2")
        await self.join("general")

    @no_daemon
    async def test_name_lost_exits_cleanly(self):
        """A natterd that loses its name to `natterd --replace` exits with status 0; one
        that finds the name taken exits with an error, leaving the owner alone."""
        await self.start_daemon()
        first = self.daemon.proc
        first_owner = self.watcher.name_owner(BUS_NAME)

        other = os.path.join(self.workdir, "other")
        second = self.daemon.spawn("--replace", data_dir=other)
        self.helpers.append(second)
        await eventually(lambda: first.poll() is not None, 20,
                         message="the replaced natterd did not exit")
        self.assertEqual(first.returncode, 0)
        await eventually(lambda: self.watcher.name_owner(BUS_NAME) not in (None, first_owner))
        second_owner = self.watcher.name_owner(BUS_NAME)

        third = self.daemon.spawn(data_dir=os.path.join(self.workdir, "third"))
        self.helpers.append(third)
        rc = await asyncio.to_thread(third.wait, 20)
        self.assertNotEqual(rc, 0)
        self.assertGreater(rc, 0, "natterd crashed instead of exiting")
        self.assertEqual(self.watcher.name_owner(BUS_NAME), second_owner)
        (props,) = await self.watcher.call(BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.Properties",
                                           "GetAll", GLib.Variant("(s)", (CHAT_IFACE,)),
                                           "(a{sv})")
        self.assertEqual(props["Account"], OWNER)

        second.send_signal(signal.SIGTERM)
        self.assertEqual(await asyncio.to_thread(second.wait, 20), 0)

    @no_daemon
    @activatable
    async def test_activation(self):
        """The bus starts natterd from its activation file when a client calls it."""
        (props,) = await self.gdbus_call(ROOT_PATH, "org.freedesktop.DBus.Properties.GetAll",
                                         CHAT_IFACE)
        self.assertEqual(props["Mode"], "host")
        owner = self.watcher.name_owner(BUS_NAME)
        self.assertIsNotNone(owner)
        (pid,) = await self.watcher.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                         GLib.Variant("(s)", (owner,)), "(u)")
        path = await self.join("general")
        self.assertEqual(path, room_path("general"))

        os.kill(pid, signal.SIGTERM)
        await eventually(lambda: self.watcher.name_owner(BUS_NAME) is None, 20,
                         message="the activated natterd did not exit")
        # dbus-daemon, its parent, reaps it.
        await eventually(lambda: not os.path.exists(f"/proc/{pid}"), 20,
                         message="the activated natterd is still running")

    # The desktop's choice of mode ------------------------------------------------------

    async def test_mode_switches_both_ways(self):
        """Connect() from host mode switches to upstream mode without a restart;
        SetMode("host") comes back to the local history as it was; the choice is
        remembered across restarts, and SetMode("upstream") reuses the last server."""
        url, alice = await self.remote_server()
        await self.join("local-room")
        local_seq = await self.send("local-room", "kept here")
        props = await self.root_props()
        self.assertEqual((props["Mode"], props["ModeChosen"]), ("host", False))
        self.assertIsNone(self.mode_file())

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Connect", url, "alice",
                              password_for("alice"), "false")
        props = await self.root_props()
        self.assertEqual((props["Mode"], props["Account"], props["Status"], props["ModeChosen"]),
                         ("upstream", "alice", "connected", True))
        await eventually(lambda: room_path("remote-room") in self.managed_objects_sync(),
                         message="the server's room did not appear")
        self.assertNotIn(room_path("local-room"), await self.managed_objects())
        seq = await self.send("remote-room", "from the desktop")
        event = await alice.next_event("message", room="remote-room", body="from the desktop")
        self.assertEqual((event["seq"], event["sender"]), (seq, "alice"))
        await eventually(lambda: "mode=upstream" in (self.mode_file() or ""),
                         message="upstream mode was not remembered")
        self.assertIn(f"upstream={url}", self.mode_file())

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SetMode", "host")
        props = await self.root_props()
        self.assertEqual((props["Mode"], props["Account"], props["Status"]),
                         ("host", OWNER, "connected"))
        await eventually(lambda: room_path("local-room") in self.managed_objects_sync(),
                         message="the local room did not come back")
        self.assertNotIn(room_path("remote-room"), await self.managed_objects())
        (messages, _) = await self.gdbus_call(room_path("local-room"), ROOM_IFACE + ".History",
                                              "0", "0")
        self.assertEqual([(m[0], m[3]) for m in messages], [(local_seq, "kept here")])
        await eventually(lambda: "mode=host" in (self.mode_file() or ""),
                         message="host mode was not remembered")

        # Started again (as D-Bus activation would, with no options), it hosts and knows
        # the choice was made; SetMode("upstream") goes back to the last server.
        self.assertEqual(await asyncio.to_thread(self.daemon.stop), 0)
        await self.start_daemon()
        props = await self.root_props()
        self.assertEqual((props["Mode"], props["ModeChosen"]), ("host", True))
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SetMode", "upstream")
        props = await self.root_props()
        self.assertEqual(props["Mode"], "upstream")
        await eventually(lambda: "mode=upstream" in (self.mode_file() or ""),
                         message="upstream mode was not remembered")

        # Started in upstream mode from mode.ini, it switches back to hosting too.
        self.assertEqual(await asyncio.to_thread(self.daemon.stop), 0)
        self.daemon.proc = self.daemon.spawn()
        await eventually(lambda: self.watcher.name_owner(BUS_NAME), START_TIMEOUT,
                         message=f"natterd did not take {BUS_NAME}")
        props = await self.root_props()
        self.assertEqual((props["Mode"], props["ModeChosen"]), ("upstream", True))
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SetMode", "host")
        await eventually(lambda: room_path("local-room") in self.managed_objects_sync(),
                         message="the local room did not come back")
        self.assertEqual((await self.root_props())["Mode"], "host")

    async def test_set_mode_refuses(self):
        """SetMode() names what is wrong: an unknown mode, or upstream mode before any
        server was given."""
        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".SetMode", "cloud")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")
        self.assertIn("“host” or “upstream”", message)
        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".SetMode",
                                                    "upstream")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")
        self.assertIn("No server", message)
        # Cleartext to another machine is refused before natterd leaves host mode.
        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".Connect",
                                                    "ws://chat.example.org/ws", "alice", "x",
                                                    "false")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")
        self.assertIn("is not encrypted", message)
        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".SetMode",
                                                    "upstream")
        self.assertIn("No server", message)
        self.assertEqual((await self.root_props())["Mode"], "host")


    # Where host mode listens -------------------------------------------------------------

    @no_daemon
    async def test_port_taken_keeps_dbus(self):
        """With its port taken, natterd for the desktop still serves D-Bus and says why
        others cannot join (ListenError); SetListenAddress() moves it to a free port at
        once, remembers it, and refuses a taken one with a clear error."""
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        self.addCleanup(taken.close)
        port = taken.getsockname()[1]
        await self.start_daemon("--listen", f"127.0.0.1:{port}")
        props = await self.root_props()
        self.assertEqual(props["ListenAddress"], f"127.0.0.1:{port}")
        self.assertIn("in use", props["ListenError"])
        self.assertEqual(props["WebAddresses"], [])
        # The chat works over D-Bus all the same.
        await self.join("general")
        await self.send("general", "still here")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SetListenAddress", "127.0.0.1:0")
        props = await self.root_props()
        self.assertEqual(props["ListenError"], "")
        new_port = int(props["ListenAddress"].rpartition(":")[2])
        self.assertNotEqual(new_port, 0)
        self.assertEqual(props["WebAddresses"], [f"http://127.0.0.1:{new_port}/"])
        self.daemon.port = new_port
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await eventually(lambda: "listen=127.0.0.1:0" in (self.mode_file() or ""),
                         message="the address was not remembered")

        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".SetListenAddress",
                                                    f"127.0.0.1:{port}")
        self.assertEqual(name, ERROR_PREFIX + "Unavailable")
        self.assertIn(f"Cannot listen on 127.0.0.1:{port}", message)
        self.assertIn("in use", (await self.root_props())["ListenError"])
        name, _ = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".SetListenAddress",
                                              "not an address")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")

    async def test_listen_for_everyone(self):
        """Listening on every interface lists the addresses others use, none of them
        loopback; back on 127.0.0.1 only this computer's address is listed."""
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SetListenAddress", "0.0.0.0:0")
        props = await self.root_props()
        port = int(props["ListenAddress"].rpartition(":")[2])
        self.assertTrue(props["ListenAddress"].startswith("0.0.0.0:"))
        for url in props["WebAddresses"]:
            self.assertTrue(url.startswith("http://") and url.endswith(f":{port}/"), url)
            self.assertNotIn("127.0.0.1", url)
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SetListenAddress", "127.0.0.1:0")
        props = await self.root_props()
        self.assertEqual(len(props["WebAddresses"]), 1)
        self.assertTrue(props["WebAddresses"][0].startswith("http://127.0.0.1:"))


    # Sends that can be retried ----------------------------------------------------------

    async def test_send_with_id_is_stored_once(self):
        """SendWithId() called again with the same identifier, even after natterd
        restarted, returns the first seq and sends nothing twice; the message object
        carries the identifier."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        path = await self.join("general")
        (seq,) = await self.gdbus_call(path, ROOM_IFACE + ".SendWithId", "only once", "app-1")
        event = await alice.next_event("message", room="general", body="only once")
        self.assertEqual((event["seq"], event["client_msg_id"]), (seq, "app-1"))
        self.assertEqual((await self.message_objects("general"))[seq]["ClientMsgId"], "app-1")
        (again,) = await self.gdbus_call(path, ROOM_IFACE + ".SendWithId", "only once", "app-1")
        self.assertEqual(again, seq)

        self.assertEqual(await asyncio.to_thread(self.daemon.stop), 0)
        await self.start_daemon()
        ws = await open_ws(self.daemon.url(), [JSON_PROTOCOL])
        alice = JsonClient(ws, "alice")
        self.clients.append(alice)
        await alice.login("alice", password_for("alice"))
        await alice.call("join", {"room": "general"}, "joined")
        (again,) = await self.gdbus_call(path, ROOM_IFACE + ".SendWithId", "only once", "app-1")
        self.assertEqual(again, seq)
        (after,) = await self.gdbus_call(path, ROOM_IFACE + ".SendWithId", "next", "app-2")
        self.assertEqual(after, seq + 1)
        event = await alice.next_event("message", room="general")
        self.assertEqual((event["seq"], event["body"]), (after, "next"))

        name, _ = await self.gdbus_call_error(path, ROOM_IFACE + ".SendWithId", "no id", "")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")


    # The app's notification settings ----------------------------------------------------

    async def start_with_app_settings(self, **settings):
        """natterd reading the app's settings from a keyfile, as it reads dconf on a
        desktop, with @settings (key=value) set by the gsettings tool before it starts."""
        config = os.path.join(self.workdir, "config")
        self.settings_env = dict(self.env, GSETTINGS_BACKEND="keyfile", XDG_CONFIG_HOME=config,
                                 GSETTINGS_SCHEMA_DIR=required_env("NATTER_SCHEMA_DIR"))
        for key, value in settings.items():
            await self.gsettings_set(key.replace("_", "-"), value)
        self.daemon.env.update(self.settings_env)
        await self.start_mock("-t", "notification_daemon")
        await self.start_daemon()
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")
        return alice

    async def gsettings_set(self, key, value):
        proc = await asyncio.create_subprocess_exec(
            "gsettings", "set", "io.github.natter.Natter", key, value, env=self.settings_env)
        self.assertEqual(await proc.wait(), 0, f"gsettings set {key} {value} failed")

    async def notified_bodies(self):
        return [a[4] for (m, a) in await self.mock_calls(*NOTIFICATIONS) if m == "Notify"]

    @no_daemon
    async def test_notifications_hide_text_when_the_app_says_so(self):
        """With the app's "Show message text" off, natterd's notification says who
        wrote but not what; turned on again, it shows the text."""
        alice = await self.start_with_app_settings(notification_preview="false")
        await alice.call("send", {"room": "general", "body": "a secret", "client_msg_id": "1"},
                         "sent")
        await eventually(self.notified_bodies, message="no notification")
        self.assertEqual(await self.notified_bodies(), ["New message"])

        # natterd follows a change made while it runs.
        await self.gsettings_set("notification-preview", "true")
        n = 1

        async def shows_text():
            nonlocal n
            n += 1
            await alice.call("send", {"room": "general", "body": f"visible {n}",
                                      "client_msg_id": str(n)}, "sent")
            return any(b.startswith("visible") for b in await self.notified_bodies())

        await eventually(shows_text, message="natterd did not follow the setting")
        self.assertNotIn("a secret", await self.notified_bodies())

    @no_daemon
    async def test_no_notifications_when_the_app_says_so(self):
        """With the app's "Show notifications" off, natterd shows none; turned on again,
        it shows them for new messages only."""
        alice = await self.start_with_app_settings(notifications="false")
        await alice.call("send", {"room": "general", "body": "unseen", "client_msg_id": "1"},
                         "sent")
        await self.gsettings_set("notifications", "true")
        n = 1

        async def notifies():
            nonlocal n
            n += 1
            await alice.call("send", {"room": "general", "body": f"seen {n}",
                                      "client_msg_id": str(n)}, "sent")
            return await self.notified_bodies()

        await eventually(notifies, message="natterd did not follow the setting")
        self.assertNotIn("unseen", await self.notified_bodies())


    async def test_create_account_on_a_server(self):
        """CreateAccount() creates the account on the server and signs in to it (from
        host mode too); a name that is taken fails with Conflict."""
        url, alice = await self.remote_server()
        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".CreateAccount", url,
                                                    "alice", "another password", "false")
        self.assertEqual(name, ERROR_PREFIX + "Conflict", message)
        self.assertNotEqual((await self.root_props())["Status"], "connected")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".CreateAccount", url, "carol",
                              password_for("carol"), "false")
        props = await self.root_props()
        self.assertEqual((props["Mode"], props["Account"], props["Status"]),
                         ("upstream", "carol", "connected"))
        # The account is the server's: carol signs in there from a browser too.
        ws = await open_ws(url, [JSON_PROTOCOL])
        carol = JsonClient(ws, "carol")
        self.clients.append(carol)
        await carol.login("carol", password_for("carol"))
        seq = await self.send_direct_from_desktop("alice", "hello from carol's desktop")
        event = await alice.next_event("message", body="hello from carol's desktop")
        self.assertEqual((event["seq"], event["sender"]), (seq, "carol"))

    async def send_direct_from_desktop(self, to, body):
        (seq,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SendDirect", to, body)
        return seq


if __name__ == "__main__":
    unittest.main(verbosity=2)
