"""WebSocket routes."""

from django.urls import path

from calls.signaling.consumer import SignalingConsumer

websocket_urlpatterns = [
    path("ws/signal/", SignalingConsumer.as_asgi()),
]
