"""A connection's end, however it comes: nothing is left behind (peer, room, subscriptions)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from autobahn.exception import Disconnected
from channels.layers import get_channel_layer

from calls.models import Room
from calls.signaling import events, presence, rooms, store
from calls.signaling.node import node
from tests.helpers import SDP

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def room(make_user):
    owner = await make_user("owner")
    return await sync_to_async(Room.objects.create)(name="r", owner=owner)


def subscriptions() -> tuple[int, int, int]:
    """(this process's channels, its groups, Redis pub/sub channels)."""
    loop_layer = get_channel_layer()._get_layer()
    return len(loop_layer.channels), len(loop_layer.groups), len(store.get_sync().pubsub_channels())


async def test_a_write_to_a_closed_transport_neither_kills_the_consumer_nor_leaves_a_ghost(connect, make_user, room):
    a = await connect(await make_user("alice"))
    b = await connect(await make_user("bob"))
    await a.join(room.id)
    await b.join(room.id)
    await a.recv_type("peer-joined", peer=b.peer)
    handle = b.handle

    async def closed(*args, **kwargs):  # what daphne raises once the client has gone
        raise Disconnected("Attempt to send on a closed protocol")

    handle.send = closed
    await a.send(type="offer", room=room.id, to=b.peer, payload={"type": "offer", "sdp": SDP})
    await a.send(type="offer", room=room.id, payload={"type": "offer", "sdp": SDP})  # to the whole room
    await b.send(type="bogus", id="x")  # its error reply meets the closed transport too
    await b.send(type="ping", id="still-here")
    await b.disconnect(1000)
    left = await a.recv_type("peer-left", peer=b.peer)
    assert left["reason"] == "disconnect"
    assert set(await rooms.amembers(room.id)) == {a.peer}
    assert await presence.connection_of(b.peer) is None


async def test_a_consumer_that_fails_still_releases_its_peer_and_subscriptions(connect, make_user, room, monkeypatch):
    a = await connect(await make_user("alice"))
    await a.join(room.id)
    before = subscriptions()
    b = await connect(await make_user("bob"))
    await b.join(room.id)
    assert subscriptions() != before

    async def broken(self, event):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(type(b.handle), "user_event", broken)
    await get_channel_layer().group_send(events.user_group(b.hello["user"]["id"]), events.user_event("{}"))
    with pytest.raises(RuntimeError, match="a bug in a handler"):  # after the frames already sent
        while True:
            await b.ws.receive_output(5)
    assert await presence.connection_of(b.peer) == ""  # kept for resume, as after any drop
    assert all(handle.conn.peer != b.peer for handle in node.connections.values())
    assert subscriptions() == before


async def test_connect_and_close_cycles_leave_no_subscription_behind(connect, make_user, room, settings):
    # the dropped ones stay (in the room, and as the user's peers) for their resume window
    settings.SIGNALING_MAX_USER_CONNECTIONS = settings.ROOM_MAX_PEERS_PER_USER = 0
    room.max_peers = 40
    await sync_to_async(room.save)()
    alice = await make_user("alice")
    a = await connect(alice)
    await a.join(room.id)
    before = subscriptions()
    bob = await make_user("bob")
    for i in range(30):
        b = await connect(bob)
        await b.join(room.id)
        await a.recv_type("peer-joined", peer=b.peer)
        # an event for b in flight as it closes: its last receive may complete as it stops
        await a.send(type="offer", room=room.id, to=b.peer, payload={"type": "offer", "sdp": SDP})
        await b.disconnect(1000 if i % 2 else 1006)
        if i % 2:
            await a.recv_type("peer-left", peer=b.peer)
    assert subscriptions() == before
