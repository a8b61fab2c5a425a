"""``imsim search``: nearest neighbours by exact, LSH, HNSW and latent-space search.

The assignment's form still works::

    imsim search -d train.idx -i train.latent -q test.idx -s test.latent -k 4 -L 5 -o out.txt

and writes its output file (format in :mod:`imsim.formats.search`). Modern options
pick the methods, the number of neighbours, the metric, a re-rank, JSON output.
With ``-EMD`` the same command runs the Earth Mover's Distance search instead
(:func:`imsim.cli.emd.run_emd_search`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ._engine import ADDRESS, ENGINE, engine_for

_EMD_ONLY = ("-l1", "-l2", "--window", "--ground", "--shortlist", "--data-limit")


def _read_vectors(path: Path):
    from imsim.datasets import read_images

    images = read_images(path)
    if len(images) == 0:
        raise ValueError(f"{path} holds no images")
    return images.reshape(len(images), -1)


def _json_value(x):
    """JSON has no NaN or infinity: null instead."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {k: _json_value(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_value(v) for v in x]
    return x


def _methods(values: Optional[List[str]], have_latent: bool) -> list[str]:
    if not values:
        return ["reduced", "lsh", "exact"] if have_latent else ["lsh", "exact"]
    out = []
    for value in values:
        for m in value.split(","):
            m = m.strip().lower()
            if m and m not in out:
                out.append(m)
    return out


def _summary(runs) -> str:
    from imsim.evaluation.search import LABELS

    lines = [f"{'method':<9} {'ms/query':>9} {'factor':>9} {'recall@1':>9} {'recall@10':>9} "
             f"{'not found':>9}"]
    for r in runs:
        q = r.quality
        lines.append(f"{LABELS[r.method]:<9} {r.ms_per_query:>9.4f} {q['approx_factor']:>9.4f} "
                     f"{q.get('recall_at_1', float('nan')):>9.3f} "
                     f"{q.get('recall_at_10', float('nan')):>9.3f} {q['n_not_found']:>9d}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("search", context_settings={"help_option_names": ["-h", "--help"]})
    def search(
        ctx: typer.Context,
        data: Optional[Path] = typer.Option(
            None, "-d", "--data", help="Data set: idx images file (the original space)."),
        latent_data: Optional[Path] = typer.Option(
            None, "-i", "--latent-data", help="Latent file of the data set (for Reduced)."),
        query: Optional[Path] = typer.Option(
            None, "-q", "--query", help="Query set: idx images file."),
        latent_query: Optional[Path] = typer.Option(
            None, "-s", "--latent-query", help="Latent file of the query set (for Reduced)."),
        k: int = typer.Option(4, "-k", help="LSH: hash functions per table (n_hashes, 1..32)."),
        L: int = typer.Option(5, "-L", help="LSH: hash tables (n_tables)."),
        output: Optional[Path] = typer.Option(
            None, "-o", "--output", help="Output file (default: print the report)."),
        n_neighbors: int = typer.Option(1, "-N", "--neighbours", help="Neighbours per query."),
        method: Optional[List[str]] = typer.Option(
            None, "--method", help="exact, lsh, hnsw, reduced; repeat or comma-separate. "
                                   "Default: reduced,lsh,exact (without latent files: lsh,exact). "
                                   "Exact always runs: it is the reference."),
        metric: str = typer.Option("l1", "--metric", help="l1, l2 or cosine."),
        rerank: int = typer.Option(0, "--rerank", help="Reduced: re-rank the top R latent "
                                                       "candidates by the original distance."),
        n_queries: Optional[int] = typer.Option(
            None, "--n-queries", help="Use only the first N queries (a count; -q is the file)."),
        old_queries: Optional[int] = typer.Option(None, "--queries", hidden=True),  # --n-queries
        lsh_w: Optional[float] = typer.Option(
            None, "--lsh-w", help="LSH: grid width (default: 4 mean NN distances)."),
        max_candidates: Optional[int] = typer.Option(
            None, "--max-candidates", help="LSH: check at most this many candidates."),
        hnsw_m: int = typer.Option(16, "--hnsw-m", help="HNSW: graph degree M."),
        ef_construction: int = typer.Option(100, "--ef-construction", help="HNSW: build ef."),
        ef: int = typer.Option(64, "--ef", help="HNSW: search ef."),
        seed: int = typer.Option(0, "--seed", help="Seed for LSH and HNSW."),
        json_out: bool = typer.Option(False, "--json", help="Print machine-readable results."),
        # the Earth Mover's Distance form
        emd: bool = typer.Option(False, "-EMD", "--emd", help="Earth Mover's Distance search."),
        data_labels: Optional[Path] = typer.Option(None, "-l1", help="EMD: data labels file."),
        query_labels: Optional[Path] = typer.Option(None, "-l2", help="EMD: query labels file."),
        window: int = typer.Option(4, "--window", help="EMD: cluster window in pixels."),
        ground: str = typer.Option("euclidean", "--ground",
                                   help="EMD: ground distance, euclidean or manhattan."),
        shortlist: Optional[int] = typer.Option(
            None, "--shortlist", help="EMD: candidates from an L1 pre-filter."),
        data_limit: Optional[int] = typer.Option(
            None, "--data-limit", help="EMD: use only the first N data images."),
        engine: str = ENGINE,
        address: Optional[str] = ADDRESS,
    ):
        """Nearest neighbours of every query: Reduced (latent), LSH, HNSW and exact search.

        Writes the assignment's output file (per query the neighbour and its L1
        distance for each method, then average ms/query and approximation factors).
        """
        if old_queries is not None:
            typer.echo("warning: --queries N is now --n-queries N (-q names the query file); "
                       "the old spelling will go", err=True)
            if n_queries is not None and n_queries != old_queries:
                raise ValueError(f"--queries {old_queries} and --n-queries {n_queries} disagree: "
                                 f"give --n-queries alone")
            n_queries = old_queries
        if emd:
            missing = [flag for flag, v in (("-d", data), ("-q", query), ("-l1", data_labels),
                                            ("-l2", query_labels), ("-o", output)) if v is None]
            if missing:
                raise ValueError(f"-EMD needs {', '.join(missing)}")
            from imsim.cli.emd import run_emd_search

            with engine_for(engine, address) as eng:
                return run_emd_search(data=data, queries=query, data_labels=data_labels,
                                      query_labels=query_labels, output=output, window=window,
                                      n_queries=n_queries, data_limit=data_limit, ground=ground,
                                      shortlist=shortlist, json_out=json_out, engine=eng)

        used = [flag for flag, param in zip(_EMD_ONLY, ("data_labels", "query_labels", "window",
                                                         "ground", "shortlist", "data_limit"))
                if ctx.get_parameter_source(param).name != "DEFAULT"]
        if used:
            raise ValueError(f"{', '.join(used)} only apply with -EMD")
        if data is None or query is None:
            raise ValueError("search needs -d DATA and -q QUERIES (idx image files)")
        if (latent_data is None) != (latent_query is None):
            raise ValueError("give both latent files, -i for the data and -s for the queries")
        methods = _methods(method, latent_data is not None)

        from imsim._validation import check_file, check_k
        from imsim.evaluation.search import compare, to_report
        from imsim.formats.search import format_search_output, write_search_output

        if output is not None:
            from imsim._io import check_output

            check_output(output, data, query, latent_data, latent_query)
        X = _read_vectors(check_file(data, "data file"))
        Q = _read_vectors(check_file(query, "query file"))
        Zx = Zq = None
        if latent_data is not None:
            from imsim.datasets import read_latent

            # the stored 0..25500 integers: one global scale from the floats, so
            # searching them as numbers ranks exactly as the floats would
            Zx = read_latent(check_file(latent_data, "latent data file"))
            Zq = read_latent(check_file(latent_query, "latent query file"))
        if n_queries is not None:
            check_k(n_queries, len(Q), name="--n-queries", what="the query file")
            Q = Q[:n_queries]
            Zq = None if Zq is None else Zq[:n_queries]

        with engine_for(engine, address) as eng:
            runs = compare(
                X, Q, methods, n_neighbors=n_neighbors, metric=metric, Zx=Zx, Zq=Zq,
                lsh={"n_hashes": k, "n_tables": L, "w": lsh_w, "seed": seed},
                lsh_query={"max_candidates": max_candidates},
                hnsw={"M": hnsw_m, "ef_construction": ef_construction, "seed": seed},
                hnsw_query={"ef": ef}, rerank=rerank, progress=not json_out, engine=eng)
        report = to_report(runs)
        if output is not None:
            write_search_output(output, report)
        if json_out:
            typer.echo(json.dumps(_json_value({
                "queries": len(Q), "metric": metric, "output": str(output) if output else None,
                "methods": {r.method: {
                    "name": r.name, "ms_per_query": r.ms_per_query, "build_s": r.build_s,
                    **r.quality, "ids": r.ids.tolist(), "distances": r.distances.tolist(),
                } for r in runs}})))
        elif output is None:
            typer.echo(format_search_output(report), nl=False)
        else:
            typer.echo(_summary(runs))
            typer.echo(f"wrote {output}")
