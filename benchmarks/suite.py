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
    .venv/bin/python benchmarks/suite.py --baseline TREE --runs 3
        # `make test`'s pytest (2 workers) against TREE's whole suite run as TREE's own
        # `make test` ran it (--baseline-args, default: one process), taking turns

Target (issue "Architecture pass 2"): `make test` no slower than the suite it started from.
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


def run(args: list[str], tree: Path = ROOT) -> tuple[float, float, str]:
    """(wall s, CPU s, pytest's last line) of one pytest process in ``tree`` (its src/)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=tree, capture_output=True, text=True, env=env)
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
    parser.add_argument("--baseline", type=Path, default=None, metavar="TREE",
                        help="the whole suite of this tree (2 workers, as make test runs it) "
                             "against TREE's, taking turns (TREE: a checkout with its C "
                             "extensions built)")
    parser.add_argument("--baseline-args", default="", metavar="ARGS",
                        help="--baseline: pytest's arguments for TREE (default: none, one process)")
    opts = parser.parse_args()
    if opts.baseline and opts.full:
        parser.error("--full and --baseline exclude each other")
    if opts.baseline:
        tree = opts.baseline.resolve()
        if not (tree / "tests").is_dir() or not (tree / "src").is_dir():
            parser.error(f"--baseline: {tree} is not a checkout (no tests/ and src/ in it)")
        pytest_args = f"pytest {opts.baseline_args}".strip()
        rows = [(f"TREE's whole suite, {pytest_args} (baseline)", opts.baseline_args.split(), tree),
                ("this tree's whole suite, pytest -n 2 --dist loadscope",
                 ["-n", "2", "--dist", "loadscope"], ROOT)]
        print(f"TREE: {tree}")
    else:
        rows = [("collection only (baseline)", ["-m", "not slow", "--collect-only"], ROOT),
                ('pytest -m "not slow"', ["-m", "not slow"], ROOT)]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| run | tests | wall median (s) | wall min (s) | CPU median (s) | x baseline |")
    print("|---|---|---|---|---|---|")
    # taking turns (A B A B ...): a change of the machine's load falls on both rows
    runs = {name: [] for name, _, _ in rows}
    for _ in range(opts.runs):
        for name, args, tree in rows:
            runs[name].append(run(args, tree))
    if opts.full:
        rows.append(("pytest (whole suite)", [], ROOT))
        runs["pytest (whole suite)"] = [run([])]
    base = None
    for name, _, _ in rows:
        results = runs[name]
        walls = [w for w, _, _ in results]
        median = statistics.median(walls)
        base = base or median
        print(f"| {name} | {count(results[-1][2])} | {median:.1f} | {min(walls):.1f} | "
              f"{statistics.median(c for _, c, _ in results):.1f} | {median / base:.2f} |", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
