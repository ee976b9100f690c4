"""The Content-Security-Policy in Chromium: a call connects and the admin works with no violation."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from calls.models import Room
from tests.browser.pages import join_call, wait_connected
from tests.helpers import PASSWORD, make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

# Every violation the page sees, from the first script on (before the site's own).
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.fixture(scope="module")
def servers(cluster_factory, tmp_path_factory, request):
    """Two daphne processes and a coturn, relay-only calls."""
    return cluster_factory(
        request, tmp_path_factory.mktemp("csp"), name="csp", coturn=True, ICE_TRANSPORT_POLICY="relay"
    )


@pytest.fixture
def open_page(browser, servers):
    """open_page(cookie, node, path) -> (page, console messages about the policy)."""
    contexts = []

    def open_(cookie: str | None, node: int, path: str):
        context = browser.new_context()
        contexts.append(context)
        context.add_init_script(RECORD_VIOLATIONS)
        if cookie:
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": servers[node].url}])
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{servers[node].url}{path}")
        if page.locator("#join-now").count():
            join_call(page)
        return page, console

    yield open_
    for context in contexts:
        context.close()


def assert_no_violation(page, console: list[str]) -> None:
    assert page.evaluate("() => window.cspViolations") == [], page.url
    assert console == [], page.url


def test_a_call_connects_under_the_policy_without_violations(open_page):
    owner, co = make_user("owner")
    room = Room.objects.create(name="Standup", owner=owner)
    a, ca = open_page(co, 0, f"/r/{room.pk}/")
    b, cb = open_page(make_user("bob")[1], 1, f"/r/{room.pk}/")
    for page in (a, b):
        wait_connected(page)
        page.wait_for_function("() => document.querySelector('.tile:not(.local) video')?.videoWidth > 0")
    policy = a.evaluate("async () => (await fetch(location.href)).headers.get('content-security-policy')")
    assert "default-src 'self'" in policy
    assert_no_violation(a, ca)
    assert_no_violation(b, cb)


def test_an_inline_script_is_refused(open_page):
    """The policy is enforced, not only sent: the recorder sees a refused inline script."""
    _, cookie = make_user("eve")
    page, _ = open_page(cookie, 0, "/")
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.ran = 1";
        document.body.append(s); }""")
    page.wait_for_function("() => window.cspViolations.length > 0")
    assert page.evaluate("() => window.ran") is None
    assert "script-src" in page.evaluate("() => window.cspViolations[0]")


def test_admin_pages_and_their_scripts_work_under_the_policy(open_page):
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    make_user("bob")
    page, console = open_page(None, 0, "/admin/login/?next=/admin/auth/user/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/auth/user/")
    # actions.js: the header checkbox selects every row and updates the counter
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_contain_text("2 of 2 selected")
    assert_no_violation(page, console)
    for path in ("/admin/", "/admin/calls/activepeer/", "/admin/auth/user/add/", "/api/docs/"):
        page.goto(page.url.split("/admin/")[0] + path)
        page.wait_for_load_state("networkidle")
        assert_no_violation(page, console)
    # the API docs rendered from their own script file
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("rtcsite API")
