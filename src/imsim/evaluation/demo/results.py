"""The demo's results: one typed object per experiment, saved as one JSON file each.

Each result type has ``to_dict()`` (JSON-ready: numpy values become Python ones,
NaN and infinities ``null``, uint8 image arrays base64 via :func:`pack_images`) and
``from_dict()`` (the reverse: images come back as arrays, EMD runs as
:class:`~imsim.evaluation.emd.EMDCorrectness`, silhouettes as
:class:`~imsim.cluster.SilhouetteResult`). The JSON files are the contract between
:func:`imsim.evaluation.demo.run_demo` and the report
(:func:`imsim.report.html.build_report`): the report reads them through this module
only, so a results folder written by an older imsim still gives a report.
"""
from __future__ import annotations

import base64
import json
import math
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..._io import write_text_atomic
from ..._validation import DataFormatError
from ...cluster import SilhouetteResult
from ..emd import EMDCorrectness

__all__ = [
    "RESULTS", "EXPERIMENTS", "RunInfo", "AutoencoderResult", "SearchResult", "EMDResult",
    "ClusteringResult", "ClusteringEntry", "LabelCounts", "ClassifierResult", "DemoResults",
    "RESULT_TYPES", "pack_images", "unpack_images", "plain", "write_result", "load_results",
    "read_results", "data_label",
]

RESULTS = "results"
#: result files in the order the report shows them (run.json comes first)
EXPERIMENTS = ("autoencoder", "search", "emd", "clustering", "classifier")


# ------------------------------------------------------------------ JSON helpers

def pack_images(images) -> dict:
    """uint8 images (any shape) -> a JSON-ready dict: dtype, shape, base64 bytes."""
    a = np.ascontiguousarray(images, dtype=np.uint8)
    return {"dtype": "uint8", "shape": list(a.shape),
            "base64": base64.b64encode(a.tobytes()).decode("ascii")}


def unpack_images(packed: dict) -> np.ndarray:
    """The array that :func:`pack_images` packed (uint8, its shape)."""
    if packed.get("dtype") != "uint8":
        raise ValueError(f"expected packed uint8 images, got dtype {packed.get('dtype')!r}")
    raw = base64.b64decode(packed["base64"])
    return np.frombuffer(raw, dtype=np.uint8).reshape(packed["shape"]).copy()


def _is_packed(obj) -> bool:
    return isinstance(obj, dict) and set(obj) == {"dtype", "shape", "base64"}


def plain(obj):
    """JSON-ready copy: numpy scalars and arrays become Python ones (uint8 image arrays of
    2 or more dimensions are packed as base64); NaN and inf become None."""
    if hasattr(obj, "to_dict"):
        return plain(obj.to_dict())
    if isinstance(obj, EMDCorrectness):
        return plain(obj.as_dict())
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype == np.uint8 and obj.ndim >= 2:
            return pack_images(obj)
        return plain(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _unpacked(obj):
    """``obj`` read from JSON with every packed image array unpacked."""
    if _is_packed(obj):
        return unpack_images(obj)
    if isinstance(obj, dict):
        return {k: _unpacked(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpacked(v) for v in obj]
    return obj


def data_label(data: dict) -> str:
    """A data description from ``run.json`` as "mnist (data dir ../datasets/mnist)"."""
    where = data.get("source") or ""
    if data.get("location"):
        where += f" {data['location']}"
    return f"{data['dataset']} ({where.strip()})" if where.strip() else str(data["dataset"])


# ------------------------------------------------------------------ result types

#: optional keys that files written before them lack: left out when None, so an older
#: file read and written again is unchanged
_OMITTED_WHEN_NONE = ("seconds", "data", "reason", "cpu_seconds", "clipped_train_share")


@dataclass(kw_only=True)
class _Result:
    """Fields common to every file; keys this version does not know stay in ``extra``."""

    experiment: ClassVar[str]
    seconds: float | None = None  # wall time of the step
    data: dict | None = None  # {"dataset", "source"} of the run
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"experiment": self.experiment}
        for f in fields(self):
            if f.name != "extra" and not (f.name in _OMITTED_WHEN_NONE
                                          and getattr(self, f.name) is None):
                out[f.name] = getattr(self, f.name)
        out.update(self.extra)
        return plain(out)

    @classmethod
    def from_dict(cls, d: dict):
        if not isinstance(d, dict):
            raise DataFormatError(f"{cls.experiment}.json: expected a JSON object, found "
                                  f"{type(d).__name__}")
        names = {f.name for f in fields(cls)} - {"extra"}
        required = {f.name for f in fields(cls)
                    if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - set(d))
        if missing:
            raise DataFormatError(f"{cls.experiment}.json: not a result of imsim demo "
                                  f"(missing {', '.join(missing)})")
        kwargs = {k: cls._field_from_json(k, v) for k, v in d.items() if k in names}
        extra = {k: v for k, v in d.items() if k not in names and k != "experiment"}
        return cls(**kwargs, extra=extra)

    @classmethod
    def _field_from_json(cls, name: str, value):
        return _unpacked(value)


@dataclass(kw_only=True)
class RunInfo(_Result):
    """``run.json``: command, start, time per step, configuration, data and machine."""

    experiment: ClassVar[str] = "run"
    command: str | None = None
    started: str
    wall_seconds: float
    cpu_seconds: float | None = None  # CPU time of the process (None: not recorded)
    steps: list  # [{"step", "seconds"}]
    config: dict  # DemoConfig.to_dict()
    machine: dict  # machine_info()
    out_dir: str

    def step_seconds(self) -> dict:
        """{step: wall seconds}."""
        return {s["step"]: s["seconds"] for s in self.steps}


@dataclass(kw_only=True)
class AutoencoderResult(_Result):
    """``autoencoder.json``: training, the latent files and their scale, pictures, the map.

    ``reconstructions`` holds uint8 arrays ``originals`` and ``reconstructions``;
    ``map`` holds the latents of a sample and ``thumbnail_images`` (uint8).
    ``clipped_train_share`` is None in files written before it was recorded.
    """

    experiment: ClassVar[str] = "autoencoder"
    params: dict
    cached: bool
    model_dir: str
    history: dict | None
    train_seconds: float | None
    best_val_mse: float | None
    encode: dict
    latent_files: dict
    latent_scale: dict
    clipped_test_share: float
    clipped_train_share: float | None = None
    reconstructions: dict
    map: dict


@dataclass(kw_only=True)
class SearchResult(_Result):
    """``search.json``: the sweep's records and a few queries' answers by each method.

    ``examples["queries"]`` and each ``examples["methods"][i]["images"]`` are uint8
    arrays.
    """

    experiment: ClassVar[str] = "search"
    params: dict
    records: list
    examples: dict


@dataclass(kw_only=True)
class EMDResult(_Result):
    """``emd.json``: EMD against Manhattan, one :class:`EMDCorrectness` per window."""

    experiment: ClassVar[str] = "emd"
    params: dict
    results: list

    @classmethod
    def _field_from_json(cls, name, value):
        if name == "results":
            return [EMDCorrectness(**r) for r in value]
        return super()._field_from_json(name, value)


@dataclass
class LabelCounts:
    """A clustering scored against the true labels (what the report shows of it)."""

    purity: float
    ari: float
    nmi: float
    label_values: np.ndarray  # (L,) int64, the true labels present
    correct: np.ndarray  # (L,) int64, images per true label whose cluster's label is right
    incorrect: np.ndarray  # (L,) int64

    @classmethod
    def of(cls, scores) -> "LabelCounts":
        """From a :class:`imsim.evaluation.clustering.LabelScores` (or this type's dict)."""
        get = scores.get if isinstance(scores, dict) else lambda k: getattr(scores, k)
        return cls(purity=get("purity"), ari=get("ari"), nmi=get("nmi"),
                   label_values=np.asarray(get("label_values"), dtype=np.int64),
                   correct=np.asarray(get("correct"), dtype=np.int64),
                   incorrect=np.asarray(get("incorrect"), dtype=np.int64))

    @classmethod
    def from_dict(cls, d: dict) -> "LabelCounts":
        return cls.of(d)

    def to_dict(self) -> dict:
        return {"purity": self.purity, "ari": self.ari, "nmi": self.nmi,
                "label_values": self.label_values, "correct": self.correct,
                "incorrect": self.incorrect}


@dataclass
class ClusteringEntry:
    """One labelling of the clustering comparison (a k-medians run or the classes)."""

    name: str
    k: int
    sizes: list
    clustering_time: float | None
    n_iter: int | None
    objective: float
    silhouette: SilhouetteResult  # samples rounded to 4 decimals in the file
    labels: np.ndarray  # (N,) int64
    scores: LabelCounts

    def to_dict(self) -> dict:
        s = self.silhouette
        return {"name": self.name, "k": self.k, "sizes": self.sizes,
                "clustering_time": self.clustering_time, "n_iter": self.n_iter,
                "objective": self.objective,
                "silhouette": {"total": s.total, "per_cluster": s.per_cluster,
                               "samples": s.samples},
                "labels": self.labels, "scores": self.scores.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "ClusteringEntry":
        s = d["silhouette"]
        per_cluster = [np.nan if v is None else v for v in s["per_cluster"]]
        return cls(name=d["name"], k=d["k"], sizes=d["sizes"],
                   clustering_time=d["clustering_time"], n_iter=d["n_iter"],
                   objective=d["objective"],
                   silhouette=SilhouetteResult(
                       samples=np.asarray(s["samples"], dtype=np.float64),
                       per_cluster=np.asarray(per_cluster, dtype=np.float64), total=s["total"]),
                   labels=np.asarray(d["labels"], dtype=np.int64),
                   scores=LabelCounts.from_dict(d["scores"]))


@dataclass(kw_only=True)
class ClusteringResult(_Result):
    """``clustering.json``: k-medians in both spaces and the classes, measured in pixels."""

    experiment: ClassVar[str] = "clustering"
    params: dict
    silhouette_time: float | None
    results: list  # [ClusteringEntry]

    @classmethod
    def _field_from_json(cls, name, value):
        if name == "results":
            return [ClusteringEntry.from_dict(r) for r in value]
        return super()._field_from_json(name, value)


@dataclass(kw_only=True)
class ClassifierResult(_Result):
    """``classifier.json``: accuracy, per-class scores, confusion, examples (uint8 arrays).

    ``status`` is "ok", or another word with ``reason`` when the step did not run.
    """

    experiment: ClassVar[str] = "classifier"
    status: str = "ok"
    reason: str | None = None
    params: dict = field(default_factory=dict)
    cached: bool = False
    history: dict | None = None
    train_seconds: float | None = None
    predict_seconds: float | None = None
    accuracy: float | None = None
    n_correct: int | None = None
    n_incorrect: int | None = None
    confusion: list = field(default_factory=list)
    per_class: list = field(default_factory=list)
    examples: dict = field(default_factory=dict)


#: the type of each result file, by name
RESULT_TYPES = {t.experiment: t for t in (RunInfo, AutoencoderResult, SearchResult, EMDResult,
                                          ClusteringResult, ClassifierResult)}


@dataclass
class DemoResults:
    """Every result of one demo run; experiments that were not found are None."""

    run: RunInfo
    autoencoder: AutoencoderResult | None = None
    search: SearchResult | None = None
    emd: EMDResult | None = None
    clustering: ClusteringResult | None = None
    classifier: ClassifierResult | None = None

    @classmethod
    def from_dicts(cls, contents: dict) -> "DemoResults":
        """From {name: JSON content}, as :func:`load_results` returns it."""
        return cls(**{name: RESULT_TYPES[name].from_dict(d) for name, d in contents.items()
                      if name in RESULT_TYPES})

    def to_dicts(self) -> dict:
        """{name: JSON content} of the results present, "run" first."""
        return {name: getattr(self, name).to_dict() for name in ("run", *EXPERIMENTS)
                if getattr(self, name) is not None}


# ------------------------------------------------------------------ files

def write_result(results_dir, name: str, content) -> Path:
    """Write one experiment's results as ``<results_dir>/<name>.json`` (atomically).

    ``content`` is a result object or a dict; numpy values become plain JSON and NaN
    and infinities ``null``.
    """
    path = Path(results_dir) / f"{name}.json"
    write_text_atomic(path, json.dumps(plain(content), indent=1) + "\n")
    return path


def _results_dir(results_dir) -> Path:
    results_dir = Path(results_dir)
    if (results_dir / RESULTS / "run.json").is_file():
        results_dir = results_dir / RESULTS
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder not found: {results_dir}")
    if not (results_dir / "run.json").is_file():
        raise FileNotFoundError(f"{results_dir} holds no run.json: not the results of "
                                f"`imsim demo` (expected {results_dir}/run.json or "
                                f"{results_dir}/{RESULTS}/run.json)")
    return results_dir


def load_results(results_dir) -> dict:
    """Every result file of a demo run as plain JSON: {name: content}; "run" must be there.

    Parameters
    ----------
    results_dir : path-like
        The ``results`` folder, or the demo's output folder that holds it.

    Returns
    -------
    dict
        "run" plus the experiments of :data:`EXPERIMENTS` that were found.
    """
    results_dir = _results_dir(results_dir)
    out = {}
    for name in ("run", *EXPERIMENTS):
        path = results_dir / f"{name}.json"
        if path.is_file():
            try:
                out[name] = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not valid JSON ({exc})") from None
    return out


def read_results(results_dir) -> DemoResults:
    """Every result file of a demo run as typed results (see :func:`load_results`)."""
    contents = load_results(results_dir)
    try:
        return DemoResults.from_dicts(contents)
    except DataFormatError as exc:
        raise DataFormatError(f"{_results_dir(results_dir)}/{exc}") from None
