"""Dump ingest speed: entities/s per core for parse + flatten + write, next to qwikidata.

The input is built at run time from real dump lines (the first entities of a real
``latest-all.json`` and twenty consecutive real entities, from the test data), ids remapped so
every entity is distinct, written as a dump (``[``, one entity per line, ``]``) and gzipped. The
lines are drawn with weights that give the full dump's mean entity size (1.5 TB / 110 M ≈ 13.6 KB):
the famous items among our real lines are 5× larger than an average Wikidata entity, and
entities/s depends on size.

Measured in one run: the decoders (msgspec typed Structs vs orjson vs json) on the same lines;
reading the .json.gz (Python's gzip vs rapidgzip, 1 and N threads) and rapidgzip's seek index;
``ingest_dump`` on the plain file with 1 and 2 workers and on the .json.gz; qwikidata
(``WikidataItem`` over ``json.loads`` lines, reading what the tables hold); then the projection of
the full dump on 16 cores from .json.gz, with its arithmetic.

    python bench/dump_ingest.py [--size-mb 1024] [--workers 2] [--qwikidata-lines 3000]
"""

from __future__ import annotations

import argparse
import bisect
import gc
import gzip
import io
import json
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import accumulate
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DUMP_BYTES = 1.5e12  # latest-all.json, uncompressed (issue 11)
DUMP_ENTITIES = 110e6
MEAN_ENTITY_BYTES = DUMP_BYTES / DUMP_ENTITIES
SOURCES = (
    "entity_json/wikibase-dump-filter_latest-all_head50.json",
    "entity_json/qrank_twenty_entities.json",
)
_ID = re.compile(rb'"id":"([QP]\d+)"')


# -- the input --------------------------------------------------------------------------------------


def real_lines(fixtures: Path) -> list[bytes]:
    lines = []
    for name in SOURCES:
        for line in (fixtures / name).read_bytes().splitlines():
            line = line.rstrip(b",")
            if len(line) > 2:
                lines.append(line)
    return lines


def size_weights(sizes: list[int], target: float) -> list[float]:
    """Weights ∝ size^-a, with ``a`` found by bisection so the weighted mean size is ``target``."""
    lo, hi = 0.0, 8.0
    for _ in range(60):
        a = (lo + hi) / 2
        w = [s**-a for s in sizes]
        mean = sum(wi * s for wi, s in zip(w, sizes, strict=True)) / sum(w)
        lo, hi = (a, hi) if mean > target else (lo, a)
    return [s**-lo for s in sizes]


def write_input(lines: list[bytes], path: Path, size_mb: int, seed: int = 0) -> tuple[int, int]:
    """A dump of ≥ ``size_mb`` MB from ``lines`` drawn by size weight; returns (entities, bytes)."""
    rng = random.Random(seed)
    cum = list(accumulate(size_weights([len(x) for x in lines], MEAN_ENTITY_BYTES)))
    ids = [_ID.search(x).group(1) for x in lines]
    target, written, n = size_mb * 1_000_000, 0, 0
    with path.open("wb") as f:
        f.write(b"[\n")
        while written < target:
            i = bisect.bisect(cum, rng.random() * cum[-1])
            new = b"Q%d" % (900_000_000 + n)  # distinct ids, far from the real ones
            old = ids[i]
            line = lines[i].replace(b'"id":"%s"' % old, b'"id":"%s"' % new, 1)
            line = line.replace(b'"%s$' % old, b'"%s$' % new).replace(b'"%s$' % old.lower(), b'"%s$' % new)
            f.write((b",\n" if n else b"") + line)
            written += len(line) + 2
            n += 1
        f.write(b"\n]\n")
    return n, path.stat().st_size


# -- measurements -----------------------------------------------------------------------------------


def decoders(path: Path, limit: int = 50_000_000) -> dict[str, float]:
    """MB/s of each decoder over the first ``limit`` bytes of lines (decode only)."""
    import orjson

    from dafset.sources.dump.decode import decode

    with path.open("rb") as f:
        sample = [x.rstrip(b",\n") for x in f.readlines(limit) if len(x) > 3]
    mb = sum(map(len, sample)) / 1e6
    out = {}
    for name, fn in (("msgspec (typed Structs)", decode), ("orjson", orjson.loads), ("json", json.loads)):
        began = time.perf_counter()
        for line in sample:
            fn(line)
        out[name] = mb / (time.perf_counter() - began)
    return out


def gzip_readers(gz: Path, threads: int) -> dict[str, float]:
    """Uncompressed MB/s of a full sequential read, and rapidgzip's index build (size, s)."""
    import rapidgzip

    out: dict[str, float] = {}

    def drain(f: Any) -> int:
        n = 0
        while chunk := f.read(16 << 20):
            n += len(chunk)
        return n

    began = time.perf_counter()
    with gzip.open(gz, "rb") as f:
        n = drain(f)
    out["python gzip"] = n / 1e6 / (time.perf_counter() - began)
    for p in sorted({1, threads}):
        began = time.perf_counter()
        with rapidgzip.open(str(gz), parallelization=p) as f:
            n = drain(f)
        out[f"rapidgzip, {p} thread(s)"] = n / 1e6 / (time.perf_counter() - began)
    began, cpu = time.perf_counter(), _cpu()
    with rapidgzip.open(str(gz), parallelization=threads) as f:
        f.seek(0, io.SEEK_END)
        buf = io.BytesIO()
        f.export_index(buf, rapidgzip.IndexFormat.GZTOOL)
    out["index_s"] = time.perf_counter() - began
    out["index_cpu_s"] = _cpu() - cpu
    out["index_bytes"] = len(buf.getvalue())
    out["uncompressed"] = n
    # what a shard pays to start: open, load the index, seek to the middle, read 1 MB
    began = time.perf_counter()
    with rapidgzip.open(str(gz), parallelization=1) as f:
        buf.seek(0)
        f.import_index(buf)
        f.seek(n // 2)
        f.read(1 << 20)
    out["seek_s"] = time.perf_counter() - began
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ingest(dump: str, out: str, workers: int) -> dict[str, Any]:
    """One ingest in a fresh process, so its peak RSS is its own."""
    from dafset.sources.dump import seek_index
    from dafset.sources.dump.ingest import ingest_dump, peak_rss_mb
    from dafset.sources.dump.shards import Shard

    began = time.perf_counter()
    report = ingest_dump(Path(dump), Path(out), workers=workers)
    plan = [Shard(r.shard, r.start, r.end) for r in report.shards]
    return {
        "seconds": time.perf_counter() - began,
        "shard_seconds": sum(s.seconds for s in report.shards),
        "cpu_seconds": sum(s.cpu_seconds for s in report.shards),
        "entities": report.entities,
        "statements": report.statements,
        "malformed": report.malformed,
        "shards": len(report.shards),
        "peak_rss_mb": report.peak_rss_mb,
        "coordinator_rss_mb": peak_rss_mb(),  # identify + seek index (parallel) + planning
        "bytes": report.dump.uncompressed_size,
        "shard_index_bytes": max(
            (seek_index.shard_index_path(Path(report.dump.index), s).stat().st_size for s in plan),
            default=0,
        )
        if report.dump.index
        else 0,
    }


def ingest(dump: Path, out: Path, workers: int) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_ingest, str(dump), str(out), workers).result()


def _post_ingest(out: str) -> dict[str, float]:
    """dump-stats and the lookup layout (the sort by id) on an ingest folder, in a fresh process:
    CPU seconds cover DuckDB's threads."""
    from dafset.sources.dump.layout import write_layout
    from dafset.sources.dump.stats import DuckLimits, duckdb_stats

    limits = DuckLimits(memory_limit="2GB", threads=2)
    out_dir = Path(out)
    times: dict[str, float] = {}
    for name, step in (("stats", duckdb_stats), ("layout", write_layout)):
        began, cpu = time.perf_counter(), _cpu()
        step(out_dir, limits)
        times[f"{name}_s"] = time.perf_counter() - began
        times[f"{name}_cpu_s"] = _cpu() - cpu
    return times


def post_ingest(out: Path) -> dict[str, float]:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_post_ingest, str(out)).result()


def qwikidata_rate(path: Path, limit: int, gc_off: bool) -> float:
    """Entities/s of qwikidata reading what the tables hold (no writing)."""
    from qwikidata.entity import WikidataItem

    with path.open("rb") as f:
        lines = [x.rstrip(b",\n") for x in f.readlines(limit * int(MEAN_ENTITY_BYTES * 1.2)) if len(x) > 3]
    lines = lines[:limit]
    rows: list[tuple[Any, ...]] = []  # what the tables hold, as tuples (no Arrow, no writing)
    if gc_off:  # as ingest_shard runs: then the comparison is of the readers, not of GC settings
        gc.disable()
    began = time.perf_counter()
    for line in lines:
        item = WikidataItem(json.loads(line))
        sitelinks = item._entity_dict.get("sitelinks", {})
        rows.append(
            (
                item.get_label(),
                item.get_description(),
                item.get_aliases(),
                item.get_enwiki_title(),
                len(sitelinks),
            )
        )
        for group in item.get_claim_groups().values():
            for claim in group:
                snak = claim.mainsnak
                value = snak.datavalue.value if snak.snaktype == "value" else None
                qualifiers = [claim.qualifiers.get(p) for p in ("P580", "P582", "P585")]
                rows.append((claim.claim_id, claim.rank, snak.snaktype, snak.property_id, value, qualifiers))
    rate = len(lines) / (time.perf_counter() - began)
    gc.enable()
    return rate


# -- the run ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="uncompressed input size (default 1024)")
    parser.add_argument("--workers", type=int, default=2, help="the parallel run's workers (default 2)")
    parser.add_argument("--qwikidata-lines", type=int, default=3000, help="lines read by qwikidata")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--fixtures", type=Path, default=None, help="real fixtures dir (default: settings)")
    args = parser.parse_args()

    from dafset.settings import get_settings

    fixtures = args.fixtures or get_settings().fixtures_dir
    work = args.dir or Path(tempfile.mkdtemp(prefix="dafset-bench-dump-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"cores here: {os.cpu_count()} (shared with other work: figures are for a loaded machine)")

    lines = real_lines(fixtures)
    plain = work / "bench-dump.json"
    began = time.perf_counter()
    entities, size = write_input(lines, plain, args.size_mb)
    gz = work / "bench-dump.json.gz"
    with plain.open("rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 16 << 20)
    print(
        f"input: {entities:,} entities drawn from {len(lines)} real dump lines, {size / 1e6:,.0f} MB "
        f"(mean {size / entities / 1e3:.1f} KB/entity; full dump {MEAN_ENTITY_BYTES / 1e3:.1f} KB), "
        f".json.gz {gz.stat().st_size / 1e6:,.0f} MB; made in {time.perf_counter() - began:.0f} s"
    )

    print("\ndecoders, decode only (MB/s of JSON, one core):")
    for name, rate in decoders(plain).items():
        print(f"  {name:<26} {rate:8.0f}")

    readers = gzip_readers(gz, args.workers)
    print(f"\nreading the .json.gz sequentially (MB/s of JSON out), {args.workers} threads at most:")
    for name, rate in readers.items():
        if not name.startswith(("index", "seek", "uncompressed")):
            print(f"  {name:<26} {rate:8.0f}")
    index_ratio = readers["index_bytes"] / readers["uncompressed"]
    print(
        f"  rapidgzip seek index: {readers['index_bytes'] / 1e6:.1f} MB ({index_ratio:.4%} of the JSON), "
        f"built in {readers['index_s']:.1f} s with {args.workers} threads ({readers['index_cpu_s']:.1f} CPU-s); "
        f"a shard's open + index load + seek to the middle + 1 MB read: {readers['seek_s'] * 1e3:.0f} ms"
    )

    print("\ningest_dump (parse + flatten + zstd Parquet), each in a fresh process:")
    runs = {
        "plain, 1 worker": ingest(plain, work / "out-1", 1),
        f"plain, {args.workers} workers": ingest(plain, work / f"out-{args.workers}", args.workers),
        f".json.gz, {args.workers} workers": ingest(gz, work / "out-gz", args.workers),
    }
    for name, r in runs.items():
        print(
            f"  {name:<22} wall {r['seconds']:6.1f} s: {r['entities'] / r['seconds']:7,.0f} entities/s "
            f"{r['bytes'] / 1e6 / r['seconds']:4.0f} MB/s | per CPU-second in shards: "
            f"{r['entities'] / r['cpu_seconds']:7,.0f} entities {r['bytes'] / 1e6 / r['cpu_seconds']:4.0f} MB | "
            f"{r['shards']} shards, peak RSS/worker {r['peak_rss_mb']:.0f} MB "
            f"(coordinator {r['coordinator_rss_mb']:.0f} MB) "
            f"({r['statements']:,} statements, {r['malformed']} malformed)"
        )
    one, many, packed = runs.values()
    assert one["entities"] == many["entities"] == packed["entities"] == entities
    # per core: CPU time, not wall time, on a machine shared with other work (the wall rate of
    # the 1-worker run is printed above; on an idle core the two agree)
    per_core = one["entities"] / one["cpu_seconds"]
    scale = one["seconds"] / many["seconds"]
    print(f"  {args.workers} workers vs 1 (wall): {scale:.2f}x")

    post = post_ingest(work / "out-gz")
    print(
        f"  after the ingest: dump-stats {post['stats_s']:.1f} s ({post['stats_cpu_s']:.1f} CPU-s), "
        f"lookup layout (sort by id, 2 DuckDB threads) {post['layout_s']:.1f} s ({post['layout_cpu_s']:.1f} CPU-s)"
    )

    qwd_default = qwikidata_rate(plain, args.qwikidata_lines, gc_off=False)
    qwd = qwikidata_rate(plain, args.qwikidata_lines, gc_off=True)
    print(
        f"\nqwikidata (json.loads + WikidataItem, reading the same fields, no writing): {qwd_default:,.0f} "
        f"entities/s as usually run, {qwd:,.0f} with the GC off as ours runs (the ratio below uses this one)"
    )

    # projection: the full dump from .json.gz on 16 cores = index pass + shard pass, both scaled
    # linearly from the per-core rates measured here
    cores = 16
    index_mb_s_core = readers["uncompressed"] / 1e6 / readers["index_cpu_s"]
    shard_mb_s_core = packed["bytes"] / 1e6 / packed["cpu_seconds"]
    index_min = DUMP_BYTES / 1e6 / (index_mb_s_core * cores) / 60
    shard_min = DUMP_BYTES / 1e6 / (shard_mb_s_core * cores) / 60
    # dump-stats and the layout sort: DuckDB over the tables, CPU time per MB of JSON, linear
    stats_min = DUMP_BYTES / 1e6 * post["stats_cpu_s"] / (packed["bytes"] / 1e6) / cores / 60
    layout_min = DUMP_BYTES / 1e6 * post["layout_cpu_s"] / (packed["bytes"] / 1e6) / cores / 60
    projected = index_min + shard_min + stats_min + layout_min
    print(
        f"\nprojection, full dump ({DUMP_BYTES / 1e12:.1f} TB JSON, {DUMP_ENTITIES / 1e6:.0f} M entities) "
        f"from .json.gz on {cores} cores:\n"
        f"  index pass: {DUMP_BYTES / 1e6:,.0f} MB / ({index_mb_s_core:.0f} MB/s/core × {cores}) = {index_min:.1f} min\n"
        f"  shards:     {DUMP_BYTES / 1e6:,.0f} MB / ({shard_mb_s_core:.0f} MB/s/core × {cores}) = {shard_min:.1f} min\n"
        f"  dump-stats: {post['stats_cpu_s']:.1f} CPU-s per {packed['bytes'] / 1e6:,.0f} MB × "
        f"{DUMP_BYTES / packed['bytes']:,.0f} / {cores} = {stats_min:.1f} min\n"
        f"  layout:     {post['layout_cpu_s']:.1f} CPU-s per {packed['bytes'] / 1e6:,.0f} MB × "
        f"{DUMP_BYTES / packed['bytes']:,.0f} / {cores} = {layout_min:.1f} min "
        "(DuckDB's sort assumed linear and spread over 16 cores; it spills beyond its memory limit)\n"
        f"  total {projected:.1f} min (goal ≤ 45); whole seek index ≈ {index_ratio * DUMP_BYTES / 1e9:.1f} GB on disk, "
        f"each shard loads only its range's points (largest here {packed['shard_index_bytes'] / 1e3:.0f} KB)"
    )
    peak = max(r["peak_rss_mb"] for r in runs.values())
    print(
        f"\ndump_ingest: entities_per_core_s={per_core:.0f} qwikidata_x={per_core / qwd:.1f} "
        f"workers2_x={scale:.2f} peak_rss_mb={peak:.0f} projected_16core_min={projected:.1f}"
    )
    if args.dir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
