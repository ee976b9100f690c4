"""Firefox for the browser tests: Debian's firefox-esr driven over WebDriver BiDi by a Node process.

Playwright cannot drive Debian's Firefox, so tests/browser/firefox/driver.mjs (npm puppeteer-core)
does, and this module talks to it: one JSON request per line on its stdin, one reply per line on
its stdout. `Firefox.open(url, cookie)` gives a `FirefoxPage` in a browser context of its own (one
user each); functions to run in the page are passed as JavaScript source, as with Playwright.
Every wait is bounded; a failed wait raises with the page's console log in the message.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

DRIVER_DIR = Path(__file__).resolve().parent / "firefox"
EXECUTABLE = "/usr/bin/firefox-esr"
START_TIMEOUT = 90  # seconds; Firefox starts slowly on a busy 2-core machine
SLACK = 30  # seconds the Python side waits beyond a request's own timeout


class FirefoxError(RuntimeError):
    """The driver refused a request, timed out, or went away."""


class Firefox:
    """One headless firefox-esr behind a driver process; `open` gives a page per user."""

    def __init__(self, executable: str = EXECUTABLE) -> None:
        if not (DRIVER_DIR / "node_modules" / "puppeteer-core").is_dir():
            raise FirefoxError(f"{DRIVER_DIR}/node_modules is missing: run scripts/bootstrap.sh test")
        # Outlives stop(): its tail is printed after a failure; gone with the object.
        self._stderr = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115
        self._proc = subprocess.Popen(
            ["node", "driver.mjs"],
            cwd=DRIVER_DIR,
            env={**os.environ, "FIREFOX": executable},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # its own process group: Firefox goes when we stop it
        )
        self.pid = self._proc.pid
        self._ids = itertools.count(1)
        self._replies: queue.Queue[dict | None] = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="firefox-driver-stdout", daemon=True).start()
        ready = self._next(START_TIMEOUT, "start")
        if not ready or not ready.get("ready"):
            error = (ready or {}).get("error", "no ready line")
            self.stop()
            raise FirefoxError(f"firefox did not start: {error}\n{self.stderr()}")
        self.version: str = ready["version"]

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self._replies.put(json.loads(line))
            except ValueError:
                self._replies.put({"id": None, "ok": False, "error": f"unreadable reply: {line!r}"})
        self._replies.put(None)

    def _next(self, timeout: float, what: str) -> dict | None:
        try:
            return self._replies.get(timeout=timeout)
        except queue.Empty:
            raise FirefoxError(f"no reply from the Firefox driver within {timeout:.0f} s ({what})") from None

    def request(self, cmd: str, timeout: float = 30, **fields: Any) -> Any:
        """Send one command and wait (bounded) for its reply; the driver's own timeout is `timeout`."""
        with self._lock:
            if self._proc.poll() is not None:
                raise FirefoxError(f"the Firefox driver exited ({self._proc.returncode})\n{self.stderr()}")
            request_id = next(self._ids)
            line = json.dumps({"id": request_id, "cmd": cmd, "timeout": int(timeout * 1000), **fields})
            assert self._proc.stdin is not None
            self._proc.stdin.write(line.encode() + b"\n")
            self._proc.stdin.flush()
            while True:
                reply = self._next(timeout + SLACK, cmd)
                if reply is None:
                    raise FirefoxError(f"the Firefox driver exited during {cmd}\n{self.stderr()}")
                if reply.get("id") == request_id:
                    break
        if not reply["ok"]:
            raise FirefoxError(f"{cmd} failed: {reply['error']}")
        return reply["result"]

    def open(self, url: str, cookie: dict | None = None, init: str | None = None, timeout: float = 30) -> FirefoxPage:
        """A page in a fresh browser context at `url`.

        `cookie` = {name, value, url} is set first; `init` (JavaScript function source) runs in
        every document of the page before the document's own scripts."""
        return FirefoxPage(self, self.request("open", timeout=timeout, url=url, cookie=cookie, init=init))

    def stderr(self, limit: int = 8000) -> str:
        """The tail of the driver's (and Firefox's) stderr."""
        self._stderr.flush()
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        text = self._stderr.read().decode(errors="replace")
        return f"--- firefox driver stderr (pid {self.pid}) ---\n{text}"

    def stop(self) -> int | None:
        """Close Firefox and the driver; the process group is killed if it does not exit in time."""
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(b'{"id": 0, "cmd": "close"}\n')
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
        # Firefox's own processes, if any outlived the driver, are in the driver's group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        return self._proc.returncode


class FirefoxPage:
    """One user's page: run JavaScript, wait for conditions, click, read its console log."""

    def __init__(self, firefox: Firefox, handle: int) -> None:
        self.firefox = firefox
        self.handle = handle

    def evaluate(self, fn: str, *args: Any, timeout: float = 30) -> Any:
        """The result of the JavaScript function source `fn` called with `args` in the page."""
        return self.firefox.request("eval", timeout=timeout, page=self.handle, fn=fn, args=list(args))

    def wait_for_function(self, fn: str, *args: Any, timeout: float = 30, polling: int = 250) -> Any:
        """The first truthy result of `fn`, polled every `polling` ms; raises with the console log."""
        try:
            return self.firefox.request(
                "waitFor", timeout=timeout, page=self.handle, fn=fn, args=list(args), polling=polling
            )
        except FirefoxError as error:
            raise FirefoxError(f"waiting for {fn.strip()[:200]}: {error}\n{self.console_text()}") from None

    def click(self, selector: str, timeout: float = 30) -> None:
        """Click `selector` once it is visible and enabled."""
        self.firefox.request("click", timeout=timeout, page=self.handle, selector=selector)

    def console(self) -> list[str]:
        """The page's console messages and uncaught errors so far ("type: text")."""
        return self.firefox.request("console", page=self.handle)

    def console_text(self) -> str:
        try:
            lines = self.console()
        except FirefoxError as error:
            lines = [f"(console unavailable: {error})"]
        return f"--- Firefox page {self.handle} console ---\n" + "\n".join(lines)

    def screenshot(self, path: str) -> None:
        self.firefox.request("screenshot", page=self.handle, path=path)

    def close(self) -> None:
        self.firefox.request("closePage", page=self.handle)
