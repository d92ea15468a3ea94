"""The build-dafset flow against a real Prefect server (one per session): the weekly deployment
run through the real CLI and a process worker, resuming after a crash, Dask, and the live code
path against the recorded-response stand-ins with faults.

Prefect stays offline and isolated: a temporary PREFECT_HOME, analytics off, and the harness's
server on a free 127.0.0.1 port (any developer's PREFECT_API_URL is ignored).
"""
# ruff: noqa: E402  (flows/ is imported once the checkout is on sys.path and Prefect is isolated)

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # flows/ is a top-level package of the checkout, not installed

# before Prefect is imported: its settings are read once
_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="dafset-prefect-home-"))
os.environ["PREFECT_HOME"] = str(_PREFECT_HOME)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"

import datasets
import pyarrow.parquet as pq
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    DeploymentFilter,
    DeploymentFilterName,
)
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from standins.flow_runs import subflow_task_runs

import flows.build_dafset as build_module
from dafset.config import SAMPLE_SNAPSHOT
from flows.build_dafset import build_dafset
from flows.report import SUMMARY_KEY, TABLE_KEY
from flows.setup import WORK_POOL

pytestmark = pytest.mark.slow

PREFECT = str(Path(sys.executable).with_name("prefect"))
SIZES = {"recent": 50, "popular": 50, "long_tail": 60, "robust": 30}
SIZES_JSON = json.dumps(SIZES)
# the stages that must come from the cache on a rerun after fail_after="assemble"
DONE_BEFORE_CRASH = (
    "check-relations",
    "harvest-recent",
    "harvest-popular",
    "harvest-long_tail",
    "enrich",
    "likelihood",
    "assemble",
)


@dataclass(frozen=True)
class Server:
    api_url: str
    startup_s: float


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[Server]:
    began = time.perf_counter()
    with prefect_test_harness(server_startup_timeout=90):
        server = Server(PREFECT_API_URL.value(), time.perf_counter() - began)
        print(f"\nprefect server ready in {server.startup_s:.1f} s at {server.api_url}")
        yield server


def _cli_env(server: Server, home: Path) -> dict[str, str]:
    """The environment of the prefect CLI, the worker and the flow runs it starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_API_URL=server.api_url,
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_LOGGING_LEVEL="INFO",
        PWD=str(REPO),
    )
    return env


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def prefect_setup(prefect_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Server:
    """``python -m flows.setup``, twice: it creates the limit and the pool, then changes nothing."""
    env = _cli_env(prefect_server, tmp_path_factory.mktemp("setup-home"))
    first = _run([sys.executable, "-m", "flows.setup"], env, timeout=120).stdout
    second = _run([sys.executable, "-m", "flows.setup"], env, timeout=120).stdout
    assert "created global concurrency limit 'wikidata-query-service' (limit 1)" in first
    assert f"created work pool '{WORK_POOL}'" in first
    assert "created" not in second and "already" in second
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name("wikidata-query-service").limit == 1
        assert client.read_work_pool(WORK_POOL).type == "process"
    return prefect_server


@pytest.fixture(autouse=True)
def _pinned_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other engineers edit dafset/ while these tests run, and any edit changes the code
    fingerprint (so no cache hit, by design). Pin it for in-process runs; the fingerprint itself is
    tested in test_flow_policy.py."""
    monkeypatch.setattr(build_module, "code_fingerprint", lambda: _FINGERPRINT)


_FINGERPRINT = build_module.code_fingerprint()


def _parquet_rows(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every published row, per config/split shard file, ordered by id: the content a user loads."""
    snapshot = (root / "latest").resolve()
    rows = {}
    for path in sorted((snapshot / "data").glob("*/*.parquet")):
        rows[path.relative_to(snapshot).as_posix()] = sorted(
            pq.read_table(path).to_pylist(), key=lambda r: r["id"]
        )
    assert rows, f"no Parquet under {snapshot}"
    return rows


def _build(out: Path, **params: Any) -> Any:
    """One in-process flow run; returns its final state."""
    began = time.perf_counter()
    state = build_dafset(out=str(out), sizes=SIZES, figures=False, return_state=True, **params)
    print(f"\nflow run {params or ''} -> {state.name} in {time.perf_counter() - began:.1f} s")
    return state


def _stage_runs(flow_state: Any) -> dict[str, Any]:
    """Task name -> task run, in the stages subflow of one build-dafset run."""
    runs = subflow_task_runs(flow_state)
    by_name = {}
    for run in runs:
        # "harvest-recent" is named by a template; others get a random "-abc" suffix
        name = re.sub(r"-[0-9a-f]{3}$", "", run.name)
        assert name not in by_name, f"{name} ran twice"
        by_name[name] = run
    return by_name


def _stage_states(flow_state: Any) -> dict[str, str]:
    return {name: run.state.name for name, run in _stage_runs(flow_state).items()}


@pytest.fixture(scope="module")
def clean_run(prefect_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain sample build on the thread runner: the reference output."""
    out = tmp_path_factory.mktemp("clean") / "out"
    state = _build(out, source="sample")
    assert state.is_completed(), state
    return out


def test_a_missing_limit_is_an_error_not_no_limit(prefect_server: Server) -> None:
    from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError

    from flows.policy import query_service_slot

    with (
        pytest.raises(ConcurrencySlotAcquisitionError),
        query_service_slot("live", limit="dafset-no-such-limit"),
    ):
        pytest.fail("entered without a slot")


# -- the weekly deployment, end to end through the CLI ---------------------------------------------


def test_weekly_deployment_runs_from_the_cli(
    prefect_setup: Server, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = _cli_env(prefect_setup, tmp_path_factory.mktemp("cli-home"))
    began = time.perf_counter()
    _run([PREFECT, "--no-prompt", "deploy", "--name", "weekly"], env, timeout=240)
    deployed_s = time.perf_counter() - began

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("build-dafset/weekly")
    assert deployment.work_pool_name == WORK_POOL
    assert deployment.entrypoint == "flows/build_dafset.py:build_dafset"
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 4 * * 1" and schedule.schedule.timezone == "Europe/Berlin"
    assert deployment.parameters["source"] == "live"  # the weekly default; overridden below
    # the build step recorded this checkout, so the worker runs the flow from here
    assert deployment.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    ]

    out = tmp_path / "weekly-out"
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", WORK_POOL, "--type", "process", "--limit", "1"],
        cwd=tmp_path,  # not the checkout: the pull step must find it
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        began = time.perf_counter()
        # the documented trigger; --param values are parsed as JSON (sizes becomes a dict)
        trigger = [PREFECT, "deployment", "run", "build-dafset/weekly", "--watch", "--watch-timeout", "400"]
        trigger += ["--param", "source=sample", "--param", f"out={out}", "--param", f"sizes={SIZES_JSON}"]
        run = subprocess.run(trigger, cwd=REPO, env=env, capture_output=True, text=True, timeout=450)
        run_s = time.perf_counter() - began
    finally:
        os.killpg(worker.pid, signal.SIGINT)
        try:
            worker_log, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker_log, _ = worker.communicate()
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n--- worker ---\n{worker_log}"
    print(f"\ndeploy {deployed_s:.1f} s; deployment run --watch {run_s:.1f} s")

    with get_client(sync_client=True) as client:
        (flow_run,) = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["weekly"]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    assert flow_run.state.is_completed(), flow_run.state
    assert flow_run.parameters["source"] == "sample" and flow_run.parameters["sizes"] == SIZES

    snapshot = out / "snapshots" / SAMPLE_SNAPSHOT.isoformat()
    assert (out / "latest").resolve() == snapshot.resolve()
    configs = datasets.get_dataset_config_names(str(snapshot))
    assert set(configs) == {"all", "recent", "popular", "long_tail", "robust"}
    loaded = datasets.load_dataset(str(snapshot))  # the default config: all
    assert set(loaded) == {"train", "validation", "test"}
    total = sum(len(split) for split in loaded.values())
    assert 0 < total <= sum(SIZES.values())
    assert set(loaded["train"]["property"]) == {"recent", "popular", "long_tail", "robust"}
    recent = datasets.load_dataset(str(snapshot), "recent")
    assert sum(len(s) for s in recent.values()) == sum(
        1 for s in loaded.values() for p in s["property"] if p == "recent"
    )

    by_key = {a.key: a for a in artifacts}
    assert {TABLE_KEY, SUMMARY_KEY} <= set(by_key)
    table = by_key[TABLE_KEY].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert sum(r["n"] for r in rows if r["config"] != "all") == total
    assert sum(r["n"] for r in rows if r["config"] == "all") == total
    assert {r["criterion"] for r in rows if r["config"] == "long_tail"} >= {"frequency", "degree"}
    summary = by_key[SUMMARY_KEY].data
    assert str(snapshot.resolve()) in summary and "figures/" in summary


def test_serve_runs_the_deployment_without_a_work_pool(
    prefect_setup: Server, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = _cli_env(prefect_setup, tmp_path_factory.mktemp("serve-home"))
    out = tmp_path / "served-out"
    serve_cmd = [sys.executable, "-m", "flows.serve", "--name", "serve-check", "--no-schedule"]
    serve_cmd += ["--source", "sample", "--out", str(out)]
    server = subprocess.Popen(
        serve_cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:  # serve registers the deployment, then polls for its runs
            with get_client(sync_client=True) as client:
                try:
                    deployment = client.read_deployment_by_name("build-dafset/serve-check")
                    break
                except ObjectNotFound:
                    pass
            assert server.poll() is None and time.monotonic() < deadline, "serve did not register"
            time.sleep(1)
        assert deployment.parameters == {"source": "sample", "out": str(out), "runner": "thread"}
        trigger = [
            PREFECT,
            "deployment",
            "run",
            "build-dafset/serve-check",
            "--watch",
            "--watch-timeout",
            "400",
        ]
        trigger += ["--param", f"sizes={SIZES_JSON}", "--param", "figures=false"]
        run = subprocess.run(trigger, cwd=REPO, env=env, capture_output=True, text=True, timeout=450)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            serve_log, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            serve_log, _ = server.communicate()
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n--- serve ---\n{serve_log}"
    loaded = datasets.load_dataset(str(out / "latest"), "popular")
    assert sum(len(split) for split in loaded.values()) == SIZES["popular"]
    with get_client(sync_client=True) as client:  # stopping serve paused its schedule
        assert client.read_deployment_by_name("build-dafset/serve-check").paused


# -- resuming after a crash -------------------------------------------------------------------------


def test_rerun_after_a_crash_resumes_from_cached_stages(clean_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    crashed = _build(out, source="sample", fail_after="assemble")
    assert crashed.is_failed() and "fail_after='assemble'" in crashed.message
    assert not (out / "latest").exists()  # nothing was published
    first = _stage_states(crashed)
    assert all(first[name] == "Completed" for name in DONE_BEFORE_CRASH), first
    assert "split" not in first and "publish" not in first

    rerun = _build(out, source="sample")
    assert rerun.is_completed(), rerun
    second = _stage_states(rerun)
    # finished stages came from the result store, their code did not run again
    assert {name: second[name] for name in DONE_BEFORE_CRASH} == dict.fromkeys(DONE_BEFORE_CRASH, "Cached")
    assert second["split"] == "Completed" and second["publish"] == "Completed"
    assert _parquet_rows(out) == _parquet_rows(clean_run)


# -- Dask -------------------------------------------------------------------------------------------


def test_dask_local_cluster_gives_the_thread_runners_output(
    clean_run: Path, prefect_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client, LocalCluster

    # the workers are other processes: they need the server's address in their environment
    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    out = tmp_path / "out"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        state = _build(out, source="sample", runner="dask", dask_address=cluster.scheduler_address)
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert state.is_completed(), state
    assert len(executed) == 2
    # every stage ran on a worker: relations, previous, 3 harvests, enrich, likelihood, assemble,
    # split, publish
    assert sum(executed.values()) >= 10, executed
    assert _parquet_rows(out) == _parquet_rows(clean_run)


# -- the live code path against the stand-ins, with faults --------------------------------------------


def test_live_build_with_faults_matches_the_fault_free_build(
    prefect_setup: Server, live_sample_standins: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fixture points DAFSET_* at the stand-ins (SPARQL: oxigraph serve with the sample's RDF;
    # MediaWiki and pageviews: the recorded-response server) with short request-level backoff
    recorded = live_sample_standins.recorded
    day = SAMPLE_SNAPSHOT.isoformat()  # the stand-ins serve the sample's week
    began = datetime.now(UTC)

    recorded.clear_faults()
    monkeypatch.setenv("DAFSET_CACHE_DIR", str(tmp_path / "http-cache-clean"))  # no response reuse
    clean = _build(tmp_path / "clean", source="live", snapshot=day)
    assert clean.is_completed(), clean
    clean_requests = len(recorded.requests)
    assert clean_requests > 20 and not recorded.faults.served

    live_sample_standins.faults(0.2, 7)  # 429 with Retry-After, 503, truncated bodies
    monkeypatch.setenv("DAFSET_CACHE_DIR", str(tmp_path / "http-cache-faulty"))
    faulty = _build(tmp_path / "faulty", source="live", snapshot=day)
    served = list(recorded.faults.served)
    recorded.clear_faults()
    assert faulty.is_completed(), faulty

    faulty_requests = len(recorded.requests) - clean_requests
    kinds = {kind for _, kind in served}
    print(
        f"\nfault-free: {clean_requests} requests; with faults: {faulty_requests} requests, {len(served)} faults {sorted(kinds)}"
    )
    assert kinds >= {"429", "503"} and kinds & {"truncated_length", "truncated_json"}
    assert 0.1 < len(served) / faulty_requests < 0.3  # about a fifth, as asked
    assert faulty_requests == clean_requests + len(served)  # each fault cost exactly one retry
    manifest = json.loads((tmp_path / "faulty" / "latest" / "manifest.json").read_text())
    assert manifest["source"] == "live"
    assert manifest["endpoint"] == live_sample_standins.env["DAFSET_SPARQL_ENDPOINT"]
    assert _parquet_rows(tmp_path / "faulty") == _parquet_rows(tmp_path / "clean")

    # the query service's limit was taken around every source stage, one holder at a time
    # (2 builds x 5 source stages: 3 harvests, enrich, assemble's portability hops) x acquire/release
    held = _slots_held_over_time("wikidata-query-service", since=began, at_least=2 * 5 * 2)
    assert max(held) == 1 and held[-1] == 0, held


def test_tasks_retry_transient_failures_only(
    prefect_setup: Server, live_sample_standins: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import tasks

    recorded = live_sample_standins.recorded
    day = SAMPLE_SNAPSHOT.isoformat()
    # two attempts per request in the HTTP layer, then the task's own retry (made quick here)
    monkeypatch.setenv("DAFSET_MAX_RETRIES", "1")
    monkeypatch.setattr(tasks, "harvest", tasks.harvest.with_options(retry_delay_seconds=[0.1, 0.1, 0.1]))

    # transient: the first SPARQL query answers 503 twice, the HTTP layer gives up, Prefect retries
    recorded.clear_faults()
    recorded.fail_next("503", times=2, match="/sparql")
    monkeypatch.setenv("DAFSET_CACHE_DIR", str(tmp_path / "cache-transient"))
    state = _build(tmp_path / "transient", source="live", snapshot=day)
    assert state.is_completed(), state
    runs = _stage_runs(state)
    harvests = {name: run for name, run in runs.items() if name.startswith("harvest-")}
    assert sorted(run.run_count for run in harvests.values()) == [1, 1, 2], harvests
    assert all(run.run_count == 1 for name, run in runs.items() if name not in harvests)

    # permanent: a 404 from the endpoint fails the task at once, no retry
    recorded.clear_faults()
    recorded.fail_next("status", times=1, match="/sparql", status=404)
    monkeypatch.setenv("DAFSET_CACHE_DIR", str(tmp_path / "cache-permanent"))
    state = _build(tmp_path / "permanent", source="live", snapshot=day)
    recorded.clear_faults()
    assert state.is_failed() and "404" in state.message, state
    failed = [run for run in _stage_runs(state).values() if run.state.is_failed()]
    assert len(failed) == 1 and failed[0].run_count == 1, failed
    assert not (tmp_path / "permanent" / "latest").exists()


def _slots_held_over_time(limit: str, since: Any, at_least: int) -> list[int]:
    """Slots of ``limit`` held after each acquired/released event, in time order."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventOrder

    with get_client(sync_client=True) as client:
        limit_id = client.read_global_concurrency_limit_by_name(limit).id
        deadline = time.monotonic() + 20
        while True:  # events reach the server asynchronously
            flt = EventFilter(  # a new one each time: ``until`` defaults to now
                occurred=EventOccurredFilter(since=since),
                event=EventNameFilter(
                    name=["prefect.concurrency-limit.acquired", "prefect.concurrency-limit.released"]
                ),
                order=EventOrder.ASC,
            )
            page = client.read_events(filter=flt, limit=50)
            found = list(page.events)
            while page.next_page:
                page = client.read_events_page(page.next_page)
                found += page.events
            events = [e for e in found if e.resource.id == f"prefect.concurrency-limit.{limit_id}"]
            if len(events) >= at_least or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert len(events) >= at_least, [e.event for e in events]
    held, now = [], 0
    for event in sorted(events, key=lambda e: e.occurred):
        now += 1 if event.event.endswith("acquired") else -1
        held.append(now)
    return held


@pytest.fixture(scope="module", autouse=True)
def _cleanup_prefect_home() -> Iterator[None]:
    yield
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)
