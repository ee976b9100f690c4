"""The signaling protocol against two real daphne processes sharing a real Redis.

Peers of one room sit on different processes, so every relay here crosses the channel
layer. The cluster is started once for the module; each test uses fresh users and rooms.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import InvalidStatus

from calls.models import PeerSession, Room
from tests.helpers import CANDIDATE, SDP, eventually, joined_pair, make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def cluster(cluster_factory, tmp_path_factory, request):
    """Two daphne processes with a small rate limit, so flood tests are quick."""
    return cluster_factory(
        request,
        tmp_path_factory.mktemp("signaling"),
        name="sig",
        SIGNALING_RATE="20",
        SIGNALING_BURST="30",
        SIGNALING_ABUSE_LIMIT="60",
        SIGNALING_NODE_TTL="3",
        SIGNALING_RESUME_GRACE="3",
    )


@pytest.fixture
def users(db):
    """Factory for async tests: `user, cookie = await users("alice")`."""
    return sync_to_async(make_user)


@pytest.fixture
def room(db):
    owner, _ = make_user("owner")
    return Room.objects.create(name="Standup", owner=owner)


async def connect(node, session, **kw) -> Peer:
    return await Peer.connect(node.ws_url, session, **kw)


async def test_hello_describes_the_connection(cluster, users):
    alice, cookie = await users("alice")
    peer = await connect(cluster[0], cookie)
    hello = peer.hello
    assert hello["protocol"] == 1
    assert hello["user"] == {"id": alice.pk, "username": "alice", "display_name": "alice"}
    assert hello["heartbeat"] >= 90
    assert hello["max_frame"] == 65536
    assert len(hello["peer"]) >= 16 and hello["resume"] and hello["resumed"] is False
    await peer.send(type="ping", id="p1")
    assert await peer.recv_type("pong") == {"type": "pong", "ref": "p1"}
    session = await eventually(lambda: PeerSession.objects.filter(peer=hello["peer"]).first(), what="history row")
    assert session.user_id == alice.pk and session.closed_at is None
    await peer.close()


async def test_anonymous_connection_is_closed_4401(cluster):
    peer = await Peer.connect(cluster[0].ws_url, None)
    assert peer.hello is None
    assert await peer.closed() == 4401


async def test_bad_session_is_closed_4401(cluster):
    peer = await Peer.connect(cluster[1].ws_url, "not-a-session")
    assert await peer.closed() == 4401


async def test_foreign_origin_is_refused(cluster, users):
    _, cookie = await users("alice")
    with pytest.raises(InvalidStatus) as refused:
        await connect(cluster[0], cookie, origin="http://evil.example")
    assert refused.value.response.status_code == 403


async def test_missing_origin_with_cookie_is_refused(cluster, users):
    _, cookie = await users("alice")
    with pytest.raises(InvalidStatus) as refused:
        await connect(cluster[0], cookie, origin=None)
    assert refused.value.response.status_code == 403


async def test_join_across_processes_and_exchange_offer_answer_candidates(cluster, users, room):
    alice, ca = await users("alice")
    bob, cb = await users("bob")
    a = await connect(cluster[0], ca)
    b = await connect(cluster[1], cb)
    joined = await a.join(room.id, id="j")
    assert joined == {
        "type": "joined",
        "room": room.id,
        "peer": a.peer,
        "peers": [],
        "owner": room.owner_id,
        "hands": [],
        "chat": [],
        "removed": [],
        "ref": "j",
    }
    joined = await b.join(room.id)
    alice_info = {"id": alice.pk, "username": "alice", "display_name": "alice"}
    assert joined["peers"] == [{"peer": a.peer, "user": alice_info, "media": None}]
    seen = await a.recv_type("peer-joined")
    assert seen == {
        "type": "peer-joined",
        "room": room.id,
        "peer": b.peer,
        "user": {"id": bob.pk, "username": "bob", "display_name": "bob"},
        "media": None,
    }

    # offer with a spoofed sender: the server sets from/user itself
    await a.send(
        type="offer", room=room.id, to=b.peer, payload={"type": "offer", "sdp": SDP}, **{"from": b.peer}, user={"id": 0}
    )
    offer = await b.recv_type("offer")
    assert offer["from"] == a.peer
    assert offer["user"]["username"] == "alice"
    assert offer["payload"] == {"type": "offer", "sdp": SDP}
    await b.send(type="answer", room=room.id, to=a.peer, payload={"type": "answer", "sdp": SDP})
    answer = await a.recv_type("answer")
    assert answer["from"] == b.peer and answer["payload"]["type"] == "answer"
    for payload in (CANDIDATE, None):
        await b.send(type="candidate", room=room.id, payload=payload)
        got = await a.recv_type("candidate")
        assert got["from"] == b.peer and got["payload"] == payload
    # the sender never hears its own broadcast
    assert await a.nothing_for(0.3, "candidate") == []
    await a.close()
    await b.close()


async def test_to_reaches_only_its_target_and_other_rooms_see_nothing(cluster, users, room):
    _, ca = await users("alice")
    _, cb = await users("bob")
    _, cc = await users("carol")
    _, cd = await users("dave")
    other = await sync_to_async(Room.objects.create)(name="Other", owner=room.owner)
    a, b, c = await connect(cluster[0], ca), await connect(cluster[1], cb), await connect(cluster[0], cc)
    d = await connect(cluster[1], cd)
    for peer in (a, b, c):
        assert (await peer.join(room.id))["type"] == "joined"
    await a.recv_type("peer-joined", peer=c.peer)  # a client learns whom to address from peer-joined
    assert (await d.join(other.id))["type"] == "joined"
    await a.send(type="offer", room=room.id, to=c.peer, payload={"type": "offer", "sdp": SDP})
    assert (await c.recv_type("offer"))["from"] == a.peer
    await a.send(type="candidate", room=room.id, payload=CANDIDATE)
    assert (await b.recv_type("candidate"))["from"] == a.peer
    assert (await c.recv_type("candidate"))["from"] == a.peer
    assert await b.nothing_for(0.5, "offer") == []
    assert await d.nothing_for(0.2, "offer", "candidate", "peer-joined") == []
    # d may not address room members or send into a room it is not in
    await d.send(type="offer", room=room.id, to=a.peer, payload={"type": "offer", "sdp": SDP}, id=9)
    error = await d.recv_type("error")
    assert error["code"] == "not_in_room" and error["ref"] == 9
    await d.send(type="offer", room=other.id, to=a.peer, payload={"type": "offer", "sdp": SDP}, id=10)
    error = await d.recv_type("error")
    assert error["code"] == "unknown_peer" and error["ref"] == 10
    assert await a.nothing_for(0.3, "offer") == []
    for peer in (a, b, c, d):
        await peer.close()


async def test_error_codes_leave_the_connection_usable(cluster, users, room):
    a, b = await joined_pair(cluster[0].ws_url, cluster[1].ws_url, room.id)

    async def expect(code, raw=None, ref=None, **frame):
        await (a.send_raw(raw) if raw is not None else a.send(**frame))
        error = await a.recv_type("error")
        assert error["code"] == code, error
        assert error["message"]
        assert error.get("ref") == ref

    await expect("bad_json", raw="{nope")
    await expect("bad_json", raw="[]")
    await expect("bad_frame", type="join", id="r1", ref="r1")
    await expect("bad_frame", type="offer", room=room.id, payload={"type": "offer"}, id=2, ref=2)
    await expect("unknown_type", type="teleport", id="t", ref="t")
    await expect("too_large", raw=json.dumps({"type": "ping", "pad": "x" * 70_000}))
    await expect("not_in_room", type="leave", room="nosuchroom", id=3, ref=3)
    await expect("unknown_peer", type="offer", room=room.id, to="nobody", payload={"type": "offer", "sdp": SDP})
    await expect("room_not_found", type="join", room="doesNotExist123", id=4, ref=4)
    direct = await sync_to_async(Room.objects.create)(name="D", owner=room.owner, kind=Room.Kind.DIRECT)
    await expect("forbidden", type="join", room=direct.id, id=5, ref=5)
    locked = await sync_to_async(Room.objects.create)(name="L", owner=room.owner, locked=True)
    await expect("forbidden", type="join", room=locked.id)
    full = await sync_to_async(Room.objects.create)(name="F", owner=room.owner, max_peers=1)
    assert (await b.join(full.id))["type"] == "joined"
    await expect("room_full", type="join", room=full.id, id=6, ref=6)
    # still serving this connection and the other one
    await a.send(type="candidate", room=room.id, payload=CANDIDATE)
    assert (await b.recv_type("candidate"))["from"] == a.peer
    await a.close()
    await b.close()


async def test_leave_and_clean_close_announce_peer_left_at_once(cluster, users, room):
    a, b = await joined_pair(cluster[0].ws_url, cluster[1].ws_url, room.id)
    await b.send(type="leave", room=room.id, id="bye")
    assert await b.recv_type("left") == {"type": "left", "room": room.id, "ref": "bye"}
    left = await a.recv_type("peer-left", timeout=5)
    assert left == {"type": "peer-left", "room": room.id, "peer": b.peer, "reason": "leave"}
    await b.send(type="candidate", room=room.id, payload=CANDIDATE)
    assert (await b.recv_type("error"))["code"] == "not_in_room"
    await b.join(room.id)
    await a.recv_type("peer-joined", peer=b.peer)
    await b.close(1000)
    left = await a.recv_type("peer-left", timeout=5)
    assert left["peer"] == b.peer and left["reason"] == "disconnect"
    session = await eventually(
        lambda: PeerSession.objects.filter(peer=b.peer, closed_at__isnull=False).first(), what="session closed"
    )
    assert session.close_reason == "disconnect"
    await a.close()


async def test_chat_hands_and_the_owners_removal_cross_processes(cluster, users):
    owner, co = await users("host")
    bob, cb = await users("bob")
    room = await sync_to_async(Room.objects.create)(name="Across", owner=owner)
    o = await connect(cluster[0], co)
    b = await connect(cluster[1], cb)
    await o.join(room.id)
    await b.join(room.id, media={"audio": False, "video": True, "screen": False})
    assert (await o.recv_type("peer-joined"))["media"] == {"audio": False, "video": True, "screen": False}
    await b.send(type="chat", room=room.id, text="hello from the other process", id="c")
    assert (await o.recv_type("chat"))["user"]["username"] == "bob"
    assert (await b.recv_type("chat"))["ref"] == "c"
    await b.send(type="hand", room=room.id, raised=True)
    assert (await o.recv_type("hand"))["hands"] == [b.peer]
    await o.send(type="remove", room=room.id, peer=b.peer, id="x")
    assert (await o.recv_type("removed"))["ref"] == "x"
    told = await b.recv_type("removed")  # on the other process: out of the room there too
    assert (told["peer"], told["by"]["id"]) == (b.peer, owner.pk)
    assert (await b.join(room.id))["code"] == "forbidden"
    await o.send(type="let-in", room=room.id, user=bob.pk)
    assert (await o.recv_type("let-in"))["user"]["id"] == bob.pk
    assert (await b.join(room.id))["type"] == "joined"
    await o.close()
    await b.close()


async def test_flood_is_rate_limited_while_others_keep_working(cluster, users, room):
    _, ca = await users("alice")
    _, cb = await users("bob")
    _, cc = await users("carol")
    flooder = await connect(cluster[0], ca)
    b = await connect(cluster[1], cb)
    c = await connect(cluster[0], cc)
    for peer in (flooder, b, c):
        await peer.join(room.id)
    for i in range(45):  # burst is 30
        await flooder.send(type="ping", id=i)
    frames = [await flooder.recv_type("pong", "error") for _ in range(45)]
    limited = [f for f in frames if f["type"] == "error"]
    assert limited and all(f["code"] == "rate_limited" for f in limited)
    pongs = len([f for f in frames if f["type"] == "pong"])
    assert 29 <= pongs < 45  # the burst of 30, less the join frame, plus a little refill
    # an innocent connection on the same process is unaffected
    await c.send(type="candidate", room=room.id, to=b.peer, payload=CANDIDATE)
    assert (await b.recv_type("candidate"))["from"] == c.peer
    for peer in (flooder, b, c):
        await peer.close()


async def test_sustained_abuse_closes_4429(cluster, users):
    _, ca = await users("alice")
    abuser = await connect(cluster[1], ca)
    for _ in range(80):
        try:
            await abuser.send_raw("{not json")
        except Exception:
            break
    assert await abuser.closed() == 4429


async def test_resume_keeps_peer_id_and_rooms_without_churn(cluster, users, room):
    a, b = await joined_pair(cluster[0].ws_url, cluster[1].ws_url, room.id)
    token, old_peer = b.hello["resume"], b.peer
    b.ws.transport.abort()  # an abnormal drop (no close frame)
    resumed = await connect(cluster[0], b.session, query=f"resume={token}")  # comes back on the other process
    assert resumed.hello["peer"] == old_peer
    assert resumed.hello["resumed"] is True
    assert resumed.hello["rooms"] == [room.id]
    # relays reach the resumed connection, and the other side saw no churn
    await a.send(type="offer", room=room.id, to=old_peer, payload={"type": "offer", "sdp": SDP})
    assert (await resumed.recv_type("offer"))["from"] == a.peer
    assert await a.nothing_for(4.5, "peer-left", "peer-joined") == []  # longer than the 3 s grace
    await resumed.close()
    assert (await a.recv_type("peer-left"))["peer"] == old_peer
    await a.close()


async def test_someone_elses_resume_token_gives_a_new_peer(cluster, users):
    _, ca = await users("alice")
    _, cb = await users("bob")
    a = await connect(cluster[0], ca)
    b = await connect(cluster[1], cb, query=f"resume={a.hello['resume']}")
    assert b.hello["resumed"] is False and b.peer != a.peer
    await a.close()
    await b.close()


async def test_abnormal_drop_announces_peer_left_after_the_grace_window(cluster, users, room):
    a, b = await joined_pair(cluster[0].ws_url, cluster[1].ws_url, room.id)
    loop = asyncio.get_running_loop()
    dropped_at = loop.time()
    b.ws.transport.abort()
    left = await a.recv_type("peer-left", timeout=15)
    waited = loop.time() - dropped_at
    assert left["peer"] == b.peer and left["reason"] == "disconnect"
    assert waited >= 2.5, f"peer-left came after {waited:.1f}s, before the 3 s grace window"
    await a.close()
