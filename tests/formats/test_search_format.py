import numpy as np
import pytest

from imsim._validation import DataFormatError
from imsim.formats.search import (SearchReport, format_search_output, parse_search_output,
                                  read_search_output, write_search_output)

EXPECTED = """\
Query: 0
Nearest neighbor Reduced: 12
Nearest neighbor LSH: 7
Nearest neighbor True: 7
distanceReduced: 140
distanceLSH: 120
distanceTrue: 120
Query: 1
Nearest neighbor Reduced: 3
Nearest neighbor LSH: NOT FOUND
Nearest neighbor True: 3
distanceReduced: 0
distanceLSH: NOT FOUND
distanceTrue: 0
tReduced: 0.012500
tLSH: 1.500000
tTrue: 0.800000
Approximation Factor LSH: 1.000000
Approximation Factor Reduced: 1.083333
LSH queries not found: 1
"""


def small_report():
    return SearchReport(
        methods=["Reduced", "LSH", "True"],
        query_ids=np.array([0, 1]),
        ids={"Reduced": np.array([[12], [3]]), "LSH": np.array([[7], [-1]]),
             "True": np.array([[7], [3]])},
        distances={"Reduced": np.array([[140.0], [0.0]]), "LSH": np.array([[120.0], [np.inf]]),
                   "True": np.array([[120.0], [0.0]])},
        times_ms={"Reduced": 0.0125, "LSH": 1.5, "True": 0.8},
        factors={"Reduced": (140 / 120 + 1) / 2, "LSH": 1.0},
        not_found={"LSH": 1},
    )


def test_exact_original_layout():
    assert format_search_output(small_report()) == EXPECTED


def test_round_trip_through_a_file(tmp_path):
    report = small_report()
    path = write_search_output(tmp_path / "out.txt", report)
    back = read_search_output(path)
    assert back.methods == report.methods
    np.testing.assert_array_equal(back.query_ids, report.query_ids)
    for m in report.methods:
        np.testing.assert_array_equal(back.ids[m], report.ids[m])
        np.testing.assert_array_equal(back.distances[m], report.distances[m])
    assert back.times_ms == pytest.approx(report.times_ms)
    assert back.factors == pytest.approx(report.factors, abs=1e-6)
    assert back.not_found == {"LSH": 1}


def test_several_neighbours_carry_ranks():
    report = SearchReport(["HNSW", "True"], np.array([5]),
                          ids={"HNSW": np.array([[1, 2]]), "True": np.array([[1, 4]])},
                          distances={"HNSW": np.array([[0.5, 2.25]]), "True": np.array([[0.5, 1.0]])})
    text = format_search_output(report)
    assert "Nearest neighbor HNSW 2: 2" in text and "distanceHNSW 2: 2.250000" in text
    back = parse_search_output(text)
    np.testing.assert_array_equal(back.ids["True"], [[1, 4]])
    np.testing.assert_array_equal(back.distances["HNSW"], [[0.5, 2.25]])
    assert back.query_ids.tolist() == [5]


@pytest.mark.parametrize("text, message", [
    ("Nearest neighbor LSH: 3\n", "before the first 'Query:'"),
    ("Query: 0\nNearest neighbor LSH: x\ndistanceLSH: 1\n", "not a number"),
    ("Query: 0\nsomething else\n", "unrecognised line"),
    ("Query: 0\nNearest neighbor LSH: 1\n", "LSH distances missing"),
    ("Query: 0\nNearest neighbor LSH 2: 1\n", "expected rank 1"),
    ("tLSH: fast\n", "not a number"),
])
def test_bad_files_say_where(text, message):
    with pytest.raises(DataFormatError, match=message):
        parse_search_output(text)
