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


def test_readyz_503_names_redis_while_it_is_down_and_recovers(client, redis):
    redis.proc.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    redis.restart()
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
