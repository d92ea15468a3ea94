"""``dafset ingest-dump`` on real dump lines: values against the entity JSON, malformed lines,
shard boundaries, compression, workers, resuming, bad input."""

from __future__ import annotations

import bz2
import gzip
import itertools
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dafset.errors import ConfigError, SourceError
from dafset.sources.dump import seek_index
from dafset.sources.dump import shards as sharding
from dafset.sources.dump.ingest import RESULTS_DIR, ingest_dump
from dafset.sources.dump.tables import INGEST_MANIFEST, SCHEMAS, TABLES

HEAD50 = "entity_json/wikibase-dump-filter_latest-all_head50.json"
TWENTY = "entity_json/qrank_twenty_entities.json"
WDTK = "entity_json/wdtk_sample-dump-20150815.json"


def _entities(path: Path) -> list[dict[str, Any]]:
    """The dump's entities read the plain way (json.loads per line), independent of the decoder."""
    lines = path.read_text().splitlines()
    return [json.loads(line.rstrip(",")) for line in lines if line.strip() not in ("[", "]", "")]


def _rows(out: Path, table: str) -> list[dict[str, Any]]:
    files = sorted((out / table).glob("shard-*.parquet"))
    assert files, f"no {table} files under {out}"
    rows = [row for path in files for row in pq.read_table(path, schema=SCHEMAS[table]).to_pylist()]
    key = "statement_id" if table == "statements" else "id"
    return sorted(rows, key=lambda r: r[key])


def _all_rows(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {table: _rows(out, table) for table in TABLES}


def _first_time(statement: dict[str, Any], pid: str) -> str | None:
    for snak in (statement.get("qualifiers") or {}).get(pid, []):
        if snak.get("snaktype") == "value":
            return snak["datavalue"]["value"]["time"]
    return None


def _expected_statement(subject: str, st: dict[str, Any]) -> dict[str, Any]:
    """What a row must hold, read off the statement's JSON directly."""
    snak = st["mainsnak"]
    value = snak.get("datavalue", {}).get("value") if snak["snaktype"] == "value" else None
    obj = value if isinstance(value, dict) else {}
    datatype = snak.get("datatype")
    return {
        "subject_id": subject,
        "property": snak["property"],
        "statement_id": st["id"],
        "rank": st["rank"],
        "object_id": obj.get("id") if datatype == "wikibase-item" else None,
        "value": value if isinstance(value, str) else obj.get("text"),
        "time": obj.get("time"),
        "precision": obj.get("precision") if "time" in obj else None,
        "quantity_amount": obj.get("amount"),
        "start_time": _first_time(st, "P580"),
        "end_time": _first_time(st, "P582"),
        "point_in_time": _first_time(st, "P585"),
        "n_references": len(st.get("references", [])),
    }


# -- values --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def head50(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("head50")
    report = ingest_dump(fixtures_dir / HEAD50, out, shards=3)
    assert report.entities == 49 and report.malformed == 0
    return out


def test_every_statement_of_the_first_dump_lines_is_flattened_as_in_its_json(
    head50: Path, fixtures_dir: Path
) -> None:
    entities = _entities(fixtures_dir / HEAD50)
    expected = sorted(
        (
            _expected_statement(e["id"], st)
            for e in entities
            for group in e["claims"].values()
            for st in group
        ),
        key=lambda r: r["statement_id"],
    )
    columns = list(expected[0])
    got = [{c: row[c] for c in columns} for row in _rows(head50, "statements")]
    assert len(got) == len(expected) > 4000
    assert got == expected
    # the qualifier columns are really filled (George Washington's offices have start and end)
    assert sum(r["start_time"] is not None for r in got) > 100
    assert sum(r["end_time"] is not None for r in got) > 50


def test_value_types_units_and_terms_follow_the_entity_json(head50: Path, fixtures_dir: Path) -> None:
    entities = {e["id"]: e for e in _entities(fixtures_dir / HEAD50)}
    statements = _rows(head50, "statements")
    types = {r["value_type"] for r in statements}
    assert {"item", "time", "quantity", "string", "monolingualtext", "external-id", "other"} <= types
    for row in statements:
        st = next(
            s
            for s in entities[row["subject_id"]]["claims"][row["property"]]
            if s["id"] == row["statement_id"]
        )
        snak = st["mainsnak"]
        if snak["snaktype"] != "value":
            assert row["value_type"] == snak["snaktype"] and row["value"] is None
        elif row["value_type"] == "quantity":
            unit = snak["datavalue"]["value"]["unit"]
            assert row["quantity_unit"] == (None if unit == "1" else unit.rsplit("/", 1)[1])
        elif row["value_type"] == "other":
            assert snak["datatype"] not in ("wikibase-item", "time", "quantity", "string", "external-id")
    terms = {r["id"]: r for r in _rows(head50, "terms")}
    sitelinks = {r["id"]: r for r in _rows(head50, "sitelinks")}
    assert set(terms) == set(sitelinks) == set(entities)
    for qid, e in entities.items():
        assert terms[qid]["label"] == e["labels"].get("en", {}).get("value")
        assert terms[qid]["description"] == e["descriptions"].get("en", {}).get("value")
        assert terms[qid]["aliases"] == [a["value"] for a in e["aliases"].get("en", [])]
        assert sitelinks[qid]["sitelinks"] == len(e["sitelinks"])
        assert sitelinks[qid]["enwiki_title"] == e["sitelinks"].get("enwiki", {}).get("title")
    assert terms["Q64"]["label"] == "Berlin" and sitelinks["Q64"]["enwiki_title"] == "Berlin"


def test_q42_as_a_dump_line(fixtures_dir: Path, tmp_path: Path) -> None:
    entity = json.loads((fixtures_dir / "entity_json" / "qwikidata_wd_Q42.json").read_text())
    dump = tmp_path / "q42.json"
    dump.write_text("[\n" + json.dumps(entity, separators=(",", ":")) + "\n]\n")
    ingest_dump(dump, tmp_path / "out")
    statements = _rows(tmp_path / "out", "statements")
    by_property = {}
    for row in statements:
        by_property.setdefault(row["property"], []).append(row)
    assert [r["object_id"] for r in by_property["P31"]] == ["Q5"]
    born = by_property["P569"][0]
    assert (born["value_type"], born["time"], born["precision"]) == ("time", "+1952-03-11T00:00:00Z", 11)
    assert by_property["P2048"][0]["quantity_unit"] == "Q11573"  # metre
    assert _rows(tmp_path / "out", "terms")[0]["label"] == "Douglas Adams"
    assert _rows(tmp_path / "out", "sitelinks")[0]["enwiki_title"] == "Douglas Adams"
    assert len(statements) == sum(len(g) for g in entity["claims"].values())


def test_2015_dump_lines_with_numeric_ids_give_item_objects(fixtures_dir: Path, tmp_path: Path) -> None:
    ingest_dump(fixtures_dir / WDTK, tmp_path)
    rows = _rows(tmp_path, "statements")
    q1 = next(r for r in rows if r["statement_id"].startswith("q1$"))
    # {"entity-type": "item", "numeric-id": 1454986} in the 2015 JSON
    assert (q1["value_type"], q1["object_id"]) == ("item", "Q1454986")
    assert len(_rows(tmp_path, "terms")) == 101


# -- malformed lines -------------------------------------------------------------------------------------


def test_malformed_lines_are_counted_logged_and_listed_with_their_offset(
    fixtures_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = (fixtures_dir / TWENTY).read_bytes().splitlines(keepends=True)
    truncated = lines[3][:500] + b"\n"  # an entity cut short
    wrong_shape = b'{"id": 42, "claims": {}},\n'  # valid JSON, not an entity
    lines[3:3] = [truncated]
    lines[10:10] = [wrong_shape]
    dump = tmp_path / "bad.json"
    dump.write_bytes(b"".join(lines))
    offsets = [sum(len(x) for x in lines[:i]) for i in (3, 10)]

    with caplog.at_level(logging.WARNING, logger="dafset.sources.dump.ingest"):
        report = ingest_dump(dump, tmp_path / "out", shards=2)
    assert (report.entities, report.malformed) == (20, 2)
    manifest = json.loads((tmp_path / "out" / INGEST_MANIFEST).read_text())
    assert manifest["malformed"] == 2 and manifest["entities"] == 20
    listed = sorted(m["offset"] for s in manifest["shards"] for m in s["malformed_lines"])
    assert listed == offsets
    logged = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(logged) == 2 and all(f"byte {o}" in " ".join(logged) for o in offsets)


# -- shards, compression, workers ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 3, 7, 60])
def test_any_shard_count_gives_the_same_rows(fixtures_dir: Path, tmp_path: Path, count: int) -> None:
    one = ingest_dump(fixtures_dir / TWENTY, tmp_path / "one", shards=1)
    many = ingest_dump(fixtures_dir / TWENTY, tmp_path / "many", shards=count)
    assert len(many.shards) == count and one.entities == many.entities == 20
    assert _all_rows(tmp_path / "many") == _all_rows(tmp_path / "one")


def test_entity_lines_resync_across_any_block_and_range(fixtures_dir: Path) -> None:
    data = (fixtures_dir / WDTK).read_bytes()
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    expected = [
        (s, data[s:e].rstrip(b",\n"))
        for s, e in itertools.pairwise(starts)
        if data[s:e].strip() not in (b"[", b"]")
    ]
    for shards, block in [(1, 1 << 20), (5, 97), (13, 4096), (40, 1000)]:
        got = []
        for shard in sharding.plan(len(data), shards):
            with (fixtures_dir / WDTK).open("rb") as f:
                got += [(o, bytes(line)) for o, line in sharding.entity_lines(f, shard, block=block)]
        assert got == expected, (shards, block)


def test_gzip_bzip2_and_plain_give_the_same_rows(fixtures_dir: Path, tmp_path: Path) -> None:
    for plain, packed in [(WDTK, WDTK + ".gz"), (TWENTY, TWENTY + ".bz2")]:
        ingest_dump(fixtures_dir / plain, tmp_path / "plain", shards=3)
        report = ingest_dump(fixtures_dir / packed, tmp_path / "packed", shards=3)
        assert report.dump.compression in ("gzip", "bzip2") and report.dump.index
        assert _all_rows(tmp_path / "packed") == _all_rows(tmp_path / "plain")
    # a gzip stream we write ourselves, and a bzip2 one with small blocks (several seek points)
    head = (fixtures_dir / HEAD50).read_bytes()
    (tmp_path / "head.json.gz").write_bytes(gzip.compress(head))
    (tmp_path / "head.json.bz2").write_bytes(bz2.compress(head, compresslevel=1))
    ingest_dump(fixtures_dir / HEAD50, tmp_path / "head-plain", shards=5)
    for name in ("head.json.gz", "head.json.bz2"):
        ingest_dump(tmp_path / name, tmp_path / name.replace(".", "-"), shards=5)
        assert _all_rows(tmp_path / name.replace(".", "-")) == _all_rows(tmp_path / "head-plain")


def test_two_worker_processes_give_the_rows_of_one(fixtures_dir: Path, tmp_path: Path) -> None:
    ingest_dump(fixtures_dir / HEAD50, tmp_path / "one", shards=4)
    report = ingest_dump(fixtures_dir / HEAD50, tmp_path / "two", shards=4, workers=2)
    assert len({s.pid for s in report.shards}) == 2  # really two processes
    assert report.peak_rss_mb > 0
    assert _all_rows(tmp_path / "two") == _all_rows(tmp_path / "one")


# -- resuming, bad input, CLI -------------------------------------------------------------------------------


def test_a_rerun_redoes_only_missing_shards(fixtures_dir: Path, tmp_path: Path) -> None:
    ingest_dump(fixtures_dir / TWENTY, tmp_path, shards=4)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/shard-*.parquet")}
    # as if the run had crashed while shard 2 was being written
    (tmp_path / RESULTS_DIR / "shard-00002.json").unlink()
    report = ingest_dump(fixtures_dir / TWENTY, tmp_path, shards=4)
    assert report.resumed == 3 and report.entities == 20
    after = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/shard-*.parquet")}
    redone = sorted(p.relative_to(tmp_path).as_posix() for p in after if after[p] != before[p])
    assert redone == [f"{t}/shard-00002.parquet" for t in sorted(TABLES)]
    # another shard count replaces the plan: no stale files of the old one are left
    ingest_dump(fixtures_dir / TWENTY, tmp_path, shards=2)
    assert sorted(p.name for p in (tmp_path / "terms").iterdir()) == [
        "shard-00000.parquet",
        "shard-00001.parquet",
    ]


def test_bad_input_is_one_clear_error(fixtures_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        ingest_dump(tmp_path / "missing.json.gz", tmp_path / "out")
    with pytest.raises(ConfigError, match="workers"):
        ingest_dump(fixtures_dir / TWENTY, tmp_path / "out", workers=0)
    packed = (fixtures_dir / WDTK).with_suffix(".json.gz").read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(SourceError, match=r"cut\.json\.gz"):
        ingest_dump(cut, tmp_path / "cut")
    # a larger stream cut short: the reader would end quietly at a block boundary
    head = gzip.compress((fixtures_dir / HEAD50).read_bytes())
    cut.write_bytes(head[: len(head) * 7 // 10])
    with pytest.raises(SourceError, match=r"cut\.json\.gz: cannot decompress \(gzip\): truncated"):
        ingest_dump(cut, tmp_path / "cut")
    cut = tmp_path / "cut.json.bz2"
    head = bz2.compress((fixtures_dir / HEAD50).read_bytes())
    cut.write_bytes(head[: len(head) * 7 // 10])
    with pytest.raises(SourceError, match=r"cut\.json\.bz2: cannot decompress \(bzip2\)"):
        ingest_dump(cut, tmp_path / "cut")
    assert not list((tmp_path / "cut").glob("*/shard-*.parquet"))  # nothing half-written


def test_cli_ingests_and_reports(fixtures_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    args = [sys.executable, "-m", "dafset.cli", "ingest-dump", str(fixtures_dir / TWENTY) + ".bz2"]
    done = subprocess.run(
        [*args, "--out", str(tmp_path), "--shards", "3", "--workers", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "ingested 20 entities, 643 statements" in done.stdout and "0 malformed lines" in done.stdout
    assert json.loads((tmp_path / INGEST_MANIFEST).read_text())["dump"]["compression"] == "bzip2"
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "dafset.cli",
            "ingest-dump",
            str(tmp_path / "nope.json"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert (
        missing.returncode == 2
        and missing.stderr.strip() == f"error: dump: no such file: {tmp_path / 'nope.json'}"
    )


def test_each_shard_of_a_compressed_dump_loads_only_its_own_seek_points(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a shard's index reaches past its end by the longest line read (64 MiB) and a block (8 MiB): scaled
    # down with the file (18 MB here, 1.5 TB for real), so that it stays a part of the whole
    monkeypatch.setattr(sharding, "MAX_LINE_BYTES", 1 << 20)
    monkeypatch.setattr(sharding, "BLOCK", 1 << 20)
    head = (fixtures_dir / HEAD50).read_bytes()
    body = head.removeprefix(b"[\n")
    big = head + body * 4  # 18 MB of real lines (ids repeat: each entity is kept once, issue 20)
    (tmp_path / "big.json").write_bytes(big)
    (tmp_path / "big.json.gz").write_bytes(gzip.compress(big, compresslevel=6))
    (tmp_path / "big.json.bz2").write_bytes(bz2.compress(big, compresslevel=1))
    ingest_dump(tmp_path / "big.json", tmp_path / "plain", shards=1)
    for name in ("big.json.gz", "big.json.bz2"):
        out = tmp_path / name.replace(".", "-")
        report = ingest_dump(tmp_path / name, out, shards=6)
        assert (report.entities, report.duplicates) == (49, 49 * 4)
        full = Path(report.dump.index)
        parts = [
            seek_index.shard_index_path(full, s) for s in sharding.plan(report.dump.uncompressed_size, 6)
        ]
        assert len(parts) == 6
        # every shard's index is smaller than the whole, and together they are no copy of it
        assert all(p.stat().st_size < full.stat().st_size for p in parts), name
        assert _all_rows(out) == _all_rows(tmp_path / "plain"), name


def test_a_shard_index_holds_its_range_and_one_point_past_the_chunk_of_its_end() -> None:
    points = [0, 10, 20, 30, 40, 50]
    # start 15 lies in the chunk from 10; end 25 in the chunk from 20, which ends at 30; 40 bounds
    # the chunk the last line may run into
    assert seek_index._range(points, sharding.Shard(1, 15, 25)) == [0, 1, 2, 3, 4]
    assert seek_index._range(points, sharding.Shard(0, 0, 12)) == [0, 1, 2, 3]
    assert seek_index._range(points, sharding.Shard(2, 45, 60)) == [0, 4, 5]
    # with a reach (how far past its end a shard reads), up to the first point at or past end + reach
    assert seek_index._range(points, sharding.Shard(0, 0, 12), reach=10) == [0, 1, 2, 3]
    assert seek_index._range(points, sharding.Shard(0, 0, 12), reach=19) == [0, 1, 2, 3, 4]
