"""The bundled sample written as a Wikidata JSON dump: ``write_sample_dump(out)``.

The entities and statements come from the converter's own model (``convert.assemble``: the same
merge and derivations that wrote ``dafset/sources/sample/data``), and the result is checked against
the bundled sample's checksum before a line is written, so the dump and the sample cannot drift.
Lines have the real dump's shape (``[``, one entity per line ending in ``,``, ``]``): English
labels / descriptions / aliases, claims with main-snak datavalues, ranks, qualifiers, statement ids
(``Q42$GUID``), sitelinks, ``lastrevid`` / ``modified``, and the property entities.

What the sample does not keep is written as follows (and nowhere else made up):
- time precision: the sample keeps WDQS' ``xsd:dateTime``; 1 January is written as year
  precision (9), any other day as day precision (11), Gregorian calendar (values are Gregorian);
- sitelinks: the sample keeps the count and the English title; the other sitelinks are
  placeholders ``sample<k>wiki`` so that the dump's count is the sample's count;
- references: none (the sample keeps none).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from dafset.errors import ConfigError
from dafset.settings import get_settings
from dafset.sources.sample.convert import (
    MANIFEST_FILE,
    QUALIFIER_PROPERTIES,
    RDF_FILE,
    SampleData,
    assemble,
)
from dafset.sources.sample.model import ITEM, QUANTITY, TIME, Entity, Qualifier, Statement
from dafset.sources.sample.rdf import ntriples

GREGORIAN = "http://www.wikidata.org/entity/Q1985727"
ENTITY = "http://www.wikidata.org/entity/"
DATATYPES = {ITEM: "wikibase-item", TIME: "time", QUANTITY: "quantity"}  # else "string"
PRECISION_YEAR, PRECISION_DAY = 9, 11
_XSD_TIME = re.compile(r"^(-?)(\d{4,})-(\d\d)-(\d\d)(T\d\d:\d\d:\d\dZ)$")


def json_time(xsd: str) -> dict[str, Any]:
    """WDQS ``xsd:dateTime`` -> a Wikibase time value (the inverse of ``values.wdqs_time`` for
    Gregorian values): XSD year 0 is 1 BCE, written ``-0001`` in JSON."""
    match = _XSD_TIME.match(xsd)
    if not match:
        raise ConfigError(f"sample statement value {xsd!r}: not an xsd:dateTime")
    sign, year_s, month, day, clock = match.groups()
    year = -int(year_s) if sign else int(year_s)
    if year <= 0:
        year -= 1
    precision = PRECISION_YEAR if (month, day) == ("01", "01") else PRECISION_DAY
    return {
        "time": f"{'-' if year < 0 else '+'}{abs(year):04d}-{month}-{day}{clock}",
        "timezone": 0,
        "before": 0,
        "after": 0,
        "precision": precision,
        "calendarmodel": GREGORIAN,
    }


def _datavalue(value: str, kind: str) -> dict[str, Any]:
    if kind == ITEM:
        numeric = int(value[1:])
        return {
            "value": {"entity-type": "item", "numeric-id": numeric, "id": value},
            "type": "wikibase-entityid",
        }
    if kind == TIME:
        return {"value": json_time(value), "type": "time"}
    if kind == QUANTITY:
        return {"value": {"amount": value, "unit": "1"}, "type": "quantity"}
    return {"value": value, "type": "string"}


def _snak(prop: str, value: str, kind: str) -> dict[str, Any]:
    snak = {
        "snaktype": "value",
        "property": prop,
        "datavalue": _datavalue(value, kind),
        "datatype": DATATYPES.get(kind, "string"),
    }
    # Wikibase hashes a snak by its content; any stable digest of the content keeps that role.
    snak["hash"] = hashlib.sha1(orjson.dumps(snak, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return snak


def json_statement_id(wdqs_id: str) -> str:
    """``Q42-F078...`` (WDQS local name) -> ``Q42$F078...`` (the JSON id)."""
    head, _, guid = wdqs_id.partition("-")
    return f"{head}${guid}"


def _claim(st: Statement) -> dict[str, Any]:
    claim: dict[str, Any] = {
        "mainsnak": _snak(st.property, st.value, st.kind),
        "type": "statement",
        "id": json_statement_id(st.id),
        "rank": st.rank,
    }
    qualifiers: dict[str, list[dict[str, Any]]] = {}
    for q in st.qualifiers:
        qualifiers.setdefault(q.property, []).append(_qualifier(q))
    if qualifiers:
        claim["qualifiers"] = qualifiers
        claim["qualifiers-order"] = list(qualifiers)
    return claim


def _qualifier(q: Qualifier) -> dict[str, Any]:
    return _snak(q.property, q.value, q.kind)


def _terms(e: Entity) -> dict[str, Any]:
    def en(text: str) -> dict[str, str]:
        return {"language": "en", "value": text}

    return {
        "labels": {"en": en(e.label)} if e.label else {},
        "descriptions": {"en": en(e.description)} if e.description else {},
        "aliases": {"en": [en(a) for a in e.aliases]} if e.aliases else {},
    }


def _sitelinks(e: Entity) -> dict[str, Any]:
    links: dict[str, Any] = {}
    if e.title:
        links["enwiki"] = {"site": "enwiki", "title": e.title, "badges": []}
    for k in range((e.sitelinks or 0) - len(links)):
        site = f"sample{k}wiki"
        links[site] = {"site": site, "title": e.label or e.qid, "badges": []}
    return links


def item_json(e: Entity, statements: Iterable[Statement]) -> dict[str, Any]:
    claims: dict[str, list[dict[str, Any]]] = {}
    for st in statements:
        claims.setdefault(st.property, []).append(_claim(st))
    entity: dict[str, Any] = {"type": "item", "id": e.qid, **_terms(e), "claims": claims}
    entity["sitelinks"] = _sitelinks(e)
    if e.version is not None:
        entity["lastrevid"] = e.version
    if e.modified:
        entity["modified"] = e.modified
    return entity


def property_json(pid: str, value_type: str) -> dict[str, Any]:
    return {
        "type": "property",
        "datatype": DATATYPES.get(value_type, "string"),
        "id": pid,
        "labels": {},
        "descriptions": {},
        "aliases": {},
        "claims": {},
    }


def _qnum(qid: str) -> int:
    return int(qid[1:])


def dump_entities(data: SampleData) -> Iterator[dict[str, Any]]:
    """Every item of the sample (Q-id order, statements in the converter's order), then the
    properties the sample uses."""
    by_subject: dict[str, list[Statement]] = {}
    for st in sorted(data.statements, key=lambda s: (s.property, s.id)):
        by_subject.setdefault(st.subject, []).append(st)
    for qid in sorted(data.entities, key=_qnum):
        yield item_json(data.entities[qid], by_subject.get(qid, []))
    properties = {**data.relations, **QUALIFIER_PROPERTIES}
    for pid in sorted(properties, key=_qnum):
        yield property_json(pid, properties[pid])


def dump_lines(entities: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The JSON dump's framing: ``[``, one entity per line with a trailing comma except the last,
    ``]``."""
    yield b"[\n"
    previous: bytes | None = None
    for entity in entities:
        if previous is not None:
            yield previous + b",\n"
        previous = orjson.dumps(entity)
    if previous is not None:
        yield previous + b"\n"
    yield b"]\n"


def check_bundled(data: SampleData, sample_dir: Path) -> None:
    """The model must be the one the bundled sample was written from (same RDF checksum)."""
    manifest = orjson.loads((sample_dir / MANIFEST_FILE).read_bytes())
    properties = {**data.relations, **QUALIFIER_PROPERTIES}
    entities = [data.entities[q] for q in sorted(data.entities, key=_qnum)]
    statements = sorted(data.statements, key=lambda s: (_qnum(s.subject), s.property, s.id))
    lines = ntriples(entities, statements, properties)
    payload = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), compresslevel=9, mtime=0)
    if hashlib.sha256(payload).hexdigest() != manifest["files"][RDF_FILE]["sha256"]:
        raise ConfigError(
            f"{sample_dir / RDF_FILE}: the bundled sample differs from what the converter makes of "
            "the fixtures now; rebuild it with `dafset sample` first"
        )


def write_sample_dump(
    out: Path,
    fixtures_dir: Path | None = None,
    sample_dir: Path | None = None,
    relations_file: Path | None = None,
) -> dict[str, int]:
    """Write the sample as a JSON dump to ``out`` (``.gz`` compresses); returns counts."""
    settings = get_settings()
    fixtures = fixtures_dir or settings.fixtures_dir
    if not (fixtures / "SOURCES.md").is_file():
        raise ConfigError(f"{fixtures}: not a real-fixtures folder (no SOURCES.md)")
    data = assemble(fixtures, relations_file or settings.relations_file)
    check_bundled(data, sample_dir or settings.sample_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    opener = gzip.open if out.suffix == ".gz" else open
    with opener(partial, "wb") as handle:
        handle.writelines(dump_lines(dump_entities(data)))
    partial.replace(out)
    return {"items": len(data.entities), "statements": len(data.statements)}
