"""The appearance a user chooses on the profile page (every page they open renders in it), and
the site's forms: help texts and errors tied to their fields for screen readers."""

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from calls.models import Profile
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, django_user_model):
    user = django_user_model.objects.create_user("alice", "alice@example.com", PASSWORD)
    Profile.for_user(user)
    client.force_login(user)
    return user


def save_theme(client, theme: str) -> str:
    response = client.post("/profile/", {"display_name": "", "calls_from": "everyone", "theme": theme}, follow=True)
    return response.content.decode()


def test_profile_offers_the_appearance(client, alice):
    page = client.get("/profile/").content.decode()
    assert "Appearance" in page
    for value in ("system", "light", "dark"):
        assert f'<option value="{value}"' in page


def test_a_chosen_theme_is_rendered_on_every_page(client, alice):
    assert "Profile saved." in save_theme(client, "dark")
    assert Profile.objects.get(user=alice).theme == "dark"
    for url in ("/", "/profile/", "/password/change/"):
        page = client.get(url).content.decode()
        assert '<html lang="en" data-theme="dark">' in page, url
        assert '<meta name="color-scheme" content="dark">' in page, url
    save_theme(client, "light")
    assert 'data-theme="light"' in client.get("/").content.decode()


def test_the_system_theme_and_anonymous_pages_follow_the_system(client, alice):
    save_theme(client, "system")
    page = client.get("/").content.decode()
    assert "data-theme" not in page and '<meta name="color-scheme" content="light dark">' in page
    client.logout()
    page = client.get("/login/").content.decode()
    assert "data-theme" not in page and '<meta name="color-scheme" content="light dark">' in page


def queries_for_home(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    return len(queries)


def test_the_theme_costs_no_query(client, alice, settings):
    """The profile base.html loads for the display name also gives the theme."""
    Profile.objects.filter(user=alice).update(theme="dark")
    with_theme = queries_for_home(client)
    templates = copy.deepcopy(settings.TEMPLATES)
    for engine in templates:
        processors = engine.get("OPTIONS", {}).get("context_processors", [])
        processors[:] = [p for p in processors if p != "calls.context_processors.theme"]
    settings.TEMPLATES = templates
    assert "data-theme" not in client.get("/").content.decode()  # the processor is really off
    assert with_theme == queries_for_home(client)


def test_admin_pages_do_not_look_the_theme_up(client, alice, settings):
    """The admin has a theme of its own: the site's adds no query there (the profile language may read the profile)."""
    alice.is_staff = alice.is_superuser = True
    alice.save()
    Profile.objects.filter(user=alice).update(theme="dark")
    client.force_login(alice)

    def admin_queries() -> list[str]:
        client.get("/admin/")
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/admin/")
        assert response.status_code == 200 and 'data-theme="dark"' not in response.content.decode()
        return [q["sql"].split(" WHERE ")[0] for q in queries]  # the statements, not their timestamps

    with_theme = admin_queries()
    templates = copy.deepcopy(settings.TEMPLATES)
    for engine in templates:
        processors = engine.get("OPTIONS", {}).get("context_processors", [])
        processors[:] = [p for p in processors if p != "calls.context_processors.theme"]
    settings.TEMPLATES = templates
    assert with_theme == admin_queries()


def test_form_fields_point_at_their_help_and_errors(client):
    """Screen readers read a field's help text and errors with it (aria-describedby resolves)."""
    page = client.post("/signup/", {"username": "", "email": "not-an-address"}).content.decode()
    for ref in ("id_email_helptext", "id_email_error", "id_password1_helptext", "id_password1_error"):
        assert f'id="{ref}"' in page, ref
        assert ref in page.split(f'id="{ref}"')[0], f"{ref} is not referred to before it"
