"""One-time WebSocket tickets for clients that cannot send the session cookie.

`POST /api/ws-ticket/` issues one; `/ws/signal/?ticket=T` redeems it. A ticket lives
30 seconds and works once (GETDEL), so a leaked URL is worthless after use.
"""

from __future__ import annotations

import secrets

from calls.signaling import keys, store

TICKET_TTL = 30


def issue(user_id: int) -> str:
    ticket = secrets.token_urlsafe(24)
    store.get_sync().set(keys.ticket(ticket), str(user_id), ex=TICKET_TTL)
    return ticket


async def redeem(ticket: str) -> int | None:
    """The user id the ticket was issued to, once; None when unknown, expired or used."""
    if not ticket or len(ticket) > 64:
        return None
    value = await store.get_async().getdel(keys.ticket(ticket))
    return int(value) if value is not None else None
