"""Never miss a call: desktop notifications with Accept and Decline while the tab is hidden, a
ringtone that sounds (or says how to make it sound), ringback for the caller, and the count of
missed calls in the nav and the tab title, live.

Callers use the cluster's Chromium (which plays audio without a gesture); the callee of the sound
test uses a second Chromium with the browser's default autoplay policy, where audio stays
suspended until the page has had a user gesture. Everything is read from the pages (`rtcCalls`,
the DOM) and from the service worker (its notifications).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from calls.models import Call, Profile
from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.pages import RING_TIMEOUT
from tests.browser.test_browser import ARTIFACTS
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.helpers import make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

WAIT = 10_000
# Headless Chromium keeps every page visible and has no way to hide one, so the callee's page
# gets a document whose visibility the test sets: `setHidden(true)` reports "hidden" and fires
# `visibilitychange`, as switching to another tab would.
HIDEABLE = """(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", { configurable: true,
    get() { return hidden ? "hidden" : "visible"; } });
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get() { return hidden; } });
  window.setHidden = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
})();"""
# The service worker's notifications, waited for inside the worker (up to 10 s) until `count` are shown.
NOTIFICATIONS = """async (count) => {
  for (let i = 0; i < 100; i++) {
    const shown = await self.registration.getNotifications();
    if (shown.length === count) return shown.map((n) => ({ title: n.title, tag: n.tag, call: n.data.call,
      actions: n.actions.map((a) => a.action) }));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}"""
CLICK_ACCEPT = """async () => {
  const [notification] = await self.registration.getNotifications();
  self.dispatchEvent(new NotificationEvent("notificationclick", { notification, action: "accept" }));
}"""
SIGNALING_OPEN = "() => window.rtcSignaling && window.rtcSignaling.open"


@pytest.fixture(scope="module")
def quiet_browser(browser):
    """A Chromium with the default autoplay policy: no sound before the page's first user gesture."""
    args = [arg for arg in CHROMIUM_ARGS if not arg.startswith("--autoplay-policy")]
    chromium = browser.browser_type.launch(executable_path="/usr/bin/chromium", headless=True, args=args)
    yield chromium
    chromium.close()


@pytest.fixture
def user_page(servers):
    """user_page(browser, cookie, node, path, permissions=..., init_script=...) -> (page, context).

    With `path` None the page is left blank, for the test to open it."""
    contexts = []

    def open_(browser, cookie: str, node: int, path: str | None, *, permissions=(), init_script=None):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": servers[node].url}])
        if permissions:
            context.grant_permissions(list(permissions), origin=servers[node].url)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        if path is not None:
            page.goto(f"{servers[node].url}{path}")
            page.wait_for_function(SIGNALING_OPEN, timeout=WAIT)
        return page, context

    yield open_
    for context in contexts:
        context.close()


def call(caller: Page, callee: str, callee_page: Page) -> None:
    caller.locator(f".call-button[data-username={callee}]").click()
    expect(caller.locator("#call-banner")).to_contain_text("Ringing", timeout=WAIT)
    expect(callee_page.locator("#call-banner")).to_contain_text("is calling", timeout=WAIT)


def calls_state(page: Page, field: str):
    return page.evaluate(f"() => window.rtcCalls.{field}")


def test_a_hidden_tab_notifies_and_the_notification_answers(browser, user_page, servers):
    _, ca = make_user("alice")
    _, cb = make_user("bob")
    caller, _ = user_page(browser, ca, 0, "/?q=bob")
    callee, context = user_page(
        browser, cb, 1, "/", permissions=["notifications"], init_script=HIDEABLE + RECORD_VIOLATIONS
    )
    worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
    assert worker.url == f"{servers[1].url}/sw.js"

    # a visible tab rings in the page only (the choice is made as the call comes in) ...
    call(caller, "bob", callee)
    assert worker.evaluate(NOTIFICATIONS, 0) == [] and calls_state(callee, "notified") is None
    # ... and once it is hidden, a notification with Accept and Decline rings instead
    callee.evaluate("() => setHidden(true)")
    shown = worker.evaluate(NOTIFICATIONS, 1)
    assert shown and shown[0]["title"] == "alice is calling", shown
    assert shown[0]["actions"] == ["accept", "decline"]
    # the caller hangs up: the notification goes, the callee's count of missed calls goes up, live
    caller.locator("[data-call-action=cancel]").click()
    assert worker.evaluate(NOTIFICATIONS, 0) == []
    expect(callee.locator("#missed-badge")).to_have_text("1 missed", timeout=WAIT)
    assert callee.title().startswith("(1) ")

    # Accept on the notification answers the call from this tab: both sides reach the call page
    call(caller, "bob", callee)
    assert worker.evaluate(NOTIFICATIONS, 1)
    worker.evaluate(CLICK_ACCEPT)
    caller.wait_for_url("**/r/*/?call=*", timeout=WAIT)
    callee.wait_for_url("**/r/*/?call=*", timeout=WAIT)
    assert worker.evaluate(NOTIFICATIONS, 0) == []

    # the profile's setting shows it on and turns it off (and on) for this browser
    profile = context.new_page()
    profile.goto(f"{servers[1].url}/profile/")
    toggle = profile.locator("#notify-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "true", timeout=WAIT)
    expect(profile.locator("#notify-state")).to_contain_text("On")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(profile.locator("#notify-state")).to_contain_text("Off")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    for page in (callee, profile):
        assert page.evaluate("() => window.cspViolations") == [], page.url


def test_a_refused_permission_shows_as_blocked_and_the_setting_stops_asking(browser, user_page, servers):
    """Headless Chromium refuses a permission it was not granted, as a person clicking Block does."""
    _, cookie = make_user("dana")
    page, _ = user_page(browser, cookie, 0, "/profile/")
    toggle, state = page.locator("#notify-toggle"), page.locator("#notify-state")
    expect(state).to_have_text("Off in this browser.", timeout=WAIT)
    toggle.click()
    expect(state).to_contain_text("Blocked by the browser", timeout=WAIT)
    expect(toggle).to_be_disabled()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("() => Notification.permission") == "denied"
    page.reload()  # the browser's refusal is what the page reads, not something it remembered
    expect(page.locator("#notify-state")).to_contain_text("Blocked by the browser", timeout=WAIT)
    expect(page.locator("#notify-toggle")).to_be_disabled()


def test_ringtone_needs_a_gesture_and_the_prompt_is_a_dialog(browser, quiet_browser, user_page, servers):
    _, ca = make_user("alice")
    _, cb = make_user("bob")
    caller, _ = user_page(browser, ca, 0, "/?q=bob")
    # Anything Playwright evaluates in a page counts as a user gesture there, so until the first
    # call has come in, the callee's page is only watched from outside: its WebSocket's frames.
    callee, _ = user_page(quiet_browser, cb, 1, None)
    with callee.expect_websocket() as opened:
        callee.goto(f"{servers[1].url}/")
    socket = opened.value
    socket.wait_for_event("framereceived", predicate=lambda text: '"hello"' in text, timeout=WAIT)
    with socket.expect_event("framereceived", predicate=lambda text: '"incoming-call"' in text, timeout=WAIT):
        caller.locator(".call-button[data-username=bob]").click()
    callee.wait_for_function("() => window.rtcCalls.ringing", timeout=WAIT)
    banner = callee.locator("#call-banner")
    # no gesture yet: the ringtone is blocked and the banner says how to hear it
    assert calls_state(callee, "sound") == "blocked"
    enable = callee.locator("[data-enable-sound]")
    expect(enable).to_be_visible()
    expect(enable).to_have_accessible_name("Click to enable sound")
    # the caller hears ringback while it rings
    caller.wait_for_function("() => window.rtcCalls.ringback && window.rtcCalls.sound === 'playing'", timeout=WAIT)
    enable.click()
    callee.wait_for_function("() => window.rtcCalls.sound === 'playing'", timeout=WAIT)
    expect(enable).to_be_hidden()
    callee.locator("[data-call-action=decline]").click()
    expect(caller.locator("#call-banner")).to_contain_text("declined", timeout=WAIT)
    assert calls_state(callee, "ringing") is False and calls_state(callee, "sound") == "off"
    caller.wait_for_function("() => !window.rtcCalls.ringback && window.rtcCalls.sound === 'off'", timeout=WAIT)

    # after that gesture the next call sounds at once, no button; the prompt is a dialog:
    # focus on Accept, Escape declines, focus goes back where it was
    search = callee.locator("input[type=search]")
    search.focus()
    call(caller, "bob", callee)
    expect(banner).to_have_attribute("role", "alertdialog")
    expect(banner).to_have_attribute("aria-label", "Incoming call")
    expect(callee.locator("[data-call-action=accept]")).to_be_focused()
    callee.wait_for_function("() => window.rtcCalls.sound === 'playing'", timeout=WAIT)
    expect(callee.locator("[data-enable-sound]")).to_be_hidden()
    callee.keyboard.press("Escape")
    expect(caller.locator("#call-banner")).to_contain_text("declined", timeout=WAIT)
    expect(search).to_be_focused()

    # ringback stops on accept too (recorded as the accepted state arrives, before the caller's page moves on)
    call(caller, "bob", callee)
    caller.evaluate(
        """() => window.rtcSignaling.addEventListener("call-state", ({ detail }) => {
            if (detail.call.state === "accepted") sessionStorage.setItem("ringbackAfterAccept",
              JSON.stringify([window.rtcCalls.ringback, window.rtcCalls.sound])); })"""
    )
    callee.locator("[data-call-action=accept]").click()
    caller.wait_for_url("**/r/*/?call=*", timeout=WAIT)
    assert caller.evaluate("() => sessionStorage.getItem('ringbackAfterAccept')") == '[false,"off"]'

    # when the first call ends, notifications are offered once; "Not now" is remembered
    callee.wait_for_url("**/r/*/?call=*", timeout=WAIT)
    call_id = caller.url.rsplit("call=", 1)[1]
    callee.wait_for_function("() => window.rtc && window.rtc.signaling.open", timeout=WAIT)
    callee.evaluate("(id) => window.rtc.signaling.send({ type: 'hangup', call: id })", call_id)
    offer = callee.locator("#call-banner [data-notify-offer=on]")
    expect(offer).to_have_text("Turn on call notifications", timeout=WAIT)
    expect(callee.locator("#call-banner")).to_contain_text("ended")
    callee.locator("#call-banner [data-notify-offer=later]").click()
    expect(callee.locator("#call-banner")).to_be_hidden()
    assert callee.evaluate("() => localStorage.getItem('rtc.notifications.offered')") == "1"


def test_missed_calls_count_live_and_clear_on_the_call_list(browser, user_page, servers):
    _, ca = make_user("alice")
    _, cb = make_user("bob")
    caller, _ = user_page(browser, ca, 0, "/?q=bob")
    callee, context = user_page(browser, cb, 1, "/", init_script=RECORD_VIOLATIONS)
    badge = callee.locator("#missed-badge")
    expect(badge).to_be_hidden()
    plain_title = callee.title()

    call(caller, "bob", callee)
    expect(callee.locator("#call-banner")).to_contain_text("Missed call from alice", timeout=(RING_TIMEOUT + 10) * 1000)
    expect(badge).to_have_text("1 missed")
    expect(callee.locator("#home-missed")).to_contain_text("You missed 1 call.")
    assert callee.title() == f"(1) {plain_title}"
    expect(caller.locator("#missed-badge")).to_be_hidden()  # the caller missed nothing

    # the call list marks it; opening it clears the count here and on the tab already open
    listing = context.new_page()
    listing.goto(f"{servers[1].url}/calls/")
    row = listing.locator("tr.call-row").first
    expect(row).to_have_class("call-row missed new")
    expect(listing.locator("#missed-badge")).to_be_hidden()
    expect(badge).to_be_hidden(timeout=WAIT)
    expect(callee.locator("#home-missed")).to_be_hidden()
    assert callee.title() == plain_title
    # "Call back" rings the caller
    listing.wait_for_function(SIGNALING_OPEN, timeout=WAIT)
    row.locator(".call-button").click()
    expect(caller.locator("#call-banner")).to_contain_text("bob is calling", timeout=WAIT)
    caller.locator("[data-call-action=decline]").click()
    expect(listing.locator("#call-banner")).to_contain_text("alice declined", timeout=WAIT)
    for page in (callee, listing):
        assert page.evaluate("() => window.cspViolations") == [], page.url


def shots(page: Page, name: str, show: str | None = None) -> None:
    """name[-phone][-dark].png in test-artifacts/, with `show` scrolled into view; nothing scrolls sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for size, suffix in (({"width": 1280, "height": 800}, ""), ({"width": 390, "height": 844}, "-phone")):
            page.set_viewport_size(size)
            if show:
                page.locator(show).scroll_into_view_if_needed()
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name}{suffix} ({scheme}) scrolls sideways by {overflow}px"
            page.screenshot(path=str(ARTIFACTS / f"{name}{suffix}{'-dark' if scheme == 'dark' else ''}.png"))


def test_screenshots_of_the_prompt_the_call_list_and_the_setting(browser, quiet_browser, user_page, servers):
    alice, ca = make_user("alice")
    bob, cb = make_user("bob")
    Profile.objects.filter(user=alice).update(display_name="Alice Martin")
    Profile.objects.filter(user=bob).update(display_name="Bob Stone")
    carol, _ = make_user("carol")
    now = timezone.now()
    for minutes, caller, callee, state in (
        (300, bob, carol, Call.State.ENDED),
        (200, carol, bob, Call.State.DECLINED),
        (90, alice, bob, Call.State.ENDED),
        (30, carol, bob, Call.State.MISSED),
        (5, alice, bob, Call.State.CANCELLED),
    ):
        answered = now - timedelta(minutes=minutes - 1) if state == Call.State.ENDED else None
        Call.objects.create(
            caller=caller,
            callee=callee,
            state=state,
            created_at=now - timedelta(minutes=minutes),
            answered_at=answered,
            ended_at=now - timedelta(minutes=minutes - 13),
        )
    caller, _ = user_page(browser, ca, 0, "/?q=bob")
    # sound blocked: the prompt shows its sound button; notifications allowed: the setting shows "on"
    callee, _ = user_page(quiet_browser, cb, 1, None, permissions=["notifications"])
    with callee.expect_websocket() as opened:
        callee.goto(f"{servers[1].url}/")
    opened.value.wait_for_event("framereceived", predicate=lambda text: '"hello"' in text, timeout=WAIT)
    with opened.value.expect_event("framereceived", predicate=lambda text: '"incoming-call"' in text, timeout=WAIT):
        caller.locator(".call-button[data-username=bob]").click()
    expect(callee.locator("[data-enable-sound]")).to_be_visible(timeout=WAIT)
    shots(callee, "incoming-call")
    callee.locator("[data-call-action=decline]").click()
    callee.goto(f"{servers[1].url}/calls/")
    expect(callee.locator("tr.call-row")).to_have_count(6)
    shots(callee, "call-list")
    callee.goto(f"{servers[1].url}/profile/")
    expect(callee.locator("#notify-toggle")).to_be_visible()
    shots(callee, "notification-setting", show="#notifications")
