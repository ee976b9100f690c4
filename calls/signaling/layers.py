"""The channels-redis pub/sub layer, with PUBLISHes coalesced into pipelines.

channels_redis' pub/sub layer sends each message as its own PUBLISH round trip, one at a
time per Redis connection (under a lock). Under load the relay path then spends most of
its time in one socket write and one read per frame. This layer queues the messages that
arrive while a round trip is in flight and sends them together in one pipeline: the same
commands, in the same order, each caller still awaiting its own message's delivery to
Redis, but one write and one read per batch instead of per frame.

It also delivers to inboxes (calls.signaling.inbox): a channel made with `new_inbox` has a
function instead of a queue, and each message that arrives for it, directly or through a
group, is decoded once for the whole process and handed to the functions of its local
channels there and then, in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
    _wrap_close,
)

logger = logging.getLogger("calls.signaling")


class _CoalescingShard(RedisSingleShardConnection):
    def __init__(self, host, channel_layer) -> None:
        super().__init__(host, channel_layer)
        self._outbox: list[tuple[str, bytes, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None

    async def publish(self, channel, message) -> None:
        future = asyncio.get_running_loop().create_future()
        self._outbox.append((channel, message, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_all())
        await future

    async def _send_all(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                async with self._lock:
                    self._ensure_redis()
                    await self._publish_all(batch)
            except asyncio.CancelledError:
                for *_, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # each caller sees the failure of its own message
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for *_, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _publish_all(self, batch: list[tuple[str, bytes, asyncio.Future]]) -> None:
        """The batch's PUBLISHes in one write, then their replies: what a non-transactional pipeline
        sends and reads, with redis-py's retry on a lost connection, without building a pipeline."""
        pool = self._redis.connection_pool
        conn = await pool.get_connection()

        async def attempt() -> None:
            await conn.send_packed_command(packed)
            for _ in batch:
                await conn.read_response()

        async def lost(error: BaseException) -> None:
            await conn.disconnect()

        try:  # the connection goes back to the pool whatever fails, packing included
            packed = conn.pack_commands([("PUBLISH", channel, message) for channel, message, _ in batch])
            await conn.retry.call_with_retry(attempt, lost)
        finally:
            await pool.release(conn)

    def _receive_message(self, message) -> None:
        """One message from Redis: queued for channels' consumers, handed to inboxes (decoded once)."""
        if message is None:
            return
        layer, name, data = self.channel_layer, message["channel"], message["data"]
        if isinstance(name, bytes):
            name = name.decode()
        channels = layer.channels
        members = layer.groups.get(name)
        targets = (name,) if name in channels else tuple(members) if members else ()
        event = None
        for channel in targets:
            target = channels.get(channel)
            if target is None:
                continue
            if isinstance(target, asyncio.Queue):
                target.put_nowait(data)
                continue
            if event is None:
                event = layer.channel_layer.deserialize(data)
            try:
                target(event)
            except Exception:  # one connection's failure spares the others
                logger.exception("failed to deliver an event", extra={"channel": channel})


class _CoalescingLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_CoalescingShard(shard.host, self) for shard in self._shards]

    async def new_inbox(self, deliver: Callable[[dict], None]) -> str:
        """A new channel whose messages go to `deliver(event)` (synchronously, in order) instead of a queue."""
        channel = f"{self.prefix}specific.{uuid.uuid4().hex}"
        self.channels[channel] = deliver
        await self._get_shard(channel).subscribe(channel)
        return channel

    async def delete_channel(self, channel: str, groups: Iterable[str]) -> None:
        """Forget a consumer's channel: its place in `groups`, its queue and its subscription.

        channels-redis unsubscribes a channel only when a pending `receive` is cancelled; a
        consumer whose last receive had already completed when it stopped stays subscribed
        and keeps collecting messages. The consumer calls this when it ends, whatever ended it.
        """
        for group in groups:
            await self.group_discard(group, channel)
        if self.channels.pop(channel, None) is not None:
            await self._get_shard(channel).unsubscribe(channel)


class CoalescingPubSubChannelLayer(RedisPubSubChannelLayer):
    """Drop-in for RedisPubSubChannelLayer (same configuration, same wire format)."""

    async def delete_channel(self, channel: str, groups: Iterable[str]) -> None:
        await self._get_layer().delete_channel(channel, groups)

    async def new_inbox(self, deliver: Callable[[dict], None]) -> str:
        return await self._get_layer().new_inbox(deliver)

    # The hot calls, without channels_redis' per-call __getattr__ and partial.
    async def group_send(self, group: str, message: dict) -> None:
        await self._get_layer().group_send(group, message)

    async def group_add(self, group: str, channel: str) -> None:
        await self._get_layer().group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        await self._get_layer().group_discard(group, channel)

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = self._layers[loop] = _CoalescingLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
            return layer
