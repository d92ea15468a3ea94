"""Build the bundled sample from the real fixtures: ``build_sample(fixtures, out)``.

Real facts (BEAR-big, PopQA long tail) and real full entities (entity JSON) are merged into one set
of entities and statements, the missing history / counts / page views are derived (see
``derive``), and everything is written to ``out`` (``dafset/sources/sample/data`` by default):

- ``wikidata.nt.gz``      Wikidata-shaped RDF (WDQS munged form), sorted N-Triples, gzip;
- ``revisions.jsonl``     the derived revision log (one row per revision);
- ``pageviews.jsonl``     monthly English Wikipedia views per titled entity (real or derived);
- ``provenance.jsonl.gz`` per entity: the fixture files it came from and its derived fields;
- ``NOTICE.md``           sources, commits, licences, attribution, what is derived;
- ``manifest.json``       counts, checksums, source commits, the as-of date.

The same inputs give the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from dafset.errors import ConfigError
from dafset.settings import get_settings
from dafset.sources.sample import entity_json
from dafset.sources.sample.dates import data_date
from dafset.sources.sample.derive import (
    AS_OF,
    HISTORY_DAYS,
    SEED,
    Revision,
    derive_counts,
    derive_history,
    derive_views,
    stamp,
    statement_id,
)
from dafset.sources.sample.model import ITEM, Entity, Statement
from dafset.sources.sample.notice import source_entries, write_notice
from dafset.sources.sample.rdf import ntriples
from dafset.sources.sample.readers import RawFact, read_bear, read_popqa, read_real_views, read_relations
from dafset.sources.sample.sources_md import SourceRow, read_sources

RDF_FILE = "wikidata.nt.gz"
REVISIONS_FILE = "revisions.jsonl"
PAGEVIEWS_FILE = "pageviews.jsonl"
PROVENANCE_FILE = "provenance.jsonl.gz"
NOTICE_FILE = "NOTICE.md"
MANIFEST_FILE = "manifest.json"
QUALIFIER_PROPERTIES = {"P580": "time", "P582": "time", "P585": "time"}  # used by the queries


def _qnum(qid: str) -> int:
    return int(qid[1:])


@dataclass
class SampleData:
    relations: dict[str, str]
    entities: dict[str, Entity] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)
    used: dict[str, list[str]] = field(default_factory=dict)  # group -> fixture files used
    left_out: list[str] = field(default_factory=list)  # entity versions newer than AS_OF
    stats: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n


def _name(entity: Entity, label: str, aliases: tuple[str, ...]) -> None:
    """Names from fact sets fill entities that have no full entity JSON (first label wins)."""
    if entity.complete:
        return
    if not entity.label and label:
        entity.label = label
    entity.aliases = sorted({*entity.aliases, *aliases} - {entity.label, ""})


def _add_facts(data: SampleData, facts: list[RawFact]) -> None:
    seen = {(s.subject, s.property, s.value): s for s in data.statements}
    covered = {(s.subject, s.property) for s in data.statements if data.entities[s.subject].complete}
    for fact in facts:
        subject = data.entities.setdefault(fact.subject, Entity(fact.subject))
        obj = data.entities.setdefault(fact.object, Entity(fact.object))
        for entity, label, aliases, title in (
            (subject, fact.subject_label, fact.subject_aliases, fact.subject_title),
            (obj, fact.object_label, fact.object_aliases, fact.object_title),
        ):
            _name(entity, label, aliases)
            entity.sources.add(fact.source)
            if title and not entity.title:
                entity.title = title
        key = (fact.subject, fact.property, fact.object)
        if key in seen:
            data.count("facts_merged_duplicate")
            continue
        if (fact.subject, fact.property) in covered:
            data.count("facts_skipped_entity_json_authoritative")
            continue
        st = Statement(
            id=statement_id(*key),
            subject=fact.subject,
            property=fact.property,
            value=fact.object,
            kind=ITEM,
            source="bear" if fact.source.startswith("facts/bear") else "popqa",
            derived_id=True,
        )
        seen[key] = st
        data.statements.append(st)
        data.count(f"facts_from_{st.source}")


def _unique_titles(data: SampleData) -> None:
    """One item per title (title -> item must be a function): full entity JSON first, then the
    lowest Q-id; the other entities lose the title."""
    owners: dict[str, Entity] = {}
    for entity in sorted(data.entities.values(), key=lambda e: (not e.complete, _qnum(e.qid))):
        if entity.title and entity.title in owners:
            entity.title = None
            data.count("titles_dropped_duplicate")
        elif entity.title:
            owners[entity.title] = entity


def _popqa_views(facts: list[RawFact]) -> dict[str, int]:
    views: dict[str, int] = {}
    for f in facts:
        for qid, n in ((f.subject, f.subject_views), (f.object, f.object_views)):
            if n is not None:
                views[qid] = max(n, views.get(qid, 0))
    return views


def assemble(fixtures: Path, relations_file: Path) -> SampleData:
    """Read, merge and derive; nothing is written."""
    relations = read_relations(relations_file)
    rows = read_sources(fixtures / "SOURCES.md")
    data = SampleData(relations=relations)

    files = entity_json.entity_files(fixtures, rows)
    every = entity_json.best_versions(fixtures, files)
    versions = entity_json.best_versions(fixtures, files, not_after=stamp(AS_OF))
    data.left_out = sorted(set(every) - set(versions), key=_qnum)
    for qid in sorted(versions, key=_qnum):
        entity, statements = entity_json.convert(versions[qid], relations)
        if entity.label or statements:
            data.entities[qid] = entity
            data.statements.extend(statements)
            data.count("statements_from_entity_json", len(statements))
    data.used["entity_json"] = sorted({e for x in data.entities.values() for e in x.sources})

    bear, data.used["bear"] = read_bear(fixtures, relations)
    popqa, data.used["popqa"] = read_popqa(fixtures, relations)
    data.stats.update(bear_facts_read=len(bear), popqa_rows_on_relations=len(popqa))
    _add_facts(data, bear)
    _add_facts(data, popqa)
    _unique_titles(data)

    data.revisions = derive_history(data.entities, data.statements)
    derive_counts(data.entities, data.statements)
    real = read_real_views(fixtures)
    data.views = derive_views(data.entities, _popqa_views(popqa), real)
    data.used["pageviews"] = sorted(
        {r["source"] for r in data.views if not r["derived"]} - set(data.used["popqa"])
    )
    _check_licences(data, rows)
    return data


def _check_licences(data: SampleData, rows: dict[str, SourceRow]) -> None:
    for entries in source_entries(data.used, rows).values():
        for entry in entries:
            if "gpl" in entry["licence"].lower():
                raise ConfigError(f"{entry['file']}: GPL-licensed data must not enter the sample")


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)  # mtime=0: same bytes on every run


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def _provenance(data: SampleData) -> list[dict[str, Any]]:
    return [
        {"qid": e.qid, "sources": sorted(e.sources), "derived": sorted(e.derived), "complete": e.complete}
        for e in sorted(data.entities.values(), key=lambda e: _qnum(e.qid))
    ]


def write_sample(data: SampleData, fixtures: Path, out: Path) -> dict[str, Any]:
    """Write the data files, NOTICE.md and manifest.json into ``out``; return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    properties = {**data.relations, **QUALIFIER_PROPERTIES}
    entities = [data.entities[q] for q in sorted(data.entities, key=_qnum)]
    statements = sorted(data.statements, key=lambda s: (_qnum(s.subject), s.property, s.id))
    lines = ntriples(entities, statements, properties)
    payloads = {
        RDF_FILE: _gzip(("\n".join(lines) + "\n").encode("utf-8")),
        REVISIONS_FILE: _jsonl([r.row() for r in data.revisions]),
        PAGEVIEWS_FILE: _jsonl(data.views),
        PROVENANCE_FILE: _gzip(_jsonl(_provenance(data))),
    }
    rows = read_sources(fixtures / "SOURCES.md")
    counts = _counts(data, len(lines))
    payloads[NOTICE_FILE] = write_notice(data.used, rows, counts).encode("utf-8")
    for name, payload in payloads.items():
        (out / name).write_bytes(payload)
    manifest = _manifest(data, rows, counts, payloads)
    (out / MANIFEST_FILE).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return manifest


def _counts(data: SampleData, triples: int) -> dict[str, int]:
    additions = sum(len(r.adds) for r in data.revisions)
    in_week = sum(len(r.adds) for r in data.revisions if (AS_OF - r.timestamp).days < 7)
    derived_q = sum(len(r.qualifiers) for r in data.revisions)
    return {
        "triples": triples,
        "entities": len(data.entities),
        "entities_with_label": sum(1 for e in data.entities.values() if e.label),
        "entities_complete_json": sum(1 for e in data.entities.values() if e.complete),
        "titles": sum(1 for e in data.entities.values() if e.title),
        "statements": len(data.statements),
        "statements_truthy": sum(1 for s in data.statements if s.best),
        "statements_derived_id": sum(1 for s in data.statements if s.derived_id),
        "revisions_derived": len(data.revisions),
        "statement_additions_derived": additions,
        "statement_additions_last_7_days": in_week,
        "qualifiers_derived": derived_q,
        "pageviews_rows": len(data.views),
        "pageviews_derived": sum(1 for v in data.views if v["derived"]),
        **{k: v for k, v in sorted(data.stats.items())},
    }


def _manifest(
    data: SampleData, rows: dict[str, SourceRow], counts: dict[str, int], payloads: dict[str, bytes]
) -> dict[str, Any]:
    formats = {
        RDF_FILE: "N-Triples, sorted, gzip (WDQS munged Wikidata shape)",
        REVISIONS_FILE: "JSON Lines: qid, revid, parentid, timestamp, kind, comment, adds[], qualifiers[], derived",
        PAGEVIEWS_FILE: "JSON Lines: title, qid, monthly_views, source, derived",
        PROVENANCE_FILE: "JSON Lines, gzip: qid, sources[], derived[], complete",
        NOTICE_FILE: "Markdown",
    }
    return {
        "name": "dafset-sample",
        "format_version": 1,
        "as_of": stamp(AS_OF),
        "data_date": data_date(data.entities, data.statements, data.left_out),
        "history_days": HISTORY_DAYS,
        "seed": SEED,
        "endpoint": "in-process:sample",
        "relations": sorted(data.relations, key=lambda p: int(p[1:])),
        "files": {
            name: {"bytes": len(p), "sha256": hashlib.sha256(p).hexdigest(), "format": formats[name]}
            for name, p in payloads.items()
        },
        "counts": counts,
        "derived": {
            "statement_ids": "BEAR/PopQA facts: <Q-id>-DAF5E7D0-... (uuid5 of subject|property|value, "
            "first group replaced by the marker DAF5E7D0); see derive.is_derived_statement",
            "revisions": f"{REVISIONS_FILE}: every row (derived=true); entity schema:dateModified / "
            "schema:version of entities in it",
            "qualifiers": "pq:P580 / pq:P577 listed in the qualifiers of revisions.jsonl",
            "sitelinks_statements": "wikibase:sitelinks / wikibase:statements of entities whose "
            "provenance lists them under derived (counted from what the sample holds)",
            "pageviews": f"{PAGEVIEWS_FILE} rows with derived=true",
        },
        "sources": source_entries(data.used, rows),
    }


def build_sample(
    fixtures_dir: Path | None = None, out_dir: Path | None = None, relations_file: Path | None = None
) -> Path:
    """Convert the real fixtures into the bundled sample; returns the folder written (its
    ``manifest.json`` has the counts and checksums)."""
    settings = get_settings()
    fixtures = fixtures_dir or settings.fixtures_dir
    if not (fixtures / "SOURCES.md").is_file():
        raise ConfigError(f"{fixtures}: not a real-fixtures folder (no SOURCES.md)")
    out = out_dir or settings.sample_dir
    data = assemble(fixtures, relations_file or settings.relations_file)
    write_sample(data, fixtures, out)
    return out
