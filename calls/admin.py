"""Django admin: rooms, calls, connection history, and the live "Active peers" page.

What the system writes (calls, peer sessions) is read-only here. The Active peers page
reads presence from Redis, so it shows every daphne process's peers; its actions are
written to Django's admin log.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from calls.forms import ThrottledAdminAuthenticationForm
from calls.models import ActivePeer, Block, Call, PeerSession, Profile, Room
from calls.signaling import departures, presence_reads, rooms

_local = threading.local()

# Failed admin sign-ins count against the same per-account and per-address limits as the site's.
admin.site.login_form = ThrottledAdminAuthenticationForm


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "owner", "kind", "locked", "max_peers", "live_peers", "created_at")
    list_filter = ("kind", "locked", "created_at")
    search_fields = ("name", "id", "owner__username")
    date_hierarchy = "created_at"
    readonly_fields = ("id", "created_at")
    raw_id_fields = ("owner",)
    filter_horizontal = ("members", "removed")  # an administrator may let a removed user in, too

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One Redis round trip for the whole page, not one per row.
        _local.live_counts = rooms.live_counts([room.pk for room in changelist.result_list])
        return changelist

    @admin.display(description=gettext_lazy("live peers"))
    def live_peers(self, room: Room) -> int:
        return getattr(_local, "live_counts", {}).get(room.pk, 0)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records the system writes: viewable, never edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin):
    list_display = ("id", "caller", "callee", "state", "created_at", "answered_at", "ended_at", "duration")
    list_filter = ("state", "created_at")
    search_fields = ("caller__username", "callee__username", "room__id")
    date_hierarchy = "created_at"
    list_select_related = ("caller", "callee")


@admin.register(PeerSession)
class PeerSessionAdmin(ReadOnlyAdmin):
    list_display = ("peer", "user", "node", "opened_at", "closed_at", "close_reason", "ip")
    list_filter = ("close_reason", "node", "opened_at")
    search_fields = ("peer", "user__username", "ip", "user_agent")
    date_hierarchy = "opened_at"
    list_select_related = ("user",)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "calls_from")
    list_filter = ("calls_from",)
    search_fields = ("user__username", "display_name")
    readonly_fields = ("turn_key",)
    raw_id_fields = ("user",)


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("user", "blocked", "created_at")
    search_fields = ("user__username", "blocked__username")
    raw_id_fields = ("user", "blocked")


def _when(timestamp: float) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def refresh_seconds(raw: str) -> int:
    """The page's auto-refresh period: 0 (paused) or 5 to 300 s; anything but an integer gives the default 10.

    Only this integer is ever rendered into the meta refresh, so `?refresh=0;url=…` cannot redirect.
    """
    try:
        seconds = int(raw.strip())
    except ValueError:
        return 10
    return 0 if seconds <= 0 else min(max(seconds, 5), 300)


@admin.register(ActivePeer)
class ActivePeerAdmin(admin.ModelAdmin):
    """Live peers of every process, from presence in Redis; no database table behind it."""

    PAGE_SIZE = 100

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Disconnecting is an action on a live socket, not a deletion of a record.
        return False

    def changelist_view(self, request, extra_context=None):
        # The page is ours, not ModelAdmin's changelist, so the view-permission check is too.
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._act(request)
        room, username, node = (request.GET.get(k, "").strip() for k in ("room", "user", "node"))
        if room:
            ids = sorted(presence_reads.peers_of_room(room))
        elif username:
            user = get_user_model().objects.filter(username=username).first()
            ids = sorted(presence_reads.user_peers(user.pk)) if user else []
        elif node:
            ids = presence_reads.peers_of_node(node)
        else:
            ids = None
        page_number = request.GET.get("p", "1")
        if ids is None:
            total = presence_reads.count()
            paginator = Paginator(range(total), self.PAGE_SIZE)
            page = paginator.get_page(page_number)
            _offset, rows = presence_reads.peers_page(page.start_index() - 1 if total else 0, self.PAGE_SIZE)
        else:
            paginator = Paginator(ids, self.PAGE_SIZE)
            page = paginator.get_page(page_number)
            rows = presence_reads.describe(list(page.object_list))
        now = timezone.now().timestamp()
        for row in rows:
            row["connected_for"] = int(now - row["connected_at"])
            row["last_seen_ago"] = int(now - row["last_seen"])
            row["connected_at_dt"] = _when(row["connected_at"])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Active peers"),
            "opts": self.model._meta,
            "rows": rows,
            "page": page,
            "paginator": paginator,
            "nodes": presence_reads.node_counts(),
            "busiest": rooms.busiest(20),
            "filters": {"room": room, "user": username, "node": node},
            "can_disconnect": request.user.has_perm("calls.disconnect_peer"),
            "refresh": str(refresh_seconds(request.GET.get("refresh", ""))),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/calls/activepeer/active_peers.html", context)

    def _act(self, request):
        """disconnect one peer, disconnect all of a user's peers, or lock a room; logged."""
        if not request.user.has_perm("calls.disconnect_peer"):
            messages.error(request, _("You may not act on live peers."))
            return HttpResponseRedirect(request.get_full_path())
        action, target = request.POST.get("action"), request.POST.get("target", "").strip()
        if action == "disconnect_peer":
            self._disconnect(request, [target])
        elif action == "disconnect_user":
            user = get_user_model().objects.filter(pk=target).first() if target.isdigit() else None
            if user is None:
                messages.error(request, _("No such user."))
            else:
                self._disconnect(request, presence_reads.user_peers(user.pk))
        elif action == "lock_room":
            room = Room.objects.filter(pk=target).first()
            if room is None:
                messages.error(request, _("No such room."))
            else:
                room.locked = True
                room.save(update_fields=["locked"])
                LogEntry.objects.log_actions(request.user.pk, [room], CHANGE, change_message="Locked from Active peers")
                messages.success(request, _("Room “%(name)s” locked.") % {"name": room.name})
        else:
            messages.error(request, _("Unknown action."))
        return HttpResponseRedirect(request.get_full_path())

    def _disconnect(self, request, peer_ids: list[str]) -> None:
        rows = {row["peer"]: row for row in presence_reads.describe(peer_ids)}
        done = [peer for peer in peer_ids if peer in rows and async_to_sync(departures.kick)(peer)]
        users = get_user_model().objects.filter(pk__in={rows[p]["user"].get("id") for p in done})
        for user in users:
            peers = [p for p in done if rows[p]["user"].get("id") == user.pk]
            LogEntry.objects.log_actions(
                request.user.pk, [user], CHANGE, change_message=f"Disconnected peer(s) {', '.join(peers)}"
            )
        if done:
            count = len(done)
            text = ngettext("Disconnected %(count)d peer.", "Disconnected %(count)d peers.", count)
            messages.success(request, text % {"count": count})
        else:
            messages.warning(request, _("No live peer to disconnect."))
