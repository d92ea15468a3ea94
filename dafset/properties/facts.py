"""Fetch truthy facts for a set of items through a Source, as Fact rows (dicts of FACT_SCHEMA)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from dafset.ids import chunks, is_item
from dafset.source import Source

SPARQL_BATCH = 200  # items per VALUES block: small enough for WDQS' 60 s budget
QUALIFIER_DATES = ("start", "pointInTime", "published")


def statement_key(raw: str) -> str:
    """One spelling for statement ids: RDF ``.../statement/Q42-ABC`` and JSON ``Q42$ABC``
    both become ``Q42-ABC`` (WDQS replaces the first ``$`` with ``-``)."""
    tail = raw.rsplit("/", 1)[-1]
    return tail.replace("$", "-", 1)


def parse_time(value: str | None) -> datetime | None:
    """An xsd:dateTime lexical value as an aware datetime; None for anything unparsable
    (BCE dates, year 0, precision-only values)."""
    if not value:
        return None
    text = value.lstrip("+")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fetch_truthy_facts(
    source: Source, items: Sequence[str], relations: Sequence[str]
) -> list[dict[str, Any]]:
    """Best-rank statements of ``items`` on ``relations``, one row per statement."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    wanted = [q for q in dict.fromkeys(items) if is_item(q)]
    for batch in chunks(wanted, SPARQL_BATCH):
        for r in source.select("truthy_facts", items=batch, properties=list(relations)):
            key = statement_key(r["statement"])
            if key in seen:  # a statement with several qualifiers comes back once per qualifier
                continue
            seen.add(key)
            value = r["value"]
            rows.append(
                {
                    "subject_id": r["item"],
                    "relation_id": r["property"],
                    "object_id": value if is_item(value) else None,
                    "object_value": value,
                    "statement_id": key,
                    "rank": r.get("rank", "").rsplit("#", 1)[-1] or None,
                    "_dates": [parse_time(r.get(k)) for k in QUALIFIER_DATES],
                }
            )
    return rows


def in_window(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def to_date(moment: datetime | date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def distinct(values: Iterable[str | None]) -> list[str]:
    return [v for v in dict.fromkeys(values) if v]


def fetch_history(
    source: Source, items: Sequence[str], relations: Sequence[str]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every statement (all ranks) of ``items`` on ``relations`` with its start and end time, per
    (subject, relation): the values a subject has or had (``statement_history.rq``)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    seen: set[str] = set()
    wanted = [q for q in dict.fromkeys(items) if is_item(q)]
    if not wanted or not relations:
        return out
    for batch in chunks(wanted, SPARQL_BATCH):
        for r in source.select("statement_history", items=batch, properties=list(relations)):
            key = statement_key(r["statement"])
            if key in seen:  # several start/end qualifiers: the first pair is enough
                continue
            seen.add(key)
            out.setdefault((r["item"], r["property"]), []).append(
                {
                    "statement_id": key,
                    "value": r["value"],
                    "rank": r.get("rank", "").rsplit("#", 1)[-1] or None,
                    "start": _iso(r.get("start")),
                    "end": _iso(r.get("end")),
                }
            )
    return out


def _iso(value: str | None) -> str | None:
    """A qualifier time as an ISO string (kept as text: stage results are hashed as JSON)."""
    moment = parse_time(value)
    return moment.isoformat() if moment else None


def ended_before(fact: dict[str, Any], moment: datetime) -> bool:
    """Whether the fact's statement has an end time before ``moment`` (then it is no truth)."""
    end = parse_time(fact.get("end_time"))
    return end is not None and end < moment
