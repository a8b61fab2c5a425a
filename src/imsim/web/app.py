"""The web app: one page and a JSON API over a photo collection.

Thin, as the CLI: HTTP in, one :class:`imsim.Collection` call, JSON out. Each
request answers from one immutable version of the collection, loaded before it is
served (:class:`~imsim.web._live.LiveCollection`, which follows ``collection.json`` to
new versions), so requests run concurrently on the server's thread pool without locks.

Safety: images are served by collection id only, never by a client-supplied path, and
only from a regular file inside the photo folder that is still the file indexed;
requests from other sites, other Host names and slow clients are refused and bodies
are bounded while they are read (:class:`~imsim.web._http.Guard`); uploads are decoded
in memory with a pixel cap and a shared memory budget (:mod:`imsim.web._images`) and
never written to disk; every error is JSON with its HTTP status.
"""
from __future__ import annotations

import contextlib
import shlex
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal, Optional

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .._validation import UnreadableImageError
from ..collection import METRICS
from . import _files, _http, _images, _views
from .server import is_loopback
from ._limits import BODY_SLACK, BODY_TIMEOUT, DECODE_MEMORY_MB, MAX_LIST, MAX_N, MAX_PIXELS, MAX_UPLOAD_MB
from ._live import LiveCollection, View
from ._maps import MAP_TSNE_MAX
from ._text import add_text_search
from ._versions import GROUPS_HELP, VERSION_HELP, Stale, add_lookup, check_groups, check_version
from ._schemas import (
    Error,
    GroupInfo,
    GroupsResponse,
    Health,
    Hit,
    ImageInfo,
    ImageList,
    ImageRef,
    SearchParams,
    SearchResponse,
)
from ._schemas import Query as QueryInfo

STATIC = Path(__file__).parent / "static"
MAP_POINTS = 2000  # the map projects a seeded sample of this many images (t-SNE stays seconds)
_THUMB_CACHE = 2048  # thumbnails made on demand kept per version (older versions store none)

MapMethod = Literal["auto", "umap", "tsne", "pca"]


def _errors(*codes: int) -> dict:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    text = {400: "Malformed request", 403: "Refused: a request from another site",
            404: "No such image or resource",
            409: "The photo changed since it was indexed", 413: "Upload too large",
            415: "Not an image / unsupported content type", 422: "Invalid parameters"}
    return {c: {"model": Error, "description": text[c]} for c in codes}


def shell_path(view: View) -> str:
    """The collection's folder as one shell word, for the commands that messages give."""
    return shlex.quote(str(view.coll.path.absolute()))


def _search_body() -> dict:
    """OpenAPI request body of ``POST /api/search`` (the route parses it itself)."""
    fields = SearchParams.model_json_schema()
    image = {"type": "string", "format": "binary",
             "description": "The query photo (JPEG, PNG, WebP, BMP, GIF, TIFF)."}
    multipart = {**fields, "properties": {"image": image, **fields["properties"]}}
    return {"required": True, "content": {
        "multipart/form-data": {"schema": multipart},
        "application/x-www-form-urlencoded": {"schema": fields},
        "application/json": {"schema": fields},
    }}


def create_app(collection_path, *, max_upload_mb: float = MAX_UPLOAD_MB, allowed_hosts=None,
               max_pixels: int = MAX_PIXELS, decode_budget_mb: float = DECODE_MEMORY_MB,
               body_timeout: float = BODY_TIMEOUT, follow: bool = True) -> FastAPI:
    """The web app serving the collection at ``collection_path``.

    Parameters
    ----------
    collection_path : path-like
        A collection made by ``imsim index`` / :meth:`imsim.Collection.build`.
    max_upload_mb : float
        Largest accepted upload, in MiB (1 MiB = 1,048,576 bytes).
    allowed_hosts : iterable of str, optional
        Host names the server answers to (the ``Host`` header); None answers any.
        ``imsim serve`` passes the loopback names, the machine's names and the bind address.
    max_pixels : int
        Largest image decoded (an upload or a photo's thumbnail), in pixels after a
        JPEG's reduced decode.
    decode_budget_mb : float
        MiB of decoded rasters held at once by all requests together; decodes beyond it wait.
    body_timeout : float
        Seconds a client has to send a request body.
    follow : bool
        Switch to the new version when ``collection.json`` changes (``imsim index``).

    Returns
    -------
    fastapi.FastAPI
        ``app.state.live`` is the :class:`~imsim.web._live.LiveCollection`;
        ``app.state.live.current.coll`` the opened :class:`imsim.Collection`.

    Raises
    ------
    FileNotFoundError, DataFormatError
        ``collection_path`` is not a readable collection.
    ValueError
        A limit that is not a positive finite number.
    """
    for name, value in (("max_upload_mb", max_upload_mb), ("max_pixels", max_pixels),
                        ("decode_budget_mb", decode_budget_mb), ("body_timeout", body_timeout)):
        if not (isinstance(value, (int, float)) and 0 < value < float("inf")):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    max_file = int(max_upload_mb * 1024 * 1024)
    budget = _images.DecodeBudget(int(decode_budget_mb * 2**20))
    live = LiveCollection(collection_path, thumbs=_THUMB_CACHE, follow=follow)
    _images.tune_malloc()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        live.close()

    app = FastAPI(
        title="imsim", version=__version__, lifespan=lifespan,
        description="Query a photo collection by image: upload a photo or pick a collection "
                    "image, get the most similar images. Errors are JSON with their HTTP "
                    "status: `{\"detail\": \"a message\", \"error\": \"a code\", ...}` "
                    "and the code's fields (the `Error` schema).",
        # Swagger UI and ReDoc load their scripts from a CDN: this server loads nothing
        # from outside, so the schema is served as JSON only.
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.live = live
    app.state.budget = budget
    app.add_middleware(_http.Guard, max_body=max_file + BODY_SLACK, allowed_hosts=allowed_hosts,
                       body_timeout=body_timeout)
    app.add_exception_handler(StarletteHTTPException, _http.http_error)
    app.add_exception_handler(RequestValidationError, _http.validation_error)
    app.add_exception_handler(Exception, _http.server_error)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    current = Depends(live.view)  # the version a request answers from, held until it ends
    add_text_search(app, current)
    add_lookup(app, current)

    def record(view: View, image_id: int):
        if not 0 <= image_id < len(view):
            raise HTTPException(404, f"no image with id {image_id}: this collection holds ids "
                                     f"0..{len(view) - 1}")
        return view.records[image_id]

    def groups_or_404(view: View):
        groups, groups_id = view.groups()
        if groups is None:
            raise HTTPException(404, f"no groups computed for version {view.coll.version} of this "
                                     f"collection: run `imsim groups -c {shell_path(view)}`")
        return groups, groups_id

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/health", response_model=Health, tags=["collection"])
    def health(request: Request, view: View = current):
        """Liveness, and what the page needs to know about the collection."""
        coll, n_images = view.coll, len(view)
        s = coll.settings
        groups, groups_id = view.groups()
        # the folder, for the commands the page advises, only to a browser on this machine
        local = request.client is not None and is_loopback(request.client.host)
        return Health(status="ok", collection=coll.path.name,
                      collection_path=str(coll.path.absolute()) if local else None,
                      version=coll.version, n_images=n_images, metric=s.metric, metrics=list(METRICS),
                      n_cached=s.n_cached, max_n=MAX_N, max_upload_bytes=max_file,
                      has_groups=groups is not None, groups_id=groups_id, imsim_version=__version__)

    def run_search(view: View, image, params: SearchParams) -> SearchResponse:
        start = time.perf_counter()
        upload = not isinstance(image, int)
        if upload and (found := view.find(image)) is not None:
            image = found  # a collection file: answered as its id, nothing to decode
        try:
            if isinstance(image, int):
                result = view.coll.query(image, params.n, metric=params.metric,
                                         verify=params.verify)
            else:
                payload, cost = _images.reduced_upload(image, view.coll.settings.size,
                                                       max_pixels=max_pixels, budget=budget)
                with budget.reserve(cost):
                    result = view.coll.query(payload, params.n, metric=params.metric,
                                             verify=params.verify)
        except UnreadableImageError as exc:
            raise HTTPException(415, str(exc)) from None
        elapsed = (time.perf_counter() - start) * 1e3
        hits = [Hit(rank=rank, id=h.id, relpath=h.relpath, distance=h.distance,
                    similarity=h.similarity, label=h.label, verified=h.verified,
                    same_layout=h.same_layout, thumbnail_url=view.extras.url(h.id),
                    image_url=f"/api/images/{h.id}?size=original")
                for rank, h in enumerate(result.hits, 1)]
        qid = result.query_id
        query = QueryInfo(kind="upload" if upload else "id", id=qid,
                          relpath=None if qid is None else view.records[qid].path)
        return SearchResponse(version=view.coll.version, query=query, metric=result.metric, n=params.n, mode=result.mode,
                              elapsed_ms=round(elapsed, 3), results=hits,
                              typical_distance=view.extras.typical(result.metric))

    @app.post("/api/search", response_model=SearchResponse, tags=["search"],
              responses=_errors(400, 403, 404, 413, 415, 422), openapi_extra={"requestBody": _search_body()})
    async def search(request: Request, view: View = current):
        """The collection images most like a query, nearest first.

        The query is an uploaded image (multipart field ``image``) or a collection image
        (field ``id``; the image itself is left out of its results). ``n`` and ``metric``
        are optional. Send a multipart form, a urlencoded form or a JSON object.
        """
        params, data = await _http.read_search_request(request, max_file)
        if data is None:
            check_version(view, params.version)
            record(view, params.id)
            return await run_in_threadpool(run_search, view, params.id, params)
        return await run_in_threadpool(run_search, view, data, params)

    @app.get("/api/images", response_model=ImageList, tags=["collection"], responses=_errors(404, 422))
    def list_images(offset: int = Query(0, ge=0), limit: int = Query(60, ge=1, le=MAX_LIST),
                    group: Optional[int] = Query(None, ge=0, description="Only this group's members "
                                                                          "(see /api/groups)."),
                    embed: Optional[Literal["thumbnail", "thumbnail-2x"]] = Query(
                        None, description="Also give each image's stored thumbnail of this size "
                                          "as a data: URI (one answer for a page of tiles)."),
                    version: Optional[str] = Query(None, max_length=64, description=VERSION_HELP),
                    groups_id: Optional[str] = Query(None, max_length=64, description=GROUPS_HELP),
                    view: View = current):
        """The collection's images in id order (or one group's), a page at a time."""
        check_version(view, version)
        records = view.records
        if group is None:
            ids, groups_id = range(len(view)), None
        else:
            check_groups(view, groups_id)
            groups, groups_id = groups_or_404(view)
            found = next((g for g in groups.groups if g.index == group), None)
            if found is None:
                raise HTTPException(404, f"no group {group}: there are {len(groups.groups)} groups "
                                         f"(0..{len(groups.groups) - 1})")
            ids = found.members
        extras = view.extras
        items = [ImageInfo(id=i, relpath=records[i].path, label=records[i].label,
                           width=records[i].width, height=records[i].height,
                           thumbnail_url=extras.url(i),
                           thumbnail_data=extras.data_uri(i, embed) if embed else None)
                 for i in ids[offset:offset + limit]]
        return ImageList(version=view.coll.version, groups_id=groups_id, total=len(ids), offset=offset, limit=limit, items=items)

    def thumbnail(view: View, image_id: int, size: str) -> tuple[bytes, str]:
        stored = view.extras.stored(image_id, size)
        if stored is not None:
            return stored

        def make():  # a version indexed before thumbnails were stored, or a file unread then
            rec = view.records[image_id]
            with _files.open_photo(view, rec) as fp:
                return _images.make_thumbnail(fp, rec.width, rec.height,
                                              max_side=_views.THUMB_SIDES[size],
                                              max_pixels=max_pixels, budget=budget,
                                              what=f"image {image_id} ({rec.path})")
        return view.thumbs.get((image_id, size), make)  # decoded once, even when asked concurrently

    @app.get("/api/images/{image_id}", tags=["collection"], response_class=Response,
             responses={200: {"content": {"image/jpeg": {}, "image/png": {}},
                              "description": "The image"}, **_errors(404, 409, 413, 415, 422)})
    def image(request: Request, image_id: int,
              size: Literal["thumbnail", "thumbnail-2x", "original"] = Query(
                  "thumbnail", description="'thumbnail' (longest side at most 160 px), "
                                           "'thumbnail-2x' (320 px, for 2x screens) or "
                                           "'original' (the file)."),
              h: Optional[str] = Query(None, max_length=64,
                                       description="The photo's content hash as the listings "
                                                   "give it: the answer is then cached for good; "
                                                   "409 when the id now names another photo."),
              version: Optional[str] = Query(None, max_length=64, description=VERSION_HELP),
              view: View = current):
        """One collection image by id: a thumbnail, or the original file.

        Thumbnails are made at index time and stored in the version. Only a regular file
        inside the photo folder that is still the file indexed (same size and
        modification time) is read: 404 when it is gone or leads outside, 409 when it
        changed since ``imsim index``.
        """
        check_version(view, version)
        rec = record(view, image_id)
        if h is not None and h != view.extras.hash(image_id):
            raise Stale(f"image {image_id} is another photo in version {view.coll.version} of the "
                        f"collection than the one asked for", error="image_changed",
                        current_version=view.coll.version)
        if size == "original":
            return _files.original_response(view, rec)
        # named by content: the same id in a later version is another photo, another tag
        digest = view.extras.hash(image_id)
        etag = f'"{digest}-{size}"'
        headers = {"ETag": etag, "Cache-Control": _views.IMMUTABLE if h == digest else "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        data, media = thumbnail(view, image_id, size)
        return Response(data, media_type=media, headers=headers)

    @app.get("/api/map/points", tags=["collection"], responses=_errors(422))
    def map_points(method: MapMethod = Query("auto", description="2-D projection: 'auto' is UMAP "
                                                                   "when installed, else t-SNE up "
                                                                   f"to {MAP_TSNE_MAX:,} "
                                                                   "images, else PCA."),
                   refined: bool = Query(False, description="'auto' only: answer the refined layout, "
                                                            "or `{\"refining\": true}` while it is "
                                                            "still being computed."),
                   view: View = current):
        """Every image's position on the 2-D latent map, for the page to draw.

        Compact arrays, point ``i`` being image id ``i``: ``x``, ``y`` (integers
        0..65535, one scale for both axes), ``color`` (index into ``legend``, -1 for
        none; groups when computed, else labels), ``relpaths``; ``version`` and
        ``groups_id`` name what the ids and colours come from. Layouts are computed
        on first request for this version and kept. 'auto' on more than
        500 images answers PCA at once with ``"refining": true`` and computes
        the refined layout in the background: ask again with ``refined=true``.
        """
        groups, groups_id = view.groups()
        try:
            return Response(view.extras.points.answer(method, groups, groups_id, refined=refined),
                            media_type="application/json")
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/api/duplicates", tags=["collection"], responses=_errors(422))
    def duplicates(threshold: Optional[float] = Query(
            None, description="Largest distance between duplicates, in the collection's metric "
                              "(default: the threshold calibrated for its encoder)."),
                   view: View = current):
        """Groups of images that are (near-)duplicates of each other, largest first:
        ``{"threshold", "metric", "groups": [{"ids", "relpaths"}]}``."""
        return view.extras.duplicates(threshold)

    @app.get("/api/groups", response_model=GroupsResponse, tags=["collection"], responses=_errors(404))
    def groups(view: View = current):
        """The groups of similar images computed by ``imsim groups`` on this version."""
        g, groups_id = groups_or_404(view)
        records = view.records
        return GroupsResponse(
            k=g.k, method=g.method, metric=g.metric, version=g.version, groups_id=groups_id,
            elbow=g.elbow,
            groups=[GroupInfo(group=x.index, size=x.size, members=x.members,
                              representative=ImageRef(id=x.representative,
                                                      relpath=records[x.representative].path))
                    for x in g.groups])

    map_lock = threading.Lock()
    maps: dict = {}

    @app.get("/api/map", tags=["collection"], response_class=Response,
             responses={200: {"content": {"image/png": {}}, "description": "PNG"}, **_errors(422)})
    def latent_map(method: MapMethod = Query("auto", description="2-D projection: 'auto' is UMAP "
                                                                   "when installed, else t-SNE."),
                   view: View = current):
        """The 2-D map of the collection's latent space (PNG), coloured by label or group.

        Drawn on the first request (seconds) and kept; a seeded sample of at most
        2,000 images is mapped.
        """
        from ..report.map_plots import collection_map

        coll = view.coll
        key = (coll.version, method, view.groups()[1])
        with map_lock:  # one projection at a time; later requests reuse it
            if key not in maps:
                with tempfile.TemporaryDirectory(prefix="imsim-map-") as tmp:
                    try:
                        info = collection_map(coll, Path(tmp) / "map.png", method=method,
                                              max_points=MAP_POINTS, n_thumbnails=40)
                    except ValueError as exc:
                        raise HTTPException(422, str(exc)) from None
                    maps[key] = info["path"].read_bytes()
        return Response(maps[key], media_type="image/png", headers={"Cache-Control": "no-cache"})

    return app
