"""Data sets: the ImageSet container, idx files, named data sets and image folders."""
from .catalog import (DATASETS, SPLITS, ChecksumError, DatasetInfo, DatasetUnavailableError,
                      dataset_info, has_splits, load_dataset, locate, open_images)
from .folder import SUPPORTED_SUFFIXES, convert_images, load_folder, scan_folder, walk_folder
from .image import decode_image, load_image
from .idx import read_idx, read_images, read_imageset, read_labels, write_images, write_labels
from .imageset import ImageSet

__all__ = [
    "ImageSet", "read_idx", "read_images", "read_imageset", "read_labels", "read_latent",
    "write_images", "write_labels", "write_latent",
    "DATASETS", "SPLITS", "ChecksumError", "DatasetInfo", "DatasetUnavailableError",
    "dataset_info", "has_splits", "load_dataset", "locate", "open_images",
    "SUPPORTED_SUFFIXES", "convert_images", "decode_image", "load_folder", "load_image", "scan_folder",
    "walk_folder",
]


def __getattr__(name: str):
    # the latent files moved to imsim.formats.latent; these names stay for old imports
    if name in ("read_latent", "write_latent"):
        from ..formats import latent

        return getattr(latent, name)
    raise AttributeError(f"module 'imsim.datasets' has no attribute {name!r}")
