"""A canary for the daphne and Twisted internals the slow-reader cap reads (calls/signaling/backpressure.py)."""

from __future__ import annotations

import inspect
from functools import partial
from types import SimpleNamespace

from daphne.server import Server
from twisted.internet.abstract import FileDescriptor

from calls.signaling import backpressure


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
