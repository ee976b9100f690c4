"""Real calls in headless Chromium: two users on two daphne processes, media relayed by coturn.

ICE_TRANSPORT_POLICY=relay, so a connected call proves TURN credentials, signaling across
processes and the page's WebRTC code together. Everything is read from the pages
themselves (window.rtc, the DOM).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from calls.models import Call, Room
from tests.browser.pages import RING_TIMEOUT, grows, join_call, path_stats, stats, until, wait_connected
from tests.helpers import PASSWORD, make_user

# Playwright's sync API runs an event loop in this thread; the ORM calls in these tests are
# plain blocking calls between page actions.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def wait_stopped(page, field: str, timeout: float = 15) -> None:
    """Until `field` of the (single) remote peer stays the same for a second."""
    until(
        page,
        """async (field) => { const s1 = await window.rtc.stats(); await new Promise(r => setTimeout(r, 1000));
            const s2 = await window.rtc.stats(); const p = Object.keys(s2)[0];
            return s2[p][field] === s1[p][field]; }""",
        timeout,
        f"{field} to stay the same for a second",
        field,
    )


def test_direct_call_rings_every_tab_connects_through_turn_and_ends(open_page):
    alice, ca = make_user("alice")
    bob, cb = make_user("bob")
    caller = open_page(ca, 0, "/?q=bob")
    tab1 = open_page(cb, 1, "/")
    tab2 = open_page(cb, 0, "/")
    for page in (caller, tab1, tab2):
        page.wait_for_function("() => window.rtcSignaling && window.rtcSignaling.open", timeout=10000)
    caller.locator(".call-button[data-username=bob]").click()
    expect(caller.locator("#call-banner")).to_contain_text("Ringing", timeout=10000)
    for tab in (tab1, tab2):
        expect(tab.locator("#call-banner")).to_contain_text("alice is calling", timeout=10000)
    tab1.locator("[data-call-action=accept]").click()
    expect(tab2.locator("#call-banner")).to_contain_text("Answered elsewhere", timeout=10000)
    tab1.wait_for_url("**/r/*/?call=*", timeout=10000)
    caller.wait_for_url("**/r/*/?call=*", timeout=10000)
    for page in (caller, tab1):
        # an accepted call shows the pre-join screen too, ready to go with one key
        expect(page.locator("#join-now")).to_be_focused(timeout=10000)
        page.keyboard.press("Enter")
    wait_connected(caller)
    wait_connected(tab1)
    for page in (caller, tab1):
        for peer_stats in path_stats(page).values():
            assert peer_stats["localType"] == "relay" and peer_stats["remoteType"] == "relay", peer_stats
        assert grows(page, "videoBytes"), "inbound video does not flow"
        page.wait_for_function("() => document.querySelector('.remote-video').videoWidth > 0", timeout=10000)
    ARTIFACTS.mkdir(exist_ok=True)
    caller.screenshot(path=str(ARTIFACTS / "call.png"))
    caller.locator("#hangup").click()
    caller.locator("#leave-confirm").click()
    expect(tab1.locator("#call-banner")).to_contain_text("ended", timeout=10000)
    expect(tab1.locator("#notice")).to_contain_text("The call ended", timeout=10000)
    call = Call.objects.get(caller=alice, callee=bob)
    assert call.state == "ended" and call.answered_at and call.ended_at and call.duration.total_seconds() > 0
    assert call.ended_by_id == alice.pk


def test_decline_cancel_missed_and_busy(open_page):
    _, ca = make_user("alice")
    _, cb = make_user("bob")
    _, cc = make_user("carol")
    caller = open_page(ca, 0, "/?q=bob")
    callee = open_page(cb, 1, "/")
    for page in (caller, callee):
        page.wait_for_function("() => window.rtcSignaling && window.rtcSignaling.open", timeout=10000)
    banner, ring = caller.locator("#call-banner"), callee.locator("#call-banner")

    caller.locator(".call-button[data-username=bob]").click()
    expect(ring).to_contain_text("alice is calling", timeout=10000)
    callee.locator("[data-call-action=decline]").click()
    expect(banner).to_contain_text("declined", timeout=10000)

    caller.locator(".call-button[data-username=bob]").click()
    expect(ring).to_contain_text("alice is calling", timeout=10000)
    caller.locator("[data-call-action=cancel]").click()
    expect(ring).to_contain_text("hung up before you answered", timeout=10000)

    caller.locator(".call-button[data-username=bob]").click()
    expect(ring).to_contain_text("alice is calling", timeout=10000)
    expect(banner).to_contain_text("missed", timeout=(RING_TIMEOUT + 10) * 1000)
    expect(ring).to_contain_text("Missed call from alice", timeout=10000)
    assert list(Call.objects.order_by("created_at").values_list("state", flat=True)) == [
        "declined",
        "cancelled",
        "missed",
    ]

    # busy: bob accepts carol's call and is in it; alice's call gets "busy"
    carol = open_page(cc, 0, "/?q=bob")
    carol.wait_for_function("() => window.rtcSignaling && window.rtcSignaling.open", timeout=10000)
    carol.locator(".call-button[data-username=bob]").click()
    expect(ring).to_contain_text("carol is calling", timeout=10000)
    callee.locator("[data-call-action=accept]").click()
    callee.wait_for_url("**/r/*/?call=*", timeout=10000)
    carol.wait_for_url("**/r/*/?call=*", timeout=10000)
    join_call(callee)
    join_call(carol)
    wait_connected(callee)
    caller.locator(".call-button[data-username=bob]").click()
    expect(banner).to_contain_text("busy", timeout=10000)


def test_three_people_in_a_room_across_two_processes(open_page):
    owner, co = make_user("owner")
    room = Room.objects.create(name="Standup", owner=owner)
    cookies = [co, make_user("bob")[1], make_user("carol")[1]]
    pages = [open_page(cookie, i % 2, f"/r/{room.pk}/") for i, cookie in enumerate(cookies)]
    for page in pages:
        wait_connected(page, peers=2)
    for page in pages:
        all_stats = stats(page)
        assert len(all_stats) == 2 and all(s["relayed"] for s in all_stats.values())
    assert grows(pages[2], "videoBytes")
    # the administrator sees all three, on both processes
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    admin = open_page(None, 0, "/admin/login/?next=/admin/calls/activepeer/")
    admin.fill("#id_username", "root")
    admin.fill("#id_password", PASSWORD)
    admin.click("input[type=submit]")
    expect(admin.locator("tr.rtc-peer")).to_have_count(3, timeout=10000)
    nodes = admin.eval_on_selector_all("tr.rtc-peer", "rows => rows.map(r => r.dataset.node)")
    assert len(set(nodes)) == 2
    ARTIFACTS.mkdir(exist_ok=True)
    admin.screenshot(path=str(ARTIFACTS / "active-peers.png"), full_page=True)


def call_in_a_room(open_page):
    """A room with two connected users, the first on process 0, the second on process 1."""
    owner, co = make_user("owner")
    room = Room.objects.create(name="Standup", owner=owner)
    a = open_page(co, 0, f"/r/{room.pk}/")
    b = open_page(make_user("bob")[1], 1, f"/r/{room.pk}/")
    wait_connected(a)
    wait_connected(b)
    return room, a, b


def test_call_survives_a_restart_of_the_callers_process(open_page, servers):
    room, a, b = call_in_a_room(open_page)
    peer_before = a.evaluate("() => window.rtc.signaling.peer")
    # TURN credentials are refreshed from the API before they expire (TURN_TTL is short here)
    a.wait_for_function("() => window.rtc.turnRefreshedAt > 0", timeout=15000)
    servers[0].restart()  # SIGTERM (drain: reconnect frame, 4001), then a new process on the same port
    a.wait_for_function(
        "(peer) => window.rtc.signaling.open && window.rtc.signaling.peer === peer", arg=peer_before, timeout=30000
    )
    assert a.evaluate("() => document.location.pathname") == f"/r/{room.pk}/"  # no reload
    # signaling works end to end again: an ICE restart renegotiates through the new process
    a.evaluate("() => { for (const {link} of window.rtc.links.values()) link.restartIce(); }")
    wait_connected(a)
    wait_connected(b)
    assert grows(b, "videoBytes") and grows(a, "videoBytes")


def test_mute_camera_off_and_screen_share_are_seen_by_the_other_side(open_page):
    _, a, b = call_in_a_room(open_page)
    assert grows(b, "audioBytes") and grows(b, "framesDecoded")
    a.locator("#mute").click()
    expect(a.locator("#mute")).to_have_text("Unmute")
    wait_stopped(b, "audioBytes")
    a.locator("#camera").click()
    wait_stopped(b, "framesDecoded")
    a.locator("#mute").click()
    a.locator("#camera").click()
    assert grows(b, "audioBytes") and grows(b, "framesDecoded")
    a.locator("#screen").click()  # a second video track: the camera keeps going
    a.wait_for_function(
        """() => { const local = window.rtc.state.local; if (!local.screen) return false;
            return [...window.rtc.links.values()].every(({link}) =>
                link.transceivers.screen.sender.track === local.screen
                && link.video.sender.track === local.camera); }""",
        timeout=15000,
    )
    assert grows(b, "framesDecoded")
    a.locator("#screen").click()  # stop sharing
    a.wait_for_function(
        """() => [...window.rtc.links.values()].every(({link}) => link.transceivers.screen.sender.track === null
            && link.video.sender.track === window.rtc.state.local.camera)""",
        timeout=10000,
    )


# At `at` (ms since the epoch, the same clock for every page here), the page's one link adds a
# receive-only video transceiver and restarts ICE: with both pages doing it, both offer at once.
RENEGOTIATE_AT = """(at) => {
    const { link } = [...window.rtc.links.values()][0];
    window.negotiationErrors = [];
    link.addEventListener("error", ({ detail }) => window.negotiationErrors.push(`${detail.step}: ${detail.error}`));
    setTimeout(() => { link.pc.addTransceiver("video", { direction: "recvonly" }); link.restartIce(); },
               at - Date.now());
}"""
NEGOTIATED = """(transceivers) => [...window.rtc.links.values()].every(({ link }) =>
    link.pc.signalingState === "stable" && link.state === "connected" &&
    link.pc.getTransceivers().length === transceivers && link.pc.getTransceivers().every(t => t.mid !== null))"""
# Applying an answer takes the impolite side this long (a slow phone): an offer that arrives
# meanwhile must wait for it, not be taken for glare and dropped.
SLOW_ANSWERS = """(ms) => {
    const { link } = [...window.rtc.links.values()][0];
    const apply = link.pc.setRemoteDescription.bind(link.pc);
    let queue = Promise.resolve(); // in order, like the connection's own operations chain
    link.pc.setRemoteDescription = (description) => {
        const done = queue.then(async () => {
            if (description.type === "answer") await new Promise(r => setTimeout(r, ms));
            return apply(description);
        });
        queue = done.catch(() => {});
        return done;
    };
}"""


def test_both_sides_renegotiate_at_once(open_page):
    _, a, b = call_in_a_room(open_page)
    impolite = a if not a.evaluate("() => [...window.rtc.links.values()][0].link.polite") else b
    impolite.evaluate(SLOW_ANSWERS, 300)
    at = a.evaluate("() => Date.now()") + 1000
    for page in (a, b):
        page.evaluate(RENEGOTIATE_AT, at)
    for page in (a, b):
        # the four of the call (microphone, camera, screen, screen sound), the other side's new one, and ours
        page.wait_for_function(NEGOTIATED, arg=6, timeout=20000)
    for page in (a, b):
        assert page.evaluate("() => window.negotiationErrors") == []
        assert grows(page, "videoBytes"), "inbound video does not flow after the glare"


def test_a_negotiation_failure_is_shown_and_logged(open_page):
    room, a, b = call_in_a_room(open_page)
    logged = []
    a.on("console", lambda message: message.type == "error" and logged.append(message.text))
    # an answer to no offer of a's: setRemoteDescription fails in the "stable" state
    b.evaluate(
        """([room, to]) => window.rtc.signaling.send(
            { type: "answer", room, to, payload: { type: "answer", sdp: "v=0\\r\\n" } })""",
        [str(room.pk), a.evaluate("() => window.rtc.signaling.peer")],
    )
    expect(a.locator("#notice.error")).to_contain_text("applying the remote answer", timeout=10000)
    assert any("applying the remote answer failed" in text for text in logged), logged
    wait_connected(a)  # a stray answer breaks nothing
    assert grows(a, "videoBytes")
    ARTIFACTS.mkdir(exist_ok=True)
    a.screenshot(path=str(ARTIFACTS / "negotiation-error.png"))
    a.set_viewport_size({"width": 390, "height": 844})
    a.screenshot(path=str(ARTIFACTS / "negotiation-error-phone.png"))


def test_joining_without_camera_or_microphone_is_watch_only(open_page, browser, servers):
    owner, co = make_user("owner")
    room = Room.objects.create(name="Standup", owner=owner)
    speaker = open_page(co, 0, f"/r/{room.pk}/")
    _, cb = make_user("bob")
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": cb, "url": servers[1].url}])
    context.add_init_script(
        """navigator.mediaDevices.getUserMedia = async () => {
               throw new DOMException("denied", "NotAllowedError"); };"""
    )
    viewer = context.new_page()
    viewer.goto(f"{servers[1].url}/r/{room.pk}/")
    expect(viewer.locator("#prejoin-message")).to_contain_text("access is blocked", timeout=10000)
    expect(viewer.locator("#prejoin-message")).to_contain_text("join to listen and watch")
    join_call(viewer)
    expect(viewer.locator("#notice")).to_contain_text("listen and watch", timeout=10000)
    wait_connected(viewer)
    wait_connected(speaker)
    assert grows(viewer, "videoBytes")
    expect(viewer.locator("#notice")).to_contain_text("listen and watch")  # still said once connected
    expect(viewer.locator("#mute")).to_be_disabled()
    context.close()


def test_anonymous_visitor_goes_to_login_and_outsiders_are_forbidden(open_page):
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    _, cm = make_user("mallory")
    direct = Room.objects.create(name="alice and bob", owner=alice, kind=Room.Kind.DIRECT)
    direct.members.add(alice, bob)
    anonymous = open_page(None, 0, f"/r/{direct.pk}/")
    assert "/login/" in anonymous.url and "next=" in anonymous.url
    expect(anonymous.locator("h1")).to_have_text("Log in")
    outsider = open_page(cm, 1, f"/r/{direct.pk}/")
    expect(outsider.locator("h1")).to_have_text("Forbidden")
    expect(outsider.locator("#forbidden-reason")).to_contain_text("private")


def test_pages_fit_a_phone(open_page):
    owner, co = make_user("owner")
    room = Room.objects.create(name="Standup", owner=owner)
    phone = {"width": 390, "height": 844}
    home = open_page(co, 0, "/", viewport=phone)
    call = open_page(co, 1, f"/r/{room.pk}/", viewport=phone, join=False)
    expect(call.locator("#join-now")).to_be_enabled()
    ARTIFACTS.mkdir(exist_ok=True)
    for page, name in ((home, "home-phone"), (call, "prejoin-phone"), (call, "call-phone")):
        if name == "call-phone":
            join_call(call)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def teardown_module(module):
    shot = ARTIFACTS / "call.png"
    if shot.exists() and os.environ.get("RTCSITE_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "call.png")
