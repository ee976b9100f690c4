"""Who is on the other end of a WebSocket: Origin check, then session cookie or one-time ticket."""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from calls import sessions
from calls.models import user_info
from calls.net import is_trusted_proxy
from calls.signaling import tickets
from calls.signaling.database import Batched, on_database_thread

_DEFAULT_PORTS = {"http": 80, "https": 443}


@on_database_thread
def _load_user(user_id: int) -> tuple[Any, dict[str, Any] | None]:
    """A ticket's user and how frames show it (one trip to the database thread)."""
    try:
        user = get_user_model().objects.select_related("profile").get(pk=user_id, is_active=True)
    except get_user_model().DoesNotExist:
        return AnonymousUser(), None
    return user, user_info(user)


def _session_users(session_keys: list[str]) -> list[tuple[Any, dict[str, Any] | None]]:
    """Session cookies' users and how frames show them, one answer per key (on the database thread).

    Django's own `get_user` decides (backend, active user, the session hash, with
    SECRET_KEY_FALLBACKS), as for an HTTP request, except in the common case that
    `calls.sessions` answers with the same rows, two statements for all the keys.
    """
    found = sessions.session_users(session_keys) if sessions.applies() else {}
    answers: dict[str, tuple[Any, dict[str, Any] | None]] = {}
    for key in session_keys:
        if key not in answers:
            user = found.get(key)
            if user is None:
                user = get_user(SimpleNamespace(session=import_module(settings.SESSION_ENGINE).SessionStore(key)))
            answers[key] = (user, user_info(user)) if user.is_authenticated else (user, None)
    return [answers[key] for key in session_keys]


# The connects of a burst look their sessions up together (calls.signaling.database.Batched).
_session_lookups = Batched(_session_users)


async def _session_user(session_key: str | None) -> tuple[Any, dict[str, Any] | None]:
    """A session cookie's user and how frames show them."""
    return await _session_lookups(session_key) if session_key else (AnonymousUser(), None)


def header(scope, name: bytes) -> str | None:
    """A request header of an ASGI scope (lower-case name), decoded; None when absent."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class SignalingAuthStack:
    """Authenticates a WebSocket handshake.

    - With an `Origin` header, it must be one of the site's origins, scheme, host and port
      (`valid_origin`; else the handshake is refused with 403), and the user comes from
      the session cookie.
    - With `?ticket=T`, the user comes from the one-time ticket (non-browser clients);
      no Origin is needed and cookies are ignored.
    - Without either, the handshake is refused.
    An unknown, expired or used ticket leaves the user anonymous; the consumer closes 4401.
    The user is added to the scope, not to a copy (see calls.signaling.asgi).
    """

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ticket = (query.get("ticket") or [None])[0]
        if ticket is None:
            if not valid_origin(scope):
                return await WebsocketDenier()(scope, receive, send)
            cookies = parse_cookie(header(scope, b"cookie") or "")
            scope["user"], scope["user_info"] = await _session_user(cookies.get(settings.SESSION_COOKIE_NAME))
            return await self.inner(scope, receive, send)
        if header(scope, b"origin") is not None and not valid_origin(scope):
            # A browser presenting a ticket must still come from one of our origins.
            return await WebsocketDenier()(scope, receive, send)
        user_id = await tickets.redeem(ticket)
        user, info = await _load_user(user_id) if user_id is not None else (AnonymousUser(), None)
        scope["headers"] = [(k, v) for k, v in scope.get("headers", ()) if k != b"cookie"]
        scope.update(user=user, user_info=info, auth="ticket")
        return await self.inner(scope, receive, send)


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, the default port filled in; None if it is not one."""
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def request_origin(scope) -> tuple[str, str, int] | None:
    """The origin the client addressed: its `Host` (one of ALLOWED_HOSTS) and scheme.

    The scheme is the connection's own, or `X-Forwarded-Proto` when the direct peer is a
    trusted proxy (nginx terminating TLS), as the HTTP middleware decides.
    """
    host = header(scope, b"host")
    if not host or not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    client = scope.get("client") or (None,)
    forwarded = header(scope, b"x-forwarded-proto")
    if forwarded and is_trusted_proxy(client[0]):
        scheme = forwarded.split(",")[0].strip().lower()
    return _origin(f"{scheme}://{host}")


def valid_origin(scope) -> bool:
    """True when `Origin` is the site's own origin or one of CSRF_TRUSTED_ORIGINS (scheme, host and port)."""
    value = header(scope, b"origin")
    origin = _origin(value) if value else None
    if origin is None:
        return False
    if origin == request_origin(scope):
        return True
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:  # Django's form: https://*.example.com matches its subdomains
            parts = urlsplit(trusted.lower())
            if parts.scheme == origin[0] and is_same_domain(urlsplit(value.lower()).netloc, parts.netloc[1:]):
                return True
        elif _origin(trusted) == origin:
            return True
    return False
