"""Calls in Firefox: Debian's firefox-esr (WebDriver BiDi, tests/browser/firefox.py) with Chromium and with itself.

Two daphne processes and coturn, relay-only (the shared `servers`): every call crosses processes
and is relayed by TURN. Everything is read from the pages themselves (window.rtc, the DOM).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from calls.models import Room
from tests.browser.firefox import Firefox, FirefoxError, FirefoxPage
from tests.browser.pages import CONNECTED, PATH_NAMED, path_stats, until, wait_connected
from tests.helpers import make_user

# Playwright's sync API runs an event loop in this thread; the ORM calls in these tests are
# plain blocking calls between page actions.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

CONNECT_TIMEOUT = 60  # seconds; generous for a busy 2-core machine, still bounded

# Whether every link's inbound `fields` all grow over `ms` (the reading of pages.grows, several at once).
GROWS = """async (fields, ms) => {
    const before = await window.rtc.stats();
    await new Promise(r => setTimeout(r, ms));
    const after = await window.rtc.stats();
    return Object.keys(after).length > 0 && Object.keys(after).every(p => before[p] &&
        fields.every(f => after[p][f] > before[p][f]));
}"""

# The pre-join screen, while it is shown: its "Join now" button is visible.
PREJOIN_SHOWN = """() => { const b = document.querySelector('#join-now'); return Boolean(b && b.checkVisibility()); }"""
# Per link: the selected candidate pair's two ends and this page's own relay candidates, once one
# report names both ends of every link's pair (else false).
ROUTES = """async () => { const out = {};
    for (const [peer, {link}] of window.rtc.links) {
        const report = await link.pc.getStats(); let pair = null; const relays = [];
        report.forEach(s => {
            if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
            if (s.type === 'local-candidate' && s.candidateType === 'relay') relays.push(`${s.address}:${s.port}`);
        });
        const end = (id) => { const c = report.get(id);
            return c ? {type: c.candidateType, at: `${c.address}:${c.port}`} : null; };
        out[peer] = {local: pair && end(pair.localCandidateId), remote: pair && end(pair.remoteCandidateId), relays};
    }
    const all = Object.values(out);
    return all.length > 0 && all.every(r => r.local && r.remote) && out; }"""
# The pre-join speaker picker: is it disabled, and is the note beside it shown (with words in it)?
SPEAKER_PICKER = """() => { const note = document.querySelector('#speaker-note');
    return {disabled: document.querySelector('#speaker-select').disabled,
            note: note.checkVisibility() && note.textContent.trim().length > 0}; }"""
REMOTE_VIDEO_WIDTH = """() => { const v = document.querySelector('figure.tile:not(.local):not(.screen) video');
    return v && v.videoWidth > 0 ? v.videoWidth : 0; }"""


@pytest.fixture(scope="module")
def firefox() -> Iterator[Firefox]:
    """One firefox-esr per test module; each user gets a browser context of its own."""
    browser = Firefox()
    try:
        yield browser
    finally:
        code = browser.stop()
        if code:
            print(f"Firefox driver exited with {code}\n{browser.stderr()}")


@pytest.fixture
def open_firefox(firefox: Firefox, servers) -> Iterator[Callable[..., FirefoxPage]]:
    """open_firefox(user_cookie, node_index, path, init=None) -> a Firefox page of a fresh context.

    At teardown every page's console log and the driver's stderr are printed (pytest shows them
    when the test failed), and the contexts are closed."""
    pages: list[FirefoxPage] = []

    def open_(cookie: str | None, node: int, path: str, init: str | None = None) -> FirefoxPage:
        base = servers[node].url
        session = {"name": "sessionid", "value": cookie, "url": base} if cookie else None
        page = firefox.open(f"{base}{path}", cookie=session, init=init, timeout=60)
        pages.append(page)
        return page

    yield open_
    for page in pages:
        print(page.console_text())
    print(firefox.stderr())
    for page in pages:
        try:
            page.close()
        except FirefoxError as error:  # the driver is gone: the test has failed already and says why
            print(error)


@pytest.fixture
def open_chromium(open_page) -> Iterator[Callable[..., object]]:
    """open_page with the page's console collected and printed at teardown (shown on failure)."""
    logs: list[tuple[object, list[str]]] = []

    def open_(cookie: str | None, node: int, path: str):
        page = open_page(cookie, node, path)
        log: list[str] = []
        page.on("console", lambda message: log.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: log.append(f"pageerror: {error}"))
        logs.append((page, log))
        return page

    yield open_
    for page, log in logs:
        print(f"--- Chromium page {page.url} console (from open) ---\n" + "\n".join(log))


def join_firefox(page: FirefoxPage) -> None:
    """Enter the call from the pre-join screen, when the page shows one ("Join now" waits to be enabled)."""
    if page.evaluate(PREJOIN_SHOWN):
        page.click("#join-now", timeout=CONNECT_TIMEOUT)
        page.wait_for_function(f"() => !({PREJOIN_SHOWN})()", timeout=CONNECT_TIMEOUT)


def join_chromium(page) -> None:
    """The same for a Chromium page, unless open_page has joined already."""
    if page.evaluate(PREJOIN_SHOWN):
        page.locator("#join-now").click(timeout=CONNECT_TIMEOUT * 1000)
        page.wait_for_function(f"() => !({PREJOIN_SHOWN})()", timeout=CONNECT_TIMEOUT * 1000)


def assert_relayed(a: tuple[str, dict, dict], b: tuple[str, dict, dict]) -> None:
    """A 1:1 call relayed at both ends: each page's selected pair is its own TURN allocation to the
    other page's TURN allocation.

    Each of `a`, `b` is (name, window.rtc.stats(), ROUTES) of one page. The page's own reading says
    relay/relay; Firefox labels the remote end "prflx" when the peer's checks came through before
    that relay candidate was signaled (TURN permissions are per IP, and every allocation here is on
    127.0.0.1) and keeps that label, so the remote end is then checked by address: it must be one of
    the relay candidates the other page gathered."""
    for (name, page_stats, routes), (other, _, other_routes) in ((a, b), (b, a)):
        assert len(page_stats) == 1 and len(routes) == 1, f"{name}: expected one link: {page_stats} {routes}"
        [reading] = page_stats.values()
        [route] = routes.values()
        [other_route] = other_routes.values()
        assert reading["localType"] == "relay", f"{name}: {reading}"
        assert route["local"]["type"] == "relay" and route["local"]["at"] in route["relays"], f"{name}: {route}"
        if reading["remoteType"] != "relay":
            assert reading["remoteType"] == "prflx", f"{name}: {reading}"
        assert route["remote"]["at"] in other_route["relays"], f"{name}'s remote end is not {other}'s relay: {routes}"


def wait_firefox_grows(page: FirefoxPage, *fields: str) -> None:
    """Until `fields` of every link grow over two seconds (bounded)."""
    page.wait_for_function(GROWS, list(fields), 2000, timeout=CONNECT_TIMEOUT, polling=500)


def wait_chromium_grows(page, *fields: str) -> None:
    until(page, GROWS.replace("async (fields, ms)", "async ([fields, ms])"), CONNECT_TIMEOUT,
          f"{fields} of every link to grow", [list(fields), 2000])  # fmt: skip


def test_firefox_and_chromium_call_relayed_with_video_both_ways(open_firefox, open_chromium):
    owner, cookie_ff = make_user("fiona")
    _, cookie_ch = make_user("chris")
    room = Room.objects.create(name="Two browsers", owner=owner)
    ff = open_firefox(cookie_ff, 0, f"/r/{room.pk}/")
    ch = open_chromium(cookie_ch, 1, f"/r/{room.pk}/")
    join_firefox(ff)
    join_chromium(ch)

    ff.wait_for_function(CONNECTED, 1, timeout=CONNECT_TIMEOUT)
    wait_connected(ch, timeout=CONNECT_TIMEOUT)
    ff_stats = ff.wait_for_function(PATH_NAMED, timeout=CONNECT_TIMEOUT)  # statistics can trail "connected"
    chromium = ("Chromium", path_stats(ch), until(ch, ROUTES, CONNECT_TIMEOUT, "both ends of every selected pair"))
    assert_relayed(("Firefox", ff_stats, ff.wait_for_function(ROUTES, timeout=CONNECT_TIMEOUT)), chromium)
    wait_firefox_grows(ff, "videoBytes", "framesDecoded")
    wait_chromium_grows(ch, "videoBytes", "framesDecoded")
    assert ff.wait_for_function(REMOTE_VIDEO_WIDTH, timeout=CONNECT_TIMEOUT) > 0
    assert ch.wait_for_function(REMOTE_VIDEO_WIDTH, timeout=CONNECT_TIMEOUT * 1000).json_value() > 0


def test_firefox_to_firefox_call_relayed_with_audio_and_video(open_firefox):
    owner, cookie_a = make_user("fred")
    _, cookie_b = make_user("flora")
    room = Room.objects.create(name="Firefox only", owner=owner)
    pages = [open_firefox(cookie_a, 0, f"/r/{room.pk}/"), open_firefox(cookie_b, 1, f"/r/{room.pk}/")]
    for page in pages:
        join_firefox(page)
    named = []
    for page in pages:
        page.wait_for_function(CONNECTED, 1, timeout=CONNECT_TIMEOUT)
        named.append(page.wait_for_function(PATH_NAMED, timeout=CONNECT_TIMEOUT))  # statistics can trail "connected"
    routes = [page.wait_for_function(ROUTES, timeout=CONNECT_TIMEOUT) for page in pages]
    a, b = ((f"Firefox {i}", named[i], routes[i]) for i in range(2))
    assert_relayed(a, b)
    for page in pages:
        wait_firefox_grows(page, "audioBytes", "videoBytes", "framesDecoded")
        assert page.wait_for_function(REMOTE_VIDEO_WIDTH, timeout=CONNECT_TIMEOUT) > 0


def test_firefox_without_set_sink_id_says_the_speaker_cannot_be_chosen(open_firefox):
    """Firefox before 116 had no HTMLMediaElement.setSinkId: the pre-join screen says so and still joins."""
    owner, cookie = make_user("felix")
    room = Room.objects.create(name="Older Firefox", owner=owner)
    older = open_firefox(cookie, 0, f"/r/{room.pk}/", init="() => { delete HTMLMediaElement.prototype.setSinkId; }")
    current = open_firefox(cookie, 1, f"/r/{room.pk}/")
    for page in (older, current):
        page.wait_for_function("() => !document.querySelector('#join-now').disabled", timeout=CONNECT_TIMEOUT)
        # The preview and the microphone meter work in Firefox either way.
        page.wait_for_function("() => document.querySelector('#prejoin-video').videoWidth > 0", timeout=CONNECT_TIMEOUT)
        page.wait_for_function("() => Number(document.querySelector('#mic-level').value) > 0", timeout=CONNECT_TIMEOUT)
    assert older.evaluate(SPEAKER_PICKER) == {"disabled": True, "note": True}
    # Firefox 153 has it, and its fake audio backend lists speakers to choose from.
    assert current.evaluate(SPEAKER_PICKER) == {"disabled": False, "note": False}
    join_firefox(older)
    older.wait_for_function("() => document.querySelector('#in-call').checkVisibility()", timeout=CONNECT_TIMEOUT)
