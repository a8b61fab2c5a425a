"""The web page and JSON API over a photo collection (``imsim serve``).

:func:`create_app` builds the FastAPI app; :class:`WebServer` runs it with uvicorn.
Importing this package loads FastAPI; ``import imsim`` does not.
"""
from .app import create_app
from .server import WebServer, is_loopback

__all__ = ["create_app", "WebServer", "is_loopback"]
