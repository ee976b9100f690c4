"""What rtcsite stores in the database: profiles, rooms, calls and connection history.

Live state (who is connected, who is in which room right now) lives in Redis
(`calls.presence`, `calls.rooms`); the database holds what must outlast a process.
"""

from __future__ import annotations

import functools
import secrets
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from calls.signaling import protocol


def new_room_id() -> str:
    """128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def new_turn_key() -> str:
    """An opaque per-user key for TURN usernames; says nothing about who the user is."""
    return secrets.token_hex(12)


class Profile(models.Model):
    """Per-user settings that Django's User does not have."""

    class CallsFrom(models.TextChoices):
        EVERYONE = "everyone", _("Everyone")
        NOBODY = "nobody", _("Nobody")

    class Theme(models.TextChoices):
        SYSTEM = "system", _("Same as the system")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(max_length=80, blank=True)
    turn_key = models.CharField(max_length=32, unique=True, default=new_turn_key, editable=False)
    calls_from = models.CharField(max_length=16, choices=CallsFrom.choices, default=CallsFrom.EVERYONE)
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    # A language code from settings.LANGUAGES; empty: the browser's (Accept-Language).
    language = models.CharField(max_length=8, blank=True)
    # Missed calls after this moment are new to the user (counted until they open their call list).
    calls_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()

    @classmethod
    def for_user(cls, user) -> Profile:
        profile, _ = cls.objects.get_or_create(user=user)
        return profile


def display_name(user) -> str:
    """The name shown for `user`: the profile's display name, else the username."""
    try:
        return user.profile.display_name or user.get_username()
    except Profile.DoesNotExist:
        return user.get_username()


def accepting_calls_from(caller, users) -> set[int]:
    """Ids of `users` who take calls from `caller`: the rule for ringing them and for showing them online.

    Someone who takes calls from nobody, or who blocked the caller, is neither rung nor seen online.
    """
    blocking = set(Block.objects.filter(user__in=users, blocked=caller).values_list("user_id", flat=True))
    return {user.pk for user in users if user.pk not in blocking and _calls_from(user) != Profile.CallsFrom.NOBODY}


def _calls_from(user) -> str:
    try:
        return user.profile.calls_from
    except Profile.DoesNotExist:
        return Profile.CallsFrom.EVERYONE


def user_info(user) -> dict[str, Any]:
    """What a user looks like in frames and in the call page's configuration."""
    return protocol.user_info(user.pk, user.get_username(), display_name(user))


class Block(models.Model):
    """`user` does not accept calls from `blocked`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "blocked"], name="unique_block")]

    def __str__(self) -> str:
        return f"{self.user} blocks {self.blocked}"


def default_max_peers() -> int:
    return settings.ROOM_MAX_PEERS


class Room(models.Model):
    """A place peers meet. Its id is the unguessable part of the link."""

    class Kind(models.TextChoices):
        MEETING = "meeting", _("Meeting (anyone with the link)")
        DIRECT = "direct", _("Direct call (listed participants only)")

    id = models.CharField(primary_key=True, max_length=128, default=new_room_id, editable=False)
    name = models.CharField(max_length=120)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_rooms")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MEETING)
    locked = models.BooleanField(default=False, help_text=_("Only the owner and admitted users may join."))
    max_peers = models.PositiveSmallIntegerField(default=default_max_peers)
    # For direct rooms: the participants. For meetings: users admitted so far (they may
    # come back after the room is locked).
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="rooms", blank=True)
    # Users the owner removed from a meeting: refused until the owner lets them in again.
    removed = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="rooms_removed_from", blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    class Admission(NamedTuple):
        allowed: bool
        member: bool  # owner or admitted before; a first visit to a meeting is recorded as membership
        removed: bool = False  # refused because the owner removed this user (until let in)

    def admission(self, user) -> Admission:
        """May `user` enter? The one rule for the call page, the API and the WebSocket.

        Anyone with the link may enter an open meeting. A direct room admits only its two
        participants, a locked meeting only its owner and the users admitted before it was locked.
        Nobody the owner removed enters, whatever else holds, until the owner lets them in.
        """
        if self.owner_id == user.pk:
            return self.Admission(True, True)
        known = getattr(self, "admission_for", None) == user.pk  # read by `for_admission`
        removed = self.admission_removed if known else self.removed.filter(pk=user.pk).exists()
        if removed:
            return self.Admission(False, False, removed=True)
        member = self.admission_member if known else self.members.filter(pk=user.pk).exists()
        allowed = member or (self.kind == self.Kind.MEETING and not self.locked)
        return self.Admission(allowed, member)

    @classmethod
    def for_admission(cls, user, room_id: str) -> Room | None:
        """The room with what `admission(user)` needs, so deciding costs no further query; None if none.

        The WebSocket asks on every `join`: one prepared statement (`_admission_sql`) instead
        of an annotated queryset, whose building took more of a join's time than the query.
        """
        with connection.cursor() as cursor:
            cursor.execute(_admission_sql(), [user.pk, user.pk, room_id])
            row = cursor.fetchone()
        if row is None:
            return None
        *values, member, removed = row
        room = cls.from_db(connection.alias, _ADMISSION_FIELDS, values)
        room.locked = bool(room.locked)  # SQLite answers 0 or 1
        room.admission_for, room.admission_member, room.admission_removed = user.pk, bool(member), bool(removed)
        return room

    @property
    def moderator_id(self) -> int | None:
        """Who may remove people and lower their hands: a meeting's owner; nobody in a direct call."""
        return self.owner_id if self.kind == self.Kind.MEETING else None


# The fields `for_admission` reads, in the model's field order (as `from_db` wants them).
_ADMISSION_FIELDS = ("id", "owner_id", "kind", "locked", "max_peers")


@functools.cache
def _admission_sql() -> str:
    """SELECT the admission fields of a room, and whether a user is among its members and its removed users.

    Only table and column names from the models' metadata are formatted in, quoted; every value is a parameter.
    """
    quote = connection.ops.quote_name

    def among(relation) -> str:
        field = relation.field
        table, room, user = field.m2m_db_table(), field.m2m_column_name(), field.m2m_reverse_name()
        where = f"m.{quote(room)} = r.{quote('id')} AND m.{quote(user)} = %s"
        return f"EXISTS (SELECT 1 FROM {quote(table)} m WHERE {where})"  # noqa: S608

    columns = ", ".join(f"r.{quote(Room._meta.get_field(name).column)}" for name in _ADMISSION_FIELDS)
    return (
        f"SELECT {columns}, {among(Room.members)}, {among(Room.removed)} "  # noqa: S608
        f"FROM {quote(Room._meta.db_table)} r WHERE r.{quote('id')} = %s"
    )


class Call(models.Model):
    """A direct call from one user to another, and how it went."""

    class State(models.TextChoices):
        RINGING = "ringing", _("Ringing")
        ACCEPTED = "accepted", _("Accepted")
        ENDED = "ended", _("Ended")
        DECLINED = "declined", _("Declined")
        MISSED = "missed", _("Missed")
        CANCELLED = "cancelled", _("Cancelled")
        BUSY = "busy", _("Busy")

    FINAL_STATES = frozenset({State.ENDED, State.DECLINED, State.MISSED, State.CANCELLED, State.BUSY})

    caller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calls_made")
    callee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calls_received")
    room = models.ForeignKey(Room, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RINGING, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.caller} → {self.callee} ({self.state})"

    @property
    def duration(self):
        """Talk time of an answered call (None when it was never answered or is still going)."""
        if self.answered_at and self.ended_at:
            return self.ended_at - self.answered_at
        return None


class PeerSession(models.Model):
    """One signaling connection, from open to close. Written on connect and on close only."""

    peer = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="peer_sessions")
    node = models.CharField(max_length=200)
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=32, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    rooms = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"{self.peer} ({self.user})"


class ActivePeer(models.Model):
    """No table: gives the live "Active peers" admin page (read from Redis) its place and permissions."""

    class Meta:
        managed = False
        verbose_name = _("active peer")
        verbose_name_plural = _("active peers")
        default_permissions = ("view",)
        permissions = [("disconnect_peer", "Can disconnect live peers")]

    def __str__(self) -> str:
        return "active peer"
