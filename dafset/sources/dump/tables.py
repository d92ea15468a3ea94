"""The Parquet tables a Wikidata JSON dump is flattened to, declared once.

``dafset ingest-dump`` writes them (one file per shard and table); the global statistics and the
``dump`` source read them through DuckDB or ``dask.dataframe``. Layout under the ingest folder::

    statements/shard-00000.parquet   one row per statement (main snak), every rank
    terms/shard-00000.parquet        one row per entity: English label, aliases, description
    sitelinks/shard-00000.parquet    one row per entity: sitelink count, English Wikipedia title
    stats/entities.parquet           global per-entity statistics (frequency, degrees, sitelinks)
    ingest.json                      the dump's path, size and checksum, the shards and their
                                     byte ranges, entity and malformed-line counts per shard

Values keep Wikidata's own lexical forms (``+2001-01-15T00:00:00Z`` with its precision, quantity
amounts as decimal strings) so the dump, WDQS and the bundled sample render them the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

TABLES = ("statements", "terms", "sitelinks")
STATS_FILE = "stats/entities.parquet"
INGEST_MANIFEST = "ingest.json"

_STR = pa.string()

STATEMENTS_SCHEMA = pa.schema(
    [
        pa.field("subject_id", _STR, nullable=False),  # Q-id (or P-id for property entities)
        pa.field("property", _STR, nullable=False),  # P-id of the main snak
        pa.field("statement_id", _STR, nullable=False),  # e.g. Q42$F078E5B3-...
        pa.field("rank", _STR, nullable=False),  # preferred | normal | deprecated
        # item | time | quantity | string | monolingualtext | external-id | other | somevalue | novalue
        pa.field("value_type", _STR, nullable=False),
        pa.field("object_id", _STR),  # Q-id when the value is an item, else null
        pa.field("value", _STR),  # the literal as text (string, external id, monolingual text)
        pa.field("time", _STR),  # Wikidata time string, e.g. +1952-03-11T00:00:00Z
        pa.field("precision", pa.int8()),  # 9 year, 10 month, 11 day
        pa.field("quantity_amount", _STR),  # decimal string, e.g. +1.83
        pa.field("quantity_unit", _STR),  # unit Q-id, null for "1" (no unit)
        pa.field("start_time", _STR),  # qualifier P580 (first value, time string)
        pa.field("end_time", _STR),  # qualifier P582
        pa.field("point_in_time", _STR),  # qualifier P585
        pa.field("publication_date", _STR),  # qualifier P577 (truthy_facts.rq ?published: physically_new)
        pa.field("n_references", pa.int32(), nullable=False),
    ]
)

TERMS_SCHEMA = pa.schema(
    [
        pa.field("id", _STR, nullable=False),
        pa.field("label", _STR),  # English label
        pa.field("aliases", pa.list_(_STR)),  # English aliases (empty list when none)
        pa.field("description", _STR),  # English description
    ]
)

SITELINKS_SCHEMA = pa.schema(
    [
        pa.field("id", _STR, nullable=False),
        pa.field("sitelinks", pa.int32(), nullable=False),  # number of sitelinks
        pa.field("enwiki_title", _STR),  # English Wikipedia title, null when none
    ]
)

# Global statistics over every entity of the dump (``dafset.sources.dump.stats``).
ENTITY_STATS_SCHEMA = pa.schema(
    [
        pa.field("id", _STR, nullable=False),
        pa.field("frequency", pa.int64(), nullable=False),  # statements as subject + as item value
        pa.field("in_degree", pa.int64(), nullable=False),  # item-valued statements pointing here
        pa.field("out_degree", pa.int64(), nullable=False),  # item-valued statements from here
        pa.field("sitelinks", pa.int64(), nullable=False),
    ]
)

SCHEMAS = {"statements": STATEMENTS_SCHEMA, "terms": TERMS_SCHEMA, "sitelinks": SITELINKS_SCHEMA}


def shard_file(table: str, shard: int) -> str:
    """The path of one shard's file of ``table``, relative to the ingest folder."""
    return f"{table}/shard-{shard:05d}.parquet"


_SHARD_NAME = re.compile(r"shard-\d{5}\.parquet")
_GLOB_CHARS = re.compile(r"([\[\]*?])")


def table_files(folder: Path, table: str) -> list[Path]:
    """The shard files of ``table`` under ``folder``, listed, never globbed.

    A user's folder name is data, not a pattern: ``q[1]/statements/shard-*.parquet`` given to
    DuckDB or dask reads ``q1``'s tables. Every reader gets its files from here (sorted by shard)
    and hands them over through :func:`literal_path` / :func:`duckdb_files`.
    """
    directory = folder / table
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _SHARD_NAME.fullmatch(p.name) and p.is_file())


def stats_files(folder: Path) -> list[Path]:
    """The statistics' Parquet files: DuckDB's one file, or dask's folder of parts."""
    stats = folder / STATS_FILE
    if stats.is_file():
        return [stats]
    if stats.is_dir():
        return sorted(p for p in stats.iterdir() if p.suffix == ".parquet" and p.is_file())
    return []


def literal_path(path: Path) -> str:
    """``path`` as a file name that matches only itself in DuckDB and dask (fsspec).

    Both expand ``* ? [ ]`` in every file name they read, even in an explicit list, and have no
    escape character; a one-character class (``[[]``, ``[*]``) is the literal character.
    """
    return _GLOB_CHARS.sub(r"[\1]", str(path))


def duckdb_files(paths: Iterable[Path]) -> str:
    """A DuckDB list literal of file names for ``read_parquet({...})``: each one literal
    (:func:`literal_path`) and quoted, so a folder name can neither glob nor end the string."""
    quoted = ("'" + literal_path(p).replace("'", "''") + "'" for p in paths)
    return "[" + ", ".join(quoted) + "]"
