"""Every ES module under static/ parses: a syntax error (a doubled import after a merge, say) stops the whole page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "static"
MODULES = sorted(STATIC.rglob("*.js"))


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(STATIC)))
def test_the_module_parses(module: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (scripts/bootstrap.sh installs it)"
    copy = tmp_path / f"{module.stem}.mjs"  # .mjs: parsed as a module, imports and all
    copy.write_text(module.read_text())
    run = subprocess.run([node, "--check", str(copy)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
