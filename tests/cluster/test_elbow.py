import numpy as np
import pytest

from _data import gaussian_clusters

from imsim.cluster import elbow, find_knee
from imsim.report import cluster_plots
from imsim.report.cluster_plots import plot_elbow


def _blobs(rng, k, n_per=30):
    """k clusters of n_per points in 5-D, centres in [0, 1000), spread 5."""
    return gaussian_clusters(rng, n_per, k, d=5, spread=5.0, sep=1000 / k)[0]


def test_find_knee():
    x = np.arange(1, 9)
    assert find_knee(x, [100, 60, 30, 10, 8, 6, 4, 2]) == 4
    assert find_knee(x, 10 - x) is None          # a straight line has no bend
    assert find_knee(x, np.ones(8)) is None
    assert find_knee([1, 2], [5, 1]) is None
    # a slight bend (0.05 of the scaled axes below the chord) is not a knee unless asked
    almost = 10 - x - 0.4 * (x == 4)
    assert find_knee(x, almost) is None
    assert find_knee(x, almost, min_bend=0) == 4
    with pytest.raises(ValueError, match="increasing"):
        find_knee([1, 3, 2], [3, 2, 1])


@pytest.mark.parametrize("k", [3, 5])
def test_elbow_finds_planted_k(rng, k):
    X = _blobs(rng, k)
    result = elbow(X, range(1, 10), seed=0)
    assert result.knee == k
    assert np.all(np.diff(result.ks) == 1) and len(result.inertias) == 9


def test_elbow_kmedoids(rng):
    X = _blobs(rng, 4, n_per=15)
    result = elbow(X, [2, 3, 4, 5, 6, 7], method="kmedoids", seed=0)
    assert result.knee == 4
    with pytest.raises(ValueError, match="method must be"):
        elbow(X, [2, 3], method="dbscan")
    with pytest.raises(ValueError, match=r"1\.\.60"):
        elbow(X, [2, 61])


@pytest.mark.slow  # renders with matplotlib, which the fast subset never imports
def test_plot_elbow(rng, tmp_path, monkeypatch):
    result = elbow(_blobs(rng, 4, n_per=15), [2, 3, 4, 5], method="kmedoids", seed=0)
    drawn, save = [], cluster_plots._save

    def keep_and_save(fig, path):  # the figure as it is saved, read back before saving
        drawn.append(fig)
        return save(fig, path)

    monkeypatch.setattr(cluster_plots, "_save", keep_and_save)
    path = plot_elbow(result, tmp_path / "elbow.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ax,) = drawn[0].axes
    curve, knee_line, knee_point = ax.lines
    np.testing.assert_array_equal(curve.get_xdata(), [2, 3, 4, 5])
    np.testing.assert_allclose(curve.get_ydata(), result.inertias)
    assert result.knee == 4  # four blobs
    np.testing.assert_array_equal(knee_line.get_xdata(), [4, 4])
    np.testing.assert_allclose(knee_point.get_xydata(), [[4, result.inertias[2]]])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["knee: k = 4"]
    assert ax.get_title() == "Elbow (kmedoids)"
