"""The JSON shapes of the web API (pydantic models, shown in the OpenAPI schema)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._validation import METRIC_ALIASES, check_metric
from ..collection import METRICS
from ._limits import MAX_N

Metric = Literal[METRICS]  # type: ignore[valid-type]


class Error(BaseModel):
    """Every error response: a one-line message, a code, and the code's fields
    (:mod:`imsim.web._errors`)."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(..., description="What went wrong, in one line, for a person.")
    error: str = Field(..., description="What went wrong, for a program: the status's code "
                                        "(too_large, not_found, invalid, ...) or a narrower one "
                                        "(version_changed, groups_changed, photo_changed, ...).")
    limit: Optional[int] = Field(None, description="too_large: the limit passed, in `unit`.")
    size: Optional[int] = Field(None, description="too_large: the request's size, in `unit` (at "
                                                  "least this much when `at_least`).")
    unit: Optional[Literal["bytes", "pixels"]] = Field(None, description="too_large: what "
                                                                          "`limit` counts.")
    option: Optional[str] = Field(None, description="too_large: the `imsim serve` option that "
                                                    "raises the limit.")
    errors: Optional[list[dict]] = Field(None, description="invalid (422): each invalid field.")


class SearchParams(BaseModel):
    """The fields of a search besides the uploaded image."""

    model_config = ConfigDict(extra="forbid")

    id: Optional[int] = Field(None, description="Search for the images most like this collection "
                                                "image (instead of an upload).")
    n: int = Field(10, ge=1, le=MAX_N, description="Number of results.")
    version: Optional[str] = Field(None, max_length=64,
                                   description="The collection version `id` comes from: 409 when "
                                               "the server now serves another (ids shift).")
    metric: Optional[str] = Field(
        None, description="Distance between latent vectors (default: the collection's): "
                          f"{', '.join(METRICS)}, or an alias the library accepts "
                          f"({', '.join(f'{a} = {m}' for a, m in METRIC_ALIASES.items())}).",
        json_schema_extra={"enum": [*METRICS, *METRIC_ALIASES]})
    verify: bool = Field(False, description="Re-rank the 16 nearest by their local features, as "
                                            "`imsim query` does: the same picture first (crops, "
                                            "exposure, flips), then the same layout in other "
                                            "pixels; about 50 ms more. The page asks for it.")

    @field_validator("metric")
    @classmethod
    def _one_vocabulary(cls, value: str | None) -> str | None:
        # the library's validator: the same aliases and message as `imsim query --metric`
        return None if value is None else check_metric(value, METRICS)


class ImageRef(BaseModel):
    id: int = Field(..., description="Image id in the collection.")
    relpath: str = Field(..., description="Path inside the collection's photo folder.")


class Hit(ImageRef):
    rank: int = Field(..., description="1 for the nearest image.")
    distance: float = Field(..., description="Distance between latent vectors in the search's "
                                             "metric (cosine: 1 - cosine similarity).")
    similarity: Optional[float] = Field(None, description="Cosine similarity (cosine metric only).")
    label: Optional[str] = Field(None, description="Sub-folder label, when the collection has labels.")
    verified: Optional[bool] = Field(None, description="A verified search: the image shows the "
                                                       "query's picture (its local features agree "
                                                       "on one transform and the aligned pixels "
                                                       "agree up to exposure).")
    same_layout: Optional[bool] = Field(None, description="A verified search: the local features "
                                                          "agree on one transform, whatever the "
                                                          "pixels (true for every verified image).")
    thumbnail_url: str
    image_url: str = Field(..., description="The original file.")


class Query(BaseModel):
    kind: Literal["id", "upload"]
    id: Optional[int] = Field(None, description="Id of the query image when it is in the collection "
                                                "(an upload with the same bytes as a collection file "
                                                "counts); it is left out of the results.")
    relpath: Optional[str] = None


class SearchResponse(BaseModel):
    version: str = Field(..., description="The collection version these ids belong to.")
    query: Query
    metric: Metric
    n: int = Field(..., description="Results asked for; fewer come back only when the collection "
                                    "is smaller.")
    mode: Literal["cached", "default"] = Field(..., description="'cached': answered from the "
                                                                "neighbour lists stored at indexing.")
    elapsed_ms: float = Field(..., description="Server time of the search, milliseconds.")
    typical_distance: Optional[float] = Field(None, description="Median distance, in this metric, "
                                                                "from a collection image to its "
                                                                "nearest other image: the scale "
                                                                "the page draws distances on.")
    results: list[Hit]


class ImageInfo(ImageRef):
    label: Optional[str] = None
    width: int = Field(..., description="Pixels, upright.")
    height: int
    thumbnail_url: str = Field(..., description="Named by the photo's content: cacheable for good.")
    thumbnail_data: Optional[str] = Field(None, description="The thumbnail as a data: URI, when "
                                                            "asked for (embed=) and stored.")


class ImageList(BaseModel):
    version: str = Field(..., description="The collection version these ids belong to.")
    groups_id: Optional[str] = Field(None, description="For a group's listing: the groups' id.")
    total: int = Field(..., description="Images matching the listing (all, or the group's).")
    offset: int
    limit: int
    items: list[ImageInfo]


class GroupInfo(BaseModel):
    group: int
    size: int
    representative: ImageRef
    members: list[int] = Field(..., description="Image ids, ascending.")


class GroupsResponse(BaseModel):
    k: int
    method: str
    metric: str
    version: str = Field(..., description="The collection version these ids belong to.")
    groups_id: str = Field(..., description="Names this computation of the groups: it changes "
                                            "when `imsim groups` writes them again.")
    elbow: Optional[dict] = None
    groups: list[GroupInfo]


class Health(BaseModel):
    status: Literal["ok"]
    collection: str = Field(..., description="The collection folder's name.")
    collection_path: Optional[str] = Field(None, description="The collection's folder, as `imsim "
                                                             "serve -c` takes it (absolute); "
                                                             "given to clients on this machine only.")
    version: str = Field(..., description="Collection version being served.")
    n_images: int
    metric: Metric = Field(..., description="The collection's own metric (fastest searches).")
    metrics: list[Metric]
    metric_aliases: dict[str, Metric] = Field(
        default_factory=lambda: dict(METRIC_ALIASES),
        description="Other names a search's metric may be given by (the library's aliases).")
    n_cached: int = Field(..., description="Searches for up to this many neighbours of a "
                                           "collection image are answered from a cache.")
    max_n: int
    max_upload_bytes: int
    has_groups: bool
    groups_id: Optional[str] = Field(None, description="The groups' id (see /api/groups), when "
                                                       "computed for this version.")
    imsim_version: str
