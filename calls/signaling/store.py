"""Connections to the Redis that holds shared signaling state (presence, rooms, calls, tickets).

State lives on the first REDIS_URL host (or the Sentinel master); further hosts only
shard the channel layer. One asyncio client per event loop, one blocking client for views.
Key names come from `calls.signaling.keys`; this module only connects and runs scripts.
Scripts run on a pipelined connection of their own per event loop (calls.signaling.resp):
the scripts of one turn go out in one write and need no pooled connection each.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import weakref
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.exceptions
from django.conf import settings

from calls.signaling import resp

_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()
_sync_client: redis.Redis | None = None
_script_connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, resp.Commands] = weakref.WeakKeyDictionary()

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
    _script_connections.clear()
    _sync_client = None


async def run(source: str, keys: Sequence[str], args: Sequence[str | int | float | bytes]) -> Any:
    """Run a Lua script with `keys` (KEYS) and `args` (ARGV): EVALSHA, and EVAL once after a restart.

    Replies are as redis-py gives them undecoded (bytes, ints, lists); Redis errors are
    raised as redis-py's, and a lost connection as one of REDIS_ERRORS.
    """
    loop = asyncio.get_running_loop()
    connection = _script_connections.get(loop)
    if connection is None:
        connection = _script_connections[loop] = resp.Commands(get_async().connection_pool)
    tail = [b"%d" % len(keys), *(key.encode() for key in keys), *map(_encoded, args)]
    try:
        return await connection.call(resp.command(b"EVALSHA", _sha(source), *tail))
    except redis.exceptions.ResponseError as error:
        if not str(error).startswith("NOSCRIPT"):
            raise
    return await connection.call(resp.command(b"EVAL", source.encode(), *tail))


@functools.cache
def _sha(source: str) -> bytes:
    return hashlib.sha1(source.encode()).hexdigest().encode()  # noqa: S324 - the name Redis gives a script


def _encoded(value: str | int | float | bytes) -> bytes:
    """An argument as redis-py would send it."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        raise TypeError("booleans are ambiguous in Redis; pass 0 or 1")
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, float):
        return repr(value).encode()
    raise TypeError(f"cannot send {type(value).__name__} to Redis")
