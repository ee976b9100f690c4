"""The WebSocket `Origin` must be one of the site's origins: scheme, host and port, not the host name alone.

A page served over plain http, or from another port of the same host name, must not open
a cookie-authenticated socket. Directly against daphne and through nginx with TLS.
"""

from __future__ import annotations

import ssl

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import InvalidStatus

from calls.signaling import tickets
from tests.helpers import make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]

INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


async def refused(url: str, cookie: str | None, origin: str, **kw) -> int:
    with pytest.raises(InvalidStatus) as error:
        await Peer.connect(url, cookie, origin=origin, **kw)
    return error.value.response.status_code


@pytest.fixture
def node(daphne_factory):
    return daphne_factory("origin")


async def test_direct_same_host_with_another_scheme_or_port_is_refused(node):
    _, cookie = await sync_to_async(make_user)("alice")
    port = node.port
    for origin in (f"https://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}", "http://127.0.0.1"):
        assert await refused(node.ws_url, cookie, origin) == 403, origin
    peer = await Peer.connect(node.ws_url, cookie, origin=f"http://127.0.0.1:{port}")
    assert peer.hello["user"]["username"] == "alice"
    await peer.close()


async def test_a_ticket_from_the_same_host_with_another_scheme_is_refused(node):
    user, _ = await sync_to_async(make_user)("alice")
    ticket = await sync_to_async(tickets.issue)(user.pk)
    assert await refused(node.ws_url, None, f"https://127.0.0.1:{node.port}", query=f"ticket={ticket}") == 403


async def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(node):
    """127.0.0.2 is no proxy of ours: its X-Forwarded-Proto cannot make an https origin match."""
    _, cookie = await sync_to_async(make_user)("alice")
    origin = f"https://127.0.0.1:{node.port}"
    headers = {"X-Forwarded-Proto": "https"}
    assert await refused(node.ws_url, cookie, origin, headers=headers, local_addr=("127.0.0.2", 0)) == 403


@pytest.fixture
def proxied(cluster_factory, redis, tmp_path, transactional_db, request):
    """nginx with TLS in front of daphne; no CSRF_TRUSTED_ORIGINS, so only the request's own origin counts."""
    return cluster_factory(request, tmp_path, nodes=1, proxy=True, CSRF_TRUSTED_ORIGINS="").cluster


async def test_through_nginx_only_the_https_origin_of_the_site_is_accepted(proxied):
    _, cookie = await sync_to_async(make_user)("alice")
    url, port = f"wss://127.0.0.1:{proxied.port}", proxied.port
    for origin in (f"http://127.0.0.1:{port}", f"https://127.0.0.1:{port + 1}", "https://127.0.0.1"):
        assert await refused(url, cookie, origin, ssl=INSECURE) == 403, origin
    peer = await Peer.connect(url, cookie, origin=f"https://127.0.0.1:{port}", ssl=INSECURE)
    assert peer.hello["user"]["username"] == "alice"
    await peer.close()
