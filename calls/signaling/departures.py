"""Departures: a peer leaves for good, and its rooms are told exactly once.

Whoever removes the peer from presence (a Lua script: one caller wins) announces
`peer-left` to its rooms and closes its history row. Used by a connection closing for
good, by the reaper for peers not resumed in time, and by administrators' kicks.
"""

from __future__ import annotations

from channels.layers import get_channel_layer

from calls.signaling import events, history, metrics, presence, protocol
from calls.signaling.protocol import LeaveReason


async def remove_and_announce(
    peer: str, reason: LeaveReason | None, conn: str = "", expired_by: float | None = None
) -> list[str]:
    """Remove `peer` everywhere and tell its rooms (only the caller that removed it announces).

    Only while connection `conn` holds the peer, or with `conn=""` while it is detached
    (see `presence.remove`). Without `reason`, the one stored when the peer was detached
    is used. Returns the rooms it left.
    """
    result = await presence.remove(peer, conn, expired_by)
    if result is None:
        return []
    stored_reason, room_ids = result
    reason = reason or LeaveReason(stored_reason or LeaveReason.DISCONNECT)
    await announce_left(peer, room_ids, reason)
    await history.session_closed(peer, str(reason), room_ids)
    return room_ids


async def announce_left(peer: str, room_ids: list[str], reason: LeaveReason) -> None:
    """Tell each room that `peer` left it."""
    layer = get_channel_layer()
    for room_id in room_ids:
        (metrics.LEAVES_BY_REASON.get(reason) or metrics.LEAVES.labels(str(reason))).inc()
        text = protocol.encode(protocol.peer_left_frame(room_id, peer, reason))
        await layer.group_send(events.room_group(room_id), events.peer_left(room_id, peer, text))


async def kick(peer: str) -> bool:
    """Disconnect a peer for an administrator: its socket closes 4403, its rooms see `kicked`.

    A peer with a live connection is told through its peer group (whichever process holds
    it); a detached one is removed here. False when no such peer exists.
    """
    conn = await presence.connection_of(peer)
    if conn is None:
        return False
    if conn:
        await get_channel_layer().group_send(events.peer_group(peer), events.peer_kick())
    else:
        await remove_and_announce(peer, LeaveReason.KICKED)
    return True
