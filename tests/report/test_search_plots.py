import pytest

from imsim.report.search_plots import plot_time_vs_approximation


def test_time_vs_approximation_plot(tmp_path):
    records = [{"method": "lsh", "params": {"L": L}, "ms_per_query": t, "approx_factor": f}
               for L, t, f in [(5, 0.2, 1.1), (10, 0.5, 1.02), (20, 0.4, 1.05)]]
    records.append({"method": "exact", "params": {}, "ms_per_query": 1.0, "approx_factor": 1.0})
    path = plot_time_vs_approximation(records, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no record"):
        plot_time_vs_approximation([], tmp_path / "empty.png")
