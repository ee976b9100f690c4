"""Site pages: home (rooms, people, recent calls) and the call page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from calls import turn
from calls.forms import RoomForm
from calls.models import Call, Room, display_name, user_info
from calls.signaling import presence_reads, protocol, rooms


@require_GET
def home(request):
    user = request.user
    my_rooms = list(
        Room.objects.filter(Q(owner=user) | Q(members=user), kind=Room.Kind.MEETING)
        .distinct()
        .order_by("-created_at")[:50]
    )
    live = rooms.live_counts([room.pk for room in my_rooms])
    for room in my_rooms:
        room.live = live.get(room.pk, 0)
    query = request.GET.get("q", "").strip()
    people = []
    if query:
        found = list(
            get_user_model()
            .objects.filter(is_active=True, username__icontains=query)
            .exclude(pk=user.pk)
            .select_related("profile")
            .order_by("username")[:20]
        )
        online = presence_reads.online_users([p.pk for p in found])
        people = [{"user": p, "name": display_name(p), "online": p.pk in online} for p in found]
    calls = (
        Call.objects.filter(Q(caller=user) | Q(callee=user))
        .select_related("caller__profile", "callee__profile")
        .order_by("-created_at")[:10]
    )
    return render(
        request,
        "calls/home.html",
        {"rooms": my_rooms, "room_form": RoomForm(), "query": query, "people": people, "calls": calls},
    )


@require_POST
def room_create(request):
    form = RoomForm(request.POST)
    if form.is_valid():
        room = form.save(commit=False)
        room.owner = request.user
        room.save()
        room.members.add(request.user)
        messages.success(request, f"Room “{room.name}” created. Share its link to invite people.")
    else:
        messages.error(request, "A room needs a name.")
    return redirect("home")


@require_POST
def room_lock(request, room_id: str):
    room = get_object_or_404(Room, pk=room_id)
    if room.owner_id != request.user.pk:
        return render(request, "calls/forbidden.html", {"reason": "Only the room's owner can lock it."}, status=403)
    room.locked = request.POST.get("locked") == "1"
    room.save(update_fields=["locked"])
    messages.success(request, f"Room “{room.name}” {'locked' if room.locked else 'unlocked'}.")
    return redirect(request.POST.get("next") or "home")


@require_GET
def room(request, room_id: str):
    """The call page. Direct rooms admit their two participants; locked rooms those admitted before."""
    if not protocol.room_id_valid(room_id):
        raise Http404("No such room")
    room = get_object_or_404(Room.objects.select_related("owner"), pk=room_id)
    user = request.user
    if not room.admission(user).allowed:
        reason = "This call is private." if room.kind == Room.Kind.DIRECT else "This room is locked."
        return render(request, "calls/forbidden.html", {"reason": reason}, status=403)
    call = Call.objects.filter(room=room).order_by("-created_at").first() if room.kind == Room.Kind.DIRECT else None
    config = {
        "room": room.pk,
        "roomName": room.name,
        "maxPeers": room.max_peers,
        "wsPath": "/ws/signal/",
        "iceServers": turn.ice_servers(user),
        "iceTransportPolicy": settings.ICE_TRANSPORT_POLICY,
        "turnRefreshUrl": "/api/turn-credentials/",
        "turnTtl": settings.TURN_TTL if turn.configured() else None,
        "call": str(call.pk) if call else None,
        "user": user_info(user),
    }
    return render(request, "calls/room.html", {"room": room, "config": config, "is_owner": room.owner_id == user.pk})
