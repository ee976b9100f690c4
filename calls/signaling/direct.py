"""Direct calls: the server-side state machine behind `call`, `accept`, `decline`, `cancel`, `hangup`.

    ringing -> accepted -> ended
    ringing -> declined | missed | cancelled
    (placed while the callee is busy) -> busy

The database row (calls.models.Call) is the record; every transition is a conditional
UPDATE, so two tabs or two processes racing on one call cannot both win. Each transition
is announced as a `call-state` frame to every connection of both users (their user
groups, on every process). Ring deadlines live in Redis and any live process sweeps them,
so a call still goes `missed` if the process that placed it dies.

The functions take plain values (a user, a username, a call id) and return the `Call`
as it now is; the consumer answers the requesting connection and `announce` tells
everyone else.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from calls.models import Call, Room, accepting_calls_from, display_name, user_info
from calls.signaling import events, keys, metrics, protocol, rooms, store
from calls.signaling.database import on_database_thread
from calls.signaling.protocol import ErrorCode, ProtocolError

State = Call.State


def describe(call: Call) -> dict:
    """The `call` object of call-state and incoming-call frames."""
    return {
        "id": str(call.pk),
        "state": call.state,
        "caller": user_info(call.caller),
        "callee": user_info(call.callee),
        "room": call.room_id,
        "created_at": call.created_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "ring_timeout": settings.CALL_RING_TIMEOUT,
    }


def _load(call_id: str | int) -> Call | None:
    return Call.objects.select_related("caller__profile", "callee__profile").filter(pk=call_id).first()


def _busy(user) -> bool:
    """In an accepted call whose room still has a live peer."""
    active = Call.objects.filter(Q(caller=user) | Q(callee=user), state=State.ACCEPTED).exclude(room=None)
    room_ids = list(active.values_list("room_id", flat=True)[:20])
    return any(count for count in rooms.live_counts(room_ids).values())


@on_database_thread
def place(caller, username: str, ref: protocol.Ref) -> Call:
    """Create a call (ringing, or busy) after checking the callee accepts calls from the caller."""
    callee = get_user_model().objects.filter(username=username, is_active=True).first()
    if callee is None or callee.pk == caller.pk:
        raise ProtocolError(ErrorCode.USER_NOT_FOUND, "no such user to call", ref)
    if callee.pk not in accepting_calls_from(caller, [callee]):
        raise ProtocolError(ErrorCode.FORBIDDEN, "this user does not accept your calls", ref)
    attempts_key = keys.ring_attempts(caller.pk)
    redis = store.get_sync()
    attempts = redis.incr(attempts_key)
    if attempts == 1:
        redis.expire(attempts_key, 60)
    if attempts > settings.CALL_RING_LIMIT:
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many calls in a minute; wait a little", ref)
    if _busy(callee):
        busy = Call.objects.create(caller=caller, callee=callee, state=State.BUSY, ended_at=timezone.now())
        return _load(busy.pk)
    with transaction.atomic():
        room = Room.objects.create(
            name=f"{display_name(caller)} and {display_name(callee)}", owner=caller, kind=Room.Kind.DIRECT, max_peers=2
        )
        room.members.add(caller, callee)
        call = Call.objects.create(caller=caller, callee=callee, room=room)
    redis.zadd(keys.ringing(), {str(call.pk): time.time() + settings.CALL_RING_TIMEOUT})
    return _load(call.pk)


# action -> (who may do it, state it requires, state it leads to)
_TRANSITIONS = {
    "accept": ("callee", State.RINGING, State.ACCEPTED),
    "decline": ("callee", State.RINGING, State.DECLINED),
    "cancel": ("caller", State.RINGING, State.CANCELLED),
}


@on_database_thread
def act(user, action: str, call_id: str, ref: protocol.Ref) -> Call:
    """Apply accept/decline/cancel/hangup by `user`, or raise call_not_found / forbidden / invalid_state."""
    call = _load(call_id)
    if call is None or user.pk not in (call.caller_id, call.callee_id):
        raise ProtocolError(ErrorCode.CALL_NOT_FOUND, "no such call", ref)
    now = timezone.now()
    if action == "hangup":
        if call.state == State.RINGING:
            action = "cancel" if user.pk == call.caller_id else "decline"
        else:
            changes = {"state": State.ENDED, "ended_at": now, "ended_by": user}
            return _transition(call, State.ACCEPTED, changes, ref)
    role, required, target = _TRANSITIONS[action]
    if getattr(call, f"{role}_id") != user.pk:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"only the {role} may {action} this call", ref)
    changes = {"state": target}
    if target == State.ACCEPTED:
        changes["answered_at"] = now
    else:
        changes.update(ended_at=now, ended_by=user)
    return _transition(call, required, changes, ref)


def _transition(call: Call, required: str, changes: dict, ref: protocol.Ref) -> Call:
    if not Call.objects.filter(pk=call.pk, state=required).update(**changes):
        raise ProtocolError(ErrorCode.INVALID_STATE, f"the call is not {required}", ref)
    store.get_sync().zrem(keys.ringing(), str(call.pk))
    return _load(call.pk)


@on_database_thread
def miss(call_id: str) -> Call | None:
    """Ringing for too long: missed (None if it was answered, declined or cancelled meanwhile)."""
    if not Call.objects.filter(pk=call_id, state=State.RINGING).update(state=State.MISSED, ended_at=timezone.now()):
        return None
    return _load(call_id)


async def announce(call: Call, by_peer: str | None = None, skip: str = "") -> None:
    """Tell every connection of both users (but `skip`, which was answered directly).

    A new ringing call also rings every tab of the callee.
    """
    layer = get_channel_layer()
    if call.state in Call.FINAL_STATES:
        metrics.CALLS.labels(call.state).inc()
    info = describe(call)
    if by_peer:
        info["by_peer"] = by_peer
    text = protocol.encode(protocol.call_state_frame(info))
    for uid in {call.caller_id, call.callee_id}:
        await layer.group_send(events.user_group(uid), events.user_event(text, skip))
    if call.state == State.RINGING:
        ring = protocol.encode(protocol.incoming_call_frame(info))
        await layer.group_send(events.user_group(call.callee_id), events.user_event(ring))


async def sweep_ringing(now: float | None = None) -> int:
    """Mark calls whose ring deadline passed as missed; any live process may do it, one wins each."""
    r = store.get_async()
    now = time.time() if now is None else now  # injectable for tests
    due = await r.zrangebyscore(keys.ringing(), "-inf", now, start=0, num=200, withscores=True)
    count = 0
    for raw, deadline in due:
        if not await r.zrem(keys.ringing(), raw):
            continue  # another process took it
        try:
            call = await miss(raw.decode())
        except Exception:
            await r.zadd(keys.ringing(), {raw: deadline})  # give it back: the next sweep tries again
            raise
        if call is not None:
            await announce(call)
            count += 1
    return count


@on_database_thread
def _accepted_calls(older_than: float, now: float) -> list[tuple[int, str]]:
    cutoff = datetime.fromtimestamp(now, UTC) - timedelta(seconds=older_than)
    calls = Call.objects.filter(state=State.ACCEPTED, answered_at__lt=cutoff).exclude(room=None)
    return list(calls.values_list("pk", "room_id")[:500])


@on_database_thread
def _end_abandoned(call_id: int) -> Call | None:
    if not Call.objects.filter(pk=call_id, state=State.ACCEPTED).update(state=State.ENDED, ended_at=timezone.now()):
        return None
    return _load(call_id)


async def sweep_abandoned(now: float | None = None) -> int:
    """End accepted calls whose room has stayed empty (both sides closed without hanging up).

    A room seen empty is marked in Redis; seen empty again CALL_ABANDON_AFTER seconds
    later (longer than the resume window), its call ends. Any live process may do it.
    """
    wait = settings.CALL_ABANDON_AFTER
    now = time.time() if now is None else now  # injectable for tests
    calls = await _accepted_calls(older_than=wait, now=now)
    if not calls:
        return 0
    r = store.get_async()
    counts = await rooms.alive_counts([room_id for _, room_id in calls])
    ended = 0
    for (call_id, _), live in zip(calls, counts, strict=True):
        marker = keys.call_empty(call_id)
        if live:
            await r.delete(marker)
            continue
        first_seen = await r.set(marker, str(now), nx=True, ex=int(wait * 4) + 60, get=True)
        if first_seen is None or now - float(first_seen) < wait:
            continue
        call = await _end_abandoned(call_id)
        if call is not None:
            await announce(call)
            ended += 1
    return ended
