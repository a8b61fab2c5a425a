"""``GET /api/search/text``: the collection images that best match a description.

Answered by :meth:`imsim.Collection.query_text` (a collection built with a CLIP-family
``onnx:`` encoder); any other collection answers 422 with the one-line reason.
"""
from __future__ import annotations

import time

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from ..collection import MAX_TEXT
from ._limits import MAX_N
from ._schemas import Hit


class TextSearchResponse(BaseModel):
    version: str = Field(..., description="The collection version these ids belong to.")
    text: str = Field(..., description="The description searched for.")
    metric: str
    n: int
    elapsed_ms: float = Field(..., description="Server time: the text tower, then the index.")
    results: list[Hit]


def add_text_search(app: FastAPI, current) -> None:
    """Add the route to ``app``; ``current`` is the dependency giving the request's view."""

    @app.get("/api/search/text", response_model=TextSearchResponse, tags=["search"],
             responses={422: {"description": "No text tower, or an empty or too long text"}})
    def text_search(q: str = Query(..., min_length=1, max_length=MAX_TEXT,
                                   description="What to find, e.g. 'a red car'."),
                    n: int = Query(10, ge=1, le=MAX_N, description="Number of results."),
                    view=current):
        """The images that best match a description, nearest first (text search)."""
        start = time.perf_counter()
        try:
            result = view.coll.query_text(q, n)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        hits = [Hit(rank=r, id=h.id, relpath=h.relpath, distance=h.distance, similarity=h.similarity,
                    label=h.label, thumbnail_url=view.extras.url(h.id),
                    image_url=f"/api/images/{h.id}?size=original")
                for r, h in enumerate(result.hits, 1)]
        return TextSearchResponse(version=view.coll.version, text=q, metric=result.metric, n=n, results=hits,
                                  elapsed_ms=round((time.perf_counter() - start) * 1e3, 3))
