"""URL configuration: the site pages, accounts, admin, health and the REST API."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("calls.urls")),
]
