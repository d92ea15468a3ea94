"""Decoded entities -> column buffers -> Arrow record batches of the tables in ``tables.py``.

Rows are appended to plain Python lists, one per column, and turned into a record batch when the
statements buffer reaches ``batch_rows``: a worker holds at most one batch per table whatever
the dump size. Values keep Wikidata's lexical forms (see ``tables.py``).
"""

from __future__ import annotations

import pyarrow as pa

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
        if dv is not None and isinstance(dv.value, Value) and dv.value.time:
            return dv.value.time
    return None


class TableBuffers:
    """Column lists for the three tables; ``add`` one entity, ``take`` the batches when full."""

    def __init__(self, batch_rows: int = BATCH_ROWS) -> None:
        self.batch_rows = batch_rows
        self.columns = {name: {f.name: [] for f in schema} for name, schema in SCHEMAS.items()}
        self.statement_rows = 0

    def add(self, entity: Entity) -> None:
        self._add_terms(entity)
        self._add_sitelinks(entity)
        if isinstance(entity.claims, dict):
            for group in entity.claims.values():
                for statement in group:
                    self._add_statement(entity.id, statement)

    def full(self) -> bool:
        return self.statement_rows >= self.batch_rows or len(self.columns["terms"]["id"]) >= self.batch_rows

    def take(self) -> dict[str, pa.RecordBatch]:
        """The buffered rows as one record batch per table (the buffers are emptied)."""
        batches = {
            name: pa.RecordBatch.from_pydict(cols, schema=SCHEMAS[name])
            for name, cols in self.columns.items()
        }
        self.columns = {name: {f.name: [] for f in schema} for name, schema in SCHEMAS.items()}
        self.statement_rows = 0
        return batches

    def _add_terms(self, entity: Entity) -> None:
        cols = self.columns["terms"]
        labels, descriptions, aliases = entity.labels, entity.descriptions, entity.aliases
        label = labels.en if isinstance(labels, EnTerm) else None
        description = descriptions.en if isinstance(descriptions, EnTerm) else None
        cols["id"].append(entity.id)
        cols["label"].append(label.value if label is not None else None)
        cols["aliases"].append([a.value for a in aliases.en] if isinstance(aliases, EnAliases) else [])
        cols["description"].append(description.value if description is not None else None)

    def _add_sitelinks(self, entity: Entity) -> None:
        cols = self.columns["sitelinks"]
        sitelinks = entity.sitelinks if isinstance(entity.sitelinks, dict) else {}
        enwiki = sitelinks.get("enwiki")
        cols["id"].append(entity.id)
        cols["sitelinks"].append(len(sitelinks))
        cols["enwiki_title"].append(enwiki.title if enwiki is not None else None)

    def _add_statement(self, subject: str, statement: Statement) -> None:
        cols = self.columns["statements"]
        snak: Snak = statement.mainsnak
        kind = value_type(snak)
        dv = snak.datavalue
        raw = dv.value if dv is not None and kind not in ("somevalue", "novalue") else None
        value = raw if isinstance(raw, Value) else None
        cols["subject_id"].append(subject)
        cols["property"].append(snak.property)
        cols["statement_id"].append(statement.id)
        cols["rank"].append(statement.rank)
        cols["value_type"].append(kind)
        cols["object_id"].append(entity_id(value) if kind == "item" and value is not None else None)
        cols["value"].append(_literal(raw))
        cols["time"].append(value.time if value is not None else None)
        cols["precision"].append(
            value.precision if value is not None and value.time and isinstance(value.precision, int) else None
        )
        cols["quantity_amount"].append(value.amount if value is not None else None)
        cols["quantity_unit"].append(unit_id(value.unit) if value is not None and value.amount else None)
        qualifiers = statement.qualifiers
        if isinstance(qualifiers, Qualifiers):
            cols["start_time"].append(_first_time(qualifiers.P580))
            cols["end_time"].append(_first_time(qualifiers.P582))
            cols["point_in_time"].append(_first_time(qualifiers.P585))
            cols["publication_date"].append(_first_time(qualifiers.P577))
        else:
            cols["start_time"].append(None)
            cols["end_time"].append(None)
            cols["point_in_time"].append(None)
            cols["publication_date"].append(None)
        cols["n_references"].append(len(statement.references))
        self.statement_rows += 1


def _literal(raw: str | Value | None) -> str | None:
    """The ``value`` column: a string datavalue as is, a monolingual text's text, else null."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Value) and raw.text is not None:
        return raw.text
    return None
