"""The MediaWiki Action API client against the recorded-response stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standins.recorded import Reply
from standins.wikimedia_data import derived_timestamp

from dafset.errors import BadIdError, SourceError
from dafset.settings import get_settings
from dafset.sources.live import mediawiki
from dafset.sources.live.http import HttpClient, RetryPolicy
from dafset.sources.live.mediawiki import MediaWikiClient
from dafset.sources.live.recency import statement_additions

FAST = RetryPolicy(max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=10)


@pytest.fixture
def wikidata(recorded_server) -> MediaWikiClient:
    return MediaWikiClient(HttpClient(get_settings(), policy=FAST), recorded_server.mediawiki_api)


@pytest.fixture
def wikipedia(recorded_server) -> MediaWikiClient:
    return MediaWikiClient(HttpClient(get_settings(), policy=FAST), recorded_server.wikipedia_api)


def test_wbgetentities_goes_in_batches_of_50(wikidata, recorded_server):
    ids = ["Q42", "Q1", "Q64"] + [f"Q{900_000_000 + i}" for i in range(117)]
    batch = wikidata.get_entities(ids)
    sent = recorded_server.requests_to("/wikidata/")
    assert len(sent) == 3
    assert [len(r.params["ids"].split("|")) for r in sent] == [50, 50, 20]
    assert all(r.params["action"] == "wbgetentities" for r in sent)
    assert set(batch.entities) == {"Q42", "Q1", "Q64"}
    assert len(batch.missing) == 117
    assert batch.entities["Q42"]["labels"]["en"]["value"] == "Douglas Adams"
    assert set(batch.entities["Q42"]["labels"]) == {"en"}  # languages=en asked for


def test_redirect_is_followed(wikidata):
    batch = wikidata.get_entities(["Q32063953"])
    assert batch.redirects == {"Q32063953": "Q1040"}
    entity = batch.get("Q32063953")
    assert entity is not None and entity["id"] == "Q1040"
    assert entity["labels"]["en"]["value"] == "Karlsruhe"


def test_missing_entity_is_reported(wikidata):
    batch = wikidata.get_entities(["Q6", "Q42", "P31"])
    assert batch.missing == ("Q6",)
    assert set(batch.entities) == {"Q42", "P31"}
    assert batch.get("Q6") is None


def test_bad_id_raises_before_any_request(wikidata, recorded_server):
    for bad in (["Q42", "Q42|Q1"], ["Q42&action=delete"], [""], ["L3354"]):
        with pytest.raises(BadIdError):
            wikidata.get_entities(bad)
    assert recorded_server.requests == []


def test_items_for_titles_follows_redirects_and_drops_disambiguation_and_missing(wikipedia, recorded_server):
    titles = ["Douglas Adams", "Adams, Douglas", "douglas_Adams", "Douglas Adams (disambiguation)", "No such page 123"]
    assert wikipedia.items_for_titles(titles) == {
        "Douglas Adams": "Q42",
        "Adams, Douglas": "Q42",
        "douglas_Adams": "Q42",
    }
    (request,) = recorded_server.requests_to("/enwiki/")
    assert request.params["prop"] == "pageprops" and request.params["redirects"] == "1"
    assert "wikibase_item" in request.params["ppprop"]


def test_items_for_titles_batches_of_50(wikipedia, recorded_server):
    titles = ["Douglas Adams"] + [f"Nonexistent {i}" for i in range(119)]
    assert wikipedia.items_for_titles(titles) == {"Douglas Adams": "Q42"}
    assert [len(r.params["titles"].split("|")) for r in recorded_server.requests_to("/enwiki/")] == [50, 50, 20]


def test_api_error_in_answer_is_a_source_error(wikidata, recorded_server):
    error = {"error": {"code": "readonly", "info": "The wiki is in read-only mode"}}
    recorded_server.add_route("/wikidata/", lambda _request: Reply(200, error))
    with pytest.raises(SourceError, match="API error readonly"):
        wikidata.get_entities(["Q42"])


# -- revisions (real recorded revision contents; their timestamps are derived by the stand-in) ------


def test_entity_as_of_an_earlier_time(wikidata, recorded_server):
    rev = wikidata.entity_at("Q59152138", derived_timestamp(797424074) + timedelta(seconds=1))
    assert rev is not None and rev.revid == 797424074 and rev.parentid == 797423498
    assert sorted(rev.entity["claims"]) == ["P1366"]
    (request,) = recorded_server.requests_to("/wikidata/")
    assert request.params["rvdir"] == "older" and request.params["rvlimit"] == "1"
    assert request.params["rvprop"] == "ids|timestamp|content" and request.params["rvslots"] == "main"
    assert wikidata.entity_at("Q59152138", derived_timestamp(797423498) - timedelta(seconds=1)) is None


def test_revisions_in_a_window_follow_continuation(wikidata, recorded_server, monkeypatch):
    start = derived_timestamp(797423498) - timedelta(seconds=1)
    end = derived_timestamp(797436185) + timedelta(seconds=1)
    revs = wikidata.revisions_between("Q59152138", start, end)
    assert [r.revid for r in revs] == [797423498, 797424074, 797435781, 797435889, 797436185]
    # the same window 2 at a time: the stand-in pages with rvcontinue
    monkeypatch.setattr(mediawiki, "IDS_LIMIT", 2)
    recorded_server.requests.clear()
    again = wikidata.revisions_between("Q59152138", start, end)
    assert [r.revid for r in again] == [r.revid for r in revs]
    assert len(recorded_server.requests_to("/wikidata/")) == 3


def test_statement_additions_are_statement_level(wikidata, recorded_server):
    # Q59152138 (The Guard): created, then P1366, P291, P31, P495 added one by one
    start = derived_timestamp(797424074) + timedelta(seconds=1)  # after P1366 was added
    end = derived_timestamp(797436185) + timedelta(days=1)
    adds = statement_additions(wikidata, ["Q59152138"], start, end, ["P31", "P291", "P495", "P1366"])
    assert [(a.relation_id, a.revision_id) for a in adds] == [
        ("P291", 797435781),
        ("P31", 797435889),
        ("P495", 797436185),
    ]
    assert all(a.subject_id == "Q59152138" and a.timestamp.tzinfo is not None for a in adds)
    assert adds[0].timestamp == derived_timestamp(797435781)
    assert len(recorded_server.requests_to("/wikidata/")) == 3
    only_p31 = statement_additions(wikidata, ["Q59152138"], start, end, ["P31"])
    assert [a.relation_id for a in only_p31] == ["P31"]


def test_removed_statements_and_old_statements_are_not_additions(wikidata):
    end = derived_timestamp(797446547) + timedelta(days=1)
    # Q59152467: P279 added then removed, P31 added twice -> only the two P31 statements
    start = derived_timestamp(797445357) + timedelta(seconds=1)
    adds = statement_additions(wikidata, ["Q59152467"], start, end, ["P31", "P279"])
    assert [(a.relation_id, a.revision_id) for a in adds] == [("P31", 797446088), ("P31", 797446547)]
    # Q7019804: edited in the window (P279 added, three statements removed); its old statements
    # stay old, the removed ones are not reported, the added one is
    start = derived_timestamp(761565824) + timedelta(seconds=1)
    adds = statement_additions(wikidata, ["Q7019804"], start, end, ["P31", "P279", "P1754"])
    assert [(a.relation_id, a.revision_id) for a in adds] == [("P279", 797443163)]


def test_statement_additions_on_a_timeline_built_in_the_test(wikidata, recorded_server):
    def entity(*statements: tuple[str, str]) -> dict:
        claims: dict = {}
        for pid, sid in statements:
            claims.setdefault(pid, []).append({"id": sid, "rank": "normal", "type": "statement",
                                               "mainsnak": {"snaktype": "value", "property": pid}})
        return {"type": "item", "id": "Q999999901", "claims": claims}

    t0 = datetime(2026, 11, 10, tzinfo=UTC)
    store = recorded_server.revisions
    store.add_revision("Q999999901", 5001, t0, entity(("P19", "s1")))
    store.add_revision("Q999999901", 5002, t0 + timedelta(days=5), entity(("P19", "s1"), ("P27", "s2")))
    store.add_revision("Q999999901", 5003, t0 + timedelta(days=6), entity(("P19", "s1"), ("P27", "s2"), ("P69", "s3")))
    adds = statement_additions(wikidata, ["Q999999901"], t0 + timedelta(days=1), t0 + timedelta(days=8), ["P19", "P27", "P69"])
    assert [(a.statement_id, a.revision_id) for a in adds] == [("s2", 5002), ("s3", 5003)]
    assert statement_additions(wikidata, ["Q999999901"], t0 + timedelta(days=7), t0 + timedelta(days=8), ["P27"]) == []


def test_statement_additions_check_ids_first(wikidata, recorded_server):
    with pytest.raises(BadIdError):
        statement_additions(wikidata, ["Q1", "Q1|Q2"], datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC), ["P31"])
    with pytest.raises(BadIdError):
        statement_additions(wikidata, ["Q1"], datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC), ["31"])
    assert recorded_server.requests == []
