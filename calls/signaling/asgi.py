"""The signaling runtime's ASGI wrapper: the node's maintenance loop starts with the first scope."""

from __future__ import annotations

from typing import Any

from calls.signaling import backpressure, frames, handshake, sweeps
from calls.signaling.node import node


class NodeLifecycle:
    """Wraps the site's ASGI application; starts this process's node loop with the first connection or request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        sweeps.install(node)
        handshake.defer_debug_formatting()

    async def __call__(self, scope, receive, send):
        node.ensure_started()
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        # Middleware wraps `send`; the consumer finds the server's transport and writer here instead.
        protocol, transport = backpressure.protocol_of(send), backpressure.transport_of(send)
        if transport is not None:
            backpressure.write_eagerly(transport)
        # From here on this connection's common frames skip autobahn's general reader.
        frames.read_eagerly(protocol)
        receive = backpressure.lighter_receive(send, receive)
        # Added to, not copied: daphne builds each connection its own scope and never reads it
        # again, and every copy would be held by an awaiting frame for the connection's life.
        scope[backpressure.SCOPE_KEY] = transport
        scope[backpressure.WRITER_KEY] = backpressure.writer_of(send)
        scope[handshake.RELEASE_KEY] = handshake.releaser(send)
        handshake.free_when_closed(protocol)
        try:
            return await self.app(scope, receive, send)
        finally:
            # The connection has ended (daphne ends the application after the socket closes).
            # What was set on its objects above refers back to them: undone, they are freed by
            # reference counting now, not by the next full collection of the garbage collector.
            backpressure.write_as_before(transport)
            frames.read_as_before(protocol)
