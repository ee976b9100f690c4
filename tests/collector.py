"""For tests that an object is freed by reference counting alone, not left for the cyclic collector."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    """The cyclic garbage collector off inside the block: whatever is freed there, reference counting freed."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
