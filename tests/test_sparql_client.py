"""SPARQL through SPARQLWrapper against a real ``oxigraph serve`` loaded with real Wikidata RDF."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from standins.recorded import Reply

from dafset.errors import BadIdError, SourceError
from dafset.settings import get_settings
from dafset.sources.live.cache import ResponseCache
from dafset.sources.live.http import RetryPolicy
from dafset.sources.live.live import LiveSource
from dafset.sources.live.sparql import SparqlClient, rows_from_json
from dafset.sources.queries import PREFIXES

FAST = RetryPolicy(max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=10)

# Written here (not in dafset/sources/queries/, which holds the project's query files).
Q42_FACTS = PREFIXES + """
SELECT ?relation ?object ?objectLabel WHERE {
  VALUES ?relation { wdt:P19 wdt:P69 }
  wd:Q42 ?relation ?object .
  OPTIONAL { ?object rdfs:label ?objectLabel FILTER(LANG(?objectLabel) = "en") }
}
ORDER BY ?relation ?object
"""
Q42_LABEL = PREFIXES + """
SELECT ?label ?sitelinks WHERE {
  wd:Q42 rdfs:label ?label FILTER(LANG(?label) = "en")
  OPTIONAL { ?doc schema:about wd:Q42 ; wikibase:sitelinks ?sitelinks }
}
"""


def facts(rows: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(r["relation"], r["object"]) for r in rows}


EXPECTED = {
    ("http://www.wikidata.org/prop/direct/P19", "Q350"),  # Cambridge
    ("http://www.wikidata.org/prop/direct/P69", "Q691283"),  # St John's College
    ("http://www.wikidata.org/prop/direct/P69", "Q4961791"),  # Brentwood School
}


def test_real_oxigraph_returns_q42_truthy_p19_and_p69(oxigraph_server):
    rows = SparqlClient(oxigraph_server.query_url, policy=FAST).select(Q42_FACTS)
    assert facts(rows) == EXPECTED
    # the dump holds only Q42's own labels, so the objects' labels are unbound and left out
    assert all("objectLabel" not in r for r in rows)
    (row,) = SparqlClient(oxigraph_server.query_url, policy=FAST).select(Q42_LABEL)
    assert row["label"] == "Douglas Adams"
    assert int(row["sitelinks"]) > 100


def test_user_agent_and_post_reach_the_endpoint(live_env):
    client = SparqlClient(policy=FAST)
    assert client.endpoint == live_env.sparql_endpoint
    client.select(Q42_FACTS)
    (request,) = live_env.requests_to("/sparql")
    assert request.method == "POST"
    assert request.user_agent == get_settings().user_agent
    assert "sparqlwrapper" not in request.user_agent.lower()
    assert "json" in request.headers.get("Accept", "")
    assert request.params["query"].rstrip().endswith("ORDER BY ?relation ?object")


@pytest.mark.parametrize("kind", ["500_timeout", "503", "truncated_json", "truncated_length"])
def test_wdqs_style_failures_are_retried(live_env, kind):
    live_env.fail_next(kind, times=2, match="/sparql", retry_after="0")
    client = SparqlClient(policy=FAST)
    assert facts(client.select(Q42_FACTS)) == EXPECTED
    assert len(live_env.requests_to("/sparql")) == 3
    assert client.stats.retries == 2


def test_429_retry_after_is_read_from_the_http_error(live_env):
    live_env.fail_next("429", match="/sparql", retry_after="1")
    client = SparqlClient(policy=FAST)
    started = time.monotonic()
    assert facts(client.select(Q42_FACTS)) == EXPECTED
    assert time.monotonic() - started >= 0.95
    assert len(live_env.requests_to("/sparql")) == 2


def test_bad_query_fails_fast_naming_the_endpoint(live_env):
    client = SparqlClient(policy=RetryPolicy(max_attempts=5, backoff_base_s=1.0))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"SPARQL POST .*/sparql .*QueryBadFormed") as caught:
        client.select("SELECT ?x WHERE { this is not sparql }")
    assert "\n" not in str(caught.value)
    assert len(live_env.requests_to("/sparql")) == 1
    assert time.monotonic() - started < 0.5


def test_forbidden_fails_fast(live_env):
    live_env.fail_next("status", status=403, match="/sparql")
    with pytest.raises(SourceError, match="HTTP 403"):
        SparqlClient(policy=FAST).select(Q42_FACTS)
    assert len(live_env.requests_to("/sparql")) == 1


def test_cache_by_query_text(live_env, tmp_path: Path):
    client = SparqlClient(policy=FAST, cache=ResponseCache(tmp_path))
    first = client.select(Q42_FACTS)
    second = client.select(Q42_FACTS)
    assert first == second
    assert len(live_env.requests_to("/sparql")) == 1
    assert client.stats.cache_hits == 1


def test_one_query_in_flight_per_endpoint(recorded_server):
    in_flight = 0
    peak = 0
    guard = threading.Lock()
    empty = {"head": {"vars": ["x"]}, "results": {"bindings": []}}

    def slow(_request) -> Reply:
        nonlocal in_flight, peak
        with guard:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.15)
        with guard:
            in_flight -= 1
        return Reply(200, empty, "application/sparql-results+json")

    recorded_server.add_route("/sparql", slow)
    endpoint = recorded_server.sparql_endpoint
    threads = [
        threading.Thread(target=lambda: SparqlClient(endpoint, policy=FAST).select("SELECT ?x WHERE {}"))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(recorded_server.requests_to("/sparql")) == 3
    assert peak == 1


def test_bad_id_raises_before_any_request(live_env, tmp_path: Path, monkeypatch):
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "facts_of.rq").write_text("# Bound: items <= 500\nSELECT ?p ?o WHERE { VALUES ?s { ${items} } ?s ?p ?o }\n")
    monkeypatch.setenv("DAFSET_QUERIES_DIR", str(queries))
    source = LiveSource(policy=FAST, cache=None)
    for bad in (["Q42", "Q1 } ; DROP ALL ; {"], ["Q0"], ["P31"], ["q42"]):
        with pytest.raises(BadIdError):
            source.select("facts_of", items=bad)
    assert live_env.requests == []
    rows = source.select("facts_of", items=["Q42"])
    assert len(rows) > 100 and len(live_env.requests_to("/sparql")) == 1


def test_rows_from_real_wdqs_style_results(fixtures_dir: Path):
    doc = json.loads((fixtures_dir / "sparql_json" / "wikibase-sdk_multi_vars_sparql_results.json").read_text())
    rows = rows_from_json(doc)
    assert rows
    for row, binding in zip(rows, doc["results"]["bindings"], strict=True):
        for var, cell in binding.items():
            if cell["type"] == "uri" and cell["value"].startswith("http://www.wikidata.org/entity/"):
                assert row[var] == cell["value"].rsplit("/", 1)[1]
            else:
                assert row[var] == cell["value"]
    with pytest.raises(ValueError):
        rows_from_json({"head": {}})


def test_a_select_whose_comments_look_like_an_update_is_still_a_query(oxigraph_server) -> None:
    from dafset.sources.live.sparql import SparqlClient

    text = "# add and load words in a comment must not make this an update\nSELECT ?x WHERE { VALUES ?x { 1 } }"
    assert SparqlClient(oxigraph_server.query_url, cache=None).select(text) == [{"x": "1"}]
