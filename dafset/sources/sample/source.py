"""``SampleSource``: the bundled sample behind the ``dafset.source.Source`` contract.

SPARQL goes to the in-process pyoxigraph store through the same ``.rq`` files the live source
sends to WDQS; page views and statement additions come from the sample's side tables
(``pageviews.jsonl``, ``revisions.jsonl``). Nothing here touches the network.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from pyoxigraph import BlankNode, Literal, NamedNode, Store

from dafset.ids import check_items, check_properties, chunks, is_item
from dafset.settings import get_settings
from dafset.source import PageViews, RecentChange, StatementAddition
from dafset.sources.queries import render_query, shorten
from dafset.sources.sample import history
from dafset.sources.sample.store import load_store

TITLE_BATCH = 200
DAYS_PER_MONTH = 30


def _lexical(term: object) -> str:
    if isinstance(term, NamedNode):
        return shorten(term.value)
    if isinstance(term, Literal):
        return term.value
    if isinstance(term, BlankNode):
        return f"_:{term.value}"
    return str(term)


def _title(text: str) -> str:
    """Titles are stored with spaces; the pageviews API spells them with underscores."""
    return text.replace("_", " ").strip()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class SampleSource:
    """Read access to the bundled sample (``name="sample"``, ``endpoint="in-process:sample"``)."""

    name = "sample"
    endpoint = "in-process:sample"

    def __init__(self, sample_dir: Path | None = None) -> None:
        self.sample_dir = sample_dir or get_settings().sample_dir

    # -- side tables and store (loaded on first use) -------------------------------------------

    @property
    def store(self) -> Store:
        return load_store(self.sample_dir)

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.sample_dir / "manifest.json").read_text(encoding="utf-8"))

    @cached_property
    def as_of(self) -> datetime:
        """The sample's snapshot date (from its manifest)."""
        return datetime.fromisoformat(self.manifest["as_of"].replace("Z", "+00:00"))

    @cached_property
    def _views(self) -> dict[str, dict[str, Any]]:
        return {row["title"]: row for row in _read_jsonl(self.sample_dir / "pageviews.jsonl")}

    @cached_property
    def _provenance(self) -> dict[str, dict[str, Any]]:
        raw = gzip.decompress((self.sample_dir / "provenance.jsonl.gz").read_bytes())
        return {row["qid"]: row for row in map(json.loads, raw.decode("utf-8").splitlines())}

    @cached_property
    def _revisions(self) -> dict[str, list[dict[str, Any]]]:
        by_item: dict[str, list[dict[str, Any]]] = {}
        for row in _read_jsonl(self.sample_dir / "revisions.jsonl"):
            row["moment"] = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
            by_item.setdefault(row["qid"], []).append(row)
        for rows in by_item.values():
            rows.sort(key=lambda r: r["revid"])
        return by_item

    # -- the Source contract -------------------------------------------------------------------

    def select(self, query: str, **values: Sequence[str] | str | int) -> list[dict[str, str]]:
        """Run ``queries/<query>.rq`` on the sample store; unbound variables are left out."""
        solutions = self.store.query(render_query(query, **values))
        names = [v.value for v in solutions.variables]
        rows: list[dict[str, str]] = []
        for solution in solutions:
            row = {}
            for name in names:
                term = solution[name]
                if term is not None:
                    row[name] = _lexical(term)
            rows.append(row)
        return rows

    def top_articles(self, start: date, end: date, limit: int) -> list[PageViews]:
        """Most-viewed titled entities, views scaled from monthly figures to the window length."""
        days = (end - start).days + 1
        if days <= 0 or limit <= 0:
            return []
        ranked = sorted(self._views.values(), key=lambda r: (-r["monthly_views"], r["title"]))
        return [self._scaled(row, days) for row in ranked[:limit]]

    def items_for_titles(self, titles: Sequence[str]) -> dict[str, str]:
        """Title -> Q-id through the sitelink data (``items_for_titles.rq``); keys as given."""
        wanted: dict[str, list[str]] = {}
        for given in titles:
            if given and given.strip():
                wanted.setdefault(_title(given), []).append(given)
        found: dict[str, str] = {}
        for batch in chunks(sorted(wanted), TITLE_BATCH):
            for row in self.select("items_for_titles", titles=batch):
                found[row["title"]] = row["item"]
        return {given: found[t] for t, spellings in wanted.items() if t in found for given in spellings}

    def pageviews(self, titles: Sequence[str], start: date, end: date) -> dict[str, PageViews]:
        days = (end - start).days + 1
        out: dict[str, PageViews] = {}
        for given in titles:
            row = self._views.get(_title(given))
            if row is not None and days > 0:
                scaled = self._scaled(row, days)
                out[given] = PageViews(given, scaled.views, scaled.derived)
        return out

    def statement_additions(
        self, items: Sequence[str], start: datetime, end: datetime, relations: Sequence[str]
    ) -> list[StatementAddition]:
        """Statements on ``relations`` added to ``items`` by revisions within [start, end]."""
        start, end = _utc(start), _utc(end)
        wanted = set(check_properties(relations))
        out: list[StatementAddition] = []
        for qid in dict.fromkeys(check_items(items)):
            for rev in self._revisions.get(qid, []):
                if not start <= rev["moment"] <= end:
                    continue
                out.extend(
                    StatementAddition(
                        subject_id=qid,
                        relation_id=add["property"],
                        statement_id=add["statement"],
                        revision_id=rev["revid"],
                        timestamp=rev["moment"],
                        derived=rev["derived"],
                    )
                    for add in rev["adds"]
                    if add["property"] in wanted
                )
        return sorted(out, key=lambda a: (a.revision_id, a.statement_id))

    def recent_changes(
        self, start: datetime, end: datetime, limit: int | None = None
    ) -> list[RecentChange]:
        return history.recent_changes(self._revisions, _utc(start), _utc(end), limit)

    def revision_statements(self, revids: Sequence[int]) -> dict[int, dict[str, str] | None]:
        return history.revision_statements(self.store, self._revisions, revids)

    def random_items(self, n: int) -> list[str]:
        return self._random_sequence[:n]

    @cached_property
    def _random_sequence(self) -> list[str]:
        return history.random_sequence(self.store)

    # -- extras for stand-ins, the toy corpus and reports --------------------------------------

    def facts(self, relations: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every truthy fact of the sample on ``relations`` (default: the sample's relations) as
        dicts with subject_id, subject_label, relation_id, object_id, object_value, object_label."""
        wanted = list(relations) if relations is not None else list(self.manifest["relations"])
        rows = self.select("facts_on_relations", properties=wanted, limit=10**9, offset=0)
        return [
            {
                "subject_id": r["item"],
                "subject_label": r.get("itemLabel"),
                "relation_id": r["property"],
                "object_id": r["value"] if is_item(r["value"]) else None,
                "object_value": r["value"],
                "object_label": r.get("valueLabel"),
            }
            for r in rows
        ]

    def revisions(self, qid: str) -> list[dict[str, Any]]:
        """The derived revision log of one item, oldest first (revid, parentid, timestamp, kind,
        comment, adds, qualifiers, derived): what a MediaWiki revisions stand-in serves."""
        return [{k: v for k, v in r.items() if k != "moment"} for r in self._revisions.get(qid, [])]

    def derived_fields(self, items: Sequence[str]) -> dict[str, list[str]]:
        """Per item, the entity fields the sample made up (e.g. ``sitelinks``, ``statements``,
        ``modified``, ``version``); items the sample does not hold are left out."""
        found = (self._provenance.get(q) for q in items)
        return {row["qid"]: list(row["derived"]) for row in found if row is not None}

    def derived_date_statements(self, statements: Sequence[str]) -> set[str]:
        """The statements (as given) whose date qualifiers the sample made up (``revisions.jsonl``)."""
        made_up = {
            q["statement"].replace("$", "-", 1)
            for rows in self._revisions.values()
            for r in rows
            for q in r["qualifiers"]
        }
        return {s for s in statements if s.rsplit("/", 1)[-1].replace("$", "-", 1) in made_up}

    def _scaled(self, row: dict[str, Any], days: int) -> PageViews:
        views = round(row["monthly_views"] * days / DAYS_PER_MONTH)
        return PageViews(row["title"], views, bool(row["derived"]))
