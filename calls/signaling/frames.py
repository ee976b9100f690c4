"""A client's WebSocket frames: the common frame read and written in one step, the rest by autobahn.

autobahn reads every frame through a general state machine: a header object, a masker,
a UTF-8 validator, seven callbacks, a join of the fragments and a resolved Deferred for
its "message" signal, each frame. Nearly every frame a signaling client sends is one
whole, masked, unfragmented, uncompressed text frame of under 64 KiB, read in one piece.
`read_eagerly` has the protocol take such frames itself: the checks autobahn makes of
them, the payload unmasked by autobahn's own masker, the traffic counters and the
auto-ping reset as autobahn keeps them, and the text handed to the protocol's `onMessage`
as autobahn hands it. `sender` writes a text message as one unmasked frame with the
header autobahn would build, without its per-call argument asserts, eager debug-line
arguments and general frame builder.

From the first byte that is anything else (a control or continuation frame, a partial
frame, a frame over the size limits, invalid UTF-8, a connection not plainly open) that
read goes, with all that follows it, to autobahn's own reader, which answers it exactly
as before. tests/unit/test_frames.py feeds both readers the same bytes and fails loudly
if autobahn's internals move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autobahn.websocket.protocol import WebSocketProtocol
from autobahn.websocket.xormasker import create_xor_masker

# First byte of the common frame: FIN set, no RSV bits (no extension), opcode 1 (text).
_WHOLE_TEXT = 0x81
# Second byte: the MASK bit, then a 7-bit length; 126 announces a 16-bit length.
_MASKED = 0x80
_LENGTH_16 = 126

_OPEN = WebSocketProtocol.STATE_OPEN
# Set by autobahn when it accepts the handshake; read only once the state is open.
_SET_AT_OPEN = ("current_frame", "inside_message")
# What the fast path reads of the protocol; all are autobahn's, kept per connection.
_NEEDED = (
    "_dataReceived",
    "onMessage",
    "state",
    "data",
    "failedByMe",
    "applyMask",
    "logOctets",
    "logFrames",
    "trackedTimings",
    "_perMessageCompress",
    "_listeners",
    "_parent",
    "maxFramePayloadSize",
    "maxMessagePayloadSize",
    "autoPingTimeoutCall",
    "autoPingRestartOnAnyTraffic",
    "_cancelAutoPingTimeoutCall",
    "trafficStats",
)


def _plain(protocol: Any) -> bool:
    """Between messages, nothing buffered, no extension, log, timing or listener that wants the slow path.

    The state is read first: `_SET_AT_OPEN` exist from the moment it is open.
    """
    return (
        protocol.state == _OPEN
        and not protocol.data
        and protocol.current_frame is None
        and not protocol.inside_message
        and not protocol.failedByMe
        and protocol.applyMask
        and not protocol.logOctets
        and not protocol.logFrames
        and not protocol.trackedTimings
        and protocol._perMessageCompress is None
        and protocol._listeners is None
        and protocol._parent is None
    )


def _valid_text(payload: bytes) -> bool:
    if payload.isascii():
        return True
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def reader(protocol: Any) -> Callable[[bytes], None] | None:
    """The `dataReceived` that reads common frames itself; None for anything but an autobahn server protocol."""
    if not isinstance(protocol, WebSocketProtocol) or not getattr(protocol.factory, "isServer", False):
        return None
    if not all(hasattr(protocol, name) for name in _NEEDED):
        return None
    general = protocol._dataReceived

    def data_received(data: bytes) -> None:
        p = protocol
        if not _plain(p):
            general(data)
            return
        stats = p.trafficStats
        frame_limit, message_limit = p.maxFramePayloadSize, p.maxMessagePayloadSize
        n, i = len(data), 0
        while n - i >= 6 and data[i] == _WHOLE_TEXT:
            second = data[i + 1]
            if not second & _MASKED:
                break  # autobahn refuses an unmasked client frame
            length = second & 0x7F
            if length < _LENGTH_16:
                start = i + 6
            elif length == _LENGTH_16 and n - i >= 8:
                length = (data[i + 2] << 8) | data[i + 3]
                if length < _LENGTH_16:
                    break  # not the shortest encoding: autobahn refuses it
                start = i + 8
            else:
                break  # a 64-bit length, or a header not yet whole
            end = start + length
            if end > n or 0 < frame_limit < length or 0 < message_limit < length:
                break
            payload = create_xor_masker(data[start - 4 : start], length).process(data[start:end]) if length else b""
            if not _valid_text(payload):
                break  # autobahn closes with 1007
            stats.incomingOctetsWireLevel += end - i
            stats.incomingOctetsWebSocketLevel += length
            stats.incomingOctetsAppLevel += length
            stats.incomingWebSocketFrames += 1
            stats.incomingWebSocketMessages += 1
            if p.autoPingTimeoutCall and p.autoPingRestartOnAnyTraffic:
                p._cancelAutoPingTimeoutCall()
            i = end
            p.onMessage(payload, False)
            if not _plain(p):
                break
        if i < n:
            if i and p.state != _OPEN:
                stats.incomingOctetsWireLevel += n - i  # autobahn counts a read whole if it began open
            general(data[i:] if i else data)

    return data_received


def read_eagerly(protocol: Any) -> bool:
    """Give this connection's protocol the reader above; False (nothing changed) where it does not apply."""
    data_received = reader(protocol)
    if data_received is None:
        return False
    protocol.dataReceived = data_received
    return True


def read_as_before(protocol: Any) -> None:
    """Undo `read_eagerly` when the connection has ended: its reader refers back to the protocol."""
    if protocol is not None:
        vars(protocol).pop("dataReceived", None)


# What the sending fast path reads of the protocol; set from the factory when the connection is made.
_SENDING = (
    "sendMessage",
    "transport",
    "trafficStats",
    "_perMessageCompress",
    "trackedTimings",
    "logFrames",
    "logOctets",
    "autoFragmentSize",
    "maskServerFrames",
    "send_queue",
    "maxMessagePayloadSize",
)


def sender(protocol: Any) -> Callable[[bytes], None] | None:
    """`send(payload)`: a text message as autobahn's `sendMessage` writes it; None but for its server protocol.

    Under 64 KiB on an open, plain connection (no compression, fragmentation, masking, logs,
    timings or queued chopped writes) it writes the frame itself; otherwise it calls
    `sendMessage`, which also raises as before on a connection that is not open.
    """
    if not isinstance(protocol, WebSocketProtocol) or not getattr(protocol.factory, "isServer", False):
        return None
    if not all(hasattr(protocol, name) for name in _SENDING):
        return None
    general = protocol.sendMessage

    def send(payload: bytes) -> None:
        p = protocol
        n = len(payload)
        if (
            p.state != _OPEN
            or n > 0xFFFF
            or p._perMessageCompress is not None
            or p.trackedTimings
            or p.logFrames
            or p.logOctets
            or p.autoFragmentSize
            or p.maskServerFrames
            or p.send_queue
            or 0 < p.maxMessagePayloadSize < n
        ):
            general(payload, False)
            return
        raw = (
            bytes((_WHOLE_TEXT, n)) if n < _LENGTH_16 else bytes((_WHOLE_TEXT, _LENGTH_16, n >> 8, n & 0xFF))
        ) + payload
        stats = p.trafficStats
        stats.outgoingWebSocketMessages += 1
        stats.outgoingOctetsAppLevel += n
        stats.outgoingOctetsWebSocketLevel += n
        stats.outgoingWebSocketFrames += 1
        p.transport.write(raw)
        if p.state == _OPEN:
            stats.outgoingOctetsWireLevel += len(raw)

    return send
