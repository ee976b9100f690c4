"""Accessibility of the site's pages (WCAG 2.2 AA as axe-core checks it, light and dark) and of
the call page beyond axe: pressed states, quiet quality text, focus rings and the keyboard alone."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from calls.models import Call, Profile, Room
from tests.browser.a11y import assert_accessible, inject_axe
from tests.browser.pages import join_call, wait_connected
from tests.helpers import make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

WAIT = 20_000
SCHEMES = ("light", "dark")
MAX_TABS = 60  # more than the call page has controls

# Toggle buttons of the control bar and the state their aria-pressed must follow.
TOGGLES = {
    "mute": "() => window.rtc.state.local.muted",
    "camera": "() => window.rtc.state.local.cameraOff",
    "screen": "() => Boolean(window.rtc.state.local.screen)",
    "hand": "() => window.rtc.mesh.hands.includes(window.rtc.state.self)",
    "chat-toggle": "() => !document.getElementById('chat-panel').hidden",
    "people-toggle": "() => !document.getElementById('people-panel').hidden",
    "layout": "() => document.getElementById('stage').dataset.layout === 'speaker'",
}

# The live region (if any) through which a node's text changes would be announced.
LIVE = "[aria-live]:not([aria-live=off]), [role=status], [role=log], [role=alert], [role=timer], [role=marquee], output"
LIVE_ANCESTOR = f"""(node) => node.closest("{LIVE}")?.outerHTML.slice(0, 80) ?? null"""

# The focused element's accessible name (axe computes it) and its ring: the outline on it or on
# the nearest ancestor showing focus-within (the chat's compose box), its width and its contrast
# with the background it is drawn on.
FOCUS_RING = """() => {
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
    const linear = (v) => (v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    const contrast = (a, b) => {
        const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
        return (x + 0.05) / (y + 0.05);
    };
    const focused = document.activeElement;
    let ring = focused;
    for (let i = 0; ring && i < 4; i++, ring = ring.parentElement) {
        const style = getComputedStyle(ring);
        if (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2) break;
    }
    const name = `${focused.tagName.toLowerCase()}#${focused.id}.${focused.className}`;
    const key = [...document.querySelectorAll("*")].indexOf(focused);
    axe.setup(document);  // a fresh virtual tree: the panels change the DOM
    let label;
    try {
        label = axe.commons.text.accessibleTextVirtual(axe.utils.getNodeFromTree(focused)).trim();
    } finally {
        axe.teardown();
    }
    if (!ring) return { name, key, label, ok: false, why: "no outline of 2px or more" };
    let back = ring.parentElement;
    while (back && (rgb(getComputedStyle(back).backgroundColor)[3] ?? 1) < 0.5) back = back.parentElement;
    const behind = getComputedStyle(back || document.body).backgroundColor;
    const ratio = contrast(rgb(getComputedStyle(ring).outlineColor), rgb(behind));
    return { name, key, label, ok: ratio >= 3, why: `outline contrast ${ratio.toFixed(2)}:1` };
}"""


def check_schemes(page: Page, what: str) -> None:
    """axe on the page as it is, once per colour scheme (the same page, re-rendered)."""
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        assert_accessible(page, f"{what} ({scheme})")
    page.emulate_media(color_scheme="light")


def call_with_ben(open_page, *, join: bool = True) -> tuple[Page, Page]:
    """Ann's page in a room where Ben is in the call already: (ann, ben); connected when `join`."""
    ann, ca = make_user("ann")
    room = Room.objects.create(name="Design review", owner=ann)
    path = f"/r/{room.pk}/"
    ben = open_page(make_user("ben")[1], 1, path)
    page = open_page(ca, 0, path, join=join)
    if join:
        wait_connected(page)
        wait_connected(ben)
    return page, ben


def tab_to(page: Page, element_id: str) -> None:
    """Press Tab until the element has the keyboard focus."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("(id) => document.activeElement?.id === id", element_id):
            return
    raise AssertionError(f"#{element_id} not reached with {MAX_TABS} presses of Tab")


def test_anonymous_pages_pass_axe(open_page):
    page = open_page(None, 0, "/login/")
    check_schemes(page, "login")
    page.get_by_role("button", name="Log in").click()  # empty: the form shows its errors
    expect(page.locator(".errorlist").first).to_be_visible()
    check_schemes(page, "login with errors")
    page.goto(page.url.split("/login/")[0] + "/signup/")
    check_schemes(page, "signup")
    page.goto(page.url.replace("/signup/", "/password/reset/"))
    check_schemes(page, "password reset")


def test_signed_in_pages_pass_axe(open_page):
    user, cookie = make_user("ann")
    Room.objects.create(name="Design review", owner=user)
    ben, _ = make_user("ben")
    for state in (Call.State.MISSED, Call.State.ENDED, Call.State.DECLINED):  # the history's state chips
        Call.objects.create(caller=user, callee=ben, state=state)
    Call.objects.create(caller=ben, callee=user, state=Call.State.MISSED)  # the nav badge, the note, "new"
    page = open_page(cookie, 0, "/?q=ben")
    site = page.url.split("/?")[0]
    expect(page.locator("#missed-badge")).to_be_visible()
    check_schemes(page, "home")
    page.goto(site + "/calls/")
    expect(page.locator(".new-tag")).to_be_visible()
    check_schemes(page, "call list")
    page.goto(site + "/password/change/")
    check_schemes(page, "password change")
    page.goto(page.url.replace("/password/change/", "/profile/"))
    check_schemes(page, "profile")
    page.get_by_label("Appearance").select_option("dark")  # saved: the page says so and turns dark
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages li")).to_have_text("Profile saved.")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    check_schemes(page, "profile saved, dark theme")


def test_the_incoming_call_prompt_passes_axe(open_page):
    """The prompt as the callee sees it (a dialog over the home page), in both schemes."""
    _, ann = make_user("ann")
    _, ben = make_user("ben")
    callee = open_page(ben, 1, "/")
    caller = open_page(ann, 0, "/?q=ben")
    expect(caller.locator("#who")).to_be_visible()
    caller.wait_for_function("() => window.rtcSignaling?.peer", timeout=WAIT)
    callee.wait_for_function("() => window.rtcSignaling?.peer", timeout=WAIT)
    caller.locator(".call-button[data-username=ben]").click()
    prompt = callee.get_by_role("alertdialog")
    expect(prompt).to_contain_text("is calling", timeout=WAIT)
    check_schemes(callee, "incoming call prompt")
    check_schemes(caller, "ringing")


def test_call_page_passes_axe(open_page):
    page, _ = call_with_ben(open_page, join=False)
    expect(page.locator("#join-now")).to_be_enabled(timeout=WAIT)
    check_schemes(page, "pre-join")
    for toggle in ("#prejoin-mic", "#prejoin-camera"):  # pressed: join muted, camera off
        page.locator(toggle).click()
        expect(page.locator(toggle)).to_have_attribute("aria-pressed", "true")
    check_schemes(page, "pre-join, mic and camera off")
    join_call(page)
    wait_connected(page)
    expect(page.locator("#remotes .tile:not(.screen)")).to_have_count(1)
    expect(page.locator(".waiting")).to_be_hidden()
    check_schemes(page, "in the call")
    page.locator("#chat-toggle").click()
    page.locator("#people-toggle").click()
    check_schemes(page, "in the call, chat and people open")
    page.set_viewport_size({"width": 390, "height": 844})  # labels visually hidden, still there
    check_schemes(page, "in the call on a phone, people open")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("#settings").click()
    expect(page.locator("#settings-dialog")).to_be_visible()
    check_schemes(page, "in the call, settings open")
    page.keyboard.press("Escape")
    page.locator("#help").click()
    expect(page.locator("#help-dialog")).to_be_visible()
    check_schemes(page, "in the call, shortcuts open")


def test_toggles_say_whether_they_are_pressed(open_page):
    page, ben = call_with_ben(open_page)
    # the badges are read as words in the buttons' names
    expect(page.locator("#people-toggle")).to_have_accessible_name("People (2 in the call)")
    ben.locator("#chat-toggle").click()
    ben.locator("#chat-panel .chat-input").fill("Hello")
    ben.locator("#chat-panel .chat-input").press("Enter")
    expect(page.locator("#chat-toggle")).to_have_accessible_name("Chat (1 unread message)", timeout=WAIT)
    for button, state in TOGGLES.items():
        control = page.locator(f"#{button}")
        expect(control).to_have_attribute("aria-pressed", "false")
        for pressed in ("true", "false"):
            control.click()
            expect(control).to_have_attribute("aria-pressed", pressed, timeout=WAIT)
            assert page.evaluate(state) is (pressed == "true"), f"#{button}: aria-pressed={pressed} but {state}"


def test_connection_quality_is_not_announced(open_page):
    page, _ = call_with_ben(open_page)
    tile = page.locator("#remotes .tile:not(.screen)")
    expect(tile.locator(".quality")).to_contain_text("kbit/s", timeout=WAIT)  # rewritten every few seconds
    for node in (tile.locator(".quality"), tile.locator(".link-state")):
        assert node.evaluate(LIVE_ANCESTOR) is None
    page.locator("#people-toggle").click()
    rows = page.locator("#people-panel .participant-quality:not([hidden])")
    expect(rows).not_to_have_count(0, timeout=WAIT)
    for i in range(rows.count()):
        assert rows.nth(i).evaluate(LIVE_ANCESTOR) is None


def test_call_page_works_with_the_keyboard_alone(open_page):
    page, _ = call_with_ben(open_page)
    mute = page.locator("#mute")
    tab_to(page, "mute")
    page.keyboard.press("Space")
    expect(mute).to_have_attribute("aria-pressed", "true")
    assert page.evaluate(TOGGLES["mute"]) is True
    page.keyboard.press("Enter")
    expect(mute).to_have_attribute("aria-pressed", "false")

    tab_to(page, "chat-toggle")
    page.keyboard.press("Enter")
    expect(page.locator("#chat-panel .chat-input")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#chat-panel")).to_be_hidden()
    expect(page.locator("#chat-toggle")).to_be_focused()

    tab_to(page, "settings")
    page.keyboard.press("Enter")
    expect(page.locator("#settings-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#settings-dialog")).to_be_hidden()
    expect(page.locator("#settings")).to_be_focused()


def test_every_control_is_named_and_shows_a_focus_ring(open_page):
    page, _ = call_with_ben(open_page)
    inject_axe(page)
    page.locator("#chat-toggle").click()
    page.locator("#people-toggle").click()
    page.locator("body").focus()
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        page.evaluate("() => document.activeElement?.blur()")
        seen, bad = set(), []
        for _ in range(MAX_TABS):
            page.keyboard.press("Tab")
            ring = page.evaluate(FOCUS_RING)
            if ring["name"].startswith("body#"):  # past the last control: the next Tab starts over
                continue
            if ring["key"] in seen:  # round the page once
                break
            seen.add(ring["key"])
            if not ring["ok"]:
                bad.append(f"{ring['name']}: {ring['why']}")
            if not ring["label"]:
                bad.append(f"{ring['name']}: no accessible name")
        assert len(seen) > 15, f"only {len(seen)} controls reached with Tab"
        assert not bad, f"{scheme}: controls unnamed or with a missing or faint focus ring:\n" + "\n".join(bad)


# The relative luminance of the page's background (0 black, 1 white).
BACKGROUND_LUMINANCE = """() => {
    const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/[\\d.]+/g).map(Number);
    const linear = (v) => (v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}"""


@pytest.mark.parametrize(("theme", "system", "dark"), [("dark", "light", True), ("light", "dark", False)])
def test_the_chosen_theme_wins_over_the_system(open_page, theme, system, dark):
    user, cookie = make_user("ann")
    Profile.objects.filter(pk=Profile.for_user(user).pk).update(theme=theme)
    page = open_page(cookie, 0, "/", color_scheme=system)
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    assert (page.evaluate(BACKGROUND_LUMINANCE) < 0.05) is dark, f"theme={theme} on a {system} system"
    Profile.objects.filter(user=user).update(theme="system")
    page.reload()
    assert (page.evaluate(BACKGROUND_LUMINANCE) < 0.05) is (system == "dark"), "system theme"
