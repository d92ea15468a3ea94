"""LiveSource end to end over the stand-ins: the same code path as production, pointed at 127.0.0.1."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from standins.wikimedia_data import derived_timestamp

from dafset.settings import get_settings
from dafset.source import Source
from dafset.sources.live.live import LiveSource

# Written here: the project's own query files belong to dafset/sources/queries/. A query the live
# source sends must declare its bound (dafset.sources.queries.query_bound).
FACTS_RQ = """# Bound: items <= 500 (VALUES ?item)
SELECT ?item ?relation ?object WHERE {
  VALUES ?item { ${items} }
  VALUES ?prop { ${properties} }
  ?prop wikibase:directClaim ?relation .
  ?item ?relation ?object .
}
"""
# Oxigraph has no property entities loaded, so map P-ids to wdt: predicates with a VALUES table.
FACTS_RQ = FACTS_RQ.replace(
    "?prop wikibase:directClaim ?relation .",
    "BIND(IRI(CONCAT(\"http://www.wikidata.org/prop/direct/\", STRAFTER(STR(?prop), \"entity/\"))) AS ?relation)",
)


@pytest.fixture
def source(live_env, tmp_path: Path, monkeypatch) -> LiveSource:
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "truthy_facts.rq").write_text(FACTS_RQ)
    monkeypatch.setenv("DAFSET_QUERIES_DIR", str(queries))
    return LiveSource()


def exercise(source: LiveSource) -> dict:
    """One call of every Source method; returns what came back."""
    start = derived_timestamp(797424074) + timedelta(seconds=1)
    return {
        "facts": sorted(
            (r["item"], r["relation"].rsplit("/", 1)[1], r["object"])
            for r in source.select("truthy_facts", items=["Q42"], properties=["P19", "P69"])
        ),
        "titles": source.items_for_titles(["Douglas Adams", "Adams, Douglas", "Douglas Adams (disambiguation)"]),
        "views": {t: v.views for t, v in source.pageviews(["Facebook", "HIV/AIDS"], date(2025, 8, 15), date(2025, 8, 19)).items()},
        "top": [(p.title, p.views) for p in source.top_articles(date(2025, 8, 15), date(2025, 8, 16), 3)],
        "added": [
            (a.subject_id, a.relation_id, a.revision_id)
            for a in source.statement_additions(["Q59152138", "Q42"], start, start + timedelta(days=2), ["P31", "P291", "P495"])
        ],
    }


def recorded_views(fixtures_dir: Path, name: str, days: int = 5) -> int:
    """Sum of the first ``days`` daily views in a recorded per-article answer."""
    folder = fixtures_dir / "pageviews" / "wikiedu_per_article"
    items = json.loads((folder / f"en.wikipedia__{name}__daily_2025081500_2025081900.json").read_text())["items"]
    return sum(i["views"] for i in items[:days])


@pytest.fixture
def expected(fixtures_dir: Path) -> dict:
    return {
        "facts": [("Q42", "P19", "Q350"), ("Q42", "P69", "Q4961791"), ("Q42", "P69", "Q691283")],
        "titles": {"Douglas Adams": "Q42", "Adams, Douglas": "Q42"},
        "views": {"Facebook": recorded_views(fixtures_dir, "Facebook"), "HIV/AIDS": recorded_views(fixtures_dir, "HIV_AIDS")},
        # the stand-in's top list is derived from the recorded per-article views
        "top": [
            ('"Weird Al" Yankovic', recorded_views(fixtures_dir, "Weird_Al_Yankovic", 2)),
            ("Facebook", recorded_views(fixtures_dir, "Facebook", 2)),
            ("André the Giant", recorded_views(fixtures_dir, "AndrxE9_the_Giant", 2)),
        ],
        "added": [("Q59152138", "P291", 797435781), ("Q59152138", "P31", 797435889), ("Q59152138", "P495", 797436185)],
    }


def test_live_source_is_a_source_configured_from_settings(live_env):
    source = LiveSource()
    assert isinstance(source, Source)
    assert source.name == "live"
    assert source.endpoint == live_env.sparql_endpoint == get_settings().sparql_endpoint
    assert source.wikidata.api_url == live_env.mediawiki_api
    assert source.wikipedia.api_url == live_env.wikipedia_api
    assert source.views.base == live_env.pageviews_api


def test_every_source_method_through_the_stand_ins(source, live_env, expected):
    assert exercise(source) == expected
    user_agent = get_settings().user_agent
    assert "dafset-tests@example.org" in user_agent
    assert {r.user_agent for r in live_env.requests} == {user_agent}
    assert source.stats.requests == len(live_env.requests)
    assert source.stats.bytes > 10_000


def test_a_rerun_is_answered_from_the_cache(source, live_env):
    first = exercise(source)
    sent = len(live_env.requests)
    again = LiveSource()  # a new process would find the same cache dir
    assert exercise(again) == first
    assert len(live_env.requests) == sent
    assert again.stats.requests == 0 and again.stats.cache_hits > 0


def test_twenty_percent_random_faults_change_nothing(source, live_env, tmp_path: Path):
    clean = exercise(LiveSource(cache=None))
    live_env.requests.clear()
    live_env.fail_randomly(0.2, seed=7)
    faulty = LiveSource(cache=None)
    assert exercise(faulty) == clean
    kinds = {kind for _, kind in live_env.faults.served}
    assert len(live_env.faults.served) >= 3 and len(kinds) >= 2
    assert faulty.stats.retries == len(live_env.faults.served)
    assert {r.user_agent for r in live_env.requests} == {get_settings().user_agent}
