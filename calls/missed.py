"""Missed calls a user has not seen yet: the count on the nav badge, the home page and `GET /api/me/`.

A call counts for its callee when it rang out (`missed`) or when the caller hung up while it
rang (`cancelled`: to the callee that is a missed call too), and it was placed after the
profile's `calls_seen_at`. Opening the call list, or `POST /api/me/calls-seen/`, moves that
moment to now. A profile that never saw its list counts every such call.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from calls.models import Call, Profile

MISSED_STATES = (Call.State.MISSED, Call.State.CANCELLED)


def missed_calls(user) -> QuerySet[Call]:
    """Every call `user` missed as the callee, seen or not."""
    return Call.objects.filter(callee=user, state__in=MISSED_STATES)


def unseen(user, since: datetime | None) -> QuerySet[Call]:
    """`user`'s missed calls placed after `since` (all of them when `since` is None)."""
    calls = missed_calls(user)
    return calls.filter(created_at__gt=since) if since is not None else calls


def _profile(user) -> Profile:
    """The user's profile, the instance cached on `user` when there is one (so a change shows at once)."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return Profile.for_user(user)


def unseen_count(user) -> int:
    """How many missed calls `user` has not seen: one COUNT query (plus the profile read)."""
    if not user.is_authenticated:
        return 0
    return unseen(user, _profile(user).calls_seen_at).count()


def mark_seen(user) -> datetime | None:
    """Everything missed so far is seen now; returns the moment seen before (None: never)."""
    profile = _profile(user)
    before = profile.calls_seen_at
    profile.calls_seen_at = timezone.now()
    profile.save(update_fields=["calls_seen_at"])
    return before
