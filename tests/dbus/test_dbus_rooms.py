#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Rooms people control over D-Bus: CreateRoom, Directory, Block, Unblock and Invited on the
# root; Invite, Kick, Ban, Unban, SetRole, SetTopic, ModerationLog, Private, Role,
# MemberRoles and MemberChanged on rooms. natterd hosts (the account `desk`, an administrator) with
# WebSocket clients as the other people, and mirrors a remote natterd in upstream mode.
# Each test case is its own meson test; run one with
#   NATTERD=… NATTER_DBUS_SERVICE_DIR=… /usr/bin/python3 test_dbus_rooms.py \
#     DBusRoomsTest.test_create_room

import asyncio
import os
import unittest

from gi.repository import GLib

from natter_dbus_fixture import (BUS_NAME, CHAT_IFACE, ERROR_PREFIX, OWNER, ROOM_IFACE,
                                 ROOT_PATH, DBusTestCase, daemon_args, eventually, no_daemon,
                                 password_for, required_env, room_path)

NOTIFICATIONS = ("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
PORTAL = ("org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop")


class RoomsHelpers:

    async def create(self, name, private=False, topic=""):
        (path,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".CreateRoom", name,
                                        "true" if private else "false", topic)
        return path

    async def room_call(self, room, method, *args):
        return await self.gdbus_call(room_path(room), ROOM_IFACE + "." + method, *args)

    async def room_error(self, room, method, *args):
        name, message = await self.gdbus_call_error(room_path(room), ROOM_IFACE + "." + method,
                                                    *args)
        self.assertNotEqual(message.strip(), "")
        return name[len(ERROR_PREFIX):] if name.startswith(ERROR_PREFIX) else name

    async def root_error(self, method, *args):
        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + "." + method, *args)
        self.assertNotEqual(message.strip(), "")
        return name[len(ERROR_PREFIX):] if name.startswith(ERROR_PREFIX) else name

    def member_changes(self, room):
        return [tuple(a) for (_, _, a) in self.watcher.received("MemberChanged", room_path(room),
                                                                ROOM_IFACE)]

    def changed_properties(self, room):
        """Every property of @room's Room interface named in a PropertiesChanged."""
        names = []
        for (_, _, args) in self.watcher.received("PropertiesChanged", room_path(room)):
            if args[0] == ROOM_IFACE:
                names.extend(args[1].keys())
        return names

    def has_room(self, room):
        return lambda: room_path(room) in self.managed_objects_sync()

    def room_gone(self, room):
        return lambda: room_path(room) not in self.managed_objects_sync()

    def props_are(self, room, **expected):
        def check():
            objects = self.managed_objects_sync()
            if room_path(room) not in objects:
                return False
            props = objects[room_path(room)][ROOM_IFACE]
            return all(props.get(k) == v for k, v in expected.items())
        return check


class DBusRoomsTest(RoomsHelpers, DBusTestCase):

    async def test_create_room(self):
        """CreateRoom makes the account the owner of a public or private room, with its
        object's Private, Role, Topic and MemberRoles; taken and bad names fail."""
        alice = await self.ws_user("alice")
        path = await self.create("plans", private=True, topic="Secret plans")
        self.assertEqual(path, room_path("plans"))
        props = await self.room_props("plans")
        self.assertEqual((props["Private"], props["Role"], props["Topic"], props["Kind"]),
                         (True, "owner", "Secret plans", "room"))
        self.assertEqual(props["Members"], [OWNER])
        self.assertEqual(props["MemberRoles"], {OWNER: "owner"})

        await self.create("lobby")
        props = await self.room_props("lobby")
        self.assertEqual((props["Private"], props["Role"], props["Topic"]), (False, "owner", ""))

        # Others see the rooms as the server says: a private one takes an invitation.
        frame = await alice.request("join", {"room": "plans"}, expect_error=True)
        self.assertEqual(frame["error"]["code"], "forbidden")
        joined = await alice.call("join", {"room": "lobby"}, "joined")
        self.assertEqual(joined.get("owners"), [OWNER])

        self.assertEqual(await self.root_error("CreateRoom", "plans", "false", ""), "Conflict")
        self.assertEqual(await self.root_error("CreateRoom", "general2", "false", "x" * 2000),
                         "BadRequest")
        for bad in ("Bad Name", "a/b", ""):
            self.assertEqual(await self.root_error("CreateRoom", bad, "true", ""), "BadRequest",
                             bad)
        self.assertNotIn(room_path("general2"), await self.managed_objects())

        # The system room has no role; a room joined by name is the creator's.
        self.assertEqual((await self.room_props("system"))["Role"], "")
        await self.join("joined-by-name")
        self.assertEqual((await self.room_props("joined-by-name"))["Role"], "owner")

    async def test_directory(self):
        """Directory lists public rooms only, most members first, filtered by the query;
        a limit out of range is BadRequest."""
        alice = await self.ws_user("alice")
        bob = await self.ws_user("bob")
        await self.create("quiet", topic="Nobody here")
        await self.create("busy", topic="Everybody talks")
        await self.create("hidden", private=True, topic="Everybody talks here too")
        for client in (alice, bob):
            await client.call("join", {"room": "busy"}, "joined")
        await alice.call("join", {"room": "quiet"}, "joined")
        await alice.call("create", {"room": "alices", "private": True}, "joined")

        (rooms,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Directory", "", "0")
        self.assertEqual([tuple(r) for r in rooms],
                         [("busy", "Everybody talks", 3), ("quiet", "Nobody here", 2)])
        (rooms,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Directory", "Everybody", "0")
        self.assertEqual([r[0] for r in rooms], ["busy"])
        (rooms,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Directory", "qui", "1")
        self.assertEqual([r[0] for r in rooms], ["quiet"])
        (rooms,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Directory", "nothing", "0")
        self.assertEqual(rooms, [])

        self.assertEqual(await self.root_error("Directory", "", "101"), "BadRequest")
        self.assertEqual(await self.root_error("Directory", "x" * 300, "0"), "BadRequest")

    async def test_invite_roles_topic_kick_ban(self):
        """The owner invites into a private room, sets roles and the topic, kicks and
        bans: WebSocket users get the wire events, the room object follows with
        properties, PropertiesChanged and MemberChanged."""
        alice = await self.ws_user("alice")
        bob = await self.ws_user("bob")
        await self.create("team", private=True, topic="Before")

        await self.room_call("team", "Invite", "alice")
        event = await alice.next_event("invite", room="team")
        self.assertEqual(event["by"], OWNER)
        joined = await alice.call("join", {"room": "team"}, "joined")
        self.assertEqual((joined.get("private"), joined.get("role")), (True, "member"))
        await eventually(lambda: ("alice", True, "member", "") in self.member_changes("team"),
                         message="no MemberChanged for alice's join")
        await eventually(self.props_are("team", MemberRoles={OWNER: "owner", "alice": "member"}),
                         message="MemberRoles did not follow the join")
        await eventually(lambda: "MemberRoles" in self.changed_properties("team"))

        # Roles.
        await self.room_call("team", "SetRole", "alice", "moderator")
        event = await alice.next_event("member", room="team", user="alice", role="moderator")
        self.assertEqual((event["joined"], event["by"]), (True, OWNER))
        await eventually(lambda: ("alice", True, "moderator", OWNER) in self.member_changes("team"),
                         message="no MemberChanged for the new role")
        self.assertEqual((await self.room_props("team"))["MemberRoles"],
                         {OWNER: "owner", "alice": "moderator"})
        self.assertEqual(await self.room_error("team", "SetRole", "alice", "king"), "BadRequest")
        self.assertEqual(await self.room_error("team", "SetRole", "bob", "member"), "NotFound")
        # The last owner stays one.
        self.assertEqual(await self.room_error("team", "SetRole", OWNER, "member"), "Forbidden")
        self.assertEqual(await self.room_error("team", "Kick", OWNER, ""), "Forbidden")

        # The topic, from D-Bus and from a moderator on the WebSocket.
        await self.room_call("team", "SetTopic", "After")
        event = await alice.next_event("topic", room="team")
        self.assertEqual((event["topic"], event["by"]), ("After", OWNER))
        await eventually(self.props_are("team", Topic="After"), message="Topic did not change")
        await alice.call("set_topic", {"room": "team", "topic": "From alice"}, "ok")
        await eventually(self.props_are("team", Topic="From alice"),
                         message="Topic did not follow alice")
        await eventually(lambda: "Topic" in self.changed_properties("team"))
        await self.room_call("team", "SetTopic", "")
        await eventually(self.props_are("team", Topic=""), message="the topic was not cleared")
        self.assertEqual(await self.room_error("team", "SetTopic", "x" * 2000), "BadRequest")

        # Invitations: unknown users, members (nothing to do).
        self.assertEqual(await self.room_error("team", "Invite", "nobody"), "NotFound")
        self.assertEqual(await self.room_error("team", "Invite", "Bad Name"), "BadRequest")
        await self.room_call("team", "Invite", "alice")

        # Kick: alice is out, and told by whom.
        await self.room_call("team", "Kick", "alice", "cleaning up")
        event = await alice.next_event("member", room="team", user="alice", joined=False)
        self.assertEqual(event["by"], OWNER)
        await eventually(lambda: ("alice", False, "", OWNER) in self.member_changes("team"),
                         message="no MemberChanged for the kick")
        self.assertEqual((await self.room_props("team"))["MemberRoles"], {OWNER: "owner"})
        self.assertEqual((await self.room_props("team"))["Members"], [OWNER])
        self.assertEqual(await self.room_error("team", "Kick", "alice", ""), "NotFound")

        # Ban: bob, invited first, cannot join; unbanned and invited again, he can.
        await self.room_call("team", "Invite", "bob")
        await bob.next_event("invite", room="team")
        await self.room_call("team", "Ban", "bob", "")
        frame = await bob.request("join", {"room": "team"}, expect_error=True)
        self.assertEqual(frame["error"]["code"], "forbidden")
        self.assertEqual(await self.room_error("team", "Invite", "bob"), "Forbidden")
        await self.room_call("team", "Unban", "bob")
        await self.room_call("team", "Invite", "bob")
        await bob.call("join", {"room": "team"}, "joined")
        await eventually(self.props_are("team", Members=["bob", OWNER]),
                         message="bob did not join")
        # A banned member is removed at once.
        await self.room_call("team", "Ban", "bob", "spam")
        event = await bob.next_event("member", room="team", user="bob", joined=False)
        self.assertEqual(event["by"], OWNER)
        await eventually(lambda: ("bob", False, "", OWNER) in self.member_changes("team"),
                         message="no MemberChanged for the ban")

        # Unknown rooms are NotFound, system is no room to moderate.
        self.assertEqual(await self.room_error("system", "Invite", "alice"), "NotFound")
        self.assertEqual(await self.room_error("system", "SetTopic", "x"), "NotFound")

    async def test_moderation_log(self):
        """ModerationLog reads the room's kicks, bans, role and topic changes, oldest
        first, with their details; it pages by time and answers bad arguments with
        BadRequest. A room the account is not in has no object to ask."""
        alice = await self.ws_user("alice")
        await self.create("watch", topic="Start")
        self.assertEqual(await self.room_call("watch", "ModerationLog", "0", "0"), ([],))
        await alice.call("join", {"room": "watch"}, "joined")
        await self.room_call("watch", "SetRole", "alice", "moderator")
        await alice.call("set_topic", {"room": "watch", "topic": "From alice"}, "ok")
        await self.room_call("watch", "SetTopic", "")
        await self.room_call("watch", "Kick", "alice", "spam")
        await self.room_call("watch", "Ban", "alice", "")

        (events,) = await self.room_call("watch", "ModerationLog", "0", "0")
        self.assertEqual([e[1:] for e in events], [
            ("role", "alice", OWNER, {"role": "moderator"}),
            ("topic", "alice", "alice", {"topic": "From alice"}),
            ("topic", OWNER, OWNER, {}),
            ("kick", "alice", OWNER, {"reason": "spam"}),
            ("ban", "alice", OWNER, {}),
        ])
        stamps = [e[0] for e in events]
        self.assertEqual(stamps, sorted(set(stamps)))
        # Paging: the newest two, then the rest before the first of them.
        (newest,) = await self.room_call("watch", "ModerationLog", "0", "2")
        self.assertEqual(newest, events[3:])
        (older,) = await self.room_call("watch", "ModerationLog", str(newest[0][0]), "0")
        self.assertEqual(older, events[:3])

        self.assertEqual(await self.room_error("watch", "ModerationLog", "0", "101"),
                         "BadRequest")
        self.assertEqual(await self.room_error("watch", "ModerationLog", "int64 -5", "0"),
                         "BadRequest")
        # alice's private room: not the account's, so no object answers.
        await alice.call("create", {"room": "hidden", "private": True}, "joined")
        name, _ = await self.gdbus_call_error(room_path("hidden"),
                                              ROOM_IFACE + ".ModerationLog", "0", "0")
        self.assertTrue(name.startswith("org.freedesktop.DBus.Error."), name)

    async def test_moderated_by_others(self):
        """What WebSocket users do to the account shows on its room object: its Role,
        the topic, and a kick, after which the object is gone; banned, it cannot join."""
        alice = await self.ws_user("alice")
        await alice.call("create", {"room": "alices", "topic": "Hers"}, "joined")
        await self.join("alices")
        props = await self.room_props("alices")
        self.assertEqual((props["Role"], props["Private"], props["Topic"]),
                         ("member", False, "Hers"))
        self.assertEqual(props["MemberRoles"], {"alice": "owner", OWNER: "member"})

        await alice.call("set_role", {"room": "alices", "user": OWNER, "role": "moderator"}, "ok")
        await eventually(self.props_are("alices", Role="moderator"), message="Role did not change")
        # Signals reach the watcher's thread on their own: wait for them too.
        await eventually(lambda: "Role" in self.changed_properties("alices"))
        await eventually(lambda: (OWNER, True, "moderator", "alice") in
                         self.member_changes("alices"))

        await alice.call("set_topic", {"room": "alices", "topic": "Changed"}, "ok")
        await eventually(self.props_are("alices", Topic="Changed"), message="Topic did not change")

        # desk is a server admin: it may moderate alice's room as an owner would.
        await self.room_call("alices", "SetTopic", "Admin's topic")
        await alice.next_event("topic", room="alices", topic="Admin's topic")

        await alice.call("kick", {"room": "alices", "user": OWNER}, "ok")
        await eventually(self.room_gone("alices"), message="the room object stayed")
        await eventually(lambda: (OWNER, False, "", "alice") in self.member_changes("alices"),
                         message="no MemberChanged for the kick")

        await self.join("alices")
        await alice.call("ban", {"room": "alices", "user": OWNER}, "ok")
        await eventually(self.room_gone("alices"), message="the room object stayed after a ban")

    async def test_invitations_property_and_decline(self):
        """Invitations lists the account's pending invitations as the server keeps them,
        with who gave each and when; joining or DeclineInvitation takes one out."""
        alice = await self.ws_user("alice")
        self.assertEqual((await self.root_props())["Invitations"], [])
        for room in ("attic", "den"):
            await alice.call("create", {"room": room, "private": True}, "joined")
            await alice.call("invite", {"room": room, "user": OWNER}, "ok")

        def invitations():
            return [(room, by) for (room, by, _) in self.root_props_sync()["Invitations"]]

        await eventually(lambda: invitations() == [("attic", "alice"), ("den", "alice")],
                         message="Invitations did not list both")
        self.assertTrue(all(ts > 1_600_000_000_000
                            for (_, _, ts) in self.root_props_sync()["Invitations"]))

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".DeclineInvitation", "den")
        self.assertEqual(invitations(), [("attic", "alice")])
        self.assertEqual(await self.root_error("DeclineInvitation", "den"), "NotFound")
        await alice.call("invite", {"room": "den", "user": OWNER}, "ok")
        await eventually(lambda: ("den", "alice") in invitations(),
                         message="a new invitation did not come back")

        await self.join("attic")
        await eventually(lambda: invitations() == [("den", "alice")],
                         message="joining did not use the invitation up")

    async def test_invited_signal_and_notification(self):
        """An invitation raises Invited and a desktop notification (none while a front
        end handles notifications); JoinRoom accepts it (desk, an administrator, could
        join anyway: tests/integration checks that others cannot)."""
        await self.start_mock("-t", "notification_daemon")
        alice = await self.ws_user("alice")
        await alice.call("create", {"room": "secret", "private": True}, "joined")

        async def notifies():
            return [a for (m, a) in await self.mock_calls(*NOTIFICATIONS) if m == "Notify"]

        await alice.call("invite", {"room": "secret", "user": OWNER}, "ok")
        await eventually(lambda: self.watcher.received("Invited", ROOT_PATH, CHAT_IFACE),
                         message="no Invited signal")
        self.assertEqual(self.watcher.received("Invited", ROOT_PATH, CHAT_IFACE)[0][2],
                         ("secret", "alice"))
        await eventually(notifies, message="no notification of the invitation")
        (app, _, icon, summary, body, _, hints, _), = await notifies()
        self.assertEqual((app, icon, summary, body),
                         ("Natter", "io.github.natter.Natter", "Invitation to #secret",
                          "alice invited you to #secret."))
        self.assertEqual(hints["desktop-entry"], "io.github.natter.Natter")

        path = await self.join("secret")
        self.assertEqual(path, room_path("secret"))
        props = await self.room_props("secret")
        self.assertEqual((props["Private"], props["Role"]), (True, "member"))

        # A front end that shows notifications itself: the signal, but no notification.
        await self.watcher.call(BUS_NAME, ROOT_PATH, CHAT_IFACE, "SetNotificationsHandled",
                                GLib.Variant("(b)", (True,)))
        await alice.call("create", {"room": "secret2", "private": True}, "joined")
        await alice.call("invite", {"room": "secret2", "user": OWNER}, "ok")
        await eventually(lambda: len(self.watcher.received("Invited", ROOT_PATH)) == 2,
                         message="no second Invited signal")
        self.assertEqual(len(await notifies()), 1)
        # Not a slow notification either: a third invitation after handing back shows.
        await self.watcher.call(BUS_NAME, ROOT_PATH, CHAT_IFACE, "SetNotificationsHandled",
                                GLib.Variant("(b)", (False,)))
        await alice.call("create", {"room": "secret3", "private": True}, "joined")
        await alice.call("invite", {"room": "secret3", "user": OWNER}, "ok")
        await eventually(self._n(notifies, 2), message="no notification after handing back")
        self.assertEqual((await notifies())[1][3], "Invitation to #secret3")

    def _n(self, func, n):
        async def check():
            return len(await func()) >= n
        return check

    @no_daemon
    async def test_invitation_notifications_follow_the_app_setting(self):
        """With the app's "Show notifications" off, an invitation raises Invited but no
        notification."""
        config = os.path.join(self.workdir, "config")
        env = dict(self.env, GSETTINGS_BACKEND="keyfile", XDG_CONFIG_HOME=config,
                   GSETTINGS_SCHEMA_DIR=required_env("NATTER_SCHEMA_DIR"))
        proc = await asyncio.create_subprocess_exec(
            "gsettings", "set", "io.github.natter.Natter", "notifications", "false", env=env)
        self.assertEqual(await proc.wait(), 0)
        self.daemon.env.update(env)
        await self.start_mock("-t", "notification_daemon")
        await self.start_daemon()
        alice = await self.ws_user("alice")
        await alice.call("create", {"room": "quiet-invite", "private": True}, "joined")
        await alice.call("invite", {"room": "quiet-invite", "user": OWNER}, "ok")
        await eventually(lambda: self.watcher.received("Invited", ROOT_PATH),
                         message="no Invited signal")
        # A message notification in the same state proves notifications are off, not late.
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")
        await alice.call("send", {"room": "general", "body": "hi", "client_msg_id": "1"}, "sent")
        await eventually(lambda: self.watcher.received("MessageReceived", room_path("general")))
        calls = await self.mock_calls(*NOTIFICATIONS)
        self.assertEqual([c for c in calls if c[0] == "Notify"], [])

    @no_daemon
    async def test_invitation_notification_portal(self):
        """In a sandbox (GIO_USE_PORTALS=1) the invitation's notification goes through
        the notification portal, as messages' do, with its own id."""
        await self.start_mock("-t", "notification_daemon")
        await self.start_mock(*PORTAL, "org.freedesktop.portal.Notification")
        await self.watcher.call(PORTAL[0], PORTAL[1], "org.freedesktop.DBus.Mock", "AddMethod",
                                GLib.Variant("(sssss)", ("", "AddNotification", "sa{sv}", "",
                                                         "")))
        self.daemon.env["GIO_USE_PORTALS"] = "1"
        await self.start_daemon()
        alice = await self.ws_user("alice")
        await alice.call("create", {"room": "den", "private": True}, "joined")
        await alice.call("invite", {"room": "den", "user": OWNER}, "ok")

        async def added():
            return [a for (m, a) in await self.mock_calls(*PORTAL) if m == "AddNotification"]

        await eventually(added, message="no notification through the portal")
        (note_id, note), = await added()
        self.assertEqual(note_id, "invite:den")
        self.assertEqual(note, {"title": "Invitation to #den",
                                "body": "alice invited you to #den."})
        self.assertEqual(await self.mock_calls(*NOTIFICATIONS), [])

    async def test_block_and_unblock(self):
        """Block refuses a user's direct messages to the account (Forbidden, nothing
        more); Unblock lets them through; unknown users are NotFound."""
        alice = await self.ws_user("alice")
        await alice.call("send", {"to": OWNER, "body": "before", "client_msg_id": "1"}, "sent")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Block", "alice")
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Block", "alice")
        frame = await alice.request("send", {"to": OWNER, "body": "blocked",
                                             "client_msg_id": "2"}, expect_error=True)
        self.assertEqual(frame["error"]["code"], "forbidden")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Unblock", "alice")
        await alice.call("send", {"to": OWNER, "body": "after", "client_msg_id": "3"}, "sent")
        dm = f"dm:alice:{OWNER}" if "alice" < OWNER else f"dm:{OWNER}:alice"
        await eventually(lambda: any(a[3] == "after" for (_, _, a) in
                                     self.watcher.received("MessageReceived", room_path(dm))),
                         message="the DM after Unblock did not arrive")

        self.assertEqual(await self.root_error("Block", "nobody"), "NotFound")
        self.assertEqual(await self.root_error("Block", "Bad Name"), "BadRequest")
        self.assertEqual(await self.root_error("Block", OWNER), "BadRequest")
        self.assertEqual(await self.root_error("Unblock", "nobody"), "NotFound")

    @daemon_args("--invites-per-hour", "2", "--directory-per-minute", "1")
    async def test_rooms_rate_limited(self):
        """Invitations and directory queries past their limits are RateLimited."""
        for name in ("alice", "bob", "carol"):
            await self.ws_user(name)
        await self.create("crowd", private=True)
        await self.room_call("crowd", "Invite", "alice")
        await self.room_call("crowd", "Invite", "bob")
        self.assertEqual(await self.room_error("crowd", "Invite", "carol"), "RateLimited")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Directory", "", "0")
        self.assertEqual(await self.root_error("Directory", "", "0"), "RateLimited")


class DBusRoomsUpstreamTest(RoomsHelpers, DBusTestCase):
    """natterd in upstream mode against a remote natterd: the same methods go to the
    server as wire requests, its events reach the mirrored rooms."""

    async def connect_carol(self):
        url, alice = await self.remote_server()
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".CreateAccount", url, "carol",
                              password_for("carol"), "false")
        props = await self.root_props()
        self.assertEqual((props["Mode"], props["Account"], props["Status"]),
                         ("upstream", "carol", "connected"))
        return url, alice

    async def test_upstream_create_invite_topic_roles(self):
        """CreateRoom, Invite, SetRole, SetTopic and Directory go to the server; its
        member and topic events update the mirrored room."""
        url, alice = await self.connect_carol()

        path = await self.create("crew", private=True, topic="Ours")
        self.assertEqual(path, room_path("crew"))
        props = await self.room_props("crew")
        self.assertEqual((props["Private"], props["Role"], props["Topic"]), (True, "owner", "Ours"))
        self.assertEqual(props["MemberRoles"], {"carol": "owner"})
        self.assertEqual(await self.root_error("CreateRoom", "remote-room", "false", ""),
                         "Conflict")

        await self.room_call("crew", "Invite", "alice")
        event = await alice.next_event("invite", room="crew")
        self.assertEqual(event["by"], "carol")
        self.assertEqual(await self.room_error("crew", "Invite", "nobody"), "NotFound")
        await alice.call("join", {"room": "crew"}, "joined")
        await eventually(lambda: ("alice", True, "member", "") in self.member_changes("crew"),
                         message="no MemberChanged for alice's join")
        await eventually(self.props_are("crew", MemberRoles={"carol": "owner", "alice": "member"}),
                         message="MemberRoles did not follow")

        await self.room_call("crew", "SetRole", "alice", "moderator")
        await eventually(lambda: ("alice", True, "moderator", "carol") in
                         self.member_changes("crew"), message="no MemberChanged for the role")
        self.assertEqual(await self.room_error("crew", "SetRole", "alice", "king"), "BadRequest")
        self.assertEqual(await self.room_error("crew", "SetRole", "carol", "member"), "Forbidden")

        await self.room_call("crew", "SetTopic", "Set by carol")
        await alice.next_event("topic", room="crew", topic="Set by carol")
        await eventually(self.props_are("crew", Topic="Set by carol"))
        await alice.call("set_topic", {"room": "crew", "topic": "Set by alice"}, "ok")
        await eventually(self.props_are("crew", Topic="Set by alice"),
                         message="the server's topic event did not reach the room")

        (rooms,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Directory", "", "0")
        self.assertEqual([r[0] for r in rooms], ["remote-room"])

        # An invitation from the server's side.
        await alice.call("create", {"room": "alices-den", "private": True}, "joined")
        await alice.call("invite", {"room": "alices-den", "user": "carol"}, "ok")
        await eventually(lambda: self.watcher.received("Invited", ROOT_PATH, CHAT_IFACE),
                         message="no Invited signal in upstream mode")
        self.assertEqual(self.watcher.received("Invited", ROOT_PATH)[0][2],
                         ("alices-den", "alice"))
        await self.join("alices-den")
        props = await self.room_props("alices-den")
        self.assertEqual((props["Private"], props["Role"]), (True, "member"))

        # Block goes to the server too.
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Block", "alice")
        frame = await alice.request("send", {"to": "carol", "body": "hi", "client_msg_id": "b"},
                                    expect_error=True)
        self.assertEqual(frame["error"]["code"], "forbidden")

    async def test_upstream_invitations_from_the_server(self):
        """In upstream mode Invitations is the server's list and DeclineInvitation goes
        to the server."""
        url, alice = await self.connect_carol()
        await alice.call("create", {"room": "loft", "private": True}, "joined")
        await alice.call("invite", {"room": "loft", "user": "carol"}, "ok")
        await eventually(lambda: [(r, b) for (r, b, _) in self.root_props_sync()["Invitations"]]
                         == [("loft", "alice")], message="no invitation in upstream mode")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".DeclineInvitation", "loft")
        self.assertEqual((await self.root_props())["Invitations"], [])
        # The server has none left: declining again is its not_found.
        self.assertEqual(await self.root_error("DeclineInvitation", "loft"), "NotFound")
        name, _ = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".JoinRoom", "loft")
        self.assertEqual(name, ERROR_PREFIX + "Forbidden")

    async def test_upstream_kick_and_ban_remove_the_room(self):
        """Kicked or banned on the server, the account's room object goes away; its own
        Kick and Ban reach the server."""
        url, alice = await self.connect_carol()
        await alice.call("create", {"room": "club"}, "joined")
        await self.join("club")
        await eventually(self.props_are("club", Role="member",
                                        MemberRoles={"alice": "owner", "carol": "member"}),
                         message="the mirrored room lacks its roles")
        await alice.call("set_role", {"room": "club", "user": "carol", "role": "moderator"}, "ok")
        await eventually(self.props_are("club", Role="moderator"), message="Role did not follow")
        self.assertEqual(await self.room_error("club", "Kick", "alice", ""), "Forbidden")

        await alice.call("kick", {"room": "club", "user": "carol"}, "ok")
        await eventually(self.room_gone("club"), message="the kicked room stayed")
        await eventually(lambda: ("carol", False, "", "alice") in self.member_changes("club"),
                         message="no MemberChanged for the kick")

        await self.join("club")
        await eventually(self.has_room("club"))
        await alice.call("ban", {"room": "club", "user": "carol"}, "ok")
        await eventually(self.room_gone("club"), message="the banned room stayed")
        name, _ = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".JoinRoom", "club")
        self.assertEqual(name, ERROR_PREFIX + "Forbidden")

        # carol's own moderation goes to the server.
        await self.create("carols")
        await alice.call("join", {"room": "carols"}, "joined")
        await self.room_call("carols", "Ban", "alice", "")
        await alice.next_event("member", room="carols", user="alice", joined=False)
        frame = await alice.request("join", {"room": "carols"}, expect_error=True)
        self.assertEqual(frame["error"]["code"], "forbidden")
        await self.room_call("carols", "Unban", "alice")
        await alice.call("join", {"room": "carols"}, "joined")
        await self.room_call("carols", "Kick", "alice", "bye")
        await alice.next_event("member", room="carols", user="alice", joined=False, by="carol")

    async def test_upstream_moderation_log(self):
        """In upstream mode ModerationLog is the server's log; without the server it is
        Unavailable."""
        url, alice = await self.connect_carol()
        await self.create("deck")
        await alice.call("join", {"room": "deck"}, "joined")
        await self.room_call("deck", "SetTopic", "Ahoy")
        await self.room_call("deck", "Kick", "alice", "mutiny")
        (events,) = await self.room_call("deck", "ModerationLog", "0", "0")
        self.assertEqual([e[1:] for e in events], [
            ("topic", "carol", "carol", {"topic": "Ahoy"}),
            ("kick", "alice", "carol", {"reason": "mutiny"}),
        ])

        self.remote.terminate()
        await asyncio.to_thread(self.remote.wait, 30)
        await eventually(lambda: self.root_props_sync()["Status"] != "connected",
                         message="natterd did not notice the server was gone")
        self.assertEqual(await self.room_error("deck", "ModerationLog", "0", "0"), "Unavailable")


if __name__ == "__main__":
    unittest.main(verbosity=2)
