"""Failures of real processes: a daphne process killed, Redis restarted, a client gone silent."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import pytest
from asgiref.sync import sync_to_async

import devstack
from calls.models import PeerSession, Room
from tests.helpers import CANDIDATE, SDP, eventually, joined_pair, make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def room(db):
    owner, _ = make_user("owner")
    return Room.objects.create(name="Standup", owner=owner)


async def test_killed_process_peers_leave_within_10s_with_default_timings(daphne_factory, room):
    """SIGKILL: no websocket_disconnect runs; the survivors' process reaps the dead lease.

    With the defaults (6 s lease renewed every 1.5 s, a reaper pass every 1.5 s) the peers
    leave 4.5-7.5 s after the death: when the lease runs out, plus up to one reaper tick.
    """
    survivor, doomed = daphne_factory("survivor"), daphne_factory("doomed")
    a, b = await joined_pair(survivor.ws_url, doomed.ws_url, room.id)
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    doomed.proc.kill()
    left = await a.recv_type("peer-left", timeout=15)
    elapsed = loop.time() - killed_at
    print(f"peer-left {elapsed:.1f}s after SIGKILL")
    assert left["peer"] == b.peer and left["reason"] == "disconnect"
    assert elapsed <= 10
    # the room is usable again: the departed peer's slot is free
    rejoin = await Peer.connect(survivor.ws_url, b.session)
    assert (await rejoin.join(room.id))["peers"] == [{"peer": a.peer, "user": a.hello["user"], "media": None}]
    await a.close()
    await rejoin.close()


async def test_history_row_of_a_peer_whose_process_was_killed_at_once_is_written_by_the_reaper(daphne_factory):
    """The write-behind batch (0.5 s) dies with a SIGKILLed process; the survivor writes the row from presence."""
    daphne_factory("survivor")
    doomed = daphne_factory("doomed")
    user, cookie = await sync_to_async(make_user)("bob")
    b = await Peer.connect(doomed.ws_url, cookie, user_agent_header="killed-at-once/1.0")
    doomed.proc.kill()  # right after `hello`: its row was still in the batch
    row = None
    for _ in range(60):
        row = await PeerSession.objects.filter(peer=b.peer, closed_at__isnull=False).afirst()
        if row is not None:
            break
        await asyncio.sleep(0.25)
    assert row is not None, "no closed history row for the killed process's peer"
    assert (row.user_id, row.close_reason, row.user_agent) == (user.pk, "disconnect", "killed-at-once/1.0")
    assert row.ip == "127.0.0.1" and row.node


async def test_client_of_a_killed_process_resumes_on_another_without_churn(daphne_factory, room):
    survivor = daphne_factory("survivor", SIGNALING_NODE_TTL="3", SIGNALING_RESUME_GRACE="5")
    doomed = daphne_factory("doomed", SIGNALING_NODE_TTL="3", SIGNALING_RESUME_GRACE="5")
    a, b = await joined_pair(survivor.ws_url, doomed.ws_url, room.id)
    doomed.proc.kill()
    assert await b.closed() == 1006
    back = await Peer.connect(survivor.ws_url, b.session, query=f"resume={b.hello['resume']}")
    assert back.hello["resumed"] is True and back.peer == b.peer and back.hello["rooms"] == [room.id]
    await back.send(type="offer", room=room.id, to=a.peer, payload={"type": "offer", "sdp": SDP})
    assert (await a.recv_type("offer"))["from"] == b.peer
    # well past the dead lease and the grace window: still no churn
    assert await a.nothing_for(9, "peer-left", "peer-joined") == []
    await a.close()
    await back.close()


async def test_silent_connection_is_closed_4408_and_peers_see_timeout(daphne_factory, room):
    _, ca = await sync_to_async(make_user)("alice")
    _, cb = await sync_to_async(make_user)("bob")
    node = daphne_factory("hb", SIGNALING_HEARTBEAT="2", SIGNALING_NODE_TTL="2", SIGNALING_RESUME_GRACE="1")
    a = await Peer.connect(node.ws_url, ca)
    b = await Peer.connect(node.ws_url, cb)
    assert a.hello["heartbeat"] == 2
    await a.join(room.id)
    await b.join(room.id)
    # a keeps pinging; b stays silent
    pinger_done = asyncio.Event()

    async def keep_alive():
        while not pinger_done.is_set():
            await a.send(type="ping")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pinger_done.wait(), 0.5)

    task = asyncio.create_task(keep_alive())
    try:
        assert await b.closed(timeout=10) == 4408
        left = await a.recv_type("peer-left", timeout=10)
        assert left["peer"] == b.peer and left["reason"] == "timeout"
    finally:
        pinger_done.set()
        await task
    await a.close()


async def test_redis_restart_closes_sockets_4012_and_clients_recover(
    tmp_path, cluster_factory, server_group, room, request
):
    """Frames are at most once: after Redis restarts, every process asks its clients to reconnect (4012).

    With the default timings a frame is relayed again within 5 s of the restart: Redis is
    back in well under a second, each process notices its lost lease on its next tick
    (every 1.5 s), and clients come back after the browser's first backoff (at most 0.25 s).
    """
    redis = server_group.add(devstack.start_redis(tmp_path / "redis"))
    nodes = cluster_factory(request, tmp_path, name="rr", REDIS_URL=redis.url)
    _, ca = await sync_to_async(make_user)("alice")
    _, cb = await sync_to_async(make_user)("bob")
    a = await Peer.connect(nodes[0].ws_url, ca)
    b = await Peer.connect(nodes[1].ws_url, cb)
    await a.join(room.id)
    await b.join(room.id)
    await a.recv_type("peer-joined")
    loop = asyncio.get_running_loop()
    restarted_at = loop.time()
    await asyncio.to_thread(redis.restart)
    back_at = loop.time()

    async def come_back(old: Peer, url: str, cookie: str) -> Peer:
        assert await old.closed(timeout=20) == 4012
        await asyncio.sleep(0.25)  # signaling.js: the first retry comes within 0.25 s
        return await Peer.connect(url, cookie, query=f"resume={old.hello['resume']}")

    # clients come back (their resume state went with Redis) and join again
    a2, b2 = await asyncio.gather(come_back(a, nodes[0].ws_url, ca), come_back(b, nodes[1].ws_url, cb))
    assert a2.hello["resumed"] is False
    assert (await a2.join(room.id))["type"] == "joined"
    assert (await b2.join(room.id))["peers"][0]["peer"] == a2.peer
    await a2.recv_type("peer-joined", peer=b2.peer)  # as a client learns whom to address
    await a2.send(type="candidate", room=room.id, to=b2.peer, payload=CANDIDATE)
    assert (await b2.recv_type("candidate"))["from"] == a2.peer
    elapsed = loop.time() - restarted_at
    print(f"relayed {elapsed:.1f}s after the Redis restart began (Redis answered after {back_at - restarted_at:.1f}s)")
    assert elapsed <= 5
    await a2.close()
    await b2.close()


async def test_sigterm_drains_clients_to_another_process_without_churn(daphne_factory, room):
    """Rolling restart: `reconnect`, close 4001, resume elsewhere; the other side sees nothing."""
    stays, leaves = daphne_factory("stays"), daphne_factory("leaves")
    a, b = await joined_pair(stays.ws_url, leaves.ws_url, room.id)
    leaves.proc.signal(signal.SIGTERM)
    assert await b.recv_type("reconnect") == {"type": "reconnect", "reason": "draining"}
    assert await b.closed() == 4001
    exit_code = await asyncio.to_thread(leaves.proc.popen.wait, 15)
    assert exit_code == 0, leaves.proc.log_tail()
    back = await Peer.connect(stays.ws_url, b.session, query=f"resume={b.hello['resume']}")
    assert back.hello["resumed"] is True and back.peer == b.peer
    await back.send(type="answer", room=room.id, to=a.peer, payload={"type": "answer", "sdp": SDP})
    assert (await a.recv_type("answer"))["from"] == b.peer
    assert await a.nothing_for(1.0, "peer-left", "peer-joined") == []
    await a.close()
    await back.close()


async def test_a_relay_whose_publish_redis_dropped_is_answered_unavailable_and_never_delivered(
    tmp_path, cluster_factory, server_group, room, request
):
    """Relay frames are published without waiting for Redis' reply; a lost PUBLISH still reaches its sender as an error.

    Redis holds write commands (CLIENT PAUSE WRITE) while an offer is relayed, and the process's
    publishing connection is killed with the PUBLISH still unanswered.
    """
    import redis as redis_client

    redis = server_group.add(devstack.start_redis(tmp_path / "redis"))
    nodes = cluster_factory(request, tmp_path, name="pf", REDIS_URL=redis.url)
    a, b = await joined_pair(nodes[0].ws_url, nodes[1].ws_url, room.id)
    admin = redis_client.Redis.from_url(redis.url)

    def held_publish() -> str | None:
        held = [c for c in admin.client_list() if "b" in c["flags"] and c["cmd"] == "publish"]
        return held[0]["addr"] if held else None

    admin.client_pause(10_000, all=False)
    try:
        await a.send(type="offer", room=room.id, to=b.peer, payload={"type": "offer", "sdp": SDP}, id=7)
        address = await eventually(held_publish, what="the offer's PUBLISH held by Redis")
        assert admin.client_kill(address)
    finally:
        admin.client_unpause()
    error = await a.recv_type("error")
    assert error["code"] == "unavailable" and error["ref"] == 7
    await a.send(type="candidate", room=room.id, to=b.peer, payload=CANDIDATE)  # on a new connection
    relayed = await b.recv_type("offer", "candidate")
    assert relayed["type"] == "candidate", "the offer whose PUBLISH failed was delivered after all"
    await a.close()
    await b.close()
    admin.close()
