"""PNG figures of a snapshot's data distributions, for the dataset card.

Uses matplotlib's object API with the Agg canvas (no pyplot): no global backend switch, nothing
opens a window, and it is safe to call from a library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dafset.schema import PROPERTIES

_DPI = 100
_BINS = 30


def pool_reference(facts: pa.Table | None) -> dict[str, np.ndarray]:
    """Per-entity frequency and degree of the long-tail candidate pool, from the Fact table."""
    if facts is None or facts.num_rows == 0 or "frequency" not in facts.column_names:
        return {}
    df = facts.select(["subject_id", "frequency", "in_degree", "out_degree"]).to_pandas()
    df = df.dropna(subset=["frequency"]).drop_duplicates("subject_id")
    if df.empty:
        return {}
    degree = df["in_degree"].fillna(0) + df["out_degree"].fillna(0)
    return {"frequency": df["frequency"].to_numpy(dtype=float), "degree": degree.to_numpy(dtype=float)}


def samples_frame(splits: Mapping[str, pa.Table]) -> pd.DataFrame:
    """The few columns the figures need, one row per sample, with its split."""
    parts = []
    for split, t in splits.items():
        ev = t.column("evidence")
        parts.append(
            pd.DataFrame(
                {
                    "split": split,
                    "property": t.column("property").to_pandas(),
                    "criterion": t.column("criterion").to_pandas(),
                    "relation_id": t.column("relation_id").to_pandas(),
                    "relation_label": t.column("relation_label").to_pandas(),
                    "frequency": pc.struct_field(ev, "frequency").to_pandas(),
                    "in_degree": pc.struct_field(ev, "in_degree").to_pandas(),
                    "out_degree": pc.struct_field(ev, "out_degree").to_pandas(),
                    "likelihood": pc.struct_field(ev, "likelihood").to_pandas(),
                }
            )
        )
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(df):
        both_null = df["in_degree"].isna() & df["out_degree"].isna()
        deg = df["in_degree"].fillna(0) + df["out_degree"].fillna(0)
        df["degree"] = deg.where(~both_null)
    return df


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    # no Software/date metadata: the same data gives the same bytes
    fig.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})


def _groups(df: pd.DataFrame, column: str) -> list[tuple[str, np.ndarray]]:
    """One series per long_tail criterion (what each selection rule picked), one per other
    property; robust is left out, its evidence is its base samples' evidence again."""
    df = df[df["property"] != "robust"]
    label = df["property"].where(df["property"] != "long_tail", "long_tail/" + df["criterion"])
    out = []
    for name, g in df.groupby(label, sort=True):
        vals = g[column].dropna().to_numpy(dtype=float)
        if len(vals):
            out.append((str(name), vals))
    return out


def _log_histogram(
    path: Path,
    groups: Sequence[tuple[str, np.ndarray]],
    xlabel: str,
    reference: np.ndarray | None = None,
    threshold: float | None = None,
) -> bool:
    """Shares (not counts), so the selected samples and the whole candidate pool they were cut
    from compare on one axis; the long-tail threshold is drawn where known."""
    if reference is not None and len(reference):
        groups = [("candidate pool (reference)", reference), *groups]
    positive = [(k, v[v > 0]) for k, v in groups if (v > 0).any()]
    if not positive:
        return False
    lo = min(v.min() for _, v in positive)
    hi = max(v.max() for _, v in positive)
    bins = np.logspace(np.log10(lo), np.log10(hi) if hi > lo else np.log10(lo) + 1, _BINS)
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for label, vals in positive:
        weights = np.full(len(vals), 1 / len(vals))
        style = (
            {"color": "0.6", "histtype": "stepfilled", "alpha": 0.5} if label.startswith("candidate") else {}
        )
        ax.hist(
            vals,
            bins=bins,
            weights=weights,
            linewidth=1.5,
            label=f"{label} (n={len(vals)})",
            **{"histtype": "step", **style},
        )
    if threshold is not None and threshold > 0:
        ax.axvline(
            threshold,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"long-tail threshold ({threshold:g})",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")  # the pool's head is a thin tail of shares; linear would hide it
    ax.set_xlabel(xlabel + " (log scale; values > 0)")
    ax.set_ylabel("share of entities / samples (log)")
    ax.legend(fontsize="small")
    _save(fig, path)
    return True


def _likelihood_histogram(path: Path, groups: Sequence[tuple[str, np.ndarray]]) -> bool:
    if not groups:
        return False
    lo = min(v.min() for _, v in groups)
    hi = max(v.max() for _, v in groups)
    bins = np.linspace(lo, hi if hi > lo else lo + 1, _BINS)
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for label, vals in groups:
        ax.hist(vals, bins=bins, histtype="step", linewidth=1.5, label=f"{label} (n={len(vals)})")
    ax.set_xlabel("likelihood (LM log-probability)")
    ax.set_ylabel("samples")
    ax.legend(fontsize="small")
    _save(fig, path)
    return True


def _barh(path: Path, counts: pd.Series, xlabel: str) -> bool:
    if counts.empty:
        return False
    counts = counts.sort_values(ascending=True)
    fig = Figure(figsize=(7, max(2.5, 0.22 * len(counts) + 1)))
    ax = fig.add_subplot()
    ax.barh([str(i) for i in counts.index], counts.to_numpy())
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", labelsize="small")
    _save(fig, path)
    return True


def _property_split(path: Path, df: pd.DataFrame, split_order: Sequence[str]) -> bool:
    if df.empty:
        return False
    table = df.groupby(["property", "split"]).size().unstack(fill_value=0)
    table = table.reindex(index=list(PROPERTIES), columns=list(split_order), fill_value=0)
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    x = np.arange(len(table.index))
    width = 0.8 / max(1, len(table.columns))
    for i, split in enumerate(table.columns):
        ax.bar(x + i * width, table[split].to_numpy(), width, label=split)
    ax.set_xticks(x + width * (len(table.columns) - 1) / 2, list(table.index))
    ax.set_ylabel("samples")
    ax.legend()
    _save(fig, path)
    return True


def write_figures(
    out_dir: Path,
    splits: Mapping[str, pa.Table],
    relation_domains: Mapping[str, str] | None = None,
    reference: Mapping[str, np.ndarray] | None = None,
    thresholds: Mapping[str, float | None] | None = None,
) -> list[tuple[str, str]]:
    """Write the figures into out_dir; return (file name, caption) for each one written.
    ``reference`` holds the candidate pool's per-entity values (``frequency``, ``degree``) and
    ``thresholds`` the long-tail cut of each criterion, both drawn behind the samples.
    A figure with no data to show (e.g. no likelihood scores) is skipped, not drawn empty."""
    reference = reference or {}
    thresholds = thresholds or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    df = samples_frame(splits)
    written: list[tuple[str, str]] = []

    def keep(ok: bool, name: str, caption: str) -> None:
        if ok:
            written.append((name, caption))

    if df.empty:
        return written
    keep(
        _log_histogram(
            out_dir / "frequency.png",
            _groups(df, "frequency"),
            "frequency (statements)",
            reference.get("frequency"),
            thresholds.get("frequency"),
        ),
        "frequency.png",
        "Entity frequency (statement count) per long-tail criterion and property",
    )
    keep(
        _log_histogram(
            out_dir / "degree.png",
            _groups(df, "degree"),
            "degree (in + out)",
            reference.get("degree"),
            thresholds.get("degree"),
        ),
        "degree.png",
        "Entity degree (in + out links) per long-tail criterion and property",
    )
    keep(
        _likelihood_histogram(out_dir / "likelihood.png", _groups(df, "likelihood")),
        "likelihood.png",
        "LM log-likelihood per long-tail criterion and property",
    )
    labels = df["relation_id"] + " " + df["relation_label"]
    keep(
        _barh(out_dir / "relations.png", labels.value_counts(), "samples"),
        "relations.png",
        "Relation mix",
    )
    if relation_domains:
        domains = df["relation_id"].map(lambda r: relation_domains.get(r, "other"))
        keep(
            _barh(out_dir / "domains.png", domains.value_counts(), "samples"),
            "domains.png",
            "Domain mix",
        )
    keep(
        _property_split(out_dir / "property_split.png", df, list(splits)),
        "property_split.png",
        "Samples per property and split",
    )
    return written
