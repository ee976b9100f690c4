"""Real servers for integration tests: environment for daphne subprocesses, logged-in sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

import devstack

SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
PASSWORD = "pw-unused-123"


def make_user(name: str):
    """A user with a logged-in session cookie: (user, cookie)."""
    user = get_user_model().objects.create_user(name, f"{name}@example.com", PASSWORD)
    return user, session_cookie(user)


async def joined_pair(url_a: str, url_b: str, room_id: str, names=("alice", "bob")):
    """Two users' peers connected to `url_a` and `url_b`, both in the room, each aware of the other."""
    from asgiref.sync import sync_to_async

    from tests.wsclient import Peer

    (_, ca), (_, cb) = [await sync_to_async(make_user)(name) for name in names]
    a = await Peer.connect(url_a, ca)
    b = await Peer.connect(url_b, cb)
    await a.join(room_id)
    await b.join(room_id)
    await a.recv_type("peer-joined", peer=b.peer)
    return a, b


def server_env(redis: devstack.Redis, var_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a daphne subprocess sharing the test database and Redis."""
    env = {
        "DJANGO_SETTINGS_MODULE": "rtcsite.settings",
        "DATABASE_URL": f"sqlite:///{settings.TEST_DB_PATH}",
        "REDIS_URL": redis.url,
        "RTCSITE_VAR_DIR": str(var_dir),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_HSTS_SECONDS": "0",
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "RTCSITE_FAST_PASSWORD_HASHER": "1",
        "LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


def session_cookie(user) -> str:
    """A session id for `user`, saved in the (shared) database, as a browser would hold it."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def eventually(check, timeout: float = 10.0, what: str = "condition"):
    """Await `check()` (a sync callable run in a thread) until it returns something truthy."""
    import asyncio

    from asgiref.sync import sync_to_async

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.02
    while True:
        result = await sync_to_async(check)()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)


@dataclass
class ServerGroup:
    """Processes started for one fixture: stopped together, logs shown if a test using them failed."""

    request: pytest.FixtureRequest
    failures_before: int
    # A Proc, or a server holding its current Proc in `.proc` (a restarted daphne has a new one).
    members: list = field(default_factory=list)

    def add(self, member):
        self.members.append(member)
        return member

    def finish(self) -> None:
        # Reports of the tests that used the fixture are in before its teardown, whatever its scope.
        failed = self.request.session.testsfailed > self.failures_before
        procs = [getattr(member, "proc", member) for member in self.members]
        for proc in reversed(procs):
            proc.stop()
        if failed:
            for proc in procs:
                print(proc.log_tail(80))


@dataclass
class Servers:
    """What `cluster_factory` started: daphne processes, and nginx/coturn when asked for."""

    daphnes: list[devstack.Daphne]
    env: dict[str, str]
    cluster: devstack.Cluster | None = None  # nginx in front (`proxy=True`)
    coturn: devstack.Coturn | None = None

    def __iter__(self):
        return iter(self.daphnes)

    def __getitem__(self, index: int) -> devstack.Daphne:
        return self.daphnes[index]


def count_writes(monkeypatch, protocol_class) -> list[int]:
    """Record how many commands each write of `protocol_class` (a calls.signaling Redis protocol) carries."""
    real = protocol_class.flush
    sizes: list[int] = []

    def counted(self):
        if self.out:
            sizes.append(len(self.out))
        real(self)

    monkeypatch.setattr(protocol_class, "flush", counted)
    return sizes
