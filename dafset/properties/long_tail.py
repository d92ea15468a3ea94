"""long_tail: rare entities by three criteria, each its own sample criterion.

- frequency: how often the entity takes part in Wikidata statements;
- degree: its in + out connectivity among items;
- likelihood: what an LLM knows about the entity, the pointwise mutual information of its true facts'
  objects with it (``dafset.lm.knowledge``, docs/likelihood.md).

Thresholds select the low ``quantile`` (default 80%) of the candidate pool's distribution, and every
fact also carries a head / torso / tail bucket by cumulative mass (Head-to-Tail's rule).

A source with global statistics (``GlobalLongTail``: the dump) changes two things: the pool is a
uniform stable-hash sample of all items having the relations, and the frequency and degree cuts and
buckets come from the global distributions (same rules, same tie-breaking hash), recorded in the
manifest as global. Likelihood stays pool-based: an LLM scores only the pool.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from dafset.config import BuildConfig
from dafset.hashing import stable_hash
from dafset.ids import chunks
from dafset.properties.facts import SPARQL_BATCH, fetch_truthy_facts
from dafset.properties.popularity import Guard
from dafset.source import Source

GLOBAL_KEY = "_long_tail_global"  # per fact: {criterion: {eligible, bucket, threshold}} (not published)
GLOBAL_CRITERIA = ("frequency", "degree")
# per fact: whether a real popularity signal shows its subject is rare (``popularity``); facts
# that are not stay in the pool, so the distributions stay those of the population, but are
# never chosen (not published)
RARE_KEY = "_long_tail_rare"
MAX_DRAW = 4  # the pool grows to at most this many times its size to hold ``size`` rare items


@runtime_checkable
class GlobalLongTail(Protocol):
    """What a source with statistics over all of Wikidata offers (``DumpSource``)."""

    def long_tail_pool(self, relations: Sequence[str], size: int, salt: str) -> list[str]: ...

    def long_tail_histogram(self, relations: Sequence[str], criterion: str) -> list[tuple[int, int]]: ...

    def long_tail_tie_cutoff(
        self, relations: Sequence[str], criterion: str, value: int, k: int, salt: str
    ) -> str | None: ...


def harvest_long_tail(
    source: Source, cfg: BuildConfig, relations: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The candidate pool's facts with frequency and degree evidence attached."""
    start, end = cfg.window  # views over the build's window, as popular reads them
    guard = Guard(source, start.date(), (end - timedelta(days=1)).date())
    pool = candidate_pool(source, cfg, relations, guard)
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
            pageviews=guard.signals[q].views if q in guard.signals else None,
            derived=[],
        )
        fact[RARE_KEY] = guard.rare(q)
    report: dict[str, Any] = {"pool": len(pool), "facts": len(rows), "popularity_guard": guard.report()}
    if isinstance(source, GlobalLongTail):
        report["pool_sampling"] = "uniform: the smallest stable_hash(pool/<seed>, id) of all items"
        report["global"] = attach_global_cuts(source, cfg, relations, rows)
    return rows, report


def candidate_pool(
    source: Source, cfg: BuildConfig, relations: Sequence[str], keep: Guard | None = None
) -> list[str]:
    """A uniform sample of the items having the relations (with ``keep``, large enough to hold
    ``size`` items known to be rare, up to MAX_DRAW times ``size``): by stable hash over all of
    them where the source holds global statistics (the dump), else random items filtered by the
    relations."""
    size = cfg.long_tail_pool or POOL_PER_SAMPLE * cfg.sizes.long_tail
    if isinstance(source, GlobalLongTail):
        return _hashed_pool(source, relations, size, f"pool/{cfg.seed}", keep)
    return random_pool(source, relations, size, keep)


def _hashed_pool(
    source: GlobalLongTail, relations: Sequence[str], size: int, salt: str, keep: Guard | None
) -> list[str]:
    """The ``size`` items of smallest hash; with ``keep``, up to MAX_DRAW times more until
    ``size`` of them are kept (a larger draw is a superset of a smaller one: still uniform)."""
    drawn = source.long_tail_pool(list(relations), size, salt=salt)
    if keep is not None and len(keep(drawn)) < size and len(drawn) == size:
        drawn = source.long_tail_pool(list(relations), MAX_DRAW * size, salt=salt)
        keep(drawn)
    return drawn


def attach_global_cuts(
    source: GlobalLongTail, cfg: BuildConfig, relations: Sequence[str], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """Mark every fact eligible / bucketed by the global distributions (the same rank rule and
    tie-breaking hash as ``eligible`` and ``buckets`` on a pool); return the references."""
    references: dict[str, Any] = {}
    for criterion in GLOBAL_CRITERIA:
        histogram = source.long_tail_histogram(list(relations), criterion)
        if not histogram:
            continue
        salt = f"{criterion}/{cfg.seed}"  # the salt assemble gives ``eligible``
        threshold, take, ties = _cut(histogram, cfg.long_tail_quantile)
        cutoff = None
        if 0 < take < ties:
            cutoff = source.long_tail_tie_cutoff(list(relations), criterion, threshold, take, salt)
        bucket_of = histogram_buckets([(float(v), n) for v, n in histogram])
        for fact in rows:
            value = _criterion_value(fact, criterion)
            chosen = value < threshold or (
                value == threshold
                and take > 0
                and (cutoff is None or stable_hash(salt, fact["subject_id"]) <= cutoff)
            )
            fact.setdefault(GLOBAL_KEY, {})[criterion] = {
                "eligible": chosen,
                "bucket": bucket_of.get(float(value)),
                "threshold": float(threshold),
            }
        references[criterion] = {
            "scope": "global",
            "population": "every item with a truthy statement on the relations",
            **histogram_reference(histogram, cfg.long_tail_quantile),
        }
    return references


def _criterion_value(fact: Mapping[str, Any], criterion: str) -> int:
    return fact["frequency"] if criterion == "frequency" else fact["in_degree"] + fact["out_degree"]


def _cut(histogram: list[tuple[int, int]], quantile: float) -> tuple[int, int, int]:
    """(threshold value, how many of the items at it are taken, how many are at it): the low
    ``ceil(quantile * n)`` items by rank, as ``eligible`` takes them."""
    n = sum(count for _, count in histogram)
    want = math.ceil(quantile * n)
    below = 0
    for value, count in histogram:
        if below + count >= want:
            return value, want - below, count
        below += count
    value, count = histogram[-1]
    return value, count, count


def histogram_reference(histogram: list[tuple[int, int]], quantile: float) -> dict[str, Any]:
    """``reference`` computed from (value, count) pairs instead of one value per entity."""
    n = sum(count for _, count in histogram)
    marks = (0.0, 0.1, 0.25, 0.5, 0.75, quantile, 0.9, 1.0)

    def at(q: float) -> float:
        rank = min(n - 1, max(0, math.ceil(q * n) - 1))  # 0-based, as _quantile
        seen = 0
        for value, count in histogram:
            seen += count
            if seen > rank:
                return float(value)
        return float(histogram[-1][0])

    return {
        "n": n,
        "quantile": quantile,
        "threshold": at(quantile),
        "quantiles": {f"p{round(m * 100)}": at(m) for m in marks},
    }


def cuts(
    facts: list[dict[str, Any]],
    criterion: str,
    values: Mapping[str, float],
    mass: Mapping[str, float],
    quantile: float,
    salt: str,
) -> tuple[dict[str, Any], set[str], dict[str, str]]:
    """(reference, eligible entities, buckets) of one criterion: the global ones the harvest
    attached (dump source), else those of the pool."""
    marks = [f.get(GLOBAL_KEY, {}).get(criterion) for f in facts]
    if facts and all(m is not None for m in marks):
        chosen = {f["subject_id"] for f, m in zip(facts, marks, strict=True) if m["eligible"]}
        bucket = {f["subject_id"]: m["bucket"] for f, m in zip(facts, marks, strict=True)}
        ref = {"scope": "global", "threshold": marks[0]["threshold"], "see": "harvest.long_tail.global"}
        return ref, chosen, bucket
    return reference(values, quantile), eligible(values, quantile, salt=salt), buckets(mass)


POOL_PER_SAMPLE = 5  # pool items per long-tail sample wanted: a uniform pool need be no larger
POOL_DRAW = 500  # random items asked for at a time (one list=random request on the live path)


def random_pool(source: Source, relations: Sequence[str], size: int, keep: Guard | None = None) -> list[str]:
    """``size`` items with a statement on one of the relations, drawn at random from all items
    (``Source.random_items``) — a uniform sample, not the first items by id, and no scan: random
    items are filtered with a VALUES query, 200 at a time."""
    pool: list[str] = []
    rare = 0
    asked = 0

    def enough() -> bool:  # with ``keep``: ``size`` rare items, or MAX_DRAW times ``size`` drawn
        return len(pool) >= size if keep is None else rare >= size or len(pool) >= MAX_DRAW * size

    while not enough():
        drawn = source.random_items(asked + POOL_DRAW)[asked:]
        if not drawn:
            break  # the source holds no more items
        asked += len(drawn)
        for batch in chunks(drawn, SPARQL_BATCH):
            found = {
                r["item"]
                for r in source.select("items_with_relations", items=batch, properties=list(relations))
            }
            having = [q for q in batch if q in found]
            pool += having
            rare += len(keep(having)) if keep is not None else 0
            if enough():
                break
    return pool[:size] if keep is None else pool


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
    sizes = Counter(max(m, 0.0) for m in mass.values())
    by_value = histogram_buckets(sizes.items(), total)
    return {q: by_value[max(m, 0.0)] for q, m in mass.items()}


def histogram_buckets(histogram: Iterable[tuple[float, int]], total: float | None = None) -> dict[float, str]:
    """``buckets`` over (mass, number of entities) pairs: the bucket of each mass value."""
    groups = Counter[float]()
    for value, count in histogram:
        groups[max(value, 0.0)] += count
    if total is None:
        total = sum(value * count for value, count in groups.items())
    out: dict[float, str] = {}
    running = 0.0
    for value in sorted(groups, reverse=True):
        group_mass = value * groups[value]
        middle = (running + group_mass / 2) / total if total > 0 else 1.0
        out[value] = "head" if middle < 1 / 3 else "torso" if middle < 2 / 3 else "tail"
        running += group_mass
    return out


def likelihood_mass(knowledge: Mapping[str, float]) -> dict[str, float]:
    """The likelihood criterion's scores (nats of evidence the entity gives for its true facts)
    as mass for the buckets: information is additive, so the head is the few entities that hold
    the first third of what the model knows about the pool; a score at or below zero (the model
    knows nothing it would not guess without the entity) holds none and is tail. The exp of a
    log-probability, used before, put 83% of the mass on 10 of 2,000 entities (docs/likelihood.md)."""
    return {q: max(v, 0.0) for q, v in knowledge.items()}
