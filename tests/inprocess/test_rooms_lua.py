"""Room membership scripts against real Redis: atomic admission, idempotent joins, counts that add up."""

from __future__ import annotations

import asyncio

import orjson
import pytest

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


# -- the room's state beside its members: chat, media states, hands -------------------------


async def room_state_keys(room_id: str) -> int:
    r = store.get_async()
    return await r.exists(keys.room_chat(room_id), keys.room_media(room_id), keys.room_hands(room_id))


async def test_entering_reads_the_rooms_state_with_the_entry(redis):
    assert await rooms.enter("r", "a", user(1), 4, media_json='{"audio":false}') == rooms.Snapshot(
        {"a": user(1)}, {"a": '{"audio":false}'}, [], []
    )
    assert await rooms.add_chat("r", "a", '{"n":1}')
    assert await rooms.set_hand("r", "a", "a", True) == ["a"]
    found = await rooms.enter("r", "b", user(2), 4)
    assert found == rooms.Snapshot({"a": user(1), "b": user(2)}, {"a": '{"audio":false}'}, ["a"], ['{"n":1}'])
    # entering again with a media state records it anew
    again = await rooms.enter("r", "b", user(2), 4, media_json='{"video":false}')
    assert again.media == {"a": '{"audio":false}', "b": '{"video":false}'}


async def test_only_members_change_the_rooms_state(redis):
    await rooms.join("r", "a", user(1), 4)
    assert not await rooms.add_chat("r", "stranger", '{"n":1}')
    assert not await rooms.set_media("r", "stranger", "{}")
    assert await rooms.set_hand("r", "stranger", "stranger", True) is None
    with pytest.raises(rooms.NotInRoom):
        await rooms.set_hand("r", "a", "stranger", False)
    assert await room_state_keys("r") == 0


async def test_chat_history_keeps_the_latest_and_expires_as_a_safety_net(redis):
    await rooms.join("r", "a", user(1), 4)
    for i in range(rooms.CHAT_HISTORY + 5):
        assert await rooms.add_chat("r", "a", f'{{"n":{i}}}')
    chat = (await rooms.enter("r", "a", user(1), 4)).chat
    assert len(chat) == rooms.CHAT_HISTORY
    assert (chat[0], chat[-1]) == ('{"n":5}', f'{{"n":{rooms.CHAT_HISTORY + 4}}}')
    assert 0 < await store.get_async().ttl(keys.room_chat("r")) <= rooms.STATE_TTL


async def test_hands_keep_the_order_they_were_raised_in(redis):
    for peer, i in (("a", 1), ("b", 2), ("c", 3)):
        await rooms.join("r", peer, user(i), 4)
    assert await rooms.set_hand("r", "b", "b", True) == ["b"]
    assert await rooms.set_hand("r", "a", "a", True) == ["b", "a"]
    assert await rooms.set_hand("r", "b", "b", True) == ["b", "a"]  # raised again: keeps its place
    assert await rooms.set_hand("r", "c", "b", False) == ["a"]  # lowered by another (the caller checked who)
    assert await rooms.set_hand("r", "c", "c", True) == ["a", "c"]
    assert await rooms.set_hand("r", "b", "b", True) == ["a", "c", "b"]  # back at the end


async def test_a_leaving_peer_takes_its_media_and_hand_and_the_last_one_out_takes_the_rest(redis):
    await rooms.enter("r", "a", user(1), 4, media_json="{}")
    await rooms.enter("r", "b", user(2), 4, media_json="{}")
    await rooms.set_hand("r", "a", "a", True)
    await rooms.set_hand("r", "b", "b", True)
    await rooms.add_chat("r", "a", '{"n":1}')
    assert await rooms.leave("r", "a")
    found = await rooms.enter("r", "b", user(2), 4)
    assert (found.media, found.hands, found.chat) == ({"b": "{}"}, ["b"], ['{"n":1}'])
    assert await rooms.leave("r", "b")
    assert await room_state_keys("r") == 0
    assert (await rooms.enter("r", "c", user(3), 4)).chat == []
