"""The EMD program's output file, as the course assignment writes it, and its parser.

Two lines as the assignment prints them, then extra lines with the times and the
run's settings (times in seconds for the whole query set)::

    Average Correct Search Results EMD: 0.963
    Average Correct Search Results MANHATTAN: 0.951
    Time EMD: 2.341 s
    Time MANHATTAN: 0.412 s
    Exact EMD per query: 61.4
    Window: 4
    Ground: euclidean
    Queries: 100
    Data: 60000

Correctness is the mean over queries of (neighbours with the query's label) / k,
written as the shortest decimal that reads back to the same float.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from .._io import write_text_atomic
from .._validation import DataFormatError, check_file

__all__ = ["EMDReport", "format_emd_output", "write_emd_output", "parse_emd_output",
           "read_emd_output"]

EMD_LINE = "Average Correct Search Results EMD: "
MANHATTAN_LINE = "Average Correct Search Results MANHATTAN: "
_TIME = re.compile(r"^Time (EMD|MANHATTAN): (\S+) s$")
_EXTRA = re.compile(r"^([A-Za-z][A-Za-z ]*): (.+)$")
_EXTRAS = {"Exact EMD per query": ("exact_per_query", float), "Window": ("window", int),
           "Ground": ("ground", str), "Queries": ("n_queries", int), "Data": ("n_data", int),
           "Shortlist": ("shortlist", int)}


@dataclass
class EMDReport:
    """Everything the EMD output file holds.

    Attributes
    ----------
    emd_correct, manhattan_correct : float
        Average correct search results, in [0, 1].
    emd_seconds, manhattan_seconds : float or None
        Wall time of each search over all queries, seconds.
    exact_per_query : float or None
        Mean exact EMDs solved per query.
    window, n_queries, n_data, shortlist : int or None
    ground : str or None
    """

    emd_correct: float
    manhattan_correct: float
    emd_seconds: float | None = None
    manhattan_seconds: float | None = None
    exact_per_query: float | None = None
    window: int | None = None
    ground: str | None = None
    n_queries: int | None = None
    n_data: int | None = None
    shortlist: int | None = None


def _fraction(value: float, name: str) -> str:
    value = float(value)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} correctness must be in [0, 1], got {value!r}")
    return repr(value)


def format_emd_output(report: EMDReport) -> str:
    """The file's text for ``report`` (see the module docstring)."""
    lines = [EMD_LINE + _fraction(report.emd_correct, "EMD"),
             MANHATTAN_LINE + _fraction(report.manhattan_correct, "Manhattan")]
    for label, seconds in (("EMD", report.emd_seconds), ("MANHATTAN", report.manhattan_seconds)):
        if seconds is not None:
            lines.append(f"Time {label}: {seconds:.3f} s")
    for label, (attr, kind) in _EXTRAS.items():
        value = getattr(report, attr)
        if value is not None:
            lines.append(f"{label}: {value:.1f}" if kind is float else f"{label}: {value}")
    return "\n".join(lines) + "\n"


def write_emd_output(path, report: EMDReport) -> Path:
    """Write ``report`` to ``path`` atomically; returns the path."""
    path = Path(path)
    write_text_atomic(path, format_emd_output(report))
    return path


def _parse_number(text: str, kind, where: str):
    try:
        value = kind(text)
    except ValueError:
        raise DataFormatError(f"{where}: expected a number, found {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise DataFormatError(f"{where}: expected a finite number, found {text!r}")
    return value


def parse_emd_output(text: str, source: str = "EMD output") -> EMDReport:
    """Read the text of an EMD output file back into an :class:`EMDReport`.

    The two correctness lines must come first, as written; extra lines may be
    missing, and unknown extra lines are ignored.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    values = []
    for n, prefix in enumerate((EMD_LINE, MANHATTAN_LINE)):
        if len(lines) <= n or not lines[n].startswith(prefix):
            found = repr(lines[n]) if len(lines) > n else "end of file"
            raise DataFormatError(f"{source}: line {n + 1}: expected {prefix.strip()!r} "
                                  f"and a number, found {found}")
        value = _parse_number(lines[n][len(prefix):].strip(), float, f"{source}: line {n + 1}")
        if not 0.0 <= value <= 1.0:
            raise DataFormatError(f"{source}: line {n + 1}: correctness {value} is not in [0, 1]")
        values.append(value)
    report = EMDReport(emd_correct=values[0], manhattan_correct=values[1])
    for n, line in enumerate(lines[2:], start=3):
        time_match = _TIME.match(line)
        if time_match:
            attr = "emd_seconds" if time_match.group(1) == "EMD" else "manhattan_seconds"
            setattr(report, attr, _parse_number(time_match.group(2), float, f"{source}: line {n}"))
            continue
        extra = _EXTRA.match(line)
        if extra and extra.group(1) in _EXTRAS:
            attr, kind = _EXTRAS[extra.group(1)]
            setattr(report, attr, _parse_number(extra.group(2).strip(), kind, f"{source}: line {n}"))
    return report


def read_emd_output(path) -> EMDReport:
    """Read an EMD output file written by :func:`write_emd_output` (or the original programs)."""
    p = check_file(path, "EMD output file")
    return parse_emd_output(p.read_text(encoding="utf-8"), str(p))
