"""A seeded, uniform sample of a window's statement additions, at a cost set by the samples wanted.

Wikidata takes 4-5 M edits a week; a build wants hundreds to a few thousand recent samples. So the
window is not swept: it is cut into equal time slices, and slices are read whole (``list=
recentchanges``, one page of 500 for most slices) in a seeded random order until enough additions
are found. Every edit in the window has the same chance of being read (slices are equal and drawn
without replacement, and a slice is never read in part), so the additions found are a uniform
cluster sample of the window's additions, and per-relation totals follow by expansion.

1. a pilot page (the newest 500 entries before a seeded random point) gives the edit rate, which
   sets the slice width so a slice holds about ``SLICE_TARGET`` entries;
2. each slice's entries are filtered on their summary alone (``autocomment.is_candidate``): named
   claim creations on the relations, and the ``wbeditentity`` family;
3. each candidate is confirmed at statement level from the revision contents before and after
   (``Source.revision_statements``, 50 revisions a request on the live path): a statement on a
   relation present after the edit and absent before it is an addition made by that edit.

The design, hit rates and the estimated total additions per relation (with a standard error from
the between-slice variance) go to the manifest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dafset.hashing import stable_order, stable_unit
from dafset.properties.autocomment import is_candidate
from dafset.properties.facts import statement_key
from dafset.source import RecentChange, Source, StatementAddition

PAGE = 500  # list=recentchanges rows per request for clients without bot rights
SLICE_TARGET = 420  # expected entries per slice at the pilot's rate: most slices fit one page of 500
MIN_SLICE_S = 1.0
PRIOR_YIELD = 0.75  # additions per candidate assumed until the first contents are read
CONTENT_BATCH = 50  # revisions with content per request (the API's limit without bot rights)
FULL_BATCHES = 4  # candidates are confirmed in groups of this many full requests


@dataclass
class SliceSample:
    additions: list[StatementAddition]
    design: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Slice:
    index: int
    start: datetime
    end: datetime
    entries: int = 0
    candidates: list[tuple[RecentChange, str | None]] = field(default_factory=list)
    found: Counter[str] = field(default_factory=Counter)


def slice_width(source: Source, start: datetime, end: datetime, seed: int) -> tuple[float, dict[str, Any]]:
    """Seconds per slice from one pilot page; and the pilot's figures."""
    window_s = (end - start).total_seconds()
    point = start + timedelta(seconds=window_s * (0.25 + 0.75 * stable_unit("recent-pilot", seed)))
    page = source.recent_changes(start, point, limit=PAGE)
    if len(page) >= PAGE:
        span = max((point - min(c.timestamp for c in page)).total_seconds(), MIN_SLICE_S)
    else:
        span = (point - start).total_seconds()  # the pilot reached the window start: all of it
    rate = len(page) / span if span > 0 else 0.0
    width = window_s if rate <= 0 else min(window_s, max(MIN_SLICE_S, SLICE_TARGET / rate))
    slices = max(1, math.ceil(window_s / width))
    pilot = {"at": point.isoformat(), "entries": len(page), "edits_per_s": round(rate, 3)}
    return window_s / slices, pilot


def _confirm(
    source: Source, candidates: list[tuple[RecentChange, str | None]], relations: frozenset[str]
) -> list[StatementAddition]:
    revids = sorted({c.revid for c, _ in candidates} | {c.old_revid for c, _ in candidates if c.old_revid})
    contents = source.revision_statements(revids) if revids else {}
    out: list[StatementAddition] = []
    for change, named in candidates:
        after = contents.get(change.revid)
        if after is None:
            continue  # hidden or deleted content: nothing can be said at statement level
        before = contents.get(change.old_revid) if change.old_revid else {}
        if before is None:
            continue
        for sid, pid in sorted(after.items()):
            if sid in before or pid not in relations or (named is not None and pid != named):
                continue
            out.append(
                StatementAddition(change.title, pid, sid, change.revid, change.timestamp, change.derived)
            )
    return out


def sample_additions(
    source: Source,
    start: datetime,
    end: datetime,
    relations: Sequence[str],
    wanted: int,
    seed: int,
) -> SliceSample:
    """At least ``wanted`` statement additions in ``[start, end)`` (all of them when the window
    holds fewer), from whole slices drawn in a seeded order, with the sampling design."""
    allowed = frozenset(relations)
    width, pilot = slice_width(source, start, end, seed)
    total = max(1, round((end - start).total_seconds() / width))
    order = [
        int(i) for i in stable_order([str(i) for i in range(total)], "recent-slices", seed, start.isoformat())
    ]
    read: list[_Slice] = []
    pending: list[tuple[RecentChange, str | None]] = []
    additions: list[StatementAddition] = []
    by_revid: dict[int, _Slice] = {}
    confirmed_of = [0, 0]  # candidates confirmed so far, additions they gave

    def confirm(batch: list[tuple[RecentChange, str | None]]) -> None:
        found = _confirm(source, batch, allowed)
        for addition in found:
            by_revid[addition.revision_id].found[addition.relation_id] += 1
        additions.extend(found)
        confirmed_of[0] += len(batch)
        confirmed_of[1] += len(found)

    def expected() -> float:
        # additions in hand plus those the pending candidates should give at the rate seen so far
        rate = confirmed_of[1] / confirmed_of[0] if confirmed_of[0] else PRIOR_YIELD
        return len(additions) + rate * len(pending)

    for index in order:
        if expected() >= wanted:
            if not pending:
                break
            confirm(pending)  # settle the estimate before reading more
            pending = []
            if len(additions) >= wanted:
                break
            continue
        piece = _read_slice(source, index, start, width, allowed)
        read.append(piece)
        by_revid.update({c.revid: piece for c, _ in piece.candidates})
        pending += piece.candidates
        while _revids(pending) >= CONTENT_BATCH * FULL_BATCHES:  # confirm only in full requests
            cut = _fit(pending, CONTENT_BATCH * FULL_BATCHES)
            confirm(pending[:cut])
            pending = pending[cut:]
    if pending:
        confirm(pending)
    design = _design(read, total, width, pilot, sorted(allowed))
    unique = {statement_key(a.statement_id): a for a in additions}
    return SliceSample(sorted(unique.values(), key=lambda a: (a.revision_id, a.statement_id)), design)


def _read_slice(source: Source, index: int, start: datetime, width: float, allowed: frozenset[str]) -> _Slice:
    low = start + timedelta(seconds=index * width)
    high = start + timedelta(seconds=(index + 1) * width)
    piece = _Slice(index, low, high)
    for change in source.recent_changes(low, high):
        piece.entries += 1
        hint = is_candidate(change.comment, allowed)
        if hint is not None:
            piece.candidates.append((change, hint.property))
    return piece


def _revids(candidates: list[tuple[RecentChange, str | None]]) -> int:
    return len({c.revid for c, _ in candidates} | {c.old_revid for c, _ in candidates if c.old_revid})


def _fit(candidates: list[tuple[RecentChange, str | None]], limit: int) -> int:
    """How many leading candidates need at most ``limit`` revisions."""
    seen: set[int] = set()
    for i, (change, _) in enumerate(candidates):
        seen |= {change.revid} | ({change.old_revid} if change.old_revid else set())
        if len(seen) > limit:
            return max(1, i)
    return len(candidates)


def _design(
    read: list[_Slice], total: int, width: float, pilot: dict[str, Any], relations: list[str]
) -> dict[str, Any]:
    k = len(read)
    entries = sum(s.entries for s in read)
    candidates = sum(len(s.candidates) for s in read)
    confirmed = sum(sum(s.found.values()) for s in read)
    estimates = {r: _expand([s.found[r] for s in read], total) for r in relations}
    return {
        "method": "equal time slices read whole, drawn without replacement in a seeded order; "
        "candidates from the edit summary, confirmed from revision contents before/after",
        "slice_seconds": round(width, 3),
        "slices_total": total,
        "slices_read": k,
        "sampling_fraction": round(k / total, 6),
        "pilot": pilot,
        "entries_read": entries,
        "candidates": candidates,
        "confirmed_additions": confirmed,
        "candidate_rate": round(candidates / entries, 6) if entries else 0.0,
        "confirmation_rate": round(confirmed / candidates, 6) if candidates else 0.0,
        "estimated_window_entries": _expand([s.entries for s in read], total),
        "estimated_additions": _expand([sum(s.found.values()) for s in read], total),
        "estimated_additions_per_relation": {r: e for r, e in estimates.items() if e["total"] > 0},
    }


def _expand(per_slice: list[int], total: int) -> dict[str, float]:
    """Expansion estimate of a window total from whole slices drawn without replacement, and its
    standard error (finite-population corrected between-slice variance)."""
    k = len(per_slice)
    if k == 0:
        return {"total": 0.0, "se": 0.0}
    mean = sum(per_slice) / k
    var = sum((y - mean) ** 2 for y in per_slice) / (k - 1) if k > 1 else 0.0
    se = total * math.sqrt(max(0.0, 1 - k / total) * var / k)
    return {"total": round(total * mean, 1), "se": round(se, 1)}
