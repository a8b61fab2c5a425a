"""Clustering with L1: k-medians, k-medoids (FasterPAM), exact silhouette, objective, elbow."""
from .elbow import ElbowResult, elbow, find_knee
from .kmedians import KMedians, kmeans_plusplus, medians
from .kmedoids import MAX_SAMPLES, KMedoids
from .objective import objective
from .silhouette import SilhouetteResult, silhouette, silhouettes

__all__ = [
    "KMedians", "KMedoids", "MAX_SAMPLES", "kmeans_plusplus", "medians", "objective",
    "SilhouetteResult", "silhouette", "silhouettes", "ElbowResult", "elbow", "find_knee",
]
