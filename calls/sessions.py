"""Session cookies' users, with their profiles, in two statements: the WebSocket connect's lookup.

Django's `get_user` runs three ORM queries for it (the session, the user, then the profile
for how frames show them), and building those querysets cost a connect more than running
them. `session_users` reads the same rows with two statements, for any number of keys (a
burst of connects asks for many at once), in the case that is nearly every connect:
database sessions, Django's ModelBackend, an active user and a session hash made with
SECRET_KEY or one of SECRET_KEY_FALLBACKS. It decides as `get_user` does and writes
nothing: a session of a fallback key is accepted as it stands and rotated by the next HTTP
request, which can set the new cookie (a WebSocket cannot). Any other case (no such
session, another backend, an inactive user, a hash that matches no key) is left out, and
the caller asks Django's `get_user`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from calls.models import Profile

DATABASE_SESSIONS = "django.contrib.sessions.backends.db"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def applies() -> bool:
    """The site keeps sessions in the database and signs people in with ModelBackend."""
    return settings.SESSION_ENGINE == DATABASE_SESSIONS and MODEL_BACKEND in settings.AUTHENTICATION_BACKENDS


def session_user(session_key: str):
    """The active user of a valid database session, their profile loaded; None: ask Django's `get_user`."""
    return session_users([session_key]).get(session_key)


def session_users(session_keys: Iterable[str]) -> dict[str, Any]:
    """`session_user` for many keys in the same two statements; the keys left out are for `get_user`.

    Keys of one user's sessions (several tabs, or devices) share one user instance.
    """
    store = SessionStore()
    keys = sorted({key for key in session_keys if store._validate_session_key(key)})
    if not keys:
        return {}
    wanted: dict[str, tuple[Any, str]] = {}  # session key -> (user id, session hash)
    with connection.cursor() as cursor:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        cursor.execute(_session_sql() + _placeholders(len(keys)), [now, *keys])
        for key, raw in cursor.fetchall():
            data = store.decode(raw)
            if data.get(BACKEND_SESSION_KEY) != MODEL_BACKEND or not data.get(HASH_SESSION_KEY):
                continue
            try:
                wanted[key] = (get_user_model()._meta.pk.to_python(data[SESSION_KEY]), data[HASH_SESSION_KEY])
            except (KeyError, ValidationError):
                continue
        if not wanted:
            return {}
        ids = sorted({user_id for user_id, _ in wanted.values()})
        cursor.execute(_user_sql() + _placeholders(len(ids)), ids)
        users = {user.pk: user for user in map(_user_of, cursor.fetchall())}
    found = {}
    for key, (user_id, session_hash) in wanted.items():
        user = users.get(user_id)
        if user is not None and getattr(user, "is_active", True) and _hash_matches(session_hash, user):
            found[key] = user
    return found


def _user_of(row: tuple):
    """A user from a row of `_user_sql`, their profile (or its absence) cached on them."""
    user_columns, profile_columns = _columns()
    values = _converted(row, user_columns + profile_columns)
    user = get_user_model().from_db(connection.alias, [c.attname for c in user_columns], values[: len(user_columns)])
    profile = values[len(user_columns) :]
    if profile[0] is not None:
        profile = Profile.from_db(connection.alias, [c.attname for c in profile_columns], profile)
    else:
        profile = None  # cached as absent, so `user.profile` raises DoesNotExist without asking again
    Profile._meta.get_field("user").remote_field.set_cached_value(user, profile)
    return user


def _placeholders(count: int) -> str:
    return f"({', '.join(['%s'] * count)})"


def _hash_matches(session_hash: str, user) -> bool:
    """The session's hash is the user's under SECRET_KEY or a fallback key (what `get_user` accepts)."""
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(constant_time_compare(session_hash, fallback) for fallback in user.get_session_auth_fallback_hash())


class _Column:
    """A selected field and the converters the ORM would run on its value (SQLite's text datetimes, 0/1 booleans)."""

    def __init__(self, field) -> None:
        self.attname = field.attname
        self.expression = field.get_col(field.model._meta.db_table)
        self.converters = connection.ops.get_db_converters(self.expression) + self.expression.get_db_converters(
            connection
        )


def _converted(row: tuple, columns: list[_Column]) -> list:
    values = list(row)
    for i, column in enumerate(columns):
        for converter in column.converters:
            values[i] = converter(values[i], column.expression, connection)
    return values


@functools.cache
def _columns() -> tuple[list[_Column], list[_Column]]:
    """The user's and the profile's concrete fields, in model order (as `from_db` wants them)."""
    return (
        [_Column(f) for f in get_user_model()._meta.concrete_fields],
        [_Column(f) for f in Profile._meta.concrete_fields],
    )


@functools.cache
def _session_sql() -> str:
    """Unexpired sessions' keys and data, the keys' placeholders to follow (names from the models' metadata)."""
    quote, meta = connection.ops.quote_name, SessionStore.get_model_class()._meta
    data, key, expires = (quote(meta.get_field(name).column) for name in ("session_data", "session_key", "expire_date"))
    return f"SELECT {key}, {data} FROM {quote(meta.db_table)} WHERE {expires} > %s AND {key} IN "  # noqa: S608


@functools.cache
def _user_sql() -> str:
    """Users' rows and their profiles' (NULLs when they have none), the ids' placeholders to follow."""
    quote = connection.ops.quote_name
    user_meta, profile_meta = get_user_model()._meta, Profile._meta
    columns = [f"u.{quote(f.column)}" for f in user_meta.concrete_fields]
    columns += [f"p.{quote(f.column)}" for f in profile_meta.concrete_fields]
    link = quote(Profile._meta.get_field("user").column)
    return (
        f"SELECT {', '.join(columns)} FROM {quote(user_meta.db_table)} u "  # noqa: S608
        f"LEFT JOIN {quote(profile_meta.db_table)} p ON p.{link} = u.{quote(user_meta.pk.column)} "
        f"WHERE u.{quote(user_meta.pk.column)} IN "
    )
