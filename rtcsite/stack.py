"""Start and stop the processes rtcsite runs with: Redis, Coturn, daphne and nginx.

One module serves `make run`, the local cluster, the tests and the benchmarks, so all of
them start the real servers the same way. It imports nothing from Django, because it runs
before settings can be loaded (REDIS_URL and TURN_* are only known once Redis and Coturn
are up).

Every process is started in its own session, waited for by probing the thing it serves
(a socket accepting, a health URL answering), and stopped by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    return check


def http_ok(url: str, host_header: str | None = None) -> Callable[[], bool]:
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
    path = shutil.which(command) or (f"/usr/sbin/{command}" if os.path.exists(f"/usr/sbin/{command}") else None)
    if not path:
        raise StackError(f"`{command}` not found: install the Debian package `{package}` (scripts/bootstrap.sh does)")
    return path


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------
@dataclass
class Redis:
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


# ---------------------------------------------------------------------------
# Coturn
# ---------------------------------------------------------------------------
@dataclass
class Coturn:
    proc: Proc
    port: int
    secret: str
    realm: str
    config: Path

    @property
    def urls(self) -> list[str]:
        return [f"turn:127.0.0.1:{self.port}?transport=udp", f"turn:127.0.0.1:{self.port}?transport=tcp"]


def coturn_loopback_config(
    port: int, secrets_: list[str], realm: str, min_port: int, max_port: int, log_file: Path
) -> str:
    """The loopback-only test configuration (see deploy/coturn/turnserver-loopback.conf)."""
    lines = [
        "# Generated by rtcsite.stack: loopback-only coturn for development and tests.",
        "listening-ip=127.0.0.1",
        "relay-ip=127.0.0.1",
        f"listening-port={port}",
        f"min-port={min_port}",
        f"max-port={max_port}",
        "use-auth-secret",
        *(f"static-auth-secret={s}" for s in secrets_),
        f"realm={realm}",
        "fingerprint",
        "no-tls",
        "no-dtls",
        "no-cli",
        "no-multicast-peers",
        "allow-loopback-peers",
        "no-stdout-log",
        f"log-file={log_file}",
        "simple-log",
        "user-quota=20",
        "total-quota=200",
    ]
    return "\n".join(lines) + "\n"


def start_coturn(
    workdir: Path,
    *,
    secrets_: list[str] | None = None,
    realm: str = "rtcsite.local",
    port: int | None = None,
    name: str = "coturn",
) -> Coturn:
    """A private coturn on 127.0.0.1 with the TURN REST API (use-auth-secret)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port_pair()
    secrets_ = secrets_ or [secrets.token_urlsafe(32)]
    # A relay range of its own per instance, so parallel instances do not collide.
    base = 20000 + (port % 200) * 200
    config = workdir / f"{name}.conf"
    config.write_text(coturn_loopback_config(port, secrets_, realm, base, base + 199, workdir / f"{name}-turn.log"))
    config.chmod(0o600)
    proc = spawn(name, [require("turnserver", "coturn"), "-c", str(config)], workdir)
    wait_until(tcp_open("127.0.0.1", port), 15, f"coturn to listen on {port}", proc)
    return Coturn(proc, port, secrets_[0], realm, config)


# ---------------------------------------------------------------------------
# daphne
# ---------------------------------------------------------------------------
@dataclass
class Daphne:
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


# ---------------------------------------------------------------------------
# nginx with TLS in front of the daphne pool
# ---------------------------------------------------------------------------
def self_signed_certificate(workdir: Path, hosts: list[str]) -> tuple[Path, Path]:
    """A throwaway certificate for local HTTPS, made at run time (never committed)."""
    cert, key = workdir / "tls.crt", workdir / "tls.key"
    if cert.exists() and key.exists():
        return cert, key
    names = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() or ":" in h else f"DNS:{h}" for h in hosts)
    subprocess.run(
        [
            require("openssl", "openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=rtcsite-local",
            "-addext", f"subjectAltName={names}",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def nginx_config(
    workdir: Path, listen: str, upstreams: list[int], static_root: Path, cert: Path | None, key: Path | None
) -> str:
    """The local equivalent of deploy/nginx/rtcsite.conf: same pool, headers and timeouts."""
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=0;" for port in upstreams)
    tls = f"ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3;" if cert else ""
    proxy = """
            proxy_pass http://rtcsite;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Request-ID $request_id;
            proxy_connect_timeout 5s;
            proxy_next_upstream error timeout http_502 http_503;"""
    # Started as root (CI, containers), nginx's workers would drop to "nobody" and could not
    # read the private work directory; this local instance keeps its own user instead.
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""# Generated by rtcsite.stack (see deploy/nginx/rtcsite.conf for the production site).
daemon off;
{user}
worker_processes 1;
pid {workdir / "nginx.pid"};
error_log {workdir / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    access_log {workdir / "nginx-access.log"};
    client_body_temp_path {workdir / "nginx-tmp"};
    proxy_temp_path {workdir / "nginx-tmp"};
    upstream rtcsite {{
        least_conn;
{servers}
        keepalive 32;
    }}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    server {{
        listen {listen}{" ssl" if cert else ""};
        {tls}
        client_max_body_size 1m;
        location /static/ {{ alias {static_root}/; expires 30d; }}
        location /ws/ {{{proxy}
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
        }}
        location / {{{proxy}
            proxy_set_header Connection "";
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


def start_nginx(
    workdir: Path, upstreams: list[int], static_root: Path, *, host: str = "127.0.0.1", port: int | None = None,
    tls: bool = True, name: str = "nginx",
) -> tuple[Proc, int]:  # fmt: skip
    """nginx in front of the daphne ports, with a self-signed certificate when `tls`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "nginx-tmp").mkdir(exist_ok=True)
    port = port or free_port(host)
    cert, key = self_signed_certificate(workdir, sorted({"127.0.0.1", "localhost", host})) if tls else (None, None)
    config = workdir / f"{name}.conf"
    config.write_text(nginx_config(workdir, f"{host}:{port}", upstreams, static_root, cert, key))
    proc = spawn(name, [require("nginx", "nginx"), "-c", str(config), "-p", str(workdir)], workdir)
    wait_until(tcp_open(host if host != "0.0.0.0" else "127.0.0.1", port), 15, f"nginx on {port}", proc)  # noqa: S104
    return proc, port


@dataclass
class Cluster:
    """Redis, Coturn, N daphne processes and nginx: the production topology on one machine."""

    stack: Stack
    daphnes: list[Daphne]
    port: int
    scheme: str
    redis: Redis | None = None
    coturn: Coturn | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.stack.stop()


def start_cluster(
    workdir: Path, env: dict[str, str], *, nodes: int = 2, port: int | None = None, host: str = "127.0.0.1",
    tls: bool = True, coturn: bool = True, migrate: bool = False,
) -> Cluster:  # fmt: skip
    """Start everything and return a Cluster; on failure, stop what was started and raise."""
    stack = Stack()
    env = dict(env)
    try:
        redis = None
        if "REDIS_URL" not in env and "REDIS_SENTINELS" not in env:
            redis = start_redis(workdir)
            stack.add(redis.proc)
            env["REDIS_URL"] = redis.url
        turn = None
        if coturn and "TURN_URLS" not in env:
            turn = start_coturn(workdir, secrets_=[_var_secret(workdir, "turn_secret")])
            stack.add(turn.proc)
            env["TURN_SECRETS"], env["TURN_URLS"] = turn.secret, ",".join(turn.urls)
        port = port or free_port(host)
        scheme = "https" if tls else "http"
        origins = ",".join(f"{scheme}://{h}:{port}" for h in ("127.0.0.1", "localhost", host))
        env.setdefault("CSRF_TRUSTED_ORIGINS", origins)
        env.setdefault("TRUSTED_PROXIES", "127.0.0.1")
        prom = workdir / "prometheus"
        shutil.rmtree(prom, ignore_errors=True)
        prom.mkdir(parents=True)
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(prom))
        static_root = workdir / "static"
        if migrate:
            manage(["migrate", "--noinput", "-v", "0"], env)
        manage(["collectstatic", "--noinput", "-v", "0"], {**env, "DJANGO_STATIC_ROOT": str(static_root)})
        daphnes = []
        for i in range(nodes):
            daphne = start_daphne(workdir, env, name=f"daphne-{i + 1}")
            stack.add(daphne.proc)
            daphnes.append(daphne)
        proc, port = start_nginx(workdir, [d.port for d in daphnes], static_root, host=host, port=port, tls=tls)
        stack.add(proc)
    except BaseException:
        stack.stop()
        raise
    return Cluster(stack, daphnes, port, scheme, redis, turn)


def manage(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, str(BASE_DIR / "manage.py"), *args], env={**os.environ, **env}, cwd=BASE_DIR, check=check
    )


# ---------------------------------------------------------------------------
# `python -m rtcsite.stack run`: what `make run` does.
# ---------------------------------------------------------------------------
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


def _var_secret(var_dir: Path, name: str) -> str:
    """A random secret kept under var/ (never committed), made on first use."""
    path = var_dir / name
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(40))
        path.chmod(0o600)
    return path.read_text().strip()


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
        env["DJANGO_SECRET_KEY"] = _var_secret(var_dir, "secret_key")
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
            cluster = _start_single(var_dir, env, args.host, args.port)
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


def _start_single(var_dir: Path, env: dict[str, str], host: str, port: int) -> Cluster:
    """One daphne on host:port with a private Redis (Unix socket) and Coturn unless configured."""
    stack = Stack()
    try:
        redis = turn = None
        if "REDIS_URL" not in env and "REDIS_SENTINELS" not in env:
            redis = start_redis(var_dir, unix=True)
            stack.add(redis.proc)
            env["REDIS_URL"] = redis.url
        if "TURN_URLS" not in env:
            turn = start_coturn(var_dir, secrets_=[_var_secret(var_dir, "turn_secret")])
            stack.add(turn.proc)
            env["TURN_SECRETS"], env["TURN_URLS"] = turn.secret, ",".join(turn.urls)
        manage(["migrate", "--noinput", "-v", "0"], env)
        daphne = start_daphne(var_dir, env, port=port, host=host, name="daphne")
        stack.add(daphne.proc)
    except BaseException:
        stack.stop()
        raise
    return Cluster(stack, [daphne], port, "http", redis, turn)


def manage_command(argv: list[str]) -> int:
    """`make manage ARGS=...`: manage.py with the same settings `make run` uses."""
    var_dir = Path(os.environ.get("RTCSITE_VAR_DIR", BASE_DIR / "var"))
    env = {"RTCSITE_VAR_DIR": str(var_dir), "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1")}
    if not os.environ.get("DJANGO_SECRET_KEY"):
        env["DJANGO_SECRET_KEY"] = _var_secret(var_dir, "secret_key")
    return manage(argv, env, check=False).returncode


if __name__ == "__main__":
    commands = {
        "run": lambda argv: serve(argv, production=False),
        "cluster": lambda argv: serve(argv, production=True),
        "manage": manage_command,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(f"usage: python -m rtcsite.stack {{{','.join(commands)}}} [options]", file=sys.stderr)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))
