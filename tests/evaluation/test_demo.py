"""The demo pipeline on a tiny digits run: results against brute force, JSON round trip, cache."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from imsim.evaluation.demo import (EXPERIMENTS, DemoConfig, load_demo_data, load_results,
                                   pack_images, run_demo, summarize, unpack_images,
                                   write_result)

pytestmark = pytest.mark.slow  # runs the demo on digits

# the classifier lands separately; until it has, the demo records it as unavailable
# every size as small as the steps allow: one epoch, a few queries
TINY = dict(dataset="digits", ae_train=None, ae_epochs=1, n_test=120, search_queries=40,
            n_examples=3, example_k=3, emd_queries=8, emd_data=400, cluster_images=120,
            map_points=80)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("IMSIM_THREADS", "1")  # tiny models: one thread, no waiting on a busy machine
    out = tmp_path_factory.mktemp("demo")
    lines = []
    try:
        run = run_demo(DemoConfig.from_preset("quick", **TINY), out, command="pytest",
                       log=lines.append, progress=False)
    finally:
        mp.undo()
    return run, lines


def test_every_experiment_writes_its_json(tiny_run):
    run, lines = tiny_run
    names = sorted(p.stem for p in run.results_dir.glob("*.json"))
    assert names == sorted(["run", *EXPERIMENTS])
    assert run.note is None and any(line.startswith("data: digits") for line in lines)
    steps = [s["step"] for s in run.results["run"]["steps"]]
    assert steps == ["data", "autoencoder", "search", "emd", "classifier", "clustering"]
    assert run.results["run"]["command"] == "pytest"
    assert run.results["run"]["data"]["n_test_used"] == 120


def test_results_round_trip(tiny_run, tmp_path):
    run, _ = tiny_run
    loaded = load_results(run.out_dir)  # the output folder finds its results/ folder
    assert loaded == run.results
    for name, content in loaded.items():
        write_result(tmp_path, name, content)
    assert load_results(tmp_path) == loaded


def test_search_examples_match_brute_force(tiny_run):
    run, _ = tiny_run
    train, test, _ = load_demo_data("digits")
    X = train.flat().astype(np.int64)
    ex = run.results["search"]["examples"]
    Q = test.flat()[ex["query_rows"]].astype(np.int64)
    np.testing.assert_array_equal(unpack_images(ex["queries"]), test.images[ex["query_rows"]])
    D_all = np.abs(Q[:, None, :] - X[None, :, :]).sum(-1)
    exact = ex["methods"][0]
    assert exact["method"] == "exact"
    # tie-aware: the exact answers are at the k smallest distances
    np.testing.assert_array_equal(exact["distances"], np.sort(D_all, axis=1)[:, :ex["k"]])
    for m in ex["methods"]:
        ids = np.asarray(m["ids"])
        # every method's distances are pixel L1, whatever space it searched in
        np.testing.assert_array_equal(m["distances"], np.take_along_axis(D_all, ids, axis=1))
        np.testing.assert_array_equal(m["labels"], train.labels[ids])
        np.testing.assert_array_equal(unpack_images(m["images"]), train.images[ids])
    records = run.results["search"]["records"]
    assert {r["method"] for r in records} == {"exact", "lsh", "hnsw", "reduced"}
    exact_record = next(r for r in records if r["method"] == "exact")
    assert exact_record["approx_factor"] == 1.0 and exact_record["recall_at_10"] == 1.0
    assert all(r["n_queries"] == 40 and r["approx_factor"] >= 1.0 for r in records)


def test_emd_and_clustering_results(tiny_run):
    run, _ = tiny_run
    emd = run.results["emd"]
    assert [r["window"] for r in emd["results"]] == [4, 2, 1]  # windows that fit 8x8 images
    assert all(r["n_queries"] == 8 and r["n_data"] == 400 for r in emd["results"])
    assert len({r["manhattan_correct"] for r in emd["results"]}) == 1
    cl = run.results["clustering"]
    names = ["NEW SPACE", "ORIGINAL SPACE", "CLASSES AS CLUSTERS"]
    assert [r["name"] for r in cl["results"]] == names
    # the classes are the classifier's predictions on the same 120 test images
    confusion = np.asarray(run.results["classifier"]["confusion"])
    np.testing.assert_array_equal(cl["results"][2]["sizes"], confusion.sum(axis=0))
    for r in cl["results"]:
        assert sum(r["sizes"]) == 120 and len(r["labels"]) == 120
        samples = np.asarray(r["silhouette"]["samples"])
        assert math.isclose(samples.mean(), r["silhouette"]["total"], abs_tol=1e-3)
        s = r["scores"]
        assert math.isclose((np.sum(s["correct"])) / 120, s["purity"])


def test_classifier_scores_agree(tiny_run):
    run, _ = tiny_run
    clf = run.results["classifier"]
    assert clf["status"] == "ok" and clf["params"]["n_test_images"] == 120
    confusion = np.asarray(clf["confusion"])
    assert confusion.sum() == 120 and np.trace(confusion) == clf["n_correct"]
    assert math.isclose(clf["accuracy"], clf["n_correct"] / 120)
    for row in clf["per_class"]:
        assert row["support"] == confusion[row["class"]].sum()
    wrong = clf["examples"]["incorrect"]
    assert len(wrong["true"]) == min(36, clf["n_incorrect"])
    assert all(t != p for t, p in zip(wrong["true"], wrong["predicted"]))


def test_latent_files_and_model_cache(tiny_run):
    from imsim.embed import read_latent_file

    run, _ = tiny_run
    ae = run.results["autoencoder"]
    z, scale = read_latent_file(ae["latent_files"]["train"]["path"])
    assert z.shape == (1442, 10) and ae["cached"] is False
    assert scale.min == ae["latent_scale"]["min"]
    # a second run with the same configuration and data reuses the trained model, and
    # only reads its folder
    folder = run.out_dir / "models" / "autoencoder"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    lines = []
    again = run_demo(DemoConfig.from_preset("quick", **TINY), run.out_dir, log=lines.append,
                     progress=False)
    assert again.results["autoencoder"]["cached"] is True
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sum("reusing the model" in line for line in lines) == 2
    assert again.results["classifier"]["cached"] is True
    assert again.results["classifier"]["accuracy"] == run.results["classifier"]["accuracy"]
    z2, _ = read_latent_file(ae["latent_files"]["train"]["path"])
    np.testing.assert_array_equal(z, z2)


def test_summary_reads_the_results(tiny_run):
    run, _ = tiny_run
    rows = {r["step"]: r for r in summarize(run.results)}
    assert set(rows) == {"data", "autoencoder", "search", "emd", "classifier", "clustering"}
    best = run.results["autoencoder"]["best_val_mse"]
    assert f"{best:.4f}" in rows["autoencoder"]["result"]


def test_mnist_unavailable_falls_back_to_digits_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("IMSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("IMSIM_MNIST_MIRROR", "http://127.0.0.1:9/")  # nothing listens there
    train, test, note = load_demo_data("mnist", tmp_path)
    assert train.meta["dataset"] == "digits" and train.shape == (8, 8)
    assert note is not None and "\n" not in note and "digits" in note
    _, _, note = load_demo_data("mnist", tmp_path, download=False)
    assert "downloads are off" in note


def test_presets_and_validation():
    quick, default, full = (DemoConfig.from_preset(p) for p in ("quick", "default", "full"))
    assert quick.ae_train < default.ae_train and quick.clf_train < default.clf_train
    assert quick.search_queries < default.search_queries < full.search_queries
    assert DemoConfig.from_preset("quick", seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown preset"):
        DemoConfig.from_preset("huge")
    with pytest.raises(ValueError, match="mnist or digits"):
        DemoConfig(dataset="cifar10")
    with pytest.raises(ValueError, match="search_queries"):
        DemoConfig(search_queries=0)
    with pytest.raises(ValueError, match="ae_batch"):
        DemoConfig(ae_batch=0)
    # the default trains the strided autoencoder long enough for its val MSE target
    assert (default.ae_downsample, default.precision, default.ae_epochs) == ("stride", "auto", 12)
    assert quick.ae_epochs * quick.ae_train < default.ae_epochs * default.ae_train / 10


def test_pack_images_round_trip_and_plain_json(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
    packed = json.loads(json.dumps(pack_images(images)))
    np.testing.assert_array_equal(unpack_images(packed), images)
    path = write_result(tmp_path, "x", {"a": np.float32(0.5), "b": np.arange(3), "c": math.nan,
                                        "d": [np.inf, np.int64(7)]})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1, 2], "c": None, "d": [None, 7]}
    with pytest.raises(FileNotFoundError, match="run.json"):
        load_results(tmp_path)


def test_each_result_type_round_trips_its_json(tiny_run, tmp_path):
    from imsim.cluster import SilhouetteResult
    from imsim.evaluation.demo import read_results
    from imsim.evaluation.demo.results import RESULT_TYPES
    from imsim.evaluation.emd import EMDCorrectness

    run, _ = tiny_run
    for name, content in run.results.items():
        typed = RESULT_TYPES[name].from_dict(content)
        assert typed.to_dict() == content, name
        assert json.loads(json.dumps(typed.to_dict())) == content  # plain JSON
    typed = read_results(run.out_dir)
    assert typed.to_dicts() == load_results(run.out_dir)
    # what the report needs comes back typed: arrays, EMD runs, silhouettes
    ex = typed.search.examples
    assert ex["queries"].dtype == np.uint8 and ex["queries"].shape == (3, 8, 8)
    assert ex["methods"][0]["images"].shape == (3, 3, 8, 8)
    assert all(isinstance(r, EMDCorrectness) for r in typed.emd.results)
    entry = typed.clustering.results[0]
    assert isinstance(entry.silhouette, SilhouetteResult) and entry.labels.dtype == np.int64
    assert entry.scores.correct.sum() + entry.scores.incorrect.sum() == 120
    assert typed.autoencoder.reconstructions["originals"].shape == (10, 8, 8)
    assert typed.autoencoder.clipped_train_share == 0.0  # the scale is the data set's


def test_results_of_older_runs_still_read(tiny_run, tmp_path):
    from imsim.evaluation.demo import read_results, summarize

    run, _ = tiny_run
    for name, content in run.results.items():
        content = dict(content)
        if name == "autoencoder":
            del content["clipped_train_share"]  # not recorded before
            content["from_the_future"] = {"kept": True}  # unknown keys are kept
        write_result(tmp_path, name, content)
    typed = read_results(tmp_path)
    assert typed.autoencoder.clipped_train_share is None
    assert typed.autoencoder.to_dict()["from_the_future"] == {"kept": True}
    assert typed.to_dicts() == load_results(tmp_path)  # read and written again: unchanged
    assert summarize(typed) == summarize(run.results)

