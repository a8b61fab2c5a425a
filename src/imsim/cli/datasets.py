"""``imsim datasets list|show``: the named data sets, and a summary of any data set."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

_SPLIT_CHOICES = ("train", "test", "both")


def _shape(shape) -> str:
    return "x".join(str(s) for s in shape)


def _where(source: str, path, info) -> str:
    if source == "built in":
        return "built in (scikit-learn)"
    if source == "download":
        return f"needs download ({info.download_mb:g} MB) to {path}"
    return f"{source} {path}"


def register(app: typer.Typer) -> None:
    datasets = typer.Typer(help="Named data sets, idx files and image folders.",
                           no_args_is_help=True)
    app.add_typer(datasets, name="datasets")

    @datasets.command("list")
    def list_datasets(
        data_dir: Optional[Path] = typer.Option(
            None, "--data-dir", help="Folder to look in before the cache."),
    ):
        """List the named data sets: image shape, split sizes and where each is found."""
        from rich.console import Console
        from rich.table import Table

        from imsim.datasets import DATASETS, SPLITS, locate

        table = Table(box=None, pad_edge=False)
        for column in ("name", "image", "train", "test", "found"):
            table.add_column(column, justify="right" if column in SPLITS else "left")
        for info in DATASETS.values():
            places = {s: _where(*locate(info.name, s, data_dir=data_dir), info) for s in SPLITS}
            found = (places["train"] if places["train"] == places["test"]
                     else "; ".join(f"{s}: {w}" for s, w in places.items()))
            table.add_row(info.name, _shape(info.image_shape), str(info.sizes["train"]),
                          str(info.sizes["test"]), found)
        Console(highlight=False).print(table)

    @datasets.command("show")
    def show(
        spec: str = typer.Argument(..., metavar="NAME|PATH",
                                   help="A data set name (imsim datasets list), an idx images "
                                        "file or a folder of images."),
        data_dir: Optional[Path] = typer.Option(
            None, "--data-dir", help="Folder holding the named set's files."),
        split: str = typer.Option("both", "--split", help="train, test or both."),
        labels: Optional[Path] = typer.Option(
            None, "--labels", help="idx labels file for an idx images file."),
        size: Optional[int] = typer.Option(
            None, "--size", help="Resize images to SIZE x SIZE (folders: 64 by default)."),
        color: Optional[bool] = typer.Option(None, "--color/--gray", help="RGB or grayscale."),
        grid: Optional[Path] = typer.Option(
            None, "--grid", help="Write a PNG grid of sample images here."),
        samples: int = typer.Option(32, "--samples", help="Images in the --grid."),
        seed: int = typer.Option(0, "--seed", help="Seed for picking the --grid samples."),
    ):
        """Count, image shape, dtype and label histogram of a data set."""
        from rich.console import Console
        from rich.table import Table

        from imsim.datasets import SPLITS, has_splits, open_images

        if split not in _SPLIT_CHOICES:
            raise ValueError(f"--split must be one of {', '.join(_SPLIT_CHOICES)}, got {split!r}")
        if samples < 1:
            raise ValueError(f"--samples must be at least 1, got {samples}")
        options = dict(data_dir=data_dir, labels=labels, size=size, color=color)
        if split == "both" and has_splits(spec):
            sets = {s: open_images(spec, s, **options) for s in SPLITS}
        elif split == "both":  # a source without splits: an idx file, a folder of images
            sets = {"all": open_images(spec, **options)}
        else:
            sets = {split: open_images(spec, split, **options)}

        console = Console(highlight=False)
        summary = Table(box=None, pad_edge=False)
        for column in ("split", "images", "shape", "dtype", "from"):
            summary.add_column(column, justify="right" if column == "images" else "left")
        for name, imageset in sets.items():
            summary.add_row(name, str(len(imageset)), _shape(imageset.shape),
                            str(imageset.images.dtype), imageset.name)
        console.print(summary)
        for imageset in sets.values():
            skipped = imageset.meta.get("skipped") or []
            if skipped:
                from rich.markup import escape

                from imsim._text import safe_name

                console.print(f"skipped {len(skipped)} unreadable file(s), e.g. "
                              f"{escape(safe_name(skipped[0][0]))}: {escape(safe_name(skipped[0][1]))}")

        classes = next(iter(sets.values())).meta.get("classes") or []
        counts = {name: s.label_counts() for name, s in sets.items()}
        all_labels = sorted(set().union(*(c.keys() for c in counts.values())))
        # class names worth a column: not just the label numbers again (digits)
        named = any(str(label) != c for label, c in enumerate(classes))
        if all_labels:
            hist = Table(box=None, pad_edge=False, title="labels", title_justify="left")
            hist.add_column("label", justify="right")
            if named:
                hist.add_column("class")
            for name in sets:
                hist.add_column(name, justify="right")
            for label in all_labels:
                cls = [classes[label] if 0 <= label < len(classes) else ""] if named else []
                hist.add_row(str(label), *cls, *(str(counts[n].get(label, 0)) for n in sets))
            console.print(hist)
        else:
            console.print("no labels")

        if grid is not None:
            from imsim.report.grid import image_grid

            first = next(iter(sets.values()))
            sample = first.sample(min(samples, len(first)), seed=seed)
            if sample.labels is not None:
                titles = [classes[i] if named and i < len(classes) else str(i) for i in sample.labels]
            elif sample.paths is not None:
                titles = [Path(p).name for p in sample.paths]
            else:
                titles = [str(i) for i in sample.ids]
            image_grid(sample.images, grid, titles=titles)
            console.print(f"wrote {len(sample)} sample images to {grid}")
