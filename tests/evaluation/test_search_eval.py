import numpy as np
import pytest

import imsim.evaluation.search as ev
from imsim.evaluation.search import compare, evaluate, ground_truth, score, to_report


@pytest.fixture
def data(rng):
    centers = rng.integers(0, 256, (8, 40))
    X = np.clip(centers[rng.integers(0, 8, 400)] + rng.integers(-25, 26, (400, 40)), 0, 255)
    X = X.astype(np.uint8)
    Q = np.clip(X[:25].astype(int) + rng.integers(-4, 5, (25, 40)), 0, 255).astype(np.uint8)
    P = rng.standard_normal((40, 4)).astype(np.float32)
    return X, Q, X.astype(np.float32) @ P, Q.astype(np.float32) @ P


def test_ground_truth_is_exact_and_cached(data, tmp_path, monkeypatch):
    X, Q, _, _ = data
    D, I = ground_truth(X, Q, 5, cache_dir=tmp_path)
    full = np.abs(Q[:, None].astype(int) - X[None]).sum(-1)
    np.testing.assert_array_equal(D, np.sort(full, 1)[:, :5])
    assert ground_truth(X, Q, 5)[0] is D  # memory cache
    monkeypatch.setattr(ev, "_gt_cache", {})
    import imsim.search.sharded as sharded

    def recompute(*args, **kwargs):
        raise AssertionError("the disk cache was not used")

    monkeypatch.setattr(sharded, "exact_knn", recompute)  # what ground_truth computes with
    D2, I2 = ground_truth(X, Q, 5, cache_dir=tmp_path)  # disk cache
    np.testing.assert_array_equal(I2, I)


def test_score_known_values():
    X = np.array([[0], [10], [20]], dtype=np.uint8)
    Q = np.array([[1], [20]], dtype=np.uint8)
    I = np.array([[1, 0], [2, -1]])          # first query answered by its 2nd nearest
    D_true = np.array([[1.0, 9.0], [0.0, 10.0]])
    s = score(X, Q, I, D_true)
    assert s["approx_factor"] == pytest.approx((9 / 1 + 1) / 2)
    assert s["recall_at_1"] == 0.5 and s["n_not_found"] == 0 and s["n_excluded"] == 0


def test_evaluate_records_one_per_setting(data):
    X, Q, Zx, Zq = data
    specs = [{"method": "exact"},
             {"method": "lsh", "build": {"n_hashes": 3, "n_tables": 6},
              "query": [{"max_candidates": 5}, {}]},
             {"method": "hnsw", "build": {"M": 8}, "query": [{"ef": 50}]},
             {"method": "reduced", "build": {"rerank": 400}}]
    records = evaluate(X, Q, specs, dataset="toy", Zx=Zx, Zq=Zq)
    assert [(r["method"], r["params"]) for r in records] == [
        ("exact", {}), ("lsh", {"n_hashes": 3, "n_tables": 6, "max_candidates": 5}),
        ("lsh", {"n_hashes": 3, "n_tables": 6}), ("hnsw", {"M": 8, "ef": 50}),
        ("reduced", {"rerank": 400})]
    keys = {"dataset", "method", "name", "params", "build_s", "ms_per_query",
            "cpu_ms_per_query", "recall_at_1",
            "recall_at_10", "approx_factor", "n_excluded", "n_not_found", "n_queries"}
    for r in records:
        assert keys <= set(r) and r["dataset"] == "toy" and r["n_queries"] == 25
        assert r["ms_per_query"] > 0 and 0 <= r["recall_at_10"] <= 1
    exact, cap5, lsh, _, reduced = records
    assert exact["approx_factor"] == 1.0 and exact["recall_at_1"] == exact["recall_at_10"] == 1.0
    assert reduced["recall_at_10"] == 1.0  # re-ranking every vector is exact
    assert cap5["build_s"] == lsh["build_s"]  # one build serves both settings
    assert lsh["approx_factor"] <= cap5["approx_factor"]


def test_compare_and_report(data):
    X, Q, Zx, Zq = data
    runs = compare(X, Q, ["exact", "reduced", "lsh"], Zx=Zx, Zq=Zq, rerank=0,
                   lsh={"n_hashes": 3, "n_tables": 4})
    assert [r.method for r in runs] == ["reduced", "lsh", "exact"]
    exact = runs[-1]
    full = np.abs(Q[:, None].astype(int) - X[None]).sum(-1)
    np.testing.assert_array_equal(exact.distances[:, 0], full.min(1))
    reduced = runs[0]
    np.testing.assert_array_equal(reduced.distances[:, 0],
                                  full[np.arange(len(Q)), reduced.ids[:, 0]])
    report = to_report(runs)
    assert report.methods == ["Reduced", "LSH", "True"]
    assert report.factors["Reduced"] == pytest.approx(reduced.quality["approx_factor"])
    assert set(report.not_found) == {"LSH"}
    with pytest.raises(ValueError, match="'reduced' needs the latent files"):
        compare(X, Q, ["reduced"])
    with pytest.raises(ValueError, match="query latent file holds 24 vectors"):
        compare(X, Q, ["reduced"], Zx=Zx, Zq=Zq[:-1])


def test_compare_checks_every_parameter_before_the_first_build(data, monkeypatch):
    X, Q, Zx, Zq = data
    built = []
    monkeypatch.setattr(ev, "timed_search", lambda *a, **k: built.append(a) or 1 / 0)
    with pytest.raises(ValueError, match="n_hashes must be at most 32, got 33"):
        compare(X, Q, ["reduced", "lsh"], Zx=Zx, Zq=Zq, lsh={"n_hashes": 33})
    with pytest.raises(ValueError, match="LSHIndex supports metric 'l1', got 'l2'"):
        compare(X, Q, ["hnsw", "lsh"], metric="euclidean")
    with pytest.raises(ValueError, match="n_neighbors=401 but the data holds 400 items"):
        compare(X, Q, ["exact"], n_neighbors=401)
    assert built == []


def test_metric_aliases_give_the_same_answers(data):
    X, Q, _, _ = data
    a = compare(X, Q, ["hnsw"], metric="euclidean", n_neighbors=3)
    b = compare(X, Q, ["hnsw"], metric="l2", n_neighbors=3)
    for ra, rb in zip(a, b):
        np.testing.assert_array_equal(ra.ids, rb.ids)
        np.testing.assert_array_equal(ra.distances, rb.distances)

