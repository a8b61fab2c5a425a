"""The sections of the HTML report, one function per section, each reading one result type.

Every number comes from the result objects of :mod:`imsim.evaluation.demo.results`;
the page around them (contents, stylesheet) is :mod:`imsim.report.html`'s.
"""
from __future__ import annotations

import numpy as np

from ..evaluation.demo.results import (AutoencoderResult, ClassifierResult, ClusteringResult,
                                       DemoResults, EMDResult, RunInfo, SearchResult, data_label)
from ..evaluation.demo.summary import summarize
from ._markup import _esc, _Figures, _fmt_params, _num, _params, _secs, _table, _when

_SHORT = {"NEW SPACE": "new space (latent k-medians)",
          "ORIGINAL SPACE": "original space (pixel k-medians)",
          "CLASSES AS CLUSTERS": "classes as clusters (classifier)"}


def _summary(results: DemoResults) -> str:
    run = results.run
    d = run.data
    rows = [[r["step"], r["result"], _secs(r["seconds"])] for r in summarize(results)]
    note = f'<p class="note">{_esc(d["note"])}</p>' if d.get("note") else ""
    return (note + f"<p>imsim learned a {run.config['latent_dim']}-number vector for every "
            "image with a convolutional autoencoder, then searched, "
            "compared, clustered and classified in that space and in the original pixel space. "
            "The table gives the headline of each step; the sections below hold the details."
            "</p>" + _params({"data set": data_label(d), "images": f"{d['n_train']:,} train, "
                              f"{d.get('n_test_used', d['n_test']):,} test",
                              "image size": "x".join(map(str, d["image_shape"])),
                              "preset": run.config["preset"],
                              "seed": run.config["seed"],
                              "experiments' wall time": _secs(run.wall_seconds)})
            + '<div class="summary">' + _table(["step", "result", "time"], rows, numeric=(2,))
            + _context(run) + "</div>")


def _context(run) -> str:
    """The box beside the summary: the machine, its load, and wall against CPU time."""
    m = run.machine
    cores = m.get("usable_cores") or m.get("logical_cores")
    load, load_end = m.get("load_average"), m.get("load_average_end")
    items = [("machine", f"{m['cpu']}; {cores} cores usable"
                         + (f" of {m['logical_cores']}" if m.get("logical_cores") != cores else "")
                         + (f", {m['memory_gb']:.0f} GiB" if m.get("memory_gb") else ""))]
    if load:
        busiest = max([load[0]] + ([load_end[0]] if load_end else []))
        verdict = (f'<span class="busy">a load of {busiest:.1f} on {cores} cores: the run '
                   "shared them, so its times are slower than on a quiet machine</span>"
                   if cores and busiest > 0.75 * cores else "quiet enough for the times to hold")
        items.append(("load (1-minute average)",
                      f"{load[0]:.2f} at the start" + (f", {load_end[0]:.2f} at the end"
                                                       if load_end else "")
                      + f"; {verdict}"))
    wall, cpu = run.wall_seconds, run.cpu_seconds
    if cpu is not None and wall:
        items.append(("time", f"{_secs(wall)} wall, {_secs(cpu)} CPU: {cpu / wall:.1f} of "
                              f"{cores} cores busy on average"))
    else:
        items.append(("time", f"{_secs(wall)} wall (CPU time not recorded by this run)"))
    items.append(("total", f"{_secs(wall)} for the experiments; the total that "
                           "<code>imsim demo</code> prints also counts drawing this report"))
    rows = "".join(f"<dt>{_esc(k)}</dt><dd>{v}</dd>" for k, v in items)
    return (f'<aside class="context"><h3>Where it ran</h3><dl>{rows}</dl>'
            '<p class="small"><a href="#machine">Machine and command</a> has the rest.</p>'
            "</aside>")


def _autoencoder(ae: AutoencoderResult, figs: _Figures) -> str:
    from .training_plots import plot_history, reconstruction_grid

    m, t = ae.params["model"], ae.params["train"]
    hist = ae.history
    out = [_params({
        "architecture": f"{m['n_layers']} conv blocks, filters {m['filters']}, kernel "
                        f"{m['kernel_size']}, hidden {m['hidden_dim']}, latent {m['latent_dim']}, "
                        f"batch norm {'on' if m['batch_norm'] else 'off'}",
        "parameters": f"{ae.params['n_parameters']:,}",
        "training images": f"{ae.params['n_train_images']:,} "
                           f"({1 - t['val_fraction']:.0%} train / {t['val_fraction']:.0%} "
                           f"validation, seed {t['seed']})",
        "schedule": f"{t['epochs']} epochs, batch {t['batch_size']}, {t['optimizer']} "
                    f"lr {t['lr']} ({t['schedule']})"})]
    cached = (" The model was reused from an earlier run with the same configuration and "
              "data; the time is that run's.") if ae.cached else ""
    out.append(f"<p>Best validation MSE <b>{_num(ae.best_val_mse)}</b> per pixel (pixels "
               f"in [0, 1]) at epoch {hist['best_epoch'] if hist else '?'}; training took "
               f"<b>{_secs(ae.train_seconds)}</b>. Encoding {ae.encode['n_images']:,} "
               f"images took {_secs(ae.encode['seconds'])}. The latent files hold integers "
               f"0..25500 on one scale fitted on the data set (latent range "
               f"{_num(ae.latent_scale['min'])} to {_num(ae.latent_scale['max'])}); "
               f"{ae.clipped_test_share:.2%} of the test values fell outside it and were "
               f"clipped.{cached}</p>")
    rec = ae.reconstructions
    out.append(figs.figure(
        lambda p: reconstruction_grid(rec["originals"], rec["reconstructions"], p),
        "reconstructions", "Test images, one per label (top), and their reconstructions from "
                           f"the {m['latent_dim']}-number latent vector (bottom)."))
    if hist and hist["epochs"]:
        curves = figs.figure(
            lambda p: plot_history(hist, p, title="autoencoder loss per epoch"),
            "loss curves", "Training (dashed) and validation (solid) MSE per epoch.")
        rows = [[e["epoch"], _num(e["train_loss"]), _num(e["val_loss"]), _secs(e["seconds"])]
                for e in hist["epochs"]]
        table = _table(["epoch", "train MSE", "validation MSE", "time"], rows,
                       numeric=(0, 1, 2, 3))
        out.append(f'<div class="grid">{curves}<div>{table}</div></div>')
    return "".join(out)


def _latent_map(ae: AutoencoderResult, figs: _Figures, seed: int) -> str:
    from .map_plots import latent_map, project_2d

    mp = ae.map
    Z = np.asarray(mp["latents"], dtype=np.float32)
    labels = np.asarray(mp["labels"], dtype=np.int64)
    coords, used = project_2d(Z, method=mp["method"], seed=mp.get("seed", seed))
    thumbs = mp["thumbnail_images"]
    pairs = list(zip(mp["thumbnails"], thumbs))
    name = {"tsne": "t-SNE", "pca": "PCA", "umap": "UMAP"}.get(used, used)
    img = figs.figure(
        lambda p: latent_map(coords, p, colors=labels, color_names=mp["classes"],
                             thumbnails=pairs,
                             title=f"{len(Z):,} {mp['split']} images, {name} of the "
                                   f"{Z.shape[1]}-d latents"),
        "latent map", f"Each point is a {mp['split']} image placed by a 2-D {name} projection "
                      f"of its latent vector and coloured by its true label; framed "
                      f"thumbnails show a few of the images. Images the autoencoder finds "
                      f"alike sit together.", cls="wide")
    return _params({"points": f"{len(Z):,} (seeded sample of the {mp['split']} split)",
                    "projection": name, "seed": mp.get("seed", seed)}) + img


def _search(se: SearchResult, figs: _Figures, cores) -> str:
    from .search_plots import plot_time_vs_approximation

    p = se.params
    records = se.records
    exact = next((r for r in records if r["method"] == "exact"), None)
    rows = []
    for r in records:
        speed = (exact["ms_per_query"] / r["ms_per_query"]) if exact and r["ms_per_query"] else None
        rows.append([r["method"], _fmt_params(r["params"]), _secs(r["build_s"]),
                     _num(r["ms_per_query"], 3), _num(r["cpu_ms_per_query"], 3),
                     "\u2013" if speed is None else f"{speed:.1f}x",
                     _num(r["approx_factor"], 4), _num(r.get("recall_at_1"), 3),
                     _num(r.get("recall_at_10"), 3), r["n_not_found"]])
    table = _table(["method", "parameters", "build", "ms / query", "CPU ms / query",
                    "vs exact", "approx. factor", "recall@1", "recall@10", "not found"],
                   rows, numeric=tuple(range(2, 10)))
    plot = figs.figure(
        lambda path: plot_time_vs_approximation(
            records, path, title=f"{p['n_queries']:,} queries over {p['n_data']:,} images"),
        "time against approximation factor",
        "Milliseconds per query (log scale) against the approximation factor, one point per "
        "method and parameter setting; each method's fastest-for-its-accuracy settings are "
        "joined.")
    return (_params({"data": f"{p['n_data']:,} images ({p['data']})",
                     "queries": f"{p['n_queries']:,} ({p['queries']})",
                     "dimensions": p["dimensions"], "k": p["k"], "metric": "L1 (pixels)",
                     "reduced": p["latent"], "cores": cores})
            + "<p>Every answer is measured in the original pixel space against the exact "
              "nearest neighbours. <b>Approximation factor</b>: mean over queries of the "
              "distance of a method's first answer divided by the true nearest distance "
              "(1 = exact). <b>Recall@k</b>: share of the true k nearest found (ties count). "
              "Times are wall milliseconds per query for the whole batch (building excluded); "
              "CPU ms counts every thread of the process.</p>"
            + table + plot)


def _strip(figs: _Figures, images: np.ndarray, titles: list[str], k: int) -> str:
    from .grid import image_grid

    side = max(images.shape[1:3])
    scale = max(1, 60 // side)
    return figs.img(lambda p: image_grid(images, p, titles=titles, ncols=k, scale=scale, pad=3),
                    "neighbours")


def _examples(se: SearchResult, figs: _Figures) -> str:
    from .grid import image_grid

    ex = se.examples
    queries = ex["queries"]
    k = ex["k"]
    side = max(queries.shape[1:3])
    cards = []
    for q, (img, label) in enumerate(zip(queries, ex["query_labels"])):
        qimg = figs.img(lambda p, img=img: image_grid(img[None], p, scale=max(1, 84 // side)),
                        f"query {q + 1}")
        rows = []
        for m in ex["methods"]:
            neigh = m["images"][q]
            labs = m["labels"][q]
            dists = m["distances"][q]
            titles = [f"{lab} \u00b7 {d:.0f}" if d is not None else f"{lab}"
                      for lab, d in zip(labs, dists)]
            same = sum(int(lab == label) for lab in labs)
            rows.append(f"<tr><th>{_esc(m['label'])}<br><span class=\"small\">{same} of "
                        f"{len(labs)} labelled {label}</span></th>"
                        f"<td>{_strip(figs, neigh, titles, k)}</td></tr>")
        body = "".join(rows)
        cards.append(f'<div class="card"><div class="query">{qimg}<div><b>query {q + 1}</b>'
                     f"<br>label {label}</div></div><table>{body}</table></div>")
    settings = "; ".join(f"{m['label']}: {_fmt_params(m['params'])}" for m in ex["methods"])
    return (_params({"queries": f"{len(queries)} (one per label where possible, seeded)",
                     "neighbours shown": k, "settings": settings})
            + "<p>Each query with its nearest images by each method, nearest first. Above "
              "each image: its label and its L1 distance to the query in pixels (measured "
              "in the original space whatever space the method searched in).</p>"
            + f'<div class="cards">{"".join(cards)}</div>')


def _emd(emd: EMDResult, figs: _Figures) -> str:
    from .emd_plots import plot_emd_sweep

    p = emd.params
    runs = emd.results
    rows = [[r.window, r.bins, _num(r.emd_correct, 4), _num(r.manhattan_correct, 4),
             _secs(r.emd_seconds), _num(1e3 * r.emd_seconds / max(r.n_queries, 1), 3),
             _secs(r.manhattan_seconds), _num(r.exact_per_query, 3)] for r in runs]
    table = _table(["window (px)", "bins", "EMD correct", "Manhattan correct", "EMD time",
                    "EMD ms / query", "Manhattan time", "exact EMDs / query"],
                   rows, numeric=tuple(range(8)))
    plot = figs.figure(lambda path: plot_emd_sweep(runs, path), "EMD sweep",
                       "Correctness (left) and search time (right, log scale) against the "
                       "window size of the EMD signatures.")
    return (_params({"queries": f"{p['n_queries']:,} (first of the test split)",
                     "data": f"{p['n_data']:,} images (train split)", "k": p["k"],
                     "ground distance": p["ground"], "windows": p["windows"]})
            + f"<p><b>Correct</b>: {_esc(p['correct'])}, averaged over the queries. EMD "
              "compares images as piles of ink moved between windows (exact transport on "
              "window signatures, with lower bounds that skip most images); Manhattan is the "
              "pixel L1 distance.</p>" + table + plot)


def _clustering(cl: ClusteringResult, figs: _Figures) -> str:
    from .cluster_plots import plot_label_counts, plot_silhouette

    p = cl.params
    rows, panels = [], []
    for r in cl.results:
        s = r.scores
        rows.append([_SHORT.get(r.name, r.name), r.k, _secs(r.clustering_time),
                     r.n_iter if r.n_iter is not None else "\u2013",
                     _num(r.silhouette.total, 4, signed=True), f"{r.objective:,.0f}",
                     _num(s.purity, 4), _num(s.ari, 4), _num(s.nmi, 4)])
        sil, labels, scores = r.silhouette, r.labels, r.scores
        title = _SHORT.get(r.name, r.name)
        silhouette_png = figs.img(
            lambda path, sil=sil, labels=labels, t=title: plot_silhouette(sil, labels, path,
                                                                          title=t),
            f"silhouette {title}")
        counts_png = figs.img(
            lambda path, sc=scores, t=title: plot_label_counts(sc, path, title=t),
            f"labels {title}")
        panels.append(f'<div class="pair"><h3>{_esc(title)}</h3>{silhouette_png}{counts_png}'
                      "</div>")
    table = _table(["labelling", "k", "clustering time", "iterations", "silhouette",
                    "objective", "purity", "ARI", "NMI"], rows, numeric=tuple(range(1, 9)))
    return (_params({"images": f"{p['n_images']:,} ({p['split']} split)",
                     "k": p["n_clusters"], "seed": p["seed"], "measured in": p["metric"],
                     "new space": f"{p['latent_dimensions']}-d latents",
                     "silhouette time": _secs(cl.silhouette_time)})
            + "<p>k-medians in the latent space and in the pixel space, and the classifier's "
              "classes taken as clusters, all <b>measured in the original space with L1</b> "
              "so the numbers compare: exact silhouette (higher is better, in [-1, 1]) and the "
              "k-medians objective (sum of L1 distances to each cluster's pixel median, lower "
              "is better). Purity, ARI and NMI score each clustering against the true labels "
              "(a cluster's label is its majority label).</p>" + table
            + "".join(panels))


def _classifier(clf: ClassifierResult, figs: _Figures) -> str:
    if clf.status != "ok":
        return (f'<p class="missing">The classifier did not run: '
                f'{_esc(clf.reason or "no reason recorded")}.</p>')
    from .classifier_plots import examples_grid, plot_confusion

    p, t = clf.params, clf.params["train"]
    names = p["classes"]
    rows = [[names[r["class"]], _num(r["precision"], 4), _num(r["recall"], 4), _num(r["f1"], 4),
             r["support"]] for r in clf.per_class]
    table = _table(["class", "precision", "recall", "F1", "test images"], rows,
                   numeric=(1, 2, 3, 4))
    confusion = figs.figure(
        lambda path: plot_confusion(np.asarray(clf.confusion), path, class_names=names),
        "confusion matrix", "Test images by true class (rows) and predicted class (columns); "
                            "off-diagonal cells are shaded by their share of the row.")
    parts = [f'<div class="grid"><div>{table}</div>{confusion}</div>']
    hist = clf.history
    if hist and hist["epochs"]:
        rows = [[e["epoch"], e.get("phase", "\u2013"), _num(e["train_loss"]), _num(e["val_loss"]),
                 _num(e.get("val_accuracy"), 4), _secs(e["seconds"])] for e in hist["epochs"]]
        parts.append("<h3>Per epoch</h3><p class='small'>Phase 1 trains the head alone on the "
                     "frozen features, phase 2 everything; losses are cross-entropy per "
                     "image.</p>"
                     + _table(["epoch", "phase", "train loss", "validation loss",
                               "validation accuracy", "time"], rows, numeric=(0, 1, 2, 3, 4, 5)))
    grids = []
    for kind, text in (("incorrect", "Misclassified test images, titled true -> predicted."),
                       ("correct", "Correctly classified test images, titled by class.")):
        ex = clf.examples[kind]
        images = ex["images"]
        if len(images):
            grids.append(figs.figure(
                lambda path, ex=ex, images=images, kind=kind: examples_grid(
                    images, ex["true"], ex["predicted"], path, correct=kind == "correct",
                    class_names=names),
                f"{kind} examples", text))
    parts.append(f'<div class="grid">{"".join(grids)}</div>')
    cached = (" The model was reused from an earlier run with the same configuration and "
              "data; the time is that run's.") if clf.cached else ""
    return (_params({"training images": f"{p['n_train_images']:,} ({1 - t['val_fraction']:.0%} "
                                        f"train / {t['val_fraction']:.0%} validation)",
                     "test images": f"{p['n_test_images']:,}",
                     "head": f"dense {p['fc_units']}, dropout {p['dropout']}",
                     "schedule": f"{p['head_epochs']} epoch head only, then {t['epochs']} "
                                 f"epochs of everything, batch {t['batch_size']}, "
                                 f"{t['optimizer']} lr {t['lr']}, "
                                 + (f"random shifts of up to {t['shift']} px" if t["shift"]
                                    else "no shifts"),
                     "features": p["features"]})
            + f"<p>Test accuracy <b>{clf.accuracy:.2%}</b> ({clf.n_correct:,} correct, "
              f"{clf.n_incorrect:,} incorrect); training took "
              f"<b>{_secs(clf.train_seconds)}</b>, predicting the test images "
              f"{_secs(clf.predict_seconds)}.{cached}</p>" + "".join(parts))


def _machine(run: RunInfo) -> str:
    m = run.machine
    v = m.get("versions", {})
    load = m.get("load_average")
    load_end = m.get("load_average_end")
    rows = [["CPU", m["cpu"]],
            ["cores", f"{m['logical_cores']} logical, {m['usable_cores']} usable by the run"],
            ["memory", f"{m['memory_gb']:.1f} GiB" if m.get("memory_gb") else "\u2013"],
            ["load average (1, 5, 15 min)",
             f"{', '.join(f'{x:.2f}' for x in load)} at the start"
             + (f"; {', '.join(f'{x:.2f}' for x in load_end)} at the end" if load_end else "")
             if load else "\u2013"],
            ["distance kernel", m["distance_kernel"]],
            ["environment", ", ".join(f"{k}={v}" for k, v in m.get("environment", {}).items()
                                      if v is not None) or "\u2013"],
            ["platform", m["platform"]], ["Python", m["python"]], ["imsim", m["imsim"]]]
    rows += [[name, ver or "not installed"] for name, ver in v.items()]
    steps = [[s["step"], _secs(s["seconds"])] for s in run.steps]
    steps.append([("html", "<b>total</b>"), ("html", f"<b>{_secs(run.wall_seconds)}</b>")])
    command = run.command or "(not recorded)"
    return (_table(None, rows)
            + f"<h3>Command</h3><pre>{_esc(command)}</pre>"
            + f"<p>Started {_esc(_when(run.started))}; results in <code>{_esc(run.out_dir)}"
              f"</code>.</p><h3>Time per step</h3>"
            + _table(["step", "wall time"], steps, numeric=(1,))
            + "<p class='small'>Wall times depend on what else the machine was doing: a load "
              "average above the number of cores means the run shared them.</p>")
