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

from calls.signaling import layers, resp
from tests.helpers import count_writes, eventually

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def shard_of(layer, channel: str):
    return layer._get_layer()._get_shard(channel)


async def publishing_connection(layer, channel: str) -> resp._CommandsProtocol:
    """The protocol of the connection the shard of `channel` publishes on (opened by a first send)."""
    await layer.send(channel, {"type": "relay", "i": "first"})
    protocol = shard_of(layer, channel)._commands._protocol
    assert protocol is not None and protocol.transport is not None
    return protocol


def client_address(protocol: resp.RedisProtocol) -> str:
    host, port = protocol.transport.get_extra_info("sockname")[:2]
    return f"{host}:{port}"


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


async def test_a_burst_goes_out_in_fewer_writes_than_messages(redis, monkeypatch):
    layer = get_channel_layer()
    inbox = await layer.new_channel()
    sizes = count_writes(monkeypatch, resp._CommandsProtocol)
    burst = 200
    received = asyncio.ensure_future(drain(layer, inbox, burst))
    await asyncio.gather(*(layer.send(inbox, {"type": "relay", "i": i}) for i in range(burst)))
    assert [m["i"] for m in await received] == list(range(burst))  # the order they were sent in
    assert sum(sizes) == burst
    assert len(sizes) < burst / 10, f"{len(sizes)} writes for {burst} messages: {sizes}"


async def test_publishes_in_flight_when_redis_drops_the_connection_fail_loudly_and_the_next_send_works(redis):
    """Frames are at most once and never lost silently: every waiting sender hears of the loss."""
    from calls.signaling import store

    layer = get_channel_layer()
    inbox = await layer.new_channel()
    protocol = await publishing_connection(layer, inbox)
    assert (await drain(layer, inbox, 1))[0]["i"] == "first"
    admin = store.get_sync()
    admin.client_pause(10_000, all=False)  # Redis holds PUBLISHes (write commands) unanswered
    try:
        sends = asyncio.gather(
            *(layer.send(inbox, {"type": "relay", "i": i}) for i in range(10)), return_exceptions=True
        )
        await eventually(lambda: len(protocol.waiting) == 10, what="ten PUBLISHes in flight")
        assert admin.client_kill(client_address(protocol))
        results = await asyncio.wait_for(sends, 5)
    finally:
        admin.client_unpause()
    assert all(isinstance(r, store.REDIS_ERRORS) for r in results), results
    await asyncio.wait_for(layer.send(inbox, {"type": "relay", "i": "after"}), 5)  # on a new connection
    assert (await drain(layer, inbox, 1))[0]["i"] == "after"  # nothing of the failed ten arrived


async def test_a_connection_redis_closed_while_idle_is_replaced_and_nothing_is_lost(redis):
    from calls.signaling import store

    layer = get_channel_layer()
    inbox = await layer.new_channel()
    protocol = await publishing_connection(layer, inbox)
    assert store.get_sync().client_kill(client_address(protocol))
    await asyncio.wait_for(protocol.closed, 5)
    await asyncio.wait_for(layer.send(inbox, {"type": "relay", "i": "after"}), 5)
    assert [m["i"] for m in await drain(layer, inbox, 2)] == ["first", "after"]


async def test_a_redis_that_stops_answering_fails_the_waiting_senders_after_the_reply_timeout(redis, monkeypatch):
    from calls.signaling import store

    monkeypatch.setattr(resp, "REPLY_TIMEOUT", 0.5)
    layer = get_channel_layer()
    inbox = await layer.new_channel()
    await publishing_connection(layer, inbox)
    assert (await drain(layer, inbox, 1))[0]["i"] == "first"
    admin = store.get_sync()
    admin.client_pause(10_000, all=False)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(store.REDIS_ERRORS):
            await asyncio.wait_for(layer.send(inbox, {"type": "relay", "i": "held"}), 5)
        waited = asyncio.get_running_loop().time() - started
    finally:
        admin.client_unpause()
    assert 0.5 <= waited < 3, waited  # the timeout, checked once a second
    await asyncio.wait_for(layer.send(inbox, {"type": "relay", "i": "after"}), 5)
    assert (await drain(layer, inbox, 1))[0]["i"] == "after"  # the held PUBLISH went with its connection


async def test_a_subscriber_connection_redis_closed_comes_back_with_its_subscriptions(redis):
    from calls.signaling import store

    layer = get_channel_layer()
    inbox = await layer.new_channel()
    await layer.group_add("g", inbox)
    subscriber = shard_of(layer, inbox)._subscriber
    old = await subscriber._connected()
    admin = store.get_sync()
    assert admin.client_kill(client_address(old))
    await asyncio.wait_for(old.closed, 5)
    new = await asyncio.wait_for(subscriber._connected(), 5)
    assert new is not old
    names = [inbox, group_channel(layer, "g")]
    await eventually(lambda: all(n for _, n in admin.pubsub_numsub(*names)), what="both subscriptions back")
    await layer.send(inbox, {"type": "relay", "i": "direct"})
    await layer.group_send("g", {"type": "relay", "i": "group"})
    assert [m["i"] for m in await drain(layer, inbox, 2)] == ["direct", "group"]


def group_channel(layer, group: str) -> str:
    return f"{layer._get_layer().prefix}__group__{group}"


async def test_group_add_returns_once_redis_holds_the_subscription(redis):
    """A join listens to its room before it reads who is there: nothing published after group_add can miss it."""
    from calls.signaling import store

    here = get_channel_layer()
    elsewhere = layers.CoalescingPubSubChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    first, second = await here.new_channel(), await here.new_channel()
    await asyncio.gather(here.group_add("r.room", first), here.group_add("r.room", second))
    # No waiting here: both calls returned only once Redis had confirmed the subscription.
    assert store.get_sync().pubsub_numsub(group_channel(here, "r.room")) == [
        (group_channel(here, "r.room").encode(), 1)
    ]
    await elsewhere.group_send("r.room", {"type": "relay", "i": "joined"})
    assert (await drain(here, first, 1))[0]["i"] == "joined"
    assert (await drain(here, second, 1))[0]["i"] == "joined"
    await elsewhere.flush()


async def test_a_storm_of_subscriptions_goes_out_in_few_writes(redis, monkeypatch):
    from calls.signaling import subscriber

    sizes = count_writes(monkeypatch, subscriber._SubscriberProtocol)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    rooms = 200
    await asyncio.gather(*(layer.group_add(f"r.{i}", channel) for i in range(rooms)))
    assert sum(sizes) == rooms + 1  # the channel's own subscription, then one per room
    assert len(sizes) < rooms / 10, f"{len(sizes)} writes for {rooms} subscriptions: {sizes}"
    await layer.group_send("r.199", {"type": "relay", "i": "last"})
    assert (await drain(layer, channel, 1))[0]["i"] == "last"


def confirmation(name: bytes, count: int) -> bytes:
    return b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:%d\r\n" % (len(name), name, count)


async def test_a_name_subscribed_twice_is_pending_until_its_latest_subscribe_is_confirmed():
    """A join that finds its room being subscribed waits for that SUBSCRIBE's confirmation, not an earlier one's."""
    from calls.signaling import subscriber

    protocol = subscriber._SubscriberProtocol(lambda channel, data: None)
    protocol.write = lambda data: None
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    protocol.subscribe([b"a", b"b"], [first, None])
    protocol.subscribe([b"a"], [second])
    assert protocol.pending(b"a") is second and protocol.pending(b"b") is None and protocol.pending(b"c") is None
    protocol.data_received(confirmation(b"a", 1))
    assert first.done() and not second.done() and protocol.pending(b"a") is second
    protocol.data_received(confirmation(b"b", 2) + confirmation(b"a", 2))
    assert second.done() and protocol.pending(b"a") is None and not protocol.unconfirmed


async def test_a_subscription_redis_does_not_confirm_fails_after_the_reply_timeout_and_comes_back(redis, monkeypatch):
    from calls.signaling import store

    monkeypatch.setattr(resp, "REPLY_TIMEOUT", 0.5)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("r.before", channel)
    admin = store.get_sync()
    admin.client_pause(4_000, all=True)  # Redis holds every command, SUBSCRIBE too, for 4 s
    started = asyncio.get_running_loop().time()
    with pytest.raises(store.REDIS_ERRORS):
        await asyncio.wait_for(layer.group_add("r.held", channel), 3.5)
    waited = asyncio.get_running_loop().time() - started
    assert 0.5 <= waited < 3.5, waited  # the timeout, checked once a second, well before the pause ends
    # Once Redis answers again, the subscriber reconnects and holds both groups (it still has them).
    names = [group_channel(layer, "r.before"), group_channel(layer, "r.held")]
    await eventually(lambda: all(n for _, n in admin.pubsub_numsub(*names)), what="both subscriptions back")
    await layer.group_send("r.held", {"type": "relay", "i": "held"})
    assert (await drain(layer, channel, 1))[0]["i"] == "held"


async def test_an_unreachable_redis_fails_the_waiting_senders_instead_of_hanging(redis):
    from calls.signaling import store

    layer = layers.CoalescingPubSubChannelLayer(hosts=[{"address": "redis://127.0.0.1:9"}])  # discard port: closed
    results = await asyncio.wait_for(
        asyncio.gather(*(layer.send("nowhere", {"type": "relay", "i": i}) for i in range(5)), return_exceptions=True),
        10,
    )
    assert all(isinstance(r, Exception) for r in results), results
    with pytest.raises(store.REDIS_ERRORS):
        await asyncio.wait_for(layer.new_channel(), 10)  # a subscription hears of it too
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
    """If this fails, calls/signaling/layers.py relies on internals that changed: re-read channels_redis.pubsub."""
    from channels_redis import pubsub, utils

    pinned = re.search(r"^channels-redis==(\S+)", REQUIREMENTS.read_text(), re.MULTILINE | re.IGNORECASE)
    installed = importlib.metadata.version("channels-redis")
    assert pinned, "requirements.txt no longer pins channels-redis=="
    assert installed == pinned.group(1), f"channels-redis {installed} is installed but {pinned.group(1)} is pinned"

    for name in ("RedisPubSubChannelLayer", "RedisPubSubLoopLayer", "_wrap_close"):
        assert hasattr(pubsub, name), f"channels_redis.pubsub.{name} is gone"
    assert callable(getattr(utils, "create_pool", None)), "channels_redis.utils.create_pool is gone"
    # The loop layer keeps its shards in `_shards` and calls exactly these methods of theirs.
    loop_layer = pubsub.RedisPubSubLoopLayer(hosts=[{"address": "redis://127.0.0.1:9"}], channel_layer=None)
    assert hasattr(loop_layer, "_shards"), "RedisPubSubLoopLayer no longer keeps its shards in _shards"
    called = set(re.findall(r"shard\.(\w+)\(", inspect.getsource(pubsub.RedisPubSubLoopLayer)))
    assert called == {"publish", "subscribe", "unsubscribe", "flush"}, f"the loop layer now calls shard.{called}"
    for method in called:
        ours = list(inspect.signature(getattr(layers._Shard, method)).parameters)
        theirs = list(inspect.signature(getattr(pubsub.RedisSingleShardConnection, method)).parameters)
        assert ours == theirs, f"RedisSingleShardConnection.{method}{theirs} != ours {ours}"
    assert callable(getattr(pubsub.RedisPubSubChannelLayer, "_get_layer", None)), (
        "RedisPubSubChannelLayer._get_layer (overridden by CoalescingPubSubChannelLayer) is gone"
    )


def test_canary_the_redis_py_internals_the_connections_rely_on():
    """If this fails, calls/signaling/resp.py opens connections through redis-py internals that changed."""
    import redis.asyncio

    pool = redis.asyncio.ConnectionPool.from_url("redis://127.0.0.1:9")
    assert pool.connection_class and isinstance(pool.connection_kwargs, dict)
    conn = pool.connection_class(**{**pool.connection_kwargs, "protocol": 2})
    assert hasattr(conn, "_reader") and hasattr(conn, "_writer"), "redis-py connections no longer keep their streams"
    source = inspect.getsource(type(conn)._connect)
    assert "self._reader, self._writer = " in source or "self._reader = " in source, "redis-py no longer opens streams"


async def test_canary_every_send_goes_through_the_shard(redis, monkeypatch):
    """If this fails, channels_redis no longer publishes through shard.publish: our connections are bypassed."""
    layer = get_channel_layer()
    assert isinstance(layer, layers.CoalescingPubSubChannelLayer)
    loop_layer = layer._get_layer()
    assert loop_layer._shards and all(isinstance(s, layers._Shard) for s in loop_layer._shards)
    published = []
    real = layers._Shard.publish

    async def publish(self, channel, message):
        published.append(channel)
        await real(self, channel, message)

    monkeypatch.setattr(layers._Shard, "publish", publish)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.send(channel, {"type": "relay"})
    await layer.group_send("g", {"type": "relay"})
    assert len(published) == 2, "send/group_send no longer call shard.publish"
    assert len(await drain(layer, channel, 2)) == 2
