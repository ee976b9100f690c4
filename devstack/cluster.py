"""Whole topologies: Redis, Coturn, daphne and nginx started together as one Cluster.

`start_cluster` is the production topology on one machine (N daphne behind nginx);
`start_single` is what plain `make run` serves (one daphne, Redis on a Unix socket).
Also here: `manage` (manage.py in a child process with a given environment) and the
secrets kept under var/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.coturn import Coturn, start_coturn
from devstack.daphne import Daphne, start_daphne, start_daphnes
from devstack.nginx import start_nginx
from devstack.procs import BASE_DIR, PYTHON, Stack, free_port
from devstack.redis import Redis, start_redis


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
            turn = start_coturn(workdir, secrets_=[var_secret(workdir, "turn_secret")])
            stack.add(turn.proc)
            env["TURN_SECRETS"], env["TURN_URLS"] = turn.secret, ",".join(turn.urls)
        port = port or free_port(host)
        scheme = "https" if tls else "http"
        origins = ",".join(f"{scheme}://{h}:{port}" for h in ("127.0.0.1", "localhost", host))
        env.setdefault("CSRF_TRUSTED_ORIGINS", origins)
        env.setdefault("TRUSTED_PROXIES", "127.0.0.1")
        env.setdefault("METRICS_ALLOWED", "127.0.0.1,::1")  # off by default in the settings
        prom = workdir / "prometheus"
        shutil.rmtree(prom, ignore_errors=True)
        prom.mkdir(parents=True)
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(prom))
        # nginx serves the collected files and the daphnes link their hashed names.
        static_root = Path(env.setdefault("DJANGO_STATIC_ROOT", str(workdir / "static")))
        if migrate:
            manage(["migrate", "--noinput", "-v", "0"], env)
        collect_static(static_root, env)
        daphnes = start_daphnes(workdir, env, [f"daphne-{i + 1}" for i in range(nodes)])
        for daphne in daphnes:
            stack.add(daphne.proc)
        proc, port = start_nginx(workdir, [d.port for d in daphnes], static_root, host=host, port=port, tls=tls)
        stack.add(proc)
    except BaseException:
        stack.stop()
        raise
    return Cluster(stack, daphnes, port, scheme, redis, turn)


def start_single(var_dir: Path, env: dict[str, str], host: str, port: int) -> Cluster:
    """One daphne on host:port with a private Redis (Unix socket) and Coturn unless configured."""
    stack = Stack()
    try:
        redis = turn = None
        if "REDIS_URL" not in env and "REDIS_SENTINELS" not in env:
            redis = start_redis(var_dir, unix=True)
            stack.add(redis.proc)
            env["REDIS_URL"] = redis.url
        if "TURN_URLS" not in env:
            turn = start_coturn(var_dir, secrets_=[var_secret(var_dir, "turn_secret")])
            stack.add(turn.proc)
            env["TURN_SECRETS"], env["TURN_URLS"] = turn.secret, ",".join(turn.urls)
        env.setdefault("METRICS_ALLOWED", "127.0.0.1,::1")  # off by default in the settings
        manage(["migrate", "--noinput", "-v", "0"], env)
        env.setdefault("DJANGO_STATIC_ROOT", str(var_dir / "static"))
        collect_static(Path(env["DJANGO_STATIC_ROOT"]), env)
        daphne = start_daphne(var_dir, env, port=port, host=host, name="daphne")
        stack.add(daphne.proc)
    except BaseException:
        stack.stop()
        raise
    return Cluster(stack, [daphne], port, "http", redis, turn)


def collect_static(static_root: Path, env: dict[str, str]) -> None:
    """`manage.py collectstatic` into `static_root`: hashed names, which production pages link.

    The translation catalogs are compiled first: the daphnes about to start read them.
    """
    compile_messages()
    manage(["collectstatic", "--noinput", "-v", "0"], {**env, "DJANGO_STATIC_ROOT": str(static_root)})


# Where compilemessages must not look for catalogs (other packages' own, build output).
MESSAGES_IGNORED = (".venv", "node_modules", "staticfiles", "var", ".git")


def compile_messages() -> None:
    """locale/*/LC_MESSAGES/*.po into the .mo files Django reads; a catalog already compiled is skipped.

    Run without settings, so it needs no secret key or Redis: it finds the catalogs from BASE_DIR.
    """
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    ignored = [f"--ignore={pattern}" for pattern in MESSAGES_IGNORED]
    subprocess.run(
        [PYTHON, "-m", "django", "compilemessages", "-v", "0", *ignored],
        env=env,
        cwd=BASE_DIR,
        check=True,
    )


def manage(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """manage.py `args` in a child process, with `env` over this process's environment."""
    return subprocess.run(
        [PYTHON, str(BASE_DIR / "manage.py"), *args], env={**os.environ, **env}, cwd=BASE_DIR, check=check
    )


def var_secret(var_dir: Path, name: str) -> str:
    """A random secret kept under var/ (never committed), made on first use."""
    path = var_dir / name
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(40))
        path.chmod(0o600)
    return path.read_text().strip()
