"""The build's stages as plain, typed functions. The CLI calls ``build``; the Prefect flow wraps
each stage in a task. Stages exchange plain data (lists of dicts, Arrow tables), never sources or
sessions, so their inputs can be hashed for caching and their results persisted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from dafset.build.assemble import assemble, split_of
from dafset.build.derived_flags import flag_derived
from dafset.build.enrich import enrich, finish
from dafset.build.llm import prefix_writer
from dafset.build.portability import add_probes
from dafset.build.previous import read_previous_facts
from dafset.build.rendered import check_rendered
from dafset.build.sequence import check_zero, violations
from dafset.config import BuildConfig
from dafset.errors import ConfigError
from dafset.properties.long_tail import harvest_long_tail
from dafset.properties.popular import harvest_popular
from dafset.properties.recent import harvest_recent
from dafset.relations import RelationSet, load_relations
from dafset.schema import FACT_SCHEMA, SAMPLE_SCHEMA, rows_to_table
from dafset.source import Source
from dafset.templating import check_templates

log = logging.getLogger("dafset.build")
PROPERTIES = ("recent", "popular", "long_tail")


@dataclass
class Harvest:
    """One property's harvested facts and its report."""

    prop: str
    facts: list[dict[str, Any]]
    report: dict[str, Any] = field(default_factory=dict)
    # facts that are no case of this property but belong in facts.parquet and the locality pool
    context: list[dict[str, Any]] = field(default_factory=list)
    # statements added after the snapshot date: hidden from every property
    future: set[str] = field(default_factory=set)


def open_source(cfg: BuildConfig) -> Source:
    if cfg.source == "dump" and cfg.dump_dir is not None:
        from dafset.sources.dump.source import DumpSource

        return DumpSource(cfg.dump_dir, open_source(replace(cfg, source=cfg.dump_delegate, dump_dir=None)))
    if cfg.source == "sample":
        from dafset.sources.sample.source import SampleSource

        return SampleSource()
    from dafset.sources.live.live import LiveSource

    return LiveSource()


def relations_checked() -> RelationSet:
    """Load relations.yaml and compile every template, so a broken input fails before any request."""
    relations = load_relations()
    check_templates()
    return relations


def previous_facts(cfg: BuildConfig) -> pa.Table | None:
    """facts.parquet of the previous snapshot (see ``dafset.build.previous``), or None."""
    return read_previous_facts(cfg)


def harvest(cfg: BuildConfig, prop: str, previous: pa.Table | None = None) -> Harvest:
    """Pull one property's facts from the configured source."""
    relations = load_relations()
    source = open_source(cfg)
    ids = list(relations.ids)
    if prop == "recent":
        rows, context, future, report = harvest_recent(source, cfg, ids, previous)
        return Harvest(prop, rows, report, context, future)
    if prop == "popular":
        rows, report = harvest_popular(source, cfg, ids)
    elif prop == "long_tail":
        rows, report = harvest_long_tail(source, cfg, ids)
    else:
        raise ConfigError(f"harvest: unknown property {prop!r}")
    return Harvest(prop, rows, report)


def enrich_all(
    cfg: BuildConfig, harvests: list[Harvest]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Labels, aliases, sitelinks, literal rendering, and the subject's and object's classes and
    life dates for every harvested fact."""
    relations = load_relations()
    source = open_source(cfg)
    value_types = {r.id: r.value_type for r in relations}
    future = set().union(*(h.future for h in harvests))
    groups = {h.prop: h.facts for h in harvests}
    groups["context"] = [f for h in harvests for f in h.context]
    out: dict[str, list[dict[str, Any]]] = {}
    drops: dict[str, dict[str, int]] = {}
    for prop, rows in groups.items():
        visible = [f for f in rows if f["statement_id"] not in future]
        out[prop], drops[prop] = enrich(source, visible, value_types)
        drops[prop]["added_after_snapshot"] = len(rows) - len(visible)
        flag_derived(source, out[prop])  # made-up sitelink counts named in evidence.derived
    finish(source, out, drops)
    return out, drops


def assemble_samples(
    cfg: BuildConfig,
    relations: RelationSet,
    facts: dict[str, list[dict[str, Any]]],
    likelihood: dict[str, float] | None,
    llm_report: dict[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Render every case, with LLM prefixes when a model is set, and its question and portability
    probes (second hops read from the source), and the wording rule checked on every rendered
    string (``dafset.build.rendered``); the LLM report gains what the prefix writer kept and
    dropped. (The writer holds a model: it is made here, never passed in.)"""
    source = open_source(cfg)
    every = [f for rows in facts.values() for f in rows]
    writer, writer_report = prefix_writer(cfg, every, relations, source)
    samples, report = assemble(cfg, relations, facts, likelihood, writer)
    samples, report["portability"] = add_probes(source, relations, samples, every, cfg.seed, split_of(cfg))
    # the rules of one split's edit sequence, on the finished rows: zero, or no build
    report["sequence_rules"] = violations(samples, split_of(cfg), relations)
    check_zero(report["sequence_rules"])
    report["wording"] = check_rendered(samples, known_names(every))
    return samples, report, {**llm_report, **writer_report()}


def known_names(facts: list[dict[str, Any]]) -> set[str]:
    """Every label and alias of the build's entities (the names a rendered string may hold)."""
    return {
        name
        for f in facts
        for side in ("subject", "object")
        for name in [f.get(f"{side}_label"), *(f.get(f"{side}_aliases") or [])]
        if name
    }


def facts_table(facts: dict[str, list[dict[str, Any]]]) -> pa.Table:
    """Every enriched fact once (by statement), as a validated Fact table: the next build's witness."""
    seen: set[str] = set()
    rows = []
    names = set(FACT_SCHEMA.names)
    for prop_rows in facts.values():
        for fact in prop_rows:
            if fact["statement_id"] in seen:
                continue
            seen.add(fact["statement_id"])
            rows.append({k: v for k, v in fact.items() if k in names})
    return rows_to_table(rows, FACT_SCHEMA)


def samples_table(samples: list[dict[str, Any]]) -> pa.Table:
    return rows_to_table(samples, SAMPLE_SCHEMA)


def relation_domains(relations: RelationSet) -> dict[str, str]:
    return {r.id: r.domain for r in relations}


def snapshot_name(cfg: BuildConfig) -> str:
    return cfg.snapshot.isoformat()


def resolve_out(path: Path) -> Path:
    return path.expanduser().resolve()
