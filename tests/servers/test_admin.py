"""Django admin: the live Active peers page across two real processes, its actions, and the model admins."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib.admin.models import LogEntry
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from calls.models import Call, PeerSession, Room
from tests.helpers import eventually, make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]
URL = "/admin/calls/activepeer/"


def staff_client() -> Client:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-unused-123")
    client = Client()
    client.force_login(admin)
    return client


def peers_on_page(html: str) -> dict[str, str]:
    """peer id -> node column, as the page shows them."""
    return dict(re.findall(r'class="rtc-peer" data-peer="([^"]+)" data-node="([^"]+)"', html))


@pytest.fixture
def nodes(cluster_factory, redis, tmp_path, request):
    return cluster_factory(request, tmp_path, name="adm", SIGNALING_NODE_TTL="2", SIGNALING_RESUME_GRACE="2")


async def test_active_peers_lists_both_processes_and_disconnect_reaches_the_other(nodes):
    client = await sync_to_async(staff_client)()
    (alice, ca), (bob, cb) = [await sync_to_async(make_user)(n) for n in ("alice", "bob")]
    room = await sync_to_async(Room.objects.create)(name="Weekly", owner=alice)
    a = await Peer.connect(nodes[0].ws_url, ca)
    b = await Peer.connect(nodes[1].ws_url, cb)
    await a.join(room.id)
    await b.join(room.id)
    response = await sync_to_async(client.get)(URL)
    assert response.status_code == 200
    html = response.content.decode()
    shown = peers_on_page(html)
    assert set(shown) == {a.peer, b.peer}
    assert shown[a.peer] != shown[b.peer]  # the node column tells the processes apart
    assert "adm-0" in html and "adm-1" in html  # node names in the per-process counts
    assert room.id in html and ">2<" in html.replace(" ", "")  # busiest rooms: 2 peers
    # filters
    only_bob = peers_on_page((await sync_to_async(client.get)(URL, {"user": "bob"})).content.decode())
    assert set(only_bob) == {b.peer}
    by_node = peers_on_page((await sync_to_async(client.get)(URL, {"node": shown[a.peer]})).content.decode())
    assert set(by_node) == {a.peer}
    # disconnect bob, served by the other process than the one... any: the request runs in this test process
    response = await sync_to_async(client.post)(URL, {"action": "disconnect_peer", "target": b.peer})
    assert response.status_code == 302
    assert await b.closed() == 4403
    left = await a.recv_type("peer-left")
    assert left["peer"] == b.peer and left["reason"] == "kicked"
    entry = await sync_to_async(LogEntry.objects.get)(object_id=str(bob.pk))
    assert b.peer in entry.get_change_message()
    session = await eventually(lambda: PeerSession.objects.filter(peer=b.peer, closed_at__isnull=False).first())
    assert session.close_reason == "kicked"
    await a.close()


async def test_disconnect_all_of_a_user_and_lock_room(nodes):
    client = await sync_to_async(staff_client)()
    (alice, ca), (_, cb) = [await sync_to_async(make_user)(n) for n in ("alice", "bob")]
    room = await sync_to_async(Room.objects.create)(name="Weekly", owner=alice)
    tabs = [await Peer.connect(node.ws_url, ca) for node in nodes]
    other = await Peer.connect(nodes[0].ws_url, cb)
    await sync_to_async(client.post)(URL, {"action": "disconnect_user", "target": str(alice.pk)})
    assert [await tab.closed() for tab in tabs] == [4403, 4403]
    assert await other.nothing_for(0.3) == []  # bob's connection is untouched
    await sync_to_async(client.post)(URL, {"action": "lock_room", "target": room.id})
    assert (await sync_to_async(Room.objects.get)(pk=room.id)).locked
    assert (await other.join(room.id))["code"] == "forbidden"
    await other.close()


async def test_dead_process_peers_leave_the_page(nodes):
    client = await sync_to_async(staff_client)()
    _, ca = await sync_to_async(make_user)("alice")
    a = await Peer.connect(nodes[1].ws_url, ca)
    assert a.peer in peers_on_page((await sync_to_async(client.get)(URL)).content.decode())
    nodes[1].proc.kill()

    def gone():
        return a.peer not in peers_on_page(client.get(URL).content.decode())

    await eventually(gone, timeout=30, what="the dead process's peer to leave the admin page")


def test_non_staff_have_no_access(client, redis):
    user, _ = make_user("mallory")
    client.force_login(user)
    for url in (URL, "/admin/calls/call/", "/admin/calls/peersession/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    response = client.post(URL, {"action": "disconnect_user", "target": str(user.pk)})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_model_admins_render_and_history_is_read_only(client, redis):
    admin_client = staff_client()
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    # Room ids are URL-safe base64: "_3C" in one is what the admin's own quoting writes for "<".
    room = Room.objects.create(id="Weekly_3C-sync", name="Weekly", owner=alice)
    call = Call.objects.create(caller=alice, callee=bob, room=room, state=Call.State.MISSED)
    session = PeerSession.objects.create(peer="p1", user=alice, node="n1")
    room_url = reverse("admin:calls_room_change", args=[quote(room.pk)])  # as the admin links it
    call_url = reverse("admin:calls_call_change", args=[quote(call.pk)])
    for url in (
        "/admin/calls/room/",
        room_url,
        "/admin/calls/call/?state__exact=missed",
        "/admin/calls/call/?q=bob",
        call_url,
        "/admin/calls/peersession/",
        reverse("admin:calls_peersession_change", args=[quote(session.pk)]),
        "/admin/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert f'href="{room_url}"' in admin_client.get("/admin/calls/room/").content.decode()  # the list links it
    assert "Active peers" in admin_client.get("/admin/").content.decode()
    assert admin_client.get("/admin/calls/call/add/").status_code == 403
    assert admin_client.get("/admin/calls/peersession/add/").status_code == 403
    page = admin_client.get(call_url).content.decode()
    assert 'name="state"' not in page  # shown, not editable


async def test_api_presence_matches_the_page_and_disconnects_across_processes(nodes):
    client = await sync_to_async(staff_client)()
    _, ca = await sync_to_async(make_user)("alice")
    _, cb = await sync_to_async(make_user)("bob")
    a = await Peer.connect(nodes[0].ws_url, ca)
    b = await Peer.connect(nodes[1].ws_url, cb)
    body = (await sync_to_async(client.get)("/api/presence/")).json()
    assert body["count"] == 2
    api_nodes = {row["peer"]: row["node"] for row in body["results"]}
    page_nodes = peers_on_page((await sync_to_async(client.get)(URL)).content.decode())
    assert api_nodes == page_nodes and len(set(api_nodes.values())) == 2
    assert {row["user"]["username"] for row in body["results"]} == {"alice", "bob"}
    assert sorted(n["peers"] for n in body["nodes"]) == [1, 1]
    response = await sync_to_async(client.post)(f"/api/presence/{b.peer}/disconnect/")
    assert response.status_code == 202
    assert await b.closed() == 4403
    await a.close()


def test_admin_index_warns_when_turn_is_not_configured(settings, redis):
    client = staff_client()
    settings.TURN_URLS, settings.TURN_SECRETS = [], []
    page = client.get("/admin/").content.decode()
    assert "No TURN server is configured" in page and "calls.W001" in page
    settings.TURN_URLS, settings.TURN_SECRETS = ["turn:127.0.0.1:3478"], ["s"]
    assert "No TURN server is configured" not in client.get("/admin/").content.decode()
