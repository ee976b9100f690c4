"""Template context every page needs from the signed-in user's profile."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest

from calls.models import Profile


def chosen_theme(request: HttpRequest) -> str:
    """ "light" or "dark" when the signed-in user chose one, "" to follow the system.

    Reads `request.user.profile`, which base.html loads anyway for the display name: the
    related object is cached on the user, so a page pays for it once."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    try:
        chosen = user.profile.theme
    except ObjectDoesNotExist:
        return ""
    return chosen if chosen in (Profile.Theme.LIGHT, Profile.Theme.DARK) else ""


def theme(request: HttpRequest) -> dict[str, Callable[[], str]]:
    """`theme` for base.html; a callable, so pages that never show it (the admin) never look it up."""
    return {"theme": lambda: chosen_theme(request)}
