"""The demo's steps: autoencoder, search, EMD, classifier, clustering; each returns its result.

Each step takes the run's :class:`Context` (data, latents, paths, the log) and
returns one result object of :mod:`.results`; :func:`imsim.evaluation.demo.run_demo`
runs them in order and writes each as JSON.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from ...datasets import ImageSet
from .config import DemoConfig, search_examples, search_sweep
from .results import (RESULTS, AutoencoderResult, ClassifierResult, ClusteringEntry,
                      ClusteringResult, EMDResult, LabelCounts, SearchResult, plain)

__all__ = ["Context", "STEPS", "autoencoder_step", "search_step", "emd_step",
           "classifier_step", "clustering_step"]


class Context:
    """State shared by the steps of one run: data, latents, paths, the log."""

    def __init__(self, config: DemoConfig, out_dir: Path, train, test, log, progress: bool):
        self.config, self.out_dir, self.log, self.progress = config, out_dir, log, progress
        self.results_dir = out_dir / RESULTS
        self.train, self.test = train, test
        self.model = None
        self.model_key = None  # what the autoencoder was trained from (for the classifier cache)
        self.z_train = self.z_test = None  # float32 latents read back from the latent files
        self.classes = None  # the classifier's class of each test (or train) image


def _digest(pixels: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{pixels.shape}".encode())
    h.update(np.ascontiguousarray(pixels).data)
    return h.hexdigest()


def _reuse_or_train(ctx: Context, name: str, key: dict, architecture: str, train):
    """``(model, history, cached)``: the model in ``OUT/models/<name>`` when a demo with
    this ``key`` (configuration and data digest) trained it, else ``train()``'s.

    A reused model folder is only read.
    """
    from ...models import load_checkpoint, read_checkpoint_meta

    model_dir = ctx.out_dir / "models" / name
    try:
        same = read_checkpoint_meta(model_dir).get("extra", {}).get("demo") == plain(key)
    except (OSError, ValueError):
        same = False
    if same:
        checkpoint = load_checkpoint(model_dir, architecture=architecture)
        ctx.log(f"{name}: reusing the model in {model_dir} (same configuration and data)")
        return checkpoint.model, checkpoint.history, True
    model, history = train()
    return model, history, False


def _one_per_class(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` row positions, drawn from as many different labels as possible."""
    picks = []
    for c in rng.permutation(np.unique(labels))[:n]:
        picks.append(int(rng.choice(np.flatnonzero(labels == c))))
    rest = np.setdiff1d(np.arange(len(labels)), picks)
    picks += [int(i) for i in rng.choice(rest, size=min(n - len(picks), len(rest)),
                                         replace=False)]
    return np.array(sorted(picks, key=lambda i: labels[i]), dtype=np.int64)


def _class_names(images: ImageSet) -> list[str]:
    names = images.meta.get("classes")
    return list(names) if names else [str(v) for v in np.unique(images.labels)]


def _epoch_logger(ctx: Context, text):
    return lambda record: ctx.log(text(record))


def autoencoder_step(ctx: Context) -> AutoencoderResult:
    """Train (or reuse) the autoencoder, write the latent files, keep a few pictures.

    A model reused from an earlier run is only read: its folder is not rewritten.
    """
    from ...embed import encode, read_latent_file, reconstruct, write_latent_files
    from ...models import (AutoencoderConfig, TrainConfig, choose_device, fit_autoencoder,
                           save_checkpoint)
    from ...models.training import resolve_precision

    c = ctx.config
    images = ctx.train.head(c.ae_train)
    model_config = AutoencoderConfig(input_shape=images.shape, filters=list(c.ae_filters),
                                     n_layers=len(c.ae_filters), hidden_dim=c.ae_hidden,
                                     latent_dim=c.latent_dim, downsample=c.ae_downsample)
    train_config = TrainConfig(epochs=c.ae_epochs, batch_size=c.ae_batch, seed=c.seed,
                               precision=c.precision)
    data = ctx.train.head(c.search_data)
    model_dir = ctx.out_dir / "models" / "autoencoder"
    key = {"data": _digest(images.images), "model": model_config.to_dict(),
           "train": train_config.to_dict()}
    ctx.model_key = plain(key)

    def train():
        ctx.log(f"autoencoder: training on {len(images):,} images, {c.ae_epochs} "
                f"epoch{'s' * (c.ae_epochs != 1)}, latent {c.latent_dim}, "
                f"{resolve_precision(c.precision, choose_device(train_config.device))}")
        return fit_autoencoder(
            images, model_config, train_config, progress=ctx.progress,
            callback=_epoch_logger(ctx, lambda r: f"  epoch {r['epoch']}/{c.ae_epochs}  train "
                                                  f"MSE {r['train_loss']:.5f}  val MSE "
                                                  f"{r['val_loss']:.5f}  ({r['seconds']:.1f} s)"))

    model, history, cached = _reuse_or_train(ctx, "autoencoder", key, "ConvAutoencoder", train)
    start = time.perf_counter()
    z_data = encode(model, data, progress=ctx.progress)
    z_test = encode(model, ctx.test, progress=ctx.progress)
    encode_s = time.perf_counter() - start
    # the scale is fitted once, on the data set, and reused for the queries
    latent_dir = ctx.out_dir / "latent"
    files = write_latent_files(latent_dir / "train.latent", z_data, latent_dir / "test.latent",
                               z_test)
    if not cached:
        save_checkpoint(model_dir, model, history=history, latent_scale=files.scale,
                        extra={"train_config": train_config.to_dict(), "demo": plain(key)})
    ctx.z_train, _ = read_latent_file(files.dataset)
    ctx.z_test, _ = read_latent_file(files.query)
    ctx.model = model

    picks = _one_per_class(ctx.test.labels, 10, np.random.default_rng(c.seed))
    originals = ctx.test.images[picks]
    rng = np.random.default_rng(c.seed + 1)
    sample = np.sort(rng.choice(len(ctx.test), size=min(c.map_points, len(ctx.test)),
                                replace=False))
    thumbs = np.sort(rng.choice(len(sample), size=min(30, len(sample)), replace=False))
    return AutoencoderResult(
        params={"model": model_config.to_dict(), "train": train_config.to_dict(),
                "n_train_images": len(images),
                "n_parameters": int(sum(p.numel() for p in model.parameters()))},
        cached=cached, model_dir=str(model_dir),
        history=history.to_dict() if history is not None else None,
        train_seconds=history.seconds if history is not None else None,
        best_val_mse=history.best_val_loss if history is not None else None,
        encode={"n_images": len(data) + len(ctx.test), "seconds": encode_s},
        latent_files={"train": {"path": str(files.dataset), "n": files.n_dataset},
                      "test": {"path": str(files.query), "n": files.n_query}},
        latent_scale=files.scale.to_json(), clipped_test_share=files.clipped_query,
        clipped_train_share=files.clipped_dataset,
        reconstructions={"labels": ctx.test.labels[picks],
                         "originals": np.asarray(originals, dtype=np.uint8),
                         "reconstructions": np.asarray(reconstruct(model, originals),
                                                       dtype=np.uint8)},
        map={"split": "test", "method": c.map_method, "seed": c.seed, "rows": sample,
             "latents": np.round(ctx.z_test[sample], 5), "labels": ctx.test.labels[sample],
             "classes": _class_names(ctx.train), "thumbnails": thumbs,
             "thumbnail_images": ctx.test.images[sample[thumbs]]})


def _example_answers(examples: list[dict], data: ImageSet, X, Qx, k: int):
    """An ``on_fit`` hook for :func:`imsim.evaluation.search.evaluate` that answers the
    example queries ``Qx`` with each sweep index an example names (a ``reduced`` index
    finds their latents in its :class:`~imsim.search.LatentTable`).

    Returns
    -------
    answers : dict
        {label: the example's answers}, filled in as the sweep builds its indexes.
    on_fit : callable(spec, index)
    """
    from ...distances import distances_at

    answers = {}

    def on_fit(spec, index):
        for e in examples:
            if e["method"] != spec["method"] or e["build"] != spec.get("build", {}):
                continue
            _, I = index.search(Qx, k, **e["query"])
            found = np.where(I >= 0, I, 0)
            answers[e["label"]] = {
                "label": e["label"], "method": e["method"],
                "params": {**e["build"], **e["query"]}, "ids": I,
                # every method's answers measured in pixels, whatever space it searched in
                "distances": distances_at(Qx, X, I),
                "labels": np.where(I >= 0, data.labels[found], -1),
                "images": np.where((I >= 0)[..., None, None], data.images[found],
                                   np.uint8(255)).astype(np.uint8)}

    return answers, on_fit


def search_step(ctx: Context) -> SearchResult:
    """The sweep of every method over the first queries, and a few queries' answers.

    Each index of the sweep is built once; the example queries are answered by the
    sweep's own indexes (the examples are points of the sweep).
    """
    from ..search import evaluate

    c = ctx.config
    data = ctx.train.head(c.search_data)
    queries = ctx.test.head(c.search_queries)
    X, Q = data.flat(), queries.flat()
    Zx, Zq = ctx.z_train, ctx.z_test[:len(Q)]
    sweep, examples = search_sweep(c.preset), search_examples(c.preset)
    ctx.log(f"search: {len(Q)} queries over {len(X)} images, "
            f"{sum(len(s.get('query') or [{}]) for s in sweep)} settings of "
            f"{len(sweep)} indexes")
    picks = _one_per_class(queries.labels, min(c.n_examples, len(Q)),
                           np.random.default_rng(c.seed + 2))
    k = min(c.example_k, len(X))
    answers, on_fit = _example_answers(examples, data, X, Q[picks], k)
    records = evaluate(X, Q, sweep, dataset=ctx.train.meta.get("dataset", "data"), Zx=Zx, Zq=Zq,
                       k=10, cache_dir=ctx.out_dir / "cache", progress=ctx.progress,
                       on_fit=on_fit)
    return SearchResult(
        params={"n_data": len(X), "n_queries": len(Q), "dimensions": X.shape[1], "k": 10,
                "metric": "l1", "latent": f"autoencoder latents ({Zx.shape[1]} dimensions, "
                                          f"read back from the latent files)",
                "sweep": sweep, "data": "first images of the train split",
                "queries": "first images of the test split"},
        records=records,
        examples={"query_rows": picks, "query_labels": queries.labels[picks],
                  "queries": queries.images[picks], "k": k,
                  "methods": [answers[e["label"]] for e in examples]})


def emd_step(ctx: Context) -> EMDResult:
    """EMD against Manhattan: correctness of the 10 nearest, per window size."""
    from ..emd import emd_sweep

    c = ctx.config
    data = ctx.train.head(c.emd_data)
    queries = ctx.test.head(c.emd_queries)
    ctx.log(f"EMD: {len(queries)} queries over {len(data)} images, windows "
            f"{', '.join(map(str, c.emd_windows))}")
    results = emd_sweep(data.images, queries.images, data.labels, queries.labels,
                        windows=c.emd_windows, k=min(10, len(data)))
    return EMDResult(
        params={"n_data": len(data), "n_queries": len(queries), "k": min(10, len(data)),
                "ground": "euclidean", "windows": list(c.emd_windows),
                "correct": "share of the k neighbours with the query's label"},
        results=list(results))


def classifier_step(ctx: Context) -> ClassifierResult:
    """The classifier (encoder + dense head): test accuracy, per-class report, confusion.

    Sets ``ctx.classes`` to its predictions on the clustering images, for the
    "classes as clusters" labelling.
    """
    from ...models import (TrainConfig, classification_scores, fit_classifier, predict,
                           save_checkpoint)

    c = ctx.config
    images = ctx.train.head(c.clf_train)
    names = _class_names(ctx.train)
    # fit_classifier's own defaults (lr 5e-3, random shifts of 2 pixels, 10% validation)
    # with the demo's epochs and seed; small images (digits, 8x8) are not shifted: 2
    # pixels would move a quarter of them
    shift = 2 if min(images.shape[:2]) >= 16 else 0
    train_config = TrainConfig(epochs=c.clf_epochs, lr=5e-3, shift=shift, val_fraction=0.1,
                               seed=c.seed, precision=c.precision)
    head = {"fc_units": 128, "dropout": 0.3, "head_epochs": 1}
    model_dir = ctx.out_dir / "models" / "classifier"
    key = {"data": _digest(images.images), "autoencoder": ctx.model_key, "head": head,
           "train": train_config.to_dict()}

    def train():
        ctx.log(f"classifier: training on {len(images):,} images, {head['head_epochs']} "
                f"epoch{'s' * (head['head_epochs'] != 1)} of the head alone, then "
                f"{c.clf_epochs} of everything")
        model, history = fit_classifier(
            ctx.model, images, images.labels, n_classes=len(names), train_config=train_config,
            progress=ctx.progress, **head,
            callback=_epoch_logger(ctx, lambda r: f"  epoch {r['epoch']} (phase {r['phase']})  "
                                                  f"train loss {r['train_loss']:.4f}  val "
                                                  f"accuracy {r['val_accuracy']:.4f}  "
                                                  f"({r['seconds']:.1f} s)"))
        save_checkpoint(model_dir, model, history=history,
                        extra={"train_config": train_config.to_dict(), "demo": plain(key)})
        return model, history

    model, history, cached = _reuse_or_train(ctx, "classifier", key, "Classifier", train)
    start = time.perf_counter()
    predicted = predict(model, ctx.test)
    predict_s = time.perf_counter() - start
    scores = classification_scores(ctx.test.labels, predicted, n_classes=len(names))
    if c.cluster_split == "test":
        ctx.classes = predicted
    else:
        ctx.classes = predict(model, ctx.train.head(c.cluster_images))
    rng = np.random.default_rng(c.seed + 3)
    examples = {}
    for kind, mask in (("correct", predicted == ctx.test.labels),
                       ("incorrect", predicted != ctx.test.labels)):
        rows = np.flatnonzero(mask)
        rows = np.sort(rng.choice(rows, size=min(36, len(rows)), replace=False))
        examples[kind] = {"images": np.asarray(ctx.test.images[rows], dtype=np.uint8),
                          "true": ctx.test.labels[rows], "predicted": predicted[rows]}
    return ClassifierResult(
        status="ok",
        params={"n_train_images": len(images), "n_test_images": len(ctx.test),
                "train": train_config.to_dict(), **head, "classes": names,
                "features": "the autoencoder's conv blocks (its weights to start)"},
        cached=cached, history=history.to_dict() if history is not None else None,
        train_seconds=history.seconds if history is not None else None,
        predict_seconds=predict_s, accuracy=scores["accuracy"],
        n_correct=scores["n_correct"], n_incorrect=scores["n_incorrect"],
        confusion=scores["confusion"], per_class=scores["per_class"], examples=examples,
        extra={k: v for k, v in scores.items()
               if k not in ("accuracy", "n_correct", "n_incorrect", "confusion", "per_class")})


def clustering_step(ctx: Context) -> ClusteringResult:
    """k-medians in the latent and the pixel space, and the classifier's classes."""
    from ..clustering import compare_clusterings

    c = ctx.config
    split = ctx.test if c.cluster_split == "test" else ctx.train
    latents = ctx.z_test if c.cluster_split == "test" else ctx.z_train
    images = split.head(c.cluster_images)
    n = len(images)
    if len(latents) < n:
        raise ValueError(f"{n} images to cluster but only {len(latents)} latent vectors")
    classes = None if ctx.classes is None else ctx.classes[:n]
    ctx.log(f"clustering: {n} images, k={c.n_clusters}, new space vs original space"
            + (" vs classes" if classes is not None else ""))
    comparison = compare_clusterings(images.images, c.n_clusters, X_latent=latents[:n],
                                     classes=classes, true_labels=images.labels,
                                     random_state=c.seed)
    results = []
    for r in comparison.results:
        sil = r.silhouette
        results.append(ClusteringEntry(
            name=r.name, k=len(r.sizes), sizes=r.sizes, clustering_time=r.clustering_time,
            n_iter=r.n_iter, objective=r.objective,
            silhouette=type(sil)(samples=np.round(sil.samples, 4), per_cluster=sil.per_cluster,
                                 total=sil.total),
            labels=r.labels, scores=LabelCounts.of(r.scores)))
    return ClusteringResult(
        params={"n_images": n, "split": c.cluster_split, "n_clusters": c.n_clusters,
                "seed": c.seed, "metric": "l1, original space (pixels)",
                "latent_dimensions": int(latents.shape[1]),
                "classes": "classifier predictions" if classes is not None else None},
        silhouette_time=comparison.silhouette_time, results=results)


#: (name, step) in the order they run
STEPS = (("autoencoder", autoencoder_step), ("search", search_step), ("emd", emd_step),
         ("classifier", classifier_step), ("clustering", clustering_step))
