"""EMD from the command line: the ``-EMD`` form of ``imsim search`` and ``imsim emd-sweep``.

``imsim search -d <data> -q <queries> -l1 <data labels> -l2 <query labels> -o <output> -EMD``
is parsed by the search command, which calls :func:`run_emd_search`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

__all__ = ["run_emd_search", "register"]


def _load(images_path, labels_path, what: str, limit: Optional[int], flag: str,
          at_most: bool = False):
    """Images and labels of one side, checked against each other, cut to ``limit``.

    A ``limit`` above the number of images is an error, or with ``at_most`` all images.
    """
    from imsim._validation import check_positive_int
    from imsim.datasets import read_images, read_labels

    images = read_images(images_path)
    labels = read_labels(labels_path)
    if len(labels) != len(images):
        raise ValueError(f"{labels_path} holds {len(labels)} labels but {images_path} holds "
                         f"{len(images)} {what} images")
    if limit is not None:
        limit = check_positive_int(limit, flag)
        if limit > len(images) and not at_most:
            raise ValueError(f"{flag} {limit} but {images_path} holds {len(images)} images")
        images, labels = images[:limit], labels[:limit]
    return images, labels


def run_emd_search(*, data, queries, data_labels, query_labels, output, window: int = 4,
                   n_queries: Optional[int] = None, data_limit: Optional[int] = None,
                   ground: str = "euclidean", shortlist: Optional[int] = None,
                   json_out: bool = False, engine=None) -> None:
    """The assignment's EMD experiment: 10-NN by EMD and by Manhattan, correctness and times.

    Reads idx files, runs :func:`imsim.evaluation.emd.emd_correctness` on the
    first ``n_queries`` queries against the first ``data_limit`` data images,
    writes the output file (:mod:`imsim.formats.emd`) and prints a short summary
    (or, with ``json_out``, one JSON object).

    Parameters
    ----------
    data, queries, data_labels, query_labels : str or Path
        idx files (gzip'd or not).
    output : str or Path
        Output text file, written atomically.
    window : int
        Window side in pixels for the signatures.
    n_queries, data_limit : int, optional
        Use only the first images of each file (default: all).
    ground : {"euclidean", "manhattan"}
    shortlist : int, optional
        Re-rank this many L1 neighbours by EMD (approximate) instead of exact EMD k-NN.
    json_out : bool
        Print the result as JSON instead of text.
    engine : :class:`imsim.engine.Engine`, optional
        Run the EMD queries there.
    """
    from imsim._io import check_output
    from imsim.evaluation.emd import emd_correctness
    from imsim.formats.emd import EMDReport, format_emd_output, write_emd_output

    check_output(output, data, queries, data_labels, query_labels)
    X, y = _load(data, data_labels, "data", data_limit, "--data-limit")
    Q, yq = _load(queries, query_labels, "query", n_queries, "--n-queries")
    side = max(X.shape[1:])
    if window > side:
        raise ValueError(f"--window {window} is larger than the {X.shape[1]}x{X.shape[2]} images; "
                         f"use at most {side} pixels (a few pixels is usual)")
    result = emd_correctness(X, Q, y, yq, window=window, k=10, ground=ground,
                             shortlist=shortlist, engine=engine)
    report = EMDReport(
        emd_correct=result.emd_correct, manhattan_correct=result.manhattan_correct,
        emd_seconds=result.emd_seconds, manhattan_seconds=result.manhattan_seconds,
        exact_per_query=result.exact_per_query, window=result.window, ground=result.ground,
        n_queries=result.n_queries, n_data=result.n_data, shortlist=result.shortlist)
    write_emd_output(output, report)
    if json_out:
        typer.echo(json.dumps({**result.as_dict(), "output": str(output)}))
        return
    typer.echo(format_emd_output(report), nl=False)
    typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    @app.command("emd-sweep")
    def emd_sweep_cmd(
        data: Path = typer.Option(..., "-d", "--data", help="Data images (idx)."),
        queries: Path = typer.Option(..., "-q", "--queries", help="Query images (idx)."),
        data_labels: Path = typer.Option(..., "-l1", "--data-labels", help="Data labels (idx)."),
        query_labels: Path = typer.Option(..., "-l2", "--query-labels",
                                          help="Query labels (idx)."),
        windows: str = typer.Option("14,7,4,2,1", "--windows",
                                    help="Window sides in pixels, comma-separated; "
                                         "1 (one bin per pixel) is by far the slowest."),
        n_queries: int = typer.Option(100, "--n-queries",
                                      help="Use the first N queries (all if fewer)."),
        data_limit: Optional[int] = typer.Option(None, "--data-limit",
                                                 help="Use the first N data images "
                                                      "(default: all)."),
        ground: str = typer.Option("euclidean", "--ground", help="euclidean or manhattan."),
        shortlist: Optional[int] = typer.Option(
            None, "--shortlist", help="Re-rank this many L1 neighbours by EMD (approximate)."),
        out_dir: Path = typer.Option(Path("emd-sweep"), "-o", "--out-dir",
                                     help="Folder for sweep.md, sweep.json and sweep.png."),
    ):
        """Correctness and time of 10-NN by EMD against Manhattan, per window size."""
        from imsim._io import write_text_atomic
        from imsim.evaluation.emd import emd_sweep
        from imsim.report.emd_plots import plot_emd_sweep, sweep_table

        sizes = []
        for part in windows.split(","):
            if not part.strip().isdigit():
                raise ValueError(f"--windows must be integers separated by commas, "
                                 f"got {windows!r}")
            sizes.append(int(part))
        X, y = _load(data, data_labels, "data", data_limit, "--data-limit")
        Q, yq = _load(queries, query_labels, "query", n_queries, "--n-queries", at_most=True)
        results = emd_sweep(X, Q, y, yq, windows=sizes, k=10, ground=ground,
                            shortlist=shortlist)
        table = sweep_table(results)
        write_text_atomic(out_dir / "sweep.md", table)
        write_text_atomic(out_dir / "sweep.json",
                          json.dumps([r.as_dict() for r in results], indent=2) + "\n")
        plot = plot_emd_sweep(results, out_dir / "sweep.png")
        typer.echo(table, nl=False)
        typer.echo(f"wrote {out_dir / 'sweep.md'}, {out_dir / 'sweep.json'}, {plot}")
