"""``imsim demo`` (the main job: every experiment, then the HTML report) and ``imsim report``."""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer


def _command(data_dir, dataset, out, quick, full, open_, seed) -> str:
    """The command line that reproduces this run (every option spelled out)."""
    args = ["imsim", "demo", "--dataset", dataset, "--out", str(out), "--seed", str(seed)]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    args += ["--quick"] * quick + ["--full"] * full + ["--open"] * open_
    return shlex.join(args)


def _print_summary(rows: list[dict], total: float, report: Path, experiments: float,
                   drawing: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="imsim demo", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("step", style="bold")
    table.add_column("result", overflow="fold")
    table.add_column("time", justify="right")
    for r in rows:
        seconds = r["seconds"]
        table.add_row(r["step"], r["result"], "" if seconds is None else f"{seconds:.1f} s")
    console = Console(soft_wrap=False)
    console.print(table)
    # the report's total is the experiments' (it cannot time its own drawing)
    other = total - experiments - drawing
    console.print(f"total {total:.1f} s: experiments {experiments:.1f} s (the report's total), "
                  f"report {drawing:.1f} s" + (f", start-up {other:.1f} s" if other >= 0.5 else ""),
                  soft_wrap=True, highlight=False)
    console.print(f"report: {Path(report).resolve()}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        data_dir: Optional[Path] = typer.Option(
            None, "--data-dir", help="Folder with the MNIST idx files (else the cache, else a "
                                     "verified download, else the built-in 8x8 digits)."),
        dataset: str = typer.Option("mnist", "--dataset", help="mnist or digits."),
        out: Path = typer.Option(Path("imsim-demo"), "--out", "-o",
                                 help="Folder for models, latent files, results and the report."),
        quick: bool = typer.Option(False, "--quick", help="Smoke run: every size shrunk "
                                                          "(under a minute)."),
        full: bool = typer.Option(False, "--full", help="Every image and the library's "
                                                        "training defaults (long)."),
        open_: bool = typer.Option(False, "--open", help="Open the report in a browser."),
        seed: int = typer.Option(0, "--seed", help="Seed for every random choice."),
    ):
        """Run every experiment on one data set, then write the HTML report (a few minutes).

        Autoencoder (reused from --out when trained there with the same settings), latent
        files, search comparison, EMD against Manhattan, classifier, clustering; results
        as JSON under OUT/results, the report as OUT/report.html."""
        import time

        if quick and full:
            raise ValueError("--quick and --full exclude each other; give one of them")

        from imsim.evaluation.demo import DemoConfig, run_demo, summarize
        from imsim.report.html import build_report

        start = time.perf_counter()
        config = DemoConfig.from_preset(
            "quick" if quick else "full" if full else "default",
            dataset=dataset.strip().lower(), seed=seed,
            data_dir=None if data_dir is None else str(data_dir))
        run = run_demo(config, out,
                       command=_command(data_dir, dataset, out, quick, full, open_, seed),
                       log=lambda line: typer.echo(line, err=True))
        typer.echo("report: drawing the plots", err=True)
        drawn = time.perf_counter()
        report = build_report(run.results_dir, out / "report.html")
        drawn = time.perf_counter() - drawn
        _print_summary(summarize(run.results), time.perf_counter() - start, report,
                       run.results["run"]["wall_seconds"], drawn)
        if open_:
            import webbrowser

            webbrowser.open(report.resolve().as_uri())

    @app.command("report")
    def report(
        results_dir: Path = typer.Argument(..., help="An `imsim demo` output folder (or its "
                                                     "results/ folder)."),
        output: Optional[Path] = typer.Option(None, "-o", "--output",
                                              help="HTML file to write (default: report.html "
                                                   "in the output folder)."),
    ):
        """Rebuild the HTML report from the saved results of `imsim demo`, recomputing nothing."""
        from imsim.report.html import build_report

        typer.echo(f"wrote {build_report(results_dir, output)}")
