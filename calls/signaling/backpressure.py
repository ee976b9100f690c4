"""How many bytes wait in the server for a client to read them.

ASGI gives an application no backpressure: `send` returns at once, and the server keeps
whatever the client has not read yet. Under daphne that is the Twisted transport's write
buffer, reached through the `send` callable daphne hands the application
(`functools.partial(server.handle_reply, protocol)`). Under another server `transport_of`
finds nothing and the cap is not enforced; tests/inprocess/test_backpressure.py fails
loudly if daphne's or Twisted's internals move.
"""

from __future__ import annotations

from typing import Any

# Where the ASGI wrapper (calls.signaling.asgi) leaves the transport in a WebSocket's scope.
SCOPE_KEY = "rtcsite.transport"


def transport_of(send: Any) -> Any | None:
    """The Twisted transport behind daphne's `send`, or None (another server, a test communicator)."""
    args = getattr(send, "args", ())
    transport = getattr(args[0], "transport", None) if args else None
    if transport is None or not all(hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen")):
        return None
    return transport


def pending_bytes(transport: Any) -> int:
    """Bytes written to the transport that the client has not taken yet."""
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
