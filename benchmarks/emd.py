"""Earth Mover's Distance on MNIST: one exact EMD, exact EMD 10-NN, correctness per window.

    .venv/bin/python benchmarks/emd.py            # 100 queries x 60,000 images (a few minutes)
    .venv/bin/python benchmarks/emd.py --quick    # 20 queries x 10,000 images

Three tables, each with its baseline row and ratios against it:

1. One exact EMD between 4x4-window signatures (49 bins) of MNIST pairs; the
   baseline is the generic LP (``scipy.optimize.linprog``, HiGHS, 49 x 49 flows),
   the assignment's formulation.
2. Exact EMD 10-NN of the first test queries over the training images (4x4
   windows), with exact solves per query and the share pruned by the lower
   bounds; the baseline is brute force (every pair solved), timed on a few
   queries and scaled to all queries and workers.
3. Correctness (share of the 10 neighbours with the query's label) of EMD and of
   pixel Manhattan on the same queries, per window size.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from imsim.datasets import read_images, read_labels
from imsim.distances import topk
from imsim.distances.emd import _load_emd_c, emd, ground_distance, signatures
from imsim.distances.emd_knn import _Searcher
from imsim.evaluation.emd import emd_sweep
from imsim.evaluation.metrics import label_accuracy

ROOT = Path(__file__).resolve().parents[1]


def _mnist_dir(arg) -> Path:
    for d in ([Path(arg)] if arg else []) + [ROOT.parent / "shared" / "datasets" / "mnist",
                                             ROOT.parent.parent / "shared" / "datasets" / "mnist"]:
        if (d / "train-images-idx3-ubyte.gz").exists():
            return d
    sys.exit("MNIST not found: pass --mnist DIR")


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def single_emd(X, n_pairs: int, n_lp: int) -> None:
    """Table 1: milliseconds per exact EMD, 4x4 windows, pairs (train[i], train[n_pairs + i])."""
    import ot

    Wx, P = signatures(X[:n_pairs], 4)
    Wq, _ = signatures(X[n_pairs:2 * n_pairs], 4)
    M = ground_distance(P)
    searcher = _Searcher(Wx, P, "euclidean")

    def timed(fn, n):
        start = time.perf_counter()
        values = [fn(i) for i in range(n)]
        return (time.perf_counter() - start) / n * 1e3, np.array(values)

    t_lp, v_lp = timed(lambda i: emd(Wq[i], Wx[i], M, solver="lp"), n_lp)
    rows = [("linprog HiGHS, all 49x49 flows (baseline)", t_lp, v_lp)]
    rows.append(("ot.emd2 (POT public API, all bins)", *timed(lambda i: ot.emd2(Wq[i], Wx[i], M), n_pairs)))
    rows.append(("imsim emd(), validated, non-zero bins", *timed(lambda i: emd(Wq[i], Wx[i], M), n_pairs)))
    rows.append(("emd_knn inner solve (emd_c, differing mass only)",
                 *timed(lambda i: searcher.exact(Wq[i], i), n_pairs)))
    _table(f"1. One exact EMD, 4x4 windows (49 bins), MNIST train[i] vs train[{n_pairs} + i]; "
           f"LP over {n_lp} pairs, others over {n_pairs}",
           ["method", "ms / EMD", "speed-up", "max |EMD - LP|"],
           [[name, f"{t:.4f}", f"{t_lp / t:.0f}x", f"{np.abs(v[:n_lp] - v_lp).max():.1e}"]
            for name, t, v in rows])


def knn(X, y, Q, yq, n_jobs: int, n_brute: int) -> None:
    """Table 2: exact EMD 10-NN over all data, 4x4 windows."""
    from imsim.distances.emd_knn import emd_knn

    Wx, P = signatures(X, 4)
    Wq, _ = signatures(Q[:n_brute], 4)
    searcher = _Searcher(Wx, P, "euclidean")
    start = time.perf_counter()
    for q in Wq:
        for j in range(len(X)):
            searcher.exact(q, j)
    brute = (time.perf_counter() - start) / n_brute * len(Q) / n_jobs
    rows = [["brute force, every pair solved (baseline)", f"{brute:.1f}",
             f"{len(X)}", "0.00%", "", "1x"]]
    exact_I = {}
    for ground in ("euclidean", "manhattan"):
        _, I, st = emd_knn(Q, X, k=10, window=4, ground=ground, n_jobs=n_jobs, return_stats=True)
        exact_I[ground] = I
        rows.append([f"exact pruned EMD, {ground} ground", f"{st.seconds:.2f}",
                     f"{st.n_exact.mean():.1f}", f"{100 * st.pruned:.2f}%",
                     f"{label_accuracy(I, y, yq, 10):.4f}", f"{brute / st.seconds:.0f}x"])
    _, I, st = emd_knn(Q, X, k=10, window=4, shortlist=100, n_jobs=n_jobs, return_stats=True)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I, exact_I["euclidean"])])
    rows.append([f"L1 shortlist 100 + EMD re-rank (recall@10 {recall:.3f})", f"{st.seconds:.2f}",
                 f"{st.n_exact.mean():.1f}", f"{100 * st.pruned:.2f}%",
                 f"{label_accuracy(I, y, yq, 10):.4f}", f"{brute / st.seconds:.0f}x"])
    start = time.perf_counter()
    _, I = topk(Q.reshape(len(Q), -1), X.reshape(len(X), -1), 10, metric="l1")
    t = time.perf_counter() - start
    rows.append(["pixel Manhattan 10-NN (reference, not EMD)", f"{t:.2f}", "", "",
                 f"{label_accuracy(I, y, yq, 10):.4f}", ""])
    _table(f"2. EMD 10-NN of {len(Q)} test queries over {len(X)} training images, 4x4 windows, "
           f"{n_jobs} worker(s); brute force timed on {n_brute} queries and scaled",
           ["method", "seconds", "exact EMD / query", "pruned", "correct", "speed-up"], rows)


def windows(X, y, Q, yq, sizes, n_jobs: int) -> None:
    """Table 3: correctness of EMD and Manhattan per window size."""
    results = emd_sweep(X, Q, y, yq, windows=sizes, k=10, n_jobs=n_jobs)
    base = results[0].manhattan_seconds
    _table(f"3. Correctness of 10-NN per window size, {len(Q)} queries x {len(X)} images, "
           "Euclidean ground; baseline pixel Manhattan",
           ["method", "bins", "correct", "seconds", "exact EMD / query", "time ratio"],
           [["pixel Manhattan (baseline)", "", f"{results[0].manhattan_correct:.4f}",
             f"{base:.3f}", "", "1x"]]
           + [[f"EMD, {r.window}x{r.window} windows", f"{r.bins}", f"{r.emd_correct:.4f}",
               f"{r.emd_seconds:.2f}", f"{r.exact_per_query:.1f}",
               f"{r.emd_seconds / max(base, 1e-9):.0f}x"] for r in results])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 queries x 10,000 images")
    ap.add_argument("--mnist", help="folder with the MNIST idx files")
    ap.add_argument("--queries", type=int, help="number of test queries (default 100)")
    ap.add_argument("--data", type=int, help="number of training images (default 60000)")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                    help="worker processes (default: usable cores)")
    ap.add_argument("--windows", default="14,7,4,2,1", help="window sizes for table 3")
    args = ap.parse_args()
    nq = args.queries or (20 if args.quick else 100)
    n = args.data or (10_000 if args.quick else 60_000)
    d = _mnist_dir(args.mnist)
    X = read_images(d / "train-images-idx3-ubyte.gz")[:n]
    y = read_labels(d / "train-labels-idx1-ubyte.gz")[:n]
    Q = read_images(d / "t10k-images-idx3-ubyte.gz")[:nq]
    yq = read_labels(d / "t10k-labels-idx1-ubyte.gz")[:nq]
    _load_emd_c()
    print(f"imsim EMD benchmark: MNIST {d}, {args.jobs} worker(s), {os.cpu_count()} CPUs")
    single_emd(X, n_pairs=min(len(X) // 2, 1000), n_lp=20 if args.quick else 50)
    knn(X, y, Q, yq, args.jobs, n_brute=1 if args.quick else 2)
    windows(X, y, Q, yq, [int(w) for w in args.windows.split(",")], args.jobs)


if __name__ == "__main__":
    main()
