"""Presence scripts against real Redis: resume, detach, remove, reaping, leases, and the read-then-verify retry.

Times are injected (deadlines, `now=`); nothing waits for a clock.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from calls.signaling import keys, presence, rooms, store
from tests.inprocess.conftest import stray_keys

UID, OTHER_UID = 7, 8
USER = '{"id": 7, "username": "alice", "name": "Alice"}'


async def attach(peer: str, node: str = "n1", conn: str = "c1", uid: int = UID) -> str:
    """Attach `peer`; its resume token is returned."""
    token = f"tok-{peer}"
    await presence.attach(peer, uid, USER, node, conn, "127.0.0.1", "pytest", token)
    return token


async def smembers(key: str) -> set[str]:
    return {v.decode() for v in await store.get_async().smembers(key)}


async def field(peer: str, name: str) -> str | None:
    value = await store.get_async().hget(keys.peer(peer), name)
    return value.decode() if value is not None else None


async def detached_deadline(peer: str) -> float | None:
    return await store.get_async().zscore(keys.detached(), peer)


def interleave(monkeypatch, source: str, step, times: int = 1) -> list:
    """Run `step()` between the caller's read and the script `source` (the first `times` runs); results kept."""
    real = store.run
    results: list = []

    async def run(src, script_keys, args):
        if src != source or len(results) >= times:
            return await real(src, script_keys, args)
        await step()
        result = await real(src, script_keys, args)
        results.append(result)
        return result

    monkeypatch.setattr(store, "run", run)
    return results


# -- attach and resume -------------------------------------------------------------------


async def test_resume_takes_over_a_live_peer_onto_another_node(redis):
    token = await attach("p1", node="n1", conn="c1")
    await rooms.join("r1", "p1", USER, 4)
    resumed = await presence.resume(token, UID, "n2", "c2", next_token="next")
    assert resumed == presence.Resumed("p1", "c1", ["r1"], "next")
    assert await smembers(keys.node_peers("n1")) == set()
    assert await smembers(keys.node_peers("n2")) == {"p1"}
    assert (await field("p1", "node"), await field("p1", "conn")) == ("n2", "c2")
    assert set(await rooms.amembers("r1")) == {"p1"}  # the room saw nothing


async def test_resume_of_a_detached_peer_leaves_detached(redis):
    token = await attach("p1", node="n1", conn="c1")
    assert await presence.detach("p1", "c1", "n1", grace=20, reason="disconnect")
    resumed = await presence.resume(token, UID, "n2", "c2", next_token="next")
    assert resumed == presence.Resumed("p1", "", [], "next")
    assert await detached_deadline("p1") is None
    assert await smembers(keys.node_peers("n2")) == {"p1"}
    assert await field("p1", "reason") == ""
    assert await presence.connection_of("p1") == "c2"


@pytest.mark.parametrize("token", ["tok-p1", "tok-unknown", "", "x" * 65])
async def test_resume_refuses_another_users_or_an_unknown_token(redis, token):
    await attach("p1", node="n1", conn="c1", uid=UID)
    other_user = token == "tok-p1"
    assert await presence.resume(token, OTHER_UID if other_user else UID, "n2", "c2") is None
    assert await presence.connection_of("p1") == "c1"  # untouched
    assert await smembers(keys.node_peers("n1")) == {"p1"}
    assert await smembers(keys.node_peers("n2")) == set()


async def test_of_two_resumes_racing_with_one_token_only_one_wins(redis, monkeypatch):
    token = await attach("p1", node="n1", conn="c1")

    async def another_process_resumes_first():
        with monkeypatch.context() as m:  # the nested resume runs unpatched
            m.setattr(store, "run", real_run)
            assert (await presence.resume(token, UID, "n2", "c2")).old_conn == "c1"

    real_run = store.run
    interleave(monkeypatch, presence._RESUME, another_process_resumes_first)
    assert await presence.resume(token, UID, "n3", "c3") is None  # the token was spent meanwhile
    assert await presence.connection_of("p1") == "c2"
    assert await smembers(keys.node_peers("n2")) == {"p1"}
    assert await smembers(keys.node_peers("n3")) == set()


async def test_a_resume_token_works_once_and_the_next_one_is_handed_back(redis):
    token = await attach("p1", node="n1", conn="c1")
    first = await presence.resume(token, UID, "n2", "c2", next_token="second-token")
    assert first.peer == "p1" and first.token == "second-token"
    assert await presence.resume(token, UID, "n3", "c3") is None
    again = await presence.resume("second-token", UID, "n3", "c3")
    assert again.peer == "p1" and again.old_conn == "c2" and again.token not in (token, "second-token")
    assert await store.get_async().exists(keys.resume(token), keys.resume("second-token")) == 0


# -- detach -----------------------------------------------------------------------------


async def test_only_the_holding_connection_detaches(redis):
    await attach("p1", node="n1", conn="c1")
    before = time.time()
    assert await presence.detach("p1", "c-other", "n1", grace=20, reason="disconnect") is False
    assert await presence.connection_of("p1") == "c1"
    assert await detached_deadline("p1") is None
    assert await presence.detach("p1", "c1", "n1", grace=20, reason="timeout") is True
    assert await presence.connection_of("p1") == ""
    assert await field("p1", "reason") == "timeout"
    assert await smembers(keys.node_peers("n1")) == set()
    # the deadline is kept to the millisecond ("%.3f"), rounded either way
    assert round(before + 20, 3) <= await detached_deadline("p1") <= round(time.time() + 20, 3)
    assert await presence.detach("p1", "c1", "n1", grace=20, reason="timeout") is False  # already
    assert await presence.detach("nobody", "c1", "n1", grace=20, reason="timeout") is False


async def test_expired_detached_lists_peers_whose_deadline_passed(redis):
    for peer, grace in (("soon", 10), ("later", 100)):
        await attach(peer, conn=f"c-{peer}")
        await presence.detach(peer, f"c-{peer}", "n1", grace=grace, reason="disconnect")
    now = time.time()
    assert await presence.expired_detached(now=now) == []
    assert await presence.expired_detached(now=now + 50) == ["soon"]
    assert await presence.expired_detached(now=now + 200) == ["soon", "later"]
    assert await presence.expired_detached(now=now + 200, limit=1) == ["soon"]


# -- remove -----------------------------------------------------------------------------


async def test_exactly_one_concurrent_remover_gets_the_rooms_and_everything_goes(redis):
    token = await attach("p1", node="n1", conn="c1")
    await attach("p2", node="n1", conn="c2")
    await rooms.join("shared", "p1", USER, 4)
    await rooms.join("shared", "p2", USER, 4)
    await rooms.join("alone", "p1", USER, 4)
    await presence.detach("p1", "c1", "n1", grace=20, reason="disconnect")

    results = await asyncio.gather(*(presence.remove("p1") for _ in range(6)))
    winners = [r for r in results if r is not None]
    assert winners == [("disconnect", ["alone", "shared"])]

    r = store.get_async()
    assert set(await rooms.amembers("shared")) == {"p2"}
    assert await r.exists(keys.room_members("alone")) == 0
    assert await r.zrange(keys.active_rooms(), 0, -1, withscores=True) == [(b"shared", 1.0)]
    assert await r.exists(keys.peer("p1"), keys.peer_rooms("p1"), keys.resume(token)) == 0
    assert await smembers(keys.user_peers(UID)) == {"p2"}
    assert await smembers(keys.node_peers("n1")) == {"p2"}
    assert await r.zscore(keys.peers(), "p1") is None
    assert await detached_deadline("p1") is None
    assert await presence.resume(token, UID, "n2", "c9") is None
    assert await presence.remove("p1") is None


async def test_remove_by_another_connection_does_nothing(redis):
    await attach("p1", node="n1", conn="c1")
    await rooms.join("r", "p1", USER, 4)
    assert await presence.remove("p1", conn="c-old") is None
    assert await presence.connection_of("p1") == "c1"
    assert set(await rooms.amembers("r")) == {"p1"}
    assert await presence.remove("p1", conn="c1") == ("", ["r"])
    assert await presence.connection_of("p1") is None


async def test_remove_retries_when_a_room_was_joined_between_read_and_script(redis, monkeypatch):
    await attach("p1", node="n1", conn="c1")
    await rooms.join("first", "p1", USER, 4)
    seen = interleave(monkeypatch, presence._REMOVE, lambda: rooms.join("second", "p1", USER, 4))
    assert await presence.remove("p1", conn="c1") == ("", ["first", "second"])
    assert seen == [b"moved"]
    assert await rooms.amembers("second") == {}
    assert await store.get_async().zcard(keys.active_rooms()) == 0


async def test_the_remove_script_with_stale_arguments_changes_nothing(redis):
    token = await attach("p1", node="n1", conn="c1")
    await rooms.join("first", "p1", USER, 4)
    await rooms.join("second", "p1", USER, 4)
    stale_keys = [
        keys.peer("p1"),
        keys.peer_rooms("p1"),
        keys.node_peers("n1"),
        keys.user_peers(UID),
        keys.resume(token),
        keys.peers(),
        keys.detached(),
        keys.active_rooms(),
        keys.room_members("first"),
    ]
    result = await store.run(presence._REMOVE, stale_keys, ["p1", "c1", "n1", UID, token, "", "first"])
    assert result == b"moved"
    assert await smembers(keys.peer_rooms("p1")) == {"first", "second"}
    assert set(await rooms.amembers("first")) == {"p1"}
    assert await presence.connection_of("p1") == "c1"


# -- nodes ------------------------------------------------------------------------------


async def test_reaping_a_dead_node_detaches_its_peers_once_and_leaves_moved_ones(redis, monkeypatch):
    await presence.renew_node("dead", {"name": "dead"}, ttl=10)
    for peer in ("a", "b"):
        await attach(peer, node="dead", conn=f"c-{peer}")
    moving = await attach("m", node="dead", conn="c-m")
    await attach("z", node="live", conn="c-z")

    async def m_resumes_on_the_live_node():
        assert (await presence.resume(moving, UID, "live", "c-m2")).old_conn == "c-m"

    seen = interleave(monkeypatch, presence._REAP_NODE, m_resumes_on_the_live_node)
    deadline = time.time() + 20
    first, second = await asyncio.gather(presence.reap_node("dead", deadline), presence.reap_node("dead", deadline))
    assert seen == [-1]  # the dead node's peer set changed under the first try
    assert sorted((first, second)) == [0, 2]  # the lock: one reaper

    for peer in ("a", "b"):
        assert await presence.connection_of(peer) == ""
        assert await field(peer, "reason") == "disconnect"
        assert await detached_deadline(peer) == pytest.approx(deadline, abs=0.001)
    for peer, conn in (("m", "c-m2"), ("z", "c-z")):
        assert await presence.connection_of(peer) == conn
        assert await detached_deadline(peer) is None
    assert await smembers(keys.node_peers("live")) == {"m", "z"}
    r = store.get_async()
    assert await r.exists(keys.node_peers("dead"), keys.node_info("dead")) == 0
    assert await r.zscore(keys.nodes(), "dead") is None
    assert await presence.expired_detached(now=deadline + 1) == ["a", "b"]


async def test_dead_nodes_are_those_whose_lease_deadline_passed(redis):
    await presence.renew_node("n1", {"name": "one"}, ttl=10)
    await presence.renew_node("n2", {"name": "two"}, ttl=60)
    now = time.time()
    assert await presence.dead_nodes_with_deadlines(now=now) == []
    assert [n for n, _ in await presence.dead_nodes_with_deadlines(now=now + 30)] == ["n1"]
    await presence.forget_node("n2", ttl=60)  # a clean exit: dead at once
    assert [n for n, _ in await presence.dead_nodes_with_deadlines(now=now)] == ["n2"]


async def test_renew_node_reports_a_lease_lost_in_a_redis_restart(redis):
    assert await presence.renew_node("n1", {"name": "one"}, ttl=10) is False  # the first lease
    assert await presence.renew_node("n1", {"name": "one"}, ttl=10) is True
    await store.get_async().flushall()  # what a restart without persistence leaves
    assert await presence.renew_node("n1", {"name": "one"}, ttl=10) is False
    assert await presence.renew_node("n1", {"name": "one"}, ttl=10) is True


# -- keys -------------------------------------------------------------------------------


async def test_every_key_the_scripts_touch_is_under_the_configured_prefix(redis, settings):
    settings.REDIS_PREFIX = "rtc-odd-prefix"  # not the default: nothing may assume "rtc:"
    await presence.renew_node("n1", {"name": "one"}, ttl=10)
    token = await attach("p1", node="n1", conn="c1")
    await attach("p2", node="n1", conn="c2")
    await attach("p3", node="n1", conn="c3")
    await rooms.join("r", "p1", USER, 4)
    await rooms.join("r", "p2", USER, 4)
    await presence.detach("p1", "c1", "n1", grace=20, reason="disconnect")
    await presence.resume(token, UID, "n2", "c4")
    await presence.remove("p2", conn="c2")
    await presence.reap_node("n2", time.time() + 20)
    keyspace = [k.decode() for k in await store.get_async().keys("*")]
    assert keyspace and all(k.startswith("rtc-odd-prefix:") for k in keyspace)
    assert stray_keys() == []


# -- the expiry sweep against a resume ----------------------------------------------------


async def test_removing_a_detached_peer_spares_one_that_is_attached_again(redis):
    token = await attach("p1", node="n1", conn="c1")
    await rooms.join("r", "p1", USER, 4)
    assert await presence.remove("p1") is None  # "" means "while detached": an attached peer stays
    await presence.detach("p1", "c1", "n1", grace=-1, reason="disconnect")
    await presence.resume(token, UID, "n2", "c2")
    assert await presence.remove("p1") is None
    assert await presence.connection_of("p1") == "c2"


async def test_the_expiry_removal_spares_a_peer_whose_new_window_is_still_open(redis):
    token = await attach("p1", node="n1", conn="c1")
    await presence.detach("p1", "c1", "n1", grace=-1, reason="disconnect")
    await presence.resume(token, UID, "n2", "c2")
    await presence.detach("p1", "c2", "n2", grace=20, reason="disconnect")  # dropped again: a new window
    assert await presence.remove("p1", expired_by=time.time()) is None
    assert await detached_deadline("p1") is not None
    assert await presence.remove("p1", expired_by=time.time() + 30) == ("disconnect", [])


async def test_a_peer_resumed_after_the_reapers_read_is_not_removed(redis, monkeypatch):
    from calls.signaling import sweeps

    token = await attach("p1", node="n1", conn="c1")
    await rooms.join("r", "p1", USER, 4)
    await presence.detach("p1", "c1", "n1", grace=-1, reason="disconnect")  # its window has just closed
    real = presence.expired_detached

    async def expired_then_the_client_resumes(*args, **kwargs):
        expired = await real(*args, **kwargs)
        resumed = await presence.resume(token, UID, "n2", "c2")  # the server answers hello{resumed: true}
        assert resumed is not None and resumed.rooms == ["r"]
        return expired

    monkeypatch.setattr(presence, "expired_detached", expired_then_the_client_resumes)
    await sweeps.reap("n2")
    assert await presence.connection_of("p1") == "c2"  # the resumed connection still holds its peer
    assert set(await rooms.amembers("r")) == {"p1"}  # and the room did not see it leave


async def test_removing_a_peer_takes_its_media_and_hand_and_empties_the_rooms_it_was_last_in(redis):
    """The reaper's way out cleans the room's state as `leave` does: no chat outlives its room."""
    await attach("p1", node="n1", conn="c1")
    await attach("p2", node="n1", conn="c2")
    await rooms.enter("shared", "p1", USER, 4, media_json="{}")
    await rooms.enter("shared", "p2", USER, 4, media_json="{}")
    await rooms.enter("alone", "p1", USER, 4, media_json="{}")
    for room in ("shared", "alone"):
        await rooms.add_chat(room, "p1", '{"n":1}')
        await rooms.set_hand(room, "p1", "p1", True)
    await presence.detach("p1", "c1", "n1", grace=20, reason="disconnect")
    assert await presence.remove("p1") == ("disconnect", ["alone", "shared"])
    r = store.get_async()
    assert await r.exists(keys.room_chat("alone"), keys.room_media("alone"), keys.room_hands("alone")) == 0
    shared = await rooms.enter("shared", "p2", USER, 4)
    assert (shared.media, shared.hands, shared.chat) == ({"p2": "{}"}, [], ['{"n":1}'])
