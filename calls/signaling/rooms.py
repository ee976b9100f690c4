"""Rooms: who may enter (database) and who is in one right now (Redis).

Membership lives in Redis, one hash per room (peer id -> user JSON), so every daphne
process sees the same peer list and it outlives any one process. Joining is one Lua
script: the capacity check, the insert and the snapshot of the others are atomic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from calls.models import Room
from calls.signaling import store
from calls.signaling.protocol import ErrorCode, ProtocolError, Ref


def group(room_id: str) -> str:
    """The channel-layer group of a room (group names are limited to 100 characters)."""
    if len(room_id) <= 90:
        return f"r.{room_id}"
    return "r." + hashlib.sha256(room_id.encode()).hexdigest()[:40]


def peer_group(peer: str) -> str:
    """The group a peer's current connection listens on, so `to` frames survive a resume."""
    return f"p.{peer}"


def user_group(user_id: int) -> str:
    """Every connection of one user: call notifications, 'disconnect all of a user'."""
    return f"u.{user_id}"


@dataclass(frozen=True, slots=True)
class Admission:
    room_id: str
    max_peers: int
    kind: str
    new_member: bool  # a first visit to a meeting: record it (calls.node writes it behind)


def admit(user, room_id: str, ref: Ref = None) -> Admission:
    """May `user` enter `room_id`? Raises room_not_found / forbidden.

    Direct rooms admit only their listed members. A locked meeting admits its owner and
    users admitted before it was locked.
    """
    room = Room.objects.filter(pk=room_id).only("id", "kind", "locked", "owner_id", "max_peers").first()
    if room is None:
        raise ProtocolError(ErrorCode.ROOM_NOT_FOUND, "no room has that id", ref)
    is_member = room.owner_id == user.pk or room.members.filter(pk=user.pk).exists()
    if (room.kind == Room.Kind.DIRECT or room.locked) and not is_member:
        raise ProtocolError(ErrorCode.FORBIDDEN, "you may not enter this room", ref)
    return Admission(room.pk, room.max_peers, room.kind, new_member=not is_member)


# KEYS: room members hash, the peer's room set, the active-rooms zset (room -> live peers)
_JOIN = """
local room, peers = KEYS[1], KEYS[2]
local peer, user, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HEXISTS', room, peer) == 0 then
  if redis.call('HLEN', room) >= max then return false end
  redis.call('HSET', room, peer, user)
  redis.call('SADD', peers, ARGV[4])
  redis.call('ZINCRBY', KEYS[3], 1, ARGV[4])
end
return redis.call('HGETALL', room)
"""

_LEAVE = """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
if removed == 1 and tonumber(redis.call('ZINCRBY', KEYS[3], -1, ARGV[2])) <= 0 then
  redis.call('ZREM', KEYS[3], ARGV[2])
end
return removed
"""


def members_key(room_id: str) -> str:
    return store.key("room", room_id)


def peer_rooms_key(peer: str) -> str:
    return store.key("peer", peer, "rooms")


def active_rooms_key() -> str:
    return store.key("rooms", "active")


async def join(room_id: str, peer: str, user_json: str, max_peers: int) -> dict[str, str] | None:
    """Add `peer` to the room; the members (peer -> user JSON) including it, or None when full."""
    r = store.get_async()
    script = store.script(r, _JOIN)
    keys = [members_key(room_id), peer_rooms_key(peer), active_rooms_key()]
    result = await script(keys=keys, args=[peer, user_json, max_peers, room_id])
    if not result:
        return None
    it = iter(result)
    return {k.decode(): v.decode() for k, v in zip(it, it, strict=True)}


async def leave(room_id: str, peer: str) -> bool:
    """Remove `peer` from the room; True when it was there."""
    r = store.get_async()
    script = store.script(r, _LEAVE)
    keys = [members_key(room_id), peer_rooms_key(peer), active_rooms_key()]
    return bool(await script(keys=keys, args=[peer, room_id]))


async def amembers(room_id: str) -> dict[str, str]:
    """Live members of a room (peer -> user JSON), from a consumer."""
    raw = await store.get_async().hgetall(members_key(room_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


def members(room_id: str) -> dict[str, str]:
    """Live members of a room (peer -> user JSON), for views and the API."""
    raw = store.get_sync().hgetall(members_key(room_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


def live_counts(room_ids: list[str]) -> dict[str, int]:
    """Live peer count per room, in one round trip."""
    if not room_ids:
        return {}
    pipe = store.get_sync().pipeline(transaction=False)
    for room_id in room_ids:
        pipe.hlen(members_key(room_id))
    return dict(zip(room_ids, pipe.execute(), strict=True))


def busiest(limit: int = 50) -> list[tuple[str, int]]:
    """Rooms with live peers, most peers first."""
    raw = store.get_sync().zrevrange(active_rooms_key(), 0, limit - 1, withscores=True)
    return [(room.decode(), int(count)) for room, count in raw]
