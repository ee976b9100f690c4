"""Settings for the test suite: production settings (DEBUG off) minus HTTPS, on a scratch var/ dir.

The test database is a file, so daphne processes started by integration tests share it.
"""

import os
import tempfile

_var = tempfile.mkdtemp(prefix="rtcsite-test-")
os.environ.setdefault("RTCSITE_VAR_DIR", _var)
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
os.environ.setdefault("DJANGO_HSTS_SECONDS", "0")
os.environ.setdefault("RTCSITE_FAST_PASSWORD_HASHER", "1")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")

from rtcsite.settings import *  # noqa: E402, F403
from rtcsite.settings import DATABASES, VAR_DIR  # noqa: E402

TEST_DB_PATH = VAR_DIR / "test.sqlite3"
DATABASES["default"]["TEST"] = {"NAME": str(TEST_DB_PATH)}

# The in-process test client's cache: the session Redis is only known once a fixture starts it.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# In-process pages link unhashed static names, so these tests need no collectstatic; the
# daphne processes of the servers and browser tiers serve hashed names from a collected
# STATIC_ROOT (tests/conftest.py `collected_static`).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
