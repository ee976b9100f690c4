"""How fast the admin's Active peers page renders with 10,000 live peers in Redis.

    .venv/bin/python bench/admin_presence.py [--peers 10000] [--runs 20]

Fills a private Redis with synthetic presence (the same keys real connections write),
then renders the page (first page, a room filter, a user filter) through Django's test
client as a staff user and prints the median and worst times. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))

import devstack  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rtcsite-admin-bench-"))
    redis = devstack.start_redis(work)
    try:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="rtcsite.settings",
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY="bench-only-" + "x" * 40,
            DJANGO_SECURE_SSL_REDIRECT="0",
            DJANGO_ALLOWED_HOSTS="testserver",
            DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}",
            REDIS_URL=redis.url,
            RTCSITE_VAR_DIR=str(work),
            DJANGO_STATIC_ROOT=str(work / "static"),
            RTCSITE_FAST_PASSWORD_HASHER="1",
            LOG_LEVEL="WARNING",
        )
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client

        from calls.signaling import keys, store

        call_command("migrate", verbosity=0)
        call_command("collectstatic", verbosity=0, interactive=False)  # pages link hashed names
        admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
        r = store.get_sync()
        now = time.time()
        pipe = r.pipeline(transaction=False)
        for i in range(args.peers):
            peer, room, node, uid = f"peer{i:06d}", f"room{i // 5}", f"host:{1000 + i % 4}:abc", str(i % 2000)
            user = f'{{"id": {uid}, "username": "user{uid}", "display_name": "User {uid}"}}'
            fields = {"uid": uid, "user": user, "node": node, "conn": "c", "ip": "192.0.2.1",
                      "ua": "Mozilla/5.0 bench", "connected_at": now - i, "last_seen": now}  # fmt: skip
            pipe.hset(keys.peer(peer), mapping=fields)
            pipe.sadd(keys.peer_rooms(peer), room)
            pipe.hset(keys.room_members(room), peer, user)
            pipe.zincrby(keys.active_rooms(), 1, room)
            pipe.zadd(keys.peers(), {peer: now - i})
            pipe.sadd(keys.user_peers(uid), peer)
            pipe.sadd(keys.node_peers(node), peer)
            if i % 2000 == 1999:
                pipe.execute()
        for n in range(4):
            pipe.zadd(keys.nodes(), {f"host:{1000 + n}:abc": now + 3600})
            pipe.hset(
                keys.node_info(f"host:{1000 + n}:abc"), mapping={"name": f"daphne-{n + 1}", "host": "host", "pid": "1"}
            )
        pipe.execute()
        client = Client()
        client.force_login(admin)
        url = "/admin/calls/activepeer/"
        for label, query in (
            ("first page", {}),
            ("room filter", {"room": "room42"}),
            ("node filter", {"node": "host:1001:abc"}),
        ):
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                response = client.get(url, query)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            body = response.content.decode()
            rows = body.count('class="rtc-peer"')
            print(f"{label:12} {args.peers} live peers: median {statistics.median(times):6.1f} ms, "
                  f"worst {max(times):6.1f} ms, {rows} rows shown")  # fmt: skip
    finally:
        redis.proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
