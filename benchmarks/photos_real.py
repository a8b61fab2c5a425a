"""Real pictures: duplicates a person can act on, and the same picture found again.

    .venv/bin/python benchmarks/photos.py --real                 # gnome plasma mate tux photos-dev(-b, -c) photos-eval distinct
    .venv/bin/python benchmarks/photos.py --real icons tux       # some folders (icons: 4,847 files)

The folders come from benchmarks/real_folders.py (Debian's GNOME, KDE and MATE wallpapers, Tux Paint
stamps and Adwaita icons, scikit-image / scikit-learn / matplotlib photographs in
versions, a folder with no duplicates), with their truth from file names. Each folder
is indexed with the ``thumbnail`` floor and with the default encoder (``auto``, what
``imsim index`` uses), and measured on what ``imsim query`` and ``imsim duplicates``
answer, in the same run:

* recall@5: of a file's other versions (up to 5), the share in its top 5; plain and
  with ``--verify`` (the 16 nearest re-ranked by local features);
* duplicates at the default threshold: pair precision and recall (transitive, as
  ``evaluate_duplicates`` counts), the precision per tier of the pairs found ("P rm":
  those a remove list is made of, identical, same pixels and near; "P mir": the
  ``mirrored`` tier, shown but not listed for removal), identical pairs found (of the pairs with the same
  bytes), lossless re-saves found in a "same pixels" pair (of those made),
  and the share of files with no true duplicate that are flagged: in a pair a person
  is offered to remove by (identical, same pixels, near: "wrong"), and in any pair,
  mirror images included ("+mirr": the ``mirrored`` tier, shown but not listed for
  removal unless asked);
* index time, duplicates time, and the median time of a query by a photo file
  (decoded and encoded: ``mode="default"``), plain and verified.

``photos-dev`` (and ``-b``, ``-c``) and the Debian folders were looked at while choosing the thresholds;
``photos-eval`` and ``distinct`` never were.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_folders  # noqa: E402

DEFAULT = ("gnome", "plasma", "mate", "tux", "photos-dev", "photos-dev-b", "photos-dev-c", "photos-eval",
           "distinct")
ENCODERS = ("thumbnail", "auto")


def recall_at_5(coll, folder, verify: bool) -> float:
    count = Counter(folder.picture.values())
    scores = []
    for rel, pic in sorted(folder.picture.items()):
        if count[pic] > 1:
            hits = coll.query(folder.path / rel, n=5, verify=verify).hits
            scores.append(sum(folder.picture.get(h.relpath) == pic for h in hits)
                          / min(count[pic] - 1, 5))
    return float(np.mean(scores)) if scores else float("nan")


def query_ms(coll, folder, n_queries: int, verify: bool) -> float:
    files = sorted(folder.picture)[:: max(1, len(folder.picture) // n_queries)][:n_queries]
    coll.query(folder.path / files[0], n=10, mode="default", verify=verify)  # warm
    times = []
    for rel in files:
        t0 = time.perf_counter()
        coll.query(folder.path / rel, n=10, mode="default", verify=verify)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def duplicate_row(coll, folder) -> dict:
    from imsim.collection import evaluate_duplicates

    t0 = time.perf_counter()
    dup = coll.duplicates(progress=False)
    seconds = time.perf_counter() - t0
    groups: dict[str, list[str]] = {}
    for rel, g in folder.duplicate.items():
        groups.setdefault(g, []).append(rel)
    truth = [g for g in groups.values() if len(g) > 1]
    score = evaluate_duplicates(truth, dup)
    rel = [r.path for r in coll.records()]
    # per tier: the pairs a person is offered to remove by, and the mirror images
    by_tier = {"remove": [p for p in dup.pairs if p.tier != "mirrored"],
               "mirrored": [p for p in dup.pairs if p.tier == "mirrored"]}
    tier_p = {k: evaluate_duplicates(truth, [[rel[p.a], rel[p.b]] for p in ps])["pair_precision"]
              if ps else float("nan") for k, ps in by_tier.items()}
    in_truth = {r for g in truth for r in g}
    flagged = {rel[i] for p in dup.pairs if p.tier != "mirrored" for i in (p.a, p.b)}
    shown = {r for g in dup.relpaths for r in g}
    sha = [r.sha256 for r in coll.records()]
    n_identical = sum(c * (c - 1) // 2 for c in Counter(sha).values())
    # identical pairs come as a star per group of equal files: count the pairs they link
    from imsim.collection._duplicates import group_pairs

    found_identical = sum(len(g) * (len(g) - 1) // 2 for g in group_pairs(
        len(rel), [p for p in dup.pairs if p.tier == "identical"]))
    same_px = {r for r, t in folder.tier.items() if t == "same pixels"}
    found_same_px = len({r for p in dup.pairs if p.tier == "same pixels"
                         for r in (rel[p.a], rel[p.b])} & same_px)
    return dict(dup_p=score["pair_precision"], dup_r=score["pair_recall"],
                p_remove=tier_p["remove"], p_mirrored=tier_p["mirrored"],
                true_pairs=score["true_pairs"], identical=f"{found_identical}/{n_identical}",
                same_px=f"{found_same_px}/{len(same_px)}", wrong=len(flagged - in_truth) / len(rel),
                wrong_m=len(shown - in_truth) / len(rel),
                dup_s=seconds, groups=len(dup))


def run(name: str, cache: Path, n_queries: int) -> list[dict]:
    from imsim.collection import Collection

    folder = real_folders.build(name, cache)
    rows = []
    for enc in ENCODERS:
        path = cache / "collections" / f"{name}-{enc}"
        shutil.rmtree(path, ignore_errors=True)
        t0 = time.perf_counter()
        coll = Collection.build(folder.path, path, encoder=enc, progress=False)
        row = dict(folder=name, n=len(coll), encoder=enc if enc != "auto" else f"auto: {coll.encoder_name}",
                   index_s=time.perf_counter() - t0)
        row["recall5"] = recall_at_5(coll, folder, verify=False)
        row["recall5_v"] = recall_at_5(coll, folder, verify=True)
        row["query_ms"] = query_ms(coll, folder, n_queries, verify=False)
        row["query_v_ms"] = query_ms(coll, folder, n_queries, verify=True)
        row.update(duplicate_row(coll, folder))
        coll.close()
        rows.append(row)
        print(f"  {name} {row['encoder']}: done in {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def main(names, cache: Path, n_queries: int = 30) -> None:
    names = list(names) or list(DEFAULT)
    missing = {n: why for n, why in real_folders.available().items() if why and n in names}
    for n, why in missing.items():
        print(f"skipping {n}: {why}")
    rows = [r for n in names if n not in missing for r in run(n, cache, n_queries)]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nreal pictures ({os.cpu_count()} cores, load {load}); 'thumbnail' is the floor")
    print(f"{'folder':<12} {'files':>5} {'encoder':<16} {'R@5':>6} {'R@5 v':>6} {'vs floor':>8} "
          f"{'dup P':>6} {'dup R':>6} {'P rm':>6} {'P mir':>6} {'pairs':>6} {'ident':>7} {'samepx':>7} {'wrong':>6} {'+mirr':>6} "
          f"{'index s':>7} {'dups s':>6} {'q ms':>6} {'q v ms':>6}")
    for r in rows:
        floor = next(f["recall5"] for f in rows if f["folder"] == r["folder"])
        fmt = lambda x: "   -  " if x != x else f"{x:6.3f}"  # noqa: E731 - nan: nothing to find
        vs = "" if r["recall5"] != r["recall5"] else f"{r['recall5'] - floor:+.3f}"
        print(f"{r['folder']:<12} {r['n']:>5} {r['encoder']:<16} {fmt(r['recall5'])} "
              f"{fmt(r['recall5_v'])} {vs:>8} {fmt(r['dup_p'])} {fmt(r['dup_r'])} "
              f"{fmt(r['p_remove'])} {fmt(r['p_mirrored'])} "
              f"{r['true_pairs']:>6} {r['identical']:>7} {r['same_px']:>7} {100 * r['wrong']:5.1f}% {100 * r['wrong_m']:5.1f}% "
              f"{r['index_s']:7.1f} {r['dup_s']:6.1f} {r['query_ms']:6.1f} {r['query_v_ms']:6.1f}")
