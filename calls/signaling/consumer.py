"""The signaling WebSocket: receive a frame, validate it, authorize it, call a plain function, send.

The relay path (offer/answer/candidate) touches neither the database nor Redis beyond one
PUBLISH: room membership is mirrored in the connection (from `joined` and the
peer-joined/peer-left events it receives), the outgoing frame is encoded once by the
sender, and receivers pass the text through untouched.
"""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import parse_qs

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from calls.logs import context_id, new_id
from calls.models import PeerSession, display_name
from calls.net import client_address
from calls.signaling import direct, metrics, presence, protocol, rooms
from calls.signaling.auth import header
from calls.signaling.node import REDIS_ERRORS, node, remove_and_announce
from calls.signaling.protocol import CloseCode, ErrorCode, LeaveReason, ProtocolError
from calls.signaling.ratelimit import TokenBucket

logger = logging.getLogger("calls.signaling")

# Client close codes after which the peer leaves at once instead of waiting to be resumed.
CLEAN_CLOSE = frozenset({1000, 1001})
# Server close codes after which the client is expected back (resume); the others are final.
RETRYABLE = frozenset({CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART, CloseCode.TRY_AGAIN_LATER, CloseCode.TIMEOUT})


@database_sync_to_async
def _user_info(user) -> dict:
    return protocol.user_info(user.pk, user.get_username(), display_name(user))


class SignalingConsumer(AsyncWebsocketConsumer):
    """One browser tab (or client) connected to /ws/signal/."""

    peer: str | None = None
    closing = False

    # -- plumbing ----------------------------------------------------------
    async def dispatch(self, message):
        """Route by type without channels' per-message database-connection hop (no ORM here)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        # autobahn accepts only a plain int, not an IntEnum member
        await super().close(int(code) if code is not None else None, reason)

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=protocol.encode(frame))

    async def send_error(self, error: ProtocolError) -> None:
        metrics.ERRORS.labels(str(error.code)).inc()
        await self.send_frame(protocol.error_frame(error.code, error.message, error.ref))

    # -- connect -----------------------------------------------------------
    async def websocket_connect(self, message):
        self.conn_id = new_id()
        context_id.set(self.conn_id)
        self.last_frame = time.monotonic()
        self.last_seen_wall = self.last_seen_written = time.time()
        self.rooms: dict[str, dict[str, dict]] = {}  # room -> {peer: user info} of the others
        self.rooms_joined: set[str] = set()
        self.bucket = TokenBucket(settings.SIGNALING_RATE, settings.SIGNALING_BURST)
        self.refusals = 0
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse_connection(CloseCode.UNAUTHENTICATED)
        cap = settings.SIGNALING_MAX_CONNECTIONS
        if node.draining or (cap and len(node.connections) >= cap):
            return await self.refuse_connection(CloseCode.TRY_AGAIN_LATER)
        self.user = user
        self.user_info = await _user_info(user)
        self.user_json = orjson.dumps(self.user_info).decode()
        client = self.scope.get("client") or (None, None)
        self.ip = client_address(client[0], header(self.scope, b"x-forwarded-for")) or ""
        self.ua = header(self.scope, b"user-agent") or ""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            resumed = await self._resume((query.get("resume") or [""])[0])
            if resumed is None:
                await self._new_peer()
        except REDIS_ERRORS:
            logger.warning("redis unavailable at connect")
            return await self.refuse_connection(CloseCode.TRY_AGAIN_LATER)
        node.register(self)
        metrics.CONNECTS.labels(str(resumed is not None).lower()).inc()
        metrics.CONNECTIONS.labels(node.name).inc()
        self.counted = True
        await self.accept()
        await self.send_frame(
            protocol.hello_frame(
                self.peer,
                self.user_info,
                settings.SIGNALING_HEARTBEAT,
                settings.SIGNALING_MAX_FRAME,
                self.resume_token,
                resumed is not None,
                sorted(self.rooms),
            )
        )
        logger.info("connected", extra={"peer": self.peer, "user": user.pk, "resumed": resumed is not None})

    async def refuse_connection(self, code: CloseCode) -> None:
        """Accept only to close with a code the client can act on (a refused handshake has none)."""
        metrics.REFUSED.labels(str(int(code))).inc()
        await self.accept()
        await self.close(code)

    async def _new_peer(self) -> None:
        self.peer = secrets.token_urlsafe(12)
        self.resume_token = secrets.token_urlsafe(24)
        await presence.attach(
            self.peer, self.user.pk, self.user_json, node.id, self.channel_name, self.ip, self.ua, self.resume_token
        )
        await self._listen()
        node.writes.open_session(
            PeerSession(
                peer=self.peer, user_id=self.user.pk, node=node.name, ip=self.ip or None, user_agent=self.ua[:400]
            )
        )

    async def _resume(self, token: str) -> presence.Resumed | None:
        """Take over a dropped peer: same peer id and rooms, so the others see no churn."""
        if not token:
            return None
        resumed = await presence.resume(token, self.user.pk, node.id, self.channel_name)
        if resumed is None:
            return None
        self.peer, self.resume_token = resumed.peer, token
        if resumed.old_conn:
            # The old connection may still be open somewhere (a half-dead TCP): retire it.
            await self.channel_layer.group_send(
                rooms.peer_group(self.peer), {"type": "peer.replaced", "by": self.channel_name}
            )
        await self._listen()
        for room_id in resumed.rooms:
            await self.channel_layer.group_add(rooms.group(room_id), self.channel_name)
            members = await rooms.amembers(room_id)
            self.rooms[room_id] = {p: orjson.loads(u) for p, u in members.items() if p != self.peer}
            self.rooms_joined.add(room_id)
        return resumed

    async def _listen(self) -> None:
        await self.channel_layer.group_add(rooms.peer_group(self.peer), self.channel_name)
        await self.channel_layer.group_add(rooms.user_group(self.user.pk), self.channel_name)

    # -- receive -----------------------------------------------------------
    async def websocket_receive(self, message):
        if self.closing:
            return
        self.last_frame = time.monotonic()
        self.last_seen_wall = self.received_at = time.time()
        text = message.get("text")
        if text is None:
            text = message.get("bytes") or b""
        try:
            if len(text) > settings.SIGNALING_MAX_FRAME or (
                len(text) * 4 > settings.SIGNALING_MAX_FRAME
                and isinstance(text, str)
                and len(text.encode()) > settings.SIGNALING_MAX_FRAME
            ):
                raise ProtocolError(ErrorCode.TOO_LARGE, f"frames are limited to {settings.SIGNALING_MAX_FRAME} bytes")
            if not self.bucket.take():
                metrics.RATE_LIMITED.inc()
                raise ProtocolError(ErrorCode.RATE_LIMITED, "too many frames; slow down")
            frame = protocol.parse(text)
            await self.handle(frame)
        except ProtocolError as error:
            await self.refuse(error)
        except REDIS_ERRORS:
            logger.warning("redis unavailable while handling a frame")
            await self.send_error(ProtocolError(ErrorCode.UNAVAILABLE, "the server is briefly unavailable"))
        except Exception:
            # A server fault answers this one frame; the connection and everyone else carry on.
            logger.exception("failed to handle a frame")
            await self.send_error(ProtocolError(ErrorCode.UNAVAILABLE, "the server could not handle this frame"))
        else:
            self.refusals = 0

    async def refuse(self, error: ProtocolError) -> None:
        """Answer with an error frame; many refusals in a row close the connection (4429)."""
        self.refusals += 1
        if self.refusals > settings.SIGNALING_ABUSE_LIMIT:
            logger.warning("closing abusive connection", extra={"peer": self.peer, "code": str(error.code)})
            await self.server_close(CloseCode.ABUSE)
            return
        await self.send_error(error)

    async def handle(self, frame: protocol.Frame) -> None:
        if isinstance(frame, protocol.Relay):
            await self.forward(frame)
        elif isinstance(frame, protocol.Ping):
            await self.send_frame(protocol.pong_frame(frame.id))
        elif isinstance(frame, protocol.Join):
            await self.join(frame)
        elif isinstance(frame, protocol.Leave):
            await self.leave(frame)
        elif isinstance(frame, protocol.PlaceCall | protocol.CallAction):
            await direct.handle(self, frame)

    # -- rooms -------------------------------------------------------------
    async def join(self, frame: protocol.Join) -> None:
        room_id = frame.room
        if room_id not in self.rooms and len(self.rooms) >= settings.SIGNALING_MAX_ROOMS:
            raise ProtocolError(ErrorCode.TOO_MANY_ROOMS, "this connection is in too many rooms", frame.id)
        admission = await database_sync_to_async(rooms.admit)(self.user, room_id, frame.id)
        if admission.new_member:
            node.writes.admit(room_id, self.user.pk)
        group = rooms.group(room_id)
        # Listen before taking the snapshot, so no peer-joined can fall between the two.
        await self.channel_layer.group_add(group, self.channel_name)
        members = await rooms.join(room_id, self.peer, self.user_json, admission.max_peers)
        if members is None:
            if room_id not in self.rooms:
                await self.channel_layer.group_discard(group, self.channel_name)
            raise ProtocolError(ErrorCode.ROOM_FULL, f"the room is full ({admission.max_peers} peers)", frame.id)
        new = room_id not in self.rooms
        others = {p: orjson.loads(u) for p, u in members.items() if p != self.peer}
        self.rooms[room_id] = others
        self.rooms_joined.add(room_id)
        peers = [{"peer": p, "user": u} for p, u in others.items()]
        await self.send_frame(protocol.joined_frame(room_id, self.peer, peers, frame.id))
        if new:
            metrics.JOINS.inc()
            text = protocol.encode(protocol.peer_joined_frame(room_id, self.peer, self.user_info))
            await self.channel_layer.group_send(
                group,
                {"type": "peer.joined", "room": room_id, "peer": self.peer, "user": self.user_info, "text": text},
            )

    async def leave(self, frame: protocol.Leave) -> None:
        if frame.room not in self.rooms:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, "you are not in that room", frame.id)
        await self.leave_room(frame.room, LeaveReason.LEAVE)
        await self.send_frame(protocol.left_frame(frame.room, frame.id))

    async def leave_room(self, room_id: str, reason: LeaveReason) -> None:
        self.rooms.pop(room_id, None)
        await self.channel_layer.group_discard(rooms.group(room_id), self.channel_name)
        if await rooms.leave(room_id, self.peer):
            metrics.LEAVES.labels(str(reason)).inc()
            text = protocol.encode(protocol.peer_left_frame(room_id, self.peer, reason))
            await self.channel_layer.group_send(
                rooms.group(room_id), {"type": "peer.left", "room": room_id, "peer": self.peer, "text": text}
            )

    # -- relay (hot path) --------------------------------------------------
    async def forward(self, frame: protocol.Relay) -> None:
        others = self.rooms.get(frame.room)
        if others is None:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, "join the room first", frame.id)
        if frame.to is not None and frame.to not in others:
            raise ProtocolError(ErrorCode.UNKNOWN_PEER, "no such peer in this room", frame.id)
        text = protocol.encode(protocol.relay_frame(frame.kind, frame.room, self.peer, self.user_info, frame.payload))
        event = {"type": "relay", "room": frame.room, "from": self.peer, "text": text, "ts": self.received_at}
        target = rooms.peer_group(frame.to) if frame.to is not None else rooms.group(frame.room)
        await self.channel_layer.group_send(target, event)
        metrics.RELAYED_BY_TYPE[frame.kind].inc()

    # Channel-layer event handlers, named after their type ("peer.joined" -> peer_joined).
    async def relay(self, event: dict) -> None:
        if event["from"] != self.peer and event["room"] in self.rooms:
            await self.send(text_data=event["text"])
            metrics.RELAY_LATENCY.observe(time.time() - event["ts"])

    async def peer_joined(self, event: dict) -> None:
        others = self.rooms.get(event["room"])
        if others is None or event["peer"] == self.peer:
            return
        others[event["peer"]] = event["user"]
        await self.send(text_data=event["text"])

    async def peer_left(self, event: dict) -> None:
        others = self.rooms.get(event["room"])
        if others is None or event["peer"] == self.peer:
            return
        if others.pop(event["peer"], None) is not None:
            await self.send(text_data=event["text"])

    async def peer_replaced(self, event: dict) -> None:
        if event["by"] != self.channel_name:
            self.peer_taken = True
            await self.server_close(CloseCode.REPLACED)

    async def peer_kick(self, event: dict) -> None:
        """An administrator disconnected this peer: close 4403, others see `kicked`."""
        await self.server_close(CloseCode.FORBIDDEN, LeaveReason.KICKED)

    async def user_event(self, event: dict) -> None:
        """A frame for every connection of this user (call notifications)."""
        if event.get("skip") != self.channel_name:
            await self.send(text_data=event["text"])

    # -- close -------------------------------------------------------------
    async def server_close(self, code: int, reason: LeaveReason | None = None) -> None:
        """Close from the server side; retryable codes keep the peer for resume."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        self.close_reason = reason
        await self.close(code)
        await self.cleanup(code)

    async def websocket_disconnect(self, message):
        if not self.closing:
            self.closing = True
            await self.cleanup(message.get("code") or 1006, client=True)
        raise StopConsumer()

    async def cleanup(self, code: int, client: bool = False) -> None:
        """Leave for good (clean close, final codes) or detach for the resume window (drops, restarts)."""
        node.unregister(self)
        if getattr(self, "counted", False):
            self.counted = False
            metrics.CONNECTIONS.labels(node.name).dec()
        if self.peer is None or getattr(self, "cleaned", False):
            return
        self.cleaned = True
        if getattr(self, "peer_taken", False):
            return  # another connection resumed this peer
        try:
            if (client and code in CLEAN_CLOSE) or (not client and code not in RETRYABLE):
                reason = getattr(self, "close_reason", None) or LeaveReason.DISCONNECT
                await remove_and_announce(self.peer, reason, conn=self.channel_name)
            else:
                why = LeaveReason.TIMEOUT if code == CloseCode.TIMEOUT else LeaveReason.DISCONNECT
                await presence.detach(self.peer, self.channel_name, settings.SIGNALING_RESUME_GRACE, str(why))
        except REDIS_ERRORS:
            logger.warning("redis unavailable at disconnect; the reaper will finish", extra={"peer": self.peer})
        finally:
            logger.info("disconnected", extra={"peer": self.peer, "code": code})
