"""Connection history (calls.signaling.history): the closes of a burst of departures, written together."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from calls.models import PeerSession
from calls.signaling import history

pytestmark = pytest.mark.django_db(transaction=True)
EARLIER = datetime(2026, 1, 1, tzinfo=UTC)


def open_rows(count: int) -> list[str]:
    user = get_user_model().objects.get_or_create(username="alice")[0]
    peers = [f"peer-{i}" for i in range(count)]
    PeerSession.objects.bulk_create(PeerSession(peer=p, user=user, node="n1", rooms=["first"]) for p in peers)
    return peers


async def test_a_burst_of_closes_closes_each_row_with_its_own_reason_and_rooms():
    peers = await sync_to_async(open_rows)(4)
    await sync_to_async(PeerSession.objects.filter(peer="peer-3").update)(close_reason="kicked", closed_at=EARLIER)
    await asyncio.gather(
        history.close_session("peer-0", "disconnect", ["r2", "r1"]),
        history.close_session("peer-1", "left-for-a-very-long-reason-" + "x" * 40, []),
        history.close_session("peer-3", "disconnect", ["r9"]),
        history.close_session("no-such-peer", "disconnect", ["r1"]),
    )
    rows = {row.peer: row async for row in PeerSession.objects.filter(peer__in=peers)}
    assert (rows["peer-0"].close_reason, rows["peer-0"].rooms) == ("disconnect", ["r1", "r2"])
    assert (rows["peer-1"].close_reason, rows["peer-1"].rooms) == ("left-for-a-very-long-reason-xxxx", ["first"])
    assert rows["peer-0"].closed_at is not None and rows["peer-0"].closed_at == rows["peer-1"].closed_at
    assert rows["peer-2"].closed_at is None and rows["peer-2"].close_reason == ""  # not closed: left open
    assert (rows["peer-3"].close_reason, rows["peer-3"].rooms, rows["peer-3"].closed_at) == (
        "kicked",
        ["first"],
        EARLIER,
    )


def closing_statements(count: int) -> int:
    peers = open_rows(count)
    with CaptureQueriesContext(connection) as queries:
        history._close_sessions([(peer, "disconnect", ["r"] if i % 2 else []) for i, peer in enumerate(peers)])
    assert PeerSession.objects.filter(closed_at=None).count() == 0
    PeerSession.objects.all().delete()
    return len(queries)


def test_closing_thirty_rows_costs_the_statements_that_closing_two_does():
    assert closing_statements(30) == closing_statements(2)
