"""Retention: `manage.py purge_history` removes old history and keeps the recent and the live."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from calls.models import Call, PeerSession
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


def test_purge_deletes_only_old_finished_records(settings):
    settings.RETENTION_DAYS = 30
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    old, recent = timezone.now() - timedelta(days=40), timezone.now() - timedelta(days=5)
    PeerSession.objects.create(peer="old", user=alice, node="n", opened_at=old, closed_at=old, ip="192.0.2.1")
    PeerSession.objects.create(peer="recent", user=alice, node="n", opened_at=recent, closed_at=recent)
    PeerSession.objects.create(peer="live", user=alice, node="n", opened_at=old)  # still open
    Call.objects.create(caller=alice, callee=bob, state=Call.State.MISSED, created_at=old, ended_at=old)
    Call.objects.create(caller=alice, callee=bob, state=Call.State.ENDED, created_at=recent, ended_at=recent)
    Call.objects.create(caller=alice, callee=bob, state=Call.State.ACCEPTED, created_at=old)  # still going

    out = StringIO()
    call_command("purge_history", "--dry-run", stdout=out)
    assert "would delete 1 peer sessions, 1 calls" in out.getvalue()
    assert PeerSession.objects.count() == 3

    call_command("purge_history", stdout=StringIO())
    assert set(PeerSession.objects.values_list("peer", flat=True)) == {"recent", "live"}
    assert set(Call.objects.values_list("state", flat=True)) == {"ended", "accepted"}

    call_command("purge_history", "--days", "1", stdout=StringIO())
    assert set(PeerSession.objects.values_list("peer", flat=True)) == {"live"}


def test_purge_refuses_a_zero_retention():
    with pytest.raises(CommandError):
        call_command("purge_history", "--days", "0")
