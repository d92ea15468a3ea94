"""Enrich fact rows with English labels, aliases and sitelinks; render literal values as text.

Everything stays keyed by id: labels are looked up for ids, never resolved back to ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from dafset.build.traits import attach_traits, fetch_traits
from dafset.build.wording import MONTHS, alias_problem, clean_name, shared_names
from dafset.ids import chunks, is_item
from dafset.properties.facts import SPARQL_BATCH, distinct, fetch_history, parse_time
from dafset.source import Source


@dataclass
class Names:
    label: str | None = None
    aliases: list[str] = field(default_factory=list)


def fetch_names(source: Source, items: Sequence[str], junk: Counter[str] | None = None) -> dict[str, Names]:
    """English label and good aliases per item, their spacing cleaned; junk, code and blocked
    aliases (``wording.alias_problem``) are left out and counted by reason in ``junk`` when given."""
    names: dict[str, Names] = {}
    for batch in chunks([q for q in distinct(items) if is_item(q)], SPARQL_BATCH):
        for r in source.select("labels", items=batch):
            entry = names.setdefault(r["item"], Names())
            if r.get("label"):
                entry.label = clean_name(r["label"]) or None
            alias = clean_name(r.get("alias") or "")
            if alias and alias not in entry.aliases:
                entry.aliases.append(alias)
    for entry in names.values():
        problems = {a: alias_problem(a, entry.label) for a in entry.aliases if a != entry.label}
        entry.aliases = sorted(a for a, problem in problems.items() if problem is None)
        if junk is not None:
            junk.update(problem for problem in problems.values() if problem)
    return names


def fetch_sitelinks(source: Source, items: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for batch in chunks([q for q in distinct(items) if is_item(q)], SPARQL_BATCH):
        for r in source.select("entity_meta", items=batch):
            if r.get("sitelinks"):
                out[r["item"]] = int(float(r["sitelinks"]))
    return out


def format_time(value: str) -> str | None:
    """``1952-03-11T00:00:00Z`` -> ``11 March 1952``; a 1 January date is read as year precision
    (the truthy literal carries no precision, and year-only values are stored as Jan 1)."""
    moment = parse_time(value)
    if moment is None:
        return None
    if moment.month == 1 and moment.day == 1:
        return str(moment.year)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def format_quantity(value: str) -> str | None:
    try:
        amount = Decimal(value.lstrip("+"))
    except InvalidOperation:
        return None
    if amount == amount.to_integral_value():
        return str(int(amount))
    return format(amount.normalize(), "f")


def format_literal(value: str, value_type: str) -> str | None:
    if value_type == "time":
        return format_time(value)
    if value_type == "quantity":
        return format_quantity(value)
    return value.strip() or None


def enrich(
    source: Source, facts: Iterable[dict[str, Any]], value_types: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Attach names, sitelinks and each (subject, relation)'s statement history (all ranks, with
    start and end times); drop facts whose subject or object has no English name."""
    facts = list(facts)
    history = fetch_history(
        source, [f["subject_id"] for f in facts], sorted({f["relation_id"] for f in facts})
    )
    past = [h["value"] for rows in history.values() for h in rows if is_item(h["value"])]
    items = [f["subject_id"] for f in facts] + [f["object_id"] for f in facts if f.get("object_id")]
    junk: Counter[str] = Counter()
    names = fetch_names(source, items + past, junk)
    sitelinks = fetch_sitelinks(source, [f["subject_id"] for f in facts])
    kept: list[dict[str, Any]] = []
    dropped = {"no_subject_label": 0, "no_object_label": 0, "value_type_mismatch": 0}
    for fact in facts:
        value_type = value_types[fact["relation_id"]]
        subject = names.get(fact["subject_id"], Names())
        if not subject.label:
            dropped["no_subject_label"] += 1
            continue
        if value_type == "item":
            if not fact.get("object_id"):
                dropped["value_type_mismatch"] += 1
                continue
            obj = names.get(fact["object_id"], Names())
            label, aliases = obj.label, obj.aliases
        else:
            if fact.get("object_id"):
                dropped["value_type_mismatch"] += 1
                continue
            label, aliases = format_literal(fact["object_value"], value_type), []
        if not label:
            dropped["no_object_label"] += 1
            continue
        statements = history.get((fact["subject_id"], fact["relation_id"]), [])
        own = next((h for h in statements if h["statement_id"] == fact["statement_id"]), {})
        kept.append(
            {
                **fact,
                "start_time": own.get("start"),
                "end_time": own.get("end"),
                "history": [_named(h, names, value_type) for h in statements],
                "value_type": value_type,
                "object_value": label if value_type == "item" else fact["object_value"],
                "subject_label": subject.label,
                "subject_aliases": subject.aliases,
                "object_label": label,
                "object_aliases": aliases,
                "sitelinks": sitelinks.get(fact["subject_id"]),
            }
        )
    for reason in ("junk_aliases", "code_aliases", "blocked_aliases"):
        dropped[reason] = junk[reason]
    return kept, dropped


def finish(source: Source, groups: dict[str, list[dict[str, Any]]], drops: dict[str, dict[str, int]]) -> None:
    """What needs every group at once (in place): aliases that name another entity the build knows
    are dropped (counted per group as ``ambiguous_aliases``), and each fact gets its subject's and
    object's traits (classes and life dates, ``dafset.build.traits``)."""
    facts = [f for rows in groups.values() for f in rows]
    shared = shared_names(
        (f[f"{side}_id"], name)
        for f in facts
        for side in ("subject", "object")
        if f.get(f"{side}_id")
        for name in [f[f"{side}_label"], *f[f"{side}_aliases"]]
    )
    for group, rows in groups.items():
        dropped: set[tuple[str, str]] = set()
        for fact in rows:
            for side in ("subject", "object"):
                aliases = fact[f"{side}_aliases"]
                kept = [a for a in aliases if a.casefold() not in shared]
                dropped.update((fact[f"{side}_id"] or "", a) for a in aliases if a not in kept)
                fact[f"{side}_aliases"] = kept
        drops.setdefault(group, {})["ambiguous_aliases"] = len(dropped)
    entities = [f["subject_id"] for f in facts] + [f["object_id"] for f in facts if f.get("object_id")]
    attach_traits(facts, fetch_traits(source, entities))


def _named(statement: dict[str, Any], names: dict[str, Names], value_type: str) -> dict[str, Any]:
    """A history statement with its value's label (None for an unlabelled item)."""
    value = statement["value"]
    label = names.get(value, Names()).label if is_item(value) else format_literal(value, value_type)
    return {**statement, "label": label}
