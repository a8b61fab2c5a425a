"""Figures of a photo collection: the 2-D latent map and the query result grid."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import atomic_path

__all__ = ["project_2d", "latent_map", "collection_map", "query_grid"]

PROJECTIONS = ("auto", "umap", "tsne", "pca")
_THUMB_PX = 28  # thumbnail side on the map, in points
_TSNE_MAX = 10_000  # above this "auto" without UMAP uses PCA: t-SNE would take minutes


def project_2d(X, *, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """Project latent vectors to 2-D for a map.

    Parameters
    ----------
    X : ndarray of shape (n, d), float
    method : {"auto", "umap", "tsne", "pca"}
        "auto": UMAP when the ``umap-learn`` package is installed, else t-SNE
        (scikit-learn, PCA initialisation) up to 10,000 points, else PCA.
    seed : int

    Returns
    -------
    coords : ndarray of shape (n, 2), float32
    method : str
        The projection used.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"need at least 2 vectors of shape (n, d) to map, got shape {X.shape}")
    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection {method!r}, expected one of {', '.join(PROJECTIONS)}")
    if method in ("auto", "umap"):
        try:
            import umap
        except ImportError:
            if method == "umap":
                raise ValueError("method='umap' needs the umap-learn package "
                                 "(pip install umap-learn)") from None
            method = "tsne" if len(X) <= _TSNE_MAX else "pca"
        else:
            reducer = umap.UMAP(n_components=2, random_state=seed,
                                n_neighbors=min(15, len(X) - 1))
            return reducer.fit_transform(X).astype(np.float32), "umap"
    if method == "tsne" and len(X) > 3:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (len(X) - 1) / 3))
        coords = TSNE(n_components=2, perplexity=perplexity, init="pca",
                      random_state=seed).fit_transform(X)
        return coords.astype(np.float32), "tsne"
    from sklearn.decomposition import PCA

    coords = PCA(n_components=min(2, X.shape[1]), random_state=seed).fit_transform(X)
    if coords.shape[1] == 1:
        coords = np.column_stack([coords[:, 0], np.zeros(len(coords))])
    return coords.astype(np.float32), "pca"


_NAME_CHARS = 38  # a thumbnail's name in the map's numbered list, shortened in the middle


def latent_map(coords, path, *, colors=None, color_names=None, thumbnails=None,
               thumbnail_names=None, title: str = "", dpi: int = 120) -> Path:
    """Scatter plot of 2-D points, coloured by category, with image thumbnails.

    Parameters
    ----------
    coords : ndarray of shape (n, 2)
    path : path-like
        Output PNG, written atomically.
    colors : ndarray of shape (n,), int, optional
        Category of each point (-1: none, drawn grey).
    color_names : sequence of str, optional
        Legend text of category ``c`` (``color_names[c]``).
    thumbnails : sequence of (int, ndarray), optional
        ``(point index, uint8 image (h, w) or (h, w, 3))`` drawn at that point.
    thumbnail_names : sequence of str, optional
        One name per thumbnail (file names): each thumbnail gets a number at its
        corner and a numbered list beside the map names them (shortened in the middle).
    title : str

    Returns
    -------
    Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    from .grid import shorten_middle

    coords = np.asarray(coords, dtype=np.float64)
    thumbnails = list(thumbnails or [])
    named = thumbnail_names is not None and len(thumbnails) > 0
    if thumbnail_names is not None and len(thumbnail_names) != len(thumbnails):
        raise ValueError(f"{len(thumbnail_names)} names for {len(thumbnails)} thumbnails")
    fig = Figure(figsize=(12.5 if named else 9, 8), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.01, 0.02, 0.69, 0.92)) if named else fig.add_subplot()
    size = max(4.0, 40.0 / np.sqrt(max(len(coords), 1) / 100))
    if colors is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=size, c="tab:blue", alpha=0.6, linewidths=0)
    else:
        colors = np.asarray(colors)
        cmap = _category_colors(int(colors.max()) + 1 if colors.size else 0)
        none = colors < 0
        if none.any():
            ax.scatter(coords[none, 0], coords[none, 1], s=size, c="lightgrey", linewidths=0)
        for c in np.unique(colors[~none]):
            sel = colors == c
            name = color_names[c] if color_names is not None and c < len(color_names) else str(c)
            ax.scatter(coords[sel, 0], coords[sel, 1], s=size, color=cmap[c], alpha=0.7,
                       linewidths=0, label=name)
        if len(np.unique(colors[~none])) <= 20:
            ax.legend(loc="best", fontsize=7, markerscale=2, framealpha=0.8)
    for number, (i, img) in enumerate(thumbnails, 1):
        img = np.asarray(img)
        box = OffsetImage(img, zoom=_THUMB_PX / max(img.shape[:2]),
                          cmap="gray" if img.ndim == 2 else None)
        # the frame takes the point's colour, so a thumbnail still shows its category
        edge = cmap[colors[i]] if colors is not None and colors[i] >= 0 else "0.5"
        ax.add_artist(AnnotationBbox(box, coords[i], frameon=True, pad=0.15,
                                     bboxprops={"edgecolor": edge, "linewidth": 1.5}))
        if named:  # the number, at the thumbnail's top left corner, names it in the list
            ax.annotate(str(number), coords[i], xytext=(-_THUMB_PX / 2 - 2, _THUMB_PX / 2 + 2),
                        textcoords="offset points", ha="right", va="bottom", fontsize=8,
                        fontweight="bold", color="black",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": edge, "lw": 1})
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    if named:
        step = min(0.03, 0.92 / len(thumbnails))
        fig.text(0.72, 0.955, "thumbnails", fontsize=10, fontweight="bold", va="top")
        for number, name in enumerate(thumbnail_names, 1):
            fig.text(0.72, 0.925 - step * (number - 1),
                     f"{number:>2}. " + shorten_middle(str(name), lambda t: len(t) <= _NAME_CHARS),
                     fontsize=9 if step >= 0.025 else 7, va="top", family="monospace")
    else:
        fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="white")
    return path


def _category_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"]
    return [cmap(i if n <= 20 else i / max(n - 1, 1)) for i in range(n)]


def collection_map(collection, out, *, method: str = "auto", color_by: str = "auto",
                   n_thumbnails: int = 30, max_points: int = 5000, seed: int = 0) -> dict:
    """Draw the 2-D map of a collection's latent space to ``out``.

    Parameters
    ----------
    collection : imsim.Collection
    out : path-like
        Output PNG.
    method : {"auto", "umap", "tsne", "pca"}
        See :func:`project_2d`.
    color_by : {"auto", "label", "group", "none"}
        "auto": labels when the collection has them, else the groups of the last
        ``imsim groups`` run on this version, else one colour.
    n_thumbnails : int
        Images drawn as thumbnails at their points, spread over the map (files that
        can no longer be read are left out).
    max_points : int
        Larger collections are mapped on a seeded random sample of this many images.
    seed : int

    Returns
    -------
    dict
        ``path``, ``method`` (projection used), ``color_by`` (what colours mean),
        ``n_points`` and ``n_thumbnails`` drawn.
    """
    from ..datasets.folder import load_image

    if color_by not in ("auto", "label", "group", "none"):
        raise ValueError(f"color_by must be auto, label, group or none, got {color_by!r}")
    n = len(collection)
    rng = np.random.default_rng(seed)
    rows = np.arange(n) if n <= max_points else np.sort(rng.choice(n, max_points, replace=False))
    coords, used = project_2d(np.asarray(collection.latents)[rows], method=method, seed=seed)
    records = collection.records()

    colors, names, meaning = None, None, "none"
    labels = [records[i].label for i in rows]
    groups = collection.load_groups() if color_by in ("auto", "group") else None
    if color_by in ("auto", "label") and any(lab is not None for lab in labels):
        names = sorted({lab for lab in labels if lab is not None})
        index = {name: c for c, name in enumerate(names)}
        colors = np.array([index.get(lab, -1) for lab in labels])
        meaning = "label"
    elif color_by == "label":
        raise ValueError("the collection has no labels (index it with --labels-from-subdirs)")
    elif groups is not None:
        colors = np.asarray(groups.labels(n))[rows]
        names = [f"group {g.index} ({g.size})" for g in sorted(groups.groups, key=lambda g: g.index)]
        meaning = "group"
    elif color_by == "group":
        raise ValueError(f"no groups for version {collection.version} of {collection.path}; "
                         f"run `imsim groups -c {collection.path}` first")

    thumbs, thumb_names = [], []
    for i in _spread(coords, max(0, n_thumbnails), rng):
        try:
            img = load_image(collection.photos_root / records[rows[i]].path, size=48,
                             color=collection.settings.color)
        except ValueError:  # the file moved or changed since indexing: no thumbnail
            continue
        thumbs.append((int(i), img))
        thumb_names.append(records[rows[i]].path)
    title = f"{collection.path.name}: {len(rows):,} of {n:,} images, {used.upper()}"
    latent_map(coords, out, colors=colors, color_names=names, thumbnails=thumbs,
               thumbnail_names=thumb_names, title=title)
    return {"path": Path(out), "method": used, "color_by": meaning, "n_points": len(rows),
            "n_thumbnails": len(thumbs)}


def _spread(coords: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` points far apart on the map (greedy farthest-point order from a random start),
    so thumbnails show every region instead of piling up in the densest one."""
    if n == 0 or len(coords) == 0:
        return []
    chosen = [int(rng.integers(len(coords)))]
    nearest = np.linalg.norm(coords - coords[chosen[0]], axis=1)
    while len(chosen) < min(n, len(coords)):
        chosen.append(int(nearest.argmax()))
        np.minimum(nearest, np.linalg.norm(coords - coords[chosen[-1]], axis=1), out=nearest)
    return chosen


def query_grid(result, query_image, path, *, size: int = 128, color: bool = True) -> Path:
    """Draw a query image and its hits in one PNG grid (query first, then by rank).

    Parameters
    ----------
    result : imsim.collection.QueryResult
    query_image : path-like, bytes or uint8 ndarray
        The query as given (a file or its bytes), or its pixels.
    path : path-like
        Output PNG.
    size : int
        Cell size in pixels (images are resized to ``size`` x ``size``).
    color : bool
        RGB or grayscale cells.

    Returns
    -------
    Path
    """
    from ..datasets.folder import load_image
    from .grid import image_grid

    if isinstance(query_image, np.ndarray):
        first = query_image
    else:
        first = load_image(query_image, size=size, color=color)
    query_name = Path(query_image).name if isinstance(query_image, (str, Path)) else ""
    cells, titles = [first], ["query" + (f"\n{query_name}" if query_name else "")]
    blank = np.full((size, size, 3) if color else (size, size), 255, dtype=np.uint8)
    for rank, hit in enumerate(result.hits, 1):
        try:
            cells.append(load_image(hit.path, size=size, color=color))
        except ValueError:  # the file is gone since indexing: keep its place in the ranking
            cells.append(blank)
        score = f"s={hit.similarity:.3f}" if hit.similarity is not None else f"d={hit.distance:.3g}"
        titles.append(f"{rank}. {score}\n{Path(hit.path).name}")
    return image_grid(cells, path, titles=titles, ncols=min(len(cells), 6))
