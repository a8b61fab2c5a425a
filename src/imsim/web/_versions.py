"""Ids belong to one version of the collection: answers name it, requests may too.

``imsim index`` writes a new version, and an image's id in it may be another photo's id
in the version before (files added or removed shift them); ``imsim groups`` writes new
groups whose numbers mean other images. Every answer that holds ids carries
``version`` (and groups' answers ``groups_id``); a request by id may carry the version
(or groups id) its ids came from, and when the server has moved on it is refused with
409 and a body of fields, never answered with another photo::

    {"detail": "...", "error": "version_changed", "version": "v000001",
     "current_version": "v000002", "n_images": 25}

``GET /api/lookup?relpath=`` then gives a photo's id in the version served, so a page
can find again the photo it meant.
"""
from __future__ import annotations

from typing import Optional

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from ._errors import ApiError

VERSION_HELP = ("The collection version the ids of this request come from (the `version` of "
                "the answer that gave them): 409 when the server now serves another.")
GROUPS_HELP = ("The `groups_id` of the groups answer the group number comes from: 409 when "
               "`imsim groups` has written other groups since.")


class Stale(ApiError):
    """409: the request's ids belong to a version (or groups) the server no longer serves."""

    def __init__(self, detail: str, *, error: str, **fields):
        super().__init__(409, detail, error=error, **fields)


def check_version(view, asked: Optional[str]) -> None:
    """Refuse (:class:`Stale`) a request whose ids come from another version than ``view``'s."""
    current = view.coll.version
    if asked is not None and asked != current:
        raise Stale(f"the collection was updated to version {current} ({len(view):,} images) since "
                    f"version {asked}, which these ids come from: they may name other photos now",
                    error="version_changed", version=asked, current_version=current,
                    n_images=len(view))


def check_groups(view, asked: Optional[str]) -> None:
    """Refuse (:class:`Stale`) a group number taken from groups that were written over."""
    _, current = view.groups()
    if asked is not None and asked != current:
        raise Stale("the groups were computed again since this group number was read: it may "
                    "name another group now", error="groups_changed", groups_id=asked,
                    current_groups_id=current, version=view.coll.version)


class Lookup(BaseModel):
    version: str = Field(..., description="The version the id belongs to.")
    id: int
    relpath: str


def add_lookup(app: FastAPI, current) -> None:
    """``GET /api/lookup``: a photo's id in the version served, by its path."""

    @app.get("/api/lookup", response_model=Lookup, tags=["collection"],
             responses={404: {"description": "No such photo in this version"}})
    def lookup(relpath: str = Query(..., min_length=1, max_length=4096,
                                    description="Path inside the photo folder, as answers give it."),
               view=current):
        """The id of the photo at ``relpath`` in the version served (ids change between
        versions; paths do not)."""
        index = view.by_path
        if relpath not in index:
            raise HTTPException(404, f"{relpath} is not in version {view.coll.version} of the "
                                     f"collection (removed, or renamed)")
        return Lookup(version=view.coll.version, id=index[relpath], relpath=relpath)
