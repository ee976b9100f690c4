"""One-time WebSocket tickets for non-browser clients: no Origin needed, single use, 30 s."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import InvalidStatus

from calls.signaling import keys, store, tickets
from tests.helpers import make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def node(daphne_factory):
    return daphne_factory("tickets")


async def issue_for(name: str) -> tuple[object, str]:
    user, _cookie = await sync_to_async(make_user)(name)
    return user, await sync_to_async(tickets.issue)(user.pk)


async def test_ticket_authenticates_without_origin_once(node):
    alice, ticket = await issue_for("alice")
    peer = await Peer.connect(node.ws_url, None, origin=None, query=f"ticket={ticket}")
    assert peer.hello["user"]["id"] == alice.pk
    replay = await Peer.connect(node.ws_url, None, origin=None, query=f"ticket={ticket}")
    assert replay.hello is None and await replay.closed() == 4401
    await peer.close()


async def test_expired_or_unknown_ticket_is_refused(node):
    _, ticket = await issue_for("alice")
    await sync_to_async(store.get_sync().delete)(keys.ticket(ticket))  # what the 30 s TTL does
    expired = await Peer.connect(node.ws_url, None, origin=None, query=f"ticket={ticket}")
    assert await expired.closed() == 4401
    unknown = await Peer.connect(node.ws_url, None, origin=None, query="ticket=made-up")
    assert await unknown.closed() == 4401
    ttl = await sync_to_async(store.get_sync().ttl)(keys.ticket((await issue_for("bob"))[1]))
    assert 0 < ttl <= tickets.TICKET_TTL


async def test_ticket_from_a_foreign_origin_is_refused(node):
    _, ticket = await issue_for("alice")
    with pytest.raises(InvalidStatus) as refused:
        await Peer.connect(node.ws_url, None, origin="http://evil.example", query=f"ticket={ticket}")
    assert refused.value.response.status_code == 403


async def test_with_a_ticket_the_cookie_is_not_used(node):
    _, ticket = await issue_for("alice")
    _bob, bob_cookie = await sync_to_async(make_user)("bob")
    peer = await Peer.connect(node.ws_url, bob_cookie, origin=None, query=f"ticket={ticket}")
    assert peer.hello["user"]["username"] == "alice"
    await peer.close()
