"""manifest.json: what a snapshot holds (every file with size, row count and sha256), how many
rows per config and split, which code made it, and the build's provenance (``manifest_extra``)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

import dafset
from dafset.errors import PublishError
from dafset.publish.layout import DATA_DIR, MANIFEST, resolve_snapshot

MANIFEST_VERSION = 1
RESERVED = ("manifest_version", "dataset", "snapshot", "created_at", "code", "counts", "files")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_entry(snapshot_dir: Path, path: Path) -> dict[str, Any]:
    """Size and sha256 of one file; row count too when it is Parquet (from the footer)."""
    entry: dict[str, Any] = {
        "path": path.relative_to(snapshot_dir).as_posix(),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }
    if path.suffix == ".parquet":
        entry["rows"] = pq.ParquetFile(path).metadata.num_rows
    return entry


def code_version() -> dict[str, Any]:
    """dafset's version and, when run from a git checkout, its commit and whether it was dirty."""
    info: dict[str, Any] = {"dafset_version": dafset.__version__, "git_commit": None, "git_dirty": None}
    repo = Path(dafset.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        )
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=repo,
                capture_output=True,
                text=True,
                timeout=10,
            )
            if dirty.returncode == 0:
                info["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass  # no git, or not a checkout (an installed wheel): the version alone identifies it
    return info


def build_manifest(
    snapshot_dir: Path,
    snapshot: str,
    created_at: str,
    code: Mapping[str, Any],
    counts: Mapping[str, Mapping[str, int]],
    files: Iterable[Path],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    clash = sorted(set(extra) & set(RESERVED))
    if clash:
        raise PublishError(f"manifest_extra uses reserved key(s) {clash}")
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "dataset": "DAFSet",
        "snapshot": snapshot,
        "created_at": created_at,
        "code": dict(code),
        "counts": {c: dict(s) for c, s in counts.items()},
        "files": [file_entry(snapshot_dir, p) for p in sorted(files)],
    }
    manifest.update(extra)
    return manifest


def write_manifest(snapshot_dir: Path, manifest: Mapping[str, Any]) -> Path:
    path = snapshot_dir / MANIFEST
    # numpy scalars stay numbers; default=str: Paths, sets and the like become text, not a crash
    path.write_bytes(
        orjson.dumps(
            manifest,
            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY,
            default=str,
        )
        + b"\n"
    )
    return path


def read_manifest(snapshot_dir: Path) -> dict[str, Any]:
    return orjson.loads((snapshot_dir / MANIFEST).read_bytes())


def verified_snapshot(path: str | Path) -> Path:
    """The snapshot at ``path`` (a snapshot dir or a build root), after checking every file against
    its manifest: readers (stats, export, the trainer) never read a damaged or edited snapshot."""
    snap = resolve_snapshot(path)
    if not (snap / MANIFEST).is_file():
        raise PublishError(f"{snap}: no {MANIFEST}, so its files cannot be verified; rebuild the snapshot")
    try:
        problems = verify_manifest(snap)
    except (ValueError, KeyError, TypeError, OSError) as exc:  # orjson's decode error is a ValueError
        raise PublishError(f"{snap / MANIFEST}: unreadable ({type(exc).__name__}: {exc})") from None
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PublishError(
            f"{snap} does not match its {MANIFEST}: {problems[0]}{more}; rebuild it or restore the files"
        )
    return snap


def verify_manifest(snapshot_dir: Path) -> list[str]:
    """Problems found checking every listed file's size, sha256 and row count, and every data
    shard being listed (empty = fine)."""
    problems = []
    entries = read_manifest(snapshot_dir)["files"]
    listed = {entry["path"] for entry in entries}
    root = snapshot_dir.resolve()
    for shard in sorted((snapshot_dir / DATA_DIR).rglob("*.parquet")):
        if shard.relative_to(snapshot_dir).as_posix() not in listed:
            problems.append(f"{shard.relative_to(snapshot_dir).as_posix()}: not in the manifest")
    for entry in entries:
        path = snapshot_dir / entry["path"]
        if not path.resolve().is_relative_to(root):
            problems.append(f"{entry['path']}: outside the snapshot")
            continue
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
            continue
        if path.stat().st_size != entry["bytes"]:
            problems.append(f"{entry['path']}: size {path.stat().st_size} != {entry['bytes']}")
        if sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 mismatch")
            continue  # a changed file may not even parse; one problem line per file is enough
        if "rows" in entry and pq.ParquetFile(path).metadata.num_rows != entry["rows"]:
            problems.append(f"{entry['path']}: row count differs")
    return problems
