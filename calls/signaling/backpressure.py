"""How many bytes wait in the server for a client to read them, and a synchronous write.

ASGI gives an application no backpressure: `send` returns at once, and the server keeps
whatever the client has not read yet. Under daphne that is the Twisted transport's write
buffer, reached through the `send` callable daphne hands the application
(`functools.partial(server.handle_reply, protocol)`). Under another server `transport_of`
finds nothing and the cap is not enforced; tests/inprocess/test_backpressure.py fails
loudly if daphne's or Twisted's internals move.

`writer_of` gives the consumer a plain function that does what awaiting `send` of a
`websocket.send` does under daphne, without a coroutine: the relay path writes a frame
from inside the channel layer's receive loop (calls/signaling/inbox.py). `write_eagerly`
and `lighter_receive` trim what Twisted and daphne spend per frame and per connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from calls.signaling import frames

# Where the ASGI wrapper (calls.signaling.asgi) leaves the transport in a WebSocket's scope.
SCOPE_KEY = "rtcsite.transport"
# Where it leaves the synchronous writer (`writer_of`), or None under another server.
WRITER_KEY = "rtcsite.write"


def protocol_of(send: Any) -> Any | None:
    """The connection's protocol object daphne binds into `send`, or None (another server, a test communicator)."""
    args = getattr(send, "args", ())
    return args[0] if args else None


def transport_of(send: Any) -> Any | None:
    """The Twisted transport behind daphne's `send`, or None (another server, a test communicator)."""
    transport = getattr(protocol_of(send), "transport", None)
    if transport is None or not all(hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen")):
        return None
    return transport


def pending_bytes(transport: Any) -> int:
    """Bytes written to the transport that the client has not taken yet."""
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def writer_of(send: Any) -> Callable[[str], bool] | None:
    """`write(text)`: send a text frame now, as daphne's `handle_reply` would; None under another server.

    It returns False, having written nothing, whenever the socket is not plainly open (not
    yet accepted, closing, gone): the caller then takes the ordinary `send`, which knows
    what to do in each of those states.
    """
    server = getattr(getattr(send, "func", None), "__self__", None)
    connections = getattr(server, "connections", None)
    protocol = protocol_of(send)
    if not isinstance(connections, dict) or not all(hasattr(protocol, n) for n in ("sendMessage", "STATE_OPEN")):
        return None
    is_open = protocol.STATE_OPEN
    send = frames.sender(protocol) or partial(_send_text, protocol)

    def write(text: str) -> bool:
        entry = connections.get(protocol)
        if entry is None or entry.get("disconnected") or protocol.state != is_open:
            return False
        send(text.encode())
        return True

    return write


def _send_text(protocol: Any, data: bytes) -> None:
    protocol.sendMessage(data, False)


def write_eagerly(transport: Any) -> None:
    """Let a plain TCP transport write at once when nothing waits in its buffer.

    Twisted buffers every write and sends it on the next "writable" event: per frame two
    epoll changes (watch for writable, then stop) and one more turn of the event loop.
    asyncio's own transports try the socket first; this does the same, and hands Twisted
    only what the socket did not take (so the buffer, `pending_bytes` and the producer
    logic work as before). TLS transports and anything that is not Twisted's are left alone.
    """
    sock = getattr(transport, "socket", None)
    if sock is None or getattr(transport, "TLS", True) or not hasattr(transport, "_tempDataBuffer"):
        return
    buffered = transport.write

    def write(data: bytes) -> None:
        if not transport.connected or transport.disconnecting or pending_bytes(transport):
            return buffered(data)
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            # The peer is gone (reset, broken pipe). The send has taken the socket's pending
            # error, so the poller may never report it and Twisted would wait on a dead socket
            # for good: end the connection now, as Twisted does when its own write fails.
            transport.abortConnection()
            return None
        if sent < len(data):
            buffered(data[sent:])

    transport.write = write


def write_as_before(transport: Any) -> None:
    """Undo `write_eagerly` when the connection has ended: its function refers back to the transport."""
    if transport is not None:
        vars(transport).pop("write", None)


class Inbound:
    """A WebSocket's incoming messages, for its one reader: what daphne's `asyncio.Queue` does here.

    daphne gives every connection an `asyncio.Queue` (four deques and an Event, about 3 KiB)
    and puts each frame into it with `put_nowait`; the application takes them with `get`.
    One reader needs a list and at most one waiting future.

    While the reader waits with nothing queued, a message is first offered to `at_once`
    (set by the reader): if it handles the message there and then, it is not queued and
    the reader is not woken. Messages are still taken in the order they arrived.
    """

    __slots__ = ("_items", "_waiter", "at_once")

    def __init__(self, items: list[Any]) -> None:
        self._items = items
        self._waiter: Any = None
        self.at_once: Callable[[Any], bool] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._waiter is not None and not self._items and self.at_once is not None and self.at_once(item):
            return
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


def lighter_receive(send: Any, receive: Any) -> Any:
    """`receive` from an `Inbound` that replaces daphne's queue for this WebSocket; `receive` itself elsewhere."""
    protocol = getattr(send, "args", (None,))[0] if getattr(send, "args", None) else None
    queue = getattr(protocol, "application_queue", None)
    if not isinstance(queue, asyncio.Queue) or getattr(receive, "__self__", None) is not queue:
        return receive
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    protocol.application_queue = inbound = Inbound(items)
    return inbound.get
