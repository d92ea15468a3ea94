"""Global statistics over an ingest folder: DuckDB and dask.dataframe agree, and both mean what the
SPARQL count queries mean (truthy ranks, distinct triples, self-loops, somevalue)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dafset.errors import ConfigError
from dafset.sources.dump.ingest import ingest_dump
from dafset.sources.dump.integrity import listing
from dafset.sources.dump.sample_dump import write_sample_dump
from dafset.sources.dump.stats import DuckLimits, dask_frame, dask_stats, duckdb_stats
from dafset.sources.dump.tables import INGEST_MANIFEST, SCHEMAS, STATS_FILE, shard_file


def _stats(path: Path) -> dict[str, dict[str, int]]:
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    return {r.pop("id"): r for r in rows}


def _statement(subject: str, prop: str, sid: str, rank: str = "normal", obj: str | None = None, **kw: Any):
    row = {name: None for name in SCHEMAS["statements"].names}
    kind = kw.pop("value_type", "item" if obj else "string")
    row.update(
        subject_id=subject,
        property=prop,
        statement_id=f"{subject}${sid}",
        rank=rank,
        value_type=kind,
        object_id=obj,
        n_references=0,
        **kw,
    )
    return row


def _write(folder: Path, table: str, rows: list[dict[str, Any]], shard: int = 0) -> None:
    path = folder / shard_file(table, shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[table]), path)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-written ingest folder (our own table format) with the cases the rules are about."""
    folder = tmp_path_factory.mktemp("small-ingest")
    statements = [
        # Q1 has P31 preferred -> Q5 and normal -> Q6: only the preferred one is truthy
        _statement("Q1", "P31", "a", "preferred", "Q5"),
        _statement("Q1", "P31", "b", "normal", "Q6"),
        # two truthy statements with one value: one wdt: triple (in-degree 1), out-degree 1
        _statement("Q1", "P27", "c", "normal", "Q7"),
        _statement("Q1", "P27", "d", "normal", "Q7"),
        # deprecated never counts for degrees; still a statement for frequency
        _statement("Q1", "P40", "e", "deprecated", "Q8"),
        # a statement pointing at its own subject counts once in frequency
        _statement("Q2", "P361", "f", "normal", "Q2"),
        # somevalue: a statement (frequency), no item value
        _statement("Q2", "P19", "g", "normal", None, value_type="somevalue"),
        _statement("Q3", "P31", "h", "normal", "Q5"),
    ]
    # two shards, as an ingest writes them
    _write(folder, "statements", statements[:4], 0)
    _write(folder, "statements", statements[4:], 1)
    terms = [{"id": q, "label": q, "aliases": [], "description": None} for q in ("Q1", "Q2", "Q3", "Q9")]
    _write(folder, "terms", terms[:2], 0)
    _write(folder, "terms", terms[2:], 1)
    links = [
        {"id": "Q1", "sitelinks": 3, "enwiki_title": "One"},
        {"id": "Q9", "sitelinks": 0, "enwiki_title": None},
    ]
    _write(folder, "sitelinks", links, 0)
    _write(folder, "sitelinks", [], 1)
    _manifest(folder)
    return folder


def _manifest(folder: Path) -> None:
    """The ``ingest.json`` an ingest writes last: the files it made, their sizes and rows."""
    (folder / INGEST_MANIFEST).write_text(json.dumps(listing(folder, "hand-written")))


EXPECTED = {
    "Q1": {"frequency": 5, "in_degree": 0, "out_degree": 2, "sitelinks": 3},  # out: Q5, Q7
    "Q2": {"frequency": 2, "in_degree": 1, "out_degree": 1, "sitelinks": 0},  # self-loop once
    "Q3": {"frequency": 1, "in_degree": 0, "out_degree": 1, "sitelinks": 0},
    "Q5": {"frequency": 2, "in_degree": 2, "out_degree": 0, "sitelinks": 0},  # Q1 (preferred), Q3
    "Q6": {"frequency": 1, "in_degree": 0, "out_degree": 0, "sitelinks": 0},  # only a non-best value
    "Q7": {"frequency": 2, "in_degree": 1, "out_degree": 0, "sitelinks": 0},  # one triple, 2 statements
    "Q8": {"frequency": 1, "in_degree": 0, "out_degree": 0, "sitelinks": 0},  # deprecated
    "Q9": {"frequency": 0, "in_degree": 0, "out_degree": 0, "sitelinks": 0},  # an entity in no statement
}


def test_duckdb_counts_follow_the_sparql_definitions(small: Path, tmp_path: Path) -> None:
    report = duckdb_stats(small, DuckLimits(memory_limit="64MB", threads=1, temp_directory=tmp_path / "t"))
    assert report["rows"] == len(EXPECTED)
    assert _stats(small / STATS_FILE) == EXPECTED
    # sorted by id, so a lookup reads few row groups
    ids = pq.read_table(small / STATS_FILE, columns=["id"]).column("id").to_pylist()
    assert ids == sorted(ids)


def test_dask_gives_the_same_counts(small: Path, tmp_path: Path) -> None:
    report = dask_stats(small, tmp_path / "dask")
    assert report["rows"] == len(EXPECTED)
    assert _stats(tmp_path / "dask") == EXPECTED


@pytest.fixture(scope="module")
def sample_ingest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sample-ingest")
    write_sample_dump(base / "sample.json.gz")
    ingest_dump(base / "sample.json.gz", base / "ingest", shards=3)
    return base / "ingest"


def _naive(folder: Path) -> dict[str, dict[str, int]]:
    """The counts computed the plain way, row by row in Python (small data only)."""
    rows = [
        r for f in sorted((folder / "statements").glob("*.parquet")) for r in pq.read_table(f).to_pylist()
    ]
    level = {"preferred": 2, "normal": 1}
    best: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        if r["rank"] in level:
            key = (r["subject_id"], r["property"])
            best[key] = max(best[key], level[r["rank"]])
    freq: Counter[str] = Counter()
    triples, pairs = set(), set()
    for r in rows:
        freq[r["subject_id"]] += 1
        if r["object_id"] and r["object_id"] != r["subject_id"]:
            freq[r["object_id"]] += 1
        truthy = level.get(r["rank"], 0) == best[(r["subject_id"], r["property"])]
        if truthy and r["object_id"]:
            triples.add((r["subject_id"], r["property"], r["object_id"]))
            pairs.add((r["subject_id"], r["object_id"]))
    in_deg = Counter(o for _, _, o in triples)
    out_deg = Counter(s for s, _ in pairs)
    return {"freq": dict(freq), "in": dict(in_deg), "out": dict(out_deg)}


def test_duckdb_and_dask_agree_on_the_sample_as_dump(sample_ingest: Path, tmp_path: Path) -> None:
    from distributed import Client

    duckdb_stats(sample_ingest)
    with Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None):
        dask_stats(sample_ingest, tmp_path / "dask")
    duck, dask = _stats(sample_ingest / STATS_FILE), _stats(tmp_path / "dask")
    assert len(duck) > 24_000
    assert duck == dask
    naive = _naive(sample_ingest)
    assert {q: r["frequency"] for q, r in duck.items() if r["frequency"]} == naive["freq"]
    assert {q: r["in_degree"] for q, r in duck.items() if r["in_degree"]} == naive["in"]
    assert {q: r["out_degree"] for q, r in duck.items() if r["out_degree"]} == naive["out"]
    assert duck["Q42"]["sitelinks"] > 100  # Douglas Adams' real sitelink count travels through the dump


def test_dask_frame_is_lazy_and_typed(small: Path) -> None:
    frame = dask_frame(small)
    assert list(frame.columns) == ["id", "frequency", "in_degree", "out_degree", "sitelinks"]
    assert all(str(t) == "int64" for t in frame.dtypes.iloc[1:])


def test_a_folder_without_tables_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"statements: no shard-\*\.parquet files"):
        duckdb_stats(tmp_path)
    with pytest.raises(ConfigError, match="ingest-dump"):
        dask_stats(tmp_path)
