"""The web page and JSON API over a photo collection (``imsim serve``).

:func:`create_app` builds the FastAPI app; :class:`WebServer` runs it with uvicorn.
Importing them loads FastAPI; ``import imsim`` does not, nor does reading the server's
default limits (``MAX_UPLOAD_MB``, ``MAX_PIXELS``, ``DECODE_MEMORY_MB``, from
:mod:`imsim.web._limits`), which ``imsim serve`` shows in its help.
"""
from __future__ import annotations

from ._limits import DECODE_MEMORY_MB, MAX_PIXELS, MAX_UPLOAD_MB

__all__ = ["create_app", "WebServer", "is_loopback", "MAX_UPLOAD_MB", "MAX_PIXELS", "DECODE_MEMORY_MB"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app
        return create_app
    if name in ("WebServer", "is_loopback"):
        from . import server
        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
