"""The dump path never publishes wrong data quietly (issue 20): bad lines are counted and skipped,
ids are checked where they enter, folders are listed (never globbed), and an ingest folder is used
only whole, by one writer, with statistics of that very ingest."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dafset.errors import ConfigError
from dafset.sources.dump import ingest
from dafset.sources.dump import shards as sharding
from dafset.sources.dump.ingest import ingest_dump
from dafset.sources.dump.integrity import ingest_lock, verify_ingest
from dafset.sources.dump.source import DumpSource
from dafset.sources.dump.streams import identity
from dafset.sources.dump.tables import INGEST_MANIFEST, STATS_FILE, shard_file, table_files
from dafset.sources.sample.source import SampleSource

REPO = Path(__file__).resolve().parents[1]

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
        s
        for p in table_files(tmp_path / "out", "statements")
        for s in pq.read_table(p).column("subject_id").to_pylist()
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


# -- CLI helpers ----------------------------------------------------------------------------------


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "dafset.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _one_error_line(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A failed command printed one error line, ``error: ...``, holding every needle (a build
    also prints its "[dafset] <stage>: ..." progress lines), and no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("[dafset] ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file an ingest published (tables, ingest.json, statistics), with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock") and ".duckdb-tmp" not in p.parts
    }


@pytest.fixture
def twenty(fixtures_dir: Path, tmp_path: Path) -> Path:
    return _dump(tmp_path / "twenty.json", _entity_lines(fixtures_dir))


@pytest.fixture
def head50(fixtures_dir: Path, tmp_path: Path) -> Path:
    return _dump(tmp_path / "head50.json", _entity_lines(fixtures_dir, HEAD50))


def _stats_ids(folder: Path) -> set[str]:
    return set(pq.read_table(folder / STATS_FILE, columns=["id"]).column("id").to_pylist())


# -- 2: one writer per ingest folder --------------------------------------------------------------


def test_a_second_ingest_into_a_busy_folder_stops_and_mixes_nothing(
    twenty: Path, head50: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    ingest_dump(twenty, out, shards=2)
    before = _snapshot(out)
    with ingest_lock(out):  # an ingest (or dump-stats) of another process is running
        done = _cli("ingest-dump", head50, "--out", out, "--shards", "2")
        stats = _cli("dump-stats", out)
    _one_error_line(done, "another ingest", str(out))
    _one_error_line(stats, "another ingest", str(out))
    assert _snapshot(out) == before  # dump A's tables and ingest.json, untouched


def test_two_concurrent_ingests_never_publish_a_mixed_folder(
    twenty: Path, head50: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "dafset.cli", "ingest-dump", str(d), "--out", str(out), "--shards", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for d in (twenty, head50)
    ]
    codes = [r.wait(timeout=300) for r in runs]
    assert 0 in codes  # at least one ran; a refused one said so and wrote nothing
    for run, code in zip(runs, codes, strict=True):
        if code:
            assert "another ingest" in run.stderr.read()
    manifest = verify_ingest(out)  # whole, and every table from the dump ingest.json names
    dump = Path(manifest["dump"]["path"])
    ids = {json.loads(line.rstrip(b",\n"))["id"] for line in _entity_lines(dump.parent, dump.name)}
    assert set(_ids(out)) == ids


# -- 3: the dump's identity sees its middle ----------------------------------------------------------


def test_a_same_size_partial_download_then_the_whole_file_is_ingested_again(
    head50: Path, tmp_path: Path
) -> None:
    whole = head50.read_bytes()
    assert len(whole) > 3 * (1 << 20)  # more than the first and last MiB
    a, b = len(whole) * 3 // 10, len(whole) * 7 // 10
    partial = whole[:a] + b"\0" * (b - a) + whole[b:]  # a segmented download, its middle not yet written
    dump, out = tmp_path / "dl" / "latest-all.json", tmp_path / "out"
    dump.parent.mkdir()
    dump.write_bytes(partial)
    first = ingest_dump(dump, out, shards=8)
    assert first.entities < 49
    stamp = dump.stat()
    dump.write_bytes(whole)  # the download completes
    os.utime(dump, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # even with the time kept (cp -p)
    again = ingest_dump(dump, out, shards=8)
    assert (again.resumed, again.entities, again.malformed) == (0, 49, 0)
    assert len(_ids(out)) == 49


def test_the_identity_changes_with_the_modification_time_alone(twenty: Path) -> None:
    before = identity(twenty)
    os.utime(twenty, ns=(0, twenty.stat().st_mtime_ns + 10**9))
    assert identity(twenty) != before


# -- 4: only a whole ingest, with statistics of that very ingest, is used ----------------------------


def _stats_and_source(folder: Path) -> DumpSource:
    return DumpSource(folder, SampleSource())


def test_a_deleted_or_cut_shard_is_refused_by_dump_stats_and_the_dump_source(
    twenty: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    ingest_dump(twenty, out, shards=4)
    assert _cli("dump-stats", out).returncode == 0
    _stats_and_source(out)  # whole: fine
    shard = out / shard_file("statements", 1)
    data = shard.read_bytes()
    shard.unlink()
    _one_error_line(_cli("dump-stats", out), str(shard), "missing", "ingest-dump")
    with pytest.raises(ConfigError, match=r"missing, but listed in ingest\.json"):
        _stats_and_source(out)
    shard.write_bytes(data[: len(data) // 2])  # cut short
    _one_error_line(_cli("dump-stats", out), str(shard), "ingest-dump")
    shard.write_bytes(data)
    (out / shard_file("terms", 7)).write_bytes((out / shard_file("terms", 0)).read_bytes())  # a stray
    _one_error_line(_cli("dump-stats", out), "shard-00007", "not part of the ingest")


def test_half_an_ingest_is_refused(twenty: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ingest_dump(twenty, out, shards=4)
    assert _cli("dump-stats", out).returncode == 0
    info, plan = ingest.prepare(twenty, out, 8)  # a re-ingest with 8 shards dies after 4
    for shard in plan[:4]:
        ingest.ingest_shard(info, shard, out)
    _one_error_line(_cli("dump-stats", out), "ingest.json: missing", "did not finish", "ingest-dump")
    with pytest.raises(ConfigError, match="did not finish"):
        _stats_and_source(out)


def test_statistics_of_an_earlier_ingest_are_refused(twenty: Path, head50: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ingest_dump(head50, out, shards=2)
    assert _cli("dump-stats", out).returncode == 0
    ingest_dump(twenty, out, shards=2)  # another dump into the same folder, no dump-stats after it
    with pytest.raises(ConfigError, match="computed from an earlier ingest") as caught:
        _stats_and_source(out)
    assert f"dafset dump-stats {out}" in str(caught.value)
    build = _cli("build", "--source", "dump", "--dump-dir", out, "--out", tmp_path / "dafset", "--no-figures")
    _one_error_line(build, "earlier ingest", "dump-stats")
    assert "harvest" not in build.stderr  # refused by the checks before any work
    assert not (tmp_path / "dafset" / "latest").exists()
    assert _cli("dump-stats", out).returncode == 0
    _stats_and_source(out)
    ingest_dump(twenty, tmp_path / "fresh", shards=2)
    assert _cli("dump-stats", tmp_path / "fresh").returncode == 0
    fresh = pq.read_table(tmp_path / "fresh" / STATS_FILE)
    assert pq.read_table(out / STATS_FILE).equals(fresh)  # the new dump's statistics, none of the old


# -- 5: folder names are never patterns -----------------------------------------------------------


def test_a_folder_named_like_a_glob_reads_only_its_own_tables(
    twenty: Path, head50: Path, tmp_path: Path
) -> None:
    ingest_dump(twenty, tmp_path / "plain")
    assert _cli("dump-stats", tmp_path / "plain").returncode == 0
    want = pq.read_table(tmp_path / "plain" / STATS_FILE)
    ingest_dump(head50, tmp_path / "q1")  # the sibling a pattern would match
    assert _cli("dump-stats", tmp_path / "q1").returncode == 0
    sibling_only = sorted(set(_ids(tmp_path / "q1")) - _stats_ids(tmp_path / "plain"))[:5]
    for name in ("q[1]", "q*", "q?"):
        folder = tmp_path / name
        ingest_dump(twenty, folder)
        assert _cli("dump-stats", folder).returncode == 0, name
        assert pq.read_table(folder / STATS_FILE).equals(want), name
        source = _stats_and_source(folder)
        # unknown items come back unlabelled (as from WDQS); the sibling's labels never show
        assert not [r for r in source.select("labels", items=sibling_only) if "label" in r], name
        assert [r for r in source.select("labels", items=_ids(folder)[:3]) if "label" in r], name
        shutil.rmtree(folder)


# -- 8: an entity twice in the dump is kept once, counted ---------------------------------------------


@pytest.mark.parametrize("shards", [1, 3])
def test_an_entity_twice_in_the_dump_is_kept_once_and_counted(
    fixtures_dir: Path, tmp_path: Path, shards: int
) -> None:
    lines = _entity_lines(fixtures_dir)
    once = ingest_dump(_dump(tmp_path / "once.json", lines), tmp_path / "once", shards=shards)
    twice = ingest_dump(_dump(tmp_path / "twice.json", [*lines, lines[1]]), tmp_path / "twice", shards=shards)
    assert (twice.entities, twice.duplicates, twice.statements) == (20, 1, once.statements)
    assert json.loads((tmp_path / "twice" / INGEST_MANIFEST).read_text())["duplicates"] == 1
    assert _ids(tmp_path / "twice") == _ids(tmp_path / "once")
    for folder in ("once", "twice"):
        assert _cli("dump-stats", tmp_path / folder).returncode == 0
    frequency = {
        f: dict(
            zip(
                *pq.read_table(tmp_path / f / STATS_FILE, columns=["id", "frequency"]).to_pydict().values(),
                strict=True,
            )
        )
        for f in ("once", "twice")
    }
    assert frequency["twice"] == frequency["once"]


# -- 11: a crash while the seek index is written is repaired, not fatal --------------------------------


def test_an_empty_or_cut_seek_index_is_rebuilt(fixtures_dir: Path, tmp_path: Path) -> None:
    dump = tmp_path / "d.json.gz"
    dump.write_bytes(gzip.compress((fixtures_dir / HEAD50).read_bytes()))
    first = ingest_dump(dump, tmp_path / "out", shards=3)
    index = Path(first.dump.index)
    size_file = index.with_name(index.name + ".size")
    size_file.write_text("")  # what a crash or a full disk left
    done = _cli("ingest-dump", dump, "--out", tmp_path / "out", "--shards", "3")
    assert done.returncode == 0 and "ingested 49 entities" in done.stdout, done.stderr
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    again = ingest_dump(dump, tmp_path / "out", shards=3)
    assert again.entities == 49 and again.dump.uncompressed_size == first.dump.uncompressed_size
    assert int(size_file.read_text()) == first.dump.uncompressed_size


def test_a_gzip_of_zeros_is_one_malformed_line_in_bounded_memory(tmp_path: Path) -> None:
    """The issue's probe, scaled: 512 MiB of zeros without a newline (2 MB gzipped). Neither the
    line nor the decompressor's chunks may grow with it (the shard's reads stop at its end + the
    cap + a block, and its seek index bounds the chunk there)."""
    dump = tmp_path / "zeros.json.gz"
    with gzip.open(dump, "wb", compresslevel=1) as f:
        f.write(b"[\n")
        for _ in range(64):
            f.write(bytes(8 << 20).replace(b"\0", b"0"))
        f.write(b"\n]\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAFSET_DUMP_MAX_LINE_MB": "4"}
    args = [sys.executable, "-m", "dafset.cli", "ingest-dump", str(dump), "--out", str(tmp_path / "out")]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "out" / INGEST_MANIFEST).read_text())
    assert (manifest["entities"], manifest["malformed"]) == (0, 1)
    assert "longer than 4 MiB" in manifest["shards"][0]["malformed_lines"][0]["error"]
    assert manifest["peak_rss_mb"] < 400  # the line is 512 MiB
