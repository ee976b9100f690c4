"""Every call-state transition of `calls.signaling.direct`, against the test database and real Redis.

    ringing -> accepted -> ended
    ringing -> declined | missed | cancelled
    (placed while the callee is busy) -> busy

Ring deadlines and abandoned rooms are driven by injected times, never by waiting.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from calls.models import Block, Call, Profile, Room
from calls.signaling import direct, events, keys, rooms, store
from calls.signaling.protocol import ErrorCode, ProtocolError
from tests.inprocess.conftest import stray_keys

pytestmark = pytest.mark.django_db(transaction=True)
State = Call.State


@pytest.fixture
async def people(redis, make_user):
    return [await make_user(name) for name in ("alice", "bob", "carol")]


async def code_of(action) -> str:
    with pytest.raises(ProtocolError) as caught:
        await action
    return caught.value.code


@sync_to_async
def reload(call: Call) -> Call:
    return Call.objects.get(pk=call.pk)


@sync_to_async
def make_call(caller, callee, state: str, with_room: bool = True) -> Call:
    """A call row in `state` (as an earlier transition would have left it)."""
    room = Room.objects.create(name="direct", owner=caller, kind=Room.Kind.DIRECT, max_peers=2) if with_room else None
    now = timezone.now()
    answered = now if state in (State.ACCEPTED, State.ENDED) else None
    ended = now if state in Call.FINAL_STATES else None
    return Call.objects.create(
        caller=caller, callee=callee, room=room, state=state, answered_at=answered, ended_at=ended
    )


async def ring_deadline(call: Call) -> float | None:
    return await store.get_async().zscore(keys.ringing(), str(call.pk))


# -- place -------------------------------------------------------------------------------


async def test_placing_a_call_rings_with_a_private_room_and_a_deadline(people):
    alice, bob, _ = people
    before = time.time()
    call = await direct.place(alice, "bob", "r1")
    assert (call.state, call.caller_id, call.callee_id) == (State.RINGING, alice.pk, bob.pk)
    room = await sync_to_async(Room.objects.get)(pk=call.room_id)
    assert (room.kind, room.max_peers) == (Room.Kind.DIRECT, 2)
    assert await sync_to_async(lambda: set(room.members.values_list("pk", flat=True)))() == {alice.pk, bob.pk}
    deadline = await ring_deadline(call)
    assert before + settings.CALL_RING_TIMEOUT <= deadline <= time.time() + settings.CALL_RING_TIMEOUT
    assert stray_keys() == []


async def test_a_callee_in_a_live_accepted_call_is_busy(people):
    alice, bob, carol = people
    ongoing = await make_call(carol, bob, State.ACCEPTED)
    await rooms.join(ongoing.room_id, "bob-peer", "{}", 2)
    call = await direct.place(alice, "bob", "r1")
    assert call.state == State.BUSY and call.room_id is None and call.ended_at is not None
    assert await ring_deadline(call) is None


async def test_a_callee_whose_accepted_call_room_is_empty_is_not_busy(people):
    alice, bob, carol = people
    await make_call(carol, bob, State.ACCEPTED)  # both closed their tabs without hanging up
    assert (await direct.place(alice, "bob", "r1")).state == State.RINGING


async def test_calls_to_oneself_or_unknown_users_are_user_not_found(people):
    alice, bob, _ = people
    bob.is_active = False
    await sync_to_async(bob.save)()
    for username in ("alice", "nobody", "bob"):
        assert await code_of(direct.place(alice, username, "r")) == ErrorCode.USER_NOT_FOUND, username
    assert await sync_to_async(Call.objects.count)() == 0


async def test_a_blocked_caller_or_a_callee_taking_no_calls_is_forbidden(people):
    alice, bob, carol = people
    await sync_to_async(Block.objects.create)(user=bob, blocked=alice)
    assert await code_of(direct.place(alice, "bob", "r")) == ErrorCode.FORBIDDEN
    assert (await direct.place(carol, "bob", "r")).state == State.RINGING  # only alice is blocked

    profile = await sync_to_async(Profile.for_user)(carol)
    profile.calls_from = Profile.CallsFrom.NOBODY
    await sync_to_async(profile.save)()
    assert await code_of(direct.place(bob, "carol", "r")) == ErrorCode.FORBIDDEN
    assert await sync_to_async(Call.objects.filter(callee=carol).count)() == 0


async def test_ring_attempts_over_the_limit_are_rate_limited_per_caller(people, settings):
    alice, _, carol = people
    settings.CALL_RING_LIMIT = 2
    for _ in range(2):
        assert (await direct.place(alice, "bob", "r")).state == State.RINGING
    assert await code_of(direct.place(alice, "bob", "r")) == ErrorCode.RATE_LIMITED
    assert await sync_to_async(Call.objects.filter(caller=alice).count)() == 2
    assert (await direct.place(carol, "bob", "r")).state == State.RINGING  # someone else may still call
    assert 0 < await store.get_async().ttl(keys.ring_attempts(alice.pk)) <= 60  # the window ends


# -- accept, decline, cancel, hangup ------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "action", "outcome"),
    [
        ("callee", "accept", State.ACCEPTED),
        ("callee", "decline", State.DECLINED),
        ("caller", "cancel", State.CANCELLED),
        ("caller", "hangup", State.CANCELLED),
        ("callee", "hangup", State.DECLINED),
    ],
)
async def test_ringing_calls_move_by_the_right_party(people, who, action, outcome):
    alice, bob, _ = people
    call = await direct.place(alice, "bob", "r")
    user = alice if who == "caller" else bob
    after = await direct.act(user, action, str(call.pk), "r")
    assert after.state == outcome
    assert await ring_deadline(call) is None  # answered calls are not swept as missed
    if outcome == State.ACCEPTED:
        assert after.answered_at is not None and after.ended_at is None
    else:
        assert after.ended_at is not None and after.ended_by_id == user.pk


@pytest.mark.parametrize("who", ["caller", "callee"])
async def test_hangup_of_an_accepted_call_ends_it(people, who):
    alice, bob, _ = people
    call = await direct.place(alice, "bob", "r")
    await direct.act(bob, "accept", str(call.pk), "r")
    user = alice if who == "caller" else bob
    ended = await direct.act(user, "hangup", str(call.pk), "r")
    assert ended.state == State.ENDED and ended.ended_by_id == user.pk and ended.duration is not None


@pytest.mark.parametrize(("who", "action"), [("caller", "accept"), ("caller", "decline"), ("callee", "cancel")])
async def test_the_wrong_party_is_forbidden(people, who, action):
    alice, bob, _ = people
    call = await direct.place(alice, "bob", "r")
    user = alice if who == "caller" else bob
    assert await code_of(direct.act(user, action, str(call.pk), "r")) == ErrorCode.FORBIDDEN
    assert (await reload(call)).state == State.RINGING
    assert await ring_deadline(call) is not None


async def test_every_action_on_a_call_in_the_wrong_state_is_invalid_state(people):
    alice, bob, _ = people
    who = {"accept": bob, "decline": bob, "cancel": alice, "hangup": alice}
    cases = [(state, action) for state in Call.FINAL_STATES for action in who]
    cases += [(State.ACCEPTED, action) for action in ("accept", "decline", "cancel")]
    for state, action in cases:
        call = await make_call(alice, bob, state)
        code = await code_of(direct.act(who[action], action, str(call.pk), "r"))
        assert code == ErrorCode.INVALID_STATE, (state, action)
        assert (await reload(call)).state == state, (state, action)


async def test_two_accepts_racing_have_one_winner(people):
    alice, bob, _ = people
    call = await direct.place(alice, "bob", "r")
    results = await asyncio.gather(
        *(direct.act(bob, "accept", str(call.pk), "r") for _ in range(4)), return_exceptions=True
    )
    assert [r.state for r in results if isinstance(r, Call)] == [State.ACCEPTED]
    assert {r.code for r in results if not isinstance(r, Call)} == {ErrorCode.INVALID_STATE}


async def test_someone_elses_or_an_unknown_call_is_call_not_found(people):
    alice, bob, carol = people
    call = await direct.place(alice, "bob", "r")
    for action in ("accept", "decline", "cancel", "hangup"):
        assert await code_of(direct.act(carol, action, str(call.pk), "r")) == ErrorCode.CALL_NOT_FOUND
        assert await code_of(direct.act(bob, action, "999999", "r")) == ErrorCode.CALL_NOT_FOUND
    assert (await reload(call)).state == State.RINGING


# -- announcements ------------------------------------------------------------------------


async def test_announce_tells_both_users_and_rings_the_callee(people, listen):
    alice, bob, _ = people
    caller_tabs = await listen(events.user_group(alice.pk))
    callee_tabs = await listen(events.user_group(bob.pk))
    call = await direct.place(alice, "bob", "r")
    await direct.announce(call)

    (state,) = await caller_tabs.frames(1)
    assert state["type"] == "call-state" and state["call"]["id"] == str(call.pk)
    assert state["call"]["state"] == "ringing" and state["call"]["callee"]["username"] == "bob"
    frames = {f["type"]: f for f in await callee_tabs.frames(2)}
    assert frames["call-state"]["call"]["state"] == "ringing"
    assert frames["incoming-call"]["call"]["caller"]["username"] == "alice"

    accepted = await direct.act(bob, "accept", str(call.pk), "r")
    await direct.announce(accepted, by_peer="bob-tab-1", skip="bob-channel")
    for tabs in (caller_tabs, callee_tabs):
        message = await tabs.next()
        assert message["skip"] == "bob-channel"
        frame = orjson.loads(message["text"])
        assert frame["call"]["state"] == "accepted" and frame["call"]["by_peer"] == "bob-tab-1"
    assert await callee_tabs.nothing_more()  # no second ring for an accepted call


# -- sweeps -------------------------------------------------------------------------------


async def test_a_call_rung_too_long_is_missed_once_even_when_sweeps_race(people, listen):
    alice, bob, _ = people
    tabs = await listen(events.user_group(alice.pk), events.user_group(bob.pk))
    call = await direct.place(alice, "bob", "r")
    assert await direct.sweep_ringing(now=time.time()) == 0  # still within its ring timeout
    later = time.time() + settings.CALL_RING_TIMEOUT + 1
    assert sorted(await asyncio.gather(direct.sweep_ringing(now=later), direct.sweep_ringing(now=later))) == [0, 1]
    missed = await reload(call)
    assert missed.state == State.MISSED and missed.ended_at is not None and missed.ended_by_id is None
    assert await ring_deadline(call) is None
    # one announcement, reaching both users' group (one listener in both groups gets it once per group)
    states = [f["call"]["state"] for f in await tabs.frames(2)]
    assert states == ["missed", "missed"]
    assert await tabs.nothing_more()


async def test_the_ring_sweep_skips_a_call_answered_meanwhile(people, listen):
    alice, bob, _ = people
    call = await direct.place(alice, "bob", "r")
    # accept's conditional UPDATE has committed, its ZREM of the deadline not yet
    await sync_to_async(Call.objects.filter(pk=call.pk).update)(state=State.ACCEPTED, answered_at=timezone.now())
    tabs = await listen(events.user_group(alice.pk), events.user_group(bob.pk))
    assert await direct.sweep_ringing(now=time.time() + settings.CALL_RING_TIMEOUT + 1) == 0
    assert (await reload(call)).state == State.ACCEPTED
    assert await tabs.nothing_more()


async def test_a_ring_timeout_that_fails_to_be_recorded_is_tried_again(people, monkeypatch):
    alice, _, _ = people
    call = await direct.place(alice, "bob", "r")
    later = time.time() + settings.CALL_RING_TIMEOUT + 1
    real_miss = direct.miss

    async def database_down(call_id):
        raise ConnectionError("database unavailable")

    monkeypatch.setattr(direct, "miss", database_down)
    with pytest.raises(ConnectionError):
        await direct.sweep_ringing(now=later)
    monkeypatch.setattr(direct, "miss", real_miss)
    assert await direct.sweep_ringing(now=later) == 1  # the deadline was given back, not lost
    assert (await reload(call)).state == State.MISSED


async def answered_long_ago(call: Call) -> None:
    earlier = timezone.now() - timedelta(seconds=10 * settings.CALL_ABANDON_AFTER)
    await sync_to_async(Call.objects.filter(pk=call.pk).update)(answered_at=earlier)


async def test_an_accepted_call_whose_room_stays_empty_is_ended(people, listen):
    alice, bob, _ = people
    call = await make_call(alice, bob, State.ACCEPTED)
    await answered_long_ago(call)
    tabs = await listen(events.user_group(bob.pk))
    wait = settings.CALL_ABANDON_AFTER
    t0 = time.time()
    assert await direct.sweep_abandoned(now=t0) == 0  # first seen empty
    assert await direct.sweep_abandoned(now=t0 + wait - 1) == 0  # not empty long enough
    assert (await reload(call)).state == State.ACCEPTED
    assert await direct.sweep_abandoned(now=t0 + wait) == 1
    ended = await reload(call)
    assert ended.state == State.ENDED and ended.ended_at is not None and ended.ended_by_id is None
    (frame,) = await tabs.frames(1)
    assert frame["type"] == "call-state" and frame["call"]["state"] == "ended"
    assert await direct.sweep_abandoned(now=t0 + 2 * wait) == 0
    assert stray_keys() == []


async def test_an_accepted_call_with_a_live_peer_is_not_ended(people):
    alice, bob, _ = people
    call = await make_call(alice, bob, State.ACCEPTED)
    await answered_long_ago(call)
    wait = settings.CALL_ABANDON_AFTER
    t0 = time.time()
    assert await direct.sweep_abandoned(now=t0) == 0  # seen empty once
    await rooms.join(call.room_id, "alice-peer", "{}", 2)  # alice's tab comes back
    assert await direct.sweep_abandoned(now=t0 + wait) == 0
    assert await direct.sweep_abandoned(now=t0 + 5 * wait) == 0
    await rooms.leave(call.room_id, "alice-peer")
    # empty again: the wait starts over from now, not from the first sighting
    assert await direct.sweep_abandoned(now=t0 + 6 * wait) == 0
    assert await direct.sweep_abandoned(now=t0 + 7 * wait - 1) == 0
    assert (await reload(call)).state == State.ACCEPTED
    assert await direct.sweep_abandoned(now=t0 + 7 * wait) == 1
