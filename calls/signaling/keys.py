"""Every Redis key rtcsite uses, built in one place.

Shared state lives under REDIS_PREFIX (default "rtc"); the channel layer has its own
prefix (settings.CHANNEL_LAYERS). Lua scripts never build key names themselves: callers
pass every key they touch through KEYS (what Redis Cluster also requires).

  peer:<peer>            hash: uid, user (JSON), node, conn, connected_at, last_seen, ip, ua, resume, reason
  peer:<peer>:rooms      set of the room ids the peer is in
  peers                  zset peer -> connected_at (paginated listing without KEYS scans)
  user:<uid>:peers       set of a user's peers (online state, "disconnect all of a user")
  node:<node>:peers      set of the peers attached to a process
  node:<node>            hash: name, host, pid, started
  node:<node>:alive      the lease (TTL); gone after a Redis restart
  nodes                  zset node -> lease deadline (unix seconds)
  reaping:<node>         lock: one process reaps a dead one
  detached               zset peer -> deadline: dropped connections waiting to be resumed
  resume:<token>         peer id, for `?resume=` reconnects
  room:<room>            hash peer -> user JSON: who is in the room now
  room:<room>:chat       list of the room's last chat frames (encoded), oldest first
  room:<room>:media      hash peer -> media state JSON {audio, video, screen}
  room:<room>:hands      zset peer -> raise order: raised hands
  rooms:active           zset room -> live peer count
  ticket:<ticket>        user id, for one WebSocket handshake
  ringing                zset call id -> ring deadline
  ring-attempts:<uid>    calls placed by a user in the current minute
  call-empty:<call>      when an accepted call's room was first seen empty
"""

from __future__ import annotations

from django.conf import settings


def _key(*parts: str) -> str:
    return ":".join((settings.REDIS_PREFIX, *parts))


def peer(peer_id: str) -> str:
    return _key("peer", peer_id)


def peer_rooms(peer_id: str) -> str:
    return _key("peer", peer_id, "rooms")


def peers() -> str:
    return _key("peers")


def user_peers(user_id: int | str) -> str:
    return _key("user", str(user_id), "peers")


def node_peers(node: str) -> str:
    return _key("node", node, "peers")


def node_info(node: str) -> str:
    return _key("node", node)


def node_alive(node: str) -> str:
    return _key("node", node, "alive")


def nodes() -> str:
    return _key("nodes")


def reaping(node: str) -> str:
    return _key("reaping", node)


def detached() -> str:
    return _key("detached")


def resume(token: str) -> str:
    return _key("resume", token)


def room_members(room_id: str) -> str:
    return _key("room", room_id)


def room_chat(room_id: str) -> str:
    return _key("room", room_id, "chat")


def room_media(room_id: str) -> str:
    return _key("room", room_id, "media")


def room_hands(room_id: str) -> str:
    return _key("room", room_id, "hands")


def active_rooms() -> str:
    return _key("rooms", "active")


def ticket(value: str) -> str:
    return _key("ticket", value)


def ringing() -> str:
    return _key("ringing")


def ring_attempts(user_id: int) -> str:
    return _key("ring-attempts", str(user_id))


def call_empty(call_id: int | str) -> str:
    return _key("call-empty", str(call_id))
