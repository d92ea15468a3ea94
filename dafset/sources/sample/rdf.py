"""Write the sample as WDQS models Wikidata (the munged form the query service holds):

- ``wd:Q wdt:P v`` for best-rank statements only;
- ``wd:Q p:P wds:ID``; ``wds:ID ps:P v ; wikibase:rank ... ; pq:Pq v'``; ``a wikibase:BestRank``
  on best-rank statements;
- ``rdfs:label`` / ``skos:altLabel`` / ``schema:description`` in English;
- entity metadata on the item itself: ``wikibase:sitelinks``, ``wikibase:statements``,
  ``wikibase:identifiers`` (xsd:integer), ``schema:dateModified`` (xsd:dateTime), ``schema:version``;
- ``<https://en.wikipedia.org/wiki/T> a schema:Article ; schema:about wd:Q ; schema:isPartOf
  <https://en.wikipedia.org/> ; schema:inLanguage "en" ; schema:name "T"@en``;
- property entities: ``wd:P a wikibase:Property ; wikibase:propertyType ... ; wikibase:directClaim
  wdt:P ; wikibase:claim p:P ; wikibase:statementProperty ps:P ; wikibase:qualifier pq:P``.

Simple values only: the full value nodes (``psv:``/``pqv:``), references and non-English terms are
not part of the sample. Lines are N-Triples, sorted, so the output is byte-stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import quote

from pyoxigraph import Literal, NamedNode

from dafset.sources.sample.model import ITEM, QUANTITY, TIME, Entity, Statement

WD = "http://www.wikidata.org/entity/"
WDS = "http://www.wikidata.org/entity/statement/"
WDT = "http://www.wikidata.org/prop/direct/"
P = "http://www.wikidata.org/prop/"
PS = "http://www.wikidata.org/prop/statement/"
PQ = "http://www.wikidata.org/prop/qualifier/"
WIKIBASE = "http://wikiba.se/ontology#"
SCHEMA = "http://schema.org/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_ALT = "http://www.w3.org/2004/02/skos/core#altLabel"
XSD = "http://www.w3.org/2001/XMLSchema#"
ENWIKI = "https://en.wikipedia.org/"
RANKS = {"preferred": "PreferredRank", "normal": "NormalRank", "deprecated": "DeprecatedRank"}
PROPERTY_TYPES = {"item": "WikibaseItem", "time": "Time", "quantity": "Quantity", "string": "String"}


def _iri(value: str) -> str:
    return str(NamedNode(value))


def _typed(value: str | int, datatype: str) -> str:
    return str(Literal(str(value), datatype=NamedNode(XSD + datatype)))


def _en(text: str) -> str:
    return str(Literal(text, language="en"))


def _value(value: str, kind: str) -> str:
    if kind == ITEM:
        return _iri(WD + value)
    if kind == TIME:
        return _typed(value, "dateTime")
    if kind == QUANTITY:
        return _typed(value, "decimal")
    return str(Literal(value))


def article_iri(title: str) -> str:
    """English Wikipedia article IRI as Wikibase writes it (MediaWiki's wfUrlencode of the title)."""
    return ENWIKI + "wiki/" + quote(title.replace(" ", "_"), safe=";@$!*(),/~:")


def _entity(e: Entity) -> Iterator[tuple[str, str, str]]:
    s = _iri(WD + e.qid)
    if e.label:
        yield s, _iri(RDFS_LABEL), _en(e.label)
    for alias in e.aliases:
        yield s, _iri(SKOS_ALT), _en(alias)
    if e.description:
        yield s, _iri(SCHEMA + "description"), _en(e.description)
    for name, value in (
        ("sitelinks", e.sitelinks),
        ("statements", e.statements),
        ("identifiers", e.identifiers),
    ):
        if value is not None:
            yield s, _iri(WIKIBASE + name), _typed(value, "integer")
    if e.modified:
        yield s, _iri(SCHEMA + "dateModified"), _typed(e.modified, "dateTime")
    if e.version is not None:
        yield s, _iri(SCHEMA + "version"), _typed(e.version, "integer")
    if e.title:
        a = _iri(article_iri(e.title))
        yield a, _iri(RDF_TYPE), _iri(SCHEMA + "Article")
        yield a, _iri(SCHEMA + "about"), s
        yield a, _iri(SCHEMA + "isPartOf"), _iri(ENWIKI)
        yield a, _iri(SCHEMA + "inLanguage"), str(Literal("en"))
        yield a, _iri(SCHEMA + "name"), _en(e.title)


def _statement(st: Statement) -> Iterator[tuple[str, str, str]]:
    s, node = _iri(WD + st.subject), _iri(WDS + st.id)
    value = _value(st.value, st.kind)
    if st.best:
        yield s, _iri(WDT + st.property), value
        yield node, _iri(RDF_TYPE), _iri(WIKIBASE + "BestRank")
    yield s, _iri(P + st.property), node
    yield node, _iri(PS + st.property), value
    yield node, _iri(WIKIBASE + "rank"), _iri(WIKIBASE + RANKS[st.rank])
    for q in st.qualifiers:
        yield node, _iri(PQ + q.property), _value(q.value, q.kind)


def _property(pid: str, value_type: str) -> Iterator[tuple[str, str, str]]:
    s = _iri(WD + pid)
    yield s, _iri(RDF_TYPE), _iri(WIKIBASE + "Property")
    yield s, _iri(WIKIBASE + "propertyType"), _iri(WIKIBASE + PROPERTY_TYPES[value_type])
    yield s, _iri(WIKIBASE + "directClaim"), _iri(WDT + pid)
    yield s, _iri(WIKIBASE + "claim"), _iri(P + pid)
    yield s, _iri(WIKIBASE + "statementProperty"), _iri(PS + pid)
    yield s, _iri(WIKIBASE + "qualifier"), _iri(PQ + pid)


def ntriples(
    entities: Iterable[Entity], statements: Iterable[Statement], properties: dict[str, str]
) -> list[str]:
    """The sorted, de-duplicated N-Triples lines of the whole sample."""
    lines: set[str] = set()
    for e in entities:
        lines.update(f"{s} {p} {o} ." for s, p, o in _entity(e))
    for st in statements:
        lines.update(f"{s} {p} {o} ." for s, p, o in _statement(st))
    for pid, value_type in properties.items():
        lines.update(f"{s} {p} {o} ." for s, p, o in _property(pid, value_type))
    return sorted(lines)
