"""What KMedians and KMedoids share: the scikit-learn glue and the seed's two names."""
from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils.validation import validate_data

from .._validation import NotFittedError as _NotFittedError
from .._validation import check_int, check_is_fitted


class NotFittedError(_NotFittedError, _SklearnNotFittedError):
    """imsim's not-fitted error that scikit-learn's checks also recognise."""


def check_fitted(estimator, attribute: str) -> None:
    """:func:`imsim._validation.check_is_fitted`, raising the error both libraries know."""
    try:
        check_is_fitted(estimator, attribute)
    except _NotFittedError as exc:
        raise NotFittedError(str(exc)) from None


def checked_data(estimator, X, *, reset: bool, keep_dtype: bool = False) -> np.ndarray:
    """``X`` validated as scikit-learn does (its messages; ``n_features_in_`` set on
    ``reset``, compared otherwise), C-contiguous; uint8 pixels kept, anything else
    float32 (``keep_dtype``: any numbers as they are, for distance matrices)."""
    dtype = "numeric" if keep_dtype else [np.float32, np.uint8]
    return validate_data(estimator, X, dtype=dtype, order="C", reset=reset)


def resolve_seed(seed, random_state):
    """The seed to use: ``random_state`` (scikit-learn's name for it, accepted as an
    alias) when given, else ``seed``; an int, a numpy Generator or None."""
    value = seed if random_state is None else random_state
    if value is not None and not isinstance(value, np.random.Generator):
        check_int(value, "random_state" if random_state is not None else "seed", low=0)
    return value


def check_n_clusters(n_clusters, n_samples: int) -> int:
    """``n_clusters`` in 1..n_samples, the message naming both numbers."""
    k = check_int(n_clusters, "n_clusters", low=1)
    if k > n_samples:
        raise ValueError(f"n_clusters={k} but X has n_samples={n_samples}")
    return k
