"""HTTP middleware: proxy headers trusted only from configured proxies, and request ids."""

from __future__ import annotations

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
