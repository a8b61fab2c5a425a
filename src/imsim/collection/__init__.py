"""Photo collections: index a folder once, then query by image and group it.

:class:`Collection` is the whole API: ``Collection.build(photos, path)`` (or
``Collection.index``, which builds or updates), ``Collection.open(path)``,
``.update()``, ``.query(image, n)``, ``.groups(k)`` and ``.duplicates()``. The directory layout and the
atomic version swap are described in :mod:`imsim.collection._store`.
"""
from ._collection import METRICS, Collection, CollectionSettings, IndexReport
from ._duplicates import KEEP as KEEP_RULES
from ._duplicates import TIERS, Duplicates, Pair, beta_of, evaluate_duplicates, export_duplicates
from ._groups import GROUPS_FILE
from ._query import MAX_TEXT, check_threshold
from ._results import Group, Groups, Hit, QueryResult
from ._store import FORMAT_VERSION, POINTER, ImageRecord
from ._thumbs import SIZES as THUMBNAIL_SIDES
from ._thumbs import fit_size as thumbnail_size
from ._thumbs import make_thumbnail
from ._thumbs import media_type

__all__ = ["Collection", "CollectionSettings", "IndexReport", "QueryResult", "Hit", "Groups",
           "Group", "Duplicates", "MAX_TEXT", "check_threshold", "ImageRecord", "FORMAT_VERSION", "METRICS",
           "POINTER", "GROUPS_FILE", "Pair", "KEEP_RULES", "TIERS", "beta_of", "evaluate_duplicates",
           "export_duplicates", "THUMBNAIL_SIDES", "make_thumbnail", "media_type", "thumbnail_size"]
