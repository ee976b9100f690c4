"""The coalescing pub/sub channel layer against real Redis, and a canary for the channels_redis internals it uses."""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import re
from pathlib import Path

import pytest
from channels.layers import get_channel_layer
from django.conf import settings

from calls.signaling import layers

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def shard_of(layer, channel: str):
    return layer._get_layer()._get_shard(channel)


def count_round_trips(monkeypatch, shard) -> list[int]:
    """Record the number of PUBLISHes in each batch the shard writes (one entry per round trip)."""
    shard._ensure_redis()
    real = shard._publish_all
    sizes: list[int] = []

    async def counted(batch):
        sizes.append(len(batch))
        return await real(batch)

    monkeypatch.setattr(shard, "_publish_all", counted)
    return sizes


async def drain(layer, channel: str, count: int) -> list[dict]:
    async with asyncio.timeout(10):
        return [await layer.receive(channel) for _ in range(count)]


async def test_concurrent_senders_all_arrive_in_per_sender_order(redis):
    layer = get_channel_layer()
    inbox = await layer.new_channel()
    senders, each = 20, 25

    async def sender(s: int) -> None:
        for i in range(each):
            await layer.send(inbox, {"type": "relay", "s": s, "i": i})

    received = asyncio.ensure_future(drain(layer, inbox, senders * each))
    await asyncio.gather(*(sender(s) for s in range(senders)))
    messages = await received
    for s in range(senders):
        assert [m["i"] for m in messages if m["s"] == s] == list(range(each)), f"sender {s}"


async def test_a_burst_goes_out_in_fewer_round_trips_than_messages(redis, monkeypatch):
    layer = get_channel_layer()
    inbox = await layer.new_channel()
    sizes = count_round_trips(monkeypatch, shard_of(layer, inbox))
    burst = 200
    received = asyncio.ensure_future(drain(layer, inbox, burst))
    await asyncio.gather(*(layer.send(inbox, {"type": "relay", "i": i}) for i in range(burst)))
    assert [m["i"] for m in await received] == list(range(burst))  # the order they were sent in
    assert sum(sizes) == burst
    assert len(sizes) < burst / 10, f"{len(sizes)} round trips for {burst} messages: {sizes}"


async def test_a_failed_batch_fails_every_caller_of_its_batch_and_the_next_send_works(redis, monkeypatch):
    layer = get_channel_layer()
    inbox = await layer.new_channel()
    shard = shard_of(layer, inbox)
    shard._ensure_redis()
    real = shard._publish_all
    failures = []

    async def publish_all(batch):
        if not failures:  # only the first batch fails
            failures.append(batch)
            raise ConnectionError("redis went away mid-batch")
        return await real(batch)

    monkeypatch.setattr(shard, "_publish_all", publish_all)
    sends = asyncio.gather(*(layer.send(inbox, {"type": "relay", "i": i}) for i in range(10)), return_exceptions=True)
    results = await asyncio.wait_for(sends, 5)  # no caller is left waiting
    assert len(failures) == 1, "the batch was never written"
    assert all(isinstance(r, ConnectionError) for r in results), results  # all ten were in the failed batch
    await asyncio.wait_for(layer.send(inbox, {"type": "relay", "i": "after"}), 5)
    assert (await drain(layer, inbox, 1))[0]["i"] == "after"  # nothing of the failed batch arrived


async def test_a_publishing_connection_that_redis_closed_fails_its_batch_loudly_and_is_replaced(redis):
    from calls.signaling import store

    layer = get_channel_layer()
    inbox = await layer.new_channel()
    await layer.send(inbox, {"type": "relay", "i": "before"})  # the shard now holds a pooled connection
    killed = store.get_sync().client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    with pytest.raises(store.REDIS_ERRORS):  # the sender hears of it (an `unavailable` frame), nothing is lost silently
        await asyncio.wait_for(layer.send(inbox, {"type": "relay", "i": "lost"}), 5)
    await asyncio.wait_for(layer.send(inbox, {"type": "relay", "i": "after"}), 5)  # on a new connection
    assert [m["i"] for m in await drain(layer, inbox, 2)] == ["before", "after"]


async def test_an_unreachable_redis_fails_the_waiting_senders_instead_of_hanging(redis):
    layer = layers.CoalescingPubSubChannelLayer(hosts=[{"address": "redis://127.0.0.1:9"}])  # discard port: closed
    results = await asyncio.wait_for(
        asyncio.gather(*(layer.send("nowhere", {"type": "relay", "i": i}) for i in range(5)), return_exceptions=True),
        10,
    )
    assert all(isinstance(r, Exception) for r in results), results
    await layer.flush()


async def test_group_send_reaches_every_member_in_every_process(redis):
    here = get_channel_layer()
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    elsewhere = layers.CoalescingPubSubChannelLayer(**config)  # another daphne process's layer
    members = []
    for layer in (here, here, elsewhere, elsewhere):
        channel = await layer.new_channel()
        await layer.group_add("r.room", channel)
        members.append((layer, channel))
    outsider = await here.new_channel()
    await here.group_send("r.room", {"type": "relay", "text": "hi"})
    for layer, channel in members:
        assert (await drain(layer, channel, 1))[0]["text"] == "hi"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(here.receive(outsider), 0.2)
    await elsewhere.flush()


def test_canary_the_channels_redis_internals_the_layer_relies_on():
    """If this fails, calls/signaling/layers.py subclasses internals that changed: re-read channels_redis.pubsub."""
    from channels_redis import pubsub

    pinned = re.search(r"^channels-redis==(\S+)", REQUIREMENTS.read_text(), re.MULTILINE | re.IGNORECASE)
    installed = importlib.metadata.version("channels-redis")
    assert pinned, "requirements.txt no longer pins channels-redis=="
    assert installed == pinned.group(1), f"channels-redis {installed} is installed but {pinned.group(1)} is pinned"

    for name in ("RedisPubSubChannelLayer", "RedisPubSubLoopLayer", "RedisSingleShardConnection", "_wrap_close"):
        assert hasattr(pubsub, name), f"channels_redis.pubsub.{name} is gone"
    shard_class = pubsub.RedisSingleShardConnection
    for method in ("publish", "_ensure_redis"):
        assert callable(getattr(shard_class, method, None)), f"RedisSingleShardConnection.{method} is gone"
    params = list(inspect.signature(shard_class.publish).parameters)
    assert params == ["self", "channel", "message"], f"RedisSingleShardConnection.publish now takes {params}"
    assert list(inspect.signature(shard_class.__init__).parameters) == ["self", "host", "channel_layer"], (
        "RedisSingleShardConnection(host, channel_layer) changed"
    )
    shard = shard_class({"address": "redis://127.0.0.1:9"}, None)
    for attribute in ("host", "_lock", "_redis"):
        assert hasattr(shard, attribute), f"RedisSingleShardConnection instances no longer have {attribute}"
    assert isinstance(shard._lock, asyncio.Lock), "RedisSingleShardConnection._lock is no longer an asyncio.Lock"

    loop_layer = pubsub.RedisPubSubLoopLayer(hosts=[{"address": "redis://127.0.0.1:9"}], channel_layer=None)
    assert hasattr(loop_layer, "_shards"), "RedisPubSubLoopLayer no longer keeps its shards in _shards"
    assert all(isinstance(s, shard_class) for s in loop_layer._shards), "RedisPubSubLoopLayer._shards changed type"
    assert callable(getattr(pubsub.RedisPubSubChannelLayer, "_get_layer", None)), (
        "RedisPubSubChannelLayer._get_layer (overridden by CoalescingPubSubChannelLayer) is gone"
    )


async def test_canary_every_send_goes_through_the_coalescing_shard(redis, monkeypatch):
    """If this fails, channels_redis no longer publishes through shard.publish: the coalescing is bypassed."""
    layer = get_channel_layer()
    assert isinstance(layer, layers.CoalescingPubSubChannelLayer)
    loop_layer = layer._get_layer()
    assert loop_layer._shards and all(isinstance(s, layers._CoalescingShard) for s in loop_layer._shards)
    published = []
    real = layers._CoalescingShard.publish

    async def publish(self, channel, message):
        published.append(channel)
        await real(self, channel, message)

    monkeypatch.setattr(layers._CoalescingShard, "publish", publish)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.send(channel, {"type": "relay"})
    await layer.group_send("g", {"type": "relay"})
    assert len(published) == 2, "send/group_send no longer call shard.publish"
    assert len(await drain(layer, channel, 2)) == 2
