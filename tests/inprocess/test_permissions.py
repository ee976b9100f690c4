"""Live peers need the model permissions (view, disconnect) in the admin and the API alike; `is_staff` is not enough."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient

from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db
ADMIN_PAGE = "/admin/calls/activepeer/"


def staff(name: str, *perms: str):
    user = get_user_model().objects.create_user(name, f"{name}@example.com", PASSWORD, is_staff=True)
    for perm in perms:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="calls", codename=perm))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def site(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_without_permissions_gets_403_everywhere(redis):
    bare = staff("bare", "view_room")  # staff, with a permission elsewhere in the app
    assert api(bare).get("/api/presence/").status_code == 403
    assert api(bare).post("/api/presence/somepeer/disconnect/").status_code == 403
    assert site(bare).get(ADMIN_PAGE).status_code == 403
    assert site(bare).post(ADMIN_PAGE, {"action": "disconnect_peer", "target": "x"}).status_code == 403
    index = site(bare).get("/admin/").content.decode()
    assert ADMIN_PAGE not in index and "Active peers" not in index


def test_view_permission_reads_but_does_not_disconnect(redis):
    viewer = staff("viewer", "view_activepeer")
    assert api(viewer).get("/api/presence/").status_code == 200
    assert api(viewer).post("/api/presence/somepeer/disconnect/").status_code == 403
    assert site(viewer).get(ADMIN_PAGE).status_code == 200
    assert ADMIN_PAGE in site(viewer).get("/admin/").content.decode()


def test_disconnect_permission_kicks(redis):
    kicker = staff("kicker", "disconnect_peer")
    # 404: allowed, but no such live peer (a live one gets 202, tests/servers/test_admin.py)
    assert api(kicker).post("/api/presence/somepeer/disconnect/").status_code == 404
    assert api(kicker).get("/api/presence/").status_code == 403


def test_the_permissions_work_without_staff_in_the_api(redis):
    user = get_user_model().objects.create_user("ops", "ops@example.com", PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="view_activepeer"))
    assert api(get_user_model().objects.get(pk=user.pk)).get("/api/presence/").status_code == 200
    # the admin still needs staff
    assert site(user).get(ADMIN_PAGE).status_code == 302
