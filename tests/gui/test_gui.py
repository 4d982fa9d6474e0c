#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The GTK app under Xvfb on a private bus with the built natterd, driven through its
# exported actions, with Python `websockets` clients on the other side. Each test case
# is its own meson test; run one with
#   NATTERD=… NATTER_APP=… NATTER_SCHEMA_DIR=… NATTER_LOCALEDIR=… NATTER_ARTIFACTS_DIR=… \
#     NATTER_DESKTOP_FILE=… /usr/bin/python3 test_gui.py GuiTest.test_send_and_receive

import asyncio
import configparser
import os
import signal
import socket
import unittest

from gi.repository import GLib

from natter_gui_fixture import (APP_PATH, BUS_NAME, OWNER, GuiTestCase, eventually, first_run,
                                no_daemon, own_activation, required_env, room_path)
# After natter_gui_fixture, which puts tests/integration on the path.
from natter_fixture import JSON_PROTOCOL, JsonClient, open_ws, password_for  # noqa: E402

WINDOW_PATH = "/io/github/natter/Natter/window/1"
ROOT_PATH_CHAT = "/io/github/natter/Chat"
CHAT_IFACE = "io.github.natter.Chat"
NOTIFICATIONS = ("org.freedesktop.Notifications", "/org/freedesktop/Notifications")


def bodies(description):
    return [m[3] for m in description["messages"]]


def room_row(description, name):
    rows = [r for r in description["rooms"] if r[0] == name]
    return rows[0] if rows else None


class GuiTest(GuiTestCase):

    async def test_send_and_receive(self):
        """A message typed in the app reaches a WebSocket client; the client's message,
        and its typing, show up in the app."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.start_app()
        await self.open_room("general")

        await self.type_text("hello from the app")
        await self.press("Return")
        message = await alice.next_event("message", room="general", body="hello from the app")
        self.assertEqual(message["sender"], OWNER)
        shown = await self.eventually_shows(lambda d: "hello from the app" in bodies(d),
                                            "the sent message is not shown")
        self.assertEqual(shown["composer"], "")

        await alice.send_frame({"typing": {"room": "general", "active": True}})
        await self.eventually_shows(lambda d: d["typing"] == "alice is typing…",
                                    "the typing indicator does not show alice")

        sent = await alice.call("send", {"room": "general", "body": "hi from the browser",
                                         "client_msg_id": "a-1"}, "sent")
        shown = await self.eventually_shows(lambda d: "hi from the browser" in bodies(d),
                                            "the WebSocket message is not shown")
        row = [m for m in shown["messages"] if m[3] == "hi from the browser"][0]
        self.assertEqual((row[0], row[1]), (sent["seq"], "alice"))
        self.assertTrue(row[4], "the first message of alice's group has no header")
        self.assertEqual(shown["typing"], "", "a message ends its sender's typing")

    async def test_typing_reaches_others(self):
        """Typing in the composer tells the other members; sending ends it."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.start_app()
        await self.open_room("general")

        await self.type_text("hel")
        event = await alice.next_event("typing", room="general", user=OWNER)
        self.assertIs(event.get("active", True), True)
        await self.type_text("lo")
        await self.press("Return")
        await alice.next_event("message", room="general", body="hello")
        event = await alice.next_event("typing", room="general", user=OWNER)
        self.assertIs(event.get("active", False), False)

    async def test_shift_enter_starts_a_new_line(self):
        """Shift+Enter puts a new line in the message; Enter sends it whole."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.start_app()
        await self.open_room("general")

        await self.type_text("first line")
        await self.press("<Shift>Return")
        await self.type_text("second line")
        shown = await self.describe()
        self.assertEqual(shown["composer"], "first line\nsecond line")
        await self.press("Return")
        message = await alice.next_event("message", room="general")
        self.assertEqual(message["body"], "first line\nsecond line")

    async def test_history_scroll_back(self):
        """Scrolling up pages through History() back to the first message; a sender's
        run of messages is one group with one header."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "busy"}, "joined")
        await self.join("busy")
        for i in range(1, 131):
            await alice.call("send", {"room": "busy", "body": f"message {i}",
                                      "client_msg_id": f"m{i}"}, "sent")
        await self.start_app()
        await self.open_room("busy")
        shown = await self.eventually_shows(lambda d: "message 130" in bodies(d),
                                            "the newest messages are not shown")
        self.assertFalse(shown["at-start"])
        self.assertLess(len(shown["messages"]), 130)

        async def scrolled_to_start():
            await self.action_string("test-scroll", "top")
            return (await self.describe())["at-start"]

        await eventually(scrolled_to_start, 30, message="scrolling up never reached the start")
        shown = await self.describe()
        self.assertEqual([m[0] for m in shown["messages"]], list(range(1, 131)))
        self.assertEqual(bodies(shown), [f"message {i}" for i in range(1, 131)])
        self.assertEqual([m[1] for m in shown["messages"] if m[4]], ["alice"],
                         "one group, one header")
        self.assertEqual(shown["days"], ["Today"])

    async def test_rooms_grouped_with_unread_badges(self):
        """Rooms, direct messages and announcements are grouped; unread counts are badges,
        and the read marker shows where the new messages start."""
        alice = await self.ws_user("alice")
        for room in ("general", "random"):
            await self.join(room)
            await alice.call("join", {"room": room}, "joined")
        await self.send("random", "an old message")
        for i in range(3):
            await alice.call("send", {"room": "random", "body": f"news {i}",
                                      "client_msg_id": f"r{i}"}, "sent")
        await alice.call("send", {"to": OWNER, "body": "psst", "client_msg_id": "d"}, "sent")
        dm = f"dm:alice:{OWNER}" if "alice" < OWNER else f"dm:{OWNER}:alice"

        await self.start_app()
        await self.open_room("general")
        shown = await self.eventually_shows(
            lambda d: [r[0] for r in d["rooms"]] == ["general", "random", dm, "system"],
            "the rooms are not all listed, in their groups")
        self.assertEqual(shown["sections"], ["Rooms", "Direct Messages", "Announcements"])
        self.assertEqual([r[1] for r in shown["rooms"]], ["general", "random", "alice", "Announcements"])
        self.assertEqual(room_row(shown, "random")[2], "3")
        self.assertEqual(room_row(shown, dm)[2], "1")
        self.assertEqual(room_row(shown, "general")[2], "")

        shown = await self.open_room("random")
        shown = await self.eventually_shows(lambda d: len(d["messages"]) == 4, "random's messages")
        self.assertTrue(shown["marker"], "no read marker before the unread messages")
        await self.activate("mark-read", path="/io/github/natter/Natter/window/1")
        await self.eventually_shows(lambda d: room_row(d, "random")[2] == "",
                                    "the badge stays after Mark as Read")
        props = await self.room_props("random")
        self.assertEqual(props["UnreadCount"], 0)

    async def test_links_open(self):
        """A link in a message is a link: clicking it opens it in the browser; text that
        only looks like markup stays text."""
        opened = os.path.join(self.app_dir, "opened")
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")
        await alice.call("send", {"room": "general", "client_msg_id": "l",
                                  "body": "<b>notes</b> at https://example.org/notes?a=1&b=2, and ftp://x"},
                         "sent")
        await self.start_app(**self.browser_environment(opened))
        await self.open_room("general")
        shown = await self.eventually_shows(lambda d: d["links"] != [] and d["links"][0][1] >= 0,
                                            "the message shows no link")
        self.assertEqual(bodies(shown), ["<b>notes</b> at https://example.org/notes?a=1&b=2, and ftp://x"])
        ((uri, x, y),) = shown["links"]
        self.assertEqual(uri, "https://example.org/notes?a=1&b=2")
        self.pointer.click(x, y)
        await eventually(lambda: os.path.exists(opened), message="the link did not open")
        with open(opened) as f:
            self.assertEqual(f.read().strip(), "https://example.org/notes?a=1&b=2")

    async def test_search(self):
        """The app's search action (GNOME Shell's “search in the app”) shows results."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")
        await alice.call("send", {"room": "general", "body": "the pineapple has landed",
                                  "client_msg_id": "p"}, "sent")
        await self.start_app()
        await self.action_string("search", "pineapple")
        shown = await self.eventually_shows(lambda d: d["search-results"] == ["general"],
                                            "no search result")
        self.assertEqual(shown["sidebar"], "search")
        self.assertIn("the pineapple has landed", shown["labels"])

    async def busy_room(self, alice, n=130):
        """Room busy with @n messages from alice; returns the seq of each by body."""
        await alice.call("join", {"room": "busy"}, "joined")
        await self.join("busy")
        seqs = {}
        for i in range(1, n + 1):
            body = "an old pineapple" if i == 5 else f"message {i}"
            sent = await alice.call("send", {"room": "busy", "body": body,
                                             "client_msg_id": f"m{i}"}, "sent")
            seqs[body] = sent["seq"]
        return seqs

    async def test_search_result_opens_at_the_message(self):
        """A search result far back in a room's history opens the room scrolled back to
        that message, highlighted, in the app and from GNOME Shell's search."""
        alice = await self.ws_user("alice")
        seqs = await self.busy_room(alice)
        await self.start_app()
        await self.action_string("search", "pineapple")
        await self.eventually_shows(lambda d: d["search-results"] == ["busy"], "no search result")
        await self.activate("test-search-enter")
        shown = await self.eventually_shows(
            lambda d: d["room"] == "busy" and d["highlighted"] == seqs["an old pineapple"],
            "the result did not open at its message", timeout=30)
        self.assertIn(seqs["an old pineapple"], [m[0] for m in shown["messages"]])
        await self.screenshot("light-search-result.png")

        # GNOME Shell activates a result through natterd's search provider.
        await self.open_room("general")
        await self.gdbus_call("/io/github/natter/Natter/SearchProvider",
                              "org.gnome.Shell.SearchProvider2.ActivateResult",
                              f"busy#{seqs['message 3']}", "['message']", "0")
        await self.eventually_shows(
            lambda d: d["room"] == "busy" and d["highlighted"] == seqs["message 3"],
            "the Shell's result did not open at its message", timeout=30)

    async def test_daemon_restart(self):
        """When natterd goes away the banner says so; when it is back the conversation
        goes on where it was."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")
        await self.send("general", "before the restart")
        await self.start_app()
        await self.open_room("general")
        await self.eventually_shows(lambda d: bodies(d) == ["before the restart"], "no message")

        sidebar_width = (await self.describe())["sidebar-width"]

        self.assertEqual(await asyncio.to_thread(self.daemon.stop), 0)
        shown = await self.eventually_shows(lambda d: d["status"] == "unavailable",
                                            "the app did not notice natterd is gone")
        self.assertEqual(shown["banner"], "The chat service is not running")
        self.assertEqual(shown["banners"], 1, "the banner is shown more than once")
        self.assertEqual(shown["sidebar-width"], sidebar_width, "the banner changed the sidebar's width")
        self.assertEqual(bodies(shown), ["before the restart"])
        await self.screenshot("banner.png")
        # Narrow, the banner is in whichever pane is shown.
        shown = await self.resize(360, 720)
        self.assertEqual((shown["pane"], shown["banners"]), ("content", 1))
        await self.activate("go-back", path=WINDOW_PATH)
        shown = await self.eventually_shows(lambda d: d["pane"] == "sidebar", "no way back to the rooms")
        self.assertEqual(shown["banners"], 1, "no banner over the room list")
        await self.screenshot("banner-narrow.png")
        await self.resize(1040, 680)

        await self.start_daemon()
        shown = await self.eventually_shows(lambda d: d["banner"] == "" and d["room"] == "general",
                                            "the banner stays after natterd is back")
        alice = await self.ws_user_login("alice")
        await self.type_text("after the restart")
        await self.press("Return")
        await alice.next_event("message", room="general", body="after the restart")
        shown = await self.eventually_shows(lambda d: bodies(d) == ["before the restart", "after the restart"],
                                            "the conversation did not go on")

    async def test_notifications(self):
        """A message in a room not on screen raises one notification (the app's, natterd
        stays silent), whose action opens the room."""
        alice = await self.app_in_general_notified_of_random()
        await self.eventually_shows(lambda d: room_row(d, "random") is not None, "no random")

        sent = await alice.call("send", {"room": "random", "body": "look here", "client_msg_id": "n"}, "sent")

        async def notifies():
            return [args for (method, args) in await self.mock_calls(*NOTIFICATIONS) if method == "Notify"]

        await eventually(notifies, message="no notification")
        (args,) = await notifies()
        self.assertEqual((args[3], args[4]), ("alice in #random", "look here"))
        await self.watcher.call(NOTIFICATIONS[0], NOTIFICATIONS[1], "org.freedesktop.DBus.Mock",
                                "EmitSignal", GLib.Variant("(sssav)", (
                                    "org.freedesktop.Notifications", "ActionInvoked", "us",
                                    [GLib.Variant("u", 1), GLib.Variant("s", "default")])))
        await self.eventually_shows(lambda d: d["room"] == "random" and d["highlighted"] == sent["seq"],
                                    "the notification's action did not open the room at the message")
        self.assertEqual(len(await notifies()), 1, "natterd notified as well")

    async def test_screenshots(self):
        """The main window, wide, narrow and dark, saved as test artifacts."""
        alice = await self.ws_user("alice")
        bob = await self.ws_user("bob")
        for room in ("general", "design", "releases"):
            await self.join(room)
            await alice.call("join", {"room": room}, "joined")
            await bob.call("join", {"room": room}, "joined")
        await self.gdbus_call("/io/github/natter/Chat", "io.github.natter.Chat.Broadcast",
                              "The server restarts tonight at 22:00 for an upgrade.")
        await bob.call("send", {"to": OWNER, "body": "Lunch at noon?", "client_msg_id": "b0"}, "sent")
        await alice.call("send", {"room": "design", "body": "New mockups are up",
                                  "client_msg_id": "d0"}, "sent")
        conversation = [
            (alice, "Good morning! Did the new build pass?"),
            (alice, "The release notes are in the shared folder."),
            (None, "It did, every suite is green."),
            (bob, "Great. I will tag 0.1.0 after lunch."),
            (bob, "Does anyone want to review the changelog first?"),
            (None, "I can take a look.\nSend me the link?"),
            (alice, "Here it is: https://example.org/changelog"),
        ]
        for i, (who, text) in enumerate(conversation):
            if who is None:
                await self.send("general", text)
            else:
                await who.call("send", {"room": "general", "body": text,
                                        "client_msg_id": f"c{i}"}, "sent")

        for room in ("general", "system"):
            await self.gdbus_call(room_path(room), "io.github.natter.Chat.Room.MarkRead", "0")
        await self.start_app()
        await self.resize(1040, 680)
        await self.open_room("general")

        async def typing_shown():
            await bob.send_frame({"typing": {"room": "general", "active": True}})
            shown = await self.describe()
            return shown["typing"] == "bob is typing…" and len(shown["messages"]) == len(conversation)

        await eventually(typing_shown, message="the conversation is not all there")
        await self.screenshot("main.png")

        shown = await self.resize(360, 720)
        self.assertTrue(shown["folded"], "the window did not fold when narrow")
        self.assertEqual(shown["pane"], "content")
        await self.screenshot("narrow.png")
        await self.activate("go-back", path="/io/github/natter/Natter/window/1")
        await self.eventually_shows(lambda d: d["pane"] == "sidebar", "no way back to the rooms")
        await self.screenshot("narrow-rooms.png")

        await self.resize(1040, 680)
        await self.open_room("general")
        await self.set_action_state("color-scheme", "'dark'")
        await self.eventually_shows(lambda d: d["dark"] and not d["folded"],
                                    "the dark style did not apply")
        await eventually(typing_shown, message="bob's typing is not shown")
        await self.screenshot("dark.png")

    async def test_translated(self):
        """Under LANGUAGE=zh_CN the app, and its desktop file, speak Chinese."""
        await self.start_app(LANGUAGE="zh_CN")
        shown = await self.eventually_shows(lambda d: d["rooms"] != [], "no rooms")
        labels = set(shown["labels"])
        for english in ("No Conversation Selected", "Search Messages", "Main Menu",
                        "Announcements", "New Conversation"):
            self.assertNotIn(english, labels)
        for chinese in ("未选择对话", "搜索消息", "主菜单", "公告", "新对话"):
            self.assertIn(chinese, labels)
        self.assertEqual(shown["sections"], ["公告"])

        desktop = configparser.ConfigParser(interpolation=None)
        desktop.optionxform = str
        desktop.read(required_env("NATTER_DESKTOP_FILE"), encoding="utf-8")
        entry = desktop["Desktop Entry"]
        self.assertEqual(entry["Comment[zh_CN]"], "在聊天室和私信中聊天")
        self.assertIn("聊天", entry["GenericName[zh_CN]"])

    @no_daemon
    async def test_first_run_asks_where_to_chat(self):
        """With natterd in upstream mode and no account yet, the app asks whether to host
        here or connect to a server, and the banner says the chat is offline."""
        # Upstream mode hosts nothing, so there is no port to report: wait for the name.
        self.daemon.proc = self.daemon.spawn("--upstream", "ws://127.0.0.1:9/ws")
        await eventually(lambda: self.watcher.name_owner(BUS_NAME), 20,
                         message=f"natterd did not take {BUS_NAME}")
        await self.start_app()
        shown = await self.eventually_shows(lambda d: d["windows"] == ["Welcome to Natter"],
                                            "no welcome dialog")
        self.assertEqual(shown["account"], "")
        self.assertIn("Where do you want to chat?", shown["labels"])
        self.assertIn("On a Server", shown["labels"])
        self.assertNotEqual(shown["banner"], "", "no connection banner")


    @first_run
    async def test_choose_mode_and_switch(self):
        """On a first run the app asks even though natterd hosts; "On This Computer"
        keeps hosting and is remembered. Connecting to a server from the app switches
        natterd to it without a restart, and "Chat on This Computer" comes back to the
        local rooms with their history."""
        remote_url, alice = await self.remote_server()
        await self.join("local-room")
        await self.send("local-room", "kept here")
        await self.start_app()
        await self.eventually_shows(lambda d: d["windows"] == ["Welcome to Natter"],
                                    "the first run does not ask where to chat")
        await self.click("On This Computer")
        await self.eventually_shows(lambda d: d["windows"] == [], "the welcome dialog stays")
        await eventually(lambda: "mode=host" in (self.mode_file() or ""),
                         message="the choice to host was not remembered")

        await self.activate("connect-server")
        await self.eventually_shows(lambda d: d["windows"] == ["Connect to a Server"],
                                    "Connect to a Server did not open")
        await self.fill("Server address", remote_url)
        await self.fill("User name", "alice")
        await self.fill("Password", password_for("alice"))
        await self.click("C_onnect")
        shown = await self.eventually_shows(
            lambda d: d["windows"] == [] and room_row(d, "remote-room") is not None,
            "the server's rooms did not replace the local ones", timeout=30)
        self.assertIsNone(room_row(shown, "local-room"))
        self.assertEqual(shown["account"], "alice")
        await self.open_room("remote-room")
        await self.type_text("from the app")
        await self.press("Return")
        await alice.next_event("message", room="remote-room", body="from the app")

        await self.activate("host-here")
        shown = await self.eventually_shows(
            lambda d: room_row(d, "local-room") is not None and room_row(d, "remote-room") is None,
            "hosting again did not bring the local rooms back", timeout=30)
        self.assertEqual(shown["account"], OWNER)
        await self.open_room("local-room")
        await self.eventually_shows(lambda d: bodies(d) == ["kept here"],
                                    "the local history is not there")
        self.assertEqual(self.log_problems(), [])


    @no_daemon
    async def test_port_taken_says_why_and_preferences_fix_it(self):
        """With its port taken natterd still serves the app, whose banner says others
        cannot join and opens Preferences, where another port fixes it and the switch
        lets others on the network join."""
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        self.addCleanup(taken.close)
        await self.start_daemon("--listen", f"127.0.0.1:{taken.getsockname()[1]}")
        await self.start_app()
        # The chat itself works: the rooms are there.
        await self.eventually_shows(lambda d: "Others cannot join" in d["banner"] and d["rooms"] != [],
                                    "the banner does not say others cannot join")
        await self.click("_Preferences")
        await self.eventually_shows(lambda d: len(d["windows"]) == 1, "Preferences did not open")
        shown = await self.eventually_shows(
            lambda d: any("cannot be used" in label for label in d["labels"]),
            "Preferences does not say why nobody else can join")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        await self.fill("Port", str(free))
        await self.enter("Port")
        shown = await self.eventually_shows(
            lambda d: f"http://127.0.0.1:{free}/" in d["labels"] and d["banner"] == "",
            "another port did not fix it")
        self.daemon.port = free
        await self.ws_user("alice")
        await self.screenshot("light-preferences-hosting.png", window=shown["windows"][0])

        await self.click("Let others on this network join")
        await eventually(lambda: self.root_props_sync()["ListenAddress"] == f"0.0.0.0:{free}",
                         message="the switch did not open the chat to the network")
        self.assertEqual(self.log_problems(), [])

    @no_daemon
    @own_activation
    async def test_unreachable_service_offers_retry(self):
        """When natterd cannot be started the window says so with Retry instead of
        staying empty; Retry starts it once it can start."""
        service = os.path.join(self.workdir, "services", BUS_NAME + ".service")
        with open(service, "w") as f:
            f.write(f"[D-BUS Service]\nName={BUS_NAME}\nExec=/bin/false\n")
        await self.start_app()
        shown = await self.eventually_shows(lambda d: d["sidebar"] == "unavailable",
                                            "no error state when natterd cannot start")
        self.assertIn("Chat Service Not Running", shown["labels"])
        await self.screenshot("light-unavailable.png")

        argv = " ".join([required_env("NATTERD"), "--listen", "127.0.0.1:0", "--data-dir",
                         self.daemon.data_dir, "--owner", OWNER])
        with open(service, "w") as f:
            f.write(f"[D-BUS Service]\nName={BUS_NAME}\nExec={argv}\n")
        await self.click("_Retry")
        await self.eventually_shows(lambda d: d["sidebar"] == "rooms" and d["rooms"] != [],
                                    "Retry did not bring the chat", timeout=30)


    async def test_message_waits_for_the_connection_and_is_sent_once(self):
        """A message sent while the server is away shows below the conversation as
        waiting for the connection, and is sent exactly once when the server is back."""
        url, alice = await self.remote_server()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        await self.gdbus_call(ROOT_PATH_CHAT, CHAT_IFACE + ".Connect", url, "alice",
                              password_for("alice"), "false")
        await self.start_app()
        await self.open_room("remote-room")

        self.remote.terminate()
        await asyncio.to_thread(self.remote.wait, 10)
        await eventually(lambda: self.root_props_sync()["Status"] != "connected",
                         message="natterd did not notice the server went away")
        await self.type_text("while away")
        await self.press("Return")
        shown = await self.eventually_shows(
            lambda d: d["outgoing"] == [("while away", "Waiting for the connection…")],
            "the message does not show as waiting")
        self.assertEqual(shown["composer"], "")
        await self.screenshot("light-waiting.png")

        _, alice = await self.remote_server(port=port)
        shown = await self.eventually_shows(
            lambda d: d["outgoing"] == [] and bodies(d).count("while away") == 1,
            "the message was not sent once", timeout=30)
        page = await alice.call("history", {"room": "remote-room"}, "history")
        stored = [m for m in page["messages"] if m["body"] == "while away"]
        self.assertEqual(len(stored), 1, "the server stored the message more than once")
        self.assertEqual(shown["messages"][-1][0], stored[0]["seq"])


    async def test_message_not_sent_can_be_sent_again(self):
        """A message that natterd could not take stays below the conversation with why
        and "Send Again", which sends it once natterd is back."""
        await self.join("general")
        await self.start_app()
        await self.open_room("general")
        self.assertEqual(await asyncio.to_thread(self.daemon.stop, signal.SIGKILL), -signal.SIGKILL)
        await self.eventually_shows(lambda d: d["status"] == "unavailable", "natterd is still shown")
        await self.type_text("try again")
        await self.press("Return")
        await self.eventually_shows(
            lambda d: d["outgoing"] == [("try again", "Not sent: The chat service is not running")],
            "the message does not say it was not sent")

        await self.start_daemon()
        await self.eventually_shows(lambda d: d["status"] == "connected", "natterd is not back")
        await self.click("_Send Again")
        shown = await self.eventually_shows(
            lambda d: d["outgoing"] == [] and bodies(d).count("try again") == 1,
            "sending again did not send it once")
        (messages, _) = await self.gdbus_call(room_path("general"),
                                              "io.github.natter.Chat.Room.History", "0", "0")
        self.assertEqual([m[3] for m in messages].count("try again"), 1)
        self.assertEqual(shown["messages"][-1][3], "try again")


    async def test_invalid_room_name_explains_itself(self):
        """A room name such as "Team Chat" says what a name may hold and offers one that
        works, instead of only greying out Join; that one joins."""
        await self.start_app()
        await self.activate("join-room", path=WINDOW_PATH)
        await self.eventually_shows(lambda d: d["windows"] == ["Join a Room"], "no Join dialog")
        await self.fill("Room name", "Team Chat")
        explanation = ("A room name has only lower-case letters, digits, dots, dashes and "
                       "underscores, without spaces. Try “team-chat”.")
        shown = await self.eventually_shows(lambda d: explanation in d["labels"],
                                            "the name does not explain itself")
        await self.screenshot("light-join-invalid-name.png", window=shown["windows"][0])
        await self.fill("Room name", "team-chat")
        await self.eventually_shows(lambda d: explanation not in d["labels"],
                                    "the explanation stays for a valid name")
        await self.click("_Join")
        await self.eventually_shows(lambda d: d["room"] == "team-chat" and d["windows"] == [],
                                    "the suggested name did not join")


    async def test_create_an_account_on_a_server(self):
        """"New account" in Connect to a Server creates the account on the server and
        signs in; a name that is taken says so."""
        url, alice = await self.remote_server()
        await self.start_app()
        await self.activate("connect-server")
        await self.eventually_shows(lambda d: d["windows"] == ["Connect to a Server"],
                                    "Connect to a Server did not open")
        await self.click("New account")
        await self.fill("Server address", url)
        await self.fill("User name", "alice")
        await self.fill("Password", password_for("carol"))
        await self.click("C_reate Account")
        shown = await self.eventually_shows(
            lambda d: "This user name is already taken on the server. Choose another one." in d["labels"],
            "a taken name does not say so")
        await self.screenshot("light-create-account-taken.png", window=shown["windows"][0])
        await self.fill("User name", "carol")
        await self.click("C_reate Account")
        shown = await self.eventually_shows(lambda d: d["windows"] == [] and d["account"] == "carol",
                                            "the new account is not signed in", timeout=30)
        ws = await open_ws(url, [JSON_PROTOCOL])
        carol = JsonClient(ws, "carol")
        self.clients.append(carol)
        await carol.login("carol", password_for("carol"))

    # Every window, dialog and menu ------------------------------------------------------

    async def open_everything(self, variant, narrow=False):
        """Opens each window, dialog and menu of the app in turn, with a conversation on
        screen; each must show, log no warning and close again. Each is saved as
        <variant>-<name>.png."""
        alice = await self.ws_user("alice")
        await alice.call("join", {"room": "general"}, "joined")
        await self.join("general")
        await alice.call("send", {"room": "general", "body": "Did the build pass? https://example.org/ci",
                                  "client_msg_id": "e0"}, "sent")
        await self.send("general", "It did.")
        await self.gdbus_call(room_path("general"), "io.github.natter.Chat.Room.MarkRead", "0")
        if variant == "dark":
            await self.set_action_state("color-scheme", "'dark'")
            await self.eventually_shows(lambda d: d["dark"], "the dark style did not apply")
        await self.resize(360, 720) if narrow else await self.resize(1040, 680)
        await self.open_room("general")
        await self.eventually_shows(lambda d: len(d["messages"]) == 2, "the conversation is not there")
        self.assertEqual(self.log_problems(), [], "warnings before any dialog was opened")
        await self.screenshot(f"{variant}-main.png")

        # The room's menu, then the two of the room list.
        await self.popup("room_menu_button")
        await self.screenshot(f"{variant}-room-menu.png")
        await self.close_others()
        if narrow:
            await self.activate("go-back", path=WINDOW_PATH)
            await self.eventually_shows(lambda d: d["pane"] == "sidebar", "no way back to the rooms")
            await self.screenshot(f"{variant}-rooms.png")
        for button, name in (("new_button", "new-menu"), ("primary_menu_button", "main-menu")):
            await self.popup(button)
            await self.screenshot(f"{variant}-{name}.png")
            await self.close_others()
            self.assertEqual(self.log_problems(), [], f"warnings with the menu of {button}")

        dialogs = [
            ("preferences", APP_PATH, "preferences"),
            ("connect-server", APP_PATH, "connect"),
            ("join-room", WINDOW_PATH, "join"),
            ("new-direct", WINDOW_PATH, "new-direct"),
            ("show-help-overlay", WINDOW_PATH, "shortcuts"),
            ("about", APP_PATH, "about"),
        ]
        if not narrow:
            # Leave is for the room on screen, which the narrow window has just left.
            dialogs.append(("leave-room", WINDOW_PATH, "leave"))
        for action, path, name in dialogs:
            await self.activate(action, path=path)
            shown = await self.eventually_shows(lambda d: len(d["windows"]) == 1,
                                                f"{action} opened no window")
            self.assertEqual(self.log_problems(), [], f"warnings when {action} opened")
            if narrow:
                await self.resize_window(shown["windows"][0], 360, 640)
            await self.screenshot(f"{variant}-{name}.png", window=shown["windows"][0])
            await self.close_others()
        self.assertEqual(self.log_problems(), [])
        return shown

    async def start_desktop_app(self, **env):
        """The app with a notification daemon, as on a desktop."""
        await self.start_mock("-t", "notification_daemon")
        await self.start_app(**env)

    async def test_every_window_light(self):
        """Every window, dialog and menu opens without a warning (light style)."""
        await self.start_desktop_app()
        shown = await self.open_everything("light")
        # The Preferences window is more than its frame: its rows are there.
        await self.activate("preferences")
        shown = await self.eventually_shows(lambda d: "Show notifications" in d["labels"],
                                            "Preferences shows no settings")
        self.assertIn("Send typing notifications", shown["labels"])

    async def test_every_window_dark(self):
        """Every window, dialog and menu in the dark style."""
        await self.start_desktop_app()
        await self.open_everything("dark")

    async def test_every_window_narrow(self):
        """Every window, dialog and menu with the window as narrow as a phone."""
        await self.start_desktop_app()
        await self.open_everything("narrow", narrow=True)

    async def test_every_window_chinese(self):
        """Every window, dialog and menu in zh_CN."""
        await self.start_desktop_app(**self.chinese_environment())
        await self.open_everything("zh_CN")

    async def test_chinese_tooltip_on_one_line(self):
        """In zh_CN the main menu's tooltip (主菜单) is one line, not a character a line."""
        await self.start_app(**self.chinese_environment())
        shown = await self.hover("primary_menu_button")
        ((text, width, height),) = shown["tooltips"]
        self.assertEqual(text, "主菜单")
        await self.screenshot("zh_CN-tooltip.png")
        self.assertGreater(width, height, f"the tooltip is {width}×{height}: it wraps")

    # Helpers ----------------------------------------------------------------------------

    async def ws_user_login(self, name):
        """A WebSocket client for a user registered before (natterd restarted)."""
        ws = await open_ws(self.daemon.url(), [JSON_PROTOCOL])
        client = JsonClient(ws, name)
        self.clients.append(client)
        await client.login(name, password_for(name))
        await client.call("join", {"room": "general"}, "joined")
        return client


if __name__ == "__main__":
    unittest.main()
