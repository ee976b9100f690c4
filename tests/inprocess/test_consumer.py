"""The consumer in-process against real Redis: rooms, relay, resume, kicks, heartbeats and closes."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from calls.models import Room
from calls.signaling import departures, presence, rooms
from calls.signaling.node import node
from calls.signaling.protocol import CloseCode
from tests.collector import collector_off
from tests.helpers import SDP

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def room(make_user):
    owner = await make_user("owner")
    return await sync_to_async(Room.objects.create)(name="r", owner=owner)


async def pair(connect, make_user, room):
    a = await connect(await make_user("alice"))
    b = await connect(await make_user("bob"))
    await a.join(room.id)
    joined = await b.join(room.id)
    assert [p["peer"] for p in joined["peers"]] == [a.peer]
    await a.recv_type("peer-joined", peer=b.peer)
    return a, b


async def test_relay_to_a_peer_carries_the_server_set_sender(connect, make_user, room):
    a, b = await pair(connect, make_user, room)
    await a.send(type="offer", room=room.id, to=b.peer, payload={"type": "offer", "sdp": SDP})
    offer = await b.recv_type("offer")
    assert offer["from"] == a.peer and offer["user"]["username"] == "alice"
    assert offer["payload"]["sdp"] == SDP
    assert await a.nothing_more()  # the sender gets nothing back


async def test_clean_close_leaves_at_once_and_drop_keeps_the_peer_for_resume(connect, make_user, room):
    a, b = await pair(connect, make_user, room)
    await b.disconnect(1006)  # a drop
    assert await presence.connection_of(b.peer) == ""  # detached, not gone
    assert await a.nothing_more()  # the others see no churn
    b2 = await connect(await _user("bob"), resume=b.hello["resume"])
    assert b2.hello["resumed"] and b2.peer == b.peer and b2.hello["rooms"] == [room.id]
    await b2.disconnect(1000)
    left = await a.recv_type("peer-left", peer=b.peer)
    assert left["reason"] == "disconnect"
    assert set(await rooms.amembers(room.id)) == {a.peer}


async def _user(name):
    return await sync_to_async(get_user_model().objects.get)(username=name)


async def test_kick_closes_4403_and_the_room_sees_kicked(connect, make_user, room):
    a, b = await pair(connect, make_user, room)
    assert await departures.kick(b.peer)
    assert await b.closed_with() == CloseCode.FORBIDDEN
    left = await a.recv_type("peer-left", peer=b.peer)
    assert left["reason"] == "kicked"
    assert await presence.connection_of(b.peer) is None


async def test_a_silent_connection_times_out_and_is_kept_for_resume(connect, make_user, room):
    a, b = await pair(connect, make_user, room)
    b.handle.conn.last_frame -= 10_000  # as if nothing had been heard for hours
    await node.check_heartbeats()
    assert await b.closed_with() == CloseCode.TIMEOUT
    assert await presence.connection_of(b.peer) == ""
    assert await a.nothing_more()


async def test_a_connection_that_ended_is_freed_at_once_not_left_for_the_collector(connect, make_user, room):
    """Its consumer, inbox and handlers refer to each other while it lives; the end lets go of them."""
    import gc
    import weakref

    a, b = await pair(connect, make_user, room)
    consumer = weakref.ref(b.handle)
    gc.collect()
    with collector_off():
        await b.disconnect()
        await a.recv_type("peer-left", peer=b.peer)
        assert consumer() is None, [type(r).__qualname__ for r in gc.get_referrers(consumer())]
