"""Does the likelihood criterion measure what the model knows? Figures a build can compute on the
pool it scored, written into the manifest (``llm.likelihood.validation``; docs/likelihood.md)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties share their mean rank); None when either side is constant
    or fewer than three pairs are given."""
    import pandas as pd

    if len(a) != len(b):
        raise ValueError(f"spearman: {len(a)} values against {len(b)}")
    if len(a) < 3:
        return None
    ra, rb = pd.Series(a, dtype=float).rank(), pd.Series(b, dtype=float).rank()
    if ra.nunique() < 2 or rb.nunique() < 2:
        return None
    value = float(ra.corr(rb))
    return round(value, 4) if math.isfinite(value) else None


def knowledge_validation(
    scores: Mapping[str, float],
    signals: Mapping[str, Mapping[str, float]],
    hits: Mapping[str, Sequence[bool]],
    buckets: Mapping[str, str],
    eligible: set[str],
) -> dict[str, Any]:
    """The criterion's Spearman with each signal (label token count, frequency, degree, sitelinks,
    ...) and with the share of the entity's facts the model knows (first token of the truth is its
    top prediction), the fact accuracy inside and outside the long-tail cut, and bucket shares."""
    ids = sorted(scores)
    out: dict[str, Any] = {"entities": len(ids)}
    out["spearman"] = {
        name: spearman([scores[q] for q in ids if q in values], [values[q] for q in ids if q in values])
        for name, values in signals.items()
    }
    known = [q for q in ids if hits.get(q)]
    share = {q: sum(hits[q]) / len(hits[q]) for q in known}
    out["spearman"]["knows_fact"] = spearman([scores[q] for q in known], [share[q] for q in known])
    out["fact_accuracy"] = {
        "all": _accuracy(hits, known),
        "long_tail": _accuracy(hits, [q for q in known if q in eligible]),
        "rest": _accuracy(hits, [q for q in known if q not in eligible]),
    }
    counts = Counter(buckets.get(q) for q in ids)
    out["bucket_shares"] = {
        b: round(counts.get(b, 0) / len(ids), 4) if ids else None for b in ("head", "torso", "tail")
    }
    return out


def _accuracy(hits: Mapping[str, Sequence[bool]], ids: Sequence[str]) -> float | None:
    flags = [h for q in ids for h in hits[q]]
    return round(sum(flags) / len(flags), 4) if flags else None


__all__ = ["knowledge_validation", "spearman"]
