"""Pages in the visitor's language: the browser's Accept-Language, or the profile's choice over it."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from calls.forms import ProfileForm
from calls.models import Profile, Room
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db


def _speaks(user, language: str) -> None:
    Profile.objects.update_or_create(user=user, defaults={"language": language})


def test_the_login_page_follows_the_browsers_language(client):
    german = client.get("/login/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    page = german.content.decode()
    assert '<html lang="de">' in page and german["Content-Language"] == "de"
    assert "<h1>Anmelden</h1>" in page and "Passwort vergessen?" in page and "Log in" not in page
    english = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9").content.decode()
    assert '<html lang="en">' in english and "<h1>Log in</h1>" in english
    fallback = client.get("/login/", HTTP_ACCEPT_LANGUAGE="fr-FR").content.decode()
    assert "<h1>Log in</h1>" in fallback  # a language the site lacks: English


def test_the_profile_language_wins_over_the_browsers(client, alice):
    _speaks(alice, "de")
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="de">' in page and "Ihre Räume" in page and "Your rooms" not in page
    _speaks(alice, "")  # the browser's language again
    assert "Your rooms" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Ihre Räume" in client.get("/", HTTP_ACCEPT_LANGUAGE="de").content.decode()


def test_the_room_page_says_why_it_refuses_in_the_users_language(client, alice):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    room = Room.objects.create(name="Bob's", owner=bob, locked=True)
    _speaks(alice, "de")
    response = client.get(f"/r/{room.pk}/")
    assert response.status_code == 403
    assert '<p id="forbidden-reason">Dieser Raum ist gesperrt.</p>' in response.content.decode()


def test_the_language_picker_saves_and_the_next_page_is_in_that_language(client, alice):
    form = ProfileForm(instance=Profile.for_user(alice))
    assert [code for code, _ in form.fields["language"].choices] == ["", "en", "de"]
    data = {name: form[name].value() or "" for name in form.fields}  # whatever else the form asks for, as it is
    response = client.post("/profile/", {**data, "language": "de"}, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert Profile.objects.get(user=alice).language == "de"
    page = response.content.decode()
    assert "Profil gespeichert." in page and '<option value="de" selected>Deutsch</option>' in page
    refused = client.post("/profile/", {**data, "language": "xx"})
    assert refused.status_code == 200 and Profile.objects.get(user=alice).language == "de"


def test_the_profile_language_costs_no_query_on_a_page(client, alice):
    """The page reads the profile for the top bar anyway; the middleware's read is the same one."""
    _speaks(alice, "de")
    with CaptureQueriesContext(connection) as with_language:
        assert "Ihre Räume" in client.get("/").content.decode()
    without = [m for m in settings.MIDDLEWARE if m != "rtcsite.middleware.ProfileLanguageMiddleware"]
    with override_settings(MIDDLEWARE=without):
        other = Client()  # a new handler: it loads the middleware list in force now
        other.force_login(alice)
        with CaptureQueriesContext(connection) as plain:
            assert "Your rooms" in other.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert len(with_language) == len(plain)


def test_the_password_reset_mail_is_in_the_language_of_the_request(client, redis):
    get_user_model().objects.create_user("carol", "carol@example.com", PASSWORD)
    client.post("/password/reset/", {"email": "carol@example.com"}, HTTP_ACCEPT_LANGUAGE="de")
    [message] = mail.outbox
    assert message.subject == "Ihr rtcsite-Passwort zurücksetzen"
    assert "Wählen Sie hier ein neues Passwort:" in message.body and "„carol“" in message.body


def test_the_javascript_catalog_is_a_cacheable_same_origin_script_per_language(client):
    response = client.get("/jsi18n/de/", HTTP_ACCEPT_LANGUAGE="en")  # anonymous: the login page needs it too
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert response["Content-Language"] == "de"  # the URL's language, whatever the browser's
    assert "public" in response["Cache-Control"] and "max-age=3600" in response["Cache-Control"]
    body = response.content.decode()
    assert '"Mute": "Stummschalten"' in body or '"Mute":"Stummschalten"' in body
    assert "django.gettext" in body or "django.catalog" in body
    assert "Stummschalten" not in client.get("/jsi18n/en/").content.decode()
    assert client.get("/jsi18n/xx/").status_code == 404
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    first_script = re.search(r"<script [^>]*src=\"([^\"]+)\"", page)
    assert first_script and first_script.group(1) == "/jsi18n/de/"  # a classic script, before every module
