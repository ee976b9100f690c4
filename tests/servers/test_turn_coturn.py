"""TURN credentials against a real coturn: accepted when right, refused when wrong, old or tampered."""

from __future__ import annotations

import asyncio
import re
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

import devstack
from calls import turn
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def turn_settings(settings, coturn):
    settings.TURN_SECRETS = [coturn.secret]
    settings.TURN_URLS = coturn.urls
    settings.STUN_URLS = []
    return settings


async def relay(port: int, username: str, password: str, tcp: bool = False) -> tuple[int, str]:
    """Two allocations relaying to each other through coturn (turnutils_uclient -y)."""
    argv = ["turnutils_uclient", "-y", "-c", "-v", "-n", "2", "-m", "1", "-l", "120", "-u", username, "-w", password]
    argv += ["-p", str(port), *(["-t"] if tcp else []), "127.0.0.1"]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(errors="replace")


def accepted(code: int, out: str) -> bool:
    return code == 0 and "Received relay addr" in out and "Total lost packets 0 " in out


def refused(code: int, out: str) -> bool:
    return code != 0 and "Cannot complete Allocation" in out and "Received relay addr" not in out


def test_api_credentials_relay_and_bad_ones_are_refused(turn_settings, coturn):
    user, _ = make_user("alice")
    client = APIClient()
    client.force_authenticate(user)
    body = client.get("/api/turn-credentials/").json()
    good, password = body["username"], body["password"]
    expiry, key = good.split(":")

    class Past(turn.TurnCredentialGenerator):
        def _now(self) -> float:
            return time.time() - 7200

    expired = Past().make_credentials(key, ttl=60)  # expired an hour ago, correctly signed

    async def run_all():
        return await asyncio.gather(
            relay(coturn.port, good, password),
            relay(coturn.port, good, password, tcp=True),
            relay(coturn.port, good, password[:-4] + "AAA="),
            relay(coturn.port, expired.username, expired.password),
            relay(coturn.port, f"{int(expiry) + 3600}:{key}", password),  # tampered expiry
            relay(coturn.port, f"{expiry}:someone-else", password),  # tampered user key
        )

    udp, tcp, wrong, old, later, other = asyncio.run(run_all())
    assert accepted(*udp), udp[1][-800:]
    assert accepted(*tcp), tcp[1][-800:]
    for name, result in (("wrong password", wrong), ("expired", old), ("later expiry", later), ("other key", other)):
        assert refused(*result), f"{name}: {result[1][-800:]}"


def test_turn_check_reports_success_then_failure_once_stopped(turn_settings, coturn, tmp_path):
    out = StringIO()
    call_command("turn_check", "--timeout", "25", stdout=out)
    report = out.getvalue()
    assert report.count("OK turn:127.0.0.1") == 2, report
    assert re.search(r"relay: 127\.0\.0\.1:\d+", report) and "authenticated: yes" in report
    assert "all 2 TURN URL(s) relay" in report

    turn_settings.TURN_SECRETS = ["not-the-servers-secret"]
    out = StringIO()
    with pytest.raises(CommandError, match="2 of 2"):
        call_command("turn_check", "--timeout", "15", stdout=out)
    assert "authenticated: no" in out.getvalue()


def test_turn_check_fails_against_a_stopped_server(settings, tmp_path, server_group):
    server = server_group.add(devstack.start_coturn(tmp_path / "gone", secrets_=["s"]))
    server.proc.stop()
    settings.TURN_SECRETS = ["s"]
    settings.TURN_URLS = [f"turn:127.0.0.1:{server.port}?transport=tcp"]
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1"):
        call_command("turn_check", "--timeout", "8", stdout=out)
    assert "FAILED" in out.getvalue() and "reachable: no" in out.getvalue()


def test_turn_check_without_configuration(settings):
    settings.TURN_URLS = []
    with pytest.raises(CommandError, match="not configured"):
        call_command("turn_check")


def test_rotation_against_coturn_listing_both_secrets(settings, tmp_path, server_group):
    """During a rotation coturn lists both secrets; credentials signed by either relay."""
    secrets_ = ["new-secret-abc", "old-secret-xyz"]
    server = server_group.add(devstack.start_coturn(tmp_path / "rotating", secrets_=secrets_))
    signed = {}
    for secret in ("new-secret-abc", "old-secret-xyz", "retired-secret"):
        settings.TURN_SECRETS = [secret]
        signed[secret] = turn.generator.make_credentials("rotating-user")

    async def run_all():
        return await asyncio.gather(*(relay(server.port, c.username, c.password, tcp=True) for c in signed.values()))

    new, old, retired = asyncio.run(run_all())
    assert accepted(*new), new[1][-600:]
    assert accepted(*old), old[1][-600:]
    assert refused(*retired), retired[1][-600:]
