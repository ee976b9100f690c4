"""What the browser tests do on a call page: join from the pre-join screen, read links and media statistics."""

from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

RING_TIMEOUT = 5  # seconds the shared cluster rings before a call is missed

CONNECTED = (
    """(n) => window.rtc && [...window.rtc.links.values()].filter(e => e.link.state === 'connected').length >= n"""
)


# The statistics of every link, once one report names the candidate types of every selected pair (else false).
PATH_NAMED = """async () => { const out = await window.rtc.stats(); const all = Object.values(out);
    return all.length > 0 && all.every(s => s.localType && s.remoteType) && out; }"""


def join_call(page) -> None:
    """Leave the pre-join screen with the choices on it ("Join now" is enabled once the devices are checked)."""
    page.locator("#join-now").click()
    page.locator("#in-call").wait_for(state="visible")


def wait_connected(page, peers: int = 1, timeout: float = 30) -> None:
    """Until the page has `peers` connected links; on timeout, says what each link was doing."""
    try:
        page.wait_for_function(CONNECTED, arg=peers, timeout=timeout * 1000)
    except PlaywrightTimeoutError:
        links = page.evaluate(
            """() => window.rtc && [...window.rtc.links].map(([peer, {link}]) =>
                `${peer}: ${link.state}/${link.pc.iceConnectionState}/${link.pc.signalingState}`)"""
        )
        raise AssertionError(f"{page.url}: not {peers} connected link(s) in {timeout} s: {links}") from None


def stats(page) -> dict:
    return page.evaluate("async () => await window.rtc.stats()")


def path_stats(page, timeout: float = 10) -> dict:
    """`stats` from the first report in which every link names its selected candidate pair.

    A browser's statistics can trail its connection state by a moment (Chromium serves a
    report cached for a few milliseconds), and a link just connected can still be switching
    pairs: a second report read after the one that named them may name none yet.
    """
    return until(page, PATH_NAMED, timeout, "every link to name its selected candidate pair")


def until(page, fn: str, timeout: float, what: str, arg=None):
    """The first truthy result of the async function source `fn` (called with `arg`), polled in the page.

    Playwright's `wait_for_function` takes the Promise an async predicate returns as its
    result at once (a Promise is truthy), so it cannot wait on one; this polls in one `evaluate`.
    """
    out = page.evaluate(
        f"""async ([ms, arg]) => {{ const check = {fn}; const end = Date.now() + ms;
            for (;;) {{
                const out = await check(arg);
                if (out || Date.now() > end) return out || null;
                await new Promise(r => setTimeout(r, 100));
            }} }}""",
        [timeout * 1000, arg],
    )
    assert out, f"waited {timeout} s for {what}: {stats(page)}"
    return out


def grows(page, field: str, seconds: float = 2.0) -> bool:
    """Whether every link's `field` (inbound bytes/frames) grows over `seconds`."""
    return page.evaluate(
        """async ([field, ms]) => {
            const before = await window.rtc.stats();
            await new Promise(r => setTimeout(r, ms));
            const after = await window.rtc.stats();
            return Object.keys(after).length > 0 &&
                Object.keys(after).every(p => before[p] && after[p][field] > before[p][field]);
        }""",
        [field, seconds * 1000],
    )
