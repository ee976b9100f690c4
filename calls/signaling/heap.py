"""The process's garbage collector, set for a server that holds thousands of connections.

CPython's full collection walks every tracked object: in a signaling process some 100,000
objects of Django, the app and their imports, which live as long as the process, plus every
connection's protocol, consumer and tasks. A storm of connects makes enough new long-lived
objects to start a full collection every few hundred connects. Measured in a 1,000-peer join
storm on a 2-core machine, each one took 100-200 ms of CPU, and full collections were about a
fifth of each process's CPU.

`settle` collects once and moves what exists at start-up to the permanent generation
(`gc.freeze`), so no later collection walks it again. After that a full collection comes
at most a tenth as often. Young objects and short-lived cycles are collected as before. The
one cycle every connect used to leave behind, daphne's HTTP channel and its request, is
broken when the handshake is released (`calls.signaling.handshake`). So a rarer full
collection finds little garbage waiting.
"""

from __future__ import annotations

import gc

# Collections of the middle generation between two full ones (CPython's default is 10).
# CPython also waits until a quarter of the long-lived objects are new since the last one.
FULL_EVERY = 100


def settle() -> None:
    """Call once, at start-up, after the application has been imported."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_EVERY)
