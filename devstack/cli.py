"""`python -m devstack run|cluster|manage`: what `make run`, `make cluster` and `make manage` call.

`serve` starts a single server or a cluster, prints where it is, waits until Ctrl-C,
SIGTERM or a child exiting, and stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.cluster import manage, start_cluster, start_single, var_secret
from devstack.procs import BASE_DIR, StackError


def serve(argv: list[str] | None, *, production: bool) -> int:
    """`make run` (development settings) and `make cluster` (production settings behind nginx)."""
    prog = "make cluster" if production else "make run"
    parser = argparse.ArgumentParser(prog=prog, description="Serve rtcsite with private Redis and Coturn.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8443 if production else 8000)))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--nodes", type=int, default=2 if production else 1, help="daphne processes")
    parser.add_argument("--tls", action="store_true", default=production, help="HTTPS through nginx")
    args = parser.parse_args(argv)

    var_dir = Path(os.environ.get("RTCSITE_VAR_DIR", BASE_DIR / "var"))
    env: dict[str, str] = {"RTCSITE_VAR_DIR": str(var_dir)}
    env["DJANGO_DEBUG"] = os.environ.get("DJANGO_DEBUG", "0" if production else "1")
    if not os.environ.get("DJANGO_SECRET_KEY"):
        env["DJANGO_SECRET_KEY"] = var_secret(var_dir, "secret_key")
    for name in ("REDIS_URL", "REDIS_SENTINELS", "TURN_URLS", "TURN_SECRETS"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    try:
        if args.tls or args.nodes > 1:
            cluster = start_cluster(
                var_dir / ("cluster" if production else "run"), env, nodes=args.nodes, port=args.port,
                host=args.host, tls=args.tls, migrate=True,
            )  # fmt: skip
        else:
            cluster = start_single(var_dir, env, args.host, args.port)
    except (StackError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    shown = "127.0.0.1" if args.host == "0.0.0.0" else args.host  # noqa: S104
    print(f"\nrtcsite is serving on {cluster.scheme}://{shown}:{cluster.port}/")
    for daphne in cluster.daphnes:
        print(f"  daphne pid {daphne.proc.pid} on 127.0.0.1:{daphne.port}, log {daphne.proc.log_path}")
    if args.tls:
        print("  (self-signed certificate: your browser will ask you to accept it)")
    print("Create an admin with:  make manage ARGS=createsuperuser")
    print("Stop with Ctrl-C.")
    stopping: list[int] = []
    # Handle Ctrl-C explicitly too: started from a script, SIGINT may arrive as "ignored".
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(1))
    try:
        while not stopping and all(p.alive() for p in cluster.stack.procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for proc in cluster.stack.procs:
        if not proc.alive():
            print(f"{proc.name} exited unexpectedly\n{proc.log_tail()}", file=sys.stderr)
    print("\nstopping...")
    cluster.stop()
    return 0


def manage_command(argv: list[str]) -> int:
    """`make manage ARGS=...`: manage.py with the same settings `make run` uses."""
    var_dir = Path(os.environ.get("RTCSITE_VAR_DIR", BASE_DIR / "var"))
    env = {"RTCSITE_VAR_DIR": str(var_dir), "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1")}
    if not os.environ.get("DJANGO_SECRET_KEY"):
        env["DJANGO_SECRET_KEY"] = var_secret(var_dir, "secret_key")
    return manage(argv, env, check=False).returncode


COMMANDS = {
    "run": lambda argv: serve(argv, production=False),
    "cluster": lambda argv: serve(argv, production=True),
    "manage": manage_command,
}


def main(argv: list[str]) -> int:
    """Dispatch `argv` (without the program name) to one of COMMANDS."""
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m devstack {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])
