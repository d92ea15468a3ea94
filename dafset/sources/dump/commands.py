"""``dafset ingest-dump``: a typer-annotated function registered by ``dafset.cli``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from dafset.errors import DafsetError


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
        report = run(dump, out, shards=shards, workers=workers)
    except DafsetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    resumed = f", {report.resumed} already done" if report.resumed else ""
    typer.echo(
        f"ingested {report.entities} entities, {report.statements} statements into {out} "
        f"({len(report.shards)} shards{resumed}; {report.malformed} malformed lines; "
        f"{report.seconds:.1f} s; peak {report.peak_rss_mb:.0f} MB per worker)"
    )
