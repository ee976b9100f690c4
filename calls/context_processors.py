"""Template context every page needs from the signed-in user's profile."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest

from calls.models import Profile


def theme(request: HttpRequest) -> dict[str, str]:
    """`theme`: "light" or "dark" when the user chose one, "" to follow the system.

    Reads `request.user.profile`, which base.html loads anyway for the display name: the
    related object is cached on the user, so this adds no query to a page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": ""}
    try:
        chosen = user.profile.theme
    except ObjectDoesNotExist:
        return {"theme": ""}
    return {"theme": chosen if chosen in (Profile.Theme.LIGHT, Profile.Theme.DARK) else ""}
