"""The channel-layer events of one connection: in arrival order, one at a time with its frames.

channels gives every consumer a queue that the layer fills and a task that empties it, so
each event costs a queue put, a task, a wake-up and a dispatch. Here the layer hands each
event straight to `Inbox.deliver` (calls.signaling.layers). An event that can be handled
without waiting (a relay frame for an idle connection: checks and one socket write) is
handled there and then; any other, or any event that arrives while the connection is busy
(handling a frame or an earlier event), waits in a backlog that one task works through.
Either way events are handled in the order they arrived and never beside a frame, exactly
as channels' single dispatch loop would: `lock` is held while a frame is handled.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from calls.signaling import backpressure

Event = dict[str, Any]


class Inbox:
    """Where the channel layer delivers one connection's events."""

    __slots__ = ("_at_once", "_backlog", "_drainer", "_handle", "_owner", "failure", "lock")

    def __init__(self, handle: Callable[[Event], Awaitable[None]], at_once: Callable[[Event], bool]) -> None:
        self._handle = handle  # handles one event (the consumer's dispatch)
        self._at_once = at_once  # handles one without waiting, or returns False to have it queued
        self._backlog: deque[Event] | None = None
        self._drainer: asyncio.Task | None = None
        self._owner = asyncio.current_task()  # the consumer's task: an event's failure ends it
        self.failure: BaseException | None = None
        self.lock = asyncio.Lock()  # held while a frame or an event is handled

    @property
    def idle(self) -> bool:
        return not self._backlog and not self.lock.locked()

    def deliver(self, event: Event) -> None:
        """Called by the channel layer for each event, synchronously, in arrival order."""
        if self._handle is None:  # closed: nobody is there to handle it
            return
        if self.idle and self._at_once(event):
            return
        if self._backlog is None:
            self._backlog = deque()
        self._backlog.append(event)
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            async with self.lock:
                while self._backlog:
                    await self._handle(self._backlog.popleft())
        except Exception as exc:  # as in channels' dispatch loop, a failing handler ends the consumer
            self.failure = exc
            self._backlog.clear()
            if self._owner is not None:
                self._owner.cancel()
        finally:
            self._drainer = None

    def close(self) -> None:
        """The connection ended: drop what is waiting and stop the task working through it.

        The handlers (the consumer's bound methods) and the owner are let go too: they refer
        back to this inbox, and the connection is then freed at once by reference counting.
        """
        if self._backlog:
            self._backlog.clear()
        if self._drainer is not None:
            self._drainer.cancel()
        self._handle = self._at_once = self._owner = None


class InboxConsumer(AsyncWebsocketConsumer):
    """channels' WebSocket consumer, its channel-layer events delivered to an `Inbox`.

    With a layer that has no inboxes (`new_inbox`), it is channels' consumer unchanged.
    Subclasses provide `at_once(event) -> bool` (handle without waiting, or decline) and
    set `transport` and `writer` (calls.signaling.backpressure) once the socket is accepted.
    """

    transport = None  # daphne's transport, to see how much waits for the client (backpressure)
    writer: Callable[[str], bool] | None = None  # daphne's synchronous write, None elsewhere
    inbox: Inbox | None = None
    inbound: backpressure.Inbound | None = None  # where daphne puts the client's frames, None elsewhere

    async def __call__(self, scope, receive, send):
        layer = get_channel_layer(self.channel_layer_alias)
        if not hasattr(layer, "new_inbox"):
            return await super().__call__(scope, receive, send)
        self.scope, self.channel_layer, self.base_send = scope, layer, send
        inbound = getattr(receive, "__self__", None)
        self.inbound = inbound if isinstance(inbound, backpressure.Inbound) else None
        self.inbox = inbox = Inbox(self.dispatch, self.at_once)
        self.channel_name = await layer.new_inbox(inbox.deliver)
        try:
            while True:
                message = await receive()
                async with inbox.lock:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            if inbox.failure is None:
                raise
            raise inbox.failure from None
        finally:
            inbox.close()
            if self.inbound is not None:
                self.inbound.at_once = None  # the consumer's bound method: it refers back to the consumer

    async def dispatch(self, message):
        """Route by type without channels' per-message database-connection hop (no ORM here)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    def at_once(self, event: Event) -> bool:
        return False

    def write_now(self, text: str, limit: int) -> bool:
        """Write a frame without waiting when daphne allows it and the client keeps up (at most `limit` bytes wait)."""
        write = self.writer
        if write is None:
            return False
        transport = self.transport
        if transport is not None and backpressure.pending_bytes(transport) + len(text) > limit:
            return False  # the ordinary path writes it and closes the slow reader
        return write(text)
