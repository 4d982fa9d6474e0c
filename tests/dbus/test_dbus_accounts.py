#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The account's sessions, password and administration over D-Bus (Sessions(),
# RevokeSession(), ChangePassword(), LogOut(), Users(), SetUserDisabled()) in host mode:
# the D-Bus caller is the local owner account, whose web sessions are those of browsers
# that signed in with the password an operator set (`natterd --reset-password`). Upstream
# mode with a keyring is in tests/upstream. Run one with
#   NATTERD=… NATTER_DBUS_SERVICE_DIR=… /usr/bin/python3 test_dbus_accounts.py \
#       DBusAccountsTest.test_sessions_and_revoke

import asyncio
import subprocess
import unittest

from natter_dbus_fixture import (CHAT_IFACE, ERROR_PREFIX, JSON_PROTOCOL, OWNER, ROOT_PATH,
                                 DBusTestCase, JsonClient, eventually, open_ws, password_for,
                                 required_env)

OWNER_PASSWORD = "owner-password-1"
WRONG_LOGIN = "invalid user name or password"


class DBusAccountsTest(DBusTestCase):

    async def set_owner_password(self, password=OWNER_PASSWORD):
        """What an operator does so that the owner can use the web page too."""
        result = await asyncio.to_thread(
            subprocess.run, [required_env("NATTERD"), "--data-dir", self.daemon.data_dir,
                             "--reset-password", OWNER],
            input=(password + "\n").encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.env, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr.decode())

    async def browser(self, label, user=OWNER, password=OWNER_PASSWORD):
        """A web page of @user, signed in with its password."""
        ws = await open_ws(self.daemon.url(), [JSON_PROTOCOL], user_agent=f"NatterTest-{label}/1.0")
        client = JsonClient(ws, label)
        self.clients.append(client)
        await client.login(user, password)
        return client

    async def login_fails(self, code, **body):
        ws = await open_ws(self.daemon.url(), [JSON_PROTOCOL])
        client = JsonClient(ws, "check")
        self.clients.append(client)
        frame = await client.request("login", body, expect_error=True)
        await client.close()
        self.assertEqual(frame["error"]["code"], code, frame)
        return frame["error"]

    async def assert_ended(self, client):
        code, _ = await client.wait_closed()
        self.assertEqual(code, 1008, f"{client.label} must be closed with 1008")

    async def sessions(self):
        (sessions,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Sessions")
        return sessions

    async def call_error(self, method, *args):
        return await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + "." + method, *args)

    # ----------------------------------------------------------------------------------

    async def test_sessions_and_revoke(self):
        """Sessions() lists the owner's web sessions (the D-Bus caller is none of them);
        RevokeSession() closes one with 1008 and its token fails; an id that is not one
        of the owner's sessions is NotFound, a malformed one BadRequest."""
        self.assertEqual(await self.sessions(), [])
        await self.set_owner_password()
        laptop = await self.browser("Laptop")
        phone = await self.browser("Phone")
        bob = await self.ws_user("bob")
        bob_sessions = await bob.call("sessions", {}, "session_list")
        (bob_session,) = bob_sessions["sessions"]

        sessions = await self.sessions()
        self.assertEqual(len(sessions), 2, sessions)
        by_agent = {agent: (sid, created, last_used, current)
                    for sid, created, last_used, agent, current in sessions}
        self.assertEqual(set(by_agent), {"NatterTest-Laptop/1.0", "NatterTest-Phone/1.0"})
        for sid, created, last_used, current in by_agent.values():
            self.assertRegex(sid, r"^[0-9a-f]{16}$")
            self.assertGreater(created, 0)
            self.assertGreaterEqual(last_used, created)
            self.assertFalse(current, "natterd's own D-Bus access is not a session")

        laptop_id = by_agent["NatterTest-Laptop/1.0"][0]
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".RevokeSession", laptop_id)
        await self.assert_ended(laptop)
        await self.login_fails("unauthorized", token=laptop.welcome["token"])
        self.assertEqual([s[3] for s in await self.sessions()], ["NatterTest-Phone/1.0"])
        # The phone still works.
        await phone.call("sessions", {}, "session_list")

        for sid, error in ((laptop_id, "NotFound"), ("0123456789abcdef", "NotFound"),
                           (bob_session["id"], "NotFound"), ("not-an-id", "BadRequest"),
                           ("", "BadRequest")):
            name, message = await self.call_error("RevokeSession", sid)
            self.assertEqual(name, ERROR_PREFIX + error, (sid, message))
        # Someone else's session is not touched.
        await bob.call("sessions", {}, "session_list")

    async def test_change_password(self):
        """ChangePassword() with a wrong old password is Unauthorized exactly as a wrong
        login; a new one that is too short is BadRequest; the right one changes it and
        ends every web session of the owner."""
        await self.set_owner_password()
        page = await self.browser("Page")

        name, message = await self.call_error("ChangePassword", "wrong password", "new-password-2")
        self.assertEqual(name, ERROR_PREFIX + "Unauthorized")
        self.assertEqual(message, WRONG_LOGIN)
        wrong_login = await self.login_fails("unauthorized", user=OWNER, password="wrong password")
        self.assertEqual(wrong_login["message"], message)

        name, _ = await self.call_error("ChangePassword", OWNER_PASSWORD, "short")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")
        # Nothing changed so far.
        await page.call("sessions", {}, "session_list")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".ChangePassword", OWNER_PASSWORD,
                              "new-password-2")
        await self.assert_ended(page)
        await self.login_fails("unauthorized", token=page.welcome["token"])
        await self.login_fails("unauthorized", user=OWNER, password=OWNER_PASSWORD)
        await self.browser("Again", password="new-password-2")
        self.assertEqual(len(await self.sessions()), 1)

    async def test_log_out(self):
        """In host mode natterd has no session of its own: LogOut(false) is BadRequest;
        LogOut(true) ends every web session of the owner, and D-Bus keeps working."""
        await self.set_owner_password()
        pages = [await self.browser("One"), await self.browser("Two")]
        bob = await self.ws_user("bob")

        name, _ = await self.call_error("LogOut", "false")
        self.assertEqual(name, ERROR_PREFIX + "BadRequest")
        self.assertEqual(len(await self.sessions()), 2)

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".LogOut", "true")
        for page in pages:
            await self.assert_ended(page)
            await self.login_fails("unauthorized", token=page.welcome["token"])
        self.assertEqual(await self.sessions(), [])
        self.assertEqual((await self.root_props())["Status"], "connected")
        await self.join("still-here")
        # Other accounts keep their sessions.
        await bob.call("sessions", {}, "session_list")

    async def test_users_and_disable(self):
        """Users() lists the server's accounts for the owner (an administrator), by name,
        with a query; SetUserDisabled() closes a user's sessions with 1008 and refuses
        their logins until enabled again; an unknown user is NotFound."""
        alice = await self.ws_user("alice")
        bob = await self.ws_user("bob")
        await self.ws_user("alicia")

        (users,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Users", "", "0")
        names = [u[0] for u in users]
        self.assertEqual(names, sorted(names))
        self.assertTrue({"alice", "alicia", "bob"} <= set(names), names)
        by_name = {u[0]: u for u in users}
        self.assertEqual(by_name["bob"][1:3], (False, False))
        self.assertGreater(by_name["bob"][3], 0)

        (users,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Users", "ali", "0")
        self.assertEqual([u[0] for u in users], ["alice", "alicia"])
        (users,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Users", "ali", "1")
        self.assertEqual([u[0] for u in users], ["alice"])

        for args in (("", "501"), ("Not A Name", "0")):
            name, _ = await self.call_error("Users", *args)
            self.assertEqual(name, ERROR_PREFIX + "BadRequest", args)

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SetUserDisabled", "bob", "true")
        await self.assert_ended(bob)
        await self.login_fails("forbidden", user="bob", password=password_for("bob"))
        (users,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Users", "bob", "0")
        self.assertEqual([(u[0], u[2]) for u in users], [("bob", True)])
        await alice.call("sessions", {}, "session_list")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".SetUserDisabled", "bob", "false")
        await self.browser("Bob", user="bob", password=password_for("bob"))
        (users,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Users", "bob", "0")
        self.assertEqual([(u[0], u[2]) for u in users], [("bob", False)])

        for user, error in (("nobody", "NotFound"), ("Not A Name", "BadRequest"),
                            (OWNER, "Forbidden")):
            name, message = await self.call_error("SetUserDisabled", user, "true")
            self.assertEqual(name, ERROR_PREFIX + error, (user, message))

    async def test_non_admin_is_forbidden(self):
        """An account that is no administrator (here natterd signed in to a server as
        alice) gets Forbidden from Users() and SetUserDisabled(), and still sees its own
        sessions, natterd's own link marked as current."""
        url, alice = await self.remote_server()
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Connect", url, "alice",
                              password_for("alice"), "false")
        await eventually(lambda: self.root_props_sync()["Status"] == "connected",
                         message="natterd did not sign in to the server")
        self.assertFalse((await self.root_props())["Admin"])
        for method, args in (("Users", ("", "0")), ("SetUserDisabled", ("bob", "true"))):
            name, _ = await self.call_error(method, *args)
            self.assertEqual(name, ERROR_PREFIX + "Forbidden", method)

        sessions = await self.sessions()
        self.assertEqual(len(sessions), 2, sessions)
        self.assertEqual(sum(1 for s in sessions if s[4]), 1, "natterd's own session is current")


if __name__ == "__main__":
    unittest.main()
