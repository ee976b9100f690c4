"""Security settings: weak secret keys refused, client addresses behind proxies, metrics off by default."""

from pathlib import Path

import pytest
from django.test import override_settings

from calls.net import client_address
from tests.unit.test_settings import PRODUCTION, manage

BASE = Path(__file__).resolve().parents[2]


def example_secret_key() -> str:
    for line in (BASE / "deploy" / "env.example").read_text().splitlines():
        if line.startswith("DJANGO_SECRET_KEY="):
            return line.split("=", 1)[1]
    raise AssertionError("deploy/env.example has no DJANGO_SECRET_KEY")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (example_secret_key(), "DJANGO_SECRET_KEY"),
        ("short-but-random-Qx7#", "at least 50 are required"),
        ("ab" * 40, "fewer than 5 distinct characters"),
        ("please-CHANGE-this-to-a-long-random-string-0123456789abcdef", "'change'"),
        ("placeholder-value-k2#pX9!vQ7@mZ4$wL8^nR3&tY6*bJ1(cF5)hD0", "'placeholder'"),
        ("django-insecure-k2#pX9!vQ7@mZ4$wL8^nR3&tY6*bJ1(cF5)hD0_gS2", "'django-insecure'"),
    ],
)
def test_production_refuses_a_weak_secret_key(tmp_path, key, reason):
    result = manage("check", **{**PRODUCTION, "DJANGO_SECRET_KEY": key}, RTCSITE_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY" in result.stderr
    assert reason in result.stderr


def test_development_accepts_any_secret_key(tmp_path):
    result = manage(
        "check", **{**PRODUCTION, "DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": "dev"}, RTCSITE_VAR_DIR=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr


def test_metrics_are_off_unless_configured(tmp_path):
    code = "from django.conf import settings; print(repr(settings.METRICS_ALLOWED))"
    result = manage("shell", "-c", code, **PRODUCTION, RTCSITE_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


PROXY = "10.0.0.2"  # the direct peer: a trusted proxy
CLIENT = "203.0.113.5"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # not through a trusted proxy: the header is not believed
        (CLIENT, "198.51.100.1", CLIENT),
        ("198.51.100.9", None, "198.51.100.9"),
        # through our proxy: the hop it appended
        (PROXY, CLIENT, CLIENT),
        (PROXY, None, PROXY),
        (PROXY, "", PROXY),
        (PROXY, " , ", PROXY),
        # a client prepending a forged value is not believed
        (PROXY, f"1.2.3.4, {CLIENT}", CLIENT),
        (PROXY, f"10.0.0.7, {CLIENT}", CLIENT),
        # two trusted proxies in a row: the nearest untrusted hop
        (PROXY, f"1.2.3.4, {CLIENT}, 10.0.0.3", CLIENT),
        # every hop trusted: what our peer saw, never the left-most (client-written) value
        (PROXY, "10.0.0.99, 10.0.0.5", "10.0.0.5"),
        (PROXY, "127.0.0.1, 10.0.0.5, 10.0.0.3", "10.0.0.3"),
        (PROXY, "10.0.0.5", "10.0.0.5"),
        # IPv6
        ("::1", "2001:db8::1", "2001:db8::1"),
        ("::1", "2001:db8::1, ::1", "2001:db8::1"),
    ],
)
def test_client_address(peer, forwarded_for, expected):
    with override_settings(TRUSTED_PROXIES=["10.0.0.0/8", "127.0.0.1", "::1"]):
        assert client_address(peer, forwarded_for) == expected
