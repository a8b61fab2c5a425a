"""The demo's summary: one line per step, every number read from the results."""
from __future__ import annotations

from .results import DemoResults, data_label

__all__ = ["summarize"]

_SHORT = {"NEW SPACE": "new", "ORIGINAL SPACE": "original", "CLASSES AS CLUSTERS": "classes"}


def _record_for(records: list[dict], method: str, params: dict) -> dict | None:
    """The sweep record of ``method`` run with exactly ``params`` (build and query merged)."""
    return next((r for r in records if r["method"] == method and r["params"] == params), None)


def summarize(results) -> list[dict]:
    """One row per step of a demo's results: {"step", "result", "seconds"}.

    ``results`` is a :class:`DemoResults`, or {name: JSON content} as
    :func:`load_results` returns it (and :attr:`DemoRun.results` holds it).
    """
    if not isinstance(results, DemoResults):
        results = DemoResults.from_dicts(results)
    seconds = results.run.step_seconds()
    d = results.run.data
    rows = [{"step": "data", "seconds": seconds.get("data"),
             "result": f"{data_label(d)}: {d['n_train']:,} train / "
                       f"{d.get('n_test_used', d['n_test']):,} test images of "
                       f"{'x'.join(map(str, d['image_shape']))} pixels"}]
    ae = results.autoencoder
    if ae:
        epochs = len(ae.history["epochs"]) if ae.history else 0
        text = (f"val MSE {ae.best_val_mse:.4f} after {epochs} epoch{'s' * (epochs != 1)} on "
                f"{ae.params['n_train_images']:,} images")
        rows.append({"step": "autoencoder", "seconds": seconds.get("autoencoder"),
                     "result": text + (" (cached model)" if ae.cached else "")})
    se = results.search
    if se:
        parts = []
        for m in se.examples["methods"]:
            r = _record_for(se.records, m["method"], m["params"])
            if r is not None:
                parts.append(f"{m['label']} {r['ms_per_query']:.3g} ms/query, "
                             f"factor {r['approx_factor']:.3f}")
        rows.append({"step": "search", "seconds": seconds.get("search"),
                     "result": "; ".join(parts)})
    emd = results.emd
    if emd and emd.results:
        best = max(emd.results, key=lambda r: r.emd_correct)
        rows.append({"step": "emd", "seconds": seconds.get("emd"),
                     "result": f"correct: EMD {best.emd_correct:.3f} (window "
                               f"{best.window}) vs Manhattan {best.manhattan_correct:.3f}"})
    clf = results.classifier
    if clf:
        text = (f"test accuracy {clf.accuracy:.2%} (trained on "
                f"{clf.params['n_train_images']} images)" if clf.status == "ok"
                else f"skipped ({clf.reason or 'not run'})")
        rows.append({"step": "classifier", "seconds": seconds.get("classifier"), "result": text})
    cl = results.clustering
    if cl:
        text = ", ".join(f"{_SHORT.get(r.name, r.name)} {r.silhouette.total:+.3f}"
                         for r in cl.results)
        rows.append({"step": "clustering", "seconds": seconds.get("clustering"),
                     "result": f"silhouette {text}"})
    return rows
