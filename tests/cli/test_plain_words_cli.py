"""What the command line says is true and in its own words: options that were not used
say so, counts are counted (1 epoch, 9,601 skipped), the usage line names arguments as
the help does, an old option spelling still works and says the new one."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from imsim.cli.main import main
from imsim.datasets import write_images, write_labels


def _photos(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(n):
        img = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i}.png")
    return root


def test_options_the_encoder_does_not_use_say_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMSIM_HOME", str(tmp_path / "home"))
    photos = _photos(tmp_path / "p", 12)
    assert main(["index", str(photos), "--epochs", "3", "--steps", "5", "--latent", "16"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: --epochs 3 was not used: it applies to the autoencoder encoder, and this build "
        "used features",
        "note: --steps 5 was not used: it applies to the contrastive encoder, and this build "
        "used features",
        "note: --latent 16 became 11: the features encoder made 11-dimensional vectors "
        "(PCA (not whitened: under 50 images) to 11 dimensions on 12 images)"]
    # nothing fitted on an unchanged folder: no notes
    assert main(["index", str(photos), "--epochs", "3"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_another_folder_is_refused_in_command_line_words(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMSIM_HOME", str(tmp_path / "home"))
    coll = tmp_path / "c.imsim"
    assert main(["index", str(_photos(tmp_path / "a", 4)), "-c", str(coll)]) == 0
    capsys.readouterr()
    assert main(["index", str(_photos(tmp_path / "b", 4)), "-c", str(coll)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --replace to replace its photos" in err
    assert "replace=True" not in err and "give another collection with -c" in err


def test_summary_counts_with_separators_and_plurals():
    from imsim.cli.collection import _skipped_lines
    from imsim.cli.reduce import _trained_line

    history = SimpleNamespace(epochs=[{}], seconds=0.4, best_val_loss=0.5, best_epoch=1)
    assert _trained_line(history, 60000).startswith("trained on 60,000 images: 1 epoch in")
    history.epochs = [{}, {}]
    assert ": 2 epochs in" in _trained_line(history, 5)
    skipped = [(f"{i}.svg", "not a supported image type (.svg)") for i in range(9601)]
    assert _skipped_lines(skipped) == [
        "    9,601 files, e.g. 0.svg: not a supported image type (.svg)"]


@pytest.mark.parametrize("command, argument", [("index", "PHOTOS_DIR"), ("query", "[IMAGE]")])
def test_usage_line_names_arguments_without_braces(command, argument, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main([command, "--help"]) == 0
    usage = next(line for line in capsys.readouterr().out.splitlines() if "Usage:" in line)
    assert usage.split() == ["Usage:", "imsim", command, "[OPTIONS]", argument]


def test_old_queries_spelling_still_counts_and_says_the_new_one(tmp_path, capsys):
    rng = np.random.default_rng(0)
    write_images(tmp_path / "d", rng.integers(0, 256, (40, 6, 6), dtype=np.uint8))
    write_images(tmp_path / "q", rng.integers(0, 256, (9, 6, 6), dtype=np.uint8))
    args = ["search", "-d", str(tmp_path / "d"), "-q", str(tmp_path / "q"), "--method", "exact"]
    assert main([*args, "--n-queries", "3"]) == 0
    new = capsys.readouterr()
    assert new.out.count("Query: ") == 3 and "warning" not in new.err
    assert main([*args, "--queries", "3"]) == 0
    old = capsys.readouterr()
    untimed = lambda text: [line for line in text.splitlines() if not line.startswith("t")]  # noqa: E731
    assert untimed(old.out) == untimed(new.out)
    assert "warning: --queries N is now --n-queries N (-q names the query file)" in old.err
    assert main([*args, "--queries", "3", "--n-queries", "4"]) == 1
    assert "disagree" in capsys.readouterr().err


def test_data_dir_on_train_and_sweep(tmp_path, capsys):
    # the README's form parses; --data-dir with a file instead of a name says so
    write_images(tmp_path / "x.idx", np.zeros((4, 8, 8), np.uint8))
    for command in (["train", "-o", str(tmp_path / "m")],
                    ["sweep", "-p", "latent", "-v", "2", "-o", str(tmp_path / "s")]):
        assert main([*command, "-d", str(tmp_path / "x.idx"), "--data-dir", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: --data-dir applies to a named data set (mnist, ") and \
            err.count("\n") == 1
    # fashion-mnist from a folder of MNIST-named files that are not MNIST's: read as given,
    # up to training, which --epochs 0 refuses before any work
    write_images(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_labels(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(3))
    write_images(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_labels(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(3))
    assert main(["train", "-d", "fashion-mnist", "--data-dir", str(tmp_path), "-o",
                 str(tmp_path / "m"), "--epochs", "0"]) == 1
    err = capsys.readouterr().err
    assert "--data-dir" not in err and "No such option" not in err and "epochs" in err


def test_demo_ends_with_an_absolute_report_path(tmp_path, monkeypatch, capsys):
    from imsim.cli.demo import _print_summary

    monkeypatch.chdir(tmp_path)
    _print_summary([], 1.0, Path("out/report.html"), 0.5, 0.2)
    assert capsys.readouterr().out.rstrip().endswith(f"report: {tmp_path / 'out' / 'report.html'}")


def test_demo_says_how_much_of_the_data_it_uses():
    from imsim.evaluation.demo.config import DemoConfig
    from imsim.evaluation.demo.run import _train_images_used

    quick = DemoConfig.from_preset("quick")
    assert _train_images_used(quick, 60000) == max(
        v for v in (quick.ae_train, quick.search_data, quick.emd_data, quick.clf_train)
        if v is not None) < 60000
    assert _train_images_used(DemoConfig.from_preset("default"), 60000) == 60000


def test_groups_auto_reports_the_elbow_through_the_progress_helper(tmp_path, monkeypatch, capsys):
    import imsim._progress

    seen = []
    real = imsim._progress.progress

    def recording(iterable=None, **kw):
        seen.append((kw.get("desc"), len(iterable), kw.get("unit")))
        return real(iterable, **kw)

    monkeypatch.setenv("IMSIM_HOME", str(tmp_path / "home"))
    photos = _photos(tmp_path / "p", 12)
    assert main(["index", str(photos)]) == 0
    monkeypatch.setattr(imsim._progress, "progress", recording)
    assert main(["groups", "-c", str(next((tmp_path / "home" / "collections").iterdir())),
                 "-k", "auto", "--k-max", "8"]) in (0, 1)  # a knee or none: either way it ran
    assert ("elbow (kmedoids, k=2..8)", 7, "k value") in seen


def test_a_clipped_share_that_rounds_to_zero_is_not_printed_as_zero(capsys):
    from imsim.cli.reduce import _clipping_notes

    _clipping_notes(2e-7, 0.0125, model_scale=True)
    out = capsys.readouterr().out.splitlines()
    assert out == ["note: under 0.001% of the data-set values fell outside the model's latent "
                   "scale and were clipped",
                   "note: 1.250% of the query values fell outside the model's latent scale and "
                   "were clipped"]
