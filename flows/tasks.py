"""The build's stages as Prefect tasks, and the flow ``build-dafset-stages`` that wires them.

    check-relations ─┐
    previous-facts ──┼─► harvest-recent ────┐
                     ├─► harvest-popular ───┼─► enrich ─► likelihood ─► assemble ─► split ─► publish
                     └─► harvest-long_tail ─┘

Each task calls one stage function of ``dafset`` (plain, typed, testable without Prefect), in the
order of ``dafset.build.run.build``. They live in this importable module, not in the entrypoint
script, because Dask workers import tasks by module name. Big inputs travel as ``Bulk`` (see
``flows.bulk``): passed as they are, keyed by a digest of their content.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from dafset.build import pipeline
from dafset.build.llm import likelihood_scores
from dafset.build.pipeline import Harvest
from dafset.build.run import manifest_extra
from dafset.config import BuildConfig
from dafset.publish.split import split_table
from dafset.publish.writer import publish_snapshot
from dafset.relations import RelationSet
from dafset.settings import get_settings
from flows import policy
from flows.bulk import Bulk
from flows.report import SUMMARY_KEY, TABLE_KEY, build_report

# Stages in order; ``fail_after`` names one of them (a test hook that simulates a crash).
STAGES = ("relations", "previous", "harvest", "enrich", "likelihood", "assemble", "split", "publish")
SPLITS = ("train", "validation", "test")

Facts = dict[str, list[dict[str, Any]]]


class SimulatedCrash(RuntimeError):
    """Raised by ``fail_after``: the run stops as if the process had died after that stage."""


# -- tasks: one stage function each ---------------------------------------------------------------
# Every cached task takes ``fingerprint`` (dafset's code and data files): TASK_SOURCE only sees
# the few lines below, not the stage functions they call.


@task(name="check-relations", **policy.CACHING)
def check_relations(fingerprint: str) -> RelationSet:
    return pipeline.relations_checked()


@task(name="previous-facts", cache_policy=NO_CACHE)  # reads <out>/latest now, never a stale copy
def previous_facts(cfg: BuildConfig) -> pa.Table | None:
    return pipeline.previous_facts(cfg)


@task(name="harvest", task_run_name="harvest-{prop}", **policy.CACHING, **policy.RETRYING)
def harvest(cfg: BuildConfig, prop: str, previous: Bulk, env: dict[str, str], fingerprint: str) -> Harvest:
    policy.apply_env(env)
    with policy.query_service_slot("live" if cfg.live_services else cfg.source):
        return pipeline.harvest(cfg, prop, previous.value)


@task(name="enrich", **policy.CACHING, **policy.RETRYING)
def enrich(cfg: BuildConfig, harvests: Bulk, env: dict[str, str], fingerprint: str) -> tuple[Facts, dict]:
    policy.apply_env(env)
    with policy.query_service_slot("live" if cfg.live_services else cfg.source):
        return pipeline.enrich_all(cfg, harvests.value)


@task(name="likelihood", **policy.CACHING)
def likelihood(
    cfg: BuildConfig, facts: Bulk, fingerprint: str
) -> tuple[dict[str, float] | None, dict[str, Any]]:
    return likelihood_scores(cfg, facts.value)


@task(name="assemble", **policy.CACHING)
def assemble_samples(
    cfg: BuildConfig,
    relations: Bulk,
    facts: Bulk,
    scores: Bulk,
    llm_report: dict[str, Any],
    env: dict[str, str],
    fingerprint: str,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    policy.apply_env(env)  # portability probes read second hops from the source
    with policy.query_service_slot("live" if cfg.live_services else cfg.source):
        return pipeline.assemble_samples(cfg, relations.value, facts.value, scores.value, llm_report)


@task(name="split", **policy.CACHING)
def split(cfg: BuildConfig, samples: Bulk, fingerprint: str) -> dict[str, pa.Table]:
    ratios = dict(zip(SPLITS, cfg.split_ratios, strict=True))
    return split_table(pipeline.samples_table(samples.value), ratios)


@task(name="publish", cache_policy=NO_CACHE)  # the side effect itself: always runs
def publish(cfg: BuildConfig, splits: Bulk, facts: Bulk, extra: Bulk) -> str:
    path = publish_snapshot(
        pipeline.resolve_out(cfg.out),
        pipeline.snapshot_name(cfg),
        splits.value,
        extra.value,
        facts=pipeline.facts_table(facts.value),
        figures=cfg.figures,
    )
    return str(path)


@task(name="report", cache_policy=NO_CACHE)
def report(path: str, seconds: float, parameters: dict[str, Any]) -> None:
    made = build_report(path, seconds, parameters)
    create_table_artifact(made.rows, key=TABLE_KEY, description="Samples per config, split and criterion")
    create_markdown_artifact(made.markdown, key=SUMMARY_KEY, description="DAFSet build summary")


# -- the stages flow (runs on the chosen task runner) ---------------------------------------------


def _crash_if(stage: str, fail_after: str | None) -> None:
    if stage == fail_after:
        raise SimulatedCrash(f"fail_after={stage!r}: stopping after the {stage} stage")


@flow(name="build-dafset-stages", validate_parameters=False)
def build_stages(
    cfg: BuildConfig, env: dict[str, str], fingerprint: str, fail_after: str | None = None
) -> str:
    """The stages of ``dafset.build.run.build``; every task is submitted, so it runs on the flow's
    task runner (a Dask worker with runner=dask), and ``.result()`` keeps the order."""
    relations = check_relations.submit(fingerprint).result()
    _crash_if("relations", fail_after)
    previous = previous_facts.submit(cfg).result()
    _crash_if("previous", fail_after)
    # the three harvests are independent and run side by side (live ones still take turns on
    # the query service's single slot)
    futures = [
        harvest.submit(cfg, prop, Bulk.of(previous if prop == "recent" else None), env, fingerprint)
        for prop in pipeline.PROPERTIES
    ]
    harvests = [future.result() for future in futures]
    _crash_if("harvest", fail_after)
    facts, enrich_drops = enrich.submit(cfg, Bulk.of(harvests), env, fingerprint).result()
    _crash_if("enrich", fail_after)
    facts_in = Bulk.of(facts)
    scores, llm_report = likelihood.submit(cfg, Bulk.of(facts["long_tail"]), fingerprint).result()
    _crash_if("likelihood", fail_after)
    samples, assembly_report, llm_report = assemble_samples.submit(
        # relations.yaml is part of the fingerprint, so it identifies the relations
        cfg,
        Bulk.of(relations, digest=fingerprint),
        facts_in,
        Bulk.of(scores),
        llm_report,
        env,
        fingerprint,
    ).result()
    _crash_if("assemble", fail_after)
    splits = split.submit(cfg, Bulk.of(samples), fingerprint).result()
    _crash_if("split", fail_after)
    extra = manifest_extra(
        cfg,
        _endpoint(cfg, env),
        {h.prop: h.report for h in harvests},
        enrich_drops,
        assembly_report,
        llm_report,
        pipeline.relation_domains(relations),
    )
    # not cached: no digest needed (and an Arrow digest would read every row)
    path = publish.submit(
        cfg, Bulk.of(splits, digest="-"), Bulk.of(facts, digest="-"), Bulk.of(extra, digest="-")
    ).result()
    _crash_if("publish", fail_after)
    return path


def _endpoint(cfg: BuildConfig, env: dict[str, str]) -> str:
    """The SPARQL endpoint the manifest names (what ``open_source(cfg).endpoint`` says)."""
    if cfg.source == "live":
        return env.get("DAFSET_SPARQL_ENDPOINT") or get_settings().sparql_endpoint
    return pipeline.open_source(cfg).endpoint
