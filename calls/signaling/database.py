"""The signaling runtime's trips to the database thread, without asgiref's per-call machinery.

channels' `database_sync_to_async` sends each call through asgiref's `SyncToAsync`
(executor choice, deadlock guard, context variables, a `wait_for`), which in a storm of
connects took a tenth of the event loop's time. `run` (and the decorator `on_database_thread`)
make the same trip:
to asgiref's own thread for thread-sensitive code (so Django's connections are those every
other synchronous call in the process uses), with the caller's context (log ids), closing
obsolete connections before and after as channels does. Called from inside `async_to_sync`
(tests, management commands), where asgiref would pick another thread, it is asgiref's
trip unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync
from channels.db import database_sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


async def run(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`func(*args, **kwargs)` on the database thread."""
    loop = asyncio.get_running_loop()
    if getattr(AsyncToSync.executors, "current", None) is not None or loop in AsyncToSync.loop_thread_executors:
        return await database_sync_to_async(func)(*args, **kwargs)
    context = contextvars.copy_context()
    return await loop.run_in_executor(
        SyncToAsync.single_thread_executor, context.run, _with_fresh_connections, func, args, kwargs
    )


def on_database_thread(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """A decorator: `await func(...)` runs it on the database thread; the plain function stays at `.func`."""

    @functools.wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return await run(func, *args, **kwargs)

    call.func = func
    return call


def _with_fresh_connections(func: Callable[..., R], args: tuple, kwargs: dict) -> R:
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()
