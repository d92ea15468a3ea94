"""The previous snapshot, a second witness for recency: which one, and its facts, read safely.

A corrupt or foreign ``facts.parquet`` would otherwise fail every later build with a traceback;
here it is one line naming the file and the ways on (``--previous DIR`` or ``--previous none``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dafset.config import BuildConfig
from dafset.errors import ConfigError, DafsetError
from dafset.publish.layout import FACTS, SNAPSHOTS_DIR, resolve_snapshot
from dafset.schema import FACT_SCHEMA, TRAIT_FIELDS, validate

log = logging.getLogger("dafset.build")

_WAYS_ON = "pass --previous DIR (another snapshot) or --previous none (no witness), or remove the file"


def previous_dir(cfg: BuildConfig) -> Path | None:
    """``cfg.previous`` (a snapshot dir or a build root), or the newest snapshot under
    ``<out>/snapshots`` dated before this build (never the build's own date, so a rerun of a
    published week is not its own witness); None with ``--previous none``."""
    if not cfg.use_previous:
        return None
    if cfg.previous is not None:
        if not cfg.previous.is_dir():
            raise ConfigError(f"previous: {cfg.previous} is not a folder (or pass --previous none)")
        try:
            return resolve_snapshot(cfg.previous)
        except DafsetError as exc:
            raise ConfigError(f"previous: {exc}") from None
    return _newest_before(cfg.out / SNAPSHOTS_DIR, cfg.snapshot.isoformat())


def _newest_before(snapshots: Path, day: str) -> Path | None:
    if not snapshots.is_dir():
        return None
    earlier = sorted(
        p.name for p in snapshots.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name < day
    )
    return snapshots / earlier[-1] if earlier else None


def read_previous_facts(cfg: BuildConfig) -> pa.Table | None:
    """The previous snapshot's facts, checked against FACT_SCHEMA; None when there is none."""
    base = previous_dir(cfg)
    if base is None:
        return None
    path = base / FACTS
    if not path.is_file():
        if cfg.previous is not None:
            raise ConfigError(f"previous: {path} not found; {_WAYS_ON}")
        return None  # an older snapshot published without facts: no witness, as before
    try:
        table = pq.read_table(path)
        for f in TRAIT_FIELDS:  # columns added after some snapshots were published: read as empty
            if f.name not in table.column_names:
                table = table.append_column(f, pa.nulls(table.num_rows, f.type))
        table = validate(table, FACT_SCHEMA, where=str(path))
    except DafsetError as exc:
        raise ConfigError(f"previous: {exc}; {_WAYS_ON}") from None
    except (OSError, pa.ArrowException) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"previous: {path} is not a readable Parquet file ({first}); {_WAYS_ON}") from None
    log.info("previous snapshot %s: %d facts as a second witness for recency", base.resolve(), table.num_rows)
    return table
