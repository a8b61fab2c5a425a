"""The collection version a server answers from, following ``collection.json``.

``imsim index`` writes a new immutable version and then swaps ``collection.json``
to it. :class:`LiveCollection` notices the swap (one ``stat`` of ``collection.json``
at most once a second, between requests), opens and loads the new version in a
background thread while requests go on with the old one, and then switches: each
request holds the :class:`View` it started with until it ends, so no request sees
half of each version. A replaced version is closed (its reader lease given back)
once its last request has finished.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

from ..collection import Collection
from ..collection import GROUPS_FILE, POINTER
from . import _alpha, _views

log = logging.getLogger("imsim.web")
CHECK_EVERY = 1.0  # seconds between two stats of collection.json


class SingleFlight:
    """A bounded LRU cache whose misses are computed once, even when asked concurrently.

    Concurrent callers of :meth:`get` with the same key wait for the first one's
    result (or its exception) instead of computing it again.
    """

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._done: OrderedDict = OrderedDict()
        self._pending: dict = {}
        self._lock = threading.Lock()
        self.computed = 0  # how many misses were computed (tests)

    def waiting(self, key) -> int:
        """How many callers wait for the computation of ``key`` in progress."""
        with self._lock:
            flight = self._pending.get(key)
            return 0 if flight is None else flight[3]

    def get(self, key, compute):
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            flight = self._pending.get(key)
            owner = flight is None
            if owner:
                flight = self._pending[key] = [threading.Event(), None, None, 0]
            else:
                flight[3] += 1  # callers waiting for it
        if not owner:
            flight[0].wait()
            if flight[2] is not None:
                raise flight[2]
            return flight[1]
        try:
            flight[1] = compute()
            self.computed += 1
        except BaseException as exc:
            flight[2] = exc
            raise
        finally:
            with self._lock:
                del self._pending[key]
                if flight[2] is None:
                    self._done[key] = flight[1]
                    while len(self._done) > self.maxsize:
                        self._done.popitem(last=False)
            flight[0].set()
        return flight[1]


class View:
    """One opened, loaded version and what the routes derive from it.

    Attributes
    ----------
    coll : Collection
    records : list of ImageRecord
        In id order.
    by_sha : dict
        SHA-256 (hex) of a file -> the lowest id with those bytes.
    by_path : dict
        Path inside the photo folder -> id.
    thumbs : SingleFlight
        Thumbnails made on demand (versions indexed before thumbnails were stored).
    extras : imsim.web._views.Extras
        Stored thumbnails, the distance scale, the map's points, the duplicate groups.
    """

    def __init__(self, coll: Collection, thumbs: int):
        self.coll = coll
        self.records = coll.records()
        self.by_sha: dict[str, int] = {}
        for i, r in enumerate(self.records):
            self.by_sha.setdefault(r.sha256, i)
        self.by_path = {r.path: i for i, r in enumerate(self.records)}
        self.thumbs = SingleFlight(thumbs)
        self.extras = _views.Extras(coll, self.records)
        self.photos_root = Path(os.path.realpath(coll.photos_root))
        self.extras.see_through = _alpha.SeeThrough(self)
        self._users = 0
        self._retired = False
        self._groups_lock = threading.Lock()
        self._groups: tuple = (None, None, None)  # (stat stamp, Groups or None, groups id)

    def __len__(self) -> int:
        return len(self.records)

    def groups(self):
        """``(groups, groups_id)``: the groups ``imsim groups`` saved for this version (None
        when there are none) and a name of that file's state, which changes when it is
        written again. One ``stat`` a call; the file is read again only when it changed."""
        path = self.coll.path / GROUPS_FILE
        try:
            st = os.stat(path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._groups_lock:
            if stamp == self._groups[0] and stamp is not None:
                return self._groups[1], self._groups[2]
        groups = self.coll.load_groups() if stamp is not None else None
        gid = None if groups is None else f"{stamp[1]:x}-{stamp[2]:x}-{stamp[0]:x}"
        with self._groups_lock:
            self._groups = (stamp, groups, gid)
        return groups, gid

    def find(self, data: bytes) -> int | None:
        """Id of the collection file with exactly these bytes, or None."""
        return self.by_sha.get(hashlib.sha256(data).hexdigest())


class LiveCollection:
    """The current :class:`View` of the collection at ``path``; see the module's text.

    Parameters
    ----------
    path : path-like
    thumbs : int
        Thumbnails kept in memory per version.
    follow : bool
        False serves the version opened first, whatever ``collection.json`` says later.
    """

    def __init__(self, path, *, thumbs: int = 2048, follow: bool = True):
        self.path = Path(path).expanduser()
        self._thumbs = thumbs
        self._follow = follow
        self._lock = threading.Lock()
        self._stamp = self._pointer_stamp()
        self._view = self._open()
        self._checked = time.monotonic()
        self._loading: threading.Thread | None = None
        self.switches = 0  # versions switched to since start (tests, logs)

    def _pointer_stamp(self):
        try:
            st = os.stat(self.path / POINTER)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _open(self) -> View:
        coll = Collection.open(self.path)
        try:
            coll.load()
            return View(coll, self._thumbs)
        except BaseException:
            coll.close()
            raise

    @property
    def current(self) -> View:
        """The newest loaded view (not held: use :meth:`acquire` in a request)."""
        return self._view

    def acquire(self) -> View:
        """The view a request answers from; give it back with :meth:`release`."""
        self._maybe_reload()
        with self._lock:
            view = self._view
            view._users += 1
        return view

    def release(self, view: View) -> None:
        with self._lock:
            view._users -= 1
            done = view._retired and view._users == 0
        if done:
            view.coll.close()

    async def view(self):
        """A FastAPI dependency: the request's view, released when the request ends.

        Async, so it runs on the event loop: holding a view costs no thread hop.
        """
        view = self.acquire()
        try:
            yield view
        finally:
            self.release(view)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if not self._follow or now - self._checked < CHECK_EVERY:
            return
        self._checked = now
        stamp = self._pointer_stamp()
        with self._lock:
            if stamp == self._stamp or stamp is None or self._loading is not None:
                return
            self._stamp = stamp
            self._loading = threading.Thread(target=self._reload, name="imsim-reload", daemon=True)
            self._loading.start()

    def _reload(self) -> None:
        try:
            new = self._open()
        except Exception as exc:  # noqa: BLE001 - keep serving the version we have
            log.warning("collection.json changed but the new version cannot be opened (%s); "
                        "still serving version %s", exc, self._view.coll.version)
            new = None
        with self._lock:
            self._loading = None
            if new is None or new.coll.version == self._view.coll.version:
                old = new  # nothing to switch to: close what was opened
            else:
                old, self._view = self._view, new
                old._retired = True
                self.switches += 1
                log.info("now serving version %s (%d images)", new.coll.version, len(new))
            close = old is not None and (old is new or old._users == 0)
        if close:
            old.coll.close()

    def wait_loaded(self, timeout: float = 30.0) -> None:
        """Wait for a reload in progress (tests)."""
        thread = self._loading
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        """Close the current view (the server is stopping)."""
        self.wait_loaded()
        with self._lock:
            self._view._retired = True
            idle = self._view._users == 0
        if idle:
            self._view.coll.close()
