"""What the sample makes up, deterministically, where the real sources are silent. Every value made
here is flagged derived in the data, the manifest and NOTICE.md.

- statement ids for BEAR / PopQA facts (they carry none): ``<Q-id>-DAF5E7D0-xxxx-5xxx-xxxx-xxxxxxxxxxxx``,
  a uuid5 of subject|property|value whose first group is the marker ``DAF5E7D0``;
- a revision history over the 8 weeks before ``AS_OF``: for a seeded subset of entities, some of
  their statements were "added" by derived revisions (revid, parentid, timestamp); a few added
  statements carry a derived ``pq:P580`` start time / ``pq:P577`` publication date inside the
  history, so ``physically_new`` has something to find; a few entities get edits that add no
  statement (an edit is not an addition);
- monthly page views for titled entities that have no real count (from their real sitelinks).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dafset.sources.sample.model import TIME, Entity, Qualifier, Statement
from dafset.sources.sample.readers import RealViews

# The sample's snapshot date: the date of its data (see ``dates``), not the day it was converted.
AS_OF = datetime(2022, 1, 1, tzinfo=UTC)  # dafset.config.SAMPLE_SNAPSHOT agrees
HISTORY_DAYS = 56
SEED = "dafset-sample-1"
ADD_RATE = 0.06  # share of eligible entities given statement additions inside the history
TOUCH_RATE = 0.02  # share given only edits that add no statement
MARKER = "DAF5E7D0"  # first GUID group of every derived statement id
_NAMESPACE = uuid.UUID("6f1c63a4-5d1e-4c59-9d5e-2f4b8a7c3e10")
# Relations whose statements get a derived start time / publication date qualifier sometimes.
START_RELATIONS = frozenset({"P39", "P108", "P463", "P26", "P6", "P69", "P264", "P127", "P190", "P36"})
WORK_RELATIONS = frozenset(
    {"P50", "P57", "P58", "P86", "P162", "P170", "P175", "P176", "P178", "P272", "P364", "P449", "P495"}
)
_REVID_EPOCH = datetime(2023, 10, 1, tzinfo=UTC)
_REVID_AT_EPOCH = 2_000_000_000  # Wikidata's revision ids passed 2e9 around late 2023
_REVIDS_PER_SECOND = 4


def unit(*parts: object) -> float:
    """A seeded, uniform number in [0, 1) from the given parts (stable across runs and machines)."""
    digest = hashlib.sha256("|".join([SEED, *map(str, parts)]).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def statement_id(subject: str, prop: str, value: str) -> str:
    """The derived id of a fact without a real GUID, in WDQS local-name form."""
    raw = str(uuid.uuid5(_NAMESPACE, f"{subject}|{prop}|{value}")).upper()
    return f"{subject}-{MARKER}{raw[8:]}"


def is_derived_statement(statement: str) -> bool:
    """True for ids made by ``statement_id`` (in ``Q1-…``, ``Q1$…`` or IRI spelling)."""
    tail = statement.rsplit("/", 1)[-1]
    for sep in ("-", "$"):
        head, _, guid = tail.partition(sep)
        if head[:1] in "Qq" and guid.startswith(MARKER + "-"):
            return True
    return False


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Revision:
    qid: str
    timestamp: datetime
    kind: str  # base | add | touch
    adds: list[Statement] = field(default_factory=list)
    qualifiers: list[tuple[str, Qualifier]] = field(default_factory=list)  # (statement id, qualifier)
    revid: int = 0
    parentid: int = 0

    def comment(self) -> str:
        if self.kind == "add" and len(self.adds) == 1:
            st = self.adds[0]
            return f"/* wbcreateclaim-create:1| */ [[Property:{st.property}]]: [[{st.value}]]"
        if self.kind == "base":
            return "/* wbeditentity-update:0| */ derived base revision (the state before the history)"
        return "/* wbeditentity-update:0| */"

    def row(self) -> dict[str, Any]:
        return {
            "qid": self.qid,
            "revid": self.revid,
            "parentid": self.parentid,
            "timestamp": stamp(self.timestamp),
            "kind": self.kind,
            "comment": self.comment(),
            "adds": [{"statement": s.id, "property": s.property, "value": s.value} for s in self.adds],
            "qualifiers": [
                {"statement": sid, "property": q.property, "value": q.value} for sid, q in self.qualifiers
            ],
            "derived": True,
        }


def _when(qid: str, tag: str, start: datetime, days: float) -> datetime:
    return start + timedelta(seconds=int(unit(tag, qid) * days * 86400))


def _history_for(entity: Entity, own: list[Statement], start: datetime) -> list[Revision]:
    qid = entity.qid
    pick = unit("pick", qid)
    base = Revision(qid, start - timedelta(days=1 + unit("base", qid) * 3 * 365), "base")
    if pick < ADD_RATE:
        n = 2 if unit("n", qid) < 0.35 and len(own) > 1 else 1
        chosen = sorted(own, key=lambda s: (unit("stmt", s.id), s.id))[:n]
        times = sorted(_when(qid, f"t{k}", start, HISTORY_DAYS) for k in range(n))
        revs = [Revision(qid, t, "add", [st]) for t, st in zip(times, chosen, strict=True)]
        if unit("touch-after", qid) < 0.3:
            remaining = (AS_OF - times[-1]).total_seconds() / 86400
            revs.append(Revision(qid, _when(qid, "ta", times[-1], remaining), "touch"))
        return [base, *revs]
    if pick < ADD_RATE + TOUCH_RATE:
        return [base, Revision(qid, _when(qid, "touch", start, HISTORY_DAYS), "touch")]
    return []


def _date_qualifier(rev: Revision, st: Statement, start: datetime) -> Qualifier | None:
    """Sometimes a start time / publication date on or a few days before the revision."""
    if unit("pq", st.id) >= 0.5:
        return None
    prop = "P580" if st.property in START_RELATIONS else "P577" if st.property in WORK_RELATIONS else None
    if prop is None:
        return None
    day = max(start, rev.timestamp - timedelta(days=int(unit("pq-day", st.id) * 4)))
    return Qualifier(prop, day.strftime("%Y-%m-%dT00:00:00Z"), TIME, derived=True)


def _assign_revids(revisions: list[Revision]) -> None:
    """Revision ids grow with time, as on Wikidata; parentid chains each entity's revisions."""
    last = 0
    for rev in sorted(revisions, key=lambda r: (r.timestamp, r.qid, r.kind != "base")):
        seconds = int((rev.timestamp - _REVID_EPOCH).total_seconds())
        rev.revid = last = max(last + 1, _REVID_AT_EPOCH + seconds * _REVIDS_PER_SECOND)
    previous: dict[str, int] = {}
    for rev in sorted(revisions, key=lambda r: r.revid):
        rev.parentid = previous.get(rev.qid, 0)
        previous[rev.qid] = rev.revid


def derive_history(entities: dict[str, Entity], statements: list[Statement]) -> list[Revision]:
    """The derived revision log. Mutates the sample: added statements may gain a derived date
    qualifier, and entities in the log get the derived ``modified`` / ``version`` of their last
    revision. Entities with a real lastrevid / modified (full entity JSON) are left out."""
    start = AS_OF - timedelta(days=HISTORY_DAYS)
    by_subject: dict[str, list[Statement]] = {}
    for st in statements:
        if st.derived_id and st.best:
            by_subject.setdefault(st.subject, []).append(st)
    revisions: list[Revision] = []
    for qid in sorted(by_subject, key=lambda q: int(q[1:])):
        entity = entities[qid]
        if entity.version is not None or entity.modified is not None:
            continue  # real revision data stays real
        for rev in _history_for(entity, by_subject[qid], start):
            for st in rev.adds:
                qualifier = _date_qualifier(rev, st, start)
                if qualifier is not None:
                    st.qualifiers.append(qualifier)
                    rev.qualifiers.append((st.id, qualifier))
            revisions.append(rev)
    _assign_revids(revisions)
    for rev in revisions:
        entity = entities[rev.qid]
        if entity.version is None or rev.revid > entity.version:
            entity.version, entity.modified = rev.revid, stamp(rev.timestamp)
            entity.derived |= {"version", "modified"}
    return sorted(revisions, key=lambda r: (int(r.qid[1:]), r.revid))


def derive_counts(entities: dict[str, Entity], statements: Iterable[Statement]) -> None:
    """Sitelinks / statement counts for entities without real ones: what the sample knows."""
    per_subject: dict[str, int] = {}
    for st in statements:
        per_subject[st.subject] = per_subject.get(st.subject, 0) + 1
    for entity in entities.values():
        if entity.sitelinks is None:
            entity.sitelinks = 1 if entity.title else 0
            entity.derived.add("sitelinks")
        if entity.statements is None:
            entity.statements = per_subject.get(entity.qid, 0)
            entity.derived.add("statements")


def derive_views(
    entities: dict[str, Entity], popqa_views: dict[str, int], real: list[RealViews]
) -> list[dict[str, Any]]:
    """One row per titled entity: real monthly views where a source has them, else derived from
    the entity's real sitelink count (or, failing that, its statement count)."""
    by_title = {r.title: r for r in real}
    rows: list[dict[str, Any]] = []
    for entity in sorted((e for e in entities.values() if e.title), key=lambda e: e.title or ""):
        title = entity.title or ""
        row: dict[str, Any] = {"title": title, "qid": entity.qid}
        if title in by_title:
            found = by_title[title]
            row.update(monthly_views=found.monthly, source=found.source, derived=False)
        elif entity.qid in popqa_views:
            row.update(
                monthly_views=popqa_views[entity.qid],
                source="facts/longtailqa_DisambPopQA.csv",
                derived=False,
            )
        else:
            jitter = 0.8 + 0.45 * unit("views", entity.qid)
            if "sitelinks" not in entity.derived and entity.sitelinks:
                signal, basis = 60 * entity.sitelinks**1.5, "derived:sitelinks"
            else:
                signal, basis = 20 * (1 + (entity.statements or 0)), "derived:statements"
            row.update(monthly_views=max(1, round(signal * jitter)), source=basis, derived=True)
        rows.append(row)
    return rows
