"""The dump ingest's tasks and the subflow ``ingest-dump-shards`` that maps shards over workers.

Each task calls one function of ``dafset.sources.dump.ingest``. They live in this importable
module, not in the entrypoint script, because Dask workers import tasks by module name.

Caching: a shard's result is keyed by the dump's identity, the shard's byte range, the output
folder and the ingest code (``dump_code_fingerprint``), and persisted beside the output; a rerun
after a crash finds the finished shards in the cache and redoes only the missing ones. A cached
result is used only while the shard's files are the ones it describes (``ingest.shard_done``:
their sizes and row counts); a shard whose files were deleted or changed is run again and its
cache entry refreshed, and ``finish`` checks every file again before writing ``ingest.json``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait

from dafset.sources.dump import ingest
from dafset.sources.dump.shards import Shard
from dafset.sources.dump.streams import DumpInfo
from flows.policy import CACHE_EXPIRATION


class SimulatedCrash(RuntimeError):
    """Raised by ``fail_shard``: the shard's task dies as if its worker had crashed."""


def dump_code_fingerprint() -> str:
    """sha256 over the ingest's own modules: a change in how rows are made redoes every shard."""
    h = hashlib.sha256()
    for path in sorted(Path(ingest.__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def shard_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    info: DumpInfo = parameters["info"]
    shard: Shard = parameters["shard"]
    out = Path(parameters["out"]).resolve()
    key = f"{info.identity}|{shard.start}-{shard.end}|{out}|{parameters['fingerprint']}"
    return "ingest-shard-" + hashlib.sha256(key.encode()).hexdigest()


@task(name="prepare-dump", cache_policy=NO_CACHE)
def prepare(dump: str, out: str, shards: int | None, workers: int) -> tuple[DumpInfo, list[Shard]]:
    return ingest.prepare(Path(dump), Path(out), shards, workers)


@task(
    name="ingest-shard",
    task_run_name="shard-{shard.index:05d}",
    cache_key_fn=shard_cache_key,
    cache_expiration=CACHE_EXPIRATION,
    persist_result=True,
)
def ingest_shard(
    info: DumpInfo, shard: Shard, out: str, fingerprint: str, fail: bool = False
) -> ingest.ShardResult:
    if fail:
        raise SimulatedCrash(f"fail_shard={shard.index}: simulated crash")
    return ingest.ingest_shard(info, shard, Path(out))


@flow(name="ingest-dump-shards")
def ingest_shards(
    info: DumpInfo, plan: list[Shard], out: str, fingerprint: str, fail_shard: int | None = None
) -> list[ingest.ShardResult]:
    """Every shard as one task, on whichever task runner the caller chose."""
    futures = [
        _shard_task(info, shard, out).submit(info, shard, out, fingerprint, shard.index == fail_shard)
        for shard in plan
    ]
    wait(futures)  # every shard finishes (or fails) before a failure ends the run
    return [future.result() for future in futures]


def _shard_task(info: DumpInfo, shard: Shard, out: str) -> Any:
    """The shard's task, told to refresh its cache entry unless its files are intact."""
    if ingest.shard_done(info, shard, Path(out)) is not None:
        return ingest_shard
    return ingest_shard.with_options(refresh_cache=True)


@task(name="finish-ingest", cache_policy=NO_CACHE)
def finish(
    info: DumpInfo, results: list[ingest.ShardResult], out: str, seconds: float
) -> ingest.IngestReport:
    return ingest.finish(info, results, Path(out), seconds)
