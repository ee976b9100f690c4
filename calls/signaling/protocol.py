"""The signaling protocol, version 1: the one place of truth for every frame on the wire.

Client frames are parsed into frozen dataclasses by `parse()`, which raises `ProtocolError`
with a code for anything malformed. Server frames are built by the `*_frame` functions
and encoded once by `encode()`. The consumer, the tests and docs/protocol.md rest on the
names and codes defined here (tests/unit/test_protocol_docs.py keeps the document in step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

import orjson

VERSION = 1

ROOM_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
PEER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
CALL_ID_RE = re.compile(r"[0-9]{1,19}")
MAX_REF_LENGTH = 64
MAX_SDP_LENGTH = 60_000
MAX_CANDIDATE_LENGTH = 1_024
MAX_MID_LENGTH = 64
MAX_USERNAME_LENGTH = 150


class ErrorCode(StrEnum):
    """Codes of `error` frames. Each is documented in docs/protocol.md."""

    BAD_JSON = "bad_json"  # the text is not JSON, or not a JSON object
    BAD_FRAME = "bad_frame"  # a field is missing, of the wrong type or out of range
    UNKNOWN_TYPE = "unknown_type"  # no such frame type
    TOO_LARGE = "too_large"  # the frame is longer than `max_frame` bytes
    RATE_LIMITED = "rate_limited"  # more frames than the rate limit allows
    NOT_IN_ROOM = "not_in_room"  # the sender has not joined that room
    UNKNOWN_PEER = "unknown_peer"  # `to` names no peer of that room
    ROOM_NOT_FOUND = "room_not_found"  # no room has that id
    FORBIDDEN = "forbidden"  # the user may not do this (room locked, not a participant, blocked)
    ROOM_FULL = "room_full"  # the room already has `max_peers` peers
    TOO_MANY_ROOMS = "too_many_rooms"  # this connection is in as many rooms as allowed
    USER_NOT_FOUND = "user_not_found"  # no such user to call
    CALL_NOT_FOUND = "call_not_found"  # no such call, or not one of the user's
    INVALID_STATE = "invalid_state"  # the call is not in a state that allows this
    UNAVAILABLE = "unavailable"  # a server-side dependency failed; try again
    BINARY_FRAME = "binary_frame"  # a binary WebSocket message: frames are JSON text
    TOO_MANY_IN_ROOM = "too_many_in_room"  # this user is in the room from as many connections as allowed


class CloseCode(IntEnum):
    """WebSocket close codes the server uses. Final ones tell a client not to reconnect by itself.

    daphne's WebSocket library (autobahn) lets a server send only 1000 and 3000-4999, so the
    standard 1001/1012/1013 are sent as 4000 + that code. Clients treat both forms alike.
    The browser's copy of the final ones is static/calls/js/protocol.js (a test compares them).
    """

    GOING_AWAY = 4001  # retryable (1001): this process is shutting down; reconnect elsewhere
    SLOW_READER = 4008  # retryable: the client read too slowly; too much was waiting for it
    SERVICE_RESTART = 4012  # retryable (1012): reconnect (and resume) now
    TRY_AGAIN_LATER = 4013  # retryable (1013): this process is full; back off
    UNAUTHENTICATED = 4401  # final: no logged-in user, or a bad/used ticket
    FORBIDDEN = 4403  # final: kicked by an administrator
    TIMEOUT = 4408  # retryable: silent for longer than the heartbeat window
    REPLACED = 4409  # final: the session was resumed on another connection
    ABUSE = 4429  # final: too many refused frames within the abuse window
    TOO_MANY_CONNECTIONS = 4430  # final: this user already has as many connections as allowed

    @property
    def retryable(self) -> bool:
        """The client is expected back (reconnect and resume), so its peer is kept for the resume window."""
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.SLOW_READER,
        CloseCode.SERVICE_RESTART,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.TIMEOUT,
    }
)


class ProtocolError(Exception):
    """A client frame was refused; becomes an `error` frame echoing the frame's id as `ref`."""

    def __init__(self, code: ErrorCode, message: str, ref: Ref = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


Ref = str | int | None


# ---------------------------------------------------------------------------
# Field checks
# ---------------------------------------------------------------------------
def _bad(message: str, ref: Ref) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_FRAME, message, ref)


def _ref(data: dict[str, Any]) -> Ref:
    ref = data.get("id")
    if ref is None:
        return None
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        raise _bad("id must be a string or an integer", None)
    if isinstance(ref, str) and len(ref) > MAX_REF_LENGTH:
        raise _bad(f"id is longer than {MAX_REF_LENGTH} characters", None)
    if isinstance(ref, int) and not -(2**53) < ref < 2**53:
        raise _bad("id is out of range", None)
    return ref


def _id_field(data: dict[str, Any], name: str, pattern: re.Pattern[str], ref: Ref, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _bad(f"{name} must be a string matching {pattern.pattern}", ref)
    return value


def room_id_valid(value: object) -> bool:
    """True for a well-formed room id (checked before any database or Redis work)."""
    return isinstance(value, str) and ROOM_ID_RE.fullmatch(value) is not None


def _description(payload: Any, kind: str, ref: Ref) -> dict[str, str]:
    if not isinstance(payload, dict) or set(payload) != {"type", "sdp"}:
        raise _bad(f'{kind} payload must be {{"type": "{kind}", "sdp": string}}', ref)
    if payload["type"] != kind:
        raise _bad(f'{kind} payload type must be "{kind}"', ref)
    sdp = payload["sdp"]
    if not isinstance(sdp, str) or not sdp or len(sdp) > MAX_SDP_LENGTH:
        raise _bad(f"sdp must be a non-empty string of at most {MAX_SDP_LENGTH} characters", ref)
    return payload


_CANDIDATE_KEYS = frozenset({"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"})


def _candidate(payload: Any, ref: Ref) -> dict[str, Any] | None:
    if payload is None:  # end of candidates
        return None
    if not isinstance(payload, dict) or "candidate" not in payload or not set(payload) <= _CANDIDATE_KEYS:
        raise _bad("candidate payload must be null or {candidate, sdpMid, sdpMLineIndex[, usernameFragment]}", ref)
    candidate = payload["candidate"]
    if not isinstance(candidate, str) or len(candidate) > MAX_CANDIDATE_LENGTH:
        raise _bad(f"candidate must be a string of at most {MAX_CANDIDATE_LENGTH} characters", ref)
    mid = payload.get("sdpMid")
    if mid is not None and (not isinstance(mid, str) or len(mid) > MAX_MID_LENGTH):
        raise _bad("sdpMid must be a short string or null", ref)
    index = payload.get("sdpMLineIndex")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 1024):
        raise _bad("sdpMLineIndex must be an integer from 0 to 1023 or null", ref)
    ufrag = payload.get("usernameFragment")
    if ufrag is not None and (not isinstance(ufrag, str) or len(ufrag) > 256):
        raise _bad("usernameFragment must be a short string or null", ref)
    return payload


# ---------------------------------------------------------------------------
# Client frames
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Frame:
    """Base of every client frame; `id` is echoed as `ref` in the reply."""

    type: ClassVar[str]
    id: Ref


@dataclass(frozen=True, slots=True)
class Join(Frame):
    """Enter a room: `{"type":"join","room":R}`."""

    type: ClassVar[str] = "join"
    room: str

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> Join:
        return cls(ref, _id_field(data, "room", ROOM_ID_RE, ref))


@dataclass(frozen=True, slots=True)
class Leave(Frame):
    """Leave a room: `{"type":"leave","room":R}`."""

    type: ClassVar[str] = "leave"
    room: str

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> Leave:
        return cls(ref, _id_field(data, "room", ROOM_ID_RE, ref))


@dataclass(frozen=True, slots=True)
class Relay(Frame):
    """Offer, answer or ICE candidate for one peer (`to`) or every other peer of the room."""

    kind: str
    room: str
    to: str | None
    payload: Any

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> Relay:
        kind = data["type"]
        room = _id_field(data, "room", ROOM_ID_RE, ref)
        to = _id_field(data, "to", PEER_ID_RE, ref, required=False)
        if "payload" not in data:
            raise _bad("payload is required", ref)
        payload = data["payload"]
        payload = _candidate(payload, ref) if kind == "candidate" else _description(payload, kind, ref)
        return cls(ref, kind, room, to, payload)


@dataclass(frozen=True, slots=True)
class Ping(Frame):
    """Keep-alive: `{"type":"ping"}` is answered with `pong`."""

    type: ClassVar[str] = "ping"

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> Ping:
        return cls(ref)


@dataclass(frozen=True, slots=True)
class PlaceCall(Frame):
    """Ring another user: `{"type":"call","user":"username"}`."""

    type: ClassVar[str] = "call"
    user: str

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> PlaceCall:
        user = data.get("user")
        if not isinstance(user, str) or not 0 < len(user) <= MAX_USERNAME_LENGTH:
            raise _bad("user must be a username", ref)
        return cls(ref, user)


@dataclass(frozen=True, slots=True)
class CallAction(Frame):
    """`accept`, `decline`, `cancel` or `hangup` of a call by its id."""

    action: str
    call: str

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> CallAction:
        call = data.get("call")
        if isinstance(call, int) and not isinstance(call, bool) and call > 0:
            call = str(call)
        if not isinstance(call, str) or not CALL_ID_RE.fullmatch(call):
            raise _bad("call must be a call id", ref)
        return cls(ref, data["type"], call)


RELAY_TYPES = ("offer", "answer", "candidate")
CALL_ACTIONS = ("accept", "decline", "cancel", "hangup")
CLIENT_FRAMES: dict[str, Any] = {
    "join": Join,
    "leave": Leave,
    "ping": Ping,
    "call": PlaceCall,
    **dict.fromkeys(RELAY_TYPES, Relay),
    **dict.fromkeys(CALL_ACTIONS, CallAction),
}


def decode(text: str | bytes) -> dict[str, Any]:
    """JSON text to a dict, or `bad_json`."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.BAD_JSON, "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "frame must be a JSON object")
    return data


def peek_ref(text: str | bytes) -> Ref:
    """The `id` of a frame refused before parsing (rate limit), or None if it has no valid one."""
    try:
        return _ref(decode(text))
    except ProtocolError:
        return None


def parse(text: str | bytes) -> Frame:
    """Parse and validate one client frame, raising `ProtocolError` with a code when it is refused."""
    data = decode(text)
    ref = _ref(data)
    kind = data.get("type")
    if not isinstance(kind, str):
        raise _bad("type must be a string", ref)
    frame_class = CLIENT_FRAMES.get(kind)
    if frame_class is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {kind[:40]!r}", ref)
    return frame_class.from_dict(data, ref)


# ---------------------------------------------------------------------------
# Server frames
# ---------------------------------------------------------------------------
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


def joined_frame(room: str, peer: str, peers: list[dict[str, Any]], ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "joined", "room": room, "peer": peer, "peers": peers}, ref)


def left_frame(room: str, ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "left", "room": room}, ref)


def peer_joined_frame(room: str, peer: str, user: dict[str, Any]) -> dict[str, Any]:
    return {"type": "peer-joined", "room": room, "peer": peer, "user": user}


class LeaveReason(StrEnum):
    LEAVE = "leave"
    DISCONNECT = "disconnect"
    TIMEOUT = "timeout"
    KICKED = "kicked"


def peer_left_frame(room: str, peer: str, reason: LeaveReason) -> dict[str, Any]:
    return {"type": "peer-left", "room": room, "peer": peer, "reason": str(reason)}


def relay_frame(kind: str, room: str, sender: str, user: dict[str, Any], payload: Any) -> dict[str, Any]:
    return {"type": kind, "room": room, "from": sender, "user": user, "payload": payload}


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
