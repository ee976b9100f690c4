"""Channel-layer events: every event a process can send has a handler on the consumer."""

from __future__ import annotations

import inspect

from channels.consumer import get_handler_name

from calls.signaling import events
from calls.signaling.consumer import SignalingConsumer

CONSTRUCTED = [
    events.relay("room1", "peerA", "{}", 1.0),
    events.peer_joined("room1", "peerA", {"id": 1}, "{}"),
    events.peer_left("room1", "peerA", "{}"),
    events.peer_removed("room1", "{}"),
    events.peer_kick(),
    events.peer_replaced("chan.2"),
    events.user_event("{}"),
]


def test_every_constructor_is_listed():
    constructors = {name for name, fn in inspect.getmembers(events, inspect.isfunction) if not name.endswith("_group")}
    assert len(CONSTRUCTED) == len(constructors)
    assert sorted(event["type"] for event in CONSTRUCTED) == sorted(events.TYPES)


def test_every_event_type_reaches_a_consumer_handler():
    for event in CONSTRUCTED:
        handler = getattr(SignalingConsumer, get_handler_name(event), None)
        assert inspect.iscoroutinefunction(handler), f"no async handler for {event['type']}"


def test_group_names_fit_the_channel_layer():
    # channels refuses group names of 100 characters or more, and anything but [a-zA-Z0-9_.-]
    long_room = "x" * 128
    for name in (events.room_group(long_room), events.room_group("a-B_9"), events.peer_group("p" * 64)):
        assert len(name) < 100 and name.replace("_", "").replace("-", "").replace(".", "").isalnum()
    assert events.room_group(long_room) != events.room_group("x" * 127)
