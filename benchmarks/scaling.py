"""The measured constants of docs/SCALING.md: bytes per vector and CPU seconds per unit of work.

    .venv/bin/python benchmarks/scaling.py

Times are CPU seconds of one thread (``time.process_time`` with every kernel on one
thread), so they hold on a loaded machine, where wall times do not; docs/SCALING.md
turns them into memory and time as N grows.
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["IMSIM_NUM_THREADS"] = "1"  # before imsim: one kernel thread
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from emd import _mnist_dir  # noqa: E402  (the benchmarks' MNIST finder)


def _cpu(fn, *args, **kw):
    t0 = time.process_time()
    out = fn(*args, **kw)
    return time.process_time() - t0, out


def _file_bytes(index) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        return index.save(Path(tmp) / "i.npz").stat().st_size


def main() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    from imsim.cluster import silhouette
    from imsim.datasets import read_images, read_labels
    from imsim.distances.emd_knn import emd_knn
    from imsim.embed import encode
    from imsim.models import AutoencoderConfig, ConvAutoencoder
    from imsim.search import ExactIndex, HNSWIndex

    torch.set_num_threads(1)
    threadpool_limits(1)
    mnist = _mnist_dir(None)
    X = read_images(mnist / "train-images-idx3-ubyte.gz")
    Q = read_images(mnist / "t10k-images-idx3-ubyte.gz")[:200]
    y = read_labels(mnist / "train-labels-idx1-ubyte.gz")
    Xf = X.reshape(len(X), -1)
    rows = []

    # memory: bytes per vector as stored, N = 20,000
    n = 20000
    Z = np.random.default_rng(0).standard_normal((n, 32)).astype(np.float32)
    rows.append(("exact index, MNIST pixels (uint8 784)", _file_bytes(ExactIndex().fit(Xf[:n])) / n, "B/vector"))
    rows.append(("exact index, 32-d float32 latents", _file_bytes(ExactIndex("l2").fit(Z)) / n, "B/vector"))
    rows.append(("HNSW (M=16), 32-d latents", _file_bytes(HNSWIndex(metric="l2").fit(Z)) / n, "B/vector"))
    import faiss

    ivf = faiss.IndexIVFPQ(faiss.IndexFlatL2(32), 32, 256, 8, 8)
    ivf.train(Z)
    ivf.add(Z)
    buf = faiss.serialize_index(ivf)
    rows.append(("FAISS IVF-PQ (256 lists, 8 bytes/code), 32-d", len(buf) / n, "B/vector"))

    # time, one thread
    t, _ = _cpu(ExactIndex().fit(Xf).search, Q.reshape(len(Q), -1), 10)
    rows.append(("exact L1 10-NN, pixels: per (query, image) pair", 1e9 * t / (len(Q) * len(X)), "ns"))
    t, _ = _cpu(ExactIndex("l2").fit(np.repeat(Z, 3, axis=0)).search, Z[:2000], 10)
    rows.append(("exact L2 10-NN, 32-d latents: per pair", 1e9 * t / (2000 * 3 * n), "ns"))
    ns = 6000
    t, _ = _cpu(silhouette, Xf[:ns], y[:ns])
    rows.append(("exact silhouette, pixels: per distance (N^2/2 of them)", 1e9 * t / (ns * ns / 2), "ns"))
    t, _ = _cpu(emd_knn, Q[:20].copy(), X, 10, n_jobs=1)
    rows.append(("exact EMD 10-NN over 60,000 (4x4 windows): per query", 1e3 * t / 20, "ms"))
    model = ConvAutoencoder()
    t, _ = _cpu(encode, model, X[:3000], progress=False)
    rows.append(("encoding, MNIST model 28x28: per image", 1e3 * t / 3000, "ms"))
    photo_model = ConvAutoencoder(AutoencoderConfig(input_shape=(64, 64, 3), filters=[16, 32, 32],
                                                    latent_dim=32))
    photos = np.random.default_rng(0).integers(0, 256, (500, 64, 64, 3), dtype=np.uint8)
    t, _ = _cpu(encode, photo_model, photos, progress=False)
    rows.append(("encoding, photo model 64x64 RGB: per image", 1e3 * t / 500, "ms"))
    from PIL import Image

    from imsim.datasets import load_image

    rng = np.random.default_rng(1)
    jpegs = []
    for _ in range(100):
        b = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (1536, 2048, 3), dtype=np.uint8)).save(b, "JPEG", quality=85)
        jpegs.append(b.getvalue())
    t, _ = _cpu(lambda: [load_image(j, size=64) for j in jpegs])
    rows.append(("decode + resize a 3 MP JPEG to 64x64: per photo", 1e3 * t / len(jpegs), "ms"))

    width = max(len(r[0]) for r in rows)
    print(f"{'constant':<{width}} {'value':>10}  unit")
    for name, value, unit in rows:
        print(f"{name:<{width}} {value:>10.3f}  {unit}")
    print(f"\n(one thread, CPU seconds; load average {os.getloadavg()[0]:.1f}; {sys.platform})")


if __name__ == "__main__":
    main()
