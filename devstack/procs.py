"""Child processes and the probes that wait for them: the base every server module builds on.

Every process is started in its own session (so it and its children form one process
group), logs to a file of its own, is waited for by probing the thing it serves (a socket
accepting, a health URL answering) and is stopped by PID: SIGTERM to its process group,
SIGKILL if it does not exit. Also here: free loopback ports, `require` for the Debian
commands, and `Stack`, the processes started together and stopped together.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


class StackError(RuntimeError):
    """A server did not start; the message carries the end of its log."""


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port the OS says is free now on `host`."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP (TURN listens on both)."""
    for _ in range(50):
        port = free_port(host)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((host, port))
        except OSError:
            continue
        return port
    raise StackError("no free TCP+UDP port found")


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None) -> None:
    """Poll `check` until it is true; fail early if `proc` exits, and after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if check():
            return
        if proc is not None and proc.popen.poll() is not None:
            raise StackError(f"{proc.name} exited with {proc.popen.returncode} before {what}\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            tail = proc.log_tail() if proc else ""
            raise StackError(f"timed out after {timeout}s waiting for {what}\n{tail}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def tcp_open(host: str, port: int) -> Callable[[], bool]:
    """A probe: true once something accepts TCP connections on host:port."""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    return check


def http_ok(url: str, host_header: str | None = None) -> Callable[[], bool]:
    """A probe: true once GET `url` answers 200."""

    def check() -> bool:
        request = urllib.request.Request(url, headers={"Host": host_header} if host_header else {})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    return check


@dataclass
class Proc:
    """A child process with its log file; stopped by PID (the whole process group)."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"--- last lines of {self.log_path} ---\n" + "\n".join(text)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit code."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        self.signal(signal.SIGKILL)
        self.popen.wait(5)


def spawn(
    name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Proc:
    """Start `argv` in a session of its own, output appended to `log_dir/name.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    popen = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=cwd or BASE_DIR,
        start_new_session=True,
    )
    log.close()
    return Proc(name, popen, log_path)


def require(command: str, package: str) -> str:
    """The path of `command`, or a StackError naming the Debian package that provides it."""
    path = shutil.which(command) or (f"/usr/sbin/{command}" if os.path.exists(f"/usr/sbin/{command}") else None)
    if not path:
        raise StackError(f"`{command}` not found: install the Debian package `{package}` (scripts/bootstrap.sh does)")
    return path


class Stack:
    """Processes started together and stopped together, in reverse order."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()

    @contextlib.contextmanager
    def running(self) -> Iterator[Stack]:
        try:
            yield self
        finally:
            self.stop()
