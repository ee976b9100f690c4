"""The per-connection token bucket, on an injected clock."""

import pytest

from calls.signaling.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]


def test_refills_at_rate_and_caps_at_burst():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    for _ in range(5):
        bucket.take()
    clock.now += 0.25  # 2.5 tokens
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now += 100
    assert sum(bucket.take() for _ in range(20)) == 5


def test_sustained_rate():
    clock = Clock()
    bucket = TokenBucket(rate=50, burst=1, clock=clock)
    allowed = 0
    for _ in range(1000):  # 10 seconds at 100 attempts per second
        clock.now += 0.01
        allowed += bucket.take()
    assert 495 <= allowed <= 505


def test_rejects_nonsense():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0)
