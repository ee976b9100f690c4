"""Missed calls a user has not seen: counted for the callee only, shown in the nav and /api/me/,
cleared by opening the call list or by POST /api/me/calls-seen/; the call list and the service worker."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from calls.models import Call, Profile
from calls.signaling import direct
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)  # direct.* close the connection between steps
State = Call.State


@pytest.fixture
def people(redis):
    return [get_user_model().objects.create_user(n, f"{n}@example.com", PASSWORD) for n in ("alice", "bob", "carol")]


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(pk=user.pk))
    return client


def missed(user) -> int:
    return api(user).get("/api/me/").json()["missed_calls"]


def badge(client: Client) -> str:
    """The nav badge's number on the home page ('' when it is hidden)."""
    page = client.get("/").content.decode()
    found = re.search(r'id="missed-badge" class="count-badge" data-count="(\d+)"( hidden)?', page)
    assert found, "no badge in the nav"
    return "" if found.group(2) else found.group(1)


def ring_out(caller, callee) -> Call:
    """A call placed and left ringing past its deadline, as the sweeper marks it."""
    call = async_to_sync(direct.place)(caller, callee.username, None)
    assert async_to_sync(direct.sweep_ringing)(time.time() + 3600) >= 1
    return Call.objects.get(pk=call.pk)


def test_a_missed_call_counts_for_the_callee_not_the_caller(people):
    alice, bob, _ = people
    assert missed(alice) == missed(bob) == 0
    call = ring_out(alice, bob)
    assert call.state == State.MISSED
    assert missed(bob) == 1 and missed(alice) == 0
    client = Client()
    client.force_login(bob)
    assert badge(client) == "1"
    client.force_login(alice)
    assert badge(client) == ""


def test_cancelled_while_ringing_counts_answered_and_declined_do_not(people):
    alice, bob, carol = people
    cancelled = async_to_sync(direct.place)(alice, "bob", None)
    async_to_sync(direct.act)(alice, "cancel", str(cancelled.pk), None)
    assert missed(bob) == 1
    answered = async_to_sync(direct.place)(carol, "bob", None)
    async_to_sync(direct.act)(bob, "accept", str(answered.pk), None)
    async_to_sync(direct.act)(carol, "hangup", str(answered.pk), None)
    declined = async_to_sync(direct.place)(carol, "bob", None)
    async_to_sync(direct.act)(bob, "decline", str(declined.pk), None)
    assert missed(bob) == 1 and missed(alice) == 0 and missed(carol) == 0
    home = Client()
    home.force_login(bob)
    page = home.get("/").content.decode()
    assert "You missed 1 call." in page and 'id="home-missed" class="missed-note">' in page


def test_opening_the_call_list_clears_the_count_everywhere(people):
    alice, bob, _ = people
    ring_out(alice, bob)
    ring_out(alice, bob)
    client = Client()
    client.force_login(bob)
    assert badge(client) == "2"
    page = client.get("/calls/").content.decode()
    assert page.count('class="call-row missed new"') == 2
    assert re.search(r'id="missed-badge" class="count-badge" data-count="0" hidden', page)  # cleared on this very page
    assert missed(bob) == 0 and badge(client) == ""
    assert Profile.objects.get(user=bob).calls_seen_at is not None
    # seen is seen: marked missed but no longer new; a newer one counts again
    again = client.get("/calls/").content.decode()
    assert again.count('class="call-row missed"') == 2 and "call-row missed new" not in again
    ring_out(alice, bob)
    assert missed(bob) == 1


def test_calls_seen_api(people):
    alice, bob, _ = people
    ring_out(alice, bob)
    response = api(bob).post("/api/me/calls-seen/")
    assert response.status_code == 200
    body = response.json()
    assert body["missed_calls"] == 0 and body["calls_seen_at"]
    assert missed(bob) == 0
    # a missed call from before the mark stays seen, whatever its ended_at
    Call.objects.create(caller=alice, callee=bob, state=State.MISSED, created_at=timezone.now() - timedelta(hours=1))
    assert missed(bob) == 0


def test_calls_seen_needs_a_login_and_csrf(people):
    assert APIClient().post("/api/me/calls-seen/").status_code == 401
    browser = APIClient(enforce_csrf_checks=True)
    browser.login(username="bob", password=PASSWORD)
    refused = browser.post("/api/me/calls-seen/")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


def test_call_list_shows_only_your_calls_with_call_back(people):
    alice, bob, carol = people
    Call.objects.create(caller=alice, callee=bob, state=State.MISSED)
    Call.objects.create(caller=carol, callee=alice, state=State.ENDED)
    Call.objects.create(caller=bob, callee=carol, state=State.DECLINED)  # not alice's
    client = Client()
    client.force_login(alice)
    page = client.get("/calls/").content.decode()
    assert page.count('class="call-row') == 2
    assert 'data-username="bob"' in page and 'data-username="carol"' in page
    assert "Call back" in page and "call-button" in page
    assert "call-row missed" not in page  # alice was the caller of the missed call: not missed by her
    carols = Client()
    carols.force_login(carol)
    assert carols.get("/calls/").content.decode().count('class="call-row') == 2


def test_call_list_pages(people):
    alice, bob, _ = people
    Call.objects.bulk_create([Call(caller=alice, callee=bob, state=State.ENDED) for _ in range(30)])
    client = Client()
    client.force_login(alice)
    first = client.get("/calls/").content.decode()
    assert first.count('class="call-row') == 25 and 'rel="next"' in first
    second = client.get("/calls/?page=2").content.decode()
    assert second.count('class="call-row') == 5 and 'rel="prev"' in second
    assert client.get("/calls/?page=99").status_code == 200  # the last page, not an error


def test_call_list_needs_a_login(people):
    response = Client().get("/calls/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_service_worker_at_the_root(people):
    response = Client().get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"
    assert "notificationclick" in response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
