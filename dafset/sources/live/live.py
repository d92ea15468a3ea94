"""``LiveSource``: the Source contract over WDQS, the MediaWiki API and the pageviews REST API.

Every endpoint is a setting (``DAFSET_SPARQL_ENDPOINT``, ``DAFSET_MEDIAWIKI_API``,
``DAFSET_WIKIPEDIA_API``, ``DAFSET_PAGEVIEWS_API``), so pointing them at the test stand-ins runs
this very code. All requests share one HTTP policy, one cache and one request/byte counter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from dafset.ids import is_item
from dafset.settings import Settings, get_settings
from dafset.source import PageViews, RecentChange, StatementAddition
from dafset.sources.live.cache import ResponseCache, default_cache
from dafset.sources.live.entities import statement_ids
from dafset.sources.live.http import HttpClient, HttpStats, RetryPolicy
from dafset.sources.live.mediawiki import MediaWikiClient
from dafset.sources.live.pageviews import PageviewsClient
from dafset.sources.live.recency import statement_additions
from dafset.sources.live.sparql import SparqlClient
from dafset.sources.queries import query_bound, render_query

_DEFAULT = object()


class LiveSource:
    """Read access to live Wikidata and Wikimedia page views (``name = "live"``)."""

    name = "live"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        policy: RetryPolicy | None = None,
        cache: ResponseCache | object | None = _DEFAULT,
        stats: HttpStats | None = None,
    ) -> None:
        """``cache=None`` turns caching off; by default it lives under ``settings.cache_dir``."""
        self.settings = settings or get_settings()
        self.endpoint = self.settings.sparql_endpoint
        self.policy = policy or RetryPolicy.from_settings(self.settings)
        self.cache: ResponseCache | None = (
            default_cache(self.settings) if cache is _DEFAULT else cache  # type: ignore[assignment]
        )
        self.stats = stats or HttpStats()
        self.http = HttpClient(self.settings, policy=self.policy, cache=self.cache, stats=self.stats)
        self.sparql = SparqlClient(
            self.endpoint, settings=self.settings, policy=self.policy, cache=self.cache, stats=self.stats
        )
        self.wikidata = MediaWikiClient(self.http, self.settings.mediawiki_api)
        self.wikipedia = MediaWikiClient(self.http, self.settings.wikipedia_api)
        self.views = PageviewsClient(self.http, self.settings.pageviews_api)
        self._random: list[str] = []
        self._random_cont: dict[str, Any] | None = None
        self._random_done = False

    def select(self, query: str, **values: Sequence[str] | str | int) -> list[dict[str, str]]:
        # render_query checks every id before the text exists, so a bad id never reaches WDQS;
        # query_bound refuses a query whose header declares no bound (a scan of Wikidata)
        text = render_query(query, **values)
        query_bound(query, **values)
        return self.sparql.select(text)

    def top_articles(self, start: date, end: date, limit: int) -> list[PageViews]:
        return self.views.top(start, end, limit)

    def items_for_titles(self, titles: Sequence[str]) -> dict[str, str]:
        return self.wikipedia.items_for_titles(titles)

    def pageviews(self, titles: Sequence[str], start: date, end: date) -> dict[str, PageViews]:
        return self.views.per_article(titles, start, end)

    def statement_additions(
        self, items: Sequence[str], start: datetime, end: datetime, relations: Sequence[str]
    ) -> list[StatementAddition]:
        return statement_additions(self.wikidata, items, start, end, relations)

    def recent_changes(
        self, start: datetime, end: datetime, limit: int | None = None
    ) -> list[RecentChange]:
        changes = self.wikidata.recent_changes(start, end, limit=limit, comments=True)
        rows = [
            RecentChange(c.title, c.revid, c.old_revid, c.timestamp, c.comment)
            for c in changes
            if start <= c.timestamp < end
        ]
        rows.sort(key=lambda c: (c.timestamp, c.revid), reverse=True)
        return rows[:limit] if limit else rows

    def revision_statements(self, revids: Sequence[int]) -> dict[int, dict[str, str] | None]:
        contents = self.wikidata.revisions_by_id(revids)
        out: dict[int, dict[str, str] | None] = {int(r): None for r in revids}
        for revid, rev in contents.items():
            if rev.entity is not None:
                # statement keys as WDQS spells them (Q42-ABC): the first "$" of the JSON id as "-"
                out[revid] = {k.replace("$", "-", 1): p for k, p in statement_ids(rev.entity).items()}
        return out

    def random_items(self, n: int) -> list[str]:
        """The first ``n`` items of this source's random sequence (``list=random``, 500 a request,
        walked on with its continuation; the sequence is fixed for the source's lifetime)."""
        while len(self._random) < n and not self._random_done:
            titles, self._random_cont = self.wikidata.random_pages(self._random_cont)
            known = set(self._random)
            self._random += [t for t in dict.fromkeys(titles) if is_item(t) and t not in known]
            self._random_done = not titles or self._random_cont is None
        return self._random[:n]
