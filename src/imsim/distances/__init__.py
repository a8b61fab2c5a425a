"""Distances between images or latent vectors: pairwise matrices, top-k, EMD."""
from .kernels import METRICS, pairwise, topk

__all__ = ["METRICS", "pairwise", "topk"]
