"""What the run reports to Prefect: figures read back from the published snapshot (not from
in-memory state), so the artifacts describe exactly what ``load_dataset`` will see."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dafset.publish.layout import FIGURES_DIR, resolve_snapshot
from dafset.publish.manifest import read_manifest
from dafset.publish.stats import compute_stats

TABLE_KEY = "dafset-counts"
SUMMARY_KEY = "dafset-summary"


@dataclass(frozen=True)
class RunReport:
    snapshot_dir: Path
    rows: list[dict[str, Any]]  # config, split, criterion, n
    markdown: str


def count_rows(snapshot_dir: Path) -> list[dict[str, Any]]:
    """One row per config, split and criterion, plus the ``all`` config's split totals."""
    stats = compute_stats(snapshot_dir)
    rows = [
        {"config": r.property, "split": r.split, "criterion": r.criterion, "n": int(r.n)}
        for r in stats.by_criterion.itertuples()
    ]
    rows += [
        {"config": r.config, "split": r.split, "criterion": "*", "n": int(r.n)}
        for r in stats.by_config.itertuples()
        if r.config == "all"
    ]
    return rows


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def build_report(path: str | Path, seconds: float, flow_parameters: dict[str, Any]) -> RunReport:
    snap = resolve_snapshot(path)
    manifest = read_manifest(snap)
    rows = count_rows(snap)
    order = ("train", "validation", "test")
    splits = sorted({r["split"] for r in rows}, key=lambda s: (order.index(s) if s in order else 9, s))
    per_config: dict[str, dict[str, int]] = {}
    for r in rows:  # criteria summed per config and split
        per_split = per_config.setdefault(r["config"], {})
        per_split[r["split"]] = per_split.get(r["split"], 0) + r["n"]
    config_table = _md_table(
        ["config", *splits, "total"],
        [[c, *(per.get(s, 0) for s in splits), sum(per.values())] for c, per in per_config.items()],
    )
    figures = sorted((snap / FIGURES_DIR).glob("*.png")) if (snap / FIGURES_DIR).is_dir() else []
    window = manifest.get("window") or {}
    skipped = manifest.get("skipped_criteria") or []
    lines = [
        f"# DAFSet snapshot {manifest.get('snapshot', snap.name)}",
        "",
        f"- written to: `{snap}`",
        f"- load with: `datasets.load_dataset({str(snap)!r})` (configs: {', '.join(per_config)})",
        f"- source: {manifest.get('source')} ({manifest.get('endpoint')})",
        f"- recency window: {window.get('start')} to {window.get('end')}",
        f"- seed: {manifest.get('seed')}; model: {(manifest.get('llm') or {}).get('model')}",
        f"- skipped criteria: {', '.join(skipped) if skipped else 'none'}",
        f"- build time: {seconds:.1f} s",
        f"- parameters: `{ {k: v for k, v in flow_parameters.items() if v is not None} }`",
        "",
        "## Samples per config and split",
        "",
        config_table,
        "",
        "## Figures",
        "",
        *([f"- `{p}`" for p in figures] or ["- none drawn (figures=false or no data)"]),
    ]
    return RunReport(snap, rows, "\n".join(lines) + "\n")
