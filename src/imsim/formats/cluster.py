"""The clustering program's text formats: cluster.conf, the output file, label lists.

``cluster.conf``::

    # k-medians
    number_of_clusters: 10              # required
    number_of_vector_hash_tables: 3     # accepted (the original LSH assignment step)
    number_of_vector_hash_functions: 4  # accepted

``#`` and ``//`` start comments; unknown keys are ignored with one warning naming
them.

The output file has one section per clustering; every silhouette and objective in
it is measured in the ORIGINAL space with L1, so the sections compare::

    NEW SPACE
    CLUSTER-1 {size: 5923, centroid: [0, 0, 12, ...]}
    ...
    clustering_time: 0.84
    Silhouette: [s1, ..., sK, stotal]
    Value of Objective Function: 151262870

    ORIGINAL SPACE
    ...

    CLASSES AS CLUSTERS
    Silhouette: [s1, ..., sK, stotal]
    Value of Objective Function: 149113507

Centroids are in the original space (pixel medians for a latent-space
clustering); ``stotal`` is the mean silhouette over all images; NaN marks an empty
cluster. The label list (``--labels``) has one ``<IMAGE_INDEX> <LABEL_FOUND>
<CORRECT_LABEL>`` line per image.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import read_text_file, write_text_atomic
from .._validation import DataFormatError

__all__ = [
    "ClusterConfig", "parse_cluster_conf", "read_cluster_conf",
    "ClusterSection", "SECTION_NAMES", "format_cluster_output", "write_cluster_output",
    "parse_cluster_output", "read_cluster_output",
    "format_label_assignments", "write_label_assignments", "read_label_assignments",
]

SECTION_NAMES = ("NEW SPACE", "ORIGINAL SPACE", "CLASSES AS CLUSTERS")


def _read_text(path, what: str) -> tuple[str, str]:
    return read_text_file(path, what), str(path)


# ------------------------------------------------------------------ cluster.conf

@dataclass(frozen=True)
class ClusterConfig:
    """The settings of ``cluster.conf``.

    Attributes
    ----------
    number_of_clusters : int
        k for k-medians.
    number_of_vector_hash_tables, number_of_vector_hash_functions : int or None
        LSH settings of the original programs' range-search assignment; read and
        kept, not used (the assignment step here is exact).
    """

    number_of_clusters: int
    number_of_vector_hash_tables: int | None = None
    number_of_vector_hash_functions: int | None = None


_CONF_KEYS = ("number_of_clusters", "number_of_vector_hash_tables",
              "number_of_vector_hash_functions")


def parse_cluster_conf(text: str, *, source: str = "<text>") -> ClusterConfig:
    """Read ``cluster.conf`` text (see :func:`read_cluster_conf`)."""
    values: dict[str, int] = {}
    lines: dict[str, int] = {}
    unknown = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"#|//", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key:
            raise DataFormatError(f"{source}:{lineno}: expected 'key: value', found {line!r}")
        if key not in _CONF_KEYS:
            unknown.append(f"{key} (line {lineno})")
            continue
        if key in lines:
            raise DataFormatError(f"{source}:{lineno}: {key} given again (first on line "
                                  f"{lines[key]})")
        if not re.fullmatch(r"\+?\d{1,18}", value) or int(value) < 1:
            raise DataFormatError(f"{source}:{lineno}: {key} must be a positive integer, "
                                  f"found {value!r}")
        values[key], lines[key] = int(value), lineno
    if unknown:
        warnings.warn(f"{source}: unknown keys ignored: {', '.join(unknown)}", UserWarning,
                      stacklevel=3)
    if "number_of_clusters" not in values:
        raise DataFormatError(f"{source}: number_of_clusters is missing (required)")
    return ClusterConfig(**values)


def read_cluster_conf(path) -> ClusterConfig:
    """Read a ``cluster.conf`` file.

    Raises
    ------
    DataFormatError
        With the line number: a line that is not ``key: value``, a value that is
        not a positive integer, a key given twice; or ``number_of_clusters``
        missing. Unknown keys only warn (UserWarning naming them).
    """
    text, source = _read_text(path, "cluster configuration")
    return parse_cluster_conf(text, source=source)


# ------------------------------------------------------------------ output file

@dataclass(frozen=True)
class ClusterSection:
    """One clustering in the output file.

    Attributes
    ----------
    name : str
        "NEW SPACE", "ORIGINAL SPACE" or "CLASSES AS CLUSTERS".
    silhouette : ndarray of shape (K,), float64
        Mean silhouette per cluster (NaN for an empty one).
    silhouette_total : float
        Mean silhouette over all images.
    objective : float
        Sum of L1 distances to the cluster medians, in pixel units.
    sizes : ndarray of shape (K,), int64, or None
        Cluster sizes (None: the section lists no clusters).
    centroids : ndarray of shape (K, d) or None
        Cluster medians in the original space.
    clustering_time : float or None
        Seconds the clustering took.
    """

    name: str
    silhouette: np.ndarray
    silhouette_total: float
    objective: float
    sizes: np.ndarray | None = None
    centroids: np.ndarray | None = None
    clustering_time: float | None = None


def _num(v) -> str:
    """Integers as integers, other floats in their shortest exact form."""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if math.isfinite(v) and v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    return repr(v)


def format_cluster_output(sections) -> str:
    """The output file's text for a sequence of :class:`ClusterSection`."""
    blocks = []
    for sec in sections:
        lines = [sec.name]
        if sec.sizes is not None:
            centroids = sec.centroids
            if centroids is None or len(centroids) != len(sec.sizes):
                raise ValueError(f"{sec.name}: {len(sec.sizes)} cluster sizes need as many "
                                 "centroids")
            for i, (size, c) in enumerate(zip(sec.sizes, centroids), start=1):
                coords = ", ".join(_num(v) for v in np.asarray(c).tolist())
                lines.append(f"CLUSTER-{i} {{size: {int(size)}, centroid: [{coords}]}}")
        if sec.clustering_time is not None:
            lines.append(f"clustering_time: {_num(float(sec.clustering_time))}")
        values = [*np.asarray(sec.silhouette, dtype=np.float64).tolist(), sec.silhouette_total]
        lines.append(f"Silhouette: [{', '.join(_num(float(v)) for v in values)}]")
        lines.append(f"Value of Objective Function: {_num(sec.objective)}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def write_cluster_output(path, sections) -> Path:
    """Write the output file atomically; returns its path."""
    path = Path(path)
    write_text_atomic(path, format_cluster_output(sections))
    return path


_CLUSTER = re.compile(r"^CLUSTER-(\d+)\s*\{\s*size\s*:\s*(\d+)\s*,\s*centroid\s*:\s*(.*)\}$",
                      re.IGNORECASE)


def _numbers(text: str, source: str, lineno: int, what: str) -> list[float]:
    items = [t for t in re.split(r"[\s,]+", text.strip().strip("[]()").strip()) if t]
    try:
        return [float(t) for t in items]
    except ValueError:
        bad = next(t for t in items if not _is_float(t))
        raise DataFormatError(f"{source}:{lineno}: {what} must be numbers, found {bad!r}") \
            from None


def _is_float(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


def parse_cluster_output(text: str, *, source: str = "<text>") -> list[ClusterSection]:
    """Read the output file's text back (see :func:`read_cluster_output`)."""
    sections = []
    cur = None

    def close(lineno):
        if cur is None:
            return
        if "silhouette" not in cur or "objective" not in cur:
            missing = "Silhouette" if "silhouette" not in cur else "Value of Objective Function"
            raise DataFormatError(f"{source}:{lineno}: section {cur['name']} has no "
                                  f"'{missing}' line")
        sil = cur["silhouette"]
        sizes = np.array(cur["sizes"], dtype=np.int64) if cur["sizes"] else None
        centroids = None
        if cur["centroids"]:
            centroids = np.array(cur["centroids"])
            if np.all(centroids == np.round(centroids)) and centroids.min() >= 0 \
                    and centroids.max() <= 255:
                centroids = centroids.astype(np.uint8)
        if sizes is not None and len(sil) - 1 != len(sizes):
            raise DataFormatError(f"{source}: section {cur['name']} lists {len(sizes)} "
                                  f"clusters but {len(sil) - 1} silhouettes (+ total)")
        sections.append(ClusterSection(
            name=cur["name"], silhouette=np.array(sil[:-1], dtype=np.float64),
            silhouette_total=sil[-1], objective=cur["objective"], sizes=sizes,
            centroids=centroids, clustering_time=cur.get("time")))

    lines = text.splitlines()
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.upper() in SECTION_NAMES:
            close(lineno)
            cur = {"name": line.upper(), "sizes": [], "centroids": []}
            continue
        if cur is None:
            raise DataFormatError(f"{source}:{lineno}: expected a section name "
                                  f"({', '.join(SECTION_NAMES)}), found {line[:60]!r}")
        key, _, value = line.partition(":")
        key_l = key.strip().lower()
        m = _CLUSTER.match(line)
        if m:
            if int(m.group(1)) != len(cur["sizes"]) + 1:
                raise DataFormatError(f"{source}:{lineno}: expected CLUSTER-"
                                      f"{len(cur['sizes']) + 1}, found CLUSTER-{m.group(1)}")
            coords = _numbers(m.group(3), source, lineno, "centroid values")
            if cur["centroids"] and len(coords) != len(cur["centroids"][0]):
                raise DataFormatError(f"{source}:{lineno}: centroid has {len(coords)} values, "
                                      f"the first had {len(cur['centroids'][0])}")
            cur["sizes"].append(int(m.group(2)))
            cur["centroids"].append(coords)
        elif key_l.startswith("cluster-"):
            raise DataFormatError(f"{source}:{lineno}: expected 'CLUSTER-<i> {{size: <n>, "
                                  f"centroid: [v, v, ...]}}', found {line[:60]!r}")
        elif key_l == "clustering_time":
            times = _numbers(value, source, lineno, "clustering_time")
            if len(times) != 1:
                raise DataFormatError(f"{source}:{lineno}: clustering_time needs one number")
            cur["time"] = times[0]
        elif key_l == "silhouette":
            sil = _numbers(value, source, lineno, "silhouette values")
            if len(sil) < 2:
                raise DataFormatError(f"{source}:{lineno}: Silhouette needs per-cluster values "
                                      "and the total")
            cur["silhouette"] = sil
        elif key_l == "value of objective function":
            obj = _numbers(value, source, lineno, "the objective")
            if len(obj) != 1:
                raise DataFormatError(f"{source}:{lineno}: the objective needs one number")
            cur["objective"] = obj[0]
        else:
            raise DataFormatError(f"{source}:{lineno}: unexpected line in section "
                                  f"{cur['name']}: {line[:60]!r}")
    close(len(lines))
    if not sections:
        raise DataFormatError(f"{source}: no sections ({', '.join(SECTION_NAMES)}) found")
    return sections


def read_cluster_output(path) -> list[ClusterSection]:
    """Read an output file written by :func:`write_cluster_output`.

    Returns
    -------
    list of ClusterSection, in file order. Centroids whose values are all integers
    in 0..255 come back as uint8.
    """
    text, source = _read_text(path, "cluster output")
    return parse_cluster_output(text, source=source)


# ------------------------------------------------------------------ label lists

def format_label_assignments(found, correct) -> str:
    """``<IMAGE_INDEX> <LABEL_FOUND> <CORRECT_LABEL>`` per image, 0-based indices."""
    found, correct = np.asarray(found), np.asarray(correct)
    if found.shape != correct.shape or found.ndim != 1:
        raise ValueError(f"found and correct labels must have the same shape (N,), got "
                         f"{found.shape} and {correct.shape}")
    return "".join(f"{i} {f} {c}\n" for i, (f, c) in
                   enumerate(zip(found.tolist(), correct.tolist())))


def write_label_assignments(path, found, correct) -> Path:
    """Write the label list atomically; returns its path."""
    path = Path(path)
    write_text_atomic(path, format_label_assignments(found, correct))
    return path


def read_label_assignments(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a label list: (found, correct), each ndarray of shape (N,), int64.

    Lines must be ``i found correct`` with ``i`` = 0, 1, 2, ... in order.
    """
    text, source = _read_text(path, "label list")
    rows = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split()
        if len(parts) != 3 or not all(re.fullmatch(r"-?\d+", p) for p in parts):
            raise DataFormatError(f"{source}:{lineno}: expected '<IMAGE_INDEX> <LABEL_FOUND> "
                                  f"<CORRECT_LABEL>' integers, found {raw.strip()[:60]!r}")
        if int(parts[0]) != len(rows):
            raise DataFormatError(f"{source}:{lineno}: expected image index {len(rows)}, "
                                  f"found {parts[0]}")
        rows.append((int(parts[1]), int(parts[2])))
    arr = np.array(rows, dtype=np.int64).reshape(-1, 2)
    return arr[:, 0].copy(), arr[:, 1].copy()
