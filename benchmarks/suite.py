"""How long the test suite takes: the fast subset (`pytest -m "not slow"`) against its floor.

Target (issue "Architecture pass"): `pytest -m "not slow"` runs in under 30 s.

Each row runs pytest in a fresh process, ``--runs`` times, and reports the median and the
fastest wall time of the whole process (start-up, collection, tests, exit), the median CPU
time it used (user + system, its children included) and how many tests ran. The baseline row
is the floor of every run: collection alone (``--collect-only``), which imports what the
tests import. The load average is printed before and after: the machine is shared, and its
wall times move with what else runs.

    .venv/bin/python benchmarks/suite.py             # fast subset, 3 runs each
    .venv/bin/python benchmarks/suite.py --full      # and the whole suite, once
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s, pytest's last line) of one pytest process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode not in (0, 5) or not lines:
        sys.exit(f"error: pytest {' '.join(args)} exited with {done.returncode}:\n{done.stdout[-2000:]}")
    return wall, cpu, lines[-1]


def count(last_line: str) -> str:
    m = re.search(r"(\d+)(?:/\d+)? tests? collected|(\d+) passed", last_line)
    return (m.group(1) or m.group(2)) if m else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per row (default 3)")
    parser.add_argument("--full", action="store_true", help="also time the whole suite, once")
    opts = parser.parse_args()
    rows = [("collection only (baseline)", ["-m", "not slow", "--collect-only"], opts.runs),
            ('pytest -m "not slow"', ["-m", "not slow"], opts.runs)]
    if opts.full:
        rows.append(("pytest (whole suite)", [], 1))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| run | tests | wall median (s) | wall min (s) | CPU median (s) | x baseline |")
    print("|---|---|---|---|---|---|")
    base = None
    for name, args, runs in rows:
        results = [run(args) for _ in range(runs)]
        walls = [w for w, _, _ in results]
        median = statistics.median(walls)
        base = base or median
        print(f"| {name} | {count(results[-1][2])} | {median:.1f} | {min(walls):.1f} | "
              f"{statistics.median(c for _, c, _ in results):.1f} | {median / base:.2f} |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
