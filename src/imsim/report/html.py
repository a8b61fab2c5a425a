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

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0;background:var(--soft);color:var(--fg);
 font:15px/1.55 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 40px 60px;background:#fff;
 box-shadow:0 0 0 1px var(--line)}
h1{font-size:28px;margin:0 0 4px}
h2{font-size:21px;margin:44px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:22px 0 8px}
p{margin:8px 0}
.sub{color:var(--muted);margin:0 0 18px}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
nav.toc{background:var(--soft);border:1px solid var(--line);border-radius:8px;
 padding:10px 18px;margin:16px 0 8px}
nav.toc ol{margin:4px 0;padding-left:22px;columns:2;column-gap:32px}
.params{font-size:13px;color:var(--muted);background:var(--soft);
 border-left:3px solid var(--accent); padding:6px 12px;margin:10px 0}
.params b{color:var(--fg);font-weight:600}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:12px 0}
.missing{color:var(--muted);font-style:italic}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:8px 0 14px}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
th{background:var(--soft);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:hover td{background:#f0f6ff}
figure{margin:14px 0;text-align:center}
img{max-width:100%;height:auto}
figure.wide img{max-width:820px}
figcaption{font-size:13px;color:var(--muted);margin-top:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:14px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card table{margin:0;width:100%}
.card td,.card th{border:none;padding:3px 6px}
.card img{image-rendering:pixelated;display:block}
.query{display:flex;gap:12px;align-items:center;margin-bottom:6px;font-size:13px}
.small{font-size:12px;color:var(--muted);white-space:nowrap}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px 12px;
 overflow-x:auto;font-size:13px}
footer{margin-top:40px;font-size:12px;color:var(--muted)}
"""


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
        f"<title>imsim demo report: {_esc(d['dataset'])}</title><style>{_CSS}</style></head>"
        f"<body><main><h1>imsim demo report</h1>"
        f"<p class=\"sub\">{_esc(data_label(d))} &middot; preset "
        f"{_esc(run.config['preset'])} &middot; {_esc(_when(run.started))} &middot; "
        f"{_secs(run.wall_seconds)} on "
        f"{_esc(run.machine['cpu'])}</p>"
        f"<nav class=\"toc\"><b>Contents</b><ol>{toc}</ol></nav>{sections}"
        f"<footer>Written by imsim {_esc(__version__)} on {made} from the results JSON "
        f"files alone; every number above comes from the run they record.</footer>"
        "</main></body></html>\n")


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
