"""``imsim models fetch | list``: pretrained ONNX models in the cache; and the text query
that ``imsim query --text`` runs (:func:`text_query`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from imsim._text import safe_name


def text_query(text: str, collection: Optional[Path], n: int, threshold: Optional[float],
               as_json: bool) -> None:
    """Print the images of a collection that best match ``text`` (``imsim query --text``)."""
    import time

    from imsim.collection import Collection

    from .collections import check_collection_arg, resolve_collection

    check_collection_arg(collection)
    collection = resolve_collection(collection)
    with Collection.open(collection) as coll:
        start = time.perf_counter()
        result = coll.query_text(text, n, threshold=threshold)
        seconds = time.perf_counter() - start
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    typer.echo(f"{len(result)} results for the text {safe_name(repr(text))} ({result.metric} "
               f"distance, smaller is nearer; {seconds * 1e3:.0f} ms with the text tower's load)")
    for rank, hit in enumerate(result, 1):
        score = f"{hit.distance:10.4f}"
        if hit.similarity is not None:
            score += f"  sim {hit.similarity:7.4f}"
        typer.echo(f"{rank:4d}  {score}  {safe_name(hit.path)}")


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="Pretrained ONNX models for --encoder onnx:NAME: fetch them, list "
                              "the cache ($IMSIM_HOME/models).", no_args_is_help=True)
    app.add_typer(models, name="models")

    @models.command("fetch")
    def fetch_cmd(name: str = typer.Argument(..., help="A known model, e.g. clip-vit-b32.")):
        """Download a known model's files into the cache (verified; nothing half-written)."""
        from imsim.encoders import model_cache

        path = model_cache.fetch(name)
        typer.echo(f"{name} is in {safe_name(path.parent)}; index with --encoder onnx:{name}")

    @models.command("list")
    def list_cmd():
        """The known models and what the cache holds."""
        from imsim.encoders import model_cache

        found = {c.name: c for c in model_cache.cached()}
        typer.echo(f"models in {safe_name(model_cache.models_dir())}:")
        for name, known in model_cache.KNOWN.items():
            c = found.pop(name, None)
            state = ("cached, " + f"{c.bytes / 2**20:,.0f} MiB" if c and c.complete else
                     "incomplete: `imsim models fetch " + name + "`" if c else "not fetched")
            typer.echo(f"  {name:<16} {state:<28} {known.about}")
        for c in found.values():
            typer.echo(f"  {safe_name(c.name):<16} {'own, ' + f'{c.bytes / 2**20:,.0f} MiB':<28} "
                       f"{safe_name(c.folder)}")
