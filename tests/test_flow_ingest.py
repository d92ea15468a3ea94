"""The ingest-dump flow on a real Prefect server with a local Dask cluster of 2 workers: the same
rows as ``dafset ingest-dump``, and a crash after some shards resumes without redoing them.

Prefect stays offline and isolated as in test_flow_build.py: a temporary PREFECT_HOME, analytics
off, the harness's server on a free 127.0.0.1 port.
"""
# ruff: noqa: E402  (Prefect is imported once its home is isolated)

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="dafset-prefect-home-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"

import pyarrow.parquet as pq
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
)
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from standins.flow_runs import subflow_task_runs

import flows.dump_tasks as dump_tasks
from dafset.sources.dump.ingest import ingest_dump as ingest_plain
from dafset.sources.dump.integrity import verify_ingest
from dafset.sources.dump.layout import write_layout
from dafset.sources.dump.sample_dump import write_sample_dump
from dafset.sources.dump.stats import duckdb_stats
from dafset.sources.dump.tables import INGEST_MANIFEST, SCHEMAS, TABLES
from flows.ingest_dump import SUMMARY_KEY, ingest_dump

pytestmark = pytest.mark.slow

HEAD50 = "entity_json/wikibase-dump-filter_latest-all_head50.json"
SHARDS = 6


@pytest.fixture(scope="module")
def prefect_api(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    with prefect_test_harness(server_startup_timeout=90):
        url = PREFECT_API_URL.value()
        # the local cluster's workers are other processes: they need the server's address
        monkeypatch_module.setenv("PREFECT_API_URL", url)
        yield url


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(autouse=True)
def _pinned_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Others edit dafset/ while these tests run; an edit would (rightly) miss the cache."""
    monkeypatch.setattr(dump_tasks, "dump_code_fingerprint", lambda: _FINGERPRINT)
    import flows.ingest_dump

    monkeypatch.setattr(flows.ingest_dump, "dump_code_fingerprint", lambda: _FINGERPRINT)


_FINGERPRINT = dump_tasks.dump_code_fingerprint()


def _rows(out: Path) -> dict[str, list[dict[str, Any]]]:
    rows = {}
    for table in TABLES:
        got = [
            r
            for p in sorted((out / table).glob("*.parquet"))
            for r in pq.read_table(p, schema=SCHEMAS[table]).to_pylist()
        ]
        rows[table] = sorted(got, key=lambda r: r["statement_id" if table == "statements" else "id"])
    return rows


def _shard_states(flow_state: Any) -> dict[str, str]:
    """Task run name -> state name, for the shard tasks of one ingest-dump run."""
    runs = subflow_task_runs(flow_state)
    states = {run.name: run.state.name for run in runs if re.fullmatch(r"shard-\d{5}", run.name)}
    assert len(states) == len([r for r in runs if r.name.startswith("shard-")]), "a shard ran twice"
    return states


def test_flow_on_a_local_cluster_gives_the_rows_of_the_cli(
    prefect_api: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    ingest_plain(fixtures_dir / HEAD50, tmp_path / "plain", shards=1)
    state = ingest_dump(
        str(fixtures_dir / HEAD50), str(tmp_path / "flow"), shards=SHARDS, workers=2, return_state=True
    )
    assert state.is_completed(), state
    result = state.result()
    assert result["entities"] == 49 and result["shards"] == SHARDS
    assert len(result["peak_rss_mb_by_worker"]) == 2  # both Dask workers ran shards
    assert all(mb > 0 for mb in result["peak_rss_mb_by_worker"].values())
    assert _shard_states(state) == {f"shard-{i:05d}": "Completed" for i in range(SHARDS)}
    assert _rows(tmp_path / "flow") == _rows(tmp_path / "plain")
    manifest = json.loads((tmp_path / "flow" / INGEST_MANIFEST).read_text())
    assert manifest["peak_rss_mb_by_worker"] == result["peak_rss_mb_by_worker"]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[SUMMARY_KEY]))
        )
    assert any("entities: 49" in (a.data or "") for a in artifacts)


def test_a_crash_after_some_shards_resumes_without_redoing_them(
    prefect_api: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    crashed = ingest_dump(
        str(fixtures_dir / HEAD50), str(out), shards=SHARDS, workers=2, fail_shard=2, return_state=True
    )
    assert crashed.is_failed()
    first = _shard_states(crashed)
    assert first.pop("shard-00002") == "Failed"
    assert set(first.values()) == {"Completed"} and len(first) == SHARDS - 1
    assert not (out / INGEST_MANIFEST).exists()
    done = {p: p.stat().st_mtime_ns for p in out.glob("*/shard-*.parquet")}
    assert len(done) == 3 * (SHARDS - 1)

    rerun = ingest_dump(str(fixtures_dir / HEAD50), str(out), shards=SHARDS, workers=2, return_state=True)
    assert rerun.is_completed(), rerun
    second = _shard_states(rerun)
    assert second.pop("shard-00002") == "Completed"
    assert set(second.values()) == {"Cached"}  # the finished shards came from the cache
    assert {p: p.stat().st_mtime_ns for p in done} == done  # and their files were not rewritten
    ingest_plain(fixtures_dir / HEAD50, tmp_path / "plain", shards=1)
    assert _rows(out) == _rows(tmp_path / "plain")
    assert json.loads((out / INGEST_MANIFEST).read_text())["entities"] == 49


def test_a_deleted_or_garbled_shard_is_redone_not_served_from_the_cache(
    prefect_api: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    """Issue 20, item 1: the shard cache is used only while the shard's files are its own."""
    out = tmp_path / "out"
    first = ingest_dump(str(fixtures_dir / HEAD50), str(out), shards=SHARDS, workers=2, return_state=True)
    assert first.is_completed(), first
    (out / "statements" / "shard-00001.parquet").unlink()
    garbled = out / "terms" / "shard-00003.parquet"
    garbled.write_bytes(b"\0" * garbled.stat().st_size)  # same size, no longer Parquet

    rerun = ingest_dump(str(fixtures_dir / HEAD50), str(out), shards=SHARDS, workers=2, return_state=True)
    assert rerun.is_completed(), rerun
    states = _shard_states(rerun)
    assert (states.pop("shard-00001"), states.pop("shard-00003")) == ("Completed", "Completed")
    assert set(states.values()) == {"Cached"}
    assert verify_ingest(out)["entities"] == 49  # every file whole and as ingest.json records it
    ingest_plain(fixtures_dir / HEAD50, tmp_path / "plain", shards=1)
    assert _rows(out) == _rows(tmp_path / "plain")


def test_build_flow_stages_are_not_served_for_another_dump_in_the_same_folder(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20, item 1: re-ingesting another dump into the dump folder invalidates every cached
    stage that read it; an unchanged folder still resumes from the cache. Harvests are counted
    where they run (a cached task does not run), not read back from the server's task runs, which
    Prefect records through its events stream."""
    from dafset.build import pipeline
    from flows.build_dafset import build_dafset

    whole = tmp_path / "whole.json"
    write_sample_dump(whole)
    lines = whole.read_bytes().splitlines(keepends=True)
    fewer = tmp_path / "fewer.json"  # another dump: every fourth entity line left out
    fewer.write_bytes(b"".join(line for i, line in enumerate(lines) if i in (0, len(lines) - 1) or i % 4))
    folder, out = tmp_path / "dump", tmp_path / "dafset"
    harvested: list[str] = []
    real_harvest = pipeline.harvest

    def counted(cfg: Any, prop: str, previous: Any) -> Any:
        harvested.append(prop)
        return real_harvest(cfg, prop, previous)

    monkeypatch.setattr(pipeline, "harvest", counted)  # the task's source is unchanged: same cache keys

    def build() -> list[str]:
        harvested.clear()
        state = build_dafset(
            source="dump", dump_dir=str(folder), out=str(out), sizes=SIZES, figures=False, return_state=True
        )
        assert state.is_completed(), state
        return sorted(harvested)

    def cases() -> list[str]:
        latest = out / "latest" / "data"
        return sorted(r["id"] for p in sorted(latest.glob("*/*.parquet")) for r in pq.read_table(p).to_pylist())

    every = sorted(("recent", "popular", "long_tail"))
    ingest_plain(whole, folder)
    duckdb_stats(folder)
    write_layout(folder)  # what `dafset dump-stats` writes after the statistics
    assert build() == every
    first = cases()
    assert build() == []  # same data: every harvest is served from the cache
    ingest_plain(fewer, folder)
    duckdb_stats(folder)
    write_layout(folder)
    assert build() == every  # another dump in the same folder: nothing stale is served
    assert cases() != first


SIZES = {"recent": 20, "popular": 20, "long_tail": 20, "robust": 10}


def test_prefect_yaml_runs_the_ingest_before_the_weekly_build() -> None:
    import yaml

    from flows.ingest_dump import ingest_dump as flow_

    doc = yaml.safe_load((REPO / "prefect.yaml").read_text())
    by_entry = {d["entrypoint"]: d for d in doc["deployments"] if d["name"] == "weekly"}
    ingest = by_entry["flows/ingest_dump.py:ingest_dump"]
    build = by_entry["flows/build_dafset.py:build_dafset"]
    assert set(ingest["parameters"]) <= set(flow_.parameters.properties)
    assert ingest["work_pool"]["name"] == build["work_pool"]["name"]
    (ingest_at,), (build_at,) = ingest["schedules"], build["schedules"]
    assert ingest_at["timezone"] == build_at["timezone"] and ingest_at["active"]
    minute, hour, *days = ingest_at["cron"].split()
    b_minute, b_hour, *b_days = build_at["cron"].split()
    assert days == b_days  # the same weekday ...
    assert (int(hour), int(minute)) < (int(b_hour), int(b_minute))  # ... earlier that day
