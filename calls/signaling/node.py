"""This daphne process as a node of the cluster: lease, local connections, drain, periodic jobs.

Every few seconds the node renews its lease in Redis, closes its connections that went
silent, writes their last-seen times, and runs the jobs registered with `add_job`
(reaping, call sweeps: `calls.signaling.sweeps`). It notices a Redis restart (its lease
vanished) or outage and then closes its sockets with 4012 so clients reconnect, resume
and renegotiate. On SIGTERM it drains: it stops listening, then tells clients to reconnect elsewhere.

It knows connections only as `LocalConnection`s (state + send + close), never the consumer.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from calls.signaling import history, listening, metrics, presence, protocol
from calls.signaling.connection import LocalConnection
from calls.signaling.store import REDIS_ERRORS

logger = logging.getLogger("calls.node")

_STARTED = int(time.time())


@dataclass(frozen=True, slots=True)
class Job:
    """Periodic work any live process may do (every `every` ticks); one failing job spares the others."""

    name: str
    run: Callable[[], Awaitable[object]]
    every: int = 1


class Node:
    """Process-wide state: the local connections, the lease and the maintenance loop."""

    RETRY = 0.25  # seconds between ticks while Redis does not answer

    def __init__(self) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.name = os.environ.get("RTCSITE_NODE_NAME", socket.gethostname())
        self.connections: dict[str, LocalConnection] = {}
        self.jobs: dict[str, Job] = {}
        self.draining = False
        self._task: asyncio.Task | None = None
        self._drain_installed = False
        self._had_lease = False
        self._redis_down = False
        self._ticks = 0
        self._renewed_at: float | None = None  # monotonic time of the last lease renewal
        self._gauge_child: tuple[str, Any] | None = None

    # -- local connections ----------------------------------------------------------
    def register(self, handle: LocalConnection) -> None:
        if handle.conn.channel not in self.connections:
            self.connections[handle.conn.channel] = handle
            self._gauge().inc()

    def unregister(self, handle: LocalConnection) -> None:
        if self.connections.pop(handle.conn.channel, None) is not None:
            self._gauge().dec()

    def _gauge(self):
        """This process's child of the connections gauge, looked up once per name."""
        if self._gauge_child is None or self._gauge_child[0] != self.name:
            self._gauge_child = (self.name, metrics.CONNECTIONS.labels(self.name))
        return self._gauge_child[1]

    def full(self) -> bool:
        """Refuse new connections: draining, or at SIGNALING_MAX_CONNECTIONS."""
        cap = settings.SIGNALING_MAX_CONNECTIONS
        return self.draining or bool(cap and len(self.connections) >= cap)

    def collect_last_seen(self) -> dict[str, float]:
        seen = {}
        for handle in self.connections.values():
            when = handle.conn.take_last_seen()
            if when is not None:
                seen[handle.conn.peer] = when
        return seen

    async def check_heartbeats(self) -> None:
        limit = time.monotonic() - settings.SIGNALING_HEARTBEAT
        silent = [h for h in self.connections.values() if h.conn.silent_since(limit)]
        await self._close(silent, protocol.CloseCode.TIMEOUT)

    async def close_all(self, code: protocol.CloseCode) -> None:
        await self._close(list(self.connections.values()), code)

    async def _close(self, handles: list[LocalConnection], code: protocol.CloseCode) -> None:
        results = await asyncio.gather(*(h.server_close(code) for h in handles), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                logger.error("closing a connection failed", exc_info=result)

    # -- jobs and the maintenance loop ------------------------------------------------
    def add_job(self, name: str, run: Callable[[], Awaitable[object]], every: int = 1) -> None:
        """Run `run()` every `every` ticks (a tick is SIGNALING_NODE_TTL / 4 seconds)."""
        self.jobs[name] = Job(name, run, every)

    @property
    def interval(self) -> float:
        return max(0.5, settings.SIGNALING_NODE_TTL / 4)

    def ensure_started(self) -> None:
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name="rtc-node")
            self._install_drain(loop)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("node maintenance failed")
            if self._redis_down:
                # Redis is away (or our pooled connection to it died in a restart): try again
                # soon, so clients are sent back (4012) as soon as it answers, not a tick later.
                due = loop.time() + min(self.interval, self.RETRY)
            else:
                # At a fixed rate: a slow tick (a long sweep) does not push the next renewal back.
                due = max(due + self.interval, loop.time())
            await asyncio.sleep(due - loop.time())

    def info(self) -> dict[str, str]:
        return {"name": self.name, "host": socket.gethostname(), "pid": str(os.getpid()), "started": str(_STARTED)}

    async def tick(self) -> None:
        """One maintenance round: lease, Redis-restart watch, heartbeats, last_seen, then the jobs."""
        if self.draining:
            return
        try:
            existed = await presence.renew_node(self.id, self.info(), settings.SIGNALING_NODE_TTL)
        except REDIS_ERRORS as exc:
            if not self._redis_down:
                logger.warning("redis unreachable", extra={"error": str(exc)})
            self._redis_down = True
            return
        self._note_renewal()
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
        for job in list(self.jobs.values()):
            if self._ticks % job.every == 0:
                try:
                    await job.run()
                except Exception:
                    logger.exception("periodic job failed", extra={"job": job.name})
        self._ticks += 1

    def _note_renewal(self) -> None:
        """Warn when renewals come late: a lease that runs out on a live process gets its peers reaped."""
        now = time.monotonic()
        gap, self._renewed_at = (now - self._renewed_at if self._renewed_at is not None else 0.0), now
        if gap > settings.SIGNALING_NODE_TTL / 2:
            logger.warning("lease renewed late", extra={"gap": round(gap, 2), "ttl": settings.SIGNALING_NODE_TTL})

    # -- draining -----------------------------------------------------------------------
    def _install_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On SIGTERM, drain first (clients told to reconnect elsewhere), then let the server stop."""
        if threading.current_thread() is not threading.main_thread() or self._drain_installed:
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
        """Stop listening, send `reconnect` and close 4001 (peers kept for resume), drop the lease."""
        self.draining = True
        count = len(self.connections)
        logger.info("draining", extra={"connections": count, "sockets_closed": await listening.stop_listening()})
        text = protocol.encode(protocol.reconnect_frame("draining"))

        async def one(handle: LocalConnection) -> None:
            with contextlib.suppress(Exception):
                await handle.send_text(text)
            await handle.server_close(protocol.CloseCode.GOING_AWAY)

        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(one(h) for h in list(self.connections.values())), return_exceptions=True)
        except TimeoutError:
            logger.warning("drain timed out", extra={"left": len(self.connections)})
        with contextlib.suppress(*REDIS_ERRORS):
            await presence.forget_node(self.id, settings.SIGNALING_NODE_TTL)
        await history.writes.flush()
        metrics.process_exiting()
        logger.info("drained", extra={"connections": count})


node = Node()
