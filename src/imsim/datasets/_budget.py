"""A pixel-weighted semaphore: the bound on the memory of concurrent image decodes."""
from __future__ import annotations

import threading

from .._validation import env_int
from ._limits import limits

# bytes a pixel takes in Pillow's storage: 1 for 8-bit single band, 2 for 16-bit, else 4
_NARROW_MODES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


class DecodeBudget:
    """A pixel-weighted semaphore bounding the memory of concurrent decodes.

    ``with budget.hold(n_pixels):`` waits until ``n_pixels`` fit in the budget next
    to the decodes already running; a request larger than the whole budget runs
    alone. Share one budget between every thread that decodes (the web server uses
    :data:`DECODE_BUDGET`, as the collection scan does).

    Every decode holds :meth:`cost` of its raster: its pixel count, or with
    ``unit="bytes"`` the bytes Pillow stores it in (the web server's budget).

    Parameters
    ----------
    pixels : int, optional
        Total pixels (or bytes) decoding at once; default ``IMSIM_DECODE_PIXELS`` or the
        pixel cap.
    unit : {"pixels", "bytes"}
        What the budget counts.
    """

    def __init__(self, pixels: int | None = None, *, unit: str = "pixels"):
        if unit not in ("pixels", "bytes"):
            raise ValueError(f"unit must be 'pixels' or 'bytes', got {unit!r}")
        self.unit = unit
        self._total = pixels
        self._used = 0
        self.peak = 0  # the most held at once (tests, benchmarks)
        self._cond = threading.Condition()

    @property
    def total(self) -> int:
        """Pixels that may be decoding at once."""
        if self._total is not None:
            return self._total
        return env_int("IMSIM_DECODE_PIXELS", limits().max_pixels)

    def cost(self, width: int, height: int, mode: str = "RGBA") -> int:
        """What a raster of ``width`` x ``height`` pixels in Pillow ``mode`` weighs here."""
        n = int(width) * int(height)
        return n if self.unit == "pixels" else n * _NARROW_MODES.get(mode, 4)

    def hold(self, n_pixels: int):
        """Context manager: wait for and hold ``n_pixels`` of the budget."""
        return _Hold(self, max(1, int(n_pixels)))

    def _acquire(self, n: int) -> int:
        total = self.total
        with self._cond:
            while self._used and self._used + n > total:
                self._cond.wait()
            self._used += n
            self.peak = max(self.peak, self._used)
        return n

    def _release(self, n: int) -> None:
        with self._cond:
            self._used -= n
            self._cond.notify_all()


class _Hold:
    def __init__(self, budget: DecodeBudget, n: int):
        self.budget, self.n = budget, n

    def __enter__(self):
        self.budget._acquire(self.n)
        return self

    def __exit__(self, *exc):
        self.budget._release(self.n)
