"""The sample's answers to the recent-changes and random-page parts of the Source contract.

The sample's revision log (``revisions.jsonl``, derived: see data/NOTICE.md) read as the feed
``list=recentchanges`` gives, and the statements in force at each revision: an item's statements
not added by any logged revision were there from its base revision on; each logged revision adds
its own. The random-item sequence is a seeded shuffle of the sample's items (those with an English
label), the order the stand-in's ``list=random`` serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pyoxigraph import Store

from dafset.hashing import stable_order
from dafset.source import RecentChange
from dafset.sources.queries import PREFIXES

RANDOM_SALT = "sample-random-pages"

_STATEMENTS = PREFIXES + """
SELECT ?item ?statement ?property WHERE {
  VALUES ?item { %s }
  ?item ?p ?statement .
  ?property wikibase:claim ?p .
  ?statement wikibase:rank ?rank .
  FILTER(?rank != wikibase:DeprecatedRank)
}"""
_ITEMS = PREFIXES + """
SELECT DISTINCT ?item WHERE {
  ?item rdfs:label ?label .
  FILTER(STRSTARTS(STR(?item), "http://www.wikidata.org/entity/Q"))
}"""


def recent_changes(
    log: dict[str, list[dict[str, Any]]], start: datetime, end: datetime, limit: int | None
) -> list[RecentChange]:
    rows = [
        RecentChange(qid, int(r["revid"]), int(r["parentid"]), r["moment"], r["comment"], bool(r["derived"]))
        for qid, revisions in log.items()
        for r in revisions
        if start <= r["moment"] < end
    ]
    rows.sort(key=lambda c: (c.timestamp, c.revid), reverse=True)
    return rows[:limit] if limit else rows


def revision_statements(
    store: Store, log: dict[str, list[dict[str, Any]]], revids: Sequence[int]
) -> dict[int, dict[str, str] | None]:
    owner = {int(r["revid"]): (qid, r) for qid, revisions in log.items() for r in revisions}
    wanted = {int(r) for r in revids}
    items = sorted({owner[r][0] for r in wanted if r in owner})
    now = _statements_now(store, items)
    out: dict[int, dict[str, str] | None] = dict.fromkeys(wanted)
    for revid in wanted & owner.keys():
        qid, _ = owner[revid]
        later = {a["statement"] for r in log[qid] if int(r["revid"]) > revid for a in r["adds"]}
        out[revid] = {sid: pid for sid, pid in now.get(qid, {}).items() if sid not in later}
    return out


def _statements_now(store: Store, items: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for start in range(0, len(items), 300):
        values = " ".join(f"wd:{q}" for q in items[start : start + 300])
        for row in store.query(_STATEMENTS % values):
            sid = row["statement"].value.rsplit("/", 1)[-1]
            qid = row["item"].value.rsplit("/", 1)[-1]
            out.setdefault(qid, {})[sid] = row["property"].value.rsplit("/", 1)[-1]
    return out


def random_sequence(store: Store) -> list[str]:
    items = [row["item"].value.rsplit("/", 1)[-1] for row in store.query(_ITEMS)]
    return stable_order(sorted(items), RANDOM_SALT)
