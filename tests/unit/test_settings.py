"""Settings from the environment: production refuses a missing secret and passes check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

BASE = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "rtcsite.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k2#pX9!vQ7@mZ4$wL8^nR3&tY6*bJ1(cF5)hD0_gS2-aE7+uK9=oI4",
    "DJANGO_ALLOWED_HOSTS": "example.com",
    "CSRF_TRUSTED_ORIGINS": "https://example.com",
    "TURN_URLS": "turn:turn.example.com:3478",
    "TURN_SECRETS": "turn-secret",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "RTCSITE_", "TURN_", "REDIS_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**PRODUCTION, "RTCSITE_VAR_DIR": str(tmp_path)}
    del env["DJANGO_SECRET_KEY"]
    result = manage("check", **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_check_deploy_is_clean_for_production_settings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, RTCSITE_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_bad_values_are_named(tmp_path):
    result = manage("check", **PRODUCTION, RTCSITE_VAR_DIR=str(tmp_path), SIGNALING_RATE="fast")
    assert result.returncode != 0 and "SIGNALING_RATE must be a number" in result.stderr
    result = manage("check", **PRODUCTION, RTCSITE_VAR_DIR=str(tmp_path), ICE_TRANSPORT_POLICY="never")
    assert result.returncode != 0 and "ICE_TRANSPORT_POLICY" in result.stderr
