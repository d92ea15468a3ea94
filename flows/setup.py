"""One-time (and idempotent) set-up on the Prefect server the weekly build talks to::

    python -m flows.setup [--pool dafset-process] [--limit 1]

- the global concurrency limit ``wikidata-query-service`` (1 slot): the build's tasks use it with
  ``strict=True``, so a live build against a server without it fails instead of running unthrottled;
- the process work pool the ``weekly`` deployment in ``prefect.yaml`` targets.

Running it again changes nothing, or corrects a limit someone edited.
"""

from __future__ import annotations

import argparse

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
    WorkPoolCreate,
)
from prefect.exceptions import ObjectNotFound
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", default=WORK_POOL, help="process work pool name")
    parser.add_argument("--limit", type=int, default=1, help="slots of the query service limit")
    args = parser.parse_args(argv)
    print(ensure_concurrency_limit(QUERY_SERVICE_LIMIT, args.limit))
    print(ensure_work_pool(args.pool))


if __name__ == "__main__":
    main()
