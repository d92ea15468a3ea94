"""The bundled sample tells the truth about itself (issue 18, items 10-12): it is dated by its data,
every made-up value is flagged on its row, and a famous entity never lands in long_tail."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dafset.config import SAMPLE_SNAPSHOT, BuildConfig
from dafset.errors import ConfigError
from dafset.properties.long_tail import RARE_KEY, harvest_long_tail
from dafset.properties.popularity import FAMOUS_SITELINKS, Guard
from dafset.properties.recent import harvest_recent
from dafset.relations import load_relations
from dafset.sources.sample import SampleSource

DEBORAH_KERR, GEORGE_WASHINGTON, HENRY_FEILDEN = "Q104146", "Q23", "Q5725578"
GARCIA_MEZA = "Q467929"  # president of Bolivia in 1980; the sample dates his statement's start


@pytest.fixture(scope="module")
def sample() -> SampleSource:
    return SampleSource()


def test_the_sample_is_dated_by_its_data_and_refuses_later_builds(sample: SampleSource) -> None:
    block = sample.manifest["data_date"]
    assert block["snapshot"] == SAMPLE_SNAPSHOT.isoformat() == sample.as_of.date().isoformat()
    assert (
        block["sources"]["bear"]["date"] <= block["snapshot"] and block["sources"]["popqa"]["date"] < "2022"
    )
    # a version newer than the date is left out (Bielefeld's 2023 revision)
    assert "Q2112" in block["sources"]["entity_json"]["left_out_newer_than_snapshot"]
    with pytest.raises(ConfigError, match="data date"):
        BuildConfig(source="sample", snapshot=SAMPLE_SNAPSHOT + timedelta(days=1))
    assert BuildConfig(source="sample", snapshot=SAMPLE_SNAPSHOT - timedelta(days=14)).window


def test_popularity_uses_only_real_signals(sample: SampleSource) -> None:
    first, last = SAMPLE_SNAPSHOT - timedelta(days=7), SAMPLE_SNAPSHOT - timedelta(days=1)
    guard = Guard(sample, first, last)
    kept = guard([GEORGE_WASHINGTON, DEBORAH_KERR, HENRY_FEILDEN])
    signals = guard.signals
    assert signals[GEORGE_WASHINGTON].verdict == "famous"  # real sitelinks from the entity JSON
    assert signals[GEORGE_WASHINGTON].sitelinks >= FAMOUS_SITELINKS
    # BEAR carries no popularity: her made-up sitelink count is not evidence of rarity
    assert "sitelinks" in sample.derived_fields([DEBORAH_KERR])[DEBORAH_KERR]
    assert signals[DEBORAH_KERR].verdict == "unknown"
    assert signals[HENRY_FEILDEN].verdict == "rare" and signals[HENRY_FEILDEN].views  # PopQA's s_pop
    assert kept == [HENRY_FEILDEN]


def test_long_tail_chooses_only_entities_known_rare(sample: SampleSource) -> None:
    cfg = BuildConfig(long_tail_pool=300)
    rows, report = harvest_long_tail(sample, cfg, list(load_relations().ids))
    guard = report["popularity_guard"]
    assert guard["pool_unknown"] > 0 and guard["pool_rare"] > 0
    assert sum(guard[k] for k in ("pool_rare", "pool_famous", "pool_unknown")) == report["pool"]
    rare = [r for r in rows if r[RARE_KEY]]
    made_up = sample.derived_fields([r["subject_id"] for r in rare])
    # each has a real signal: page views, or a sitelink count the sample did not make up
    assert rare and all(
        r["pageviews"] is not None or "sitelinks" not in made_up.get(r["subject_id"], []) for r in rare
    )
    assert not any(r[RARE_KEY] for r in rows if r["subject_id"] in (DEBORAH_KERR, GEORGE_WASHINGTON))


def test_recent_rows_flag_what_is_made_up(sample: SampleSource) -> None:
    cfg = BuildConfig(source="sample")
    rows, _, _, _ = harvest_recent(sample, cfg, list(load_relations().ids))
    assert rows and all({"added_at", "revision_id"} <= set(r["derived"]) for r in rows)
    new = [r for r in rows if r["physically_new"]]
    assert new and all("physically_new" in r["derived"] for r in new)  # every date is a made-up one
    garcia = [r for r in rows if r["subject_id"] == GARCIA_MEZA]
    assert all("physically_new" in r["derived"] for r in garcia if r["physically_new"])


def test_a_sample_build_says_so(sample_build: Path, sample: SampleSource) -> None:
    manifest = json.loads((sample_build / "manifest.json").read_text())
    assert manifest["snapshot_date"] == manifest["data_date"]["snapshot"] == SAMPLE_SNAPSHOT.isoformat()
    card = (sample_build / "README.md").read_text()
    assert f"dated {SAMPLE_SNAPSHOT.isoformat()}, the date of its data" in card
    rows: list[dict[str, Any]] = []
    for path in sorted((sample_build / "data").glob("*/*.parquet")):
        rows += pq.read_table(path).to_pylist()
    made_up = sample.derived_fields(sorted({r["subject_id"] for r in rows}))
    for r in rows:
        ev = r["evidence"]
        if r["property"] == "recent":
            assert "added_at" in ev["derived"]
            assert not ev["physically_new"] or "physically_new" in ev["derived"]
        if ev["sitelinks"] is not None and "sitelinks" in made_up.get(r["subject_id"], []):
            assert "sitelinks" in ev["derived"]  # a made-up count is flagged on its row
        if r["property"] == "long_tail":  # a real signal shows each long-tail subject is rare
            assert ev["pageviews"] is not None or "sitelinks" not in ev["derived"]
            assert (
                ev["sitelinks"] is None or "sitelinks" in ev["derived"] or ev["sitelinks"] < FAMOUS_SITELINKS
            )
