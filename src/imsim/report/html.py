"""The demo report: one self-contained HTML file built from the results JSON alone.

:func:`build_report` reads the files that :func:`imsim.evaluation.demo.run_demo`
wrote (``results/*.json``), draws every plot with the plotting modules of this
package, and embeds them as base64 PNG with an inline stylesheet: the file opens
anywhere, without a network or the data set. Every number in it is read from the
results; each table states the data sizes and parameters it was measured with.
"""
from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .._io import write_text_atomic
from ..evaluation.demo.results import RESULTS, DemoResults, data_label, read_results
from ._markup import _esc, _Figures, _missing, _secs, _when
from ._page import CSS, SCRIPT, ZOOM_DIALOG
from ._sections import (_autoencoder, _classifier, _clustering, _emd, _examples, _latent_map,
                        _machine, _search, _summary)

__all__ = ["SECTIONS", "build_report", "render_report"]

#: (anchor, title) of every section, in order: the table of contents
SECTIONS = (
    ("summary", "Summary"),
    ("autoencoder", "Autoencoder: training and reconstructions"),
    ("latent-map", "Latent map"),
    ("search", "Search: time against accuracy"),
    ("query-examples", "Query examples"),
    ("emd", "EMD against Manhattan"),
    ("clustering", "Clustering"),
    ("classifier", "Classifier"),
    ("machine", "Machine and command"),
)


# ------------------------------------------------------------------ the page

def render_report(results, *, scratch_dir) -> str:
    """The report as one HTML string, from a demo's results.

    Parameters
    ----------
    results : DemoResults or dict
        :func:`imsim.evaluation.demo.read_results`, or the {"run": ..., "autoencoder":
        ..., ...} of :func:`imsim.evaluation.demo.load_results`; experiments that are
        missing get a section that says so.
    scratch_dir : path-like
        Folder for the PNG files while they are drawn (their bytes end up in the HTML).
    """
    if not isinstance(results, DemoResults):
        results = DemoResults.from_dicts(results)
    figs = _Figures(Path(scratch_dir))
    run = results.run
    seed = run.config["seed"]
    cores = run.machine.get("usable_cores")
    ae, se, emd, cl, clf = (results.autoencoder, results.search, results.emd,
                            results.clustering, results.classifier)
    bodies = {
        "summary": _summary(results),
        "autoencoder": _autoencoder(ae, figs) if ae else _missing("autoencoder"),
        "latent-map": _latent_map(ae, figs, seed) if ae else _missing("autoencoder"),
        "search": _search(se, figs, cores) if se else _missing("search"),
        "query-examples": _examples(se, figs) if se else _missing("search"),
        "emd": _emd(emd, figs) if emd else _missing("emd"),
        "clustering": _clustering(cl, figs) if cl else _missing("clustering"),
        "classifier": _classifier(clf, figs) if clf else _missing("classifier"),
        "machine": _machine(run),
    }
    d = run.data
    toc = "".join(f'<li><a href="#{a}">{_esc(t)}</a></li>' for a, t in SECTIONS)
    sections = "".join(f'<section id="{a}"><h2>{_esc(t)}</h2>{bodies[a]}</section>'
                       for a, t in SECTIONS)
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from .. import __version__

    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>imsim demo report: {_esc(d['dataset'])}</title><style>{CSS}</style></head>"
        f"<body><main><h1>imsim demo report</h1>"
        f"<p class=\"sub\">{_esc(data_label(d))} &middot; preset "
        f"{_esc(run.config['preset'])} &middot; {_esc(_when(run.started))} &middot; "
        f"{_secs(run.wall_seconds)} on "
        f"{_esc(run.machine['cpu'])}</p>"
        f"<nav class=\"toc\"><b>Contents</b><ol>{toc}</ol></nav>"
        "<p class=\"hint\">Click (or tap) any figure to enlarge it.</p>"
        f"{sections}"
        f"<footer>Written by imsim {_esc(__version__)} on {made} from the results JSON "
        f"files alone; every number above comes from the run they record.</footer>"
        f"</main>{ZOOM_DIALOG}<script>{SCRIPT}</script></body></html>\n")


def build_report(results_dir, path=None) -> Path:
    """Write the HTML report of a demo run from its saved results.

    Parameters
    ----------
    results_dir : path-like
        The demo's output folder, or its ``results`` folder.
    path : path-like, optional
        The HTML file to write; default ``report.html`` in the output folder.

    Returns
    -------
    Path of the report (written atomically).
    """
    results_dir = Path(results_dir)
    results = read_results(results_dir)
    if path is None:
        base = results_dir.parent if results_dir.name == RESULTS else results_dir
        path = base / "report.html"
    with tempfile.TemporaryDirectory(prefix="imsim-report-") as scratch:
        text = render_report(results, scratch_dir=scratch)
    path = Path(path)
    write_text_atomic(path, text)
    return path
