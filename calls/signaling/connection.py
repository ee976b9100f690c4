"""One signaling connection's state, and the decisions that depend on nothing else.

The consumer owns the socket and exactly one `Connection`. The process registry
(`calls.signaling.node`) and its sweeps see a connection only through `LocalConnection`:
its state and two coroutines. Nothing here performs I/O.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from calls.signaling.protocol import CloseCode, LeaveReason
from calls.signaling.ratelimit import TokenBucket

# Client close codes after which the peer leaves at once instead of waiting to be resumed.
CLEAN_CLIENT_CLOSE = frozenset({1000, 1001})
_RETRYABLE_CODES = frozenset(int(code) for code in CloseCode if code.retryable)


class Lifecycle(Enum):
    CONNECTING = "connecting"  # handshake in progress: no peer yet
    OPEN = "open"  # has a peer, registered with this process, serving frames
    CLOSING = "closing"  # the close is decided; frames and events are ignored from now on
    CLOSED = "closed"  # cleaned up: its peer left, was detached for resume, or was taken over


@dataclass(slots=True, eq=False)
class Connection:
    """What the server knows of one WebSocket: who, which peer, which rooms, how alive."""

    channel: str  # the channel-layer name of this connection
    id: str  # log correlation id
    bucket: TokenBucket
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    lifecycle: Lifecycle = Lifecycle.CONNECTING
    user_id: int | None = None
    user: dict[str, Any] = field(default_factory=dict)  # the user as frames show it (protocol.user_info)
    user_json: str = ""  # the same, encoded once for Redis
    ip: str = ""
    user_agent: str = ""
    peer: str | None = None
    resume_token: str = ""
    # room -> {peer: user} of the *other* peers: the relay path checks `to` against it,
    # kept current by `joined` and the peer-joined/peer-left events.
    rooms: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # room -> the user id of who moderates it (None: nobody), learned at join: owner checks need no query.
    owners: dict[str, int | None] = field(default_factory=dict)
    chat_bucket: TokenBucket | None = None  # chat messages have their own, slower rate limit
    taken_over: bool = False  # another connection resumed this peer: leave it alone on close
    writable: bool = True  # False once a write found the transport closed (the client went first)
    groups: set[str] = field(default_factory=set)  # channel-layer groups joined, left when it ends
    leave_reason: LeaveReason | None = None  # why the server closed it, for the others' peer-left
    refusals: deque[float] | None = None  # when the latest refused frames were refused
    last_frame: float = 0.0  # monotonic, for the heartbeat check
    last_seen: float = 0.0  # wall clock, for presence
    last_seen_written: float = 0.0

    def __post_init__(self) -> None:
        self.last_frame = self.clock()
        self.last_seen = self.last_seen_written = self.wall_clock()

    # -- liveness -----------------------------------------------------------------
    def heard(self) -> float:
        """A frame arrived; returns its wall-clock arrival time (carried to measure relay latency)."""
        self.last_frame = self.clock()
        self.last_seen = self.wall_clock()
        return self.last_seen

    def silent_since(self, limit: float) -> bool:
        """Nothing heard since monotonic time `limit`."""
        return self.last_frame < limit

    def take_last_seen(self) -> float | None:
        """The last-seen time not yet written to presence, once."""
        if self.peer is None or self.last_seen <= self.last_seen_written:
            return None
        self.last_seen_written = self.last_seen
        return self.last_seen

    def forget(self, room: str) -> dict[str, dict[str, Any]] | None:
        """This connection is out of `room`: its view of the room's peers, or None if it was not in it."""
        self.owners.pop(room, None)
        return self.rooms.pop(room, None)

    # -- lifecycle ------------------------------------------------------------------
    @property
    def serving(self) -> bool:
        return self.lifecycle is Lifecycle.OPEN

    def opened(self, peer: str, resume_token: str) -> None:
        self.peer, self.resume_token = peer, resume_token
        self.lifecycle = Lifecycle.OPEN

    def begin_close(self) -> bool:
        """Mark the connection closing; False when it already was (close and cleanup happen once)."""
        if self.lifecycle in (Lifecycle.CLOSING, Lifecycle.CLOSED):
            return False
        self.lifecycle = Lifecycle.CLOSING
        return True

    def finish(self) -> bool:
        """Mark it cleaned up; False when it already was."""
        if self.lifecycle is Lifecycle.CLOSED:
            return False
        self.lifecycle = Lifecycle.CLOSED
        return True

    @staticmethod
    def leaves_at_once(code: int, by_client: bool) -> bool:
        """Does this close end the peer now, or keep it for the resume window?

        A client's clean close (1000/1001) and the server's final codes end it; a drop
        (1006, …) and the server's retryable codes keep it so the client can resume.
        """
        if by_client:
            return code in CLEAN_CLIENT_CLOSE
        return code not in _RETRYABLE_CODES

    def departure_reason(self, code: int) -> LeaveReason:
        """What the others are told when this connection's peer goes."""
        if self.leave_reason is not None:
            return self.leave_reason
        return LeaveReason.TIMEOUT if code == CloseCode.TIMEOUT else LeaveReason.DISCONNECT

    def refused(self, limit: int, window: float) -> bool:
        """Count a refused frame; True when more than `limit` were refused within `window` seconds.

        Valid frames in between do not reset the count, so an abuser cannot stay connected
        by mixing in a ping now and then.
        """
        if self.refusals is None:
            self.refusals = deque(maxlen=limit + 1)
        now = self.clock()
        self.refusals.append(now)
        return len(self.refusals) > limit and now - self.refusals[0] <= window


class LocalConnection(Protocol):
    """A connection held by this process, as the registry and the sweeps see it."""

    conn: Connection

    async def send_text(self, text: str) -> None:
        """Write an encoded frame to the socket."""

    async def server_close(self, code: CloseCode, reason: LeaveReason | None = None) -> None:
        """Close from the server side and clean up (once)."""
