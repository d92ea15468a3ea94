"""Global per-entity statistics over an ingest folder: ``stats/entities.parquet``.

The counts mean what the SPARQL queries the other sources answer mean (``queries/*.rq``), so a
long-tail threshold from the dump and a count from WDQS or the sample store are the same number:

- ``frequency``  statements (any rank, any property) the entity takes part in, as subject or as
                 item value; a statement pointing at its own subject counts once (frequency.rq);
- ``in_degree``  truthy ``wdt:`` triples pointing at the entity: distinct (subject, property)
                 pairs whose best-rank value is the entity (in_degree.rq);
- ``out_degree`` distinct items the entity reaches through its truthy statements (out_degree.rq);
- ``sitelinks``  its number of sitelinks (0 when the dump has none).

Truthy is Wikidata's rule: the best non-deprecated rank of each (subject, property) group.

Two engines give the same numbers: DuckDB on one machine (``duckdb_stats``, streaming, bounded by
``memory_limit`` and spilling to ``temp_directory``) and ``dask.dataframe`` on a cluster
(``dask_stats``; ``tests/test_dump_stats.py`` checks they agree).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dafset.errors import ConfigError
from dafset.sources.dump.tables import (
    ENTITY_STATS_SCHEMA,
    STATS_FILE,
    TABLES,
    duckdb_files,
    literal_path,
    table_files,
)

COLUMNS = ENTITY_STATS_SCHEMA.names


@dataclass(frozen=True)
class DuckLimits:
    """How much of the machine DuckDB may take; beyond ``memory_limit`` it spills to disk."""

    memory_limit: str = "2GB"
    threads: int = max(1, min(8, os.cpu_count() or 1))
    temp_directory: Path | None = None  # default: <ingest>/.duckdb-tmp


def check_ingest(folder: Path) -> None:
    """One clear line when ``folder`` is not an ingest folder (a table without shard files)."""
    for table in TABLES:
        if not table_files(folder, table):
            raise ConfigError(f"{folder / table}: no shard-*.parquet files (run `dafset ingest-dump` first)")


def _literal(folder: Path, table: str) -> list[str]:
    """The table's files for dask (listed, and literal: see ``tables.literal_path``)."""
    return [literal_path(p) for p in table_files(folder, table)]


# One SQL text for the whole computation; DuckDB streams the aggregates and spills what does not fit.
_STATS_SQL = """
WITH st AS (
    SELECT subject_id, property, rank, object_id FROM read_parquet({statements})
),
truthy AS (
    SELECT subject_id, property, object_id FROM (
        SELECT *, max(CASE rank WHEN 'preferred' THEN 2 ELSE 1 END)
                  OVER (PARTITION BY subject_id, property) AS best
        FROM st WHERE rank <> 'deprecated'
    ) WHERE CASE rank WHEN 'preferred' THEN 2 ELSE 1 END = best AND object_id IS NOT NULL
),
freq AS (
    SELECT id, count(*) AS n FROM (
        SELECT subject_id AS id FROM st
        UNION ALL
        SELECT object_id FROM st WHERE object_id IS NOT NULL AND object_id <> subject_id
    ) GROUP BY id
),
indeg AS (
    SELECT object_id AS id, count(*) AS n
    FROM (SELECT DISTINCT subject_id, property, object_id FROM truthy) GROUP BY object_id
),
outdeg AS (
    SELECT subject_id AS id, count(DISTINCT object_id) AS n FROM truthy GROUP BY subject_id
),
links AS (
    SELECT id, max(sitelinks) AS n FROM read_parquet({sitelinks}) GROUP BY id
),
ids AS (
    SELECT id FROM read_parquet({terms})
    UNION SELECT id FROM freq
    UNION SELECT id FROM links
)
SELECT ids.id,
       coalesce(freq.n, 0)::BIGINT AS frequency,
       coalesce(indeg.n, 0)::BIGINT AS in_degree,
       coalesce(outdeg.n, 0)::BIGINT AS out_degree,
       coalesce(links.n, 0)::BIGINT AS sitelinks
FROM ids
LEFT JOIN freq USING (id) LEFT JOIN indeg USING (id) LEFT JOIN outdeg USING (id)
LEFT JOIN links USING (id)
ORDER BY ids.id
"""


def duckdb_stats(folder: Path, limits: DuckLimits | None = None) -> dict[str, Any]:
    """Compute ``stats/entities.parquet`` with DuckDB; returns a report (rows, seconds).

    Sorted by id, so a lookup of a few ids reads only the row groups whose id range holds them."""
    import duckdb

    check_ingest(folder)
    limits = limits or DuckLimits()
    temp = limits.temp_directory or folder / ".duckdb-tmp"
    out = folder / STATS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    began = time.perf_counter()
    sql = _STATS_SQL.format(**{t: duckdb_files(table_files(folder, t)) for t in TABLES})
    with duckdb.connect(config={"memory_limit": limits.memory_limit, "threads": limits.threads}) as con:
        con.execute("SET temp_directory = ?", [str(temp)])
        con.execute("SET preserve_insertion_order = false")  # lets aggregates stream
        target = str(partial).replace("'", "''")
        con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
    shutil.rmtree(temp, ignore_errors=True)
    rows = _validated(partial)
    partial.replace(out)  # a reader never sees a half-written file
    return {"engine": "duckdb", "rows": rows, "seconds": round(time.perf_counter() - began, 3)}


def _validated(path: Path) -> int:
    schema = pq.read_schema(path)
    got = [(f.name, f.type) for f in schema]
    want = [(f.name, f.type) for f in ENTITY_STATS_SCHEMA]
    if got != want:
        raise ConfigError(f"{path}: columns {got} do not match ENTITY_STATS_SCHEMA {want}")
    return pq.ParquetFile(path).metadata.num_rows


def dask_frame(folder: Path) -> Any:
    """The statistics as a lazy ``dask.dataframe`` (columns of ENTITY_STATS_SCHEMA, unsorted)."""
    import dask.dataframe as dd

    check_ingest(folder)
    st = dd.read_parquet(_literal(folder, "statements"), columns=["subject_id", "property", "rank", "object_id"])
    terms = dd.read_parquet(_literal(folder, "terms"), columns=["id"])
    links = dd.read_parquet(_literal(folder, "sitelinks"), columns=["id", "sitelinks"])

    as_value = st[st.object_id.notnull() & (st.object_id != st.subject_id)].object_id
    taking_part = dd.concat([st.subject_id.rename("id"), as_value.rename("id")]).to_frame()
    frequency = taking_part.groupby("id").size().rename("frequency").reset_index()

    truthy = _dask_truthy(st)
    triples = truthy[["subject_id", "property", "object_id"]].drop_duplicates()
    in_degree = triples.groupby("object_id").size().rename("in_degree").reset_index()
    pairs = truthy[["subject_id", "object_id"]].drop_duplicates()
    out_degree = pairs.groupby("subject_id").size().rename("out_degree").reset_index()
    sitelinks = links.groupby("id").sitelinks.max().reset_index()

    # every part a frame with an ``id`` column and a plain index, so shuffles see one index type
    counts = [
        frequency,
        in_degree.rename(columns={"object_id": "id"}),
        out_degree.rename(columns={"subject_id": "id"}),
        sitelinks,
    ]
    table = dd.concat([terms[["id"]], *(c[["id"]] for c in counts)]).drop_duplicates()
    for frame in counts:
        table = table.merge(frame, on="id", how="left")
    return table[COLUMNS].fillna(0).astype({c: "int64" for c in COLUMNS[1:]})


def dask_stats(folder: Path, out: Path | None = None) -> dict[str, Any]:
    """Write the statistics with ``dask.dataframe``: a folder of parts (one per partition, written
    by the workers: nothing holds the whole table), by default at ``stats/entities.parquet`` in
    place of DuckDB's single file. On a cluster, call it inside a ``distributed.Client``."""
    began = time.perf_counter()
    target = out or folder / STATS_FILE
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    dask_frame(folder).to_parquet(partial, schema=ENTITY_STATS_SCHEMA, compression="zstd", write_index=False)
    if target.is_file():
        target.unlink()
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(target.glob("*.parquet")))
    return {"engine": "dask", "rows": rows, "seconds": round(time.perf_counter() - began, 3)}


def _dask_truthy(st: Any) -> Any:
    """Best-rank, non-deprecated, item-valued statements (the ``wdt:`` item triples)."""
    live = st[st["rank"] != "deprecated"]
    live = live.assign(level=(live["rank"] == "preferred").astype("int8") + 1)
    best = live.groupby(["subject_id", "property"]).level.max().rename("best").reset_index()
    joined = live.merge(best, on=["subject_id", "property"], how="inner")
    return joined[(joined.level == joined.best) & joined.object_id.notnull()]
