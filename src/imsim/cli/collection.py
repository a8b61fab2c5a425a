"""``imsim index | query | groups | map``: photo collections from the command line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from imsim._text import safe_name
from ._engine import ADDRESS, ENGINE, engine_for
from .collections import COLLECTION_HELP, check_query_args, index_location, resolve_collection

_COLLECTION = typer.Option(None, "-c", "--collection", help=COLLECTION_HELP)


def _index_summary(coll) -> list[str]:
    r = coll.last_index
    lines = [f"indexed {len(coll):,} images into {safe_name(coll.path)} (version {r.version}) "
             f"in {r.seconds:.1f} s",
             f"  {r.new:,} new, {r.changed:,} changed, {r.unchanged:,} unchanged, {r.deleted:,} deleted; "
             f"{r.encoded:,} encoded"]
    enc = coll.manifest.get("encoder") or {}
    if r.trained and enc.get("name") != "thumbnail":  # the floor learns nothing from the folder
        lines[-1] += "; encoder fitted on the folder"
    if r.trained and enc:
        lines.append(f"  encoder: {enc['name']}" + (f" ({enc['why']})" if enc.get("why") else "")
                     + (f"; {enc['note']}" if enc.get("note") else ""))
    if r.skipped:
        lines.append(f"  {len(r.skipped):,} skipped:")
        lines += _skipped_lines(r.skipped)
    return lines


# options of `imsim index` that only some encoders read
_ENCODER_OPTIONS = {"--epochs": ("autoencoder",), "--steps": ("contrastive",)}


def _option_notes(coll, given: dict) -> list[str]:
    """One ``note:`` line per option the build did not use as given: an option the
    chosen encoder does not read (``--epochs`` with ``features``), or a ``--latent``
    the encoder changed. ``given`` maps option names to the values passed (None: not
    passed)."""
    if not coll.last_index.trained:  # nothing was fitted: the collection kept its own
        return []
    enc = coll.manifest.get("encoder") or {}
    name = enc.get("name", "autoencoder")
    notes = [f"note: {option} {given[option]} was not used: it applies to the "
             f"{' and '.join(users)} encoder{'s' * (len(users) > 1)}, and this build used {name}"
             for option, users in _ENCODER_OPTIONS.items()
             if given.get(option) is not None and name not in users]
    latent, dim = given.get("--latent"), coll.settings.latent_dim
    if latent is not None and dim != latent:
        notes.append(f"note: --latent {latent} became {dim}: the {name} encoder made "
                     f"{dim}-dimensional vectors" + (f" ({enc['note']})" if enc.get("note") else ""))
    return notes


_OTHER_TYPES_LISTED = 3


def _skipped_lines(skipped) -> list[str]:
    """One line per skipped file, the files that failed to decode first; files of
    another type (.svg, .txt) are counted in one line per type when there are more than
    three of it (Collection.skipped() lists them all)."""
    failed, other_types = [], {}
    for path, reason in skipped:
        if reason.startswith("not a supported image type"):
            other_types.setdefault(reason, []).append(path)
        else:
            failed.append(f"    {safe_name(path)}: {safe_name(reason)}")
    for reason, paths in other_types.items():
        if len(paths) <= _OTHER_TYPES_LISTED:
            failed += [f"    {safe_name(p)}: {safe_name(reason)}" for p in paths]
        else:
            failed.append(f"    {len(paths):,} files, e.g. {safe_name(paths[0])}: {safe_name(reason)}")
    return failed


def _check_same_folder(collection: Path, photos_dir: Path, replace: bool) -> None:
    """The library's check of another folder into an existing collection, in the
    command line's words (``--replace``, ``-c``), before anything is opened."""
    from imsim.collection.home import read_collection

    current = read_collection(collection)
    photos = Path(photos_dir).expanduser()
    if replace or current is None or not photos.is_dir():
        return
    if photos.resolve() != current.photos_root:
        raise ValueError(f"collection {current.path} indexes {current.photos_root}, not "
                         f"{photos.resolve()}; pass --replace to replace its photos with this "
                         f"folder's, or give another collection with -c")


def _mode_text(result) -> str:
    """The query mode in words, for the line above the results."""
    if result.mode == "cached":
        return "cached mode: the image is in the collection, answered from its stored neighbours"
    if result.query_id is not None:
        return "default mode: the image is in the collection, its vector searched in the index"
    return "default mode: the image was encoded and searched in the index"


def register(app: typer.Typer) -> None:
    @app.command("index")
    def index_cmd(
        photos_dir: Path = typer.Argument(..., help="Folder of photos (scanned recursively)."),
        collection: Optional[Path] = typer.Option(
            None, "-c", "--collection", help="The collection directory to create or update "
                                             "[default: $IMSIM_HOME/collections/NAME-HASH, "
                                             "NAME-HASH from the photos folder's path]."),
        size: Optional[int] = typer.Option(
            None, "--size", help="Resize photos to SIZE x SIZE pixels (a multiple of 4) [new: 64]."),
        color: Optional[bool] = typer.Option(None, "--color/--gray", help="RGB or grayscale [new: color]."),
        latent: Optional[int] = typer.Option(None, "--latent", help="Latent vector length [new: 32]."),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs [new: 5]."),
        model: Optional[Path] = typer.Option(
            None, "--model", help="Reuse this model (a checkpoint folder or a collection) instead "
                                  "of training."),
        retrain: bool = typer.Option(False, "--retrain", help="Start over: train a new model and "
                                                              "encode every photo."),
        metric: Optional[str] = typer.Option(
            None, "--metric", help="Index metric: l2, cosine or l1 [new: l2]."),
        cache: Optional[int] = typer.Option(
            None, "--cache", help="Neighbours cached per image [new: 32]."),
        labels_from_subdirs: Optional[bool] = typer.Option(
            None, "--labels-from-subdirs/--no-labels",
            help="Label photos by their sub-folder [new: no labels]."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Training seed [new: 0]."),
        encoder: Optional[str] = typer.Option(
            None, "--encoder", help="What turns photos into vectors: auto, thumbnail, features, "
                                    "contrastive, autoencoder, torchscript, torchvision:NAME, "
                                    "open_clip:NAME, onnx:FILE [new: auto, the best for the "
                                    "folder's size]."),
        weights: Optional[Path] = typer.Option(
            None, "--weights", help="Weights file of a torchscript, torchvision:NAME or open_clip:NAME "
                                    "encoder."),
        steps: Optional[int] = typer.Option(
            None, "--steps", help="Training steps of the contrastive encoder [scaled to the folder]."),
        workers: Optional[int] = typer.Option(
            None, "--workers", help="Threads reading photos [default: the CPU count, at most 8]."),
        replace: bool = typer.Option(False, "--replace", help="Index another folder than the "
                                                              "collection's, replacing its photos."),
        engine: str = ENGINE,
        address: Optional[str] = ADDRESS,
    ):
        """Index a folder of photos: train (or reuse) a model, encode, build the search index.

        On an existing collection only new or changed photos are encoded and deleted ones
        are dropped.
        """
        import warnings

        from imsim.collection import Collection
        from imsim.collection.home import remember

        collection = index_location(photos_dir, collection)
        _check_same_folder(collection, photos_dir, replace)
        with warnings.catch_warnings(), engine_for(engine, address) as eng:
            # the summary below lists every skipped file once
            warnings.filterwarnings("ignore", message="skipping ")
            coll = Collection.index(photos_dir, collection, retrain=retrain, model=model, epochs=epochs,
                                    seed=seed, encoder=encoder, weights=weights, steps=steps,
                                    workers=workers, size=size, color=color,
                                    latent_dim=latent, metric=metric, n_cached=cache,
                                    labels_from_subdirs=labels_from_subdirs, replace=replace,
                                    engine=eng)
        remember(coll.path)
        typer.echo("\n".join(_index_summary(coll)))
        for note in _option_notes(coll, {"--epochs": epochs, "--steps": steps, "--latent": latent}):
            typer.echo(note, err=True)

    @app.command("query")
    def query_cmd(
        image: Optional[Path] = typer.Argument(None, help="The query photo (or --text)."),
        collection: Optional[Path] = _COLLECTION,
        n: int = typer.Option(10, "-n", help="Number of results."),
        metric: Optional[str] = typer.Option(
            None, "--metric", help="cosine, l1 or l2 [default: the collection's]."),
        threshold: Optional[float] = typer.Option(
            None, "--threshold", help="Keep results at distance <= this (cosine: 1 - similarity) "
                                     "[default: no limit]."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
        grid: Optional[Path] = typer.Option(None, "--grid", help="Draw the query and results to this PNG."),
        encoder: Optional[str] = typer.Option(
            None, "--encoder", help="Refuse to answer unless the collection was built with this encoder "
                                    "[default: any encoder]."),
        text: Optional[str] = typer.Option(
            None, "--text", help="Find photos matching this description (a collection built with a "
                                 "CLIP-family onnx: encoder) [default: query by the photo]."),
        verify: bool = typer.Option(
            True, "--verify/--no-verify", help="Re-rank the 16 nearest by their local features: "
                                               "other versions of the same picture (crops, exposure, "
                                               "flips) first, then the same layout in other pixels "
                                               "(another light or rendering); --no-verify: by vector "
                                               "distance only, about 50 ms sooner."),
    ):
        """The photos of a collection most like IMAGE, nearest first.

        Two modes, chosen for you. Cached mode: IMAGE is already in the collection (the
        same bytes as an indexed file), so the answer is read from the neighbour lists
        stored at index time; instant, and the image itself is left out of its results.
        Default mode: any other image is decoded, resized, encoded by the collection's
        model and searched in its index; an indexed image is searched too when -n is
        longer than its stored list, and any image with a --metric other than the
        collection's (an exact search over every vector).
        """
        from imsim._io import check_output
        from imsim.collection import Collection, check_threshold

        check_threshold(threshold)
        if (image is None) == (text is None):
            raise ValueError("give a photo or --text DESCRIPTION (one of them) to query by")
        if text is not None:
            from .models import text_query

            return text_query(text, collection, n, threshold, as_json)
        check_query_args(image, collection)
        if grid is not None:
            check_output(grid, image)
        collection = resolve_collection(collection, near=image)
        with Collection.open(collection) as coll:
            result = coll.query(image, n, metric=metric, threshold=threshold, encoder=encoder,
                                verify=verify)
            others = len(coll) - (result.query_id is not None)
            if grid is not None:
                from imsim.report.map_plots import query_grid

                query_grid(result, image, grid, color=coll.settings.color)
        if n > others:
            typer.echo(f"note: asked for {n} results but the collection holds {len(coll):,} "
                       f"images, so only {others:,} " + ("others " if others < len(coll) else "")
                       + "can be returned", err=True)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2))
        else:
            typer.echo(f"{len(result)} results for {safe_name(image)} ({_mode_text(result)}; "
                       f"{result.metric} distance, smaller is nearer)")
            verified_any = any(h.verified is not None for h in result)
            for rank, hit in enumerate(result, 1):
                score = f"{hit.distance:10.4f}"
                if hit.similarity is not None:
                    score += f"  sim {hit.similarity:7.4f}"
                if verified_any:
                    score += ("  same picture" if hit.verified else
                              "  same layout " if hit.same_layout else "              ")
                typer.echo(f"{rank:4d}  {score}  {safe_name(hit.path)}")
        if grid is not None:
            typer.echo(f"wrote {safe_name(grid)}")

    @app.command("groups")
    def groups_cmd(
        collection: Optional[Path] = _COLLECTION,
        k: str = typer.Option("auto", "-k", help="Number of groups, or 'auto' (elbow method)."),
        method: str = typer.Option("kmedoids", "--method", help="kmedoids or kmedians."),
        k_min: int = typer.Option(2, "--k-min", help="Smallest k tried by -k auto."),
        k_max: int = typer.Option(30, "--k-max", help="Largest k tried by -k auto."),
        export: Optional[Path] = typer.Option(
            None, "--export", help="Put each group's photos into DIR/group_NN/."),
        copy: bool = typer.Option(False, "--copy", help="Copy the photos (default: symlinks)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the clustering."),
    ):
        """Group a collection's photos; writes COLLECTION/groups.json (and elbow.png with -k auto)."""
        from imsim.collection import Collection

        if k != "auto":
            try:
                k = int(k)
            except ValueError:
                raise ValueError(f"-k must be 'auto' or a positive integer, got {k!r}") from None
        collection = resolve_collection(collection)
        with Collection.open(collection) as coll:
            groups = coll.groups(k, method=method, k_range=range(k_min, k_max + 1), seed=seed)
            if groups.elbow is not None:
                import numpy as np

                from imsim.cluster import ElbowResult
                from imsim.report.cluster_plots import plot_elbow

                e = groups.elbow
                curve = ElbowResult(ks=np.asarray(e["k"]), inertias=np.asarray(e["cost"]),
                                    times=np.zeros(len(e["k"])), knee=e["knee"], method=method)
                plot = plot_elbow(curve, coll.path / "elbow.png")
            if export is not None:
                coll.export_groups(groups, export, copy=copy)
        how = f"k={groups.k}" + (", the knee of the elbow curve" if groups.elbow else "")
        typer.echo(f"{len(groups.groups)} groups ({groups.method}, {how}); "
                   f"wrote {safe_name(Path(collection) / 'groups.json')}")
        for g in groups.groups:
            typer.echo(f"  group {g.index}: {g.size} photos, e.g. {safe_name(groups.paths[g.representative])}")
        if groups.elbow is not None:
            typer.echo(f"wrote {safe_name(plot)}")
        if export is not None:
            typer.echo(f"exported to {safe_name(export)} ({'copies' if copy else 'symlinks'})")

    @app.command("map")
    def map_cmd(
        collection: Optional[Path] = _COLLECTION,
        out: Path = typer.Option(..., "--out", "-o", help="Output PNG."),
        method: str = typer.Option("auto", "--method", help="auto, umap, tsne or pca."),
        color_by: str = typer.Option("auto", "--color-by", help="auto, label, group or none."),
        thumbnails: int = typer.Option(30, "--thumbnails", help="Photos drawn on the map."),
        seed: int = typer.Option(0, "--seed", help="Seed of the projection and the sample."),
    ):
        """A 2-D map of the collection's latent space, coloured by label or group."""
        from imsim._io import check_output
        from imsim.collection import Collection
        from imsim.report.map_plots import collection_map

        check_output(out)
        collection = resolve_collection(collection)
        with Collection.open(collection) as coll:
            info = collection_map(coll, out, method=method, color_by=color_by,
                                  n_thumbnails=thumbnails, seed=seed)
        colour = f"coloured by {info['color_by']}"
        if info["color_by"] == "none":
            colour = "one colour" + (": no labels or groups yet, `imsim groups` makes groups"
                                     if color_by == "auto" else "")
        typer.echo(f"wrote {safe_name(info['path'])} ({info['n_points']:,} images, {info['method']}, "
                   f"{colour}, {info['n_thumbnails']} thumbnails)")
