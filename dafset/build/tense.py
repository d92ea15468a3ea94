"""Which tense a rendered string takes: the past (a relation's ``past`` templates) for a subject
that has died or been dissolved, and for a statement that ended before the snapshot; the present
otherwise. One rule for every field (prompt, rephrases, question, locality and portability probes,
length prefixes), so that "Narses holds the position of" cannot come back through any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from dafset.properties.facts import parse_time

# facts only the dead have: date, place and cause of death
DEATH_EVIDENCE = frozenset({"P570", "P20", "P509"})


def ended_entities(facts: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Entities known to have died or been dissolved: a date of death or dissolution (the traits'
    ``*_ended``), or a fact of death about them (place, cause, date of death)."""
    out: set[str] = set()
    for fact in facts:
        if fact["relation_id"] in DEATH_EVIDENCE:
            out.add(fact["subject_id"])
        for side in ("subject", "object"):
            if fact.get(f"{side}_ended") and fact.get(f"{side}_id"):
                out.add(fact[f"{side}_id"])
    return frozenset(out)


def statement_ended(fact: Mapping[str, Any], snapshot: str | date) -> bool:
    """Whether the fact's statement has an end time (P582) on or before the snapshot day."""
    end = parse_time(fact.get("end_time"))
    day = snapshot if isinstance(snapshot, date) else date.fromisoformat(snapshot[:10])
    return end is not None and end.date() <= day


def fact_in_past(fact: Mapping[str, Any], ended: frozenset[str], snapshot: str | date) -> bool:
    """A fact is told in the past when its subject is gone or its statement ended."""
    return fact["subject_id"] in ended or statement_ended(fact, snapshot)


def case_in_past(
    sample: Mapping[str, Any],
    by_case: Mapping[tuple[str, str], list[dict[str, Any]]],
    ended: frozenset[str],
) -> bool:
    """The tense of an edit case: its subject's, or its statement's (the truth a counterfactual
    edit replaces, the statement an insertion adds)."""
    if sample["subject_id"] in ended:
        return True
    told = sample.get("target_true") if sample["edit_kind"] == "counterfactual" else sample["target_new"]
    facts = by_case.get((sample["subject_id"], sample["relation_id"]), [])
    fact = next((f for f in facts if f.get("object_label") == told), None)
    return fact is not None and bool(sample.get("snapshot")) and statement_ended(fact, sample["snapshot"])


def tense_report(samples: Iterable[dict[str, Any]], relations: Any, index: Any) -> dict[str, int]:
    """How many cases speak in the past, and how many of those still carry the present prompt of a
    relation that has past forms (``present_for_past``: zero on every build)."""
    past = wrong = 0
    for s in samples:
        if not case_in_past(s, index.by_case, index.ended):
            continue
        past += 1
        relation = relations[s["relation_id"]]
        present = relation.render_prompt(s["subject"])
        wrong += (
            relation.past is not None
            and present != relation.tense(True).render_prompt(s["subject"])
            and (s["prompt"] == present)
        )
    return {"entities_ended": len(index.ended), "cases_in_past": past, "present_for_past": wrong}
