"""Connection state: the decisions a closing or silent connection depends on, without a socket."""

from __future__ import annotations

import pytest

from calls.signaling.connection import Connection, Lifecycle
from calls.signaling.protocol import CloseCode, LeaveReason
from calls.signaling.ratelimit import TokenBucket


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(mono: Clock | None = None, wall: Clock | None = None) -> Connection:
    return Connection("chan.1", "c1", TokenBucket(10, 5), clock=mono or Clock(), wall_clock=wall or Clock(5e8))


@pytest.mark.parametrize(
    ("code", "by_client", "at_once"),
    [
        (1000, True, True),  # the tab closed the socket: leave now
        (1001, True, True),  # navigated away
        (1006, True, False),  # dropped: keep the peer for resume
        (4001, True, False),  # a client echoing a server code is still a drop
        (CloseCode.GOING_AWAY, False, False),  # draining: resume elsewhere
        (CloseCode.SERVICE_RESTART, False, False),
        (CloseCode.TRY_AGAIN_LATER, False, False),
        (CloseCode.TIMEOUT, False, False),
        (CloseCode.FORBIDDEN, False, True),  # kicked
        (CloseCode.REPLACED, False, True),
        (CloseCode.ABUSE, False, True),
        (CloseCode.UNAUTHENTICATED, False, True),
        (1000, False, True),  # a server close with a code it does not know is final
    ],
)
def test_which_closes_end_the_peer_at_once(code, by_client, at_once):
    assert Connection.leaves_at_once(code, by_client) is at_once


def test_close_and_cleanup_happen_once():
    conn = make()
    conn.opened("peer1", "token")
    assert conn.serving
    assert conn.begin_close() is True
    assert conn.begin_close() is False  # a second close (timeout racing a kick) does nothing
    assert not conn.serving
    assert conn.finish() is True
    assert conn.finish() is False
    assert conn.lifecycle is Lifecycle.CLOSED


def test_a_connection_is_not_serving_before_it_has_a_peer():
    conn = make()
    assert conn.lifecycle is Lifecycle.CONNECTING and not conn.serving


def test_silence_is_measured_from_the_last_frame():
    mono = Clock(100.0)
    conn = make(mono)
    mono.now = 190.0
    assert conn.silent_since(150.0)
    conn.heard()
    assert not conn.silent_since(150.0)


def test_last_seen_is_handed_to_presence_once_per_change():
    wall = Clock(5e8)
    conn = make(wall=wall)
    assert conn.take_last_seen() is None  # no peer yet
    conn.opened("peer1", "token")
    assert conn.take_last_seen() is None  # nothing heard since it was recorded
    wall.now += 3
    assert conn.heard() == wall.now
    assert conn.take_last_seen() == wall.now
    assert conn.take_last_seen() is None


def test_what_the_others_are_told():
    conn = make()
    assert conn.departure_reason(CloseCode.TIMEOUT) is LeaveReason.TIMEOUT
    assert conn.departure_reason(1000) is LeaveReason.DISCONNECT
    conn.leave_reason = LeaveReason.KICKED
    assert conn.departure_reason(CloseCode.FORBIDDEN) is LeaveReason.KICKED


def test_refusals_within_the_window_cross_the_abuse_limit_whatever_came_between():
    mono = Clock(100.0)
    conn = make(mono)
    assert [conn.refused(limit=2, window=60) for _ in range(3)] == [False, False, True]
    slow = make(mono)
    outcomes = []
    for _ in range(5):  # one refusal every 40 s: never three within a minute
        outcomes.append(slow.refused(limit=2, window=60))
        mono.now += 40
    assert outcomes == [False] * 5
