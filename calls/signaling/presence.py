"""Presence: the truth about live connections, in Redis, across every daphne process.

Keys (under REDIS_PREFIX):
  peer:<peer>            hash: uid, user (JSON), node, conn, connected_at, last_seen, ip, ua, reason
  peer:<peer>:rooms      set of room ids the peer is in (room membership itself: calls.rooms)
  rooms:active           zset room -> live peer count
  peers                  zset peer -> connected_at (paginated listing without KEYS scans)
  user:<uid>:peers       set of a user's peers (online state, "disconnect all of a user")
  node:<node>:peers      set of peers attached to a process
  nodes                  zset node -> lease deadline (unix seconds); node:<node> hash: host, pid, name
  detached               zset peer -> deadline: dropped connections waiting to be resumed
  resume:<token>         peer id, for `?resume=` reconnects

A peer is *attached* to the connection (conn) that holds it. When a connection drops
abnormally, or its process dies, the peer is *detached* for the resume grace window
and removed (peer-left) only if nobody resumes it. Every mutation that decides who
announces a departure is a Lua script, so exactly one process announces it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from calls.signaling import store

_ATTACH = """
local p = ARGV[1]
local peer, rooms = KEYS[1], KEYS[2]
redis.call('HSET', peer, 'uid', ARGV[2], 'user', ARGV[3], 'node', ARGV[4], 'conn', ARGV[5],
  'connected_at', ARGV[6], 'last_seen', ARGV[6], 'ip', ARGV[7], 'ua', ARGV[8], 'resume', ARGV[9])
redis.call('ZADD', KEYS[3], ARGV[6], p)
redis.call('SADD', KEYS[4], p)
redis.call('SADD', KEYS[5], p)
redis.call('SET', KEYS[6], p)
return 1
"""

# KEYS: resume:<token>; ARGV: prefix, uid, node, conn, now
# Returns {peer, old_node, old_conn, rooms...} or false.
_RESUME = """
local prefix = ARGV[1]
local p = redis.call('GET', KEYS[1])
if not p then return false end
local peer = prefix .. ':peer:' .. p
local h = redis.call('HMGET', peer, 'uid', 'node', 'conn')
if not h[1] or h[1] ~= ARGV[2] then return false end
if h[2] then redis.call('SREM', prefix .. ':node:' .. h[2] .. ':peers', p) end
redis.call('SADD', prefix .. ':node:' .. ARGV[3] .. ':peers', p)
redis.call('ZREM', prefix .. ':detached', p)
redis.call('HSET', peer, 'node', ARGV[3], 'conn', ARGV[4], 'last_seen', ARGV[5], 'reason', '')
local out = {p, h[2] or '', h[3] or ''}
for _, room in ipairs(redis.call('SMEMBERS', peer .. ':rooms')) do table.insert(out, room) end
return out
"""

# Detach a peer if `conn` still holds it. ARGV: prefix, peer, conn, deadline, reason
_DETACH = """
local prefix, p = ARGV[1], ARGV[2]
local peer = prefix .. ':peer:' .. p
local h = redis.call('HMGET', peer, 'conn', 'node')
if not h[1] or h[1] ~= ARGV[3] then return 0 end
redis.call('SREM', prefix .. ':node:' .. h[2] .. ':peers', p)
redis.call('HSET', peer, 'conn', '', 'reason', ARGV[5])
redis.call('ZADD', prefix .. ':detached', ARGV[4], p)
return 1
"""

# Remove a peer entirely (if `conn` is given, only while that connection holds it).
# ARGV: prefix, peer, conn-or-empty. Returns {reason, rooms...} or false when already gone.
_REMOVE = """
local prefix, p = ARGV[1], ARGV[2]
local peer = prefix .. ':peer:' .. p
local h = redis.call('HMGET', peer, 'conn', 'node', 'uid', 'resume', 'reason')
if not h[3] then return false end
if ARGV[3] ~= '' and h[1] ~= ARGV[3] then return false end
local out = {h[5] or ''}
for _, room in ipairs(redis.call('SMEMBERS', peer .. ':rooms')) do
  if redis.call('HDEL', prefix .. ':room:' .. room, p) == 1 then
    if tonumber(redis.call('ZINCRBY', prefix .. ':rooms:active', -1, room)) <= 0 then
      redis.call('ZREM', prefix .. ':rooms:active', room)
    end
  end
  table.insert(out, room)
end
redis.call('DEL', peer, peer .. ':rooms')
if h[2] then redis.call('SREM', prefix .. ':node:' .. h[2] .. ':peers', p) end
redis.call('SREM', prefix .. ':user:' .. h[3] .. ':peers', p)
if h[4] then redis.call('DEL', prefix .. ':resume:' .. h[4]) end
redis.call('ZREM', prefix .. ':peers', p)
redis.call('ZREM', prefix .. ':detached', p)
return out
"""

# A dead node's peers become detached with the given deadline. ARGV: prefix, node, deadline
_REAP_NODE = """
local prefix, node = ARGV[1], ARGV[2]
local nodepeers = prefix .. ':node:' .. node .. ':peers'
local count = 0
for _, p in ipairs(redis.call('SMEMBERS', nodepeers)) do
  local peer = prefix .. ':peer:' .. p
  if redis.call('HGET', peer, 'node') == node then
    redis.call('HSET', peer, 'conn', '', 'reason', 'disconnect')
    redis.call('ZADD', prefix .. ':detached', ARGV[3], p)
    count = count + 1
  end
end
redis.call('DEL', nodepeers, prefix .. ':node:' .. node)
redis.call('ZREM', prefix .. ':nodes', node)
return count
"""


def _prefix() -> str:
    return store.key()


def peer_key(peer: str) -> str:
    return store.key("peer", peer)


@dataclass(frozen=True, slots=True)
class Resumed:
    peer: str
    old_node: str
    old_conn: str
    rooms: list[str]


async def attach(
    peer: str, uid: int, user_json: str, node: str, conn: str, ip: str, ua: str, resume_token: str
) -> None:
    """Record a new peer held by connection `conn` on `node`."""
    r = store.get_async()
    now = f"{time.time():.3f}"
    keys = [
        peer_key(peer),
        store.key("peer", peer, "rooms"),
        store.key("peers"),
        store.key("user", str(uid), "peers"),
        store.key("node", node, "peers"),
        store.key("resume", resume_token),
    ]
    await store.script(r, _ATTACH)(keys=keys, args=[peer, uid, user_json, node, conn, now, ip, ua[:400], resume_token])


async def resume(token: str, uid: int, node: str, conn: str) -> Resumed | None:
    """Take over a peer by its resume token; None when it is unknown, removed or someone else's."""
    if not token or len(token) > 64:
        return None
    r = store.get_async()
    result = await store.script(r, _RESUME)(
        keys=[store.key("resume", token)], args=[_prefix(), uid, node, conn, f"{time.time():.3f}"]
    )
    if not result:
        return None
    values = [v.decode() for v in result]
    return Resumed(values[0], values[1], values[2], values[3:])


async def detach(peer: str, conn: str, grace: float, reason: str) -> bool:
    """Keep the peer for `grace` seconds so its client can resume; False if another connection holds it."""
    r = store.get_async()
    deadline = f"{time.time() + grace:.3f}"
    return bool(await store.script(r, _DETACH)(keys=[], args=[_prefix(), peer, conn, deadline, reason]))


async def remove(peer: str, conn: str = "") -> tuple[str, list[str]] | None:
    """Remove the peer and its room memberships: (stored reason, rooms), or None if already gone.

    With `conn`, only while that connection still holds the peer; exactly one caller gets
    the rooms back, and that caller announces peer-left.
    """
    r = store.get_async()
    result = await store.script(r, _REMOVE)(keys=[], args=[_prefix(), peer, conn])
    if not result:
        return None
    values = [v.decode() for v in result]
    return values[0], values[1:]


async def connection_of(peer: str) -> str | None:
    """The connection holding `peer` ("" while detached), or None when there is no such peer."""
    conn = await store.get_async().hget(peer_key(peer), "conn")
    return conn.decode() if conn is not None else None


async def touch(last_seen: dict[str, float]) -> None:
    """Write last_seen for several peers in one round trip."""
    if not last_seen:
        return
    pipe = store.get_async().pipeline(transaction=False)
    for peer, when in last_seen.items():
        pipe.hset(peer_key(peer), "last_seen", f"{when:.3f}")
    await pipe.execute()


# ---------------------------------------------------------------------------
# Nodes (processes)
# ---------------------------------------------------------------------------
async def renew_node(node: str, info: dict[str, str], ttl: float) -> bool:
    """Extend this process's lease; False when Redis had lost it (Redis restarted or flushed)."""
    pipe = store.get_async().pipeline(transaction=True)
    pipe.set(store.key("node", node, "alive"), "1", ex=max(1, int(ttl)), get=True)
    pipe.zadd(store.key("nodes"), {node: time.time() + ttl})
    pipe.hset(store.key("node", node), mapping=info)
    previous, _, _ = await pipe.execute()
    return previous is not None


async def forget_node(node: str, ttl: float) -> None:
    """A process leaving cleanly: its lease ends now, so any peer it still held is reaped at once."""
    pipe = store.get_async().pipeline(transaction=True)
    pipe.zadd(store.key("nodes"), {node: time.time() - ttl})
    pipe.delete(store.key("node", node, "alive"))
    await pipe.execute()


async def dead_nodes_with_deadlines(now: float | None = None) -> list[tuple[str, float]]:
    """Processes whose lease ran out, with the moment it did."""
    r = store.get_async()
    raw = await r.zrangebyscore(store.key("nodes"), "-inf", now or time.time(), withscores=True)
    return [(n.decode(), float(score)) for n, score in raw]


async def reap_node(node: str, deadline: float) -> int:
    """Detach a dead process's peers until `deadline`; returns how many (0 if another reaper won)."""
    r = store.get_async()
    lock = await r.set(store.key("reaping", node), "1", nx=True, ex=30)
    if not lock:
        return 0
    return int(await store.script(r, _REAP_NODE)(keys=[], args=[_prefix(), node, f"{deadline:.3f}"]))


async def expired_detached(now: float | None = None, limit: int = 500) -> list[str]:
    r = store.get_async()
    raw = await r.zrangebyscore(store.key("detached"), "-inf", now or time.time(), start=0, num=limit)
    return [p.decode() for p in raw]


# ---------------------------------------------------------------------------
# Reads for the admin page and the API (blocking client)
# ---------------------------------------------------------------------------
_FIELDS = ("uid", "user", "node", "connected_at", "last_seen", "ip", "ua", "conn")


def _decode_peer(peer: str, values: list[bytes | None]) -> dict | None:
    if values[0] is None:
        return None
    row = dict(zip(_FIELDS, (v.decode() if v is not None else "" for v in values), strict=True))
    user = orjson.loads(row["user"]) if row["user"] else {}
    return {
        "peer": peer,
        "user": user,
        "node": row["node"],
        "connected_at": float(row["connected_at"] or 0),
        "last_seen": float(row["last_seen"] or 0),
        "ip": row["ip"],
        "user_agent": row["ua"],
        "attached": bool(row["conn"]),
    }


def count() -> int:
    """How many live peers there are, in one command."""
    return store.get_sync().zcard(store.key("peers"))


def peers_page(offset: int = 0, limit: int = 50) -> tuple[int, list[dict]]:
    """(total, one page of live peers, oldest connection first), each with its rooms."""
    r = store.get_sync()
    total = r.zcard(store.key("peers"))
    if limit <= 0:
        return total, []
    ids = [p.decode() for p in r.zrange(store.key("peers"), offset, offset + limit - 1)]
    return total, describe(ids)


def describe(ids: list[str]) -> list[dict]:
    """Presence rows for these peer ids, in two round trips whatever their number."""
    if not ids:
        return []
    r = store.get_sync()
    pipe = r.pipeline(transaction=False)
    for peer in ids:
        pipe.hmget(peer_key(peer), _FIELDS)
        pipe.smembers(store.key("peer", peer, "rooms"))
    results = pipe.execute()
    rows = []
    for i, peer in enumerate(ids):
        row = _decode_peer(peer, results[2 * i])
        if row is not None:
            row["rooms"] = sorted(room.decode() for room in results[2 * i + 1])
            rows.append(row)
    return rows


def user_peers(user_id: int) -> list[str]:
    return [p.decode() for p in store.get_sync().smembers(store.key("user", str(user_id), "peers"))]


def online_users(user_ids: list[int]) -> set[int]:
    """Which of these users have at least one live connection."""
    if not user_ids:
        return set()
    pipe = store.get_sync().pipeline(transaction=False)
    for uid in user_ids:
        pipe.scard(store.key("user", str(uid), "peers"))
    return {uid for uid, count in zip(user_ids, pipe.execute(), strict=True) if count}


def node_counts() -> list[dict]:
    """Live processes with their attached peer counts."""
    r = store.get_sync()
    nodes = r.zrange(store.key("nodes"), 0, -1, withscores=True)
    pipe = r.pipeline(transaction=False)
    for node, _ in nodes:
        pipe.scard(store.key("node", node.decode(), "peers"))
        pipe.hgetall(store.key("node", node.decode()))
    results = pipe.execute()
    rows = []
    for i, (node, deadline) in enumerate(nodes):
        info = {k.decode(): v.decode() for k, v in results[2 * i + 1].items()}
        rows.append({"node": node.decode(), "peers": results[2 * i], "lease_until": deadline, **info})
    return rows


def peers_of_room(room_id: str) -> list[str]:
    return [p.decode() for p in store.get_sync().hkeys(store.key("room", room_id))]


def peers_of_node(node: str) -> list[str]:
    return sorted(p.decode() for p in store.get_sync().smembers(store.key("node", node, "peers")))
