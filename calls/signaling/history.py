"""Connection history in the database: PeerSession rows and first visits to meetings.

Rows that need not exist before a client is answered are written behind, in batches,
so a burst of connects and joins costs a few bulk INSERTs and the relay path never
waits on the database. `writes` is this process's batcher; the node flushes it on drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.models import PeerSession, Room
from calls.signaling import database
from calls.signaling.database import on_database_thread

logger = logging.getLogger("calls.history")


class WriteBehind:
    """Rows that need not exist before a client is answered, written in batches.

    A burst of connections and joins then costs a few bulk INSERTs instead of one
    transaction each (which SQLite would serialize), and the relay path never waits.
    """

    INTERVAL = 0.5

    def __init__(self) -> None:
        self.sessions: dict[str, PeerSession] = {}
        self.memberships: set[tuple[str, int]] = set()
        self._task: asyncio.Task | None = None

    def open_session(self, peer: str, user_id: int, node: str, ip: str, user_agent: str) -> None:
        self.sessions[peer] = PeerSession(
            peer=peer, user_id=user_id, node=node, ip=ip or None, user_agent=user_agent[:400]
        )
        self._wake()

    def admit(self, room_id: str, user_id: int) -> None:
        self.memberships.add((room_id, user_id))
        self._wake()

    def close_pending(self, peer: str, reason: str, room_ids: list[str]) -> bool:
        """Close a session not yet written (it is then written closed); False if none is pending."""
        session = self.sessions.get(peer)
        if session is None:
            return False
        session.closed_at, session.close_reason = timezone.now(), reason[:32]
        session.rooms = sorted(room_ids) or session.rooms
        return True

    def _wake(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.INTERVAL)
        await self.flush()

    async def flush(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        memberships, self.memberships = self.memberships, set()
        if sessions or memberships:
            try:
                await database.run(_write_rows, sessions, memberships)
            except Exception:
                logger.exception("writing connection history failed", extra={"rows": len(sessions)})


def _write_rows(sessions: list[PeerSession], memberships: set[tuple[str, int]]) -> None:
    through = Room.members.through
    for model, rows in (
        (PeerSession, sessions),
        (through, [through(room_id=room_id, user_id=user_id) for room_id, user_id in memberships]),
    ):
        try:
            with transaction.atomic():
                model.objects.bulk_create(rows, ignore_conflicts=True)
        except IntegrityError:
            # A user or room deleted meanwhile: write the others one by one, skip those.
            for row in rows:
                with contextlib.suppress(IntegrityError), transaction.atomic():
                    model.objects.bulk_create([row], ignore_conflicts=True)


@on_database_thread
def close_session(peer: str, reason: str, room_ids: list[str]) -> None:
    sessions = PeerSession.objects.filter(peer=peer, closed_at=None)
    changes: dict[str, Any] = {"closed_at": timezone.now(), "close_reason": reason[:32]}
    if room_ids:
        changes["rooms"] = sorted(room_ids)
    sessions.update(**changes)


@on_database_thread
def recover_sessions(records: list[dict[str, str]]) -> int:
    """Write the rows a killed process had not written yet (its batch died with it); returns how many.

    `records` are its peers as presence kept them (`presence.peers_of_node`). Rows that
    exist are left alone; the peers' departures then close the recovered rows as usual.
    """
    written = set(PeerSession.objects.filter(peer__in=[r["peer"] for r in records]).values_list("peer", flat=True))
    rows = [
        PeerSession(
            peer=r["peer"],
            user_id=int(r["uid"]),
            node=r["node"],
            opened_at=datetime.fromtimestamp(float(r["connected_at"]), tz=UTC) if r["connected_at"] else timezone.now(),
            ip=r["ip"] or None,
            user_agent=r["ua"][:400],
        )
        for r in records
        if r["peer"] not in written
    ]
    _write_rows(rows, set())
    return len(rows)


async def session_closed(peer: str, reason: str, room_ids: list[str]) -> None:
    """Record the end of a peer's connection, whether or not its row was written yet."""
    if not writes.close_pending(peer, reason, room_ids):
        await close_session(peer, reason, room_ids)


writes = WriteBehind()
