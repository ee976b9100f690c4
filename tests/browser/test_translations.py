"""The call page in German for a user who chose it: the page's own text and what its scripts write.

The scripts' words come from Django's JavaScript catalog, a same-origin classic script loaded before
the modules; the page records every CSP violation and script error from its first script on.
"""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from calls.models import Profile, Room
from tests.browser.pages import join_call
from tests.helpers import make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

WAIT = 20_000  # ms
RECORD_PROBLEMS = """window.pageProblems = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.pageProblems.push(`CSP ${e.violatedDirective} ${e.blockedURI}`));
window.addEventListener("error", (e) => window.pageProblems.push(`error ${e.message || e.target?.src}`), true);"""


def test_the_call_page_speaks_the_users_language(open_page):
    user, cookie = make_user("dora")
    Profile.objects.update_or_create(user=user, defaults={"language": "de"})
    room = Room.objects.create(name="Teamrunde", owner=user)
    page = open_page(cookie, 0, f"/r/{room.pk}/", join=False, init_script=RECORD_PROBLEMS)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    # The pre-join screen: the template's words, and the ones prejoin.js writes.
    assert page.locator("html").get_attribute("lang") == "de"
    expect(page.locator("#join-now")).to_have_text("Jetzt beitreten")
    expect(page.locator("#join-now")).to_be_enabled(timeout=WAIT)
    expect(page.locator("#prejoin-mic .label")).to_have_text("Mikrofon an")
    expect(page.locator("#prejoin-status")).to_have_text("Noch ist niemand da.", timeout=WAIT)
    assert page.evaluate("() => window.django.gettext('Mute')") == "Stummschalten"

    # In the call: the control bar as call.js labels it, before and after muting.
    join_call(page)
    mute = page.locator("#mute")
    expect(mute.locator(".label")).to_have_text("Stummschalten")
    mute.click()
    expect(mute.locator(".label")).to_have_text("Stummschaltung aufheben")
    expect(mute).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#hangup .label")).to_have_text("Verlassen")
    page.locator("#people-toggle").click()
    expect(page.locator("#people-panel .panel-title")).to_contain_text("Teilnehmende")
    expect(page.locator("#people-panel .participant-you")).to_have_text("(Sie)")

    assert page.evaluate("() => window.pageProblems") == []
    assert console_errors == []
