"""The WebSocket's session lookup (calls.sessions) answers as Django's get_user would, in two statements."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import HASH_SESSION_KEY, get_user, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from calls import sessions
from calls.models import Profile
from calls.signaling import auth
from tests.helpers import session_cookie

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def alice():
    user = get_user_model().objects.create_user("alice", "alice@example.com", "pw-unused-123")
    Profile.objects.filter(user=user).update(display_name="Alice A.")
    return user


def django_user(key: str):
    return get_user(SimpleNamespace(session=SessionStore(key)))


def test_a_signed_in_session_gives_its_user_and_profile_in_two_queries(alice, django_assert_num_queries):
    key = session_cookie(alice)
    with django_assert_num_queries(2):
        user = sessions.session_user(key)
        assert user.profile.display_name == "Alice A."  # loaded with the user: no third query
    assert user == alice and user.is_authenticated
    stored = get_user_model().objects.get(pk=alice.pk)
    fields = [f.attname for f in get_user_model()._meta.concrete_fields]
    # the whole row, as the ORM reads it (datetimes, booleans), nothing deferred to load later
    assert {f: getattr(user, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert user.is_active is True and user.last_login == stored.last_login is not None


def test_a_user_without_a_profile_row_costs_no_third_query(alice, django_assert_num_queries):
    Profile.objects.filter(user=alice).delete()  # users made before profiles existed, or by bulk_create
    key = session_cookie(alice)
    with django_assert_num_queries(2):
        ((user, info),) = auth._session_users([key])
    assert user == alice
    assert info == {"id": alice.pk, "username": "alice", "display_name": "alice"}


def unknown(alice):
    return "no-such-session-key-at-all"


def expired(alice):
    key = session_cookie(alice)
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    return key


def inactive(alice):
    key = session_cookie(alice)
    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)
    return key


def password_changed(alice):
    key = session_cookie(alice)
    alice.set_password("another-pw-7781")
    alice.save()
    return key


def another_backend(alice):
    store = SessionStore(session_cookie(alice))
    store["_auth_user_backend"] = "calls.tests.SomeOtherBackend"
    store.save()
    return store.session_key


def no_hash(alice):
    store = SessionStore(session_cookie(alice))
    del store[HASH_SESSION_KEY]
    store.save()
    return store.session_key


def too_short(alice):
    return "short"


CASES = [unknown, expired, inactive, password_changed, another_backend, no_hash, too_short]


@pytest.mark.parametrize("case", CASES)
def test_every_other_case_is_left_to_django_which_signs_nobody_in(alice, case):
    key = case(alice)
    assert sessions.session_user(key) is None
    assert not django_user(key).is_authenticated


def test_a_session_of_the_previous_secret_key_is_accepted_and_left_for_http_to_rotate(alice, settings):
    key = session_cookie(alice)
    before = Session.objects.get(session_key=key).session_data
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 50, [settings.SECRET_KEY]
    assert sessions.session_user(key) == alice  # as Django's get_user accepts it
    assert Session.objects.get(session_key=key).session_data == before  # untouched: the browser's cookie still works
    settings.SECRET_KEY_FALLBACKS = []
    assert sessions.session_user(key) is None  # a key no longer trusted signs nobody in
    assert not django_user(key).is_authenticated


def test_the_connect_lookup_gives_the_user_and_how_frames_show_them(alice, django_assert_num_queries):
    key = session_cookie(alice)
    with django_assert_num_queries(2):
        ((user, info),) = auth._session_users([key])
    assert user == alice
    assert info == {"id": alice.pk, "username": "alice", "display_name": "Alice A."}


def test_many_sessions_are_looked_up_in_the_same_two_queries_each_as_django_decides(alice, django_assert_num_queries):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "pw-unused-456")
    keys = [session_cookie(alice), session_cookie(bob), session_cookie(alice)]  # alice in two browsers
    others = [case(alice) for case in (unknown, expired, another_backend, no_hash, too_short)]  # alice stays valid
    Profile.objects.filter(user=bob).update(display_name="Bob B.")
    with django_assert_num_queries(2):
        found = sessions.session_users(keys + others)
        assert [found[key].profile.display_name for key in keys] == [
            "Alice A.",
            "Bob B.",
            "Alice A.",
        ]  # no more queries
    assert found == {keys[0]: alice, keys[1]: bob, keys[2]: alice}
    assert all(not django_user(key).is_authenticated for key in others)


def test_the_connect_lookup_answers_every_key_in_order_django_deciding_the_rest(alice, django_assert_num_queries):
    good, bad = session_cookie(alice), expired(alice)
    with django_assert_num_queries(3):  # the two statements, then Django's own look at the expired session
        answers = auth._session_users([good, bad, good])
    assert [user for user, _ in answers] == [alice, AnonymousUser(), alice]
    assert [info for _, info in answers] == [answers[0][1], None, answers[0][1]]
    assert answers[0][1] == {"id": alice.pk, "username": "alice", "display_name": "Alice A."}


def test_the_lookup_is_not_used_with_another_session_engine(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    assert not sessions.applies()
    settings.SESSION_ENGINE = sessions.DATABASE_SESSIONS
    settings.AUTHENTICATION_BACKENDS = ["calls.tests.SomeOtherBackend"]
    assert not sessions.applies()
