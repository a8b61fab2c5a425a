"""Clustering benchmark on MNIST train (60,000 images): k-medians and the exact silhouette.

Prints one table. Each task has a baseline row timed in the same run, and "x base"
says how many times faster imsim is:

* k-medians (k=10, pixels and latents): the same Lloyd iterations with numpy
  medians (``np.partition`` per cluster, selection instead of counting) and the
  same assignment kernel; 3 iterations are timed and scaled to imsim's iteration
  count (marked "extrapolated").
* exact L1 silhouette: scikit-learn's ``silhouette_samples(metric="manhattan")``
  on a subset, scaled by (N / n)^2 to all N (marked "extrapolated"); imsim runs on
  all N, for one labelling and for the three labellings of ``imsim cluster``.

Latent rows use PCA-10 of the pixels, scaled to the 0..25500 integers of a latent
file, as a stand-in for the autoencoder, unless ``--latent FILE`` gives one.

    .venv/bin/python benchmarks/cluster.py            # all 60,000 images
    .venv/bin/python benchmarks/cluster.py --quick    # 10,000 images
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from imsim._threads import kernel_threads  # noqa: E402
from imsim.cluster import (KMedians, KMedoids, kmeans_plusplus, silhouette,  # noqa: E402
                           silhouettes)
from imsim.datasets import read_images, read_labels, read_latent  # noqa: E402
from imsim.distances import pairwise  # noqa: E402
from imsim.distances.kernels import backend  # noqa: E402


def _mnist_dir(arg: str | None) -> Path:
    for c in [arg, os.environ.get("IMSIM_MNIST_DIR"), ROOT.parent / "shared" / "datasets" / "mnist"]:
        if c and (Path(c) / "train-images-idx3-ubyte.gz").exists():
            return Path(c)
    sys.exit("MNIST not found: pass --mnist DIR (the folder with train-images-idx3-ubyte.gz)")


def _latents(args, X):
    if args.latent:
        Z = read_latent(args.latent)[: len(X)]
        if len(Z) != len(X):
            sys.exit(f"{args.latent} holds {len(Z)} vectors, need {len(X)}")
        return Z.astype(np.float32), "latent file"
    from sklearn.decomposition import PCA

    Z = PCA(n_components=10, random_state=0).fit_transform(X.astype(np.float32))
    Z = np.rint((Z - Z.min()) / (Z.max() - Z.min()) * 25500).astype(np.float32)
    return Z, "PCA-10 stand-in"


def _numpy_kmedians_iteration(X, centers):
    """One Lloyd iteration with numpy selection medians (the baseline)."""
    labels = pairwise(X, centers).argmin(axis=1)
    out = np.empty_like(centers)
    for c in range(len(centers)):
        members = X[labels == c]
        mid = (len(members) - 1) // 2
        out[c] = np.partition(members, mid, axis=0)[mid] if X.dtype == np.uint8 \
            else np.median(members, axis=0)
    return out


def _kmedians_rows(name, X, k, rows):
    t0 = time.perf_counter()
    centers, _ = kmeans_plusplus(X, k, seed=0)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(3):
        centers = _numpy_kmedians_iteration(X, centers)
    per_iter = (time.perf_counter() - t0) / 3
    t0 = time.perf_counter()
    km = KMedians(k, seed=0).fit(X)
    ours = time.perf_counter() - t0
    base = t_init + per_iter * km.n_iter_
    shape = f"{X.shape[0]:,} x {X.shape[1]}"
    rows.append([name, "numpy medians (np.partition)", shape, base,
                 f"{km.n_iter_} it, extrapolated", 1.0, ""])
    rows.append([name, "imsim KMedians", shape, ours,
                 f"{km.n_iter_} it, objective {km.inertia_:.4g}", base / ours, None])
    return km


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 images instead of 60,000")
    ap.add_argument("--mnist", help="folder with the MNIST idx files")
    ap.add_argument("--latent", help="latent file (2-byte) of the train images")
    ap.add_argument("--sklearn-subset", type=int, default=None,
                    help="images for scikit-learn's silhouette (default 4,000; 2,000 quick)")
    args = ap.parse_args()
    d = _mnist_dir(args.mnist)
    n = 10_000 if args.quick else 60_000
    X = read_images(d / "train-images-idx3-ubyte.gz")[:n].reshape(n, -1)
    y = read_labels(d / "train-labels-idx1-ubyte.gz")[:n]
    Z, latent_kind = _latents(args, X)
    rows = []
    targets = {"k-medians pixels": 10.0, "k-medians latents": 1.0, "silhouette L1": 60.0}

    km = _kmedians_rows("k-medians pixels", X, 10, rows)
    kz = _kmedians_rows("k-medians latents", Z, 10, rows)

    from sklearn.metrics import silhouette_samples

    m = args.sklearn_subset or (2_000 if args.quick else 4_000)
    t0 = time.perf_counter()
    silhouette_samples(X[:m].astype(np.float64), km.labels_[:m], metric="manhattan")
    base = (time.perf_counter() - t0) * (n / m) ** 2
    shape = f"{n:,} x {X.shape[1]}"
    rows.append(["silhouette L1", "scikit-learn silhouette_samples", shape, base,
                 f"{m:,} timed, extrapolated", 1.0, ""])
    t0 = time.perf_counter()
    s = silhouette(X, km.labels_)
    ours = time.perf_counter() - t0
    rows.append(["silhouette L1", "imsim silhouette (exact)", shape, ours,
                 f"total {s.total:.4f}", base / ours, None])
    t0 = time.perf_counter()
    three = silhouettes(X, [kz.labels_, km.labels_, y])
    ours3 = time.perf_counter() - t0
    rows.append(["silhouette L1", "imsim silhouettes, 3 labellings", shape, ours3,
                 "latent/pixel/labels " + "/".join(f"{r.total:.3f}" for r in three),
                 3 * base / ours3, ""])

    sub = X[:5_000]
    t0 = time.perf_counter()
    kmd = KMedoids(10, seed=0).fit(sub)
    rows.append(["k-medoids", "imsim KMedoids (FasterPAM)", f"{len(sub):,} x 784",
                 time.perf_counter() - t0, f"{kmd.n_swaps_} swaps, objective {kmd.inertia_:.4g}",
                 None, ""])

    print(f"imsim clustering benchmark: MNIST train, {n:,} images; L1 kernel: {backend()}, "
          f"{kernel_threads()} threads; "
          f"latents: {latent_kind}")
    header = ["task", "method", "N x d", "seconds", "detail", "x base", "target"]
    table = []
    for task, method, shape, sec, detail, ratio, target in rows:
        if target is None:  # an imsim row with a target
            limit = targets[task] if not args.quick else None
            target = "" if limit is None else f"<= {limit:g} s: {'yes' if sec <= limit else 'NO'}"
        table.append([task, method, shape, f"{sec:.2f}", detail,
                      "" if ratio is None else f"{ratio:.1f}", target])
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *table]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    main()
