"""Redis through Sentinel is configuration: REDIS_SENTINELS + REDIS_SENTINEL_MASTER, no code change."""

from __future__ import annotations

import http.client

import pytest
import redis as redis_client
from asgiref.sync import sync_to_async

import devstack
from calls.models import Room
from calls.signaling import keys
from tests.helpers import SDP, ServerGroup, make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sentinel(tmp_path, request):
    """A Redis master and a Sentinel watching it: (master, sentinel port)."""
    group = ServerGroup(request, request.session.testsfailed)
    request.addfinalizer(group.finish)
    master = group.add(devstack.start_redis(tmp_path / "master"))
    proc, port = devstack.start_sentinel(tmp_path / "sentinel", master.port, "rtcsite")
    group.add(proc)
    return master, port


async def test_two_processes_relay_through_a_sentinel_managed_redis(sentinel, cluster_factory, tmp_path, request):
    master, port = sentinel
    # REDIS_URL keeps naming the suite's own Redis: state found in the master came through Sentinel.
    nodes = cluster_factory(request, tmp_path, name="sent", REDIS_SENTINELS=f"127.0.0.1:{port}",
                            REDIS_SENTINEL_MASTER="rtcsite")  # fmt: skip
    owner, ca = await sync_to_async(make_user)("alice")
    _, cb = await sync_to_async(make_user)("bob")
    room = await sync_to_async(Room.objects.create)(name="r", owner=owner)
    a = await Peer.connect(nodes[0].ws_url, ca)
    b = await Peer.connect(nodes[1].ws_url, cb)
    await a.join(room.id)
    assert (await b.join(room.id))["peers"][0]["peer"] == a.peer
    await a.recv_type("peer-joined")
    await a.send(type="offer", room=room.id, to=b.peer, payload={"type": "offer", "sdp": SDP})
    assert (await b.recv_type("offer"))["from"] == a.peer
    direct = redis_client.Redis(host="127.0.0.1", port=master.port)
    assert direct.hexists(keys.room_members(room.id), a.peer)
    direct.close()
    await a.close()
    await b.close()


def test_throttles_count_across_processes_through_sentinel(sentinel, cluster_factory, tmp_path, request):
    """The throttle cache lives in the Sentinel-managed master: two processes share one count."""
    master, port = sentinel
    nodes = cluster_factory(request, tmp_path, name="sent", REDIS_SENTINELS=f"127.0.0.1:{port}",
                            REDIS_SENTINEL_MASTER="rtcsite", TURN_THROTTLE_RATE="4/min")  # fmt: skip
    _, cookie = make_user("alice")
    statuses = []
    for i in range(6):  # alternately on each process
        conn = http.client.HTTPConnection("127.0.0.1", nodes[i % 2].port, timeout=10)
        conn.request("GET", "/api/turn-credentials/", headers={"Cookie": f"sessionid={cookie}"})
        statuses.append(conn.getresponse().status)
        conn.close()
    assert statuses == [200, 200, 200, 200, 429, 429]
    direct = redis_client.Redis(host="127.0.0.1", port=master.port)
    assert direct.keys("rtc:cache:*throttle*")
    direct.close()
