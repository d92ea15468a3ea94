"""Wikimedia REST pageviews: the most-viewed articles of a window, and per-article views.

Top lists exist per day (``/top/{project}/{access}/{YYYY}/{MM}/{DD}``) and per month
(``.../{MM}/all-days``); a window uses the monthly list for every calendar month it covers whole
and daily lists for the rest, and sums the views. Non-article pages (Main_Page, Special:, File:,
other namespaces) are dropped. Per-article views come daily and are summed; a 404 problem
document means the API holds no data for the article, i.e. 0 views.

Titles are returned with spaces (``Douglas Adams``), the form page props and sitelinks use.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from urllib.parse import quote

from dafset.source import PageViews
from dafset.sources.live.http import HttpClient

# English Wikipedia's namespace names and aliases, as they appear in top lists before the colon.
NAMESPACES = frozenset(
    n.lower()
    for n in (
        "Media", "Special", "Talk", "User", "User talk", "Wikipedia", "Wikipedia talk", "WP",
        "WT", "Project", "Project talk", "File", "File talk", "Image", "Image talk", "MediaWiki",
        "MediaWiki talk", "Template", "Template talk", "Help", "Help talk", "Category",
        "Category talk", "Portal", "Portal talk", "Draft", "Draft talk", "TimedText",
        "TimedText talk", "Module", "Module talk", "Book", "Book talk", "Education Program",
        "Education Program talk", "Gadget", "Gadget talk", "Gadget definition",
        "Gadget definition talk", "Topic",
    )
)
NON_ARTICLES = frozenset({"main page", "-", "undefined", "null"})


def display_title(title: str) -> str:
    return title.replace("_", " ")


def is_article(title: str) -> bool:
    """False for the main page, the ``-`` bucket and pages in a non-article namespace."""
    text = display_title(title).strip()
    if not text or text.lower() in NON_ARTICLES:
        return False
    prefix, colon, _ = text.partition(":")
    return not (colon and prefix.strip().lower() in NAMESPACES)


def article_path(title: str) -> str:
    """The title as one path segment: underscores, percent-encoded like encodeURIComponent."""
    return quote(title.replace(" ", "_"), safe="'()*!")


def top_segments(start: date, end: date) -> Iterator[tuple[int, int, str]]:
    """``(year, month, "all-days" | "DD")`` covering ``[start, end]`` with the fewest lists."""
    day = start
    while day <= end:
        last = date(day.year, day.month, monthrange(day.year, day.month)[1])
        if day.day == 1 and last <= end:
            yield day.year, day.month, "all-days"
            day = last + timedelta(days=1)
        else:
            yield day.year, day.month, f"{day.day:02d}"
            day += timedelta(days=1)


class PageviewsClient:
    """The ``/metrics/pageviews`` endpoints under ``settings.pageviews_api``."""

    def __init__(self, http: HttpClient, api_base: str, project: str = "en.wikipedia") -> None:
        self.http = http
        self.base = api_base.rstrip("/")
        self.project = project

    def top(
        self, start: date, end: date, limit: int, access: str = "all-access"
    ) -> list[PageViews]:
        """The ``limit`` most-viewed articles over ``[start, end]``, most viewed first."""
        totals: dict[str, int] = {}
        for year, month, day in top_segments(start, end):
            url = f"{self.base}/metrics/pageviews/top/{self.project}/{access}/{year}/{month:02d}/{day}"
            answer = self.http.get_json(url, missing_ok=True)
            for entry in answer.get("items", []) if isinstance(answer, dict) else []:
                for article in entry.get("articles", []):
                    title = display_title(str(article.get("article", "")))
                    if is_article(title):
                        totals[title] = totals.get(title, 0) + int(article.get("views", 0))
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        return [PageViews(title, views) for title, views in ranked[: max(0, limit)]]

    def per_article(
        self,
        titles: Sequence[str],
        start: date,
        end: date,
        access: str = "all-access",
        agent: str = "user",
    ) -> dict[str, PageViews]:
        """Daily views of each title summed over ``[start, end]``; keyed by the title as given."""
        span = f"{start:%Y%m%d}00/{end:%Y%m%d}00"
        out: dict[str, PageViews] = {}
        for title in dict.fromkeys(titles):
            url = (
                f"{self.base}/metrics/pageviews/per-article/{self.project}/{access}/{agent}/"
                f"{article_path(title)}/daily/{span}"
            )
            answer = self.http.get_json(url, missing_ok=True)
            items = answer.get("items", []) if isinstance(answer, dict) else []
            out[title] = PageViews(title, sum(int(i.get("views", 0)) for i in items))
        return out
