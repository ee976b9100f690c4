"""Site pages: home (rooms, people, recent calls), the call list, the call page and the service worker."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from calls import missed, throttles, turn
from calls.forms import RoomForm
from calls.models import Call, Room, accepting_calls_from, display_name, user_info
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
        # only those who would take a call from the viewer show as online
        online = presence_reads.online_users(sorted(accepting_calls_from(user, found)))
        people = [{"user": p, "name": display_name(p), "online": p.pk in online} for p in found]
    calls = _described(_calls_of(user)[:10], user)
    return render(
        request,
        "calls/home.html",
        {
            "rooms": my_rooms,
            "room_form": RoomForm(),
            "query": query,
            "people": people,
            "calls": calls,
            "missed_count": missed.unseen_count(user),
        },
    )


def _calls_of(user):
    """`user`'s calls, as caller or callee, newest first."""
    return (
        Call.objects.filter(Q(caller=user) | Q(callee=user))
        .select_related("caller__profile", "callee__profile")
        .order_by("-created_at", "-pk")
    )


CALLS_PER_PAGE = 25


@require_GET
@never_cache
def call_list(request):
    """The user's calls, a page at a time, missed ones marked; opening it marks every missed call seen."""
    seen_before = missed.mark_seen(request.user)
    page = Paginator(_calls_of(request.user), CALLS_PER_PAGE).get_page(request.GET.get("page"))
    _described(page, request.user, seen_before=seen_before, listing=True)
    return render(request, "calls/call_list.html", {"page": page})


def _described(calls, user, *, seen_before=None, listing: bool = False):
    """`calls` as `user` lived them: the other person, and "missed" for a call that rang out or was
    hung up while it rang for them; on the call list, missed calls placed after `seen_before` are new."""
    calls = list(calls)
    for call in calls:
        call.outgoing = call.caller_id == user.pk
        call.other = call.callee if call.outgoing else call.caller
        call.was_missed = not call.outgoing and call.state in missed.MISSED_STATES
        call.is_new = listing and call.was_missed and (seen_before is None or call.created_at > seen_before)
    return calls


SERVICE_WORKER = "calls/js/sw.js"


@lru_cache(maxsize=1)
def _service_worker_source() -> bytes:
    """The worker's text: from the source folders, else from the collected files (read once a process)."""
    found = finders.find(SERVICE_WORKER)
    if found:
        with open(found, "rb") as source:
            return source.read()
    with staticfiles_storage.open(SERVICE_WORKER) as source:
        return source.read()


@login_not_required
@require_GET
def service_worker(request):
    """/sw.js: served at the root so its scope is the whole site (notification actions for every page).

    Not a hashed static file: a worker's URL must stay the same for the browser to update it,
    and `no-cache` makes the browser check for a new release on every registration.
    """
    if settings.DEBUG:
        _service_worker_source.cache_clear()
    response = HttpResponse(_service_worker_source(), content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response


def _too_many(request, reason: str, retry_after: int) -> HttpResponse:
    response = render(
        request, "calls/too_many_requests.html", {"reason": reason, "retry_after": retry_after}, status=429
    )
    response["Retry-After"] = str(retry_after)
    return response


@require_POST
def room_create(request):
    # The same per-user budget as POST /api/rooms/ (API_WRITE_THROTTLE_RATE).
    wait = throttles.wait_for(throttles.WriteThrottle(), request, scope="writes")
    if wait is not None:
        return _too_many(request, _("You are creating rooms too quickly."), wait)
    form = RoomForm(request.POST)
    if form.is_valid():
        room = form.save(commit=False)
        room.owner = request.user
        room.save()
        room.members.add(request.user)
        messages.success(request, _("Room “%(name)s” created. Share its link to invite people.") % {"name": room.name})
    else:
        messages.error(request, _("A room needs a name."))
    return redirect("home")


@require_POST
def room_lock(request, room_id: str):
    room = get_object_or_404(Room, pk=room_id)
    if room.owner_id != request.user.pk:
        reason = _("Only the room's owner can lock it.")
        return render(request, "calls/forbidden.html", {"reason": reason}, status=403)
    room.locked = request.POST.get("locked") == "1"
    room.save(update_fields=["locked"])
    done = _("Room “%(name)s” locked.") if room.locked else _("Room “%(name)s” unlocked.")
    messages.success(request, done % {"name": room.name})
    return redirect(_local_next(request) or "home")


def _local_next(request) -> str | None:
    """The POST's `next` if it is a path on this site (never another host, scheme or a bare word)."""
    target = request.POST.get("next", "")
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    return target


@require_GET
@never_cache
def room(request, room_id: str):
    """The call page. Direct rooms admit their two participants; locked rooms those admitted before."""
    if not protocol.room_id_valid(room_id):
        raise Http404(_("No such room"))
    room = get_object_or_404(Room.objects.select_related("owner"), pk=room_id)
    user = request.user
    admission = room.admission(user)
    if not admission.allowed:
        if admission.removed:
            reason = _("The owner removed you from this room; they can let you back in.")
        else:
            reason = _("This call is private.") if room.kind == Room.Kind.DIRECT else _("This room is locked.")
        return render(request, "calls/forbidden.html", {"reason": reason}, status=403)
    # Each render hands out fresh TURN credentials: the same per-user budget as /api/turn-credentials/.
    wait = throttles.wait_for(throttles.TurnThrottle(), request)
    if wait is not None:
        return _too_many(request, _("You opened calls too often in a short time."), wait)
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
