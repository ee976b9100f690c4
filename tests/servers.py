"""Real servers for integration tests: environment for daphne subprocesses, logged-in sessions."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.test import Client

from rtcsite import stack


def server_env(redis: stack.Redis, var_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a daphne subprocess sharing the test database and Redis."""
    env = {
        "DJANGO_SETTINGS_MODULE": "rtcsite.settings",
        "DATABASE_URL": f"sqlite:///{settings.TEST_DB_PATH}",
        "REDIS_URL": redis.url,
        "RTCSITE_VAR_DIR": str(var_dir),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_HSTS_SECONDS": "0",
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "RTCSITE_FAST_PASSWORD_HASHER": "1",
        "LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


def session_cookie(user) -> str:
    """A session id for `user`, saved in the (shared) database, as a browser would hold it."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def eventually(check, timeout: float = 10.0, what: str = "condition"):
    """Await `check()` (a sync callable run in a thread) until it returns something truthy."""
    import asyncio

    from asgiref.sync import sync_to_async

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.02
    while True:
        result = await sync_to_async(check)()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
