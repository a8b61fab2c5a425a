import numpy as np
import pytest

from imsim.cli.main import main
from imsim.datasets import write_images, write_labels, write_latent
from imsim.formats.classes import write_classes
from imsim.formats.cluster import read_cluster_output, read_label_assignments


@pytest.fixture
def files(tmp_path, rng):
    protos = rng.integers(0, 256, size=(3, 64))
    X = np.concatenate([np.clip(p + rng.normal(scale=15, size=(20, 64)), 0, 255)
                        for p in protos]).astype(np.uint8).reshape(-1, 8, 8)
    y = np.repeat(np.arange(3), 20)
    Z = (np.eye(3)[y] * 20000 + rng.integers(0, 300, size=(60, 3))).astype(np.uint16)
    paths = {name: tmp_path / name for name in ("img.idx", "lab.idx", "lat.idx",
                                                "classes.txt", "cluster.conf")}
    write_images(paths["img.idx"], X)
    write_labels(paths["lab.idx"], y)
    write_latent(paths["lat.idx"], Z)
    write_classes(paths["classes.txt"], y)
    paths["cluster.conf"].write_text("number_of_clusters: 3\nnumber_of_vector_hash_tables: 3\n")
    return paths


def _args(files, out):
    return ["cluster", "-d", str(files["img.idx"]), "-i", str(files["lat.idx"]),
            "-n", str(files["classes.txt"]), "-c", str(files["cluster.conf"]), "-o", str(out)]


def test_original_form_end_to_end(files, tmp_path, capsys):
    out = tmp_path / "out.txt"
    assert main(_args(files, out)) == 0
    printed = capsys.readouterr().out
    assert "NEW SPACE" in printed and f"wrote {out}" in printed
    sections = read_cluster_output(out)
    assert [s.name for s in sections] == ["NEW SPACE", "ORIGINAL SPACE", "CLASSES AS CLUSTERS"]
    new, orig, cls = sections
    assert sorted(new.sizes.tolist()) == [20, 20, 20]
    assert new.centroids.shape == (3, 64) and new.clustering_time is not None
    assert cls.sizes is None and len(cls.silhouette) == 3
    # the latent clustering recovers the classes exactly, so their measures agree
    assert new.objective == cls.objective
    assert new.silhouette_total == pytest.approx(cls.silhouette_total)


@pytest.mark.slow
def test_labels_extras(files, tmp_path, capsys):
    out = tmp_path / "res" / "out.txt"
    assert main(_args(files, out) + ["--labels", str(files["lab.idx"])]) == 0
    assert "purity 1.0000" in capsys.readouterr().out
    found, correct = read_label_assignments(tmp_path / "res" / "out.new_space.labels.txt")
    np.testing.assert_array_equal(found, correct)
    for tag in ("new_space", "original_space", "classes_as_clusters"):
        for kind in ("silhouette", "per_label"):
            png = tmp_path / "res" / f"out.{tag}.{kind}.png"
            assert png.read_bytes()[:4] == b"\x89PNG"
    assert "ARI" in (tmp_path / "res" / "out.summary.txt").read_text()


def test_optional_sections_and_conf_warning(files, tmp_path, capsys):
    files["cluster.conf"].write_text("number_of_clusters: 2\nnumber_of_probes: 4\n")
    out = tmp_path / "out.txt"
    args = ["cluster", "-d", str(files["img.idx"]), "-c", str(files["cluster.conf"]),
            "-o", str(out)]
    assert main(args) == 0
    assert "warning: " in capsys.readouterr().err
    (only,) = read_cluster_output(out)
    assert only.name == "ORIGINAL SPACE" and len(only.sizes) == 2


@pytest.mark.parametrize("change, message", [
    ("conf", "number_of_clusters is missing"),
    ("classes", "of 60 images are in no class"),
    ("latent", "X_latent has 59 vectors but X_original has 60 images"),
])
def test_user_errors(files, tmp_path, capsys, change, message):
    if change == "conf":
        files["cluster.conf"].write_text("number_of_vector_hash_tables: 3\n")
    elif change == "classes":
        write_classes(files["classes.txt"], np.zeros(50, dtype=int))
    else:
        write_latent(files["lat.idx"], np.zeros((59, 3), dtype=np.uint16))
    out = tmp_path / "out.txt"
    assert main(_args(files, out)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not out.exists()


@pytest.mark.slow
def test_elbow_command(files, tmp_path, capsys):
    png = tmp_path / "elbow.png"
    assert main(["elbow", "-d", str(files["lat.idx"]), "-k", "1-6", "-o", str(png)]) == 0
    assert "knee: k = 3" in capsys.readouterr().out
    assert png.read_bytes()[:4] == b"\x89PNG"
    # too short a range to bend: said, with the way out
    assert main(["elbow", "-d", str(files["lat.idx"]), "-k", "1-2", "-o", str(png)]) == 0
    assert "knee: none (the objective falls evenly over k=1..2; try a wider --k-range)" \
        in capsys.readouterr().out
    assert main(["elbow", "-d", str(files["img.idx"]), "-k", "6", "-o", str(png)]) == 1
