#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The account's sessions and password over D-Bus in upstream mode: natterd's own link is
# one of the account's sessions on the server, ChangePassword() replaces the token kept
# in the Secret Service, LogOut() ends the session on the server and removes it from the
# keyring. Run one with
#   NATTERD=… /usr/bin/python3 test_upstream_accounts.py \
#       UpstreamAccountsTest.test_change_password_replaces_the_token

import glob
import os
import unittest

from upstream_fixture import (CHAT_IFACE, ERROR_PREFIX, ROOT_PATH, JsonClient,
                              UpstreamTestCase, eventually, password_for, room_path)

NEW_PASSWORD = "a-new-password-9"


class UpstreamAccountsTest(UpstreamTestCase):

    async def asyncSetUp(self):
        await super().asyncSetUp()
        await self.register_on_host("alice")

    async def sessions(self):
        (sessions,) = await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Sessions")
        return sessions

    async def token_fails(self, token):
        client = JsonClient(await self.open_host_ws(), "token-check")
        frame = await client.request("login", {"token": token}, expect_error=True)
        await client.close()
        return frame["error"]["code"] == "unauthorized"

    async def login_fails(self, password):
        client = JsonClient(await self.open_host_ws(), "password-check")
        frame = await client.request("login", {"user": "alice", "password": password},
                                     expect_error=True)
        await client.close()
        return frame["error"]["code"] == "unauthorized"

    async def assert_ended(self, client):
        code, _ = await client.wait_closed()
        self.assertEqual(code, 1008, f"{client.label} must be closed with 1008")

    # ----------------------------------------------------------------------------------

    async def test_sessions_and_revoke(self):
        """Sessions() lists natterd's own link (current) and alice's browsers;
        RevokeSession() ends a browser's session; an unknown id is NotFound."""
        await self.start_upstream()
        await self.connect()
        browser = await self.ws_login("alice")
        listing = await browser.call("sessions", {}, "session_list")
        (browser_id,) = [s["id"] for s in listing["sessions"] if s.get("current")]

        sessions = await self.sessions()
        self.assertEqual({s[0] for s in sessions}, {s["id"] for s in listing["sessions"]})
        own = [s for s in sessions if s[4]]
        self.assertEqual(len(own), 1, sessions)
        self.assertNotEqual(own[0][0], browser_id)
        self.assertTrue(own[0][3].startswith("natterd/"), own)

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".RevokeSession", browser_id)
        await self.assert_ended(browser)
        self.assertTrue(await self.token_fails(browser.welcome["token"]))
        self.assertNotIn(browser_id, [s[0] for s in await self.sessions()])
        self.assertIn(own[0][0], [s[0] for s in await self.sessions()])

        name, _ = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".RevokeSession",
                                              "0123456789abcdef")
        self.assertEqual(name, ERROR_PREFIX + "NotFound")
        self.assertEqual((await self.props())[0]["Status"], "connected")

    async def test_change_password_replaces_the_token(self):
        """ChangePassword() with a wrong old password is Unauthorized as a wrong login
        and changes nothing; with the right one the server takes the new password,
        alice's other sessions end, and the token in the Secret Service is replaced by a
        new session's (the old token fails); a password kept there as a fallback is
        replaced too. A restart signs in with the new token."""
        url = self.host.url()
        await self.start_upstream()
        await self.connect()
        await self.join("general")
        old_token = await self.secret_lookup(server=url, user="alice", kind="token")
        self.assertTrue(old_token)
        # The user keeps the password as a fallback for an expired token.
        await self.run_tool("secret-tool", "store", "--label=natter test",
                            "xdg:schema", "io.github.natter.Account", "server", url,
                            "user", "alice", "kind", "password",
                            input_data=password_for("alice").encode())
        browser = await self.ws_login("alice")

        name, message = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + ".ChangePassword",
                                                    "wrong password", NEW_PASSWORD)
        self.assertEqual(name, ERROR_PREFIX + "Unauthorized")
        self.assertEqual(message, "invalid user name or password")
        self.assertEqual(await self.secret_lookup(server=url, user="alice", kind="token"),
                         old_token)

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".ChangePassword", password_for("alice"),
                              NEW_PASSWORD)
        await self.assert_ended(browser)
        self.assertEqual((await self.props())[0]["Status"], "connected")

        async def token_replaced():
            token = await self.secret_lookup(server=url, user="alice", kind="token")
            return token is not None and token != old_token
        await eventually(token_replaced, message="the keyring still holds the old token")

        async def password_replaced():
            return await self.secret_lookup(server=url, user="alice",
                                            kind="password") == NEW_PASSWORD
        await eventually(password_replaced, message="the stored password was not replaced")

        self.assertTrue(await self.token_fails(old_token), "the old token still works")
        self.assertTrue(await self.login_fails(password_for("alice")))
        # Only natterd's new session is left.
        self.assertEqual([s[4] for s in await self.sessions()], [True])
        await self.send("general", "after the change")

        # A restart signs in with the token that is in the keyring now.
        new_token = await self.secret_lookup(server=url, user="alice", kind="token")
        await self.stop_upstream()
        await self.start_upstream()
        await self.wait_status("connected")
        self.assertEqual(await self.secret_lookup(server=url, user="alice", kind="token"),
                         new_token)

    async def test_log_out(self):
        """LogOut(false) ends natterd's session on the server (its token fails), removes
        the account's item from the Secret Service and its local copy, and goes offline;
        alice's browser stays signed in. A restart stays offline."""
        url = self.host.url()
        await self.start_upstream()
        await self.connect()
        await self.join("general")
        token = await self.secret_lookup(server=url, user="alice", kind="token")
        self.assertTrue(token)
        browser = await self.ws_login("alice")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".LogOut", "false")
        self.assertIsNone(await self.secret_lookup(server=url, user="alice"))
        props = (await self.props())[0]
        self.assertEqual((props["Status"], props["Connected"], props["Account"]),
                         ("offline", False, ""))
        self.assertIn("Logged out", props["StatusMessage"])
        self.assertTrue(await self.token_fails(token))
        await eventually(lambda: self.has_no_object_under(room_path("general")),
                         message="the rooms stayed")
        self.assertEqual(glob.glob(os.path.join(self.upstream.data_dir, "upstream-*")), [])
        await browser.call("sessions", {}, "session_list")

        # Offline now: the server cannot be asked, nor logged out of again.
        for method, args in (("Sessions", ()), ("LogOut", ("false",))):
            name, _ = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + "." + method, *args)
            self.assertEqual(name, ERROR_PREFIX + "Unavailable", method)

        await self.stop_upstream()
        await self.start_upstream()
        await self.wait_status("offline")

    async def test_log_out_everywhere(self):
        """LogOut(true) ends every session of the account: the browser closes with
        1008 and its token fails as well."""
        url = self.host.url()
        await self.start_upstream()
        await self.connect()
        browser = await self.ws_login("alice")

        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".LogOut", "true")
        await self.assert_ended(browser)
        self.assertTrue(await self.token_fails(browser.welcome["token"]))
        self.assertIsNone(await self.secret_lookup(server=url, user="alice"))
        self.assertEqual((await self.props())[0]["Status"], "offline")

    async def test_users_forbidden_for_others(self):
        """alice is no administrator of the server: Users() and SetUserDisabled() are
        Forbidden, and nothing changes."""
        await self.start_upstream()
        await self.connect()
        for method, args in (("Users", ("", "0")), ("SetUserDisabled", ("alice", "true"))):
            name, _ = await self.gdbus_call_error(ROOT_PATH, CHAT_IFACE + "." + method, *args)
            self.assertEqual(name, ERROR_PREFIX + "Forbidden", method)
        self.assertEqual((await self.props())[0]["Status"], "connected")


if __name__ == "__main__":
    unittest.main()
