"""SPARQL SELECT through SPARQLWrapper under the shared HTTP policy.

WDQS allows one query at a time per client, so a process-wide lock per endpoint keeps at most one
query in flight. SPARQLWrapper maps 400/401/404/414 to its own exceptions (permanent here) and
500 to EndPointInternalError (retried: WDQS reports its 60 s timeout as a 500 whose body holds
``java.util.concurrent.TimeoutException``); 429 and 503 come through as urllib's HTTPError, whose
headers carry ``Retry-After``. A timed-out query can also arrive as a 200 whose body stops short,
so every body is parsed before it counts as an answer.
"""

from __future__ import annotations

import http.client
import math
import threading
import urllib.error
from typing import Any

import orjson
from SPARQLWrapper import JSON, POST, SELECT, URLENCODED, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import (
    EndPointInternalError,
    EndPointNotFound,
    QueryBadFormed,
    Unauthorized,
    URITooLong,
)

from dafset.errors import SourceError
from dafset.settings import Settings, get_settings
from dafset.sources.live.cache import MISSING, ResponseCache
from dafset.sources.live.http import (
    RETRY_STATUSES,
    HttpStats,
    RetryPolicy,
    TransientError,
    call_with_retries,
    retry_after_within,
    snippet,
)
from dafset.sources.queries import shorten

Row = dict[str, str]

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def endpoint_lock(endpoint: str) -> threading.Lock:
    """The process-wide lock that keeps one query in flight per endpoint."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(endpoint, threading.Lock())


def rows_from_json(doc: Any) -> list[Row]:
    """SPARQL-JSON bindings as ``{var: lexical value}``; entity IRIs shortened to ids.

    Unbound variables (OPTIONAL misses) are left out of the row.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise ValueError("not a SPARQL SELECT result (no results object)")
    bindings = doc["results"].get("bindings")
    if not isinstance(bindings, list):
        raise ValueError("not a SPARQL SELECT result (no bindings list)")
    rows: list[Row] = []
    for binding in bindings:
        row: Row = {}
        for var, cell in binding.items():
            value = str(cell.get("value", ""))
            row[var] = shorten(value) if cell.get("type") == "uri" else value
        rows.append(row)
    return rows


class SparqlClient:
    """``SparqlClient(endpoint).select(query_text) -> list[dict[str, str]]``."""

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        settings: Settings | None = None,
        policy: RetryPolicy | None = None,
        cache: ResponseCache | None = None,
        stats: HttpStats | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.endpoint = endpoint or self.settings.sparql_endpoint
        self.policy = policy or RetryPolicy.from_settings(self.settings)
        self.cache = cache
        self.stats = stats or HttpStats()

    def select(self, query_text: str, *, use_cache: bool = True) -> list[Row]:
        what = f"SPARQL POST {self.endpoint} ({_first_line(query_text)})"
        key = None
        if use_cache and self.cache is not None:
            key = ResponseCache.key("SPARQL", self.endpoint, body=query_text)
            hit = self.cache.get(key)
            if hit is not MISSING:
                self.stats.add_cache_hit()
                return hit
        rows = call_with_retries(lambda: self._attempt(query_text, what), self.policy, self.stats, what)
        if key is not None:
            self.cache.put(key, rows)  # type: ignore[union-attr]
        return rows

    def _wrapper(self, query_text: str) -> SPARQLWrapper:
        wrapper = SPARQLWrapper(self.endpoint, agent=self.settings.user_agent)
        wrapper.setMethod(POST)
        wrapper.setRequestMethod(URLENCODED)
        wrapper.setReturnFormat(JSON)
        # SPARQLWrapper truncates the timeout to whole seconds (0 would mean none)
        wrapper.setTimeout(max(1, math.ceil(self.policy.timeout_s)))
        wrapper.setQuery(query_text)
        # SPARQLWrapper guesses the query type from the text and can mistake a SELECT whose
        # comments say "add" or "load" for an update (sent as update=); we only send SELECTs.
        wrapper.queryType = SELECT
        return wrapper

    def _attempt(self, query_text: str, what: str) -> list[Row]:
        wrapper = self._wrapper(query_text)
        with endpoint_lock(self.endpoint):
            body = self._fetch(wrapper, what)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise TransientError(f"unparsable SPARQL JSON ({len(body)} bytes): {exc}") from exc
        try:
            return rows_from_json(doc)
        except ValueError as exc:
            raise SourceError(f"{what}: {exc}") from exc

    def _fetch(self, wrapper: SPARQLWrapper, what: str) -> bytes:
        try:
            response = wrapper.query().response
            try:
                body = response.read()
            finally:
                response.close()
        except urllib.error.HTTPError as exc:  # 429, 503, 403, ... (SPARQLWrapper re-raises)
            body = _read_error(exc)
            self.stats.add_request(len(body))
            if exc.code in RETRY_STATUSES:
                wait = retry_after_within(what, exc.headers.get("Retry-After"), self.policy)
                raise TransientError(f"HTTP {exc.code}: {snippet(body)}", retry_after=wait) from exc
            raise SourceError(f"{what}: HTTP {exc.code}: {snippet(body)}") from exc
        except EndPointInternalError as exc:  # 500: WDQS's TimeoutException among others
            self.stats.add_request(0)
            raise TransientError(f"HTTP 500: {snippet(str(exc).encode(), 240)}") from exc
        except (QueryBadFormed, EndPointNotFound, Unauthorized, URITooLong) as exc:
            self.stats.add_request(0)
            raise SourceError(f"{what}: {type(exc).__name__}: {snippet(str(exc).encode())}") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            # refused connections, socket timeouts and short reads (IncompleteRead)
            self.stats.add_request(0)
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        self.stats.add_request(len(body))
        return body


def _read_error(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read() or b""
    except (OSError, http.client.HTTPException):
        return b""


def _first_line(query_text: str) -> str:
    """The first line of the query that is not a PREFIX, to name the request in messages."""
    for line in query_text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.upper().startswith("PREFIX"):
            return stripped[:80]
    return "empty query"
