"""Statement-level recency from the revision history.

A statement is *added* in a window when its statement id is present at the window end and absent
from the revision in force at the window start. An item edited in the window does not make its old
statements recent (the flaw of filtering on ``schema:dateModified``). Each addition carries the
first revision inside the window that contains the statement.

Two ways, chosen by how many items are asked about:

- per item (few items): the list of its revisions in the window (one request per 500), then the
  state at the start and contents 50 at a time, oldest first, until every new statement is placed:
  about three requests for an item edited a few times, one for an item not edited;
- sweep (many items): one ``list=recentchanges`` pass over the window (500 changes a request),
  then the contents of the window-start states and the in-window revisions by ``revids``, 50 to a
  request. The sweep's cost grows with the edits in the window, not with the items.

The build's ``recent`` property does not use this at Wikidata's volume: it samples the window
(``dafset.properties.recent_sampling``), at a cost set by the samples wanted. This stays the
Source contract's ``statement_additions`` for a known, small set of items.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from dafset.ids import check_items, check_properties
from dafset.source import StatementAddition
from dafset.sources.live.entities import statement_ids
from dafset.sources.live.mediawiki import CONTENT_LIMIT, Change, MediaWikiClient, Revision

SWEEP_FROM_ITEMS = 50  # at and above this many items, one recent-changes sweep is cheaper


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def additions_for_item(
    api: MediaWikiClient, item: str, start: datetime, end: datetime, relations: Sequence[str]
) -> list[StatementAddition]:
    window = [r for r in api.revisions_between(item, start, end) if r.timestamp > start]
    if not window:
        return []  # not edited in the window: one request, nothing added
    before = api.entity_at(item, start)
    known = set(statement_ids(before.entity)) if before and before.entity else set()
    last = window[-1].revid
    # a short window's contents come in one request; a long one needs the end state first
    first_ids = [r.revid for r in window[:CONTENT_LIMIT]]
    contents = api.revisions_by_id(first_ids if last in first_ids else [last])
    latest = contents.get(last)
    if latest is None or latest.entity is None:
        return []  # content hidden or deleted: nothing can be said at statement level
    new = {sid: pid for sid, pid in statement_ids(latest.entity, relations).items() if sid not in known}
    first: dict[str, Revision] = {}
    for offset in range(0, len(window), CONTENT_LIMIT):
        if len(first) == len(new):
            break
        page = window[offset : offset + CONTENT_LIMIT]
        missing = [r.revid for r in page if r.revid not in contents]
        if missing:
            contents.update(api.revisions_by_id(missing))
        for rev in page:
            full = contents.get(rev.revid)
            if full is None or full.entity is None:
                continue
            present = statement_ids(full.entity, relations)
            for sid in new:
                if sid not in first and sid in present:
                    first[sid] = full
    return [
        StatementAddition(
            subject_id=item,
            relation_id=new[sid],
            statement_id=sid,
            revision_id=rev.revid,
            timestamp=rev.timestamp,
        )
        for sid, rev in sorted(first.items(), key=lambda kv: (kv[1].revid, kv[0]))
    ]


def _first_containing(
    item: str, window: list[Revision], known: set[str], relations: Sequence[str]
) -> list[StatementAddition]:
    """Statements in the last window revision but not in ``known``, each with the first window
    revision that has it."""
    if not window or window[-1].entity is None:
        return []  # content hidden or deleted: nothing can be said at statement level
    new = {sid: pid for sid, pid in statement_ids(window[-1].entity, relations).items() if sid not in known}
    first: dict[str, Revision] = {}
    for rev in window:
        if rev.entity is None:
            continue
        present = statement_ids(rev.entity, relations)
        for sid in new:
            if sid not in first and sid in present:
                first[sid] = rev
    return [
        StatementAddition(item, new[sid], sid, rev.revid, rev.timestamp)
        for sid, rev in sorted(first.items(), key=lambda kv: (kv[1].revid, kv[0]))
    ]


def additions_by_sweep(
    api: MediaWikiClient, items: Sequence[str], start: datetime, end: datetime, relations: Sequence[str]
) -> list[StatementAddition]:
    wanted = set(items)
    by_item: dict[str, list[Change]] = {}
    for change in api.recent_changes(start, end):
        if change.title in wanted and change.timestamp > start:
            by_item.setdefault(change.title, []).append(change)
    base = {item: changes[0].old_revid for item, changes in by_item.items()}
    revids = [r for r in base.values() if r] + [c.revid for changes in by_item.values() for c in changes]
    contents = api.revisions_by_id(sorted(set(revids)))
    out: list[StatementAddition] = []
    for item in sorted(by_item, key=lambda q: int(q[1:])):
        before = contents.get(base[item])
        known = set(statement_ids(before.entity)) if before and before.entity else set()
        window = [contents[c.revid] for c in by_item[item] if c.revid in contents]
        out.extend(_first_containing(item, window, known, relations))
    return out


def statement_additions(
    api: MediaWikiClient,
    items: Sequence[str],
    start: datetime,
    end: datetime,
    relations: Sequence[str],
) -> list[StatementAddition]:
    """Statements on ``relations`` added to ``items`` in ``(start, end]`` (end capped at now)."""
    items = list(dict.fromkeys(check_items(items)))
    relations = check_properties(relations)
    start, end = _utc(start), min(_utc(end), datetime.now(UTC))
    if end <= start or not items:
        return []
    if len(items) >= SWEEP_FROM_ITEMS:
        return additions_by_sweep(api, items, start, end, relations)
    out: list[StatementAddition] = []
    for item in items:
        out.extend(additions_for_item(api, item, start, end, relations))
    return out
