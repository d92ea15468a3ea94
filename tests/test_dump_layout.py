"""The lookup layout (``layout.py``): the ingest's tables sorted by an integer id in small row groups,
the same rows as the shards; the long-tail population drawn from it follows the truthy rule."""

from __future__ import annotations

import json
import shutil
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dafset.errors import ConfigError
from dafset.hashing import stable_hash
from dafset.sources.dump import layout
from dafset.sources.dump.integrity import listing
from dafset.sources.dump.layout import LAYOUT_DIR, LAYOUT_TABLES, ROW_GROUP_ROWS, layout_files, write_layout
from dafset.sources.dump.source import DumpSource, sql_text
from dafset.sources.dump.stats import DuckLimits, duckdb_stats
from dafset.sources.dump.tables import INGEST_MANIFEST, SCHEMAS, shard_file, stats_files, table_files
from dafset.sources.sample.source import SampleSource

KEY = {"statements": "subject_key", "terms": "key", "sitelinks": "key", "stats": "key"}


def _statement(
    subject: str, prop: str, sid: str, rank: str, obj: str | None, kind: str = "item"
) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in SCHEMAS["statements"].names}
    row.update(
        subject_id=subject, property=prop, statement_id=f"{subject}${sid}", rank=rank,
        value_type=kind, object_id=obj, n_references=0,
    )  # fmt: skip
    return row


def _write(folder: Path, table: str, rows: list[dict[str, Any]], shard: int) -> None:
    path = folder / shard_file(table, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[table]), path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two shards in dump order (ids not sorted), with the rank cases the population is about."""
    folder = tmp_path_factory.mktemp("layout-ingest")
    statements = [
        # best rank holds only somevalue: no truthy P31 fact, so Q30 is not in the population
        _statement("Q30", "P31", "a", "preferred", None, "somevalue"),
        _statement("Q30", "P31", "b", "normal", "Q5"),
        # preferred value beside preferred novalue: truthy
        _statement("Q7", "P27", "c", "preferred", "Q5"),
        _statement("Q7", "P27", "d", "preferred", None, "novalue"),
        # only deprecated: nothing
        _statement("Q100", "P27", "e", "deprecated", "Q5"),
        _statement("Q2", "P19", "f", "normal", "Q64"),
        _statement("Q2", "P999", "g", "normal", "Q64"),  # not one of the relations asked
        _statement("Q1000000000", "P19", "h", "normal", "Q64"),
        _statement("P31", "P1629", "i", "normal", "Q5"),  # a property entity
    ]
    # filler in dump order (not by id), enough for several row groups (DuckDB's least is 2,048 rows)
    filler = [f"Q{(i * 7919) % 5003 + 200}" for i in range(5003)]
    statements += [_statement(q, "P999", "z", "normal", "Q5") for q in filler]
    _write(folder, "statements", statements[:2500], 0)
    _write(folder, "statements", statements[2500:], 1)
    ids = ["Q30", "Q7", "Q100", "Q2", "Q1000000000", "P31", "Q5", "Q64", *filler]
    terms = [{"id": q, "label": f"label {q}", "aliases": [], "description": None} for q in ids]
    _write(folder, "terms", terms[:2000], 0)
    _write(folder, "terms", terms[2000:], 1)
    links = [{"id": q, "sitelinks": i, "enwiki_title": f"T{i}"} for i, q in enumerate(ids)]
    _write(folder, "sitelinks", links, 0)
    # the ingest.json an ingest writes last (dump-stats and the layout read only a whole ingest)
    (folder / INGEST_MANIFEST).write_text(json.dumps(listing(folder, "hand-written")))
    limits = DuckLimits(memory_limit="256MB", threads=1, temp_directory=folder / "tmp")
    duckdb_stats(folder, limits)
    write_layout(folder, limits)
    return folder


def _keys(path: Path, column: str) -> list[tuple[int, int, int]]:
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.to_arrow_schema().get_field_index(column)
    out = []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        stats = group.column(index).statistics
        out.append((stats.min, stats.max, group.num_rows))
    return out


def test_every_table_is_its_shards_sorted_by_an_integer_id(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "ROW_GROUPS_PER_FILE", 1)  # several files: their key ranges follow
    write_layout(folder, DuckLimits(memory_limit="256MB", threads=1, temp_directory=folder / "tmp"))
    assert not (folder / f".{LAYOUT_DIR}.partial").exists() and not (folder / f".{LAYOUT_DIR}.old").exists()
    for table in LAYOUT_TABLES:
        files = layout_files(folder, table)
        sources = stats_files(folder) if table == "stats" else table_files(folder, table)
        want = sorted(r for f in sources for r in map(str, pq.read_table(f).to_pylist()))
        got = pq.read_table(files).drop_columns(
            ["subject_key", "object_key"] if table == "statements" else ["key"]
        )
        assert sorted(map(str, got.to_pylist())) == want, table
        assert len(files) > 1
        groups = [g for f in files for g in _keys(f, KEY[table])]
        assert len(groups) > 1 and all(rows <= ROW_GROUP_ROWS for _, _, rows in groups)
        assert all(lo <= hi for lo, hi, _ in groups)
        assert all(a[1] <= b[0] for a, b in pairwise(groups)), f"{table}: not sorted"
    keys = {
        r["id"]: r["key"]
        for r in pq.read_table(layout_files(folder, "terms"), columns=["id", "key"]).to_pylist()
    }
    assert keys["Q7"] == 7 and keys["P31"] == -31 and keys["Q1000000000"] == 1_000_000_000


def test_id_key_and_a_folder_without_layout(folder: Path, tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute(sql_text("_keys"))
    assert con.execute("SELECT id_key('Q42'), id_key('P31'), id_key('L1'), id_key(NULL)").fetchone() == (
        42, -31, None, None,
    )  # fmt: skip
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare, ignore=shutil.ignore_patterns("layout"))
    with pytest.raises(ConfigError, match="dump-stats"):
        DumpSource(bare, SampleSource())


def test_a_layout_of_another_ingest_is_refused(folder: Path, tmp_path: Path) -> None:
    """A layout left from an earlier ingest (a re-ingest whose dump-stats stopped before the layout)."""
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    record = copy / "layout" / "layout.json"
    report = json.loads(record.read_text())
    report["ingest_id"] = "an-earlier-ingest"
    record.write_text(json.dumps(report))
    with pytest.raises(ConfigError, match="earlier ingest"):
        DumpSource(copy, SampleSource())


def test_the_population_follows_the_truthy_rule(folder: Path) -> None:
    dump = DumpSource(folder, SampleSource())
    relations = ["P19", "P27", "P31"]
    truthy = {
        r[0]
        for r in dump.con.execute(
            "SELECT DISTINCT subject_id FROM truthy_on($p) WHERE subject_id LIKE 'Q%'", {"p": relations}
        ).fetchall()
    }
    assert truthy == {"Q7", "Q2", "Q1000000000"}
    assert set(dump.long_tail_pool(relations, 10, salt="pool/0")) == truthy
    assert sum(n for _, n in dump.long_tail_histogram(relations, "frequency")) == len(truthy)
    small = dump.long_tail_pool(relations, 2, salt="pool/0")
    assert small == sorted(sorted(truthy, key=lambda q: stable_hash("pool/0", q))[:2])
