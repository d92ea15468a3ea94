"""Across-seed summaries and paired bootstrap confidence intervals for method differences.

Paired over cases: each case's score is first averaged over the training seeds of a method, the
per-case difference between two methods is taken, and the cases are resampled (percentile CI).
The CI is over the evaluated cases, not over seeds (seed-to-seed spread is reported as std).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def mean_std(values: Sequence[float | None]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return {"mean": statistics.fmean(vals), "std": std, "n": len(vals)}


def case_means(per_seed: Sequence[Sequence[Mapping[str, Any]]], metric: str) -> dict[str, float]:
    """case id -> the metric averaged over seeds (cases missing the metric are left out)."""
    acc: dict[str, list[float]] = defaultdict(list)
    for rows in per_seed:
        for r in rows:
            if r.get(metric) is not None:
                acc[r["id"]].append(float(r[metric]))
    return {k: statistics.fmean(v) for k, v in acc.items()}


def paired_bootstrap(
    a: Mapping[str, float], b: Mapping[str, float], n_boot: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Mean of a - b over the cases both have, with a 95% percentile bootstrap CI."""
    ids = sorted(set(a) & set(b))
    if not ids:
        return {"diff": None, "lo": None, "hi": None, "n": 0}
    d = np.array([a[i] - b[i] for i in ids])
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"diff": float(d.mean()), "lo": float(lo), "hi": float(hi), "n": len(ids)}
