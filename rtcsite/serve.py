"""daphne on uvloop: `python -m rtcsite.serve` takes daphne's own arguments.

daphne runs Twisted's asyncio reactor on an event loop it creates when `daphne.server` is
first imported; with uvloop's policy set before that, the loop is uvloop's (libuv, in C)
instead of asyncio's pure-Python selector loop, and everything else — daphne, Twisted,
channels, redis-py — runs on it unchanged. RTCSITE_LOOP=asyncio keeps asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import os
import sys


def main() -> None:
    if "daphne.server" in sys.modules:
        raise RuntimeError("daphne.server was imported before the event loop was chosen")
    if os.environ.get("RTCSITE_LOOP", "uvloop") == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
