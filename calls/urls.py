"""Site URLs: pages, accounts, health and the REST API."""

from django.urls import include, path

from calls import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/", include("calls.api_urls")),
]
