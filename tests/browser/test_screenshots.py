"""Screenshots of the call page as people see it: pre-join, grid, speaker view, chat and the
in-call settings, at laptop (1280x800) and phone (390x844) size, light and dark.

Written to test-artifacts/ on every run; with RTCSITE_UPDATE_SCREENSHOTS=1 also to
docs/screenshots/ (the README shows them). Three users on both processes, relay-only.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from calls.models import Profile, Room
from tests.browser.pages import join_call, wait_connected
from tests.browser.test_browser import ARTIFACTS
from tests.helpers import make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

WAIT = 20_000
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def shoot(page: Page, name: str) -> None:
    """name.png, name-phone.png, name-dark.png and name-phone-dark.png; nothing scrolls sideways."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for size, suffix in ((LAPTOP, ""), (PHONE, "-phone")):
            page.set_viewport_size(size)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name}{suffix} ({scheme}) scrolls sideways by {overflow}px"
            file = f"{name}{suffix}{'-dark' if scheme == 'dark' else ''}.png"
            page.screenshot(path=str(ARTIFACTS / file))
            if os.environ.get("RTCSITE_UPDATE_SCREENSHOTS"):
                shutil.copy(ARTIFACTS / file, DOCS / file)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(LAPTOP)


def say(page: Page, text: str) -> None:
    if not page.locator("#chat-panel").is_visible():
        page.locator("#chat-toggle").click()
    box = page.locator("#chat-panel .chat-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("", timeout=WAIT)


def person(username: str, name: str):
    user, cookie = make_user(username)
    profile = Profile.for_user(user)
    profile.display_name = name
    profile.save()
    return user, cookie


def test_screenshots_of_the_call_page(open_page):
    ARTIFACTS.mkdir(exist_ok=True)
    owner, ca = person("ann", "Ann Lee")
    room = Room.objects.create(name="Design review", owner=owner)
    path = f"/r/{room.pk}/"
    ben = open_page(person("ben", "Ben Ortiz")[1], 1, path)  # microphone live: the active speaker
    cat = open_page(person("cat", "Cat Nguyen")[1], 0, path, join=False)
    cat.locator("#prejoin-mic").click()
    cat.locator("#prejoin-camera").click()
    join_call(cat)

    ann = open_page(ca, 0, path, join=False)
    expect(ann.locator("#prejoin-peers li")).to_have_count(2, timeout=WAIT)
    expect(ann.locator("#join-now")).to_be_enabled()
    ann.wait_for_function("() => document.querySelector('#prejoin-video').videoWidth > 0", timeout=WAIT)
    shoot(ann, "prejoin")

    join_call(ann)
    wait_connected(ann, peers=2)
    b = ben.evaluate("() => window.rtc.signaling.peer")
    ann.wait_for_function(
        "(p) => document.querySelector(`#remotes .tile[data-peer='${p}'] video`)?.videoWidth > 0", arg=b, timeout=WAIT
    )
    ben.locator("#hand").click()
    speaking = ann.locator(f'#remotes .tile:not(.screen)[data-peer="{b}"]')
    expect(speaking).to_have_class(re.compile(r"\bspeaking\b"), timeout=WAIT)
    expect(speaking.locator(".hand-indicator")).to_be_visible(timeout=WAIT)
    shoot(ann, "grid")

    ann.locator("#layout").click()
    expect(speaking).to_have_class(re.compile(r"\bfeatured\b"), timeout=WAIT)
    shoot(ann, "speaker")
    ann.locator("#layout").click()

    say(ben, "Morning! The slides are at https://example.com/deck")
    say(cat, "On the train, so camera off today")
    say(ann, "Thanks, starting with the mobile layouts")
    expect(ann.locator("#chat-panel .chat-message")).to_have_count(3, timeout=WAIT)
    shoot(ann, "chat")

    ann.locator("#chat-toggle").click()
    ann.locator("#settings").click()
    expect(ann.locator("#settings-camera option")).not_to_have_count(0, timeout=WAIT)
    ann.wait_for_function("() => document.querySelector('#settings-mic-level').value > 0", timeout=WAIT)
    shoot(ann, "settings")
