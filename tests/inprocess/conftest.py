"""The in-process tier: the real consumer, real Redis and the real channel layer, no daphne.

`WebsocketCommunicator` drives `SignalingConsumer` inside the test's event loop; presence,
rooms and the pub/sub channel layer talk to the session's private redis-server. Clocks
are injected where a test needs time to pass, so nothing here sleeps for a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from calls.signaling.consumer import SignalingConsumer
from calls.signaling.node import node as this_node
from tests.helpers import PASSWORD

APP = SignalingConsumer.as_asgi()


class Client:
    """One WebSocket to the consumer, with frames as dicts and bounded waits."""

    def __init__(self, communicator: WebsocketCommunicator, hello: dict[str, Any]) -> None:
        self.ws = communicator
        self.hello = hello
        self.seen: list[dict[str, Any]] = []

    @property
    def peer(self) -> str:
        return self.hello["peer"]

    @property
    def handle(self):
        """The consumer as this process's node registry holds it."""
        return next(h for h in this_node.connections.values() if h.conn.peer == self.peer)

    async def send(self, **frame: Any) -> None:
        await self.ws.send_to(text_data=orjson.dumps(frame).decode())

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        output = await self.ws.receive_output(timeout)
        if output["type"] == "websocket.close":
            raise ConnectionError(f"closed with {output.get('code')}")
        return orjson.loads(output["text"])

    async def recv_type(self, kind: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
        """The next frame of `kind` (and matching fields); other frames are kept in `seen`."""
        for i, frame in enumerate(self.seen):
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return self.seen.pop(i)
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                    return frame
                self.seen.append(frame)

    async def request(self, **frame: Any) -> dict[str, Any]:
        """Send a frame with an id and return the reply carrying it as `ref`."""
        ref = frame.setdefault("id", f"r{id(frame)}")
        await self.send(**frame)
        async with asyncio.timeout(5):
            while True:
                reply = await self.recv()
                if reply.get("ref") == ref:
                    return reply
                self.seen.append(reply)

    async def join(self, room: str) -> dict[str, Any]:
        await self.send(type="join", room=room, id=f"join-{room}")
        return await self.recv_type("joined", room=room)

    async def nothing_more(self) -> bool:
        return not self.seen and await self.ws.receive_nothing(0.2)

    async def closed_with(self) -> int:
        """Wait for the server's close and return its code."""
        async with asyncio.timeout(5):
            while True:
                output = await self.ws.receive_output(5)
                if output["type"] == "websocket.close":
                    return output.get("code")

    async def disconnect(self, code: int = 1000) -> None:
        await self.ws.disconnect(code)


@pytest.fixture
async def connect(redis, transactional_db):
    """`await connect(user, resume=...)`: a Client with its `hello` read; all disconnected after the test."""
    opened: list[WebsocketCommunicator] = []

    async def factory(user, resume: str = "") -> Client:
        path = "/ws/signal/" + (f"?resume={resume}" if resume else "")
        communicator = WebsocketCommunicator(APP, path)
        communicator.scope["user"] = user
        communicator.scope["query_string"] = path.partition("?")[2].encode()
        opened.append(communicator)
        accepted, _ = await communicator.connect(timeout=5)
        assert accepted
        client = Client(communicator, {})
        client.hello = await client.recv()
        return client

    yield factory
    for communicator in opened:
        with contextlib.suppress(Exception):  # closed by the test already
            await communicator.disconnect()


@pytest.fixture
def make_user(transactional_db):
    async def factory(name: str):
        return await sync_to_async(get_user_model().objects.create_user)(name, f"{name}@example.com", "pw-unused-123")

    return factory


# -- the middle tier: scripts, sweeps and the channel layer without a consumer -----------------


def stray_keys() -> list[str]:
    """Keys in the session Redis that are not under `settings.REDIS_PREFIX` (there should be none)."""
    from django.conf import settings

    from calls.signaling import store

    prefix = settings.REDIS_PREFIX + ":"
    return sorted(key.decode() for key in store.get_sync().scan_iter(count=1000) if not key.decode().startswith(prefix))


class Listener:
    """A channel of its own on the real channel layer, in some groups: what the runtime sends them."""

    def __init__(self, layer, channel: str) -> None:
        self.layer = layer
        self.channel = channel
        self.groups: list[str] = []

    async def join(self, *groups: str) -> Listener:
        for group in groups:
            await self.layer.group_add(group, self.channel)
            self.groups.append(group)
        return self

    async def next(self, timeout: float = 5) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            return await self.layer.receive(self.channel)

    async def frames(self, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        """The browser frames (`text`) of the next `count` messages, decoded."""
        return [orjson.loads((await self.next(timeout))["text"]) for _ in range(count)]

    async def nothing_more(self, wait: float = 0.2) -> bool:
        """True if nothing arrives within `wait` seconds (only ever used after what was expected arrived)."""
        try:
            await self.next(wait)
        except TimeoutError:
            return True
        return False


@pytest.fixture
async def listen(redis):
    """`await listen(*groups)`: a Listener subscribed to those groups on the real layer; unsubscribed after."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    made: list[Listener] = []

    async def factory(*groups: str) -> Listener:
        listener = Listener(layer, await layer.new_channel())
        made.append(listener)
        return await listener.join(*groups)

    yield factory
    for listener in made:
        for group in listener.groups:
            with contextlib.suppress(Exception):
                await layer.group_discard(group, listener.channel)


@pytest.fixture
def alice(client, redis):
    """A user signed in on the test client (pages and API tests)."""
    user = get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)
    client.force_login(user)
    return user
