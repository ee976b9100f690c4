"""daphne serves the site and the collected static files under hashed names, cacheable for ever.

Every daphne of the test run serves the STATIC_ROOT that `collectstatic` filled once
(tests/conftest.py `collected_static`), as production does after its migrate unit.
"""

import re
import urllib.error
import urllib.request

import pytest
from django.contrib.auth import get_user_model

from calls.models import Room
from tests.helpers import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, cookie: str | None = None):
    opener = urllib.request.build_opener(NoRedirect)
    if cookie:
        opener.addheaders = [("Cookie", f"sessionid={cookie}")]
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


HASHED = re.compile(r"/static/(calls/(?:js|css)/[a-z]+)\.([0-9a-f]{12})\.(js|css)")


def test_pages_link_hashed_names_served_for_a_year_and_modules_import_hashed_names(daphne_factory):
    node = daphne_factory("static")
    user = get_user_model().objects.create_user("alice", "alice@example.com", "pw-0123456789")
    room = Room.objects.create(name="r", owner=user)
    status, _, page = fetch(f"{node.url}/r/{room.pk}/", cookie=session_cookie(user))
    assert status == 200
    linked = {match.group(1): match.group(0) for match in HASHED.finditer(page)}
    assert {"calls/css/site", "calls/js/call"} <= set(linked), page
    assert "/static/calls/js/call.js" not in page and "/static/calls/css/site.css" not in page
    for url in linked.values():
        status, headers, _ = fetch(f"{node.url}{url}")
        assert status == 200, url
        cache = headers["Cache-Control"]
        assert "immutable" in cache and int(re.search(r"max-age=(\d+)", cache).group(1)) >= 365 * 86400, cache
    # the modules call.js imports are rewritten to their hashed names, and those serve too
    _, _, call_js = fetch(f"{node.url}{linked['calls/js/call']}")
    imports = re.findall(r'from "\./([^"]+)"', call_js)
    assert imports and all(re.fullmatch(r"[a-z0-9]+\.[0-9a-f]{12}\.js", name) for name in imports), imports
    for name in imports:
        status, headers, _ = fetch(f"{node.url}/static/calls/js/{name}")
        assert status == 200 and "immutable" in headers["Cache-Control"], name
