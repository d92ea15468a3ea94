"""Global statistics (frequency, in/out degree, sitelinks): DuckDB next to dask.dataframe and the
naive way (every row into Python, counted with dicts), on the same ingest folder, in one run.

The input is the bundled sample written as a dump and ingested (real entities and statements),
replicated ``--copies`` times with shifted ids (Q42 -> Q42, Q100000042, Q200000042, ...) so the
tables have a size worth timing; every copy keeps the real graph's shape (hubs, ranks, qualifiers).

    python bench/dump_stats.py                       # 20 copies (~470k statements)
    python bench/dump_stats.py --copies 200 --no-naive --dask-workers 4

Ends with one machine-readable line:
``dump_stats: statements=<n> entities=<m> duckdb_s=<a> dask_s=<b> naive_s=<c> dask_x=<b/a> naive_x=<c/a>``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dafset.sources.dump.ingest import ingest_dump  # noqa: E402
from dafset.sources.dump.integrity import listing  # noqa: E402
from dafset.sources.dump.sample_dump import write_sample_dump  # noqa: E402
from dafset.sources.dump.stats import DuckLimits, dask_stats, duckdb_stats  # noqa: E402
from dafset.sources.dump.tables import INGEST_MANIFEST, STATS_FILE, TABLES  # noqa: E402

SHIFT = 100_000_000


def _shift(column: str, k: int) -> str:
    """An id column moved to copy ``k`` (items only; properties stay)."""
    return (
        f"CASE WHEN {column} LIKE 'Q%' THEN 'Q' || (CAST(substr({column}, 2) AS BIGINT) + {k * SHIFT}) "
        f"ELSE {column} END AS {column}"
    )


def replicate(source: Path, target: Path, copies: int) -> None:
    """``copies`` shifted copies of every table, one shard file per copy."""
    con = duckdb.connect()
    for table in TABLES:
        (target / table).mkdir(parents=True, exist_ok=True)
        columns = [f.name for f in pq.read_schema(next((source / table).glob("*.parquet")))]
        ids = {"statements": ("subject_id", "object_id"), "terms": ("id",), "sitelinks": ("id",)}[table]
        for k in range(copies):
            select = ", ".join(_shift(c, k) if c in ids else c for c in columns)
            out = target / table / f"shard-{k:05d}.parquet"
            con.execute(
                f"COPY (SELECT {select} FROM read_parquet('{source}/{table}/*.parquet')) "
                f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
            )
    # vouch for the copies as an ingest would (dump-stats reads only what ingest.json lists)
    (target / INGEST_MANIFEST).write_text(json.dumps(listing(target, f"{copies} copies of {source}")))


def naive(folder: Path) -> int:
    """Read every statement into Python and count with dicts (what one writes first)."""
    rows = [
        r
        for f in sorted((folder / "statements").glob("*.parquet"))
        for r in pq.read_table(f, columns=["subject_id", "property", "rank", "object_id"]).to_pylist()
    ]
    level = {"preferred": 2, "normal": 1}
    best: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["rank"] in level:
            key = (r["subject_id"], r["property"])
            best[key] = max(best.get(key, 0), level[r["rank"]])
    freq: Counter[str] = Counter()
    triples, pairs = set(), set()
    for r in rows:
        freq[r["subject_id"]] += 1
        if r["object_id"] and r["object_id"] != r["subject_id"]:
            freq[r["object_id"]] += 1
        if r["object_id"] and level.get(r["rank"], 0) == best.get((r["subject_id"], r["property"])):
            triples.add((r["subject_id"], r["property"], r["object_id"]))
            pairs.add((r["subject_id"], r["object_id"]))
    in_degree = Counter(o for _, _, o in triples)
    out_degree = Counter(s for s, _ in pairs)
    return len(set(freq) | set(in_degree) | set(out_degree))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--no-naive", action="store_true")
    args = parser.parse_args()

    from distributed import Client

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        write_sample_dump(base / "sample.json")
        ingest_dump(base / "sample.json", base / "one")
        replicate(base / "one", base / "big", args.copies)
        statements = sum(
            pq.read_metadata(f).num_rows for f in (base / "big" / "statements").glob("*.parquet")
        )

        began = time.perf_counter()
        duck = duckdb_stats(base / "big", DuckLimits(memory_limit=args.memory_limit, threads=args.threads))
        duck_s = time.perf_counter() - began

        with Client(
            n_workers=args.dask_workers, threads_per_worker=1, processes=True, dashboard_address=None
        ):
            began = time.perf_counter()
            dask_report = dask_stats(base / "big", base / "dask")
            dask_s = time.perf_counter() - began
        assert dask_report["rows"] == duck["rows"], (dask_report, duck)

        naive_s = float("nan")
        if not args.no_naive:
            began = time.perf_counter()
            naive(base / "big")
            naive_s = time.perf_counter() - began
        entities = pq.read_metadata(base / "big" / STATS_FILE).num_rows

    print(f"input: the sample as a dump, {args.copies} shifted copies: {statements:,} statements")
    print(f"{'engine':<34}{'seconds':>9}{'statements/s':>14}")
    for name, seconds in (
        (f"DuckDB ({args.threads} threads, {args.memory_limit})", duck_s),
        (f"dask.dataframe ({args.dask_workers} local workers)", dask_s),
        ("naive Python (dicts)", naive_s),
    ):
        print(f"{name:<34}{seconds:>9.2f}{statements / seconds:>14,.0f}")
    print(
        f"dump_stats: statements={statements} entities={entities} duckdb_s={duck_s:.2f} "
        f"dask_s={dask_s:.2f} naive_s={naive_s:.2f} dask_x={dask_s / duck_s:.2f} naive_x={naive_s / duck_s:.2f}"
    )


if __name__ == "__main__":
    main()
