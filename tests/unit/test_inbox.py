"""The inbox: events at once only when the connection is idle, otherwise queued, always in arrival order."""

from __future__ import annotations

import asyncio
from functools import partial
from types import SimpleNamespace

from calls.signaling import backpressure
from calls.signaling.inbox import Inbox


def make(handled: list, at_once_ok: bool = True) -> Inbox:
    async def handle(event):
        await asyncio.sleep(0)
        handled.append(("queued", event["n"]))

    def at_once(event):
        if at_once_ok and event.get("fast"):
            handled.append(("at once", event["n"]))
            return True
        return False

    return Inbox(handle, at_once)


def test_an_idle_connection_handles_a_relay_at_once_and_queues_the_rest_in_order():
    async def run():
        handled: list = []
        inbox = make(handled)
        inbox.deliver({"n": 1, "fast": True})
        assert handled == [("at once", 1)]
        inbox.deliver({"n": 2})  # not one for at once: queued
        inbox.deliver({"n": 3, "fast": True})  # behind a queued one: queued too, never overtaking
        await asyncio.sleep(0.01)
        assert handled == [("at once", 1), ("queued", 2), ("queued", 3)]
        inbox.deliver({"n": 4, "fast": True})  # idle again
        assert handled[-1] == ("at once", 4)

    asyncio.run(run())


def test_nothing_is_handled_at_once_while_a_frame_is_being_handled():
    async def run():
        handled: list = []
        inbox = make(handled)
        async with inbox.lock:  # what the consumer holds while it handles a frame
            inbox.deliver({"n": 1, "fast": True})
            await asyncio.sleep(0.01)
            assert handled == []
        await asyncio.sleep(0.01)
        assert handled == [("queued", 1)]

    asyncio.run(run())


def test_a_failing_event_ends_the_consumer_that_owns_the_inbox():
    async def run():
        async def handle(event):
            raise RuntimeError("bug")

        async def consumer():
            inbox = Inbox(handle, lambda event: False)
            inbox.deliver({"n": 1})
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                return inbox.failure

        failure = await asyncio.wait_for(consumer(), 2)
        assert isinstance(failure, RuntimeError)

    asyncio.run(run())


def test_the_writer_writes_only_to_an_open_protocol_daphne_still_knows():
    sent = []

    class Protocol:  # daphne's WebSocketProtocol, as far as the writer looks (hashable, like it)
        STATE_OPEN, state = 1, 1

        def sendMessage(self, data, binary):  # autobahn's name
            sent.append((data, binary))

    protocol = Protocol()
    server = SimpleNamespace(connections={protocol: {}})

    async def handle_reply(protocol, message): ...

    server.handle_reply = handle_reply.__get__(server)
    write = backpressure.writer_of(partial(server.handle_reply, protocol))
    assert write("é") is True and sent == [("é".encode(), False)]
    protocol.state = 2  # closing: the ordinary send decides
    assert write("x") is False
    protocol.state = 1
    server.connections[protocol]["disconnected"] = True
    assert write("x") is False
    assert len(sent) == 1
    assert backpressure.writer_of(handle_reply) is None  # another server
