"""One copy of each entity across the shards of an ingest.

A dump should hold each entity once, but a concatenated or re-exported file may not; an entity kept
twice doubles its frequency and degrees in the statistics. Each shard already keeps the first copy
of an id it sees twice (``ingest.ingest_shard``). Across shards, after all of them are done, DuckDB
finds the ids held by more than one shard (a streaming aggregate over the ``terms`` ids, which
spills to disk beyond its memory limit); the first copy (lowest shard: earliest in the dump) stays
and only the shards holding later copies are rewritten. Each dropped copy is counted in its
shard's ``duplicates``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dafset.sources.dump.tables import SCHEMAS, duckdb_files, shard_file, table_files

_ID_COLUMN = {"statements": "subject_id", "terms": "id", "sitelinks": "id"}
_LATER_COPIES = """
SELECT id, list(shard ORDER BY shard) AS shards FROM (
    SELECT id, regexp_extract(filename, 'shard-([0-9]+)\\.parquet$', 1)::INTEGER AS shard
    FROM read_parquet({terms}, filename = true)
) GROUP BY id HAVING count(*) > 1
"""


def later_copies(out: Path, memory_limit: str = "1GB") -> dict[int, set[str]]:
    """Shard -> the ids it holds whose first copy is in an earlier shard."""
    import duckdb

    temp = out / ".duckdb-tmp"
    drop: dict[int, set[str]] = {}
    with duckdb.connect(config={"memory_limit": memory_limit, "threads": 1}) as con:
        con.execute("SET temp_directory = ?", [str(temp)])
        sql = _LATER_COPIES.format(terms=duckdb_files(table_files(out, "terms")))
        for entity, shards in con.execute(sql).fetchall():
            for shard in shards[1:]:
                drop.setdefault(shard, set()).add(entity)
    shutil.rmtree(temp, ignore_errors=True)
    return drop


def drop_entities(out: Path, shard: int, ids: set[str]) -> dict[str, int]:
    """Rewrite the shard's files without ``ids`` (each file replaced atomically); rows kept per table."""
    value_set = pa.array(sorted(ids), pa.string())
    kept = {}
    for table in SCHEMAS:
        path = out / shard_file(table, shard)
        data = pq.read_table(path, schema=SCHEMAS[table])
        data = data.filter(pc.invert(pc.is_in(data[_ID_COLUMN[table]], value_set=value_set)))
        _replace(path, lambda tmp, data=data: pq.write_table(data, tmp, compression="zstd"))
        kept[table] = data.num_rows
    return kept


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)
