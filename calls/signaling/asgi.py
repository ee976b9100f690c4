"""The signaling runtime's ASGI wrapper: the node's maintenance loop starts with the first scope."""

from __future__ import annotations

from typing import Any

from calls.signaling import backpressure, sweeps
from calls.signaling.node import node


class NodeLifecycle:
    """Wraps the site's ASGI application; starts this process's node loop with the first connection or request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        sweeps.install(node)

    async def __call__(self, scope, receive, send):
        node.ensure_started()
        if scope["type"] == "websocket":
            # Middleware wraps `send`; the consumer finds the server's transport and writer here instead.
            transport = backpressure.transport_of(send)
            if transport is not None:
                backpressure.write_eagerly(transport)
            receive = backpressure.lighter_receive(send, receive)
            scope = {**scope, backpressure.SCOPE_KEY: transport, backpressure.WRITER_KEY: backpressure.writer_of(send)}
        return await self.app(scope, receive, send)
