"""What an entity is and when it lived: its instance-of classes (P31) and the dates that bound its
existence (birth or inception, death or dissolution), read for every subject and object of the
build's facts (``entity_traits.rq``).

They feed the kind and era checks of counterfactual targets (``dafset.build.render``) and the tense
of prompts about the dead and the dissolved (``dafset.build.tense``). Facts carry them as columns
(``subject_classes``, ``subject_began``, ``subject_ended`` and the same for the object), so
facts.parquet shows what the checks saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dafset.ids import chunks, is_item
from dafset.properties.facts import SPARQL_BATCH, distinct, parse_time
from dafset.source import Source

INSTANCE_OF = "P31"
BEGINS = ("P569", "P571")  # date of birth, inception
ENDS = ("P570", "P576")  # date of death, dissolution


@dataclass
class Traits:
    classes: set[str] = field(default_factory=set)
    began: str | None = None  # the earliest date of birth or inception (xsd:dateTime lexical)
    ended: str | None = None  # the earliest date of death or dissolution


def _earliest(current: str | None, value: str) -> str | None:
    moment = parse_time(value)
    if moment is None:
        return current
    if current is None or moment < (parse_time(current) or moment):
        return value
    return current


def fetch_traits(source: Source, items: Sequence[str]) -> dict[str, Traits]:
    """Classes and life dates per item that has any (items without either are left out)."""
    out: dict[str, Traits] = {}
    for batch in chunks([q for q in distinct(items) if is_item(q)], SPARQL_BATCH):
        for r in source.select("entity_traits", items=batch):
            traits = out.setdefault(r["item"], Traits())
            prop, value = r["property"], r["value"]
            if prop == INSTANCE_OF and is_item(value):
                traits.classes.add(value)
            elif prop in BEGINS:
                traits.began = _earliest(traits.began, value)
            elif prop in ENDS:
                traits.ended = _earliest(traits.ended, value)
    return out


def attach_traits(facts: Iterable[dict[str, Any]], traits: dict[str, Traits]) -> None:
    """Write each fact's subject and object traits into its columns (in place)."""
    for fact in facts:
        for side in ("subject", "object"):
            found = traits.get(fact.get(f"{side}_id") or "")
            fact[f"{side}_classes"] = sorted(found.classes) if found else []
            fact[f"{side}_began"] = found.began if found else None
            fact[f"{side}_ended"] = found.ended if found else None
