"""Signal handlers: every user gets a Profile; a user's WebSockets close when their sessions end.

A user who logs out, whose password changes (the change form, a reset, the admin,
`changepassword`, any `set_password` + `save`) or who is deactivated has every open
signaling connection closed (4403), as the admin's "disconnect user" does. The password
and `is_active` are compared with the stored row on save rather than by wrapping the
views, so no path that changes them is missed.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from calls.models import Profile
from calls.signaling import departures, presence_reads

log = logging.getLogger(__name__)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def create_profile(sender, instance, created: bool, **kwargs) -> None:
    if created:
        Profile.objects.get_or_create(user=instance)


def disconnect_user(user_id: int, why: str) -> int:
    """Close every live connection of `user_id` (4403); how many were closed.

    Presence lives in Redis: when it is unreachable the sockets cannot be found (and the
    processes close them anyway on losing Redis), so the failure is logged, not raised
    into the login, password or admin view that caused it.
    """
    try:
        closed = sum(async_to_sync(departures.kick)(peer) for peer in presence_reads.user_peers(user_id))
    except Exception:
        log.exception("could not close the connections of user %s (%s)", user_id, why)
        return 0
    if closed:
        log.info("closed %d connection(s) of user %s: %s", closed, user_id, why)
    return closed


@receiver(user_logged_out)
def close_on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        disconnect_user(user.pk, "logged out")


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def close_on_password_change_or_deactivation(sender, instance, raw: bool = False, update_fields=None, **kwargs) -> None:
    """After the save commits, close the user's connections if the password changed or the user was deactivated."""
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. a login writing last_login: no extra query
    stored = get_user_model().objects.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is None:
        return
    if stored["password"] != instance.password:
        why = "password changed"
    elif stored["is_active"] and not instance.is_active:
        why = "deactivated"
    else:
        return
    user_id = instance.pk
    transaction.on_commit(lambda: disconnect_user(user_id, why), robust=True)
