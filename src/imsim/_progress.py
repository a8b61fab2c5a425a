"""Progress for long work (training, encoding, indexing, long searches).

On a terminal a tqdm bar on stderr. When stderr is not a terminal (a pipe, a log file,
``make demo 2>&1 | tee``) a bar would be a stream of carriage returns, so plain lines
go there instead: one every :data:`EVERY_S` seconds while work with progress goes on
(``encoding: 40/160 batches (25%), 10 s, about 32 s left``, counted across bars, so many
short searches in a row report too) and one when a bar that printed ends; a process's
first 10 s print nothing.
``IMSIM_PROGRESS=1`` forces bars, ``IMSIM_PROGRESS=lines`` forces lines and
``IMSIM_PROGRESS=0`` turns progress off.
"""
from __future__ import annotations

import os
import sys
import time

#: seconds between two plain progress lines
EVERY_S = 10.0
_LAST_LINE: list = [None]  # monotonic time of the last line (or of the first bar), any bar


def _mode() -> str:
    """"bar", "lines" or "off", from IMSIM_PROGRESS and whether stderr is a terminal."""
    flag = os.environ.get("IMSIM_PROGRESS")
    if flag is not None:
        flag = flag.strip().lower()
        if flag in ("0", "", "false", "no", "off"):
            return "off"
        return "lines" if flag in ("lines", "plain") else "bar"
    try:
        return "bar" if sys.stderr.isatty() else "lines"
    except (AttributeError, ValueError):  # replaced or closed stderr
        return "off"


def _enabled() -> bool:
    """Whether long work reports progress at all (as a bar or as lines)."""
    return _mode() != "off"


def progress(iterable=None, *, total=None, desc: str = "", unit: str = "it", show=None):
    """Wrap ``iterable`` (or a manual counter when None) in progress reporting on stderr.

    ``show=None`` decides from the environment (see the module docstring); ``True``
    forces a bar, ``False`` turns it off: the one switch every ``progress=`` argument
    of imsim passes straight here. The object returned is iterated, or used as a
    context manager with ``update(n)``, as a tqdm bar is.
    """
    mode = "off" if show is False else "bar" if show else _mode()
    if mode == "lines":
        return _Lines(iterable, total=total, desc=desc, unit=unit)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=unit == "B",
                disable=mode == "off",
                leave=False, dynamic_ncols=True, file=sys.stderr)


_PLURAL = {"batch": "batches", "query": "queries", "img": "images", "it": "steps"}


def _units(unit: str) -> str:
    return _PLURAL.get(unit, unit if unit == "B" or unit.endswith("s") else unit + "s")


def _amount(n: float, unit: str) -> str:
    if unit == "B":
        return f"{n / 2**20:,.1f} MiB"
    return f"{int(n):,}"


def _duration(seconds: float) -> str:
    if seconds >= 120:
        minutes, secs = divmod(round(seconds), 60)
        return f"{minutes} min {secs} s"
    return f"{seconds:.0f} s"


class _Lines:
    """The part of tqdm's interface imsim uses, writing a plain line now and then."""

    def __init__(self, iterable=None, *, total=None, desc: str = "", unit: str = "it",
                 every: float = EVERY_S, file=None, clock=time.monotonic):
        if total is None and iterable is not None:
            try:
                total = len(iterable)
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = 0
        self.every, self.file, self.clock = every, file, clock
        self.start = clock()
        # With the real clock the 10 s count across bars: a step made of many short
        # searches (each under 10 s) still reports every 10 s, as one long bar would.
        self.shared = clock is time.monotonic
        if self.shared and _LAST_LINE[0] is None:
            _LAST_LINE[0] = self.start
        self.last = _LAST_LINE[0] if self.shared else self.start
        self.printed = 0
        self.closed = False

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def update(self, n: float = 1) -> None:
        self.n += n
        now = self.clock()
        if self.shared:
            self.last = _LAST_LINE[0]
        # a bar started when the last line is old says nothing in its first second
        # ("1/4,847 images (0%), 0 s" told nothing)
        if now - self.last >= self.every and now - self.start >= 1.0:
            self.last = now
            if self.shared:
                _LAST_LINE[0] = now
            self._write(self._line(now))

    def set_postfix(self, *args, **kwargs) -> None:  # tqdm's; the lines have no room
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.printed:  # a long job says that it ended; a short one said nothing
            elapsed = self.clock() - self.start
            self._write(f"{self.desc or 'progress'}: done, {_amount(self.n, self.unit)} "
                        f"{_units(self.unit)} in {_duration(elapsed)}")

    def _line(self, now: float) -> str:
        elapsed = now - self.start
        done = f"{_amount(self.n, self.unit)}"
        if self.total:
            share = self.n / self.total
            done += f"/{_amount(self.total, self.unit)} {_units(self.unit)} ({share:.0%})"
            if 0 < share < 1:
                done += f", {_duration(elapsed)}, about {_duration(elapsed / share - elapsed)} left"
            else:
                done += f", {_duration(elapsed)}"
        else:
            done += f" {_units(self.unit)}, {_duration(elapsed)}"
        return f"{self.desc or 'progress'}: {done}"

    def _write(self, line: str) -> None:
        self.printed += 1
        try:
            print(line, file=self.file or sys.stderr, flush=True)
        except (OSError, ValueError):  # stderr closed: nowhere to report
            pass
