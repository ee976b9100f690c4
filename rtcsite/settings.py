"""Settings for rtcsite, read from the environment.

Every variable read here is listed, with its default, in the README's settings table.
Defaults suit a developer machine; production sets DJANGO_DEBUG off, which turns on the
secure-cookie/HSTS/SSL-redirect settings and requires DJANGO_SECRET_KEY.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("RTCSITE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def _env_number(name: str, default, cast, what: str):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return cast(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {what}, not {value!r}") from None


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Core ------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. It is required when DJANGO_DEBUG is off; "
            "set it to a long random string (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`)."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"


def weak_secret_key(key: str) -> str | None:
    """Why `key` is not fit for production (too short, too repetitive, a placeholder), or None."""
    placeholder = next((w for w in ("change", "example", "placeholder", "django-insecure") if w in key.lower()), None)
    if len(key) < 50:
        return f"is {len(key)} characters long; at least 50 are required"
    if len(set(key)) < 5:
        return "has fewer than 5 distinct characters"
    return f"contains {placeholder!r}, so it looks like a placeholder" if placeholder else None


if not DEBUG and (_weakness := weak_secret_key(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"DJANGO_SECRET_KEY {_weakness}. Production (DJANGO_DEBUG off) needs a long random string, "
        "for example the output of `python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "calls",
]

MIDDLEWARE = [
    "rtcsite.middleware.ProxyHeadersMiddleware",
    "rtcsite.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "rtcsite.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "rtcsite.middleware.ProfileLanguageMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rtcsite.urls"
ASGI_APPLICATION = "rtcsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "calls.context_processors.theme",
            ],
        },
    },
]

# --- Database: SQLite under var/ unless DATABASE_URL says otherwise. -------
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several daphne processes share one SQLite file: WAL lets readers run beside the
    # writer, IMMEDIATE transactions take the write lock up front (no upgrade deadlock),
    # and the timeout waits for the lock instead of failing with "database is locked".
    # Connections are kept: opening one runs these PRAGMAs, which costs more than most queries.
    DATABASES["default"]["CONN_MAX_AGE"] = None
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if env_bool("RTCSITE_FAST_PASSWORD_HASHER", False):
    # Tests and benchmarks create many users; MD5 makes that instant. Never in production.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
LANGUAGES = [("en", "English"), ("de", "Deutsch")]  # catalogs: locale/<code>/LC_MESSAGES (README "Languages")
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (rtcsite/storage.py): `manage.py collectstatic` must run before a
    # production process starts (DEBUG on, pages link the unhashed files instead).
    "staticfiles": {"BACKEND": "rtcsite.storage.StaticFilesStorage"},
}
# In development (DEBUG on) serve straight from the app's static folders, so
# `make run` works from a fresh checkout.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Email: console by default, so password-reset links show in the server log. ---
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "rtcsite <noreply@localhost>")

# --- Security. Production (DEBUG off) is secure by default; each switch can be overridden. ---
# Addresses (IPs or CIDR ranges) of reverse proxies whose X-Forwarded-For/-Proto we believe.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy on every response (django-csp): only the site's own files, nothing
# inline. The call page's needs are named: camera and remote streams (mediastream:, blob:),
# the signaling WebSocket (rtcsite.csp adds ws:// and wss:// of the request's host).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        **{name: ["'self'"] for name in ("default-src", "script-src", "style-src", "connect-src", "font-src")},
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'", "blob:", "mediastream:"],
        **{name: ["'none'"] for name in ("object-src", "base-uri", "frame-ancestors")},
        "form-action": ["'self'"],
    }
}

# ---------------------------------------------------------------------------
# Redis: the channel layer and the shared signaling state (presence, rooms, calls).
#
# REDIS_URL is one URL (redis://, rediss://, unix://) or several separated by commas;
# several shard the channel layer, and shared state lives on the first. For Sentinel,
# set REDIS_SENTINELS=host:port,host:port and REDIS_SENTINEL_MASTER=name instead.
# Unset, it is the private Redis that `make run` starts on var/redis.sock.
# ---------------------------------------------------------------------------
REDIS_URLS = env_list("REDIS_URL", f"unix://{VAR_DIR / 'redis.sock'}")
REDIS_SENTINELS = [(host.rsplit(":", 1)[0], int(host.rsplit(":", 1)[1])) for host in env_list("REDIS_SENTINELS")]
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "mymaster")
REDIS_PASSWORD = os.environ.get("REDIS_PASSWORD") or None
REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "rtc")

if REDIS_SENTINELS:
    _layer_hosts: list = [
        {
            "sentinels": REDIS_SENTINELS,
            "master_name": REDIS_SENTINEL_MASTER,
            **({"password": REDIS_PASSWORD} if REDIS_PASSWORD else {}),
        }
    ]
else:
    _layer_hosts = [{"address": url, **({"password": REDIS_PASSWORD} if REDIS_PASSWORD else {})} for url in REDIS_URLS]

# The cache holds throttle counters; shared in Redis so every process counts the same, with
# Sentinel too (django-redis finds the master through the Sentinels, as the channel layer does).
_cache_options: dict = {"PASSWORD": REDIS_PASSWORD} if REDIS_PASSWORD else {}
if REDIS_SENTINELS:
    _cache_location = f"redis://{REDIS_SENTINEL_MASTER}/0"  # the host part names the Sentinel master
    _cache_options |= {
        "CLIENT_CLASS": "django_redis.client.SentinelClient",
        "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
        "CONNECTION_POOL_CLASS": "redis.sentinel.SentinelConnectionPool",
        "SENTINELS": REDIS_SENTINELS,
    }
else:
    _cache_location = REDIS_URLS[0]
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": _cache_location,
        "KEY_PREFIX": f"{REDIS_PREFIX}:cache",
        "OPTIONS": _cache_options,
    }
}

CHANNEL_LAYERS = {
    "default": {
        # channels_redis pub/sub, PUBLISHes pipelined under load: see docs/architecture.md.
        "BACKEND": "calls.signaling.layers.CoalescingPubSubChannelLayer",
        "CONFIG": {"hosts": _layer_hosts, "prefix": f"{REDIS_PREFIX}:layer:"},
    }
}

# --- Signaling (see docs/protocol.md) --------------------------------------
SIGNALING_MAX_FRAME = env_int("SIGNALING_MAX_FRAME", 64 * 1024)
SIGNALING_RATE = env_float("SIGNALING_RATE", 50.0)  # frames per second, sustained
SIGNALING_BURST = env_int("SIGNALING_BURST", 200)  # frames allowed at once
SIGNALING_CHAT_RATE = env_float("SIGNALING_CHAT_RATE", 1.0)  # chat messages per second, per connection
SIGNALING_CHAT_BURST = env_int("SIGNALING_CHAT_BURST", 5)  # chat messages allowed at once
SIGNALING_ABUSE_LIMIT = env_int("SIGNALING_ABUSE_LIMIT", 100)  # refusals within the window -> 4429
SIGNALING_ABUSE_WINDOW = env_float("SIGNALING_ABUSE_WINDOW", 60.0)  # seconds refusals are counted over
SIGNALING_HEARTBEAT = env_int("SIGNALING_HEARTBEAT", 90)  # seconds of silence before 4408
SIGNALING_RESUME_GRACE = env_int("SIGNALING_RESUME_GRACE", 20)  # seconds
SIGNALING_MAX_ROOMS = env_int("SIGNALING_MAX_ROOMS", 4)  # rooms one connection may join
SIGNALING_MAX_CONNECTIONS = env_int("SIGNALING_MAX_CONNECTIONS", 5000)  # per process; 0 = no cap
SIGNALING_MAX_USER_CONNECTIONS = env_int("SIGNALING_MAX_USER_CONNECTIONS", 10)  # per user, all processes
SIGNALING_MAX_PENDING = env_int("SIGNALING_MAX_PENDING", 4 * 1024 * 1024)  # bytes waiting for a slow reader
# Seconds a process lease lives; renewed every TTL/4. A killed process's peers leave within
# about TTL + TTL/4 (7.5 s); renewals measured at most 0.1 s late under overload.
SIGNALING_NODE_TTL = env_int("SIGNALING_NODE_TTL", 6)
SIGNALING_DRAIN_TIMEOUT = env_float("SIGNALING_DRAIN_TIMEOUT", 10.0)  # seconds to drain on SIGTERM
ROOM_MAX_PEERS = env_int("ROOM_MAX_PEERS", 6)
ROOM_MAX_PEERS_PER_USER = env_int("ROOM_MAX_PEERS_PER_USER", 2)  # connections of one user in one room
CALL_RING_TIMEOUT = env_int("CALL_RING_TIMEOUT", 30)  # seconds before a call is missed
CALL_RING_LIMIT = env_int("CALL_RING_LIMIT", 10)  # calls one user may place per minute
CALL_ABANDON_AFTER = env_int("CALL_ABANDON_AFTER", 60)  # seconds an accepted call's room may stay empty

# --- TURN / STUN (see README "TURN") ---------------------------------------
TURN_SECRETS = env_list("TURN_SECRETS")  # first one signs; all are accepted by coturn
TURN_URLS = env_list("TURN_URLS")
STUN_URLS = env_list("STUN_URLS")
TURN_TTL = env_int("TURN_TTL", 3600)
ICE_TRANSPORT_POLICY = os.environ.get("ICE_TRANSPORT_POLICY", "all")
if ICE_TRANSPORT_POLICY not in ("all", "relay"):
    raise ImproperlyConfigured("ICE_TRANSPORT_POLICY must be 'all' or 'relay'")

# --- Observability and retention -------------------------------------------
# Addresses (IPs or CIDR ranges) that may read /metrics; empty (the default) turns it off.
METRICS_ALLOWED = env_list("METRICS_ALLOWED")
RETENTION_DAYS = env_int("RETENTION_DAYS", 90)

# --- REST API --------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an unauthenticated request a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "calls.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "turn": os.environ.get("TURN_THROTTLE_RATE", "30/min"),
        "writes": os.environ.get("API_WRITE_THROTTLE_RATE", "60/min"),
        # Sign-in and password reset (calls/throttles.py KeyThrottle): failures per account and per
        # client address; reset mails per e-mail address and requests per client address.
        "login": os.environ.get("LOGIN_THROTTLE_RATE", "10/hour"),
        "login_address": os.environ.get("LOGIN_ADDRESS_THROTTLE_RATE", "30/hour"),
        "password_reset": os.environ.get("PASSWORD_RESET_THROTTLE_RATE", "3/hour"),
        "password_reset_address": os.environ.get("PASSWORD_RESET_ADDRESS_THROTTLE_RATE", "10/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "rtcsite API",
    "DESCRIPTION": "Rooms, calls, presence and TURN credentials for rtcsite clients.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's assets come from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging: one JSON object per line on stdout, with the request/connection id. ---
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "calls.logs.ContextFilter"}},
    "formatters": {"json": {"()": "calls.logs.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["context"],
            "formatter": "json",
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
