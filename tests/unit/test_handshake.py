"""What an idle WebSocket keeps from its handshake (calls/signaling/handshake.py), and a canary for the
daphne, autobahn and Twisted internals the release relies on."""

from __future__ import annotations

import ast
import gc
import inspect
import pprint
import sys
import textwrap
import weakref
from collections import deque
from functools import partial
from types import SimpleNamespace

import autobahn.twisted.websocket as twisted_websocket
import autobahn.websocket.protocol as autobahn_protocol
import daphne.ws_protocol
from daphne.http_protocol import WebRequest
from twisted.internet.testing import StringTransport
from twisted.web.http import HTTPChannel, Request

from calls.signaling import handshake
from tests.collector import collector_off


async def handle_reply(protocol, message): ...


class Protocol:
    """Stands in for daphne's WebSocketProtocol: a hundred attributes, the handshake's among them."""

    def __init__(self, transport) -> None:
        self.transport = transport
        for i in range(99 - len(handshake.HANDSHAKE_ONLY)):
            setattr(self, f"kept_{i}", i)
        for name in handshake.HANDSHAKE_ONLY:
            setattr(self, name, object())
        self.clean_headers = [(b"cookie", b"sessionid=x"), (b"user-agent", b"test")]
        self.http_headers = {"cookie": "sessionid=x"}


def test_the_release_unhooks_the_http_channel_and_drops_the_handshakes_attributes():
    transport = StringTransport()
    channel = HTTPChannel()
    channel.makeConnection(transport)  # as daphne's upgrade leaves it: the channel is the producer
    assert transport.producer is channel
    protocol = Protocol(transport)
    headers, parsed = protocol.clean_headers, protocol.http_headers
    size_before = sys.getsizeof(protocol.__dict__)
    gone = weakref.ref(channel)
    del channel

    handshake.releaser(partial(handle_reply, protocol))()
    gc.collect()

    assert transport.producer is None
    assert gone() is None, "the HTTP channel (request, headers, body buffer) is still held"
    assert headers == [] and parsed == {}  # the same lists the scope and autobahn's request hold
    assert not any(hasattr(protocol, name) for name in handshake.HANDSHAKE_ONLY)
    assert protocol.kept_0 == 0 and protocol.transport is transport
    assert sys.getsizeof(protocol.__dict__) < size_before * 0.6


class Upgraded(Request):
    """A request as daphne's upgrade leaves it: processed, never finished, still queued on its channel."""

    def process(self) -> None:
        pass


def test_the_released_channel_and_its_request_are_freed_at_once_not_by_a_later_collection():
    transport = StringTransport()
    channel = HTTPChannel()
    channel.requestFactory = Upgraded
    channel.makeConnection(transport)
    channel.dataReceived(b"GET /ws/signal/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    assert [type(r) for r in channel.requests] == [Upgraded]  # the channel and its request refer to each other
    gone, request_gone = weakref.ref(channel), weakref.ref(channel.requests[0])
    release = handshake.releaser(partial(handle_reply, Protocol(transport)))
    del channel
    with collector_off():
        release()
        assert gone() is None and request_gone() is None, "left for the collector's next full pass"


def test_a_scope_releases_once_and_keeps_no_headers():
    calls = []
    scope = {"headers": [(b"host", b"x")], handshake.RELEASE_KEY: lambda: calls.append(1)}
    handshake.release_handshake(scope)
    handshake.release_handshake(scope)
    assert calls == [1]
    assert scope["headers"] == () and handshake.RELEASE_KEY not in scope


def test_under_another_server_nothing_is_released():
    assert handshake.releaser(handle_reply) is None
    assert handshake.releaser(partial(handle_reply, SimpleNamespace(transport=None))) is None
    for scope in ({"headers": [(b"host", b"x")]}, {"headers": [(b"host", b"x")], handshake.RELEASE_KEY: None}):
        handshake.release_handshake(scope)  # no release function: a test communicator, another server
        assert scope["headers"] == () and handshake.RELEASE_KEY not in scope


def _server_classes() -> list[type]:
    return [
        autobahn_protocol.WebSocketProtocol,
        autobahn_protocol.WebSocketServerProtocol,
        twisted_websocket.WebSocketAdapterProtocol,
        twisted_websocket.WebSocketServerProtocol,
        daphne.ws_protocol.WebSocketProtocol,
    ]


def test_only_the_handshake_methods_read_the_attributes_that_are_released():
    readers: dict[str, set[str]] = {}
    for cls in _server_classes():
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "self"
                    and sub.attr in handshake.HANDSHAKE_ONLY
                ):
                    readers.setdefault(sub.attr, set()).add(node.name)
            for sub in ast.walk(node):  # getattr(self, "name") would hide a reader from the check above
                if isinstance(sub, ast.Constant) and sub.value in handshake.HANDSHAKE_ONLY:
                    readers.setdefault(sub.value, set()).add(node.name)
    outside = {name: methods - handshake.HANDSHAKE_METHODS for name, methods in readers.items()}
    assert not any(outside.values()), f"read after the handshake too: {outside}"
    assert readers["http_headers"] >= {"processHandshake"}, "autobahn's handshake moved: recheck HANDSHAKE_ONLY"
    assert readers["clean_headers"] == {"onConnect"}, "daphne's onConnect moved: recheck HANDSHAKE_ONLY"


def test_daphne_still_upgrades_by_swapping_the_transports_protocol_and_keeping_the_channel():
    source = inspect.getsource(WebRequest.process)
    assert "transport.protocol = protocol" in source, "daphne changed how it hands the socket over"
    assert "unregisterProducer" not in source  # if daphne releases the channel itself, the release is moot


def test_autobahns_send_queue_is_swapped_for_a_list_that_works_the_same():
    protocol = Protocol(StringTransport())
    protocol.send_queue = deque()
    handshake.releaser(partial(handle_reply, protocol))()
    queue = protocol.send_queue
    assert isinstance(queue, handshake.SendQueue) and len(queue) == 0
    queue.append((b"a", True))
    queue.append((b"b", False))
    assert len(queue) == 2 and queue.popleft() == (b"a", True) and queue.popleft() == (b"b", False)
    assert sys.getsizeof(queue) + sys.getsizeof(queue._items) < sys.getsizeof(deque()) / 3


def test_autobahn_still_uses_only_len_append_and_popleft_of_its_send_queue():
    used = set()
    for cls in _server_classes():
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(cls)))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "send_queue"
            ):
                used.add(node.attr)
    assert used == {"append", "popleft"}, f"autobahn uses more of its send queue now: {used}"
    source = inspect.getsource(autobahn_protocol.WebSocketProtocol._connectionMade)
    assert "self.send_queue = deque()" in source


def test_autobahn_formats_its_options_only_for_a_debug_line_that_is_written(monkeypatch):
    monkeypatch.setattr(autobahn_protocol, "pformat", autobahn_protocol.pformat)
    monkeypatch.setattr(autobahn_protocol.Timings, "__str__", autobahn_protocol.Timings.__str__)
    handshake.defer_debug_formatting()
    timings = autobahn_protocol.Timings()
    timings.track("onOpen")
    assert str(timings) == pprint.pformat(timings._timings)  # still a str where autobahn returns one
    formatted = []

    class Option:
        def __repr__(self) -> str:
            formatted.append(self)
            return "option"

    deferred = autobahn_protocol.pformat([Option(), Option()])
    assert formatted == []  # a connection's debug line that nobody logs costs no formatting
    assert f"\n{deferred}" == "\n[option, option]" and len(formatted) == 2  # the line, when it is written


def test_canary_autobahn_passes_pformat_only_as_a_log_argument():
    """If this fails, autobahn uses pformat's result in another way: re-read defer_debug_formatting."""
    tree = ast.parse(inspect.getsource(autobahn_protocol))
    uses = [
        node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "pformat"
    ]
    assert uses, "autobahn no longer calls pformat: defer_debug_formatting can go"
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for use in uses:
        parent = parents[use]
        while isinstance(parent, ast.keyword):
            parent = parents[parent]
        # a keyword of a log call, or Timings.__str__'s answer (which defer_debug_formatting replaces)
        logged = isinstance(parent, ast.Call) and ast.unparse(parent.func).startswith("self.log.")
        timings = isinstance(parent, ast.Return) and ast.unparse(use) == "pformat(self._timings)"
        assert logged or timings, f"pformat used at line {use.lineno}: {ast.unparse(parent)[:80]}"
