"""A small signaling client for tests: real WebSocket, bounded waits, frames as dicts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class Peer:
    """One signaling connection. `recv_type` skips frames it was not asked for, but keeps them."""

    def __init__(self, ws: ClientConnection, hello: dict | None) -> None:
        self.ws = ws
        self.hello = hello
        self.seen: list[dict] = []
        self.session: str | None = None

    @property
    def peer(self) -> str:
        return self.hello["peer"]

    @classmethod
    async def connect(
        cls,
        base_url: str,
        session: str | None = None,
        *,
        origin: str | None = "auto",
        query: str = "",
        headers: dict[str, str] | None = None,
        **connect_kwargs: Any,
    ) -> Peer:
        """Open /ws/signal/ and read `hello`; `connect_kwargs` go to websockets (ssl, local_addr…)."""
        headers = dict(headers or {})
        if session:
            headers["Cookie"] = f"sessionid={session}"
        if origin == "auto":
            origin = base_url.replace("ws://", "http://").replace("wss://", "https://")
        url = f"{base_url}/ws/signal/" + (f"?{query}" if query else "")
        ws = await connect(
            url, additional_headers=headers, origin=origin, open_timeout=10, max_size=2**22, **connect_kwargs
        )
        peer = cls(ws, None)
        peer.session = session
        try:
            first = await peer.recv()
        except ConnectionClosed:
            return peer  # closed before hello (e.g. 4401); `closed()` gives the code
        if first.get("type") == "hello":
            peer.hello = first
        else:
            peer.seen.append(first)
        return peer

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_raw(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def recv(self, timeout: float = 10) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def recv_type(self, *types: str, timeout: float = 10, **match: Any) -> dict:
        """The next frame of one of `types` (whose fields equal `match`), within `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if frame.get("type") in types and all(frame.get(k) == v for k, v in match.items()):
                    return frame
                self.seen.append(frame)

    async def nothing_for(self, seconds: float, *types: str) -> list[dict]:
        """Frames of `types` that arrive within `seconds` (expected: none)."""
        got = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    frame = await self.recv(seconds)
                    if not types or frame.get("type") in types:
                        got.append(frame)
        except (TimeoutError, ConnectionClosed):
            pass
        return got

    async def closed(self, timeout: float = 10) -> int:
        """Wait for the server to close the connection; its close code."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 1006
        raise AssertionError("unreachable")

    async def join(self, room: str, **extra: Any) -> dict:
        await self.send(type="join", room=room, **extra)
        return await self.recv_type("joined", "error")

    async def close(self, code: int = 1000) -> None:
        await self.ws.close(code)
