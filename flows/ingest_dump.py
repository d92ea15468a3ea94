"""The Prefect flow ``ingest-dump``: the entrypoint of the ``ingest-dump/weekly`` deployment.

A Wikidata JSON dump -> the Parquet tables of ``dafset.sources.dump.tables``, one task per
byte-range shard mapped over Dask (a ``LocalCluster`` of ``workers`` processes, or the scheduler
at ``dask_address``), results persisted beside the output so a rerun after a crash redoes only
the missing shards. The same steps run without Prefect as ``dafset ingest-dump``.

Run it once, without a deployment::

    python -m flows.ingest_dump DUMP --out out/dump --workers 4
"""

# No ``from __future__ import annotations``: Prefect builds the parameter schema from these
# annotations (see flows/build_dafset.py).
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from dafset.sources.dump.integrity import ingest_lock
from flows.build_dafset import RESULTS_DIR, share_api_url, task_runner
from flows.dump_tasks import dump_code_fingerprint, finish, ingest_shards, prepare

SUMMARY_KEY = "ingest-dump-summary"


def summary(report: Any) -> str:
    """The run's figures as markdown: counts, malformed lines, peak memory per worker."""
    rows = "\n".join(f"| {pid} | {mb:.0f} |" for pid, mb in sorted(report.peak_rss_by_worker().items()))
    return (
        f"# ingest-dump\n\n`{report.dump.path}` ({report.dump.compression}, "
        f"{report.dump.uncompressed_size:,} bytes uncompressed) -> `{report.out}`\n\n"
        f"- shards: {len(report.shards)}\n- entities: {report.entities:,}\n"
        f"- statements: {report.statements:,}\n- malformed lines: {report.malformed:,} "
        f"(offsets in `ingest.json`)\n- duplicate entities dropped: {report.duplicates:,}\n"
        f"- seconds: {report.seconds:.1f}\n\n"
        f"| worker process | peak RSS (MB) |\n|---|---|\n{rows}\n"
    )


@flow(name="ingest-dump", log_prints=True)
def ingest_dump(
    dump: str,
    out: str = "out/dump",
    shards: int | None = None,
    workers: int = 2,
    dask_address: str | None = None,
    fail_shard: int | None = None,
) -> dict[str, Any]:
    """Flatten ``dump`` (.json, .json.gz or .json.bz2) into Parquet tables under ``out``.

    shards: byte-range shards (default: one per 256 MiB, at most 400).
    workers: processes of the local Dask cluster (ignored with ``dask_address``).
    dask_address: an existing Dask scheduler (``tcp://host:8786``) instead of a local cluster.
    fail_shard: a shard index whose task fails (to exercise resuming).
    """
    with ingest_lock(Path(out)):  # one writer per folder, as `dafset ingest-dump` holds it
        return _ingest(dump, out, shards, workers, dask_address, fail_shard)


def _ingest(
    dump: str, out: str, shards: int | None, workers: int, dask_address: str | None, fail_shard: int | None
) -> dict[str, Any]:
    began = time.perf_counter()
    logger = get_run_logger()
    info, plan = prepare(dump, out, shards, workers)
    logger.info("%s: %d shards of ~%d MB", dump, len(plan), info.uncompressed_size // max(len(plan), 1) >> 20)
    if not dask_address:
        share_api_url()
    runner = ingest_shards.with_options(
        task_runner=task_runner("dask", dask_address, workers),
        result_storage=Path(out).resolve() / RESULTS_DIR,
    )
    results = runner(info, plan, out, dump_code_fingerprint(), fail_shard)
    report = finish(info, results, out, time.perf_counter() - began)
    create_markdown_artifact(summary(report), key=SUMMARY_KEY, description="dump ingest figures")
    logger.info(
        "%d entities, %d statements, %d malformed lines; peak RSS per worker %s MB",
        report.entities,
        report.statements,
        report.malformed,
        report.peak_rss_by_worker(),
    )
    return {
        "out": str(Path(out).resolve()),
        "entities": report.entities,
        "statements": report.statements,
        "malformed": report.malformed,
        "duplicates": report.duplicates,
        "shards": len(report.shards),
        "peak_rss_mb_by_worker": report.peak_rss_by_worker(),
    }


if __name__ == "__main__":  # the Dask runner spawns processes: keep module import side-effect free
    import argparse

    parser = argparse.ArgumentParser(description="Run the ingest-dump flow once (no deployment needed).")
    parser.add_argument("dump")
    parser.add_argument("--out", default="out/dump")
    parser.add_argument("--shards", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dask-address")
    args = parser.parse_args()
    print(ingest_dump(args.dump, args.out, args.shards, args.workers, args.dask_address))
