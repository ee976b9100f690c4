"""API representations of users, rooms, calls and live peers."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from calls import missed
from calls.models import Call, Room, display_name


class UserRef(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.SerializerMethodField()

    def get_display_name(self, user) -> str:
        return display_name(user)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    display_name = serializers.CharField(source="profile.display_name")
    calls_from = serializers.CharField(source="profile.calls_from")
    is_staff = serializers.BooleanField()
    missed_calls = serializers.SerializerMethodField()

    def get_missed_calls(self, user) -> int:
        """Missed calls (rang out, or the caller hung up while it rang) placed since the user last saw them."""
        return missed.unseen_count(user)


class CallsSeenSerializer(serializers.Serializer):
    missed_calls = serializers.IntegerField(help_text="Unseen missed calls left (0 unless one was missed meanwhile)")
    calls_seen_at = serializers.DateTimeField(help_text="Missed calls placed after this moment count as new")


class RoomSerializer(serializers.ModelSerializer):
    owner = UserRef(read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = ("id", "name", "kind", "owner", "locked", "max_peers", "created_at", "url")
        read_only_fields = ("id", "kind", "owner", "created_at", "url")

    def get_url(self, room: Room) -> str:
        return f"/r/{room.pk}/"

    def validate_max_peers(self, value: int) -> int:
        if not 2 <= value <= settings.ROOM_MAX_PEERS:
            raise serializers.ValidationError(f"must be between 2 and {settings.ROOM_MAX_PEERS}")
        return value


class CallSerializer(serializers.ModelSerializer):
    caller = UserRef(read_only=True)
    callee = UserRef(read_only=True)
    duration = serializers.SerializerMethodField()

    class Meta:
        model = Call
        fields = ("id", "state", "caller", "callee", "room", "created_at", "answered_at", "ended_at", "duration")

    def get_duration(self, call: Call) -> float | None:
        """Seconds of talk time, for answered calls that ended."""
        return call.duration.total_seconds() if call.duration is not None else None


class PresenceSerializer(serializers.Serializer):
    peer = serializers.CharField()
    user = serializers.DictField()
    rooms = serializers.ListField(child=serializers.CharField())
    node = serializers.CharField()
    attached = serializers.BooleanField()
    connected_at = serializers.FloatField()
    last_seen = serializers.FloatField()
    ip = serializers.CharField()
    user_agent = serializers.CharField()


class RoomPeerSerializer(serializers.Serializer):
    peer = serializers.CharField()
    user = serializers.DictField()
    connected_at = serializers.FloatField()
