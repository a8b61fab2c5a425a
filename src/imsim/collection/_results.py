"""Plain result objects returned by :class:`imsim.Collection`."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Hit:
    """One image found by a query.

    Attributes
    ----------
    id : int
        Image id in the collection (row of its latents).
    path : str
        Absolute path of the photo.
    relpath : str
        Path relative to the collection's photos folder (POSIX separators).
    distance : float
        Distance between latent vectors in the query's metric (cosine: ``1 - cos``).
    similarity : float or None
        ``1 - distance`` for the cosine metric (1 = same direction); None otherwise.
    label : str or None
        The image's label (its sub-folder), when the collection has labels.
    verified : bool or None
        For a verified query (``verify=True``): whether it shows the query's picture
        (local features agree on one geometric transform and the aligned pixels agree
        up to exposure: :attr:`imsim.collection._verify.Match.same_picture`); None
        otherwise.
    same_layout : bool or None
        For a verified query: whether its local features agree with the query's on one
        transform though the pixels differ (another rendering or light of the scene, a
        drawing of the same shape); True also for every verified hit. None otherwise.
    """

    id: int
    path: str
    relpath: str
    distance: float
    similarity: float | None = None
    label: str | None = None
    verified: bool | None = None
    same_layout: bool | None = None


@dataclass(frozen=True)
class QueryResult:
    """Ranked hits of one query, nearest first.

    Attributes
    ----------
    hits : list of Hit
    mode : {"cached", "default", "text"}
        "cached": the query image is in the collection (same SHA-256) and its
        neighbours came from the cached lists; "default": the query was encoded
        (or its stored latent used) and searched in the index; "text": a text
        query (:meth:`Collection.query_text`).
    metric : str
    query_id : int or None
        Id of the query image when it is in the collection (it is left out of hits).
    query : str
        What was asked: a path, ``<n bytes>`` or ``id N``.
    """

    hits: list[Hit]
    mode: str
    metric: str
    query_id: int | None = None
    query: str = ""

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self):
        return iter(self.hits)

    def __getitem__(self, i):
        return self.hits[i]

    @property
    def ids(self) -> list[int]:
        return [h.id for h in self.hits]

    @property
    def distances(self) -> list[float]:
        return [h.distance for h in self.hits]

    def to_dict(self) -> dict:
        """JSON-ready dict: query, mode, metric, query_id and ranked results."""
        return {"query": self.query, "mode": self.mode, "metric": self.metric,
                "query_id": self.query_id,
                "results": [{"rank": r, **{k: v for k, v in asdict(h).items()
                                           if k not in ("verified", "same_layout") or v is not None}}
                            for r, h in enumerate(self.hits, 1)]}


@dataclass(frozen=True)
class Group:
    """One group of images.

    Attributes
    ----------
    index : int
    members : list of int
        Image ids, ascending.
    representative : int
        The medoid (k-medoids) or the member nearest to the centre (k-medians).
    centre : list of float or None
        The k-medians centre in latent space; None for k-medoids.
    """

    index: int
    members: list[int]
    representative: int
    centre: list[float] | None = None

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass(frozen=True)
class Groups:
    """The grouping of a collection into ``k`` groups (written as ``groups.json``).

    Attributes
    ----------
    groups : list of Group
        Largest first.
    k : int
    method : {"kmedoids", "kmedians"}
    metric : str
        Distance used by k-medoids; k-medians always minimises L1.
    version : str
        Collection version the groups were computed on.
    elbow : dict or None
        With ``k="auto"``: ``{"k": [...], "cost": [...], "knee": K}``.
    paths : list of str
        Absolute path of every image id (``paths[id]``).
    """

    groups: list[Group]
    k: int
    method: str
    metric: str
    version: str
    paths: list[str] = field(repr=False, default_factory=list)
    elbow: dict | None = None

    def labels(self, n: int) -> list[int]:
        """Group index of each image id 0..n-1 (-1 for an id in no group)."""
        out = [-1] * n
        for g in self.groups:
            for i in g.members:
                out[i] = g.index
        return out

    def to_dict(self) -> dict:
        return {
            "collection_version": self.version, "method": self.method, "metric": self.metric,
            "k": self.k, "elbow": self.elbow,
            "groups": [{
                "group": g.index, "size": g.size,
                "representative": {"id": g.representative, "path": self.paths[g.representative]},
                **({"centre": g.centre} if g.centre is not None else {}),
                "members": [{"id": i, "path": self.paths[i]} for i in g.members],
            } for g in self.groups],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Groups":
        paths: dict[int, str] = {}
        groups = []
        for g in d["groups"]:
            for m in g["members"]:
                paths[m["id"]] = m["path"]
            groups.append(Group(index=g["group"], members=[m["id"] for m in g["members"]],
                                representative=g["representative"]["id"], centre=g.get("centre")))
        n = max(paths) + 1 if paths else 0
        return cls(groups=groups, k=d["k"], method=d["method"], metric=d["metric"],
                   version=d["collection_version"], elbow=d.get("elbow"),
                   paths=[paths.get(i, "") for i in range(n)])
