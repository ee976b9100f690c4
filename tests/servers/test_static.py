"""Plain `daphne rtcsite.asgi:application` serves the site and its static files (no collectstatic)."""

import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str):
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_daphne_serves_static_files_and_pages(daphne_factory):
    node = daphne_factory("static")
    status, headers, body = fetch(f"{node.url}/static/calls/css/site.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css") and ".topbar" in body
    status, headers, body = fetch(f"{node.url}/static/calls/js/call.js")
    assert status == 200 and "javascript" in headers["Content-Type"] and "PeerLink" in body
    status, _, body = fetch(f"{node.url}/login/")
    assert status == 200 and "Log in" in body
    status, headers, _ = fetch(f"{node.url}/")
    assert status == 302 and headers["Location"].startswith("/login/")
