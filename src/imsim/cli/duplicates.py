"""``imsim duplicates``: identical files, same pixels and verified near-duplicates."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from imsim._text import safe_name
from .collections import COLLECTION_HELP, resolve_collection

KEEP_HELP = ("Keep one photo of each group and list the others, to remove: largest (most "
             "pixels), newest, oldest, or first (path order). imsim itself deletes nothing. "
             "[default: no list; largest with --remove-list]")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def _listed(removed: int, acted: int, groups: int, keep: str) -> str:
    """What a remove list holds: ``removed`` photos from ``acted`` of the ``groups``."""
    if not removed:
        return "empty"
    photos = f"{_plural(removed, 'photo')} to remove"
    if acted == groups:
        return f"{photos}, keeping the {keep} of each of {_plural(groups, 'group')}"
    return f"{photos} from {acted} of the {_plural(groups, 'group')}, keeping the {keep} of each"


def _group_label(dup, j: int) -> str:
    tier, sim = dup.tiers[j], dup.similarity[j]
    if tier == "mirrored":
        return f"mirror images, similarity {sim:.2f}"
    return tier if tier != "near" else f"near, similarity {sim:.2f}"


def _summary(dup, n: int) -> list[str]:
    if n < 2:
        return [f"nothing to compare: the collection has {_plural(n, 'photo')}"]
    if not len(dup):
        head = f"no duplicates among the {n:,} photos"
    else:
        from imsim.collection import TIERS

        counts = {t: sum(p.tier == t for p in dup.pairs) for t in TIERS}
        head = (f"{_plural(len(dup), 'group')} of duplicates ({dup.n_images:,} of {n:,} photos), "
                f"linked by " + ", ".join(f"{c:,} {t}" for t, c in counts.items()
                                          if c or t != "mirrored")
                + f" pair{'s' * (len(dup.pairs) != 1)}")
    how = (f"near: candidates within {dup.metric} distance {dup.threshold:.4g} ({dup.basis}); "
           f"{_plural(dup.checked, 'candidate pair')} checked")
    how += (", each kept only when its local features agree on one transform and its aligned "
            "pixels agree" if dup.verified else ", all kept (not verified: --no-verify)")
    lines = [head, "  " + how]
    for j, rel in enumerate(dup.relpaths):
        lines.append(f"  group {j} ({_group_label(dup, j)}): {len(rel)} photos: "
                     + ", ".join(map(safe_name, rel[:6]))
                     + (f", ... ({len(rel) - 6} more)" if len(rel) > 6 else ""))
    if dup.skipped:
        lines.append(f"  {_plural(len(dup.skipped), 'photo')} could not be read while verifying "
                     f"(left out):")
        lines += [f"    {safe_name(p)}: {safe_name(r)}" for p, r in dup.skipped[:10]]
    return lines


def register(app: typer.Typer) -> None:
    @app.command("duplicates")
    def duplicates_cmd(
        collection: Optional[Path] = typer.Option(None, "-c", "--collection", help=COLLECTION_HELP),
        threshold: Optional[float] = typer.Option(
            None, "--threshold", help="Largest distance between the vectors of a near-duplicate "
                                      "candidate, in the collection's metric [default: calibrated "
                                      "for its encoder]."),
        relative: bool = typer.Option(False, "--relative", help="A threshold relative to the folder "
                                      "(0.75 x the median distance to the 16th nearest photo)."),
        verify: bool = typer.Option(True, "--verify/--no-verify", help="Check each near candidate's "
                                    "local features and aligned pixels (default) or keep every one."),
        keep: Optional[str] = typer.Option(None, "--keep", help=KEEP_HELP),
        remove_list: Optional[Path] = typer.Option(
            None, "--remove-list", help="Write the photos to remove (absolute paths, one a line) "
                                        "to FILE, keeping one per group as --keep says "
                                        "[default: no file]."),
        mirrored: bool = typer.Option(False, "--mirrored", help="Also list mirror images of the "
                                      "kept photo for removal [default: shown, never listed]."),
        as_json: bool = typer.Option(False, "--json", help="Print groups, tiers, per-pair scores, "
                                     "a {file: [duplicates]} map (and the photos to remove)."),
        export: Optional[Path] = typer.Option(
            None, "--export", help="Put each group's photos into DIR/group_NN/ [default: none]."),
        copy: bool = typer.Option(False, "--copy", help="Copy the photos (default: symlinks)."),
    ):
        """Duplicate photos in tiers: identical files, the same pixels in another file,
        near-duplicates (crops, resizes, exposure, re-encodes of one picture) whose local
        features agree on one geometric transform, and mirror images (listed for removal
        only with --mirrored)."""
        from imsim._io import check_output, write_text_atomic
        from imsim.collection import KEEP_RULES as KEEP
        from imsim.collection import Collection, export_duplicates

        if keep is not None and keep not in KEEP:
            raise ValueError(f"--keep must be one of {', '.join(KEEP)}; got {keep!r}")
        if remove_list is not None:
            check_output(remove_list)
            keep = keep or "largest"
        collection = resolve_collection(collection)
        with Collection.open(collection) as coll:
            dup = coll.duplicates(threshold, verify=verify, relative=relative)
            records = coll.records()
            remove = dup.to_remove(records, keep, mirrored=mirrored) if keep else None
            listed = set(remove or ())
            acted = sum(any(records[i].path in listed for i in g) for g in dup.groups)
            root, n = coll.photos_root, len(coll)
            if export is not None:
                export_duplicates(dup, root, export, copy=copy)
        notes = []
        if remove is not None:
            if remove_list is not None:
                write_text_atomic(remove_list, "".join(f"{root / r}\n" for r in remove))
                notes.append(f"wrote {safe_name(remove_list)}: "
                             + _listed(len(remove), acted, len(dup), keep))
            if not len(dup):
                notes.append("no duplicates: nothing to remove")
            spared = sum(p.tier == "mirrored" for p in dup.pairs)
            if spared and not mirrored:
                notes.append(f"{_plural(spared, 'mirror-image pair')} not listed for removal "
                             f"(a flip may be a different picture; --mirrored lists them)")
        if export is not None:
            notes.append(f"exported to {safe_name(export)} ({'copies' if copy else 'symlinks'})")
        if as_json:
            out = dup.to_dict()
            if remove is not None:
                out["keep"], out["remove"] = keep, remove
            typer.echo(json.dumps(out, indent=2))
        else:
            for line in _summary(dup, n):
                typer.echo(line)
            if remove is not None and remove_list is None and remove:
                typer.echo(f"to remove, keeping the {keep} of each group "
                           f"({_plural(len(remove), 'photo')}):")
                for r in remove:
                    typer.echo(f"  {safe_name(r)}")
        for line in notes:
            typer.echo(line, err=as_json)
