"""The relay path of the signaling consumer: offers, answers and candidates, both ways.

A relay frame from an idle connection is handled inside daphne's frame callback
(`forward_at_once`, through `backpressure.Inbound`): checked, encoded once, and one PUBLISH
written, with no task, queue or await in between. Redis' reply is not waited for; if the
PUBLISH fails, the sender gets an `unavailable` error frame whose `ref` is the frame's `id`,
as from an awaited publish (`forward`). Any frame that is not a plain relay, or that arrives
while the connection is busy, takes the ordinary path (`websocket_receive`), in arrival order.

Relay events from other connections are written the same way on the receiving side
(`at_once`, through `inbox.Inbox`). Neither direction queries the database or reads Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from django.conf import settings

from calls.signaling import events, metrics, protocol
from calls.signaling.connection import Connection
from calls.signaling.protocol import ErrorCode, ProtocolError
from calls.signaling.store import REDIS_ERRORS

logger = logging.getLogger("calls.signaling")

UNAVAILABLE = "the server is briefly unavailable; send it again"


def _target(frame: protocol.Relay) -> str:
    """The group a relay frame goes to: its one peer's (`to`), or the room's."""
    return events.peer_group(frame.to) if frame.to is not None else events.room_group(frame.room)


class Relaying:
    """Mixed into SignalingConsumer: the relay handlers, in both directions."""

    conn: Connection
    _failures: set[asyncio.Task]

    # -- from this client -----------------------------------------------------------
    async def forward(self, frame: protocol.Relay, received_at: float) -> None:
        conn = self.conn
        others = conn.rooms.get(frame.room)
        if others is None:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, "join the room first", frame.id)
        if frame.to is not None and frame.to not in others:
            raise ProtocolError(ErrorCode.UNKNOWN_PEER, "no such peer in this room", frame.id)
        try:
            await self.channel_layer.group_send(_target(frame), self._relayed(frame, received_at))
        except REDIS_ERRORS as error:  # told with the frame's ref; not a refusal (it counts for no abuse limit)
            logger.warning("redis unavailable while relaying: %s", error)
            await self.send_error(ProtocolError(ErrorCode.UNAVAILABLE, UNAVAILABLE, frame.id))
            return
        metrics.RELAYED_BY_TYPE[frame.kind].inc()

    def forward_at_once(self, message: dict) -> bool:
        """Relay a frame from daphne's callback; False, having changed nothing, leaves it to `websocket_receive`.

        Everything `websocket_receive` would refuse is left to it, so refusals are answered
        in one place. The token bucket is charged last, once the frame is known to go now.
        """
        text = message.get("text")
        conn = self.conn
        if text is None or not conn.serving or self.inbox.lock.locked():
            return False
        if protocol.oversized(text, settings.SIGNALING_MAX_FRAME):
            return False
        try:
            frame = protocol.parse(text)
        except ProtocolError:
            return False
        if frame.__class__ is not protocol.Relay:
            return False
        others = conn.rooms.get(frame.room)
        if others is None or (frame.to is not None and frame.to not in others):
            return False
        target, layer = _target(frame), self.channel_layer
        if not layer.can_send_nowait(target) or not conn.bucket.take():
            return False
        failed = self._relay_failed if frame.id is None else partial(self._relay_failed, ref=frame.id)
        layer.group_send_nowait(target, self._relayed(frame, conn.heard()), failed)
        metrics.RELAYED_BY_TYPE[frame.kind].inc()
        return True

    def _relayed(self, frame: protocol.Relay, received_at: float) -> dict:
        """The relay event: the outgoing frame encoded once, with the server-set `from` and `user`."""
        conn = self.conn
        text = protocol.encode(protocol.relay_frame(frame.kind, frame.room, conn.peer, conn.user, frame.payload))
        return events.relay(frame.room, conn.peer, text, received_at)

    def _relay_failed(self, error: Exception, ref: protocol.Ref = None) -> None:
        """A PUBLISH written by `forward_at_once` failed: the sender hears of it, as from `forward`."""
        logger.warning("redis unavailable while relaying: %s", error)
        task = asyncio.get_running_loop().create_task(
            self.send_error(ProtocolError(ErrorCode.UNAVAILABLE, UNAVAILABLE, ref))
        )
        self._failures.add(task)
        task.add_done_callback(self._failures.discard)

    # -- to this client -------------------------------------------------------------
    async def relay(self, event: dict) -> None:
        if self.relay_due(event):
            await self.send_text(event["text"])
            metrics.RELAY_LATENCY.observe(time.time() - event["ts"])

    def relay_due(self, event: dict) -> bool:
        conn = self.conn
        return event["sender"] != conn.peer and event["room"] in conn.rooms and conn.serving

    def at_once(self, event: dict) -> bool:
        """A relay event handled as it arrives (calls.signaling.inbox); False sends it the ordinary way."""
        if event["type"] != "relay" or not hasattr(self, "conn"):
            return False
        if self.relay_due(event):
            if not self.write_now(event["text"], settings.SIGNALING_MAX_PENDING):
                return False
            metrics.RELAY_LATENCY.observe(time.time() - event["ts"])
        return True
