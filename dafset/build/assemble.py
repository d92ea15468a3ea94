"""From enriched facts to the final list of samples: choose cases per property and criterion,
render them, add robust variants, and enforce the rules.

Properties take cases in a fixed priority (recent, popular, long_tail) and a (subject, relation) is
used once across them, so no case appears twice in a split or in the ``all`` config. Robust cases
are variants of published popular/long_tail cases: they repeat their base's fact on purpose, name
it in ``base_id``, share its locality probes and land in its split (splits hash the fact).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dafset.build.locality import KINDS, LocalityPool, leaks
from dafset.build.render import FactIndex, polish, render_case
from dafset.build.robust import BASE_PROPERTIES, broken_variant_rule, length_variant, variant
from dafset.build.rules import RULES, broken_rule
from dafset.build.sequence import SplitEdits, split_edits, swap_avoid
from dafset.build.target_checks import target_checks
from dafset.build.tense import tense_report
from dafset.config import BuildConfig
from dafset.errors import DafsetError
from dafset.hashing import stable_hash
from dafset.properties import long_tail as lt
from dafset.properties.facts import ended_before
from dafset.publish.split import SPLITS, assign_split
from dafset.relations import RelationSet

EDIT_KIND = {
    "recent": "insertion",
    "long_tail": "insertion",
    "popular": "counterfactual",
}  # robust variants keep their base's edit kind

LLM_OVERFETCH = 1.8  # robust cases sent to the prefix writer per case wanted
MAX_RELATION_SHARE = 0.2  # no relation holds more than this share of a config
MIN_PROBES = 5

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
    misfits: set[tuple[str, str]] = field(default_factory=set)  # facts failing a subject-type constraint
    held: Counter[tuple[str, str]] = field(default_factory=Counter)  # (property, relation) -> cases
    report: dict[str, Any] = field(default_factory=dict)
    # what the accepted edits of each split change (no two edits of a split may be tied), and the
    # true values behind each (split, relation, new target) (no two edits may swap their truths)
    edits: SplitEdits = field(init=False)
    truths_of_target: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    split_of: Callable[[dict[str, Any]], str] = field(init=False)
    _label_ids: dict[tuple[str, str], set[str]] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.split_of = split_of(self.cfg)
        self.edits = SplitEdits(self.relations)

    def objects(self, sample: dict[str, Any]) -> set[str]:
        """Ids of the edit's old objects and of its new target (by label, within the relation)."""
        if self._label_ids is None:
            self._label_ids = {}
            for f in (f for rows in self.index.by_relation.values() for f in rows if f.get("object_id")):
                self._label_ids.setdefault((f["relation_id"], f["object_label"]), set()).add(f["object_id"])
        key = (sample["subject_id"], sample["relation_id"])
        old = {f["object_id"] for f in self.index.by_case.get(key, []) if f.get("object_id")}
        return old | self._label_ids.get((sample["relation_id"], sample["target_new"]), set())

    def fits(self, fact: dict[str, Any]) -> bool:
        """The relation's subject-type constraint (``subject_excludes`` in relations.yaml) against
        the classes the graph gives the subject: no "Belgium is located in the country of"."""
        relation = self.relations.get(fact["relation_id"])
        return relation is not None and not (
            set(relation.subject_excludes) & self.index.class_of(fact["subject_id"])
        )

    def ordered(self, facts: Iterable[dict[str, Any]], salt: str) -> list[dict[str, Any]]:
        """One fact per free (subject, relation) that fits its relation, in a seeded stable order."""
        cases: dict[tuple[str, str], dict[str, Any]] = {}
        misfits: set[tuple[str, str]] = set()
        for fact in facts:
            key = (fact["subject_id"], fact["relation_id"])
            if key in self.taken or key in cases or fact["relation_id"] not in self.relations:
                continue
            if not self.fits(fact):
                misfits.add(key)
                continue
            cases[key] = fact
        self.misfits |= misfits
        return sorted(
            cases.values(), key=lambda f: stable_hash(salt, f["subject_id"], f["relation_id"], self.cfg.seed)
        )

    def render(self, fact: dict[str, Any], prop: str, criterion: str) -> dict[str, Any] | None:
        answers = self.index.answers(fact["subject_id"], fact["relation_id"]) or [fact["object_label"]]
        avoid = swap_avoid(answers, self.split_of(fact), fact["relation_id"], self.truths_of_target)
        sample = render_case(
            fact,
            prop=prop,
            criterion=criterion,
            edit_kind=EDIT_KIND[prop],
            relations=self.relations,
            index=self.index,
            snapshot=self.cfg.snapshot.isoformat(),
            seed=self.cfg.seed,
            avoid=avoid,
        )
        if sample is None:
            self.drops["no_counterfactual_target"] += 1
        return sample

    def accept(self, sample: dict[str, Any] | None) -> bool:
        if sample is None:
            return False
        rule = broken_rule(sample)
        split, objects = self.split_of(sample), self.objects(sample)
        if rule is None and self.edits.clash(sample, split, objects):
            rule = "tied_to_another_edit"  # a pair it changes, another edit of its split changes
        if rule is not None:
            self.drops[rule] += 1
            return False
        self.edits.add(sample, split, objects)
        if sample["edit_kind"] == "counterfactual":
            key = (split, sample["relation_id"], sample["target_new"])
            self.truths_of_target.setdefault(key, set()).update(sample["answers"])
        self.taken.add((sample["subject_id"], sample["relation_id"]))
        self.held[(sample["property"], sample["relation_id"])] += 1
        self.samples.append(sample)
        return True

    def take(
        self, facts: Iterable[dict[str, Any]], prop: str, criterion: str, limit: int, config_size: int
    ) -> int:
        """Up to ``limit`` cases; no relation beyond its share of the config's wanted size."""
        cap = relation_cap(config_size)
        count = 0
        for fact in self.ordered(facts, f"{prop}/{criterion}"):
            if count >= limit:
                break
            if self.held[(prop, fact["relation_id"])] >= cap:
                continue
            count += self.accept(self.render(fact, prop, criterion))
        return count


def relation_cap(config_size: int) -> int:
    return max(1, math.floor(MAX_RELATION_SHARE * config_size))


def true_facts(
    facts: dict[str, list[dict[str, Any]]],
    snapshot: datetime,
    drops: Counter[str],
    lasting: frozenset[str] = frozenset(),
) -> dict[str, list[dict[str, Any]]]:
    """Facts that are still true at the snapshot (an ended statement is not, unless its relation is
    in ``lasting``: ``holds_after_end``) and not reflexive ("Belize is located in Belize")."""
    out: dict[str, list[dict[str, Any]]] = {}
    for group, rows in facts.items():
        kept = []
        for fact in rows:
            if ended_before(fact, snapshot) and fact["relation_id"] not in lasting:
                drops["ended_before_snapshot"] += 1
            elif fact.get("object_id") and fact["object_id"] == fact["subject_id"]:
                drops["reflexive"] += 1
            else:
                kept.append(fact)
        out[group] = kept
    return out


def assemble(
    cfg: BuildConfig,
    relations: RelationSet,
    facts: dict[str, list[dict[str, Any]]],
    likelihood: dict[str, float] | None,
    write_prefixes: PrefixWriter | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Samples of all four properties, and the report (thresholds, counts, drops) for the manifest."""
    drops: Counter[str] = Counter()
    snapshot = datetime(cfg.snapshot.year, cfg.snapshot.month, cfg.snapshot.day, tzinfo=UTC)
    every = [f for rows in facts.values() for f in rows]
    facts = true_facts(facts, snapshot, drops, frozenset(r.id for r in relations if r.holds_after_end))
    index = FactIndex.build(
        (f for rows in facts.values() for f in rows), {r.id: r.object_class for r in relations}, every
    )
    run = Assembly(cfg, relations, index, drops=drops)
    run.report["recent"] = run.take(facts["recent"], "recent", "added", cfg.sizes.recent, cfg.sizes.recent)
    run.report["popular"] = run.take(
        facts["popular"], "popular", "pageviews", cfg.sizes.popular, cfg.sizes.popular
    )
    run.report["long_tail"] = _long_tail(run, facts["long_tail"], likelihood)
    run.drops["subject_type"] = len(run.misfits)
    run.samples = cap_relations(run.samples, run.drops)
    # probes before variants: a variant shares its base's probes, and its prefix must reveal none
    run.report["locality"] = add_locality(run, cfg)
    run.report["robust"] = _robust(run, write_prefixes)
    run.samples = cap_relations(run.samples, run.drops)
    run.report["locality"]["leaks"] = _check_leaks(run, cfg)
    run.report["rule_drops"] = {name: run.drops.get(name, 0) for name in sorted({*RULES, *run.drops})}
    run.report["target_checks"] = target_checks(run.samples, index)
    run.report["tense"] = tense_report(run.samples, relations, index)
    return run.samples, run.report


def cap_relations(samples: list[dict[str, Any]], drops: Counter[str]) -> list[dict[str, Any]]:
    """Drop the last-taken rows of any relation above ``MAX_RELATION_SHARE`` of its config (a config
    that came out smaller than wanted can still be skewed after the take-time cap). A config with
    fewer relations than 1 / share cannot meet the share: there no relation exceeds an even share."""
    kept = list(samples)
    for prop in dict.fromkeys(s["property"] for s in samples):
        while True:
            rows = [i for i, s in enumerate(kept) if s["property"] == prop]
            held = Counter(kept[i]["relation_id"] for i in rows)
            allowed = (
                math.floor(MAX_RELATION_SHARE * len(rows))
                if len(held) * MAX_RELATION_SHARE >= 1
                else math.ceil(len(rows) / len(held))
            )
            relation, most = held.most_common(1)[0]
            if most <= allowed:
                break
            del kept[max(i for i in rows if kept[i]["relation_id"] == relation)]
            drops["relation_share_cap"] += 1
    return kept


def split_of(cfg: BuildConfig) -> Callable[[dict[str, Any]], str]:
    """The split a case will land in (the publisher's stable hash of its fact)."""
    ratios = dict(zip(SPLITS, cfg.split_ratios, strict=True))
    return lambda sample: assign_split(sample["subject_id"], sample["relation_id"], ratios)


def add_locality(run: Assembly, cfg: BuildConfig) -> dict[str, Any]:
    """Probes for every case, from facts that are no case of the build; leaks are counted and
    must be zero."""
    edits = split_edits(run.samples, run.split_of, run.relations, run.objects)
    pool = LocalityPool(run.index, run.relations, edits, run.fits, cfg.seed, cfg.snapshot.isoformat())
    for sample in run.samples:
        sample["locality"] = pool.probes(sample)
    leaked = _check_leaks(run, cfg)
    counts = [len(s["locality"]) for s in run.samples]
    return {
        "leaks": leaked,
        "skipped_edited": pool.skipped_edited,
        "probes_median": statistics.median(counts) if counts else 0,
        "cases_with_min_probes": sum(1 for c in counts if c >= MIN_PROBES),
        "cases_below_min_probes": sum(1 for c in counts if c < MIN_PROBES),
        "kinds": {k: sum(1 for s in run.samples for p in s["locality"] if p["kind"] == k) for k in KINDS},
    }


def _check_leaks(run: Assembly, cfg: BuildConfig) -> int:
    """No probe may repeat an edit prompt of another split: fail the build, never publish a leak."""
    leaked = leaks(run.samples, split_of(cfg))
    if leaked:
        raise DafsetError(f"assemble: {leaked} locality probe(s) repeat an edit prompt of another split")
    return leaked


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
        salt = f"{criterion}/{run.cfg.seed}"
        ref, chosen, bucket = lt.cuts(
            facts, criterion, values, mass[criterion], run.cfg.long_tail_quantile, salt
        )
        pools[criterion] = [
            {
                **f,
                "tail_bucket": bucket.get(f["subject_id"]),
                "likelihood": per_subject.get("likelihood", {}).get(f["subject_id"]),
            }
            for f in facts
            if f["subject_id"] in chosen and f.get(lt.RARE_KEY, True)
        ]
        rare = {f["subject_id"] for f in facts if f.get(lt.RARE_KEY, True)}
        report["criteria"][criterion] = {
            "reference": ref,
            "eligible_entities": len(chosen),
            "eligible_not_known_rare": len(chosen - rare),  # never chosen (popularity guard)
        }
    # Criteria take turns so each is present even when their eligible sets overlap.
    share = run.cfg.sizes.long_tail // max(1, len(pools))
    for criterion, pool in pools.items():
        report["criteria"][criterion]["samples"] = run.take(
            pool, "long_tail", criterion, share, run.cfg.sizes.long_tail
        )
    return report


def _robust(run: Assembly, write_prefixes: PrefixWriter | None) -> dict[str, Any]:
    """Variants of published popular/long_tail cases. Each criterion draws its bases in its own
    seeded order, so a base may have a variant of each kind (one of each at most); no relation
    takes more than its share of the robust config."""
    criteria = ["length"] + (["context", "sentiment"] if write_prefixes else [])
    share = run.cfg.sizes.robust // len(criteria)
    pool = [s for s in run.samples if s["property"] in BASE_PROPERTIES]
    report: dict[str, Any] = {"criteria": {}, "bases": len(pool)}
    cap = relation_cap(run.cfg.sizes.robust)
    planned: Counter[str] = Counter()  # robust cases per relation, made or accepted
    for criterion in criteria:
        bases = sorted(
            pool,
            key=lambda s: stable_hash("robust", criterion, s["subject_id"], s["relation_id"], run.cfg.seed),
        )
        # LLM-written prefixes fail their filters for some cases: ask for more, keep ``share``
        wanted = share if criterion == "length" else round(share * LLM_OVERFETCH)
        made: list[dict[str, Any]] = []
        for base in bases:
            if len(made) >= wanted:
                break
            if planned[base["relation_id"]] >= cap:
                continue
            sample = variant(base, criterion)
            if criterion == "length":
                lengthened = length_variant(sample, run.relations, run.index)
                if lengthened is None:
                    run.drops["length_no_other_facts"] += 1
                    continue
                sample = polish(lengthened, run.relations[sample["relation_id"]])
            made.append(sample)
            planned[base["relation_id"]] += 1
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
