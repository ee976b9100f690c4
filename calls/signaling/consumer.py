"""The signaling WebSocket: receive a frame, validate it, authorize it, call a plain function, send.

The consumer is the only code that touches the socket. Its state is one `Connection`
(`self.conn`); rooms, what peers do in them (`meeting`: joining, chat, media state, hands,
removals), presence, direct calls and departures are plain functions that take values and
return results. The relay path (offer/answer/candidate) touches neither
the database nor Redis beyond one PUBLISH: room membership is mirrored in the connection,
the outgoing frame is encoded once by the sender, and receivers pass the text through.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from urllib.parse import parse_qs

import orjson
from autobahn.exception import Disconnected as TransportClosed  # daphne's WebSocket library
from channels.exceptions import StopConsumer
from django.conf import settings

from calls.logs import context_id, new_id
from calls.models import user_info
from calls.net import client_address
from calls.signaling import (
    backpressure,
    database,
    departures,
    direct,
    events,
    history,
    meeting,
    metrics,
    presence,
    protocol,
)
from calls.signaling.auth import header
from calls.signaling.connection import Connection
from calls.signaling.handshake import release_handshake
from calls.signaling.inbox import InboxConsumer
from calls.signaling.node import node
from calls.signaling.protocol import CloseCode, ErrorCode, LeaveReason, ProtocolError
from calls.signaling.ratelimit import TokenBucket
from calls.signaling.relaying import Relaying
from calls.signaling.store import REDIS_ERRORS

logger = logging.getLogger("calls.signaling")


# Seconds a slow reader's close frame may take before its transport is cut.
SLOW_READER_GRACE = 1.0


class SignalingConsumer(Relaying, InboxConsumer):
    """One browser tab (or client) connected to /ws/signal/ (its relay path: calls.signaling.relaying)."""

    conn: Connection

    # -- plumbing ------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Whatever ended the consumer (a disconnect, an error, a cancelled task), its peer
            # and its subscriptions are released; shielded so a cancellation cannot cut it short.
            await asyncio.shield(self.release())

    async def release(self) -> None:
        conn: Connection | None = getattr(self, "conn", None)
        if conn is None:
            return
        if conn.begin_close():  # it ended without a disconnect: as a dropped connection
            await self.cleanup(1006, by_client=True)
        try:
            await self.channel_layer.delete_channel(conn.channel, list(conn.groups))
        except REDIS_ERRORS:
            logger.warning("redis unavailable while unsubscribing", extra={"peer": conn.peer})
        conn.groups.clear()

    async def join_group(self, group: str, channel: str) -> None:
        self.conn.groups.add(group)
        await self.channel_layer.group_add(group, channel)

    async def leave_group(self, group: str, channel: str) -> None:
        self.conn.groups.discard(group)
        await self.channel_layer.group_discard(group, channel)

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        if not self.conn.writable:
            return
        try:
            # autobahn accepts only a plain int, not an IntEnum member
            await super().close(int(code) if code is not None else None, reason)
        except TransportClosed:
            self.conn.writable = False

    async def send_text(self, text: str) -> None:
        """Write a frame; a transport that closed under us (the client went first) is not an error."""
        if not self.conn.writable:
            return
        try:
            await self.send(text_data=text)
        except TransportClosed:
            self.conn.writable = False  # its websocket.disconnect follows and cleans up
            return
        if self.transport is not None and backpressure.pending_bytes(self.transport) > settings.SIGNALING_MAX_PENDING:
            await self.too_slow()

    async def too_slow(self) -> None:
        """The client stopped reading: close 4008 (kept for resume) and drop what waits for it.

        The close frame queues behind what the client has not read, so the transport is cut a
        moment later whatever happens: the process never holds more than the cap for anyone.
        """
        transport = self.transport
        pending = backpressure.pending_bytes(transport)
        logger.warning("closing a slow reader", extra={"peer": self.conn.peer, "pending": pending})
        metrics.SLOW_READERS.inc()
        await self.server_close(CloseCode.SLOW_READER)
        self.conn.writable = False
        asyncio.get_running_loop().call_later(SLOW_READER_GRACE, transport.abortConnection)

    async def send_frame(self, frame: dict) -> None:
        await self.send_text(protocol.encode(frame))

    async def send_error(self, error: ProtocolError) -> None:
        metrics.ERRORS.labels(str(error.code)).inc()
        await self.send_frame(protocol.error_frame(error.code, error.message, error.ref))

    # -- connect -------------------------------------------------------------------
    async def websocket_connect(self, message):
        self.conn = conn = Connection(
            self.channel_name, new_id(), TokenBucket(settings.SIGNALING_RATE, settings.SIGNALING_BURST)
        )
        context_id.set(conn.id)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse_connection(CloseCode.UNAUTHENTICATED)
        if node.full():
            return await self.refuse_connection(CloseCode.TRY_AGAIN_LATER)
        self.user = user
        conn.user_id = user.pk
        conn.user = self.scope.get("user_info") or await database.run(user_info, user)
        conn.user_json = orjson.dumps(conn.user).decode()
        client = self.scope.get("client") or (None, None)
        conn.ip = client_address(client[0], header(self.scope, b"x-forwarded-for")) or ""
        conn.user_agent = header(self.scope, b"user-agent") or ""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            resumed = await self._resume((query.get("resume") or [""])[0])
            if not resumed and not await self._new_peer():
                return await self.refuse_connection(CloseCode.TOO_MANY_CONNECTIONS)
        except REDIS_ERRORS:
            logger.warning("redis unavailable at connect")
            return await self.refuse_connection(CloseCode.TRY_AGAIN_LATER)
        node.register(self)
        metrics.CONNECTS_BY_RESUMED[resumed].inc()
        await self.accept()
        self.transport = self.scope.get(backpressure.SCOPE_KEY)
        self.writer = self.scope.get(backpressure.WRITER_KEY)
        self._failures = set()
        hello = protocol.hello_frame(
            conn.peer,
            conn.user,
            settings.SIGNALING_HEARTBEAT,
            settings.SIGNALING_MAX_FRAME,
            conn.resume_token,
            resumed,
            sorted(conn.rooms),
        )
        await self.send_frame(hello)
        if self.inbound is not None and hasattr(self.channel_layer, "can_send_nowait"):
            self.inbound.at_once = self.forward_at_once  # relay frames from now on: calls.signaling.relaying
        release_handshake(self.scope)  # authenticated and accepted: the handshake's headers are done with
        logger.info("connected", extra={"peer": conn.peer, "user": user.pk, "resumed": resumed})

    async def refuse_connection(self, code: CloseCode) -> None:
        """Accept only to close with a code the client can act on (a refused handshake has none)."""
        metrics.REFUSED.labels(str(int(code))).inc()
        await self.accept()
        if self.conn.peer is not None:
            await self.server_close(code)  # a peer was already recorded: keep it for resume
            return
        self.conn.begin_close()
        await self.close(code)

    async def _new_peer(self) -> bool:
        """A new peer for this connection; False when its user has as many as allowed."""
        conn = self.conn
        peer, token = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
        most = settings.SIGNALING_MAX_USER_CONNECTIONS
        if not await presence.attach(
            peer, conn.user_id, conn.user_json, node.id, conn.channel, conn.ip, conn.user_agent, token, most
        ):
            return False
        conn.opened(peer, token)
        await self._listen()
        history.writes.open_session(peer, conn.user_id, node.name, conn.ip, conn.user_agent)
        return True

    async def _resume(self, token: str) -> bool:
        """Take over a dropped peer: same peer id and rooms, so the others see no churn."""
        if not token:
            return False
        conn = self.conn
        resumed = await presence.resume(token, conn.user_id, node.id, conn.channel)
        if resumed is None:
            return False
        conn.opened(resumed.peer, resumed.token)
        if resumed.old_conn:
            # The old connection may still be open somewhere (a half-dead TCP): retire it.
            await self.channel_layer.group_send(events.peer_group(conn.peer), events.peer_replaced(conn.channel))
        await self._listen()
        for room_id in resumed.rooms:  # listen before reading the members
            await self.join_group(events.room_group(room_id), conn.channel)
        await meeting.rejoin(conn, resumed.rooms)
        return True

    async def _listen(self) -> None:
        await self.join_group(events.peer_group(self.conn.peer), self.conn.channel)
        await self.join_group(events.user_group(self.conn.user_id), self.conn.channel)

    # -- receive -------------------------------------------------------------------
    async def websocket_receive(self, message):
        conn = self.conn
        if not conn.serving:
            return
        received_at = conn.heard()
        text = message.get("text")
        try:
            if text is None:
                raise ProtocolError(ErrorCode.BINARY_FRAME, "frames are JSON text; binary messages are refused")
            limit = settings.SIGNALING_MAX_FRAME
            if protocol.oversized(text, limit):
                raise ProtocolError(ErrorCode.TOO_LARGE, f"frames are limited to {limit} bytes")
            if not conn.bucket.take():
                metrics.RATE_LIMITED.inc()
                raise ProtocolError(ErrorCode.RATE_LIMITED, "too many frames; slow down", protocol.peek_ref(text))
            await self.handle(protocol.parse(text), received_at)
        except ProtocolError as error:
            await self.refuse(error)
        except REDIS_ERRORS:
            logger.warning("redis unavailable while handling a frame")
            await self.send_error(ProtocolError(ErrorCode.UNAVAILABLE, "the server is briefly unavailable"))
        except Exception:
            # A server fault answers this one frame; the connection and everyone else carry on.
            logger.exception("failed to handle a frame")
            await self.send_error(ProtocolError(ErrorCode.UNAVAILABLE, "the server could not handle this frame"))

    async def refuse(self, error: ProtocolError) -> None:
        """Answer with an error frame; too many refusals within the abuse window close the connection (4429)."""
        if self.conn.refused(settings.SIGNALING_ABUSE_LIMIT, settings.SIGNALING_ABUSE_WINDOW):
            logger.warning("closing abusive connection", extra={"peer": self.conn.peer, "code": str(error.code)})
            await self.server_close(CloseCode.ABUSE)
            return
        await self.send_error(error)

    async def handle(self, frame: protocol.Frame, received_at: float) -> None:
        if isinstance(frame, protocol.Relay):
            await self.forward(frame, received_at)
        elif isinstance(frame, protocol.Ping):
            await self.send_frame(protocol.pong_frame(frame.id))
        elif isinstance(frame, protocol.Join):
            await self.join(frame)
        elif isinstance(frame, protocol.Leave):
            await self.leave(frame)
        elif isinstance(frame, protocol.PlaceCall):
            await self.call_changed(await direct.place(self.user, frame.user, frame.id), frame.id)
        elif isinstance(frame, protocol.CallAction):
            await self.call_changed(await direct.act(self.user, frame.action, frame.call, frame.id), frame.id)
        else:
            await self.deliver(await meeting.HANDLERS[type(frame)](self.conn, frame))

    async def deliver(self, outcome: meeting.Outcome) -> None:
        """Send the reply, then publish what the others are to get."""
        if outcome.reply is not None:
            await self.send_text(outcome.reply)
        for group, event in outcome.publish:
            await self.channel_layer.group_send(group, event)

    # -- rooms ---------------------------------------------------------------------
    async def join(self, frame: protocol.Join) -> None:
        conn, group = self.conn, events.room_group(frame.room)
        new = frame.room not in conn.rooms
        admitted = await meeting.admit(conn, self.user, frame)
        # Listen before taking the snapshot, so no peer-joined can fall between the two.
        await self.join_group(group, conn.channel)
        try:
            outcome = await meeting.enter(conn, frame, admitted)
        except ProtocolError:
            if new:
                await self.leave_group(group, conn.channel)
            raise
        await self.deliver(outcome)

    async def leave(self, frame: protocol.Leave) -> None:
        if self.conn.forget(frame.room) is None:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, "you are not in that room", frame.id)
        await self.leave_group(events.room_group(frame.room), self.conn.channel)
        await self.deliver(await meeting.leave(self.conn, frame))

    # -- direct calls --------------------------------------------------------------
    async def call_changed(self, call, ref: protocol.Ref) -> None:
        """This connection gets the new state with its ref; the users' groups carry it everywhere else."""
        await self.send_frame(protocol.call_state_frame({**direct.describe(call), "by_peer": self.conn.peer}, ref))
        await direct.announce(call, by_peer=self.conn.peer, skip=self.conn.channel)

    # -- channel-layer events (calls.signaling.events), named after their type ------
    async def peer_joined(self, event: dict) -> None:
        others = self.conn.rooms.get(event["room"])
        if others is None or event["peer"] == self.conn.peer or not self.conn.serving:
            return
        if event["peer"] in others:
            return  # already in this connection's `joined` snapshot: each arrival is told once
        others[event["peer"]] = event["user"]
        await self.send_text(event["text"])

    async def peer_left(self, event: dict) -> None:
        others = self.conn.rooms.get(event["room"])
        if others is None or event["peer"] == self.conn.peer or not self.conn.serving:
            return
        if others.pop(event["peer"], None) is not None:
            await self.send_text(event["text"])

    async def peer_removed(self, event: dict) -> None:
        """The room's owner removed this peer (its Redis membership is gone already): leave here too."""
        if self.conn.forget(event["room"]) is None:
            return
        await self.leave_group(events.room_group(event["room"]), self.conn.channel)
        if self.conn.serving:
            await self.send_text(event["text"])

    async def peer_replaced(self, event: dict) -> None:
        if event["by"] != self.conn.channel:
            self.conn.taken_over = True
            await self.server_close(CloseCode.REPLACED)

    async def peer_kick(self, event: dict) -> None:
        """An administrator disconnected this peer: close 4403, others see `kicked`."""
        await self.server_close(CloseCode.FORBIDDEN, LeaveReason.KICKED)

    async def user_event(self, event: dict) -> None:
        """A frame for every connection of this user (call notifications)."""
        if event["skip"] != self.conn.channel and self.conn.serving:
            await self.send_text(event["text"])

    # -- close ---------------------------------------------------------------------
    async def server_close(self, code: CloseCode, reason: LeaveReason | None = None) -> None:
        """Close from the server side; retryable codes keep the peer for resume."""
        if not self.conn.begin_close():
            return
        self.conn.leave_reason = reason
        await self.close(code)
        await self.cleanup(code, by_client=False)

    async def websocket_disconnect(self, message):
        if self.conn.begin_close():
            await self.cleanup(message.get("code") or 1006, by_client=True)
        raise StopConsumer()

    async def cleanup(self, code: int, by_client: bool) -> None:
        """Leave for good (clean close, final codes) or detach for the resume window (drops, restarts)."""
        conn = self.conn
        node.unregister(self)
        if not conn.finish() or conn.peer is None or conn.taken_over:
            return  # nothing to clean, already cleaned, or another connection resumed this peer
        try:
            if conn.leaves_at_once(code, by_client):
                await departures.remove_and_announce(conn.peer, conn.departure_reason(code), conn=conn.channel)
            else:
                why = str(conn.departure_reason(code))
                await presence.detach(conn.peer, conn.channel, node.id, settings.SIGNALING_RESUME_GRACE, why)
        except REDIS_ERRORS:
            logger.warning("redis unavailable at disconnect; the reaper will finish", extra={"peer": conn.peer})
        finally:
            logger.info("disconnected", extra={"peer": conn.peer, "code": code})
