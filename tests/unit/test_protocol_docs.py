"""docs/protocol.md and calls/protocol.py describe the same protocol."""

import json
import re
from pathlib import Path

from calls.signaling import protocol, rooms

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
# Relayed answers and candidates have the relayed offer's shape; one example stands for all three.
SERVER_TYPES = {
    "hello", "joined", "left", "peer-joined", "peer-left", "offer",
    "pong", "error", "call-state", "incoming-call", "reconnect",
    "chat", "media", "hand", "removed", "let-in",
}  # fmt: skip


def examples() -> list[tuple[str, dict]]:
    """(direction, frame) for every ```json block, direction from the heading above it."""
    found, direction, block = [], None, None
    for line in DOC.splitlines():
        heading = re.match(r"#+ .*\((client|server) → (client|server)\)", line)
        if heading:
            direction = heading.group(1)
        elif line.startswith("#"):
            direction = direction if line.startswith("####") else None
        if line.strip() == "```json":
            block = []
        elif line.strip() == "```" and block is not None:
            found.append((direction, json.loads("\n".join(block))))
            block = None
        elif block is not None:
            block.append(line)
    return found


def test_every_client_example_parses_with_the_server_parser():
    client = [frame for direction, frame in examples() if direction == "client"]
    assert len(client) >= 10
    for frame in client:
        parsed = protocol.parse(json.dumps(frame))
        assert parsed.id == frame.get("id")


def test_every_client_frame_type_is_documented_with_an_example():
    documented = {frame["type"] for direction, frame in examples() if direction == "client"}
    assert documented == set(protocol.CLIENT_FRAMES)


def test_every_server_example_is_a_known_server_frame():
    server = [frame for direction, frame in examples() if direction == "server"]
    assert {frame["type"] for frame in server} == SERVER_TYPES


def test_every_example_belongs_to_a_direction():
    assert all(direction in ("client", "server") for direction, _ in examples())


def test_every_error_code_is_in_the_error_table():
    for code in protocol.ErrorCode:
        assert re.search(rf"^\| `{code.value}` \|", DOC, re.M), code


def test_every_close_code_is_in_the_close_table():
    for code in protocol.CloseCode:
        kind = "retryable" if code.retryable else "final"
        assert re.search(rf"^\| {int(code)} \| {kind} \|", DOC, re.M), code


def test_leave_reasons_are_documented():
    for reason in protocol.LeaveReason:
        assert re.search(rf"^\| `{reason.value}` \|", DOC, re.M), reason


def test_documented_limits_match_settings(settings):
    assert f"| frame size | {settings.SIGNALING_MAX_FRAME:,} bytes |" in DOC
    assert f"| heartbeat window | {settings.SIGNALING_HEARTBEAT} s |" in DOC
    assert f"| resume grace window | {settings.SIGNALING_RESUME_GRACE} s |" in DOC
    chat_rate = f"{settings.SIGNALING_CHAT_RATE:g}/s sustained, bursts of {settings.SIGNALING_CHAT_BURST}"
    assert f"| chat messages per connection | {chat_rate} |" in DOC
    assert f"| chat message | 1\u2013{protocol.MAX_CHAT_LENGTH:,} characters, not only whitespace |" in DOC
    assert f"| chat history per room | the last {rooms.CHAT_HISTORY} messages, until the room is empty |" in DOC


def test_every_server_frame_builder_has_a_documented_example():
    """A new `*_frame` builder without an example here fails (relay_frame stands for offer/answer/candidate)."""
    built = {name.removesuffix("_frame").replace("_", "-") for name in dir(protocol) if name.endswith("_frame")}
    documented = {frame["type"] for direction, frame in examples() if direction == "server"}
    assert built - {"relay"} <= documented, built - documented


def test_every_field_of_the_new_server_frames_is_in_their_examples():
    """The builders and the examples agree on the fields of the room frames (no field left undocumented)."""
    user = protocol.user_info(1, "a", "A")
    built = [
        protocol.joined_frame("r", "p", [], "x"),
        protocol.peer_joined_frame("r", "p", user),
        protocol.chat_frame("r", "p", user, "t", 1, "m"),
        protocol.media_frame("r", "p", {"audio": True, "video": True, "screen": False}),
        protocol.hand_frame("r", "p", True, "p", ["p"]),
        protocol.removed_frame("r", "p", user, user, "x"),
        protocol.let_in_frame("r", user, "x"),
    ]
    documented: dict[str, set[str]] = {}
    for direction, frame in examples():
        if direction == "server":
            documented.setdefault(frame["type"], set()).update(frame)
    for frame in built:
        assert set(frame) <= documented[frame["type"]], frame["type"]
