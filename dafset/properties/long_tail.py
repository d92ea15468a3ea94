"""long_tail: rare entities by three criteria, each its own sample criterion.

- frequency: how often the entity takes part in Wikidata statements;
- degree: its in + out connectivity among items;
- likelihood: an LLM's log-probability of the entity in template sentences (filled by ``dafset.lm``).

Thresholds select the low ``quantile`` (default 80%) of the candidate pool's distribution, and every
fact also carries a head / torso / tail bucket by cumulative mass (Head-to-Tail's rule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from dafset.config import BuildConfig
from dafset.hashing import stable_hash
from dafset.ids import chunks
from dafset.properties.facts import SPARQL_BATCH, fetch_truthy_facts
from dafset.source import Source


def harvest_long_tail(
    source: Source, cfg: BuildConfig, relations: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The candidate pool's facts with frequency and degree evidence attached."""
    pool = random_pool(source, relations, min(cfg.long_tail_pool, POOL_PER_SAMPLE * cfg.sizes.long_tail))
    frequency = _counts(source, "frequency", "frequency", pool)
    in_degree = _counts(source, "in_degree", "inDegree", pool)
    out_degree = _counts(source, "out_degree", "outDegree", pool)
    rows = fetch_truthy_facts(source, pool, relations)
    for fact in rows:
        fact.pop("_dates", None)
        q = fact["subject_id"]
        fact.update(
            frequency=frequency.get(q, 0),
            in_degree=in_degree.get(q, 0),
            out_degree=out_degree.get(q, 0),
            derived=[],
        )
    return rows, {"pool": len(pool), "facts": len(rows)}


POOL_PER_SAMPLE = 5  # pool items per long-tail sample wanted: a uniform pool need be no larger
POOL_DRAW = 500  # random items asked for at a time (one list=random request on the live path)


def random_pool(source: Source, relations: Sequence[str], size: int) -> list[str]:
    """``size`` items with a statement on one of the relations, drawn at random from all items
    (``Source.random_items``) — a uniform sample, not the first items by id, and no scan: random
    items are filtered with a VALUES query, 200 at a time."""
    pool: list[str] = []
    asked = 0
    while len(pool) < size:
        drawn = source.random_items(asked + POOL_DRAW)[asked:]
        if not drawn:
            break  # the source holds no more items
        asked += len(drawn)
        for batch in chunks(drawn, SPARQL_BATCH):
            found = {
                r["item"]
                for r in source.select("items_with_relations", items=batch, properties=list(relations))
            }
            pool += [q for q in batch if q in found]
    return pool[:size]


def _counts(source: Source, query: str, var: str, items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for batch in chunks(items, SPARQL_BATCH):
        for r in source.select(query, items=batch):
            out[r["item"]] = int(float(r[var]))
    return out


def reference(values: Mapping[str, float], quantile: float) -> dict[str, Any]:
    """The distribution summary and the threshold written into the manifest."""
    ordered = sorted(values.values())
    if not ordered:
        return {"n": 0, "threshold": None, "quantiles": {}}
    marks = (0.0, 0.1, 0.25, 0.5, 0.75, quantile, 0.9, 1.0)
    return {
        "n": len(ordered),
        "quantile": quantile,
        "threshold": _quantile(ordered, quantile),
        "quantiles": {f"p{round(m * 100)}": _quantile(ordered, m) for m in marks},
    }


def _quantile(ordered: list[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def eligible(values: Mapping[str, float], quantile: float, salt: str = "") -> set[str]:
    """The low ``quantile`` of entities by value. Ties are common (most entities occur once), so the
    cut is by rank, ties broken by a stable hash: exactly the low 80% is selected, not everything
    that shares the threshold value."""
    ranked = sorted(values, key=lambda q: (values[q], stable_hash(salt, q)))
    return set(ranked[: math.ceil(quantile * len(ranked))])


def buckets(mass: Mapping[str, float]) -> dict[str, str]:
    """Head / torso / tail by cumulative mass (Head-to-Tail's rule): sorted by mass, the entities
    holding the first third of the total are head, the next third torso, the rest tail. Entities
    with equal mass share one bucket, chosen by the middle of their group's cumulative range."""
    total = sum(max(m, 0.0) for m in mass.values())
    groups: dict[float, list[str]] = {}
    for q, m in mass.items():
        groups.setdefault(max(m, 0.0), []).append(q)
    out: dict[str, str] = {}
    running = 0.0
    for value in sorted(groups, reverse=True):
        members = groups[value]
        group_mass = value * len(members)
        middle = (running + group_mass / 2) / total if total > 0 else 1.0
        bucket = "head" if middle < 1 / 3 else "torso" if middle < 2 / 3 else "tail"
        out.update(dict.fromkeys(members, bucket))
        running += group_mass
    return out


def likelihood_mass(loglik: Mapping[str, float]) -> dict[str, float]:
    """Per-token log-probabilities as probability mass, so buckets work as for counts."""
    return {q: math.exp(v) for q, v in loglik.items()}
