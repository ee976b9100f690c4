"""The signaling runtime's trips to the database thread (calls.signaling.database) land where asgiref's do."""

from __future__ import annotations

import contextvars
import threading

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from calls.signaling import database

pytestmark = [pytest.mark.django_db(transaction=True)]
REQUEST = contextvars.ContextVar("request", default=None)


async def test_a_trip_runs_on_the_thread_of_djangos_other_synchronous_calls_with_the_callers_context():
    REQUEST.set("conn-1")
    ours = await database.run(lambda: (threading.get_ident(), REQUEST.get()))
    theirs = await sync_to_async(threading.get_ident)()  # thread-sensitive, as channels' database_sync_to_async
    assert ours == (theirs, "conn-1")
    assert theirs != threading.get_ident()  # not the event loop's thread


async def test_the_decorator_keeps_the_plain_function():
    @database.on_database_thread
    def where(tag: str) -> tuple[int, str]:
        return threading.get_ident(), tag

    thread, tag = await where("x")
    assert tag == "x" and thread != threading.get_ident()
    assert where.func("y") == (threading.get_ident(), "y")


def test_inside_async_to_sync_it_runs_where_asgiref_would_in_the_calling_thread():
    async def trip() -> int:
        return await database.run(threading.get_ident)

    assert async_to_sync(trip)() == threading.get_ident()
