"""Join storms on warm servers: one bench, a warm-up storm, then N storms, each one's time and servers' CPU.

    .venv/bin/python bench/storms.py rtcsite 4
    .venv/bin/python bench/storms.py yardstick 4
    .venv/bin/python bench/storms.py rtcsite 4 --tree /tmp/before   # another commit's worktree

`bench/run.py joins` times one storm on freshly started servers; this repeats the storm on
the same servers, as a site sees storms after a restart of its other processes, and
charges each storm the servers' CPU from its first connect until the departures are done.
With `--tree`, the benchmark code and the server are those of another checkout (a
`git worktree` of an older commit, its bench/loadgen/node_modules linked to this one's):
alternate the two trees, several runs each, and compare the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path


def main_thread_cpu(pids: list[int]) -> float:
    """CPU seconds of the processes' main threads (their event loops), without the database thread."""
    total = 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("system", choices=["rtcsite", "yardstick"])
    parser.add_argument("storms", type=int)
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent), help="the checkout to run")
    args = parser.parse_args()
    sys.path[:0] = [str(Path(args.tree) / "bench"), args.tree]
    import run  # the tree's own bench/run.py

    run.raise_fd_limit()
    run.ensure_loadgen()
    storms = []
    with tempfile.TemporaryDirectory() as work:
        bench = run.Bench(Path(work)) if args.system == "rtcsite" else run.Yardstick(Path(work))
        try:
            run.scenario_joins(bench)  # warm-up
            run.settle(bench.pids())
            for _ in range(args.storms):
                pids = bench.pids()
                cpu, main_cpu = run.cpu_seconds(pids), main_thread_cpu(pids)
                result = run.scenario_joins(bench)
                run.settle(pids)
                storms.append((result["elapsed_s"], run.cpu_seconds(pids) - cpu, main_thread_cpu(pids) - main_cpu))
                print(f"storm {args.system}: {storms[-1][0]:.3f} s, servers' CPU {storms[-1][1]:.2f} s "
                      f"(main threads {storms[-1][2]:.2f} s)", flush=True)  # fmt: skip
        finally:
            bench.stop()
    medians = [statistics.median(column) for column in zip(*storms, strict=True)]
    elapsed, cpu, main_cpu = medians
    print(f"median of {len(storms)}: {elapsed:.3f} s, servers' CPU {cpu:.2f} s (main threads {main_cpu:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
