"""On-disk cache of parsed responses, keyed by the request (method, URL, sorted params or body).

Only values that parsed and passed the HTTP policy are stored, so a truncated or failed answer
never poisons a later run. Writes go to a temporary file in the same directory and are moved into
place, so a crash cannot leave half a file behind. Entries older than ``ttl_s`` count as misses.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class ResponseCache:
    """A directory of ``<sha256>.json`` files, two-level fan-out, one parsed value each."""

    def __init__(self, root: Path, ttl_s: float | None = None) -> None:
        self.root = Path(root)
        self.ttl_s = ttl_s

    @staticmethod
    def key(
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        body: str | bytes | Mapping[str, Any] | None = None,
    ) -> str:
        """A stable hash of the request; params are sorted so their order does not matter."""
        if isinstance(body, Mapping):
            body = orjson.dumps(sorted((str(k), str(v)) for k, v in body.items()))
        elif isinstance(body, str):
            body = body.encode("utf-8")
        parts = [
            method.upper(),
            url,
            sorted((str(k), str(v)) for k, v in (params or {}).items()),
            hashlib.sha256(body).hexdigest() if body else "",
        ]
        return hashlib.sha256(orjson.dumps(parts)).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Any:
        """The cached value, or ``MISSING`` (absent, expired or unreadable)."""
        path = self._path(key)
        try:
            if self.ttl_s is not None and time.time() - path.stat().st_mtime > self.ttl_s:
                return MISSING
            return orjson.loads(path.read_bytes())["value"]
        except FileNotFoundError:
            return MISSING
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            return MISSING  # a damaged entry is a miss; the next put replaces it

    def put(self, key: str, value: Any) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = orjson.dumps({"stored_at": time.time(), "value": value})
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not MISSING


def default_cache(settings: Any = None) -> ResponseCache:
    """``<cache_dir>/http`` with a one-day TTL by default: a rerun of a failed build reuses its
    answers, while next week's build asks again (``DAFSET_CACHE_TTL_S`` changes it; 0 = no TTL)."""
    from dafset.settings import get_settings

    s = settings or get_settings()
    ttl = getattr(s, "cache_ttl_s", None)
    if ttl is None:
        ttl = float(os.environ.get("DAFSET_CACHE_TTL_S", 86400))
    return ResponseCache(Path(s.cache_dir) / "http", ttl_s=float(ttl) or None)
