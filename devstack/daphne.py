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

    def restart(self) -> None:
        """Stop and start again on the same port with the same environment."""
        self.proc.stop()
        self.proc = spawn(self.proc.name, self.argv, self.proc.log_path.parent, self.env)
        _wait(self)


BACKLOG = 2048  # the listen queue: as deep as gunicorn's default; the kernel caps it at net.core.somaxconn


def endpoint(host: str, port: int | str) -> str:
    """daphne's `-e` listening endpoint; deploy/systemd/rtcsite-daphne@.service names the same one.

    daphne's -b/-p listen with Twisted's backlog of 50: a burst of connects overflows it and
    the dropped SYNs are retried a second later. The endpoint names a deeper queue.
    """
    interface = host.strip("[]").replace(":", "\\:")  # colons of an IPv6 address are escaped
    return f"tcp:port={port}:interface={interface}:backlog={BACKLOG}"


def _spawn(workdir: Path, env: dict[str, str], port: int | None, name: str, host: str) -> Daphne:
    port = port or free_port(host)
    argv = [
        PYTHON, "-m", "daphne",
        "-e", endpoint(host, port),
        # WebSockets live as long as the call; the app's own heartbeat finds dead ones.
        "--websocket_timeout", "-1",
        "--server-name", "rtcsite",
        "rtcsite.asgi:application",
    ]  # fmt: skip
    env = {"PYTHONUNBUFFERED": "1", "RTCSITE_NODE_NAME": name, **env}
    return Daphne(spawn(name, argv, workdir, env), port, env, argv)


def _wait(daphne: Daphne) -> None:
    wait_until(http_ok(f"{daphne.url}/healthz"), 60, f"{daphne.proc.name} /healthz", daphne.proc)


def start_daphne(
    workdir: Path, env: dict[str, str], *, port: int | None = None, name: str = "daphne", host: str = "127.0.0.1"
) -> Daphne:
    """One daphne process serving rtcsite, waited for until /healthz answers."""
    return start_daphnes(workdir, env, [name], ports=[port], host=host)[0]


def start_daphnes(
    workdir: Path,
    env: dict[str, str],
    names: list[str],
    *,
    ports: list[int | None] | None = None,
    host: str = "127.0.0.1",
) -> list[Daphne]:
    """Several daphne processes started at once (they boot in parallel), each waited for.

    If one fails to come up, the others are stopped before the error is raised.
    """
    ports = ports or [None] * len(names)
    daphnes: list[Daphne] = []
    try:
        for name, port in zip(names, ports, strict=True):
            daphnes.append(_spawn(workdir, env, port, name, host))
        for daphne in daphnes:
            _wait(daphne)
    except BaseException:
        for daphne in daphnes:
            daphne.proc.stop()
        raise
    return daphnes
