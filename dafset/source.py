"""The contract every Wikidata source fulfils: the live services, the bundled sample, the stand-ins.

Properties (recent, popular, long_tail, robust) talk only to this protocol, so the same selector
code runs against WDQS + MediaWiki + pageviews, against the in-process sample store, and against
the test stand-ins (``oxigraph serve`` + the recorded-response server).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StatementAddition:
    """A statement that did not exist at the window start and exists now, with the revision that
    added it. ``derived`` is True where the history is made up by the bundled sample's converter."""

    subject_id: str
    relation_id: str
    statement_id: str
    revision_id: int
    timestamp: datetime  # timezone-aware UTC
    derived: bool = False


@dataclass(frozen=True)
class RecentChange:
    """One main-namespace edit or creation, as ``list=recentchanges`` lists it (with its summary)."""

    title: str
    revid: int
    old_revid: int  # 0 when the edit created the page
    timestamp: datetime  # timezone-aware UTC
    comment: str = ""
    derived: bool = False  # the edit is made up (the bundled sample's revision log)


@dataclass(frozen=True)
class PageViews:
    """Views of one article over a window. ``derived`` marks views the sample made up."""

    title: str
    views: int
    derived: bool = False


@runtime_checkable
class Source(Protocol):
    """Read access to Wikidata and Wikimedia page views."""

    name: str  # "sample" | "live"
    endpoint: str  # the SPARQL endpoint (or "in-process:sample"), written into the manifest

    def select(self, query: str, **values: Sequence[str] | str | int) -> list[dict[str, str]]:
        """Run ``queries/<query>.rq`` with its placeholders filled (see ``wikidata.queries``).

        Rows map variable names to lexical values (IRIs of entities shortened to their ids).
        """
        ...

    def top_articles(self, start: date, end: date, limit: int) -> list[PageViews]:
        """Most-viewed English Wikipedia articles over [start, end], most viewed first."""
        ...

    def items_for_titles(self, titles: Sequence[str]) -> dict[str, str]:
        """Map Wikipedia titles to Q-ids (redirects followed, disambiguation and missing dropped)."""
        ...

    def pageviews(self, titles: Sequence[str], start: date, end: date) -> dict[str, PageViews]:
        """Per-article views over [start, end] for the given English Wikipedia titles."""
        ...

    def statement_additions(
        self, items: Sequence[str], start: datetime, end: datetime, relations: Sequence[str]
    ) -> list[StatementAddition]:
        """Statements on ``relations`` added to ``items`` within [start, end] (statement level)."""
        ...

    def recent_changes(
        self, start: datetime, end: datetime, limit: int | None = None
    ) -> list[RecentChange]:
        """Main-namespace edits and creations with ``start <= timestamp < end``, newest first;
        with ``limit``, only the newest ``limit`` of them (one page)."""
        ...

    def revision_statements(self, revids: Sequence[int]) -> dict[int, dict[str, str] | None]:
        """Per revision, its statements on any property (statement key -> property id); None
        when its content is hidden or unknown."""
        ...

    def random_items(self, n: int) -> list[str]:
        """Up to ``n`` items drawn at random, independently of their content (the long-tail
        pool is drawn from them)."""
        ...
