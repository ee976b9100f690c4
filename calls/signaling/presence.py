"""Presence: the truth about live connections, in Redis, across every daphne process.

A peer is *attached* to the connection (conn) that holds it. When a connection drops
abnormally, or its process dies, the peer is *detached* for the resume grace window
and removed (peer-left) only if nobody resumes it. Every mutation that decides who
announces a departure is a Lua script, so exactly one process announces it.

Key names come from `calls.signaling.keys`. Scripts that touch keys named by what they
read (a peer's process, its rooms) are run in two steps: read, then a script given
every key, which checks nothing moved in between and otherwise asks to be run again.
Room membership itself is changed only by the Lua of `calls.signaling.rooms`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from calls.signaling import keys, rooms, store

# A script that finds the state changed since its caller read it answers this, and is retried.
_MOVED = b"moved"
_ATTEMPTS = 5

# KEYS: peer, peer rooms, peers, user peers, node peers, resume.
# ARGV: peer, uid, user, node, conn, now, ip, ua, token, most peers per user (0: any number)
# Returns 1, or 0 when the user already has that many peers (checked and added atomically).
_ATTACH = """
local most = tonumber(ARGV[10])
if most > 0 and redis.call('SCARD', KEYS[4]) >= most then return 0 end
redis.call('HSET', KEYS[1], 'uid', ARGV[2], 'user', ARGV[3], 'node', ARGV[4], 'conn', ARGV[5],
  'connected_at', ARGV[6], 'last_seen', ARGV[6], 'ip', ARGV[7], 'ua', ARGV[8], 'resume', ARGV[9])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('SET', KEYS[6], ARGV[1])
return 1
"""

# KEYS: resume, peer, old node peers, new node peers, detached, peer rooms, next resume
# ARGV: peer, uid, old node (as read), new node, conn, now, next token
# Returns {old conn, rooms...}, false (unknown or someone else's), or "moved".
# A token works once: it is replaced by the next one.
_RESUME = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local h = redis.call('HMGET', KEYS[2], 'uid', 'node', 'conn')
if not h[1] or h[1] ~= ARGV[2] then return false end
if (h[2] or '') ~= ARGV[3] then return 'moved' end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('HSET', KEYS[2], 'node', ARGV[4], 'conn', ARGV[5], 'last_seen', ARGV[6], 'reason', '',
  'resume', ARGV[7])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[7], ARGV[1])
local out = {h[3] or ''}
for _, room in ipairs(redis.call('SMEMBERS', KEYS[6])) do table.insert(out, room) end
return out
"""

# Detach a peer if `conn` (a connection of this node) still holds it.
# KEYS: peer, this node's peers, detached. ARGV: peer, conn, deadline, reason
_DETACH = """
if redis.call('HGET', KEYS[1], 'conn') ~= ARGV[2] then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'conn', '', 'reason', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

# Remove a peer entirely, only while `conn` holds it ("": while detached, and then, given a
# time, only if its resume window closed by then: a client resuming meanwhile keeps it).
# KEYS: peer, peer rooms, node peers, user peers, resume, peers, detached, active rooms, then for
#   each room its members, chat, media and hands (`rooms.state_keys`)...
# ARGV: peer, conn, node, uid, resume token (as read), expired by or "", room ids (as read)...
# Returns {reason, rooms...}, false when gone or held by someone else, or "moved".
_REMOVE = (
    rooms.LEAVE_ROOM_LUA
    + """
local p = ARGV[1]
local h = redis.call('HMGET', KEYS[1], 'conn', 'node', 'uid', 'resume', 'reason')
if not h[3] or h[1] ~= ARGV[2] then return false end
if ARGV[6] ~= '' then
  local deadline = redis.call('ZSCORE', KEYS[7], p)
  if not deadline or tonumber(deadline) > tonumber(ARGV[6]) then return false end
end
local n = #ARGV - 6
if (h[2] or '') ~= ARGV[3] or h[3] ~= ARGV[4] or (h[4] or '') ~= ARGV[5]
   or redis.call('SCARD', KEYS[2]) ~= n then return 'moved' end
for i = 1, n do
  if redis.call('SISMEMBER', KEYS[2], ARGV[6 + i]) == 0 then return 'moved' end
end
local out = {h[5] or ''}
for i = 1, n do
  local k = 8 + 4 * (i - 1)
  leave_room(KEYS[k + 1], KEYS[2], KEYS[8], p, ARGV[6 + i], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4])
  table.insert(out, ARGV[6 + i])
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], p)
redis.call('SREM', KEYS[4], p)
if ARGV[5] ~= '' then redis.call('DEL', KEYS[5]) end
redis.call('ZREM', KEYS[6], p)
redis.call('ZREM', KEYS[7], p)
return out
"""
)

# A dead node's peers become detached until the deadline.
# KEYS: node peers, node info, nodes, detached, peer... ARGV: node, deadline, peer ids (as read)...
# Returns how many, or -1 when the node's peer set changed since it was read.
_REAP_NODE = """
local node = ARGV[1]
if redis.call('SCARD', KEYS[1]) ~= #ARGV - 2 then return -1 end
for i = 3, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then return -1 end
end
local count = 0
for i = 3, #ARGV do
  local peer = KEYS[i + 2]
  if redis.call('HGET', peer, 'node') == node then
    redis.call('HSET', peer, 'conn', '', 'reason', 'disconnect')
    redis.call('ZADD', KEYS[4], ARGV[2], ARGV[i])
    count = count + 1
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], node)
return count
"""


class ScriptContention(RuntimeError):
    """A presence script kept finding its keys changed under it (should never persist)."""


@dataclass(frozen=True, slots=True)
class Resumed:
    peer: str
    old_conn: str  # the connection that held it ("" when it was detached)
    rooms: list[str]
    token: str  # the next resume token (the one used is spent)


def _now() -> str:
    return f"{time.time():.3f}"


async def attach(
    peer: str, uid: int, user_json: str, node: str, conn: str, ip: str, ua: str, resume_token: str, most: int = 0
) -> bool:
    """Record a new peer held by connection `conn` on `node`; False when the user has `most` peers already."""
    peer_keys = [
        keys.peer(peer),
        keys.peer_rooms(peer),
        keys.peers(),
        keys.user_peers(uid),
        keys.node_peers(node),
        keys.resume(resume_token),
    ]
    args = [peer, uid, user_json, node, conn, _now(), ip, ua[:400], resume_token, most]
    return bool(await store.run(_ATTACH, peer_keys, args))


async def resume(token: str, uid: int, node: str, conn: str, next_token: str = "") -> Resumed | None:
    """Take over a peer by its resume token, which a new one replaces; None when unknown or someone else's."""
    if not token or len(token) > 64:
        return None
    next_token = next_token or secrets.token_urlsafe(24)
    r = store.get_async()
    for _ in range(_ATTEMPTS):
        raw = await r.get(keys.resume(token))
        if raw is None:
            return None
        peer = raw.decode()
        old_node = (await r.hget(keys.peer(peer), "node") or b"").decode()
        script_keys = [
            keys.resume(token),
            keys.peer(peer),
            keys.node_peers(old_node),
            keys.node_peers(node),
            keys.detached(),
            keys.peer_rooms(peer),
            keys.resume(next_token),
        ]
        args = [peer, uid, old_node, node, conn, _now(), next_token]
        result = await store.run(_RESUME, script_keys, args)
        if result == _MOVED:
            continue
        if not result:
            return None
        values = [v.decode() for v in result]
        return Resumed(peer, values[0], values[1:], next_token)
    raise ScriptContention("resume")


async def detach(peer: str, conn: str, node: str, grace: float, reason: str) -> bool:
    """Keep the peer for `grace` seconds so its client can resume; False if another connection holds it."""
    deadline = f"{time.time() + grace:.3f}"
    script_keys = [keys.peer(peer), keys.node_peers(node), keys.detached()]
    return bool(await store.run(_DETACH, script_keys, [peer, conn, deadline, reason]))


async def remove(peer: str, conn: str = "", expired_by: float | None = None) -> tuple[str, list[str]] | None:
    """Remove the peer and its room memberships: (stored reason, rooms), or None.

    Only while connection `conn` holds the peer, or with `conn=""` only while it is
    detached (and, with `expired_by`, only if its resume window had closed by then), so a
    client that resumes meanwhile keeps its peer. Exactly one caller gets the rooms back,
    and that caller announces peer-left.
    """
    r = store.get_async()
    for _ in range(_ATTEMPTS):
        pipe = r.pipeline(transaction=False)
        pipe.hmget(keys.peer(peer), ["node", "uid", "resume"])
        pipe.smembers(keys.peer_rooms(peer))
        (node, uid, token), room_set = await pipe.execute()
        if uid is None:
            return None
        node, uid, token = (v.decode() if v is not None else "" for v in (node, uid, token))
        room_ids = sorted(room.decode() for room in room_set)
        script_keys = [
            keys.peer(peer),
            keys.peer_rooms(peer),
            keys.node_peers(node),
            keys.user_peers(uid),
            keys.resume(token),
            keys.peers(),
            keys.detached(),
            keys.active_rooms(),
            *(key for room in room_ids for key in rooms.state_keys(room)),
        ]
        expired = f"{expired_by:.3f}" if expired_by is not None else ""
        args = [peer, conn, node, uid, token, expired, *room_ids]
        result = await store.run(_REMOVE, script_keys, args)
        if result == _MOVED:
            continue
        if not result:
            return None
        values = [v.decode() for v in result]
        return values[0], values[1:]
    raise ScriptContention("remove")


async def connection_of(peer: str) -> str | None:
    """The connection holding `peer` ("" while detached), or None when there is no such peer."""
    conn = await store.get_async().hget(keys.peer(peer), "conn")
    return conn.decode() if conn is not None else None


async def touch(last_seen: dict[str, float]) -> None:
    """Write last_seen for several peers in one round trip."""
    if not last_seen:
        return
    pipe = store.get_async().pipeline(transaction=False)
    for peer, when in last_seen.items():
        pipe.hset(keys.peer(peer), "last_seen", f"{when:.3f}")
    await pipe.execute()


# ---------------------------------------------------------------------------
# Nodes (processes)
# ---------------------------------------------------------------------------
async def renew_node(node: str, info: dict[str, str], ttl: float) -> bool:
    """Extend this process's lease; False when Redis had lost it (Redis restarted or flushed)."""
    pipe = store.get_async().pipeline(transaction=True)
    pipe.set(keys.node_alive(node), "1", ex=max(1, int(ttl)), get=True)
    pipe.zadd(keys.nodes(), {node: time.time() + ttl})
    pipe.hset(keys.node_info(node), mapping=info)
    previous, _, _ = await pipe.execute()
    return previous is not None


async def forget_node(node: str, ttl: float) -> None:
    """A process leaving cleanly: its lease ends now, so any peer it still held is reaped at once."""
    pipe = store.get_async().pipeline(transaction=True)
    pipe.zadd(keys.nodes(), {node: time.time() - ttl})
    pipe.delete(keys.node_alive(node))
    await pipe.execute()


async def dead_nodes_with_deadlines(now: float | None = None) -> list[tuple[str, float]]:
    """Processes whose lease ran out, with the moment it did."""
    until = time.time() if now is None else now
    raw = await store.get_async().zrangebyscore(keys.nodes(), "-inf", until, withscores=True)
    return [(n.decode(), float(score)) for n, score in raw]


async def reap_node(node: str, deadline: float) -> int:
    """Detach a dead process's peers until `deadline`; returns how many (0 if another reaper won)."""
    r = store.get_async()
    if not await r.set(keys.reaping(node), "1", nx=True, ex=30):
        return 0
    for _ in range(_ATTEMPTS):
        peer_ids = sorted(p.decode() for p in await r.smembers(keys.node_peers(node)))
        script_keys = [
            keys.node_peers(node),
            keys.node_info(node),
            keys.nodes(),
            keys.detached(),
            *(keys.peer(p) for p in peer_ids),
        ]
        count = int(await store.run(_REAP_NODE, script_keys, [node, f"{deadline:.3f}", *peer_ids]))
        if count >= 0:
            return count
    raise ScriptContention("reap_node")


async def expired_detached(now: float | None = None, limit: int = 500) -> list[str]:
    until = time.time() if now is None else now
    raw = await store.get_async().zrangebyscore(keys.detached(), "-inf", until, start=0, num=limit)
    return [p.decode() for p in raw]


async def peers_of_node(node: str) -> list[dict[str, str]]:
    """A process's peers as presence knows them (peer, uid, ip, ua, connected_at, node name).

    Read before reaping a dead process, whose last connection-history batch may have died with it.
    """
    r = store.get_async()
    peer_ids = sorted(p.decode() for p in await r.smembers(keys.node_peers(node)))
    fields = ["uid", "ip", "ua", "connected_at"]
    pipe = r.pipeline(transaction=False)
    pipe.hget(keys.node_info(node), "name")
    for peer in peer_ids:
        pipe.hmget(keys.peer(peer), fields)
    name, *rows = await pipe.execute()
    name = name.decode() if name is not None else node
    records = []
    for peer, values in zip(peer_ids, rows, strict=True):
        if values[0] is not None:
            record = {f: (v.decode() if v is not None else "") for f, v in zip(fields, values, strict=True)}
            records.append({"peer": peer, "node": name, **record})
    return records
