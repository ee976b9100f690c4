"""URL configuration: the site pages, accounts, admin, health, the JavaScript catalog and the REST API."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.urls import include, path
from django.utils import translation
from django.views.decorators.cache import cache_control
from django.views.i18n import JavaScriptCatalog

from calls.health import metrics_view

LANGUAGE_CODES = {code for code, _ in settings.LANGUAGES}
_catalog = JavaScriptCatalog.as_view(domain="djangojs")


@login_not_required
@cache_control(public=True, max_age=3600)
def javascript_catalog(request, language: str):
    """The ES modules' translations (a classic script, so 'self' in script-src covers it).

    The language is in the URL, not taken from the request, so a cached copy is right for
    everyone who asks for that URL and a user who switches language fetches a new one. An
    hour of caching: after a deploy, a string added since shows in English until then.
    """
    if language not in LANGUAGE_CODES:
        raise Http404("No such language")
    with translation.override(language):
        response = _catalog(request)
    response["Content-Language"] = language  # LocaleMiddleware keeps it (it names the request's otherwise)
    return response


urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("jsi18n/<str:language>/", javascript_catalog, name="javascript-catalog"),
    path("", include("calls.urls")),
]
