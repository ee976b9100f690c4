"""Before and after: `bench/run.py` on another commit and on this tree, interleaved, in one run.

    .venv/bin/python bench/compare.py HEAD~3               # 3 repetitions of each side
    .venv/bin/python bench/compare.py main --runs 5 --scenarios latency,joins

The other commit is checked out into a temporary git worktree and run with this tree's
virtualenv and load generator (or, with --other-python, another virtualenv's Python: when
the two commits pin different packages, each side runs on its own). Repetitions alternate
A B B A A B … so that drift in the machine's load falls on both sides alike. Prints the
median and the spread (min-max) of each figure per side and the ratio of the medians (this
tree / the other commit); a figure counts only as such a same-run ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# figure name -> (scenario, how to read it from run.py's JSON, which direction is better)
FIGURES: dict[str, tuple[str, Callable[[dict], float], str]] = {
    "latency p50 ms (500 msg/s)": ("latency", lambda r: r["latency"]["p50_ms"], "lower"),
    "latency p99 ms (500 msg/s)": ("latency", lambda r: r["latency"]["p99_ms"], "lower"),
    "highest sustained msg/s": ("throughput", lambda r: r["max_sustained_msg_s"], "higher"),
    "idle KiB per connection": ("memory", lambda r: r["memory"]["kib_per_connection"], "lower"),
    "join storm s (1,000 peers)": ("joins", lambda r: r["joins"]["elapsed_s"], "lower"),
    "join storm, servers' CPU s": ("joins", lambda r: r["joins"]["server_cpu_s"], "lower"),
    "join storm, servers' CPU s with departures": (
        "joins",
        lambda r: r["joins"]["server_cpu_with_departures_s"],
        "lower",
    ),
    "server CPU s per 1,000 msgs (2,000 msg/s)": ("cpu", lambda r: r["cpu"]["cpu_s_per_1000_msgs"], "lower"),
}


def worktree(ref: str, where: Path) -> Path:
    tree = where / "other"
    subprocess.run(["git", "-C", str(BASE), "worktree", "add", "--detach", "-q", str(tree), ref], check=True)
    modules = BASE / "bench" / "loadgen" / "node_modules"
    (tree / "bench" / "loadgen" / "node_modules").symlink_to(modules)
    return tree


def run_once(tree: Path, scenario: str, args: argparse.Namespace, out: Path, python: str = PYTHON) -> dict:
    command = [python, str(tree / "bench" / "run.py"), scenario, "--duration", str(args.duration),
               "--rates", args.rates, "--output", str(out)]  # fmt: skip
    print(f"$ ({tree.name}) {' '.join(command[1:])}", flush=True)
    subprocess.run(command, cwd=tree, check=True, env={**os.environ, "PYTHONPATH": str(tree)})
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ref", help="the commit to compare this tree with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default="latency,throughput,memory,joins")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per relay step")
    parser.add_argument("--rates", default="2000,3000,4000,5000,6000,8000")
    parser.add_argument("--output", default=str(BASE / "bench" / "results-compare.json"))
    parser.add_argument("--other-python", default=PYTHON, help="the Python (virtualenv) to run the other commit with")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    with tempfile.TemporaryDirectory(prefix="rtcsite-compare-") as scratch:
        other = worktree(args.ref, Path(scratch))
        sides = {"other": other, "this": BASE}
        raw: dict[str, list[dict]] = {"other": [], "this": []}
        machine = None
        try:
            for i in range(args.runs):
                order = ["other", "this"] if i % 2 == 0 else ["this", "other"]
                for side in order:
                    merged: dict = {}
                    for scenario in scenarios:
                        python = args.other_python if side == "other" else PYTHON
                        out = Path(scratch) / f"{side}-{i}-{scenario}.json"
                        result = run_once(sides[side], scenario, args, out, python)
                        machine = machine or result["machine"]
                        merged.update(result)
                    raw[side].append(merged)
        finally:
            subprocess.run(["git", "-C", str(BASE), "worktree", "remove", "--force", str(other)], check=False)
    ref = subprocess.run(["git", "-C", str(BASE), "rev-parse", "--short", args.ref], capture_output=True, text=True)
    head = subprocess.run(["git", "-C", str(BASE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"\nmachine: {machine}")
    print(f"other = {args.ref} ({ref.stdout.strip()}), this = working tree at {head.stdout.strip()}; "
          f"{args.runs} runs each, interleaved\n")  # fmt: skip
    print(f"{'figure':<30} {'other: median (min-max)':>28} {'this: median (min-max)':>28} {'ratio':>7}")
    table = {}
    for name, (scenario, read, better) in FIGURES.items():
        if scenario not in scenarios:
            continue
        try:
            values = {side: [read(r) for r in raw[side]] for side in raw}
        except KeyError:  # an older commit's bench/run.py does not measure it
            print(f"{name:<30} not measured on both sides")
            continue
        medians = {side: statistics.median(v) for side, v in values.items()}
        ratio = medians["this"] / medians["other"] if medians["other"] else float("nan")
        table[name] = {"values": values, "medians": medians, "ratio": ratio, "better": better}
        cells = [f"{medians[s]:.2f} ({min(values[s]):.2f}-{max(values[s]):.2f})" for s in ("other", "this")]
        print(f"{name:<30} {cells[0]:>28} {cells[1]:>28} {ratio:>6.2f}x  ({better} is better)")
    Path(args.output).write_text(json.dumps({"machine": machine, "ref": args.ref, "figures": table}, indent=2))
    print(f"\nresults written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
