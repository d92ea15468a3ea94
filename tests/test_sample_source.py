"""SampleSource answers every Source method sensibly from the bundled sample."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from dafset.config import SAMPLE_SNAPSHOT
from dafset.errors import BadIdError
from dafset.source import Source
from dafset.sources.sample import SampleSource
from dafset.sources.sample.derive import is_derived_statement

AS_OF = datetime.combine(SAMPLE_SNAPSHOT, time(0), tzinfo=UTC)
DAY = SAMPLE_SNAPSHOT
WEEK = (AS_OF - timedelta(days=7), AS_OF)


@pytest.fixture(scope="module")
def sample() -> SampleSource:
    return SampleSource()


@pytest.fixture(scope="module")
def relations(sample: SampleSource) -> list[str]:
    return list(sample.manifest["relations"])


def test_it_is_a_source(sample: SampleSource) -> None:
    assert isinstance(sample, Source)
    assert (sample.name, sample.endpoint) == ("sample", "in-process:sample")
    assert sample.as_of == AS_OF


def test_top_articles_sorted_and_scaled_to_the_window(sample: SampleSource) -> None:
    week = sample.top_articles(DAY - timedelta(days=7), DAY - timedelta(days=1), limit=25)
    assert len(week) == 25
    assert [p.views for p in week] == sorted((p.views for p in week), reverse=True)
    fortnight = sample.top_articles(DAY - timedelta(days=14), DAY - timedelta(days=1), limit=25)
    assert [p.title for p in fortnight] == [p.title for p in week]
    assert fortnight[0].views == pytest.approx(2 * week[0].views, rel=0.01)
    assert week[0].title == "United States" and not week[0].derived  # PopQA's real o_pop
    assert sample.top_articles(DAY - timedelta(days=1), DAY - timedelta(days=7), limit=5) == []


def test_items_for_titles_keys_as_given(sample: SampleSource) -> None:
    got = sample.items_for_titles(["Douglas Adams", "Douglas_Adams", "United States", "No such page", ""])
    assert got == {"Douglas Adams": "Q42", "Douglas_Adams": "Q42", "United States": "Q30"}
    assert sample.items_for_titles([]) == {}


def test_top_articles_map_to_items(sample: SampleSource) -> None:
    top = sample.top_articles(DAY - timedelta(days=7), DAY - timedelta(days=1), limit=40)
    items = sample.items_for_titles([p.title for p in top])
    assert len(items) == len(top)  # every title in the views table is a real sitelink


def test_pageviews_real_and_derived(sample: SampleSource) -> None:
    got = sample.pageviews(
        ["Douglas Adams", "Algeria", "No such page"], DAY - timedelta(days=30), DAY - timedelta(days=1)
    )
    assert set(got) == {"Douglas Adams", "Algeria"}
    assert not got["Douglas Adams"].derived and got["Douglas Adams"].views > 10_000  # real, 2018
    assert got["Algeria"].derived  # made from Algeria's real sitelink count


def test_statement_additions_only_inside_the_window(sample: SampleSource, relations: list[str]) -> None:
    start, end = WEEK
    candidates = [
        r["item"] for r in sample.select("modified_items", properties=relations, start=start, end=end)
    ]
    additions = sample.statement_additions(candidates, start, end, relations)
    assert len(additions) > 50
    for a in additions:
        assert start <= a.timestamp <= end and a.derived and a.relation_id in relations
        assert is_derived_statement(a.statement_id)
    # every addition is a statement the store holds as truthy
    facts = sample.select(
        "truthy_facts", items=sorted({a.subject_id for a in additions}), properties=relations
    )
    held = {r["statement"].rsplit("/", 1)[-1] for r in facts}
    assert {a.statement_id for a in additions} <= held
    # statement level: some items were edited in the window without any statement being added
    assert len({a.subject_id for a in additions}) < len(set(candidates))
    # the relation filter applies
    one = additions[0].relation_id
    assert {a.relation_id for a in sample.statement_additions(candidates, start, end, [one])} == {one}
    # nothing before the history, nothing in an empty window
    assert (
        sample.statement_additions(
            candidates, start - timedelta(days=3650), start - timedelta(days=3000), relations
        )
        == []
    )
    with pytest.raises(BadIdError):
        sample.statement_additions(["not-an-id"], start, end, relations)


def test_physically_new_candidates_exist(sample: SampleSource, relations: list[str]) -> None:
    start, end = WEEK
    candidates = [
        r["item"] for r in sample.select("modified_items", properties=relations, start=start, end=end)
    ]
    added = {a.statement_id for a in sample.statement_additions(candidates, start, end, relations)}
    rows = sample.select("truthy_facts", items=candidates, properties=relations)
    dated = [
        r
        for r in rows
        if r["statement"].rsplit("/", 1)[-1] in added
        and any(
            start.isoformat()[:10] <= r.get(k, "")[:10] < end.isoformat()[:10] for k in ("start", "published")
        )
    ]
    assert dated, "no added statement carries a start time / publication date inside the window"


def test_revisions_for_a_stand_in(sample: SampleSource) -> None:
    qid = next(iter(sample._revisions))
    revs = sample.revisions(qid)
    assert revs[0]["kind"] == "base"
    assert [r["revid"] for r in revs] == sorted(r["revid"] for r in revs)
    assert all(set(r) >= {"revid", "parentid", "timestamp", "comment", "adds", "derived"} for r in revs)
    assert sample.revisions("Q42") == []  # real entity: no made-up history


def test_facts(sample: SampleSource) -> None:
    facts = sample.facts(["P19"])
    assert len(facts) > 500
    assert {f["relation_id"] for f in facts} == {"P19"}
    adams = [f for f in facts if f["subject_id"] == "Q42"]
    assert adams == [
        {
            "subject_id": "Q42",
            "subject_label": "Douglas Adams",
            "relation_id": "P19",
            "object_id": "Q350",
            "object_value": "Q350",
            "object_label": None,
        }
    ]


def test_derived_fields(sample: SampleSource) -> None:
    got = sample.derived_fields(["Q42", "Q1299", "Q999999999"])
    assert got["Q42"] == [] and {"sitelinks", "statements"} <= set(got["Q1299"])
    assert "Q999999999" not in got
