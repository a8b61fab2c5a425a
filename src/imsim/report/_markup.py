"""Markup for the HTML report: numbers and times as text, tables, embedded figures."""
from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = ["_esc", "_num", "_secs", "_when", "_params", "_table", "_fmt_params", "_Figures",
           "_missing"]


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _num(value, digits: int = 4, *, signed: bool = False) -> str:
    """A number as text: ``digits`` significant figures for floats, "–" for None."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool) or isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    value = float(value)
    if value != 0 and abs(value) < 1e-4:
        return f"{value:{'+' if signed else ''}.{digits - 1}e}"
    return f"{value:{'+' if signed else ''},.{max(0, digits - 1 - _magnitude(value))}f}"


def _magnitude(value: float) -> int:
    return int(np.floor(np.log10(abs(value)))) if value else 0


def _secs(value) -> str:
    """Seconds as "850 ms", "12.3 s" or "8 min 27 s"."""
    if value is None:
        return "\u2013"
    if value >= 120:
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes} min {seconds} s"
    return f"{value:.1f} s" if value >= 1 else f"{value * 1e3:.0f} ms"


def _when(iso: str) -> str:
    """An ISO time stamp as "2025-01-31 14:05 UTC"."""
    try:
        stamp = datetime.fromisoformat(iso).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return str(iso)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def _params(items: dict) -> str:
    """The line of data sizes and parameters shown beside a table."""
    parts = [f"<b>{_esc(k)}</b> {_esc(v)}" for k, v in items.items() if v is not None]
    return f'<p class="params">{" &middot; ".join(parts)}</p>'


def _table(header: list[str] | None, rows: list[list], numeric=()) -> str:
    """An HTML table (no header row when ``header`` is None); columns whose index is in
    ``numeric`` are right-aligned.

    Cells are escaped unless they are already marked up (wrapped as ``("html", s)``).
    """
    def cell(tag, i, v):
        cls = ' class="num"' if i in numeric else ""
        text = v[1] if isinstance(v, tuple) and v and v[0] == "html" else _esc(v)
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "" if header is None else (
        "<thead><tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr></thead>")
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>"
                   for r in rows)
    return f'<div class="tablewrap"><table>{head}<tbody>{body}</tbody></table></div>'


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "\u2013"


class _Figures:
    """Draws plots into a scratch folder and returns them as embedded <img> tags."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    def img(self, draw, alt: str, *, width: int | None = None) -> str:
        """``draw(path)`` writes a PNG; returns ``<img src="data:...">`` holding it."""
        self.count += 1
        path = self.folder / f"figure{self.count}.png"
        draw(path)
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        size = f' width="{width}"' if width else ""
        return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}"{size}>'

    def figure(self, draw, alt: str, caption: str, *, cls: str = "") -> str:
        klass = f' class="{cls}"' if cls else ""
        return (f"<figure{klass}>{self.img(draw, alt)}<figcaption>{caption}</figcaption>"
                "</figure>")


def _missing(name: str) -> str:
    return (f'<p class="missing">Not in these results: no {_esc(name)}.json was found '
            f"(run <code>imsim demo</code> to produce it).</p>")
