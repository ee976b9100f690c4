"""Chat, raised hands and the owner's controls in a room, across both daphne processes.

Everything is read from the pages: the chat panel, the participants panel and the tiles.
"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from calls.models import Room
from tests.helpers import make_user

# Playwright's sync API runs an event loop in this thread; the ORM calls in these tests are
# plain blocking calls between page actions.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

WAIT = 20_000  # ms: joins and frames across two processes on a busy 2-core machine
XSS = '<img src=x onerror="window.pwned=1">'
# Content-Security-Policy violations the page sees, from before its own scripts on.
RECORD_VIOLATIONS = """window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(`${e.violatedDirective} ${e.sourceFile}:${e.lineNumber}`));"""


def enter(open_page, cookie: str, node: int, room: Room, **options) -> Page:
    """A user's page in the room, past the pre-join screen and joined (its own row is listed)."""
    page = open_page(cookie, node, f"/r/{room.pk}/", join=True, **options)
    expect(page.locator("#people-panel li.participant.self")).to_have_count(1, timeout=WAIT)
    return page


def peer_of(page: Page) -> str:
    """The page's own peer id, as its participants panel lists it."""
    return page.locator("#people-panel li.participant.self").get_attribute("data-peer")


def row(page: Page, peer: str):
    return page.locator(f'#people-panel li.participant[data-peer="{peer}"]')


def everyone_sees(pages: list[Page], count: int) -> None:
    for page in pages:
        expect(page.locator("#people-panel li.participant")).to_have_count(count, timeout=WAIT)


def open_chat(page: Page) -> None:
    if not page.locator("#chat-panel").is_visible():
        page.locator("#chat-toggle").click()
    expect(page.locator("#chat-panel .chat-input")).to_be_focused()


def say(page: Page, text: str) -> None:
    """Type a message into the chat and send it with Enter; sent once the input is empty."""
    open_chat(page)
    box = page.locator("#chat-panel .chat-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("", timeout=WAIT)


def open_people(page: Page) -> None:
    if not page.locator("#people-panel").is_visible():
        page.locator("#people-toggle").click()
    expect(page.locator("#people-panel")).to_be_visible()


def assert_conversation(page: Page, expected: list[tuple[str, str]]) -> None:
    """The chat panel shows exactly these (name, text) messages, in order, each with a local time."""
    messages = page.locator("#chat-panel .chat-message")
    expect(messages).to_have_count(len(expected), timeout=WAIT)
    expect(messages.locator(".chat-text")).to_have_text([text for _, text in expected])
    expect(messages.locator(".chat-name")).to_have_text([name for name, _ in expected])
    for time in messages.locator(".chat-time").all_inner_texts():
        assert re.fullmatch(r"\d{2}:\d{2}", time), time
    assert page.locator("#chat-panel img").count() == 0
    assert page.evaluate("() => window.pwned") is None


def test_chat_reaches_everyone_across_processes_and_late_joiners_as_text(open_page):
    ann, ca = make_user("ann")
    room = Room.objects.create(name="Standup", owner=ann)
    ann_page = enter(open_page, ca, 0, room)
    ben_page = enter(open_page, make_user("ben")[1], 1, room)
    cat_page = enter(open_page, make_user("cat")[1], 0, room, init_script=RECORD_VIOLATIONS)
    everyone_sees([ann_page, ben_page, cat_page], 3)

    say(ann_page, "Good morning")
    say(ann_page, XSS)
    say(ben_page, "Notes: https://example.com/notes?day=1.")
    conversation = [("ann", "Good morning"), ("ann", XSS), ("ben", "Notes: https://example.com/notes?day=1.")]

    # Cat kept the chat closed: the badge counts what arrived, and opening the chat clears it.
    expect(cat_page.locator("#chat-unread")).to_have_text("3", timeout=WAIT)
    expect(cat_page.locator("#chat-unread")).to_be_visible()
    open_chat(cat_page)
    expect(cat_page.locator("#chat-unread")).to_be_hidden()
    assert_conversation(cat_page, conversation)
    assert_conversation(ann_page, [("You", "Good morning"), ("You", XSS), conversation[2]])
    assert_conversation(ben_page, [*conversation[:2], ("You", conversation[2][1])])

    # The markup is shown as the text it is; the URL (without the full stop) is a safe link.
    expect(cat_page.locator("#chat-panel .chat-text").nth(1)).to_be_visible()
    link = cat_page.locator("#chat-panel .chat-text a")
    expect(link).to_have_count(1)
    expect(link).to_have_text("https://example.com/notes?day=1")
    expect(link).to_have_attribute("href", "https://example.com/notes?day=1")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    assert cat_page.evaluate("() => window.cspViolations") == []

    # A late joiner on the other process finds the conversation so far, then takes part.
    dora_page = enter(open_page, make_user("dora")[1], 1, room)
    open_chat(dora_page)
    assert_conversation(dora_page, conversation)
    say(dora_page, "Sorry I'm late")
    assert_conversation(ann_page, [("You", "Good morning"), ("You", XSS), conversation[2], ("dora", "Sorry I'm late")])

    # Past the chat rate limit a message is refused: the panel says so and keeps the text. The
    # burst and the typed message leave in one task, so no token comes back in between.
    box = dora_page.locator("#chat-panel .chat-input")
    dora_page.evaluate(
        """() => {
            const room = JSON.parse(document.getElementById("call-config").textContent).room;
            const send = (text) => window.rtc.signaling.request({type: "chat", room, text}).catch(() => {});
            for (let i = 0; i < 20; i++) send(`burst ${i}`);
            const box = document.querySelector("#chat-panel .chat-input");
            box.value = "one more";
            box.dispatchEvent(new Event("input", {bubbles: true}));
            box.form.requestSubmit();
        }"""
    )
    expect(dora_page.locator("#chat-panel .chat-error")).to_contain_text("too quickly", timeout=WAIT)
    expect(box).to_have_value("one more")
    expect(box).to_have_attribute("aria-invalid", "true")


def test_raised_hands_queue_in_order_the_owner_lowers_one_and_leavers_drop_out(open_page):
    ann, ca = make_user("ann")
    room = Room.objects.create(name="Standup", owner=ann)
    pages = [enter(open_page, ca, 0, room), enter(open_page, make_user("ben")[1], 1, room)]
    pages.append(enter(open_page, make_user("cat")[1], 0, room))
    ann_page, ben_page, cat_page = pages
    everyone_sees(pages, 3)
    ben, cat = peer_of(ben_page), peer_of(cat_page)
    for page in pages:
        open_people(page)

    ben_page.locator("#hand").click()
    for page in pages:
        expect(row(page, ben).locator(".participant-hand")).to_have_text("✋ 1", timeout=WAIT)
    cat_page.locator("#hand").click()
    for page in pages:
        expect(row(page, cat).locator(".participant-hand")).to_have_text("✋ 2", timeout=WAIT)
        expect(row(page, ben).locator(".participant-hand")).to_have_text("✋ 1")
    expect(ann_page.locator("#people-panel .hands-summary")).to_have_text("2 hands raised: ben, cat")
    expect(ben_page.locator("#people-panel .hands-summary")).to_have_text("2 hands raised: You, cat")
    # The tiles say it too: the others' tiles carry their place in the queue, one's own tile too.
    for page, own in ((ann_page, None), (ben_page, ben), (cat_page, cat)):
        for peer, place in ((ben, "1"), (cat, "2")):
            tile = page.locator("figure.tile.local" if peer == own else f'figure.tile:not(.screen)[data-peer="{peer}"]')
            expect(tile.locator(".hand-indicator")).to_be_visible(timeout=WAIT)
            expect(tile.locator(".hand-indicator")).to_contain_text(place)
    expect(ben_page.locator("#hand")).to_have_attribute("aria-pressed", "true")
    # Only the owner has the controls.
    expect(ben_page.locator("#people-panel .participant-lower-hand")).to_have_count(0)
    expect(ben_page.locator("#people-panel .participant-remove")).to_have_count(0)

    # The owner lowers Ben's hand: Cat moves up everywhere and Ben's own button follows.
    row(ann_page, ben).locator(".participant-lower-hand").click()
    for page in pages:
        expect(row(page, ben).locator(".participant-hand")).to_be_hidden(timeout=WAIT)
        expect(row(page, cat).locator(".participant-hand")).to_have_text("✋ 1")
        expect(page.locator("#people-panel .hands-summary")).to_contain_text("1 hand raised:")
    expect(ben_page.locator("#hand")).to_have_attribute("aria-pressed", "false")
    expect(ann_page.locator(f'figure.tile:not(.screen)[data-peer="{ben}"] .hand-indicator')).to_be_hidden()

    cat_page.locator("#hand").click()
    for page in pages:
        expect(page.locator("#people-panel .hands-summary")).to_be_hidden(timeout=WAIT)
        expect(page.locator("#people-panel .participant-hand:visible")).to_have_count(0)

    # Ben and Cat raise their hands again; Ben leaves (the page asks first): Cat is next everywhere.
    ben_page.locator("#hand").click()
    expect(row(ann_page, ben).locator(".participant-hand")).to_have_text("✋ 1", timeout=WAIT)
    cat_page.locator("#hand").click()
    expect(row(ann_page, cat).locator(".participant-hand")).to_have_text("✋ 2", timeout=WAIT)
    leave = ben_page.locator("#leave-dialog")
    ben_page.locator("#hangup").click()
    expect(leave).to_be_visible()
    leave.locator("#leave-cancel").click()  # "Stay"
    expect(leave).to_be_hidden()
    expect(ben_page.locator("#hand")).to_be_enabled()
    assert ben_page.evaluate("() => !document.body.classList.contains('call-ended') && window.rtc.state.joined")
    ben_page.locator("#hangup").click()
    leave.locator("#leave-confirm").click()
    expect(ben_page.locator("#notice")).to_contain_text("You left the call", timeout=WAIT)
    for page in (ann_page, cat_page):
        expect(row(page, ben)).to_have_count(0, timeout=WAIT)
        expect(row(page, cat).locator(".participant-hand")).to_have_text("✋ 1", timeout=WAIT)
        expect(page.locator("#people-panel .hands-summary")).to_contain_text("1 hand raised:")
    expect(ann_page.locator(f'figure.tile:not(.screen)[data-peer="{cat}"] .hand-indicator')).to_contain_text("1")
    expect(cat_page.locator("figure.tile.local .hand-indicator")).to_contain_text("1")


def test_someone_who_leaves_while_the_statistics_are_read_is_not_listed_again(open_page):
    """The page reads each link's statistics every few seconds; a departure during a reading stays a departure."""
    ann, ca = make_user("ann")
    room = Room.objects.create(name="Stand-up", owner=ann)
    ann_page = enter(open_page, ca, 0, room)
    ben_page = enter(open_page, make_user("ben")[1], 1, room)
    everyone_sees([ann_page, ben_page], 2)
    ben = peer_of(ben_page)
    # Ann's page starts a reading whose answer for Ben's link is held back until he has left.
    ann_page.evaluate(
        """(ben) => {
            const link = window.rtc.mesh.links.get(ben).link;
            const read = link.stats.bind(link);
            link.stats = () => new Promise((resolve) => { window.releaseStats = () => read().then(resolve); });
            window.reading = window.rtc.mesh.stats();
        }""",
        ben,
    )
    ben_page.locator("#hangup").click()
    ben_page.locator("#leave-dialog #leave-confirm").click()
    expect(row(ann_page, ben)).to_have_count(0, timeout=WAIT)  # his peer-left arrived
    ann_page.evaluate("async () => { await window.releaseStats(); await window.reading; }")
    expect(row(ann_page, ben)).to_have_count(0)
    expect(ann_page.locator("#people-panel li.participant")).to_have_count(1)


def test_the_owner_removes_someone_who_cannot_return_until_let_in(open_page, servers):
    ann, ca = make_user("ann")
    ben, cb = make_user("ben")
    room = Room.objects.create(name="Standup", owner=ann)
    pages = [enter(open_page, ca, 0, room), enter(open_page, cb, 1, room)]
    pages.append(enter(open_page, make_user("cat")[1], 1, room))
    ann_page, ben_page, cat_page = pages
    everyone_sees(pages, 3)
    ben_peer = peer_of(ben_page)

    # The owner asks, the panel asks back (no browser dialog), the owner confirms.
    open_people(ann_page)
    row(ann_page, ben_peer).locator(".participant-remove").click()
    confirm = row(ann_page, ben_peer).locator(".participant-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("ben")
    confirm.locator(".participant-remove-confirm").click()

    # Ben's page leaves the call and says why; the others see him gone.
    expect(ben_page.locator("#notice")).to_contain_text("removed you", timeout=WAIT)
    ben_page.wait_for_function("() => window.rtc.links.size === 0", timeout=WAIT)
    for page in (ann_page, cat_page):
        expect(row(page, ben_peer)).to_have_count(0, timeout=WAIT)
        expect(page.locator(f'figure.tile[data-peer="{ben_peer}"]')).to_have_count(0, timeout=WAIT)
        expect(page.locator("#people-panel li.participant")).to_have_count(2)
    removed = ann_page.locator(f'#people-panel li.removed-user[data-user="{ben.pk}"]')
    expect(removed).to_be_visible(timeout=WAIT)
    expect(removed).to_contain_text("ben")
    expect(cat_page.locator("#people-panel li.removed-user")).to_have_count(0)

    # Until let in, the room page refuses him.
    response = ben_page.reload()
    assert response is not None and response.status == 403
    expect(ben_page.locator("body")).to_contain_text("removed you")

    removed.locator(".let-in").click()
    expect(removed).to_have_count(0, timeout=WAIT)
    back = enter(open_page, cb, 1, room)
    everyone_sees([ann_page, cat_page, back], 3)
    expect(row(ann_page, peer_of(back))).to_contain_text("ben")
