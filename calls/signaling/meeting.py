"""What peers do in a room besides relaying: enter it, chat, tell their media state, raise hands,
and, for the room's owner, remove people and let them back in.

Plain functions: each takes the connection's state and a parsed frame, does the Redis (and,
for admission and removals, database) work, keeps the connection's view of its rooms
current, and returns an `Outcome`: the encoded reply for the sender and the channel-layer
messages to publish. The consumer sends and publishes; nothing here touches the socket.
Frames that everyone sees travel as `relay` events (the sender and peers outside the room
are skipped), so the sender's own copy is the reply, with its `ref`.

The owner rule is written once, `is_owner`: the room's moderator (a meeting's owner, learned
at join, so no frame needs a database query) may remove people and lower others' hands.
A direct call's room has no moderator: two people, and hanging up is how one ends it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings

from calls.signaling import database, departures, events, history, metrics, protocol, rooms
from calls.signaling.connection import Connection
from calls.signaling.protocol import ErrorCode, LeaveReason, ProtocolError, Ref
from calls.signaling.ratelimit import TokenBucket

Publish = tuple[tuple[str, dict[str, Any]], ...]  # (group, channel-layer event) pairs


@dataclass(frozen=True, slots=True)
class Outcome:
    reply: str | None = None  # encoded frame for the sender
    publish: Publish = ()


def _in_room(conn: Connection, room: str, ref: Ref) -> dict[str, dict[str, Any]]:
    """The other peers of a room this connection is in, or `not_in_room`."""
    others = conn.rooms.get(room)
    if others is None:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, "join the room first", ref)
    return others


def is_owner(conn: Connection, room: str) -> bool:
    """May this connection's user remove people from `room` and lower their hands?"""
    owner = conn.owners.get(room)
    return owner is not None and owner == conn.user_id


def _require_owner(conn: Connection, room: str, ref: Ref, what: str) -> None:
    if not is_owner(conn, room):
        raise ProtocolError(ErrorCode.FORBIDDEN, f"only the room's owner may {what}", ref)


def _to_room(room: str, sender: str, text: str, at: float) -> Publish:
    return ((events.room_group(room), events.relay(room, sender, text, at)),)


# -- entering ---------------------------------------------------------------------------
_admissions = database.batched(rooms.admit)  # the joins of a burst are decided in one trip


async def admit(conn: Connection, user, frame: protocol.Join) -> rooms.Admitted:
    """May this connection enter the room (`Room.admission`, the rooms-per-connection cap)?"""
    if frame.room not in conn.rooms and len(conn.rooms) >= settings.SIGNALING_MAX_ROOMS:
        raise ProtocolError(ErrorCode.TOO_MANY_ROOMS, "this connection is in too many rooms", frame.id)
    admitted = await _admissions(user, frame.room, frame.id)
    if admitted.first_visit:
        history.writes.admit(frame.room, conn.user_id)
    return admitted


async def enter(conn: Connection, frame: protocol.Join, admitted: rooms.Admitted) -> Outcome:
    """Enter the room (the caller listens to its group first): `joined` for the joiner, `peer-joined` for the rest."""
    room, most = frame.room, settings.ROOM_MAX_PEERS_PER_USER
    media_json = protocol.encode(frame.media) if frame.media is not None else ""
    try:
        found = await rooms.enter(room, conn.peer, conn.user_json, admitted.max_peers, conn.user_id, most, media_json)
    except rooms.TooManyOfUser:
        raise ProtocolError(
            ErrorCode.TOO_MANY_IN_ROOM, f"you are in this room from {most} connections", frame.id
        ) from None
    if found is None:
        raise ProtocolError(ErrorCode.ROOM_FULL, f"the room is full ({admitted.max_peers} peers)", frame.id)
    new = room not in conn.rooms
    others = {p: orjson.loads(u) for p, u in found.members.items() if p != conn.peer}
    conn.rooms[room], conn.owners[room] = others, admitted.owner_id
    media = {p: orjson.loads(m) for p, m in found.media.items()}
    peers = [{"peer": p, "user": u, "media": media.get(p)} for p, u in others.items()]
    chat = [orjson.loads(text) for text in found.chat]
    joined = protocol.joined_frame(
        room,
        conn.peer,
        peers,
        frame.id,
        owner=admitted.owner_id,
        hands=found.hands,
        chat=chat,
        removed=admitted.removed,
    )
    if not new:  # joined again: the others only hear of a new media state, as a `media` frame
        if frame.media is None:
            return Outcome(protocol.encode(joined))
        told = protocol.encode(protocol.media_frame(room, conn.peer, frame.media))
        return Outcome(protocol.encode(joined), _to_room(room, conn.peer, told, conn.wall_clock()))
    metrics.JOINS.inc()
    text = protocol.encode(protocol.peer_joined_frame(room, conn.peer, conn.user, frame.media))
    return Outcome(
        protocol.encode(joined), ((events.room_group(room), events.peer_joined(room, conn.peer, conn.user, text)),)
    )


async def leave(conn: Connection, frame: protocol.Leave) -> Outcome:
    """Leave the room (the caller stopped listening to it): `left` for the sender, `peer-left` for the rest."""
    if await rooms.leave(frame.room, conn.peer):
        await departures.announce_left(conn.peer, [frame.room], LeaveReason.LEAVE)
    return Outcome(protocol.encode(protocol.left_frame(frame.room, frame.id)))


async def rejoin(conn: Connection, room_ids: list[str]) -> None:
    """A resumed connection's view of its rooms (the caller listens to their groups first)."""
    owners = await database.run(rooms.moderators, room_ids) if room_ids else {}
    for room in room_ids:
        members = await rooms.amembers(room)
        conn.rooms[room] = {p: orjson.loads(u) for p, u in members.items() if p != conn.peer}
        conn.owners[room] = owners.get(room)


# -- chat, media state, hands -------------------------------------------------------------
async def chat(conn: Connection, frame: protocol.Chat) -> Outcome:
    """A chat message to everyone in the room, the sender included; kept for late joiners."""
    _in_room(conn, frame.room, frame.id)
    if conn.chat_bucket is None:
        conn.chat_bucket = TokenBucket(settings.SIGNALING_CHAT_RATE, settings.SIGNALING_CHAT_BURST)
    if not conn.chat_bucket.take():
        metrics.RATE_LIMITED.inc()
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many chat messages; slow down", frame.id)
    now = conn.wall_clock()
    msg = secrets.token_urlsafe(12)
    text = protocol.encode(protocol.chat_frame(frame.room, conn.peer, conn.user, frame.text, int(now * 1000), msg))
    if not await rooms.add_chat(frame.room, conn.peer, text):
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, "you are no longer in that room", frame.id)
    metrics.CHAT.inc()
    return Outcome(protocol.with_ref(text, frame.id), _to_room(frame.room, conn.peer, text, now))


async def media(conn: Connection, frame: protocol.Media) -> Outcome:
    """What this peer sends now, stored for joiners and told to the others (the sender gets nothing)."""
    _in_room(conn, frame.room, frame.id)
    if not await rooms.set_media(frame.room, conn.peer, protocol.encode(frame.state)):
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, "you are no longer in that room", frame.id)
    text = protocol.encode(protocol.media_frame(frame.room, conn.peer, frame.state))
    return Outcome(None, _to_room(frame.room, conn.peer, text, conn.wall_clock()))


async def hand(conn: Connection, frame: protocol.Hand) -> Outcome:
    """Raise or lower one's own hand; the owner may lower another's. Everyone gets the new queue."""
    others = _in_room(conn, frame.room, frame.id)
    peer = frame.peer or conn.peer
    if peer != conn.peer:
        if frame.raised or not is_owner(conn, frame.room):
            raise ProtocolError(ErrorCode.FORBIDDEN, "only the room's owner may lower another's hand", frame.id)
        if peer not in others:
            raise ProtocolError(ErrorCode.UNKNOWN_PEER, "no such peer in this room", frame.id)
    try:
        hands = await rooms.set_hand(frame.room, conn.peer, peer, frame.raised)
    except rooms.NotInRoom:
        raise ProtocolError(ErrorCode.UNKNOWN_PEER, "no such peer in this room", frame.id) from None
    if hands is None:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, "you are no longer in that room", frame.id)
    text = protocol.encode(protocol.hand_frame(frame.room, peer, frame.raised, conn.peer, hands))
    return Outcome(protocol.with_ref(text, frame.id), _to_room(frame.room, conn.peer, text, conn.wall_clock()))


# -- the owner's removals -------------------------------------------------------------------
async def remove(conn: Connection, frame: protocol.Remove) -> Outcome:
    """Remove every peer of `frame.peer`'s user from the room and refuse that user until let in.

    The database records the removal first, so a rejoin racing with it is refused. Each
    removed peer's connection (whichever process holds it) gets `removed` and leaves the
    room; the others get `peer-left` (removed); the owner's connection gets `removed` with ref.
    """
    room = frame.room
    others = _in_room(conn, room, frame.id)
    _require_owner(conn, room, frame.id, "remove people")
    target = others.get(frame.peer)
    if frame.peer == conn.peer or (target is not None and target["id"] == conn.user_id):
        raise ProtocolError(ErrorCode.BAD_FRAME, "you cannot remove yourself", frame.id)
    if target is None:
        raise ProtocolError(ErrorCode.UNKNOWN_PEER, "no such peer in this room", frame.id)
    await database.run(rooms.record_removal, room, target["id"])
    members = await rooms.amembers(room)
    theirs = sorted(p for p, u in members.items() if orjson.loads(u)["id"] == target["id"])
    others.pop(frame.peer, None)  # this connection is answered `removed`, not `peer-left`
    publish: list[tuple[str, dict[str, Any]]] = []
    for peer in theirs:
        if not await rooms.leave(room, peer):
            continue  # it left meanwhile, and whoever took it out told the room
        metrics.LEAVES_BY_REASON[LeaveReason.REMOVED].inc()
        told = protocol.encode(protocol.removed_frame(room, peer, target, conn.user))
        left = protocol.encode(protocol.peer_left_frame(room, peer, LeaveReason.REMOVED))
        publish.append((events.peer_group(peer), events.peer_removed(room, told)))
        publish.append((events.room_group(room), events.peer_left(room, peer, left)))
    reply = protocol.encode(protocol.removed_frame(room, frame.peer, target, conn.user, frame.id))
    return Outcome(reply, tuple(publish))


async def let_in(conn: Connection, frame: protocol.LetIn) -> Outcome:
    """Clear a removal: the user may enter again (it is not brought back by itself)."""
    _in_room(conn, frame.room, frame.id)
    _require_owner(conn, frame.room, frame.id, "let people in")
    user = await database.run(rooms.let_in, frame.room, frame.user)
    if user is None:
        raise ProtocolError(ErrorCode.USER_NOT_FOUND, "no such user", frame.id)
    return Outcome(protocol.encode(protocol.let_in_frame(frame.room, user, frame.id)))


# The room frames the consumer hands over as they are.
HANDLERS = {
    protocol.Chat: chat,
    protocol.Media: media,
    protocol.Hand: hand,
    protocol.Remove: remove,
    protocol.LetIn: let_in,
}
