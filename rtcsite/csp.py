"""Content-Security-Policy: django-csp's middleware, plus the WebSocket origins of the request's host.

Every page runs only the site's own scripts and styles (nothing inline); the call page
also needs camera streams and blob URLs for media and a WebSocket back to the same host.
CSP level 3 browsers let 'self' cover ws:/wss: of the page's host, older ones do not, so
the host's ws:// and wss:// origins are named in connect-src for each request.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """CSPMiddleware whose connect-src also names ws:// and wss:// of the request's own host."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), f"ws://{host}", f"wss://{host}"]
        parts.update = update
        return parts
