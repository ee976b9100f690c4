"""A canary for the daphne and Twisted internals the slow-reader cap reads (calls/signaling/backpressure.py)."""

from __future__ import annotations

import inspect
from functools import partial
from types import SimpleNamespace

from daphne.server import Server
from twisted.internet.abstract import FileDescriptor

from calls.signaling import backpressure
from tests.collector import collector_off


def test_daphne_still_hands_the_application_a_partial_over_its_protocol():
    source = inspect.getsource(Server.create_application)
    assert "send=partial(self.handle_reply, protocol)" in source, "daphne changed how it builds `send`"


def test_twisted_transports_still_keep_their_write_buffer_in_these_attributes():
    descriptor = FileDescriptor.__new__(FileDescriptor)
    FileDescriptor.__init__(descriptor)
    for name in ("dataBuffer", "offset", "_tempDataLen"):
        assert hasattr(descriptor, name), f"Twisted's FileDescriptor lost {name}"
    assert backpressure.pending_bytes(descriptor) == 0
    descriptor._tempDataBuffer.append(b"x" * 10)
    descriptor._tempDataLen += 10
    assert backpressure.pending_bytes(descriptor) == 10


def test_the_transport_is_found_only_behind_daphnes_send():
    transport = SimpleNamespace(dataBuffer=b"abc", offset=1, _tempDataLen=5)

    async def handle_reply(protocol, message): ...

    assert backpressure.transport_of(partial(handle_reply, SimpleNamespace(transport=transport))) is transport
    assert backpressure.pending_bytes(transport) == 7
    assert backpressure.transport_of(handle_reply) is None  # another server: no cap, no error
    assert backpressure.transport_of(partial(handle_reply, SimpleNamespace(transport=object()))) is None


class _Transport:
    """Twisted's TCP transport, as far as `write_eagerly` looks: a socket, the buffer, `write`."""

    TLS = False
    connected, disconnecting = 1, False

    def __init__(self, sock) -> None:
        self.socket, self.dataBuffer, self.offset, self._tempDataLen = sock, b"", 0, 0
        self._tempDataBuffer: list[bytes] = []
        self.buffered: list[bytes] = []

        self.aborted = 0

    def write(self, data: bytes) -> None:
        self.buffered.append(bytes(data))
        self._tempDataBuffer.append(bytes(data))
        self._tempDataLen += len(data)

    def abortConnection(self) -> None:
        self.aborted += 1


def test_an_eager_transport_writes_to_the_socket_when_nothing_waits_and_buffers_the_rest():
    import socket

    here, there = socket.socketpair()
    here.setblocking(False)
    transport = _Transport(here)
    backpressure.write_eagerly(transport)
    transport.write(b"frame")
    assert there.recv(100) == b"frame" and transport.buffered == []
    big = b"x" * (8 * 1024 * 1024)  # more than the socket takes: the rest waits in Twisted's buffer
    transport.write(big)
    assert transport.buffered and 0 < backpressure.pending_bytes(transport) < len(big)
    transport.write(b"after")  # behind what waits, never ahead of it
    assert transport.buffered[-1] == b"after"
    here.close()
    there.close()


def test_a_write_to_a_peer_that_is_gone_ends_the_connection_instead_of_waiting_on_the_socket():
    """The failed send took the socket's error: left to Twisted's buffer, the poller might never report it."""
    import socket

    here, there = socket.socketpair()
    here.setblocking(False)
    there.close()  # the client is gone: the send fails with a broken pipe
    transport = _Transport(here)
    backpressure.write_eagerly(transport)
    transport.write(b"frame")
    assert transport.aborted == 1 and transport.buffered == []
    here.close()


def test_tls_and_foreign_transports_are_left_alone():
    tls = _Transport(object())
    tls.TLS = True
    write = tls.write
    backpressure.write_eagerly(tls)
    assert tls.write == write
    backpressure.write_eagerly(SimpleNamespace(write=print))  # not Twisted's: nothing happens


def test_twisted_tcp_connections_still_have_what_write_eagerly_uses():
    from twisted.internet import tcp

    source = inspect.getsource(FileDescriptor.write)
    assert "self._tempDataBuffer.append(data)" in source and "self.startWriting()" in source
    assert tcp.Server.TLS is False and "self.socket: socket.socket = skt" in inspect.getsource(tcp.Connection.__init__)
    assert callable(tcp.Connection.abortConnection)


def test_the_lighter_receive_takes_over_daphnes_queue_with_what_is_in_it():
    import asyncio

    async def run():
        queue = asyncio.Queue()

        class Protocol:  # daphne's: it puts into whatever `application_queue` is
            application_queue = queue

        protocol = Protocol()
        queue.put_nowait({"type": "websocket.connect"})

        async def handle_reply(protocol, message): ...

        receive = backpressure.lighter_receive(partial(handle_reply, protocol), queue.get)
        assert protocol.application_queue is not queue
        assert await receive() == {"type": "websocket.connect"}
        waiting = asyncio.ensure_future(receive())
        await asyncio.sleep(0)
        protocol.application_queue.put_nowait({"type": "websocket.receive", "text": "a"})
        protocol.application_queue.put_nowait({"type": "websocket.receive", "text": "b"})
        assert (await waiting)["text"] == "a" and (await receive())["text"] == "b"
        other = asyncio.Queue()
        assert backpressure.lighter_receive(handle_reply, other.get) == other.get  # another server

    asyncio.run(run())


def test_daphne_still_hands_the_application_its_queues_get_and_puts_through_application_queue():
    from daphne.ws_protocol import WebSocketProtocol

    assert "receive=input_queue.get," in inspect.getsource(Server.create_application)
    assert "self.application_queue.put_nowait(" in inspect.getsource(WebSocketProtocol.onMessage)
    assert "self.application_queue.put_nowait(" in inspect.getsource(WebSocketProtocol.onClose)


def test_an_ended_connections_transport_writes_as_before_and_is_freed_without_the_collector():
    import socket
    import weakref

    here, there = socket.socketpair()
    transport = _Transport(here)
    backpressure.write_eagerly(transport)
    backpressure.write_as_before(transport)
    transport.write(b"late")  # Twisted's own write again: buffered
    assert transport.buffered == [b"late"]
    gone = weakref.ref(transport)
    with collector_off():
        del transport
        assert gone() is None, "the eager write still refers back to its transport: left for a full collection"
    here.close()
    there.close()
    backpressure.write_as_before(None)  # another server: nothing to undo
