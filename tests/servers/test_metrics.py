"""/metrics: counters that move with traffic, shared across processes, refused to other addresses."""

from __future__ import annotations

import http.client
import re

import pytest
from asgiref.sync import sync_to_async

from calls.models import Room
from tests.helpers import SDP, make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]
LOOPBACK = "127.0.0.1,::1"


def scrape(port: int, source: str = "127.0.0.1") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def value(text: str, name: str, **labels: str) -> float:
    """The sum of samples of `name` whose labels include `labels`."""
    total, found = 0.0, False
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
            found = True
    assert found, f"{name} {labels} not in metrics"
    return total


async def test_metrics_move_with_traffic_and_agree_across_processes(cluster_factory, redis, tmp_path, request):
    shared = tmp_path / "prom"
    shared.mkdir()
    nodes = cluster_factory(request, tmp_path, name="m", PROMETHEUS_MULTIPROC_DIR=str(shared), METRICS_ALLOWED=LOOPBACK)
    owner, ca = await sync_to_async(make_user)("alice")
    _, cb = await sync_to_async(make_user)("bob")
    room = await sync_to_async(Room.objects.create)(name="r", owner=owner)
    status, before = scrape(nodes[0].port)
    assert status == 200
    assert value(before, "rtc_relayed_frames_total", type="offer") == 0
    a = await Peer.connect(nodes[0].ws_url, ca)
    b = await Peer.connect(nodes[1].ws_url, cb)
    await a.join(room.id)
    await b.join(room.id)
    await a.recv_type("peer-joined")
    for _ in range(3):
        await a.send(type="offer", room=room.id, to=b.peer, payload={"type": "offer", "sdp": SDP})
        await b.recv_type("offer")
    await a.send_raw("{broken")
    await a.recv_type("error")
    texts = [scrape(node.port)[1] for node in nodes]
    for text in texts:  # either process reports the cluster's figures
        assert value(text, "rtc_relayed_frames_total", type="offer") == 3
        assert value(text, "rtc_joins_total") == 2
        assert value(text, "rtc_errors_total", code="bad_json") == 1
        assert value(text, "rtc_connections") == 2
        assert value(text, "rtc_relay_latency_seconds_count") == 3
        assert value(text, "rtc_connects_total", resumed="false") == 2
    await b.close()
    await a.close()


async def test_metrics_refused_from_other_addresses(daphne_factory):
    node = daphne_factory("m", METRICS_ALLOWED=LOOPBACK)
    status, body = scrape(node.port, source="127.0.0.2")
    assert status == 403
    assert "rtc_" not in body
    status, body = scrape(node.port)
    assert status == 200 and "rtc_relayed_frames_total" in body


async def test_metrics_are_off_by_default(daphne_factory):
    node = daphne_factory("m")
    status, body = scrape(node.port)
    assert status == 403
    assert "rtc_" not in body
