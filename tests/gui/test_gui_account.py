#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Account page of Preferences: sessions with "This device" and Sign Out, the
# password dialog, Log Out in upstream mode, and an administrator's user list. Driven
# through the app's test actions while WebSocket clients are the browsers whose sessions
# it ends. Screenshots go to tests/artifacts/gui/. Run one with
#   NATTERD=… NATTER_APP=… /usr/bin/python3 test_gui_account.py GuiAccountTest.test_account_page_hosting

import asyncio
import subprocess
import unittest

from natter_gui_fixture import OWNER, GuiTestCase, eventually, required_env
from natter_fixture import JSON_PROTOCOL, JsonClient, open_ws, password_for  # noqa: E402

ROOT_PATH = "/io/github/natter/Chat"
CHAT_IFACE = "io.github.natter.Chat"
OWNER_PASSWORD = "owner-password-1"
NEW_PASSWORD = "a-new-password-9"


class GuiAccountTest(GuiTestCase):

    async def set_owner_password(self):
        """What an operator does so that the owner can use the web page too."""
        result = await asyncio.to_thread(
            subprocess.run, [required_env("NATTERD"), "--data-dir", self.daemon.data_dir,
                             "--reset-password", OWNER],
            input=(OWNER_PASSWORD + "\n").encode(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=self.env, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr.decode())

    async def browser(self, url, user, password, agent):
        ws = await open_ws(url, [JSON_PROTOCOL], user_agent=agent)
        client = JsonClient(ws, agent)
        self.clients.append(client)
        await client.login(user, password)
        return client

    async def login_works(self, url, user, password):
        ws = await open_ws(url, [JSON_PROTOCOL])
        client = JsonClient(ws, "check")
        frame = await client.request("login", {"user": user, "password": password})
        await client.close()
        return "welcome" in frame

    async def assert_ended(self, client):
        code, _ = await client.wait_closed()
        self.assertEqual(code, 1008, f"{client.label} must be closed with 1008")

    async def open_account_page(self):
        await self.activate("preferences")
        await self.eventually_shows(lambda d: len(d["windows"]) == 1, "Preferences did not open")
        await self.action_string("test-page", "account")
        return await self.eventually_shows(lambda d: "Signed In" in d["labels"],
                                           "the Account page does not show the sessions")

    async def change_password(self, old, new, variant):
        """The password dialog: a wrong current password says so and keeps the dialog,
        the right one closes it."""
        await self.click("Change Password")
        shown = await self.eventually_shows(lambda d: "Change Password" in d["windows"],
                                            "the password dialog did not open")
        await self.fill("Current Password", "not the password")
        await self.fill("New Password", new)
        await self.fill("Confirm New Password", new + "x")
        shown = await self.eventually_shows(
            lambda d: "The new passwords do not match" in d["labels"],
            "different new passwords are not pointed out")
        await self.fill("Confirm New Password", new)
        await self.click("_Change")
        shown = await self.eventually_shows(
            lambda d: "The current password is not right" in d["labels"] and
            "Change Password" in d["windows"],
            "a wrong current password is not pointed out")
        await self.screenshot(f"{variant}-password-dialog-wrong.png", window="Change Password")
        await self.fill("Current Password", old)
        await self.click("_Change")
        await self.eventually_shows(lambda d: "Change Password" not in d["windows"] and
                                    "Password changed" in d["labels"],
                                    "the password was not changed", timeout=30)

    # ----------------------------------------------------------------------------------

    async def test_account_page_hosting(self):
        """Hosting: the owner's browser sessions are listed and one is signed out (its
        connections, the one that signed in with its token too, close with 1008); the password dialog changes the password; the
        administrator finds a user and disables and enables them. Light, dark and
        narrow screenshots."""
        await self.set_owner_password()
        url = self.daemon.url()
        page = await self.browser(url, OWNER, OWNER_PASSWORD, "NatterTest-Browser/1.0")
        # A second tab of that browser: the same session, signed in with its token.
        ws = await open_ws(url, [JSON_PROTOCOL])
        tab = JsonClient(ws, "tab")
        self.clients.append(tab)
        await tab.login(token=page.welcome["token"])
        bob = await self.ws_user("bob")
        await self.ws_user("alice")
        await self.start_app()

        shown = await self.open_account_page()
        shown = await self.eventually_shows(
            lambda d: "NatterTest-Browser/1.0" in d["labels"] and "Sign Out" in d["labels"] and
            "alice" in d["labels"] and "bob" in d["labels"],
            "the sessions and users are not listed")
        self.assertNotIn("Log Out", shown["labels"], "hosting has no sign-in to log out of")
        await self.screenshot("light-preferences-account-host.png", window=shown["windows"][0])

        await self.click("Sign Out")
        await self.assert_ended(page)
        await self.assert_ended(tab)
        await self.eventually_shows(lambda d: "Not signed in anywhere else" in d["labels"],
                                    "the ended session is still listed")

        await self.change_password(OWNER_PASSWORD, NEW_PASSWORD, "light")
        self.assertTrue(await self.login_works(url, OWNER, NEW_PASSWORD))
        self.assertFalse(await self.login_works(url, OWNER, OWNER_PASSWORD))

        await self.fill("Search Users", "bob")
        await self.eventually_shows(lambda d: "bob" in d["labels"] and "alice" not in d["labels"],
                                    "the search does not narrow the users")
        await self.click("Disable")
        await self.assert_ended(bob)
        await self.eventually_shows(lambda d: "Enable" in d["labels"],
                                    "bob is not shown as disabled")
        self.assertFalse(await self.login_works(url, "bob", password_for("bob")))
        await self.click("Enable")
        await self.eventually_shows(lambda d: "Disable" in d["labels"],
                                    "bob is not shown as enabled again")
        self.assertTrue(await self.login_works(url, "bob", password_for("bob")))

        await self.set_action_state("color-scheme", "'dark'")
        await self.eventually_shows(lambda d: d["dark"], "the dark style did not apply")
        await self.screenshot("dark-preferences-account-host.png", window=shown["windows"][0])
        await self.resize_window(shown["windows"][0], 360, 640)
        await self.screenshot("narrow-preferences-account-host.png", window=shown["windows"][0])
        self.assertEqual(self.log_problems(), [])

    async def test_account_page_on_a_server(self):
        """Signed in to a server: natterd's own session is "This device", alice's
        browser is signed out from the page, the password is changed (the server takes
        the new one), and Log Out signs this computer out: natterd is offline with no
        account."""
        url, alice = await self.remote_server()
        await self.gdbus_call(ROOT_PATH, CHAT_IFACE + ".Connect", url, "alice",
                              password_for("alice"), "false")
        await eventually(lambda: self.root_props_sync()["Status"] == "connected",
                         message="natterd did not sign in to the server")
        await self.start_app()

        shown = await self.open_account_page()
        shown = await self.eventually_shows(
            lambda d: "This device" in d["labels"] and "Sign Out" in d["labels"] and
            "Log Out" in d["labels"],
            "natterd's own session or alice's browser is not listed")
        self.assertNotIn("Search Users", shown["labels"], "alice is no administrator")
        await self.screenshot("light-preferences-account-upstream.png", window=shown["windows"][0])

        await self.click("Sign Out")
        await self.assert_ended(alice)

        await self.change_password(password_for("alice"), NEW_PASSWORD, "upstream")
        self.assertTrue(await self.login_works(url, "alice", NEW_PASSWORD))
        self.assertEqual(self.root_props_sync()["Status"], "connected")

        await self.click("Log Out")
        shown = await self.eventually_shows(lambda d: "Log Out?" in d["windows"],
                                            "Log Out does not ask first")
        await self.screenshot("light-logout-dialog.png", window="Log Out?")
        await self.click("_Log Out")
        await eventually(lambda: self.root_props_sync()["Account"] == "",
                         message="Log Out did not sign natterd out")
        self.assertEqual(self.root_props_sync()["Status"], "offline")
        self.assertEqual(self.log_problems(), [])

    async def test_account_page_in_chinese(self):
        """The Account page and the password dialog in zh_CN."""
        await self.set_owner_password()
        await self.browser(self.daemon.url(), OWNER, OWNER_PASSWORD, "NatterTest-Browser/1.0")
        await self.start_app(**self.chinese_environment())
        await self.activate("preferences")
        await self.eventually_shows(lambda d: len(d["windows"]) == 1, "Preferences did not open")
        await self.action_string("test-page", "account")
        shown = await self.eventually_shows(lambda d: "登录位置" in d["labels"] and "退出" in d["labels"],
                                            "the Account page is not in Chinese")
        await self.screenshot("zh_CN-preferences-account.png", window=shown["windows"][0])
        await self.click("修改密码")
        shown = await self.eventually_shows(lambda d: "修改密码" in d["windows"],
                                            "the password dialog did not open")
        await self.screenshot("zh_CN-password-dialog.png", window="修改密码")
        self.assertEqual(self.log_problems(), [])


if __name__ == "__main__":
    unittest.main()
