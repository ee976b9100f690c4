"""The browser tier: Debian's headless Chromium (fake camera and microphone) and one shared cluster.

Every module calls into the same two daphne processes and coturn (`servers`, started once per
browser tier, stopped before the other tiers run); each user is a browser context of its own (`open_page`)."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from tests.browser.pages import RING_TIMEOUT, join_call

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--auto-select-desktop-capture-source=Entire screen",
]


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module; each user gets a context of its own."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def servers(cluster_factory, tmp_path_factory, request):
    """Two daphne processes and a coturn; calls are relay-only, as across two home networks."""
    return cluster_factory(
        request,
        tmp_path_factory.mktemp("browser"),
        name="web",
        coturn=True,
        ICE_TRANSPORT_POLICY="relay",
        CALL_RING_TIMEOUT=str(RING_TIMEOUT),
        SIGNALING_NODE_TTL="4",
        TURN_TTL="14",  # pages refresh credentials before half of it: within seconds here
    )


@pytest.fixture
def open_page(browser, servers):
    """open_page(user_cookie, node_index, path) -> a page of a fresh context (one user each).

    On a call page, `join=True` clicks "Join now" on the pre-join screen (`join=False` stays there);
    `color_scheme` is "light" or "dark"; `init_script` runs before the page's own scripts."""
    contexts = []

    def open_(
        cookie: str | None, node: int, path: str, viewport=None, *, join=True, color_scheme=None, init_script=None
    ):
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, color_scheme=color_scheme)
        contexts.append(context)
        if cookie:
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": servers[node].url}])
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.goto(f"{servers[node].url}{path}")
        if join and page.locator("#join-now").count():
            join_call(page)
        return page

    yield open_
    for context in contexts:
        context.close()
