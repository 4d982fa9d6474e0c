#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Messages people fix and answer, in the GTK app: editing (Up, or a message's menu),
# deleting after a confirmation, replies quoted and leading to the original, reactions,
# mentions highlighted and completed with Tab, and a room's notification level. Python
# `websockets` clients are the other members; what they change shows up in place. Each
# test case is its own meson test; run one with
#   NATTERD=… NATTER_APP=… NATTER_SCHEMA_DIR=… NATTER_LOCALEDIR=… NATTER_ARTIFACTS_DIR=… \
#     NATTER_DESKTOP_FILE=… /usr/bin/python3 test_gui_messages.py \
#     GuiMessagesTest.test_edit_last_message_with_up

import unittest

from gi.repository import GLib

from natter_gui_fixture import OWNER, GuiTestCase, eventually, gvariant_text, room_path
# After natter_gui_fixture, which puts tests/integration on the path.
from natter_fixture import JSON_PROTOCOL, JsonClient, open_ws, password_for  # noqa: E402

WINDOW_PATH = "/io/github/natter/Natter/window/1"
ROOM_IFACE = "io.github.natter.Chat.Room"


def bodies(description):
    return [m[3] for m in description["messages"]]


def seq_of(description, body):
    seqs = [m[0] for m in description["messages"] if m[3] == body]
    return seqs[0] if seqs else None


def details(description, seq):
    found = [d for (s, d) in description["message-details"] if s == seq]
    return found[0] if found else None


def body_of(description, seq):
    found = [m[3] for m in description["messages"] if m[0] == seq]
    return found[0] if found else None


def reactions(description, seq):
    """{label: (tooltip, mine)} of message @seq's reaction buttons."""
    shown = details(description, seq)
    return {r[0]: (r[1], r[2]) for r in shown["reactions"]} if shown else {}


async def change_event(client, kind, **fields):
    """The next `message` event of @client that is an edit, deletion or reaction."""
    frame = await client.recv_until(
        lambda f: client._frame_id(f) is None and client._matches(f, "message", dict(fields, kind=kind)))
    return client._payload(frame)


class GuiMessagesTest(GuiTestCase):

    # Helpers ----------------------------------------------------------------------------

    async def message(self, seq, what, argument=""):
        """Works the row of message @seq (test-message): "menu", "action", "quote",
        "reaction", "emoji"."""
        await self.activate("test-message", gvariant_text((seq, what, argument), "(tss)"))

    async def room_with_alice(self, room="general"):
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": room}, "joined")
        await self.join(room)
        return alice

    async def open_menu(self, seq):
        """Opens message @seq's menu as the Menu key does; returns what it shows."""
        await self.message(seq, "menu")
        return await self.eventually_shows(lambda d: d["popovers"] == ["menu_button"],
                                           f"the menu of message {seq} did not open")

    def right_click(self, x, y):
        """A secondary click through XTEST, as a mouse's right button."""
        pointer = self.pointer
        pointer.move(x, y)
        pointer.xtst.XTestFakeButtonEvent(pointer.dpy, 3, True, 0)
        pointer.xtst.XTestFakeButtonEvent(pointer.dpy, 3, False, 0)
        pointer.x11.XFlush(pointer.dpy)

    async def showing(self, predicate, message, timeout=15.0):
        return await self.eventually_shows(predicate, message, timeout)

    # Editing ----------------------------------------------------------------------------

    async def test_edit_last_message_with_up(self):
        """Up in the empty composer brings back the account's last message; Enter sends
        the edit, which changes the row in place and marks it edited."""
        alice = await self.room_with_alice()
        await self.start_app()
        await self.open_room("general")

        await self.type_text("the meeting is at noon")
        await self.press("Return")
        # Up with text in the composer is the cursor's; in an empty one it edits.
        await self.type_text("see you")
        await self.press("Up")
        shown = await self.describe()
        self.assertEqual(shown["composer"], "see you")
        self.assertNotIn("Editing Message", shown["labels"])
        await self.press("Return")
        await alice.next_event("message", room="general", body="see you")
        shown = await self.showing(lambda d: "see you" in bodies(d) and d["composer"] == "",
                                   "the messages are not shown")
        seq = seq_of(shown, "see you")
        row = details(shown, seq)["row"]
        self.assertFalse(details(shown, seq)["edited"])

        await self.press("Up")
        shown = await self.showing(lambda d: d["composer"] == "see you", "Up did not bring the message back")
        self.assertIn("Editing Message", shown["labels"])
        await self.screenshot("light-messages-editing.png")

        # Escape gives up, and the composer is empty again.
        await self.press("Escape")
        shown = await self.showing(lambda d: d["composer"] == "", "Escape did not stop editing")
        self.assertNotIn("Editing Message", shown["labels"])

        await self.press("Up")
        await self.showing(lambda d: d["composer"] == "see you", "Up did not bring the message back")
        await self.type_text(" tomorrow")
        await self.press("Return")
        event = await change_event(alice, "edit", room="general")
        self.assertEqual((event["target_seq"], event["body"], event["sender"]), (seq, "see you tomorrow", OWNER))

        shown = await self.showing(lambda d: body_of(d, seq) == "see you tomorrow" and details(d, seq)["edited"],
                                   "the edit is not shown")
        self.assertEqual(details(shown, seq)["row"], row, "the row was made anew, not changed in place")
        self.assertTrue(details(shown, seq)["edited-tooltip"].startswith("Edited "))
        self.assertEqual(bodies(shown), ["the meeting is at noon", "see you tomorrow"])
        # The room list's preview of the newest message follows.
        self.assertIn("You: see you tomorrow", shown["labels"])
        self.assertNotIn("You: see you", shown["labels"])
        self.assertEqual(shown["composer"], "")
        self.assertNotIn("Editing Message", shown["labels"])

        # The edit went out as an edit: no new message, and history agrees.
        (page, _) = await self.gdbus_call(room_path("general"), ROOM_IFACE + ".HistoryDetailed", "0", "0")
        self.assertEqual([m[3] for m in page], ["the meeting is at noon", "see you tomorrow"])

    async def test_message_deleted_while_editing_or_answering(self):
        """A message deleted elsewhere while the composer edits or answers it: the
        composer lets go of it rather than send a change that cannot be made."""
        alice = await self.room_with_alice()
        await self.start_app()
        await self.open_room("general")
        mine = await self.send("general", "draft plan")
        await self.showing(lambda d: body_of(d, mine) == "draft plan", "the message is not shown")
        await self.press("Up")
        await self.showing(lambda d: d["composer"] == "draft plan" and "Editing Message" in d["labels"],
                           "Up did not edit the message")
        # Another front end of the account deletes it.
        await self.gdbus_call(room_path("general"), ROOM_IFACE + ".Delete", str(mine))
        shown = await self.showing(lambda d: details(d, mine)["deleted"] and d["composer"] == "",
                                   "the composer still edits a deleted message")
        self.assertNotIn("Editing Message", shown["labels"])

        theirs = await alice.call("send", {"room": "general", "body": "oops", "client_msg_id": "o"}, "sent")
        await self.showing(lambda d: body_of(d, theirs["seq"]) == "oops", "alice's message is not shown")
        await self.message(theirs["seq"], "action", "message.reply")
        await self.showing(lambda d: "Replying to alice" in d["labels"], "Reply shows nothing")
        await self.type_text("what did you mean?")
        await alice.call("delete", {"room": "general", "seq": theirs["seq"]}, "sent")
        shown = await self.showing(lambda d: "Replying to alice" not in d["labels"],
                                   "the composer still answers a deleted message")
        # What was typed stays, now an ordinary message.
        self.assertEqual(shown["composer"], "what did you mean?")
        await self.press("Return")
        event = await alice.next_event("message", room="general", body="what did you mean?")
        self.assertIsNone(event.get("reply_to"))
        self.assertEqual(self.log_problems(), [])

    async def test_edit_and_delete_from_the_menu(self):
        """A message's menu edits it and deletes it after asking; a deleted message stays
        as a quiet line. The account (an administrator here) may delete another member's
        message, not edit it."""
        alice = await self.room_with_alice()
        theirs = await alice.call("send", {"room": "general", "body": "spam spam spam",
                                           "client_msg_id": "s"}, "sent")
        mine = await self.send("general", "a typo hree")
        await self.start_app()
        await self.open_room("general")
        await self.showing(lambda d: body_of(d, mine) == "a typo hree", "the messages are not shown")

        shown = await self.open_menu(mine)
        for item in ("Reply", "Add Reaction…", "Copy Text", "Edit", "Delete…"):
            self.assertIn(item, shown["labels"])
        await self.screenshot("light-messages-menu.png")
        await self.message(mine, "action", "message.edit")
        shown = await self.showing(lambda d: d["composer"] == "a typo hree" and d["popovers"] == [],
                                   "Edit did not put the message in the composer")
        self.assertIn("Editing Message", shown["labels"])
        await self.type_text(" (here)")
        await self.press("Return")
        event = await change_event(alice, "edit", room="general")
        self.assertEqual((event["target_seq"], event["body"]), (mine, "a typo hree (here)"))
        await self.showing(lambda d: body_of(d, mine) == "a typo hree (here)", "the edit is not shown")

        # The pointer opens the menu too: a right click on the text, or the button that
        # shows on hover.
        shown = await self.describe()
        self.right_click(*details(shown, mine)["body-point"])
        shown = await self.showing(lambda d: d["popovers"] == ["menu_button"], "a right click opened no menu")
        self.assertIn("Edit", shown["labels"])
        await self.close_others()
        (x, y) = details(shown, theirs["seq"])["menu-point"]
        self.pointer.move(x, y)
        self.pointer.click(x, y)
        shown = await self.showing(lambda d: d["popovers"] == ["menu_button"], "the hover button opened no menu")
        self.pointer.move(0, 0)
        await self.close_others()

        # Another member's message: no Edit, but Delete for an administrator.
        shown = await self.open_menu(theirs["seq"])
        self.assertNotIn("Edit", shown["labels"])
        self.assertIn("Delete…", shown["labels"])
        await self.close_others()

        # Delete asks first; Cancel keeps the message.
        await self.message(mine, "action", "message.delete")
        shown = await self.showing(lambda d: len(d["windows"]) == 1, "Delete did not ask")
        self.assertIn("Delete Message?", shown["labels"])
        await self.screenshot("light-messages-delete.png", window=shown["windows"][0])
        await self.click("_Cancel")
        await self.showing(lambda d: d["windows"] == [], "the dialog stays")
        self.assertEqual(body_of(await self.describe(), mine), "a typo hree (here)")

        await self.message(mine, "action", "message.delete")
        await self.showing(lambda d: len(d["windows"]) == 1, "Delete did not ask")
        await self.click("_Delete")
        event = await change_event(alice, "delete", room="general")
        self.assertEqual(event["target_seq"], mine)
        shown = await self.showing(lambda d: details(d, mine)["deleted"], "the deleted message is no tombstone")
        self.assertEqual(body_of(shown, mine), "This message was deleted")
        # Gone from the room list's preview too.
        self.assertNotIn("a typo hree (here)", shown["labels"])
        self.assertNotIn("You: a typo hree (here)", shown["labels"])
        self.assertIn("You: This message was deleted", shown["labels"])

        # Someone else's, as a moderator would.
        await self.message(theirs["seq"], "action", "message.delete")
        shown = await self.showing(lambda d: len(d["windows"]) == 1, "Delete did not ask")
        self.assertIn("The message from alice will be deleted for everyone in the conversation. "
                      "This cannot be undone.", shown["labels"])
        await self.click("_Delete")
        await change_event(alice, "delete", room="general", target_seq=theirs["seq"])
        shown = await self.showing(lambda d: details(d, theirs["seq"])["deleted"], "alice's message stays")
        await self.screenshot("light-messages-deleted.png")

        # A tombstone has no menu.
        await self.message(mine, "menu")
        shown = await self.describe()
        self.assertEqual(shown["popovers"], [])
        self.assertEqual(self.log_problems(), [])

    async def test_changes_from_others_in_place(self):
        """Another member's edit, reaction and deletion change the row on screen in
        place."""
        alice = await self.room_with_alice()
        await self.start_app()
        await self.open_room("general")
        sent = await alice.call("send", {"room": "general", "body": "lunch at 12?", "client_msg_id": "l"}, "sent")
        await alice.call("send", {"room": "general", "body": "or later", "client_msg_id": "m"}, "sent")
        shown = await self.showing(lambda d: "or later" in bodies(d), "alice's messages are not shown")
        seq = sent["seq"]
        row = details(shown, seq)["row"]

        await alice.call("edit", {"room": "general", "seq": seq, "body": "lunch at 1?"}, "sent")
        shown = await self.showing(lambda d: body_of(d, seq) == "lunch at 1?", "alice's edit is not shown")
        self.assertTrue(details(shown, seq)["edited"])
        self.assertEqual(details(shown, seq)["row"], row)

        await alice.call("react", {"room": "general", "seq": seq, "emoji": "🍕"}, "sent")
        shown = await self.showing(lambda d: "🍕 1" in reactions(d, seq), "alice's reaction is not shown")
        self.assertEqual(reactions(shown, seq)["🍕 1"], ("alice reacted with 🍕", False))
        self.assertEqual(details(shown, seq)["row"], row)

        await alice.call("delete", {"room": "general", "seq": seq}, "sent")
        shown = await self.showing(lambda d: details(d, seq)["deleted"], "alice's deletion is not shown")
        self.assertEqual(body_of(shown, seq), "This message was deleted")
        self.assertEqual(reactions(shown, seq), {}, "a deleted message keeps its reactions on screen")
        self.assertEqual(details(shown, seq)["row"], row)
        self.assertEqual(bodies(shown), ["This message was deleted", "or later"])

    async def test_moderators_delete_others_messages(self):
        """Connected to a server as an ordinary member, the account may delete its own
        messages only; made a moderator of the room (Role), it may delete others' too."""
        remote_url, alice = await self.remote_server()
        ws = await open_ws(remote_url, [JSON_PROTOCOL])
        bob = JsonClient(ws, "bob")
        self.clients.append(bob)
        await bob.register("bob", password_for("bob"))
        await bob.call("join", {"room": "bobs-room"}, "joined")
        await alice.call("join", {"room": "bobs-room"}, "joined")
        theirs = await bob.call("send", {"room": "bobs-room", "body": "my room, my rules",
                                         "client_msg_id": "b1"}, "sent")
        await self.start_app()
        await self.activate("connect-server")
        await self.showing(lambda d: d["windows"] == ["Connect to a Server"], "Connect to a Server did not open")
        await self.fill("Server address", remote_url)
        await self.fill("User name", "alice")
        await self.fill("Password", password_for("alice"))
        await self.click("C_onnect")
        await self.showing(lambda d: d["windows"] == [] and d["account"] == "alice",
                           "the app did not connect to the server", timeout=30)
        await self.open_room("bobs-room")
        await self.showing(lambda d: body_of(d, theirs["seq"]) == "my room, my rules", "bob's message is not shown")

        shown = await self.open_menu(theirs["seq"])
        self.assertIn("Reply", shown["labels"])
        self.assertNotIn("Delete…", shown["labels"])
        self.assertNotIn("Edit", shown["labels"])
        await self.close_others()

        await bob.call("set_role", {"room": "bobs-room", "user": "alice", "role": "moderator"}, "ok")
        await self.eventually_shows_menu_item(theirs["seq"], "Delete…")
        await self.message(theirs["seq"], "action", "message.delete")
        await self.showing(lambda d: len(d["windows"]) == 1, "Delete did not ask")
        await self.click("_Delete")
        await change_event(bob, "delete", room="bobs-room", target_seq=theirs["seq"])
        await self.showing(lambda d: details(d, theirs["seq"])["deleted"], "bob's message stays")

    async def eventually_shows_menu_item(self, seq, item):
        async def offered():
            await self.message(seq, "menu")
            shown = await self.describe()
            await self.close_others()
            return item in shown["labels"]

        await eventually(offered, 20, message=f"the menu of message {seq} never offers {item}")

    # Replies ----------------------------------------------------------------------------

    async def test_reply_quote_jumps_to_the_original(self):
        """A reply shows the message it answers above it; a click on the quote scrolls back
        to the original, loading older history, and highlights it. The menu's Reply
        answers a message."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "busy"}, "joined")
        await self.join("busy")
        seqs = {}
        # Message 5 is six pages of 50 back: however much older history the app loads
        # to fill its window before the click, it is not there yet.
        for i in range(1, 301):
            sent = await alice.call("send", {"room": "busy", "body": f"message {i}",
                                             "client_msg_id": f"m{i}"}, "sent")
            seqs[i] = sent["seq"]
        reply = await alice.call("send", {"room": "busy", "body": "about that one", "reply_to": seqs[5],
                                          "client_msg_id": "r"}, "sent")
        await self.start_app()
        await self.open_room("busy")
        shown = await self.showing(lambda d: details(d, reply["seq"]) is not None and
                                   details(d, reply["seq"])["quote"] == "alice: message 5",
                                   "the reply does not quote message 5")
        self.assertNotIn(seqs[5], [m[0] for m in shown["messages"]], "message 5 was loaded already")

        await self.message(reply["seq"], "quote")
        shown = await self.showing(lambda d: d["highlighted"] == seqs[5], "the quote did not lead to message 5",
                                   timeout=30)
        self.assertIn(seqs[5], [m[0] for m in shown["messages"]])

        # Answering from the app.
        await self.message(seqs[120], "action", "message.reply")
        shown = await self.showing(lambda d: "Replying to alice" in d["labels"], "Reply shows nothing")
        await self.type_text("agreed")
        await self.screenshot("light-messages-replying.png")
        await self.press("Return")
        event = await alice.next_event("message", room="busy", body="agreed")
        self.assertEqual(event.get("reply_to"), seqs[120])
        shown = await self.showing(lambda d: seq_of(d, "agreed") is not None and
                                   details(d, seq_of(d, "agreed"))["quote"] == "alice: message 120",
                                   "the app's reply is not quoted")
        self.assertNotIn("Replying to alice", shown["labels"])
        await self.screenshot("light-messages-reply.png")

    async def test_notification_follows_edit_and_delete(self):
        """The app's notification of a message shows it as it is: a reaction leaves it
        alone, an edit replaces its text, a deletion withdraws it."""
        alice = await self.app_in_general_notified_of_random()
        calls, count = self.notification_calls, self.notification_calls_reach

        sent = await alice.call("send", {"room": "random", "body": "the passwrod is hunter2",
                                         "client_msg_id": "p"}, "sent")
        await eventually(count("Notify", 1), message="no notification")
        await alice.call("react", {"room": "random", "seq": sent["seq"], "emoji": "👀"}, "sent")
        await alice.call("edit", {"room": "random", "seq": sent["seq"],
                                  "body": "the password is in the vault"}, "sent")
        await eventually(count("Notify", 2), message="the edit was not shown")
        first, second = await calls("Notify")
        self.assertEqual(first[4], "the passwrod is hunter2")
        self.assertEqual((second[1], second[3], second[4]),
                         (1, "alice in #random", "the password is in the vault"))

        await alice.call("delete", {"room": "random", "seq": sent["seq"]}, "sent")
        await eventually(count("CloseNotification", 1),
                         message="the deleted message's notification stayed")
        self.assertEqual(len(await calls("Notify")), 2, "the reaction or deletion notified")

    # Reactions --------------------------------------------------------------------------

    async def test_reactions_toggle_with_tooltip(self):
        """Reactions show under a message with their counts and who reacted; the menu adds
        one with the emoji chooser; clicking a reaction toggles the account's own."""
        alice = await self.room_with_alice()
        sent = await alice.call("send", {"room": "general", "body": "we shipped it", "client_msg_id": "w"}, "sent")
        seq = sent["seq"]
        await alice.call("react", {"room": "general", "seq": seq, "emoji": "🎉"}, "sent")
        await self.start_app()
        await self.open_room("general")
        await self.showing(lambda d: "🎉 1" in reactions(d, seq), "the reaction is not shown")

        # Add one from the menu, through the emoji chooser.
        await self.message(seq, "action", "message.react")
        await self.showing(lambda d: d["popovers"] == ["react_button"], "the emoji chooser did not open")
        await self.screenshot("light-messages-emoji.png")
        await self.message(seq, "emoji", "👍")
        event = await change_event(alice, "reaction", room="general", sender=OWNER)
        self.assertEqual((event["target_seq"], event["body"], event["sender"]), (seq, "👍", OWNER))
        shown = await self.showing(lambda d: "👍 1" in reactions(d, seq), "the account's reaction is not shown")
        self.assertEqual(reactions(shown, seq)["👍 1"], ("You reacted with 👍", True))

        # Clicking alice's adds the account's.
        await self.message(seq, "reaction", "🎉")
        shown = await self.showing(lambda d: "🎉 2" in reactions(d, seq), "the click did not add a reaction")
        self.assertEqual(reactions(shown, seq)["🎉 2"], ("alice, You reacted with 🎉", True))
        await self.screenshot("light-messages-reactions.png")

        # The tooltip under the pointer. The pointer comes again if it arrived while the
        # buttons were being remade.
        for attempt in range(3):
            shown = await self.describe()
            (x, y), = [(r[3], r[4]) for r in details(shown, seq)["reactions"] if r[0] == "🎉 2"]
            self.pointer.move(0, 0)
            self.pointer.move(x, y)
            try:
                await self.showing(lambda d: any(t[0] == "alice, You reacted with 🎉" for t in d["tooltips"]),
                                   "the reaction shows no tooltip", timeout=5 if attempt < 2 else 15)
                break
            except AssertionError:
                if attempt == 2:
                    raise
        self.pointer.move(0, 0)

        # Clicking it again takes the account's back.
        await self.message(seq, "reaction", "🎉")
        shown = await self.showing(lambda d: "🎉 1" in reactions(d, seq), "the click did not take it back")
        self.assertEqual(reactions(shown, seq)["🎉 1"], ("alice reacted with 🎉", False))
        await self.message(seq, "reaction", "👍")
        shown = await self.showing(lambda d: list(reactions(d, seq)) == ["🎉 1"], "👍 stays")
        (page, _) = await self.gdbus_call(room_path("general"), ROOM_IFACE + ".HistoryDetailed", "0", "0")
        (message,) = [m for m in page if m[0] == seq]
        self.assertEqual(message[5]["reactions"], [("🎉", ["alice"])])

    # Mentions ---------------------------------------------------------------------------

    async def test_mentions_highlighted_and_completed(self):
        """`@user` is highlighted in a message, a mention of the account most; Tab after
        `@` completes a member's name."""
        alice = await self.room_with_alice()
        for name in ("albert", "bob"):
            client = await self.ws_user(name)
            await client.call("join", {"room": "general"}, "joined")
        to_me = await alice.call("send", {"room": "general", "body": f"@{OWNER} can you look?",
                                          "client_msg_id": "a"}, "sent")
        to_bob = await alice.call("send", {"room": "general", "body": "thanks @bob. and @nobody",
                                           "client_msg_id": "b"}, "sent")
        await self.start_app()
        await self.open_room("general")
        shown = await self.showing(lambda d: details(d, to_bob["seq"]) is not None, "the mentions are not shown")
        self.assertEqual(details(shown, to_me["seq"])["mentions"], [OWNER])
        self.assertTrue(details(shown, to_me["seq"])["mentions-me"])
        self.assertEqual(details(shown, to_bob["seq"])["mentions"], ["bob"])
        self.assertFalse(details(shown, to_bob["seq"])["mentions-me"])
        await self.screenshot("light-messages-mentions.png")

        # One member fits: the whole name and a space.
        await self.type_text("hi @b")
        await self.press("Tab")
        await self.showing(lambda d: d["composer"] == "hi @bob ", "Tab did not complete @bob")
        # Two fit: as far as they agree, then each in turn.
        await self.type_text("and @a")
        await self.press("Tab")
        await self.showing(lambda d: d["composer"] == "hi @bob and @al", "Tab did not complete @al")
        await self.press("Tab")
        await self.showing(lambda d: d["composer"] == "hi @bob and @albert", "Tab did not offer albert")
        await self.press("Tab")
        await self.showing(lambda d: d["composer"] == "hi @bob and @alice", "Tab did not offer alice")
        # Tab elsewhere is no completion.
        await self.type_text(" x")
        await self.press("Tab")
        shown = await self.describe()
        self.assertEqual(shown["composer"], "hi @bob and @alice x")
        await self.press("Return")
        event = await alice.next_event("message", room="general", body="hi @bob and @alice x")
        self.assertEqual(sorted(event.get("mentions", [])), ["alice", "bob"])

    # Notification level -----------------------------------------------------------------

    async def test_notification_level_in_the_room_menu(self):
        """The room's menu chooses which messages notify: all, mentions only or none; the
        choice is the room's NotificationLevel, and a change made elsewhere shows."""
        await self.start_mock("-t", "notification_daemon")
        alice = await self.room_with_alice()
        await self.join("random")
        await alice.call("join", {"room": "random"}, "joined")
        await self.start_app()
        await self.open_room("general")
        shown = await self.popup("room_menu_button")
        for item in ("Notifications", "All Messages", "Mentions Only", "None"):
            self.assertIn(item, shown["labels"])
        self.assertEqual(shown["notification-level"], "all")
        await self.screenshot("light-messages-room-menu.png")
        await self.close_others()

        await self.set_window_action_state("notification-level", "'mentions'")
        await eventually(lambda: self.room_level("general", "mentions"), message="NotificationLevel stays")
        await self.showing(lambda d: d["notification-level"] == "mentions", "the menu does not follow")
        self.assertEqual(await self.window_action_state("notification-level"), "mentions")

        # Elsewhere (another front end of the account): the menu follows.
        await self.gdbus_call(room_path("general"), ROOM_IFACE + ".SetNotificationLevel", "none")
        await eventually(lambda: self.window_action_state_is("notification-level", "none"),
                         message="the menu did not follow NotificationLevel")

        # With "mentions", only a mention of the account notifies (the room not on screen).
        await self.gdbus_call(room_path("general"), ROOM_IFACE + ".SetNotificationLevel", "mentions")
        await self.open_room("random")
        await alice.call("send", {"room": "general", "body": "nothing for you", "client_msg_id": "n1"}, "sent")
        await alice.call("send", {"room": "general", "body": f"@{OWNER} this one", "client_msg_id": "n2"}, "sent")

        async def notified():
            return [args[4] for (method, args) in await self.mock_calls("org.freedesktop.Notifications",
                                                                         "/org/freedesktop/Notifications")
                    if method == "Notify"]

        await eventually(notified, message="the mention did not notify")
        self.assertEqual(await notified(), [f"@{OWNER} this one"])

        # Deleted, its text leaves the notification list too.
        async def closed():
            return [args for (method, args) in await self.mock_calls("org.freedesktop.Notifications",
                                                                      "/org/freedesktop/Notifications")
                    if method == "CloseNotification"]

        mention_seq = [m[0] for m in (await self.gdbus_call(room_path("general"), ROOM_IFACE + ".HistoryDetailed",
                                                            "0", "0"))[0] if m[3] == f"@{OWNER} this one"][0]
        self.assertEqual(await closed(), [])
        await alice.call("delete", {"room": "general", "seq": mention_seq}, "sent")
        await eventually(closed, message="the deleted message's notification stays")

    async def room_level(self, room, level):
        props = await self.room_props(room)
        return props.get("NotificationLevel") == level

    async def set_window_action_state(self, action, value):
        await self.gdbus("call", "--session", "--dest", "io.github.natter.Natter", "--object-path", WINDOW_PATH,
                         "--method", "org.gtk.Actions.SetState", action, f"<{value}>", "{}")

    async def window_action_state(self, action):
        _, out, _ = await self.gdbus("call", "--session", "--dest", "io.github.natter.Natter",
                                     "--object-path", WINDOW_PATH, "--method", "org.gtk.Actions.Describe", action)
        ((enabled, _, state),) = GLib.Variant.parse(None, out.strip(), None, None).unpack()
        return state[0] if state else None

    async def window_action_state_is(self, action, value):
        return await self.window_action_state(action) == value

    # Every look ---------------------------------------------------------------------------

    async def start_desktop_app(self, **env):
        """The app with a notification daemon, as on a desktop: the mention notifies."""
        await self.start_mock("-t", "notification_daemon")
        await self.start_app(**env)

    async def conversation_with_changes(self, variant, narrow=False, dark=False, cancel="_Cancel"):
        """A conversation with a reply, an edit, reactions, a mention and a deletion, saved
        as <variant>-messages.png."""
        alice = await self.room_with_alice()
        first = await alice.call("send", {"room": "general", "body": "Who reviews the release notes?",
                                          "client_msg_id": "c1"}, "sent")
        await alice.call("edit", {"room": "general", "seq": first["seq"],
                                  "body": "Who reviews the release notes today?"}, "sent")
        mine = await self.send("general", "I can, after lunch")
        gone = await alice.call("send", {"room": "general", "body": "wrong room", "client_msg_id": "c2"}, "sent")
        await alice.call("delete", {"room": "general", "seq": gone["seq"]}, "sent")
        thanks = await alice.call("send", {"room": "general", "body": f"Thanks @{OWNER}!", "reply_to": mine,
                                           "client_msg_id": "c3"}, "sent")
        await alice.call("react", {"room": "general", "seq": mine, "emoji": "👍"}, "sent")
        await self.gdbus_call(room_path("general"), ROOM_IFACE + ".React", str(mine), "🎉", "true")
        await self.gdbus_call(room_path("general"), ROOM_IFACE + ".MarkRead", "0")
        if dark:
            await self.set_action_state("color-scheme", "'dark'")
            await self.showing(lambda d: d["dark"], "the dark style did not apply")
        await self.resize(360, 720) if narrow else await self.resize(1040, 680)
        await self.open_room("general")
        shown = await self.showing(lambda d: details(d, thanks["seq"]) is not None and
                                   details(d, thanks["seq"])["quote"] != "" and
                                   len(reactions(d, mine)) == 2,
                                   "the conversation is not all there")
        await self.screenshot(f"{variant}-messages.png")
        await self.open_menu(mine)
        await self.screenshot(f"{variant}-messages-menu.png")
        await self.close_others()
        await self.message(mine, "action", "message.delete")
        shown = await self.showing(lambda d: len(d["windows"]) == 1, "Delete did not ask")
        await self.screenshot(f"{variant}-messages-delete.png", window=shown["windows"][0])
        await self.click(cancel)
        await self.showing(lambda d: d["windows"] == [], "the dialog stays")
        self.assertEqual(self.log_problems(), [])
        return shown, first, gone

    async def test_messages_dark(self):
        """The changed messages in the dark style."""
        await self.start_desktop_app()
        await self.conversation_with_changes("dark", dark=True)

    async def test_messages_narrow(self):
        """The changed messages in a window as narrow as a phone."""
        await self.start_desktop_app()
        await self.conversation_with_changes("narrow", narrow=True)

    async def test_messages_chinese(self):
        """The changed messages, their menu and the confirmation in zh_CN."""
        await self.start_desktop_app(**self.chinese_environment())
        shown, first, gone = await self.conversation_with_changes("zh_CN", cancel="取消(_C)")
        shown = await self.describe()
        self.assertIn("已编辑", shown["labels"])
        self.assertEqual(body_of(shown, gone["seq"]), "此消息已被删除")
        await self.open_menu(first["seq"])
        shown = await self.describe()
        for item in ("回复(R)", "添加回应(R)…", "复制文本(C)", "删除(D)…"):
            self.assertIn(item, shown["labels"])


if __name__ == "__main__":
    unittest.main()
