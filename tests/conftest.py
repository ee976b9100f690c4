"""Fixtures shared by every tier: the private Redis, and the real servers a test starts.

Tiers are folders, and each folder's tests carry its marker (`pytest -m "unit or inprocess"`):
  tests/unit/       pure code
  tests/inprocess/  the consumer, Lua scripts, call states and channel layer, in-process, real Redis
  tests/servers/    real daphne, nginx, coturn and Sentinel processes
  tests/browser/    headless Chromium against real servers
Servers are started through `cluster_factory` only, and stopped by PID with their logs
printed when a test that used them failed (`ServerGroup.finish`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.conf import settings

import devstack
from tests.helpers import ServerGroup, Servers, server_env

TIERS = ("unit", "inprocess", "servers", "browser")


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = next((part for part in Path(str(item.path)).parts if part in TIERS), None)
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid}: tests live in one of the tier folders {TIERS}")
        item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session", autouse=True)
def translations() -> None:
    """The catalogs under locale/ compiled (when changed) before this process or a daphne renders a page."""
    devstack.compile_messages()


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


# ---------------------------------------------------------------------------
# Real servers
# ---------------------------------------------------------------------------
ClusterFactory = Callable[..., Servers]


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """`collectstatic` run once: the hashed static files every daphne of the run serves."""
    root = tmp_path_factory.mktemp("static")
    devstack.collect_static(root, {"DJANGO_SETTINGS_MODULE": "rtcsite.settings", "DJANGO_DEBUG": "1"})
    return root


@pytest.fixture(scope="session")
def cluster_factory(redis_server, django_db_setup, collected_static) -> ClusterFactory:
    """`cluster_factory(request, workdir, nodes=2, name=..., proxy=False, coturn=False, **env)`.

    Starts daphne processes sharing the test database and Redis (behind nginx with TLS
    when `proxy`, with a private coturn when `coturn`), stopped when the calling fixture's
    scope ends. `env` holds settings for the servers (e.g. SIGNALING_NODE_TTL="3").
    """

    def start(
        request: pytest.FixtureRequest,
        workdir: Path,
        *,
        nodes: int = 2,
        name: str = "daphne",
        proxy: bool = False,
        coturn: bool = False,
        **env: str,
    ) -> Servers:
        group = ServerGroup(request, request.session.testsfailed)
        request.addfinalizer(group.finish)
        environment = server_env(redis_server, workdir, DJANGO_STATIC_ROOT=str(collected_static), **env)
        if proxy:
            cluster = devstack.start_cluster(workdir, environment, nodes=nodes, coturn=coturn)
            daphne_procs = {id(daphne.proc) for daphne in cluster.daphnes}
            for proc in cluster.stack.procs:
                if id(proc) not in daphne_procs:
                    group.add(proc)
            for daphne in cluster.daphnes:
                group.add(daphne)
            cluster.stack.procs.clear()  # the group stops them
            return Servers(cluster.daphnes, environment, cluster=cluster, coturn=cluster.coturn)
        turn = None
        if coturn:
            turn = group.add(devstack.start_coturn(workdir))
            environment.update(TURN_SECRETS=turn.secret, TURN_URLS=",".join(turn.urls))
        daphnes = devstack.start_daphnes(workdir, environment, [f"{name}-{i}" for i in range(nodes)])
        for daphne in daphnes:
            group.add(daphne)
        return Servers(daphnes, environment, coturn=turn)

    return start


@pytest.fixture
def daphne_factory(cluster_factory, redis, tmp_path, request, transactional_db):
    """One more daphne process for this test: `daphne_factory(name, **env)`."""

    def start(name: str = "daphne", **env: str) -> devstack.Daphne:
        return cluster_factory(request, tmp_path, nodes=1, name=name, **env)[0]

    return start


@pytest.fixture(scope="module")
def coturn(tmp_path_factory, request) -> devstack.Coturn:
    """A real coturn on 127.0.0.1 (use-auth-secret) for a module's TURN tests."""
    group = ServerGroup(request, request.session.testsfailed)
    request.addfinalizer(group.finish)
    workdir = tmp_path_factory.mktemp("coturn")
    return group.add(devstack.start_coturn(workdir, secrets_=["coturn-test-secret-0123456789"]))


@pytest.fixture
def server_group(request) -> ServerGroup:
    """For a test that starts a server of its own: `server_group.add(devstack.start_…(…))`."""
    group = ServerGroup(request, request.session.testsfailed)
    request.addfinalizer(group.finish)
    return group
