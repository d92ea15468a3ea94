"""The bundled sample written as a Wikidata JSON dump: ``write_sample_dump(out)``.

It reads the bundled sample itself (``dafset/sources/sample/data/wikidata.nt.gz``, what every
``--source sample`` build queries) back into the converter's own model (``model.Entity``,
``Statement``, ``Qualifier``; the inverse of ``rdf.py``), so the dump is that sample and nothing
else: no second reading of the raw fixtures, nothing to drift, no fixtures needed. Lines have the
real dump's shape (``[``, one entity per line ending in ``,``, ``]``): English labels /
descriptions / aliases, claims with main-snak datavalues, ranks, qualifiers, statement ids
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from pyoxigraph import Literal, NamedNode, RdfFormat, parse

from dafset.errors import ConfigError
from dafset.settings import get_settings
from dafset.sources.sample import rdf
from dafset.sources.sample.convert import RDF_FILE
from dafset.sources.sample.model import ITEM, QUANTITY, STRING, TIME, Entity, Qualifier, Statement

GREGORIAN = "http://www.wikidata.org/entity/Q1985727"
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


@dataclass
class BundledSample:
    """The sample as the converter's model: what ``rdf.ntriples`` wrote, read back."""

    entities: dict[str, Entity] = field(default_factory=dict)
    statements: dict[str, Statement] = field(default_factory=dict)  # by WDQS statement id
    properties: dict[str, str] = field(default_factory=dict)  # P-id -> value type
    # further values of one statement node: real data has a few statements sharing one GUID
    # (written twice in the entity JSON, merged into one node in RDF); they come out twice again
    more_values: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


_TYPES = {v: k for k, v in rdf.PROPERTY_TYPES.items()}
_RANKS = {v: k for k, v in rdf.RANKS.items()}
_XSD_KINDS = {rdf.XSD + "dateTime": TIME, rdf.XSD + "decimal": QUANTITY}
_COUNTS = {rdf.WIKIBASE + "sitelinks": "sitelinks", rdf.WIKIBASE + "statements": "statements"}


def _term(node: object) -> tuple[str, str]:
    """(value, kind) of an object node: a Q-id, or a literal's lexical form as written."""
    if isinstance(node, NamedNode):
        return node.value.removeprefix(rdf.WD), ITEM
    if not isinstance(node, Literal):
        raise ConfigError(f"bundled sample RDF: unexpected object {node!r}")
    return node.value, _XSD_KINDS.get(node.datatype.value, STRING)


def read_bundled(sample_dir: Path) -> BundledSample:
    """Read ``wikidata.nt.gz`` back into entities, statements and property types."""
    path = sample_dir / RDF_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: the bundled sample's RDF is missing")
    sample = BundledSample()
    titles: dict[str, str] = {}
    about: dict[str, str] = {}
    for quad in parse(gzip.decompress(path.read_bytes()), RdfFormat.N_TRIPLES):
        s, p, o = quad.subject.value, quad.predicate.value, quad.object
        if s.startswith(rdf.WDS):
            _statement_triple(sample, s.removeprefix(rdf.WDS), p, o)
        elif s.startswith(rdf.WD):
            _entity_triple(sample, s.removeprefix(rdf.WD), p, o)
        elif p == rdf.SCHEMA + "about":
            about[s] = o.value.removeprefix(rdf.WD)
        elif p == rdf.SCHEMA + "name":
            titles[s] = o.value
    for article, qid in about.items():
        sample.entities[qid].title = titles[article]
    return sample


def _entity_triple(sample: BundledSample, sid: str, p: str, o: object) -> None:
    if sid.startswith("P"):
        if p == rdf.WIKIBASE + "propertyType":
            sample.properties[sid] = _TYPES[o.value.removeprefix(rdf.WIKIBASE)]
        return
    entity = sample.entities.setdefault(sid, Entity(sid))
    if p == rdf.RDFS_LABEL:
        entity.label = o.value
    elif p == rdf.SKOS_ALT:
        entity.aliases = sorted([*entity.aliases, o.value])
    elif p == rdf.SCHEMA + "description":
        entity.description = o.value
    elif p in _COUNTS:
        setattr(entity, _COUNTS[p], int(o.value))
    elif p == rdf.SCHEMA + "dateModified":
        entity.modified = o.value
    elif p == rdf.SCHEMA + "version":
        entity.version = int(o.value)
    elif _is_pid(p.removeprefix(rdf.P)):  # p:P (wdt:, ps:, pq: have a further path segment)
        statement = _statement(sample, o.value.removeprefix(rdf.WDS))
        statement.subject, statement.property = sid, p.removeprefix(rdf.P)


def _is_pid(text: str) -> bool:
    return text[:1] == "P" and text[1:].isdigit()


def _statement(sample: BundledSample, sid: str) -> Statement:
    return sample.statements.setdefault(sid, Statement(sid, "", "", "", "", best=False))


def _statement_triple(sample: BundledSample, sid: str, p: str, o: object) -> None:
    statement = _statement(sample, sid)
    if p.startswith(rdf.PS) and statement.value:
        sample.more_values.setdefault(sid, []).append(_term(o))
    elif p.startswith(rdf.PS):
        statement.value, statement.kind = _term(o)
    elif p.startswith(rdf.PQ):
        statement.qualifiers.append(Qualifier(p.removeprefix(rdf.PQ), *_term(o)))
    elif p == rdf.WIKIBASE + "rank":
        statement.rank = _RANKS[o.value.removeprefix(rdf.WIKIBASE)]
    elif p == rdf.RDF_TYPE and o.value == rdf.WIKIBASE + "BestRank":
        statement.best = True


def dump_entities(sample: BundledSample) -> Iterator[dict[str, Any]]:
    """Every item of the sample (Q-id order; claims by property, then statement id), then the
    properties it declares."""
    by_subject: dict[str, list[Statement]] = {}
    for st in sorted(sample.statements.values(), key=lambda s: (s.property, s.id)):
        st.qualifiers.sort(key=lambda q: (q.property, q.value))
        by_subject.setdefault(st.subject, []).append(st)
        for value, kind in sample.more_values.get(st.id, []):
            by_subject[st.subject].append(replace(st, value=value, kind=kind))
    for qid in sorted(sample.entities, key=_qnum):
        yield item_json(sample.entities[qid], by_subject.get(qid, []))
    for pid in sorted(sample.properties, key=_qnum):
        yield property_json(pid, sample.properties[pid])


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


def write_sample_dump(out: Path, sample_dir: Path | None = None) -> dict[str, int]:
    """Write the bundled sample as a JSON dump to ``out`` (``.gz`` compresses); returns counts."""
    sample = read_bundled(sample_dir or get_settings().sample_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    opener = gzip.open if out.suffix == ".gz" else open
    with opener(partial, "wb") as handle:
        handle.writelines(dump_lines(dump_entities(sample)))
    partial.replace(out)  # a reader never sees half a dump
    statements = len(sample.statements) + sum(len(v) for v in sample.more_values.values())
    return {"items": len(sample.entities), "statements": statements}
