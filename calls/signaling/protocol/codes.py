"""The protocol's version, its error codes, close codes and leave reasons, and `ProtocolError`."""

from __future__ import annotations

from enum import IntEnum, StrEnum

VERSION = 1

Ref = str | int | None


class ErrorCode(StrEnum):
    """Codes of `error` frames. Each is documented in docs/protocol.md."""

    BAD_JSON = "bad_json"  # the text is not JSON, or not a JSON object
    BAD_FRAME = "bad_frame"  # a field is missing, of the wrong type or out of range
    UNKNOWN_TYPE = "unknown_type"  # no such frame type
    TOO_LARGE = "too_large"  # the frame is longer than `max_frame` bytes
    RATE_LIMITED = "rate_limited"  # more frames (or chat messages) than the rate limit allows
    NOT_IN_ROOM = "not_in_room"  # the sender has not joined that room
    UNKNOWN_PEER = "unknown_peer"  # `to` (or `peer`) names no peer of that room
    ROOM_NOT_FOUND = "room_not_found"  # no room has that id
    FORBIDDEN = "forbidden"  # the user may not do this (room locked, removed, not the owner, blocked)
    ROOM_FULL = "room_full"  # the room already has `max_peers` peers
    TOO_MANY_ROOMS = "too_many_rooms"  # this connection is in as many rooms as allowed
    USER_NOT_FOUND = "user_not_found"  # no such user to call (or to let in)
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


class LeaveReason(StrEnum):
    """`peer-left.reason`: why a peer is no longer in the room."""

    LEAVE = "leave"
    DISCONNECT = "disconnect"
    TIMEOUT = "timeout"
    KICKED = "kicked"
    REMOVED = "removed"  # the room's owner removed it (`remove`)


class ProtocolError(Exception):
    """A client frame was refused; becomes an `error` frame echoing the frame's id as `ref`."""

    def __init__(self, code: ErrorCode, message: str, ref: Ref = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
