"""The distance layer's internal API: unvalidated kernels for the layers above it.

``search/`` and ``cluster/`` validate their own inputs once, at their public
boundary, and then call these directly instead of the public functions of
:mod:`imsim.distances.kernels`, which would check the same arrays again on every
call. Nothing here is public (not in ``imsim.__all__``); it is the one module other
imsim packages may import unvalidated distance code from (a test checks that no
package imports ``_``-prefixed names across packages).

Contracts (the caller guarantees them):

* ``Q``, ``X``: 2-D, C-contiguous, both uint8 or both float32 (use :func:`as_pair`),
  same number of columns, no NaN.
* ``metric``: a canonical name from :data:`imsim._validation.METRICS`.
* ``k <= len(X)`` for :func:`topk`.

Working distances are float64 and *squared* for L2; :func:`finish` turns them into
the float32 distances users see.
"""
from .kernels import _as_pair as as_pair
from .kernels import _finish as finish
from .kernels import _topk as topk
from .kernels import _topk_candidates as topk_candidates

__all__ = ["as_pair", "finish", "topk", "topk_candidates"]
