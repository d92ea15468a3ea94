"""``dafset ingest-dump``: a Wikidata JSON dump -> the Parquet tables of ``tables.py``.

Three steps, each usable on its own (the Prefect flow ``ingest-dump`` maps the middle one):

1. ``prepare``: identify the dump (``streams.identity``), build the seek index of a compressed
   dump, plan the byte-range shards;
2. ``ingest_shard``: one shard's lines -> decode -> flatten -> Parquet, plus a small result file
   ``_shards/shard-NNNNN.json`` recording each file's size and rows; a shard whose result exists
   for the same dump and range, with its files as recorded, is not redone (a rerun resumes);
3. ``finish``: every shard's files checked again, later copies of an entity found in several
   shards dropped (``dedupe``), then ``ingest.json``, written last.

``ingest_dump`` holds the folder's ingest lock throughout (``integrity.ingest_lock``), and
``prepare`` removes an old ``ingest.json`` first, so an unfinished ingest is never read as whole.

Malformed lines are never fatal and never silent: each is logged with its byte offset (in the
uncompressed stream), counted per shard, and the first ``KEEP_MALFORMED`` per shard are listed in
``ingest.json``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import resource
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from dafset.errors import ConfigError, SourceError
from dafset.sources.dump import dedupe, seek_index
from dafset.sources.dump import shards as sharding
from dafset.sources.dump.decode import DecodeError, Entity, decode
from dafset.sources.dump.flatten import BATCH_ROWS, BadEntity, TableBuffers
from dafset.sources.dump.integrity import file_record, ingest_id, ingest_lock
from dafset.sources.dump.streams import IDENTITY_METHOD, DumpInfo, describe, open_uncompressed
from dafset.sources.dump.tables import INGEST_MANIFEST, SCHEMAS, shard_file
from dafset.sources.dump.writer import ShardWriter

log = logging.getLogger(__name__)

RESULTS_DIR = "_shards"  # per-shard result files: what is done
INDEX_DIR = "_index"  # the seek index of a compressed dump
KEEP_MALFORMED = 100  # malformed lines listed per shard (all are counted and logged)


@dataclass(frozen=True)
class Malformed:
    offset: int  # byte offset of the line in the uncompressed dump
    error: str


@dataclass
class ShardResult:
    shard: int
    start: int
    end: int
    identity: str
    entities: int = 0
    statements: int = 0
    malformed: int = 0
    malformed_lines: list[Malformed] = field(default_factory=list)
    duplicates: int = 0  # entity lines whose id came earlier (in this shard, or an earlier one)
    files: dict[str, dict[str, int]] = field(default_factory=dict)  # table file -> bytes, rows
    bytes: int = 0  # uncompressed bytes of the lines read
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system time of the process while it ran the shard
    peak_rss_mb: float = 0.0  # of the process that ran the shard
    pid: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ShardResult:
        lines = [Malformed(**m) for m in raw.pop("malformed_lines", [])]
        return cls(**raw, malformed_lines=lines)


@dataclass
class IngestReport:
    out: Path
    dump: DumpInfo
    shards: list[ShardResult]
    seconds: float
    resumed: int = 0  # shards found done and not redone

    @property
    def entities(self) -> int:
        return sum(s.entities for s in self.shards)

    @property
    def statements(self) -> int:
        return sum(s.statements for s in self.shards)

    @property
    def malformed(self) -> int:
        return sum(s.malformed for s in self.shards)

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.shards)

    @property
    def peak_rss_mb(self) -> float:
        return max((s.peak_rss_mb for s in self.shards), default=0.0)

    def peak_rss_by_worker(self) -> dict[str, float]:
        """Peak resident memory of each process that ran shards (by process id)."""
        peaks: dict[str, float] = {}
        for s in self.shards:
            peaks[str(s.pid)] = round(max(peaks.get(str(s.pid), 0.0), s.peak_rss_mb), 1)
        return peaks


# -- step 1 -----------------------------------------------------------------------------------------


def prepare(
    dump: Path, out: Path, shards: int | None = None, workers: int = 1
) -> tuple[DumpInfo, list[sharding.Shard]]:
    """Identify the dump, index it when compressed, and plan its shards."""
    if not dump.is_file():
        raise ConfigError(f"dump: no such file: {dump}")
    if workers < 1:
        raise ConfigError(f"workers: expected at least 1, got {workers}")
    if shards is not None and shards < 1:
        raise ConfigError(f"shards: expected at least 1, got {shards}")
    out.mkdir(parents=True, exist_ok=True)
    # from here until ``finish`` the folder is an unfinished ingest, and readers refuse it
    (out / INGEST_MANIFEST).unlink(missing_ok=True)
    info = describe(dump.resolve(), out / INDEX_DIR, parallelization=workers)
    count = shards or sharding.default_shards(info.uncompressed_size, workers)
    plan = sharding.plan(info.uncompressed_size, count)
    if info.index and info.compression in ("gzip", "bzip2"):
        seek_index.split(Path(info.index), info.compression, plan)
    return info, plan


# -- step 2 -----------------------------------------------------------------------------------------


def ingest_shard(
    info: DumpInfo, shard: sharding.Shard, out: Path, batch_rows: int = BATCH_ROWS
) -> ShardResult:
    """Flatten one shard to its Parquet files; reuse its result when already done."""
    done = shard_done(info, shard, out)
    if done is not None:
        return done
    began, cpu = time.perf_counter(), _cpu_seconds()
    result = ShardResult(shard.index, shard.start, shard.end, info.identity, pid=os.getpid())
    buffers = TableBuffers(batch_rows)
    seen: set[str] = set()  # the shard's entity ids (a few 100,000 at most): duplicates kept once
    with (
        _no_gc(),
        _readable(info, shard),
        open_uncompressed(info, shard) as stream,
        ShardWriter(out, shard.index) as writer,
    ):
        for offset, line in sharding.entity_lines(stream, shard):
            result.bytes += len(line)
            try:
                entity = _entity(line)
                if entity.id in seen:
                    _duplicate(result, offset, entity.id)
                    continue
                buffers.add(entity)
            except (DecodeError, BadEntity) as exc:
                _malformed(result, offset, exc)
                continue
            seen.add(entity.id)
            result.entities += 1
            if buffers.full():
                writer.write(buffers.take())
        writer.write(buffers.take())
        result.statements = writer.rows["statements"]
    result.files = {name: file_record(out / name) for name in _shard_files(shard.index)}
    result.seconds = time.perf_counter() - began
    result.cpu_seconds = _cpu_seconds() - cpu
    result.peak_rss_mb = peak_rss_mb()
    _write_json(out / RESULTS_DIR / f"{shard.name}.json", result.to_json())
    log.info(
        "%s (bytes %d-%d): %d entities, %d statements, %d malformed, %.1f s, peak %.0f MB",
        shard.name,
        shard.start,
        shard.end,
        result.entities,
        result.statements,
        result.malformed,
        result.seconds,
        result.peak_rss_mb,
    )
    return result


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic GC off while a shard runs: decoded entities and rows hold no cycles
    (refcounting frees them), and with 100,000s of live row tuples every collection walks them
    all — GC passes otherwise take more than half of the CPU time (bench/dump_ingest.py)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextmanager
def _readable(info: DumpInfo, shard: sharding.Shard) -> Iterator[None]:
    """A dump that cannot be read (truncated, corrupt compression) or a table that cannot be
    written (disk full) is fatal: one line naming the dump, the shard and the cause."""
    try:
        yield
    except (OSError, RuntimeError, EOFError) as exc:
        raise SourceError(
            f"{info.path}: shard {shard.index} (bytes {shard.start}-{shard.end}) failed: {exc}"
        ) from exc


def _entity(line: memoryview) -> Entity:
    if not line:  # sharding.TOO_LONG
        raise DecodeError(f"line longer than {sharding.MAX_LINE_BYTES >> 20} MiB (DAFSET_DUMP_MAX_LINE_MB)")
    try:
        return decode(line)
    except RecursionError:  # msgspec's answer to a line nested too deep
        raise DecodeError("JSON nested too deep") from None


def _duplicate(result: ShardResult, offset: int, entity: str) -> None:
    result.duplicates += 1
    log.warning("duplicate entity %s at byte %d (shard %d): kept the first", entity, offset, result.shard)


def _malformed(result: ShardResult, offset: int, exc: Exception) -> None:
    result.malformed += 1
    message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    log.warning("malformed dump line at byte %d (shard %d): %s", offset, result.shard, message)
    if len(result.malformed_lines) < KEEP_MALFORMED:
        result.malformed_lines.append(Malformed(offset, message))


def _shard_files(shard: int) -> list[str]:
    return [shard_file(table, shard) for table in SCHEMAS]


def shard_done(info: DumpInfo, shard: sharding.Shard, out: Path) -> ShardResult | None:
    """The shard's recorded result when its files are still the ones it wrote, else None."""
    path = out / RESULTS_DIR / f"{shard.name}.json"
    try:
        result = ShardResult.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):  # none yet, or a result of an older version
        return None
    same = (result.identity, result.start, result.end) == (info.identity, shard.start, shard.end)
    return result if same and _files_intact(out, result) else None


def _files_intact(out: Path, result: ShardResult) -> bool:
    """Each of the shard's files has the size and rows recorded (deleted, cut or garbled: no)."""
    if sorted(result.files) != sorted(_shard_files(result.shard)):
        return False
    try:
        return all(file_record(out / name) == want for name, want in result.files.items())
    except (OSError, ValueError):  # missing, or no Parquet footer (ArrowInvalid is a ValueError)
        return False


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads (a decompressor's too)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far.

    Linux's VmHWM, not ``ru_maxrss``: a spawned worker (fork + exec) inherits its parent's
    ``ru_maxrss`` across exec, so a pool started by a large parent would report the parent's peak.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux and BSDs
    return int(status.split("VmHWM:", 1)[1].split()[0]) / 1024


# -- step 3 -----------------------------------------------------------------------------------------


def finish(
    info: DumpInfo, results: list[ShardResult], out: Path, seconds: float, resumed: int = 0
) -> IngestReport:
    """Check every shard's files, keep one copy of each entity, write ``ingest.json``, and drop
    stale shard files of another plan (a different shard count)."""
    results = [_checked(info, r, out) for r in sorted(results, key=lambda r: r.shard)]
    wanted = {sharding.Shard(r.shard, r.start, r.end).name for r in results}
    for table in (*SCHEMAS, RESULTS_DIR):
        for path in (out / table).glob("shard-*"):
            if path.name.split(".")[0] not in wanted:
                path.unlink()
    _dedupe(results, out)
    report = IngestReport(out, info, results, seconds, resumed)
    files = {name: record for r in results for name, record in r.files.items()}
    manifest = {
        "dump": info.to_json(),
        "identity_method": IDENTITY_METHOD,
        "ingest_id": ingest_id(info.identity, files),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "tables": {table: [shard_file(table, r.shard) for r in results] for table in SCHEMAS},
        "files": files,
        "entities": report.entities,
        "statements": report.statements,
        "malformed": report.malformed,
        "duplicates": report.duplicates,
        "peak_rss_mb": round(report.peak_rss_mb, 1),
        "peak_rss_mb_by_worker": report.peak_rss_by_worker(),
        "resumed_shards": resumed,
        "shards": [r.to_json() for r in results],
    }
    _write_json(out / INGEST_MANIFEST, manifest)
    return report


def _checked(info: DumpInfo, result: ShardResult, out: Path) -> ShardResult:
    """The shard's result as recorded beside its files, once they match it (a result handed
    over by a cache is never trusted over the files)."""
    done = shard_done(info, sharding.Shard(result.shard, result.start, result.end), out)
    if done is None:
        raise SourceError(
            f"{out}: the files of shard {result.shard} are missing or changed since it was ingested; "
            "rerun the ingest (it redoes that shard)"
        )
    return done


def _dedupe(results: list[ShardResult], out: Path) -> None:
    """Drop later copies of entities found in several shards, counted in ``duplicates``."""
    drop = dedupe.later_copies(out)
    for result in results:
        ids = drop.get(result.shard)
        if not ids:
            continue
        kept = dedupe.drop_entities(out, result.shard, ids)
        result.duplicates += result.entities - kept["terms"]
        result.entities, result.statements = kept["terms"], kept["statements"]
        result.files = {name: file_record(out / name) for name in _shard_files(result.shard)}
        _write_json(out / RESULTS_DIR / f"shard-{result.shard:05d}.json", result.to_json())
        log.warning("shard %d: dropped %d entities already in an earlier shard", result.shard, len(ids))


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(tmp, path)


# -- all three --------------------------------------------------------------------------------------


def ingest_dump(dump: Path, out: Path, *, shards: int | None = None, workers: int = 1) -> IngestReport:
    """Flatten ``dump`` into ``out`` (tables + ``ingest.json``), ``workers`` processes in parallel."""
    if not Path(dump).is_file():
        raise ConfigError(f"dump: no such file: {dump}")
    with ingest_lock(Path(out)):  # one writer per folder: two dumps never mix
        return _ingest_locked(Path(dump), Path(out), shards, workers)


def _ingest_locked(dump: Path, out: Path, shards: int | None, workers: int) -> IngestReport:
    began = time.perf_counter()
    info, plan = prepare(Path(dump), Path(out), shards, workers)
    resumed = sum(shard_done(info, shard, Path(out)) is not None for shard in plan)
    if workers == 1:
        results = [ingest_shard(info, shard, Path(out)) for shard in plan]
    else:
        # spawn, not fork: a forked child would inherit the parent's decompressor threads' state
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(ingest_shard, [info] * len(plan), plan, [Path(out)] * len(plan)))
    report = finish(info, results, Path(out), time.perf_counter() - began, resumed)
    log.info(
        "ingested %d entities, %d statements (%d malformed lines) from %s in %d shards, %.1f s",
        report.entities,
        report.statements,
        report.malformed,
        dump,
        len(plan),
        report.seconds,
    )
    return report
