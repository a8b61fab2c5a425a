import numpy as np
import pytest

from imsim.cli.main import main
from imsim.datasets import write_images, write_labels
from imsim.formats.classes import read_classes


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def files(tmp_path, bars):
    for name, (images, labels) in (("train", bars(96, 0)), ("test", bars(30, 1))):
        write_images(tmp_path / f"{name}-images.idx", images)
        write_labels(tmp_path / f"{name}-labels.idx", labels)
    assert main(["train", "-d", str(tmp_path / "train-images.idx"), "--out", str(tmp_path / "ae"),
                 "--epochs", "1", "--filters", "4,8", "--hidden", "0", "--no-plots"]) == 0
    return tmp_path


@pytest.mark.slow
def test_classify_original_flags(files, capsys):
    capsys.readouterr()
    rc = main(["classify", "-d", str(files / "train-images.idx"),
               "-dl", str(files / "train-labels.idx"), "-t", str(files / "test-images.idx"),
               "-tl", str(files / "test-labels.idx"), "-model", str(files / "ae"),
               "--out", str(files / "out"), "--epochs", "12", "--batch-size", "16",
               "--fc-units", "16", "--dropout", "0", "--val-fraction", "0", "--shift", "0"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "phase 1 epoch   1" in text and "phase 2 epoch  13" in text
    accuracy = float(text.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 80  # three easy shapes
    assert text.count("\n    2 ") == 1  # per-class row of class 2
    for name in ("confusion.png", "correct.png", "model/model.safetensors"):
        assert (files / "out" / name).exists()
    classes = read_classes(files / "out" / "classes.txt", n_images=96)
    assert classes.shape == (96,) and set(classes) <= {0, 1, 2}
    lines = (files / "out" / "classes.txt").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("CLUSTER-1 { size: ")


def _args(files, train="train", model="ae", out="out"):
    return ["classify", "-d", str(files / f"{train}-images.idx"), "-dl",
            str(files / f"{train}-labels.idx"), "-t", str(files / "test-images.idx"), "-tl",
            str(files / "test-labels.idx"), "-model", str(files / model), "--out",
            str(files / out), "--epochs", "1", "--head-epochs", "0"]


@pytest.mark.slow
def test_classify_predict_file_and_errors(files, capsys):
    assert main([*_args(files), "--predict", str(files / "test-images.idx"),
                 "--classes", str(files / "c.txt")]) == 0
    assert read_classes(files / "c.txt", n_images=30).shape == (30,)
    capsys.readouterr()
    assert main(_args(files, model="nothing")) == 1
    assert "model folder not found" in capsys.readouterr().err
    write_images(files / "big-images.idx", np.zeros((4, 12, 12), np.uint8))
    write_labels(files / "big-labels.idx", np.zeros(4, np.int64))
    assert main(_args(files, train="big")) == 1
    assert "expects 8x8x1 images, got 12x12x1" in capsys.readouterr().err
    write_labels(files / "big-labels.idx", np.zeros(5, np.int64))
    assert main(_args(files, train="big")) == 1
    assert "5 labels" in capsys.readouterr().err
