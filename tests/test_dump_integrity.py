"""The dump path never publishes wrong data quietly (issue 20): bad lines are counted and skipped,
ids are checked where they enter, folders are listed (never globbed), and an ingest folder is used
only whole, by one writer, with statistics of that very ingest."""

from __future__ import annotations

import io
import json
import logging
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dafset.sources.dump import shards as sharding
from dafset.sources.dump.ingest import ingest_dump
from dafset.sources.dump.tables import INGEST_MANIFEST, table_files

TWENTY = "entity_json/qrank_twenty_entities.json"
HEAD50 = "entity_json/wikibase-dump-filter_latest-all_head50.json"


def _entity_lines(fixtures_dir: Path, name: str = TWENTY) -> list[bytes]:
    """The dump's entity lines, each ending in ",\\n" (the framing lines dropped)."""
    lines = (fixtures_dir / name).read_bytes().splitlines()
    return [line.rstrip(b",") + b",\n" for line in lines if line.strip() not in (b"[", b"]", b"")]


def _dump(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"[\n" + b"".join(lines).rstrip(b",\n") + b"\n]\n")
    return path


def _line(entity: dict) -> bytes:
    return json.dumps(entity).encode() + b",\n"


def _item_statement(subject: str, prop: str, value: dict, datatype: str) -> dict:
    return {
        "id": subject,
        "type": "item",
        "claims": {
            prop: [
                {
                    "id": f"{subject}$1",
                    "rank": "normal",
                    "mainsnak": {
                        "snaktype": "value",
                        "property": prop,
                        "datatype": datatype,
                        "datavalue": value,
                    },
                }
            ]
        },
    }


def _ids(out: Path) -> list[str]:
    return sorted(i for p in table_files(out, "terms") for i in pq.read_table(p).column("id").to_pylist())


def _malformed_offsets(out: Path) -> list[int]:
    manifest = json.loads((out / INGEST_MANIFEST).read_text())
    return sorted(m["offset"] for s in manifest["shards"] for m in s["malformed_lines"])


# -- 9, 12: one bad line is counted, logged with its offset, and skipped --------------------------


def _bad_lines() -> dict[str, bytes]:
    time200 = {"type": "time", "value": {"time": "+2001-01-01T00:00:00Z", "precision": 200}}
    nested = b'{"id":"Q999991","type":"item","x":' + b"[" * 100_000 + b"]" * 100_000 + b"},\n"
    return {
        "precision 200": _line(_item_statement("Q999990", "P585", time200, "time")),
        "nested 100,000 levels": nested,
        "entity id Q0123": _line({"id": "Q0123", "type": "item", "claims": {}}),
        "item value Q0123": _line(
            _item_statement(
                "Q999992", "P31", {"type": "wikibase-entityid", "value": {"id": "Q0123"}}, "wikibase-item"
            )
        ),
        "property id P01": _line(
            _item_statement("Q999993", "P01", {"type": "string", "value": "x"}, "string")
        ),
    }


@pytest.mark.parametrize("kind", list(_bad_lines()))
def test_a_bad_line_is_counted_with_its_offset_and_the_ingest_goes_on(
    kind: str, fixtures_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = _entity_lines(fixtures_dir)
    lines.insert(7, _bad_lines()[kind])
    dump = _dump(tmp_path / "bad.json", lines)
    offset = 2 + sum(len(x) for x in lines[:7])  # after "[\n"
    with caplog.at_level(logging.WARNING, logger="dafset.sources.dump.ingest"):
        report = ingest_dump(dump, tmp_path / "out", shards=2)
    assert (report.entities, report.malformed) == (20, 1)
    assert _malformed_offsets(tmp_path / "out") == [offset]
    assert any(f"byte {offset}" in r.getMessage() for r in caplog.records)
    ids = _ids(tmp_path / "out")
    assert len(ids) == 20 and "Q0123" not in ids and not any(i.startswith("Q99999") for i in ids)


def test_a_bad_statement_leaves_no_row_of_its_entity(fixtures_dir: Path, tmp_path: Path) -> None:
    """The entity goes whole or not at all: its good statements before the bad one are not kept."""
    good = {"type": "string", "value": "fine"}
    entity = _item_statement("Q999994", "P1", good, "string")
    bad = {"type": "time", "value": {"time": "+2001-01-01T00:00:00Z", "precision": 99}}
    entity["claims"]["P2"] = _item_statement("Q999994", "P2", bad, "time")["claims"]["P2"]
    dump = _dump(tmp_path / "d.json", [*_entity_lines(fixtures_dir)[:3], _line(entity)])
    ingest_dump(dump, tmp_path / "out")
    subjects = {
        s for p in table_files(tmp_path / "out", "statements") for s in pq.read_table(p).column("subject_id").to_pylist()
    }
    assert "Q999994" not in subjects and len(subjects) == 3


# -- 10: a line without end is skipped with bounded memory --------------------------------------------


class _Zeros(io.RawIOBase):
    """``size`` zero bytes without a newline, made on demand (the input itself takes no memory)."""

    def __init__(self, size: int) -> None:
        self.size, self.pos = size, 0

    def readable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos
        return pos

    def read(self, n: int = -1) -> bytes:
        n = max(0, min(n, self.size - self.pos))
        self.pos += n
        return bytes(n)


def test_a_line_without_end_holds_bounded_memory() -> None:
    block, cap = 1 << 20, 4 << 20
    tracemalloc.start()
    try:
        got = list(sharding.entity_lines(_Zeros(64 << 20), sharding.Shard(0, 0, 64 << 20), block, cap))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == [(0, sharding.TOO_LONG)]
    assert peak < 2 * (cap + 2 * block)  # carry + its copy, not the 64 MiB of the line


def test_an_overlong_line_is_malformed_and_the_next_ones_are_read(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sharding, "MAX_LINE_BYTES", 1 << 20)
    lines = _entity_lines(fixtures_dir)
    lines.insert(5, b"0" * (3 << 20) + b",\n")
    dump = _dump(tmp_path / "long.json", lines)
    report = ingest_dump(dump, tmp_path / "out", shards=3)
    assert (report.entities, report.malformed) == (20, 1)
    assert _malformed_offsets(tmp_path / "out") == [2 + sum(len(x) for x in lines[:5])]
