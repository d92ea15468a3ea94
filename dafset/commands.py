"""``dafset build | stats | export | sample | sample-dump | ingest-dump | dump-stats``: typer-annotated
functions registered by ``dafset.cli``.

Errors of ours (DafsetError) print as one line and exit 2; heavy imports stay inside the bodies.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Annotated

import typer

from dafset.errors import DafsetError, path_error
from dafset.terminal import terminal_safe


def _fail(exc: DafsetError, *, name_options: bool = True) -> None:
    """One error line, exit 2. ``name_options``: a config field is named as the option typed
    (off for commands whose messages name their own arguments)."""
    message = terminal_safe(" ".join(str(exc).split()))
    typer.echo(f"error: {_as_option(message) if name_options else message}", err=True)
    raise typer.Exit(2)


_FIELD = re.compile(r"^(?:sizes\.)?([a-z_]+): ")


def _as_option(message: str) -> str:
    """Config errors name fields (``sizes.recent: ...``, the flow's parameter names); on the
    command line, name the option the user typed (``--recent: ...``)."""
    return _FIELD.sub(lambda m: f"--{m.group(1).replace('_', '-')}: ", message, count=1)


def build(
    out: Annotated[
        str, typer.Option(help="Root directory: snapshots/<date>/ and the `latest` link go here.")
    ] = "out/dafset",
    source: Annotated[
        str,
        typer.Option(
            help="'sample' (bundled, offline), 'live' (WDQS + Wikimedia APIs) or 'dump' (an ingested dump)."
        ),
    ] = "sample",
    dump_dir: Annotated[
        Path | None,
        typer.Option(help="--source dump: the folder of `dafset ingest-dump` + `dafset dump-stats`."),
    ] = None,
    dump_delegate: Annotated[
        str, typer.Option(help="--source dump: page views and revisions from 'sample' or 'live'.")
    ] = "sample",
    snapshot: Annotated[
        str | None,
        typer.Option(help="Snapshot date (ISO). Default: the sample's as-of date, or today for live."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Local causal LM path: enables the likelihood criterion and context/sentiment."),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda when present).")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            help="torch CPU threads for the LLM stages. Default: the physical cores free for this "
            "process (affinity, cgroup quota, minus the load of others; at most 8): extra threads on "
            "busy cores make every matmul wait for the slowest one."
        ),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="SPARQL endpoint for --source live (sets DAFSET_SPARQL_ENDPOINT).")
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option(help="Live runs: your e-mail or web page for Wikimedia's User-Agent (sets DAFSET_CONTACT)."),
    ] = None,
    recent: Annotated[int, typer.Option(help="Max recent samples.")] = 400,
    popular: Annotated[int, typer.Option(help="Max popular samples.")] = 400,
    long_tail: Annotated[int, typer.Option(help="Max long-tail samples (shared by the criteria).")] = 600,
    robust: Annotated[int, typer.Option(help="Max robust samples (shared by the criteria).")] = 300,
    window_days: Annotated[int, typer.Option(help="Recency window in days before the snapshot date.")] = 7,
    long_tail_pool: Annotated[
        int | None, typer.Option(help="Long-tail candidate pool (items). Default: 5 per long-tail sample.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for every stable choice.")] = 0,
    previous: Annotated[
        str | None,
        typer.Option(
            help="An earlier snapshot dir (witness for recency), or 'none'. Default: the newest under <out>."
        ),
    ] = None,
    figures: Annotated[bool, typer.Option(help="Draw the distribution figures.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every stage.")] = False,
) -> None:
    """Build a DAFSet snapshot and publish it as a dataset `datasets.load_dataset(<out>/latest)` reads."""
    from datetime import date

    from dafset.build.run import build as run_build
    from dafset.config import NO_PREVIOUS, SAMPLE_SNAPSHOT, BuildConfig, Sizes, parse_date
    from dafset.errors import ConfigError

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    import os

    if endpoint:
        os.environ["DAFSET_SPARQL_ENDPOINT"] = endpoint  # read through dafset.settings, like the flow
    if contact is not None:
        os.environ["DAFSET_CONTACT"] = contact
    try:
        for option, value in (("out", out), ("previous", previous)):
            if value is not None and not value.strip():
                raise ConfigError(f"{option}: empty path (give a folder)")
        offline = source == "sample" or (source == "dump" and dump_delegate == "sample")
        day = parse_date(snapshot) if snapshot is not None else (SAMPLE_SNAPSHOT if offline else date.today())
        cfg = BuildConfig(
            snapshot=day,
            out=Path(out).expanduser(),
            source=source,
            dump_dir=dump_dir,
            dump_delegate=dump_delegate,
            sizes=Sizes(recent=recent, popular=popular, long_tail=long_tail, robust=robust),
            window_days=window_days,
            long_tail_pool=long_tail_pool,
            seed=seed,
            model=model,
            device=device,
            threads=threads,
            previous=None if previous in (None, NO_PREVIOUS) else Path(previous).expanduser(),
            use_previous=previous != NO_PREVIOUS,
            figures=figures,
        )
        result = run_build(cfg)
    except DafsetError as exc:
        _fail(exc)
        return
    except OSError as exc:
        _fail(path_error(exc), name_options=False)
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    typer.echo(f"published {result.snapshot_dir} in {result.seconds:.1f} s ({counts})")


def stats(
    path: Annotated[Path, typer.Argument(help="A snapshot dir, or the build root (its `latest` is used).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Print counts per config, split, criterion and relation."""
    from dafset.publish.stats import compute_stats, print_stats

    try:
        if as_json:
            tables = compute_stats(path)
            json.dump(
                {k: v.to_dict(orient="records") for k, v in tables.items()}, sys.stdout, indent=1, default=str
            )
            typer.echo()
        else:
            print_stats(path)
    except DafsetError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(path_error(exc), name_options=False)


def export(
    path: Annotated[Path, typer.Argument(help="A snapshot dir, or the build root (its `latest` is used).")],
    out: Annotated[Path, typer.Option(help="Output directory.")],
    format: Annotated[str, typer.Option(help="'dafnet' (reference loader JSON) or 'easyedit'.")] = "dafnet",
    split: Annotated[str, typer.Option(help="Which split to export.")] = "train",
) -> None:
    """Write the JSON files DAFNet's reference loader or EasyEdit reads."""
    from dafset.publish.export import export_dafnet, export_easyedit

    try:
        if format == "dafnet":
            written = export_dafnet(path, out, split=split)
        elif format == "easyedit":
            written = export_easyedit(path, out, split=split)
        else:
            raise DafsetError(f"--format: expected 'dafnet' or 'easyedit', got {format!r}")
    except DafsetError as exc:
        _fail(exc)
        return
    except OSError as exc:
        _fail(path_error(exc), name_options=False)
        return
    typer.echo(f"wrote {written}")


def sample(
    fixtures: Annotated[Path | None, typer.Option(help="The real fixtures dir (default: settings).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the sample (default: the package's).")
    ] = None,
) -> None:
    """Rebuild the bundled sample from the real recorded Wikidata facts (maintainers only)."""
    from dafset.sources.sample.convert import build_sample

    try:
        written = build_sample(fixtures_dir=fixtures, out_dir=out)
    except DafsetError as exc:
        _fail(exc)
        return
    typer.echo(f"wrote {written}")


def sample_dump(
    out: Annotated[Path, typer.Option(help="The JSON dump file to write (.json, or .json.gz).")],
) -> None:
    """Write the bundled sample as a Wikidata JSON dump (for `dafset ingest-dump` and --source dump)."""
    from dafset.sources.dump.sample_dump import write_sample_dump

    try:
        counts = write_sample_dump(out)
    except DafsetError as exc:
        _fail(exc)
        return
    typer.echo(f"wrote {out} ({counts['items']} items, {counts['statements']} statements)")


def ingest_dump(
    dump: Annotated[
        Path, typer.Argument(help="A Wikidata JSON dump: .json, .json.gz or .json.bz2 (local file).")
    ],
    out: Annotated[Path, typer.Option(help="Folder for the Parquet tables and ingest.json.")],
    shards: Annotated[
        int | None, typer.Option(help="Byte-range shards (default: one per 256 MiB, at most 400).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Processes working on shards at once.")] = 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every shard.")] = False,
) -> None:
    """Flatten a Wikidata JSON dump into Parquet tables (statements, terms, sitelinks)."""
    from dafset.sources.dump.ingest import ingest_dump as run

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        if out.exists() and not out.is_dir():
            raise DafsetError(f"--out {out}: exists and is not a folder")
        report = run(dump, out, shards=shards, workers=workers)
    except DafsetError as exc:
        _fail(exc, name_options=False)
        return
    except BrokenProcessPool:
        _fail(
            DafsetError(
                f"a worker process died while ingesting into {out} (killed, or out of memory?); "
                "finished shards are kept: rerun the same command to resume, or use fewer --workers"
            ),
            name_options=False,
        )
        return
    except OSError as exc:
        _fail(path_error(exc), name_options=False)
        return
    resumed = f", {report.resumed} already done" if report.resumed else ""
    typer.echo(
        f"ingested {report.entities} entities, {report.statements} statements into {out} "
        f"({len(report.shards)} shards{resumed}; {report.malformed} malformed lines; "
        f"{report.duplicates} duplicate entities dropped; "
        f"{report.seconds:.1f} s; peak {report.peak_rss_mb:.0f} MB per worker)"
    )


def _check_memory_limit(limit: str) -> None:
    """DuckDB's own parser decides what a memory limit is (e.g. 2GB, 512MiB), before any work."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SELECT current_setting('memory_limit')")
        con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error:
        raise DafsetError(f"--memory-limit: {limit!r} is not a size such as 2GB or 512MiB") from None
    finally:
        con.close()


def dump_stats(
    folder: Annotated[Path, typer.Argument(help="An ingest folder (dafset ingest-dump --out).")],
    engine: Annotated[str, typer.Option(help="'duckdb' (one machine) or 'dask' (a cluster).")] = "duckdb",
    memory_limit: Annotated[str, typer.Option(help="DuckDB's memory limit; it spills beyond.")] = "2GB",
    scheduler: Annotated[
        str | None, typer.Option(help="--engine dask: a scheduler address (default: a LocalCluster).")
    ] = None,
) -> None:
    """Global per-entity statistics (frequency, in/out degree, sitelinks) -> stats/entities.parquet,
    then the lookup layout that `--source dump` reads (layout/: the tables sorted by id, DuckDB)."""
    import duckdb

    from dafset.sources.dump.layout import write_layout
    from dafset.sources.dump.stats import DuckLimits, dask_stats, duckdb_stats

    try:
        _check_memory_limit(memory_limit)
        if engine == "duckdb":
            report = duckdb_stats(folder, DuckLimits(memory_limit=memory_limit))
        elif engine == "dask":
            from distributed import Client

            with Client(scheduler) if scheduler else Client(processes=False):
                report = dask_stats(folder)
        else:
            raise DafsetError(f"--engine: expected 'duckdb' or 'dask', got {engine!r}")
        typer.echo(f"{report['engine']}: {report['rows']} entities in {report['seconds']:.1f} s")
        layout = write_layout(folder, DuckLimits(memory_limit=memory_limit))
    except DafsetError as exc:
        _fail(exc)
        return
    except duckdb.Error as exc:  # an unreadable table file: DuckDB's message names it
        _fail(DafsetError(f"{folder}: {str(exc).splitlines()[0]}"))
        return
    except OSError as exc:
        _fail(path_error(exc), name_options=False)
        return
    rows = ", ".join(f"{t} {r['rows']}" for t, r in layout["tables"].items())
    typer.echo(f"layout: {rows} rows sorted by id in {layout['seconds']:.1f} s")
