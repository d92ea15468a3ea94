"""Counts of a published snapshot — per config and split, criterion, relation — computed with
DuckDB over the Parquet shards, and rendered as rich tables for ``dafset stats DIR``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pandas as pd
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dafset.publish.layout import ALL_CONFIG, MANIFEST, shard_files
from dafset.publish.manifest import verified_snapshot
from dafset.schema import PORTABILITY_KINDS, PROPERTIES, SAMPLE_SCHEMA, check_file_schema
from dafset.terminal import terminal_safe

_SPLIT_RE = r"([A-Za-z][A-Za-z0-9_]*)-[0-9]{5}-of-[0-9]{5}\.parquet$"
_SPLIT_ORDER = ("train", "validation", "test")


_TABLES = ("by_config", "by_criterion", "by_relation", "by_edit_kind")


@dataclass(frozen=True)
class SnapshotStats(Mapping[str, pd.DataFrame]):
    """Long-format counts (one row per group and split, column ``n``). Also a read-only mapping
    of table name -> DataFrame (by_config, by_criterion, by_relation, by_edit_kind)."""

    snapshot_dir: Path
    manifest: dict[str, Any]
    splits: list[str]
    by_config: pd.DataFrame  # config, split, n ("all" included)
    by_criterion: pd.DataFrame  # property, criterion, split, n
    by_relation: pd.DataFrame  # relation_id, relation_label, split, n
    by_edit_kind: pd.DataFrame  # property, edit_kind, split, n
    mismatches: list[str] = field(default_factory=list)  # counted vs manifest.json

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in _TABLES:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(_TABLES)

    def __len__(self) -> int:
        return len(_TABLES)

    def pivot(self, name: str) -> pd.DataFrame:
        """One of the tables with splits as columns plus a total."""
        df: pd.DataFrame = getattr(self, name)
        keys = [c for c in df.columns if c not in ("split", "n")]
        if df.empty:
            return pd.DataFrame(columns=[*keys, *self.splits, "total"])
        wide = df.pivot_table(index=keys, columns="split", values="n", aggfunc="sum", fill_value=0)
        wide = wide.reindex(columns=self.splits, fill_value=0)
        wide["total"] = wide.sum(axis=1)
        return wide.reset_index()


def _order_splits(names: set[str]) -> list[str]:
    return [s for s in _SPLIT_ORDER if s in names] + sorted(names - set(_SPLIT_ORDER))


def compute_stats(path: str | Path) -> SnapshotStats:
    """Counts for a snapshot dir, or for a root whose ``latest`` points at one."""
    snap = verified_snapshot(path)
    manifest = orjson.loads((snap / MANIFEST).read_bytes())
    files = [str(p) for c in PROPERTIES for p in shard_files(snap, c)]
    for file in files:  # a shard of another schema is named here, not in a DuckDB binder error
        check_file_schema(pq.read_schema(file), SAMPLE_SCHEMA, where=file)
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")  # shared machines; the data is small
        if files:
            rel = con.read_parquet(files, filename=True)
            rel.create_view("samples")
        else:
            con.execute(
                "CREATE VIEW samples AS SELECT NULL::VARCHAR AS property, NULL::VARCHAR AS criterion,"
                " NULL::VARCHAR AS relation_id, NULL::VARCHAR AS relation_label,"
                " NULL::VARCHAR AS edit_kind, NULL::VARCHAR AS filename WHERE false"
            )
        con.execute(
            f"CREATE VIEW s AS SELECT *, regexp_extract(filename, '{_SPLIT_RE}', 1) AS split FROM samples"
        )

        def q(sql: str) -> pd.DataFrame:
            return con.execute(sql).df()

        by_config = q("SELECT property AS config, split, count(*) AS n FROM s GROUP BY ALL ORDER BY ALL")
        by_criterion = q("SELECT property, criterion, split, count(*) AS n FROM s GROUP BY ALL ORDER BY ALL")
        by_relation = q(
            "SELECT relation_id, any_value(relation_label) AS relation_label, split, count(*) AS n"
            " FROM s GROUP BY relation_id, split ORDER BY relation_id, split"
        )
        by_edit_kind = q("SELECT property, edit_kind, split, count(*) AS n FROM s GROUP BY ALL ORDER BY ALL")
    finally:
        con.close()

    totals = by_config.groupby("split", as_index=False)["n"].sum()
    totals.insert(0, "config", ALL_CONFIG)
    by_config = pd.concat([by_config, totals], ignore_index=True)
    for df in (by_config, by_criterion, by_relation, by_edit_kind):
        df["n"] = df["n"].astype("int64")
    names = set(by_config["split"]) | {s for per in manifest.get("counts", {}).values() for s in per}
    return SnapshotStats(
        snapshot_dir=snap,
        manifest=manifest,
        splits=_order_splits(names),
        by_config=by_config,
        by_criterion=by_criterion,
        by_relation=by_relation,
        by_edit_kind=by_edit_kind,
        mismatches=_compare(by_config, manifest),
    )


def _compare(by_config: pd.DataFrame, manifest: dict[str, Any]) -> list[str]:
    """Where the shards disagree with manifest.json (a hand-edited or damaged snapshot)."""
    counted = {(r.config, r.split): int(r.n) for r in by_config.itertuples()}
    out = []
    for config, per in manifest.get("counts", {}).items():
        for split, n in per.items():
            got = counted.get((config, split), 0)
            if got != n:
                out.append(f"{config}/{split}: {got} rows in shards, manifest says {n}")
    return out


def _rich_table(title: str, df: pd.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in df.itertuples(index=False):
        # Text, not str: a label is never read as rich markup, and its control characters are escaped
        table.add_row(*(Text(_cell(_py(x))) for x in row))
    return table


def _cell(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else terminal_safe(str(value))


def _py(v: Any) -> Any:
    return int(v) if hasattr(v, "dtype") and pd.api.types.is_integer_dtype(v.dtype) else v


def print_stats(path: str | Path, console: Console | None = None) -> SnapshotStats:
    """Print the counts as rich tables (used by ``dafset stats DIR``); return them too."""
    stats = compute_stats(path)
    console = console or Console()
    m = stats.manifest
    name = terminal_safe(f"{m.get('snapshot', stats.snapshot_dir.name)}  ({stats.snapshot_dir})")
    console.print(Text.assemble(("DAFSet snapshot", "bold"), " ", name))
    code = m.get("code", {})
    for key, value in (
        ("created", m.get("created_at")),
        ("source", m.get("source")),
        ("endpoint", m.get("endpoint")),
        (
            "code",
            f"dafset {code.get('dafset_version')} {code.get('git_commit') or ''}".strip() if code else None,
        ),
    ):
        if value:
            console.print(Text(f"  {key}: {terminal_safe(str(value))}"))
    by_config = stats.pivot("by_config")
    order = {c: i for i, c in enumerate((*PROPERTIES, ALL_CONFIG))}
    by_config = by_config.sort_values("config", key=lambda s: s.map(order)).reset_index(drop=True)
    console.print(_rich_table("Samples per config and split", by_config))
    console.print(_rich_table("Samples per criterion", stats.pivot("by_criterion")))
    console.print(_rich_table("Edit kinds", stats.pivot("by_edit_kind")))
    relations = stats.pivot("by_relation").sort_values(["total", "relation_id"], ascending=[False, True])
    console.print(_rich_table("Samples per relation", relations.reset_index(drop=True)))
    shares = (m.get("portability") or {}).get("share_with_kind") or {}
    if shares:
        kinds = list(PORTABILITY_KINDS)
        rows = [{"config": c, **{k: f"{100 * v.get(k, 0):.1f}%" for k in kinds}} for c, v in shares.items()]
        console.print(_rich_table("Cases with a portability probe of each kind", pd.DataFrame(rows)))
    for problem in stats.mismatches:
        console.print(Text.assemble(("mismatch", "red"), " ", terminal_safe(problem)))
    return stats
