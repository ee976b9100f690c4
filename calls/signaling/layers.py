"""The channels-redis pub/sub layer on connections of our own (calls.signaling.resp).

channels_redis' pub/sub layer sends each message as its own PUBLISH round trip, one at a
time per Redis connection (under a lock), and reads pub/sub messages through redis-py's
coroutines with a timeout each. Here each shard has two connections driven by asyncio
protocols: PUBLISHes are pipelined on one (each caller still awaits its own message's
delivery to Redis; the PUBLISHes of one turn of the event loop go out in one write), and
messages are read from the other as they arrive. Same configuration, same wire format.

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

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, _wrap_close
from channels_redis.utils import create_pool

from calls.signaling import resp, subscriber

logger = logging.getLogger("calls.signaling")


class _Shard:
    """One Redis host of the layer: a pipelined connection for PUBLISH, one for subscriptions."""

    def __init__(self, host: dict, channel_layer: RedisPubSubLoopLayer) -> None:
        self.host = host
        self.channel_layer = channel_layer
        self._pool = None
        self._commands: resp.Commands | None = None
        self._subscriber: subscriber.Subscriber | None = None

    def _ensure_redis(self) -> None:
        if self._pool is None:
            self._pool = create_pool(self.host)
            self._commands = resp.Commands(self._pool)
            self._subscriber = subscriber.Subscriber(self._pool, self._receive_message)

    async def publish(self, channel: str, message: bytes) -> None:
        if self._commands is None:
            self._ensure_redis()
        await self._commands.call(resp.publish(channel.encode(), message))

    async def subscribe(self, channel: str) -> None:
        """Subscribe, confirmed: a group's messages published after this returns reach its members here."""
        self._ensure_redis()
        await self._subscriber.subscribe(channel)

    async def subscribe_queued(self, channel: str) -> None:
        """Subscribe without waiting for Redis' confirmation (a new channel nobody can know yet)."""
        self._ensure_redis()
        await self._subscriber.subscribe(channel, confirmed=False)

    async def unsubscribe(self, channel: str) -> None:
        if self._subscriber is not None:
            await self._subscriber.unsubscribe(channel)

    async def flush(self) -> None:
        """Close both connections; the shard opens new ones when it is used again."""
        commands, subscriber, pool = self._commands, self._subscriber, self._pool
        self._commands = self._subscriber = self._pool = None
        if commands is not None:
            await commands.close()
        if subscriber is not None:
            await subscriber.close()
        if pool is not None:
            await pool.disconnect()

    def _receive_message(self, name: bytes, data: bytes) -> None:
        """One message from Redis: queued for channels' consumers, handed to inboxes (decoded once)."""
        layer = self.channel_layer
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
        self._shards = [_Shard(shard.host, self) for shard in self._shards]

    async def new_inbox(self, deliver: Callable[[dict], None]) -> str:
        """A new channel whose messages go to `deliver(event)` (synchronously, in order) instead of a queue."""
        channel = f"{self.prefix}specific.{uuid.uuid4().hex}"
        self.channels[channel] = deliver
        await self._get_shard(channel).subscribe_queued(channel)
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

    def can_send_nowait(self, group: str) -> bool:
        """`group_send_nowait` to this group would send now (its shard has a connection open)."""
        layer = self._get_layer()
        commands = layer._get_shard(layer._get_group_channel_name(group))._commands
        return commands is not None and commands.open

    def group_send_nowait(self, group: str, message: dict, on_error: Callable[[Exception], None]) -> None:
        """`group_send` without waiting for Redis: written now, `on_error(exc)` later if it failed.

        Only after `can_send_nowait(group)` in the same step. The relay path uses it from
        daphne's frame callback, where nothing can be awaited.
        """
        layer = self._get_layer()
        name = layer._get_group_channel_name(group)
        layer._get_shard(name)._commands.call_nowait(resp.publish(name.encode(), self.serialize(message)), on_error)

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
