"""The signaling runtime's trips to the database thread, without asgiref's per-call machinery.

channels' `database_sync_to_async` sends each call through asgiref's `SyncToAsync`
(executor choice, deadlock guard, context variables, a `wait_for`), which in a storm of
connects took a tenth of the event loop's time. `run` (and the decorator `on_database_thread`)
make the same trip:
to asgiref's own thread for thread-sensitive code (so Django's connections are those every
other synchronous call in the process uses), with the caller's context (log ids), closing
obsolete connections before and after as channels does. Called from inside `async_to_sync`
(tests, management commands), where asgiref would pick another thread, it is asgiref's
trip unchanged. `Batched` and `batched` make the calls a burst of connects, joins or
departures asks for together, in one trip (and, for `Batched`, a few statements).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync
from channels.db import database_sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


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


class Batched(Generic[T, R]):
    """`await batched(item)`: `many(items)` on the database thread, one trip for the items of a burst.

    The first call's trip leaves on the loop's next turn with every call made until then;
    calls made while it is out go together in the next, at most `most` a trip. A lone call
    waits for no timer, and a storm of a thousand connects costs a few trips and statements
    instead of a thousand of each.
    `many` answers one result per item, in order; an exception it raises reaches every
    caller of that trip, and the next trip is made as usual. It runs in the context of the
    call that started the trips (log ids), not of each caller.
    """

    def __init__(self, many: Callable[[list[T]], list[R]], most: int = 200) -> None:
        self.many, self.most = many, most
        self._waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[tuple[T, asyncio.Future[R]]]]
        self._waiting = weakref.WeakKeyDictionary()
        self._trips: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = weakref.WeakKeyDictionary()

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.setdefault(loop, []).append((item, future))
        if loop not in self._trips:
            self._trips[loop] = loop.create_task(self._make_trips(loop))
        return await future

    async def _make_trips(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = self._waiting[loop]
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while waiting:
                batch = [(item, future) for item, future in waiting[: self.most] if not future.done()]  # not cancelled
                del waiting[: self.most]
                if not batch:
                    continue
                try:
                    results = await run(self.many, [item for item, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"{len(results)} results for {len(batch)} items")
                except Exception as error:  # the callers' to handle, as if each had made the trip
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():
                            future.set_result(result)
                batch = []
        finally:
            del self._trips[loop]
            for _, future in batch + waiting:  # only when cancelled itself (the loop is closing)
                future.cancel()
            waiting.clear()


def batched(func: Callable[..., R], most: int = 200) -> Callable[..., Awaitable[R]]:
    """`await call(*args)` runs `func(*args)` on the database thread, the calls of a burst in one trip.

    Each call has its own outcome: what `func` raises for it is raised to its caller only.
    The plain function stays at `.func`.
    """

    def many(calls: list[tuple]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        for args in calls:
            try:
                outcomes.append((True, func(*args)))
            except Exception as error:  # its caller's, not the others'
                outcomes.append((False, error))
        return outcomes

    trips = Batched(many, most)

    async def call(*args: Any) -> R:
        done, value = await trips(args)
        if not done:
            raise value
        return value

    call.func = func
    return call


def _with_fresh_connections(func: Callable[..., R], args: tuple, kwargs: dict) -> R:
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()
