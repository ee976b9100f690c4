"""Protocol tables: every client frame type, valid and invalid, through calls.protocol.parse."""

import json
import re
from pathlib import Path

import pytest

from calls.signaling import protocol
from calls.signaling.protocol import ErrorCode, ProtocolError

ROOM = "abcDEF123_-"
SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"
MEDIA = {"audio": False, "video": True, "screen": False}
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}

VALID = [
    ({"type": "join", "room": ROOM}, protocol.Join, {"room": ROOM}),
    ({"type": "join", "room": ROOM, "id": "j1"}, protocol.Join, {"id": "j1"}),
    ({"type": "leave", "room": ROOM, "id": 7}, protocol.Leave, {"room": ROOM, "id": 7}),
    ({"type": "ping"}, protocol.Ping, {}),
    (
        {"type": "offer", "room": ROOM, "payload": {"type": "offer", "sdp": SDP}},
        protocol.Relay,
        {"kind": "offer", "to": None},
    ),
    (
        {"type": "answer", "room": ROOM, "to": "peerA", "payload": {"type": "answer", "sdp": SDP}},
        protocol.Relay,
        {"kind": "answer", "to": "peerA"},
    ),
    ({"type": "candidate", "room": ROOM, "payload": CANDIDATE}, protocol.Relay, {"payload": CANDIDATE}),
    (
        {"type": "candidate", "room": ROOM, "payload": {**CANDIDATE, "usernameFragment": "abcd"}},
        protocol.Relay,
        {"kind": "candidate"},
    ),
    ({"type": "candidate", "room": ROOM, "payload": None}, protocol.Relay, {"payload": None}),
    (
        {"type": "candidate", "room": ROOM, "payload": {"candidate": "", "sdpMid": None, "sdpMLineIndex": None}},
        protocol.Relay,
        {"kind": "candidate"},
    ),
    # Server-set fields are ignored when a client sends them.
    (
        {"type": "offer", "room": ROOM, "from": "spoof", "user": {"id": 1}, "payload": {"type": "offer", "sdp": SDP}},
        protocol.Relay,
        {"kind": "offer"},
    ),
    ({"type": "call", "user": "bob"}, protocol.PlaceCall, {"user": "bob"}),
    ({"type": "accept", "call": "12"}, protocol.CallAction, {"action": "accept", "call": "12"}),
    ({"type": "hangup", "call": 12}, protocol.CallAction, {"action": "hangup", "call": "12"}),
    ({"type": "decline", "call": "3"}, protocol.CallAction, {"action": "decline"}),
    ({"type": "cancel", "call": "3"}, protocol.CallAction, {"action": "cancel"}),
    ({"type": "join", "room": ROOM, "media": MEDIA}, protocol.Join, {"media": MEDIA}),
    ({"type": "join", "room": ROOM, "media": None}, protocol.Join, {"media": None}),
    ({"type": "chat", "room": ROOM, "text": "hi", "id": 4}, protocol.Chat, {"text": "hi", "id": 4}),
    ({"type": "chat", "room": ROOM, "text": " <img onerror=x> "}, protocol.Chat, {"text": " <img onerror=x> "}),
    ({"type": "chat", "room": ROOM, "text": "é" * 2000}, protocol.Chat, {"room": ROOM}),
    # a chat's sender, time and id are the server's: a client's are ignored
    ({"type": "chat", "room": ROOM, "text": "x", "from": "spoof", "user": {"id": 1}, "ts": 1}, protocol.Chat, {}),
    ({"type": "media", "room": ROOM, **MEDIA}, protocol.Media, {"state": MEDIA}),
    ({"type": "hand", "room": ROOM, "raised": True}, protocol.Hand, {"raised": True, "peer": None}),
    ({"type": "hand", "room": ROOM, "raised": False, "peer": "peerB"}, protocol.Hand, {"peer": "peerB"}),
    ({"type": "remove", "room": ROOM, "peer": "peerB"}, protocol.Remove, {"peer": "peerB"}),
    ({"type": "let-in", "room": ROOM, "user": 12}, protocol.LetIn, {"user": 12}),
    ({"type": "let-in", "room": ROOM, "user": "12"}, protocol.LetIn, {"user": 12}),
]


@pytest.mark.parametrize(("data", "cls", "fields"), VALID)
def test_valid_frames_parse(data, cls, fields):
    frame = protocol.parse(json.dumps(data))
    assert isinstance(frame, cls)
    for name, value in fields.items():
        assert getattr(frame, name) == value


INVALID = [
    ("not json", ErrorCode.BAD_JSON, None),
    ("[1, 2]", ErrorCode.BAD_JSON, None),
    ('"text"', ErrorCode.BAD_JSON, None),
    ({"room": ROOM}, ErrorCode.BAD_FRAME, None),
    ({"type": 5}, ErrorCode.BAD_FRAME, None),
    ({"type": "dance", "id": "x"}, ErrorCode.UNKNOWN_TYPE, "x"),
    ({"type": "join", "id": 3}, ErrorCode.BAD_FRAME, 3),
    ({"type": "join", "room": "has space"}, ErrorCode.BAD_FRAME, None),
    ({"type": "join", "room": "x" * 129}, ErrorCode.BAD_FRAME, None),
    ({"type": "join", "room": ""}, ErrorCode.BAD_FRAME, None),
    ({"type": "join", "room": ROOM, "id": {"a": 1}}, ErrorCode.BAD_FRAME, None),
    ({"type": "join", "room": ROOM, "id": "x" * 65}, ErrorCode.BAD_FRAME, None),
    ({"type": "join", "room": ROOM, "id": True}, ErrorCode.BAD_FRAME, None),
    ({"type": "offer", "room": ROOM, "id": 1}, ErrorCode.BAD_FRAME, 1),
    ({"type": "offer", "room": ROOM, "payload": {"type": "answer", "sdp": SDP}}, ErrorCode.BAD_FRAME, None),
    ({"type": "offer", "room": ROOM, "payload": {"type": "offer", "sdp": ""}}, ErrorCode.BAD_FRAME, None),
    ({"type": "offer", "room": ROOM, "payload": {"type": "offer", "sdp": 5}}, ErrorCode.BAD_FRAME, None),
    ({"type": "offer", "room": ROOM, "payload": {"type": "offer", "sdp": SDP, "x": 1}}, ErrorCode.BAD_FRAME, None),
    ({"type": "offer", "room": ROOM, "payload": "sdp"}, ErrorCode.BAD_FRAME, None),
    (
        {"type": "answer", "room": ROOM, "to": "bad peer", "payload": {"type": "answer", "sdp": SDP}},
        ErrorCode.BAD_FRAME,
        None,
    ),
    ({"type": "candidate", "room": ROOM, "payload": {"sdpMid": "0"}}, ErrorCode.BAD_FRAME, None),
    ({"type": "candidate", "room": ROOM, "payload": {**CANDIDATE, "extra": 1}}, ErrorCode.BAD_FRAME, None),
    ({"type": "candidate", "room": ROOM, "payload": {**CANDIDATE, "sdpMLineIndex": "0"}}, ErrorCode.BAD_FRAME, None),
    ({"type": "candidate", "room": ROOM, "payload": {**CANDIDATE, "sdpMLineIndex": True}}, ErrorCode.BAD_FRAME, None),
    ({"type": "candidate", "room": ROOM, "payload": {**CANDIDATE, "candidate": 1}}, ErrorCode.BAD_FRAME, None),
    ({"type": "candidate", "room": ROOM, "payload": [1]}, ErrorCode.BAD_FRAME, None),
    ({"type": "call"}, ErrorCode.BAD_FRAME, None),
    ({"type": "call", "user": ""}, ErrorCode.BAD_FRAME, None),
    ({"type": "accept", "call": "abc"}, ErrorCode.BAD_FRAME, None),
    ({"type": "accept", "call": -1}, ErrorCode.BAD_FRAME, None),
    ({"type": "accept"}, ErrorCode.BAD_FRAME, None),
    ({"type": "join", "room": ROOM, "media": {"audio": True}, "id": 1}, ErrorCode.BAD_FRAME, 1),
    ({"type": "join", "room": ROOM, "media": {**MEDIA, "audio": 1}}, ErrorCode.BAD_FRAME, None),
    ({"type": "join", "room": ROOM, "media": {**MEDIA, "hd": True}}, ErrorCode.BAD_FRAME, None),
    ({"type": "chat", "room": ROOM, "id": "c"}, ErrorCode.BAD_FRAME, "c"),
    ({"type": "chat", "room": ROOM, "text": ""}, ErrorCode.BAD_FRAME, None),
    ({"type": "chat", "room": ROOM, "text": " \n\t\u3000 ", "id": 2}, ErrorCode.BAD_FRAME, 2),
    ({"type": "chat", "room": ROOM, "text": "x" * 2001, "id": 3}, ErrorCode.BAD_FRAME, 3),
    ({"type": "chat", "room": ROOM, "text": ["hi"]}, ErrorCode.BAD_FRAME, None),
    ({"type": "chat", "text": "hi"}, ErrorCode.BAD_FRAME, None),
    ({"type": "media", "room": ROOM, "audio": True, "video": True}, ErrorCode.BAD_FRAME, None),
    ({"type": "media", "room": ROOM, **MEDIA, "screen": "no"}, ErrorCode.BAD_FRAME, None),
    ({"type": "hand", "room": ROOM}, ErrorCode.BAD_FRAME, None),
    ({"type": "hand", "room": ROOM, "raised": 0}, ErrorCode.BAD_FRAME, None),
    ({"type": "hand", "room": ROOM, "raised": False, "peer": "bad peer"}, ErrorCode.BAD_FRAME, None),
    ({"type": "remove", "room": ROOM, "id": 9}, ErrorCode.BAD_FRAME, 9),
    ({"type": "let-in", "room": ROOM}, ErrorCode.BAD_FRAME, None),
    ({"type": "let-in", "room": ROOM, "user": True}, ErrorCode.BAD_FRAME, None),
    ({"type": "let-in", "room": ROOM, "user": 0}, ErrorCode.BAD_FRAME, None),
    ({"type": "let-in", "room": ROOM, "user": "alice"}, ErrorCode.BAD_FRAME, None),
]


@pytest.mark.parametrize(("data", "code", "ref"), INVALID)
def test_invalid_frames_are_refused_with_a_code(data, code, ref):
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(ProtocolError) as raised:
        protocol.parse(text)
    assert raised.value.code == code
    assert raised.value.ref == ref
    frame = protocol.error_frame(raised.value.code, raised.value.message, raised.value.ref)
    assert frame["type"] == "error" and frame["code"] == code.value and frame["message"]
    assert frame.get("ref") == ref


def test_every_client_frame_type_is_covered_by_the_tables():
    covered = {data["type"] for data, _, _ in VALID}
    assert covered == set(protocol.CLIENT_FRAMES)


def test_relay_frame_sets_server_fields():
    user = protocol.user_info(1, "alice", "Alice")
    frame = protocol.relay_frame("offer", ROOM, "peerA", user, {"type": "offer", "sdp": SDP})
    assert json.loads(protocol.encode(frame)) == {
        "type": "offer",
        "room": ROOM,
        "from": "peerA",
        "user": user,
        "payload": {"type": "offer", "sdp": SDP},
    }


def test_a_broadcast_copy_for_its_sender_carries_the_ref():
    text = protocol.encode(protocol.hand_frame(ROOM, "peerA", True, "peerA", ["peerA"]))
    assert protocol.with_ref(text, None) == text
    for ref in ("h1", 7, 'quote"and\\'):
        assert json.loads(protocol.with_ref(text, ref)) == {**json.loads(text), "ref": ref}


def test_room_id_check():
    assert protocol.room_id_valid("A-b_9")
    assert not protocol.room_id_valid("a/b")
    assert not protocol.room_id_valid("x" * 129)
    assert not protocol.room_id_valid(None)


def test_the_browser_stops_reconnecting_exactly_on_the_servers_final_codes():
    """static/calls/js/protocol.js keeps its own copy; a code added on one side only fails here."""
    source = (Path(__file__).resolve().parents[2] / "static/calls/js/protocol.js").read_text()
    match = re.search(r"FINAL_CLOSE_CODES = new Set\(\[([0-9,\s]*)\]\)", source)
    assert match, "FINAL_CLOSE_CODES not found in protocol.js"
    browser_final = {int(code) for code in match.group(1).split(",") if code.strip()}
    server_final = {int(code) for code in protocol.CloseCode if not code.retryable}
    assert browser_final == server_final
    messages = set(map(int, re.findall(r"^\s*(\d{4}):", source, flags=re.M)))
    assert server_final <= messages, "every final code needs a message for the user"


def test_retryable_codes_are_ones_daphne_can_send():
    # autobahn refuses to send anything but 1000 and 3000-4999 from a server
    for code in protocol.CloseCode:
        assert code == 1000 or 3000 <= code <= 4999


def test_the_browsers_copy_of_the_room_frames_limits_and_reasons_matches_the_server():
    root = Path(__file__).resolve().parents[2]
    source = (root / "static/calls/js/protocol.js").read_text()
    assert f"MAX_CHAT_LENGTH = {protocol.MAX_CHAT_LENGTH};" in source
    reasons = re.search(r"LEAVE_REASONS = \{(.*?)\};", source, re.S)
    assert reasons and set(re.findall(r"^\s*(\w+):", reasons.group(1), re.M)) == {r.value for r in protocol.LeaveReason}
    # The page says the same, in the same words, marked for translation on both sides.
    removed = re.search(r'REMOVED_MESSAGE = gettext\("([^"]+)"\);', source)
    assert removed and f'_("{removed.group(1)}")' in (root / "calls/views.py").read_text()
    assert {"not_in_room", "unknown_peer"} <= set(re.findall(r"^\s*(\w+):", source, re.M))
