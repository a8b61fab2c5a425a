import numpy as np
import pytest

from imsim._validation import DataFormatError
from imsim.formats.cluster import (ClusterConfig, ClusterSection, format_cluster_output,
                                   parse_cluster_conf, parse_cluster_output,
                                   read_cluster_conf, read_cluster_output,
                                   read_label_assignments, write_cluster_output,
                                   write_label_assignments)


def test_conf_with_comments(tmp_path):
    path = tmp_path / "cluster.conf"
    path.write_text("# k-medians\nnumber_of_clusters: 10   # k\n\n"
                    "number_of_vector_hash_tables: 3 // L\nNUMBER_OF_VECTOR_HASH_FUNCTIONS:4\n")
    assert read_cluster_conf(path) == ClusterConfig(10, 3, 4)
    assert parse_cluster_conf("number_of_clusters: 7") == ClusterConfig(7)


def test_conf_unknown_keys_warn_with_names():
    with pytest.warns(UserWarning, match=r"unknown keys ignored: number_of_probes \(line 2\), "
                                         r"colour \(line 3\)"):
        conf = parse_cluster_conf("number_of_clusters: 4\nnumber_of_probes: 2\ncolour: red\n")
    assert conf.number_of_clusters == 4


@pytest.mark.parametrize("text, message", [
    ("number_of_vector_hash_tables: 3\n", "number_of_clusters is missing"),
    ("number_of_clusters: ten\n", r"c\.conf:1: number_of_clusters must be a positive "
                                  r"integer, found 'ten'"),
    ("# x\nnumber_of_clusters: 0\n", r"c\.conf:2: .* found '0'"),
    ("number_of_clusters: 2.5\n", r":1: .* found '2\.5'"),
    ("number_of_clusters 10\n", r":1: expected 'key: value', found 'number_of_clusters 10'"),
    ("number_of_clusters: 3\nnumber_of_clusters: 4\n",
     r":2: number_of_clusters given again \(first on line 1\)"),
])
def test_conf_errors(text, message):
    with pytest.raises(DataFormatError, match=message):
        parse_cluster_conf(text, source="c.conf")


def _sections():
    return [
        ClusterSection("NEW SPACE", np.array([0.25, -0.125]), 0.1, 1234, sizes=np.array([3, 2]),
                       centroids=np.array([[0, 255, 7], [1, 2, 3]], dtype=np.uint8),
                       clustering_time=0.5),
        ClusterSection("ORIGINAL SPACE", np.array([0.3, 0.4]), 1 / 3, 1200,
                       sizes=np.array([4, 1]),
                       centroids=np.array([[0, 0, 1], [9, 9, 9]], dtype=np.uint8),
                       clustering_time=1.25),
        ClusterSection("CLASSES AS CLUSTERS", np.array([0.5, np.nan]), 0.2, 1500.5),
    ]


def test_output_exact_text():
    assert format_cluster_output(_sections()[:1] + _sections()[2:]) == (
        "NEW SPACE\n"
        "CLUSTER-1 {size: 3, centroid: [0, 255, 7]}\n"
        "CLUSTER-2 {size: 2, centroid: [1, 2, 3]}\n"
        "clustering_time: 0.5\n"
        "Silhouette: [0.25, -0.125, 0.1]\n"
        "Value of Objective Function: 1234\n"
        "\n"
        "CLASSES AS CLUSTERS\n"
        "Silhouette: [0.5, nan, 0.2]\n"
        "Value of Objective Function: 1500.5\n")


def test_output_written_then_parsed_back(tmp_path):
    path = write_cluster_output(tmp_path / "out.txt", _sections())
    back = read_cluster_output(path)
    assert [s.name for s in back] == ["NEW SPACE", "ORIGINAL SPACE", "CLASSES AS CLUSTERS"]
    for a, b in zip(_sections(), back):
        np.testing.assert_array_equal(a.silhouette, b.silhouette)
        assert (a.silhouette_total, a.objective, a.clustering_time) == \
               (b.silhouette_total, b.objective, b.clustering_time)
        if a.sizes is None:
            assert b.sizes is None and b.centroids is None
        else:
            np.testing.assert_array_equal(a.sizes, b.sizes)
            np.testing.assert_array_equal(a.centroids, b.centroids)
            assert b.centroids.dtype == np.uint8


def test_output_float_centroids_and_lenient_spacing():
    text = ("NEW SPACE\nCLUSTER-1 {size: 1, centroid: [0.5, 1e-3]}\nclustering_time: 2\n"
            "Silhouette: [ 0.1 , 0.2 ]\nValue of Objective Function: 3\n")
    (sec,) = parse_cluster_output(text)
    np.testing.assert_array_equal(sec.centroids, [[0.5, 0.001]])
    assert sec.silhouette_total == 0.2


@pytest.mark.parametrize("text, message", [
    ("CLUSTER-1 {size: 1, centroid: [1]}\n", r"out:1: expected a section name"),
    ("NEW SPACE\nCLUSTER-2 {size: 1, centroid: [1]}\n", r"out:2: expected CLUSTER-1, found "
                                                         r"CLUSTER-2"),
    ("NEW SPACE\nCLUSTER-1 {size: 1, centroid: [1, x]}\n", r"out:2: centroid values must be "
                                                            r"numbers, found 'x'"),
    ("NEW SPACE\nCLUSTER-1 {size: 1 centroid: [1]}\n", r"out:2: expected 'CLUSTER-<i>"),
    ("NEW SPACE\nSilhouette: [0.1, 0.2]\n", r"NEW SPACE has no 'Value of Objective Function'"),
    ("NEW SPACE\nSilhouette: [0.1]\nValue of Objective Function: 1\n",
     r"out:2: Silhouette needs per-cluster values and the total"),
    ("NEW SPACE\nhello: 1\n", r"out:2: unexpected line in section NEW SPACE"),
    ("NEW SPACE\nCLUSTER-1 {size: 1, centroid: [1]}\nSilhouette: [0.1, 0.2, 0.3]\n"
     "Value of Objective Function: 1\n", "lists 1 clusters but 2 silhouettes"),
])
def test_output_errors(text, message):
    with pytest.raises(DataFormatError, match=message):
        parse_cluster_output(text, source="out")


def test_label_assignments_round_trip(tmp_path):
    path = write_label_assignments(tmp_path / "l.txt", np.array([3, 1, 1]), np.array([3, 2, 1]))
    assert path.read_text() == "0 3 3\n1 1 2\n2 1 1\n"
    found, correct = read_label_assignments(path)
    np.testing.assert_array_equal(found, [3, 1, 1])
    np.testing.assert_array_equal(correct, [3, 2, 1])
    path.write_text("0 3 3\n2 1 1\n")
    with pytest.raises(DataFormatError, match=r"l\.txt:2: expected image index 1, found 2"):
        read_label_assignments(path)
