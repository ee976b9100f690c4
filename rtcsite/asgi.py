"""ASGI entry point: HTTP goes to Django, WebSockets to the signaling consumer.

Run with `daphne rtcsite.asgi:application` (see README "Deploying").
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rtcsite.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from calls.signaling import heap  # noqa: E402
from calls.signaling.asgi import NodeLifecycle  # noqa: E402
from calls.signaling.auth import SignalingAuthStack  # noqa: E402
from calls.signaling.routing import websocket_urlpatterns  # noqa: E402

application = NodeLifecycle(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": SignalingAuthStack(URLRouter(websocket_urlpatterns)),
        }
    )
)

# Everything imported so far lives as long as the process: no collection walks it again.
heap.settle()
