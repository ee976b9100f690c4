"""Redis connections for the channel layer's hot path: asyncio protocols fed by hiredis.

redis-py reads each reply through a chain of coroutines (client, retry, connection, parser,
stream) and channels-redis waits for every pub/sub message with its own timeout; at a few
thousand frames a second that machinery cost more than the frames. Here a connection is an
`asyncio.Protocol`: bytes from Redis go into a hiredis reader in `data_received`, and each
complete reply is handled there and then, with no task, await or timer per message.

- `Commands` pipelines commands: each is written at once (the writes of one turn of the
  event loop go out together) and its future is resolved when its reply comes back; Redis
  answers a connection's commands in order.
- `calls.signaling.subscriber` holds a connection in pub/sub mode on the same footing.

redis-py still opens each connection (URLs, unix sockets, TLS, passwords, Sentinel), so
every configuration the rest of the site uses works here; then the transport is taken over.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import hiredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("calls.signaling")

# Seconds a command may wait for its reply before the connection is given up (redis-py's
# socket_timeout for the rest of the site's Redis traffic, calls.signaling.store).
REPLY_TIMEOUT = 5.0


def command(*parts: bytes) -> bytes:
    """One command in RESP, as Redis reads it."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def publish(channel: bytes, message: bytes) -> bytes:
    """`command(b"PUBLISH", channel, message)`, in one formatting step (it is packed once per frame)."""
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(message), message)


async def open_stream(pool: ConnectionPool) -> asyncio.StreamWriter:
    """A connected, authenticated stream to the pool's Redis (or its Sentinel master), speaking RESP2.

    The caller takes its transport over and keeps the writer: asyncio closes the transport of
    a writer that is garbage-collected.
    """
    conn: AbstractConnection = pool.connection_class(**{**pool.connection_kwargs, "protocol": 2})
    await conn.connect()
    writer = conn._writer
    conn._reader = conn._writer = None  # ours now: redis-py neither reads nor closes it
    return writer


class RedisProtocol(asyncio.Protocol):
    """What both kinds of connection share: a transport, a hiredis reader, a closed flag."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.stream: asyncio.StreamWriter | None = None
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.closed = asyncio.get_running_loop().create_future()

    def take(self, stream: asyncio.StreamWriter) -> None:
        self.stream, self.transport = stream, stream.transport
        self.transport.set_protocol(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(exc)


_Future = asyncio.Future
Waiter = asyncio.Future | Callable[[Exception], None]


def _fail(waiter: Waiter, error: Exception) -> None:
    if waiter.__class__ is not _Future:
        try:
            waiter(error)
        except Exception:
            logger.exception("a failure callback failed")
    elif not waiter.done():
        waiter.set_exception(error)


class _CommandsProtocol(RedisProtocol):
    def __init__(self) -> None:
        super().__init__()
        self.waiting: deque[Waiter] = deque()
        self.out: list[bytes] = []
        self.replied_at = 0.0  # when the oldest waiting command last saw progress

    def data_received(self, data: bytes) -> None:
        reader, waiting = self.reader, self.waiting
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            waiter = waiting.popleft()
            if isinstance(reply, ResponseError):
                if str(reply).startswith("READONLY") and self.transport is not None:
                    # a master demoted by a Sentinel failover: reconnect (the pool asks Sentinel anew)
                    reply = RedisConnectionError(f"Redis is a replica now ({reply})")
                    self.transport.abort()
                _fail(waiter, reply)
            elif waiter.__class__ is _Future and not waiter.done():  # a `call_nowait` callback hears only of failures
                waiter.set_result(reply)
        self.replied_at = asyncio.get_running_loop().time()

    def send(self, packed: bytes, waiter: Waiter) -> None:
        """Queue a command for this turn's write; `waiter` hears of its reply."""
        loop = asyncio.get_running_loop()
        if not self.waiting:
            self.replied_at = loop.time()
        self.waiting.append(waiter)
        if not self.out:
            loop.call_soon(self.flush)
        self.out.append(packed)

    def flush(self) -> None:
        out, self.out = self.out, []
        if self.transport is not None and out:
            self.transport.write(b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        error = RedisConnectionError(f"Redis closed the connection ({exc or 'end of stream'})")
        while self.waiting:
            _fail(self.waiting.popleft(), error)


class Commands:
    """Commands pipelined on one connection, opened on first use and again after a loss."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._protocol: _CommandsProtocol | None = None
        self._opening: asyncio.Task | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    @property
    def open(self) -> bool:
        """A connection is open: `call_nowait` can send now."""
        protocol = self._protocol
        return protocol is not None and protocol.transport is not None

    def call_nowait(self, packed: bytes, on_error: Callable[[Exception], None]) -> None:
        """Send one packed command without waiting for its reply; `on_error(exc)` if it fails.

        Only while `open`. The reply is read in order with the others and dropped unless it is
        an error: what a sender would do with an awaited reply that says "done".
        """
        self._protocol.send(packed, on_error)

    async def call(self, packed: bytes) -> object:
        """Send one packed command (`command(...)`) and wait for its reply; Redis errors are raised."""
        protocol = self._protocol if self.open else await self._open()
        future = asyncio.get_running_loop().create_future()
        protocol.send(packed, future)
        return await future

    async def _open(self) -> _CommandsProtocol:
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._connect())
        opening = self._opening
        try:
            return await asyncio.shield(opening)
        finally:
            if opening.done() and self._opening is opening:
                self._opening = None

    async def _connect(self) -> _CommandsProtocol:
        protocol = _CommandsProtocol()
        protocol.take(await open_stream(self.pool))
        self._protocol = protocol
        if self._watchdog is None:
            self._arm_watchdog()
        return protocol

    def _arm_watchdog(self) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(1.0, self._watch)

    def _watch(self) -> None:
        """A command unanswered for REPLY_TIMEOUT gives the connection up: its callers hear of it."""
        if not self.open:
            self._watchdog = None
            return
        protocol = self._protocol
        if protocol.waiting and asyncio.get_running_loop().time() - protocol.replied_at > REPLY_TIMEOUT:
            logger.warning("redis did not answer in %.0f s; reconnecting", REPLY_TIMEOUT)
            waiting, protocol.waiting = protocol.waiting, deque()
            protocol.transport.abort()
            for waiter in waiting:
                _fail(waiter, RedisTimeoutError("Redis did not answer in time"))
        self._arm_watchdog()

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._opening is not None:
            self._opening.cancel()
            self._opening = None
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.close()
            await protocol.closed
