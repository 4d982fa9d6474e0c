#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Validates a built desktop or metainfo file and fails on anything the validator says,
# down to desktop-file-validate's hints and appstreamcli's pedantic issues: both tools
# exit with 0 on those, and Flathub's review reads them. The metainfo must also have what
# Flathub asks for and Debian 12's appstreamcli does not check: a developer with an id,
# the launchable, releases with dates and notes, an OARS rating, captioned screenshots.
#
#   validate-strict.py desktop FILE
#   validate-strict.py metainfo FILE

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

# Issues accepted, each with its reason: (tag, hint), or (tag, None) for any hint.
# Nothing else passes.
ACCEPTED_METAINFO_ISSUES = {
    # The app ID is fixed (design.md) and, like GNOME's own apps', in CamelCase.
    ("cid-contains-uppercase-letter", None),
}
# AppStream learnt <developer id=…> in 1.0; Flathub needs it, Debian 12's 0.16 calls it
# unknown.
OLD_VALIDATOR_ISSUES = {("unknown-tag", "developer")}
# appstreamcli's text report: one line an issue, "S: COMPONENT[:LINE]: TAG [HINT]".
ISSUE = re.compile(r"^([EWIP]): \S+: (\S+)(?: (.*))?$")


def run(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc.returncode, proc.stdout


def validate_desktop(path):
    rc, out = run(["desktop-file-validate", path])
    sys.stdout.write(out)
    return rc == 0 and not out.strip()


def validate_metainfo(path):
    _, version = run(["appstreamcli", "--version"])
    major = re.search(r"(\d+)\.\d+", version)
    accepted = set(ACCEPTED_METAINFO_ISSUES)
    if major is None or int(major.group(1)) < 1:
        accepted |= OLD_VALIDATOR_ISSUES
    rc, out = run(["appstreamcli", "validate", "--pedantic", "--no-net", "--explain", path])
    sys.stdout.write(out)
    ok = rc == 0
    for line in out.splitlines():
        if not re.match(r"[EWIP]: ", line):
            continue
        issue = ISSUE.match(line)
        tag, hint = (issue.group(2), issue.group(3)) if issue else (None, None)
        if tag is not None and ((tag, hint) in accepted or (tag, None) in accepted):
            print(f"# accepted: {line}")
        else:
            print(f"# not accepted: {line}")
            ok = False
    for problem in flathub_problems(path):
        print(f"# missing: {problem}")
        ok = False
    return ok


XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def untranslated_text(element, tag):
    """The text of @element's child @tag in the original language (translations have an
    xml:lang)."""
    return next((child.text or "" for child in element.findall(tag)
                 if child.get(XML_LANG) is None), "").strip()


def flathub_problems(path):
    component = ET.parse(path).getroot()
    app_id = component.findtext("id")
    problems = []

    def need(condition, problem):
        if not condition:
            problems.append(problem)

    developer = component.find("developer")
    need(developer is not None and developer.get("id") and untranslated_text(developer, "name"),
         "<developer id=…> with a <name>")
    need(any(la.get("type") == "desktop-id" and la.text == f"{app_id}.desktop"
             for la in component.findall("launchable")),
         f"<launchable type=\"desktop-id\">{app_id}.desktop</launchable>")
    releases = component.findall("releases/release")
    need(releases, "<releases>")
    for release in releases:
        need(re.fullmatch(r"\d{4}-\d{2}-\d{2}", release.get("date", "")),
             f"release {release.get('version')}: a date")
        need(release.find("description") is not None and
             "".join(release.find("description").itertext()).strip(),
             f"release {release.get('version')}: a description")
    need(any(rating.get("type", "").startswith("oars-")
             for rating in component.findall("content_rating")), "an OARS <content_rating>")
    screenshots = component.findall("screenshots/screenshot")
    need(screenshots, "<screenshots>")
    need([s for s in screenshots if s.get("type") == "default"], "a default screenshot")
    for n, screenshot in enumerate(screenshots, 1):
        need(untranslated_text(screenshot, "caption"), f"screenshot {n}: a caption")
        need((screenshot.findtext("image") or "").startswith("https://"),
             f"screenshot {n}: an https image")
    return problems


KINDS = {"desktop": validate_desktop, "metainfo": validate_metainfo}

if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
    sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(KINDS)}}} FILE")
sys.exit(0 if KINDS[sys.argv[1]](sys.argv[2]) else 1)
