"""The web API's errors: one JSON shape for every status.

Every error answer is an object with a one-line message a person can read and a code a
program (the page) can branch on, plus the fields that code carries::

    {"detail": "the image is 40,000,000 bytes; this server accepts uploads up to ...",
     "error": "too_large", "size": 40000000, "limit": 33554432, "unit": "bytes",
     "option": "--max-upload-mb"}

``error`` is the status's code (:data:`CODES`) unless the raiser names a narrower one
(``version_changed``, ``groups_changed`` for 409: see :mod:`imsim.web._versions`).
Fields by code: ``too_large`` (413) has ``limit`` and ``unit`` (``"bytes"`` or
``"pixels"``), ``size`` when known (with ``"at_least": true`` when the body was cut off
past the limit), and ``option``, the ``imsim serve`` option that raises the limit (none
for the library's byte cap on a photo file, ``IMSIM_MAX_IMAGE_BYTES``);
``invalid`` (422) has ``errors``, one entry per field, when the request's fields failed
their declared types and ranges (a value the library refuses, such as a negative
duplicates threshold, is ``invalid`` with the library's message only).
"""
from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse

#: the ``error`` code of each status, when the raiser names none
CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         408: "timeout", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
         422: "invalid", 500: "internal_error"}


class ApiError(HTTPException):
    """An HTTP error whose JSON body carries ``error`` (a code) and ``fields`` beside the
    message (``detail``)."""

    def __init__(self, status: int, detail: str, *, error: str | None = None, headers=None,
                 **fields):
        super().__init__(status, detail, headers=headers)
        self.error = error
        self.fields = fields


def code_of(status: int) -> str:
    return CODES.get(status, f"http_{status}")


def error_response(status: int, detail: str, *, error: str | None = None, **fields) -> JSONResponse:
    """The JSON answer of an error (see the module docstring)."""
    return JSONResponse({"detail": detail, "error": error or code_of(status), **fields},
                        status_code=status)


def too_large(detail: str, *, limit: int, unit: str, option: str, size: int | None = None,
              at_least: bool = False) -> ApiError:
    """413 with the fields the page words its advice from."""
    fields = {"size": size} if size is not None else {}
    if at_least:
        fields["at_least"] = True
    return ApiError(413, detail, error="too_large", limit=limit, unit=unit, option=option, **fields)
