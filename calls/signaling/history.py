"""Connection history in the database: PeerSession rows and first visits to meetings.

Rows that need not exist before a client is answered are written behind, in batches,
so a burst of connects and joins costs a few bulk INSERTs and the relay path never
waits on the database; the closes of a burst of departures go together too. `writes` is
this process's batcher; the node flushes it on drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from datetime import UTC, datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model
from django.db.models.constants import OnConflict
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
                _insert_new(model, rows)
        except IntegrityError:
            # A user or room deleted meanwhile: write the others one by one, skip those.
            for row in rows:
                with contextlib.suppress(IntegrityError), transaction.atomic():
                    _insert_new(model, [row])


def _insert_new(model: type[Model], rows: list[Model]) -> None:
    """`bulk_create(rows, ignore_conflicts=True)`, as one fixed statement run for every row (executemany).

    The ORM's bulk_create formats every value of every row into one statement, which cost
    a storm of connects more than the database's work; the statement and values are those
    it would send, conflicts ignored as the database backend says (`OR IGNORE`, `ON CONFLICT`).
    """
    if not rows:
        return
    fields, sql = _insert_sql(model)
    values = [[field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


@functools.cache
def _insert_sql(model: type[Model]) -> tuple[list[Field], str]:
    """The fields a new row is written with (all but the primary key) and its INSERT ignoring conflicts."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    ops, quote = connection.ops, connection.ops.quote_name
    parts = (
        ops.insert_statement(on_conflict=OnConflict.IGNORE),
        f"{quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)})",
        f"VALUES ({', '.join(['%s'] * len(fields))})",
        ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None),
    )
    return fields, " ".join(part for part in parts if part)


def _close_sessions(closings: list[tuple[str, str, list[str]]]) -> list[None]:
    """Close peers' open rows, (peer, reason, rooms) each, in one transaction of two fixed statements.

    With no rooms the row keeps those it was written with. A row already closed is left as it is.
    """
    field = PeerSession._meta.get_field
    closed_at = field("closed_at").get_db_prep_save(timezone.now(), connection)
    plain, with_rooms = [], []
    for peer, reason, room_ids in closings:
        if room_ids:
            with_rooms.append(
                [closed_at, reason[:32], field("rooms").get_db_prep_save(sorted(room_ids), connection), peer]
            )
        else:
            plain.append([closed_at, reason[:32], peer])
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, rows in ((_close_sql(False), plain), (_close_sql(True), with_rooms)):
            if rows:
                cursor.executemany(sql, rows)
    return [None] * len(closings)


@functools.cache
def _close_sql(rooms: bool) -> str:
    """Set a peer's open row closed (names from the model's metadata formatted in; values are parameters)."""
    quote, meta = connection.ops.quote_name, PeerSession._meta
    column = {name: quote(meta.get_field(name).column) for name in ("closed_at", "close_reason", "rooms", "peer")}
    changes = f"{column['closed_at']} = %s, {column['close_reason']} = %s" + (
        f", {column['rooms']} = %s" if rooms else ""
    )
    return f"UPDATE {quote(meta.db_table)} SET {changes} WHERE {column['peer']} = %s AND {column['closed_at']} IS NULL"  # noqa: S608


# The departures of a burst (a storm of closes, a process's peers reaped) close their rows together.
_closings = database.Batched(_close_sessions)


async def close_session(peer: str, reason: str, room_ids: list[str]) -> None:
    await _closings((peer, reason, room_ids))


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
