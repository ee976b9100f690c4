"""Server frames: built by the `*_frame` functions and encoded once by `encode()`.

The encoded text is what goes on the wire and through Redis; receivers pass it through.
"""

from __future__ import annotations

from typing import Any

import orjson

from calls.signaling.protocol.codes import VERSION, ErrorCode, LeaveReason, Ref


def encode(frame: dict[str, Any]) -> str:
    """Encode a server frame once; the text is what goes on the wire (and through Redis)."""
    return orjson.dumps(frame).decode()


def _with_ref(frame: dict[str, Any], ref: Ref) -> dict[str, Any]:
    if ref is not None:
        frame["ref"] = ref
    return frame


def user_info(user_id: int, username: str, display_name: str) -> dict[str, Any]:
    return {"id": user_id, "username": username, "display_name": display_name}


def hello_frame(
    peer: str, user: dict[str, Any], heartbeat: int, max_frame: int, resume: str, resumed: bool, rooms: list[str]
) -> dict[str, Any]:
    return {
        "type": "hello",
        "peer": peer,
        "user": user,
        "protocol": VERSION,
        "heartbeat": heartbeat,
        "max_frame": max_frame,
        "resume": resume,
        "resumed": resumed,
        "rooms": rooms,
    }


def joined_frame(
    room: str,
    peer: str,
    peers: list[dict[str, Any]],
    ref: Ref,
    *,
    owner: int | None = None,
    hands: list[str] | None = None,
    chat: list[dict[str, Any]] | None = None,
    removed: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`peers` entries are {peer, user, media}; `removed` is the owner's copy only ([] for others)."""
    frame = {
        "type": "joined",
        "room": room,
        "peer": peer,
        "peers": peers,
        "owner": owner,
        "hands": hands or [],
        "chat": chat or [],
        "removed": removed or [],
    }
    return _with_ref(frame, ref)


def left_frame(room: str, ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "left", "room": room}, ref)


def peer_joined_frame(
    room: str, peer: str, user: dict[str, Any], media: dict[str, bool] | None = None
) -> dict[str, Any]:
    return {"type": "peer-joined", "room": room, "peer": peer, "user": user, "media": media}


def peer_left_frame(room: str, peer: str, reason: LeaveReason) -> dict[str, Any]:
    return {"type": "peer-left", "room": room, "peer": peer, "reason": str(reason)}


def relay_frame(kind: str, room: str, sender: str, user: dict[str, Any], payload: Any) -> dict[str, Any]:
    return {"type": kind, "room": room, "from": sender, "user": user, "payload": payload}


def chat_frame(room: str, sender: str, user: dict[str, Any], text: str, ts: int, msg: str) -> dict[str, Any]:
    """One chat message as everyone sees it (and as history keeps it): sender, time and id set here."""
    return {"type": "chat", "room": room, "from": sender, "user": user, "text": text, "ts": ts, "msg": msg}


def media_frame(room: str, sender: str, state: dict[str, bool]) -> dict[str, Any]:
    return {"type": "media", "room": room, "from": sender, **state}


def hand_frame(room: str, peer: str, raised: bool, by: str, hands: list[str]) -> dict[str, Any]:
    return {"type": "hand", "room": room, "peer": peer, "raised": raised, "by": by, "hands": hands}


def removed_frame(room: str, peer: str, user: dict[str, Any], by: dict[str, Any], ref: Ref = None) -> dict[str, Any]:
    return _with_ref({"type": "removed", "room": room, "peer": peer, "user": user, "by": by}, ref)


def let_in_frame(room: str, user: dict[str, Any], ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "let-in", "room": room, "user": user}, ref)


def with_ref(text: str, ref: Ref) -> str:
    """The sender's copy of an encoded broadcast frame: the same frame with its `ref`."""
    if ref is None:
        return text
    return text[:-1] + ',"ref":' + orjson.dumps(ref).decode() + "}"


def pong_frame(ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "pong"}, ref)


def error_frame(code: ErrorCode, message: str, ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "error", "code": str(code), "message": message}, ref)


def call_state_frame(call: dict[str, Any], ref: Ref = None) -> dict[str, Any]:
    return _with_ref({"type": "call-state", "call": call}, ref)


def incoming_call_frame(call: dict[str, Any]) -> dict[str, Any]:
    return {"type": "incoming-call", "call": call}


def reconnect_frame(reason: str) -> dict[str, Any]:
    return {"type": "reconnect", "reason": reason}
