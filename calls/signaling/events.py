"""The messages that travel between processes over the channel layer, and where they go.

Each event has one constructor here; its `type` names the consumer handler that receives
it ("peer.joined" -> `SignalingConsumer.peer_joined`; tests/unit/test_events.py checks
that every type has its handler). Frames meant for browsers travel already encoded
(`text`), so receivers write them to their sockets without decoding them again.
"""

from __future__ import annotations

import hashlib
from typing import Any

# -- groups -------------------------------------------------------------------------


def room_group(room_id: str) -> str:
    """Every connection in a room (channel-layer group names are limited to 100 characters)."""
    if len(room_id) <= 90:
        return f"r.{room_id}"
    return "r." + hashlib.sha256(room_id.encode()).hexdigest()[:40]


def peer_group(peer: str) -> str:
    """The connection currently holding a peer, so `to` frames and kicks survive a resume."""
    return f"p.{peer}"


def user_group(user_id: int) -> str:
    """Every connection of one user: call notifications, "disconnect all of a user"."""
    return f"u.{user_id}"


# -- events ---------------------------------------------------------------------------


def relay(room: str, sender: str, text: str, received_at: float) -> dict[str, Any]:
    """An offer/answer/candidate frame for the room's other peers (or one of them)."""
    return {"type": "relay", "room": room, "sender": sender, "text": text, "ts": received_at}


def peer_joined(room: str, peer: str, user: dict[str, Any], text: str) -> dict[str, Any]:
    """A peer entered the room; receivers add it to their copy of the members."""
    return {"type": "peer.joined", "room": room, "peer": peer, "user": user, "text": text}


def peer_left(room: str, peer: str, text: str) -> dict[str, Any]:
    """A peer left the room for good (leave, clean close, kick, or not resumed in time)."""
    return {"type": "peer.left", "room": room, "peer": peer, "text": text}


def peer_removed(room: str, text: str) -> dict[str, Any]:
    """The room's owner removed the peer: its connection leaves the room and is sent `text` (`removed`)."""
    return {"type": "peer.removed", "room": room, "text": text}


def peer_kick() -> dict[str, Any]:
    """An administrator disconnects the peer: its connection closes 4403."""
    return {"type": "peer.kick"}


def peer_replaced(by: str) -> dict[str, Any]:
    """The peer was resumed by the connection `by`; any other connection holding it closes 4409."""
    return {"type": "peer.replaced", "by": by}


def user_event(text: str, skip: str = "") -> dict[str, Any]:
    """A frame for every connection of a user but `skip` (which was answered directly)."""
    return {"type": "user.event", "text": text, "skip": skip}


# Every event type above; the consumer has a handler for each.
TYPES = ("relay", "peer.joined", "peer.left", "peer.removed", "peer.kick", "peer.replaced", "user.event")
