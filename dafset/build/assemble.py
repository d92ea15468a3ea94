"""From enriched facts to the final list of samples: choose cases per property and criterion,
render them, add robust variants, and enforce the rules.

Properties take cases in a fixed priority (recent, popular, long_tail) and a (subject, relation) is
used once across them, so no case appears twice in a split or in the ``all`` config. Robust cases
are variants of published popular/long_tail cases: they repeat their base's fact on purpose, name
it in ``base_id`` and land in its split (splits hash the fact).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dafset.build.render import FactIndex, render_case
from dafset.build.rules import broken_rule
from dafset.config import BuildConfig
from dafset.hashing import stable_hash
from dafset.properties import long_tail as lt
from dafset.properties.robust import BASE_PROPERTIES, broken_variant_rule, length_variant, variant
from dafset.relations import RelationSet

EDIT_KIND = {
    "recent": "insertion",
    "long_tail": "insertion",
    "popular": "counterfactual",
    "robust": "counterfactual",
}

LLM_OVERFETCH = 1.8  # robust cases sent to the prefix writer per case wanted

# A hook that adds LLM-written prefixes (context, sentiment) to robust cases; see dafset.build.llm.
PrefixWriter = Callable[[list[dict[str, Any]], str], list[dict[str, Any]]]


@dataclass
class Assembly:
    cfg: BuildConfig
    relations: RelationSet
    index: FactIndex
    samples: list[dict[str, Any]] = field(default_factory=list)
    taken: set[tuple[str, str]] = field(default_factory=set)
    drops: Counter[str] = field(default_factory=Counter)
    report: dict[str, Any] = field(default_factory=dict)

    def ordered(self, facts: Iterable[dict[str, Any]], salt: str) -> list[dict[str, Any]]:
        """One fact per free (subject, relation), in a seeded stable order."""
        cases: dict[tuple[str, str], dict[str, Any]] = {}
        for fact in facts:
            key = (fact["subject_id"], fact["relation_id"])
            if key not in self.taken and key not in cases and fact["relation_id"] in self.relations:
                cases[key] = fact
        return sorted(
            cases.values(), key=lambda f: stable_hash(salt, f["subject_id"], f["relation_id"], self.cfg.seed)
        )

    def render(self, fact: dict[str, Any], prop: str, criterion: str) -> dict[str, Any] | None:
        sample = render_case(
            fact,
            prop=prop,
            criterion=criterion,
            edit_kind=EDIT_KIND[prop],
            relations=self.relations,
            index=self.index,
            snapshot=self.cfg.snapshot.isoformat(),
            seed=self.cfg.seed,
        )
        if sample is None:
            self.drops["no_counterfactual_target"] += 1
        return sample

    def accept(self, sample: dict[str, Any] | None) -> bool:
        if sample is None:
            return False
        rule = broken_rule(sample)
        if rule is not None:
            self.drops[rule] += 1
            return False
        self.taken.add((sample["subject_id"], sample["relation_id"]))
        self.samples.append(sample)
        return True

    def take(self, facts: Iterable[dict[str, Any]], prop: str, criterion: str, limit: int) -> int:
        count = 0
        for fact in self.ordered(facts, f"{prop}/{criterion}"):
            if count >= limit:
                break
            count += self.accept(self.render(fact, prop, criterion))
        return count


def assemble(
    cfg: BuildConfig,
    relations: RelationSet,
    facts: dict[str, list[dict[str, Any]]],
    likelihood: dict[str, float] | None,
    write_prefixes: PrefixWriter | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Samples of all four properties, and the report (thresholds, counts, drops) for the manifest."""
    index = FactIndex.build(f for rows in facts.values() for f in rows)
    run = Assembly(cfg, relations, index)
    run.report["recent"] = run.take(facts["recent"], "recent", "added", cfg.sizes.recent)
    run.report["popular"] = run.take(facts["popular"], "popular", "pageviews", cfg.sizes.popular)
    run.report["long_tail"] = _long_tail(run, facts["long_tail"], likelihood)
    run.report["robust"] = _robust(run, write_prefixes)
    run.report["rule_drops"] = dict(sorted(run.drops.items()))
    return run.samples, run.report


def _long_tail(
    run: Assembly, facts: list[dict[str, Any]], likelihood: dict[str, float] | None
) -> dict[str, Any]:
    per_subject: dict[str, dict[str, float]] = {"frequency": {}, "degree": {}}
    for f in facts:
        per_subject["frequency"][f["subject_id"]] = float(f["frequency"])
        per_subject["degree"][f["subject_id"]] = float(f["in_degree"] + f["out_degree"])
    mass = {"frequency": per_subject["frequency"], "degree": per_subject["degree"]}
    if likelihood:
        per_subject["likelihood"] = {q: v for q, v in likelihood.items() if q in per_subject["frequency"]}
        mass["likelihood"] = lt.likelihood_mass(per_subject["likelihood"])
    report: dict[str, Any] = {"criteria": {}}
    pools: dict[str, list[dict[str, Any]]] = {}
    for criterion, values in per_subject.items():
        ref = lt.reference(values, run.cfg.long_tail_quantile)
        chosen = lt.eligible(values, run.cfg.long_tail_quantile, salt=f"{criterion}/{run.cfg.seed}")
        bucket = lt.buckets(mass[criterion])
        pools[criterion] = [
            {
                **f,
                "tail_bucket": bucket.get(f["subject_id"]),
                "likelihood": per_subject.get("likelihood", {}).get(f["subject_id"]),
            }
            for f in facts
            if f["subject_id"] in chosen
        ]
        report["criteria"][criterion] = {"reference": ref, "eligible_entities": len(chosen)}
    # Criteria take turns so each is present even when their eligible sets overlap.
    share = run.cfg.sizes.long_tail // max(1, len(pools))
    for criterion, pool in pools.items():
        report["criteria"][criterion]["samples"] = run.take(pool, "long_tail", criterion, share)
    return report


def _robust(run: Assembly, write_prefixes: PrefixWriter | None) -> dict[str, Any]:
    """Variants of published popular/long_tail cases. Each criterion draws its bases in its own
    seeded order, so a base may have a variant of each kind (one of each at most)."""
    criteria = ["length"] + (["context", "sentiment"] if write_prefixes else [])
    share = run.cfg.sizes.robust // len(criteria)
    pool = [s for s in run.samples if s["property"] in BASE_PROPERTIES]
    report: dict[str, Any] = {"criteria": {}, "bases": len(pool)}
    for criterion in criteria:
        bases = sorted(
            pool,
            key=lambda s: stable_hash("robust", criterion, s["subject_id"], s["relation_id"], run.cfg.seed),
        )
        # LLM-written prefixes fail their filters for some cases: ask for more, keep ``share``
        wanted = share if criterion == "length" else round(share * LLM_OVERFETCH)
        made: list[dict[str, Any]] = []
        cursor = 0
        while len(made) < wanted and cursor < len(bases):
            sample = variant(bases[cursor], criterion)
            cursor += 1
            if criterion == "length":
                lengthened = length_variant(sample, run.relations, run.index)
                if lengthened is None:
                    run.drops["length_no_other_facts"] += 1
                    continue
                sample = lengthened
            made.append(sample)
        if criterion != "length" and write_prefixes is not None:
            made = write_prefixes(made, criterion)  # drops cases whose prefixes fail the filters
        report["criteria"][criterion] = sum(_accept_variant(run, s) for s in made[:share])
    return report


def _accept_variant(run: Assembly, sample: dict[str, Any]) -> bool:
    """A robust variant obeys every sample rule and the variant rules (its base is published, its
    prefixes reveal no answer, sentiment pairs are scored and apart)."""
    published = {s["id"] for s in run.samples}
    rule = broken_rule(sample) or broken_variant_rule(sample, published)
    if rule is not None:
        run.drops[rule] += 1
        return False
    run.samples.append(sample)
    return True
