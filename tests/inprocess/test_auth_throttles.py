"""Abuse limits outside the API: room creation from the page, sign-in and password resets."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.test import Client

from calls.models import Room
from calls.throttles import KeyThrottle, WriteThrottle
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def user(name: str):
    return get_user_model().objects.create_user(name, f"{name}@example.com", PASSWORD)


def test_room_creation_from_the_page_shares_the_api_write_budget(redis, monkeypatch):
    monkeypatch.setattr(WriteThrottle, "THROTTLE_RATES", {**WriteThrottle.THROTTLE_RATES, "writes": "3/min"})
    alice, bob = user("alice"), user("bob")
    page, api = Client(), Client()
    page.force_login(alice)
    api.force_login(alice)
    codes = [page.post("/rooms/new/", {"name": f"r{i}"}).status_code for i in range(2)]
    codes.append(api.post("/api/rooms/", {"name": "via api"}, content_type="application/json").status_code)
    over = page.post("/rooms/new/", {"name": "one too many"})
    assert codes == [302, 302, 201] and over.status_code == 429
    assert "creating rooms too quickly" in over.content.decode() and int(over["Retry-After"]) > 0
    assert Room.objects.filter(owner=alice).count() == 3
    other = Client()
    other.force_login(bob)
    assert other.post("/rooms/new/", {"name": "bob's"}).status_code == 302  # others are served


def rates(monkeypatch, **rates: str) -> None:
    monkeypatch.setattr(KeyThrottle, "THROTTLE_RATES", {**KeyThrottle.THROTTLE_RATES, **rates})


def sign_in(username: str, password: str, address: str = "192.0.2.1"):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def test_failed_sign_ins_are_limited_per_account(redis, monkeypatch):
    rates(monkeypatch, login="3/hour", login_address="100/hour")
    user("alice"), user("bob")
    codes = [sign_in("alice", "wrong", address=f"192.0.2.{i}").status_code for i in range(3)]
    assert codes == [200, 200, 200]  # the form again, with "enter a correct username and password"
    refused = sign_in("alice", PASSWORD, address="192.0.2.99")  # even the right password, from elsewhere
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session
    assert sign_in("bob", PASSWORD).status_code == 302  # other accounts are served
    assert sign_in("ALICE ", PASSWORD).status_code in (200, 429)  # no way around it by spelling


def test_failed_sign_ins_are_limited_per_address(redis, monkeypatch):
    rates(monkeypatch, login="100/hour", login_address="3/hour")
    user("alice")
    for name in ("x1", "x2", "x3"):
        assert sign_in(name, "wrong", address="198.51.100.7").status_code == 200
    assert sign_in("alice", PASSWORD, address="198.51.100.7").status_code == 429
    assert sign_in("alice", PASSWORD, address="198.51.100.8").status_code == 302  # other clients are served


def test_successful_sign_ins_are_not_counted(redis, monkeypatch):
    rates(monkeypatch, login="2/hour", login_address="2/hour")
    user("alice")
    assert [sign_in("alice", PASSWORD).status_code for _ in range(4)] == [302] * 4


def test_admin_sign_in_counts_against_the_same_limit(redis, monkeypatch):
    rates(monkeypatch, login="2/hour", login_address="100/hour")
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    admin = Client(REMOTE_ADDR="192.0.2.1")
    for _ in range(2):
        admin.post("/admin/login/", {"username": "root", "password": "wrong"})
    page = admin.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert page.status_code == 200 and "Too many failed sign-ins" in page.content.decode()


def reset(email: str, address: str = "192.0.2.1"):
    return Client(REMOTE_ADDR=address).post("/password/reset/", {"email": email})


def test_password_reset_mails_are_limited_per_address_and_per_client(redis, monkeypatch):
    rates(monkeypatch, password_reset="3/hour", password_reset_address="5/hour")
    user("alice"), user("bob")
    codes = [reset("alice@example.com", address=f"192.0.2.{i}").status_code for i in range(10)]
    assert codes[:3] == [302] * 3 and set(codes[3:]) == {429}
    assert len(mail.outbox) == 3
    refused = reset("ALICE@example.com", address="192.0.2.50")
    assert refused.status_code == 429 and "Too many reset requests" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert reset("bob@example.com").status_code == 302 and len(mail.outbox) == 4  # other addresses are served
    # one client asking for many addresses
    codes = [reset(f"nobody{i}@example.com", address="203.0.113.9").status_code for i in range(7)]
    assert codes[:5] == [302] * 5 and codes[5:] == [429, 429]
