"""daphne processes serving rtcsite.asgi, each waited for until its /healthz answers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devstack.procs import PYTHON, Proc, free_port, http_ok, spawn, wait_until


@dataclass
class Daphne:
    """A running daphne: its process, port, and the environment and argv to restart it with."""

    proc: Proc
    port: int
    env: dict[str, str]
    argv: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def restart(self, timeout: float = 30.0) -> None:
        """Stop and start again on the same port with the same environment."""
        self.proc.stop()
        self.proc = spawn(self.proc.name, self.argv, self.proc.log_path.parent, self.env)
        wait_until(http_ok(f"{self.url}/healthz"), timeout, f"{self.proc.name} /healthz", self.proc)


def start_daphne(
    workdir: Path, env: dict[str, str], *, port: int | None = None, name: str = "daphne", host: str = "127.0.0.1"
) -> Daphne:
    """One daphne process serving rtcsite, waited for until /healthz answers."""
    port = port or free_port(host)
    argv = [
        PYTHON, "-m", "daphne",
        "-b", host, "-p", str(port),
        # WebSockets live as long as the call; the app's own heartbeat finds dead ones.
        "--websocket_timeout", "-1",
        "--server-name", "rtcsite",
        "rtcsite.asgi:application",
    ]  # fmt: skip
    env = {"PYTHONUNBUFFERED": "1", "RTCSITE_NODE_NAME": name, **env}
    proc = spawn(name, argv, workdir, env)
    wait_until(http_ok(f"http://127.0.0.1:{port}/healthz"), 60, f"{name} /healthz", proc)
    return Daphne(proc, port, env, argv)
