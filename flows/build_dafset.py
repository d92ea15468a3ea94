"""The Prefect flow ``build-dafset``: the entrypoint of the ``weekly`` deployment.

It turns JSON-typed parameters (``--param k=v``) into a ``BuildConfig``, picks the task runner
(threads, or Dask), runs the stages flow (``flows.tasks``: one task per stage of
``dafset.build.run.build``) with results persisted beside the output, and reports the published
snapshot as artifacts. Retries, caching and concurrency are decided in ``flows.policy``.

Run it once, without a deployment::

    python -m flows.build_dafset --source sample --out out/dafset

or as the ``weekly`` deployment (``prefect.yaml``; see docs/orchestration.md).
"""

# No ``from __future__ import annotations`` here: Prefect builds the parameter schema from these
# annotations, and a flow served by ``flow.serve`` validates them where string annotations such
# as "Literal[...]" no longer resolve ("Build_DafsetModel is not fully defined").
import hashlib
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

import dafset
from dafset.build import pipeline
from dafset.build.preflight import preflight
from dafset.config import NO_PREVIOUS, SAMPLE_SNAPSHOT, BuildConfig, Sizes, parse_date
from dafset.errors import ConfigError
from dafset.publish.place import build_lock
from dafset.settings import get_settings
from flows import policy
from flows.tasks import STAGES, build_stages, report

# The trainer only reads published snapshots, so its code never changes what a build produces.
SKIP_PARTS = frozenset({"__pycache__", "trainer"})
RESULTS_DIR = ".prefect-results"  # under ``out``: the cache travels with the output it belongs to


# -- helpers (plain functions, tested without a server) ---------------------------------------------


def code_fingerprint() -> str:
    """sha256 over dafset's code and data (package, relations.yaml, templates, queries, sample).

    A cached stage result is reused only by the same code on the same inputs.
    """
    s = get_settings()
    roots = [
        Path(dafset.__file__).resolve().parent,
        s.relations_file,
        s.templates_dir,
        s.queries_dir,
        s.sample_dir,
    ]
    h = hashlib.sha256()
    for root in dict.fromkeys(roots):  # queries and sample usually live inside the package
        if not root.exists():
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path.suffix in (".pyc", ".pyo") or not SKIP_PARTS.isdisjoint(path.parts):
                continue
            h.update(path.name.encode() if path == root else path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def model_fingerprint(model: str | None) -> str:
    """Names, sizes and modification times of a local model's files: retraining a model at the
    same path must not reuse likelihood scores or prefixes cached for the old weights."""
    if not model or not Path(model).is_dir():
        return str(model)  # none, or a hub id (its revision is the hub's business)
    root = Path(model)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def data_fingerprint(cfg: BuildConfig) -> str:
    """The identity of the data a build reads from disk, never its path: for ``--source dump``
    the ingest's and its statistics' (checked whole first, ``integrity.data_identity``), so a
    re-ingest into the same folder never serves the stages cached for the old dump. The sample's
    data is in ``code_fingerprint``; the live services' answers expire with the cache (weekly)."""
    if cfg.source != "dump" or cfg.dump_dir is None:
        return "-"
    from dafset.sources.dump.integrity import data_identity

    return data_identity(cfg.dump_dir)


def snapshot_date(snapshot: str | None, source: str, dump_delegate: str = "sample") -> date:
    """The snapshot date: given, else the sample's as-of date, else the run's scheduled day (UTC).

    The scheduled day, not today: a weekly run retried on Tuesday still builds Monday's snapshot
    and so still finds Monday's cached stages.
    """
    if snapshot:
        return parse_date(snapshot)
    if source == "sample" or (source == "dump" and dump_delegate == "sample"):
        return SAMPLE_SNAPSHOT
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    return (scheduled.astimezone(UTC) if scheduled else datetime.now(UTC)).date()


def task_runner(runner: str, dask_address: str | None, dask_workers: int) -> Any:
    if runner == "thread":
        return ThreadPoolTaskRunner(max_workers=4)
    if runner != "dask":
        raise ConfigError(f"runner: expected 'thread' or 'dask', got {runner!r}")
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    # processes, one thread each: stages are Python-heavy; no dashboard (port clashes on shared hosts)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


def share_api_url() -> None:
    """Let local Dask workers find this run's Prefect API.

    They start from this process's environment; without PREFECT_API_URL there (ephemeral mode,
    or a test harness that sets it only in-process) each worker would start a temporary server of
    its own and record its task runs, caches and concurrency slots there.
    """
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            os.environ["PREFECT_API_URL"] = str(client.api_url)


@flow(name="build-dafset", log_prints=True)
def build_dafset(
    snapshot: str | None = None,
    source: Literal["sample", "live", "dump"] = "sample",
    out: str = "out/dafset",
    dump_dir: str | None = None,
    dump_delegate: Literal["sample", "live"] = "sample",
    long_tail_pool: int | None = None,
    sizes: dict[str, int] | None = None,
    model: str | None = None,
    device: str | None = None,
    threads: int | None = None,
    endpoint: str | None = None,
    contact: str | None = None,
    window_days: int = 7,
    seed: int = 0,
    runner: Literal["thread", "dask"] = "thread",
    dask_address: str | None = None,
    dask_workers: int = 2,
    previous: str | None = None,
    figures: bool = True,
    fail_after: str | None = None,
) -> str:
    """Build a DAFSet snapshot under ``out`` and return its directory.

    snapshot: ISO date; default the sample's as-of date (source=sample) or the scheduled day.
    sizes: upper bounds per property, e.g. {"recent": 50, "popular": 50, "long_tail": 60, "robust": 30}.
    threads: torch CPU threads for the LLM stages; default the free physical cores (dafset.lm.threads).
    endpoint: a SPARQL endpoint overriding DAFSET_SPARQL_ENDPOINT (source=live).
    contact: your e-mail or web page for Wikimedia's User-Agent policy, overriding DAFSET_CONTACT
    (a live run without either stops before its first request).
    dump_dir: source=dump: a folder of `dafset ingest-dump` + `dafset dump-stats` (flow ingest-dump);
    page views and revisions then come from ``dump_delegate``.
    previous: an earlier snapshot dir as the recency witness, or "none"; default the newest one.
    runner: "thread" (default) or "dask": a local cluster of ``dask_workers`` processes, or the
    scheduler at ``dask_address``.
    fail_after: a stage name; the run fails right after it (to exercise resuming).
    """
    if fail_after is not None and fail_after not in STAGES:
        raise ConfigError(f"fail_after: expected one of {', '.join(STAGES)}, got {fail_after!r}")
    if not out.strip():
        raise ConfigError("out: empty path (give a folder)")
    parameters = dict(locals())  # for the summary artifact
    if contact:
        os.environ["DAFSET_CONTACT"] = contact  # read through dafset.settings, and sent to the tasks
    began = time.perf_counter()
    cfg = BuildConfig(
        snapshot=snapshot_date(snapshot, source, dump_delegate),
        out=Path(out),
        source=source,
        dump_dir=Path(dump_dir) if dump_dir else None,
        dump_delegate=dump_delegate,
        long_tail_pool=long_tail_pool,
        sizes=Sizes.parse(sizes),
        window_days=window_days,
        seed=seed,
        model=model,
        device=device,
        threads=threads,
        previous=None if previous in (None, NO_PREVIOUS) else Path(previous),
        use_previous=previous != NO_PREVIOUS,
        figures=figures,
    )
    preflight(cfg)  # every option, path, model and template, before the first request
    env = policy.service_env("live" if cfg.live_services else source, endpoint)
    # results (and so the cache) live beside the output: a rerun with the same out finds them,
    # whichever worker or PREFECT_HOME it runs under. A Path, not an unsaved storage block.
    results = pipeline.resolve_out(cfg.out) / RESULTS_DIR
    stages = build_stages.with_options(
        task_runner=task_runner(runner, dask_address, dask_workers),
        result_storage=results,
        flow_run_name=f"stages-{cfg.snapshot.isoformat()}-{source}-{runner}",
    )
    if runner == "dask" and not dask_address:
        share_api_url()
    fingerprint = hashlib.sha256(
        f"{code_fingerprint()}|{model_fingerprint(model)}|{data_fingerprint(cfg)}".encode()
    ).hexdigest()
    logger = get_run_logger()
    logger.info(
        "snapshot %s from %s into %s; code fingerprint %s", cfg.snapshot, source, out, fingerprint[:12]
    )
    with build_lock(pipeline.resolve_out(cfg.out)):  # one build per output folder
        path = stages(cfg, env, fingerprint, fail_after)
    report(path, time.perf_counter() - began, parameters)
    logger.info("published %s", path)
    return path


if __name__ == "__main__":  # the Dask runner spawns processes: keep module import side-effect free
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Run the build-dafset flow once (no deployment needed).")
    parser.add_argument("--source", default="sample", choices=("sample", "live", "dump"))
    parser.add_argument("--out", default="out/dafset")
    parser.add_argument("--dump-dir")
    parser.add_argument("--dump-delegate", default="sample", choices=("sample", "live"))
    parser.add_argument("--snapshot")
    parser.add_argument("--sizes", type=json.loads, help="JSON, e.g. '{\"recent\": 50}'")
    parser.add_argument("--runner", default="thread", choices=("thread", "dask"))
    parser.add_argument("--dask-address")
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--endpoint")
    parser.add_argument("--contact")
    parser.add_argument("--model")
    args = parser.parse_args()
    print(
        build_dafset(
            snapshot=args.snapshot,
            source=args.source,
            out=args.out,
            dump_dir=args.dump_dir,
            dump_delegate=args.dump_delegate,
            sizes=args.sizes,
            runner=args.runner,
            dask_address=args.dask_address,
            dask_workers=args.dask_workers,
            endpoint=args.endpoint,
            contact=args.contact,
            model=args.model,
        )
    )
