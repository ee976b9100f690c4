"""Accounts with Django's auth: sign-up, log in and out, profile, password change and reset."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from rest_framework.authtoken.models import Token

from calls.models import Block, Profile
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "another-Long-passphrase-42"


def signup(client, username="alice", email="alice@example.com", p1=PASSWORD, p2=PASSWORD):
    return client.post(
        "/signup/", {"username": username, "email": email, "password1": p1, "password2": p2}, follow=True
    )


def test_signup_login_profile_logout_round_trip(client, redis):
    response = signup(client)
    assert response.redirect_chain[-1][0] == "/"
    assert 'data-username="alice"' in response.content.decode()  # logged in, shown in the nav
    response = client.post("/profile/", {"display_name": "Alice A.", "calls_from": "everyone"}, follow=True)
    assert "Profile saved." in response.content.decode()
    assert Profile.objects.get(user__username="alice").display_name == "Alice A."
    assert "Alice A." in client.get("/").content.decode()
    assert client.get("/logout/").status_code == 405  # logging out takes a POST (CSRF-protected)
    response = client.post("/logout/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/login/")
    assert client.get("/").status_code == 302
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/" and "Alice A." in response.content.decode()


def test_signup_shows_field_errors(client):
    page = signup(client, p1="password", p2="password").content.decode()
    assert "This password is too common." in page
    page = signup(client, p1=PASSWORD, p2=PASSWORD + "x").content.decode()
    assert "The two password fields didn" in page
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    page = signup(client, username="bob", email="new@example.com").content.decode()
    assert "A user with that username already exists." in page
    page = signup(client, username="bobby", email="BOB@example.com").content.decode()
    assert "An account with this e-mail address already exists." in page
    assert not get_user_model().objects.filter(username="bobby").exists()


def test_login_errors_and_public_pages(client):
    for url in ("/login/", "/signup/", "/password/reset/", "/healthz"):
        assert client.get(url).status_code == 200, url
    page = client.post("/login/", {"username": "nobody", "password": "x"}).content.decode()
    assert "Please enter a correct username and password" in page


@pytest.mark.parametrize("url", ["/", "/profile/", "/password/change/", "/r/someroom/"])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(f"/login/?next={url}")


def test_password_reset_link_works(client):
    get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)
    response = client.post("/password/reset/", {"email": "alice@example.com"}, follow=True)
    assert "Check your e-mail" in response.content.decode()
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/password/reset/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)
    assert "Your new password is set" in response.content.decode()
    assert client.login(username="alice", password=NEW_PASSWORD)
    assert "invalid" in client.get(link, follow=True).content.decode()  # one use only


def test_password_change(client):
    user = get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)
    client.force_login(user)
    response = client.post(
        "/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Your password was changed." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_block_and_api_token_from_the_profile(client):
    alice = get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    client.force_login(alice)
    client.post("/profile/block/", {"username": "bob"})
    assert Block.objects.filter(user=alice, blocked__username="bob").exists()
    page = client.post("/profile/block/", {"username": "alice"}, follow=True).content.decode()
    assert "You cannot block yourself." in page
    client.post("/profile/token/", {"action": "create"})
    token = alice.auth_token.key
    assert token in client.get("/profile/").content.decode()
    client.post("/profile/token/", {"action": "revoke"})
    assert not Token.objects.filter(key=token).exists()
