"""The import rules of docs/architecture.md, checked from the source so a new violation fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("calls", "rtcsite", "devstack")
# The Django half that the signaling runtime must never import.
WEB_MODULES = ("calls.views", "calls.api", "calls.api_urls", "calls.admin", "calls.accounts", "calls.forms",
               "calls.serializers", "calls.urls", "calls.health")  # fmt: skip
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Project modules `name` imports, anywhere in the file (function-level imports count)."""
    targets = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in MODULES:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            # a package's __init__ importing its own submodules is not a cycle of concerns
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in GRAPH:
        if name not in index:
            visit(name)
    return found


def test_the_checker_sees_the_modules_it_judges():
    assert {"calls.signaling.consumer", "calls.signaling.protocol", "calls.views", "rtcsite.settings"} <= set(MODULES)
    assert "calls.signaling.protocol" in GRAPH["calls.signaling.consumer"]


def test_no_import_cycles():
    assert _cycles() == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by concern"


def test_the_app_never_imports_the_project():
    offending = {name: sorted(t for t in targets if t.startswith("rtcsite")) for name, targets in GRAPH.items()}
    assert {name: t for name, t in offending.items() if t and name.startswith("calls")} == {}


def test_the_signaling_runtime_imports_no_views_api_or_admin():
    offending = {
        name: sorted(t for t in targets if t.startswith(WEB_MODULES))
        for name, targets in GRAPH.items()
        if name.startswith("calls.signaling")
    }
    assert {name: t for name, t in offending.items() if t} == {}


def test_only_the_consumer_module_and_routing_know_the_consumer():
    users = {name for name, targets in GRAPH.items() if "calls.signaling.consumer" in targets}
    assert users <= {"calls.signaling.routing"}


def test_redis_keys_are_built_only_by_the_keys_module():
    """No module but keys.py spells a key prefix or joins key parts itself."""
    for name, path in MODULES.items():
        if name == "calls.signaling.keys":
            continue
        source = path.read_text()
        assert "REDIS_PREFIX" not in source or name == "rtcsite.settings", name
        assert '"rtc:' not in source and "'rtc:" not in source, name


def test_the_dev_stack_runs_without_django():
    """It starts Redis and coturn before settings can be loaded."""
    for name, path in MODULES.items():
        if name.startswith("devstack"):
            imported = {
                alias.name if isinstance(node, ast.Import) else (node.module or "")
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in node.names
            }
            assert not {m for m in imported if m.split(".")[0] in ("django", "channels", "calls", "rtcsite")}, name
