#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Accounts and sessions as an outside client sees them: the session list, logging out,
# revoking, changing the password, deleting the account, and what administrators do.
# A session that is ended elsewhere is closed with 1008, and its token fails.

import unittest

from natter_fixture import NatterTestCase, password_for

WRONG_LOGIN = "invalid user name or password"


class AccountsTest(NatterTestCase):

    async def login_as(self, name, label, **kwargs):
        client = await self.connect(label, **kwargs)
        await client.login(name, password_for(name))
        return client

    async def assert_token_fails(self, token):
        client = await self.connect("token-check")
        await self.expect_error(client, "login", {"token": token}, "unauthorized")
        await client.close()

    async def assert_ended(self, client):
        code, _ = await client.wait_closed()
        self.assertEqual(code, 1008, f"{client.label} must be closed with 1008")

    async def session_ids(self, client):
        listing = await client.call("sessions", {}, "session_list")
        return listing.get("sessions", [])

    async def test_sessions_list_agent_and_current(self):
        laptop = await self.connect("laptop", user_agent="NatterTest-Laptop/1.0")
        await laptop.register("alice", password_for("alice"))
        phone = await self.login_as("alice", "phone", user_agent="NatterTest-Phone/2.0")
        bob = await self.user("bob")

        sessions = await self.session_ids(laptop)
        self.assertEqual(len(sessions), 2, sessions)
        by_agent = {s.get("agent"): s for s in sessions}
        self.assertEqual(set(by_agent), {"NatterTest-Laptop/1.0", "NatterTest-Phone/2.0"})
        self.assertIs(by_agent["NatterTest-Laptop/1.0"].get("current"), True)
        self.assertIs(by_agent["NatterTest-Phone/2.0"].get("current", False), False)
        for session in sessions:
            self.assertRegex(session["id"], r"^[0-9a-f]{16}$")
            self.assertJsonInt(session["created_ts"], "created_ts")
            self.assertJsonInt(session["last_seen_ts"], "last_seen_ts")
            self.assertGreaterEqual(session["last_seen_ts"], session["created_ts"])

        # The phone sees the same list with itself as current; bob sees only his own.
        from_phone = await self.session_ids(phone)
        self.assertEqual([s["agent"] for s in from_phone if s.get("current")],
                         ["NatterTest-Phone/2.0"])
        self.assertEqual(len(await self.session_ids(bob)), 1)

        # A token login is the session's last use, and keeps its id.
        again = await self.connect("again", user_agent="NatterTest-Other/3.0")
        await again.login(token=laptop.welcome["token"])
        after = {s["id"]: s for s in await self.session_ids(again)}
        laptop_id = by_agent["NatterTest-Laptop/1.0"]["id"]
        self.assertIn(laptop_id, after)
        self.assertIs(after[laptop_id].get("current"), True)
        self.assertGreaterEqual(after[laptop_id]["last_seen_ts"],
                                by_agent["NatterTest-Laptop/1.0"]["last_seen_ts"])
        self.assertEqual(after[laptop_id]["agent"], "NatterTest-Laptop/1.0")

    async def test_revoke_closes_the_session_and_its_token_fails(self):
        alice = await self.user("alice")
        other = await self.login_as("alice", "alice-other")
        bob = await self.user("bob")
        sessions = await self.session_ids(alice)
        other_id = [s["id"] for s in sessions if not s.get("current")][0]

        # Bad ids, and another account's session, change nothing.
        for bad in ({}, {"session": ""}, {"session": "xyz"}, {"session": "A" * 16},
                    {"session": "0" * 200}):
            with self.subTest(body=bad):
                await self.expect_error(alice, "revoke", bad, "bad_request")
        await self.expect_error(bob, "revoke", {"session": other_id}, "not_found")
        await other.call("rooms", {}, "room_list")

        await alice.call("revoke", {"session": other_id}, "ok")
        await self.assert_ended(other)
        await self.assert_token_fails(other.welcome["token"])
        await self.expect_error(alice, "revoke", {"session": other_id}, "not_found")
        # The asking session goes on.
        await alice.call("rooms", {}, "room_list")
        self.assertEqual(len(await self.session_ids(alice)), 1)

        # Revoking its own session ends the asking connection too, after the answer.
        own = (await self.session_ids(alice))[0]["id"]
        await alice.call("revoke", {"session": own}, "ok")
        await self.assert_ended(alice)
        await self.assert_token_fails(alice.welcome["token"])

    async def test_logout_this_session_and_all(self):
        alice = await self.user("alice")
        same_token = await self.session_of(alice)
        second = await self.login_as("alice", "alice-2")
        third = await self.login_as("alice", "alice-3")

        await alice.call("logout", {}, "ok")
        # Only the connections of that token end; the one that asked closes itself.
        await self.assert_ended(same_token)
        await self.assert_token_fails(alice.welcome["token"])
        await second.call("rooms", {}, "room_list")
        # Logging out twice is still logged out.
        await alice.call("logout", {}, "ok")
        await alice.close()

        await second.call("logout", {"all": True}, "ok")
        await self.assert_ended(third)
        await self.assert_token_fails(second.welcome["token"])
        await self.assert_token_fails(third.welcome["token"])
        await self.expect_error(second, "logout", {"all": "yes"}, "bad_request")

    async def test_password_change(self):
        alice = await self.user("alice")
        other = await self.login_as("alice", "alice-other")
        new_password = "a-new-and-long-password"

        error = await self.expect_error(alice, "password",
                                        {"old": "wrong-password", "new": new_password},
                                        "unauthorized")
        # No hint: the same answer as a wrong login.
        probe = await self.connect("probe")
        login_error = await self.expect_error(probe, "login",
                                              {"user": "alice", "password": "wrong-password"},
                                              "unauthorized")
        self.assertEqual(error["message"], login_error["message"])
        self.assertEqual(error["message"], WRONG_LOGIN)
        for bad in ({"new": new_password}, {"old": password_for("alice")},
                    {"old": password_for("alice"), "new": "short"},
                    {"old": password_for("alice"), "new": "x" * 2000}):
            with self.subTest(body=bad):
                await self.expect_error(alice, "password", bad, "bad_request")
        await other.call("rooms", {}, "room_list")

        await alice.call("password", {"old": password_for("alice"), "new": new_password}, "ok")
        await self.assert_ended(other)
        await self.assert_token_fails(other.welcome["token"])
        # The asking session and its token stay.
        await alice.call("rooms", {}, "room_list")
        kept = await self.connect("kept")
        await kept.login(token=alice.welcome["token"])

        await self.expect_error(probe, "login", {"user": "alice", "password": password_for("alice")},
                                "unauthorized")
        await probe.login("alice", new_password)

    async def test_password_checks_count_against_the_login_throttle(self):
        alice = await self.user("alice")
        # --login-failures is 5 by default: the sixth guess waits, whatever carries it.
        for i in range(5):
            await self.expect_error(alice, "password",
                                    {"old": f"guess-number-{i}", "new": "another-password"},
                                    "unauthorized")
        await self.expect_error(alice, "password",
                                {"old": password_for("alice"), "new": "another-password"},
                                "rate_limited")
        await self.expect_error(alice, "delete_account", {"password": password_for("alice")},
                                "rate_limited")
        probe = await self.connect("probe")
        await self.expect_error(probe, "login", {"user": "alice", "password": password_for("alice")},
                                "rate_limited")

    async def test_delete_account(self):
        alice = await self.user("alice")
        other = await self.login_as("alice", "alice-other")
        bob = await self.user("bob")
        await alice.call("join", {"room": "hall"}, "joined")
        await bob.call("join", {"room": "hall"}, "joined")
        await alice.call("send", {"room": "hall", "body": "hello hall", "client_msg_id": "h1"},
                         "sent")
        await alice.call("send", {"to": "bob", "body": "hello bob", "client_msg_id": "d1"},
                         "sent")

        await self.expect_error(alice, "delete_account", {}, "bad_request")
        error = await self.expect_error(alice, "delete_account", {"password": "not-it-at-all"},
                                        "unauthorized")
        self.assertEqual(error["message"], WRONG_LOGIN)

        await alice.call("delete_account", {"password": password_for("alice")}, "ok")
        await self.assert_ended(alice)
        await self.assert_ended(other)
        await self.assert_token_fails(alice.welcome["token"])
        probe = await self.connect("probe")
        error = await self.expect_error(probe, "login",
                                        {"user": "alice", "password": password_for("alice")},
                                        "unauthorized")
        self.assertEqual(error["message"], WRONG_LOGIN)
        # Nobody can take the name and pass for alice.
        await self.expect_error(probe, "register",
                                {"user": "alice", "password": password_for("alice")},
                                "conflict")

        # Other people's history stays readable, as it was written.
        page = await bob.call("history", {"room": "hall"}, "history")
        self.assertEqual([(m["sender"], m["body"]) for m in page["messages"]],
                         [("alice", "hello hall")])
        page = await bob.call("history", {"room": "dm:alice:bob"}, "history")
        self.assertEqual([(m["sender"], m["body"]) for m in page["messages"]],
                         [("alice", "hello bob")])


class AdminAccountsTest(NatterTestCase):
    admin_account = ("boss", "boss-password-1")

    async def boss(self):
        boss = await self.connect("boss")
        await boss.login(*self.admin_account)
        return boss

    async def test_admin_users(self):
        boss = await self.boss()
        alice = await self.user("alice")
        await self.user("alfred")

        listing = await boss.call("admin_users", {}, "user_list")
        users = {u["user"]: u for u in listing["users"]}
        self.assertEqual(sorted(users), ["alfred", "alice", "boss"])
        self.assertIs(users["boss"].get("admin"), True)
        self.assertIs(users["alice"].get("admin", False), False)
        self.assertIs(users["alice"].get("disabled", False), False)
        self.assertJsonInt(users["alice"]["created_ts"], "created_ts")
        listing = await boss.call("admin_users", {"query": "al", "limit": 1}, "user_list")
        self.assertEqual([u["user"] for u in listing["users"]], ["alfred"])

        for bad in ({"limit": 0}, {"limit": 101}, {"query": ""}, {"query": "Al%"},
                    {"query": "a" * 33}):
            with self.subTest(body=bad):
                await self.expect_error(boss, "admin_users", bad, "bad_request")
        await self.expect_error(alice, "admin_users", {}, "forbidden")

    async def test_disable_and_enable(self):
        boss = await self.boss()
        alice = await self.user("alice")
        other = await self.login_as_alice()

        for op in ("admin_disable", "admin_enable"):
            await self.expect_error(alice, op, {"user": "bob"}, "forbidden")
            await self.expect_error(boss, op, {}, "bad_request")
            await self.expect_error(boss, op, {"user": "No Such"}, "bad_request")
            await self.expect_error(boss, op, {"user": "nobody"}, "not_found")
        await self.expect_error(boss, "admin_disable", {"user": "boss"}, "forbidden")

        await boss.call("admin_disable", {"user": "alice"}, "ok")
        await self.assert_ended(alice)
        await self.assert_ended(other)
        probe = await self.connect("probe")
        await self.expect_error(probe, "login", {"token": alice.welcome["token"]}, "unauthorized")
        await self.expect_error(probe, "login", {"user": "alice", "password": password_for("alice")},
                                "forbidden")
        listing = await boss.call("admin_users", {"query": "alice"}, "user_list")
        self.assertIs(listing["users"][0].get("disabled"), True)

        await boss.call("admin_enable", {"user": "alice"}, "ok")
        await probe.login("alice", password_for("alice"))
        listing = await boss.call("admin_users", {"query": "alice"}, "user_list")
        self.assertIs(listing["users"][0].get("disabled", False), False)

    async def login_as_alice(self):
        client = await self.connect("alice-other")
        await client.login("alice", password_for("alice"))
        return client

    async def assert_ended(self, client):
        code, _ = await client.wait_closed()
        self.assertEqual(code, 1008, f"{client.label} must be closed with 1008")


if __name__ == "__main__":
    unittest.main(verbosity=2)
