"""What a collection is built with (:class:`CollectionSettings`) and what one indexing run did
(:class:`IndexReport`)."""
from __future__ import annotations

from dataclasses import dataclass

from .._validation import check_metric, check_positive_int, env_int

METRICS = ("l2", "cosine", "l1")


@dataclass(frozen=True)
class CollectionSettings:
    """What a collection was built with; fixed until it is rebuilt (``retrain``).

    Attributes
    ----------
    size : int
        Images are resized (bilinear) to ``size`` x ``size`` pixels before encoding.
    color : bool
        RGB (True) or grayscale (False) pixels.
    latent_dim : int
        Length of each image's latent vector.
    metric : {"l2", "cosine", "l1"}
        Distance of the ANN index and of the cached neighbour lists.
    n_cached : int
        Neighbours cached per image (queries for up to this many answer from the cache).
    labels_from_subdirs : bool
        Label images by their first-level sub-folder.
    """

    size: int = 64
    color: bool = True
    latent_dim: int = 32
    metric: str = "l2"
    n_cached: int = 32
    labels_from_subdirs: bool = False

    def __post_init__(self):
        check_positive_int(self.size, "size")
        if self.size % 4:
            # the autoencoder halves the image twice
            raise ValueError(f"size must be a multiple of 4 pixels, got {self.size}")
        # a limit below 4 pixels would refuse every size (a multiple of 4)
        max_side = env_int("IMSIM_MAX_IMAGE_SIDE", 512, minimum=4)
        if self.size > max_side:
            # every image is held as size x size x 3 bytes for training: 100000 would need 30 GB each
            raise ValueError(f"size {self.size} is above the limit of {max_side} pixels (memory grows "
                             f"as N x size^2 x 3 bytes); raise it with IMSIM_MAX_IMAGE_SIDE")
        check_positive_int(self.latent_dim, "latent_dim")
        check_positive_int(self.n_cached, "n_cached")
        object.__setattr__(self, "metric", check_metric(self.metric, METRICS))
        object.__setattr__(self, "color", bool(self.color))
        object.__setattr__(self, "labels_from_subdirs", bool(self.labels_from_subdirs))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the model input."""
        return self.size, self.size, 3 if self.color else 1


@dataclass(frozen=True)
class IndexReport:
    """What one indexing run did.

    Attributes
    ----------
    new, changed, unchanged, deleted : int
        Files by their state compared with the previous version.
    encoded : int
        Images decoded and encoded by the model (the rest reused their latents).
    skipped : list of (str, str)
        ``(relative path, reason)`` of every file that could not be read.
    trained : bool
        Whether a new model was trained in this run.
    seconds : float
        Wall time of the run.
    version : str
        The version written.
    """

    new: int
    changed: int
    unchanged: int
    deleted: int
    encoded: int
    skipped: list
    trained: bool
    seconds: float
    version: str
