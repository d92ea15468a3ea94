"""The one HTTP policy every request to Wikidata and Wikimedia goes through.

- a descriptive User-Agent with contact details (Wikimedia answers generic agents with 403);
- timeouts on every request;
- retries through tenacity: 429/503 wait for ``Retry-After`` (seconds or an HTTP-date), other 5xx,
  connection errors, timeouts and truncated or unparsable bodies back off exponentially with
  jitter; a permanent 4xx fails at once with a one-line SourceError naming the request;
- ``maxlag`` on MediaWiki API calls, with a maxlag error answered by waiting and retrying (as
  pywikibot does);
- an optional on-disk cache (``cache.ResponseCache``) and a count of requests and bytes.

SPARQL goes through SPARQLWrapper (``sparql.py``) but shares the retry rules defined here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import orjson
import requests
import tenacity

from dafset.errors import SourceError
from dafset.settings import Settings, get_settings
from dafset.sources.live.cache import MISSING, ResponseCache

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Mapping[str, str | int | float]

# Statuses worth another try; every other 4xx is a mistake on our side and fails at once.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failure that another attempt may not repeat; ``retry_after`` is the server's wish (s)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class HttpStats:
    """Network requests (every attempt, retries included) and bytes received over the wire
    (compressed size where the server compressed); cache hits are counted apart."""

    requests: int = 0
    bytes: int = 0
    retries: int = 0
    cache_hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_request(self, nbytes: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes += nbytes

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_cache_hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": self.requests,
                "bytes": self.bytes,
                "retries": self.retries,
                "cache_hits": self.cache_hits,
            }

    def per_1000(self, samples: int) -> dict[str, float]:
        """Requests and bytes per 1,000 samples (the benchmark's unit)."""
        snap = self.snapshot()
        scale = 1000.0 / samples if samples else 0.0
        return {"requests": snap["requests"] * scale, "bytes": snap["bytes"] * scale}


def _setting(settings: Settings, attr: str, env: str, default: float) -> float:
    # Backoff knobs may later move into Settings; until then the environment can set them.
    value = getattr(settings, attr, None)
    if value is None:
        value = os.environ.get(f"DAFSET_{env}", default)
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait and how often to try. Tests shrink the backoff; Retry-After is obeyed."""

    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    # A server asking for a longer pause than this is treated as a permanent refusal.
    retry_after_max_s: float = 300.0
    timeout_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RetryPolicy:
        s = settings or get_settings()
        return cls(
            max_attempts=max(1, s.max_retries + 1),
            backoff_base_s=_setting(s, "backoff_base_s", "BACKOFF_BASE_S", 1.0),
            backoff_max_s=_setting(s, "backoff_max_s", "BACKOFF_MAX_S", 60.0),
            retry_after_max_s=_setting(s, "retry_after_max_s", "RETRY_AFTER_MAX_S", 300.0),
            timeout_s=s.http_timeout_s,
        )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def describe(method: str, url: str, params: Params | None = None) -> str:
    """``GET https://host/path (action=wbgetentities ids=Q1|Q2…)`` for one-line error messages."""
    shown = []
    for key, value in (params or {}).items():
        if key in ("format", "formatversion", "maxlag", "origin"):
            continue
        text = str(value)
        shown.append(f"{key}={text[:60]}…" if len(text) > 60 else f"{key}={text}")
    return f"{method} {url}" + (f" ({' '.join(shown)})" if shown else "")


class _Wait(tenacity.wait.wait_base):
    """The server's Retry-After when it gave one, else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = tenacity.wait_exponential(
            multiplier=policy.backoff_base_s, max=policy.backoff_max_s
        ) + tenacity.wait_random(0, policy.backoff_base_s)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return exc.retry_after
        return self._backoff(retry_state)


def call_with_retries(
    attempt: Callable[[], T], policy: RetryPolicy, stats: HttpStats, what: str
) -> T:
    """Run ``attempt`` until it returns, retrying TransientError under ``policy``.

    SourceError (permanent) passes straight through; running out of attempts becomes SourceError.
    """

    def before_sleep(state: tenacity.RetryCallState) -> None:
        stats.add_retry()
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: %s; retry %d in %.1f s", what, exc, state.attempt_number, wait)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=_Wait(policy),
        retry=tenacity.retry_if_exception_type(TransientError),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except TransientError as exc:
        raise SourceError(f"{what}: gave up after {policy.max_attempts} attempts: {exc}") from exc


def snippet(body: bytes, limit: int = 160) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return " ".join(text.split())


def retry_after_within(what: str, value: str | None, policy: RetryPolicy) -> float | None:
    wait = parse_retry_after(value)
    if wait is not None and wait > policy.retry_after_max_s:
        raise SourceError(f"{what}: server asks to wait {wait:.0f} s (over {policy.retry_after_max_s:.0f} s)")
    return wait


def _wire_bytes(resp: requests.Response, body: bytes) -> int:
    """Bytes that crossed the network (compressed size when the server gzipped the body)."""
    try:
        told = resp.raw.tell()
    except (AttributeError, OSError, ValueError):
        return len(body)
    return told if isinstance(told, int) and told > 0 else len(body)


class HttpClient:
    """A requests.Session under the policy above; ``get_json`` is the one entry point."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        policy: RetryPolicy | None = None,
        cache: ResponseCache | None = None,
        stats: HttpStats | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.policy = policy or RetryPolicy.from_settings(self.settings)
        self.cache = cache
        self.stats = stats or HttpStats()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = self.settings.user_agent
        self.session.headers["Accept"] = "application/json"

    @property
    def user_agent(self) -> str:
        return self.settings.user_agent

    def get_json(
        self,
        url: str,
        params: Params | None = None,
        *,
        mediawiki: bool = False,
        missing_ok: bool = False,
        use_cache: bool = True,
    ) -> Any:
        """GET ``url`` and return its parsed JSON.

        ``mediawiki``: add ``format=json``, ``formatversion=2`` and ``maxlag``, and treat an API
        error object as a failure (maxlag: wait and retry). ``missing_ok``: a 404 returns None
        (the pageviews API's "no data") instead of raising.
        """
        query: dict[str, str | int | float] = dict(params or {})
        if mediawiki:
            query.setdefault("format", "json")
            query.setdefault("formatversion", 2)
            query.setdefault("maxlag", self.settings.maxlag_s)
        what = describe("GET", url, query)
        key = None
        if use_cache and self.cache is not None:
            key = ResponseCache.key("GET", url, {k: v for k, v in query.items() if k != "maxlag"})
            hit = self.cache.get(key)
            if hit is not MISSING:
                self.stats.add_cache_hit()
                return hit

        def attempt() -> Any:
            return self._attempt(url, query, what, mediawiki=mediawiki, missing_ok=missing_ok)

        value = call_with_retries(attempt, self.policy, self.stats, what)
        if key is not None and value is not None:
            self.cache.put(key, value)  # type: ignore[union-attr]
        return value

    def _attempt(
        self, url: str, query: Params, what: str, *, mediawiki: bool, missing_ok: bool
    ) -> Any:
        timeout = (min(10.0, self.policy.timeout_s), self.policy.timeout_s)
        try:
            resp = self.session.get(url, params=query, timeout=timeout)
            body = resp.content  # a short read raises here (urllib3 enforces Content-Length)
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            self.stats.add_request(0)
            raise TransientError(f"{type(exc).__name__}: {snippet(str(exc).encode())}") from exc
        except requests.RequestException as exc:
            raise SourceError(f"{what}: {type(exc).__name__}: {exc}") from exc
        self.stats.add_request(_wire_bytes(resp, body))
        status = resp.status_code
        if status in RETRY_STATUSES:
            wait = retry_after_within(what, resp.headers.get("Retry-After"), self.policy)
            raise TransientError(f"HTTP {status}: {snippet(body)}", retry_after=wait)
        if status == 404 and missing_ok:
            return None
        if status >= 400:
            raise SourceError(f"{what}: HTTP {status} {resp.reason}: {snippet(body)}")
        declared = resp.headers.get("Content-Length")
        if declared and "Content-Encoding" not in resp.headers and int(declared) != len(body):
            raise TransientError(f"truncated body: {len(body)} of {declared} bytes")
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise TransientError(f"unparsable JSON body ({len(body)} bytes): {exc}") from exc
        if mediawiki:
            self._check_api_error(value, resp, what)
        return value

    def _check_api_error(self, value: Any, resp: requests.Response, what: str) -> None:
        error = value.get("error") if isinstance(value, dict) else None
        if not isinstance(error, dict):
            return
        code = error.get("code", "?")
        info = str(error.get("info", ""))
        if code == "maxlag":
            # Wikidata sends Retry-After with maxlag; the lag in the body is the fallback.
            wait = retry_after_within(what, resp.headers.get("Retry-After"), self.policy)
            if wait is None and isinstance(error.get("lag"), int | float):
                wait = float(error["lag"])
            raise TransientError(f"maxlag: {info}", retry_after=wait)
        raise SourceError(f"{what}: API error {code}: {info[:200]}")
