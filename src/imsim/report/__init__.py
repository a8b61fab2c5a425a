"""Plots and reports built from library results (matplotlib loads inside each function)."""
from .grid import image_grid

__all__ = ["image_grid"]
