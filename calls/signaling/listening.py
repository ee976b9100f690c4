"""Closing this process's listening sockets when it drains.

A draining process refuses new WebSockets, but while it still listens a load balancer
keeps handing it connections: nginx's `least_conn` prefers it, since its clients have
just left, and a refusal after the upgrade is final for that attempt. Once the
listening sockets are closed, nginx's connect is refused and it tries the next upstream
at once (`proxy_next_upstream error`), so clients told to reconnect land on a live process.

Under daphne the sockets are Twisted `Port`s registered with the reactor; under another
server (or in a test without a running reactor) there are none and nothing is closed.
tests/servers/test_cluster.py fails if daphne or Twisted stop exposing them this way.
"""

from __future__ import annotations

import asyncio
import sys


async def stop_listening() -> int:
    """Close every listening socket of the running Twisted reactor; how many were closed.

    Twisted closes a port's socket on a later turn of the loop; this returns once it has,
    so a client told to reconnect after it cannot reach this process again.
    """
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not getattr(reactor, "running", False):
        return 0
    from twisted.internet.tcp import Port  # unix.Port is a subclass: unix sockets are closed too

    ports = [reader for reader in reactor.getReaders() if isinstance(reader, Port)]
    loop = asyncio.get_running_loop()
    closed = [port.stopListening() for port in ports]
    await asyncio.gather(*(d.asFuture(loop) for d in closed if d is not None))
    return len(ports)
