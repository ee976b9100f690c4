"""What a WebSocket's HTTP handshake leaves behind in daphne, released once the connection is set up.

daphne reads the upgrade request with Twisted's HTTP machinery and then hands the socket
to an autobahn WebSocket protocol, but three things from the handshake live on for the
connection's whole life, about 5 KiB of every idle connection:

- Twisted's `HTTPChannel` stays registered as the transport's producer, and with it the
  request object, both header tables, the body buffer and the addresses; the channel and
  the request refer to each other, so even unregistered they wait for a full collection;
- daphne keeps the cleaned header list it built the scope from (the same list is the
  scope's `headers`);
- autobahn keeps the raw request bytes, its parsed header dict and a score of other
  attributes it reads only while answering the handshake; with them, the protocol's
  instance dict (about a hundred attributes) is twice the size it needs. Its queue of
  delayed writes, always empty under daphne, is a deque with a block allocated up front.

Nothing reads them after the consumer has authenticated and accepted the connection, so
the consumer calls `release_handshake(scope)` then: it runs the function the ASGI wrapper
left under `RELEASE_KEY` (None under another server) and empties the scope's headers.
tests/unit/test_handshake.py fails loudly if daphne's, autobahn's or Twisted's internals move.
"""

from __future__ import annotations

import pprint
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.web.http import HTTPChannel

# Where the ASGI wrapper (calls.signaling.asgi) leaves the release function in a WebSocket's scope.
RELEASE_KEY = "rtcsite.release_handshake"

# Attributes of daphne's WebSocket protocol read only by the methods that answer the opening
# handshake (autobahn's `processHandshake` and `succeedHandshake`, daphne's `onConnect`);
# tests/unit/test_handshake.py checks that against the installed sources.
HANDSHAKE_ONLY = (
    "_wskey",
    "allowNullOrigin",
    "allowedOrigins",
    "allowedOriginsPatterns",
    "clean_headers",
    "flashSocketPolicy",
    "http_headers",
    "http_request_data",
    "http_request_host",
    "http_request_params",
    "http_request_path",
    "http_request_uri",
    "http_response_data",
    "http_status_line",
    "maxConnections",
    "protocol_to_accept",
    "serveFlashSocketPolicy",
    "trustXForwardedFor",
    "versions",
    "webStatus",
    "websocket_extensions",
    "websocket_origin",
    "websocket_protocols",
)
HANDSHAKE_METHODS = frozenset({"processHandshake", "succeedHandshake", "onConnect"})


class SendQueue:
    """autobahn's queue of delayed writes (`sync` and chopped sends, which daphne never makes): what
    it uses of a deque, in a list. An idle connection's empty deque holds a 600-byte block."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[Any] = []

    def __len__(self) -> int:
        return len(self._items)

    def append(self, item: Any) -> None:
        self._items.append(item)

    def popleft(self) -> Any:
        return self._items.pop(0)


def releaser(send: Any) -> Callable[[], None] | None:
    """`release()`: drop what daphne's WebSocket behind `send` still holds from its handshake; None elsewhere."""
    args = getattr(send, "args", ())
    protocol = args[0] if args else None
    if protocol is None or not hasattr(protocol, "clean_headers"):
        return None

    def release() -> None:
        transport = getattr(protocol, "transport", None)
        channel = getattr(transport, "producer", None)
        if isinstance(channel, HTTPChannel):
            transport.unregisterProducer()
            _unlink(channel)
        headers = getattr(protocol, "clean_headers", None)
        if isinstance(headers, list):
            headers.clear()  # the scope's `headers` too: read only while connecting
        parsed = getattr(protocol, "http_headers", None)
        if isinstance(parsed, dict):
            parsed.clear()  # also the `headers` of autobahn's ConnectionRequest, which daphne keeps
        attributes = protocol.__dict__
        if isinstance(attributes.get("send_queue"), deque) and not attributes["send_queue"]:
            attributes["send_queue"] = SendQueue()
        for name in HANDSHAKE_ONLY:
            attributes.pop(name, None)
        protocol.__dict__ = dict(attributes)  # a dict sized for what is left

    return release


def _unlink(channel: HTTPChannel) -> None:
    """The channel and its requests refer to each other: unlinked, they are freed at once, not
    left for the collector's next full pass (34 objects of every connect)."""
    for request in channel.requests:
        request.channel = None
    channel.requests.clear()
    channel._transferDecoder = None  # holds the channel's own bound methods


def free_when_closed(protocol: Any) -> None:
    """autobahn resolves the protocol's `is_closed` with the protocol itself, a cycle that would
    keep the whole connection until a full collection; nothing here reads that result."""
    closed = getattr(protocol, "is_closed", None)
    if isinstance(closed, Deferred):
        closed.addCallback(_forget)


def _forget(result: Any) -> None:
    return None


def release_handshake(scope: dict[str, Any]) -> None:
    """Once connected: release daphne's handshake leftovers and this scope's headers (nothing reads them now)."""
    release = scope.pop(RELEASE_KEY, None)
    if release is not None:
        release()
    scope["headers"] = ()


class _Formatted:
    """`pprint.pformat(value)`, formatted only when a log line is written with it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def defer_debug_formatting() -> None:
    """autobahn pretty-prints its forty-odd options for a debug line at every new connection, whether
    debug lines are logged or not (a few per cent of a connect storm); this formats them only for a
    line that is written. tests/unit/test_handshake.py checks that autobahn uses `pformat` only so."""
    from autobahn.websocket import protocol

    protocol.pformat = _Formatted
    protocol.Timings.__str__ = _timings_text  # its one other use, which must answer a str


def _timings_text(timings: Any) -> str:
    return pprint.pformat(timings._timings)
