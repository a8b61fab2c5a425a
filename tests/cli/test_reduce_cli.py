import csv
import io
import json

import numpy as np
import pytest
from _data import spot_images

from imsim.cli.main import main
from imsim.datasets import read_latent, write_images

SMALL = ["--filters", "4,8", "--hidden", "16", "--latent", "3", "--batch-size", "16"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def files(tmp_path):
    write_images(tmp_path / "data.idx.gz", spot_images(48, 0))
    write_images(tmp_path / "query.idx", spot_images(12, 1))
    return tmp_path


@pytest.mark.slow
def test_train_writes_model_and_plots(files, capsys):
    out = files / "m"
    rc = main(["train", "-d", str(files / "data.idx.gz"), "--out", str(out), "--epochs", "2",
               "--seed", "1", *SMALL])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "epoch   2" in text and "trained on 48 images: 2 epochs" in text
    for name in ("model.safetensors", "config.json", "loss.png", "reconstructions.png"):
        assert (out / name).stat().st_size > 0
    meta = json.loads((out / "config.json").read_text())
    assert meta["config"]["filters"] == [4, 8] and meta["config"]["latent_dim"] == 3
    assert meta["extra"]["train_config"]["seed"] == 1 and meta["latent_scale"]["levels"] == 25500


@pytest.mark.slow
def test_reduce_original_flags_then_reuse_the_model(files, capsys):
    args = ["reduce", "-d", str(files / "data.idx.gz"), "-q", str(files / "query.idx"),
            "-od", str(files / "d.lat"), "-oq", str(files / "q.lat")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "training the default autoencoder" in text and "saved the model to" in text
    d, q = read_latent(files / "d.lat"), read_latent(files / "q.lat")
    assert d.shape == (48, 10) and q.shape == (12, 10)  # the default latent dimension
    assert (files / "model" / "config.json").exists()
    # with --model the same model and the same stored scale give the same files
    args2 = args[:5] + ["-od", str(files / "d2.lat"), "-oq", str(files / "q2.lat"),
                        "--model", str(files / "model")]
    assert main(args2) == 0
    assert "training" not in capsys.readouterr().out
    np.testing.assert_array_equal(read_latent(files / "d2.lat"), d)
    np.testing.assert_array_equal(read_latent(files / "q2.lat"), q)
    assert (files / "q2.lat.json").read_text() == (files / "d.lat.json").read_text()


@pytest.mark.slow
def test_reduce_bad_inputs_give_one_line_errors(files, capsys):
    (files / "empty.idx").write_bytes(b"")
    (files / "labels.idx").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05")
    base = ["-od", str(files / "d"), "-oq", str(files / "q")]
    assert main(["reduce", "-d", str(files / "empty.idx"), "-q", str(files / "query.idx"),
                 *base]) == 1
    assert "empty" in capsys.readouterr().err
    assert main(["reduce", "-d", str(files / "labels.idx"), "-q", str(files / "query.idx"),
                 *base]) == 1
    assert "wrong magic number 2049" in capsys.readouterr().err
    # a model trained on 8x8 images used for 12x12 images
    main(["train", "-d", str(files / "data.idx.gz"), "--out", str(files / "m"), "--epochs", "1",
          "--no-plots", *SMALL])
    write_images(files / "big.idx", spot_images(4, 3, size=12))
    capsys.readouterr()
    assert main(["reduce", "-d", str(files / "big.idx"), "-q", str(files / "big.idx"), *base,
                 "--model", str(files / "m")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "expects 8x8x1 images, got 12x12x1" in err
    assert not (files / "d").exists()


@pytest.mark.slow
def test_sweep_writes_table_and_plots(files, capsys):
    out = files / "sweep"
    rc = main(["sweep", "-d", str(files / "data.idx.gz"), "--param", "latent", "-v", "2,4",
               "--out", str(out), "--epochs", "1", "--filters", "4,8", "--hidden", "0"])
    assert rc == 0
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [r["value"] for r in rows] == ["2", "4"]
    assert all(float(r["best_val_loss"]) > 0 and int(r["n_params"]) > 0 for r in rows)
    assert int(rows[1]["n_params"]) > int(rows[0]["n_params"])
    for name in ("loss_curves.png", "val_loss_vs_latent_dim.png", "reconstructions.png"):
        assert (out / name).stat().st_size > 0
    assert "wrote" in capsys.readouterr().out
    assert main(["sweep", "-d", str(files / "data.idx.gz"), "--param", "seed", "-v", "1",
                 "--out", str(out)]) == 1


@pytest.mark.slow
def test_sweep_filters_lists(files):
    out = files / "sweep"
    assert main(["sweep", "-d", str(files / "data.idx.gz"), "--param", "filters", "-v", "2,4",
                 "-v", "4,4,4", "--out", str(out), "--epochs", "1", "--hidden", "0"]) == 0
    records = json.loads((out / "sweep.json").read_text())["records"]
    assert [r["model_config"]["filters"] for r in records] == [[2, 4], [4, 4, 4]]
    assert [r["model_config"]["n_layers"] for r in records] == [2, 3]


@pytest.mark.slow
def test_interactive_reduce_menu(files, capsys, monkeypatch):
    # 1) change epochs to 1 and retrain, 2) plots, 4) write latents, 5) exit
    monkeypatch.setattr("sys.stdin", io.StringIO("1\nepochs\n1\n2\n4\n5\n"))
    rc = main(["reduce", "-d", str(files / "data.idx.gz"), "-q", str(files / "query.idx"),
               "-od", str(files / "d.lat"), "-oq", str(files / "q.lat"), "--interactive"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "write the latent files" in text and text.count("trained on 48 images") == 2
    assert (files / "model" / "loss.png").exists()
    assert read_latent(files / "q.lat").shape == (12, 10)
    assert (files / "d.lat.json").read_text() == (files / "q.lat.json").read_text()


def test_interactive_train_menu_saves(files, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"3\n{files / 'saved'}\n4\n"))
    rc = main(["train", "-d", str(files / "data.idx.gz"), "--out", str(files / "m"),
               "--epochs", "1", "--interactive", *SMALL])
    assert rc == 0
    assert "saved the model to" in capsys.readouterr().out
    assert (files / "saved" / "model.safetensors").exists()


def test_reduce_with_a_model_only_reads_it(files, capsys):
    model = files / "m"
    assert main(["train", "-d", str(files / "data.idx.gz"), "--out", str(model), "--epochs", "1",
                 "--no-plots", *SMALL]) == 0
    meta = json.loads((model / "config.json").read_text())
    args = ["reduce", "-d", str(files / "data.idx.gz"), "-q", str(files / "query.idx"),
            "-od", str(files / "d.lat"), "-oq", str(files / "q.lat"), "--model", str(model)]
    # an older checkpoint without a scale: one is fitted for these files, the folder stays
    del meta["latent_scale"]
    (model / "config.json").write_text(json.dumps(meta))
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"note: {model} holds no latent scale: fitted one on the data set" in out
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before
    assert read_latent(files / "d.lat").max() == 25500
    # a stored scale narrower than the data: clipping is reported for both files
    z = json.loads((files / "d.lat.json").read_text())
    middle = (z["min"] + z["max"]) / 2
    meta["latent_scale"] = {"min": middle, "max": middle + 1e-3, "levels": 25500}
    (model / "config.json").write_text(json.dumps(meta))
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "of the data-set values fell outside the model's latent scale and were clipped" in out
    assert "of the query values fell outside the model's latent scale and were clipped" in out
