"""Distances between images or latent vectors: pairwise matrices, top-k, EMD."""
from .._validation import METRICS
from .kernels import backend, distances_at, pairwise, topk, topk_candidates

__all__ = ["METRICS", "backend", "distances_at", "pairwise", "topk", "topk_candidates"]
