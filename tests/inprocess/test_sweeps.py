"""The reaper (`calls.signaling.sweeps.reap`) against real Redis and the database, with `now` injected."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async

from calls.models import PeerSession
from calls.signaling import presence, rooms, sweeps
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

USER = '{"id": 7, "username": "alice", "name": "Alice"}'


@pytest.fixture
def timings(settings):
    settings.SIGNALING_NODE_TTL = 6
    settings.SIGNALING_RESUME_GRACE = 20
    return settings


async def attached_to_dead_node(uid: int, peer: str = "p1") -> float:
    """`peer` attached to process "dead", in room "r"; returns when "dead" last renewed its lease."""
    await presence.renew_node("dead", {"name": "dead-host"}, ttl=6)
    renewed = time.time()
    await presence.attach(peer, uid, USER, "dead", "c1", "192.0.2.7", "pytest-agent", f"tok-{peer}")
    await rooms.join("r", peer, USER, 4)
    return renewed


async def test_a_dead_processs_peers_leave_as_soon_as_its_lease_runs_out(redis, timings):
    """The resume window of a killed process's clients ends with its lease, not a full grace after it."""
    user, _ = await sync_to_async(make_user)("alice")
    renewed = await attached_to_dead_node(user.pk)
    await sweeps.reap("alive", now=renewed + 6.1)  # the first reaper pass after the lease ran out
    assert await presence.connection_of("p1") is None
    assert await rooms.amembers("r") == {}


async def test_a_grace_shorter_than_the_lease_still_bounds_the_window(redis, timings):
    timings.SIGNALING_RESUME_GRACE = 2
    user, _ = await sync_to_async(make_user)("alice")
    renewed = await attached_to_dead_node(user.pk)
    await sweeps.reap("alive", now=renewed + 6.1)
    assert await presence.connection_of("p1") is None


async def test_reaping_writes_the_history_row_a_killed_process_had_not_written(redis, timings):
    """The dead process's write-behind batch died with it; the reaper writes the row from presence, closed."""
    user, _ = await sync_to_async(make_user)("alice")
    renewed = await attached_to_dead_node(user.pk)
    await sweeps.reap("alive", now=renewed + 6.1)
    row = await PeerSession.objects.aget(peer="p1")
    assert (row.user_id, row.node, row.ip, row.user_agent) == (user.pk, "dead-host", "192.0.2.7", "pytest-agent")
    assert abs(row.opened_at.timestamp() - renewed) < 5
    assert row.closed_at is not None and row.close_reason == "disconnect" and row.rooms == ["r"]


async def test_reaping_leaves_a_written_history_row_as_it_was_and_closes_it(redis, timings):
    user, _ = await sync_to_async(make_user)("alice")
    await PeerSession.objects.acreate(peer="p1", user=user, node="elsewhere", ip="198.51.100.1")
    renewed = await attached_to_dead_node(user.pk)
    await sweeps.reap("alive", now=renewed + 6.1)
    row = await PeerSession.objects.aget(peer="p1")
    assert (row.node, row.ip, row.close_reason) == ("elsewhere", "198.51.100.1", "disconnect")
