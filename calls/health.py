"""Operator endpoints: liveness and readiness (public, for load balancers and systemd) and metrics."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from calls.net import address_in
from calls.signaling import metrics, store

log = logging.getLogger(__name__)


@never_cache
@login_not_required
@require_GET
def healthz(request):
    """The process is alive and serving HTTP."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    store.get_sync().ping()


@never_cache
@login_not_required
@require_GET
def readyz(request):
    """Database and Redis answer; 503 naming what failed otherwise.

    The response is public, so a failing check says only `error`; what went wrong (with
    hosts and ports) goes to the log.
    """
    checks = {"database": _check_database, "redis": _check_redis}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
        except Exception:  # any failure means not ready; the log says why
            log.exception("readiness check %s failed", name)
            results[name] = "error"
        else:
            results[name] = "ok"
    failing = [name for name, result in results.items() if result != "ok"]
    body = {"status": "ok" if not failing else "unavailable", "checks": results}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


@never_cache
@login_not_required
@require_GET
def metrics_view(request):
    """Prometheus exposition, only for METRICS_ALLOWED addresses."""
    if not address_in(request.META.get("REMOTE_ADDR"), settings.METRICS_ALLOWED):
        return HttpResponseForbidden("metrics are not available from this address\n", content_type="text/plain")
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
