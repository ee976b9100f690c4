"""What one user can make the server hold, and how refusals are answered."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from calls.models import Room
from calls.signaling.protocol import CloseCode
from tests.helpers import SDP
from tests.inprocess.conftest import APP

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def room(make_user):
    owner = await make_user("owner")
    return await sync_to_async(Room.objects.create)(name="r", owner=owner, max_peers=6)


async def test_a_rate_limited_frame_is_answered_with_its_ref(connect, make_user, settings):
    settings.SIGNALING_RATE, settings.SIGNALING_BURST = 0.01, 2
    a = await connect(await make_user("alice"))
    replies = []
    for i in range(3):
        await a.send(type="ping", id=f"p{i}")
        replies.append(await a.recv())
    assert [r["type"] for r in replies] == ["pong", "pong", "error"]
    assert replies[2]["code"] == "rate_limited" and replies[2]["ref"] == "p2"


async def test_abuse_is_counted_over_a_window_so_valid_frames_between_do_not_hide_it(connect, make_user, settings):
    settings.SIGNALING_ABUSE_LIMIT, settings.SIGNALING_ABUSE_WINDOW = 5, 60
    a = await connect(await make_user("alice"))
    for i in range(5):
        await a.send(type="nonsense", id=i)
        assert (await a.recv())["code"] == "unknown_type"
        await a.send(type="ping", id=f"ok{i}")
        assert (await a.recv())["type"] == "pong"
    await a.send(type="nonsense", id="the sixth")
    assert await a.closed_with() == CloseCode.ABUSE


async def test_a_binary_message_is_refused_with_its_own_code(connect, make_user):
    a = await connect(await make_user("alice"))
    await a.ws.send_to(bytes_data=b'{"type": "ping", "id": 1}')
    error = await a.recv()
    assert error["type"] == "error" and error["code"] == "binary_frame"
    await a.send(type="ping", id=2)
    assert (await a.recv())["type"] == "pong"


async def test_a_resume_token_works_once_and_hello_hands_out_the_next(connect, make_user):
    alice = await make_user("alice")
    a = await connect(alice)
    first_token = a.hello["resume"]
    await a.disconnect(1006)
    a2 = await connect(alice, resume=first_token)
    assert a2.hello["resumed"] and a2.peer == a.peer
    assert a2.hello["resume"] != first_token
    await a2.disconnect(1006)
    stolen = await connect(alice, resume=first_token)  # an old token, e.g. from a leaked URL
    assert not stolen.hello["resumed"] and stolen.peer != a.peer
    a3 = await connect(alice, resume=a2.hello["resume"])
    assert a3.hello["resumed"] and a3.peer == a.peer


async def test_two_peers_joining_at_once_each_learn_of_the_other_exactly_once(connect, make_user, settings):
    settings.ROOM_MAX_PEERS_PER_USER = 0
    owner = await make_user("carol")
    alice, bob = await make_user("alice"), await make_user("bob")
    for i in range(25):
        room = await sync_to_async(Room.objects.create)(name=f"r{i}", owner=owner)
        a, b = await connect(alice), await connect(bob)
        await asyncio.gather(a.send(type="join", room=room.id, id="j"), b.send(type="join", room=room.id, id="j"))
        # Both are in the room before either sends: an offer to the room reaches only those in it.
        seen = {me: [p["peer"] for p in (await me.recv_type("joined"))["peers"]] for me in (a, b)}
        for me in (a, b):
            await me.send(type="offer", room=room.id, payload={"type": "offer", "sdp": SDP})
        for me, other in ((a, b), (b, a)):
            await me.recv_type("offer")  # the other's offer came after its own peer-joined
            seen[me] += [f["peer"] for f in me.seen if f["type"] == "peer-joined"]
            assert seen[me] == [other.peer], f"round {i}: {seen[me]}"
        await a.disconnect(1000)
        await b.disconnect(1000)


async def test_one_user_has_a_bounded_number_of_connections_across_processes(connect, make_user, settings):
    settings.SIGNALING_MAX_USER_CONNECTIONS = 2
    alice = await make_user("alice")
    await connect(alice)
    await connect(alice)
    third = WebsocketCommunicator(APP, "/ws/signal/")
    third.scope["user"] = alice
    assert (await third.connect(timeout=5))[0]
    assert (await third.receive_output(5))["code"] == CloseCode.TOO_MANY_CONNECTIONS
    assert (await connect(await make_user("bob"))).hello["peer"]  # others are not affected


async def test_one_user_cannot_fill_a_room(connect, make_user, room, settings):
    settings.ROOM_MAX_PEERS_PER_USER = 2
    alice = await make_user("alice")
    tabs = [await connect(alice) for _ in range(3)]
    await tabs[0].join(room.id)
    await tabs[1].join(room.id)
    await tabs[2].send(type="join", room=room.id, id="third")
    refused = await tabs[2].recv_type("error")
    assert refused["code"] == "too_many_in_room" and refused["ref"] == "third"
    bob = await connect(await make_user("bob"))
    assert len((await bob.join(room.id))["peers"]) == 2
