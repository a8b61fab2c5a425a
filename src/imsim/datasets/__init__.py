"""Data sets: the ImageSet container, idx files, named data sets and image folders."""
from .idx import (read_idx, read_images, read_imageset, read_labels, read_latent,
                  write_images, write_labels, write_latent)
from .imageset import ImageSet

__all__ = [
    "ImageSet", "read_idx", "read_images", "read_imageset", "read_labels", "read_latent",
    "write_images", "write_labels", "write_latent",
]
