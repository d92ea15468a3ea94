"""One-time (and idempotent) set-up on the Prefect server the weekly build talks to::

    python -m flows.setup [--pool dafset-process] [--limit 1] [--wait-for-server S] [--wait-for-worker S]

- the global concurrency limit ``wikidata-query-service`` (1 slot): the build's tasks use it with
  ``strict=True``, so a live build against a server without it fails instead of running unthrottled;
- the process work pool the ``weekly`` deployment in ``prefect.yaml`` targets;
- a check that a worker serves that pool: without one, ``prefect deployment run ... --watch``
  would wait forever, so it warns (or, with ``--wait-for-worker``, waits and fails clearly).

``--wait-for-server`` waits for a server that is still starting (``prefect server start &``).
Running it again changes nothing, or corrects a limit someone edited.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta

# Offline is our normal case: the server's telemetry heartbeat (run even by the temporary server
# Prefect starts when no PREFECT_API_URL is set) posts to prefect.io and logs an error without a
# network, and races to write its TELEMETRY_SESSION row into a fresh database. Set before Prefect
# reads its settings; an explicit setting still wins.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
    WorkPoolCreate,
)
from prefect.client.schemas.objects import WorkerStatus
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL
from prefect.workers.process import ProcessWorker

from flows.policy import QUERY_SERVICE_LIMIT

WORK_POOL = "dafset-process"


def ensure_concurrency_limit(name: str = QUERY_SERVICE_LIMIT, limit: int = 1) -> str:
    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            return f"created global concurrency limit {name!r} (limit {limit})"
        if current.limit == limit and current.active:
            return f"global concurrency limit {name!r} already set (limit {limit})"
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=limit, active=True))
        return f"updated global concurrency limit {name!r} to limit {limit} (was {current.limit})"


def ensure_work_pool(name: str = WORK_POOL) -> str:
    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            # the process worker's own default template: no collections registry lookup (offline)
            client.create_work_pool(
                WorkPoolCreate(
                    name=name,
                    type=ProcessWorker.type,
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                )
            )
            return f"created work pool {name!r} (type process)"
        if pool.type != ProcessWorker.type:
            raise SystemExit(f"work pool {name!r} exists with type {pool.type!r}, expected 'process'")
        return f"work pool {name!r} already exists"


def wait_for_server(timeout_s: float) -> str:
    """Wait until the configured server answers its health check (it may still be starting)."""
    url = PREFECT_API_URL.value()
    if not url:
        return "no PREFECT_API_URL set: using a temporary server for this command only"
    deadline = time.monotonic() + timeout_s
    while True:
        with get_client(sync_client=True) as client:
            error = client.api_healthcheck()
        if error is None:
            return f"prefect server at {url} is up"
        if time.monotonic() > deadline:
            raise SystemExit(f"error: no Prefect server answers at {url} after {timeout_s:.0f} s ({error})")
        time.sleep(1.0)


def online_workers(pool: str) -> list[str]:
    """Workers of ``pool`` that sent a heartbeat recently enough to pick runs up."""
    with get_client(sync_client=True) as client:
        workers = client.read_workers_for_work_pool(pool)
    now = datetime.now(UTC)
    alive = []
    for worker in workers:
        beat = worker.last_heartbeat_time
        window = timedelta(seconds=3 * (worker.heartbeat_interval_seconds or 30))
        if beat is not None and now - beat <= window and worker.status == WorkerStatus.ONLINE:
            alive.append(worker.name)
    return alive


def check_worker(pool: str, wait_s: float) -> tuple[bool, str]:
    """(ok, message): whether a worker serves ``pool``, waiting up to ``wait_s`` for one."""
    deadline = time.monotonic() + wait_s
    while not (alive := online_workers(pool)) and time.monotonic() < deadline:
        time.sleep(1.0)
    if alive:
        return True, f"work pool {pool!r} is served by {len(alive)} worker(s): {', '.join(sorted(alive))}"
    return False, (
        f"warning: no worker serves work pool {pool!r}: runs of build-dafset/weekly will wait "
        f"(Scheduled, then Late) until one starts: prefect worker start --pool {pool}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", default=WORK_POOL, help="process work pool name")
    parser.add_argument("--limit", type=int, default=1, help="slots of the query service limit")
    parser.add_argument(
        "--wait-for-server", type=float, default=0, metavar="S", help="wait up to S seconds for the server"
    )
    parser.add_argument(
        "--wait-for-worker",
        type=float,
        default=None,
        metavar="S",
        help="wait up to S seconds for a worker on the pool; exit 1 if none comes",
    )
    args = parser.parse_args(argv)
    if args.wait_for_server:
        print(wait_for_server(args.wait_for_server))
    print(ensure_concurrency_limit(QUERY_SERVICE_LIMIT, args.limit))
    print(ensure_work_pool(args.pool))
    if not PREFECT_API_URL.value():
        return  # a temporary server has no workers; nothing to check
    ok, message = check_worker(args.pool, args.wait_for_worker or 0)
    print(message, file=sys.stdout if ok else sys.stderr)
    if not ok and args.wait_for_worker is not None:
        sys.exit(1)


if __name__ == "__main__":
    main()
