"""The two recency strategies (per item, recent-changes sweep) find the same statement additions,
and both match the sample's own revision log, through the live MediaWiki client."""

from __future__ import annotations

from datetime import timedelta

from dafset.config import SAMPLE_SNAPSHOT, BuildConfig
from dafset.properties.facts import statement_key
from dafset.relations import load_relations
from dafset.sources.live import recency
from dafset.sources.live.live import LiveSource
from dafset.sources.sample.source import SampleSource


def test_sweep_and_per_item_agree_with_the_sample(live_sample_standins, monkeypatch) -> None:
    start, end = BuildConfig(snapshot=SAMPLE_SNAPSHOT).window
    relations = list(load_relations().ids)
    sample = SampleSource()
    items = [r["item"] for r in sample.select("modified_items", properties=relations, start=start, end=end)]
    assert len(items) >= recency.SWEEP_FROM_ITEMS
    live = LiveSource(cache=None)

    swept = live.statement_additions(items, start, end, relations)
    sweeps = [r for r in live_sample_standins.recorded.requests if r.params.get("list") == "recentchanges"]
    assert sweeps, "many items should take one recent-changes sweep"

    monkeypatch.setattr(recency, "SWEEP_FROM_ITEMS", 10**9)
    per_item = live.statement_additions(items, start, end, relations)

    def key(additions):
        return sorted(
            (a.subject_id, a.relation_id, statement_key(a.statement_id), a.revision_id) for a in additions
        )

    assert swept and key(swept) == key(per_item)
    # (start, end] on the live side, [start, end] in the sample: no sample timestamp sits on a bound
    expected = sample.statement_additions(items, start + timedelta(microseconds=1), end, relations)
    assert key(swept) == key(expected)
