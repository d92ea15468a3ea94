"""The two typed tables that carry everything: Fact (one truthy statement plus evidence) and Sample
(one edit case). Their Arrow schemas are declared once, here, and checked at every boundary.

Optional parts are empty lists or nulls of the declared type, never missing columns: every
property (recent, popular, long_tail, robust) shares one Sample schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from dafset.errors import SchemaError

PROPERTIES = ("recent", "popular", "long_tail", "robust")
CRITERIA = {
    "recent": ("added",),
    "popular": ("pageviews",),
    "long_tail": ("frequency", "degree", "likelihood"),
    "robust": ("length", "context", "sentiment"),
}
EDIT_KINDS = ("insertion", "counterfactual")
# same_relation_similar: same relation, a subject sharing the true object or an object of the same
# class (hard neighbours); same_relation: same relation, any other subject; same_subject: the
# subject's other relations; unrelated: another subject and relation
LOCALITY_KINDS = ("same_relation_similar", "same_relation", "same_subject", "unrelated")
PREFIX_KINDS = ("length", "context", "sentiment")
POLARITIES = ("neutral", "positive", "negative")
VALUE_TYPES = ("item", "time", "quantity", "string")
TAIL_BUCKETS = ("head", "torso", "tail")

_STR = pa.string()
_STR_LIST = pa.list_(pa.string())
_TS = pa.timestamp("us", tz="UTC")

# Evidence: why a fact was selected. Fact rows carry these as columns; samples as one struct.
EVIDENCE_FIELDS = (
    pa.field("pageviews", pa.int64()),
    pa.field("sitelinks", pa.int64()),
    pa.field("frequency", pa.int64()),
    pa.field("in_degree", pa.int64()),
    pa.field("out_degree", pa.int64()),
    pa.field("likelihood", pa.float64()),
    pa.field("hop", pa.int32()),
    pa.field("root_id", _STR),  # popular: the most-viewed entity this fact was reached from
    pa.field("tail_bucket", _STR),
    pa.field("added_at", _TS),
    pa.field("revision_id", pa.int64()),
    pa.field("physically_new", pa.bool_()),
    # which evidence values are derived rather than real (e.g. "added_at", "pageviews")
    pa.field("derived", _STR_LIST),
)
EVIDENCE_NAMES = tuple(f.name for f in EVIDENCE_FIELDS)

# -- Fact ---------------------------------------------------------------------------------------

# What the build knows of the subject and the object (``dafset.build.traits``): instance-of classes
# (P31) and the dates bounding its existence (birth or inception; death or dissolution), as
# xsd:dateTime lexical values. Snapshots published before these columns read them as empty.
TRAIT_FIELDS = tuple(
    pa.field(f"{side}_{name}", kind)
    for side in ("subject", "object")
    for name, kind in (("classes", _STR_LIST), ("began", _STR), ("ended", _STR))
)

FACT_SCHEMA = pa.schema(
    [
        pa.field("subject_id", _STR, nullable=False),
        pa.field("relation_id", _STR, nullable=False),
        pa.field("object_id", _STR),  # Q-id, or null for a literal
        pa.field("object_value", _STR, nullable=False),  # typed literal as text (label for items)
        pa.field("value_type", _STR, nullable=False),  # item | time | quantity | string
        pa.field("subject_label", _STR),
        pa.field("subject_aliases", _STR_LIST),
        pa.field("object_label", _STR),
        pa.field("object_aliases", _STR_LIST),
        pa.field("statement_id", _STR),
        pa.field("rank", _STR),
        *EVIDENCE_FIELDS,
        *TRAIT_FIELDS,
    ]
)

# -- Sample -------------------------------------------------------------------------------------

LOCALITY_TYPE = pa.struct([pa.field("prompt", _STR), pa.field("answers", _STR_LIST), pa.field("kind", _STR)])
# ``score``: the sentiment prefix's VADER compound score in [-1, 1] (null for length/context) of
# ``text[generated_from:]``, the words the model wrote after the fixed opening its request gave it
# (null ``generated_from``: the whole text is fixed, a length prefix). It lives on the prefix, not
# the row, because a sentiment case carries two prefixes (one per polarity), each with its own score.
PREFIX_TYPE = pa.struct(
    [
        pa.field("text", _STR),
        pa.field("kind", _STR),
        pa.field("polarity", _STR),
        pa.field("score", pa.float64()),
        pa.field("generated_from", pa.int32()),
    ]
)
# A ripple-effect probe of the edit (RippleEdits): the answers hold *after* the edit.
PORTABILITY_TYPE = pa.struct(
    [pa.field("prompt", _STR), pa.field("answers", _STR_LIST), pa.field("kind", _STR)]
)
PORTABILITY_KINDS = ("subject_aliasing", "compositional", "logical", "preservation")
EVIDENCE_TYPE = pa.struct(list(EVIDENCE_FIELDS))

SAMPLE_SCHEMA = pa.schema(
    [
        pa.field("id", _STR, nullable=False),  # stable hash of (property, criterion, subject, relation)
        pa.field("property", _STR, nullable=False),
        pa.field("criterion", _STR, nullable=False),
        pa.field("subject", _STR, nullable=False),
        pa.field("subject_id", _STR, nullable=False),
        pa.field("relation_id", _STR, nullable=False),
        pa.field("relation_label", _STR, nullable=False),
        pa.field("prompt", _STR, nullable=False),
        pa.field("target_new", _STR, nullable=False),
        pa.field("target_true", _STR),  # null for an insertion with no previous value
        pa.field("answers", _STR_LIST),  # every true object label and alias (multi-valued kept)
        pa.field("edit_kind", _STR, nullable=False),
        pa.field("rephrase_prompts", _STR_LIST),
        pa.field("locality", pa.list_(LOCALITY_TYPE)),  # facts the edit must not change, with answer lists
        pa.field("prefix", pa.list_(PREFIX_TYPE)),
        pa.field("evidence", EVIDENCE_TYPE),
        pa.field("snapshot", _STR, nullable=False),  # ISO date of the Wikidata state
        pa.field("question", _STR),  # the fact asked as a question (relations.yaml), as zsRE has
        pa.field("portability", pa.list_(PORTABILITY_TYPE)),
        # robust variants: the id of the published base case (same edit, no variant); null otherwise.
        # The variant's kind is ``criterion`` and each prefix's kind and polarity.
        pa.field("base_id", _STR),
    ]
)

SCHEMAS = {"fact": FACT_SCHEMA, "sample": SAMPLE_SCHEMA}


def empty(schema: pa.Schema) -> pa.Table:
    """An empty table of the schema (a property that found nothing still has every column)."""
    return schema.empty_table()


def _default(field: pa.Field) -> Any:
    if pa.types.is_list(field.type):
        return []
    return None


def rows_to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Build a table from dict rows, filling absent optional columns with empty lists or nulls.

    Unknown keys are an error (a typo must not silently vanish).
    """
    rows = list(rows)
    names = set(schema.names)
    for i, row in enumerate(rows):
        extra = set(row) - names
        if extra:
            raise SchemaError(f"row {i}: unknown column(s) {sorted(extra)} for schema {schema.names[:3]}...")
    columns = {f.name: [row.get(f.name, _default(f)) for row in rows] for f in schema}
    try:
        table = pa.table(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"rows do not fit the schema: {exc}") from exc
    validate(table, schema, where="rows_to_table")
    return table


def validate(table: pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    """Check a table against its schema at a boundary; return it cast to the exact schema.

    Raises SchemaError naming the boundary and the column at fault.
    """
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise SchemaError(f"{where}: missing column(s) {missing}")
    extra = [n for n in table.column_names if n not in schema.names]
    if extra:
        raise SchemaError(f"{where}: unexpected column(s) {extra}")
    table = table.select(schema.names)
    for f in schema:
        col = table.column(f.name)
        if not col.type.equals(f.type):
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaError(
                    f"{where}: column '{f.name}' has type {col.type}, expected {f.type}"
                ) from exc
        if not f.nullable and col.null_count:
            raise SchemaError(f"{where}: column '{f.name}' has {col.null_count} null(s)")
    table = table.cast(schema)
    _check_enums(table, where)
    return table


def check_file_schema(found: pa.Schema, schema: pa.Schema, where: str) -> None:
    """A published file carries exactly its declared schema (we write it so): a column missing,
    added or of another type means the file was not written by us, or was edited."""
    names = set(found.names)
    missing = [n for n in schema.names if n not in names]
    extra = [n for n in found.names if n not in schema.names]
    if missing or extra:
        raise SchemaError(f"{where}: missing column(s) {missing}, unexpected column(s) {extra}")
    for f in schema:
        got = found.field(f.name).type
        if not got.equals(f.type):
            raise SchemaError(f"{where}: column '{f.name}' has type {got}, expected {f.type}")


_ENUMS = {
    "property": PROPERTIES,
    "edit_kind": EDIT_KINDS,
    "value_type": VALUE_TYPES,
    "tail_bucket": TAIL_BUCKETS,
}


def _check_enums(table: pa.Table, where: str) -> None:
    for name, allowed in _ENUMS.items():
        if name not in table.column_names:
            continue
        seen = {v for v in table.column(name).to_pylist() if v is not None}
        bad = seen - set(allowed)
        if bad:
            raise SchemaError(f"{where}: column '{name}' has value(s) {sorted(bad)}; allowed {allowed}")
