"""Direct calls over real WebSockets: ringing on every tab, answered elsewhere, declined, missed, busy."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from calls.models import Block, Call, Profile
from tests.helpers import eventually, make_user
from tests.wsclient import Peer

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def nodes(cluster_factory, redis, tmp_path, request):
    env = {"CALL_RING_TIMEOUT": "2", "SIGNALING_NODE_TTL": "2", "CALL_RING_LIMIT": "5"}
    return cluster_factory(request, tmp_path, name="dc", **env)


async def people(*names):
    return [await sync_to_async(make_user)(name) for name in names]


async def test_call_rings_every_tab_and_accepting_on_one_stops_the_others(nodes):
    (alice, ca), (_bob, cb) = await people("alice", "bob")
    caller = await Peer.connect(nodes[0].ws_url, ca)
    tab1 = await Peer.connect(nodes[1].ws_url, cb)
    tab2 = await Peer.connect(nodes[0].ws_url, cb)
    await caller.send(type="call", user="bob", id="c")
    state = await caller.recv_type("call-state")
    assert state["ref"] == "c" and state["call"]["state"] == "ringing"
    call = state["call"]
    assert call["caller"]["username"] == "alice" and call["callee"]["username"] == "bob" and call["room"]
    for tab in (tab1, tab2):
        ring = await tab.recv_type("incoming-call")
        assert ring["call"]["id"] == call["id"] and ring["call"]["caller"]["id"] == alice.pk
    await tab1.send(type="accept", call=call["id"], id="a")
    accepted = await tab1.recv_type("call-state", ref="a")
    assert accepted["call"]["state"] == "accepted" and accepted["call"]["by_peer"] == tab1.peer
    elsewhere = await tab2.recv_type("call-state")
    assert elsewhere["call"]["state"] == "accepted" and elsewhere["call"]["by_peer"] == tab1.peer
    assert (await caller.recv_type("call-state"))["call"]["state"] == "accepted"
    # the other tab can no longer accept
    await tab2.send(type="accept", call=call["id"], id="late")
    assert (await tab2.recv_type("error"))["code"] == "invalid_state"
    # both join the call's private room; a third user may not
    assert (await caller.join(call["room"]))["type"] == "joined"
    assert (await tab1.join(call["room"]))["peers"][0]["peer"] == caller.peer
    ((_, cc),) = await people("carol")
    carol = await Peer.connect(nodes[1].ws_url, cc)
    assert (await carol.join(call["room"]))["code"] == "forbidden"
    await carol.send(type="hangup", call=call["id"])
    assert (await carol.recv_type("error"))["code"] == "call_not_found"
    await caller.send(type="hangup", call=call["id"])
    assert (await tab1.recv_type("call-state"))["call"]["state"] == "ended"
    row = await sync_to_async(Call.objects.get)(pk=call["id"])
    assert row.state == "ended" and row.ended_by_id == alice.pk and row.duration is not None
    for peer in (caller, tab1, tab2, carol):
        await peer.close()


async def test_decline_and_cancel(nodes):
    (_, ca), (_, cb) = await people("alice", "bob")
    caller = await Peer.connect(nodes[0].ws_url, ca)
    callee = await Peer.connect(nodes[1].ws_url, cb)
    await caller.send(type="call", user="bob")
    call = (await callee.recv_type("incoming-call"))["call"]
    await caller.send(type="decline", call=call["id"])
    assert (await caller.recv_type("error"))["code"] == "forbidden"  # only the callee declines
    await callee.send(type="decline", call=call["id"])
    assert (await caller.recv_type("call-state", timeout=5))["call"]["state"] == "declined"
    await caller.send(type="call", user="bob")
    call = (await callee.recv_type("incoming-call"))["call"]
    await caller.send(type="cancel", call=call["id"])
    assert (await callee.recv_type("call-state"))["call"]["state"] == "cancelled"
    await caller.close()
    await callee.close()


async def test_unanswered_call_is_missed_on_both_sides(nodes):
    (_, ca), (_, cb) = await people("alice", "bob")
    caller = await Peer.connect(nodes[0].ws_url, ca)
    callee = await Peer.connect(nodes[1].ws_url, cb)
    await caller.send(type="call", user="bob")
    call = (await callee.recv_type("incoming-call"))["call"]
    assert call["ring_timeout"] == 2
    assert (await caller.recv_type("call-state"))["call"]["state"] == "ringing"  # the answer to its `call`
    assert (await caller.recv_type("call-state", timeout=10))["call"]["state"] == "missed"
    missed = await callee.recv_type("call-state", timeout=10)
    assert missed["call"]["state"] == "missed"
    row = await sync_to_async(Call.objects.get)(pk=call["id"])
    assert row.state == "missed" and row.answered_at is None
    await caller.close()
    await callee.close()


async def test_ring_deadline_survives_the_death_of_the_callers_process(nodes, daphne_factory):
    (_, ca), (_, cb) = await people("alice", "bob")
    caller = await Peer.connect(nodes[0].ws_url, ca)
    callee = await Peer.connect(nodes[1].ws_url, cb)
    await caller.send(type="call", user="bob")
    call = (await callee.recv_type("incoming-call"))["call"]
    nodes[0].proc.kill()
    assert (await callee.recv_type("call-state", timeout=10))["call"]["state"] == "missed"
    assert (await sync_to_async(Call.objects.get)(pk=call["id"])).state == "missed"
    await callee.close()


async def test_busy_when_the_callee_is_in_a_live_accepted_call(nodes):
    (_, ca), (_, cb), (_, cc) = await people("alice", "bob", "carol")
    alice = await Peer.connect(nodes[0].ws_url, ca)
    bob = await Peer.connect(nodes[1].ws_url, cb)
    carol = await Peer.connect(nodes[0].ws_url, cc)
    await alice.send(type="call", user="bob")
    call = (await bob.recv_type("incoming-call"))["call"]
    await bob.send(type="accept", call=call["id"])
    await bob.recv_type("call-state")
    await bob.join(call["room"])
    await carol.send(type="call", user="bob", id="x")
    busy = await carol.recv_type("call-state", ref="x")
    assert busy["call"]["state"] == "busy"
    assert await bob.nothing_for(0.5, "incoming-call") == []
    # once bob's side of the call is gone, he is reachable again
    await bob.close()
    await carol.send(type="call", user="bob", id="y")
    assert (await carol.recv_type("call-state", ref="y"))["call"]["state"] == "ringing"
    await alice.close()
    await carol.close()


async def test_who_may_call_you(nodes):
    (alice, ca), (bob, _cb), (carol, _cc) = await people("alice", "bob", "carol")
    await sync_to_async(Block.objects.create)(user=bob, blocked=alice)
    a = await Peer.connect(nodes[0].ws_url, ca)
    await a.send(type="call", user="bob", id=1)
    assert (await a.recv_type("error", ref=1))["code"] == "forbidden"
    await sync_to_async(Profile.objects.filter(user=carol).update)(calls_from=Profile.CallsFrom.NOBODY)
    await a.send(type="call", user="carol", id=2)
    assert (await a.recv_type("error", ref=2))["code"] == "forbidden"
    await a.send(type="call", user="nobody-by-that-name", id=3)
    assert (await a.recv_type("error", ref=3))["code"] == "user_not_found"
    await a.send(type="call", user="alice", id=4)
    assert (await a.recv_type("error", ref=4))["code"] == "user_not_found"
    await a.close()


async def test_ring_attempts_are_limited_per_user(nodes):
    (_, ca), (_, cb) = await people("alice", "bob")
    a = await Peer.connect(nodes[0].ws_url, ca)
    b = await Peer.connect(nodes[1].ws_url, cb)
    for i in range(5):
        await a.send(type="call", user="bob", id=i)
        call = (await a.recv_type("call-state", ref=i))["call"]
        await a.send(type="cancel", call=call["id"])
    await a.send(type="call", user="bob", id="over")
    assert (await a.recv_type("error", ref="over"))["code"] == "rate_limited"
    assert await eventually(lambda: Call.objects.filter(state="cancelled").count() == 5, what="5 cancelled calls")
    await a.close()
    await b.close()


async def test_accepted_call_left_without_hangup_is_ended(daphne_factory):
    node = daphne_factory("abandon", CALL_ABANDON_AFTER="1", SIGNALING_NODE_TTL="1")
    (_, ca), (_, cb) = await people("alice", "bob")
    alice = await Peer.connect(node.ws_url, ca)
    bob = await Peer.connect(node.ws_url, cb)
    await alice.send(type="call", user="bob")
    call = (await bob.recv_type("incoming-call"))["call"]
    await bob.send(type="accept", call=call["id"])
    await bob.recv_type("call-state")
    await alice.join(call["room"])
    await bob.join(call["room"])
    watcher = await Peer.connect(node.ws_url, ca)  # another tab of alice's, not in the call
    await alice.close()
    await bob.close()
    ended = await watcher.recv_type("call-state", timeout=20)
    assert ended["call"]["state"] == "ended"
    row = await sync_to_async(Call.objects.get)(pk=call["id"])
    assert row.state == "ended" and row.ended_by_id is None and row.duration is not None
    await watcher.close()
