"""Web API throughput over loopback on a 10,000-image collection.

Targets: >= 50 searches/s by collection id on 2 cores (issue "Web page"); 16 concurrent
uploads of the worst image the server accepts keep its peak RSS <= 1.5 GB and its memory
within 200 MB of idle afterwards (the web page round).

The collection is synthetic, so the run needs no data: 100 families of a random 4x4
grid of colours, 100 members each (shifted by up to 1 pixel, Gaussian noise of
sigma 6), saved as 32x32 PNGs and indexed at 16x16 RGB with a 16-dimensional latent
and a model trained for 1 epoch (seed 0). It is built once into ``--workdir`` and
reused by later runs.

The server is ``imsim serve`` in a subprocess on 127.0.0.1 (any free port, no
access log), as a person would start it. Clients are threads, each with its own
keep-alive ``httpx.Client``, sending a fixed number of requests: the run is bounded
and stops by itself. Client and server share the machine's cores, so the numbers
include the client's own cost. The baseline row is ``Collection.query`` called in
this process (no HTTP): "x library" is each row's rate over it.

The memory rows read the server's resident memory from /proc (Linux): idle after one
ordinary upload, the peak (VmHWM) over 16 concurrent uploads of a blank RGBA PNG just
under the server's pixel cap (7071x7071, 200 MB decoded from 0.6 MB sent), and after.

    .venv/bin/python benchmarks/web.py            # 10,000 images, 2,000 requests a row
    .venv/bin/python benchmarks/web.py --quick    # 2,000 images, 400 requests a row
"""
from __future__ import annotations

import argparse
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

TARGET_QPS = 50.0
FAMILIES = 100
PEAK_TARGET_MB, AFTER_TARGET_MB = 1536, 200


def make_photos(root: Path, n_images: int, seed: int = 0) -> None:
    """Write ``n_images`` 32x32 PNGs in ``FAMILIES`` families into ``root``."""
    rng = np.random.default_rng(seed)
    bases = [np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1))) for _ in range(FAMILIES)]
    for f in range(FAMILIES):
        (root / f"fam{f:03d}").mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        f = i % FAMILIES
        img = np.roll(bases[f], tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
        img = img + rng.normal(0, 6, img.shape)
        pixels = np.clip(img, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"fam{f:03d}" / f"{i:05d}.png")


def collection(workdir: Path, n_images: int) -> Path:
    """The benchmark collection of ``n_images`` images, built on the first run."""
    from imsim.collection import Collection

    path = workdir / f"coll-{n_images}"
    if (path / "collection.json").is_file():
        return path
    photos = workdir / f"photos-{n_images}"
    if not photos.is_dir():
        t = time.perf_counter()
        make_photos(photos, n_images)
        print(f"wrote {n_images:,} synthetic photos in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    Collection.build(photos, path, size=16, latent_dim=16, epochs=1, seed=0, progress=False).close()
    print(f"indexed them in {time.perf_counter() - t:.1f} s", flush=True)
    return path


class Server:
    """``imsim serve`` in a subprocess; stopped (SIGINT, then SIGKILL) on exit."""

    def __init__(self, coll: Path):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "imsim", "serve", "-c", str(coll), "--port", "0",
             "--no-access-log"], stdout=subprocess.PIPE, stderr=self.log, text=True)

    def __enter__(self) -> str:
        # "serving COLLECTION (N images, version V)", "open http://127.0.0.1:PORT/ in a browser; ..."
        line = self.proc.stdout.readline() + self.proc.stdout.readline()
        m = re.search(r"open (http://\S+/)", line)
        if m is None:
            self.__exit__()
            self.log.seek(0)
            sys.exit(f"imsim serve did not start:\n{line}{self.log.read().decode()}")
        return m.group(1)

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def drive(url: str, make_request, n_requests: int, clients: int) -> dict:
    """Send ``n_requests`` requests from ``clients`` threads; rate and latency percentiles.

    ``make_request(client, i)`` sends request ``i`` with an ``httpx.Client`` and returns
    the response. Every response must be 200.
    """
    import httpx

    def worker(w: int) -> list[float]:
        times = []
        with httpx.Client(base_url=url, timeout=60) as client:
            for i in range(w, n_requests, clients):
                t = time.perf_counter()
                r = make_request(client, i)
                times.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"request {i}: HTTP {r.status_code}: {r.text[:200]}")
        return times

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = np.concatenate([np.asarray(t) for t in pool.map(worker, range(clients))])
    wall = time.perf_counter() - start
    return {"requests": n_requests, "clients": clients, "qps": n_requests / wall,
            "p50_ms": float(np.percentile(latencies, 50) * 1e3),
            "p95_ms": float(np.percentile(latencies, 95) * 1e3)}


def bomb_png(width: int, height: int) -> bytes:
    """A valid RGBA PNG of blank pixels: ``width * height * 4`` bytes once decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row, packer = bytes(1 + 4 * width), zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1)) / 1024


def bomb_uploads(url: str, pid: int, small: bytes, clients: int = 16) -> dict:
    """Server memory over ``clients`` concurrent uploads of the worst accepted image."""
    import httpx

    side = 7071  # 49,999,041 pixels: just under the server's default cap of 50,000,000
    bomb = bomb_png(side, side)
    httpx.post(url + "api/search", files={"image": ("q.png", small)}, timeout=60)
    idle = rss_mb(pid)
    statuses = []

    def upload(_):
        r = httpx.post(url + "api/search", files={"image": ("bomb.png", bomb)}, data={"n": "3"},
                       timeout=600)
        statuses.append(r.status_code)

    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(upload, range(clients)))
    wall = time.perf_counter() - t
    refused = httpx.post(url + "api/search", files={"image": ("b.png", bomb_png(9400, 9400))},
                         timeout=60).status_code
    return {"clients": clients, "statuses": statuses, "idle": idle, "peak": rss_mb(pid, "VmHWM"),
            "after": rss_mb(pid), "wall": wall, "bytes": len(bomb), "side": side,
            "refused_9400": refused}


def library_baseline(coll_path: Path, n_requests: int, n_images: int) -> dict:
    from imsim.collection import Collection

    with Collection.open(coll_path) as coll:
        coll.query(0, 10)  # load the neighbour cache, as the server does before serving
        times = []
        start = time.perf_counter()
        for i in range(n_requests):
            t = time.perf_counter()
            coll.query((i * 7919) % n_images, 10)
            times.append(time.perf_counter() - t)
        wall = time.perf_counter() - start
    times = np.asarray(times)
    return {"requests": n_requests, "clients": 1, "qps": n_requests / wall,
            "p50_ms": float(np.percentile(times, 50) * 1e3),
            "p95_ms": float(np.percentile(times, 95) * 1e3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=None, help="collection size [10000; --quick 2000]")
    ap.add_argument("--requests", type=int, default=None, help="requests a row [2000; --quick 400]")
    ap.add_argument("--quick", action="store_true", help="a smaller, faster run")
    ap.add_argument("--no-memory", action="store_true",
                    help="skip the memory rows (16 concurrent 50-megapixel uploads)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "imsim-bench-web",
                    help="where the synthetic photos and collection are kept between runs")
    args = ap.parse_args()
    n_images = args.images or (2000 if args.quick else 10_000)
    n_req = args.requests or (400 if args.quick else 2000)
    n_slow = max(n_req // 10, 20)  # uploads decode and encode: fewer of them
    args.workdir.mkdir(parents=True, exist_ok=True)
    coll_path = collection(args.workdir, n_images)
    photos = sorted((args.workdir / f"photos-{n_images}").rglob("*.png"))
    # uploads: collection photos with one pixel changed, so none is answered from the cache
    fresh = []
    for p in photos[:50]:
        img = np.asarray(Image.open(p)).copy()
        img[0, 0] ^= 1
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        fresh.append(buf.getvalue())

    def by_id(n, metric=None):
        fields = {"n": str(n), **({"metric": metric} if metric else {})}
        return lambda c, i: c.post("/api/search", data={"id": str((i * 7919) % n_images), **fields})

    def thumb(c, i):
        return c.get(f"/api/images/{i}")

    n_thumbs = min(n_req, n_images)
    cases = [
        ("search by id, n=10 (cached)", by_id(10), n_req, 1),
        ("search by id, n=10 (cached)", by_id(10), n_req, 4),
        ("search by id, n=10 (cached)", by_id(10), n_req, 8),
        ("search by id, n=10, cosine (exact)", by_id(10, "cosine"), n_req, 4),
        ("search by id, n=50 (HNSW index)", by_id(50), n_req, 4),
        ("thumbnail, first fetch", thumb, n_thumbs, 4),
        ("thumbnail, again (memory cache)", thumb, n_thumbs, 4),
        ("search by upload, n=10", lambda c, i: c.post(
            "/api/search", files={"image": ("q.png", fresh[i % len(fresh)], "image/png")},
            data={"n": "10"}), n_slow, 4),
    ]
    rows = [("Collection.query by id, n=10 (in process, no HTTP)",
             library_baseline(coll_path, n_req, n_images))]
    memory = None
    server = Server(coll_path)
    with server as url:
        import httpx

        t = time.perf_counter()
        while True:  # the server prints its address just before it starts accepting
            try:
                if httpx.get(url + "api/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                if time.perf_counter() - t > 60:
                    raise
                time.sleep(0.1)
        # the server answers what the library answers
        from imsim.collection import Collection

        with Collection.open(coll_path) as coll:
            expected = coll.query(123 % n_images, 10).ids
        answer = httpx.post(url + "api/search", data={"id": 123 % n_images}).json()
        got = [h["id"] for h in answer["results"]]
        assert got == expected, (got, expected)
        for name, make, count, clients in cases:
            rows.append((name, drive(url, make, count, clients)))
        if not args.no_memory and Path("/proc/self/status").exists():
            memory = bomb_uploads(url, server.proc.pid, fresh[0])

    base = rows[0][1]["qps"]
    head = (f"{'case':<52} {'requests':>8} {'clients':>7} {'queries/s':>10} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'x library':>9}  target")
    print(f"\nweb API on {n_images:,} images, {os.cpu_count()} cores (client and server share them)")
    print(head)
    print("-" * len(head))
    for name, r in rows:
        target = ""
        if name.startswith("search by id, n=10 (cached)"):
            target = f">= {TARGET_QPS:.0f}/s: {'yes' if r['qps'] >= TARGET_QPS else 'NO'}"
        print(f"{name:<52} {r['requests']:>8} {r['clients']:>7} {r['qps']:>10.1f} {r['p50_ms']:>8.2f} "
              f"{r['p95_ms']:>8.2f} {r['qps'] / base:>9.3f}  {target}")
    if memory is not None:
        m = memory
        print(f"\nserver memory, {m['clients']} concurrent uploads of a {m['side']}x{m['side']} RGBA "
              f"PNG ({m['bytes']:,} bytes; {m['wall']:.1f} s; HTTP {sorted(set(m['statuses']))})")
        print(f"{'idle (after one ordinary upload)':<52} {m['idle']:>8.0f} MB")
        print(f"{'peak during the uploads (VmHWM)':<52} {m['peak']:>8.0f} MB  <= {PEAK_TARGET_MB} MB: "
              f"{'yes' if m['peak'] <= PEAK_TARGET_MB else 'NO'}")
        print(f"{'after':<52} {m['after']:>8.0f} MB  within {AFTER_TARGET_MB} MB of idle: "
              f"{'yes' if m['after'] - m['idle'] <= AFTER_TARGET_MB else 'NO'}")
        print(f"{'a 9400x9400 PNG (over the cap, under Pillow limit)':<52} HTTP {m['refused_9400']}")


if __name__ == "__main__":
    main()
