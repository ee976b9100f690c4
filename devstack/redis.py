"""Private Redis servers (no persistence) and a Redis Sentinel watching one."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field
from pathlib import Path

from devstack.procs import Proc, free_port, require, spawn, tcp_open, wait_until


@dataclass
class Redis:
    """A running private Redis: its process, URL, TCP port (None on a Unix socket) and argv."""

    proc: Proc
    url: str
    port: int | None
    workdir: Path
    argv: list[str] = field(default_factory=list)

    def restart(self, timeout: float = 15.0) -> None:
        """Stop and start again on the same address, with an empty dataset (as a crash does)."""
        self.proc.stop()
        self.proc = spawn(self.proc.name, self.argv, self.proc.log_path.parent)
        wait_until(self.ping, timeout, "redis to answer PING", self.proc)

    def ping(self) -> bool:
        """True if Redis answers PING now."""
        try:
            if self.port is None:
                sock = socket.socket(socket.AF_UNIX)
                sock.settimeout(0.5)
                sock.connect(self.url.removeprefix("unix://"))
            else:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
            with sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def start_redis(workdir: Path, *, port: int | None = None, unix: bool = False, name: str = "redis") -> Redis:
    """A private Redis without persistence, on a loopback port (default: a free one) or a Unix socket."""
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [require("redis-server", "redis-server"), "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    if unix:
        sock = workdir / f"{name}.sock"
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        argv += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url, port = f"unix://{sock}", None
    else:
        port = port or free_port()
        argv += ["--port", str(port), "--bind", "127.0.0.1"]
        url = f"redis://127.0.0.1:{port}/0"
    proc = spawn(name, argv, workdir)
    redis = Redis(proc, url, port, workdir, argv)
    wait_until(redis.ping, 15, "redis to answer PING", proc)
    return redis


def start_sentinel(
    workdir: Path, master_port: int, master_name: str = "rtcsite", *, name: str = "sentinel"
) -> tuple[Proc, int]:
    """A Redis Sentinel watching the Redis on 127.0.0.1:master_port (`redis-server --sentinel`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / f"{name}.conf"  # sentinel rewrites its config file, so it gets its own
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor {master_name} 127.0.0.1 {master_port} 1\n"
        f"sentinel down-after-milliseconds {master_name} 2000\n"
    )
    proc = spawn(name, [require("redis-server", "redis-server"), str(config), "--sentinel"], workdir)
    wait_until(tcp_open("127.0.0.1", port), 15, f"sentinel on {port}", proc)
    return proc, port
