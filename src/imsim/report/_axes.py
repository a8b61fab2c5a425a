"""Small helpers that keep the report's plots readable: ticks, text colours, labels.

- :func:`readable_log_axis`: a log axis with at least three plain-number labels
  (matplotlib labels only powers of ten, so a range inside one decade showed one or two).
- :func:`integer_axis`: whole-number ticks (epochs, k).
- :func:`text_color_on`: black or white, whichever reads better on a cell's colour.
- :func:`place_labels`: moves point labels until none overlaps another or a point.
- :func:`overlaps`: the pairs of artists whose drawn boxes overlap (used by the tests).
"""
from __future__ import annotations

import math

__all__ = ["readable_log_axis", "integer_axis", "text_color_on", "place_labels", "overlaps"]

# 1-2-5, then denser steps, until enough ticks fall inside the range
_LOG_STEPS = ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0, 7.0), tuple(range(1, 10)))


def _plain(value: float) -> str:
    return f"{value:g}"


def readable_log_axis(ax, which: str = "y", *, min_labels: int = 3) -> list[float]:
    """Label a log-scaled axis of ``ax`` with at least ``min_labels`` plain numbers.

    Call it after plotting (it reads the axis limits). Returns the labelled values.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    lo, hi = sorted(ax.get_ylim() if which == "y" else ax.get_xlim())
    lo = max(lo, 1e-300)
    axis = ax.yaxis if which == "y" else ax.xaxis
    ticks: list[float] = []
    for steps in _LOG_STEPS:
        ticks = [s * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                 for s in steps if lo <= s * 10.0 ** e <= hi]
        if len(ticks) >= min_labels:
            break
    if len(ticks) < min_labels:  # a range narrower than 1..2: round linear steps inside it
        from matplotlib.ticker import MaxNLocator

        ticks = [float(v) for v in MaxNLocator(nbins=min_labels + 1).tick_values(lo, hi)
                 if lo <= v <= hi]
    if len(ticks) > 12:  # many decades: the powers of ten are enough
        ticks = [t for t in ticks if math.isclose(math.log10(t), round(math.log10(t)))]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _plain(v)))
    axis.set_minor_locator(LogLocator(subs="all"))
    axis.set_minor_formatter(NullFormatter())
    return ticks


def integer_axis(ax, which: str = "x") -> None:
    """Ticks on whole numbers only (epoch 1, 2, 3, never 1.5)."""
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if which == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def _luminance(rgb) -> float:
    """WCAG relative luminance of an sRGB colour with channels in [0, 1]."""
    def linear(c):
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(float(c)) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    """WCAG contrast ratio of two colours (1 to 21; 4.5 reads well as body text)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color_on(background) -> str:
    """"black" or "white": whichever contrasts more with ``background`` (RGB(A) in [0, 1])."""
    return "black" if contrast(background, (0, 0, 0)) >= contrast(background, (1, 1, 1)) else "white"


# offsets (points) tried for a point's label, nearest first: right, left, above, below,
# then the same further out
def _offsets():
    out = []
    for r in (1, 2, 3, 4):
        out += [(5 * r, 3 * r, "left", "bottom"), (5 * r, -3 * r, "left", "top"),
                (-5 * r, 3 * r, "right", "bottom"), (-5 * r, -3 * r, "right", "top"),
                (0, 7 * r, "center", "bottom"), (0, -7 * r, "center", "top"),
                (8 * r, 0, "left", "center"), (-8 * r, 0, "right", "center")]
    return tuple(out)


_OFFSETS = _offsets()


def _overlap_area(box, others) -> float:
    from matplotlib.transforms import Bbox

    total = 0.0
    for other in others:
        inter = Bbox.intersection(box, other)
        if inter is not None:
            total += max(inter.width, 0) * max(inter.height, 0)
    return total


def place_labels(ax, labels, *, point_radius_px: float = 5.0) -> list:
    """Annotate points so that no label overlaps another label, a point or the axes' edge.

    Parameters
    ----------
    ax : matplotlib Axes (its figure must have a canvas)
    labels : list of (x, y, text, color)
        Data coordinates of each point and its label.
    point_radius_px : float
        Half the side of the box kept free around each point, in pixels.

    Returns
    -------
    list of the Annotation artists, in the order of ``labels``. Where no position is
    free, the one that overlaps least (in pixels²) is taken.
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()  # final layout: data -> pixel transforms are settled
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    r = point_radius_px * fig.dpi / 100
    taken = [Bbox.from_extents(px - r, py - r, px + r, py + r)
             for px, py in (ax.transData.transform((x, y)) for x, y, _t, _c in labels)]
    # the most crowded points choose first, while there is still room around them
    pixels = [ax.transData.transform((x, y)) for x, y, _t, _c in labels]
    crowd = [sum(abs(px - qx) < 60 and abs(py - qy) < 40 for qx, qy in pixels)
             for px, py in pixels]
    order = sorted(range(len(labels)), key=lambda i: -crowd[i])
    placed = [None] * len(labels)
    for i in order:
        x, y, text, color = labels[i]
        ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(5, 3), fontsize=8,
                          color=color, zorder=4)
        ann.set_in_layout(False)
        best = None  # (overlap with labels and points in px², candidate, box)
        for dx, dy, ha, va in _OFFSETS:
            ann.xyann = (dx, dy)
            ann.set_horizontalalignment(ha)
            ann.set_verticalalignment(va)
            box = ann.get_window_extent(renderer).expanded(1.04, 1.1)
            inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0
                      and box.y1 <= frame.y1)
            if not inside:
                continue
            cost = _overlap_area(box, taken)
            if best is None or cost < best[0]:
                best = (cost, (dx, dy, ha, va), box)
            if cost == 0:
                break
        if best is None:  # nowhere inside the axes: the first position
            best = (None, _OFFSETS[0], None)
        (dx, dy, ha, va), box = best[1], best[2]
        ann.xyann = (dx, dy)
        ann.set_horizontalalignment(ha)
        ann.set_verticalalignment(va)
        if box is None:
            box = ann.get_window_extent(renderer)
        taken.append(box)
        placed[i] = ann
    return placed


def overlaps(artists, renderer, *, pad: float = 0.0) -> list[tuple[int, int]]:
    """Index pairs of ``artists`` whose drawn boxes overlap (after shrinking by ``pad`` px)."""
    boxes = [a.get_window_extent(renderer).expanded(1, 1).padded(-pad) for a in artists]
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
            if boxes[i].overlaps(boxes[j])]
