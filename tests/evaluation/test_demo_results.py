"""The demo's result types and sweeps without running the demo: JSON round trips, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from imsim.cluster import SilhouetteResult
from imsim.evaluation.demo import read_results, write_result
from imsim.evaluation.demo.results import (ClusteringEntry, ClusteringResult, EMDResult,
                                           LabelCounts, SearchResult)
from imsim.evaluation.emd import EMDCorrectness


def test_typed_results_round_trip_through_json(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
    search = SearchResult(params={"k": 3}, records=[{"method": "exact", "params": {}}],
                          examples={"queries": images[0], "methods": [{"images": images}]},
                          seconds=1.5, data={"dataset": "digits", "source": "built in"})
    sil = SilhouetteResult(samples=np.array([0.5, -0.25]), per_cluster=np.array([0.5, np.nan]),
                           total=0.125)
    clustering = ClusteringResult(
        params={}, silhouette_time=0.1,
        results=[ClusteringEntry(name="NEW SPACE", k=2, sizes=[2, 0], clustering_time=0.2,
                                 n_iter=3, objective=10.0, silhouette=sil,
                                 labels=np.array([0, 0]),
                                 scores=LabelCounts(purity=1.0, ari=0.5, nmi=0.25,
                                                    label_values=np.array([1, 7]),
                                                    correct=np.array([1, 1]),
                                                    incorrect=np.array([0, 0])))])
    emd = EMDResult(params={}, results=[EMDCorrectness(
        window=4, bins=4, ground="euclidean", k=1, n_queries=2, n_data=5, shortlist=None,
        emd_correct=0.5, manhattan_correct=0.25, emd_seconds=0.1, manhattan_seconds=0.01,
        exact_per_query=3.0)])
    for result in (search, clustering, emd):
        d = json.loads(json.dumps(result.to_dict()))  # plain JSON
        again = type(result).from_dict(d)
        assert again.to_dict() == d
    d = json.loads(json.dumps(search.to_dict()))
    assert d["examples"]["queries"]["dtype"] == "uint8"  # images travel as base64
    back = SearchResult.from_dict(d)
    np.testing.assert_array_equal(back.examples["methods"][0]["images"], images)
    entry = ClusteringResult.from_dict(json.loads(json.dumps(clustering.to_dict()))).results[0]
    assert entry.silhouette.total == 0.125 and np.isnan(entry.silhouette.per_cluster[1])
    np.testing.assert_array_equal(entry.scores.label_values, [1, 7])
    assert EMDResult.from_dict(emd.to_dict()).results == emd.results


def test_search_sweeps_come_from_the_packaged_toml():
    from imsim.evaluation.demo import search_examples, search_sweep

    for name in ("quick", "default", "full", "benchmark"):
        sweep = search_sweep(name)
        assert sweep[0] == {"method": "exact"}
        assert {s["method"] for s in sweep} == {"exact", "lsh", "hnsw", "reduced"}
    for preset in ("quick", "default", "full"):
        examples = search_examples(preset)  # each one a build of the sweep (checked there)
        assert [e["method"] for e in examples] == ["exact", "lsh", "hnsw", "reduced", "reduced"]
    # the full preset sweeps what the benchmark sweeps, HNSW ef=48 aside
    bench = [s for s in search_sweep("benchmark") if s["method"] != "hnsw"]
    assert bench == [s for s in search_sweep("full") if s["method"] != "hnsw"]
    with pytest.raises(ValueError, match="no search sweep 'huge'"):
        search_sweep("huge")


def test_a_broken_result_file_is_one_clear_error(tmp_path):
    from imsim._validation import DataFormatError

    write_result(tmp_path, "run", {"experiment": "run", "command": "x"})
    with pytest.raises(DataFormatError, match=r"run.json: not a result of imsim demo "
                                              r"\(missing config, machine"):
        read_results(tmp_path)
