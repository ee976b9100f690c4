"""HTTP middleware: proxy headers trusted only from configured proxies, and request ids."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

from rtcsite.logging import context_id, new_id


@lru_cache(maxsize=8)
def _networks(raw: tuple[str, ...]) -> tuple[ipaddress._BaseNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in raw)


def address_in(address: str | None, networks: list[str]) -> bool:
    """True when `address` is in one of `networks` (IPs or CIDR ranges)."""
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(networks)))


def is_trusted_proxy(address: str | None) -> bool:
    """True when `address` is one of the TRUSTED_PROXIES."""
    return address_in(address, settings.TRUSTED_PROXIES)


def client_address(peer: str | None, forwarded_for: str | None) -> str | None:
    """The client's address: the peer itself, or the nearest untrusted X-Forwarded-For hop.

    X-Forwarded-For is only believed when the direct peer is a trusted proxy, and is read
    from the right so a client cannot prepend a forged address.
    """
    if not is_trusted_proxy(peer) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else peer


class ProxyHeadersMiddleware:
    """Rewrites REMOTE_ADDR from X-Forwarded-For and keeps X-Forwarded-Proto, only behind a trusted proxy.

    From anyone else both headers are dropped, so SECURE_PROXY_SSL_HEADER cannot be spoofed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        peer = request.META.get("REMOTE_ADDR")
        if is_trusted_proxy(peer):
            request.META["RTCSITE_VIA_PROXY"] = True
            request.META["REMOTE_ADDR"] = client_address(peer, request.META.get("HTTP_X_FORWARDED_FOR"))
        else:
            request.META.pop("HTTP_X_FORWARDED_FOR", None)
            request.META.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)


class RequestIdMiddleware:
    """Gives each request an id (or keeps a trusted proxy's X-Request-ID) for logs and the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = request.META.get("HTTP_X_REQUEST_ID") if request.META.get("RTCSITE_VIA_PROXY") else None
        request.id = (rid or new_id())[:64]
        token = context_id.set(request.id)
        try:
            response = self.get_response(request)
        finally:
            context_id.reset(token)
        response["X-Request-ID"] = request.id
        return response
