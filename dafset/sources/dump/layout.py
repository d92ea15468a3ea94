"""The lookup layout of an ingest folder: the tables sorted by an integer id, in small row groups.

``dafset ingest-dump`` writes the tables in dump order with string ids, so a query for 200 items
must read every row group of every shard. The build's queries look items up (their statements,
labels, sitelinks, statistics), so ``write_layout`` writes a second copy sorted by an integer key
(``id_key``: Q42 -> 42, P31 -> -31), in row groups of ``ROW_GROUP_ROWS`` rows: each row group's
min/max key then tells DuckDB whether it can hold a wanted id, and a batch of 200 items reads at
most 200 row groups, however large the dump. Layout under the ingest folder::

    layout/statements/part-*.parquet   statements + subject_key, object_key; by (subject_key, property)
    layout/terms/part-*.parquet        terms + key, by key
    layout/sitelinks/part-*.parquet    sitelinks + key, by key
    layout/stats/part-*.parquet        stats/entities.parquet + key, by key
    layout/layout.json                 rows per table, row group size, seconds

The sort is DuckDB's (it spills to ``temp_directory`` beyond ``memory_limit``). The folder is
written under ``.layout.partial`` and swapped in whole, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dafset.errors import ConfigError
from dafset.sources.dump.integrity import read_manifest
from dafset.sources.dump.stats import DuckLimits, check_ingest
from dafset.sources.dump.tables import duckdb_files, stats_files, table_files

LAYOUT_DIR = "layout"
LAYOUT_MANIFEST = "layout.json"
LAYOUT_TABLES = ("statements", "terms", "sitelinks", "stats")
ROW_GROUP_ROWS = 2048  # a point lookup decodes one row group per wanted item: keep them small
# 131,072 rows a file: DuckDB skips a file by its key range for less than it costs to visit each
# of its row groups (measured: bench/dump_build.py, docs/dump-source.md)
ROW_GROUPS_PER_FILE = 64
KEYS_SQL = Path(__file__).resolve().parent / "sql" / "_keys.sql"

# what each table gains and how it is ordered; the ids of the dump are Q- or P-ids
_SELECT = {
    "statements": (
        "SELECT id_key(subject_id) AS subject_key, id_key(object_id) AS object_key, * FROM read_parquet({files}) "
        "ORDER BY subject_key, property, statement_id"
    ),
    "terms": "SELECT id_key(id) AS key, * FROM read_parquet({files}) ORDER BY key, id",
    "sitelinks": "SELECT id_key(id) AS key, * FROM read_parquet({files}) ORDER BY key, id",
    "stats": "SELECT id_key(id) AS key, * FROM read_parquet({files}) ORDER BY key, id",
}


def layout_files(folder: Path, table: str) -> list[Path]:
    """The layout's files of ``table`` (sorted: their key ranges follow one another)."""
    directory = folder / LAYOUT_DIR / table
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == ".parquet" and p.is_file())


def check_layout(folder: Path, manifest: dict[str, Any] | None = None) -> None:
    """One clear line when the layout is missing (older ingest folders have none), was written from
    another ingest than ``manifest`` (ingest.json) names, or lost a file."""
    redo = f"write it with `dafset dump-stats {folder}`"
    for table in LAYOUT_TABLES:
        if not layout_files(folder, table):
            raise ConfigError(f"{folder / LAYOUT_DIR / table}: no layout files ({redo})")
    if manifest is None:
        return
    path = folder / LAYOUT_DIR / LAYOUT_MANIFEST
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"{path}: missing or unreadable: a layout of an unknown ingest ({redo})") from None
    if report.get("ingest_id") != manifest.get("ingest_id"):
        raise ConfigError(f"{path}: written from an earlier ingest than {folder}'s ingest.json ({redo})")
    for table, want in report["tables"].items():
        got = sum(pq.ParquetFile(p).metadata.num_rows for p in layout_files(folder, table))
        if got != want["rows"]:
            raise ConfigError(f"{folder / LAYOUT_DIR / table}: {got} rows, layout.json says {want['rows']} ({redo})")


def _sources(folder: Path, table: str) -> list[Path]:
    return stats_files(folder) if table == "stats" else table_files(folder, table)


def write_layout(folder: Path, limits: DuckLimits | None = None) -> dict[str, Any]:
    """Write ``layout/`` from the ingest tables and ``stats/entities.parquet``; returns a report."""
    import duckdb

    check_ingest(folder)
    manifest = read_manifest(folder)  # the layout names the ingest it was written from
    if not stats_files(folder):
        raise ConfigError(
            f"{folder}: no stats/entities.parquet (the layout copies it; run `dafset dump-stats`)"
        )
    limits = limits or DuckLimits()
    temp = limits.temp_directory or folder / ".duckdb-tmp"
    partial = folder / f".{LAYOUT_DIR}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    began = time.perf_counter()
    report: dict[str, Any] = {
        "ingest_id": manifest.get("ingest_id"),
        "row_group_rows": ROW_GROUP_ROWS,
        "tables": {},
    }
    with duckdb.connect(config={"memory_limit": limits.memory_limit, "threads": limits.threads}) as con:
        con.execute("SET temp_directory = ?", [str(temp)])
        con.execute(KEYS_SQL.read_text(encoding="utf-8"))
        for table in LAYOUT_TABLES:
            report["tables"][table] = _write_table(con, folder, table, partial / table)
    shutil.rmtree(temp, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - began, 3)
    (partial / LAYOUT_MANIFEST).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _swap(partial, folder / LAYOUT_DIR)
    return report


def _write_table(con: Any, folder: Path, table: str, target: Path) -> dict[str, Any]:
    began = time.perf_counter()
    select = _SELECT[table].format(files=duckdb_files(_sources(folder, table)))
    # in order: the sort's output streams into files whose key ranges follow one another
    con.execute("SET preserve_insertion_order = true")
    con.execute(
        f"COPY ({select}) TO '{str(target).replace(chr(39), chr(39) * 2)}' "
        f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS}, "
        f"ROW_GROUPS_PER_FILE {ROW_GROUPS_PER_FILE}, FILENAME_PATTERN 'part-{{i}}')"
    )
    files = sorted(target.glob("*.parquet"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    for i, path in enumerate(files):  # zero-padded names: sorting by name is the key order
        path.rename(path.with_name(f"part-{i:05d}.parquet"))
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in target.glob("*.parquet"))
    return {"rows": rows, "files": len(files), "seconds": round(time.perf_counter() - began, 3)}


def _swap(partial: Path, final: Path) -> None:
    """Replace ``final`` by ``partial`` (the old layout is removed only after the new one is in place)."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    partial.rename(final)
    shutil.rmtree(old, ignore_errors=True)
