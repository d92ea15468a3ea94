"""Retry, cache and concurrency decisions for the build's tasks, in one place.

- Retries fire only on transient failures (429, 5xx, timeouts, truncated bodies, dropped
  connections). dafset's HTTP layer already retries each request; what reaches Prefect is either a
  permanent ``SourceError`` (a 4xx, a malformed query: retrying cannot help) or a ``SourceError``
  *caused by* a ``TransientError`` (the request-level retries ran out), which a task-level retry
  minutes later may well get past.
- Caching: ``INPUTS + TASK_SOURCE`` (not ``DEFAULT``, which adds ``RUN_ID`` and so never reuses
  anything across flow runs), with persisted results, so a rerun after a crash resumes.
- One global concurrency limit guards the query service: WDQS allows one query at a time per client.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any

import requests
from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
from prefect.concurrency.sync import concurrency
from prefect.tasks import exponential_backoff
from SPARQLWrapper.SPARQLExceptions import EndPointInternalError

from dafset.errors import SourceError
from dafset.sources.live.http import RETRY_STATUSES, TransientError

# The global concurrency limit ``python -m flows.setup`` creates (limit 1).
QUERY_SERVICE_LIMIT = "wikidata-query-service"
# Env vars that say where the live source's services are; they travel with source tasks.
SERVICE_ENV = (
    "DAFSET_SPARQL_ENDPOINT",
    "DAFSET_MEDIAWIKI_API",
    "DAFSET_WIKIPEDIA_API",
    "DAFSET_PAGEVIEWS_API",
    "DAFSET_CONTACT",  # the User-Agent's contact: a Dask worker may not share our environment
)

# Under a week: next Monday's run never reuses last Monday's harvest, a rerun this week does.
CACHE_EXPIRATION = timedelta(days=6)
CACHED: CachePolicy = INPUTS + TASK_SOURCE

# Task-level retries sit on top of the HTTP layer's own: few, and minutes apart by default.
TASK_RETRIES = 3
RETRY_BASE_S = float(os.environ.get("DAFSET_TASK_RETRY_BASE_S", "30"))  # 30, 60, 120 s
RETRY_JITTER = 0.5

# Raw library errors that mean "try again later" (in case one escapes the HTTP layer unwrapped).
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    TransientError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    http.client.IncompleteRead,
    http.client.RemoteDisconnected,
    EndPointInternalError,  # SPARQLWrapper's 500 (WDQS reports its query timeout so)
    json.JSONDecodeError,  # a body cut short
    TimeoutError,
    ConnectionError,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, SourceError):
            # a SourceError is permanent unless it was raised *from* a transient one; its implicit
            # context (e.g. the 429 whose Retry-After was too long) does not count
            current = current.__cause__
        else:
            current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def is_transient(exc: BaseException) -> bool:
    """True when another attempt later may succeed: 429, 5xx, timeouts, truncated bodies, resets."""
    for link in _chain(exc):
        if isinstance(link, urllib.error.HTTPError):  # before URLError/OSError: it has a status
            return link.code in RETRY_STATUSES
        if isinstance(link, requests.HTTPError) and link.response is not None:
            return link.response.status_code in RETRY_STATUSES
        if isinstance(link, _TRANSIENT_TYPES):
            return True
        if isinstance(link, urllib.error.URLError):  # refused connection, DNS hiccup
            return True
    return False


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` for Prefect tasks: retry only what :func:`is_transient` accepts."""
    try:
        state.result()
    except BaseException as exc:
        return is_transient(exc)
    return False


RETRYING: dict[str, Any] = {
    "retries": TASK_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=RETRY_BASE_S),
    "retry_jitter_factor": RETRY_JITTER,
    "retry_condition_fn": retry_transient,
}
CACHING: dict[str, Any] = {
    "cache_policy": CACHED,
    "cache_expiration": CACHE_EXPIRATION,
    "persist_result": True,
}


def query_service_slot(source: str, limit: str = QUERY_SERVICE_LIMIT) -> AbstractContextManager[Any]:
    """Hold the query service's one slot while a stage talks to the live services.

    ``strict=True``: a missing limit is an error, not a silent "no limit" (Prefect's default).
    The lease is renewed while held and expires if the process dies, so a crash frees the slot.
    """
    if source != "live":
        return nullcontext()
    return concurrency(limit, occupy=1, strict=True)


def service_env(source: str, endpoint: str | None) -> dict[str, str]:
    """The DAFSET_* service settings of this process (and the ``endpoint`` override) as a dict.

    Source tasks apply it in whichever process runs them (a Dask worker may not share our
    environment) and take it as an input, so a different endpoint never hits another's cache.
    """
    if source != "live":
        return {}
    env = {name: os.environ[name] for name in SERVICE_ENV if os.environ.get(name)}
    if endpoint:
        env["DAFSET_SPARQL_ENDPOINT"] = endpoint
    return env


def apply_env(env: dict[str, str]) -> None:
    # Set, never restore: concurrent tasks of one run share these values, and restoring one while
    # another builds its source would race.
    os.environ.update(env)
