"""Experiments and the measures they report; every function returns plain data."""
from .metrics import approximation_factor, label_accuracy, recall_at_k

__all__ = ["approximation_factor", "label_accuracy", "recall_at_k"]
