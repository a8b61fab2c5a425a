"""Real photos: does each encoder find the other versions of a picture?

    .venv/bin/python benchmarks/photos.py                      # eval folders of 200 and 5,000 photos
    .venv/bin/python benchmarks/photos.py --sizes 200 --quick  # 200 photos, 2,000 MNIST images
    .venv/bin/python benchmarks/photos.py --real               # real pictures (photos_real.py)
    .venv/bin/python benchmarks/photos.py --speed 2000         # photos/s of `imsim index` on camera-sized JPEGs
    .venv/bin/python benchmarks/photos.py --scale 100000       # peak memory, disk per photo, photos/s at scale

The folders (benchmarks/photos_data.py) hold pictures in several versions: crops with
another aspect ratio, resizes, dark/light variants, flips, JPEG quality 30, small
rotations. Each encoder indexes the folder with ``Collection.build`` (training
included) and is measured on what ``imsim query`` and ``imsim duplicates`` answer:

* recall@5: of the other versions of the query's picture (up to 5), the fraction in
  its top 5, averaged over every photo that has other versions;
* mAP over the 32 cached neighbours (versions beyond them count as missed);
* duplicates precision / recall: pairs of photos put in one group by
  ``Collection.duplicates()`` at the encoder's default threshold, against the pairs
  that are versions of one picture;
* index time (scan, training, encoding, HNSW, cache) and the median time of a query
  by a photo file, decoded and encoded (``mode="default"``);
* the thumbnails every build stores (160 and 320 px, collection/_thumbs.py): rendered
  once more after the builds and timed, the share of each index time they are;
* MNIST label precision@10: the encoder fitted on the first MNIST test images and
  each image's 10 nearest others (exact L2), so the digits task is not lost.

``thumbnail`` is the floor (baseline row); ``autoencoder`` is what ``imsim index``
trained before encoders had names ("today"). Thresholds and defaults were chosen on
``--split dev`` folders; the README's figures come from ``--split eval`` (other seeds,
plus the real photographs of scikit-learn and matplotlib), never used for tuning.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/collection.py

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photos_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENCODERS = ("thumbnail", "autoencoder", "contrastive", "features")


def picture_of(relpaths: list[str]) -> np.ndarray:
    return np.array([int(Path(r).name[1:6]) for r in relpaths])


def retrieval(ids: np.ndarray, pic: np.ndarray) -> tuple[float, float]:
    """(recall@5 of the other versions, mAP over the cached lists)."""
    recall, aps = [], []
    for i in range(len(pic)):
        others = int((pic == pic[i]).sum()) - 1
        if not others:
            continue
        row = ids[i][ids[i] >= 0]
        rel = pic[row] == pic[i]
        recall.append(rel[:5].sum() / min(others, 5))
        aps.append((np.cumsum(rel)[rel] / (np.flatnonzero(rel) + 1)).sum() / others)
    return float(np.mean(recall)), float(np.mean(aps))


def pair_scores(groups: list[list[int]], pic: np.ndarray) -> tuple[float, float]:
    """(precision, recall) of the pairs within ``groups`` against same-picture pairs."""
    _, counts = np.unique(pic, return_counts=True)
    true_pairs = int((counts * (counts - 1) // 2).sum())
    found = correct = 0
    for g in groups:
        p = pic[g]
        found += len(g) * (len(g) - 1) // 2
        _, c = np.unique(p, return_counts=True)
        correct += int((c * (c - 1) // 2).sum())
    return (correct / found if found else 1.0), (correct / true_pairs if true_pairs else 1.0)


def mnist_precision(name: str, n: int) -> float | None:
    """Label precision@10 of encoder ``name`` on the first ``n`` MNIST test images."""
    from imsim.datasets import read_imageset
    from imsim.distances import topk
    from imsim.encoders import choose, make_encoder

    mnist = ROOT.parent / "shared" / "datasets" / "mnist"
    if not (mnist / "t10k-images-idx3-ubyte.gz").exists():
        return None
    data = read_imageset(mnist / "t10k-images-idx3-ubyte.gz", mnist / "t10k-labels-idx1-ubyte.gz")
    px, labels = np.asarray(data.images[:n]), np.asarray(data.labels[:n])
    real = choose(n)[0] if name == "auto" else name
    enc = make_encoder(real, latent_dim=32, size=28, color=False).fit(px, seed=0)
    v = enc.encode(px)
    _, I = topk(v, v, 11, "l2")
    nn = np.array([row[row != i][:10] for i, row in enumerate(I)])
    return float(np.mean(labels[nn] == labels[:, None]))


def run_folder(folder: Path, work: Path, encoders, *, n_queries: int, keep: bool = False):
    from imsim.collection import Collection

    rows = []
    files = sorted(p for p in folder.iterdir() if p.suffix == ".jpg")
    queries = files[:: max(1, len(files) // n_queries)][:n_queries]
    for name in encoders:
        start = time.perf_counter()
        shutil.rmtree(work / f"coll-{name}", ignore_errors=True)
        coll = Collection.build(folder, work / f"coll-{name}", encoder=name, progress=False)
        index_s = time.perf_counter() - start
        pic = picture_of([r.path for r in coll.records()])
        recall, m_ap = retrieval(np.asarray(coll.neighbors()[0]), pic)
        t0 = time.perf_counter()
        dup = coll.duplicates(progress=False)
        dup_s = time.perf_counter() - t0
        precision, rec = pair_scores(dup.groups, pic)
        coll.query(queries[0], n=10, mode="default", verify=True)  # loads the encoder and the index
        times, verified = [], []
        for q in queries:
            t0 = time.perf_counter()
            coll.query(q, n=10, mode="default")
            times.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            coll.query(q, n=10, mode="default", verify=True)
            verified.append((time.perf_counter() - t0) * 1e3)
        row = dict(encoder=name if name != "auto" else f"auto -> {coll.encoder_name}",
                   recall5=recall, mAP=m_ap, dup_p=precision, dup_r=rec, threshold=dup.threshold,
                   index_s=index_s, train_s=coll.manifest["encoder"].get("train_seconds", 0.0), query_ms=statistics.median(times),
                   verified_ms=statistics.median(verified), dup_s=dup_s,
                   dim=coll.latents.shape[1])
        rows.append(row)
        print(f"  {row['encoder']}: recall@5 {recall:.3f}, indexed in {index_s:.1f} s", flush=True)
        if name == encoders[-1]:
            rows.append(dict(encoder="thumbnails", thumbs_s=thumbnail_seconds(coll, folder, work)))
        coll.close()
        if not keep:
            shutil.rmtree(work / f"coll-{name}", ignore_errors=True)
    return rows


def thumbnail_seconds(coll, folder: Path, work: Path) -> float:
    """Seconds to render and store the thumbnails of ``coll``'s photos, as a build does."""
    from imsim.collection import _thumbs

    out = work / "thumbs-timed"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    start = time.perf_counter()
    _thumbs.write(out, folder, coll.records(), progress=False)
    seconds = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return seconds


PHASH = ("import sys\nimport imagehash\nfrom PIL import Image\n"
         "for p in open(sys.argv[1]).read().split('\\n'):\n"
         "    if p:\n        imagehash.phash(Image.open(p))\n")


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def _run_timed(commands: list[list[str]], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds until every command has exited, their CPU seconds): the commands run at once."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
             for c in commands]
    for p, c in zip(procs, commands):
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(f"{' '.join(c)} failed: {err.decode()[-2000:]}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def speed(n: int, work: Path, rounds: int, baseline: Path | None = None) -> None:
    """photos/s of ``imsim index`` (default and ``thumbnail`` encoders, thumbnails included,
    the whole command) against imagehash's pHash in one and in two processes, over the
    same ``n`` generated camera-sized (1024 x 768) JPEGs, in one run, the commands taking
    turns ``rounds`` times; the load average is printed before each command. ``baseline``:
    also ``imsim index`` from that source tree (its ``src``), e.g. the code before a change."""
    try:
        import imagehash  # noqa: F401
    except ImportError:
        sys.exit("--speed compares with imagehash's pHash: pip install 'imsim[bench]'")
    folder = work / f"camera{n}"
    start = time.perf_counter()
    files = photos_data.camera_folder(folder, n)
    size_kb = sum(p.stat().st_size for p in files) / len(files) / 1e3
    print(f"{n} photos 1024x768 (JPEG quality 90, {size_kb:.0f} kB each on average) in {folder} "
          f"({time.perf_counter() - start:.1f} s)", flush=True)
    lists = []
    for k, part in enumerate(([files], [files[0::2], files[1::2]])):
        for j, chunk in enumerate(part):
            path = work / f"files-{k}-{j}.txt"
            path.write_text("\n".join(str(p) for p in chunk))
            lists.append(path)
    py = sys.executable
    imsim = [py, "-m", "imsim", "index", str(folder), "-c"]
    cases = {
        "imsim index (default: features)": lambda: [imsim + [str(work / "c-default")]],
        "imsim index --encoder thumbnail": lambda: [imsim + [str(work / "c-thumb"), "--encoder", "thumbnail"]],
        **({"imsim index, baseline tree": lambda: [imsim + [str(work / "c-base")]]} if baseline else {}),
        "imagehash pHash, 1 process": lambda: [[py, "-c", PHASH, str(lists[0])]],
        "imagehash pHash, 2 processes": lambda: [[py, "-c", PHASH, str(lists[1])],
                                                 [py, "-c", PHASH, str(lists[2])]],
    }
    times: dict[str, list[tuple[float, float, str]]] = {k: [] for k in cases}
    for r in range(rounds):
        for name, make in cases.items():
            for c in ("c-default", "c-thumb", "c-base"):
                shutil.rmtree(work / c, ignore_errors=True)
            env = None
            if "baseline" in name:
                env = {**os.environ, "PYTHONPATH": str(Path(baseline).resolve() / "src")}
            load = _load()
            wall, cpu = _run_timed(make(), env)
            times[name].append((wall, cpu, f"{load}-{_load()}"))
            print(f"  round {r + 1}: {name}: {n / wall:.0f} photos/s ({wall:.2f} s, {cpu:.1f} s CPU, "
                  f"load {load} -> {_load()})", flush=True)
    base = statistics.median(n / w for w, _, _ in times["imagehash pHash, 2 processes"])
    print(f"\n{n} photos 1024x768, {os.cpu_count()} cores, {rounds} rounds taking turns; "
          f"median of the rounds; whole commands (start-up, thumbnails, HNSW included)")
    print(f"{'command':<34} {'photos/s':>9} {'vs pHash x2':>12} {'CPU ms/photo':>13} {'load (each round)':>30}")
    for name, rows in times.items():
        rate = statistics.median(n / w for w, _, _ in rows)
        cpu = statistics.median(c for _, c, _ in rows) / n * 1e3
        loads = ", ".join(ld for _, _, ld in rows)
        print(f"{name:<34} {rate:9.0f} {rate / base:11.2f}x {cpu:13.2f} {loads:>30}")


def _tagged(data: bytes, tag: str) -> bytes:
    """The JPEG ``data`` with a comment segment after its start marker: other bytes (another
    SHA-256, so another file to decode and index), the same pixels."""
    payload = tag.encode()
    return data[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


def scale(n: int, work: Path, scenes: int) -> None:
    """Index ``n`` camera-sized photos on this machine: peak memory of the command, disk per
    photo, photos/s. Generating ``n`` distinct 1024 x 768 scenes takes about 0.1 s each, so
    ``scenes`` distinct ones are generated and written ``n / scenes`` times each with a
    comment that makes every file distinct (groups of identical pixels: the neighbour
    lists are not those of a real folder, the costs are those of ``n`` photos)."""
    import resource
    import subprocess

    scenes = min(scenes, n)
    start = time.perf_counter()
    sources = photos_data.camera_folder(work / f"camera{scenes}", scenes)
    folder = work / f"scale{n}-{scenes}"
    blobs = [p.read_bytes() for p in sources]
    for i in range(n):
        path = folder / f"d{i // 1000:04d}" / f"img{i:07d}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_tagged(blobs[i % scenes], f"imsim-scale {i}"))
    photo_bytes = sum(len(_tagged(blobs[i % scenes], f"imsim-scale {i}")) for i in range(n))
    print(f"{n:,} photos ({scenes:,} distinct 1024x768 scenes) in {folder} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)
    coll = work / f"coll-scale{n}"
    shutil.rmtree(coll, ignore_errors=True)
    load = _load()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "imsim", "index", str(folder), "-c", str(coll)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    current = json.loads((coll / "collection.json").read_text())["current"]
    version = coll / "versions" / current
    files = {p.name: p.stat().st_size for p in version.rglob("*") if p.is_file()}
    total = sum(files.values())
    print(f"\n{n:,} photos, {os.cpu_count()} cores, load {load} -> {_load()}: "
          f"{n / wall:.0f} photos/s ({wall:.1f} s, the whole command), peak memory {peak_mib:,.0f} MiB, "
          f"collection {total / n / 1e3:.1f} kB a photo ({total / 1e6:,.0f} MB; the photos "
          f"{photo_bytes / n / 1e3:.0f} kB a photo)")
    for name, size in sorted(files.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {name:<24} {size / n:10.0f} bytes a photo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 5000], help="photos per folder")
    parser.add_argument("--split", choices=("dev", "eval"), default="eval")
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    parser.add_argument("--mnist", type=int, default=5000, help="MNIST test images (0: skip)")
    parser.add_argument("--queries", type=int, default=30, help="timed queries per folder")
    parser.add_argument("--real", nargs="*", default=None, metavar="FOLDER",
                        help="the real-picture folders of benchmarks/real_folders.py instead "
                             "(default: all but icons)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/imsim-real"),
                        help="where --real builds its folders")
    parser.add_argument("--quick", action="store_true", help="2,000 MNIST images")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated folders here")
    parser.add_argument("--speed", type=int, default=None, metavar="N",
                        help="instead: photos/s of imsim index against pHash on N camera-sized JPEGs")
    parser.add_argument("--rounds", type=int, default=3, help="--speed: rounds of the commands")
    parser.add_argument("--baseline", type=Path, default=None, metavar="TREE",
                        help="--speed: also time imsim index from this source tree (TREE/src)")
    parser.add_argument("--scale", type=int, default=None, metavar="N",
                        help="instead: peak memory, disk per photo and photos/s of imsim index on N photos")
    parser.add_argument("--scenes", type=int, default=2000,
                        help="--scale: distinct scenes generated (each written N/scenes times)")
    args = parser.parse_args()
    if args.scale:
        work = args.keep or Path(tempfile.mkdtemp(prefix="imsim-bench-scale-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            return scale(args.scale, work, args.scenes)
        finally:
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
    if args.speed:
        work = args.keep or Path(tempfile.mkdtemp(prefix="imsim-bench-speed-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            return speed(args.speed, work, args.rounds, args.baseline)
        finally:
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
    if args.real is not None:
        import photos_real

        return photos_real.main(args.real, args.cache, n_queries=args.queries)
    work = args.keep or Path(tempfile.mkdtemp(prefix="imsim-bench-photos-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        for n in args.sizes:
            folder = work / f"{args.split}{n}"
            if not folder.exists():
                start = time.perf_counter()
                photos_data.generate(folder, n, args.split)
                print(f"generated {folder} in {time.perf_counter() - start:.1f} s", flush=True)
            results[n] = run_folder(folder, work, args.encoders, n_queries=args.queries,
                                    keep=args.keep is not None)
        n_mnist = 2000 if args.quick else args.mnist
        mnist = {e: mnist_precision(e, n_mnist) for e in args.encoders} if n_mnist else {}
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nsplit: {args.split}; 'thumbnail' is the floor, 'autoencoder' the encoder collections used before encoders had names "
          f"(today's index time)")
    head = (f"{'photos':>6} {'encoder':<24} {'recall@5':>8} {'vs floor':>8} {'mAP':>6} {'dup P':>6} "
            f"{'dup R':>6} {'thresh':>7} {'index s':>8} {'vs today':>8} {'train s':>8} {'query ms':>8} "
            f"{'verif ms':>8} {'dups s':>7}")
    print(head)
    for n, rows in results.items():
        floor = next((r["recall5"] for r in rows if r["encoder"] == "thumbnail"), None)
        today = next((r["index_s"] for r in rows if r["encoder"] == "autoencoder"), None)
        for r in rows:
            if r["encoder"] == "thumbnails":
                print(f"{n:>6} of each index time, the stored 160/320 px thumbnails: {r['thumbs_s']:.1f} s")
                continue
            vs = "" if floor is None else f"{r['recall5'] - floor:+.3f}"
            ratio = "" if today is None else f"{r['index_s'] / today:.2f}x"
            print(f"{n:>6} {r['encoder']:<24} {r['recall5']:8.3f} {vs:>8} {r['mAP']:6.3f} "
                  f"{r['dup_p']:6.3f} {r['dup_r']:6.3f} {r['threshold']:7.4f} {r['index_s']:8.1f} "
                  f"{ratio:>8} {r['train_s']:8.1f} {r['query_ms']:8.1f} {r['verified_ms']:8.1f} {r['dup_s']:7.1f}")
    if mnist:
        print(f"\nMNIST label precision@10 ({n_mnist} test images, exact L2 on each encoder's vectors):")
        for e, p in mnist.items():
            print(f"  {e:<14} {'n/a' if p is None else f'{p:.3f}'}")


if __name__ == "__main__":
    main()
