"""Client addresses: which proxies are trusted, and who is really on the other end."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


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
    from the right so a client cannot prepend a forged address. Each hop was written by
    the machine to its right, so when every hop is trusted (a request from a proxy's own
    host, or from a client inside a trusted range) the answer is the right-most hop: the
    address our direct peer saw. The left-most value is never taken then, because anyone
    inside a trusted range could have written it.
    """
    if not is_trusted_proxy(peer) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted_proxy(hop):
            return hop
    return hops[-1] if hops else peer
