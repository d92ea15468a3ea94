"""A typed decoder for one line of the Wikidata JSON dump, declaring only what the tables need.

msgspec skips every JSON field a Struct does not declare without building Python objects for it:
of an entity's labels, descriptions and aliases only ``en`` is declared, so the ~300 other
languages of a famous item are scanned, never materialised; of qualifiers only P580/P582/P585/P577; of
references only their number. That is where the speed comes from (bench/dump_ingest.py).

Wikibase writes an empty map as ``[]`` in some places (PHP arrays), so every map also accepts a list.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Struct(msgspec.Struct, frozen=True, gc=False):
    """Frozen (usable as defaults) and untracked by the GC (no cycles; less GC work per entity)."""


class Term(_Struct):
    value: str


class EnTerm(_Struct):
    en: Term | None = None


class EnAliases(_Struct):
    en: list[Term] = []


class Sitelink(_Struct):
    title: str = ""


class Value(_Struct, rename={"numeric_id": "numeric-id", "entity_type": "entity-type"}):
    """The object form of a datavalue: entity id, time, quantity, monolingual text (coordinates:
    nothing declared, so nothing kept)."""

    id: str | None = None
    numeric_id: int | None = None  # dumps before 2016 have only numeric-id + entity-type
    entity_type: str | None = None
    time: str | None = None
    precision: int | float | None = None  # float for globe coordinates
    amount: str | None = None
    unit: str | None = None
    text: str | None = None


class DataValue(_Struct):
    value: str | Value | None = None
    type: str = ""


class Snak(_Struct):
    snaktype: str
    property: str
    datatype: str | None = None
    datavalue: DataValue | None = None


class Qualifiers(_Struct):
    P580: list[Snak] = []  # start time
    P582: list[Snak] = []  # end time
    P585: list[Snak] = []  # point in time
    P577: list[Snak] = []  # publication date


class Counted(_Struct):
    """A reference: only counted, its content skipped."""


class Statement(_Struct):
    mainsnak: Snak
    id: str = ""
    rank: str = "normal"
    qualifiers: Qualifiers | list[Any] | None = None
    references: list[Counted] = []


class Entity(_Struct):
    id: str
    type: str = ""
    labels: EnTerm | list[Any] = EnTerm()
    descriptions: EnTerm | list[Any] = EnTerm()
    aliases: EnAliases | list[Any] = EnAliases()
    claims: dict[str, list[Statement]] | list[Any] = {}
    sitelinks: dict[str, Sitelink] | list[Any] = {}


DECODER = msgspec.json.Decoder(Entity)
DecodeError = msgspec.DecodeError  # also raised for a valid JSON line of the wrong shape


def decode(line: bytes | memoryview) -> Entity:
    """One entity from one dump line (without its trailing comma)."""
    return DECODER.decode(line)
