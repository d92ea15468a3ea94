"""Decoded entities -> column buffers -> Arrow record batches of the tables in ``tables.py``.

Rows are appended to plain Python lists, one per column, and turned into a record batch when the
statements buffer reaches ``batch_rows``: a worker holds at most one batch per table whatever
the dump size. Values keep Wikidata's lexical forms (see ``tables.py``).
"""

from __future__ import annotations

import pyarrow as pa

from dafset.ids import is_item, is_property
from dafset.sources.dump.decode import EnAliases, EnTerm, Entity, Qualifiers, Snak, Statement, Value
from dafset.sources.dump.tables import SCHEMAS

BATCH_ROWS = 100_000  # statements per record batch (≈ 30 MB of Arrow data)

# mainsnak datatype -> value_type column; everything else with a value is "other"
_VALUE_TYPES = {
    "wikibase-item": "item",
    "time": "time",
    "quantity": "quantity",
    "string": "string",
    "monolingualtext": "monolingualtext",
    "external-id": "external-id",
}
# datavalue type -> value_type, for old dumps whose snaks carry no datatype
_DATAVALUE_TYPES = {
    "time": "time",
    "quantity": "quantity",
    "string": "string",
    "monolingualtext": "monolingualtext",
}
_ENTITY_PREFIX = {"item": "Q", "property": "P", "lexeme": "L", "form": "", "sense": ""}
_UNIT_PREFIX = "http://www.wikidata.org/entity/"
MAX_PRECISION = 14  # Wikidata's time precisions are 0 (billion years) .. 14 (second)


class BadEntity(ValueError):
    """A decoded entity the tables must not hold (a malformed id, an impossible precision): its
    line counts as malformed. Ids are checked here, where they enter, so that no later query
    meets one ``dafset.ids`` rejects."""


def entity_id(value: Value) -> str | None:
    """The id of an entity-valued datavalue (dumps before 2016 give only ``numeric-id``)."""
    if value.id:
        return value.id
    prefix = _ENTITY_PREFIX.get(value.entity_type or "")
    return f"{prefix}{value.numeric_id}" if prefix and value.numeric_id is not None else None


def unit_id(unit: str | None) -> str | None:
    """``http://www.wikidata.org/entity/Q11573`` -> ``Q11573``; ``"1"`` (no unit) -> None."""
    if not unit or unit == "1":
        return None
    return unit.removeprefix(_UNIT_PREFIX)


def value_type(snak: Snak) -> str:
    if snak.snaktype != "value":
        return snak.snaktype  # somevalue | novalue
    if snak.datatype is not None:
        return _VALUE_TYPES.get(snak.datatype, "other")
    dv = snak.datavalue
    if dv is not None and dv.type == "wikibase-entityid" and isinstance(dv.value, Value):
        return "item" if dv.value.entity_type == "item" or (dv.value.id or "").startswith("Q") else "other"
    return _DATAVALUE_TYPES.get(dv.type if dv is not None else "", "other")


def _first_time(snaks: list[Snak]) -> str | None:
    for snak in snaks:
        dv = snak.datavalue
        if dv is not None and dv.value.__class__ is Value and dv.value.time:
            return dv.value.time
    return None


def statement_row(subject: str, statement: Statement) -> tuple[object, ...]:
    """One ``statements`` row, in ``STATEMENTS_SCHEMA``'s column order (the hot loop: few calls)."""
    snak = statement.mainsnak
    kind = value_type(snak)
    dv = snak.datavalue
    raw = dv.value if dv is not None and snak.snaktype == "value" else None
    if raw.__class__ is Value:
        obj = (raw.id or entity_id(raw)) if kind == "item" else None
        literal, when, amount = raw.text, raw.time, raw.amount
        precision = raw.precision if when and raw.precision.__class__ is int else None
        if precision is not None and not 0 <= precision <= MAX_PRECISION:
            raise BadEntity(f"{subject} {snak.property}: time precision {precision} (expected 0-{MAX_PRECISION})")
        if obj is not None and not is_item(obj):
            raise BadEntity(f"{subject} {snak.property}: bad item value {obj!r}")
        unit = unit_id(raw.unit) if amount else None
    else:  # a string value, or none
        obj = when = precision = amount = unit = None
        literal = raw
    if not is_property(snak.property):
        raise BadEntity(f"{subject}: bad property id {snak.property!r}")
    q = statement.qualifiers
    if q.__class__ is Qualifiers:
        start = _first_time(q.P580) if q.P580 else None
        end = _first_time(q.P582) if q.P582 else None
        point = _first_time(q.P585) if q.P585 else None
        published = _first_time(q.P577) if q.P577 else None
    else:
        start = end = point = published = None
    return (
        subject,
        snak.property,
        statement.id,
        statement.rank,
        kind,
        obj,
        literal,
        when,
        precision,
        amount,
        unit,
        start,
        end,
        point,
        published,
        len(statement.references),
    )


def terms_row(entity: Entity) -> tuple[object, ...]:
    labels, descriptions, aliases = entity.labels, entity.descriptions, entity.aliases
    label = labels.en if labels.__class__ is EnTerm else None
    description = descriptions.en if descriptions.__class__ is EnTerm else None
    return (
        entity.id,
        label.value if label is not None else None,
        [a.value for a in aliases.en] if aliases.__class__ is EnAliases else [],
        description.value if description is not None else None,
    )


def sitelinks_row(entity: Entity) -> tuple[object, ...]:
    sitelinks = entity.sitelinks if entity.sitelinks.__class__ is dict else {}
    enwiki = sitelinks.get("enwiki")
    return (entity.id, len(sitelinks), enwiki.title if enwiki is not None else None)


class TableBuffers:
    """Rows of the three tables; ``add`` one entity, ``take`` the record batches when ``full``.

    Rows are tuples (one append per row, transposed to columns in C by ``zip``)."""

    def __init__(self, batch_rows: int = BATCH_ROWS) -> None:
        self.batch_rows = batch_rows
        self.rows: dict[str, list[tuple[object, ...]]] = {name: [] for name in SCHEMAS}

    def add(self, entity: Entity) -> None:
        """Buffer the entity's rows, all or none (``BadEntity`` leaves the buffers as they were)."""
        subject = entity.id
        if not (is_item(subject) or is_property(subject)):
            raise BadEntity(f"bad entity id {subject!r}: expected Q or P followed by digits")
        statements = []
        if entity.claims.__class__ is dict:
            for group in entity.claims.values():  # type: ignore[union-attr]
                statements.extend([statement_row(subject, st) for st in group])
        self.rows["statements"].extend(statements)
        self.rows["terms"].append(terms_row(entity))
        self.rows["sitelinks"].append(sitelinks_row(entity))

    def full(self) -> bool:
        return len(self.rows["statements"]) >= self.batch_rows or len(self.rows["terms"]) >= self.batch_rows

    def take(self) -> dict[str, pa.RecordBatch]:
        """The buffered rows as one record batch per table (the buffers are emptied)."""
        batches = {name: _batch(rows, SCHEMAS[name]) for name, rows in self.rows.items()}
        self.rows = {name: [] for name in SCHEMAS}
        return batches


def _batch(rows: list[tuple[object, ...]], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
