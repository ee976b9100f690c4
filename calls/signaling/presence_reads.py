"""Reads of presence for the admin's Active peers page, the API and the home page.

Blocking client (views run in threads); a page of any size costs a fixed number of round
trips, never a scan of the keyspace. Written by `calls.signaling.presence`.
"""

from __future__ import annotations

import orjson

from calls.signaling import keys, store

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
    return store.get_sync().zcard(keys.peers())


def peers_page(offset: int = 0, limit: int = 50) -> tuple[int, list[dict]]:
    """(total, one page of live peers, oldest connection first), each with its rooms."""
    r = store.get_sync()
    total = r.zcard(keys.peers())
    if limit <= 0:
        return total, []
    ids = [p.decode() for p in r.zrange(keys.peers(), offset, offset + limit - 1)]
    return total, describe(ids)


def describe(ids: list[str]) -> list[dict]:
    """Presence rows for these peer ids, in two round trips whatever their number."""
    if not ids:
        return []
    r = store.get_sync()
    pipe = r.pipeline(transaction=False)
    for peer in ids:
        pipe.hmget(keys.peer(peer), _FIELDS)
        pipe.smembers(keys.peer_rooms(peer))
    results = pipe.execute()
    rows = []
    for i, peer in enumerate(ids):
        row = _decode_peer(peer, results[2 * i])
        if row is not None:
            row["rooms"] = sorted(room.decode() for room in results[2 * i + 1])
            rows.append(row)
    return rows


def user_peers(user_id: int) -> list[str]:
    return [p.decode() for p in store.get_sync().smembers(keys.user_peers(user_id))]


def online_users(user_ids: list[int]) -> set[int]:
    """Which of these users have at least one live connection."""
    if not user_ids:
        return set()
    pipe = store.get_sync().pipeline(transaction=False)
    for uid in user_ids:
        pipe.scard(keys.user_peers(uid))
    return {uid for uid, count in zip(user_ids, pipe.execute(), strict=True) if count}


def node_counts() -> list[dict]:
    """Live processes with their attached peer counts."""
    r = store.get_sync()
    nodes = r.zrange(keys.nodes(), 0, -1, withscores=True)
    pipe = r.pipeline(transaction=False)
    for node, _ in nodes:
        pipe.scard(keys.node_peers(node.decode()))
        pipe.hgetall(keys.node_info(node.decode()))
    results = pipe.execute()
    rows = []
    for i, (node, deadline) in enumerate(nodes):
        info = {k.decode(): v.decode() for k, v in results[2 * i + 1].items()}
        rows.append({"node": node.decode(), "peers": results[2 * i], "lease_until": deadline, **info})
    return rows


def peers_of_room(room_id: str) -> list[str]:
    return [p.decode() for p in store.get_sync().hkeys(keys.room_members(room_id))]


def peers_of_node(node: str) -> list[str]:
    return sorted(p.decode() for p in store.get_sync().smembers(keys.node_peers(node)))
