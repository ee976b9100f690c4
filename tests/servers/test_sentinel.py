"""Redis through Sentinel is configuration: REDIS_SENTINELS + REDIS_SENTINEL_MASTER, no code change."""

from __future__ import annotations

import pytest
import redis as redis_client
from asgiref.sync import sync_to_async

import devstack
from calls.models import Room
from calls.signaling import keys
from tests.helpers import SDP, make_user, server_env
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_two_processes_relay_through_a_sentinel_managed_redis(tmp_path, redis, transactional_db):
    master = devstack.start_redis(tmp_path / "master")
    sentinel, port = devstack.start_sentinel(tmp_path / "sentinel", master.port, "rtcsite")
    nodes: list[devstack.Daphne] = []
    try:
        env = server_env(master, tmp_path, REDIS_SENTINELS=f"127.0.0.1:{port}", REDIS_SENTINEL_MASTER="rtcsite")
        env.pop("REDIS_URL")
        nodes = [devstack.start_daphne(tmp_path, env, name=f"sent{i}") for i in range(2)]
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
        # the state really is in the Redis the sentinel named
        direct = redis_client.Redis(host="127.0.0.1", port=master.port)
        assert direct.hexists(keys.room_members(room.id), a.peer)
        direct.close()
        await a.close()
        await b.close()
    finally:
        for node in nodes:
            node.proc.stop()
        sentinel.stop()
        master.proc.stop()
