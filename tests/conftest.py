"""Fixtures that start real servers (Redis, daphne, coturn) and stop them by PID."""

from __future__ import annotations

import pytest
from channels.layers import channel_layers
from django.conf import settings

import devstack
from tests.servers import server_env


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request) -> bool:
    return any(
        getattr(request.node, f"rep_{when}", None) and getattr(request.node, f"rep_{when}").failed
        for when in ("setup", "call")
    )


def _point_at(redis: devstack.Redis) -> None:
    from calls.signaling import store

    settings.REDIS_URLS = [redis.url]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "calls.signaling.layers.CoalescingPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": redis.url}], "prefix": f"{settings.REDIS_PREFIX}:layer:"},
        }
    }
    channel_layers.backends = {}
    store.reset()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server for the whole run; settings point at it."""
    redis = devstack.start_redis(tmp_path_factory.mktemp("redis"))
    _point_at(redis)
    yield redis
    redis.proc.stop()


@pytest.fixture
def redis(redis_server):
    """The session Redis, emptied after the test (and restarted first if a test stopped it)."""
    if not redis_server.proc.alive() or not redis_server.ping():
        redis_server.restart()
    yield redis_server
    if not redis_server.proc.alive() or not redis_server.ping():
        redis_server.restart()
    from calls.signaling import store

    store.get_sync().flushall()


@pytest.fixture
def daphne_factory(redis, tmp_path, request, transactional_db):
    """Start daphne processes (`factory(name, **env)`) sharing the test DB and Redis; stopped after the test."""
    started: list[devstack.Daphne] = []

    def factory(name: str = "daphne", **extra: str) -> devstack.Daphne:
        node = devstack.start_daphne(tmp_path, server_env(redis, tmp_path, **extra), name=f"{name}-{len(started)}")
        started.append(node)
        return node

    yield factory
    failed = _failed(request)
    for node in started:
        node.proc.stop()
        if failed:
            print(node.proc.log_tail(80))


@pytest.fixture(scope="module")
def coturn(tmp_path_factory, request):
    """A real coturn on 127.0.0.1 (use-auth-secret), stopped by PID after the module."""
    server = devstack.start_coturn(tmp_path_factory.mktemp("coturn"), secrets_=["coturn-test-secret-0123456789"])
    yield server
    server.proc.stop()
    if request.session.testsfailed:
        print(server.proc.log_tail(40))
