"""Names and paths of the published layout (DESIGN §3), shared by the writer and the readers.

<root>/
  latest -> snapshots/<snapshot>      (or a LATEST text file where symlinks are unsupported)
  snapshots/<snapshot>/
    README.md                          dataset card: YAML configs + dataset_info, human part
    manifest.json                      sizes, row counts, sha256, provenance, code version
    data/<config>/<split>-NNNNN-of-NNNNN.parquet
    facts.parquet                      the Fact table behind the samples (optional)
    figures/*.png
"""

from __future__ import annotations

import re
from pathlib import Path

from dafset.errors import DafsetError

SNAPSHOTS_DIR = "snapshots"
LATEST_LINK = "latest"
LATEST_FILE = "LATEST"
CARD = "README.md"
MANIFEST = "manifest.json"
DATA_DIR = "data"
FACTS = "facts.parquet"
FIGURES_DIR = "figures"
ALL_CONFIG = "all"

_SHARD = re.compile(r"^(?P<split>[A-Za-z][A-Za-z0-9_]*)-(?P<i>\d{5})-of-(?P<n>\d{5})\.parquet$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SPLIT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # no '-': it separates split from shard index


def check_snapshot_name(name: str) -> str:
    """A snapshot name is one path component that cannot be mistaken for a temp dir."""
    if not _NAME.match(name) or name in {".", ".."}:
        raise DafsetError(f"bad snapshot name {name!r}: use letters, digits, '.', '_', '-'")
    return name


def shard_name(split: str, index: int, count: int) -> str:
    """push_to_hub's naming: train-00000-of-00002.parquet."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def shard_glob(config: str, split: str) -> str:
    """The card's data_files pattern for one config and split (relative, POSIX)."""
    return f"{DATA_DIR}/{config}/{split}-*"


def parse_shard(path: Path) -> str | None:
    """The split a shard file belongs to, or None when the name is not a shard name."""
    m = _SHARD.match(path.name)
    return m.group("split") if m else None


def shard_files(snapshot_dir: Path, config: str, split: str | None = None) -> list[Path]:
    """The shards of one config (optionally one split), in index order."""
    folder = snapshot_dir / DATA_DIR / config
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if parse_shard(p) and (split is None or parse_shard(p) == split)]
    return sorted(found)


def snapshot_path(root: Path, snapshot: str) -> Path:
    return root / SNAPSHOTS_DIR / check_snapshot_name(snapshot)


def resolve_snapshot(path: str | Path) -> Path:
    """A snapshot dir from either a snapshot dir itself or a root holding ``latest``/``LATEST``."""
    path = Path(path)
    if (path / CARD).is_file() and (path / DATA_DIR).is_dir():
        return path
    link = path / LATEST_LINK
    if link.exists():
        return link.resolve()
    marker = path / LATEST_FILE
    if marker.is_file():
        name = marker.read_text(encoding="utf-8").strip()
        target = path / SNAPSHOTS_DIR / check_snapshot_name(name)
        if target.is_dir():
            return target
        raise DafsetError(f"{marker} names snapshot {name!r}, but {target} does not exist")
    raise DafsetError(f"no DAFSet snapshot at {path}: expected README.md + data/, or a root with latest")
