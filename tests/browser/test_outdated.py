"""A page older than the server's protocol stops signaling and asks for a reload.

The page's protocol.js is served with PROTOCOL_VERSION lowered (Playwright intercepts the
hashed file), as a browser holding the previous release's scripts would run it.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from playwright.sync_api import expect

from calls.models import Room
from calls.signaling.protocol import VERSION
from tests.browser.test_browser import ARTIFACTS
from tests.helpers import make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

BANNER = "A new version is available — reload"


@pytest.fixture(scope="module")
def servers(cluster_factory, tmp_path_factory, request):
    return cluster_factory(request, tmp_path_factory.mktemp("outdated"), nodes=1, name="outdated")


def old_protocol(route):
    """protocol.js as the previous release had it: one version behind the server."""
    body = route.fetch().text()
    older, count = re.subn(r"PROTOCOL_VERSION = \d+;", f"PROTOCOL_VERSION = {VERSION - 1};", body)
    assert count == 1, body[:200]
    route.fulfill(body=older, content_type="text/javascript")


@pytest.fixture
def open_page(browser, servers):
    """open_page(cookie, path, *, old, viewport) -> (page, websocket URLs it opened)."""
    contexts = []

    def open_(cookie: str, path: str, *, old: bool, viewport=None):
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
        contexts.append(context)
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": servers[0].url}])
        page = context.new_page()
        if old:
            page.route(re.compile(r"/static/calls/js/protocol(\.[0-9a-f]+)?\.js$"), old_protocol)
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(f"{servers[0].url}{path}")
        return page, sockets

    yield open_
    for context in contexts:
        context.close()


def test_a_page_older_than_the_server_stops_and_asks_for_a_reload(open_page):
    owner, cookie = make_user("alice")
    room = Room.objects.create(name="Standup", owner=owner)
    ARTIFACTS.mkdir(exist_ok=True)
    for path, hook in (("/", "window.rtcSignaling"), (f"/r/{room.pk}/", "window.rtc.signaling")):
        page, sockets = open_page(cookie, path, old=True)
        expect(page.locator("#update-banner")).to_have_text(re.compile(re.escape(BANNER)))
        assert page.evaluate(f"() => {hook}.outdated && {hook}.stopped && !{hook}.open")
        time.sleep(2)  # no reconnection: one socket, opened once
        assert len(sockets) == 1, sockets
        name = "outdated-home" if path == "/" else "outdated-call"
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    phone, _ = open_page(cookie, f"/r/{room.pk}/", old=True, viewport={"width": 390, "height": 844})
    expect(phone.locator("#update-banner")).to_be_visible()
    assert phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    phone.screenshot(path=str(ARTIFACTS / "outdated-phone.png"))


def test_a_current_page_signals_without_a_banner(open_page):
    _, cookie = make_user("bob")
    page, _ = open_page(cookie, "/", old=False)
    page.wait_for_function("() => window.rtcSignaling && window.rtcSignaling.open", timeout=10000)
    assert page.locator("#update-banner").count() == 0
