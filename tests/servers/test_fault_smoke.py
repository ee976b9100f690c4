"""A short fault run (bench/fault.py): bad frames and churn leave no traceback, ghost, leak or lost frame."""

import subprocess
import sys
from pathlib import Path

BASE = Path(__file__).resolve().parents[2]


def test_bad_frames_and_churn_leave_nothing_behind():
    run = subprocess.run(
        [sys.executable, str(BASE / "bench" / "fault.py"), "--frames", "1500", "--cycles", "80", "--relayed", "100"],
        cwd=BASE,
        capture_output=True,
        text=True,
        timeout=240,
    )
    report = run.stdout[-8000:] + run.stderr[-3000:]
    assert run.returncode == 0, report
    assert "lost 0, out of order 0" in run.stdout, report
    assert "ghost peers: 0" in run.stdout and "tracebacks in server logs: 0" in run.stdout, report
