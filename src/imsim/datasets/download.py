"""Downloads for the catalog: stream a URL to a file with a progress bar, verify a checksum."""
from __future__ import annotations

import hashlib
from pathlib import Path

from .._progress import progress
from .._validation import DataFormatError

DOWNLOAD_TIMEOUT_S = 30.0

__all__ = ["ChecksumError", "DOWNLOAD_TIMEOUT_S", "fetch", "verify", "http_reason"]


class ChecksumError(DataFormatError):
    """A downloaded file does not have the published checksum."""


def http_reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    if reason is not None and not getattr(exc, "code", None):  # URLError: unwrap the socket error
        return str(getattr(reason, "strerror", None) or reason)
    return str(exc) or type(exc).__name__


def fetch(url: str, dest: Path, desc: str) -> None:
    """Stream ``url`` into ``dest`` with a progress bar; OSError on any failure."""
    import urllib.request

    from .. import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"imsim/{__version__}"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response, \
            open(dest, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        written = 0
        with progress(total=total, desc=desc, unit="B") as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    if total is not None and written != total:
        raise OSError(f"connection closed after {written} of {total} bytes")


def _digest(path: Path, kind: str) -> str:
    """Hex digest of ``path``: MD5 of its bytes, or SHA-256 of its gunzipped bytes."""
    import gzip
    import zlib

    if kind == "md5":
        h = hashlib.md5(usedforsecurity=False)
        stream = open(path, "rb")
    else:
        h = hashlib.sha256()
        stream = gzip.open(path, "rb")
    try:
        with stream:
            while block := stream.read(1 << 20):
                h.update(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise ChecksumError(f"not a valid gzip file ({exc})") from None
    return h.hexdigest()


def verify(path: Path, expected: tuple[str, str]) -> None:
    kind, digest = expected
    got = _digest(path, kind)
    if got != digest:
        label = "SHA-256 of the decompressed content" if kind == "content-sha256" else "MD5"
        raise ChecksumError(f"checksum mismatch: {label} is {got[:12]}..., expected {digest[:12]}...")
