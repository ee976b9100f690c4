"""Lua scripts on the state Redis (calls.signaling.store.run), against real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ResponseError

from calls.signaling import resp, store
from tests.helpers import count_writes

ECHO = "return {KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]}"


async def test_keys_and_arguments_arrive_as_redis_py_would_send_them(redis):
    reply = await store.run(ECHO, ["rtc:k"], ["naïve", 42, 0.25, b"\x00raw"])
    assert reply == [b"rtc:k", "naïve".encode(), b"42", b"0.25", b"\x00raw"]
    with pytest.raises(TypeError):
        await store.run(ECHO, ["rtc:k"], [True])  # ambiguous: refused before anything is sent


async def test_a_script_redis_has_forgotten_is_sent_again(redis):
    assert await store.run("return 1", [], []) == 1
    store.get_sync().script_flush()  # as after a Redis restart
    assert await store.run("return 1", [], []) == 1
    assert store.get_sync().script_exists(store._sha("return 1").decode()) == [True]  # loaded again


async def test_a_scripts_error_is_raised_as_redis_pys(redis):
    with pytest.raises(ResponseError, match="refused here"):
        await store.run("return redis.error_reply('refused here')", [], [])
    assert await store.run("return 2", [], []) == 2  # the connection carries on


async def test_the_scripts_of_one_turn_share_a_write(redis, monkeypatch):
    await store.run("return ARGV[1]", [], [0])  # connected, and the script loaded
    sizes = count_writes(monkeypatch, resp._CommandsProtocol)
    replies = await asyncio.gather(*(store.run("return ARGV[1]", [], [i]) for i in range(100)))
    assert replies == [b"%d" % i for i in range(100)]  # each caller its own reply
    assert sum(sizes) == 100 and len(sizes) < 10, sizes


async def test_a_connection_redis_dropped_fails_its_callers_and_the_next_call_reconnects(redis):
    await store.run("return 0", [], [])
    connection = store._script_connections[asyncio.get_running_loop()]._protocol
    host, port = connection.transport.get_extra_info("sockname")[:2]
    admin = store.get_sync()
    admin.client_pause(10_000, all=False)  # the script below writes, so Redis holds it
    try:
        held = asyncio.ensure_future(store.run("return redis.call('SET', KEYS[1], 1)", ["rtc:held"], []))
        await asyncio.sleep(0)
        assert admin.client_kill(f"{host}:{port}")
        with pytest.raises(store.REDIS_ERRORS):
            await asyncio.wait_for(held, 5)
    finally:
        admin.client_unpause()
    assert admin.get("rtc:held") is None  # at most once: the killed call did not run later
    assert await store.run("return 3", [], []) == 3


async def test_a_master_demoted_to_a_replica_is_given_up_for_a_new_connection(redis):
    """After a Sentinel failover the old master answers READONLY: callers hear `unavailable`, then reconnect."""
    await store.run("return 0", [], [])
    connection = store._script_connections[asyncio.get_running_loop()]._protocol
    admin = store.get_sync()
    admin.execute_command("REPLICAOF", "127.0.0.1", "9")  # a master that is not there: a read-only replica
    try:
        with pytest.raises(store.REDIS_ERRORS, match="replica"):
            await store.run("return redis.call('SET', KEYS[1], 1)", ["rtc:demoted"], [])
        await asyncio.wait_for(connection.closed, 5)  # the next call opens a new one (through Sentinel, if used)
    finally:
        admin.execute_command("REPLICAOF", "NO", "ONE")
    assert await store.run("return redis.call('SET', KEYS[1], 1)", ["rtc:demoted"], []) == b"OK"
