"""Home page and rooms: own rooms only, creation, locking, CSRF, the call page's access rules."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from calls.models import Call, Room
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db


def test_home_lists_own_rooms_people_and_calls(client, alice):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    Room.objects.create(name="Bob's secret", owner=bob)
    client.post("/rooms/new/", {"name": "Team sync"})
    room = Room.objects.get(name="Team sync")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", room.pk) and room.owner == alice
    Call.objects.create(caller=alice, callee=bob, state=Call.State.MISSED)
    page = client.get("/").content.decode()
    assert "Team sync" in page and "Bob's secret" not in page
    assert f"/r/{room.pk}/" in page
    assert 'data-state="missed"' in page
    people = client.get("/?q=bo").content.decode()
    assert 'data-username="bob"' in people and "call-button" in people
    assert 'class="presence "' in people  # bob is offline


def test_lock_by_owner_only(client, alice):
    room = Room.objects.create(name="Mine", owner=alice)
    client.post(f"/rooms/{room.pk}/lock/", {"locked": "1"})
    room.refresh_from_db()
    assert room.locked
    other = Client()
    other.force_login(get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD))
    assert other.post(f"/rooms/{room.pk}/lock/", {"locked": "0"}).status_code == 403
    room.refresh_from_db()
    assert room.locked


def test_forms_need_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/rooms/new/", {"name": "x"}).status_code == 403
    assert not Room.objects.filter(name="x").exists()


def test_call_page_access_and_config(client, alice, settings):
    settings.TURN_SECRETS, settings.TURN_URLS = ["s"], ["turn:127.0.0.1:3478?transport=udp"]
    settings.ICE_TRANSPORT_POLICY = "relay"
    room = Room.objects.create(name="Open", owner=alice)
    page = client.get(f"/r/{room.pk}/").content.decode()
    config = json.loads(re.search(r'id="call-config" type="application/json">(.*?)</script>', page).group(1))
    assert config["room"] == room.pk and config["iceTransportPolicy"] == "relay"
    assert config["iceServers"][0]["urls"] == settings.TURN_URLS and config["iceServers"][0]["credential"]
    assert client.get("/r/doesNotExist/").status_code == 404
    assert client.get("/r/bad%20id/").status_code == 404
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    direct = Room.objects.create(name="d", owner=bob, kind=Room.Kind.DIRECT)
    direct.members.add(bob)
    response = client.get(f"/r/{direct.pk}/")
    assert response.status_code == 403 and "private" in response.content.decode()
    locked = Room.objects.create(name="l", owner=bob, locked=True)
    assert client.get(f"/r/{locked.pk}/").status_code == 403
