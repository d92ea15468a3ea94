"""Every query file declares its bound, and the declaration is true: parsed (rdflib's SPARQL
algebra), a query declared bounded touches only what its VALUES list reaches, and one that would
scan Wikidata is declared ``none`` and refused by the live source before any request."""

from __future__ import annotations

import pytest
from rdflib.paths import Path as RdfPath
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import Variable

from dafset.errors import ConfigError
from dafset.settings import get_settings
from dafset.sources.queries import declared_bound, query_bound, render_query

VALUES = {
    "items": ["Q42", "Q1"],
    "properties": ["P19", "P69"],
    "titles": ["Douglas Adams"],
    "start": "2026-11-16T00:00:00Z",
    "end": "2026-11-23T00:00:00Z",
    "limit": 10,
    "offset": 0,
}
QUERIES = sorted(p.stem for p in get_settings().queries_dir.glob("*.rq"))


def _walk(node, triples: list, bound: set) -> None:
    if isinstance(node, CompValue):
        if node.name == "BGP":
            triples.extend(node.triples)
        if node.name == "values":  # inline data: VALUES binds its variables to a fixed list
            for row in node.get("res") or []:
                bound.update(row.keys())
        for value in node.values():
            _walk(value, triples, bound)
    elif isinstance(node, list | tuple):
        for value in node:
            _walk(value, triples, bound)


def unanchored(text: str) -> list[tuple]:
    """Triple patterns never reached from a constant or a VALUES-bound variable by subject or
    object: each would be answered by scanning a predicate (or everything) on WDQS."""
    triples: list = []
    bound: set = set()
    _walk(prepareQuery(text).algebra, triples, bound)

    def fixed(term) -> bool:
        return not isinstance(term, Variable | RdfPath) or term in bound

    pending = list(triples)
    changed = True
    while changed:
        changed = False
        for triple in list(pending):
            s, p, o = triple
            if fixed(s) or fixed(o):
                bound.update(t for t in (s, p, o) if isinstance(t, Variable))
                pending.remove(triple)
                changed = True
    return pending


@pytest.mark.parametrize("name", QUERIES)
def test_declared_bound_is_true(name: str) -> None:
    text = render_query(name, **VALUES)
    scans = unanchored(text)
    bound = declared_bound(name)
    if bound is None:
        assert scans, f"{name}.rq says 'Bound: none' but every pattern is anchored"
        with pytest.raises(ConfigError, match="unbounded"):
            query_bound(name, **VALUES)
    else:
        placeholder, size = bound
        assert not scans, f"{name}.rq declares a bound but scans: {scans}"
        assert f"${{{placeholder}}}" in (get_settings().queries_dir / f"{name}.rq").read_text()
        assert size <= 500
        query_bound(name, **VALUES)
        with pytest.raises(ConfigError, match="needs 1"):
            query_bound(name, **{**VALUES, placeholder: [f"Q{i}" for i in range(1, size + 2)]})


def test_the_checker_catches_a_scan() -> None:
    prefixes = render_query("labels", items=["Q1"]).split("SELECT")[0]
    assert unanchored(prefixes + "SELECT ?i WHERE { ?i wdt:P31 ?c }")
    assert not unanchored(prefixes + "SELECT ?c WHERE { wd:Q42 wdt:P31 ?c }")
    assert not unanchored(prefixes + "SELECT ?i WHERE { VALUES ?c { wd:Q5 } ?i wdt:P31 ?c }")


def test_the_live_source_sends_only_bounded_queries(live_env) -> None:
    from dafset.sources.live.live import LiveSource

    source = LiveSource(cache=None)
    for name in QUERIES:
        if declared_bound(name) is None:
            with pytest.raises(ConfigError, match="unbounded"):
                source.select(name, **{k: v for k, v in VALUES.items()})
    assert not live_env.requests_to("/sparql")  # refused before any request
