"""A client that stops reading cannot make a process hold more than SIGNALING_MAX_PENDING for it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from calls.models import Room
from calls.signaling import presence
from tests.helpers import SDP, eventually, make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]

CAP = 256 * 1024
BIG_SDP = SDP + "a=x-padding:" + "x" * 59_000 + "\r\n"  # just under the SDP limit


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


async def test_a_client_that_stops_reading_is_closed_and_others_keep_receiving(
    cluster_factory, redis, tmp_path, request
):
    node = cluster_factory(
        request, tmp_path, nodes=1, name="slow", SIGNALING_MAX_PENDING=str(CAP), SIGNALING_MAX_FRAME="70000",
        SIGNALING_RATE="2000", SIGNALING_BURST="2000",
    )[0]  # fmt: skip
    owner, c_owner = await sync_to_async(make_user)("owner")
    _, c_slow = await sync_to_async(make_user)("slow")
    _, c_mate = await sync_to_async(make_user)("mate")
    room = await sync_to_async(Room.objects.create)(name="r", owner=owner)
    sender = await Peer.connect(node.ws_url, c_owner)
    await sender.join(room.id)
    # A client that reads nothing: a tiny receive buffer, and the library stops reading at once.
    raw = socket.create_connection(("127.0.0.1", node.port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow = await Peer.connect(node.ws_url, c_slow, sock=raw, max_queue=1)
    await slow.join(room.id)
    mate = await Peer.connect(node.ws_url, c_mate)
    await mate.join(room.id)
    await sender.recv_type("peer-joined", peer=mate.peer)

    async def flood(frames: int, tag: str) -> None:
        """`frames` offers of 59 KB to the slow client, and a candidate to the other peer for each."""
        for i in range(frames):
            offer = {"type": "offer", "sdp": BIG_SDP}
            await sender.send(type="offer", room=room.id, to=slow.peer, payload=offer)
            await sender.send(type="candidate", room=room.id, to=mate.peer, payload={"candidate": f"{tag}{i}"})
        got = [await mate.recv_type("candidate", timeout=30) for _ in range(frames)]
        assert [f["payload"]["candidate"] for f in got] == [f"{tag}{i}" for i in range(frames)]  # nothing lost

    await flood(400, "a")  # 23 MB for a client that reads nothing: far beyond its socket buffers
    await eventually(lambda: presence_state(slow.peer) == "", timeout=15, what="the slow reader to be detached")
    log = node.proc.log_path.read_text()
    closing = [json.loads(line) for line in log.splitlines() if "closing a slow reader" in line]
    assert len(closing) == 1
    assert CAP < closing[0]["pending"] <= CAP + len(BIG_SDP) + 1024  # closed as it crossed the cap
    after_close = rss_kib(node.proc.pid)
    await flood(400, "b")  # another 23 MB for the peer while it is away: held for nobody
    grown = rss_kib(node.proc.pid) - after_close
    print(f"closed at {closing[0]['pending']} bytes pending; RSS then grew {grown} KiB for the next 23 MB")
    assert grown < 8 * 1024
    await sender.close()
    await mate.close()


def presence_state(peer: str) -> str | None:
    from asgiref.sync import async_to_sync

    return async_to_sync(presence.connection_of)(peer)
