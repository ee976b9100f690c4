"""Signaling benchmark: real Redis, two daphne processes, a Node `ws` load generator.

    .venv/bin/python bench/run.py            # every scenario; figures for docs/performance.md
    .venv/bin/python bench/run.py latency    # or: throughput, memory, joins, cpu, echo, smoke
    .venv/bin/python bench/run.py latency,throughput,memory,joins,cpu --against yardstick --repeat 3

Everything runs on 127.0.0.1 and stops by itself. Users and sessions are written straight
into a scratch database (no login form); the per-connection rate limit is raised so that
the server, not the limiter, is measured. Results are printed and saved as JSON.

With `--against yardstick` the same scenarios run, with the same generator, against the
Socket.IO server in bench/yardstick (two Node processes sharing a private Redis) in the
same invocation; each repetition starts both systems afresh, in alternating order, and a
table gives each figure's median and spread (min-max) per system and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))

import devstack  # noqa: E402

LOADGEN = BASE / "bench" / "loadgen"
YARDSTICK = BASE / "bench" / "yardstick"
SCENARIOS = ["latency", "throughput", "memory", "joins", "cpu", "echo", "smoke"]


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def ensure_node_packages(directory: Path) -> None:
    """`npm ci` in `directory` unless every dependency of its package.json is installed."""
    if shutil.which("node") is None:
        sys.exit("node is needed for the load generator (Debian: apt-get install nodejs npm)")
    wanted = json.loads((directory / "package.json").read_text())["dependencies"]
    if not all((directory / "node_modules" / name / "package.json").exists() for name in wanted):
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=directory, check=True)


def ensure_loadgen() -> None:
    ensure_node_packages(LOADGEN)


def rss_kib(pids: list[int]) -> list[int]:
    """Resident memory of each process, KiB."""
    values = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                values.append(int(line.split()[1]))
    return values


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (/proc/PID/stat utime + stime)."""
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return total / os.sysconf("SC_CLK_TCK")


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
from calls.models import Profile, Room
n_users, n_rooms, max_peers = (int(x) for x in sys.argv[1:4])
prefix = sys.argv[4]
User = get_user_model()
users = User.objects.bulk_create([User(username=f"{prefix}{i}", password="!") for i in range(n_users)])
Profile.objects.bulk_create([Profile(user=user) for user in users])  # as the post_save signal gives every user
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

    system = "rtcsite"

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

    def pids(self) -> list[int]:
        return [node.proc.pid for node in self.nodes]

    def rss_kib(self) -> list[int]:
        return rss_kib(self.pids())

    def stop(self) -> None:
        self.stack.stop()


class Yardstick:
    """Redis and two processes of the Socket.IO yardstick (bench/yardstick), stopped by PID at exit.

    It has the same interface as Bench, so every scenario runs against either.
    """

    system = "yardstick"

    def __init__(self, work: Path, processes: int = 2) -> None:
        self.work = work
        self.stack = devstack.Stack()
        self.ports: list[int] = []
        self.procs: list[devstack.Proc] = []
        try:
            self.redis = devstack.start_redis(self.work, name="yardstick-redis")
            self.stack.add(self.redis.proc)
            for i in range(processes):
                port = devstack.free_port()
                argv = ["node", str(YARDSTICK / "server.mjs"), str(port), self.redis.url]
                proc = self.stack.add(devstack.spawn(f"yardstick-{i + 1}", argv, self.work))
                devstack.wait_until(devstack.tcp_open("127.0.0.1", port), 15, f"yardstick-{i + 1} on {port}", proc)
                self.ports.append(port)
                self.procs.append(proc)
        except BaseException:
            self.stack.stop()
            raise

    def seed(self, users: int, rooms: int, max_peers: int = 6) -> dict:
        """Tokens and room names: the yardstick accepts any token and any room."""
        tag = secrets.token_hex(3)
        return {"sessions": [f"t{tag}-{i}" for i in range(users)], "rooms": [f"r{tag}-{i}" for i in range(rooms)]}

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def rss_kib(self) -> list[int]:
        return rss_kib(self.pids())

    def stop(self) -> None:
        self.stack.stop()


def settle(pids: list[int], share: float = 0.05, window: float = 0.5, timeout: float = 30.0) -> float:
    """Wait (at most `timeout` s) until the servers use under `share` of a core over `window` s.

    What an earlier scenario left behind (departures, write-behind, a collector) is then not
    charged to the next one. Returns the seconds waited.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu_seconds(pids)
        time.sleep(window)
        if cpu_seconds(pids) - before < share * window:
            break
    return time.monotonic() - started


class CpuMeter:
    """The servers' CPU seconds over each relay step, read from /proc when the generator reports.

    The generator announces `ready` once its pairs are joined and then prints a line after
    each step, so every step is charged the CPU time spent since the previous line.
    """

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.mark: tuple[float, float] | None = None

    def on_line(self, result: dict) -> None:
        if result.get("step") not in ("ready", "relay"):
            return
        wall, cpu = time.monotonic(), cpu_seconds(self.pids)
        if result["step"] == "relay" and self.mark is not None:
            spent = cpu - self.mark[1]
            result["server_cpu_s"] = round(spent, 3)
            result["server_cpu_core_share"] = round(spent / (wall - self.mark[0]), 4)
            result["cpu_s_per_1000_msgs"] = round(1000 * spent / result["received"], 4) if result["received"] else None
        self.mark = (wall, cpu)


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
    return [r for r in results if r.get("step") != "ready"]


def relay_config(
    urls: list[str], seeded: dict, pairs: int, rates: list[int], duration: float, payload: int, pattern: str = "to"
) -> dict:
    return {
        "mode": "relay",
        "servers": urls,
        "sessions": seeded["sessions"],
        "rooms": seeded["rooms"],
        "pairs": pairs,
        "rates": rates,
        "duration": duration,
        "payload": payload,
        "pattern": pattern,
    }


def show(result: dict) -> None:
    if result.get("step") == "relay":
        print(
            f"  offered {result['offered_rate']:>6} msg/s  sent {result['sent']:>7}  delivered "
            f"{100 * result['delivered']:6.2f}%  p50 {result['p50_ms'] or 0:7.2f} ms"
            f"  p90 {result['p90_ms'] or 0:7.2f} ms  p99 {result['p99_ms'] or 0:8.2f} ms"
            f"  max {result['max_ms'] or 0:8.2f} ms"
            + (f"  cpu {result['cpu_s_per_1000_msgs']:.3f} s/1k msgs" if result.get("cpu_s_per_1000_msgs") else ""),
            flush=True,
        )
    else:
        print(f"  {result}", flush=True)


def scenario_relay(
    bench: Bench | Yardstick, rates: list[int], duration: float, pairs: int = 50, pattern: str = "to"
) -> list[dict]:
    """Relay steps between `pairs` two-peer rooms split across the processes, with the servers' CPU per step."""
    seeded = bench.seed(pairs * 2, pairs, max_peers=2)
    settle(bench.pids())
    config = {**relay_config(bench.urls(), seeded, pairs, rates, duration, 1500, pattern),
              "system": bench.system, "announce": True}  # fmt: skip
    meter = CpuMeter(bench.pids())

    def on_line(result: dict) -> None:
        meter.on_line(result)
        if result.get("step") != "ready":
            show(result)

    return loadgen(config, bench.work, on_line)


def max_sustained(steps: list[dict]) -> float:
    """The highest achieved rate of a step with >= 99 % delivered and p99 <= 250 ms."""
    good = [s for s in steps if s["delivered"] >= 0.99 and (s["p99_ms"] or 1e9) <= 250]
    return max((s["achieved_rate"] for s in good), default=0)


def scenario_memory(bench: Bench | Yardstick, connections: int = 2000) -> dict:
    seeded = bench.seed(100, 1)
    settle(bench.pids())
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

    config = {"mode": "idle", "system": bench.system, "servers": bench.urls(), "sessions": seeded["sessions"],
              "connections": connections, "hold": 6, "batch": 200}  # fmt: skip
    loadgen(config, bench.work, on_line)
    return measured


def listen_overflows() -> int:
    """The kernel's count of connects dropped because a listen queue was full (all sockets)."""
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines() if line.startswith("TcpExt:")]
    return int(dict(zip(lines[0], lines[1], strict=True))["ListenOverflows"])


def scenario_joins(bench: Bench | Yardstick, peers: int = 1000, per_room: int = 5) -> dict:
    """The storm's time, and the servers' CPU seconds for the connects and joins, then with the departures too."""
    seeded = bench.seed(200, peers // per_room, max_peers=per_room)
    pids = bench.pids()
    settle(pids)
    config = {"mode": "joins", "system": bench.system, "servers": bench.urls(), "sessions": seeded["sessions"],
              "rooms": seeded["rooms"], "peers": peers}  # fmt: skip
    cpu: dict[str, float] = {}

    def on_line(result: dict) -> None:
        if result.get("step") == "joins":  # everyone has joined; the generator closes them next
            cpu["joins"] = cpu_seconds(pids) - start
        show(result)

    before, start = listen_overflows(), cpu_seconds(pids)
    result = loadgen(config, bench.work, on_line)[-1]
    result["listen_overflows"] = listen_overflows() - before  # each one is a connect retried a second later
    settle(pids)  # until the departures are done
    result.update(server_cpu_s=cpu["joins"], server_cpu_with_departures_s=cpu_seconds(pids) - start)
    print(f"  servers' CPU: {cpu['joins']:.2f} s for the connects and joins, "
          f"{result['server_cpu_with_departures_s']:.2f} s with the departures", flush=True)  # fmt: skip
    return result


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


def node_package_version(directory: Path, name: str) -> str:
    try:
        return json.loads((directory / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


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


def yardstick_versions() -> dict:
    """The versions the yardstick and its generator adapter actually run with."""
    return {
        "socket.io": node_package_version(YARDSTICK, "socket.io"),
        "@socket.io/redis-adapter": node_package_version(YARDSTICK, "@socket.io/redis-adapter"),
        "redis (node-redis)": node_package_version(YARDSTICK, "redis"),
        "socket.io-client": node_package_version(LOADGEN, "socket.io-client"),
    }


def run_system(bench: Bench | Yardstick, scenarios: list[str], args: argparse.Namespace) -> tuple[dict, bool]:
    """The chosen scenarios against one running system: its results, and whether the smoke run lost anything."""
    results: dict = {}
    failed = False
    short = min(args.duration, 10)
    if "smoke" in scenarios:
        print(f"smoke: 5 pairs at 100 msg/s for 2 s ({', '.join(args.patterns)}), then 50 joins", flush=True)
        relay = scenario_relay(bench, [100], 2.0, pairs=5)
        room = scenario_relay(bench, [100], 2.0, pairs=5, pattern="room") if "room" in args.patterns else []
        joins = scenario_joins(bench, peers=50)
        results["smoke"] = {"relay": relay, "joins": joins, **({"relay_room": room} if room else {})}
        lost = any(step["delivered"] < 1.0 for step in relay + room)
        failed = lost or joins["failures"] > 0 or joins["joined"] != 50
    if "memory" in scenarios:
        # First, on fresh processes: after the relay steps the heaps' high-water marks (V8's
        # above all) would absorb the connections and hide what they cost.
        print("memory: 2,000 idle connections (1,000 per process):", flush=True)
        results["memory"] = scenario_memory(bench)
    if "latency" in scenarios:
        print("latency: 50 pairs across the two processes, 1,500-byte payloads, 500 msg/s:", flush=True)
        results["latency"] = scenario_relay(bench, [500], args.duration)[0]
    if "throughput" in scenarios:
        for pattern in args.patterns:
            print(f"throughput steps ({PATTERNS[pattern]}):", flush=True)
            steps = scenario_relay(bench, args.rate_list, short, pattern=pattern)
            suffix = "" if pattern == "to" else "_room"
            results[f"throughput{suffix}"] = steps
            results[f"max_sustained{suffix}_msg_s"] = max_sustained(steps)
            print(f"  highest sustained rate: {max_sustained(steps):.0f} msg/s", flush=True)
    if "joins" in scenarios:
        print("join storm: 1,000 peers connect and join 200 rooms at once:", flush=True)
        results["joins"] = scenario_joins(bench)
    if "cpu" in scenarios:
        for pattern in args.patterns:
            print(f"cpu: {args.cpu_rate} msg/s for {short:g} s ({PATTERNS[pattern]}), servers' CPU time:", flush=True)
            results["cpu" if pattern == "to" else "cpu_room"] = scenario_relay(
                bench, [args.cpu_rate], short, pattern=pattern
            )[0]
    return results, failed


PATTERNS = {"to": "`to` frames, one peer", "room": "room broadcast, no `to`"}

# figure -> how to read it from one system's results (a missing scenario skips the figure)
FIGURES: dict[str, Callable[[dict], float]] = {
    "latency p50 at 500 msg/s, ms": lambda r: r["latency"]["p50_ms"],
    "latency p99 at 500 msg/s, ms": lambda r: r["latency"]["p99_ms"],
    "server CPU at 500 msg/s, % of a core": lambda r: 100 * r["latency"]["server_cpu_core_share"],
    "highest sustained msg/s, `to`": lambda r: r["max_sustained_msg_s"],
    "highest sustained msg/s, room": lambda r: r["max_sustained_room_msg_s"],
    "server CPU s per 1,000 msgs, `to`": lambda r: r["cpu"]["cpu_s_per_1000_msgs"],
    "server CPU s per 1,000 msgs, room": lambda r: r["cpu_room"]["cpu_s_per_1000_msgs"],
    "idle KiB per connection (2,000 held)": lambda r: r["memory"]["kib_per_connection"],
    "join storm, 1,000 peers, s": lambda r: r["joins"]["elapsed_s"],
    "join storm, servers' CPU s for the connects and joins": lambda r: r["joins"]["server_cpu_s"],
    "join storm, servers' CPU s with the departures": lambda r: r["joins"]["server_cpu_with_departures_s"],
    "join storm, connects dropped by a full listen queue": lambda r: r["joins"]["listen_overflows"],
    "smoke delivered, `to`, %": lambda r: 100 * r["smoke"]["relay"][0]["delivered"],
    "smoke delivered, room, %": lambda r: 100 * r["smoke"]["relay_room"][0]["delivered"],
}


def figures(runs: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """Each figure's median, min and max over the repetitions, per system."""
    table: dict[str, dict[str, dict]] = {}
    for name, read in FIGURES.items():
        row = {}
        for system, results in runs.items():
            try:
                values = [float(read(r)) for r in results]
            except (KeyError, TypeError, IndexError):
                continue
            row[system] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "values": values,
            }
        if row:
            table[name] = row
    return table


def number(x: float) -> str:
    if abs(x) >= 1000 or float(x).is_integer():  # counts print as counts
        return f"{x:,.0f}"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def print_table(table: dict[str, dict[str, dict]], systems: list[str], repeat: int) -> None:
    what = f"median (min-max) of {repeat}" if repeat > 1 else "1 run"
    print(f"\n| figure | {' | '.join(f'{s}, {what}' for s in systems)} | ratio {' / '.join(systems)} |")
    print("|---|" + "---|" * len(systems) + "---|")
    for name, row in table.items():
        cells = []
        for system in systems:
            f = row.get(system)
            spread = f" ({number(f['min'])}-{number(f['max'])})" if f and repeat > 1 else ""
            cells.append(f"{number(f['median'])}{spread}" if f else "-")
        medians = [row[s]["median"] for s in systems if s in row]
        ratio = f"{medians[0] / medians[1]:.2f}x" if len(medians) == 2 and medians[1] else "-"
        print(f"| {name} | {' | '.join(cells)} | {ratio} |")


def scenario_list(text: str) -> list[str]:
    if text == "all":
        return ["echo", "latency", "throughput", "memory", "joins", "cpu"]
    chosen = text.split(",")
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown scenario {', '.join(unknown)}; choose from all, {', '.join(SCENARIOS)}"
        )
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", default="all",
                        help=f"all, or one or more (comma-separated) of: {', '.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per relay step")
    parser.add_argument("--rates", default="1000,2000,3000,4000,5000,6000,8000,10000", help="throughput steps, msg/s")
    parser.add_argument("--against", choices=["yardstick"], help="run the same scenarios against this system too")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions; figures become median (min-max)")
    parser.add_argument("--patterns", default=None, help="relay patterns: to, room or to,room (default: to; "
                        "to,room with --against)")  # fmt: skip
    parser.add_argument("--cpu-rate", type=int, default=2000, help="msg/s of the cpu scenario's fixed-rate step")
    parser.add_argument("--output", default=None, help="JSON result file (default: bench/results-<scenario>.json)")
    args = parser.parse_args()
    try:
        scenarios = scenario_list(args.scenario)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    args.rate_list = [int(r) for r in args.rates.split(",")]
    args.patterns = (args.patterns or ("to,room" if args.against else "to")).split(",")
    systems = ["rtcsite"] + ([args.against] if args.against else [])
    raise_fd_limit()
    ensure_loadgen()
    if args.against:
        ensure_node_packages(YARDSTICK)
    work = Path(tempfile.mkdtemp(prefix="rtcsite-bench-"))
    results: dict = {"machine": machine(), "scenario": args.scenario}
    if args.against:
        results["machine"].update(yardstick_versions())
    print(f"machine: {results['machine']}", flush=True)
    runs: dict[str, list[dict]] = {system: [] for system in systems}
    failed = False
    try:
        if "echo" in scenarios:
            print("echo baseline (load generator ceiling, trivial Node relay):", flush=True)
            results["echo"] = scenario_echo(work, args.rate_list, min(args.duration, 10))
        on_servers = [s for s in scenarios if s != "echo"]
        for i in range(args.repeat if on_servers else 0):
            # alternate the order, so drift in the machine's load falls on both systems alike
            for system in systems if i % 2 == 0 else systems[::-1]:
                if len(systems) > 1 or args.repeat > 1:
                    print(f"== {system}, repetition {i + 1} of {args.repeat}", flush=True)
                where = work / f"{system}-{i + 1}"
                bench = Bench(where) if system == "rtcsite" else Yardstick(where)
                try:
                    run, run_failed = run_system(bench, on_servers, args)
                finally:
                    bench.stop()
                runs[system].append(run)
                failed = failed or run_failed
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len(systems) == 1 and args.repeat == 1:
        results.update(runs["rtcsite"][0] if runs["rtcsite"] else {})
    else:
        results["systems"] = systems
        results["runs"] = runs
        results["figures"] = figures(runs)
        print(f"\nmachine: {results['machine']}")
        print_table(results["figures"], systems, args.repeat)
    name = "-".join(scenarios) if args.scenario != "all" else "all"
    output = Path(args.output or BASE / "bench" / f"results-{name}{f'-vs-{args.against}' if args.against else ''}.json")
    output.write_text(json.dumps(results, indent=2))
    print(f"results written to {output}")
    if failed:
        print("smoke FAILED: frames lost or joins failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
