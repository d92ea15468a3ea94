"""Read the provenance tables of the real fixtures' ``SOURCES.md``: repository, commit and licence
of every file, so the notice and the manifest name exactly what the sample was built from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dafset.errors import ConfigError

_CELL_SPLIT = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class SourceRow:
    file: str  # as SOURCES.md names it (relative to its folder, e.g. "bear_BEAR-big/P19.jsonl")
    repo: str
    path_in_repo: str
    commit: str
    licence: str
    format: str
    what: str

    @property
    def partial(self) -> bool:
        """Entity JSON that was trimmed or stripped upstream: its claims are real but incomplete."""
        text = f"{self.format} {self.what}".lower()
        return "trimmed" in text or "stripped" in text or "partial" in text

    @property
    def permissive(self) -> bool:
        """A licence we may ship data from: no GPL, and a permissive or CC licence declared."""
        text = self.licence.lower()
        if "gpl" in text:
            return False
        return any(tag in text for tag in ("mit", "apache", "cc0", "cc by", "cc-by"))


def _clean(cell: str) -> str:
    return cell.replace("`", "").replace("\\|", "|").strip()


def read_sources(path: Path) -> dict[str, SourceRow]:
    """Every table row of SOURCES.md that names a file, keyed by that name."""
    if not path.is_file():
        raise ConfigError(f"{path}: not found (the real fixtures' provenance file)")
    rows: dict[str, SourceRow] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [_clean(c) for c in _CELL_SPLIT.split(line)[1:-1]]
        if len(cells) < 8:
            continue
        file, _bytes, repo, in_repo, commit, licence, fmt, what = cells[:8]
        if re.fullmatch(r"[0-9a-f]{40}", commit):
            rows[file] = SourceRow(file, repo, in_repo, commit, licence, fmt, what)
    return rows


def lookup(rows: dict[str, SourceRow], relative: str) -> SourceRow:
    """The row of a fixture file given its path below its top folder (``facts/x`` -> ``x``)."""
    key = relative.split("/", 1)[1] if "/" in relative else relative
    for candidate in (key, relative, relative.rsplit("/", 1)[-1]):
        if candidate in rows:
            return rows[candidate]
    raise ConfigError(f"SOURCES.md has no provenance row for {relative}")
