"""``LiveSource``: the Source contract over WDQS, the MediaWiki API and the pageviews REST API.

Every endpoint is a setting (``DAFSET_SPARQL_ENDPOINT``, ``DAFSET_MEDIAWIKI_API``,
``DAFSET_WIKIPEDIA_API``, ``DAFSET_PAGEVIEWS_API``), so pointing them at the test stand-ins runs
this very code. All requests share one HTTP policy, one cache and one request/byte counter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from dafset.settings import Settings, get_settings
from dafset.source import PageViews, StatementAddition
from dafset.sources.live.cache import ResponseCache, default_cache
from dafset.sources.live.http import HttpClient, HttpStats, RetryPolicy
from dafset.sources.live.mediawiki import MediaWikiClient
from dafset.sources.live.pageviews import PageviewsClient
from dafset.sources.live.recency import statement_additions
from dafset.sources.live.sparql import SparqlClient
from dafset.sources.queries import render_query

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

    def select(self, query: str, **values: Sequence[str] | str | int) -> list[dict[str, str]]:
        # render_query checks every id before the text exists, so a bad id never reaches WDQS
        return self.sparql.select(render_query(query, **values))

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
