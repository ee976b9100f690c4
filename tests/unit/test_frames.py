"""The eager frame reader (calls/signaling/frames.py) against autobahn's own: the same bytes in,
the same messages, replies, closes and traffic counters out, and a canary for the autobahn
internals it reads."""

from __future__ import annotations

import inspect
import os
import struct

import autobahn.twisted.websocket as twisted_websocket
import daphne.ws_protocol
import pytest
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet.main import CONNECTION_DONE
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from calls.signaling import frames
from tests.collector import collector_off

HANDSHAKE = (
    b"GET /ws/ HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
TEXT, BINARY, CONTINUATION, CLOSE, PING = 1, 2, 0, 8, 9


class Recorder(WebSocketServerProtocol):
    """Records what autobahn hands the application; the message "bye" makes it close, as a consumer may."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple] = []

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.events.append(("message", bytes(payload), isBinary))
        if payload == b"bye":
            self.sendClose(1000)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.events.append(("close", wasClean, code))


class Transport(StringTransport):
    def unregisterProducer(self) -> None:
        self.producer = None  # autobahn unregisters on close whether or not it registered


def connected(eager: bool, **options) -> Recorder:
    """An open connection; options named like the protocol's attributes are set after the handshake."""
    factory = WebSocketServerFactory()
    factory.protocol = Recorder
    factory.setProtocolOptions(autoPingInterval=0, failByDrop=False)  # fail with a close frame, to read its code
    protocol = factory.buildProtocol(None)
    transport = Transport()
    protocol.makeConnection(transport)
    protocol.dataReceived(HANDSHAKE)
    assert protocol.state == protocol.STATE_OPEN
    transport.clear()
    for name, value in options.items():
        setattr(protocol, name, value)
    if eager:
        assert frames.read_eagerly(protocol)
    return protocol


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    masked: bool = True,
    rsv: int = 0,
    length_bytes: int | None = None,
) -> bytes:
    """A client frame; `length_bytes` forces a 16-bit (2) or 64-bit (8) length field."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    n = len(payload)
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 65536 else 8
    if length_bytes == 0:
        header = bytes([first, mask_bit | n])
    elif length_bytes == 2:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", n)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text(payload: str | bytes, **kwargs) -> bytes:
    return frame(TEXT, payload.encode() if isinstance(payload, str) else payload, **kwargs)


def outcome(protocol: Recorder) -> tuple:
    stats = protocol.trafficStats.__json__()
    return protocol.events, protocol.transport.value(), protocol.state, stats


def both(chunks: list[bytes], **options) -> tuple[tuple, tuple]:
    """Feed the same chunks to autobahn's reader and to the eager one; return what each made of them."""
    results = []
    for eager in (False, True):
        protocol = connected(eager, **options)
        for chunk in chunks:
            protocol.dataReceived(chunk)
        results.append(outcome(protocol))
    return results[0], results[1]


def close_code(result: tuple) -> int:
    """The code of the close frame the server sent (unmasked, a reason under 126 bytes)."""
    sent = result[1]
    assert sent[0] == 0x88, sent
    return struct.unpack("!H", sent[2:4])[0]


def messages(result: tuple) -> list[bytes]:
    return [event[1] for event in result[0] if event[0] == "message"]


OFFER = '{"type":"offer","to":"abc","sdp":"' + "v=0\\r\\n" * 200 + '"}'


def test_many_whole_frames_in_one_read_arrive_in_order_with_autobahns_counters():
    payloads = ["", "a", "x" * 125, "y" * 126, OFFER, "ü€😀" * 40, "z" * 65535]
    stream = b"".join(text(p) for p in payloads)
    slow, fast = both([stream])
    assert messages(fast) == [p.encode() for p in payloads]
    assert fast == slow


def test_frames_split_at_every_byte_arrive_whole_and_once():
    stream = text("first") + text(OFFER[:300]) + text("third")
    for cut in range(1, len(stream)):
        slow, fast = both([stream[:cut], stream[cut:]])
        assert messages(fast) == [b"first", OFFER[:300].encode(), b"third"], cut
        assert fast == slow, cut


def test_a_byte_at_a_time_is_read_as_autobahn_reads_it():
    stream = text("hello") + frame(PING, b"p") + text("world")
    slow, fast = both([stream[i : i + 1] for i in range(len(stream))])
    assert messages(fast) == [b"hello", b"world"]
    assert fast == slow


def test_pings_binary_and_fragmented_messages_between_whole_frames_are_answered_as_before():
    stream = (
        text("one")
        + frame(PING, b"are you there")
        + frame(BINARY, b"\x00\x01\x02")
        + text("two")
        + frame(TEXT, b"par", fin=False)
        + frame(PING, b"again")
        + frame(CONTINUATION, b"ts")
        + text("three")
    )
    slow, fast = both([stream])
    assert fast[0] == [
        ("message", b"one", False),
        ("message", b"\x00\x01\x02", True),
        ("message", b"two", False),
        ("message", b"parts", False),
        ("message", b"three", False),
    ]
    assert fast[1].count(b"are you there") == 1 and fast[1].count(b"again") == 1  # both pongs sent
    assert fast == slow


def test_a_frame_of_64_kib_or_more_is_left_to_autobahn_and_still_delivered():
    slow, fast = both([text("short") + text("q" * 65536) + text("after")])
    assert messages(fast) == [b"short", b"q" * 65536, b"after"]
    assert fast == slow


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (text("unmasked", masked=False), 1002),
        (text(b"caf\xc3"), 1007),  # a truncated UTF-8 sequence
        (text(b"\xff\xfe"), 1007),
        (text("five!", length_bytes=2), 1002),  # a 16-bit length for 5 bytes: not the shortest form
        (text("q" * 200, length_bytes=8), 1002),  # a 64-bit length under 64 KiB
        (text("rsv", rsv=4), 1002),  # an extension bit nobody negotiated
    ],
)
def test_a_bad_frame_after_good_ones_fails_the_connection_with_autobahns_code(bad, code):
    slow, fast = both([text("good") + bad + text("never")])
    assert messages(fast) == [b"good"]
    assert close_code(fast) == code
    assert fast == slow


def test_frames_over_the_size_limits_are_refused_as_autobahn_refuses_them():
    for options in ({"maxFramePayloadSize": 100}, {"maxMessagePayloadSize": 100}):
        slow, fast = both([text("x" * 100) + text("y" * 101) + text("z")], **options)
        assert messages(fast) == [b"x" * 100], options
        assert close_code(fast) == 1009, options
        assert fast == slow, options


def test_frames_after_the_application_closes_are_treated_as_autobahn_treats_them():
    slow, fast = both([text("hi") + text("bye") + text("late") + frame(CLOSE, struct.pack("!H", 1000))])
    assert messages(fast) == [b"hi", b"bye", b"late"]  # autobahn still delivers while closing
    assert fast[1] == b"\x88\x02\x03\xe8"  # the application's close, sent once
    assert fast == slow


def test_incoming_traffic_cancels_a_pending_auto_ping_timeout():
    class Call:
        cancelled = 0

        def cancel(self) -> None:
            Call.cancelled += 1

    protocol = connected(True)
    protocol.autoPingRestartOnAnyTraffic = True
    protocol.autoPingTimeoutCall = Call()
    protocol.dataReceived(text("still here"))
    assert Call.cancelled == 1 and protocol.autoPingTimeoutCall is None
    assert messages(outcome(protocol)) == [b"still here"]


def test_a_connection_that_logs_frames_takes_autobahns_reader():
    slow, fast = both([text("a") + text("b")], logFrames=True)
    assert messages(fast) == [b"a", b"b"]
    assert fast == slow


def test_only_an_autobahn_server_protocol_is_given_the_reader():
    class Other:
        dataReceived = None

    other = Other()
    assert frames.read_eagerly(other) is False and other.dataReceived is None
    assert frames.read_eagerly(None) is False


def test_canary_daphne_reads_through_autobahns_twisted_data_received():
    """The reader replaces `dataReceived`, which in these versions only logs and calls `_dataReceived`."""
    assert issubclass(daphne.ws_protocol.WebSocketProtocol, WebSocketServerProtocol)
    assert daphne.ws_protocol.WebSocketProtocol.dataReceived is twisted_websocket.WebSocketAdapterProtocol.dataReceived
    body = inspect.getsource(twisted_websocket.WebSocketAdapterProtocol.dataReceived)
    assert "self._dataReceived(data)" in body
    assert body.count("self.") == len(["self.log", "self.dataReceived", "self.peer", "self._dataReceived"])
    protocol = connected(False)
    assert all(hasattr(protocol, name) for name in frames._NEEDED + frames._SET_AT_OPEN)


def test_whole_text_frames_do_not_enter_autobahns_frame_parser():
    protocol = connected(True)

    def refuse() -> bool:
        raise AssertionError("autobahn parsed a frame the eager reader takes")

    protocol.processData = refuse
    protocol.dataReceived(text("a") + text(OFFER) + text("ü" * 100))
    assert messages(outcome(protocol)) == [b"a", OFFER.encode(), "ü".encode() * 100]


def test_the_reader_given_before_the_handshake_is_accepted_reads_the_frames_after_it():
    """daphne's application, where the reader is given, starts before it accepts the connection."""
    factory = WebSocketServerFactory()
    factory.protocol = Recorder
    factory.setProtocolOptions(autoPingInterval=0)
    protocol = factory.buildProtocol(None)
    protocol.makeConnection(Transport())
    assert frames.read_eagerly(protocol)
    protocol.dataReceived(HANDSHAKE + text("with the handshake"))
    assert protocol.state == protocol.STATE_OPEN

    def refuse() -> bool:
        raise AssertionError("autobahn parsed a frame the eager reader takes")

    protocol.processData = refuse
    protocol.dataReceived(text("after it") + text(OFFER))
    assert messages(outcome(protocol)) == [b"with the handshake", b"after it", OFFER.encode()]


def test_canary_daphnes_protocol_takes_the_reader_while_its_handshake_is_pending():
    protocol = daphne.ws_protocol.WebSocketFactory(server_class=None).buildProtocol(None)
    protocol.makeConnection(Transport())
    assert protocol.state == protocol.STATE_CONNECTING
    assert frames.read_eagerly(protocol)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 1500, 65535, 65536, 200_000])
def test_the_sender_writes_what_autobahns_send_message_writes(size):
    payload = ("é" * size).encode()[:size]
    results = []
    for eager in (False, True):
        protocol = connected(False)
        send = frames.sender(protocol) if eager else lambda data, p=protocol: p.sendMessage(data, False)
        send(payload)
        send(b"second")
        results.append((protocol.transport.value(), protocol.trafficStats.__json__()))
    assert results[1] == results[0]
    assert results[1][0].endswith(b"second") and len(results[1][0]) > size


def test_the_sender_leaves_fragmenting_and_frame_logging_to_autobahn():
    for options, first_byte in (({"autoFragmentSize": 100}, 0x01), ({"logFrames": True}, 0x81)):
        results = []
        for eager in (False, True):
            protocol = connected(False, **options)
            send = frames.sender(protocol) if eager else lambda data, p=protocol: p.sendMessage(data, False)
            send(b"x" * 250)
            results.append((protocol.transport.value(), protocol.trafficStats.__json__()))
        assert results[1] == results[0], options
        assert results[1][0][0] == first_byte, options  # 0x01: a first fragment, not FIN


def test_the_sender_on_a_connection_that_is_not_open_raises_as_autobahn_does():
    protocol = connected(False)
    send = frames.sender(protocol)
    protocol.sendClose(1000)
    with pytest.raises(Exception, match="closed protocol"):
        send(b"late")
    assert protocol.transport.value() == b"\x88\x02\x03\xe8"


def test_canary_daphnes_protocol_takes_the_sender_while_its_handshake_is_pending():
    protocol = daphne.ws_protocol.WebSocketFactory(server_class=None).buildProtocol(None)
    protocol.makeConnection(Transport())
    assert frames.sender(protocol) is not None


def test_an_ended_connections_protocol_reads_as_before_and_is_freed_without_the_collector():
    import weakref

    protocol = connected(eager=True)
    frames.read_as_before(protocol)
    assert "dataReceived" not in vars(protocol)  # autobahn's own reader again
    protocol.dataReceived(text("after"))
    assert protocol.events[-1] == ("message", b"after", False)
    protocol.transport = None  # as Twisted leaves it once the connection is lost
    gone = weakref.ref(protocol)
    with collector_off():
        del protocol
        assert gone() is None, "the reader still refers back to its protocol: left for a full collection"


@pytest.mark.parametrize("freed", [True, False])
def test_a_closed_protocol_is_freed_without_the_collector_once_is_closed_lets_go_of_it(freed):
    """autobahn resolves `is_closed` with the protocol itself; `handshake.free_when_closed` drops that result."""
    import weakref

    from calls.signaling import handshake

    protocol = connected(eager=False)
    if freed:
        handshake.free_when_closed(protocol)
    protocol.connectionLost(Failure(CONNECTION_DONE))
    assert protocol.is_closed.called
    protocol.transport = None  # as Twisted leaves it
    gone = weakref.ref(protocol)
    with collector_off():
        del protocol
        assert (gone() is None) is freed
