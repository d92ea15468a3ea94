"""NOTICE.md for the bundled sample: every source file used, its repository, commit and licence,
the CC BY-SA attribution BEAR-big needs, and what in the sample is derived rather than real."""

from __future__ import annotations

from typing import Any

from dafset.sources.sample.derive import AS_OF, HISTORY_DAYS, MARKER, stamp
from dafset.sources.sample.sources_md import SourceRow, lookup

GROUPS = {
    "bear": "BEAR-big facts",
    "popqa": "PopQA long-tail facts and page views",
    "entity_json": "Wikidata entity JSON",
    "pageviews": "Real page-view series",
}
TAKEN = {
    "bear": "subject/object Q-ids, English labels, subject aliases of the facts on our relations",
    "popqa": "subject/object Q-ids, labels, aliases, English Wikipedia titles and monthly views "
    "(s_pop, o_pop: en.wikipedia views of October 2021, per PopQA's authors)",
    "entity_json": "per item: English label/description/aliases, enwiki title, sitelink/statement/"
    "identifier counts, lastrevid, modified, statements (GUID, rank, value, qualifiers) on our relations",
    "pageviews": "daily English Wikipedia view counts, averaged to a monthly figure (only the numbers)",
}


def source_entries(used: dict[str, list[str]], rows: dict[str, SourceRow]) -> dict[str, list[dict[str, Any]]]:
    """Per group, the provenance of each fixture file used (from SOURCES.md)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for group, files in used.items():
        entries = []
        for rel in files:
            row = lookup(rows, rel)
            entries.append(
                {
                    "file": rel,
                    "repo": row.repo,
                    "path_in_repo": row.path_in_repo,
                    "commit": row.commit,
                    "licence": row.licence,
                }
            )
        out[group] = entries
    return out


def _table(entries: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| fixture file | repository | path in repository | commit | licence (as declared) |",
        "|---|---|---|---|---|",
    ]
    for e in entries:
        cells = [e["file"], e["repo"], e["path_in_repo"], e["commit"], e["licence"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def write_notice(used: dict[str, list[str]], rows: dict[str, SourceRow], counts: dict[str, int]) -> str:
    entries = source_entries(used, rows)
    bear = entries.get("bear", [])
    bear_commit = bear[0]["commit"] if bear else "?"
    parts = [
        "# DAFSet bundled sample: notice",
        "",
        "The data files in this folder were written by `scripts/build_sample.py` "
        "(`dafset.sources.sample.convert`) from real public data, listed below with the repository and "
        "commit each file was read from. Nothing from any other source is in them. As-of date of "
        f"the sample: {stamp(AS_OF)}, the date of its data: most facts are Wikidata as BEAR-big "
        "captured it (about December 2021), PopQA's page views are of October 2021, and a few whole "
        "entities come from older files (2015-2019, and a dump head of late 2016); entity versions "
        "newer than the as-of date are left out. See `data_date` in manifest.json.",
        "",
        "## Licence of this data",
        "",
        "Wikidata content is CC0. The sample contains facts adapted from BEAR-big, whose dataset "
        "cards declare CC BY-SA 4.0, so the sample data (the files in this folder) is distributed "
        "under **CC BY-SA 4.0** (https://creativecommons.org/licenses/by-sa/4.0/), share-alike. "
        "The DAFSet builder's code is licensed separately (see the project's licence).",
        "",
        "## Attribution",
        "",
        "- **BEAR-big**: J. Wiland, M. Ploner, A. Akbik, *BEAR: A Unified Framework for Evaluating "
        "Relational Knowledge in Causal and Masked Language Models* (2024); data from "
        f"https://github.com/lm-pub-quiz/BEAR at commit {bear_commit} (Hugging Face datasets "
        "lm-pub-quiz/BEAR, lm-pub-quiz/BEAR-big), licensed CC BY-SA 4.0 (the GitHub repository has "
        "no licence file). Changes made: restricted to the relations of `relations.yaml`, merged "
        "with the other sources below, written as Wikidata-shaped RDF, derived statement ids added.",
        "- **PopQA**: A. Mallen, A. Asai, V. Zhong, R. Das, D. Khashabi, H. Hajishirzi, *When Not to "
        "Trust Language Models* (ACL 2023), https://github.com/AlexTMallen/adaptive-retrieval (MIT); "
        "long-tail subset (s_pop < 100) as published in https://github.com/williamx854/LongTailQA-Benchmark "
        "(README declares MIT; its data README declares CC BY 4.0). Changes made: PopQA relation "
        "names mapped to Wikidata properties, rows outside our relations dropped.",
        "- **Entity JSON and page views**: real Wikidata entities and Wikimedia page-view counts "
        "(CC0 data) from the test fixtures of the repositories listed below (Apache-2.0 / MIT). "
        "GPL-licensed fixtures (dahlia/wikidata) were not read.",
        "",
        "## Sources used",
        "",
    ]
    for group, title in GROUPS.items():
        if not entries.get(group):
            continue
        parts += [f"### {title}", "", f"Taken: {TAKEN[group]}.", "", *_table(entries[group]), ""]
    parts += [
        "## What is derived (not real)",
        "",
        "Everything below is made up deterministically (seeded hashes) by `dafset.sources.sample.derive` "
        "and flagged derived in the data:",
        "",
        f"- **Statement ids** of BEAR / PopQA facts (they carry none): `<Q-id>-{MARKER}-…`, a uuid5 "
        "of subject|property|value with the marker as first group. Real GUIDs from entity JSON are "
        "kept as they are.",
        f"- **Revision history** (`revisions.jsonl`, every row `derived: true`): over the {HISTORY_DAYS} "
        "days before the as-of date, a seeded subset of entities had some of their (real) statements "
        '"added" by derived revisions with derived revision ids and timestamps, plus a derived base '
        "revision before that; a few entities only get edits that add no statement. The "
        "`schema:dateModified` / `schema:version` of these entities come from this log. Real "
        "lastrevid / modified from entity JSON stay real.",
        "- **Date qualifiers**: some added statements carry a derived `pq:P580` (start time) or "
        "`pq:P577` (publication date) inside the history (listed per revision in `revisions.jsonl`).",
        "- **Counts**: `wikibase:sitelinks` / `wikibase:statements` of entities without full entity "
        "JSON count what the sample holds (sitelinks: 1 if an English Wikipedia title is known); "
        "`provenance.jsonl.gz` lists them under `derived`.",
        "- **Page views**: rows of `pageviews.jsonl` with `derived: true` (monthly views made from "
        "the entity's real sitelink count); the others are real (PopQA, PageViewInfo, REST API). "
        "The sample treats monthly views as constant over time.",
        "",
        "## Counts",
        "",
        *[f"- {k}: {v}" for k, v in counts.items()],
        "",
    ]
    return "\n".join(parts)
