"""Room frames through the consumer against real Redis: chat, media state, hands, the owner's removals."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from calls.models import Room
from calls.signaling import keys, presence, rooms, store
from calls.signaling.protocol import CloseCode

pytestmark = pytest.mark.django_db(transaction=True)

ON = {"audio": True, "video": True, "screen": False}
MUTED = {"audio": False, "video": True, "screen": False}


@pytest.fixture
async def people(make_user):
    """The room's owner and two others, as users."""
    return {name: await make_user(name) for name in ("owner", "alice", "bob")}


@pytest.fixture
async def room(people):
    return await sync_to_async(Room.objects.create)(name="r", owner=people["owner"])


async def in_room(connect, user, room, **join):
    """A connected client in the room, its `joined` in `client.joined`."""
    client = await connect(user)
    await client.send(type="join", room=room.id, id="j", **join)
    client.joined = await client.recv_type("joined")
    return client


async def gathered(connect, people, room, *names):
    """Clients of `names` in the room, in that order, each having seen the later ones arrive."""
    clients = []
    for name in names:
        client = await in_room(connect, people[name], room)
        for earlier in clients:
            await earlier.recv_type("peer-joined", peer=client.peer)
        clients.append(client)
    return clients


async def refused(client, code: str, **frame) -> dict:
    reply = await client.request(**frame)
    assert (reply["type"], reply["code"]) == ("error", code), reply
    return reply


# -- chat ---------------------------------------------------------------------------------


async def test_chat_reaches_everyone_with_the_servers_sender_time_and_id(connect, people, room):
    a, b = await gathered(connect, people, room, "alice", "bob")
    mine = await a.request(type="chat", room=room.id, text="<img src=x onerror=alert(1)> hi")
    await a.send(type="chat", room=room.id, text="second", **{"from": b.peer, "user": {"id": 99}, "ts": 1, "msg": "m"})
    theirs = await b.recv_type("chat", msg=mine["msg"])
    assert mine == {**theirs, "ref": mine["ref"]}
    assert theirs["text"] == "<img src=x onerror=alert(1)> hi"  # as sent: never escaped, never changed
    assert theirs["from"] == a.peer and theirs["user"]["username"] == "alice"
    assert abs(theirs["ts"] - time.time() * 1000) < 60_000  # the server's clock, in milliseconds
    spoofed = await b.recv_type("chat", text="second")
    assert (spoofed["from"], spoofed["user"]["id"]) == (a.peer, people["alice"].pk)
    assert spoofed["ts"] >= theirs["ts"] and spoofed["msg"] not in ("m", theirs["msg"])
    assert "ref" not in theirs and "ref" not in spoofed


@pytest.mark.parametrize("text", ["", "   \n\t ", "x" * 2001, 42])
async def test_empty_blank_or_too_long_chat_is_refused_and_reaches_nobody(connect, people, room, text):
    a, b = await gathered(connect, people, room, "alice", "bob")
    await refused(a, "bad_frame", type="chat", room=room.id, text=text)
    assert await b.nothing_more()


async def test_chat_has_its_own_rate_limit(connect, people, room, settings):
    settings.SIGNALING_CHAT_RATE, settings.SIGNALING_CHAT_BURST = 0.001, 3
    (a,) = await gathered(connect, people, room, "alice")
    for i in range(3):
        assert (await a.request(type="chat", room=room.id, text=f"m{i}"))["type"] == "chat"
    reply = await refused(a, "rate_limited", type="chat", room=room.id, text="one too many")
    assert reply["ref"]
    assert (await a.request(type="ping"))["type"] == "pong"  # other frames still pass


async def test_a_late_joiner_gets_the_recent_chat_oldest_first_and_at_most_100(connect, people, room, settings):
    settings.SIGNALING_CHAT_RATE, settings.SIGNALING_CHAT_BURST = 1000.0, 1000
    (a,) = await gathered(connect, people, room, "alice")
    for i in range(105):
        await a.send(type="chat", room=room.id, text=f"m{i}")
    await a.recv_type("chat", text="m104")
    b = await in_room(connect, people["bob"], room)
    history = b.joined["chat"]
    assert [m["text"] for m in history] == [f"m{i}" for i in range(5, 105)]
    assert {m["from"] for m in history} == {a.peer} and not any("ref" in m for m in history)


async def test_the_chat_is_gone_once_the_room_is_empty(connect, people, room):
    (a,) = await gathered(connect, people, room, "alice")
    await a.request(type="chat", room=room.id, text="before")
    await a.request(type="leave", room=room.id)
    assert await store.get_async().exists(keys.room_chat(room.id)) == 0
    b = await in_room(connect, people["bob"], room)
    assert b.joined["chat"] == []


async def test_the_chat_is_gone_when_the_reaper_removes_the_last_peer(connect, people, room):
    (a,) = await gathered(connect, people, room, "alice")
    await a.request(type="chat", room=room.id, text="before")
    await a.disconnect(1006)  # dropped: kept for resume ...
    assert await presence.connection_of(a.peer) == ""
    assert await presence.remove(a.peer) is not None  # ... until nobody resumed it
    assert await store.get_async().exists(keys.room_chat(room.id)) == 0
    assert (await in_room(connect, people["bob"], room)).joined["chat"] == []


# -- media state ----------------------------------------------------------------------------


async def test_media_state_from_join_and_media_frames_reaches_the_others_and_joiners(connect, people, room):
    a = await in_room(connect, people["alice"], room, media=MUTED)
    b = await in_room(connect, people["bob"], room)
    assert [(p["peer"], p["media"]) for p in b.joined["peers"]] == [(a.peer, MUTED)]
    assert (await a.recv_type("peer-joined", peer=b.peer))["media"] is None  # b told nothing
    await b.send(type="media", room=room.id, id="m1", **ON)
    told = await a.recv_type("media")
    assert told == {"type": "media", "room": room.id, "from": b.peer, **ON}
    assert await b.nothing_more()  # the sender gets no reply
    c = await in_room(connect, people["owner"], room, media={**ON, "screen": True})
    assert {p["peer"]: p["media"] for p in c.joined["peers"]} == {a.peer: MUTED, b.peer: ON}
    assert (await b.recv_type("peer-joined", peer=c.peer))["media"] == {**ON, "screen": True}
    await a.request(type="join", room=room.id, media=ON)  # joined again, unmuted: the others hear of it
    assert (await b.recv_type("media", **{"from": a.peer}))["audio"] is True
    await b.request(type="leave", room=room.id)
    d = await connect(people["bob"])
    await d.send(type="join", room=room.id)
    assert {p["peer"]: p["media"] for p in (await d.recv_type("joined"))["peers"]} == {
        a.peer: ON,
        c.peer: {**ON, "screen": True},
    }  # b's state left with b


# -- hands ----------------------------------------------------------------------------------


async def test_hands_queue_in_raise_order_for_everyone(connect, people, room):
    a, b = await gathered(connect, people, room, "alice", "bob")
    first = await b.request(type="hand", room=room.id, raised=True)
    assert (first["peer"], first["raised"], first["by"], first["hands"]) == (b.peer, True, b.peer, [b.peer])
    assert (await a.recv_type("hand"))["hands"] == [b.peer]
    assert (await a.request(type="hand", room=room.id, raised=True))["hands"] == [b.peer, a.peer]
    assert "ref" not in await b.recv_type("hand", peer=a.peer)
    c = await in_room(connect, people["owner"], room)
    assert c.joined["hands"] == [b.peer, a.peer]
    lowered = await b.request(type="hand", room=room.id, raised=False)
    assert lowered["hands"] == [a.peer]
    await b.request(type="leave", room=room.id)
    await a.request(type="leave", room=room.id)
    assert await store.get_async().exists(keys.room_hands(room.id)) == 0  # a's hand went with a


async def test_only_the_owner_lowers_another_hand(connect, people, room):
    o, a, b = await gathered(connect, people, room, "owner", "alice", "bob")
    await a.request(type="hand", room=room.id, raised=True)
    await refused(b, "forbidden", type="hand", room=room.id, raised=False, peer=a.peer)
    await refused(o, "forbidden", type="hand", room=room.id, raised=True, peer=b.peer)  # nobody raises another's
    await refused(o, "unknown_peer", type="hand", room=room.id, raised=False, peer="nobody")
    lowered = await o.request(type="hand", room=room.id, raised=False, peer=a.peer)
    assert (lowered["peer"], lowered["raised"], lowered["by"], lowered["hands"]) == (a.peer, False, o.peer, [])
    assert (await a.recv_type("hand", raised=False))["by"] == o.peer
    assert (await b.recv_type("hand", raised=False))["hands"] == []


async def test_room_frames_outside_the_room_are_refused_with_their_ref(connect, people, room):
    a = await connect(people["alice"])
    for frame in (
        {"type": "chat", "text": "hi"},
        {"type": "media", **ON},
        {"type": "hand", "raised": True},
        {"type": "remove", "peer": "p"},
        {"type": "let-in", "user": 1},
    ):
        reply = await refused(a, "not_in_room", room=room.id, **frame)
        assert reply["ref"]


# -- the owner's removals ----------------------------------------------------------------------


async def test_the_owner_removes_someone_who_cannot_come_back_until_let_in(connect, people, room):
    o, a, b = await gathered(connect, people, room, "owner", "alice", "bob")
    await b.request(type="hand", room=room.id, raised=True)
    await b.send(type="media", room=room.id, **MUTED)
    for other in (o, a):
        await other.recv_type("hand")
        await other.recv_type("media")
    reply = await o.request(type="remove", room=room.id, peer=b.peer)
    assert reply["type"] == "removed" and (reply["peer"], reply["user"]["username"]) == (b.peer, "bob")
    assert reply["by"]["id"] == people["owner"].pk
    told = await b.recv_type("removed")
    assert {**told, "ref": reply["ref"]} == reply
    left = await a.recv_type("peer-left", peer=b.peer)
    assert left["reason"] == "removed"
    assert await o.nothing_more()  # the owner learnt it from its reply, not from a peer-left too
    assert set(await rooms.amembers(room.id)) == {o.peer, a.peer}
    # out of the room at once: its frames are refused, and nothing of it stays
    await refused(b, "not_in_room", type="chat", room=room.id, text="still here?")
    assert (await in_room(connect, people["alice"], room)).joined["hands"] == []
    # refused on the way back: WebSocket and page alike
    rejoin = await refused(b, "forbidden", type="join", room=room.id)
    assert "removed" in rejoin["message"]
    page = await page_for(people["bob"], room)
    assert page.status_code == 403 and "The owner removed you from this room" in page.content.decode()
    # the owner sees who it removed when it (re)joins
    again = await o.request(type="join", room=room.id)
    assert [u["username"] for u in again["removed"]] == ["bob"]
    assert a.joined["removed"] == [] and o.joined["owner"] == a.joined["owner"] == people["owner"].pk
    # let in: back in
    let_in = await o.request(type="let-in", room=room.id, user=people["bob"].pk)
    assert let_in["type"] == "let-in" and let_in["user"]["username"] == "bob"
    assert (await b.request(type="join", room=room.id))["type"] == "joined"
    assert (await page_for(people["bob"], room)).status_code == 200


async def page_for(user, room):
    def get():
        client = Client()
        client.force_login(user)
        return client.get(f"/r/{room.id}/")

    return await sync_to_async(get)()


async def test_removing_a_peer_removes_every_peer_of_its_user(connect, people, room):
    o, a, b1 = await gathered(connect, people, room, "owner", "alice", "bob")
    b2 = await in_room(connect, people["bob"], room)
    for earlier in (o, a, b1):
        await earlier.recv_type("peer-joined", peer=b2.peer)
    await o.request(type="remove", room=room.id, peer=b1.peer)
    for b in (b1, b2):
        assert (await b.recv_type("removed"))["peer"] == b.peer
    assert (await o.recv_type("peer-left", peer=b2.peer))["reason"] == "removed"  # the one not named
    assert {(await a.recv_type("peer-left"))["peer"] for _ in range(2)} == {b1.peer, b2.peer}
    assert set(await rooms.amembers(room.id)) == {o.peer, a.peer}


async def test_only_the_owner_removes_and_lets_in_and_never_itself(connect, people, room):
    o, a, b = await gathered(connect, people, room, "owner", "alice", "bob")
    await refused(a, "forbidden", type="remove", room=room.id, peer=b.peer)
    await refused(a, "forbidden", type="let-in", room=room.id, user=people["bob"].pk)
    await refused(o, "bad_frame", type="remove", room=room.id, peer=o.peer)
    await refused(o, "unknown_peer", type="remove", room=room.id, peer="nobody")
    await refused(o, "user_not_found", type="let-in", room=room.id, user=10**9)
    o2 = await in_room(connect, people["owner"], room)  # the owner's second tab
    await o.recv_type("peer-joined", peer=o2.peer)
    await refused(o, "bad_frame", type="remove", room=room.id, peer=o2.peer)
    assert set(await rooms.amembers(room.id)) == {o.peer, a.peer, b.peer, o2.peer}
    await b.recv_type("peer-joined", peer=o2.peer)
    assert await b.nothing_more()  # nobody was removed


async def test_a_resumed_owner_keeps_its_powers(connect, people, room):
    o, a = await gathered(connect, people, room, "owner", "alice")
    await o.disconnect(1006)
    o2 = await connect(people["owner"], resume=o.hello["resume"])
    assert o2.hello["resumed"] and o2.hello["rooms"] == [room.id]
    assert (await o2.request(type="remove", room=room.id, peer=a.peer))["type"] == "removed"
    assert (await a.recv_type("removed"))["by"]["id"] == people["owner"].pk


async def test_a_direct_calls_room_has_no_owner_controls(connect, people):
    caller, callee = people["alice"], people["bob"]

    def direct_room():
        direct = Room.objects.create(name="d", owner=caller, kind=Room.Kind.DIRECT, max_peers=2)
        direct.members.add(caller, callee)
        return direct

    direct = await sync_to_async(direct_room)()
    a = await in_room(connect, caller, direct)
    b = await in_room(connect, callee, direct)
    assert a.joined["owner"] is None and b.joined["owner"] is None
    await refused(a, "forbidden", type="remove", room=direct.id, peer=b.peer)
    await refused(a, "forbidden", type="hand", room=direct.id, raised=False, peer=b.peer)


async def test_a_kicked_peer_still_closes_4403_with_room_state_cleaned(connect, people, room):
    """The administrator's kick (not the owner's remove) keeps its meaning; its hand goes with it."""
    from calls.signaling import departures

    a, b = await gathered(connect, people, room, "alice", "bob")
    await b.request(type="hand", room=room.id, raised=True)
    await a.recv_type("hand")
    assert await departures.kick(b.peer)
    assert await b.closed_with() == CloseCode.FORBIDDEN
    assert (await a.recv_type("peer-left", peer=b.peer))["reason"] == "kicked"
    assert (await in_room(connect, people["owner"], room)).joined["hands"] == []
