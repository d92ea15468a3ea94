"""The date of the sample's data, with the evidence for it, for the manifest, NOTICE.md and the
dataset card. The sample is dated by its data, not by the day it was converted: a snapshot date
says "Wikidata as of this day", and its truths must read as that day's.

Most facts are BEAR-big's (Wikidata of about December 2021); PopQA's page views are of October
2021; a few whole entities come from older files (kept as they were, each with its own date).
Entity versions newer than the snapshot date are left out of the sample (``convert``).
"""

from __future__ import annotations

from typing import Any

from dafset.sources.sample.derive import AS_OF, stamp
from dafset.sources.sample.model import Entity, Statement

BEAR_EVIDENCE = (
    "Wikidata of about December 2021: among its facts, Germany's head of government is Olaf Scholz "
    "(in office from 2021-12-08) and Japan's is Fumio Kishida (from 2021-10-04); where a subject had "
    "several values, BEAR-big holds one of them, not always the one current then"
)
POPQA_EVIDENCE = (
    "Wikidata facts as PopQA (Mallen et al., 2023) captured them; page views (s_pop, o_pop) of October 2021"
)


def _newest_item(statements: list[Statement], source: str) -> str | None:
    ids = [q for s in statements if s.source == source for q in (s.subject, s.value) if q.startswith("Q")]
    return max(ids, key=lambda q: int(q[1:]), default=None)


def data_date(
    entities: dict[str, Entity], statements: list[Statement], left_out: list[str]
) -> dict[str, Any]:
    """The manifest's ``data_date`` block: the snapshot date and, per source, what dates its data."""
    modified = sorted(e.modified for e in entities.values() if e.modified and "modified" not in e.derived)
    return {
        "snapshot": stamp(AS_OF)[:10],
        "meaning": "the sample is Wikidata as of about this day: its truths are that day's, not today's",
        "sources": {
            "bear": {
                "date": "2021-12",
                "evidence": BEAR_EVIDENCE,
                "newest_item": _newest_item(statements, "bear"),
            },
            "popqa": {"date": "2021-10", "evidence": POPQA_EVIDENCE},
            "entity_json": {
                "date": f"{modified[0][:10]}..{modified[-1][:10]}" if modified else None,
                "evidence": "each entity keeps its own revision (schema:dateModified where the file has "
                "one); the 49 entities of the dump head carry none: their newest statement start "
                "times date it to late 2016. Their statements are taken over BEAR's for the same "
                "(subject, relation), so some of their truths are older than the snapshot date",
                "left_out_newer_than_snapshot": left_out,
            },
        },
        "recency": "synthetic: the revision history of the 8 weeks before the snapshot date is made up "
        "(revisions.jsonl, derived=true); every recent row names it in evidence.derived",
    }


def card_note(block: dict[str, Any]) -> str:
    """One sentence for a dataset card built from the sample."""
    src = block["sources"]
    return (
        f"The bundled sample is dated {block['snapshot']}, the date of its data: Wikidata as BEAR-big "
        f"captured it (about {src['bear']['date']}) and PopQA (page views of {src['popqa']['date']}); a "
        f"few whole entities come from older files ({src['entity_json']['date'] or 'undated'}, and a "
        "2016 dump head). Read every truth as of then, not as current. Its recency is synthetic."
    )
