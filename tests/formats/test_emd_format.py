"""The EMD program's output file: exact first lines, round trip, bad files."""
import pytest

from imsim._validation import DataFormatError
from imsim.formats.emd import (EMDReport, format_emd_output, parse_emd_output, read_emd_output,
                               write_emd_output)

FULL = EMDReport(emd_correct=0.963, manhattan_correct=7 / 30, emd_seconds=12.3456,
                 manhattan_seconds=0.5, exact_per_query=61.25, window=4, ground="euclidean",
                 n_queries=100, n_data=60000, shortlist=None)


def test_first_lines_are_exactly_the_assignments():
    lines = format_emd_output(FULL).splitlines()
    assert lines[0] == "Average Correct Search Results EMD: 0.963"
    assert lines[1] == "Average Correct Search Results MANHATTAN: 0.23333333333333334"
    assert lines[2:5] == ["Time EMD: 12.346 s", "Time MANHATTAN: 0.500 s",
                          "Exact EMD per query: 61.2"]
    assert "Shortlist" not in format_emd_output(FULL)


def test_round_trip_through_a_file(tmp_path):
    path = write_emd_output(tmp_path / "out" / "emd.txt", FULL)
    back = read_emd_output(path)
    assert back.emd_correct == FULL.emd_correct
    assert back.manhattan_correct == FULL.manhattan_correct  # the float exactly
    assert back.emd_seconds == 12.346 and back.manhattan_seconds == 0.5
    assert (back.window, back.ground, back.n_queries, back.n_data, back.shortlist) == \
        (4, "euclidean", 100, 60000, None)
    assert [p.name for p in path.parent.iterdir()] == ["emd.txt"]  # no temporary left


def test_parses_the_two_line_original_and_ignores_unknown_lines():
    text = ("Average Correct Search Results EMD: 0.85\n"
            "Average Correct Search Results MANHATTAN: 0.8\n\nSomething else: 3\n")
    r = parse_emd_output(text)
    assert (r.emd_correct, r.manhattan_correct, r.emd_seconds, r.window) == (0.85, 0.8, None, None)


@pytest.mark.parametrize("text, message", [
    ("", "line 1: expected 'Average Correct Search Results EMD:'"),
    ("Average Correct Search Results EMD: 0.9\n", "line 2: .* found end of file"),
    ("Average Correct Search Results MANHATTAN: 0.9\nAverage Correct Search Results EMD: 0.9",
     "line 1"),
    ("Average Correct Search Results EMD: abc\nAverage Correct Search Results MANHATTAN: 0.9",
     "expected a number, found 'abc'"),
    ("Average Correct Search Results EMD: 9\nAverage Correct Search Results MANHATTAN: 0.9",
     "not in \\[0, 1\\]"),
    ("Average Correct Search Results EMD: 0.9\nAverage Correct Search Results MANHATTAN: 0.9\n"
     "Window: four", "line 3: expected a number"),
])
def test_bad_files_say_what_is_wrong(text, message):
    with pytest.raises(DataFormatError, match=message):
        parse_emd_output(text)


def test_writer_rejects_a_count_instead_of_a_fraction(tmp_path):
    with pytest.raises(ValueError, match="EMD correctness must be in \\[0, 1\\], got 7"):
        write_emd_output(tmp_path / "x.txt", EMDReport(emd_correct=7, manhattan_correct=0.5))
    assert not (tmp_path / "x.txt").exists()
    with pytest.raises(FileNotFoundError):
        read_emd_output(tmp_path / "missing.txt")
