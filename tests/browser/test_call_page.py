"""The call page people use: pre-join choices, HD video, media state, screen share, active speaker.

Every page is a user of its own on one of the two daphne processes of the shared cluster,
relay-only through coturn; everything is read from the pages (the DOM, window.rtc).
"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from calls.models import Room
from tests.browser.pages import grows, join_call, wait_connected
from tests.helpers import make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

WAIT = 20_000  # ms: frames across two processes and media through coturn on a busy 2-core machine


def peer_of(page: Page) -> str:
    return page.evaluate("() => window.rtc.signaling.peer")


def tile(page: Page, peer: str, screen: bool = False):
    return page.locator(f'#remotes figure.tile{".screen" if screen else ":not(.screen)"}[data-peer="{peer}"]')


def video_width(page: Page, peer: str, screen: bool = False, at_least: int = 1) -> None:
    """Until the peer's (camera or screen) video on this page plays at least this wide."""
    page.wait_for_function(
        """([sel, w]) => document.querySelector(sel)?.videoWidth >= w""",
        arg=[f'#remotes figure.tile{".screen" if screen else ":not(.screen)"}[data-peer="{peer}"] video', at_least],
        timeout=40_000,
    )


def has(*classes: str) -> re.Pattern:
    """A class attribute with all these classes, in any order."""
    return re.compile("".join(rf"(?=.*\b{name}\b)" for name in classes))


def pick_last(page: Page, select: str) -> str:
    """Choose the last device of a picker (not the default one) and return its id."""
    value = page.locator(f"{select} option").last.get_attribute("value")
    page.select_option(select, value)
    return value


# The send limits of the camera on each of the page's links.
CAMERA_LIMITS = """[...window.rtc.links.values()].map(({link}) => {
    const e = link.video.sender.getParameters().encodings[0] || {};
    return {maxBitrate: e.maxBitrate || 0, scale: e.scaleResolutionDownBy || 1};
})"""


def camera_limits(page: Page) -> list[dict]:
    return page.evaluate("() => " + CAMERA_LIMITS)


def wait_links(page: Page, count: int) -> None:
    page.wait_for_function("(n) => window.rtc.links.size === n", arg=count, timeout=WAIT)


def test_prejoin_choices_hd_video_media_state_and_screen_share(open_page):
    owner, ca = make_user("ann")
    room = Room.objects.create(name="Design review", owner=owner)
    path = f"/r/{room.pk}/"
    ann = open_page(ca, 0, path, join=False)
    expect(ann.locator("#join-now")).to_be_enabled(timeout=WAIT)
    expect(ann.locator("#prejoin-video")).to_be_visible()
    ann.wait_for_function("() => document.querySelector('#mic-level').value > 0", timeout=WAIT)  # the meter moves
    camera_id = pick_last(ann, "#camera-select")
    mic_id = pick_last(ann, "#mic-select")
    ann.locator("#prejoin-mic").click()  # join muted
    expect(ann.locator("#prejoin-mic")).to_have_attribute("aria-pressed", "true")
    ann.wait_for_function(
        "(id) => window.localStorage.getItem('rtcsite.media')?.includes(id)", arg=mic_id, timeout=WAIT
    )

    # The choices are remembered by the browser: a second visit starts from them.
    again = ann.context.new_page()
    again.goto(ann.url)
    expect(again.locator("#join-now")).to_be_enabled(timeout=WAIT)
    expect(again.locator("#mic-select")).to_have_value(mic_id)
    expect(again.locator("#camera-select")).to_have_value(camera_id)
    expect(again.locator("#prejoin-mic")).to_have_attribute("aria-pressed", "true")
    again.close()

    join_call(ann)
    settings = ann.evaluate(
        "() => ({ mic: window.rtc.state.local.mic.getSettings().deviceId,"
        " camera: window.rtc.state.local.camera.getSettings().deviceId })"
    )
    assert settings == {"mic": mic_id, "camera": camera_id}
    ben = open_page(make_user("ben")[1], 1, path)
    wait_connected(ann)
    wait_connected(ben)
    a, b = peer_of(ann), peer_of(ben)

    # Ann joined muted: Ben sees it at once, from the media state (not from silence).
    expect(tile(ben, a).locator(".muted-indicator")).to_be_visible(timeout=WAIT)
    expect(tile(ben, a).locator(".camera-off-indicator")).to_be_hidden()
    expect(tile(ben, a).locator(".name")).to_have_text("ann")
    expect(tile(ann, b).locator(".muted-indicator")).to_be_hidden()

    # A 1:1 call is HD: Ben receives Ann's camera at least 640 px wide.
    video_width(ben, a, at_least=640)

    # Camera off and on, unmute: the other process's page follows.
    ann.locator("#camera").click()
    expect(tile(ben, a).locator(".camera-off-indicator")).to_be_visible(timeout=WAIT)
    assert ann.evaluate("() => window.rtc.state.local.camera") is None  # the camera is released
    ann.locator("#camera").click()
    ann.locator("#mute").click()
    expect(tile(ben, a).locator(".camera-off-indicator")).to_be_hidden(timeout=WAIT)
    expect(tile(ben, a).locator(".muted-indicator")).to_be_hidden(timeout=WAIT)

    # A screen share is a tile of its own; Ann's camera tile stays and keeps playing.
    ann.locator("#screen").click()
    expect(tile(ben, a, screen=True)).to_be_visible(timeout=WAIT)
    video_width(ben, a, screen=True)
    expect(tile(ben, a)).to_be_visible()
    ben.wait_for_function(
        """(sel) => { const v = document.querySelector(sel); const t = v.currentTime;
            return new Promise(r => setTimeout(() => r(v.currentTime > t), 500)); }""",
        arg=f'#remotes figure.tile:not(.screen)[data-peer="{a}"] video',
        timeout=WAIT,
    )
    expect(ann.locator("#screen")).to_have_attribute("aria-pressed", "true")
    # The browser's own "Stop sharing" bar ends the track: the share tile goes away everywhere.
    ann.evaluate("() => window.rtc.state.local.screen.dispatchEvent(new Event('ended'))")
    expect(tile(ben, a, screen=True)).to_be_hidden(timeout=WAIT)
    expect(ann.locator("#screen")).to_have_attribute("aria-pressed", "false")


def test_active_speaker_layouts_and_hands_across_processes(open_page):
    owner, ca = make_user("ann")
    room = Room.objects.create(name="Standup", owner=owner)
    path = f"/r/{room.pk}/"
    pages = {}
    for i, (name, cookie) in enumerate((("ann", ca), ("ben", make_user("ben")[1]), ("cat", make_user("cat")[1]))):
        page = open_page(cookie, i % 2, path, join=False)
        if name != "cat":
            page.locator("#prejoin-mic").click()  # only Cat's microphone is live
        join_call(page)
        pages[name] = page
    for page in pages.values():
        wait_connected(page, peers=2)
    ann, ben, cat = pages["ann"], pages["ben"], pages["cat"]
    b, c = peer_of(ben), peer_of(cat)

    expect(tile(ann, c)).to_have_class(has("speaking"), timeout=WAIT)
    expect(tile(ann, b)).not_to_have_class(has("speaking"))

    # The speaker view puts the active speaker large.
    ann.locator("#layout").click()
    expect(ann.locator("#stage")).to_have_attribute("data-layout", "speaker")
    expect(tile(ann, c)).to_have_class(has("featured", "speaking"), timeout=WAIT)

    # Cat mutes, Ben speaks: the highlight and the large tile move to Ben.
    cat.keyboard.press("m")  # the shortcut
    expect(cat.locator("#mute")).to_have_attribute("aria-pressed", "true")
    ben.locator("#mute").click()
    expect(tile(ann, b)).to_have_class(has("featured", "speaking"), timeout=WAIT)
    expect(tile(ann, c)).not_to_have_class(has("speaking"), timeout=WAIT)

    # A raised hand shows its place in the queue on every page.
    ben.keyboard.press("h")
    cat.locator("#hand").click()
    expect(tile(ann, b).locator(".hand-indicator")).to_have_text("Hand raised, place 1", timeout=WAIT)
    expect(tile(ann, c).locator(".hand-indicator")).to_have_text("Hand raised, place 2", timeout=WAIT)
    expect(ben.locator("#hand")).to_have_attribute("aria-pressed", "true")
    ann.locator("#layout").click()
    expect(ann.locator("#stage")).to_have_attribute("data-layout", "grid")

    # Each copy of Ann's camera is sent lighter in a mesh of three than one to one:
    # when Cat leaves, Ann's send limits to Ben rise again.
    in_three = camera_limits(ann)
    assert len(in_three) == 2
    cat.locator("#hangup").click()
    cat.locator("#leave-confirm").click()
    wait_links(ann, 1)
    ann.wait_for_function(
        f"(most) => {{ const l = {CAMERA_LIMITS}; return l.length === 1 && l[0].maxBitrate > most; }}",
        arg=max(limit["maxBitrate"] for limit in in_three),
        timeout=WAIT,
    )
    one_to_one = camera_limits(ann)[0]
    assert one_to_one["scale"] < min(limit["scale"] for limit in in_three), (one_to_one, in_three)


# A client whose offers carry video only (no audio m-line at all), as some video-only apps send.
VIDEO_ONLY_OFFERS = """
const addTransceiver = RTCPeerConnection.prototype.addTransceiver;
RTCPeerConnection.prototype.addTransceiver = function (kind, init) {
    return kind === "audio" ? undefined : addTransceiver.call(this, kind, init);
};
"""


def test_a_peer_that_offers_video_only_still_hears_us(open_page):
    owner, ca = make_user("ann")
    room = Room.objects.create(name="Standup", owner=owner)
    ann = open_page(ca, 0, f"/r/{room.pk}/")
    ben = open_page(make_user("ben")[1], 1, f"/r/{room.pk}/", init_script=VIDEO_ONLY_OFFERS)
    wait_connected(ann)
    wait_connected(ben)
    # Ann answered an offer without audio, then added her microphone and offered again.
    ben.wait_for_function(
        """() => [...window.rtc.links.values()].every(({link}) => link.pc.getTransceivers().some(
            t => t.receiver.track.kind === "audio" && t.currentDirection === "sendrecv"))""",
        timeout=WAIT,
    )
    assert grows(ben, "audioBytes"), "the video-only peer does not hear Ann"
    assert grows(ben, "framesDecoded")


# A link of the answering side (created on peer-joined, waiting for the joiner's offer) when the
# page refreshes its TURN credentials: Chromium raises negotiationneeded on new ICE servers.
REFRESH_BEFORE_THE_OFFER = """async () => {
    const {link} = window.rtc.mesh.add("waiting-peer", {id: 0, username: "x", display_name: "X"}, false, null);
    const sent = [];
    const send = window.rtc.signaling.send.bind(window.rtc.signaling);
    window.rtc.signaling.send = (frame) => { if (frame.to === "waiting-peer") sent.push(frame.type); };
    const raised = new Promise((resolve) => link.pc.addEventListener("negotiationneeded", resolve, {once: true}));
    link.setIceServers(window.rtc.state.iceServers.map((s) => ({...s, username: s.username + "-new"})), "relay");
    await raised;
    const offering = link.makingOffer || link.pc.signalingState !== "stable";
    window.rtc.signaling.send = send;
    window.rtc.mesh.drop("waiting-peer");
    return {offering, sent};
}"""


def test_the_answering_side_never_offers_before_the_joiner(open_page):
    """Both sides offering at once (an empty offer from the answering side) left links unconnected."""
    owner, cookie = make_user("ann")
    room = Room.objects.create(name="Waiting", owner=owner)
    page = open_page(cookie, 0, f"/r/{room.pk}/")
    page.wait_for_function("() => window.rtc.state.joined")
    assert page.evaluate(REFRESH_BEFORE_THE_OFFER) == {"offering": False, "sent": []}
