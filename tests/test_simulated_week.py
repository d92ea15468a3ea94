"""The live build on a simulated week at Wikidata's real volume (``standins/week.py``, a load
simulation in the shapes of the real recordings): every recent row is a statement-level addition
inside the window (checked against the simulator's ground truth: precision 1), the sampled
relations' shares match the simulated ones, nothing the live path sends to WDQS is refused, and
the number of requests does not grow with the week."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date
from pathlib import Path

import datasets
import pytest
from standins.week import SimulatedWeek, install_week, week_ending
from typer.testing import CliRunner

from dafset.cli import app
from dafset.config import BuildConfig
from dafset.errors import ConfigError
from dafset.properties.recent_sampling import sample_additions
from dafset.relations import load_relations
from dafset.sources.live.http import HttpStats
from dafset.sources.live.live import LiveSource

SNAPSHOT = date(2026, 11, 23)
EDITS = 4_500_000


def _item_relations() -> list[str]:
    relations = load_relations()
    return [r for r in relations.ids if relations.get(r).value_type == "item"]


@pytest.fixture
def week_env(recorded_server, monkeypatch, tmp_path):
    def install(edits: int = EDITS, seed: int = 7):
        week = SimulatedWeek(seed=seed, edits=edits, start=week_ending(SNAPSHOT), relations=_item_relations())
        counters = install_week(recorded_server, week, list(load_relations().ids))
        for key, value in recorded_server.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("DAFSET_CONTACT", "dafset-tests@example.org")
        monkeypatch.setenv("DAFSET_CACHE_DIR", str(tmp_path / f"cache-{edits}"))
        monkeypatch.setenv("DAFSET_BACKOFF_BASE_S", "0.01")
        monkeypatch.setenv("DAFSET_BACKOFF_MAX_S", "0.05")
        return week, counters

    return install


def test_live_build_on_a_simulated_week_finds_only_real_additions(tmp_path: Path, week_env, recorded_server) -> None:
    week, counters = week_env()
    sizes = ["--recent", "400", "--popular", "100", "--long-tail", "150", "--robust", "60"]
    result = CliRunner().invoke(
        app,
        ["build", "--source", "live", "--snapshot", SNAPSHOT.isoformat(), "--out", str(tmp_path),
         "--no-figures", *sizes],
    )
    assert result.exit_code == 0, result.output
    published = tmp_path / "latest"
    recent = [r for split in datasets.load_dataset(str(published), "recent").values() for r in split]
    assert len(recent) >= 200
    start, end = BuildConfig(source="live", snapshot=SNAPSHOT).window
    for row in recent:  # precision 1 against the simulator's ground truth
        evidence = row["evidence"]
        assert start <= evidence["added_at"] < end
        assert week.adds(row["subject_id"], row["relation_id"], evidence["revision_id"]), row["id"]

    # unbiased: the sampled relations' shares match the simulated shares. Tolerance: 4 binomial
    # standard errors at the sample's size (clusters are slices of mostly unrelated edits).
    n = len(recent)
    got = Counter(r["relation_id"] for r in recent)
    expected = week.expected_shares()
    for relation, share in sorted(expected.items(), key=lambda kv: -kv[1])[:6]:
        tolerance = 4 * math.sqrt(share * (1 - share) / n)
        assert abs(got[relation] / n - share) <= tolerance, (relation, got[relation] / n, share)

    # the sampling design is in the manifest, and its estimate covers the simulated total
    manifest = json.loads((published / "manifest.json").read_text())
    design = manifest["harvest"]["recent"]["sampling"]
    assert 0 < design["slices_read"] < design["slices_total"]
    estimate = design["estimated_additions"]
    assert abs(estimate["total"] - week.expected_creations()) <= 4 * estimate["se"]
    entries = design["estimated_window_entries"]
    assert abs(entries["total"] - EDITS) <= 4 * entries["se"]
    assert set(design["estimated_additions_per_relation"]) <= set(expected)

    assert counters.sparql > 0 and counters.refused == 0  # nothing the live path sent was a scan


def test_recent_requests_do_not_grow_with_the_week(week_env, recorded_server) -> None:
    start, end = BuildConfig(source="live", snapshot=SNAPSHOT).window
    relations = list(load_relations().ids)
    counts = {}
    for edits in (2_000_000, 8_000_000):
        recorded_server.reset()
        week_env(edits)
        stats = HttpStats()
        drawn = sample_additions(LiveSource(cache=None, stats=stats), start, end, relations, wanted=300, seed=0)
        assert len(drawn.additions) >= 300
        counts[edits] = stats.requests
    # a week four times as busy costs about the same (slices get narrower, not more numerous)
    assert counts[8_000_000] <= 1.3 * counts[2_000_000], counts


def test_the_simulated_wdqs_refuses_a_scan_and_the_live_source_never_sends_one(week_env) -> None:
    week_env()
    source = LiveSource(cache=None)
    with pytest.raises(ConfigError, match="unbounded"):
        source.select("modified_items", properties=["P31"], start="2026-11-16T00:00:00Z", end="2026-11-23T00:00:00Z")
    from dafset.sources.queries import PREFIXES

    with pytest.raises(Exception, match=r"500|TimeoutException"):
        source.sparql.select(PREFIXES + "SELECT ?item WHERE { ?item wdt:P19 ?place } LIMIT 10", use_cache=False)
