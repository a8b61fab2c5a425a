"""Output writes: what imsim does with the path a user names as an output.

The policy (docs/DESIGN.md, "What imsim reads and writes"):

- a **regular file** (or a new name) is written atomically: a temporary file beside
  it, fsync'ed, renamed over it, then the folder fsync'ed. A failed write leaves the
  old file (or nothing) behind, never half a file;
- a **symlink** is followed: its final target is written as above and the link
  stays a link;
- a **device node, FIFO or socket** (``-o /dev/null``, ``-o /dev/stdout``, a named
  pipe) is written through, in place: never replaced by a regular file;
- a **folder** is refused before anything is written;
- an output that is **the same file as an input** of the command is refused
  (:func:`check_output`), so a typo never overwrites the data being read.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path


def fsync_dir(path) -> None:
    """fsync the folder ``path`` so the renames inside it survive a power cut."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _fsync_file(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _final_target(path: Path) -> Path:
    """``path`` with symlinks resolved (a dangling link names the file to create)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


DEFAULT_MAX_TEXT_BYTES = 256 * 2**20


def read_text_file(path, what: str = "file") -> str:
    """The UTF-8 text of the user's file ``path``, read only when it is a regular file
    of at most ``IMSIM_MAX_TEXT_BYTES`` (default 256 MiB).

    Raises FileNotFoundError / IsADirectoryError naming ``what``, or DataFormatError
    for a device, FIFO, an over-long file or bytes that are not UTF-8.
    """
    from ._validation import DataFormatError, check_file, env_int

    p = check_file(path, what)
    cap = env_int("IMSIM_MAX_TEXT_BYTES", DEFAULT_MAX_TEXT_BYTES)
    with open(p, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise DataFormatError(f"{p}: {what} is not a regular file")
        data = f.read(cap + 1)
    if len(data) > cap:
        raise DataFormatError(f"{p}: {what} is longer than {cap:,} bytes "
                              f"(raise the limit with IMSIM_MAX_TEXT_BYTES)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DataFormatError(f"{p}: not a text file") from None


def check_output(path, *inputs) -> Path:
    """Refuse an output path that is a folder or the same file as one of ``inputs``.

    Returns ``path`` as a Path. Call it before reading the inputs.

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder.
    ValueError
        ``path`` is the same file as an input (same device and inode, through links).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"output {path} is a folder; give a file name")
    for item in inputs:
        if item is None:
            continue
        with contextlib.suppress(OSError):
            if path.exists() and os.path.samefile(path, Path(item).expanduser()):
                raise ValueError(f"output {path} is the same file as the input {item}; "
                                 f"give another output name")
    return path


@contextlib.contextmanager
def atomic_path(path):
    """Yield the path to write ``path``'s new content to; commit it on success.

    For a regular (or new) file: a temporary path beside the final target, fsync'ed
    and renamed onto it on success, removed on any exception (``path`` untouched).
    For a device node, FIFO or socket: ``path`` itself (written through). A folder
    is refused with IsADirectoryError before anything is created.
    """
    path = _final_target(Path(path).expanduser())
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(f"output {path} is a folder; give a file name")
    if mode is not None and not stat.S_ISREG(mode):
        with _naming(path, path):
            yield path  # /dev/null, /dev/stdout, a FIFO: write in place, never replace it
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600; give the file the permissions a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp = Path(tmp)
    try:
        with _naming(path, tmp):
            yield tmp
            _fsync_file(tmp)
            os.replace(tmp, path)
            fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _naming(path: Path, written: Path):
    """An OSError while writing ``written`` for ``path`` (a full disk, a quota: the
    bare "[Errno 28] No space left on device") re-raised naming ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.filename not in (None, str(written), written) or exc.errno is None:
            raise
        why = exc.strerror or str(exc)
        named = type(exc)(f"cannot write {path}: {why[:1].lower()}{why[1:]}")
        named.errno = exc.errno
        raise named from exc


def write_bytes_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_home() -> Path:
    """imsim's data folder: ``$IMSIM_HOME``, ``$XDG_DATA_HOME/imsim`` or ``~/.local/share/imsim``."""
    if os.environ.get("IMSIM_HOME"):
        return Path(os.environ["IMSIM_HOME"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data).expanduser() / "imsim"
