"""Short-lived TURN credentials in coturn's "TURN REST API" scheme (use-auth-secret).

    username = "<expiry unix time>:<opaque user key>"
    password = base64(HMAC-SHA1(secret, username))

coturn recomputes the password from the username with its static-auth-secret and refuses
the username once its time has passed, so the secret never leaves the server and a leaked
credential expires by itself. The first of TURN_SECRETS signs; every listed secret is
accepted here and in coturn, so a secret can be rotated without breaking live calls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.crypto import constant_time_compare


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    ttl: int
    expires_at: int  # unix time


def sign(secret: str, username: str) -> str:
    """coturn's password for `username` under `secret`."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TurnCredentialGenerator:
    """Makes and checks TURN credentials; the clock is its own method so tests can move it."""

    def _now(self) -> float:
        return time.time()

    def _secrets(self) -> list[str]:
        return list(settings.TURN_SECRETS)

    def make_credentials(self, user_key: str, ttl: int | None = None) -> Credentials:
        """Credentials for the user with this opaque key, valid for `ttl` seconds (TURN_TTL)."""
        secrets_ = self._secrets()
        if not secrets_:
            raise RuntimeError("TURN_SECRETS is not configured")
        if not user_key or ":" in user_key:
            raise ValueError("the user key must be non-empty and contain no ':'")
        ttl = settings.TURN_TTL if ttl is None else ttl
        expires_at = int(self._now()) + ttl
        username = f"{expires_at}:{user_key}"
        return Credentials(username, sign(secrets_[0], username), ttl, expires_at)

    def check(self, username: str, password: str) -> bool:
        """True when any listed secret signed `username` as `password` and it has not expired."""
        expiry, _, user_key = username.partition(":")
        if not expiry.isdigit() or not user_key or int(expiry) <= self._now():
            return False
        return any(constant_time_compare(sign(secret, username), password) for secret in self._secrets())


generator = TurnCredentialGenerator()


def configured() -> bool:
    return bool(settings.TURN_URLS and settings.TURN_SECRETS)


def ice_config(user) -> dict[str, Any]:
    """What a client needs for RTCPeerConnection: fresh credentials and `iceServers` built from them.

    `iceServers` can be handed to `new RTCPeerConnection({iceServers})` as it is: TURN with
    the credentials first, then STUN. Without TURN configured, credentials are null and the
    list holds STUN only (or nothing: host candidates still work on one network).
    """
    from calls.models import Profile

    body: dict[str, Any] = {
        "username": None,
        "password": None,
        "ttl": None,
        "expires_at": None,
        "uris": list(settings.TURN_URLS),
        "iceServers": [],
        "iceTransportPolicy": settings.ICE_TRANSPORT_POLICY,
    }
    if configured():
        credentials = generator.make_credentials(Profile.for_user(user).turn_key)
        body.update(
            username=credentials.username,
            password=credentials.password,
            ttl=credentials.ttl,
            expires_at=datetime.fromtimestamp(credentials.expires_at, UTC).isoformat(),
        )
        body["iceServers"].append(
            {"urls": list(settings.TURN_URLS), "username": credentials.username, "credential": credentials.password}
        )
    if settings.STUN_URLS:
        body["iceServers"].append({"urls": list(settings.STUN_URLS)})
    return body


def ice_servers(user) -> list[dict[str, Any]]:
    """Just the `iceServers` list (rendered into the call page)."""
    return ice_config(user)["iceServers"]
