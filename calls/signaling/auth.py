"""Who is on the other end of a WebSocket: Origin check, then session cookie or one-time ticket."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from calls.signaling import tickets


@database_sync_to_async
def _load_user(user_id: int):
    try:
        return get_user_model().objects.select_related("profile").get(pk=user_id, is_active=True)
    except get_user_model().DoesNotExist:
        return AnonymousUser()


def header(scope, name: bytes) -> str | None:
    """A request header of an ASGI scope (lower-case name), decoded; None when absent."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class SignalingAuthStack:
    """Authenticates a WebSocket handshake.

    - With an `Origin` header, it must match ALLOWED_HOSTS (else the handshake is refused
      with 403), and the user comes from the session cookie.
    - With `?ticket=T`, the user comes from the one-time ticket (non-browser clients);
      no Origin is needed and cookies are ignored.
    - Without either, the handshake is refused.
    An unknown, expired or used ticket leaves the user anonymous; the consumer closes 4401.
    """

    def __init__(self, inner) -> None:
        self.cookie_app = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))
        self.inner = inner

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ticket = (query.get("ticket") or [None])[0]
        if ticket is None:
            if header(scope, b"origin") is None:
                return await WebsocketDenier()(scope, receive, send)
            return await self.cookie_app(scope, receive, send)
        if header(scope, b"origin") is not None:
            # A browser presenting a ticket must still come from one of our origins.
            validator = AllowedHostsOriginValidator(self.inner)
            if not validator.valid_origin(_parse_origin(scope)):
                return await WebsocketDenier()(scope, receive, send)
        user_id = await tickets.redeem(ticket)
        user = await _load_user(user_id) if user_id is not None else AnonymousUser()
        headers = [(k, v) for k, v in scope.get("headers", ()) if k != b"cookie"]
        return await self.inner({**scope, "headers": headers, "user": user, "auth": "ticket"}, receive, send)


def _parse_origin(scope):
    value = header(scope, b"origin")
    return urlparse(value) if value else None
