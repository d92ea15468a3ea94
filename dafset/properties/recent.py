"""recent: statements *added* on the relations in the window before the snapshot date.

Statement level, not entity level: an item edited last week does not make its old statements
recent (RippleEdits' ``schema:dateModified`` filter has that flaw). The window is sampled, not
swept (``recent_sampling``): seeded random time slices of the recent-changes feed, candidates from
the edit summaries, each confirmed from the revision contents before and after the edit. The cost
grows with the samples wanted, not with the week's edits. The previous snapshot stays a second
witness for the sampled subjects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from dafset.config import BuildConfig
from dafset.properties.facts import (
    distinct,
    fetch_truthy_facts,
    in_window,
    parse_time,
    statement_key,
)
from dafset.properties.recent_sampling import sample_additions
from dafset.source import Source, StatementAddition

# WikiFactDiff's rule: a fact is physically new when its own date falls in the window.
DATE_RELATIONS = ("P571", "P577", "P569")
# additions drawn per recent sample wanted: the one-case-per-(subject, relation) rule and the
# sample rules drop some, and a statement no longer truthy at the snapshot is dropped too
OVERDRAW = 1.15
FAR_FUTURE = timedelta(days=3650)
AFTER_SNAPSHOT_CHECK = timedelta(days=1)


@runtime_checkable
class MadeUpDates(Protocol):
    """A source that makes up some date qualifiers (the bundled sample) and says on which statements."""

    def derived_date_statements(self, statements: Sequence[str]) -> set[str]: ...


def harvest_recent(
    source: Source,
    cfg: BuildConfig,
    relations: Sequence[str],
    previous_facts: pa.Table | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[str], dict[str, Any]]:
    """Fact rows added in ``cfg.window``; the subjects' other facts (context: the next build's
    witness needs each subject's whole statement set); the statements added after the snapshot
    date (to be hidden from every property); and a report for the manifest."""
    start, end = cfg.window
    drawn = sample_additions(
        source, start, end, relations, wanted=math.ceil(cfg.sizes.recent * OVERDRAW), seed=cfg.seed
    )
    additions = drawn.additions
    candidates = distinct(a.subject_id for a in additions)
    by_statement = {statement_key(a.statement_id): a for a in additions}
    previous = _previous_statements(previous_facts, candidates)
    subjects = distinct([a.subject_id for a in additions] + list(previous))
    report = {
        "sampled_subjects": len(candidates),
        "statement_additions_seen": len(additions),
        "sampling": drawn.design,
        "previous_snapshot_witness": previous_facts is not None,
        "dropped_added_after_snapshot": 0,
        "dropped_not_truthy": 0,
    }
    future = _added_after(source, subjects, end, relations, report)
    rows: list[dict[str, Any]] = []
    context: list[dict[str, Any]] = []
    found: set[str] = set()
    facts = fetch_truthy_facts(source, subjects, relations)
    made_up = (
        source.derived_date_statements([f["statement_id"] for f in facts])
        if isinstance(source, MadeUpDates)
        else set()
    )
    for fact in facts:
        addition = by_statement.get(fact["statement_id"])
        if fact["statement_id"] in future:
            report["dropped_added_after_snapshot"] += 1  # did not exist yet at the snapshot date
            continue
        witnessed = (
            fact["subject_id"] in previous and fact["statement_id"] not in previous[fact["subject_id"]]
        )
        if not (addition is not None and in_window(addition.timestamp, start, end)) and not witnessed:
            fact.pop("_dates")
            context.append({**fact, "derived": []})
            continue
        found.add(fact["statement_id"])
        rows.append(_annotate(fact, addition, start, end, fact["statement_id"] in made_up))
    report["dropped_not_truthy"] = sum(
        1 for key, a in by_statement.items() if key not in found and in_window(a.timestamp, start, end)
    )
    report["facts"] = len(rows)
    report["context_facts"] = len(context)
    return rows, context, future, report


def _added_after(
    source: Source, subjects: list[str], end: datetime, relations: Sequence[str], report: dict[str, Any]
) -> set[str]:
    """Statement keys the sampled subjects gained after the snapshot date, to hide them from every
    property in a rebuild of a past week. Only where the history is at hand (the bundled sample):
    on live Wikidata it would cost a sweep of every edit since the snapshot date, and a weekly run
    starts at the snapshot date, when there are none yet."""
    if source.name != "sample":
        report["after_snapshot_check"] = "skipped: a live run starts at its snapshot date"
        return set()
    if datetime.now(UTC) - end < AFTER_SNAPSHOT_CHECK or not subjects:
        report["after_snapshot_check"] = "skipped: the build runs within a day of the snapshot date"
        return set()
    later = source.statement_additions(subjects, end, end + FAR_FUTURE, list(relations))
    report["after_snapshot_check"] = f"{len(later)} statement(s) added after the snapshot date"
    return {statement_key(a.statement_id) for a in later}


def _previous_statements(previous_facts: pa.Table | None, candidates: list[str]) -> dict[str, set[str]]:
    """Statement ids the previous snapshot saw, for the candidate subjects it covered."""
    if previous_facts is None or previous_facts.num_rows == 0:
        return {}
    wanted = set(candidates)
    seen: dict[str, set[str]] = {}
    subjects = previous_facts.column("subject_id").to_pylist()
    statements = previous_facts.column("statement_id").to_pylist()
    for subject, statement in zip(subjects, statements, strict=True):
        if subject in wanted and statement:
            seen.setdefault(subject, set()).add(statement)
    return seen


def _annotate(
    fact: dict[str, Any],
    addition: StatementAddition | None,
    start: datetime,
    end: datetime,
    made_up_dates: bool = False,
) -> dict[str, Any]:
    """``made_up_dates``: the statement's date qualifiers are derived, so a ``physically_new``
    that rests on them alone is flagged derived too."""
    qualifier_dates = list(fact.pop("_dates"))
    own = [parse_time(fact["object_value"])] if fact["relation_id"] in DATE_RELATIONS else []
    real = own + ([] if made_up_dates else qualifier_dates)
    fact["physically_new"] = any(in_window(d, start, end) for d in own + qualifier_dates)
    derived: list[str] = []
    if fact["physically_new"] and not any(in_window(d, start, end) for d in real):
        derived.append("physically_new")
    if addition is not None:
        fact["added_at"] = addition.timestamp
        fact["revision_id"] = addition.revision_id
        if addition.derived:
            derived += ["added_at", "revision_id"]
    else:
        derived.append("witness:previous_snapshot")  # added between the two snapshots; time unknown
    fact["derived"] = derived
    return fact
