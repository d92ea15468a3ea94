"""The recent sampler on the bundled sample (census when it wants more than the window holds, a
subset of whole slices otherwise) and the edit-summary filter on the real recorded summaries."""

from __future__ import annotations

import json
from pathlib import Path

from dafset.config import SAMPLE_SNAPSHOT, BuildConfig
from dafset.properties.autocomment import claim_hint, is_candidate
from dafset.properties.facts import statement_key
from dafset.properties.long_tail import random_pool
from dafset.properties.recent_sampling import sample_additions
from dafset.relations import load_relations
from dafset.sources.sample.source import SampleSource


def test_summaries_from_the_real_recordings(fixtures_dir: Path) -> None:
    seen = {}
    for path in sorted((fixtures_dir / "mediawiki_api").glob("editgroups_eventstreams_recentchange_*.jsonl")):
        for line in path.read_text().splitlines():
            comment = json.loads(line).get("comment", "")
            seen[comment] = claim_hint(comment)
    named = {c: h for c, h in seen.items() if c.startswith("/* wbcreateclaim-create") or c.startswith("/* wbsetclaim-create")}
    assert named and all(h is not None and f"[[Property:{h.property}]]" in c for c, h in named.items())
    assert claim_hint("/* wbcreateclaim-create:1| */ [[Property:P31]]: [[Q46190676]], #petscan").property == "P31"
    assert claim_hint("/* wbeditentity-create:0| */ #quickstatements").property is None
    for comment, hint in seen.items():
        if comment.startswith(("/* wbsetdescription", "/* wbsetlabel", "/* wbsetreference", "/* wbsetclaim-update")):
            assert hint is None, comment
    assert is_candidate("/* wbcreateclaim-create:1| */ [[Property:P31]]: [[Q5]]", {"P19"}) is None
    assert is_candidate("/* wbcreateclaim-create:1| */ [[Property:P19]]: [[Q5]]", {"P19"}) is not None


def test_census_when_the_window_holds_fewer_than_wanted() -> None:
    source = SampleSource()
    relations = list(load_relations().ids)
    start, end = BuildConfig(snapshot=SAMPLE_SNAPSHOT).window
    drawn = sample_additions(source, start, end, relations, wanted=10**6, seed=0)
    items = sorted({c.title for c in source.recent_changes(start, end)})
    census = [a for a in source.statement_additions(items, start, end, relations) if a.timestamp < end]
    assert drawn.additions
    assert {statement_key(a.statement_id) for a in drawn.additions} == {
        statement_key(a.statement_id) for a in census
    }
    design = drawn.design
    assert design["slices_read"] == design["slices_total"]
    assert design["estimated_additions"] == {"total": float(len(drawn.additions)), "se": 0.0}


def test_a_smaller_want_reads_whole_slices_only(monkeypatch) -> None:
    from dafset.properties import recent_sampling

    monkeypatch.setattr(recent_sampling, "SLICE_TARGET", 10)  # the sample's week is one slice otherwise
    source = SampleSource()
    relations = list(load_relations().ids)
    start, end = BuildConfig(snapshot=SAMPLE_SNAPSHOT).window
    full = sample_additions(source, start, end, relations, wanted=10**6, seed=0)
    part = sample_additions(source, start, end, relations, wanted=40, seed=0)
    assert 40 <= len(part.additions) < len(full.additions)
    assert part.design["slices_read"] < part.design["slices_total"]
    width = part.design["slice_seconds"]
    slices = {int((a.timestamp - start).total_seconds() // width) for a in part.additions}
    # every addition of a slice that was read is in the sample (slices are read whole)
    for a in full.additions:
        if int((a.timestamp - start).total_seconds() // width) in slices:
            assert a in part.additions
    again = sample_additions(source, start, end, relations, wanted=40, seed=0)
    assert again.additions == part.additions  # seeded
    other = sample_additions(source, start, end, relations, wanted=40, seed=1)
    assert other.additions != part.additions


def test_the_long_tail_pool_is_not_the_first_items_by_id() -> None:
    source = SampleSource()
    relations = list(load_relations().ids)
    pool = random_pool(source, relations, 300)
    assert len(pool) == 300
    by_id = sorted(pool, key=lambda q: (len(q), q))
    assert pool != by_id
    having = {r["item"] for r in source.select("items_with_relations", items=pool[:200], properties=relations)}
    assert having == set(pool[:200])
