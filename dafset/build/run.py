"""``dafset build`` without a server: the stages of ``dafset.build.pipeline`` run in order, with a
progress display. The Prefect flow (``flows/build_dafset.py``) runs the same stages as tasks."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dafset.build import pipeline
from dafset.build.llm import likelihood_scores
from dafset.build.preflight import preflight
from dafset.config import BuildConfig
from dafset.publish.place import build_lock
from dafset.publish.progress import stage
from dafset.publish.split import split_table
from dafset.publish.writer import publish_snapshot
from dafset.relations import RelationSet
from dafset.sources.sample.dates import card_note

log = logging.getLogger("dafset.build")


@dataclass(frozen=True)
class BuildResult:
    snapshot_dir: Path
    counts: dict[str, int]
    seconds: float


def manifest_extra(
    cfg: BuildConfig,
    source_endpoint: str,
    harvest_reports: dict[str, Any],
    enrich_drops: dict[str, Any],
    assembly_report: dict[str, Any],
    llm_report: dict[str, Any],
    relation_domains: dict[str, str],
) -> dict[str, Any]:
    start, end = cfg.window
    derived_note = (
        "The bundled sample's recency history (revisions, timestamps) and some page views are derived; "
        "every derived value is listed in its row's evidence.derived. See dafset/sources/sample/data/NOTICE.md."
    )
    sample_date = _sample_data_date(cfg)
    return {
        "config": cfg.to_json(),
        "source": cfg.source,
        "endpoint": source_endpoint,
        "snapshot_date": cfg.snapshot.isoformat(),
        "window": {"start": start.isoformat(), "end": end.isoformat(), "days": cfg.window_days},
        "seed": cfg.seed,
        "harvest": harvest_reports,
        "enrich_drops": enrich_drops,
        "assembly": assembly_report,
        "long_tail_thresholds": assembly_report.get("long_tail", {}).get("criteria", {}),
        "rule_drops": assembly_report.get("rule_drops", {}),
        "sequence_rules": assembly_report.get("sequence_rules", {}),
        "portability": assembly_report.get("portability", {}),
        "wording": assembly_report.get("wording", {}),
        "target_checks": assembly_report.get("target_checks", {}),
        "tense": assembly_report.get("tense", {}),
        "llm": llm_report,
        "skipped_criteria": llm_report.get("skipped_criteria", []),
        "relation_domains": relation_domains,
        "derived_data": derived_note if not cfg.live_services else None,
        "data_date": sample_date,
        "caveats": [card_note(sample_date)] if sample_date else [],
        "built_at": datetime.now(UTC).isoformat(),
    }


def _sample_data_date(cfg: BuildConfig) -> dict[str, Any] | None:
    """The bundled sample's ``data_date`` block where its facts are the build's (``--source sample``,
    or a dump of it answered by the sample), else None."""
    if not (cfg.source == "sample" or (cfg.source == "dump" and cfg.dump_delegate == "sample")):
        return None
    from dafset.sources.sample.source import SampleSource

    block = SampleSource().manifest.get("data_date")
    return dict(block) if isinstance(block, dict) else None


def build(cfg: BuildConfig) -> BuildResult:
    """Check every input, then, holding the output folder's build lock, run the stages."""
    began = time.perf_counter()
    with stage("check options, paths, model, relations.yaml and templates"):
        relations = preflight(cfg)
    with build_lock(pipeline.resolve_out(cfg.out)):
        return _run_stages(cfg, relations, began)


def _run_stages(cfg: BuildConfig, relations: RelationSet, began: float) -> BuildResult:
    previous = pipeline.previous_facts(cfg)
    harvests = []
    for prop in pipeline.PROPERTIES:
        with stage(f"harvest {prop}"):
            harvests.append(pipeline.harvest(cfg, prop, previous if prop == "recent" else None))
    with stage("enrich labels and aliases"):
        facts, enrich_drops = pipeline.enrich_all(cfg, harvests)
    with stage("score likelihood (LLM)"):
        likelihood, llm_report = likelihood_scores(cfg, facts["long_tail"])
    with stage("render, robust variants, rules"):
        samples, report, llm_report = pipeline.assemble_samples(cfg, relations, facts, likelihood, llm_report)
    table = pipeline.samples_table(samples)
    with stage("split and publish"):
        splits = split_table(table, dict(zip(("train", "validation", "test"), cfg.split_ratios, strict=True)))
        extra = manifest_extra(
            cfg,
            pipeline.open_source(cfg).endpoint,
            {h.prop: h.report for h in harvests},
            enrich_drops,
            report,
            llm_report,
            pipeline.relation_domains(relations),
        )
        path = publish_snapshot(
            pipeline.resolve_out(cfg.out),
            pipeline.snapshot_name(cfg),
            splits,
            extra,
            facts=pipeline.facts_table(facts),
            figures=cfg.figures,
        )
    counts: dict[str, int] = {}
    for prop in table.column("property").to_pylist():
        counts[prop] = counts.get(prop, 0) + 1
    return BuildResult(path, counts, time.perf_counter() - began)
