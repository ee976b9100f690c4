"""A short run of the benchmark itself, so the script anyone reruns keeps working."""

import json
import subprocess
import sys
from pathlib import Path

BASE = Path(__file__).resolve().parents[2]


def test_bench_smoke_relays_everything_and_joins_everyone(tmp_path):
    output = tmp_path / "smoke.json"
    run = subprocess.run(
        [sys.executable, "bench/run.py", "smoke", "--output", str(output)],
        cwd=BASE,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(output.read_text())["smoke"]
    relay = result["relay"][0]
    assert relay["sent"] > 100 and relay["received"] == relay["sent"]
    assert relay["p99_ms"] is not None and relay["p99_ms"] > 0
    assert result["joins"] == {**result["joins"], "joined": 50, "failures": 0}
    joins = result["joins"]
    assert 0 < joins["server_cpu_s"] <= joins["server_cpu_with_departures_s"]  # the servers' CPU is measured


def test_bench_smoke_against_the_yardstick_relays_everything_on_both(tmp_path):
    """Both systems in one invocation (bench/run.py --against yardstick): everything relayed, in both patterns."""
    output = tmp_path / "smoke.json"
    run = subprocess.run(
        [sys.executable, "bench/run.py", "smoke", "--against", "yardstick", "--output", str(output)],
        cwd=BASE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(output.read_text())
    assert result["systems"] == ["rtcsite", "yardstick"]
    for system in ("rtcsite", "yardstick"):
        smoke = result["runs"][system][0]["smoke"]
        for step in smoke["relay"] + smoke["relay_room"]:
            assert step["sent"] > 100 and step["received"] == step["sent"], (system, step)
        assert smoke["joins"] == {**smoke["joins"], "joined": 50, "failures": 0}, system
    assert result["machine"]["socket.io"].startswith("4.8.")
