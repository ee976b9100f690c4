"""Liveness and readiness, against a real Redis that a test stops and starts again."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_is_public(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_ok_when_database_and_redis_answer(client, redis):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_503_names_redis_while_it_is_down_and_recovers(client, redis, caplog):
    redis.proc.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"] == {"database": "ok", "redis": "error"}  # no exception text, hosts or ports
    assert "Error" not in response.content.decode() and redis.url.rsplit("/", 1)[-1] not in response.content.decode()
    logged = [r for r in caplog.records if r.name == "calls.health" and "redis" in r.getMessage()]
    assert logged and logged[0].exc_info  # the detail is in the log
    redis.restart()
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
