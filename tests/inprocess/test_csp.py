"""Content-Security-Policy: on every page, strict (nothing inline), and no page needs inline code."""

import re

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from calls.models import Room
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.I)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+=", re.I)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.fixture
def admin_client(redis):
    user = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    client.force_login(user)
    return client, user


def pages(client, user) -> list[str]:
    room = Room.objects.create(name="Team sync", owner=user)
    return [
        "/",
        "/profile/",
        f"/r/{room.pk}/",
        "/admin/",
        "/admin/calls/activepeer/",
        "/admin/calls/room/",
        reverse("admin:calls_room_change", args=[quote(room.pk)]),  # the admin quotes ids
        "/admin/auth/user/add/",
        "/api/docs/",
    ]


def test_every_page_has_a_strict_policy_and_no_inline_code(admin_client):
    client, user = admin_client
    anonymous = [(Client(), path) for path in ("/login/", "/signup/", "/password/reset/")]
    for c, path in [*anonymous, *((client, path) for path in pages(client, user))]:
        response = c.get(path)
        assert response.status_code == 200, path
        csp = policy(response)
        assert csp["default-src"] == ["'self'"], path
        assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"], path
        assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"], path
        body = response.content.decode()
        assert not INLINE_SCRIPT.search(body), f"inline <script> in {path}: {INLINE_SCRIPT.search(body)}"
        assert not INLINE_STYLE.search(body), f"inline style in {path}"
        assert not INLINE_HANDLER.search(body), f"inline event handler in {path}"


def test_the_call_page_may_use_media_streams_and_its_own_websocket(admin_client):
    client, user = admin_client
    room = Room.objects.create(name="r", owner=user)
    csp = policy(client.get(f"/r/{room.pk}/", HTTP_HOST="testserver:8443"))
    assert set(csp["media-src"]) == {"'self'", "blob:", "mediastream:"}
    assert csp["connect-src"] == ["'self'", "ws://testserver:8443", "wss://testserver:8443"]
    assert "'unsafe-inline'" not in str(csp) and "'unsafe-eval'" not in str(csp)


def test_swagger_start_up_script_is_a_file(admin_client):
    client, _ = admin_client
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
