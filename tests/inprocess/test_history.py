"""Connection history (calls.signaling.history): the closes of a burst of departures, written together."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from calls.models import PeerSession, Room
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


def test_rows_written_behind_are_those_the_orm_writes_and_rows_already_there_are_left_alone():
    alice = get_user_model().objects.create_user("alice")
    bob = get_user_model().objects.create_user("bob")
    room = Room.objects.create(name="Standup", owner=alice)
    PeerSession.objects.create(peer="p-old", user=alice, node="n0", user_agent="first")
    PeerSession.objects.create(peer="p-orm", user=bob, node="n1", ip="192.0.2.7", user_agent="ua", rooms=["a"])
    sessions = [
        PeerSession(peer="p-new", user_id=bob.pk, node="n1", ip="192.0.2.7", user_agent="ua", rooms=["a"]),
        PeerSession(peer="p-old", user_id=alice.pk, node="n2", user_agent="second"),
    ]
    history._write_rows(sessions, {(room.pk, alice.pk), (room.pk, bob.pk)})
    fields = ["user_id", "node", "opened_at", "closed_at", "close_reason", "ip", "user_agent", "rooms"]
    new, orm = (PeerSession.objects.values(*fields).get(peer=p) for p in ("p-new", "p-orm"))
    assert new == {**orm, "opened_at": sessions[0].opened_at}
    assert PeerSession.objects.get(peer="p-old").user_agent == "first"
    assert set(room.members.values_list("username", flat=True)) == {"alice", "bob"}
    history._write_rows([], {(room.pk, alice.pk)})  # a member already: nothing to add, nothing raised
    assert room.members.count() == 2


def test_a_row_of_a_user_deleted_meanwhile_is_skipped_and_the_others_written():
    alice = get_user_model().objects.create_user("alice")
    gone = get_user_model().objects.create_user("gone")
    gone_id = gone.pk
    gone.delete()
    history._write_rows(
        [
            PeerSession(peer=p, user_id=uid, node="n1")
            for p, uid in (("p1", alice.pk), ("p2", gone_id), ("p3", alice.pk))
        ],
        set(),
    )
    assert sorted(PeerSession.objects.values_list("peer", flat=True)) == ["p1", "p3"]


def writing_statements(count: int) -> int:
    user = get_user_model().objects.get_or_create(username="alice")[0]
    PeerSession.objects.create(peer="there", user=user, node="n0")
    rows = [PeerSession(peer=f"p{i}", user=user, node="n1") for i in range(count)] + [
        PeerSession(peer="there", user=user)
    ]
    with CaptureQueriesContext(connection) as queries:
        history._write_rows(rows, set())
    assert PeerSession.objects.count() == count + 1
    PeerSession.objects.all().delete()
    return len(queries)


def test_writing_thirty_rows_one_of_them_there_already_costs_the_statements_that_writing_two_does():
    assert writing_statements(30) == writing_statements(2)
