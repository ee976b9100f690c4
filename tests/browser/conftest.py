"""Headless Chromium for the browser tier: Debian's chromium, fake camera and microphone."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

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
