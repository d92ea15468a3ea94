"""An ingest folder is used whole or not at all, by one writer at a time.

- ``ingest_lock``: one ingest (or ``dump-stats``) per folder; a second one stops at once with one
  line, as a second build does (``dafset.publish.place.build_lock``). Two ingests of different
  dumps into one folder would otherwise mix their shards under one ``ingest.json``.
- ``verify_ingest``: the tables on disk are exactly the files ``ingest.json`` lists, each with its
  recorded size and row count (read from the Parquet footer: cheap at any dump size). A deleted
  or truncated shard, half an ingest (no ``ingest.json`` yet: ``prepare`` removes it first) or a
  stray file is refused in one line that says how to go on.
- ``ingest_id``: the identity of what an ingest holds (the dump's identity and every file's size
  and rows). The statistics record the ``ingest_id`` they were computed from
  (``stats/entities.json``); ``verify_stats`` refuses statistics of another ingest. The build
  flow keys its cached stages on ``data_identity``, never on the folder's path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dafset.errors import ConfigError, SourceError
from dafset.locks import sole_writer
from dafset.sources.dump.tables import INGEST_MANIFEST, STATS_FILE, TABLES, stats_files, table_files

INGEST_LOCK = ".ingest.lock"
STATS_RECORD = "stats/entities.json"  # which ingest the statistics were computed from


@contextlib.contextmanager
def ingest_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s ingest lock, or fail at once with one line."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {folder}: not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    with sole_writer(folder / INGEST_LOCK, "ingest or dump-stats", SourceError):
        yield


def file_record(path: Path) -> dict[str, int]:
    """What ``ingest.json`` records of one table file: its size and its rows (Parquet footer)."""
    return {"bytes": path.stat().st_size, "rows": pq.ParquetFile(path).metadata.num_rows}


def ingest_id(dump_identity: str, files: dict[str, dict[str, int]]) -> str:
    payload = json.dumps({"dump": dump_identity, "files": files}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def listing(folder: Path, dump_identity: str) -> dict[str, Any]:
    """``files`` and ``ingest_id`` of the tables now in ``folder``: what ``ingest.json`` needs to
    vouch for tables written by other means (a benchmark's copies, a test's hand-made rows)."""
    files = {p.relative_to(folder).as_posix(): file_record(p) for t in TABLES for p in table_files(folder, t)}
    return {"files": files, "ingest_id": ingest_id(dump_identity, files)}


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / INGEST_MANIFEST
    if not path.is_file():
        raise ConfigError(
            f"{path}: missing: the ingest into {folder} did not finish "
            f"(rerun `dafset ingest-dump DUMP --out {folder}`)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not (isinstance(manifest["files"], dict) and manifest["ingest_id"]):  # this version's fields
            raise ValueError("no files or ingest_id")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path}: unreadable or written by an older version ({exc}); "
            f"rerun `dafset ingest-dump DUMP --out {folder}`"
        ) from None
    return manifest


def verify_ingest(folder: Path) -> dict[str, Any]:
    """``ingest.json`` of ``folder`` once every table file matches it; else one line."""
    manifest = read_manifest(folder)
    redo = f"rerun `dafset ingest-dump DUMP --out {folder}`"
    listed: dict[str, dict[str, int]] = manifest["files"]
    for name, want in listed.items():
        path = folder / name
        try:
            got = file_record(path)
        except FileNotFoundError:
            raise ConfigError(f"{path}: missing, but listed in {INGEST_MANIFEST} ({redo})") from None
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise ConfigError(f"{path}: unreadable ({str(exc).splitlines()[0]}); {redo}") from None
        if got != want:
            raise ConfigError(f"{path}: {got} but {INGEST_MANIFEST} records {want} ({redo})")
    for table in TABLES:
        for path in table_files(folder, table):
            if path.relative_to(folder).as_posix() not in listed:
                raise ConfigError(
                    f"{path}: not part of the ingest in {INGEST_MANIFEST} (remove it or {redo})"
                )
    return manifest


def record_stats(folder: Path, manifest: dict[str, Any], report: dict[str, Any]) -> None:
    """Tie freshly computed statistics to the ingest they were computed from."""
    files = {p.relative_to(folder).as_posix(): file_record(p) for p in stats_files(folder)}
    payload = {"ingest_id": manifest["ingest_id"], "files": files, **report}
    path = folder / STATS_RECORD
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(tmp, path)


def verify_stats(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The statistics' record once they belong to this very ingest and are whole; else one line."""
    path = folder / STATS_RECORD
    redo = f"compute them with `dafset dump-stats {folder}`"
    if not (folder / STATS_FILE).exists():
        raise ConfigError(f"{folder / STATS_FILE}: missing ({redo})")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(
            f"{path}: missing or unreadable: statistics of an unknown ingest ({redo})"
        ) from None
    if record.get("ingest_id") != manifest["ingest_id"]:
        raise ConfigError(f"{folder / STATS_FILE}: computed from an earlier ingest of {folder} ({redo})")
    for name, want in record.get("files", {}).items():
        try:
            got = file_record(folder / name)
        except (OSError, ValueError):
            got = None
        if got != want:
            raise ConfigError(f"{folder / name}: changed since `dafset dump-stats` wrote it ({redo})")
    return record


def data_identity(folder: Path) -> str:
    """What a build from ``folder`` reads, as one string: the ingest and the statistics'
    identities (both verified). Cached stages key on it, so a re-ingest never serves old ones."""
    manifest = verify_ingest(folder)
    record = verify_stats(folder, manifest)
    stats = json.dumps(record.get("files", {}), sort_keys=True)
    return hashlib.sha256(f"{manifest['ingest_id']}|{stats}".encode()).hexdigest()
