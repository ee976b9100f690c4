"""URL configuration: the site pages, accounts, admin, health and the REST API."""

from django.contrib import admin
from django.urls import include, path

from calls.health import metrics_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("calls.urls")),
]
