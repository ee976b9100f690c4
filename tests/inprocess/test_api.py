"""REST API: the permissions matrix (anonymous, user, other user, staff), tokens, pagination, schema."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from calls.models import Call, Room
from calls.signaling import tickets
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db


def user(name: str, **extra):
    return get_user_model().objects.create_user(name, f"{name}@example.com", PASSWORD, **extra)


def client_for(who=None, *, token: bool = False) -> APIClient:
    client = APIClient()
    if who is not None:
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=who)[0].key}")
        else:
            client.force_authenticate(who)
    return client


@pytest.fixture
def people(redis):
    alice, bob, staff = user("alice"), user("bob"), user("root", is_staff=True)
    room = Room.objects.create(name="Alice's", owner=alice)
    room.members.add(alice)
    direct = Room.objects.create(name="direct", owner=alice, kind=Room.Kind.DIRECT)
    direct.members.add(alice)
    return {"alice": alice, "bob": bob, "staff": staff, "room": room, "direct": direct}


ENDPOINTS = [
    ("get", "/api/me/"),
    ("post", "/api/me/calls-seen/"),
    ("get", "/api/rooms/"),
    ("post", "/api/rooms/"),
    ("get", "/api/rooms/{room}/"),
    ("patch", "/api/rooms/{room}/"),
    ("delete", "/api/rooms/{room}/"),
    ("get", "/api/rooms/{room}/peers/"),
    ("get", "/api/calls/"),
    ("get", "/api/presence/"),
    ("post", "/api/presence/somepeer/disconnect/"),
    ("post", "/api/ws-ticket/"),
    ("get", "/api/turn-credentials/"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_gets_json_401_never_a_redirect(people, method, path):
    response = getattr(client_for(), method)(path.format(room=people["room"].pk), format="json")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


def test_me(people):
    body = client_for(people["alice"]).get("/api/me/").json()
    assert body["username"] == "alice" and body["id"] == people["alice"].pk and body["is_staff"] is False


def test_rooms_owner_and_other_user(people):
    alice, bob, room = people["alice"], people["bob"], people["room"]
    listed = client_for(alice).get("/api/rooms/").json()
    assert {r["id"] for r in listed["results"]} == {room.pk, people["direct"].pk}
    assert client_for(bob).get("/api/rooms/").json()["results"] == []
    created = client_for(bob).post("/api/rooms/", {"name": "Bob's", "max_peers": 4}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["owner"]["username"] == "bob" and created.json()["kind"] == "meeting"
    assert len(created.json()["id"]) >= 22
    bad = client_for(bob).post("/api/rooms/", {"name": "", "max_peers": 99}, format="json")
    assert bad.status_code == 400 and set(bad.json()) >= {"name", "max_peers"}
    # an unlocked meeting is visible to anyone with the link; changes are the owner's
    assert client_for(bob).get(f"/api/rooms/{room.pk}/").status_code == 200
    assert client_for(bob).patch(f"/api/rooms/{room.pk}/", {"locked": True}, format="json").status_code == 403
    assert client_for(bob).delete(f"/api/rooms/{room.pk}/").status_code == 403
    patched = client_for(alice).patch(f"/api/rooms/{room.pk}/", {"locked": True}, format="json")
    assert patched.status_code == 200 and patched.json()["locked"] is True
    # locked now: bob was never admitted
    assert client_for(bob).get(f"/api/rooms/{room.pk}/").status_code == 403
    assert client_for(bob).get(f"/api/rooms/{people['direct'].pk}/").status_code == 403
    assert client_for(bob).get("/api/rooms/nosuchroom/").status_code == 404
    assert client_for(bob).get("/api/rooms/bad%20id/").status_code == 404
    assert client_for(alice).delete(f"/api/rooms/{room.pk}/").status_code == 204
    assert not Room.objects.filter(pk=room.pk).exists()


def test_room_peers_for_allowed_users(people):
    room = people["room"]
    response = client_for(people["alice"]).get(f"/api/rooms/{room.pk}/peers/")
    assert response.status_code == 200 and response.json() == []
    assert client_for(people["bob"]).get(f"/api/rooms/{people['direct'].pk}/peers/").status_code == 403


def test_calls_only_your_own_with_state_filter_and_pagination(people):
    alice, bob, staff = people["alice"], people["bob"], people["staff"]
    for _ in range(3):
        Call.objects.create(caller=alice, callee=bob, state=Call.State.MISSED)
    Call.objects.create(caller=bob, callee=alice, state=Call.State.DECLINED)
    Call.objects.create(caller=staff, callee=bob, state=Call.State.MISSED)
    page = client_for(alice).get("/api/calls/", {"limit": 2}).json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    missed = client_for(alice).get("/api/calls/", {"state": "missed"}).json()
    assert missed["count"] == 3 and all(c["state"] == "missed" for c in missed["results"])
    assert client_for(staff).get("/api/calls/").json()["count"] == 1  # staff sees only their own here too
    bad = client_for(alice).get("/api/calls/", {"state": "nonsense"})
    assert bad.status_code == 400 and "state" in bad.json()


def test_presence_needs_the_model_permissions(people):
    from django.contrib.auth.models import Permission

    assert client_for(people["alice"]).get("/api/presence/").status_code == 403
    assert client_for(people["alice"]).post("/api/presence/x/disconnect/").status_code == 403
    assert client_for(people["staff"]).get("/api/presence/").status_code == 403  # staff alone is not enough
    perms = Permission.objects.filter(codename__in=["view_activepeer", "disconnect_peer"])
    people["staff"].user_permissions.add(*perms)
    people["staff"] = get_user_model().objects.get(pk=people["staff"].pk)
    body = client_for(people["staff"]).get("/api/presence/").json()
    assert body["count"] == 0 and body["results"] == []
    assert client_for(people["staff"]).post("/api/presence/nosuchpeer/disconnect/").status_code == 404


def test_ws_ticket_is_single_use_material(people):
    response = client_for(people["alice"]).post("/api/ws-ticket/")
    assert response.status_code == 201
    body = response.json()
    assert body["expires_in"] == 30 and body["url"].endswith(body["ticket"])
    from asgiref.sync import async_to_sync

    assert async_to_sync(tickets.redeem)(body["ticket"]) == people["alice"].pk
    assert async_to_sync(tickets.redeem)(body["ticket"]) is None


def test_token_authentication_for_non_browser_clients(people):
    client = client_for(people["bob"], token=True)
    assert client.get("/api/me/").json()["username"] == "bob"
    Token.objects.filter(user=people["bob"]).delete()
    assert client.get("/api/me/").status_code == 401


def test_session_writes_need_csrf(people):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="alice", password=PASSWORD)
    assert client.post("/api/rooms/", {"name": "x"}, format="json").status_code == 403


def test_write_throttle(people, monkeypatch):
    from django.core.cache import cache

    from calls.api import WriteThrottle

    monkeypatch.setattr(WriteThrottle, "THROTTLE_RATES", {**WriteThrottle.THROTTLE_RATES, "writes": "3/min"})
    cache.clear()
    client = client_for(people["bob"])
    codes = [client.post("/api/rooms/", {"name": f"r{i}"}, format="json").status_code for i in range(5)]
    assert codes[:3] == [201, 201, 201] and codes[3:] == [429, 429]
    assert client.get("/api/rooms/").status_code == 200  # reads are not throttled by it
    cache.clear()


def test_schema_and_docs(people):
    client = client_for(people["alice"])
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/rooms/", "/api/calls/", "/api/presence/", "/api/ws-ticket/", "/api/turn-credentials/"):
        assert path in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_schema_generation_has_no_warnings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/rooms/{room_id}/peers/" in out.read_text()
