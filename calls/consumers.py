"""The signaling WebSocket consumer."""

from channels.generic.websocket import AsyncWebsocketConsumer


class SignalingConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.close(code=4401)
