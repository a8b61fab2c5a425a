"""``imsim cluster`` (the assignment's clustering comparison) and ``imsim elbow``."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import typer

from ._engine import ADDRESS, ENGINE, engine_for


def _summary(comparison, with_scores: bool) -> str:
    lines = []
    for r in comparison.results:
        t = "" if r.clustering_time is None else f"  time {r.clustering_time:7.2f} s"
        line = (f"{r.name:<20} k={len(r.sizes):<3}{t:<17}  silhouette {r.silhouette.total:+.4f}"
                f"  objective {r.objective:.0f}")
        if with_scores:
            s = r.scores
            line += f"  purity {s.purity:.4f}  ARI {s.ari:.4f}  NMI {s.nmi:.4f}"
        lines.append(line)
    lines.append(f"silhouettes (exact, L1, original space): {comparison.silhouette_time:.1f} s")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("cluster")
    def cluster(
        data: Path = typer.Option(..., "-d", "--data",
                                  help="Images in the original space (idx, e.g. MNIST)."),
        latent: Optional[Path] = typer.Option(
            None, "-i", "--latent", help="The same images in the new space (2-byte latent "
                                         "file); adds the NEW SPACE section."),
        classes: Optional[Path] = typer.Option(
            None, "-n", "--classes", help="Classes-as-clusters file from the classifier; "
                                          "adds the CLASSES AS CLUSTERS section."),
        config: Path = typer.Option(..., "-c", "--config",
                                    help="cluster.conf (number_of_clusters: <int>)."),
        output: Path = typer.Option(..., "-o", "--output", help="Output text file."),
        labels: Optional[Path] = typer.Option(
            None, "--labels", help="True labels (idx): also write per-image label lists, "
                                   "purity/ARI/NMI, silhouette plots and per-label bar charts "
                                   "beside the output."),
        seed: int = typer.Option(0, "--seed", help="Seed for k-means++ seeding."),
        n_init: int = typer.Option(1, "--n-init", help="k-medians runs per space (best kept)."),
        max_iter: int = typer.Option(300, "--max-iter", help="k-medians iterations at most."),
        engine: str = ENGINE,
        address: Optional[str] = ADDRESS,
    ):
        """k-medians in the new and the original space, against the classifier's classes.

        Every silhouette and objective is measured in the original space (L1), so the
        three clusterings compare."""
        from imsim.datasets import read_images, read_labels, read_latent
        from imsim.evaluation.clustering import compare_clusterings
        from imsim.formats.classes import read_classes
        from imsim.formats.cluster import read_cluster_conf, write_cluster_output

        from imsim._io import check_output

        check_output(output, data, config, latent, classes, labels)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            conf = read_cluster_conf(config)
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
        images = read_images(data)
        Z = None if latent is None else read_latent(latent)
        cls = None if classes is None else read_classes(classes, n_images=len(images))
        true = None if labels is None else read_labels(labels)
        with engine_for(engine, address) as eng:  # the exact silhouettes run there
            comparison = compare_clusterings(
                images, conf.number_of_clusters, X_latent=Z, classes=cls, true_labels=true,
                seed=seed, n_init=n_init, max_iter=max_iter, engine=eng)
        write_cluster_output(output, [r.to_section() for r in comparison.results])
        summary = _summary(comparison, true is not None)
        typer.echo(summary)
        typer.echo(f"wrote {output}")
        if true is not None:
            for path in _write_extras(output, comparison, true, summary):
                typer.echo(f"wrote {path}")

    @app.command("elbow")
    def elbow_cmd(
        data: Path = typer.Option(..., "-d", "--data",
                                  help="Images (idx) or a 2-byte latent file."),
        k_range: str = typer.Option("2-15", "-k", "--k-range", help="k values: FIRST-LAST."),
        output: Path = typer.Option(..., "-o", "--output", help="Elbow plot (PNG)."),
        method: str = typer.Option("kmedians", "--method", help="kmedians or kmedoids."),
        limit: Optional[int] = typer.Option(None, "--limit",
                                            help="Use the first LIMIT images only."),
        seed: int = typer.Option(0, "--seed", help="Seed for every fit."),
    ):
        """The clustering objective for a range of k, its knee, and a plot."""
        from imsim.cluster import elbow
        from imsim.datasets import read_idx
        from imsim.report.cluster_plots import plot_elbow

        from imsim._io import check_output

        check_output(output, data)
        first, sep, last = k_range.partition("-")
        if not (sep and first.strip().isdigit() and last.strip().isdigit()):
            raise ValueError(f"--k-range must look like 2-15, got {k_range!r}")
        kind, X = read_idx(data)
        if kind == "labels":
            raise ValueError(f"{data} is a labels file, expected images or latent vectors")
        if limit is not None:
            from imsim._validation import check_positive_int

            limit = check_positive_int(limit, "--limit")
        if len(X) == 0:
            raise ValueError(f"{data} holds no images")
        X = X.reshape(len(X), -1)[:limit]
        result = elbow(X, range(int(first), int(last) + 1), method=method, seed=seed)
        for k, v, t in zip(result.ks, result.inertias, result.times):
            typer.echo(f"k={k:<4} objective {v:.0f}  ({t:.2f} s)")
        typer.echo(f"knee: k = {result.knee}" if result.knee is not None else
                   f"knee: none (the objective falls evenly over k={result.ks[0]}..{result.ks[-1]}; "
                   f"try a wider --k-range)")
        typer.echo(f"wrote {plot_elbow(result, output)}")


def _write_extras(output: Path, comparison, true, summary: str) -> list[Path]:
    """Per-image label lists, the summary, a silhouette plot and a bar chart per clustering."""
    from imsim._io import write_text_atomic
    from imsim.formats.cluster import write_label_assignments
    from imsim.report.cluster_plots import plot_label_counts, plot_silhouette

    stem = str(output.with_suffix(""))
    written = []
    for r in comparison.results:
        tag = r.name.lower().replace(" ", "_")
        written.append(write_label_assignments(f"{stem}.{tag}.labels.txt", r.scores.found, true))
        written.append(plot_silhouette(r.silhouette, r.labels, f"{stem}.{tag}.silhouette.png",
                                       title=f"Silhouette: {r.name.lower()}"))
        written.append(plot_label_counts(r.scores, f"{stem}.{tag}.per_label.png",
                                         title=r.name.lower()))
    summary_path = Path(f"{stem}.summary.txt")
    write_text_atomic(summary_path, summary + "\n")
    written.append(summary_path)
    return written
