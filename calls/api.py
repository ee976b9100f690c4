"""REST API for other clients (mobile apps, bots, dashboards): rooms, calls, presence, tickets.

Session authentication (browsers, with CSRF) and token authentication (DRF tokens, made
on the profile page). Every view answers JSON; a missing login is 401/403, never a
redirect to the HTML login page.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import Q
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from calls import missed, turn
from calls.models import Call, Profile, Room
from calls.serializers import (
    CallSerializer,
    CallsSeenSerializer,
    MeSerializer,
    PresenceSerializer,
    RoomPeerSerializer,
    RoomSerializer,
)
from calls.signaling import departures, metrics, presence_reads, rooms, tickets
from calls.signaling.protocol import room_id_valid
from calls.throttles import TurnThrottle, WriteThrottle


def exception_handler(exc, context):
    """DRF's JSON errors, plus a machine-readable `code` next to `detail`."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        codes = exc.get_codes() if hasattr(exc, "get_codes") else None
        if isinstance(codes, str):
            response.data["code"] = codes
    return response


class HasModelPermission(permissions.BasePermission):
    """The user holds the model permission `perm` (staff or not: the permission is what counts)."""

    perm = ""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(self.perm))


class CanViewPeers(HasModelPermission):
    """Read live peers: the admin's Active peers view permission."""

    perm = "calls.view_activepeer"


class CanDisconnectPeers(HasModelPermission):
    """Disconnect live peers: the admin's "Can disconnect live peers" permission."""

    perm = "calls.disconnect_peer"


class MeView(APIView):
    """The authenticated user."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        Profile.for_user(request.user)
        return Response(MeSerializer(request.user).data)


class CallsSeen(APIView):
    """Mark every missed call seen (as opening the call list does): `missed_calls` in /api/me/ drops to 0."""

    throttle_classes = [WriteThrottle]
    throttle_scope = "writes"

    @extend_schema(request=None, responses=CallsSeenSerializer)
    def post(self, request):
        missed.mark_seen(request.user)
        body = {"missed_calls": missed.unseen_count(request.user), "calls_seen_at": request.user.profile.calls_seen_at}
        return Response(CallsSeenSerializer(body).data)


def visible_rooms(user):
    return Room.objects.filter(Q(owner=user) | Q(members=user)).distinct().select_related("owner")


def room_for(user, room_id: str, *, write: bool = False) -> Room:
    """The room if `user` may see it (owner, member, or anyone for an unlocked meeting); owner for writes."""
    if not room_id_valid(room_id):
        raise NotFound("no room has that id")
    room = Room.objects.select_related("owner").filter(pk=room_id).first()
    if room is None:
        raise NotFound("no room has that id")
    if not room.admission(user).allowed:
        raise PermissionDenied("you may not enter this room")
    if write and room.owner_id != user.pk:
        raise PermissionDenied("only the owner may change this room")
    return room


class RoomList(generics.ListCreateAPIView):
    """Rooms you own or were admitted to; POST creates a meeting room you own."""

    serializer_class = RoomSerializer
    throttle_classes = [WriteThrottle]
    throttle_scope = "writes"

    def get_queryset(self):
        return visible_rooms(self.request.user).order_by("-created_at")

    def perform_create(self, serializer):
        room = serializer.save(owner=self.request.user, kind=Room.Kind.MEETING)
        room.members.add(self.request.user)


class RoomDetail(generics.RetrieveUpdateDestroyAPIView):
    """One room; changes and deletion by its owner only."""

    serializer_class = RoomSerializer
    throttle_classes = [WriteThrottle]
    throttle_scope = "writes"

    def get_object(self):
        write = self.request.method not in permissions.SAFE_METHODS
        return room_for(self.request.user, self.kwargs["room_id"], write=write)


class RoomPeers(APIView):
    """Who is in the room right now, across every process."""

    @extend_schema(responses=RoomPeerSerializer(many=True))
    def get(self, request, room_id: str):
        room = room_for(request.user, room_id)
        members = rooms.members(room.pk)
        rows = presence_reads.describe(sorted(members))
        return Response(RoomPeerSerializer(rows, many=True).data)


class CallList(generics.ListAPIView):
    """Your calls (as caller or callee), newest first; ?state=missed filters."""

    serializer_class = CallSerializer

    def get_queryset(self):
        user = self.request.user
        calls = Call.objects.filter(Q(caller=user) | Q(callee=user)).select_related(
            "caller__profile", "callee__profile"
        )
        state = self.request.query_params.get("state")
        if state:
            if state not in Call.State.values:
                raise serializers.ValidationError({"state": f"one of {', '.join(Call.State.values)}"})
            calls = calls.filter(state=state)
        return calls.order_by("-created_at")


class PresenceList(APIView):
    """Every live peer (permission `calls.view_activepeer`): the same data as the admin's Active peers page."""

    permission_classes = [permissions.IsAuthenticated, CanViewPeers]

    @extend_schema(responses=PresenceSerializer(many=True))
    def get(self, request):
        paginator = LimitOffsetPagination()
        limit = paginator.get_limit(request) or settings.REST_FRAMEWORK["PAGE_SIZE"]
        offset = paginator.get_offset(request)
        total, rows = presence_reads.peers_page(offset, limit)
        return Response(
            {
                "count": total,
                "offset": offset,
                "limit": limit,
                "nodes": presence_reads.node_counts(),
                "results": PresenceSerializer(rows, many=True).data,
            }
        )


class PresenceDisconnect(APIView):
    """Disconnect one live peer (permission `calls.disconnect_peer`): its socket closes 4403, its rooms see `kicked`."""

    permission_classes = [permissions.IsAuthenticated, CanDisconnectPeers]
    throttle_classes = [WriteThrottle]
    throttle_scope = "writes"

    @extend_schema(request=None, responses={202: None})
    def post(self, request, peer: str):
        if not async_to_sync(departures.kick)(peer):
            raise NotFound("no live peer has that id")
        return Response({"peer": peer, "disconnected": True}, status=status.HTTP_202_ACCEPTED)


class WsTicket(APIView):
    """A one-time ticket for /ws/signal/?ticket=… (valid 30 s), for clients without the session cookie."""

    throttle_classes = [WriteThrottle]
    throttle_scope = "writes"

    @extend_schema(
        request=None,
        responses={
            201: inline_serializer(
                "WsTicket",
                {
                    "ticket": serializers.CharField(),
                    "expires_in": serializers.IntegerField(),
                    "url": serializers.CharField(),
                },
            )
        },
    )
    def post(self, request):
        ticket = tickets.issue(request.user.pk)
        return Response(
            {"ticket": ticket, "expires_in": tickets.TICKET_TTL, "url": f"/ws/signal/?ticket={ticket}"},
            status=status.HTTP_201_CREATED,
        )


class TurnCredentials(APIView):
    """Fresh TURN credentials and the matching RTCPeerConnection `iceServers` (never cached)."""

    throttle_classes = [TurnThrottle]

    @extend_schema(
        responses=inline_serializer(
            "TurnCredentials",
            {
                "username": serializers.CharField(allow_null=True),
                "password": serializers.CharField(allow_null=True),
                "ttl": serializers.IntegerField(allow_null=True),
                "expires_at": serializers.DateTimeField(allow_null=True),
                "uris": serializers.ListField(child=serializers.CharField()),
                "iceServers": serializers.ListField(child=serializers.DictField()),
                "iceTransportPolicy": serializers.CharField(),
            },
        )
    )
    def get(self, request):
        body = turn.ice_config(request.user)
        if body["username"]:
            metrics.TURN_CREDENTIALS.inc()
        response = Response(body)
        response["Cache-Control"] = "no-store"
        return response
