"""Prove each configured TURN URL works: allocate with fresh credentials and relay through it.

A production coturn denies loopback and private peers, so relaying is proven with two
allocations on the same server sending to each other (`turnutils_uclient -y`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qs

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from calls import turn

URL_RE = re.compile(r"^(?P<scheme>turns?):(?P<host>\[[^\]]+\]|[^:?]+)(?::(?P<port>\d+))?(?:\?(?P<query>.*))?$")


@dataclass
class Target:
    url: str
    secure: bool
    host: str
    port: int
    transport: str


@dataclass
class Result:
    target: Target
    ok: bool
    reachable: bool
    authenticated: bool
    relay: str
    rtt_ms: float | None
    lost: str
    seconds: float
    detail: str = ""


def parse_url(url: str) -> Target:
    """turn:host[:port][?transport=udp|tcp], turns:host[:port][?transport=tcp]."""
    match = URL_RE.match(url.strip())
    if not match:
        raise ValueError(f"not a turn: or turns: URL: {url}")
    secure = match["scheme"] == "turns"
    transport = (parse_qs(match["query"] or "").get("transport") or ["tcp" if secure else "udp"])[0]
    if transport not in ("udp", "tcp"):
        raise ValueError(f"unknown transport {transport!r} in {url}")
    port = int(match["port"] or (5349 if secure else 3478))
    return Target(url, secure, match["host"].strip("[]"), port, transport)


def check(target: Target, username: str, password: str, timeout: float) -> Result:
    argv = ["turnutils_uclient", "-y", "-c", "-v", "-n", "2", "-m", "1", "-l", "120"]
    argv += ["-u", username, "-w", password, "-p", str(target.port)]
    if target.transport == "tcp":
        argv.append("-t")
    if target.secure:
        argv.append("-S")
    argv.append(target.host)
    started = time.monotonic()
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result(target, False, False, False, "", None, "", timeout, f"no answer within {timeout:.0f} s")
    seconds = time.monotonic() - started
    out = run.stdout + run.stderr
    relays = re.findall(r"Received relay addr: (\S+)", out)
    rtt = re.search(r"Average round trip delay ([\d.]+) ms", out)
    lost = re.search(r"Total lost packets (\d+) \(([\d.]+)%\)", out)
    refused = "Cannot complete Allocation" in out or ("401" in out and not relays)
    unreachable = not relays and not refused
    ok = run.returncode == 0 and bool(relays) and lost is not None and lost.group(1) == "0"
    detail = ""
    if not ok:
        tail = [line for line in out.splitlines() if "ERROR" in line or "error" in line.lower()][-3:]
        detail = "; ".join(line.split(": : ", 1)[-1] for line in tail) or f"exit code {run.returncode}"
    return Result(
        target,
        ok,
        reachable=not unreachable,
        authenticated=bool(relays),
        relay=", ".join(sorted(set(relays))),
        rtt_ms=float(rtt.group(1)) if rtt else None,
        lost=f"{lost.group(1)} ({lost.group(2)}%)" if lost else "",
        seconds=seconds,
        detail=detail,
    )


class Command(BaseCommand):
    help = "Allocate on every TURN_URLS entry with fresh credentials and relay between two allocations."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=20.0, help="seconds per URL (default 20)")

    def handle(self, *args, timeout: float, **options):
        if not turn.configured():
            raise CommandError("TURN is not configured: set TURN_URLS and TURN_SECRETS")
        if shutil.which("turnutils_uclient") is None:
            raise CommandError("turnutils_uclient not found: install the Debian package `coturn` (it ships the tools)")
        credentials = turn.generator.make_credentials("turn-check", ttl=max(60, int(timeout) * 4))
        failed = 0
        targets = []
        for url in settings.TURN_URLS:
            try:
                targets.append(parse_url(url))
            except ValueError as exc:
                self.stdout.write(self.style.ERROR(f"{url}: {exc}"))
                failed += 1
        # Each check takes a few seconds of relaying; run them side by side.
        with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
            results = list(pool.map(lambda t: check(t, credentials.username, credentials.password, timeout), targets))
        for result in results:
            url = result.target.url
            failed += not result.ok
            status = self.style.SUCCESS("OK") if result.ok else self.style.ERROR("FAILED")
            rtt = f"{result.rtt_ms:.1f} ms" if result.rtt_ms is not None else "-"
            self.stdout.write(
                f"{status} {url}\n"
                f"    reachable: {'yes' if result.reachable else 'no'}   "
                f"authenticated: {'yes' if result.authenticated else 'no'}   "
                f"relay: {result.relay or '-'}   round trip: {rtt}   lost: {result.lost or '-'}   "
                f"({result.seconds:.1f} s)" + (f"\n    {result.detail}" if result.detail else "")
            )
        if failed:
            raise CommandError(f"{failed} of {len(settings.TURN_URLS)} TURN URL(s) failed")
        self.stdout.write(self.style.SUCCESS(f"all {len(settings.TURN_URLS)} TURN URL(s) relay"))
