"""Who is in a room right now, in Redis, across every daphne process.

Membership is one hash per room (peer id -> user JSON) plus each peer's set of rooms
and a live count per room. Only the Lua in this module changes them: `join` and `leave`
here, and `LEAVE_ROOM_LUA`, which presence's removal script includes so a departing
peer leaves its rooms in the same atomic step. Who may enter a room is
`calls.models.Room.admission`; `admit` applies it for the WebSocket.
"""

from __future__ import annotations

from dataclasses import dataclass

from calls.models import Room
from calls.signaling import keys, store
from calls.signaling.protocol import ErrorCode, ProtocolError, Ref


@dataclass(frozen=True, slots=True)
class Admitted:
    room_id: str
    max_peers: int
    first_visit: bool  # not yet a member: record the membership (history writes it behind)


def admit(user, room_id: str, ref: Ref = None) -> Admitted:
    """`Room.admission` for the WebSocket: room_not_found / forbidden as protocol errors."""
    room = Room.objects.filter(pk=room_id).only("id", "kind", "locked", "owner_id", "max_peers").first()
    if room is None:
        raise ProtocolError(ErrorCode.ROOM_NOT_FOUND, "no room has that id", ref)
    admission = room.admission(user)
    if not admission.allowed:
        raise ProtocolError(ErrorCode.FORBIDDEN, "you may not enter this room", ref)
    return Admitted(room.pk, room.max_peers, first_visit=not admission.member)


# A Lua function, included by every script that takes a peer out of a room.
LEAVE_ROOM_LUA = """
local function leave_room(members, peer_rooms, active, peer, room)
  local removed = redis.call('HDEL', members, peer)
  redis.call('SREM', peer_rooms, room)
  if removed == 1 and tonumber(redis.call('ZINCRBY', active, -1, room)) <= 0 then
    redis.call('ZREM', active, room)
  end
  return removed
end
"""

# KEYS: room members, the peer's rooms, active rooms.
# ARGV: peer, user JSON, max peers, room id, user id, most peers of one user (0: any number).
# The capacity checks, the insert and the snapshot of the members are one atomic step.
# Returns the members, false when the room is full, or -1 when the user has `most` peers in it.
_JOIN = """
local members, peer_rooms, active = KEYS[1], KEYS[2], KEYS[3]
local peer, user, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HEXISTS', members, peer) == 0 then
  if redis.call('HLEN', members) >= max then return false end
  local most, uid = tonumber(ARGV[6]), tonumber(ARGV[5])
  if most > 0 then
    local mine = 0
    for _, other in ipairs(redis.call('HVALS', members)) do
      if cjson.decode(other).id == uid then mine = mine + 1 end
    end
    if mine >= most then return -1 end
  end
  redis.call('HSET', members, peer, user)
  redis.call('SADD', peer_rooms, ARGV[4])
  redis.call('ZINCRBY', active, 1, ARGV[4])
end
return redis.call('HGETALL', members)
"""

# KEYS: room members, the peer's rooms, active rooms. ARGV: peer, room id.
_LEAVE = LEAVE_ROOM_LUA + "return leave_room(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])\n"


def _keys(room_id: str, peer: str) -> list[str]:
    return [keys.room_members(room_id), keys.peer_rooms(peer), keys.active_rooms()]


class TooManyOfUser(Exception):
    """The user is in the room from as many connections as one user may be."""


async def join(
    room_id: str, peer: str, user_json: str, max_peers: int, user_id: int = 0, most_per_user: int = 0
) -> dict[str, str] | None:
    """Add `peer` to the room; the members (peer -> user JSON) including it, or None when full.

    With `most_per_user`, raises TooManyOfUser when user `user_id` already has that many peers in it.
    """
    r = store.get_async()
    args = [peer, user_json, max_peers, room_id, user_id, most_per_user]
    result = await store.script(r, _JOIN)(keys=_keys(room_id, peer), args=args)
    if result == -1:
        raise TooManyOfUser(room_id)
    if not result:
        return None
    it = iter(result)
    return {k.decode(): v.decode() for k, v in zip(it, it, strict=True)}


async def leave(room_id: str, peer: str) -> bool:
    """Remove `peer` from the room; True when it was there."""
    r = store.get_async()
    return bool(await store.script(r, _LEAVE)(keys=_keys(room_id, peer), args=[peer, room_id]))


async def amembers(room_id: str) -> dict[str, str]:
    """Live members of a room (peer -> user JSON), from a consumer."""
    raw = await store.get_async().hgetall(keys.room_members(room_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def alive_counts(room_ids: list[str]) -> list[int]:
    """Live peer count per room, in one round trip, from the event loop."""
    pipe = store.get_async().pipeline(transaction=False)
    for room_id in room_ids:
        pipe.hlen(keys.room_members(room_id))
    return list(await pipe.execute())


def members(room_id: str) -> dict[str, str]:
    """Live members of a room (peer -> user JSON), for views and the API."""
    raw = store.get_sync().hgetall(keys.room_members(room_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


def live_counts(room_ids: list[str]) -> dict[str, int]:
    """Live peer count per room, in one round trip."""
    if not room_ids:
        return {}
    pipe = store.get_sync().pipeline(transaction=False)
    for room_id in room_ids:
        pipe.hlen(keys.room_members(room_id))
    return dict(zip(room_ids, pipe.execute(), strict=True))


def busiest(limit: int = 50) -> list[tuple[str, int]]:
    """Rooms with live peers, most peers first."""
    raw = store.get_sync().zrevrange(keys.active_rooms(), 0, limit - 1, withscores=True)
    return [(room.decode(), int(count)) for room, count in raw]
