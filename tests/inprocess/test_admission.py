"""`Room.for_admission`, the one query behind every WebSocket `join`: what it reads, and that it
decides as `Room.admission` does on a room read plainly."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from calls.models import Room

pytestmark = pytest.mark.django_db


def user(name: str):
    return get_user_model().objects.create_user(name, f"{name}@example.com", "pw-unused-here")


def test_for_admission_reads_the_room_and_both_memberships_in_one_query():
    owner, guest = user("owner"), user("guest")
    room = Room.objects.create(name="r", owner=owner, max_peers=4)
    with CaptureQueriesContext(connection) as queries:
        found = Room.for_admission(guest, room.pk)
        decision = found.admission(guest)
        found.moderator_id, found.max_peers, found.pk  # noqa: B018 (what the WebSocket reads)
    assert len(queries) == 1
    assert decision == Room.Admission(True, False)
    assert (found.pk, found.owner_id, found.kind, found.locked, found.max_peers) == (
        room.pk, owner.pk, Room.Kind.MEETING, False, 4
    )  # fmt: skip
    assert Room.for_admission(guest, "no-such-room") is None


CASES = ["owner", "member", "removed", "removed member", "stranger", "stranger, locked", "member, locked"]


@pytest.mark.parametrize("case", [*CASES, "direct outsider"])
def test_for_admission_decides_as_a_room_read_plainly(case):
    owner, someone = user("owner"), user("someone")
    kind = Room.Kind.DIRECT if "direct" in case else Room.Kind.MEETING
    room = Room.objects.create(name="r", owner=owner, kind=kind, locked="locked" in case)
    if "member" in case:
        room.members.add(someone)
    if "removed" in case:
        room.removed.add(someone)
    who = owner if case == "owner" else someone
    plain = Room.objects.get(pk=room.pk).admission(who)  # the rule, each fact read with a query of its own
    assert Room.for_admission(who, room.pk).admission(who) == plain
    expected = {
        "owner": (True, True, False),
        "member": (True, True, False),
        "removed": (False, False, True),
        "removed member": (False, False, True),
        "stranger": (True, False, False),
        "stranger, locked": (False, False, False),
        "member, locked": (True, True, False),
        "direct outsider": (False, False, False),
    }[case]
    assert tuple(plain) == expected
