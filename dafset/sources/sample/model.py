"""The in-memory shape of the sample while it is converted: entities and their statements.

One ``Entity`` per Q-id and one ``Statement`` per Wikidata statement, with enough provenance to
write the RDF, the derived side tables and the notice. Nothing here touches files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Value kinds as written into the RDF (relations.yaml's value_type, plus "string" for qualifiers).
ITEM, TIME, QUANTITY, STRING = "item", "time", "quantity", "string"


@dataclass
class Qualifier:
    property: str  # P-id
    value: str  # Q-id for items, WDQS lexical form otherwise
    kind: str  # item | time | quantity | string
    derived: bool = False


@dataclass
class Statement:
    """One statement. ``id`` is the WDQS local name (the GUID with its first ``$`` turned into
    ``-``), so ``wds:<id>`` is the statement node."""

    id: str
    subject: str
    property: str
    value: str  # Q-id for items; WDQS lexical form for time / quantity
    kind: str
    rank: str = "normal"  # preferred | normal | deprecated
    best: bool = True  # truthy: best rank of its (subject, property) group, never deprecated
    qualifiers: list[Qualifier] = field(default_factory=list)
    source: str = ""  # "entity_json" | "bear" | "popqa"
    derived_id: bool = False  # True where the id is made up (BEAR / PopQA facts carry none)


@dataclass
class Entity:
    """An item and what the sample knows about it. ``derived`` names the fields made up by the
    converter (for example ``sitelinks`` counted from what the sample holds)."""

    qid: str
    label: str | None = None
    description: str | None = None
    aliases: list[str] = field(default_factory=list)
    title: str | None = None  # English Wikipedia article title (real, from a source)
    sitelinks: int | None = None
    statements: int | None = None
    identifiers: int | None = None
    modified: str | None = None  # xsd:dateTime lexical, e.g. 2018-07-27T08:03:25Z
    version: int | None = None  # last revision id
    sources: set[str] = field(default_factory=set)
    derived: set[str] = field(default_factory=set)
    complete: bool = False  # a full entity JSON (not trimmed): its claims are authoritative
