"""The production topology on one machine: nginx (HTTPS) in front of two daphne processes.

Production settings (DEBUG off, secure cookies, SSL redirect); the proxy is the only
address whose X-Forwarded-* headers are believed.
"""

from __future__ import annotations

import http.client
import re
import signal
import socket
import ssl

import pytest
from asgiref.sync import sync_to_async

import devstack
from calls.models import Room
from calls.signaling import presence_reads
from tests.helpers import CANDIDATE, SDP, make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]

INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


@pytest.fixture
def cluster(cluster_factory, redis, tmp_path, transactional_db, request):
    """Two daphne processes behind nginx with TLS, in production settings."""
    servers = cluster_factory(
        request,
        tmp_path,
        proxy=True,
        DJANGO_SECURE_SSL_REDIRECT="1",
        DJANGO_SECURE_COOKIES="1",
        DJANGO_HSTS_SECONDS="3600",
        SIGNALING_NODE_TTL="3",
        SIGNALING_RESUME_GRACE="5",
    )
    return servers.cluster


def https(cluster, method: str, path: str, *, source: str = "127.0.0.1", headers=None, body=None):
    conn = http.client.HTTPSConnection(
        "127.0.0.1", cluster.port, timeout=15, context=INSECURE, source_address=(source, 0)
    )
    try:
        conn.request(method, path, body=body, headers={"Host": f"127.0.0.1:{cluster.port}", **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode(errors="replace")
    finally:
        conn.close()


def ws_url(cluster) -> str:
    return f"wss://127.0.0.1:{cluster.port}"


async def connect(cluster, cookie, **kw) -> Peer:
    origin = f"https://127.0.0.1:{cluster.port}"
    return await Peer.connect(ws_url(cluster), cookie, origin=origin, ssl=INSECURE, **kw)


def test_login_static_and_health_through_nginx(cluster):
    make_user("alice")
    status, headers, _ = https(cluster, "GET", "/healthz")
    assert status == 200
    status, headers, body = https(cluster, "GET", "/static/admin/css/base.css")
    assert status == 200 and "text/css" in headers["Content-Type"] and "body" in body
    status, headers, body = https(cluster, "GET", "/admin/login/")
    assert status == 200
    assert "Strict-Transport-Security" in headers  # production settings behind the proxy
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
    assert "Secure" in headers["Set-Cookie"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    form = f"csrfmiddlewaretoken={token}&username=alice&password=pw-unused-123&next=/admin/"
    status, headers, body = https(
        cluster,
        "POST",
        "/admin/login/",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
            "Referer": f"https://127.0.0.1:{cluster.port}/admin/login/",
        },
    )
    assert status == 200, body[:2000]
    # alice is not staff: the login form answers again instead of redirecting into the admin,
    # which proves the POST passed CSRF over HTTPS through the proxy (a CSRF failure is a 403)
    assert status == 200
    # plain HTTP to daphne from anyone but the proxy is redirected: only the proxy may say "https"
    conn = http.client.HTTPConnection("127.0.0.1", cluster.daphnes[0].port, timeout=10, source_address=("127.0.0.2", 0))
    conn.request("GET", "/admin/login/", headers={"X-Forwarded-Proto": "https", "Host": "127.0.0.1"})
    response = conn.getresponse()
    assert response.status == 301 and response.getheader("Location").startswith("https://")
    conn.close()


async def test_relay_between_processes_through_nginx_and_forwarded_for(cluster):
    owner, ca = await sync_to_async(make_user)("alice")
    _, cb = await sync_to_async(make_user)("bob")
    room = await sync_to_async(Room.objects.create)(name="r", owner=owner)
    # connect through the proxy until two peers sit on different processes
    a = await connect(cluster, ca, local_addr=("127.0.0.2", 0), headers={"X-Forwarded-For": "6.6.6.6"})
    others = []
    for _ in range(6):
        b = await connect(cluster, cb, local_addr=("127.0.0.3", 0))
        nodes = {row["peer"]: row for row in await sync_to_async(presence_reads.describe)([a.peer, b.peer])}
        if nodes[a.peer]["node"] != nodes[b.peer]["node"]:
            break
        others.append(b)
    else:
        raise AssertionError("least_conn never placed two peers on different processes")
    print(f"a on {nodes[a.peer]['node']}, b on {nodes[b.peer]['node']}")
    # the client address is the real one, not the proxy's and not the spoofed header
    assert nodes[a.peer]["ip"] == "127.0.0.2"
    assert nodes[b.peer]["ip"] == "127.0.0.3"
    await a.join(room.id)
    await b.join(room.id)
    await a.recv_type("peer-joined", peer=b.peer)
    await a.send(type="offer", room=room.id, to=b.peer, payload={"type": "offer", "sdp": SDP})
    assert (await b.recv_type("offer"))["from"] == a.peer
    # straight to a daphne process, the same header is not believed
    direct = await Peer.connect(
        cluster.daphnes[0].ws_url, cb, local_addr=("127.0.0.4", 0), headers={"X-Forwarded-For": "6.6.6.6"}
    )
    row = (await sync_to_async(presence_reads.describe)([direct.peer]))[0]
    assert row["ip"] == "127.0.0.4"
    for peer in (a, b, direct, *others):
        await peer.close()


def test_metrics_through_nginx_only_for_allowed_addresses(cluster):
    status, _, body = https(cluster, "GET", "/metrics")
    assert status == 200 and "rtc_joins_total" in body
    status, _, body = https(cluster, "GET", "/metrics", source="127.0.0.2", headers={"X-Forwarded-For": "127.0.0.1"})
    assert status == 403 and "rtc_" not in body


async def test_sigterm_of_one_process_during_a_call_moves_its_clients(cluster):
    owner, ca = await sync_to_async(make_user)("alice")
    _, cb = await sync_to_async(make_user)("bob")
    room = await sync_to_async(Room.objects.create)(name="r", owner=owner)
    a = await connect(cluster, ca)
    b = await connect(cluster, cb)
    await a.join(room.id)
    await b.join(room.id)
    await a.recv_type("peer-joined")
    rows = {row["peer"]: row["node"] for row in await sync_to_async(presence_reads.describe)([a.peer, b.peer])}
    victim_node = rows[b.peer]
    victim = next(d for d in cluster.daphnes if _serves(d, victim_node))
    victim.proc.signal(signal.SIGTERM)
    assert (await b.recv_type("reconnect"))["reason"] == "draining"
    assert await b.closed() == 4001
    back = await connect(cluster, cb, query=f"resume={b.hello['resume']}")
    assert back.hello["resumed"] is True and back.peer == b.peer
    await back.send(type="candidate", room=room.id, to=a.peer, payload=CANDIDATE)
    assert (await a.recv_type("candidate"))["from"] == b.peer
    assert [f for f in a.seen if f["type"] == "peer-left"] == []
    await a.close()
    await back.close()


async def test_a_draining_process_stops_listening_before_it_asks_clients_to_move(daphne_factory):
    """Else nginx's least_conn hands a reconnecting client back to it, only to be refused."""
    _, ca = await sync_to_async(make_user)("alice")
    node = daphne_factory("draining")
    peer = await Peer.connect(node.ws_url, ca)
    node.proc.signal(signal.SIGTERM)
    assert (await peer.recv_type("reconnect"))["reason"] == "draining"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", node.port), timeout=5).close()
    assert await peer.closed() == 4001


def _serves(daphne: devstack.Daphne, node_id: str) -> bool:
    """Node ids are host:pid:random."""
    return f":{daphne.proc.pid}:" in node_id


async def test_connection_cap_refuses_with_try_again_later(daphne_factory):
    _, ca = await sync_to_async(make_user)("alice")
    node = daphne_factory("capped", SIGNALING_MAX_CONNECTIONS="2")
    first = [await Peer.connect(node.ws_url, ca) for _ in range(2)]
    refused = await Peer.connect(node.ws_url, ca)
    assert refused.hello is None
    assert await refused.closed() == 4013
    await first[0].close()
    # once one has left there is room again (the slot frees when its close is processed)
    for _ in range(50):
        again = await Peer.connect(node.ws_url, ca)
        if again.hello is not None:
            break
        assert await again.closed() == 4013
    assert again.hello is not None
    for peer in (*first[1:], again):
        await peer.close()
