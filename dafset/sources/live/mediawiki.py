"""The MediaWiki Action API: Wikidata entities and revisions, Wikipedia title -> item.

Every call goes through ``HttpClient.get_json(..., mediawiki=True)`` (maxlag, format, retries).
Ids are checked before they enter a URL; entities and titles go 50 to a request, the API's limit
for clients without bot rights.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from dafset.errors import BadIdError, SourceError
from dafset.ids import check_item, check_property, chunks, is_item
from dafset.sources.live.http import HttpClient

BATCH = 50
ENTITY_PROPS = ("info", "labels", "descriptions", "aliases", "claims", "sitelinks")
# Revisions with content: the API allows 50 per request; without content, 500.
CONTENT_LIMIT = 50
IDS_LIMIT = 500


def check_entity_id(value: str) -> str:
    """An item or property id (wbgetentities takes both)."""
    try:
        return check_item(value)
    except BadIdError:
        try:
            return check_property(value)
        except BadIdError:
            raise BadIdError(
                f"bad entity id {value!r}: expected an item (Q42) or property (P19) id"
            ) from None


def api_timestamp(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class EntityBatch:
    """wbgetentities' answer: entities by their own id, redirects followed, missing ids listed."""

    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # requested id -> target id
    missing: tuple[str, ...] = ()

    def get(self, requested: str) -> dict[str, Any] | None:
        return self.entities.get(self.redirects.get(requested, requested))


@dataclass(frozen=True)
class Revision:
    revid: int
    parentid: int
    timestamp: datetime
    entity: dict[str, Any] | None = None  # decoded content, when it was asked for and visible


@dataclass(frozen=True)
class Change:
    """One row of ``list=recentchanges``: an edit (or creation) of a page."""

    title: str
    revid: int
    old_revid: int  # 0 when the edit created the page
    timestamp: datetime
    comment: str = ""


def _revision(raw: Mapping[str, Any]) -> Revision:
    entity = None
    main = (raw.get("slots") or {}).get("main") or {}
    content = main.get("content", main.get("*"))  # formatversion 2 / 1
    if isinstance(content, str) and content:
        entity = orjson.loads(content)
    return Revision(
        revid=int(raw["revid"]),
        parentid=int(raw.get("parentid") or 0),
        timestamp=parse_timestamp(raw["timestamp"]),
        entity=entity,
    )


def _pages(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    pages = (answer.get("query") or {}).get("pages") or []
    return list(pages.values()) if isinstance(pages, dict) else list(pages)


class MediaWikiClient:
    """One MediaWiki API endpoint (``settings.mediawiki_api`` or ``settings.wikipedia_api``)."""

    def __init__(self, http: HttpClient, api_url: str) -> None:
        self.http = http
        self.api_url = api_url

    def call(self, params: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.http.get_json(self.api_url, params, mediawiki=True)
        if not isinstance(answer, dict):
            raise SourceError(f"GET {self.api_url}: expected a JSON object, got {type(answer).__name__}")
        return answer

    def query(self, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """``action=query`` pages of results, following ``continue``."""
        cont: dict[str, Any] = {}
        while True:
            answer = self.call({"action": "query", **params, **cont})
            yield answer
            nxt = answer.get("continue")
            if not isinstance(nxt, dict) or not nxt:
                return
            cont = nxt

    # -- entities -------------------------------------------------------------------------------

    def get_entities(
        self,
        ids: Sequence[str],
        props: Sequence[str] = ENTITY_PROPS,
        languages: Sequence[str] = ("en",),
    ) -> EntityBatch:
        """``wbgetentities`` in batches of 50 (every id checked before the first request)."""
        wanted = list(dict.fromkeys(check_entity_id(i) for i in ids))
        entities: dict[str, dict[str, Any]] = {}
        redirects: dict[str, str] = {}
        missing: list[str] = []
        for batch in chunks(wanted, BATCH):
            answer = self.call(
                {
                    "action": "wbgetentities",
                    "ids": "|".join(batch),
                    "props": "|".join(props),
                    "languages": "|".join(languages),
                    "redirects": "yes",
                }
            )
            for key, entity in (answer.get("entities") or {}).items():
                if "missing" in entity:
                    missing.append(str(entity.get("id", key)))
                    continue
                target = str(entity.get("id", key))
                redirect = entity.get("redirects")
                if isinstance(redirect, dict) and redirect.get("from"):
                    redirects[str(redirect["from"])] = str(redirect.get("to", target))
                elif key != target:
                    redirects[key] = target
                entities[target] = entity
        return EntityBatch(entities, redirects, tuple(missing))

    # -- revisions ------------------------------------------------------------------------------

    def entity_at(self, item: str, when: datetime) -> Revision | None:
        """The item as it was at ``when`` (its last revision at or before then), or None."""
        answer = self.call(
            {
                "action": "query",
                "prop": "revisions",
                "titles": check_item(item),
                "rvstart": api_timestamp(when),
                "rvdir": "older",
                "rvlimit": 1,
                "rvprop": "ids|timestamp|content",
                "rvslots": "main",
            }
        )
        for page in _pages(answer):
            revisions = page.get("revisions") or []
            if revisions:
                return _revision(revisions[0])
        return None

    def revisions_between(
        self, item: str, start: datetime, end: datetime, *, content: bool = False
    ) -> list[Revision]:
        """The item's revisions with ``start <= timestamp <= end``, oldest first."""
        props = "ids|timestamp|content" if content else "ids|timestamp"
        params = {
            "prop": "revisions",
            "titles": check_item(item),
            "rvstart": api_timestamp(start),
            "rvend": api_timestamp(end),
            "rvdir": "newer",
            "rvlimit": CONTENT_LIMIT if content else IDS_LIMIT,
            "rvprop": props,
            "rvslots": "main",
        }
        out: list[Revision] = []
        for answer in self.query(params):
            for page in _pages(answer):
                out.extend(_revision(r) for r in page.get("revisions") or [])
        return out

    def recent_changes(
        self,
        start: datetime,
        end: datetime,
        namespace: int = 0,
        *,
        limit: int | None = None,
        comments: bool = False,
    ) -> list[Change]:
        """Edits and creations in ``[start, end]`` in one namespace, 500 to a request, oldest
        first; with ``limit``, only the newest ``limit`` (one request up to 500). With
        ``comments`` each row carries its edit summary (the autocomment names the claim)."""
        changes: list[Change] = []
        params = {
            "list": "recentchanges",
            "rcstart": api_timestamp(end),
            "rcend": api_timestamp(start),
            "rcdir": "older",
            "rcnamespace": str(namespace),
            "rctype": "edit|new",
            "rcprop": "title|ids|timestamp" + ("|comment" if comments else ""),
            "rclimit": str(min(limit, IDS_LIMIT) if limit else IDS_LIMIT),
        }
        for answer in self.query(params):
            for row in (answer.get("query") or {}).get("recentchanges") or []:
                changes.append(
                    Change(
                        title=str(row["title"]),
                        revid=int(row["revid"]),
                        old_revid=int(row.get("old_revid") or 0),
                        timestamp=parse_timestamp(row["timestamp"]),
                        comment=str(row.get("comment") or ""),
                    )
                )
            if limit and len(changes) >= limit:
                break
        return sorted(changes, key=lambda c: (c.timestamp, c.revid))

    def random_pages(
        self, cont: dict[str, Any] | None = None, namespace: int = 0
    ) -> tuple[list[str], dict[str, Any] | None]:
        """One ``list=random`` page: up to 500 non-redirect titles and the continuation. MediaWiki
        keeps pages in the order of a random key set at creation and starts at a random point, so
        the titles are a random set, independent of what the pages hold; the continuation walks
        on along the same order."""
        params = {
            "action": "query",
            "list": "random",
            "rnnamespace": str(namespace),
            "rnfilterredir": "nonredirects",
            "rnlimit": str(IDS_LIMIT),
            **(cont or {}),
        }
        answer = self.call(params)
        titles = [str(row["title"]) for row in (answer.get("query") or {}).get("random") or []]
        nxt = answer.get("continue")
        return titles, nxt if isinstance(nxt, dict) and nxt else None

    def revisions_by_id(self, revids: Sequence[int]) -> dict[int, Revision]:
        """Revisions with content, 50 to a request."""
        out: dict[int, Revision] = {}
        for batch in chunks([str(int(r)) for r in revids], CONTENT_LIMIT):
            answer = self.call(
                {
                    "action": "query",
                    "prop": "revisions",
                    "revids": "|".join(batch),
                    "rvprop": "ids|timestamp|content",
                    "rvslots": "main",
                }
            )
            for page in _pages(answer):
                for raw in page.get("revisions") or []:
                    rev = _revision(raw)
                    out[rev.revid] = rev
        return out

    # -- Wikipedia titles -----------------------------------------------------------------------

    def items_for_titles(self, titles: Sequence[str]) -> dict[str, str]:
        """Wikipedia title -> Q-id via pageprops, redirects followed; disambiguation pages,
        missing or invalid titles and pages without an item are left out."""
        usable = [t for t in dict.fromkeys(titles) if t and t.strip() and "|" not in t]
        out: dict[str, str] = {}
        for batch in chunks(usable, BATCH):
            normalized: dict[str, str] = {}
            redirects: dict[str, str] = {}
            by_title: dict[str, dict[str, Any]] = {}
            for answer in self.query(
                {
                    "prop": "pageprops",
                    "ppprop": "wikibase_item|disambiguation",
                    "redirects": 1,
                    "titles": "|".join(batch),
                }
            ):
                query = answer.get("query") or {}
                normalized.update({n["from"]: n["to"] for n in query.get("normalized") or []})
                redirects.update({r["from"]: r["to"] for r in query.get("redirects") or []})
                for page in _pages(answer):
                    by_title.setdefault(page.get("title", ""), {}).update(page)
            for title in batch:
                resolved = normalized.get(title, title)
                resolved = redirects.get(resolved, resolved)
                page = by_title.get(resolved)
                if not page or "missing" in page or "invalid" in page:
                    continue
                props = page.get("pageprops") or {}
                if "disambiguation" in props:
                    continue
                qid = props.get("wikibase_item")
                if is_item(qid):
                    out[title] = qid
        return out
