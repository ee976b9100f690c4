"""The OpenAPI schema tells the truth: every endpoint's declared success status is the one it returns."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from calls.models import Room
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db
BODY = {"name": "Weekly", "max_peers": 4, "locked": False}


def operations() -> list[tuple[str, str, set[int]]]:
    """(method, path template, declared 2xx codes) for every operation in the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, path, {int(code) for code in op["responses"] if code.startswith("2")})
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_the_schema_covers_the_api():
    paths = {path for _, path, _ in operations()}
    assert {"/api/ws-ticket/", "/api/turn-credentials/", "/api/presence/", "/api/rooms/{room_id}/"} <= paths
    assert "/api/me/calls-seen/" in paths
    assert all(declared for _, _, declared in operations())


@pytest.mark.parametrize(("method", "path", "declared"), operations(), ids=lambda v: str(v))
def test_declared_success_status_is_the_real_one(redis, monkeypatch, method, path, declared):
    from calls import api

    async def kicked(peer: str) -> bool:
        return True  # a live peer (kicking one for real: tests/servers/test_admin.py)

    monkeypatch.setattr(api.departures, "kick", kicked)
    cache.clear()
    user = get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_activepeer", "disconnect_peer"]))
    room = Room.objects.create(name="Alice's", owner=user)
    room.members.add(user)
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(pk=user.pk))
    url = path.replace("{room_id}", room.pk).replace("{peer}", "somepeer")
    response = getattr(client, method)(url, BODY if method in ("post", "put", "patch") else None, format="json")
    assert declared == {response.status_code}, (method, path, response.content[:200])
