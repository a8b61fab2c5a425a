"""The latent map's points: a fast layout first, the refined one when it is ready.

t-SNE of 5,000 images takes 10 to 20 s on two cores; PCA takes milliseconds. For
``method="auto"`` a collection of more than :data:`QUICK_MAX` images is answered at
once with its PCA layout (``"refining": true``) while the refined layout (UMAP when
installed, else t-SNE) is computed in a background thread; the page asks again with
``refined=1`` and swaps the layout in when it comes. Layouts are kept per version and
projection; the colours are made per answer from the groups the request sees, so new
groups (``imsim groups``) colour the map without computing its layout again.
"""
from __future__ import annotations

import json
import logging
import threading

import numpy as np

log = logging.getLogger("imsim.web")
MAP_TSNE_MAX = 5_000  # "auto" maps up to this many images with t-SNE (seconds), more with PCA
QUICK_MAX = 500  # "auto" projects up to this many images with t-SNE before answering (< 1 s)


def refined_method(n: int) -> str:
    """What "auto" refines to for ``n`` images: "umap" when installed, else "tsne" up to
    :data:`MAP_TSNE_MAX` images, else "pca" (nothing to refine)."""
    try:
        import umap  # noqa: F401
        return "umap"
    except ImportError:
        return "tsne" if n <= MAP_TSNE_MAX else "pca"


def layout(latents: np.ndarray, method: str) -> tuple[np.ndarray, str]:
    """Positions (n, 2) as integers 0..65535 along the longer axis (one scale for both
    axes, so distances keep their proportions) and the projection used."""
    from ..report.map_plots import project_2d

    n = len(latents)
    if n >= 2 and method == "pca":
        coords, used = pca_2d(latents), "pca"
    elif n >= 2:
        coords, used = project_2d(np.asarray(latents), method=method, seed=0)
    else:
        coords, used = np.zeros((n, 2), dtype=np.float32), "none"
    coords = coords.astype(np.float64)
    lo = coords.min(axis=0) if n else np.zeros(2)
    span = float((coords.max(axis=0) - lo).max()) if n else 0.0
    return np.rint((coords - lo) / (span or 1.0) * 65535).astype(np.int64), used


def pca_2d(latents) -> np.ndarray:
    """The first two principal components of ``latents`` (n, d), each signed so that its
    largest loading is positive: the projection ``project_2d(method="pca")`` makes, in
    NumPy alone (importing scikit-learn took 1.2 s, most of a cold server's first map)."""
    X = np.asarray(latents, dtype=np.float64)
    X = X - X.mean(axis=0)
    _, vectors = np.linalg.eigh(X.T @ X)  # d x d: milliseconds for 50,000 x 64
    V = vectors[:, ::-1][:, :2]
    V = V * np.where(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])] < 0, -1.0, 1.0)
    coords = X @ V
    if coords.shape[1] == 1:
        coords = np.column_stack([coords[:, 0], np.zeros(len(coords))])
    return coords


def colouring(records, groups) -> dict:
    """Each image's colour index (-1 for none), what the colours are and their legend:
    the groups when computed for this version, else the sub-folder labels, else none."""
    n = len(records)
    color = np.full(n, -1, dtype=np.int64)
    legend, color_by = [], "none"
    if groups is not None:
        color_by = "group"
        for c, g in enumerate(sorted(groups.groups, key=lambda g: g.index)):
            color[np.asarray(g.members, dtype=np.int64)] = c
            legend.append({"name": f"group {g.index}", "size": g.size})
    elif any(r.label is not None for r in records):
        color_by = "label"
        names = sorted({r.label for r in records if r.label is not None})
        index = {name: c for c, name in enumerate(names)}
        color[:] = [index.get(r.label, -1) for r in records]
        counts = np.bincount(color[color >= 0], minlength=len(names))
        legend = [{"name": name, "size": int(k)} for name, k in zip(names, counts)]
    return {"color": color.tolist(), "color_by": color_by, "legend": legend}


class MapPoints:
    """The map's answers for one version: layouts computed once each, refined in the
    background, coloured per answer."""

    def __init__(self, coll, records):
        self.coll = coll
        self.records = records
        self._lock = threading.Lock()
        self._layouts: dict[str, tuple[np.ndarray, str]] = {}
        self._busy: dict[str, threading.Event] = {}  # a layout being computed -> set when done
        self._failed: dict[str, str] = {}  # a background layout that failed -> why
        self._answers: dict = {}  # (layout, groups id) -> JSON bytes (the latest few)

    def _layout(self, method: str) -> tuple[np.ndarray, str]:
        """The layout of ``method``, computed here once (others asking wait for it)."""
        while True:
            with self._lock:
                if method in self._layouts:
                    return self._layouts[method]
                done = self._busy.get(method)
                if done is None:
                    done = self._busy[method] = threading.Event()
                    break
            done.wait()
            with self._lock:
                if method not in self._layouts and method in self._failed:
                    raise ValueError(self._failed[method])
        try:
            result = layout(np.asarray(self.coll.latents), method)
        except Exception as exc:
            with self._lock:
                self._failed[method] = str(exc)
            raise
        finally:
            with self._lock:
                self._busy.pop(method).set()
        with self._lock:
            self._layouts[method] = result
        return result

    def _ready(self, method: str) -> bool:
        with self._lock:
            return method in self._layouts

    def _refine(self, method: str) -> None:
        """Compute the layout of ``method`` in the background, unless done or under way."""
        with self._lock:
            if method in self._layouts or method in self._failed or method in self._busy:
                return
        thread = threading.Thread(target=self._background, args=(method,), daemon=True,
                                  name=f"imsim-map-{method}")
        thread.start()

    def _background(self, method: str) -> None:
        try:
            self._layout(method)
        except Exception as exc:  # noqa: BLE001 - the page keeps the fast layout
            log.warning("the refined map (%s) failed: %s; the map stays PCA", method, exc)

    def answer(self, method: str, groups, groups_id, *, refined: bool = False) -> bytes:
        """The JSON of ``GET /api/map/points`` (see the route)."""
        n = len(self.records)
        refining = None
        if method == "auto":
            method = refined_method(n)
            if method != "pca" and n > QUICK_MAX and not self._ready(method):
                if refined:  # the page asks whether the refined layout is ready: not yet
                    self._refine(method)
                    why = self._failed.get(method)
                    return json.dumps({"version": self.coll.version, "refining": why is None,
                                       "failed": why}).encode()
                refining, method = method, "pca"
        try:
            return self._answer(method, groups, groups_id, refining)
        finally:
            # started once the fast answer is made: t-SNE's import and first steps would
            # hold the interpreter lock while it is made (1.2 s of a cold server's 1.3)
            if refining is not None:
                self._refine(refining)

    def _answer(self, method: str, groups, groups_id, refining) -> bytes:
        n = len(self.records)
        q, used = self._layout(method)
        key = (used, groups_id, refining)
        with self._lock:
            cached = self._answers.get(key)
        if cached is None:
            data = {"version": self.coll.version, "groups_id": groups_id, "method": used, "n": n,
                    "refining": refining is not None, "refined_method": refining,
                    "x": q[:, 0].tolist(), "y": q[:, 1].tolist(),
                    **colouring(self.records, groups), "relpaths": [r.path for r in self.records]}
            # kept as JSON bytes: encoding 50,000 points' arrays through FastAPI's
            # jsonable_encoder took ~0.4 s a request, most of the map's first draw
            cached = json.dumps(data, separators=(",", ":")).encode()
            with self._lock:
                self._answers[key] = cached
                while len(self._answers) > 8:
                    self._answers.pop(next(iter(self._answers)))
        return cached
