"""HTTP middleware: proxy headers trusted only from configured proxies, request ids, the profile language."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils import translation

from calls.logs import context_id, new_id
from calls.net import client_address, is_trusted_proxy


class ProxyHeadersMiddleware:
    """Rewrites REMOTE_ADDR from X-Forwarded-For and keeps X-Forwarded-Proto, only behind a trusted proxy.

    From anyone else both headers are dropped, so SECURE_PROXY_SSL_HEADER cannot be spoofed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        peer = request.META.get("REMOTE_ADDR")
        if is_trusted_proxy(peer):
            request.META["RTCSITE_VIA_PROXY"] = True
            request.META["REMOTE_ADDR"] = client_address(peer, request.META.get("HTTP_X_FORWARDED_FOR"))
        else:
            request.META.pop("HTTP_X_FORWARDED_FOR", None)
            request.META.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)


class RequestIdMiddleware:
    """Gives each request an id (or keeps a trusted proxy's X-Request-ID) for logs and the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = request.META.get("HTTP_X_REQUEST_ID") if request.META.get("RTCSITE_VIA_PROXY") else None
        request.id = (rid or new_id())[:64]
        token = context_id.set(request.id)
        try:
            response = self.get_response(request)
        finally:
            context_id.reset(token)
        response["X-Request-ID"] = request.id
        return response


class ProfileLanguageMiddleware:
    """Activates the signed-in user's profile language, when set, over LocaleMiddleware's choice.

    It sits after AuthenticationMiddleware (it needs request.user), and so after LocaleMiddleware,
    which sits between sessions and common and picks from Accept-Language; an empty
    Profile.language keeps that choice. The profile is read through `user.profile`, which
    caches it on the user, so the page's own use of it (the name in the top bar) costs no
    second query. The language follows the account, not a cookie, so it holds on every
    browser the user signs in from.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.languages = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        language = self.profile_language(request)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)

    def profile_language(self, request) -> str | None:
        """The user's chosen language if it is one the site offers; None for anonymous users or no choice."""
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        try:
            language = user.profile.language
        except ObjectDoesNotExist:
            return None
        return language if language in self.languages else None
