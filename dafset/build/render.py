"""Turn enriched facts into edit cases (Sample rows) through ``relations.yaml`` and ``templates/``.

One case per (subject, relation): multi-valued relations keep every true object and its aliases in
``answers``. Locality cases come in two kinds: the same relation with another subject, and the same
subject with another relation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dafset.build.rules import contains, tokens
from dafset.hashing import stable_hash, stable_order
from dafset.publish.split import sample_id
from dafset.relations import Relation, RelationSet
from dafset.schema import EVIDENCE_NAMES
from dafset.templating import render


@dataclass
class FactIndex:
    """Every harvested, enriched fact, indexed for answers, locality and counterfactual pools."""

    by_case: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    by_subject: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    by_relation: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def build(cls, facts: Iterable[dict[str, Any]]) -> FactIndex:
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
        return index

    def answers(self, subject_id: str, relation_id: str) -> list[str]:
        out: list[str] = []
        for fact in self.by_case.get((subject_id, relation_id), []):
            for name in [fact["object_label"], *fact.get("object_aliases", [])]:
                if name and name not in out:
                    out.append(name)
        return out

    def object_pool(self, relation_id: str) -> list[str]:
        return sorted({f["object_label"] for f in self.by_relation.get(relation_id, [])})


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
) -> dict[str, Any] | None:
    """One Sample row for the fact's (subject, relation), or None when no target can be found."""
    relation = relations[fact["relation_id"]]
    subject = fact["subject_label"]
    answers = index.answers(fact["subject_id"], fact["relation_id"]) or [fact["object_label"]]
    if edit_kind == "counterfactual":
        target_new = counterfactual_target(fact, answers, index, seed)
        if target_new is None:
            return None
    else:
        target_new = fact["object_label"]
    prompt = render("prompt.j2", relation=relation, subject=subject)
    rephrases = [
        render("rephrase.j2", relation=relation, subject=subject, index=i)
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
        "target_true": fact["object_label"],
        "answers": answers,
        "edit_kind": edit_kind,
        "rephrase_prompts": rephrases,
        "locality": locality_cases(fact, relation, relations, index, seed, target_new),
        "prefix": [],
        "evidence": {k: fact.get(k) for k in EVIDENCE_NAMES} | {"derived": list(fact.get("derived") or [])},
        "snapshot": snapshot,
    }


def counterfactual_target(
    fact: dict[str, Any], answers: list[str], index: FactIndex, seed: int
) -> str | None:
    """Another value of the same relation (hence the same type) sharing no token with any truth."""
    truth = tokens(" ".join(answers))
    pool = [o for o in index.object_pool(fact["relation_id"]) if not (tokens(o) & truth)]
    pool = [o for o in pool if not contains(fact["subject_label"], o)]
    if not pool:
        return None
    return stable_order(pool, "counterfactual", fact["subject_id"], fact["relation_id"], seed)[0]


def locality_cases(
    fact: dict[str, Any],
    relation: Relation,
    relations: RelationSet,
    index: FactIndex,
    seed: int,
    target_new: str,
) -> list[dict[str, Any]]:
    """Facts the edit must not change: same relation / other subject, same subject / other relation."""
    cases: list[dict[str, Any]] = []
    others = [
        f
        for f in index.by_relation.get(fact["relation_id"], [])
        if f["subject_id"] != fact["subject_id"] and f["object_label"] != target_new
    ]
    if others:
        other = _first(others, "same_relation", fact, seed)
        cases.append(_locality(relation, other, "same_relation"))
    siblings = [
        f
        for f in index.by_subject.get(fact["subject_id"], [])
        if f["relation_id"] != fact["relation_id"] and f["relation_id"] in relations
    ]
    if siblings:
        sibling = _first(siblings, "same_subject", fact, seed)
        cases.append(_locality(relations[sibling["relation_id"]], sibling, "same_subject"))
    return cases


def _first(facts: list[dict[str, Any]], salt: str, fact: dict[str, Any], seed: int) -> dict[str, Any]:
    keyed = {f"{f['subject_id']}|{f['relation_id']}|{f['object_label']}": f for f in facts}
    return keyed[stable_order(list(keyed), salt, fact["subject_id"], fact["relation_id"], seed)[0]]


def _locality(relation: Relation, fact: dict[str, Any], kind: str) -> dict[str, Any]:
    prompt = render("locality.j2", relation=relation, subject=fact["subject_label"])
    answers = list(dict.fromkeys([fact["object_label"], *(fact.get("object_aliases") or [])]))
    return {"prompt": prompt, "answers": answers, "kind": kind}
