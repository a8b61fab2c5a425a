"""The web app: one page and a JSON API over a photo collection.

Thin, as the CLI: HTTP in, one :class:`imsim.Collection` call, JSON out. The
collection is opened once and only read while serving (its versions are immutable),
so requests run concurrently on the server's thread pool without locks; everything
the collection loads lazily is loaded before the first request.

Safety: images are served by collection id only, never by a client-supplied path;
request bodies are bounded while they are read (:class:`~imsim.web._http.Guard`);
uploads are decoded in memory by :func:`imsim.datasets.folder.load_image` with
Pillow's decompression-bomb guard on and are never written to disk; every error is
JSON with its HTTP status.
"""
from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal, Optional

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .._validation import UnreadableImageError
from ..collection import METRICS, Collection
from . import _http, _images, _views
from ._schemas import (
    MAX_LIST,
    MAX_N,
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

MapMethod = Literal["auto", "umap", "tsne", "pca"]


def _errors(*codes: int) -> dict:
    """OpenAPI ``responses`` entries for the error statuses a route can answer."""
    text = {400: "Malformed request", 404: "No such image or resource", 413: "Upload too large",
            415: "Not an image / unsupported content type", 422: "Invalid parameters"}
    return {c: {"model": Error, "description": text[c]} for c in codes}


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


def create_app(collection_path, *, max_upload_mb: float = 10, allowed_hosts=None) -> FastAPI:
    """The web app serving the collection at ``collection_path``.

    Parameters
    ----------
    collection_path : path-like
        A collection made by ``imsim index`` / :meth:`imsim.Collection.build`.
    max_upload_mb : float
        Largest accepted upload, in MiB (1 MiB = 1,048,576 bytes).
    allowed_hosts : iterable of str, optional
        Host names the server answers to (the ``Host`` header); None answers any.
        ``imsim serve`` on a loopback address passes the loopback names.

    Returns
    -------
    fastapi.FastAPI
        ``app.state.collection`` is the opened :class:`imsim.Collection`.

    Raises
    ------
    FileNotFoundError, DataFormatError
        ``collection_path`` is not a readable collection.
    """
    if not max_upload_mb > 0:
        raise ValueError(f"max_upload_mb must be a positive number of MiB, got {max_upload_mb!r}")
    max_file = int(max_upload_mb * 1024 * 1024)
    coll = Collection.open(collection_path)
    records = coll.records()
    n_images = len(records)
    _warm_up(coll)
    thumbs = _views.Thumbs(coll, records)
    typical = _views.Cached(lambda metric: _views.typical_distance(coll, metric))
    points = _views.Cached(lambda method: _views.map_points(coll, records, method=method))
    dups = _views.Cached(lambda threshold: _views.duplicates(coll, threshold))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        coll.close()

    app = FastAPI(
        title="imsim", version=__version__, lifespan=lifespan,
        description="Query a photo collection by image: upload a photo or pick a collection "
                    "image, get the most similar images. Errors are JSON `{\"detail\": ...}` "
                    "with their HTTP status.",
        # Swagger UI and ReDoc load their scripts from a CDN: this server loads nothing
        # from outside, so the schema is served as JSON only.
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.collection = coll
    app.add_middleware(_http.Guard, max_body=max_file + _http.BODY_SLACK, allowed_hosts=allowed_hosts)
    app.add_exception_handler(StarletteHTTPException, _http.http_error)
    app.add_exception_handler(RequestValidationError, _http.validation_error)
    app.add_exception_handler(Exception, _http.server_error)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def record(image_id: int):
        if not 0 <= image_id < n_images:
            raise HTTPException(404, f"no image with id {image_id}: this collection holds ids "
                                     f"0..{n_images - 1}")
        return records[image_id]

    def groups_or_404():
        groups = coll.load_groups()
        if groups is None:
            raise HTTPException(404, f"no groups computed for version {coll.version} of this "
                                     f"collection: run `imsim groups -c {coll.path.name}`")
        return groups

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/health", response_model=Health, tags=["collection"])
    def health():
        """Liveness, and what the page needs to know about the collection."""
        s = coll.settings
        return Health(status="ok", collection=coll.path.name, version=coll.version,
                      n_images=n_images, metric=s.metric, metrics=list(METRICS),
                      n_cached=s.n_cached, max_n=MAX_N, max_upload_bytes=max_file,
                      has_groups=coll.load_groups() is not None, imsim_version=__version__)

    def run_search(image, params: SearchParams) -> SearchResponse:
        start = time.perf_counter()
        try:
            result = coll.query(image, params.n, metric=params.metric)
        except UnreadableImageError as exc:
            raise HTTPException(415, str(exc)) from None
        elapsed = (time.perf_counter() - start) * 1e3
        hits = [Hit(rank=rank, id=h.id, relpath=h.relpath, distance=h.distance,
                    similarity=h.similarity, label=h.label, thumbnail_url=thumbs.url(h.id),
                    image_url=f"/api/images/{h.id}?size=original")
                for rank, h in enumerate(result.hits, 1)]
        qid = result.query_id
        query = QueryInfo(kind="id" if isinstance(image, int) else "upload", id=qid,
                          relpath=None if qid is None else records[qid].path)
        return SearchResponse(query=query, metric=result.metric, n=params.n, mode=result.mode,
                              elapsed_ms=round(elapsed, 3), results=hits,
                              typical_distance=typical(result.metric))

    @app.post("/api/search", response_model=SearchResponse, tags=["search"],
              responses=_errors(400, 404, 413, 415, 422), openapi_extra={"requestBody": _search_body()})
    async def search(request: Request):
        """The collection images most like a query, nearest first.

        The query is an uploaded image (multipart field ``image``) or a collection image
        (field ``id``; the image itself is left out of its results). ``n`` and ``metric``
        are optional. Send a multipart form, a urlencoded form or a JSON object.
        """
        params, data = await _http.read_search_request(request, max_file)
        if data is None:
            record(params.id)
            return await run_in_threadpool(run_search, params.id, params)
        _images.check_upload(data)
        return await run_in_threadpool(run_search, data, params)

    @app.get("/api/images", response_model=ImageList, tags=["collection"], responses=_errors(404, 422))
    def list_images(offset: int = Query(0, ge=0), limit: int = Query(60, ge=1, le=MAX_LIST),
                    group: Optional[int] = Query(None, ge=0, description="Only this group's members "
                                                                          "(see /api/groups)."),
                    embed: Optional[Literal["thumbnail", "thumbnail-2x"]] = Query(
                        None, description="Also give each image's stored thumbnail of this size "
                                          "as a data: URI (one answer for a page of tiles).")):
        """The collection's images in id order (or one group's), a page at a time."""
        if group is None:
            ids = range(n_images)
        else:
            groups = groups_or_404()
            found = next((g for g in groups.groups if g.index == group), None)
            if found is None:
                raise HTTPException(404, f"no group {group}: there are {len(groups.groups)} groups "
                                         f"(0..{len(groups.groups) - 1})")
            ids = found.members
        items = [ImageInfo(id=i, relpath=records[i].path, label=records[i].label,
                           width=records[i].width, height=records[i].height,
                           thumbnail_url=thumbs.url(i),
                           thumbnail_data=thumbs.data_uri(i, embed) if embed else None)
                 for i in ids[offset:offset + limit]]
        return ImageList(total=len(ids), offset=offset, limit=limit, items=items)

    @app.get("/api/images/{image_id}", tags=["collection"], response_class=Response,
             responses={200: {"content": {"image/jpeg": {}, "image/png": {}},
                              "description": "The image"}, **_errors(404, 422)})
    def image(request: Request, image_id: int,
              size: Literal["thumbnail", "thumbnail-2x", "original"] = Query(
                  "thumbnail", description="'thumbnail' (longest side at most 160 px), "
                                           "'thumbnail-2x' (320 px, for 2x screens) or "
                                           "'original' (the file)."),
              h: Optional[str] = Query(None, max_length=64,
                                       description="The photo's content hash as the listings "
                                                   "give it: the answer is then cached for good.")):
        """One collection image by id: a thumbnail, or the original file."""
        rec = record(image_id)
        path = coll.image_path(image_id)
        if size == "original":
            if not path.is_file():
                raise HTTPException(404, f"the file of image {image_id} ({rec.path}) is gone from "
                                         f"the photo folder")
            return FileResponse(path, media_type=_images.MEDIA_TYPES.get(path.suffix.lower(),
                                                                         "application/octet-stream"),
                                filename=path.name, content_disposition_type="inline")
        # named by content: the same id in a later version is another photo, another tag
        etag = f'"{thumbs.hash(image_id)}-{size}"'
        headers = {"ETag": etag,
                   "Cache-Control": _views.IMMUTABLE if h == thumbs.hash(image_id) else "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        try:
            data, media = thumbs.get(image_id, size)
        except ValueError as exc:
            raise HTTPException(404, f"image {image_id} ({rec.path}) can no longer be read: "
                                     f"{str(exc).rsplit(': ', 1)[-1]}") from None
        return Response(data, media_type=media, headers=headers)

    @app.get("/api/map/points", tags=["collection"], responses=_errors(422))
    def map_points(method: MapMethod = Query("auto", description="2-D projection: 'auto' is UMAP "
                                                                   "when installed, else t-SNE up "
                                                                   f"to {_views.MAP_TSNE_MAX:,} "
                                                                   "images, else PCA.")):
        """Every image's position on the 2-D latent map, for the page to draw.

        Compact arrays, point ``i`` being image id ``i``: ``x``, ``y`` (integers
        0..65535, one scale for both axes), ``color`` (index into ``legend``, -1 for
        none; groups when computed, else labels), ``relpaths``. Computed on the first
        request for this version and kept.
        """
        try:
            return points(method)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/api/duplicates", tags=["collection"], responses=_errors(422))
    def duplicates(threshold: Optional[float] = Query(
            None, description="Largest distance between duplicates, in the collection's metric "
                              "(default: the collection's own choice).")):
        """Groups of images that are (near-)duplicates of each other, largest first:
        ``{"threshold", "metric", "groups": [{"ids", "relpaths"}]}``."""
        return dups(threshold)

    @app.get("/api/groups", response_model=GroupsResponse, tags=["collection"], responses=_errors(404))
    def groups():
        """The groups of similar images computed by ``imsim groups`` on this version."""
        g = groups_or_404()
        return GroupsResponse(
            k=g.k, method=g.method, metric=g.metric, version=g.version, elbow=g.elbow,
            groups=[GroupInfo(group=x.index, size=x.size, members=x.members,
                              representative=ImageRef(id=x.representative,
                                                      relpath=records[x.representative].path))
                    for x in g.groups])

    map_lock = threading.Lock()
    maps: dict = {}

    @app.get("/api/map", tags=["collection"], response_class=Response,
             responses={200: {"content": {"image/png": {}}, "description": "PNG"}, **_errors(422)})
    def latent_map(method: MapMethod = Query("auto", description="2-D projection: 'auto' is UMAP "
                                                                   "when installed, else t-SNE.")):
        """The 2-D map of the collection's latent space (PNG), coloured by label or group.

        Drawn on the first request (seconds) and kept; a seeded sample of at most
        2,000 images is mapped.
        """
        from ..report.map_plots import collection_map

        g = coll.load_groups()
        key = (method, None if g is None else (g.k, g.method))
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


def _warm_up(coll: Collection) -> None:
    """Load what the collection loads lazily (neighbour cache, latents, index, model).

    Done once before serving, so the first requests are not slow and concurrent
    requests never race to load the same thing.
    """
    coll.query(0, n=1)
    coll.query(0, n=coll.settings.n_cached + 1)
    coll.model  # noqa: B018 - loads torch and the autoencoder for uploads
