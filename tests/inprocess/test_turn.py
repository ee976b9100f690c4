"""TURN credentials: the scheme against an independent computation, expiry, rotation, the API."""

from __future__ import annotations

import subprocess

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from calls import turn
from calls.api import TurnThrottle
from calls.models import Profile
from tests.helpers import make_user

SECRET = "s3cret-for-tests"


class FixedClock(turn.TurnCredentialGenerator):
    def __init__(self, now: float) -> None:
        self.now = now

    def _now(self) -> float:
        return self.now


@pytest.fixture
def turn_settings(settings):
    settings.TURN_SECRETS = [SECRET]
    settings.TURN_URLS = ["turn:turn.example.com:3478?transport=udp", "turn:turn.example.com:3478?transport=tcp"]
    settings.STUN_URLS = ["stun:turn.example.com:3478"]
    settings.TURN_TTL = 3600
    return settings


def openssl_password(secret: str, username: str) -> str:
    """The same HMAC computed by openssl, not by Python."""
    hmac = subprocess.run(
        ["openssl", "dgst", "-sha1", "-hmac", secret, "-binary"],
        input=username.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return subprocess.run(["base64"], input=hmac, capture_output=True, check=True).stdout.decode().strip()


def test_password_matches_openssl(turn_settings):
    credentials = FixedClock(1_700_000_000).make_credentials("a1b2c3")
    assert credentials.username == "1700003600:a1b2c3"
    assert credentials.password == openssl_password(SECRET, "1700003600:a1b2c3")
    assert credentials.ttl == 3600 and credentials.expires_at == 1_700_003_600


def test_expiry(turn_settings):
    clock = FixedClock(1_000)
    credentials = clock.make_credentials("key", ttl=60)
    assert clock.check(credentials.username, credentials.password)
    clock.now = 1_059
    assert clock.check(credentials.username, credentials.password)
    clock.now = 1_060
    assert not clock.check(credentials.username, credentials.password)


def test_tampering_is_refused(turn_settings):
    clock = FixedClock(1_000)
    credentials = clock.make_credentials("key")
    assert not clock.check(credentials.username.replace("key", "kez"), credentials.password)
    assert not clock.check("99999999999:key", credentials.password)  # a later expiry, same password
    assert not clock.check(credentials.username, credentials.password[:-2] + "==")
    assert not clock.check("not-a-number:key", credentials.password)
    assert not clock.check(credentials.username.split(":")[0] + ":", credentials.password)


def test_rotation(turn_settings):
    clock = FixedClock(1_000)
    old = clock.make_credentials("key")
    turn_settings.TURN_SECRETS = ["new-secret", SECRET]  # the new one signs, the old still verifies
    new = clock.make_credentials("key")
    assert new.password == openssl_password("new-secret", new.username)
    assert clock.check(old.username, old.password) and clock.check(new.username, new.password)
    turn_settings.TURN_SECRETS = ["new-secret"]  # rotation finished
    assert not clock.check(old.username, old.password)
    assert clock.check(new.username, new.password)


def test_bad_user_keys_and_missing_secret(turn_settings):
    with pytest.raises(ValueError):
        turn.generator.make_credentials("has:colon")
    turn_settings.TURN_SECRETS = []
    with pytest.raises(RuntimeError):
        turn.generator.make_credentials("key")


@pytest.mark.django_db
def test_ice_servers_shape_and_opaque_username(turn_settings):
    user, _ = make_user("alice")
    servers = turn.ice_servers(user)
    assert servers[0]["urls"] == turn_settings.TURN_URLS
    assert servers[0]["username"].endswith(":" + Profile.for_user(user).turn_key)
    assert "alice" not in servers[0]["username"]
    assert servers[1] == {"urls": turn_settings.STUN_URLS}
    turn_settings.TURN_URLS = []
    assert turn.ice_servers(user) == [{"urls": turn_settings.STUN_URLS}]


@pytest.mark.django_db
def test_api_credentials_for_logged_in_users_only(turn_settings):
    user, _ = make_user("alice")
    assert APIClient().get("/api/turn-credentials/").status_code == 401
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/turn-credentials/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) >= {"username", "password", "ttl", "expires_at", "uris", "iceServers", "iceTransportPolicy"}
    assert body["ttl"] == 3600 and body["uris"] == turn_settings.TURN_URLS
    assert body["password"] == openssl_password(SECRET, body["username"])
    assert body["iceServers"][0] == {"urls": body["uris"], "username": body["username"], "credential": body["password"]}
    assert turn.generator.check(body["username"], body["password"])


@pytest.mark.django_db
def test_api_is_throttled_per_user(turn_settings, monkeypatch):
    monkeypatch.setattr(TurnThrottle, "THROTTLE_RATES", {**TurnThrottle.THROTTLE_RATES, "turn": "3/min"})
    cache.clear()
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    client = APIClient()
    client.force_authenticate(alice)
    codes = [client.get("/api/turn-credentials/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    other = APIClient()
    other.force_authenticate(bob)
    assert other.get("/api/turn-credentials/").status_code == 200  # per user
    cache.clear()
