"""A burst of connects is queued, not dropped: daphne listens with a deep accept queue.

When a process restarts, or a meeting starts, hundreds of clients connect within a few
milliseconds. Connects beyond the listen queue are dropped by the kernel and retried by
the client's kernel a second later, so a queue of 50 (daphne's `--port` default) turned a
1,000-peer join storm from 0.7 s into 1.3 s.
"""

from __future__ import annotations

import re
import selectors
import signal
import socket
import time
from pathlib import Path

import pytest

import devstack
from devstack.daphne import endpoint

pytestmark = [pytest.mark.django_db(transaction=True)]

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "rtcsite-daphne@.service"
BURST = 300  # well past Twisted's default queue of 50, well within BACKLOG


def _connect_all(port: int, count: int, deadline: float) -> tuple[int, list[socket.socket]]:
    """Open `count` connects at once; how many the kernel completed before `deadline`."""
    selector = selectors.DefaultSelector()
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        selector.register(sock, selectors.EVENT_WRITE)
        sockets.append(sock)
    completed = 0
    while completed < count and (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(timeout=left):
            selector.unregister(key.fileobj)
            if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                completed += 1
    selector.close()
    return completed, sockets


def test_a_burst_of_connects_to_a_busy_process_is_queued_not_dropped(daphne_factory):
    node: devstack.Daphne = daphne_factory("queue")
    node.proc.signal(signal.SIGSTOP)  # busy: it accepts nothing, so only the kernel's queue holds them
    try:
        # a dropped connect is retried after 1 s and dropped again while the process is
        # stopped, so 3 s tells a full queue from a slow machine
        completed, sockets = _connect_all(node.port, BURST, time.monotonic() + 3)
    finally:
        node.proc.signal(signal.SIGCONT)
    for sock in sockets:
        sock.close()
    assert completed == BURST


def test_the_systemd_unit_listens_as_the_test_servers_do():
    exec_start = re.search(r"^ExecStart=(.*)$", UNIT.read_text(), re.MULTILINE)
    assert exec_start is not None
    argv = exec_start.group(1).split()
    assert argv[argv.index("-e") + 1] == endpoint("127.0.0.1", "%i")
