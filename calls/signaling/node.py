"""This daphne process as a node of the cluster.

Every process renews a lease in Redis, watches its own connections' heartbeats, and
reaps for everyone: peers of processes whose lease expired, and detached peers whose
resume window closed, get their `peer-left` from whichever live process sees them first.
It also notices a Redis restart (its lease vanished) or outage and then closes its
sockets with 1012 so clients reconnect, resume and renegotiate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import redis.exceptions
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.models import PeerSession, Room
from calls.signaling import direct, metrics, presence, protocol, rooms

if TYPE_CHECKING:
    from calls.signaling.consumer import SignalingConsumer

logger = logging.getLogger("calls.node")

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


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

    def open_session(self, session: PeerSession) -> None:
        self.sessions[session.peer] = session
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
                await database_sync_to_async(_write_rows)(sessions, memberships)
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


class Node:
    """Process-wide state: the local connections and the maintenance loop."""

    def __init__(self) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.name = os.environ.get("RTCSITE_NODE_NAME", socket.gethostname())
        self.connections: dict[str, SignalingConsumer] = {}
        self.draining = False
        self.writes = WriteBehind()
        self._task: asyncio.Task | None = None
        self._had_lease = False
        self._ticks = 0
        self._redis_down = False

    # -- lifecycle ---------------------------------------------------------
    def ensure_started(self) -> None:
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name="rtc-node")
            self._install_drain(loop)

    def _install_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On SIGTERM, drain first (clients told to reconnect elsewhere), then let the server stop."""
        if threading.current_thread() is not threading.main_thread() or getattr(self, "_drain_installed", False):
            return
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            loop.call_soon_threadsafe(lambda: loop.create_task(self.drain_and_stop(previous)))

        signal.signal(signal.SIGTERM, on_term)
        self._drain_installed = True

    async def drain_and_stop(self, previous) -> None:
        if self.draining:
            return
        await self.drain(settings.SIGNALING_DRAIN_TIMEOUT)
        if callable(previous):
            previous(signal.SIGTERM, None)
        else:
            raise SystemExit(0)

    async def drain(self, timeout: float) -> None:
        """Refuse new connections, send `reconnect` and close 4001 (peers kept for resume), drop the lease."""
        self.draining = True
        count = len(self.connections)
        logger.info("draining", extra={"connections": count})
        frame = protocol.encode(protocol.reconnect_frame("draining"))

        async def one(consumer: SignalingConsumer) -> None:
            with contextlib.suppress(Exception):
                await consumer.send(text_data=frame)
            await consumer.server_close(protocol.CloseCode.GOING_AWAY)

        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(one(c) for c in list(self.connections.values())), return_exceptions=True)
        except TimeoutError:
            logger.warning("drain timed out", extra={"left": len(self.connections)})
        with contextlib.suppress(*REDIS_ERRORS):
            await presence.forget_node(self.id, settings.SIGNALING_NODE_TTL)
        await self.writes.flush()
        metrics.process_exiting()
        logger.info("drained", extra={"connections": count})

    @property
    def interval(self) -> float:
        return max(0.5, settings.SIGNALING_NODE_TTL / 4)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("node maintenance failed")
            await asyncio.sleep(self.interval)

    def info(self) -> dict[str, str]:
        return {"name": self.name, "host": socket.gethostname(), "pid": str(os.getpid()), "started": str(_STARTED)}

    async def tick(self) -> None:
        """One maintenance round: lease, Redis-restart watch, last_seen, heartbeats, reaping."""
        if self.draining:
            return
        try:
            existed = await presence.renew_node(self.id, self.info(), settings.SIGNALING_NODE_TTL)
        except REDIS_ERRORS as exc:
            if not self._redis_down:
                logger.warning("redis unreachable", extra={"error": str(exc)})
            self._redis_down = True
            return
        lost = self._redis_down or (self._had_lease and not existed)
        self._had_lease, self._redis_down = True, False
        if lost:
            logger.warning("redis came back; asking %d clients to reconnect", len(self.connections))
            await self.close_all(protocol.CloseCode.SERVICE_RESTART)
            # Drop the channel layer's pub/sub connections too: they may still be the dead
            # ones, and every local subscription belonged to a connection just closed.
            await get_channel_layer().flush()
        await self.check_heartbeats()
        await presence.touch(self.collect_last_seen())
        await self.reap()
        await direct.sweep_ringing()
        self._ticks += 1
        if self._ticks % 4 == 0:  # a database query: not every tick
            await direct.sweep_abandoned()

    # -- local connections ---------------------------------------------------
    def register(self, consumer: SignalingConsumer) -> None:
        self.connections[consumer.channel_name] = consumer

    def unregister(self, consumer: SignalingConsumer) -> None:
        self.connections.pop(consumer.channel_name, None)

    def collect_last_seen(self) -> dict[str, float]:
        seen = {}
        for consumer in self.connections.values():
            if consumer.peer and consumer.last_seen_wall > consumer.last_seen_written:
                seen[consumer.peer] = consumer.last_seen_wall
                consumer.last_seen_written = consumer.last_seen_wall
        return seen

    async def check_heartbeats(self) -> None:
        limit = time.monotonic() - settings.SIGNALING_HEARTBEAT
        for consumer in list(self.connections.values()):
            if consumer.last_frame < limit:
                await consumer.server_close(protocol.CloseCode.TIMEOUT)

    async def close_all(self, code: int) -> None:
        consumers = list(self.connections.values())
        results = await asyncio.gather(*(consumer.server_close(code) for consumer in consumers), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                logger.error("closing a connection failed", exc_info=result)

    # -- reaping ---------------------------------------------------------------
    async def reap(self) -> None:
        ttl = settings.SIGNALING_NODE_TTL
        grace = settings.SIGNALING_RESUME_GRACE
        for node, deadline in await presence.dead_nodes_with_deadlines():
            if node != self.id:
                # The process last renewed at deadline - ttl; its clients get the resume window from then.
                count = await presence.reap_node(node, deadline - ttl + grace)
                if count:
                    logger.info("reaped dead node", extra={"node": node, "peers": count})
        for peer in await presence.expired_detached():
            await remove_and_announce(peer, None)


async def remove_and_announce(peer: str, reason: protocol.LeaveReason | None, conn: str = "") -> list[str]:
    """Remove `peer` everywhere and tell its rooms (only the caller that removed it announces)."""
    result = await presence.remove(peer, conn)
    if result is None:
        return []
    stored_reason, room_ids = result
    reason = reason or protocol.LeaveReason(stored_reason or "disconnect")
    await announce_left(peer, room_ids, reason)
    if not node.writes.close_pending(peer, str(reason), room_ids):
        await close_session(peer, str(reason), room_ids)
    return room_ids


async def kick(peer: str) -> bool:
    """Disconnect a peer for an administrator: its socket closes 4403, its rooms see `kicked`.

    A peer with a live connection is told through its peer group (whichever process holds
    it); a detached one is removed here. False when no such peer exists.
    """
    conn = await presence.connection_of(peer)
    if conn is None:
        return False
    if conn:
        await get_channel_layer().group_send(rooms.peer_group(peer), {"type": "peer.kick"})
    else:
        await remove_and_announce(peer, protocol.LeaveReason.KICKED)
    return True


async def announce_left(peer: str, room_ids: list[str], reason: protocol.LeaveReason) -> None:
    layer = get_channel_layer()
    for room_id in room_ids:
        metrics.LEAVES.labels(str(reason)).inc()
        text = protocol.encode(protocol.peer_left_frame(room_id, peer, reason))
        await layer.group_send(rooms.group(room_id), {"type": "peer.left", "room": room_id, "peer": peer, "text": text})


@database_sync_to_async
def close_session(peer: str, reason: str, room_ids: list[str]) -> None:
    sessions = PeerSession.objects.filter(peer=peer, closed_at=None)
    changes: dict[str, Any] = {"closed_at": timezone.now(), "close_reason": reason[:32]}
    if room_ids:
        changes["rooms"] = sorted(room_ids)
    sessions.update(**changes)


_STARTED = int(time.time())
node = Node()


class NodeLifecycle:
    """ASGI wrapper that starts this process's node loop with the first connection or request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        node.ensure_started()
        return await self.app(scope, receive, send)
