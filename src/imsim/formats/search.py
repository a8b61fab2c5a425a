"""The search program's output file, as the course assignment writes it, and its parser.

One block per query, then the summary (distances are in the ORIGINAL space,
times are average milliseconds per query, ids are 0-based row positions)::

    Query: 0
    Nearest neighbor Reduced: 53843
    Nearest neighbor LSH: 53843
    Nearest neighbor True: 53843
    distanceReduced: 11187
    distanceLSH: 11187
    distanceTrue: 11187
    Query: 1
    ...
    tReduced: 0.021
    tLSH: 0.613
    tTrue: 0.498
    Approximation Factor LSH: 1.002412
    Approximation Factor Reduced: 1.293021
    LSH queries not found: 0

A method that found nothing for a query writes ``NOT FOUND`` for the id and the
distance. With more than one neighbour (``-N``) the labels carry the rank:
``Nearest neighbor LSH 2: ...`` and ``distanceLSH 2: ...``. The method called
``True`` is the exact search, the reference of the approximation factors.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import write_text_atomic
from .._validation import DataFormatError, check_file

NOT_FOUND = "NOT FOUND"
TRUE = "True"

_QUERY = re.compile(r"^Query: (\d+)$")
_NEIGHBOR = re.compile(r"^Nearest neighbor ([A-Za-z]+)(?: (\d+))?: (.+)$")
_DISTANCE = re.compile(r"^distance([A-Za-z]+)(?: (\d+))?: (.+)$")
_TIME = re.compile(r"^t([A-Za-z]+): (.+)$")
_FACTOR = re.compile(r"^Approximation Factor ([A-Za-z]+): (.+)$")
_MISSING = re.compile(r"^([A-Za-z]+) queries not found: (\d+)$")


@dataclass
class SearchReport:
    """Everything the search output file holds.

    Attributes
    ----------
    methods : list of str
        Labels in file order, e.g. ``["Reduced", "LSH", "True"]``.
    query_ids : ndarray of shape (nq,), int64
    ids : dict label -> ndarray of shape (nq, N), int64, -1 where not found
    distances : dict label -> ndarray of shape (nq, N), float64, +inf where not found
    times_ms : dict label -> float, average milliseconds per query
    factors : dict label -> float, approximation factor (approximate methods only)
    not_found : dict label -> int, queries with no answer (written for LSH always,
        for other methods when non-zero)
    """

    methods: list[str]
    query_ids: np.ndarray
    ids: dict[str, np.ndarray]
    distances: dict[str, np.ndarray]
    times_ms: dict[str, float] = field(default_factory=dict)
    factors: dict[str, float] = field(default_factory=dict)
    not_found: dict[str, int] = field(default_factory=dict)

    @property
    def n_neighbors(self) -> int:
        return next(iter(self.ids.values())).shape[1] if self.ids else 0


def _number(value: float) -> str:
    """Integers without a decimal point (uint8 L1), other values with 6 decimals."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return f"{value:.6f}"


def format_search_output(report: SearchReport) -> str:
    """The file's text for ``report`` (see the module docstring)."""
    methods = report.methods
    n = report.n_neighbors
    suffix = (lambda j: "") if n == 1 else (lambda j: f" {j + 1}")
    lines = []
    for row, qid in enumerate(report.query_ids.tolist()):
        lines.append(f"Query: {qid}")
        for j in range(n):
            for m in methods:
                i = int(report.ids[m][row, j])
                lines.append(f"Nearest neighbor {m}{suffix(j)}: {i if i >= 0 else NOT_FOUND}")
        for j in range(n):
            for m in methods:
                found = report.ids[m][row, j] >= 0
                d = _number(report.distances[m][row, j]) if found else NOT_FOUND
                lines.append(f"distance{m}{suffix(j)}: {d}")
    for m in methods:
        if m in report.times_ms:
            lines.append(f"t{m}: {report.times_ms[m]:.6f}")
    # the assignment lists LSH before Reduced here
    order = sorted((m for m in methods if m in report.factors),
                   key=lambda m: (m == "Reduced", methods.index(m)))
    for m in order:
        lines.append(f"Approximation Factor {m}: {report.factors[m]:.6f}")
    for m in methods:
        if m in report.not_found:
            lines.append(f"{m} queries not found: {int(report.not_found[m])}")
    return "\n".join(lines) + "\n"


def write_search_output(path, report: SearchReport) -> Path:
    """Write ``report`` to ``path`` atomically; returns the path."""
    path = Path(path)
    write_text_atomic(path, format_search_output(report))
    return path


def parse_search_output(text: str, *, source: str = "search output") -> SearchReport:
    """Read the text of a search output file back into a :class:`SearchReport`."""
    query_ids: list[int] = []
    ids: dict[str, dict[int, list]] = {}
    dists: dict[str, dict[int, list]] = {}
    methods: list[str] = []
    report = SearchReport([], np.empty(0, np.int64), {}, {})

    def bad(lineno, line, why):
        return DataFormatError(f"{source}, line {lineno}: {why}: {line!r}")

    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if m := _QUERY.match(line):
            query_ids.append(int(m.group(1)))
            continue
        if m := _NEIGHBOR.match(line) or _DISTANCE.match(line):
            if not query_ids:
                raise bad(lineno, line, "result before the first 'Query:' line")
            label, rank, value = m.group(1), int(m.group(2) or 1), m.group(3)
            is_id = line.startswith("Nearest")
            if label not in methods:
                methods.append(label)
            table = (ids if is_id else dists).setdefault(label, {})
            slot = table.setdefault(len(query_ids) - 1, [])
            if rank != len(slot) + 1:
                raise bad(lineno, line, f"expected rank {len(slot) + 1}")
            try:
                if value == NOT_FOUND:
                    slot.append(-1 if is_id else math.inf)
                else:
                    slot.append(int(value) if is_id else float(value))
            except ValueError:
                raise bad(lineno, line, "not a number") from None
            continue
        try:
            if m := _TIME.match(line):
                report.times_ms[m.group(1)] = float(m.group(2))
            elif m := _FACTOR.match(line):
                report.factors[m.group(1)] = float(m.group(2))
            elif m := _MISSING.match(line):
                report.not_found[m.group(1)] = int(m.group(2))
            else:
                raise bad(lineno, line, "unrecognised line")
        except ValueError as exc:
            if isinstance(exc, DataFormatError):
                raise
            raise bad(lineno, line, "not a number") from None

    nq = len(query_ids)
    report.methods = methods
    report.query_ids = np.array(query_ids, dtype=np.int64)
    for label in methods:
        for name, table, dtype in (("ids", ids, np.int64), ("distances", dists, np.float64)):
            rows = [table.get(label, {}).get(q, []) for q in range(nq)]
            widths = {len(r) for r in rows}
            if len(widths) != 1 or 0 in widths:
                raise DataFormatError(f"{source}: {label} {name} missing or uneven across queries")
            getattr(report, name)[label] = np.array(rows, dtype=dtype)
    widths = {a.shape[1] for a in report.ids.values()} | {a.shape[1] for a in report.distances.values()}
    if len(widths) > 1:
        raise DataFormatError(f"{source}: methods list different numbers of neighbours")
    return report


def read_search_output(path) -> SearchReport:
    """Parse the search output file at ``path``."""
    p = check_file(path, "search output file")
    return parse_search_output(p.read_text(encoding="utf-8"), source=str(p))
