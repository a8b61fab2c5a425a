"""HTTP plumbing of the web app: the request guard, bounded form parsing, JSON errors
(their shape: :mod:`imsim.web._errors`)."""
from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from ._errors import ApiError, error_response, too_large
from ._limits import BODY_SLACK, BODY_TIMEOUT, MAX_FIELDS
from ._schemas import SearchParams

# Pages and images come only from this server; no inline script, no framing.
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
     b"frame-ancestors 'none'; form-action 'self'"),
    # other sites may not embed or read anything this server returns (images included)
    (b"cross-origin-resource-policy", b"same-origin"),
]
_SAFE_METHODS = (b"GET", b"HEAD", b"OPTIONS")


class Guard:
    """Pure ASGI middleware in front of every request.

    * rejects a ``Host`` header outside ``allowed_hosts`` (400), so a web page that
      rebinds its own DNS name to this server's address cannot read it;
    * refuses requests made by pages of other sites (403): a browser says so in
      ``Sec-Fetch-Site`` (anything but ``same-origin`` or ``none``; only a top-level
      navigation to the page itself is let through) and, for a POST, in ``Origin``
      (which must be this server's own). Clients that are not browsers send neither;
    * limits the request body to ``max_body`` bytes (413): a declared
      ``Content-Length`` is refused before anything is read, a chunked body as soon as
      the bytes received pass the limit, so no body larger than the limit is ever held;
    * gives the client ``body_timeout`` seconds to send the whole body (408);
    * adds the security headers (``Cross-Origin-Resource-Policy: same-origin`` among
      them) to every response.
    """

    def __init__(self, app, *, max_body: int, allowed_hosts=None, body_timeout: float = BODY_TIMEOUT):
        self.app = app
        self.max_body = max_body
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.body_timeout = body_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + _SECURITY_HEADERS
            await send(message)

        async def refuse(status: int, detail: str, **fields):
            await error_response(status, detail, **fields)(scope, receive, send_with_headers)

        headers = dict(scope["headers"])
        raw_host = headers.get(b"host", b"").decode("latin-1")
        if self.allowed_hosts is not None and "*" not in self.allowed_hosts:
            host = _host_name(raw_host)
            if host not in self.allowed_hosts:
                return await refuse(400, f"host {host!r} is not served here (the server's "
                                         f"--allow-host option adds a name)",
                                    error="host_not_served", host=host)
        refusal = _cross_site(scope, headers, raw_host)
        if refusal:
            return await refuse(403, refusal, error="cross_site")
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return await refuse(400, "Content-Length is not a number")
            if length > self.max_body:
                exc = _too_large(length, self.max_body)
                return await refuse(413, exc.detail, error=exc.error, **exc.fields)

        received, complete = 0, False
        deadline = time.monotonic() + self.body_timeout

        async def bounded_receive():
            nonlocal received, complete
            if complete:  # the body is in: later receives wait for a disconnect, unbounded
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0))
            except asyncio.TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within "
                                         f"{self.body_timeout:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_body:
                    # raised inside the endpoint's read: the app's handler answers 413
                    raise _too_large(received, self.max_body, at_least=True)
            return message

        await self.app(scope, bounded_receive, send_with_headers)


def _cross_site(scope, headers: dict, host: str) -> str | None:
    """Why a request made by another site's page is refused, or None to serve it."""
    site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
    method = scope["method"].encode()
    if site not in ("", "same-origin", "none"):
        navigation = (headers.get(b"sec-fetch-mode", b"") == b"navigate" and method in _SAFE_METHODS
                      and scope["path"] == "/")
        if not navigation:
            return f"refused: a request made by a page of another site ({site})"
    origin = headers.get(b"origin")
    if origin is not None and method not in _SAFE_METHODS:
        # the scheme is left out: behind a TLS proxy the browser's is https, ours http
        if urlsplit(origin.decode("latin-1").strip().lower()).netloc != host.strip().lower():
            return f"refused: a {scope['method']} from another origin ({origin.decode('latin-1')})"
    return None


def _host_name(host: str) -> str:
    """The name part of a Host header: ``[::1]:8000`` -> ``::1``, ``a:80`` -> ``a``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _too_large(size: int, max_body: int, *, at_least: bool = False) -> ApiError:
    """413 for a request body of ``size`` bytes (at least) over ``max_body``: the limit
    named is the upload's (``max_body`` less the slack for form fields)."""
    limit = max(max_body - BODY_SLACK, 0)
    return too_large(f"request body is {'over ' if at_least else ''}{size:,} bytes; this server "
                     f"accepts uploads up to {limit:,} bytes", size=size, limit=limit, unit="bytes",
                     option="--max-upload-mb", at_least=at_least)


class _InMemoryMultiPartParser(MultiPartParser):
    # The guard has bounded the body already, so an uploaded file never needs to
    # spill to a temporary file on disk: it stays in memory.
    spool_max_size = sys.maxsize


async def read_search_request(request: Request, max_file_bytes: int
                              ) -> tuple[SearchParams, bytes | None]:
    """Parse a search request: multipart form, urlencoded form or JSON.

    Returns the validated fields and the uploaded image's bytes (None without one).
    Raises HTTPException 400 (malformed body), 413 (image over ``max_file_bytes``),
    415 (another content type) or RequestValidationError (422: invalid fields).
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    upload = None
    if media == "multipart/form-data":
        try:
            form = await _InMemoryMultiPartParser(request.headers, request.stream(),
                                                  max_files=1, max_fields=MAX_FIELDS).parse()
        except MultiPartException as exc:
            raise HTTPException(400, f"malformed multipart body: {exc.message}") from None
        fields = _single_values(form.multi_items())
        upload = fields.pop("image", None)
    elif media == "application/x-www-form-urlencoded":
        try:
            form = await FormParser(request.headers, request.stream(), max_fields=MAX_FIELDS).parse()
        except MultiPartException as exc:
            raise HTTPException(400, f"malformed form body: {exc.message}") from None
        fields = _single_values(form.multi_items())
    elif media == "application/json":
        try:
            fields = json.loads(await request.body())
        except ValueError as exc:
            raise HTTPException(400, f"malformed JSON body: {exc}") from None
        except RecursionError:
            raise HTTPException(400, "malformed JSON body: nested too deeply") from None
        if not isinstance(fields, dict):
            raise HTTPException(400, f"the JSON body must be an object, got {type(fields).__name__}")
    else:
        raise HTTPException(415, f"send multipart/form-data (an image), "
                                 f"application/x-www-form-urlencoded or application/json, "
                                 f"not {media or 'no content type'!r}")
    if any(isinstance(v, UploadFile) for v in fields.values()):
        name = next(k for k, v in fields.items() if isinstance(v, UploadFile))
        raise HTTPException(400, f"unexpected file field {name!r}: send the image as 'image'")
    if upload is not None and not isinstance(upload, UploadFile):
        raise HTTPException(400, "'image' must be a file part (with a filename), not a text field")
    try:
        params = SearchParams.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None

    data = None
    if upload is not None:
        if upload.size is not None and upload.size > max_file_bytes:
            raise too_large(f"the image is {upload.size:,} bytes; this server accepts uploads up "
                            f"to {max_file_bytes:,} bytes", size=upload.size, limit=max_file_bytes,
                            unit="bytes", option="--max-upload-mb")
        data = await upload.read()
    if (data is None) == (params.id is None):
        raise HTTPException(400, "give either an image file ('image') or a collection image id "
                                 "('id'), not both" if data is not None
                                 else "give an image file ('image') or a collection image id ('id')")
    return params, data


def _single_values(items) -> dict:
    fields: dict = {}
    for key, value in items:
        if key in fields:
            raise HTTPException(400, f"field {key!r} is given more than once")
        fields[key] = value
    return fields


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # an ApiError carries its code and fields (a 413 its limit, a 409 the versions)
    response = error_response(exc.status_code, str(exc.detail), error=getattr(exc, "error", None),
                              **getattr(exc, "fields", {}))
    response.headers.update(exc.headers or {})  # e.g. Allow on 405
    return response


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p not in ("body", "query", "path"))
    return error_response(422, f"{where}: {first['msg']}" if where else first["msg"],
                          errors=jsonable_encoder(errors))


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500, f"internal error ({type(exc).__name__}); see the server's log")
