"""Room membership scripts against real Redis: atomic admission, idempotent joins, counts that add up."""

from __future__ import annotations

import asyncio

import orjson

from calls.signaling import keys, rooms, store


def user(i: int) -> str:
    return orjson.dumps({"id": i, "username": f"u{i}", "name": f"U {i}"}).decode()


async def rooms_of(peer: str) -> set[str]:
    return {r.decode() for r in await store.get_async().smembers(keys.peer_rooms(peer))}


async def active_count(room_id: str) -> float | None:
    return await store.get_async().zscore(keys.active_rooms(), room_id)


async def test_concurrent_joins_admit_exactly_max_peers(redis):
    results = await asyncio.gather(*(rooms.join("full", f"p{i}", user(i), 3) for i in range(12)))
    admitted = {f"p{i}" for i, snapshot in enumerate(results) if snapshot is not None}
    assert len(admitted) == 3
    assert set(await rooms.amembers("full")) == admitted
    # each admission saw everyone admitted before it, and itself: the snapshot is taken with the insert
    snapshots = [s for s in results if s is not None]
    assert sorted(len(s) for s in snapshots) == [1, 2, 3]
    assert all(f"p{i}" in s for i, s in enumerate(results) if s is not None)
    assert rooms.live_counts(["full"]) == {"full": 3}
    assert await active_count("full") == 3
    for i in range(12):
        assert await rooms_of(f"p{i}") == ({"full"} if f"p{i}" in admitted else set())


async def test_the_snapshot_includes_the_joiner_with_its_user(redis):
    assert await rooms.join("r", "a", user(1), 4) == {"a": user(1)}
    assert await rooms.join("r", "b", user(2), 4) == {"a": user(1), "b": user(2)}
    assert await rooms_of("b") == {"r"}


async def test_a_members_rejoin_is_idempotent_even_when_the_room_is_full(redis):
    await rooms.join("r", "a", user(1), 2)
    await rooms.join("r", "b", user(2), 2)
    assert await rooms.join("r", "c", user(3), 2) is None  # full
    again = await rooms.join("r", "a", user(1), 2)
    assert again == {"a": user(1), "b": user(2)}
    assert await active_count("r") == 2  # not counted twice
    assert rooms.live_counts(["r"]) == {"r": 2}
    assert await rooms_of("c") == set()


async def test_a_peer_in_several_rooms_has_each_in_its_room_set(redis):
    await rooms.join("x", "a", user(1), 4)
    await rooms.join("y", "a", user(1), 4)
    assert await rooms_of("a") == {"x", "y"}
    assert await rooms.leave("x", "a")
    assert await rooms_of("a") == {"y"}
    assert set(await rooms.amembers("y")) == {"a"}


async def test_leave_is_true_once_and_the_count_never_goes_below_zero(redis):
    await rooms.join("r", "a", user(1), 4)
    await rooms.join("r", "b", user(2), 4)
    assert await rooms.leave("r", "a") is True
    assert await rooms.leave("r", "a") is False
    assert await active_count("r") == 1
    assert await rooms.leave("r", "stranger") is False
    assert await active_count("r") == 1
    assert await rooms.leave("r", "b") is True
    assert await active_count("r") is None  # empty: no longer active
    assert await rooms.leave("r", "b") is False
    assert await active_count("r") is None  # not -1
    assert await store.get_async().exists(keys.room_members("r")) == 0
    assert rooms.busiest() == []
    # the room works as new afterwards
    assert await rooms.join("r", "c", user(3), 1) == {"c": user(3)}
    assert await active_count("r") == 1


async def test_concurrent_leaves_of_one_peer_count_it_once(redis):
    await rooms.join("r", "a", user(1), 4)
    await rooms.join("r", "b", user(2), 4)
    results = await asyncio.gather(*(rooms.leave("r", "a") for _ in range(8)))
    assert results.count(True) == 1
    assert await active_count("r") == 1


async def test_live_counts_and_busiest_follow_joins_and_leaves(redis):
    for i in range(3):
        await rooms.join("big", f"b{i}", user(i), 8)
    await rooms.join("small", "s0", user(9), 8)
    assert rooms.live_counts(["big", "small", "nobody-here"]) == {"big": 3, "small": 1, "nobody-here": 0}
    assert rooms.live_counts([]) == {}
    assert await rooms.alive_counts(["small", "big"]) == [1, 3]
    assert rooms.busiest() == [("big", 3), ("small", 1)]
    assert rooms.busiest(limit=1) == [("big", 3)]
    await rooms.leave("big", "b0")
    await rooms.leave("big", "b1")
    await rooms.join("small", "s1", user(10), 8)
    assert rooms.busiest() == [("small", 2), ("big", 1)]
    assert rooms.members("small") == {"s0": user(9), "s1": user(10)}
