"""Logging out, changing or resetting the password, or being deactivated closes the user's open WebSockets (4403)."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from tests.helpers import PASSWORD, make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]
NEW_PASSWORD = "another-pw-7781"


@pytest.fixture
def node(daphne_factory):
    return daphne_factory("sess")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def open_pair(node):
    """alice with two sockets (two sessions), bob with one."""
    (alice, cookie_a), (_, cookie_b) = [await sync_to_async(make_user)(n) for n in ("alice", "bob")]
    web = await sync_to_async(logged_in)(alice)
    tabs = [
        await Peer.connect(node.ws_url, web.cookies["sessionid"].value),
        await Peer.connect(node.ws_url, cookie_a),
    ]
    bob = await Peer.connect(node.ws_url, cookie_b)
    assert all(p.hello for p in [*tabs, bob])
    return alice, web, tabs, bob


async def alive(peer: Peer) -> bool:
    await peer.send(type="ping", id="still-there")
    return (await peer.recv_type("pong", timeout=5))["ref"] == "still-there"


async def assert_closed_and_bob_untouched(tabs, bob):
    assert [await tab.closed() for tab in tabs] == [4403, 4403]
    assert await alive(bob)


async def test_logout_closes_the_users_sockets(node):
    _, web, tabs, bob = await open_pair(node)
    response = await sync_to_async(web.post)("/logout/")
    assert response.status_code == 302
    await assert_closed_and_bob_untouched(tabs, bob)


async def test_password_change_closes_the_users_sockets(node):
    _, web, tabs, bob = await open_pair(node)
    response = await sync_to_async(web.post)(
        "/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content
    await assert_closed_and_bob_untouched(tabs, bob)


async def test_password_reset_closes_the_users_sockets(node):
    _, _, tabs, bob = await open_pair(node)
    anonymous = Client()
    await sync_to_async(anonymous.post)("/password/reset/", {"email": "alice@example.com"})
    link = re.search(r"http://testserver(/password/reset/\S+/)", mail.outbox[-1].body).group(1)
    response = await sync_to_async(anonymous.get)(link, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = await sync_to_async(anonymous.post)(
        form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302, response.content
    await assert_closed_and_bob_untouched(tabs, bob)


async def test_deactivation_closes_the_users_sockets_and_a_login_does_not(node):
    alice, _, tabs, bob = await open_pair(node)
    # An ordinary save (a login updates last_login) closes nothing.
    await sync_to_async(Client().login)(username="alice", password=PASSWORD)
    assert await alive(tabs[0]) and await alive(tabs[1])

    def deactivate():
        user = get_user_model().objects.get(pk=alice.pk)
        user.is_active = False
        user.save()

    await sync_to_async(deactivate)()
    await assert_closed_and_bob_untouched(tabs, bob)
