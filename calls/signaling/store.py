"""Connections to the Redis that holds shared signaling state (presence, rooms, calls, tickets).

State lives on the first REDIS_URL host (or the Sentinel master); further hosts only
shard the channel layer. One asyncio client per event loop, one blocking client for views.
Key names come from `calls.signaling.keys`; this module only connects and runs scripts.
"""

from __future__ import annotations

import asyncio
import weakref

import redis
import redis.asyncio as aioredis
import redis.exceptions
from django.conf import settings

_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()
_sync_client: redis.Redis | None = None

# What a lost or restarting Redis raises: callers answer `unavailable` or retry later.
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

# Fail fast while Redis is away rather than hang a consumer or a view.
_TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 2, "health_check_interval": 30}


# A bounded pool that waits for a free connection: a burst of a thousand connects then queues
# on a few dozen Redis connections instead of opening hundreds at once.
POOL_SIZE = 32


def _make(module):
    if settings.REDIS_SENTINELS:
        sentinel = module.Sentinel(settings.REDIS_SENTINELS, **_TIMEOUTS)
        return sentinel.master_for(settings.REDIS_SENTINEL_MASTER, password=settings.REDIS_PASSWORD, **_TIMEOUTS)
    pool = module.BlockingConnectionPool.from_url(
        settings.REDIS_URLS[0], password=settings.REDIS_PASSWORD, max_connections=POOL_SIZE, timeout=10, **_TIMEOUTS
    )
    return module.Redis(connection_pool=pool)


def get_async() -> aioredis.Redis:
    """The asyncio client for the running loop."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = _make(aioredis)
    return client


def get_sync() -> redis.Redis:
    """The blocking client, for views and management commands."""
    global _sync_client
    if _sync_client is None:
        _sync_client = _make(redis)
    return _sync_client


def reset() -> None:
    """Forget cached clients (tests that point settings at another Redis)."""
    global _sync_client
    _async_clients.clear()
    _sync_client = None


def script(client, source: str):
    """A registered Lua script for `client` (EVALSHA, falling back to EVAL once after a restart)."""
    cache = client.__dict__.setdefault("_rtc_scripts", {})
    registered = cache.get(source)
    if registered is None:
        registered = cache[source] = client.register_script(source)
    return registered
