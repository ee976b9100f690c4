"""Who is in a room right now, in Redis, across every daphne process.

Membership is one hash per room (peer id -> user JSON) plus each peer's set of rooms
and a live count per room; beside it, per room, the recent chat, each peer's media state
and the raised hands. Only the Lua in this module changes them: `enter`, `leave` and the
chat/media/hand scripts here, and `LEAVE_ROOM_LUA`, which presence's removal script
includes so a departing peer leaves its rooms (and its media state and hand) in the same
atomic step. The last peer out deletes the room's chat, media and hands. Who may enter a
room is `calls.models.Room.admission`; `admit` applies it for the WebSocket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from calls.models import Room, user_info
from calls.signaling import keys, store
from calls.signaling.protocol import ErrorCode, ProtocolError, Ref

CHAT_HISTORY = 100  # chat frames kept per room for late joiners
# Seconds the chat, media and hand keys outlive their last write if a room is somehow never
# emptied by a script (the last peer out deletes them): a bound, not the normal way out.
STATE_TTL = 24 * 3600


@dataclass(frozen=True, slots=True)
class Admitted:
    room_id: str
    max_peers: int
    first_visit: bool  # not yet a member: record the membership (history writes it behind)
    owner_id: int | None = None  # who may remove people and lower hands (`Room.moderator_id`)
    removed: list[dict[str, Any]] = field(default_factory=list)  # for the owner: users it removed


def admit(user, room_id: str, ref: Ref = None) -> Admitted:
    """`Room.admission` for the WebSocket: room_not_found / forbidden as protocol errors."""
    room = Room.for_admission(user, room_id)
    if room is None:
        raise ProtocolError(ErrorCode.ROOM_NOT_FOUND, "no room has that id", ref)
    admission = room.admission(user)
    if admission.removed:
        raise ProtocolError(ErrorCode.FORBIDDEN, "the owner removed you from this room; they can let you back in", ref)
    if not admission.allowed:
        raise ProtocolError(ErrorCode.FORBIDDEN, "you may not enter this room", ref)
    owner_id = room.moderator_id
    removed = removed_users(room) if owner_id == user.pk else []
    return Admitted(room.pk, room.max_peers, not admission.member, owner_id, removed)


def removed_users(room: Room) -> list[dict[str, Any]]:
    return [user_info(u) for u in room.removed.select_related("profile").order_by("username")]


def moderators(room_ids: list[str]) -> dict[str, int | None]:
    """Who moderates each room (`Room.moderator_id`), for a connection that resumed into them."""
    return {room.pk: room.moderator_id for room in Room.objects.filter(pk__in=room_ids).only("id", "kind", "owner_id")}


def record_removal(room_id: str, user_id: int) -> None:
    """The owner removed `user_id`: refused by `Room.admission` until `let_in`."""
    Room.removed.through.objects.get_or_create(room_id=room_id, user_id=user_id)


def let_in(room_id: str, user_id: int) -> dict[str, Any] | None:
    """Clear a removal; the user as frames show it, or None when there is no such user."""
    room = Room.objects.only("id").get(pk=room_id)
    user = room.removed.model.objects.select_related("profile").filter(pk=user_id).first()
    if user is None:
        return None
    room.removed.remove(user)
    return user_info(user)


# A Lua function, included by every script that takes a peer out of a room: its media state
# and hand go with it, and the last one out deletes the room's chat, media and hands.
LEAVE_ROOM_LUA = """
local function leave_room(members, peer_rooms, active, peer, room, chat, media, hands)
  local removed = redis.call('HDEL', members, peer)
  redis.call('SREM', peer_rooms, room)
  redis.call('HDEL', media, peer)
  redis.call('ZREM', hands, peer)
  if removed == 1 and tonumber(redis.call('ZINCRBY', active, -1, room)) <= 0 then
    redis.call('ZREM', active, room)
  end
  if redis.call('HLEN', members) == 0 then redis.call('DEL', chat, media, hands) end
  return removed
end
"""

# KEYS: room members, the peer's rooms, active rooms, chat, media, hands.
# ARGV: peer, user JSON, max peers, room id, user id, most peers of one user (0: any number),
#       media state JSON ("": not given), state TTL.
# The capacity checks, the insert and the snapshot of the room are one atomic step.
# Returns {members, media states, hands, chat}, false when the room is full, or -1 when the
# user has `most` peers in it.
_JOIN = """
local members, peer_rooms, active, chat, media, hands = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
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
if ARGV[7] ~= '' then
  redis.call('HSET', media, peer, ARGV[7])
  redis.call('EXPIRE', media, ARGV[8])
end
return {redis.call('HGETALL', members), redis.call('HGETALL', media), redis.call('ZRANGE', hands, 0, -1),
        redis.call('LRANGE', chat, 0, -1)}
"""

# KEYS: room members, the peer's rooms, active rooms, chat, media, hands. ARGV: peer, room id.
_LEAVE = LEAVE_ROOM_LUA + "return leave_room(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], KEYS[4], KEYS[5], KEYS[6])\n"

# Only a member's frames change the room's state: a peer removed (or gone) a moment ago
# whose connection has not heard yet is answered not_in_room, and leaves nothing behind.
# KEYS: room members, chat. ARGV: peer, chat frame, history length, TTL. Returns 1, or 0 (not a member).
_CHAT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

# KEYS: room members, media. ARGV: peer, media state JSON, TTL. Returns 1, or 0 (not a member).
_MEDIA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: room members, hands. ARGV: sender, peer whose hand, "1" raise / "0" lower, TTL.
# A raised hand keeps its place; a new one goes last. Returns the hands in order,
# 0 when the sender is not a member, or -1 when the peer is not.
_HAND = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return -1 end
if ARGV[3] == '1' then
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('ZADD', KEYS[2], 'NX', (tonumber(last[2]) or 0) + 1, ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return redis.call('ZRANGE', KEYS[2], 0, -1)
"""


def state_keys(room_id: str) -> list[str]:
    """A room's members, chat, media and hands: what `LEAVE_ROOM_LUA` is given for each room."""
    return [keys.room_members(room_id), keys.room_chat(room_id), keys.room_media(room_id), keys.room_hands(room_id)]


def _keys(room_id: str, peer: str) -> list[str]:
    chat, media, hands = keys.room_chat(room_id), keys.room_media(room_id), keys.room_hands(room_id)
    return [keys.room_members(room_id), keys.peer_rooms(peer), keys.active_rooms(), chat, media, hands]


class TooManyOfUser(Exception):
    """The user is in the room from as many connections as one user may be."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A room as a joiner finds it, read in the same atomic step as its entry."""

    members: dict[str, str]  # peer -> user JSON, the joiner included
    media: dict[str, str]  # peer -> media state JSON, for the peers that told it
    hands: list[str]  # raised hands, in the order they were raised
    chat: list[str]  # the recent chat frames (encoded), oldest first


def _pairs(flat: list[bytes]) -> dict[str, str]:
    it = iter(flat)
    return {k.decode(): v.decode() for k, v in zip(it, it, strict=True)}


async def enter(
    room_id: str,
    peer: str,
    user_json: str,
    max_peers: int,
    user_id: int = 0,
    most_per_user: int = 0,
    media_json: str = "",
) -> Snapshot | None:
    """Add `peer` to the room (with its media state, if given); the room including it, or None when full.

    With `most_per_user`, raises TooManyOfUser when user `user_id` already has that many peers in it.
    """
    args = [peer, user_json, max_peers, room_id, user_id, most_per_user, media_json, STATE_TTL]
    result = await store.run(_JOIN, _keys(room_id, peer), args)
    if result == -1:
        raise TooManyOfUser(room_id)
    if not result:
        return None
    members, media, hands, chat = result
    return Snapshot(_pairs(members), _pairs(media), [h.decode() for h in hands], [c.decode() for c in chat])


async def join(
    room_id: str, peer: str, user_json: str, max_peers: int, user_id: int = 0, most_per_user: int = 0
) -> dict[str, str] | None:
    """`enter`, answering only the members (peer -> user JSON) including `peer`, or None when full."""
    snapshot = await enter(room_id, peer, user_json, max_peers, user_id, most_per_user)
    return snapshot.members if snapshot is not None else None


async def add_chat(room_id: str, peer: str, text: str) -> bool:
    """Keep a chat frame in the room's history (the last CHAT_HISTORY); False when `peer` is not in the room."""
    script_keys = [keys.room_members(room_id), keys.room_chat(room_id)]
    args = [peer, text, CHAT_HISTORY, STATE_TTL]
    return bool(await store.run(_CHAT, script_keys, args))


async def set_media(room_id: str, peer: str, media_json: str) -> bool:
    """Record what `peer` sends; False when it is not in the room."""
    script_keys = [keys.room_members(room_id), keys.room_media(room_id)]
    return bool(await store.run(_MEDIA, script_keys, [peer, media_json, STATE_TTL]))


class NotInRoom(Exception):
    """The peer named is not (or no longer) in the room."""


async def set_hand(room_id: str, sender: str, peer: str, raised: bool) -> list[str] | None:
    """Raise or lower `peer`'s hand; the hands in order, or None when `sender` is not in the room.

    Raises NotInRoom when `peer` is not in it.
    """
    script_keys = [keys.room_members(room_id), keys.room_hands(room_id)]
    args = [sender, peer, "1" if raised else "0", STATE_TTL]
    result = await store.run(_HAND, script_keys, args)
    if result == -1:
        raise NotInRoom(peer)
    if result == 0:
        return None
    return [h.decode() for h in result]


async def leave(room_id: str, peer: str) -> bool:
    """Remove `peer` (its media state and hand) from the room; True when it was there."""
    return bool(await store.run(_LEAVE, _keys(room_id, peer), [peer, room_id]))


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
