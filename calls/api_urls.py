"""REST API URLs under /api/. Every view answers JSON, so the login-required middleware lets DRF decide."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from calls import api


def public(view):
    """DRF authenticates (session or token) and answers 401/403 itself: no redirect to the login page."""
    return login_not_required(view.as_view())


urlpatterns = [
    path("me/", public(api.MeView), name="api-me"),
    path("me/calls-seen/", public(api.CallsSeen), name="api-calls-seen"),
    path("rooms/", public(api.RoomList), name="api-rooms"),
    path("rooms/<str:room_id>/", public(api.RoomDetail), name="api-room"),
    path("rooms/<str:room_id>/peers/", public(api.RoomPeers), name="api-room-peers"),
    path("calls/", public(api.CallList), name="api-calls"),
    path("presence/", public(api.PresenceList), name="api-presence"),
    path("presence/<str:peer>/disconnect/", public(api.PresenceDisconnect), name="api-presence-disconnect"),
    path("ws-ticket/", public(api.WsTicket), name="api-ws-ticket"),
    path("turn-credentials/", public(api.TurnCredentials), name="turn-credentials"),
    path("schema/", public(SpectacularAPIView), name="api-schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("docs/", login_not_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
]
