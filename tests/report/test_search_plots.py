import numpy as np
import pytest

from imsim.report import search_plots
from imsim.report.search_plots import plot_time_vs_approximation


def test_time_vs_approximation_plot(tmp_path, monkeypatch):
    records = [{"method": "lsh", "params": {"L": L}, "ms_per_query": t, "approx_factor": f}
               for L, t, f in [(5, 0.2, 1.1), (10, 0.5, 1.02), (20, 0.4, 1.05)]]
    records.append({"method": "exact", "params": {}, "ms_per_query": 1.0, "approx_factor": 1.0})
    drawn = []

    def figure(*args, **kwargs):  # the figure as it is saved, read back before saving
        drawn.append(draw(*args, **kwargs))
        return drawn[-1]

    draw = search_plots.time_vs_approximation_figure
    monkeypatch.setattr(search_plots, "time_vs_approximation_figure", figure)
    path = plot_time_vs_approximation(records, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ax,) = drawn[0].axes
    # one scatter per method (exact first), each record one point at (factor, ms)
    exact, lsh = ax.collections
    np.testing.assert_allclose(exact.get_offsets(), [[1.0, 1.0]])
    np.testing.assert_allclose(lsh.get_offsets(), [[1.1, 0.2], [1.05, 0.4], [1.02, 0.5]])  # fastest first
    (front,) = ax.lines  # LSH's Pareto front: each point more exact than every faster one
    np.testing.assert_allclose(front.get_xydata(), [[1.1, 0.2], [1.05, 0.4], [1.02, 0.5]])
    assert [t.get_text() for t in drawn[0].legends[0].get_texts()] == ["exact", "lsh"]
    assert sorted(t.get_text() for t in ax.texts) == ["L=10", "L=20", "L=5"]
    assert ax.get_yscale() == "log" and ax.get_title() == "Search: time vs accuracy"
    with pytest.raises(ValueError, match="no record"):
        plot_time_vs_approximation([], tmp_path / "empty.png")


def _demo_like_records():
    """The default demo's settings, with HNSW ef=16 and Reduced rerank=100 nearly on top of
    each other (they overlapped before labels were placed)."""
    rows = [("exact", {}, 0.238, 1.0), ("lsh", {"k": 4, "L": 5}, 0.112, 1.011),
            ("lsh", {"k": 4, "L": 10}, 0.19, 1.004)]
    rows += [("hnsw", {"M": 16, "ef": ef}, t, f) for ef, t, f in
             [(16, 0.0471, 1.0045), (32, 0.07, 1.002), (64, 0.12, 1.001), (128, 0.21, 1.0)]]
    rows += [("reduced", {"rerank": rr}, t, f) for rr, t, f in
             [(0, 0.018, 1.145), (20, 0.03, 1.012), (50, 0.04, 1.006), (100, 0.0472, 1.0043)]]
    return [{"method": m, "params": p, "ms_per_query": t, "approx_factor": f}
            for m, p, t, f in rows]


def _full_demo_records():
    """The default demo's 11 settings as measured on a loaded machine (labels crowd there)."""
    rows = [("exact", {}, 2.8808, 1.0), ("lsh", {"k": 4, "L": 5}, 4.1655, 1.0188),
            ("lsh", {"k": 8, "L": 20, "max_candidates": 2000}, 1.0891, 1.0224),
            ("lsh", {"k": 8, "L": 20}, 2.0737, 1.0114)]
    rows += [("hnsw", {"M": 16, "ef_construction": 100, "ef": ef}, t, f) for ef, t, f in
             [(16, 1.21, 1.007), (32, 1.7648, 1.0029), (64, 4.0984, 1.0006), (128, 5.1618, 1.0002)]]
    rows += [("reduced", {"rerank": rr}, t, f) for rr, t, f in
             [(0, 0.3666, 1.1495), (20, 0.5314, 1.0103), (100, 1.1725, 1.0027)]]
    return [{"method": m, "params": p, "ms_per_query": t, "approx_factor": f}
            for m, p, t, f in rows]


@pytest.mark.parametrize("records", [_demo_like_records(), _full_demo_records()],
                         ids=["quiet", "loaded"])
@pytest.mark.parametrize("dpi", [100, 110])
def test_labels_do_not_overlap_and_the_log_axis_has_labels(records, dpi):
    from imsim.report._axes import overlaps
    from imsim.report.search_plots import time_vs_approximation_figure

    fig = time_vs_approximation_figure(records, title="t")
    fig.set_dpi(dpi)  # as saved
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    texts = list(ax.texts)
    assert {t.get_text() for t in texts} >= {"ef=16", "rerank=100"}
    assert overlaps(texts, renderer) == []
    frame = ax.get_window_extent(renderer)
    for t in texts:  # inside the axes, clear of the legend outside them
        box = t.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 <= box.y1 <= frame.y1
    for legend in fig.legends:
        assert not legend.get_window_extent(renderer).overlaps(frame)
    # each label also keeps clear of every point
    points = [ax.transData.transform((r["approx_factor"], r["ms_per_query"]))
              for r in records]
    for t in texts:
        box = t.get_window_extent(renderer)
        assert not any(box.x0 < x < box.x1 and box.y0 < y < box.y1 for x, y in points)
    shown = [tick.get_text() for tick in ax.get_yticklabels() if tick.get_text()]
    assert len(shown) > 2, shown


def test_lsh_labels_use_the_assignments_k_and_L():
    from imsim.report.search_plots import _labels

    records = [{"method": "lsh", "params": {"n_hashes": 4, "n_tables": 5}},
               {"method": "lsh", "params": {"n_hashes": 8, "n_tables": 20, "max_candidates": 2000}}]
    assert _labels(records) == ["k=4, L=5", "k=8, L=20, max_candidates=2000"]
