#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Rooms people control, in the GTK app: the room directory in the Join dialog, creating
# public and private rooms, invitations (sent, with names offered, and received), the
# member list with roles, kicks and bans, the topic, blocking from a direct
# conversation, and being removed from a room. The app is the account `desk`; the other
# people are Python `websockets` clients. Each test case is its own meson test; run one
# as test_gui.py says, with test_gui_rooms.py.

import unittest

from natter_gui_fixture import APP_ID, GuiTestCase, eventually
# After natter_gui_fixture, which puts tests/dbus on the path.
from natter_dbus_fixture import parse_gvariant  # noqa: E402

WINDOW_PATH = "/io/github/natter/Natter/window/1"
ROOT_PATH = "/io/github/natter/Chat"
CHAT_IFACE = "io.github.natter.Chat"


def room_names(description):
    return [r[0] for r in description["rooms"]]


class GuiRoomsTest(GuiTestCase):

    # Helpers ----------------------------------------------------------------------------

    async def start_app(self, **env):
        """The app with a notification daemon, as on a desktop: an invitation notifies
        while the window is not in front, which without a window manager may be so."""
        await self.start_mock("-t", "notification_daemon")
        await super().start_app(**env)

    async def window_action(self, name, parameter=None):
        await self.activate(name, parameter, path=WINDOW_PATH)

    async def action_enabled(self, name):
        (description,) = await self.gdbus_app_call(WINDOW_PATH, "org.gtk.Actions.Describe", name)
        return description[0]

    async def gdbus_app_call(self, path, method, *args):
        _, out, _ = await self.gdbus("call", "--session", "--dest", APP_ID,
                                     "--object-path", path, "--method", method, *args)
        return parse_gvariant(out)

    async def create_room(self, name, private=False, topic=""):
        """CreateRoom over D-Bus, as the app's account."""
        (path,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".CreateRoom", name,
                                        "true" if private else "false", repr(topic) if topic else "''")
        return path

    async def shows_label(self, text, message=None, timeout=15.0):
        return await self.eventually_shows(lambda d: text in d["labels"],
                                           message or f"{text!r} is not shown", timeout=timeout)

    async def open_dialog(self, action, title, path=WINDOW_PATH):
        await self.activate(action, path=path)
        return await self.eventually_shows(lambda d: d["windows"] == [title], f"{action} opened no {title}")

    async def join_eventually(self, client, room):
        """@client joins @room once natterd lets it (after an unban, an invitation)."""
        async def joined():
            frame = await client.request("join", {"room": room})
            return "joined" in frame

        await eventually(joined, message=f"{client.label} cannot join {room}")

    async def crew(self):
        """desk owns `crew`; alice and bob are members. Returns (alice, bob)."""
        alice = await self.ws_user("alice")
        bob = await self.ws_user("bob")
        await self.create_room("crew", topic="Shipping the release")
        for client in (alice, bob):
            await client.call("join", {"room": "crew"}, "joined")
        await eventually(lambda: self._has_members("crew", 3), message="crew has not its three members")
        return alice, bob

    async def _has_members(self, room, n):
        props = await self.room_props(room)
        return len(props["Members"]) == n

    # The Join dialog's directory ----------------------------------------------------------

    async def test_join_dialog_lists_and_searches_the_directory(self):
        """The Join dialog lists the public rooms with their topics, never a private one;
        what is typed searches names and topics, whatever their case; a listed room joins
        with a click."""
        alice = await self.ws_user("alice")
        await alice.call("create", {"room": "lounge", "topic": "Coffee and small talk"}, "joined")
        await alice.call("create", {"room": "lobby", "topic": "Questions welcome"}, "joined")
        await alice.call("create", {"room": "secret", "private": True, "topic": "Hush"}, "joined")
        await self.start_app()

        await self.open_dialog("join-room", "Join a Room")
        shown = await self.eventually_shows(
            lambda d: {"lounge", "lobby", "Coffee and small talk", "Questions welcome"} <= set(d["labels"]),
            "the directory does not list the public rooms")
        self.assertNotIn("secret", shown["labels"], "a private room is listed")
        self.assertNotIn("Hush", shown["labels"], "a private room's topic is listed")
        await self.screenshot("light-join-directory.png", window="Join a Room")

        # Another case than the topic's: the server's search ignores case.
        await self.fill("Room name", "Small TALK")
        shown = await self.eventually_shows(lambda d: "lounge" in d["labels"] and "lobby" not in d["labels"],
                                            "searching by topic, in another case, does not narrow the list")
        await self.fill("Room name", "nothing-like-this")
        await self.shows_label("No public room matches")
        await self.fill("Room name", "lob")
        await self.eventually_shows(lambda d: "lobby" in d["labels"] and "lounge" not in d["labels"],
                                    "searching by name does not narrow the list")
        await self.click("lobby")
        shown = await self.eventually_shows(lambda d: d["room"] == "lobby" and d["windows"] == [],
                                            "a listed room does not join")
        self.assertEqual(shown["room-subtitle"], "Questions welcome", "the header does not show the topic")
        await alice.next_event("member", room="lobby", user="desk", joined=True)

    # Creating rooms, inviting --------------------------------------------------------------

    async def test_create_private_room_and_invite_someone_offered(self):
        """New Room creates a private room with a topic, owned by the account and marked in
        the sidebar; Invite offers the people the account shares rooms with, says when a
        name is unknown, and invites: the invitee can then join the private room."""
        alice = await self.ws_user("alice")
        stranger = await self.ws_user("stranger")
        await self.join("general")
        await alice.call("join", {"room": "general"}, "joined")
        await self.start_app()

        await self.open_dialog("create-room", "New Room")
        await self.fill("Room name", "Team Chat")
        shown = await self.shows_label("A room name has only lower-case letters, digits, dots, dashes and "
                                       "underscores, without spaces. Try “team-chat”.")
        await self.fill("Room name", "team")
        await self.fill("Topic (optional)", "Planning the launch")
        await self.click("Private")
        await self.screenshot("light-new-room.png", window="New Room")
        await self.click("C_reate")
        shown = await self.eventually_shows(lambda d: d["room"] == "team" and d["windows"] == [],
                                            "the new room is not on screen")
        shown = await self.eventually_shows(lambda d: "team" in d["private-rooms"],
                                            "the sidebar does not mark the private room")
        self.assertNotIn("general", shown["private-rooms"])
        self.assertEqual(shown["room-subtitle"], "Planning the launch")
        props = await self.room_props("team")
        self.assertEqual((props["Private"], props["Role"], props["Topic"]), (True, "owner", "Planning the launch"))

        # Not invited, the stranger cannot join.
        frame = await stranger.request("join", {"room": "team"}, expect_error=True)
        self.assertIn(frame["error"]["code"], ("forbidden", "not_found"))

        await self.open_dialog("invite", "Invite People")
        shown = await self.shows_label("alice", "alice, who shares general, is not offered")
        self.assertNotIn("stranger", shown["labels"], "someone who shares no room is offered")
        await self.fill("User name", "nobody-here")
        await self.click("_Invite")
        shown = await self.shows_label("There is no user of that name on this server")
        await self.screenshot("light-invite-unknown.png", window="Invite People")
        await self.fill("User name", "al")
        await self.click("alice")
        await self.click("_Invite")
        invite = await alice.next_event("invite", room="team")
        self.assertEqual(invite["by"], "desk")
        await self.eventually_shows(lambda d: d["windows"] == [] and "alice was invited to team" in d["labels"],
                                    "the invitation is not confirmed")
        await alice.call("join", {"room": "team"}, "joined")

    async def test_new_room_counts_its_owner(self):
        """A room made with CreateRoom counts its owner in the sidebar before it is opened
        and in the header, as natterd's room object does, never "0 members"."""
        await self.start_app()
        await self.eventually_shows(lambda d: d["ready"], "the app is not ready")
        await self.create_room("solo")
        await eventually(lambda: self._has_members("solo", 1), message="solo has not its owner")
        # Nothing else about the room changes now: only Members can update the sidebar.
        shown = await self.eventually_shows(lambda d: "1 member" in d["labels"],
                                            "the sidebar does not count the owner")
        self.assertNotIn("0 members", shown["labels"])
        shown = await self.open_room("solo")
        self.assertEqual(shown["room-subtitle"], "1 member", "the header does not count the owner")

    async def test_create_room_with_a_taken_name_says_so(self):
        """A name that exists already is refused in words for users, and the dialog stays."""
        alice = await self.ws_user("alice")
        await alice.call("create", {"room": "taken"}, "joined")
        await self.start_app()
        await self.open_dialog("create-room", "New Room")
        await self.fill("Room name", "taken")
        await self.click("C_reate")
        shown = await self.shows_label("A room of this name exists already. Join it, or choose another name.")
        self.assertEqual(shown["windows"], ["New Room"])
        self.assertNotIn("taken", room_names(shown))

    # Members, roles, kicks and bans ---------------------------------------------------------

    async def test_members_roles_kick_ban_unban(self):
        """The members list shows each member's role; the owner makes a moderator, removes
        one member and bans another (asked first, with a reason), then lets them back."""
        alice, bob = await self.crew()
        await self.start_app()
        await self.open_room("crew")

        await self.popup("members_button")
        shown = await self.eventually_shows(
            lambda d: {"alice", "bob", "desk", "Owner (you)"} <= set(d["labels"]),
            "the members popover does not list the members with their roles")
        self.assertIn("3 members", shown["labels"])
        await self.screenshot("light-members.png")

        await self.click("alice")
        await self.shows_label("Make Moderator", "alice's page offers no roles")
        await self.screenshot("light-member.png")
        await self.click("Make _Moderator")
        event = await alice.next_event("member", room="crew", user="alice", role="moderator")
        self.assertTrue(event["joined"])
        await eventually(lambda: self._role_is("crew", "alice", "moderator"), message="alice is no moderator")
        await self.close_others()

        await self.popup("members_button")
        await self.shows_label("Moderator · online", "alice is not shown as a moderator")
        await self.click("bob")
        await self.click("_Remove from Room…")
        await self.eventually_shows(lambda d: d["windows"] == ["Remove bob from crew?"],
                                    "removing bob does not ask")
        await self.fill("Reason (optional)", "off topic")
        await self.screenshot("light-kick.png", window="Remove bob from crew?")
        await self.click("_Remove")
        event = await bob.next_event("member", room="crew", user="bob", joined=False)
        self.assertEqual(event["by"], "desk")
        await self.shows_label("bob was removed from crew")

        await bob.call("join", {"room": "crew"}, "joined")
        await eventually(lambda: self._has_members("crew", 3), message="bob did not come back")
        await self.popup("members_button")
        await self.click("bob")
        await self.click("_Ban from Room…")
        await self.eventually_shows(lambda d: d["windows"] == ["Ban bob from crew?"], "banning bob does not ask")
        await self.screenshot("light-ban.png", window="Ban bob from crew?")
        await self.click("_Ban")
        await bob.next_event("member", room="crew", user="bob", joined=False)
        await self.shows_label("bob was banned from crew")
        frame = await bob.request("join", {"room": "crew"}, expect_error=True)
        self.assertEqual(frame["error"]["code"], "forbidden")

        await self.open_dialog("unban-user", "Unban Someone")
        await self.screenshot("light-unban.png", window="Unban Someone")
        await self.fill("User name", "bob")
        await self.click("_Unban")
        await self.shows_label("bob may join crew again")
        await self.join_eventually(bob, "crew")

    async def _role_is(self, room, user, role):
        props = await self.room_props(room)
        return props["MemberRoles"].get(user) == role

    async def test_administrator_moderates_a_room_it_does_not_own(self):
        """In someone else's room the account is a member, shown so beside the owner; as
        the server's administrator (natterd's hosting account) it may still do what an
        owner does, and the app offers it."""
        alice = await self.ws_user("alice")
        await alice.call("create", {"room": "alicehall"}, "joined")
        await self.join("alicehall")
        theirs = await alice.call("send", {"room": "alicehall", "body": "hello hall",
                                           "client_msg_id": "h"}, "sent")
        await self.start_app()
        await self.open_room("alicehall")
        props = await self.room_props("alicehall")
        self.assertEqual(props["Role"], "member")
        await self.popup("members_button")
        await self.eventually_shows(lambda d: {"alice", "Owner · online", "Member (you)"} <= set(d["labels"]),
                                    "the members and their roles are not shown")
        await self.click("alice")
        await self.shows_label("Make Moderator", "the administrator is not offered the owner's controls")
        await self.close_others()
        for action in ("edit-topic", "unban-user", "kick-member", "ban-member", "set-member-role", "invite"):
            self.assertTrue(await self.action_enabled(action), f"{action} is disabled for the administrator")
        # The message menu follows the same rule: alice's message may be deleted.
        await self.activate("test-message", f"(uint64 {theirs['seq']}, 'menu', '')")
        shown = await self.eventually_shows(lambda d: d["popovers"] == ["menu_button"],
                                            "the menu of alice's message did not open")
        self.assertIn("Delete…", shown["labels"], "the administrator may not delete alice's message")
        self.assertNotIn("Edit", shown["labels"])

    # Topic ---------------------------------------------------------------------------------

    async def test_change_topic(self):
        """The owner changes the topic: the header shows it, and the members hear of it."""
        alice, _ = await self.crew()
        await self.start_app()
        shown = await self.open_room("crew")
        await self.eventually_shows(lambda d: d["room-subtitle"] == "Shipping the release", "no topic in the header")
        self.assertTrue(await self.action_enabled("edit-topic"))
        await self.open_dialog("edit-topic", "Change the Topic")
        await self.screenshot("light-topic.png", window="Change the Topic")
        await self.fill("Topic", "Release on Friday")
        await self.click("_Save")
        event = await alice.next_event("topic", room="crew")
        self.assertEqual((event["topic"], event["by"]), ("Release on Friday", "desk"))
        await self.eventually_shows(lambda d: d["room-subtitle"] == "Release on Friday",
                                    "the header does not show the new topic")

    async def test_moderation_in_the_timeline(self):
        """Role changes, kicks (with their reason) and topic changes show as lines between
        the messages by time: those from before the room was opened with the history,
        new ones as they happen."""
        alice, bob = await self.crew()
        await self.gdbus_call("/io/github/natter/Chat/rooms/crew", "io.github.natter.Chat.Room.SetRole",
                              "alice", "moderator")
        await alice.call("send", {"room": "crew", "body": "after the promotion",
                                  "client_msg_id": "m1"}, "sent")
        await self.start_app()
        await self.open_room("crew")
        await self.shows_label("desk made alice a moderator",
                               "the role change from before is not in the timeline")

        await alice.call("kick", {"room": "crew", "user": "bob", "reason": "spam"}, "ok")
        await alice.call("set_topic", {"room": "crew", "topic": "New plan"}, "ok")
        await self.eventually_shows(
            lambda d: "alice removed bob: spam" in d["labels"]
            and "alice changed the topic to “New plan”" in d["labels"],
            "the kick and the topic change did not show")
        # A message after them: they stay, once each, now before it.
        await alice.call("send", {"room": "crew", "body": "after the kick",
                                  "client_msg_id": "m2"}, "sent")
        shown = await self.shows_label("after the kick")
        await self.screenshot("light-moderation.png")
        for line in ("desk made alice a moderator", "alice removed bob: spam",
                     "alice changed the topic to “New plan”"):
            self.assertEqual(shown["labels"].count(line), 1, line)
        self.assertNotIn("desk changed the topic to “New plan”", shown["labels"])

    # Blocking ------------------------------------------------------------------------------

    async def test_block_and_unblock_from_a_direct_conversation(self):
        """Block in a direct conversation's menu (asked first) refuses the other's direct
        messages; Unblock lets them through again."""
        alice = await self.ws_user("alice")
        await alice.call("send", {"to": "desk", "body": "hi", "client_msg_id": "d0"}, "sent")
        dm = "dm:alice:desk"
        await self.start_app()
        await self.open_room(dm)
        self.assertFalse(await self.action_enabled("invite"), "a direct conversation offers invitations")
        self.assertTrue(await self.action_enabled("block-user"))
        await self.popup("room_menu_button")
        await self.screenshot("light-dm-menu.png")
        await self.close_others()

        await self.open_dialog("block-user", "Block alice?")
        await self.screenshot("light-block.png", window="Block alice?")
        await self.click("_Block")
        await self.shows_label("alice is blocked: their direct messages no longer reach you")
        frame = await alice.request("send", {"to": "desk", "body": "still there?", "client_msg_id": "d1"},
                                    expect_error=True)
        self.assertEqual(frame["error"]["code"], "forbidden")

        await self.window_action("unblock-user")
        await self.shows_label("alice is no longer blocked")
        await alice.call("send", {"to": "desk", "body": "back again", "client_msg_id": "d2"}, "sent")

    # Invitations and removals, as they arrive ----------------------------------------------

    async def test_invitation_shows_and_joins(self):
        """An invitation to a private room shows in the window with Join, which joins it."""
        alice = await self.ws_user("alice")
        await alice.call("create", {"room": "hideout", "private": True}, "joined")
        await self.start_app()
        await self.eventually_shows(lambda d: d["ready"], "the app is not ready")
        await alice.call("invite", {"room": "hideout", "user": "desk"}, "ok")
        await self.shows_label("alice invited you to hideout", "the invitation is not shown")
        await self.screenshot("light-invited.png")
        await self.click("_Join")
        shown = await self.eventually_shows(lambda d: d["room"] == "hideout", "Join did not open hideout")
        await self.eventually_shows(lambda d: "hideout" in d["private-rooms"], "hideout is not marked private")
        await alice.next_event("member", room="hideout", user="desk", joined=True)
        await self.eventually_shows(lambda d: d["room-subtitle"] == "2 members" and
                                    "alice invited you to hideout" not in d["labels"],
                                    "the invitation stays, or the room does not show its members")

    async def test_invitations_from_before_the_app_join_or_decline(self):
        """Invitations sent while the app was closed show when it starts, each with Join
        and Decline: Decline drops one on the server, Join joins the other room."""
        alice = await self.ws_user("alice")
        for room in ("hideout", "den"):
            await alice.call("create", {"room": room, "private": True}, "joined")
            await alice.call("invite", {"room": room, "user": "desk"}, "ok")
        await eventually(lambda: len(self.root_props_sync()["Invitations"]) == 2,
                         message="natterd does not list the two invitations")
        await self.start_app()
        shown = await self.eventually_shows(
            lambda d: {"alice invited you to hideout", "alice invited you to den"} <= set(d["labels"]),
            "the invitations from before the app started are not shown")
        self.assertEqual(shown["labels"].count("Decline"), 2, "not each invitation has Decline")
        await self.screenshot("light-invitations.png")

        await self.click("_Decline")
        await self.eventually_shows(lambda d: "alice invited you to hideout" not in d["labels"] and
                                    "alice invited you to den" in d["labels"],
                                    "Decline does not take the first invitation away, or takes both")
        await eventually(lambda: [i[0] for i in self.root_props_sync()["Invitations"]] == ["den"],
                         message="natterd still lists the declined invitation")
        self.assertNotIn("hideout", room_names(await self.describe()), "Decline joined the room")

        await self.click("_Join")
        await self.eventually_shows(lambda d: d["room"] == "den" and
                                    "alice invited you to den" not in d["labels"],
                                    "Join does not open den, or the invitation stays")
        await alice.next_event("member", room="den", user="desk", joined=True)
        await eventually(lambda: self.root_props_sync()["Invitations"] == [],
                         message="natterd still lists the invitation taken")

        # A new one shows in the list and as a toast; declined, it leaves both.
        await alice.call("create", {"room": "attic", "private": True}, "joined")
        await alice.call("invite", {"room": "attic", "user": "desk"}, "ok")
        await self.eventually_shows(lambda d: d["labels"].count("alice invited you to attic") == 2,
                                    "the new invitation is not in the list and a toast")
        await self.click("_Decline")
        await self.eventually_shows(lambda d: "alice invited you to attic" not in d["labels"],
                                    "the declined invitation stays in the list or its toast")
        await eventually(lambda: self.root_props_sync()["Invitations"] == [],
                         message="natterd still lists the declined invitation")

    async def test_removed_from_a_room_says_why(self):
        """Kicked, the room goes away from the sidebar and the window says who did it."""
        alice = await self.ws_user("alice")
        await alice.call("create", {"room": "club"}, "joined")
        await self.join("club")
        await self.start_app()
        await self.open_room("club")
        await alice.call("kick", {"room": "club", "user": "desk", "reason": "testing"}, "ok")
        shown = await self.eventually_shows(lambda d: "club" not in room_names(d),
                                            "the room stays after a kick")
        await self.shows_label("alice removed you from club", "the kick is not explained")
        self.assertEqual(shown["room"], "")
        await self.screenshot("light-removed.png")

    # Every new window, dialog and popover, in each style ------------------------------------

    async def open_room_controls(self, variant, narrow=False):
        """Opens each of the rooms' windows, dialogs and popovers; each must show, log no
        warning and close again. Each is saved as <variant>-rooms-<name>.png. Returns
        every label seen."""
        alice, _ = await self.crew()
        await alice.call("create", {"room": "lounge", "topic": "Coffee and small talk"}, "joined")
        await self.create_room("vault", private=True)
        if variant == "dark":
            await self.set_action_state("color-scheme", "'dark'")
            await self.eventually_shows(lambda d: d["dark"], "the dark style did not apply")
        await self.resize(360, 720) if narrow else await self.resize(1040, 680)
        await self.open_room("crew")
        await self.eventually_shows(lambda d: "vault" in d["private-rooms"], "vault is not marked private")
        labels = set()

        await self.popup("members_button")
        shown = await self.eventually_shows(lambda d: {"alice", "bob", "desk"} <= set(d["labels"]),
                                            "the members are not listed")
        labels |= set(shown["labels"])
        await self.screenshot(f"{variant}-rooms-members.png")
        await self.click("alice")
        shown = await self.eventually_shows(lambda d: d["popovers"] == ["members_button"], "the popover closed")
        labels |= set(shown["labels"])
        await self.screenshot(f"{variant}-rooms-member.png")
        await self.close_others()
        self.assertEqual(self.log_problems(), [], "warnings with the members popover")

        await self.popup("room_menu_button")
        await self.screenshot(f"{variant}-rooms-room-menu.png")
        await self.close_others()

        dialogs = [
            ("create-room", None, "new-room"),
            ("join-room", None, "join"),
            ("invite", None, "invite"),
            ("edit-topic", None, "topic"),
            ("unban-user", None, "unban"),
            ("kick-member", "'alice'", "kick"),
            ("ban-member", "'alice'", "ban"),
        ]
        for action, parameter, name in dialogs:
            await self.window_action(action, parameter)
            shown = await self.eventually_shows(lambda d: len(d["windows"]) == 1, f"{action} opened no window")
            if action == "join-room":
                shown = await self.eventually_shows(lambda d: "lounge" in d["labels"], "the directory is empty")
            self.assertEqual(self.log_problems(), [], f"warnings when {action} opened")
            if narrow:
                shown = await self.resize_window(shown["windows"][0], 360, 640)
            labels |= set(shown["labels"])
            await self.screenshot(f"{variant}-rooms-{name}.png", window=shown["windows"][0])
            await self.close_others()

        await alice.call("create", {"room": "hideout", "private": True}, "joined")
        await alice.call("invite", {"room": "hideout", "user": "desk"}, "ok")
        shown = await self.eventually_shows(lambda d: len(d["labels"]) > 0 and any("hideout" in l for l in d["labels"]),
                                            "the invitation is not shown")
        labels |= set(shown["labels"])
        await self.screenshot(f"{variant}-rooms-invited.png")
        self.assertEqual(self.log_problems(), [])
        return labels

    async def test_rooms_every_window_light(self):
        """Every rooms window, dialog and popover opens without a warning (light style)."""
        await self.start_app()
        await self.open_room_controls("light")

    async def test_rooms_every_window_dark(self):
        """The same in the dark style."""
        await self.start_app()
        await self.open_room_controls("dark")

    async def test_rooms_every_window_narrow(self):
        """The same with the window as narrow as a phone."""
        await self.start_app()
        await self.open_room_controls("narrow", narrow=True)

    async def test_rooms_every_window_chinese(self):
        """The same in zh_CN: the rooms' words are translated."""
        await self.start_app(**self.chinese_environment())
        labels = await self.open_room_controls("zh_CN")
        for chinese in ("所有者（您）", "新建聊天室", "邀请成员", "更改主题", "公开聊天室", "将 alice 移出 crew？",
                        "将 alice 从 crew 封禁？", "alice 邀请您加入 hideout"):
            self.assertIn(chinese, labels)


if __name__ == "__main__":
    unittest.main()
