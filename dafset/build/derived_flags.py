"""Flag, on every fact, the entity figures its source made up (the bundled sample's sitelink
counts for entities it has no real count of), so that ``evidence.derived`` names each of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dafset.source import Source

# fact field -> the name the source's ``derived_fields`` gives it
ENTITY_FIELDS = {"sitelinks": "sitelinks"}


def flag_derived(source: Source, facts: Iterable[dict[str, Any]]) -> int:
    """Add each made-up figure of a fact's subject to the fact's ``derived`` list; return how
    many flags were added. Sources that make nothing up (live, a real dump) have no
    ``derived_fields`` and are left alone."""
    ask = getattr(source, "derived_fields", None)
    facts = list(facts)
    if ask is None or not facts:
        return 0
    made_up = ask(sorted({f["subject_id"] for f in facts}))
    added = 0
    for fact in facts:
        fields = made_up.get(fact["subject_id"], ())
        derived = list(fact.get("derived") or [])
        for key, name in ENTITY_FIELDS.items():
            if name in fields and fact.get(key) is not None and key not in derived:
                derived.append(key)
                added += 1
        fact["derived"] = derived
    return added
