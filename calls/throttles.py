"""Rate limits: one rule (DRF's sliding window over the shared cache) for the API, the pages and sign-in.

Every rate is in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (DRF's "N/second|minute|hour|day"),
so the room form counts against the same per-user `writes` budget as `POST /api/rooms/`,
and the call page against the same `turn` budget as `/api/turn-credentials/`.
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from rest_framework import permissions
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle, UserRateThrottle


class WriteThrottle(ScopedRateThrottle):
    """Per-user throttle on writes only (rate: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["writes"])."""

    scope_attr = "throttle_scope"

    def allow_request(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return super().allow_request(request, view)


class TurnThrottle(UserRateThrottle):
    """Per user; rate REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["turn"] (TURN_THROTTLE_RATE)."""

    scope = "turn"


def wait_for(throttle: SimpleRateThrottle, request, scope: str | None = None) -> int | None:
    """For a Django view: None if `throttle` lets `request` through (and counts it), else whole seconds to wait."""
    if throttle.allow_request(request, SimpleNamespace(throttle_scope=scope)):
        return None
    return max(1, int(throttle.wait() or 1))


class KeyThrottle(SimpleRateThrottle):
    """The rate of `scope` applied to any key (a client address, an account, an e-mail address).

    Unlike the API throttles, checking and counting are separate, so sign-in can count only
    failures while refusing, before any password check, once they reached the rate.
    """

    def __init__(self, scope: str, key: str) -> None:
        self.scope = scope
        super().__init__()
        digest = hashlib.sha256(key.strip().lower().encode()).hexdigest()[:32]
        self.key = self.cache_format % {"scope": scope, "ident": digest}

    def get_cache_key(self, request, view) -> str:
        return self.key

    def exceeded(self) -> bool:
        """True when the rate is used up (nothing is counted)."""
        if self.rate is None:
            return False
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        return len(self.history) >= self.num_requests

    def record(self) -> None:
        """Count one event now."""
        if self.rate is not None:
            self.exceeded()
            self.throttle_success()

    def retry_after(self) -> int:
        """Whole seconds until the oldest counted event leaves the window."""
        if self.rate is None or not self.exceeded():
            return 0
        return max(1, int(self.history[-1] + self.duration - self.now))
