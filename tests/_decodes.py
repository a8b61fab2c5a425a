"""Counting the decodes of photos for their vectors, per file, in this process or on
each Dask worker (``client.run(install)``): the function every such decode goes
through, :func:`imsim.collection._scan.decode_photo`, is wrapped."""
from __future__ import annotations

from collections import Counter
from pathlib import Path


def install() -> None:
    """Wrap ``decode_photo`` in this process; counts start at zero."""
    from imsim.collection import _scan

    real = getattr(_scan, "_uncounted_decode_photo", _scan.decode_photo)
    _scan._uncounted_decode_photo = real
    _scan.decode_counts = Counter()

    def counting(source, size, color, name, **options):
        _scan.decode_counts[Path(name).name] += 1
        return real(source, size, color, name, **options)

    _scan.decode_photo = counting


def counts() -> dict:
    """{file name: decodes} since :func:`install`."""
    from imsim.collection import _scan

    return dict(getattr(_scan, "decode_counts", {}))


def uninstall() -> None:
    from imsim.collection import _scan

    real = getattr(_scan, "_uncounted_decode_photo", None)
    if real is not None:
        _scan.decode_photo = real
        del _scan._uncounted_decode_photo, _scan.decode_counts
