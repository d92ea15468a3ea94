"""Turn enriched facts into edit cases (Sample rows) through ``relations.yaml`` and ``templates/``.

One case per (subject, relation): multi-valued relations keep every true object and its aliases in
``answers``. Counterfactual targets come from the relation's own objects, of the truth's inferred
class and (where the source holds it) instance-of class, never a value the subject has or had, and
plausible in era where dates allow. Prompts take the past tense for the dead and the ended. Locality
probes are added later, once every case of the build is known (``dafset.build.locality``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dafset.build.rules import contains, tokens
from dafset.build.tense import ended_entities, fact_in_past
from dafset.build.wording import date_precision, fit_preposition, fix_date_prepositions, with_article
from dafset.hashing import stable_hash, stable_order
from dafset.properties.facts import parse_time
from dafset.publish.split import sample_id
from dafset.relations import Relation, RelationSet
from dafset.schema import EVIDENCE_NAMES
from dafset.templating import render

BIRTH, DEATH, INCEPTION = "P569", "P570", "P571"
# Object classes of relations.yaml that overlap rather than tell kinds apart: a country and a city
# are both geographic locations and administrative entities, and a capital is a city as a town is
# a place. Every other object class (country, continent, human, language, organisation, ...) is a
# kind that a counterfactual target must share with the truth.
OVERLAPPING_CLASSES = frozenset({"Q2221906", "Q56061", "Q515"})


@dataclass
class FactIndex:
    """Every harvested, enriched, still-true fact, indexed for answers, locality, counterfactual
    pools and the classes and life spans inferred from the graph."""

    by_case: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    by_subject: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    by_relation: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    by_object: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # classes an entity is inferred to be an instance of: the object classes (relations.yaml) of
    # the relations it is the object of (a fallback for sources without P31, such as the sample)
    classes: dict[str, frozenset[str]] = field(default_factory=dict)
    # (first year, last year) of an entity: birth or inception, and death or dissolution
    life: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    # instance-of classes (P31) the source holds (``dafset.build.traits``)
    types: dict[str, frozenset[str]] = field(default_factory=dict)
    # entities known to have died or been dissolved (a date of it, a place or cause of death)
    ended: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        facts: Iterable[dict[str, Any]],
        object_classes: Mapping[str, str | None] | None = None,
        evidence: Iterable[dict[str, Any]] | None = None,
    ) -> FactIndex:
        """Index ``facts``; classes and years come from ``evidence`` (default: the facts), which may
        hold facts that are no truth to assert (ended, reflexive) but still tell what a thing is."""
        index = cls()
        seen: set[str] = set()
        for fact in facts:
            key = fact.get("statement_id") or stable_hash(
                fact["subject_id"], fact["relation_id"], fact["object_value"]
            )
            if key in seen:
                continue
            seen.add(key)
            index.by_case[(fact["subject_id"], fact["relation_id"])].append(fact)
            index.by_subject[fact["subject_id"]].append(fact)
            index.by_relation[fact["relation_id"]].append(fact)
            if fact.get("object_id"):
                index.by_object[fact["object_id"]].append(fact)
        index.type_entities(
            index.by_subject.values() if evidence is None else [list(evidence)], object_classes or {}
        )
        return index

    def type_entities(
        self, groups: Iterable[list[dict[str, Any]]], object_classes: Mapping[str, str | None]
    ) -> None:
        classes: dict[str, set[str]] = defaultdict(set)
        types: dict[str, set[str]] = defaultdict(set)
        years: dict[str, dict[str, int]] = defaultdict(dict)
        every = [f for group in groups for f in group]
        for fact in every:
            object_class = object_classes.get(fact["relation_id"])
            if fact.get("object_id") and object_class:
                classes[fact["object_id"]].add(object_class)
            if fact["relation_id"] in (BIRTH, DEATH, INCEPTION):
                moment = parse_time(fact["object_value"])
                if moment is not None:
                    years[fact["subject_id"]][fact["relation_id"]] = moment.year
            for side in ("subject", "object"):
                entity = fact.get(f"{side}_id")
                if entity:
                    types[entity].update(fact.get(f"{side}_classes") or ())
                    _trait_years(years[entity], fact, side)
        self.classes = {q: frozenset(c) for q, c in classes.items()}
        self.types = {q: frozenset(c) for q, c in types.items() if c}
        self.life = {
            q: (y.get(BIRTH, y.get(INCEPTION, y.get("began"))), y.get(DEATH, y.get("ended")))
            for q, y in years.items()
            if y
        }
        self.ended = ended_entities(every)

    def answers(self, subject_id: str, relation_id: str) -> list[str]:
        out: list[str] = []
        for fact in self.by_case.get((subject_id, relation_id), []):
            for name in [fact["object_label"], *fact.get("object_aliases", [])]:
                if name and name not in out:
                    out.append(name)
        return out

    def truth_types(self, fact: dict[str, Any]) -> frozenset[str]:
        """The instance-of classes of every true object of the fact's (subject, relation)."""
        objects = {f.get("object_id") for f in self.by_case.get((fact["subject_id"], fact["relation_id"]), [])}
        objects.add(fact.get("object_id"))
        return frozenset().union(*(self.types.get(q or "", frozenset()) for q in objects))

    def class_of(self, entity: str | None) -> frozenset[str]:
        return self.classes.get(entity or "", frozenset())

    def kind_of(self, entity: str | None) -> frozenset[str]:
        """The entity's classes that tell kinds apart (no country in a city slot)."""
        return self.class_of(entity) - OVERLAPPING_CLASSES


def _trait_years(years: dict[str, int], fact: dict[str, Any], side: str) -> None:
    for name in ("began", "ended"):
        moment = parse_time(fact.get(f"{side}_{name}"))
        if moment is not None:
            years.setdefault(name, moment.year)


def render_case(
    fact: dict[str, Any],
    *,
    prop: str,
    criterion: str,
    edit_kind: str,
    relations: RelationSet,
    index: FactIndex,
    snapshot: str,
    seed: int,
    avoid: frozenset[str] = frozenset(),
) -> dict[str, Any] | None:
    """One Sample row for the fact's (subject, relation), or None when no target can be found;
    a counterfactual target is none of ``avoid`` (labels that would swap with another edit)."""
    relation = relations[fact["relation_id"]].tense(fact_in_past(fact, index.ended, snapshot))
    subject = fact["subject_label"]
    answers = index.answers(fact["subject_id"], fact["relation_id"]) or [fact["object_label"]]
    if edit_kind == "counterfactual":
        target_new = counterfactual_target(fact, answers, index, seed, avoid)
        if target_new is None:
            return None
        target_true: str | None = fact["object_label"]
    else:
        target_new = fact["object_label"]
        target_true = previous_value(fact)
    prompt = phrase(relation.render_prompt(subject), subject, relation, target_new)
    rephrases = [
        phrase(
            render("rephrase.j2", relation=relation, subject=subject, index=i), subject, relation, target_new
        )
        for i in range(len(relation.paraphrases))
    ]
    return {
        "id": sample_id(prop, criterion, fact["subject_id"], fact["relation_id"]),
        "property": prop,
        "criterion": criterion,
        "subject": subject,
        "subject_id": fact["subject_id"],
        "relation_id": fact["relation_id"],
        "relation_label": relation.label,
        "prompt": prompt,
        "target_new": target_new,
        "target_true": target_true,
        "answers": answers,
        "edit_kind": edit_kind,
        "rephrase_prompts": rephrases,
        "locality": [],
        "prefix": [],
        "evidence": {k: fact.get(k) for k in EVIDENCE_NAMES} | {"derived": list(fact.get("derived") or [])},
        "snapshot": snapshot,
    }


def phrase(text: str, subject: str, relation: Relation, value: str) -> str:
    """A rendered cloze with the article the subject needs and, for a date, the preposition the
    value's precision needs."""
    text = fix_date_prepositions(with_article(text, subject))
    return fit_preposition(text, value) if relation.value_type == "time" else text


def polish(sample: dict[str, Any], relation: Relation) -> dict[str, Any]:
    """The wording rules on rephrases and prefixes made outside ``render_case`` (robust length)."""
    subject, target = sample["subject"], sample["target_new"]
    return {
        **sample,
        "rephrase_prompts": [phrase(r, subject, relation, target) for r in sample["rephrase_prompts"]],
        "prefix": [
            {**p, "text": fix_date_prepositions(with_article(p["text"], subject))} for p in sample["prefix"]
        ],
    }


def previous_value(fact: dict[str, Any]) -> str | None:
    """For an insertion: the value the new statement replaced (the latest other statement of the
    same subject and relation that has ended), else None."""
    ended = [
        h
        for h in fact.get("history") or []
        if h["statement_id"] != fact.get("statement_id") and h.get("end") and h.get("label")
    ]
    if not ended:
        return None
    latest = max(ended, key=lambda h: h["end"])
    return None if latest["label"] == fact["object_label"] else latest["label"]


def counterfactual_target(
    fact: dict[str, Any], answers: list[str], index: FactIndex, seed: int, avoid: frozenset[str] = frozenset()
) -> str | None:
    """Another object of the same relation, of the truth's class and instance-of type, sharing no
    token with any value the subject has or had for the relation, and alive in the subject's era
    where dates tell."""
    had = [h["label"] for h in fact.get("history") or [] if h.get("label")]
    had_ids = {h["value"] for h in fact.get("history") or []}
    truth = tokens(" ".join(answers + had))
    truth_class = index.kind_of(fact.get("object_id"))
    truth_types = index.truth_types(fact)
    candidates: dict[str, dict[str, Any]] = {}
    for other in index.by_relation.get(fact["relation_id"], []):
        label = other["object_label"]
        if label in candidates or other.get("object_id") in had_ids or other["object_value"] in had_ids:
            continue
        if label in avoid:
            continue
        if tokens(label) & truth or contains(fact["subject_label"], label):
            continue
        if not fits_class(other, fact, truth_class, index) or not fits_type(other, truth_types, index):
            continue
        if not fits_era(other, fact, index):
            continue
        candidates[label] = other
    if not candidates:
        return None
    return stable_order(list(candidates), "counterfactual", fact["subject_id"], fact["relation_id"], seed)[0]


def fits_type(candidate: dict[str, Any], truth_types: frozenset[str], index: FactIndex) -> bool:
    """Where the source holds the truth's instance-of classes (P31), the candidate shares one: no
    "Belgium is a member of -> Hamas" (a militant organisation for an intergovernmental one)."""
    if not truth_types or not candidate.get("object_id"):
        return True
    return bool(index.types.get(candidate["object_id"], frozenset()) & truth_types)


def era_checkable(candidate: dict[str, Any], fact: dict[str, Any], index: FactIndex) -> bool:
    """Whether dates of both the candidate and the subject (or the true statement) are known."""
    if candidate.get("object_id") not in index.life:
        return False
    return fact["subject_id"] in index.life or parse_time(fact.get("start_time")) is not None


def fits_class(
    candidate: dict[str, Any], fact: dict[str, Any], truth_class: frozenset[str], index: FactIndex
) -> bool:
    """The truth's kind (a country is no city slot's answer); a date of the same precision."""
    if fact.get("value_type") == "time":
        return date_precision(candidate["object_label"]) == date_precision(fact["object_label"])
    if not fact.get("object_id"):
        return True
    return index.kind_of(candidate.get("object_id")) == truth_class


def fits_era(candidate: dict[str, Any], fact: dict[str, Any], index: FactIndex) -> bool:
    """A dated candidate (a person's life, a work's or body's inception) must overlap the subject's
    era: not gone before the subject began or before the true statement started, not begun after
    the subject ended."""
    born, died = index.life.get(candidate.get("object_id") or "", (None, None))
    if born is None and died is None:
        return True
    start, end = index.life.get(fact["subject_id"], (None, None))
    started = parse_time(fact.get("start_time"))
    if started is not None:
        start = max(start or started.year, started.year)
    if died is not None and start is not None and died < start:
        return False
    return not (born is not None and end is not None and born > end)
