"""The signaling runtime's trips to the database thread (calls.signaling.database) land where asgiref's do."""

from __future__ import annotations

import asyncio
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


class Recorder:
    """A `many` for `database.Batched` that records its trips and answers each item doubled."""

    def __init__(self, hold_first: bool = False) -> None:
        self.trips: list[list] = []
        self.threads: set[int] = set()
        self.started, self.release = threading.Event(), threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, items: list) -> list:
        self.trips.append(list(items))
        self.threads.add(threading.get_ident())
        self.started.set()
        assert self.release.wait(10), "the test never released the first trip"
        if any(item == "bad" for item in items):
            raise ValueError("a bad item")
        return [item * 2 for item in items]


async def test_a_burst_of_calls_goes_in_one_trip_each_caller_getting_its_own_answer():
    many = Recorder()
    batched = database.Batched(many)
    answers = await asyncio.gather(*(batched(i) for i in range(50)))
    assert answers == [2 * i for i in range(50)]
    assert many.trips == [list(range(50))]
    assert threading.get_ident() not in many.threads  # on the database thread, not the loop's


async def test_calls_made_while_a_trip_is_out_go_together_in_the_next():
    many = Recorder(hold_first=True)
    batched = database.Batched(many)
    first = asyncio.ensure_future(batched(0))
    assert await asyncio.to_thread(many.started.wait, 10)
    later = [asyncio.ensure_future(batched(i)) for i in range(1, 11)]
    await asyncio.sleep(0)
    many.release.set()
    assert await asyncio.gather(first, *later) == [2 * i for i in range(11)]
    assert many.trips == [[0], list(range(1, 11))]
    assert await batched(20) == 40 and many.trips[-1] == [20]  # a lone call later makes its own trip


async def test_a_trip_takes_at_most_its_limit_of_items():
    many = Recorder()
    batched = database.Batched(many, most=200)
    assert await asyncio.gather(*(batched(i) for i in range(450))) == [2 * i for i in range(450)]
    assert [len(trip) for trip in many.trips] == [200, 200, 50]


async def test_an_error_reaches_every_caller_of_its_trip_and_the_next_trip_is_made():
    many = Recorder()
    batched = database.Batched(many)
    answers = await asyncio.gather(batched("a"), batched("bad"), batched("c"), return_exceptions=True)
    assert [type(answer) for answer in answers] == [ValueError] * 3
    assert await batched("d") == "dd"


async def test_a_caller_cancelled_before_its_trip_is_left_out_and_the_others_answered():
    many = Recorder()
    batched = database.Batched(many)
    calls = [asyncio.ensure_future(batched(i)) for i in range(3)]
    await asyncio.sleep(0)  # each call is waiting for the trip
    calls[1].cancel()
    assert await asyncio.gather(calls[0], calls[2]) == [0, 4]
    assert many.trips == [[0, 2]]


async def test_batched_calls_of_a_burst_share_a_trip_and_each_gets_its_own_outcome(monkeypatch):
    threads: list[int] = []
    trips = []
    run = database.run

    async def counted(func, *args):
        trips.append(args)
        return await run(func, *args)

    monkeypatch.setattr(database, "run", counted)

    def halve(n: int) -> int:
        threads.append(threading.get_ident())
        if n % 2:
            raise ValueError(f"{n} is odd")
        return n // 2

    call = database.batched(halve)
    outcomes = await asyncio.gather(*(call(n) for n in range(6)), return_exceptions=True)
    assert [o if isinstance(o, int) else str(o) for o in outcomes] == [0, "1 is odd", 1, "3 is odd", 2, "5 is odd"]
    assert len(trips) == 1 and len(set(threads)) == 1 and threading.get_ident() not in threads
    assert call.func(8) == 4
