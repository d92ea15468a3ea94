"""The orchestration's decisions, checked without a Prefect server: which failures are retried,
how tasks cache, what the deployment declares, and the fingerprint that keys the cache."""
# ruff: noqa: E402  (flows/ is imported once the checkout is on sys.path)

from __future__ import annotations

import http.client
import io
import pickle
import shutil
import sys
import urllib.error
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pyarrow as pa
import pytest
import requests
import yaml
from prefect.cache_policies import NO_CACHE, RUN_ID, TASK_SOURCE, CompoundCachePolicy, Inputs
from prefect.serializers import JSONSerializer
from prefect.states import Completed, Failed
from prefect.utilities.collections import visit_collection
from prefect.utilities.hashing import hash_objects
from SPARQLWrapper.SPARQLExceptions import EndPointInternalError, QueryBadFormed

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # flows/ is a top-level package of the checkout, not installed

from dafset.config import SAMPLE_SNAPSHOT
from dafset.errors import ConfigError, SourceError
from dafset.sources.live.http import TransientError
from flows import policy, tasks
from flows.build_dafset import (
    build_dafset,
    code_fingerprint,
    model_fingerprint,
    snapshot_date,
    task_runner,
)
from flows.bulk import Bulk
from flows.policy import is_transient, retry_transient
from flows.serve import CRON, TIMEZONE
from flows.setup import WORK_POOL


def _http_error(code: int, retry_after: str | None = None) -> urllib.error.HTTPError:
    headers = Message()
    if retry_after:
        headers["Retry-After"] = retry_after
    return urllib.error.HTTPError("http://127.0.0.1/sparql", code, "x", headers, io.BytesIO(b""))


def _raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:
        return exc


def _raised_while_handling(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the implicit context is the point
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        TransientError("HTTP 429", retry_after=3),
        _raised_from(SourceError("GET x: gave up after 6 attempts"), TransientError("HTTP 503")),
        _http_error(429, "5"),
        _http_error(503),
        _http_error(500),
        requests.ConnectionError("reset"),
        requests.ReadTimeout("slow"),
        requests.exceptions.ChunkedEncodingError("cut"),
        http.client.IncompleteRead(b"{", 100),
        EndPointInternalError("java.util.concurrent.TimeoutException"),
        urllib.error.URLError(ConnectionRefusedError()),
        TimeoutError(),
        _raised_from(RuntimeError("wrapped"), TransientError("truncated body: 10 of 99 bytes")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_failures_are_retried(exc: BaseException) -> None:
    assert is_transient(exc)
    assert retry_transient(None, None, Failed(data=exc))


@pytest.mark.parametrize(
    "exc",
    [
        SourceError("GET x: HTTP 404 Not Found"),
        _raised_from(SourceError("SPARQL: HTTP 403"), _http_error(403)),
        _raised_from(SourceError("SPARQL: QueryBadFormed"), QueryBadFormed("bad")),
        # the server asked for a pause longer than the policy allows: a refusal, even though the
        # SourceError was raised while handling a 429
        _raised_while_handling(SourceError("server asks to wait 3600 s"), _http_error(429, "3600")),
        _http_error(404),
        ConfigError("relations.yaml:3: bad"),
        KeyError("P19"),
        ValueError("bug"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_permanent_failures_are_not_retried(exc: BaseException) -> None:
    assert not is_transient(exc)
    assert not retry_transient(None, None, Failed(data=exc))


def test_a_completed_state_is_not_retried() -> None:
    assert not retry_transient(None, None, Completed(data=1))


def _policies(task: object) -> list[object]:
    cache_policy = task.cache_policy  # type: ignore[attr-defined]
    return list(cache_policy.policies) if isinstance(cache_policy, CompoundCachePolicy) else [cache_policy]


@pytest.mark.parametrize(
    "task",
    [
        tasks.check_relations,
        tasks.harvest,
        tasks.enrich,
        tasks.likelihood,
        tasks.assemble_samples,
        tasks.split,
    ],
    ids=lambda t: t.name,
)
def test_stages_cache_by_inputs_and_source_across_runs(task: object) -> None:
    parts = _policies(task)
    assert any(isinstance(p, Inputs) for p in parts)
    assert TASK_SOURCE in parts
    assert RUN_ID not in parts  # DEFAULT's RUN_ID would stop a rerun from resuming
    assert task.persist_result is True  # type: ignore[attr-defined]
    assert task.cache_expiration == timedelta(days=6)  # type: ignore[attr-defined]


def test_side_effects_are_never_cached() -> None:
    for task in (tasks.publish, tasks.previous_facts, tasks.report):
        assert task.cache_policy is NO_CACHE, task.name


def test_only_source_stages_retry_and_only_on_transient_errors() -> None:
    for task in (tasks.harvest, tasks.enrich):
        assert task.retries == policy.TASK_RETRIES > 0
        assert task.retry_condition_fn is retry_transient
        assert task.retry_jitter_factor and task.retry_jitter_factor > 0
        delays = task.retry_delay_seconds
        assert isinstance(delays, list) and delays == sorted(delays) and delays[0] < delays[-1]
    for task in (tasks.assemble_samples, tasks.split, tasks.publish):
        assert task.retries == 0, task.name


def test_bulk_inputs_are_keyed_by_content_not_identity() -> None:
    facts = [{"subject_id": "Q42", "relation_id": "P19", "added_at": datetime(2026, 11, 20, tzinfo=UTC)}]
    copy = pickle.loads(pickle.dumps(facts))  # as if loaded back from the result store
    assert Bulk.of(facts).digest == Bulk.of(copy).digest
    assert Bulk.of(facts).digest != Bulk.of([{**facts[0], "relation_id": "P20"}]).digest
    table = pa.table({"a": [1, 2, 3]})
    rechunked = pa.concat_tables([table.slice(0, 1), table.slice(1)])
    assert Bulk.of(table).digest == Bulk.of(rechunked).digest
    # Prefect hashes the cache key as JSON: only the digest goes in, never the rows
    key = hash_objects({"facts": Bulk.of(facts)}, raise_on_failure=True)
    assert key == hash_objects({"facts": Bulk.of(copy)}, raise_on_failure=True)
    encoded = JSONSerializer(dumps_kwargs={"sort_keys": True}).dumps({"facts": Bulk.of(facts)})
    assert b"Q42" not in encoded


def test_prefect_hands_bulk_through_without_walking_it() -> None:
    seen: list[object] = []
    value = [{"subject_id": "Q42"}] * 3
    out = visit_collection({"x": Bulk.of(value)}, visit_fn=lambda e: seen.append(e) or e, return_data=True)
    assert out["x"].value is value
    assert not any(isinstance(e, dict) and e.get("subject_id") for e in seen)
    assert pickle.loads(pickle.dumps(Bulk.of(value))).value == value  # what a Dask worker gets


def test_dask_runner_local_cluster_or_address() -> None:
    from prefect_dask import DaskTaskRunner

    local = task_runner("dask", None, 3)
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_kwargs["n_workers"] == 3 and local.address is None
    remote = task_runner("dask", "tcp://10.0.0.5:8786", 2)
    assert remote.address == "tcp://10.0.0.5:8786"
    assert type(task_runner("thread", None, 2)).__name__ == "ThreadPoolTaskRunner"
    with pytest.raises(ConfigError):
        task_runner("ray", None, 2)


def test_service_env_only_for_live_and_endpoint_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFSET_MEDIAWIKI_API", "http://127.0.0.1:9/w/api.php")
    monkeypatch.setenv("DAFSET_SPARQL_ENDPOINT", "http://127.0.0.1:9/sparql")
    assert policy.service_env("sample", "http://elsewhere/sparql") == {}
    env = policy.service_env("live", "http://127.0.0.1:8/query")
    assert env["DAFSET_SPARQL_ENDPOINT"] == "http://127.0.0.1:8/query"
    assert env["DAFSET_MEDIAWIKI_API"] == "http://127.0.0.1:9/w/api.php"


def test_no_concurrency_slot_is_taken_for_the_bundled_sample() -> None:
    with policy.query_service_slot("sample"):
        pass  # no server needed: the sample queries nothing remote


def test_fingerprint_is_stable_and_follows_relations_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = code_fingerprint()
    assert first == code_fingerprint()
    copy = tmp_path / "relations.yaml"
    shutil.copy(REPO / "relations.yaml", copy)
    monkeypatch.setenv("DAFSET_RELATIONS_FILE", str(copy))
    assert code_fingerprint() == first  # same bytes, same name: same key
    copy.write_text(copy.read_text() + "\n# edited\n")
    assert code_fingerprint() != first


def test_model_fingerprint_follows_the_weights(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"old weights")
    before = model_fingerprint(str(tmp_path))
    assert before == model_fingerprint(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"new weights, retrained")
    assert model_fingerprint(str(tmp_path)) != before
    assert model_fingerprint(None) == "None"


def test_snapshot_date_defaults() -> None:
    assert snapshot_date("2026-11-16", "live").isoformat() == "2026-11-16"
    assert snapshot_date(None, "sample") == SAMPLE_SNAPSHOT
    with pytest.raises(ConfigError):
        snapshot_date("16.11.2026", "live")


def test_fail_after_must_name_a_stage() -> None:
    with pytest.raises(ConfigError, match="fail_after"):
        build_dafset.fn(fail_after="harvset")


def test_prefect_yaml_declares_the_weekly_deployment() -> None:
    doc = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (weekly,) = [d for d in doc["deployments"] if d["name"] == "weekly" and "build_dafset" in d["entrypoint"]]
    path, _, name = weekly["entrypoint"].partition(":")
    assert (REPO / path).is_file() and name == build_dafset.fn.__name__
    assert weekly["schedules"] == [{"cron": CRON, "timezone": TIMEZONE, "active": True}]
    assert weekly["work_pool"]["name"] == WORK_POOL
    # every default parameter is one the flow accepts (a typo would fail every Monday)
    assert set(weekly["parameters"]) <= set(build_dafset.parameters.properties)
    steps = [next(iter(step)) for step in doc["pull"]]
    assert steps == ["prefect.deployments.steps.set_working_directory"]


def test_flow_parameters_are_json_typed() -> None:
    props = build_dafset.parameters.properties
    for name in ("snapshot", "source", "out", "sizes", "model", "device", "endpoint", "window_days",
                 "seed", "runner", "dask_address", "fail_after"):  # fmt: skip
        assert name in props, name
    assert props["runner"]["enum"] == ["thread", "dask"]
    assert props["source"]["enum"] == ["sample", "live", "dump"]
