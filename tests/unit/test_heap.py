"""The collector after `heap.settle`: start-up objects out of its way, later garbage still collected."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from calls.signaling import heap

CPYTHON_DEFAULT = (700, 10, 10)
BASE = Path(__file__).resolve().parents[2]


class Node:
    """A container the collector tracks; two of them referring to each other make a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def collector():
    """Leaves the collector as the test found it."""
    saved = gc.get_threshold()
    gc.set_threshold(*CPYTHON_DEFAULT)
    yield
    gc.unfreeze()
    gc.set_threshold(*saved)


FULL_COLLECTIONS = """
import gc
from calls.signaling import heap

def full_collections_while_holding(count):
    full = 0
    def seen(phase, info):
        nonlocal full
        full += phase == "stop" and info["generation"] == 2
    gc.collect()
    gc.callbacks.append(seen)
    held = [{"protocol": [], "consumer": []} for _ in range(count)]
    gc.callbacks.remove(seen)
    return full

by_default = full_collections_while_holding(300_000)
heap.settle()
print(by_default, full_collections_while_holding(300_000))
"""


def test_objects_alive_at_start_up_are_not_walked_by_later_collections(collector):
    startup = Node()
    assert any(o is startup for o in gc.get_objects())
    heap.settle()
    assert not any(o is startup for o in gc.get_objects())
    made_later = Node()
    assert any(o is made_later for o in gc.get_objects())


def test_a_cycle_dropped_after_start_up_is_still_collected_without_being_asked(collector):
    heap.settle()
    freed = []
    a, b = Node(), Node()
    a.other, b.other = b, a
    weakref.finalize(a, freed.append, "a")
    del a, b
    held = []
    for _ in range(gc.get_threshold()[0] * 2):  # enough new containers, kept, for a young collection
        held.append(Node())
        if freed:
            break
    assert freed == ["a"]


def test_holding_many_new_objects_runs_far_fewer_full_collections():
    """As a storm of connects does: in a fresh interpreter, so that nothing else is on the heap."""
    run = subprocess.run([sys.executable, "-c", FULL_COLLECTIONS], capture_output=True, text=True, check=True, cwd=BASE)
    by_default, settled = map(int, run.stdout.split())
    assert by_default >= 5
    assert settled * 4 <= by_default
