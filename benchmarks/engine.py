"""Local engine against Dask with 2 local workers, for every distributed job, in one run.

    .venv/bin/python benchmarks/engine.py              # the MNIST sizes
    .venv/bin/python benchmarks/engine.py --quick      # 10x smaller, a smoke run
    .venv/bin/python benchmarks/engine.py --photos 5000  # adds imsim index on 5,000 photos

The local baseline is today's code in one process on every core (the default engine).
Both sides import what the jobs need first (on every worker too), then each job runs
``--rounds`` times interleaved (local, dask, local, dask, ...) so both see the same
machine load; the table shows medians, the ratio dask / local, the CPU seconds each side
used (this process, its forked children, and the dask workers: on a loaded machine the
wall times say who got the cores, the CPU ratio what the engine itself costs) and how
many tasks each worker ran (the work splits evenly when those are equal). The first
round's dask result is checked against the local one. The cluster starts once (its
start-up time is printed apart): the jobs are timed as a long-running cluster serves them.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from emd import _mnist_dir  # noqa: E402  (the benchmarks' MNIST finder)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _cpu_here() -> float:
    """CPU seconds of this process (the local cluster's scheduler runs in it) and of its
    reaped children (the EMD k-NN's forked workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _cpu_timed(fn, dask):
    """(wall s, CPU s, result): CPU of this process and its children, plus the dask
    workers' (their CPU counters before and after) when ``dask`` is given."""
    workers = (lambda: sum(dask.client.run(time.process_time).values())) if dask else (lambda: 0.0)
    c0, w0 = _cpu_here(), workers()
    wall, out = _timed(fn)
    return wall, _cpu_here() - c0 + workers() - w0, out


def _same(a, b, tol=0.0) -> bool:
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    return all(np.allclose(x, y, rtol=0, atol=tol) if tol else np.array_equal(x, y) for x, y in zip(a, b))


def _imports() -> None:
    """What the jobs load once per process (run here and on every worker before timing)."""
    import torch  # noqa: F401

    import imsim.embed
    import imsim.search.sharded  # noqa: F401
    from imsim.distances.emd import _load_emd_c

    _load_emd_c()


def _photos(folder: Path, n: int) -> Path:
    """``n`` small JPEG photos (random colour blocks with noise), in sub-folders of 500."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / f"d{i // 500:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        base = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((24, 24, 1)))
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(sub / f"p{i:05d}.jpg", quality=90)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", help="folder with the MNIST idx files")
    ap.add_argument("--quick", action="store_true", help="10x smaller sizes")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--photos", type=int, default=0, help="also index this many generated photos")
    ap.add_argument("--only", default="", help="comma-separated job names to run")
    args = ap.parse_args()

    from imsim.cluster import silhouette
    from imsim.datasets import read_images, read_labels, write_images
    from imsim.distances.emd_knn import emd_knn
    from imsim.engine import get_engine
    from imsim.embed import encode_images
    from imsim.search.sharded import exact_knn
    from imsim.models import ConvAutoencoder, save_checkpoint

    mnist = _mnist_dir(args.mnist)
    tmp = Path(tempfile.mkdtemp(prefix="imsim-engine-bench-"))
    scale = 10 if args.quick else 1
    n_data, n_q, n_sil, n_emd = 60000 // scale, 2000 // scale, 5000 // scale, 100 // scale
    try:
        # plain idx files: a worker seeks to its block (a .gz would be inflated up to it)
        x_path = tmp / "train.idx"
        with gzip.open(mnist / "train-images-idx3-ubyte.gz") as f, open(x_path, "wb") as g:
            shutil.copyfileobj(f, g)
        X = read_images(x_path)
        if scale > 1:
            x_path = write_images(tmp / "train-small.idx", X[:n_data])
            X = X[:n_data]
        Qimg = read_images(mnist / "t10k-images-idx3-ubyte.gz")
        q_path = write_images(tmp / "queries.idx", Qimg[:n_q])
        labels = read_labels(mnist / "train-labels-idx1-ubyte.gz")[:n_sil]
        model_dir = save_checkpoint(tmp / "model", ConvAutoencoder())  # the default MNIST model

        t_start, dask = _timed(lambda: get_engine("dask", n_workers=2))
        jobs = {
            f"exact 10-NN, {n_q:,} x {n_data:,} (L1)":
                (lambda e: exact_knn(q_path, x_path, 10, engine=e), 0.0),
            f"exact silhouette, N = {n_sil:,} (L1)":
                (lambda e: silhouette(X[:n_sil].reshape(n_sil, -1), labels, engine=e).samples, 0.0),
            f"exact EMD 10-NN, {n_emd} queries x {n_data:,}":
                (lambda e: emd_knn(Qimg[:n_emd], X, k=10, engine=e), 0.0),
            f"encoding {n_data:,} MNIST images":
                (lambda e: encode_images(model_dir, x_path, engine=e), 1e-5),
        }
        if args.photos:
            from imsim.collection import Collection

            photos = _photos(tmp / "photos", args.photos)
            model = Collection.build(photos, tmp / "trained", size=32, epochs=1, progress=False)
            runs = iter(range(10**6))

            def index(e):
                coll = Collection.build(photos, tmp / f"c{next(runs)}", size=32, model=model.path,
                                        engine=e, progress=False)
                return ([(r.path, r.sha256) for r in coll.records()], coll.latents)

            jobs[f"imsim index, {args.photos:,} photos (decode + encode)"] = (index, None)
        if args.only:
            jobs = {k: v for k, v in jobs.items() if any(w in k for w in args.only.split(","))}

        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; "
              f"dask cluster start-up {t_start:.1f} s (2 workers, 1 thread each, 127.0.0.1)")
        times = {name: {"local": [], "dask": []} for name in jobs}
        cpu = {name: {"local": [], "dask": []} for name in jobs}
        placement, agree = {}, {}
        _imports()
        dask.client.run(_imports)
        for r in range(args.rounds):
            for name, (job, tol) in jobs.items():
                t_local, c_local, ref = _cpu_timed(lambda job=job: job(None), None)
                t_dask, c_dask, got = _cpu_timed(lambda job=job: job(dask), dask)
                times[name]["local"].append(t_local)
                times[name]["dask"].append(t_dask)
                cpu[name]["local"].append(c_local)
                cpu[name]["dask"].append(c_dask)
                placement[name] = sorted(dask.last_placement.values())
                if r == 0 and tol is None:  # (records, latents): records equal, latents within 1e-5
                    agree[name] = ref[0] == got[0] and _same(ref[1], got[1], 1e-5)
                elif r == 0:
                    agree[name] = _same(ref, got, tol)
        dask.close()

        print(f"\n{'job':<46} {'local s':>8} {'dask s':>8} {'dask/local':>10}  {'CPU local/dask s':>16} "
              f"{'CPU ratio':>9}  tasks per worker  same result")
        for name in jobs:
            lo, da = statistics.median(times[name]["local"]), statistics.median(times[name]["dask"])
            cl, cd = statistics.median(cpu[name]["local"]), statistics.median(cpu[name]["dask"])
            print(f"{name:<46} {lo:>8.2f} {da:>8.2f} {da / lo:>9.2f}x  {f'{cl:.2f} / {cd:.2f}':>16} "
                  f"{cd / cl:>8.2f}x  {str(placement[name]):<16}  {'yes' if agree[name] else 'NO'}")
        print(f"\nmedians of {args.rounds} interleaved rounds; load average {os.getloadavg()[0]:.1f} "
              f"at the end")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
