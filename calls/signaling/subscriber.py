"""The channel layer's pub/sub connection: messages handed over as they arrive, subscriptions confirmed.

`Subscriber` holds one connection in pub/sub mode (an asyncio protocol fed by hiredis, as in
calls.signaling.resp) and calls `on_message(channel, data)` for each message from
`data_received`. The SUBSCRIBEs of one turn of the event loop go out in one write, and a
caller waits for Redis' confirmation of its own: from then on, whatever is published to the
channel reaches this process. The connection comes back by itself after a loss and
subscribes again to everything it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable

from redis.asyncio.connection import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from calls.signaling import resp
from calls.signaling.resp import RedisProtocol, command, open_stream

logger = logging.getLogger("calls.signaling")

# Seconds of silence after which a subscriber PINGs to find out whether Redis is still there.
HEALTH_INTERVAL = 15.0
# Reconnection delays of a subscriber, seconds (the last one repeats).
BACKOFF = (0.0, 0.1, 0.25, 0.5, 1.0)


def _settle(future: asyncio.Future, like: asyncio.Future) -> None:
    """Settle `future` as `like` was settled (a done callback)."""
    if future.done():
        return
    if like.cancelled() or like.exception() is None:
        future.set_result(None)
    else:
        future.set_exception(like.exception())


class _SubscriberProtocol(RedisProtocol):
    def __init__(self, on_message: Callable[[bytes, bytes], None]) -> None:
        super().__init__()
        self.on_message = on_message
        self.out: list[bytes] = []
        # One entry per channel SUBSCRIBEd on this connection and not yet confirmed, in the
        # order written (Redis confirms them in that order): name, who waits, when written.
        self.unconfirmed: deque[tuple[bytes, asyncio.Future | None, float]] = deque()
        # Each name's latest entry there (a storm of joins asks `pending` thousands of times).
        self.latest: dict[bytes, asyncio.Future | None] = {}
        self.heard_at = asyncio.get_running_loop().time()
        self.pinged = False

    def data_received(self, data: bytes) -> None:
        reader, on_message = self.reader, self.on_message
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            if isinstance(reply, list) and reply[0] == b"message":
                try:
                    on_message(reply[1], reply[2])
                except Exception:  # one bad delivery spares the messages after it
                    logger.exception("failed to deliver a message")
            elif isinstance(reply, list) and reply[0] == b"subscribe" and self.unconfirmed:
                name, future, _ = self.unconfirmed.popleft()
                if self.latest.get(name, False) is future:
                    del self.latest[name]
                if future is not None and not future.done():
                    future.set_result(None)
            elif isinstance(reply, ResponseError):
                logger.error("redis refused a subscription command: %s", reply)
        self.heard_at = asyncio.get_running_loop().time()
        self.pinged = False

    def subscribe(self, names: list[bytes], futures: list[asyncio.Future | None]) -> None:
        """SUBSCRIBE to `names`; each of `futures` (None: nobody waits) is resolved when its name is confirmed."""
        now = asyncio.get_running_loop().time()
        self.unconfirmed.extend(zip(names, futures, [now] * len(names), strict=True))
        self.latest.update(zip(names, futures, strict=True))
        self.write(command(b"SUBSCRIBE", *names))

    def pending(self, name: bytes) -> asyncio.Future | None:
        """The future of `name`'s latest unconfirmed subscription, if there is one."""
        return self.latest.get(name)

    def forget_unconfirmed(self) -> None:
        self.unconfirmed.clear()
        self.latest.clear()

    def write(self, data: bytes) -> None:
        """Queue a command for this turn's write (a storm of joins subscribes in a few writes)."""
        if not self.out:
            asyncio.get_running_loop().call_soon(self.flush)
        self.out.append(data)

    def flush(self) -> None:
        out, self.out = self.out, []
        if self.transport is not None and out:
            self.transport.write(b"".join(out))


class Subscriber:
    """One pub/sub connection; what it is subscribed to survives reconnections."""

    def __init__(self, pool: ConnectionPool, on_message: Callable[[bytes, bytes], None]) -> None:
        self.pool = pool
        self.on_message = on_message
        self.channels: set[str] = set()
        self._protocol: _SubscriberProtocol | None = None
        self._ready: asyncio.Future | None = None
        self._task: asyncio.Task | None = None

    async def subscribe(self, channel: str, confirmed: bool = True) -> None:
        """Subscribe; with `confirmed`, return once Redis has confirmed it.

        From then on, whatever anyone publishes to the channel reaches us: a join listens to
        its room this way before it reads who is there. Without `confirmed` the command is
        only queued (for a channel nobody knows the name of yet).
        """
        name = channel.encode()
        if channel in self.channels:
            if confirmed:  # another caller may have subscribed it a moment ago: wait for its confirmation
                future = (await self._connected()).pending(name)
                if future is not None:
                    await asyncio.shield(future)
            return
        self.channels.add(channel)
        protocol = await self._connected()
        future = protocol.pending(name)  # when this call opened the connection, it subscribed everything held
        if future is None:
            future = asyncio.get_running_loop().create_future() if confirmed else None
            protocol.subscribe([name], [future])
        if future is not None and confirmed:
            await asyncio.shield(future)

    async def unsubscribe(self, channel: str) -> None:
        if channel not in self.channels:
            return
        self.channels.discard(channel)
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            protocol.write(command(b"UNSUBSCRIBE", channel.encode()))

    def _resubscribe(self, old: _SubscriberProtocol | None, new: _SubscriberProtocol) -> None:
        """Subscribe `new` to everything held; who waited on `old` for a channel still held waits on `new`."""
        carried: dict[bytes, asyncio.Future] = {}
        for name, future, _ in old.unconfirmed if old is not None else ():
            if future is None or future.done():
                continue
            if name.decode() not in self.channels:
                future.set_result(None)  # given up meanwhile: nobody listens for it any more
            elif name in carried:  # one confirmation settles both
                carried[name].add_done_callback(functools.partial(_settle, future))
            else:
                carried[name] = future
        if old is not None:
            old.forget_unconfirmed()
        if self.channels:
            loop = asyncio.get_running_loop()
            names = [name.encode() for name in self.channels]
            new.subscribe(names, [carried.get(name) or loop.create_future() for name in names])

    def _fail_unconfirmed(self, protocol: _SubscriberProtocol | None, error: Exception) -> None:
        """Whoever waits for a subscription on `protocol` to be confirmed hears of `error` instead."""
        for _, future, _ in protocol.unconfirmed if protocol is not None else ():
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: the callers that waited have it
        if protocol is not None:
            protocol.forget_unconfirmed()

    async def _connected(self) -> _SubscriberProtocol:
        if self._task is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.ensure_future(self._run())
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            return protocol
        return await asyncio.shield(self._ready)

    async def _run(self) -> None:
        """Connect, subscribe to everything held, watch the connection; again after each loss."""
        attempt = 0
        loop = asyncio.get_running_loop()
        previous: _SubscriberProtocol | None = None
        while True:
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            try:
                protocol = _SubscriberProtocol(self.on_message)
                protocol.take(await open_stream(self.pool))
            except Exception as exc:
                attempt += 1
                self._fail_unconfirmed(previous, exc)  # who waited for a confirmation hears of it
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(exc)  # callers waiting now hear of it; the task keeps trying
                    self._ready.exception()  # retrieved: no "never retrieved" warning if nobody waited
                logger.warning("redis pub/sub connection failed: %s", exc)
                self._ready = loop.create_future()
                continue
            opened_at = loop.time()
            self._resubscribe(previous, protocol)
            self._protocol = previous = protocol
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(protocol)
            await self._watch(protocol)
            attempt = attempt + 1 if loop.time() - opened_at < 1.0 else 1  # back off from a flapping Redis
            self._ready = loop.create_future()
            logger.warning("redis pub/sub connection lost; reconnecting")

    async def _watch(self, protocol: _SubscriberProtocol) -> None:
        """Return when the connection is gone.

        A silent Redis is PINGed, and dropped if it stays silent; a subscription unconfirmed
        for resp.REPLY_TIMEOUT fails its callers and drops the connection too (the next one
        subscribes again to everything held).
        """
        loop = asyncio.get_running_loop()
        while not protocol.closed.done():
            now = loop.time()
            silent = now - protocol.heard_at
            stale = protocol.unconfirmed and protocol.unconfirmed[0][2] < now - resp.REPLY_TIMEOUT
            if stale or (protocol.pinged and silent > HEALTH_INTERVAL + resp.REPLY_TIMEOUT):
                if stale:
                    logger.warning("redis did not confirm a subscription in %.0f s; reconnecting", resp.REPLY_TIMEOUT)
                    self._fail_unconfirmed(protocol, RedisTimeoutError("Redis did not answer in time"))
                protocol.transport.abort()
                break
            if not protocol.pinged and silent > HEALTH_INTERVAL:
                protocol.write(command(b"PING"))
                protocol.pinged = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(protocol.closed), 1.0)
        await protocol.closed

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.close()
            await protocol.closed
        self.channels.clear()
        self._fail_unconfirmed(protocol, RedisConnectionError("the subscriber was closed"))
