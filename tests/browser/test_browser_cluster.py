"""A real call through the production topology: nginx (HTTPS) in front of two daphne processes."""

from __future__ import annotations

import os

import pytest

from calls.models import Room
from tests.browser.pages import CONNECTED, grows, join_call, path_stats
from tests.helpers import make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cluster(cluster_factory, redis, tmp_path, request):
    """Two daphne processes behind nginx with TLS, and coturn: the production topology."""
    servers = cluster_factory(
        request,
        tmp_path,
        proxy=True,
        coturn=True,
        DJANGO_SECURE_SSL_REDIRECT="1",
        DJANGO_SECURE_COOKIES="1",
        ICE_TRANSPORT_POLICY="relay",
    )
    return servers.cluster


def test_call_through_nginx_over_https_relayed_by_coturn(cluster, browser):
    owner, cookie_a = make_user("alice")
    _, cookie_b = make_user("bob")
    room = Room.objects.create(name="Through the proxy", owner=owner)
    pages = []
    for cookie in (cookie_a, cookie_b):
        context = browser.new_context(ignore_https_errors=True)
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": cluster.url, "secure": True}])
        page = context.new_page()
        page.goto(f"{cluster.url}/r/{room.pk}/")
        join_call(page)
        pages.append(page)
    try:
        for page in pages:
            page.wait_for_function(CONNECTED, arg=1, timeout=30000)
            assert page.evaluate("() => window.rtc.signaling.url").startswith("wss://")
            for peer_stats in path_stats(page).values():
                assert peer_stats["localType"] == "relay" and peer_stats["remoteType"] == "relay", peer_stats
        assert grows(pages[1], "videoBytes")
    finally:
        for page in pages:
            page.context.close()
