"""In the call: switching devices, the speaker picker's note, shortcuts, picture-in-picture, the
reconnecting banner and a refused removal.

This module's Chromium has three fake cameras (the shared one has one), so a camera can be
switched mid-call. Users are on both daphne processes of the shared cluster, relay-only through coturn.
"""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from calls.models import Room
from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.pages import grows, wait_connected
from tests.helpers import make_user

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.django_db(transaction=True)]

WAIT = 20_000  # ms: frames across two processes and media through coturn on a busy 2-core machine
FAKE_DEVICES = "--use-fake-device-for-media-stream"


@pytest.fixture(scope="module")
def browser():
    """Chromium with three fake cameras (and its usual two fake microphones and speakers).

    The second fake camera delivers Y16 (depth camera) frames, which Chromium shows in a <video>
    but never encodes: a call switched to it sends no video. The third (MJPEG) is a real test."""
    args = [f"{FAKE_DEVICES}=device-count=3" if arg == FAKE_DEVICES else arg for arg in CHROMIUM_ARGS]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=args)
        yield chromium
        chromium.close()


def room_of(owner_name: str, *others: str) -> tuple[Room, list[str]]:
    """A room owned by a new user; the session cookies of the owner and of the others."""
    owner, cookie = make_user(owner_name)
    room = Room.objects.create(name="Standup", owner=owner)
    return room, [cookie, *(make_user(name)[1] for name in others)]


def pick_last(page: Page, select: str) -> str:
    """Choose the picker's last device, not the one in use now; returns its id."""
    value = page.locator(f"{select} option").last.get_attribute("value")
    assert value != page.locator(select).input_value(), f"{select}: the last device is already in use"
    page.select_option(select, value)
    return value


SENDS_LOCAL = """(role) => { const local = window.rtc.state.local;
    const track = role === 'mic' ? local.mic : local.camera;
    return window.rtc.links.size > 0 && [...window.rtc.links.values()].every(({link}) =>
        link.transceivers[role].sender.track === track); }"""


def test_switching_camera_microphone_and_speaker_mid_call(open_page):
    room, (ca, cb) = room_of("ann", "ben")
    ann = open_page(ca, 0, f"/r/{room.pk}/")
    ben = open_page(cb, 1, f"/r/{room.pk}/")
    wait_connected(ann)
    wait_connected(ben)

    ann.locator("#settings").click()
    dialog = ann.locator("#settings-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#settings-camera option")).to_have_count(3)
    ann.wait_for_function("() => document.querySelector('#settings-mic-level').value > 0", timeout=WAIT)
    before = ann.evaluate("() => window.rtc.state.local.camera.getSettings().deviceId")
    expect(dialog.locator("#settings-camera")).to_have_value(before)

    camera = pick_last(ann, "#settings-camera")
    ann.wait_for_function(
        "(id) => window.rtc.state.local.camera.getSettings().deviceId === id", arg=camera, timeout=WAIT
    )
    ann.wait_for_function(SENDS_LOCAL, arg="camera", timeout=WAIT)  # every link sends the new camera
    assert grows(ben, "framesDecoded"), "Ben stopped receiving Ann's video after the switch"

    mic = pick_last(ann, "#settings-mic")
    ann.wait_for_function("(id) => window.rtc.state.local.mic.getSettings().deviceId === id", arg=mic, timeout=WAIT)
    ann.wait_for_function(SENDS_LOCAL, arg="mic", timeout=WAIT)
    assert grows(ben, "audioBytes"), "Ben stopped hearing Ann after the switch"

    speaker = pick_last(ann, "#settings-speaker")
    sinks = "(id) => [...document.querySelectorAll('#remotes video')].every(v => v.sinkId === id)"
    ann.wait_for_function(sinks, arg=speaker, timeout=WAIT)
    expect(dialog.locator("#settings-speaker-note")).to_be_hidden()
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()

    # The choices are remembered: the next visit's pre-join screen starts from them.
    prefs = ann.evaluate("() => JSON.parse(localStorage.getItem('rtcsite.media'))")
    assert (prefs["cameraId"], prefs["micId"], prefs["speakerId"]) == (camera, mic, speaker)


# The browser lists cameras and microphones but no speaker (as some do until permission, or never).
NO_SPEAKERS = """const enumerate = MediaDevices.prototype.enumerateDevices;
MediaDevices.prototype.enumerateDevices = async function () {
    return (await enumerate.call(this)).filter((d) => d.kind !== "audiooutput");
};"""


def test_the_speaker_picker_says_why_it_is_off_when_no_speaker_is_listed(open_page):
    room, (ca,) = room_of("ann")
    page = open_page(ca, 0, f"/r/{room.pk}/", join=False, init_script=NO_SPEAKERS)
    expect(page.locator("#join-now")).to_be_enabled(timeout=WAIT)
    for picker, note in (("#speaker-select", "#speaker-note"), ("#settings-speaker", "#settings-speaker-note")):
        if picker == "#settings-speaker":
            page.locator("#join-now").click()
            page.locator("#settings").click()
        expect(page.locator(picker)).to_be_disabled()
        expect(page.locator(note)).to_be_visible()
        expect(page.locator(note)).to_contain_text("no speakers")


def test_shortcuts_picture_in_picture_reconnecting_and_a_refused_removal(open_page):
    room, (ca,) = room_of("ann")
    ann = open_page(ca, 0, f"/r/{room.pk}/")
    other_tab = open_page(ca, 1, f"/r/{room.pk}/")  # the owner again, in a second window
    wait_connected(ann)
    wait_connected(other_tab)

    # Shortcuts: m mutes and unmutes; ? lists the shortcuts, Escape closes the list.
    mute = ann.locator("#mute")
    expect(mute).to_have_attribute("aria-pressed", "false")
    ann.keyboard.press("m")
    expect(mute).to_have_attribute("aria-pressed", "true")
    ann.keyboard.press("m")
    expect(mute).to_have_attribute("aria-pressed", "false")
    ann.keyboard.press("?")
    help_dialog = ann.locator("#help-dialog")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.locator("kbd")).to_contain_text(["m", "v", "c", "p", "h", "g", "l", "?"])
    ann.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    # Typing in the chat is typing: no shortcut fires.
    ann.locator("#chat-toggle").click()
    chat_input = ann.locator("#chat-panel .chat-input")
    expect(chat_input).to_be_focused()
    chat_input.press_sequentially("mh?")
    expect(chat_input).to_have_value("mh?")
    expect(mute).to_have_attribute("aria-pressed", "false")
    expect(ann.locator("#hand")).to_have_attribute("aria-pressed", "false")
    expect(help_dialog).to_be_hidden()

    # Picture-in-picture: either it opens, or the page says why it could not (never silence).
    ann.wait_for_function("() => document.querySelector('#remotes .tile.featured video')?.videoWidth > 0", timeout=WAIT)
    ann.locator("#pip").click()
    ann.wait_for_function(
        """() => document.pictureInPictureElement ||
            [...document.querySelectorAll('#toasts .toast')].some(t => t.textContent.includes('Picture-in-picture'))""",
        timeout=WAIT,
    )
    if ann.evaluate("() => Boolean(document.pictureInPictureElement)"):
        expect(ann.locator("#pip")).to_have_attribute("aria-pressed", "true")
        ann.locator("#pip").click()  # and back
        ann.wait_for_function("() => !document.pictureInPictureElement", timeout=WAIT)
        expect(ann.locator("#pip")).to_have_attribute("aria-pressed", "false")
    else:
        expect(ann.locator("#toasts .toast", has_text="Picture-in-picture could not start")).to_be_visible()

    # The signaling link drops and cannot come back at once: the banner shows until it is back.
    banner = ann.locator("#reconnecting")
    expect(banner).to_be_hidden()
    ann.evaluate(
        """() => { const s = window.rtc.signaling; window.signalingUrl = s.url;
            s.url = s.url.replace('/ws/signal/', '/ws/unreachable/'); s.ws.close(4000); }"""
    )
    expect(banner).to_be_visible(timeout=WAIT)
    expect(banner).to_contain_text("reconnecting")
    ann.evaluate("() => { window.rtc.signaling.url = window.signalingUrl; }")
    expect(banner).to_be_hidden(timeout=WAIT)
    ann.wait_for_function("() => window.rtc.signaling.open", timeout=WAIT)
    wait_connected(ann)

    # A removal the server refuses (the owner's own other window): the panel says why and the
    # button works again.
    ann.locator("#people-toggle").click()
    theirs = other_tab.evaluate("() => window.rtc.signaling.peer")
    row = ann.locator(f'#people-panel li.participant[data-peer="{theirs}"]')
    row.locator(".participant-remove").click()
    row.locator(".participant-remove-confirm").click()
    expect(row.locator(".participant-error")).to_contain_text("Could not remove", timeout=WAIT)
    expect(row.locator(".participant-remove")).to_be_enabled()
    expect(row.locator(".participant-remove")).to_have_text("Remove")
    expect(other_tab.locator("#in-call")).to_be_visible()  # still in the call
