"""Pages under abuse: presence in search, redirects, Active peers refresh, and the call page's TURN credentials."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client

from calls.models import Block, Profile, Room
from calls.signaling import keys, store
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db


def user(name: str, **extra):
    return get_user_model().objects.create_user(name, f"{name}@example.com", PASSWORD, **extra)


def logged_in(who) -> Client:
    client = Client()
    client.force_login(who)
    return client


def online(who) -> None:
    """`who` has a live connection, as presence records it."""
    store.get_sync().sadd(keys.user_peers(who.pk), f"peer-of-{who.pk}")


def shown_online(page: str, username: str) -> bool:
    row = re.search(rf'<li class="person" data-username="{username}">\s*<span class="presence ([a-z]*)"', page)
    assert row, f"{username} is not in the results"
    return row.group(1) == "online"


# -- 3: search shows a user online only to those they accept calls from ----------------------------


def test_search_hides_presence_of_users_who_do_not_accept_your_calls(redis):
    alice, bob, carol, dave = (user(n) for n in ("alice", "bob", "carol", "dave"))
    for who in (bob, carol, dave):
        online(who)
    Block.objects.create(user=bob, blocked=alice)  # bob blocked alice
    Profile.objects.filter(user=carol).update(calls_from=Profile.CallsFrom.NOBODY)
    found = {
        name: shown_online(logged_in(alice).get(f"/?q={name}").content.decode(), name)
        for name in ("bob", "carol", "dave")
    }
    assert found == {"bob": False, "carol": False, "dave": True}
    # bob blocked alice only: dave still sees him online
    assert shown_online(logged_in(dave).get("/?q=bob").content.decode(), "bob")


# -- 9: redirects and the Active peers refresh ----------------------------------------------------


@pytest.mark.parametrize(
    "target", ["https://elsewhere.example/", "//elsewhere.example/x", "home-page", "javascript:alert(1)"]
)
def test_room_lock_next_falls_back_home_for_foreign_urls_and_bare_words(redis, target):
    alice = user("alice")
    room = Room.objects.create(name="Mine", owner=alice)
    response = logged_in(alice).post(f"/rooms/{room.pk}/lock/", {"locked": "1", "next": target})
    assert response.status_code == 302 and response["Location"] == "/"


def test_room_lock_next_keeps_a_local_path(redis):
    alice = user("alice")
    room = Room.objects.create(name="Mine", owner=alice)
    response = logged_in(alice).post(f"/rooms/{room.pk}/lock/", {"locked": "1", "next": f"/r/{room.pk}/"})
    assert response.status_code == 302 and response["Location"] == f"/r/{room.pk}/"


@pytest.mark.parametrize(
    ("given", "meta"),
    [
        ("0;url=https://elsewhere.example/", "10"),
        ("5; URL=//elsewhere.example", "10"),
        ("abc", "10"),
        ("", "10"),
        ("0", None),
        ("1", "5"),
        ("30", "30"),
        ("99999", "300"),
        ("-5", None),
    ],
)
def test_active_peers_refresh_is_a_clamped_integer(redis, given, meta):
    viewer = user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_activepeer"))
    page = logged_in(viewer).get("/admin/calls/activepeer/", {"refresh": given}).content.decode()
    assert "elsewhere" not in page
    refresh = re.findall(r'<meta http-equiv="refresh" content="([^"]*)">', page)
    assert refresh == ([meta] if meta else [])


# -- 12: the call page is not cached and its TURN credentials count against the TURN throttle -------


def test_call_page_is_no_store_and_counts_against_the_turn_throttle(redis, settings, monkeypatch):
    from calls.api import TurnThrottle

    monkeypatch.setattr(TurnThrottle, "THROTTLE_RATES", {**TurnThrottle.THROTTLE_RATES, "turn": "3/min"})
    settings.TURN_SECRETS, settings.TURN_URLS = ["s"], ["turn:127.0.0.1:3478?transport=udp"]
    cache.clear()
    alice, bob = user("alice"), user("bob")
    room = Room.objects.create(name="Open", owner=alice)
    client = logged_in(alice)
    first = client.get(f"/r/{room.pk}/")
    assert first.status_code == 200 and "no-store" in first["Cache-Control"]
    assert client.get(f"/r/{room.pk}/").status_code == 200
    assert client.get("/api/turn-credentials/").status_code == 200  # the third of three, shared
    over = client.get(f"/r/{room.pk}/")
    assert over.status_code == 429 and int(over["Retry-After"]) > 0
    assert "no-store" in over["Cache-Control"] and "credential" not in over.content.decode()
    assert "Too many" in over.content.decode()
    assert client.get("/api/turn-credentials/").status_code == 429
    assert logged_in(bob).get(f"/r/{room.pk}/").status_code == 200  # others are served
    cache.clear()
