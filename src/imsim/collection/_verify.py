"""Geometric verification: do two photos show one picture under one transform?

A candidate pair (two photos whose vectors are close) counts as a near-duplicate only
when their local features agree on one geometric transform and, once aligned, the
two photos agree pixel for pixel up to exposure:

1. ORB keypoints (OpenCV) of each photo's grey image, longest side :data:`SIDE` px,
   contrast-equalised (CLAHE) so a dark and a light version give the same corners;
   for a flip, the features of the mirrored first photo are matched too.
2. Lowe's ratio test on the Hamming distances, then RANSAC for a similarity
   transform (``cv2.estimateAffinePartial2D``: crop, scale, small rotation); the
   scale must stay within 1/8..8 and the inliers must spread over the picture.
3. The photometric check (:func:`residual`): the first photo warped onto the
   second and compared cell by cell on an 8 x 8 grid of their overlap, by
   correlation where both have texture and by rank where one is flat, so exposure,
   contrast and gamma cancel; 1 - the worst cell is the pair's *residual*. Pixels
   clipped on one side only are left out where an exposure change explains them (a
   burnt sky), kept where it does not (black ink on one side, a light face on the
   other: a letter on two dreidels). A drawing on a plain background that the other
   photo extends fails too (a letter and the same letter with an umlaut). The
   residual allowed is :data:`MAX_RESIDUAL`, looser (:data:`STRONG_RESIDUAL`) when a
   third of the features agree on the transform (:func:`residual_limit`).
4. The colour and tone checks (:func:`colour_gap`, :func:`tone_gap`): per channel,
   the aligned colour copies must agree in rank and lie on one monotone tone curve
   (isotonic regression) in every cell, so a design in another palette, or a
   stoplight with another lamp lit, fails.
5. The content check (:func:`local_change`): once the best tone curve maps one
   photo onto the other, no connected region of changed pixels may cover more than
   :data:`MAX_CHANGE` of the overlap: another letter on the same dreidel, another
   hand drawn over the same outline. Edited photos (exposure, crops, JPEG, resizes)
   leave no such region. A mirrored pair is spared this check: an artist's mirror
   image redraws its text to keep it readable (a sign, a car's POLICE).

Features come from the 320-px thumbnails every version stores (or the file itself
for a version without them), computed on demand for the candidates only and kept in
a small in-memory cache; nothing is stored per image (docs/DESIGN.md says why).
"""
from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..datasets.image import backdrop_level, flatten_alpha, has_alpha

SIDE = 256  # longest side, pixels, of the grey image features are computed on
N_FEATURES = 500
RATIO = 0.8  # Lowe's ratio test
RANSAC_PX = 5.0  # reprojection error, pixels at SIDE
MIN_INLIERS = 15
MIN_AGREEMENT = 0.05  # inliers / features of the smaller set
WEAK_AGREEMENT = 0.03  # enough where the pixels agree closely (a page of text: 0.034)
WEAK_RESIDUAL = 0.25  # ... that is, this close
MAX_RESIDUAL = 0.45  # 1 - the worst cell's agreement (correlation) once aligned
STRONG_AGREEMENT = 0.3  # so many features on one transform: no chance alignment...
STRONG_RESIDUAL = 0.55  # ... so the pixels may differ this much (a star field shrunk 4x)
MAX_BACKDROP_GAP = 64  # photos composited onto backdrops further apart are not one picture
MIN_OVERLAP = 0.25  # share of the second photo the aligned first one covers
GRID = 8
COLOUR_SIDE = 128  # longest side, pixels, of the colour check's copy
MAX_COLOUR_GAP = 0.22  # the colour check's worst cell (the dev folders' true pairs: <= 0.20)
MAX_TONE_GAP = 0.32  # the tone check's worst cell (true pairs of the dev folders: <= 0.24)
CLIP_SLACK = 40  # a one-side-clipped pixel is left out where the other maps within this of the clip
CHANGE_LEVELS = 60  # the content check: a pixel no tone curve brings within this is changed...
MAX_CHANGE = 0.0008  # ... and a connected changed region over this share of the overlap fails


@dataclass(frozen=True)
class Features:
    """Local features of one photo: keypoints (n, 2) float32 in pixels of ``grey``,
    ORB descriptors (n, 32) uint8, the grey image itself (h, w) uint8 (longest side
    :data:`SIDE`), its brightest channel (h, w) uint8, on which clipping is judged (a
    channel burnt: >= 250; every channel crushed: <= 5); a small colour copy
    (longest side :data:`COLOUR_SIDE`, RGB uint8; None for a grey image); how many
    times ``grey`` was enlarged from the photo (1.0: not; an icon of 16 px: 16.0); and
    the grey level a transparent photo was composited onto (255, white, for an opaque
    photo: :func:`imsim.datasets.image.backdrop_level`)."""

    points: np.ndarray
    descriptors: np.ndarray
    grey: np.ndarray
    top: np.ndarray
    colour: np.ndarray | None = None
    upscale: float = 1.0
    backdrop: int = 255

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class Match:
    """How two photos agree.

    Attributes
    ----------
    inliers : int
        Local features that agree on one transform (0: no transform found).
    agreement : float
        ``inliers`` / the features of the photo with fewer, in [0, 1].
    residual : float
        1 - the worst 8 x 8 cell's agreement of the aligned grey images, in [0, 2]
        (0: the same picture; 1.0 when there is no transform, too little overlap, or
        the colour, tone or content check fails).
    flipped : bool
        The transform includes a horizontal flip.
    """

    inliers: int
    agreement: float
    residual: float
    flipped: bool = False

    @property
    def same_picture(self) -> bool:
        """Enough features agree on one transform and the aligned pixels agree; fewer
        agreeing features (text, whose repeated letters the ratio test drops) need
        closer pixels, many (:data:`STRONG_AGREEMENT`) allow looser ones."""
        if self.inliers < MIN_INLIERS:
            return False
        return ((self.agreement >= MIN_AGREEMENT and self.residual <= residual_limit(self.agreement))
                or (self.agreement >= WEAK_AGREEMENT and self.residual <= WEAK_RESIDUAL))

    @property
    def same_layout(self) -> bool:
        """Enough features agree on one transform, whatever the aligned pixels say: the
        same scene in another rendering or light, or a drawing of the same shape (a
        verified query ranks these after the same pictures, before the rest)."""
        return self.inliers >= MIN_INLIERS and self.agreement >= MIN_AGREEMENT

    @property
    def similarity(self) -> float:
        """A score in [0, 1] a person can read: the worst cell's agreement of a
        verified pair (1 = the same pixels up to exposure), else 0."""
        return round(max(0.0, 1.0 - self.residual), 3) if self.same_picture else 0.0


NO_MATCH = Match(0, 0.0, 1.0)


def residual_limit(agreement: float) -> float:
    """The largest residual a pair with this agreement may have to be one picture:
    :data:`MAX_RESIDUAL`, or :data:`STRONG_RESIDUAL` from :data:`STRONG_AGREEMENT` on
    (fine detail such as stars or cells shrunk a few times loses its cell-by-cell
    correlation; a third of the features on one transform does not happen by chance)."""
    return STRONG_RESIDUAL if agreement >= STRONG_AGREEMENT else MAX_RESIDUAL


def _cv2():
    import cv2

    cv2.setNumThreads(1)  # pairs are verified on a thread pool
    return cv2


def decode_backdrop(data: bytes) -> tuple[np.ndarray, int]:
    """Encoded image bytes -> (RGB uint8 (h, w, 3), longest side at most :data:`SIDE`;
    the grey level transparent pixels were composited onto, as the vectors see them:
    :func:`imsim.datasets.image.flatten_alpha`; 255 for an opaque image)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (SIDE, SIDE))
        level = 255
        if has_alpha(img):
            rgba = img.convert("RGBA")
            level = backdrop_level(rgba)
            rgb = flatten_alpha(rgba, level)
        else:
            rgb = img.convert("RGB")
        rgb.thumbnail((SIDE, SIDE), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8), level


def features(rgb: np.ndarray, backdrop: int = 255) -> Features:
    """ORB features of an RGB (h, w, 3) or grey (h, w) uint8 image, its grey image
    upscaled to :data:`SIDE` when smaller (icons and tiny versions need pixels for
    corners); ``backdrop`` as :func:`decode_backdrop` gives it."""
    cv2 = _cv2()
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    colour = rgb if rgb.ndim == 3 else rgb[..., None]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    top = colour[..., 0]
    for c in range(1, colour.shape[2]):  # not colour.max(axis=2): 10x slower on 3 channels
        top = np.maximum(top, colour[..., c])
    h, w = grey.shape
    upscale = max(1.0, SIDE / max(h, w))
    if max(h, w) < SIDE:
        size = (max(1, round(w * SIDE / max(h, w))), max(1, round(h * SIDE / max(h, w))))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR)
        top = cv2.resize(np.ascontiguousarray(top), size, interpolation=cv2.INTER_NEAREST)
    small = None
    if rgb.ndim == 3:
        s = COLOUR_SIDE / max(h, w)
        small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                           interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return _orb(grey, np.ascontiguousarray(top), small, upscale, int(backdrop))


def _orb(grey: np.ndarray, top: np.ndarray, colour=None, upscale: float = 1.0,
         backdrop: int = 255) -> Features:
    cv2 = _cv2()
    eq = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(grey)
    orb = cv2.ORB_create(nfeatures=N_FEATURES, scaleFactor=1.2, nlevels=6, edgeThreshold=15,
                         patchSize=15, fastThreshold=7)
    kps, desc = orb.detectAndCompute(eq, None)
    if desc is None or not kps:
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), grey, top,
                        colour, upscale, backdrop)
    return Features(np.array([k.pt for k in kps], dtype=np.float32), desc, grey, top, colour,
                    upscale, backdrop)


def mirrored(f: Features) -> Features:
    """The features of the horizontally flipped image."""
    flip = (lambda x: None if x is None else np.ascontiguousarray(x[:, ::-1]))
    return _orb(flip(f.grey), flip(f.top), flip(f.colour), f.upscale, f.backdrop)


def _nearest_two(query: np.ndarray, base: np.ndarray):
    """Hamming distances (n, 2) and indices (n, 2) of each query descriptor's two nearest
    base descriptors (FAISS's binary flat index: about 4x OpenCV's brute force here)."""
    import faiss

    index = faiss.IndexBinaryFlat(8 * base.shape[1])
    index.add(np.ascontiguousarray(base))
    D, I = index.search(np.ascontiguousarray(query), 2)
    return D.astype(np.float32), I


def _transform(a: Features, b: Features):
    """(2x3 similarity mapping a's pixels onto b's, inliers) or (None, 0)."""
    cv2 = _cv2()
    if len(a) < MIN_INLIERS or len(b) < MIN_INLIERS:
        return None, 0
    D, I = _nearest_two(a.descriptors, b.descriptors)
    good = np.flatnonzero((I[:, 1] >= 0) & (D[:, 0] < RATIO * D[:, 1]))
    if len(good) < MIN_INLIERS:
        return None, 0
    src, dst = a.points[good], b.points[I[good, 0]]
    M, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                          ransacReprojThreshold=RANSAC_PX, maxIters=2000,
                                          confidence=0.995)
    if M is None:
        return None, 0
    scale = float(np.hypot(M[0, 0], M[1, 0]))
    if not 1 / 8 <= scale <= 8:
        return None, 0
    inl = mask.ravel().astype(bool)
    pts = dst[inl]
    if len(pts) < MIN_INLIERS:
        return None, 0
    hb, wb = b.grey.shape
    spread = np.ptp(pts[:, 0]) / wb * np.ptp(pts[:, 1]) / hb
    if spread < 0.04:  # all agreeing features in one small patch: a shared logo, not a picture
        return None, 0
    return M, int(inl.sum())


def _rank_bounds(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each grey level's lowest and highest rank among ``levels`` (ints 0..255), scaled
    to [0, 1]: equal levels (a flat or clipped area, the few levels of a dark photo)
    share an interval."""
    counts = np.bincount(levels, minlength=256)
    before = np.cumsum(counts) - counts
    scale = 1.0 / max(len(levels) - 1, 1)
    lo = (before * scale).astype(np.float32)  # per level, then looked up per pixel
    hi = ((before + counts - 1) * scale).astype(np.float32)
    return lo[levels], hi[levels]


def _one_sided(clip_a, clip_b, grey_a, grey_b, inside) -> np.ndarray:
    """Pixels clipped on one side only *the way an exposure change clips them*: where
    the other side's level (``grey_*``: the brightest channel), mapped by rank onto the
    clipped side's levels, lands within :data:`CLIP_SLACK` of the clip. Black ink on one
    side over a light face on the other is a difference, not a crushed shadow, and
    stays in."""
    one = _one_side_only(clip_a, clip_b)
    where = np.nonzero(one & inside)
    if not len(where[0]):
        return one
    qa = np.clip(grey_a[inside] + 0.5, 0, 255).astype(np.intp)  # levels over the overlap
    qb = grey_b[inside].astype(np.intp)
    b_as_a = _rank_map(qb, qa)  # (256,) b's levels as a would have them, and back
    a_as_b = _rank_map(qa, qb)
    ca, cb = clip_a[where], clip_b[where]
    la = np.clip(grey_a[where] + 0.5, 0, 255).astype(np.intp)
    lb = grey_b[where].astype(np.intp)
    high, low = 255 - CLIP_SLACK, CLIP_SLACK
    explained = (((ca == 1) & (b_as_a[lb] >= high)) | ((cb == 1) & (a_as_b[la] >= high))
                 | ((ca == -1) & (b_as_a[lb] <= low)) | ((cb == -1) & (a_as_b[la] <= low)))
    out = np.zeros_like(one)
    out[where[0][explained], where[1][explained]] = True
    return out


def _rank_map(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(256,) the grey level of ``target`` at the rank each level has in ``source``
    (both ints 0..255 over one overlap): the monotone mapping an exposure change makes."""
    cs = np.cumsum(np.bincount(source, minlength=256)) / max(len(source), 1)
    ct = np.cumsum(np.bincount(target, minlength=256)) / max(len(target), 1)
    mid = cs - np.bincount(source, minlength=256) / max(len(source), 1) / 2
    return np.searchsorted(ct, np.clip(mid, 0, 1), side="left").clip(0, 255)


def residual(a: Features, b: Features, M: np.ndarray) -> float:
    """The photometric check: 1 - the lowest agreement of the 8 x 8 cells of the
    overlap, in [0, 2] (0: the same picture; 1.0 also when the overlap is too small).

    Both images are blurred a little. A cell with texture on both sides scores the
    correlation of their grey levels (any exposure, contrast or gamma change that is
    nearly linear within a cell keeps it near 1). A cell flat on one side or both (a
    burnt sky, a crushed shadow, a plain background, or ink on one side only) scores
    how well the two agree in rank: each grey level's interval of ranks on the
    overlap (equal levels share one), and the gap between the two pixels' intervals.
    Pixels clipped on one side only the way an exposure change clips them (a
    highlight a light version burnt, a shadow a dark one crushed: :func:`_one_sided`)
    are left out: there the two cannot be compared.
    """
    cv2 = _cv2()
    a_grey, b_grey = a.grey, b.grey
    hb, wb = b_grey.shape
    warped = cv2.warpAffine(a_grey.astype(np.float32), M, (wb, hb), flags=cv2.INTER_LINEAR)
    cover = cv2.warpAffine(np.ones(a_grey.shape, np.float32), M, (wb, hb), flags=cv2.INTER_NEAREST)
    inside = cv2.erode(cover, np.ones((5, 5), np.uint8)) > 0.5
    if inside.mean() < MIN_OVERLAP:
        return 1.0
    top_a = cv2.warpAffine(a.top, M, (wb, hb), flags=cv2.INTER_NEAREST)
    one_sided = _one_sided(_clip_state(top_a), _clip_state(b.top), top_a, b.top, inside)
    one_sided = cv2.dilate(one_sided.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if (inside & ~one_sided).mean() >= 0.2 * inside.mean():
        inside &= ~one_sided
    sigma = max(1.0, max(hb, wb) / 128)
    A = cv2.GaussianBlur(warped, (0, 0), sigma)[inside].astype(np.float64)
    B = cv2.GaussianBlur(b_grey.astype(np.float32), (0, 0), sigma)[inside].astype(np.float64)
    lo_a, hi_a = _rank_bounds(np.clip(np.rint(warped[inside]), 0, 255).astype(np.intp))
    lo_b, hi_b = _rank_bounds(b_grey[inside].astype(np.intp))
    gap = np.maximum(0, np.maximum(lo_a - hi_b, lo_b - hi_a)).astype(np.float64)
    _, _, cell, area = _cell_of(inside)

    def total(w):
        return np.bincount(cell, weights=w, minlength=GRID * GRID)
    n = total(None)
    counted = (n >= 0.5 * area) & (n > 1)
    if counted.sum() < GRID * GRID // 8:
        return 1.0  # too few cells to judge
    nn = np.maximum(n, 1)
    ma, mb = total(A) / nn, total(B) / nn
    va = np.maximum(total(A * A) / nn - ma * ma, 0)
    vb = np.maximum(total(B * B) / nn - mb * mb, 0)
    cov = total(A * B) / nn - ma * mb
    sa, sb = np.sqrt(va) / (A.std() + 1e-3), np.sqrt(vb) / (B.std() + 1e-3)
    flat = (np.minimum(sa, sb) < 0.25 * np.maximum(sa, sb)) | (np.maximum(sa, sb) < 0.3)
    corr = cov / (np.sqrt(va * vb) + 1e-6)
    by_rank = 1.0 - np.minimum(1.0, 4 * total(gap) / nn)
    score = np.where(flat, by_rank, corr)
    return float(1.0 - min(1.0, score[counted].min()))


def _blank_border(grey: np.ndarray) -> float | None:
    """The grey level of a drawing's plain background (a uniform margin round it, or a
    transparent canvas shown white), or None for a photo or a crop, whose border cuts
    through content."""
    h, w = grey.shape
    t = max(1, min(h, w) // 32)
    ring = np.concatenate([grey[:t].ravel(), grey[-t:].ravel(), grey[:, :t].ravel(),
                           grey[:, -t:].ravel()]).astype(np.float32)
    level = float(np.median(ring))
    if np.mean(np.abs(ring - level) <= 6) >= 0.98:
        return level
    # a drawing cut to its ink on a transparent canvas (composited on white): much of
    # it is pure white
    # (and pure white: a light photo's burnt sky is mostly 250-254 round its few 255s)
    pure, near = np.mean(grey == 255), np.mean(grey >= 250)
    return 255.0 if pure >= 0.1 and pure >= 0.75 * near else None


def _content_outside(a_grey: np.ndarray, b_grey: np.ndarray, M: np.ndarray) -> bool:
    """Whether ``b`` shows content beyond where the whole of ``a`` lands, when ``a`` is
    a whole drawing on a blank margin (not a crop): a letter and the same letter with
    an umlaut, a minus and a division sign."""
    level = _blank_border(a_grey)
    if level is None:
        return False
    cv2 = _cv2()
    hb, wb = b_grey.shape
    cover = cv2.warpAffine(np.ones(a_grey.shape, np.uint8), M, (wb, hb), flags=cv2.INTER_NEAREST)
    outside = cv2.dilate(cover, np.ones((7, 7), np.uint8)) == 0
    ink = outside & (np.abs(b_grey.astype(np.float32) - level) > 40)
    return bool(ink.sum() > 0.002 * hb * wb)


def _cells(inside: np.ndarray):
    """Row and column bounds of the 8 x 8 grid over the bounding box of ``inside``."""
    ys, xs = np.nonzero(inside)
    return (np.linspace(ys.min(), ys.max() + 1, GRID + 1).astype(int),
            np.linspace(xs.min(), xs.max() + 1, GRID + 1).astype(int))


def _warp_colour(a: Features, b: Features, M: np.ndarray):
    """``a``'s colour copy (or grey image, for a grey pair) warped onto ``b``'s:
    (warped (h, w, c) uint8, b's (h, w, c) uint8, overlap (h, w) bool)."""
    cv2 = _cv2()
    if a.colour is None or b.colour is None:
        ca, cb, Mc = a.grey[..., None], b.grey[..., None], np.asarray(M, dtype=np.float64)
    else:
        ca, cb = a.colour, b.colour
        Mc = np.array(M, dtype=np.float64)
        sa, sb = ca.shape[1] / a.grey.shape[1], cb.shape[1] / b.grey.shape[1]
        Mc[:, :2] *= sb / sa
        Mc[:, 2] *= sb
    hb, wb = cb.shape[:2]
    warped = cv2.warpAffine(np.ascontiguousarray(ca), Mc, (wb, hb), flags=cv2.INTER_LINEAR)
    cover = cv2.warpAffine(np.ones(ca.shape[:2], np.uint8), Mc, (wb, hb), flags=cv2.INTER_NEAREST)
    inside = cv2.erode(cover, np.ones((3, 3), np.uint8)) > 0
    return warped.reshape(hb, wb, -1), cb.reshape(hb, wb, -1), inside


def _cell_of(inside: np.ndarray):
    """(ys, xs, cell index of each overlap pixel, area of each cell) on the 8 x 8 grid."""
    ys, xs = np.nonzero(inside)
    rows, cols = _cells(inside)
    cell = (np.clip(np.searchsorted(rows, ys, "right") - 1, 0, GRID - 1) * GRID
            + np.clip(np.searchsorted(cols, xs, "right") - 1, 0, GRID - 1))
    return ys, xs, cell, np.maximum(np.outer(np.diff(rows), np.diff(cols)).ravel(), 1)


def _clip_state(x: np.ndarray) -> np.ndarray:
    """int8 of ``x``'s shape: 1 where a level is burnt (>= 250), -1 crushed (<= 5), else 0."""
    return (x >= 250).astype(np.int8) - (x <= 5).astype(np.int8)


def _one_side_only(ka: np.ndarray, kb: np.ndarray) -> np.ndarray:
    """Where one side is clipped and the other is not (``_clip_state`` of each)."""
    return (ka != kb) & ((ka == 0) | (kb == 0))


def colour_gap(a: Features, b: Features, M: np.ndarray) -> float:
    """The colour check: ``a``'s colour copy warped onto ``b``'s, each channel ranked on
    the overlap, and the worst cell's mean gap between the two pixels' rank intervals,
    in [0, 1] (0 for grey pictures). A per-channel monotone change (exposure, white
    balance) costs nothing, and a channel clipped on one side only is left out (a light
    version burns some); a design in another palette or a coin of another metal shows."""
    if a.colour is None or b.colour is None:
        return 0.0
    warped, colour_b, inside = _warp_colour(a, b, M)
    if inside.sum() < 64:
        return 0.0
    ys, xs, cell, area = _cell_of(inside)
    worst = 0.0
    for c in range(3):
        A, B = warped[..., c][ys, xs], colour_b[..., c][ys, xs]
        ka, kb = _clip_state(A), _clip_state(B)
        ok = ~_one_side_only(ka, kb)
        if ok.sum() < 64:
            continue
        lo_a, hi_a = _rank_bounds(A[ok].astype(np.intp))
        lo_b, hi_b = _rank_bounds(B[ok].astype(np.intp))
        gap = np.maximum(0, np.maximum(lo_a - hi_b, lo_b - hi_a))
        n = np.bincount(cell[ok], minlength=GRID * GRID)
        total = np.bincount(cell[ok], weights=gap, minlength=GRID * GRID)
        counted = n >= 0.5 * area
        if counted.any():
            worst = max(worst, float((total[counted] / n[counted]).max()))
    return worst


def _monotone_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(256,) the best non-decreasing curve predicting ``y`` from the level ``x``
    (ints 0..255), least squares (SciPy's isotonic regression over the 256
    levels' means)."""
    from scipy.optimize import isotonic_regression

    w = np.bincount(x, minlength=256).astype(np.float64)
    s = np.bincount(x, weights=y, minlength=256)
    ok = np.flatnonzero(w > 0)
    fit = isotonic_regression(s[ok] / w[ok], weights=w[ok]).x
    return np.interp(np.arange(256), ok, fit)


def _curve_misses(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far the best monotone curve from ``y``'s levels misses each pixel of ``x``,
    and the curve from ``x``'s levels each pixel of ``y``: ``(to_a, to_b)``, (P,) each,
    in levels (``x``, ``y``: (P,) ints 0..255, one pixel each of two aligned images)."""
    to_b = np.abs(y - _monotone_fit(x, y.astype(np.float64))[x])
    to_a = np.abs(x - _monotone_fit(y, x.astype(np.float64))[y])
    return to_a, to_b


def tone_gap(a: Features, b: Features, M: np.ndarray) -> float:
    """The tone check: how far the aligned photos are from one tone curve, in [0, 1].

    ``a`` is warped onto ``b`` (colour copies, or grey images for a grey pair), both
    blurred a little, and in each channel the best monotone curve from ``a``'s levels
    to ``b``'s and back is fitted over the overlap (isotonic regression). A pixel's
    gap is the larger of the two curves' errors, or where one side only is clipped,
    the error of predicting the clipped side (a light version's burnt sky is one level
    for many). The result is the worst 8 x 8 cell's mean gap over the channels' worst,
    / 255. Any exposure, gamma or white balance change fits a curve; a lamp lit in one
    photo and another lamp in the other, or marks one photo adds, do not.
    """
    cv2 = _cv2()
    warped, colour_b, inside = _warp_colour(a, b, M)
    if inside.sum() < 64:
        return 0.0
    ys, xs, cell, area = _cell_of(inside)
    gap = np.zeros(len(ys))
    blurred_a = cv2.GaussianBlur(warped, (0, 0), 1.0).reshape(warped.shape)[ys, xs]
    blurred_b = cv2.GaussianBlur(colour_b, (0, 0), 1.0).reshape(colour_b.shape)[ys, xs]
    for c in range(warped.shape[2]):
        x = blurred_a[:, c].astype(np.intp)
        y = blurred_b[:, c].astype(np.intp)
        to_a, to_b = _curve_misses(x, y)
        ka, kb = _clip_state(x), _clip_state(y)
        one = _one_side_only(ka, kb)
        g = np.where(one & (kb != 0), to_b, np.where(one & (ka != 0), to_a,
                                                     np.maximum(to_a, to_b)))
        gap = np.maximum(gap, g)
    n = np.bincount(cell, minlength=GRID * GRID)
    total = np.bincount(cell, weights=gap, minlength=GRID * GRID)
    counted = n >= 0.5 * area
    return float((total[counted] / n[counted]).max() / 255) if counted.any() else 0.0


def local_change(a: Features, b: Features, M: np.ndarray) -> float:
    """The content check: the largest connected region of the aligned pair that no
    tone curve explains, as a share of the overlap, in [0, 1].

    ``a``'s grey image is warped onto ``b``'s (``M``), both blurred a little, and the
    best monotone curve from each side's levels to the other's is fitted over the
    overlap (isotonic regression); a pixel is *changed* where both curves miss it by
    more than :data:`CHANGE_LEVELS` (one may: a burnt sky is one level for many, and
    a symbolic icon's dimmed part one level less). Regions thinner than two of the
    photo's own pixels (an edge a resize or rotation moved by one pixel) are opened
    away before the largest is measured.
    """
    cv2 = _cv2()
    hb, wb = b.grey.shape
    warped = cv2.warpAffine(a.grey.astype(np.float32), M, (wb, hb), flags=cv2.INTER_LINEAR)
    cover = cv2.warpAffine(np.ones(a.grey.shape, np.float32), M, (wb, hb), flags=cv2.INTER_NEAREST)
    inside = cv2.erode(cover, np.ones((5, 5), np.uint8)) > 0.5
    if inside.sum() < 64:
        return 0.0
    x = np.clip(np.rint(cv2.GaussianBlur(warped, (0, 0), 1.0)[inside]), 0, 255).astype(np.intp)
    y = np.clip(np.rint(cv2.GaussianBlur(b.grey.astype(np.float32), (0, 0), 1.0)[inside]),
                0, 255).astype(np.intp)
    to_a, to_b = _curve_misses(x, y)
    changed = np.zeros((hb, wb), np.uint8)
    changed[inside] = np.minimum(to_a, to_b) > CHANGE_LEVELS
    k = max(3, int(np.ceil(2 * max(a.upscale, b.upscale))))
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    return float(stats[1:, cv2.CC_STAT_AREA].max() / inside.sum()) if n > 1 else 0.0


def match(a: Features, b: Features, *, flipped: bool = False) -> Match:
    """How well ``a`` maps onto ``b`` (``flipped``: ``a`` is a mirrored photo's features)."""
    M, inliers = _transform(a, b)
    if M is None:
        return Match(inliers, 0.0, 1.0, flipped)
    agreement = min(1.0, inliers / max(1, min(len(a), len(b))))
    if abs(a.backdrop - b.backdrop) > MAX_BACKDROP_GAP:
        # a white-on-clear picture shown on black against one shown on white: the same
        # layout (a light and a dark overlay of one design), not the same picture
        return Match(inliers, round(agreement, 3), 1.0, flipped)
    inverse = _cv2().invertAffineTransform(M)
    if _content_outside(a.grey, b.grey, M) or _content_outside(b.grey, a.grey, inverse):
        return Match(inliers, round(agreement, 3), 1.0, flipped)
    # compared in the frame of the photo with fewer pixels for the picture: the other
    # is shrunk onto it, never blown up
    a_smaller = np.hypot(M[0, 0], M[1, 0]) > 1  # a has fewer pixels: b is shrunk onto it
    r = residual(b, a, inverse) if a_smaller else residual(a, b, M)
    if r <= residual_limit(agreement) and (colour_gap(a, b, M) > MAX_COLOUR_GAP
                              or tone_gap(a, b, M) > MAX_TONE_GAP):
        r = 1.0  # the same layout in other colours, or other lamps lit
    elif r <= residual_limit(agreement) and not flipped and (
            (local_change(b, a, inverse) if a_smaller else local_change(a, b, M)) > MAX_CHANGE):
        r = 1.0  # the same drawing with something drawn differently
    return Match(inliers, round(agreement, 3), round(r, 4), flipped)


def photo_source(coll):
    """``image_id -> encoded bytes`` of a photo for its local features: its stored
    320-px thumbnail, or a thumbnail made from the file for a version without them."""
    from ._thumbs import SIZES, make_thumbnail

    thumbs = coll.thumbnails()
    records = coll.records()
    largest = len(SIZES) - 1

    def source(i: int) -> bytes:
        data = thumbs.get(i, largest) if thumbs is not None else None
        if data:
            return data
        r = records[i]
        return make_thumbnail(coll.photos_root / r.path, r.width, r.height, SIZES[largest],
                              name=r.path)[0]

    return source


class FeatureCache:
    """Features of a collection's photos, computed on demand from their stored
    thumbnails (or their files), at most ``max_items`` kept (least recently used out).

    ``source(image_id) -> bytes`` gives the encoded image; a photo that cannot be read
    raises ValueError/OSError, which :meth:`get` passes on.
    """

    def __init__(self, source, max_items: int = 1024):
        self._source = source
        self._max = max_items
        self._items: OrderedDict[tuple[int, bool], Features] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, image_id: int, mirror: bool = False) -> Features:
        key = (int(image_id), bool(mirror))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        f = mirrored(self.get(image_id)) if mirror else features(*decode_backdrop(self._source(image_id)))
        with self._lock:
            self._items[key] = f
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return f


def verify_pairs(cache: FeatureCache, pairs, *, workers: int | None = None, progress=None):
    """Verify ``pairs`` of image ids on a thread pool (OpenCV releases the GIL).

    Returns
    -------
    (list of Match, dict)
        One Match per pair, in order (NO_MATCH for a pair with an unreadable photo),
        and ``{image_id: reason}`` of the photos that could not be read.
    """
    failed: dict[int, str] = {}

    def one(pair):
        a, b = int(pair[0]), int(pair[1])
        try:
            fa, fb = cache.get(a), cache.get(b)
            m = match(fa, fb)
            if not m.same_picture:
                m2 = match(cache.get(a, mirror=True), fb, flipped=True)
                if m2.same_picture or m2.inliers > m.inliers:
                    m = m2
            return m
        except (OSError, ValueError) as exc:
            for i in (a, b):
                try:
                    cache.get(i)
                except (OSError, ValueError):
                    failed.setdefault(i, str(exc).split("\n")[0] or type(exc).__name__)
            return NO_MATCH

    from threadpoolctl import threadpool_limits

    workers = workers or min(4, os.cpu_count() or 1)
    # one OpenMP thread per search: the pairs are spread over the pool instead
    with threadpool_limits(1, user_api="openmp"), ThreadPoolExecutor(max_workers=workers) as pool:
        it = pool.map(one, list(pairs))
        results = list(progress(it) if progress is not None else it)
    return results, failed
