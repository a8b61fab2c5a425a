"""Progress bars for long work (training, encoding, indexing, long searches).

Bars go to stderr and only when it is a terminal, so tests and pipes stay clean;
``IMSIM_PROGRESS=1`` forces them on and ``IMSIM_PROGRESS=0`` off.
"""
from __future__ import annotations

import os
import sys


def _enabled() -> bool:
    flag = os.environ.get("IMSIM_PROGRESS")
    if flag is not None:
        return flag not in ("0", "", "false", "no")
    return sys.stderr.isatty()


def progress(iterable=None, *, total=None, desc: str = "", unit: str = "it", disable=None):
    """Wrap ``iterable`` (or a manual counter when None) in a tqdm bar on stderr."""
    from tqdm.auto import tqdm

    if disable is None:
        disable = not _enabled()
    return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=unit == "B",
                disable=disable,
                leave=False, dynamic_ncols=True, file=sys.stderr)
