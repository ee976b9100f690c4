"""Signaling benchmark: real Redis, two daphne processes, a Node `ws` load generator.

    .venv/bin/python bench/run.py            # every scenario; figures for docs/performance.md
    .venv/bin/python bench/run.py latency    # or: throughput, memory, joins, echo, smoke

Everything runs on 127.0.0.1 and stops by itself. Users and sessions are written straight
into a scratch database (no login form); the per-connection rate limit is raised so that
the server, not the limiter, is measured. Results are printed and saved as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))

import devstack  # noqa: E402

LOADGEN = BASE / "bench" / "loadgen"


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def ensure_loadgen() -> None:
    if shutil.which("node") is None:
        sys.exit("node is needed for the load generator (Debian: apt-get install nodejs npm)")
    if not (LOADGEN / "node_modules" / "ws").exists():
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=LOADGEN, check=True)


def server_env(work: Path, redis: devstack.Redis) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "rtcsite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
        "REDIS_URL": redis.url,
        "RTCSITE_VAR_DIR": str(work),
        "RTCSITE_FAST_PASSWORD_HASHER": "1",
        # measure the server, not the per-connection limiter
        "SIGNALING_RATE": "100000",
        "SIGNALING_BURST": "100000",
        "SIGNALING_MAX_CONNECTIONS": "0",
        # the generator shares a few users among many connections
        "SIGNALING_MAX_USER_CONNECTIONS": "0",
        "ROOM_MAX_PEERS_PER_USER": "0",
        "LOG_LEVEL": "WARNING",
    }


SEED = """
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from calls.models import Room
n_users, n_rooms, max_peers = (int(x) for x in sys.argv[1:4])
prefix = sys.argv[4]
User = get_user_model()
users = User.objects.bulk_create([User(username=f"{prefix}{i}", password="!") for i in range(n_users)])
sessions = []
for user in users:
    s = SessionStore()
    s["_auth_user_id"] = str(user.pk)
    s["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    s["_auth_user_hash"] = user.get_session_auth_hash()
    s.create()
    sessions.append(s.session_key)
rooms = [Room.objects.create(name=f"r{i}", owner=users[0], max_peers=max_peers).pk for i in range(n_rooms)]
print(json.dumps({"sessions": sessions, "rooms": rooms}))
"""


class Bench:
    """Redis and two daphne processes, stopped by PID at exit."""

    def __init__(self, work: Path, extra_env: dict[str, str] | None = None) -> None:
        self.work = work
        self.stack = devstack.Stack()
        self.redis = devstack.start_redis(work)
        self.stack.add(self.redis.proc)
        self.env = {**server_env(work, self.redis), **(extra_env or {})}
        devstack.manage(["migrate", "--noinput", "-v", "0"], self.env)
        self.nodes = []
        for i in range(2):
            node = devstack.start_daphne(work, self.env, name=f"daphne-{i + 1}")
            self.stack.add(node.proc)
            self.nodes.append(node)

    def seed(self, users: int, rooms: int, max_peers: int = 6) -> dict:
        run = subprocess.run(
            [sys.executable, "-c", SEED, str(users), str(rooms), str(max_peers), f"b{secrets.token_hex(3)}-"],
            env={**os.environ, **self.env},
            cwd=BASE,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(run.stdout.strip().splitlines()[-1])

    def urls(self) -> list[str]:
        return [f"{node.ws_url}/ws/signal/" for node in self.nodes]

    def rss_kib(self) -> list[int]:
        values = []
        for node in self.nodes:
            for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    values.append(int(line.split()[1]))
        return values

    def stop(self) -> None:
        self.stack.stop()


def loadgen(config: dict, work: Path, on_line=None, timeout: float = 600) -> list[dict]:
    path = work / f"loadgen-{config['mode']}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(["node", str(LOADGEN / "loadgen.mjs"), str(path)], stdout=subprocess.PIPE, text=True)
    results = []
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stdout:
            result = json.loads(line)
            results.append(result)
            if on_line:
                on_line(result)
            if time.monotonic() > deadline:
                break
        proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
    errors = [r for r in results if "error" in r]
    if errors or proc.returncode:
        raise RuntimeError(f"load generator failed: {errors or proc.returncode}")
    return results


def relay_config(urls: list[str], seeded: dict, pairs: int, rates: list[int], duration: float, payload: int) -> dict:
    return {
        "mode": "relay",
        "servers": urls,
        "sessions": seeded["sessions"],
        "rooms": seeded["rooms"],
        "pairs": pairs,
        "rates": rates,
        "duration": duration,
        "payload": payload,
    }


def show(result: dict) -> None:
    if result.get("step") == "relay":
        print(
            f"  offered {result['offered_rate']:>6} msg/s  sent {result['sent']:>7}  delivered "
            f"{100 * result['delivered']:6.2f}%  p50 {result['p50_ms'] or 0:7.2f} ms"
            f"  p90 {result['p90_ms'] or 0:7.2f} ms  p99 {result['p99_ms'] or 0:8.2f} ms"
            f"  max {result['max_ms'] or 0:8.2f} ms",
            flush=True,
        )
    else:
        print(f"  {result}", flush=True)


def scenario_relay(bench: Bench, rates: list[int], duration: float, pairs: int = 50) -> list[dict]:
    seeded = bench.seed(pairs * 2, pairs, max_peers=2)
    return loadgen(relay_config(bench.urls(), seeded, pairs, rates, duration, 1500), bench.work, show)


def scenario_memory(bench: Bench, connections: int = 2000) -> dict:
    seeded = bench.seed(100, 1)
    before = bench.rss_kib()
    measured: dict = {}

    def on_line(result):
        if result.get("step") == "idle":
            time.sleep(2)  # let allocations settle before reading RSS while the connections are held
            after = bench.rss_kib()
            growth = sum(after) - sum(before)
            measured.update(
                connections=result["ready"],
                rss_before_kib=before,
                rss_after_kib=after,
                kib_per_connection=growth / result["ready"],
            )
            print(f"  {result['ready']} idle connections: RSS {before} -> {after} KiB, "
                  f"{growth / result['ready']:.1f} KiB per connection", flush=True)  # fmt: skip

    config = {"mode": "idle", "servers": bench.urls(), "sessions": seeded["sessions"],
              "connections": connections, "hold": 6, "batch": 200}  # fmt: skip
    loadgen(config, bench.work, on_line)
    return measured


def scenario_joins(bench: Bench, peers: int = 1000, per_room: int = 5) -> dict:
    seeded = bench.seed(200, peers // per_room, max_peers=per_room)
    config = {"mode": "joins", "servers": bench.urls(), "sessions": seeded["sessions"],
              "rooms": seeded["rooms"], "peers": peers}  # fmt: skip
    return loadgen(config, bench.work, show)[-1]


def scenario_echo(work: Path, rates: list[int], duration: float, pairs: int = 50) -> list[dict]:
    """The same generator against a trivial Node relay: the generator's own ceiling."""
    port = devstack.free_port()
    proc = devstack.spawn("echo-server", ["node", str(LOADGEN / "echo-server.mjs"), str(port)], work)
    try:
        devstack.wait_until(devstack.tcp_open("127.0.0.1", port), 15, "echo server", proc)
        seeded = {"sessions": [None] * (2 * pairs), "rooms": [f"room{i}" for i in range(pairs)]}
        urls = [f"ws://127.0.0.1:{port}/"]
        return loadgen(relay_config(urls, seeded, pairs, rates, duration, 1500), work, show)
    finally:
        proc.stop()


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    versions = {}
    for package in ("django", "channels", "channels_redis", "daphne", "redis", "orjson"):
        try:
            versions["redis-py" if package == "redis" else package] = __import__(package).__version__
        except (ImportError, AttributeError):
            versions[package] = "?"
    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    redis_version = next((word[2:] for word in server.split() if word.startswith("v=")), "?")
    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpus": os.cpu_count(), "cpu": cpu, "mem_gib": round(int(mem) / 2**20, 1),
            "python": platform.python_version(), "redis": redis_version, "node": node_version, **versions}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", default="all",
                        choices=["all", "latency", "throughput", "memory", "joins", "echo", "smoke"])  # fmt: skip
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per relay step")
    parser.add_argument("--rates", default="1000,2000,3000,4000,5000,6000,8000,10000", help="throughput steps, msg/s")
    parser.add_argument("--output", default=None, help="JSON result file (default: bench/results-<scenario>.json)")
    args = parser.parse_args()
    raise_fd_limit()
    ensure_loadgen()
    work = Path(tempfile.mkdtemp(prefix="rtcsite-bench-"))
    results: dict = {"machine": machine(), "scenario": args.scenario}
    print(f"machine: {results['machine']}", flush=True)
    rates = [int(r) for r in args.rates.split(",")]
    failed = False
    try:
        if args.scenario in ("all", "echo"):
            print("echo baseline (load generator ceiling, trivial Node relay):", flush=True)
            results["echo"] = scenario_echo(work, rates, min(args.duration, 10))
        if args.scenario != "echo":
            bench = Bench(work)
            try:
                if args.scenario == "smoke":
                    print("smoke: 5 pairs at 100 msg/s for 2 s, then 50 joins", flush=True)
                    relay = scenario_relay(bench, [100], 2.0, pairs=5)
                    joins = scenario_joins(bench, peers=50)
                    results["smoke"] = {"relay": relay, "joins": joins}
                    failed = relay[0]["delivered"] < 1.0 or joins["failures"] > 0 or joins["joined"] != 50
                if args.scenario in ("all", "latency"):
                    print("latency: 50 pairs across the two processes, 1,500-byte payloads, 500 msg/s:", flush=True)
                    results["latency"] = scenario_relay(bench, [500], args.duration)[0]
                if args.scenario in ("all", "throughput"):
                    print("throughput steps:", flush=True)
                    steps = scenario_relay(bench, rates, min(args.duration, 10))
                    results["throughput"] = steps
                    good = [s for s in steps if s["delivered"] >= 0.99 and (s["p99_ms"] or 1e9) <= 250]
                    results["max_sustained_msg_s"] = max((s["achieved_rate"] for s in good), default=0)
                    print(f"  highest sustained rate: {results['max_sustained_msg_s']:.0f} msg/s", flush=True)
                if args.scenario in ("all", "memory"):
                    print("memory: 2,000 idle connections (1,000 per process):", flush=True)
                    results["memory"] = scenario_memory(bench)
                if args.scenario in ("all", "joins"):
                    print("join storm: 1,000 peers connect and join 200 rooms at once:", flush=True)
                    results["joins"] = scenario_joins(bench)
            finally:
                bench.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    output = Path(args.output or BASE / "bench" / f"results-{args.scenario}.json")
    output.write_text(json.dumps(results, indent=2))
    print(f"results written to {output}")
    if failed:
        print("smoke FAILED: frames lost or joins failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
