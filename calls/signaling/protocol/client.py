"""Client frames: one frozen dataclass per type, validated by `parse()`.

`parse()` raises `ProtocolError` with a code for anything malformed, before any database
or Redis work. Server-set fields (`from`, `user`, `ts`, `msg`) are never read from a client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from calls.signaling.protocol.codes import ErrorCode, ProtocolError, Ref

ROOM_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
PEER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
CALL_ID_RE = re.compile(r"[0-9]{1,19}")
MAX_REF_LENGTH = 64
MAX_SDP_LENGTH = 60_000
MAX_CANDIDATE_LENGTH = 1_024
MAX_MID_LENGTH = 64
MAX_USERNAME_LENGTH = 150
MAX_CHAT_LENGTH = 2_000  # characters (Unicode code points) of one chat message
MEDIA_KINDS = ("audio", "video", "screen")


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


def _flag(data: dict[str, Any], name: str, ref: Ref) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise _bad(f"{name} must be true or false", ref)
    return value


def _media(value: Any, ref: Ref) -> dict[str, bool]:
    """`{"audio": bool, "video": bool, "screen": bool}`: what a peer sends, exactly these three."""
    if not isinstance(value, dict) or set(value) != set(MEDIA_KINDS):
        raise _bad('media must be {"audio": bool, "video": bool, "screen": bool}', ref)
    return {kind: _flag(value, kind, ref) for kind in MEDIA_KINDS}


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
    """Enter a room: `{"type":"join","room":R}`, optionally with what this peer sends (`media`)."""

    type: ClassVar[str] = "join"
    room: str
    media: dict[str, bool] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> Join:
        room = _id_field(data, "room", ROOM_ID_RE, ref)
        media = data.get("media")
        return cls(ref, room, _media(media, ref) if media is not None else None)


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


@dataclass(frozen=True, slots=True)
class Chat(Frame):
    """A chat message to everyone in the room: `{"type":"chat","room":R,"text":T}`."""

    type: ClassVar[str] = "chat"
    room: str
    text: str

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> Chat:
        room = _id_field(data, "room", ROOM_ID_RE, ref)
        text = data.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_CHAT_LENGTH:
            raise _bad(f"text must be a string of 1 to {MAX_CHAT_LENGTH} characters", ref)
        if not text.strip():
            raise _bad("text must not be only whitespace", ref)
        return cls(ref, room, text)


@dataclass(frozen=True, slots=True)
class Media(Frame):
    """What this peer sends now: `{"type":"media","room":R,"audio":bool,"video":bool,"screen":bool}`."""

    type: ClassVar[str] = "media"
    room: str
    state: dict[str, bool]

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> Media:
        room = _id_field(data, "room", ROOM_ID_RE, ref)
        return cls(ref, room, {kind: _flag(data, kind, ref) for kind in MEDIA_KINDS})


@dataclass(frozen=True, slots=True)
class Hand(Frame):
    """Raise or lower one's hand; the owner may lower another's (`peer`)."""

    type: ClassVar[str] = "hand"
    room: str
    raised: bool
    peer: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> Hand:
        room = _id_field(data, "room", ROOM_ID_RE, ref)
        return cls(ref, room, _flag(data, "raised", ref), _id_field(data, "peer", PEER_ID_RE, ref, required=False))


@dataclass(frozen=True, slots=True)
class Remove(Frame):
    """The owner removes a peer's user from the room: `{"type":"remove","room":R,"peer":P}`."""

    type: ClassVar[str] = "remove"
    room: str
    peer: str

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> Remove:
        return cls(ref, _id_field(data, "room", ROOM_ID_RE, ref), _id_field(data, "peer", PEER_ID_RE, ref))


@dataclass(frozen=True, slots=True)
class LetIn(Frame):
    """The owner lets a removed user back in: `{"type":"let-in","room":R,"user":<user id>}`."""

    type: ClassVar[str] = "let-in"
    room: str
    user: int

    @classmethod
    def from_dict(cls, data: dict[str, Any], ref: Ref) -> LetIn:
        room = _id_field(data, "room", ROOM_ID_RE, ref)
        user = data.get("user")
        if isinstance(user, str) and CALL_ID_RE.fullmatch(user):
            user = int(user)  # a data-* attribute's digits are accepted too
        if isinstance(user, bool) or not isinstance(user, int) or not 0 < user < 2**63:
            raise _bad("user must be a user id", ref)
        return cls(ref, room, user)


ROOM_FRAMES = (Chat, Media, Hand, Remove, LetIn)
RELAY_TYPES = ("offer", "answer", "candidate")
CALL_ACTIONS = ("accept", "decline", "cancel", "hangup")
CLIENT_FRAMES: dict[str, Any] = {
    "join": Join,
    "leave": Leave,
    "ping": Ping,
    "call": PlaceCall,
    **{frame.type: frame for frame in ROOM_FRAMES},
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


def oversized(text: str, limit: int) -> bool:
    """The frame is longer than `limit` bytes (encoded only when its characters could make it so)."""
    return len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit)


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
