"""What the recorded-response server knows: real recorded Wikidata/Wikimedia answers, indexed.

Everything is read from the fixtures directory (tests/data, the real recorded files the repo carries):

- entities: every entity found in ``entity_json/`` (wbgetentities and Special:EntityData answers,
  single entities, dump slices), the recorded redirects (Q32063953 -> Q1040, Q16231742 ->
  Q3571994) and the recorded missing ids (Q6, Q10908976);
- revisions: the recorded ``prop=revisions`` answers with entity content (WikiEduDashboard,
  EditGroups). They were recorded without timestamps, so the timestamps served are DERIVED from
  the revision id (monotone, labelled in every answer's ``X-Standin-Derived`` header);
- Wikipedia page props: the recorded wptools answers (Douglas Adams, the redirect "Adams,
  Douglas", the disambiguation page);
- page views: the recorded per-article answers. No real "top" answer exists, so top lists are
  DERIVED: synthesised in the documented format from the per-article data the server holds.

Tests and other modules add their own data with ``add_*`` methods; those are marked derived too.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

# Revision ids -> DERIVED timestamps: revid 797,000,000 placed at 2018-11-22 (close to when the
# recorded WikiEdu revisions were made), seven edits a second around it. Monotone in revid.
DERIVED_ANCHOR_REVID = 797_000_000
DERIVED_ANCHOR_TIME = datetime(2018, 11, 22, tzinfo=UTC)
DERIVED_EDITS_PER_S = 7.0

ENTITY_FILES_FIRST = (  # wbgetentities-shaped answers win over trimmed or older copies
    "wdtk_wbgetentities-Q6-Q42-P31.json",
    "wdtk_wbgetentities-Q32063953.json",
    "wdtk_wbgetentities-Q1.json",
    "wdtk_wbgetentites-Oliver-Kahn.json",
    "wikibase-sdk_wbgetentities_response.json",
)
ENTITY_ID = re.compile(r"^[QPL][1-9][0-9]*$")


def derived_timestamp(revid: int) -> datetime:
    seconds = (revid - DERIVED_ANCHOR_REVID) / DERIVED_EDITS_PER_S
    return (DERIVED_ANCHOR_TIME + timedelta(seconds=seconds)).replace(microsecond=0)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entities_in(path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    """(key, entity) pairs from any of the entity file layouts in ``entity_json/``."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("[") and "\n" in text.strip():
        for line in text.splitlines():  # dump layout: one entity per line, trailing commas
            line = line.strip().rstrip(",")
            if line.startswith("{"):
                entity = json.loads(line)
                yield entity["id"], entity
        return
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("entities"), dict):
        yield from data["entities"].items()
    elif isinstance(data, dict) and "id" in data:
        yield data["id"], data


# -- entities ---------------------------------------------------------------------------------


class EntityIndex:
    """Entities by id, recorded redirects and missing ids. Loaded on first use."""

    def __init__(self, fixtures_dir: Path) -> None:
        self.dir = fixtures_dir / "entity_json"
        self._entities: dict[str, dict[str, Any]] = {}
        self._redirects: dict[str, str] = {}
        self._missing: set[str] = set()
        self._added: dict[str, dict[str, Any]] = {}  # overlays, dropped by reset()
        self._added_redirects: dict[str, str] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def reset(self) -> None:
        self._added.clear()
        self._added_redirects.clear()

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            files = [self.dir / n for n in ENTITY_FILES_FIRST if (self.dir / n).exists()]
            files += sorted(p for p in self.dir.glob("*.json") if p not in files)
            for path in files:
                for key, entity in _entities_in(path):
                    if "missing" in entity:
                        if ENTITY_ID.match(str(entity.get("id", ""))):
                            self._missing.add(entity["id"])
                        continue
                    ident = entity.get("id")
                    if not ident or entity.get("type") not in ("item", "property"):
                        continue
                    if key != ident and ENTITY_ID.match(key):
                        self._redirects.setdefault(key, ident)  # answered with the target
                    if "claims" in entity and "labels" in entity:
                        self._entities.setdefault(ident, entity)
            # Special:EntityData answered Q16231742 with its target (dahlia-wikidata fixture)
            self._redirects.setdefault("Q16231742", "Q3571994")
            self._loaded = True

    def add(self, entity: dict[str, Any]) -> None:
        """Serve ``entity`` (until the server's ``reset()``), e.g. one the sample holds."""
        self._added[entity["id"]] = entity

    def add_redirect(self, source: str, target: str) -> None:
        self._added_redirects[source] = target

    def _entity(self, ident: str) -> dict[str, Any] | None:
        if ident in self._added:
            return self._added[ident]
        return None if ident in self._missing else self._entities.get(ident)

    def lookup(self, ident: str) -> tuple[str, dict[str, Any] | None]:
        """``("ok" | "redirect" | "missing", entity)``."""
        self._load()
        target = self._added_redirects.get(ident) or self._redirects.get(ident)
        if target and self._entity(target) is not None:
            return "redirect", self._entity(target)
        entity = self._entity(ident)
        return ("ok", entity) if entity is not None else ("missing", None)

    @property
    def ids(self) -> list[str]:
        self._load()
        return sorted(set(self._entities) | set(self._added))


def filter_entity(entity: Mapping[str, Any], props: set[str], languages: set[str] | None) -> dict[str, Any]:
    """What wbgetentities returns for ``props`` and ``languages``."""
    out: dict[str, Any] = {"type": entity.get("type"), "id": entity.get("id")}
    if "info" in props:
        for key in ("pageid", "ns", "title", "lastrevid", "modified"):
            if key in entity:
                out[key] = entity[key]
    if "datatype" in entity:
        out["datatype"] = entity["datatype"]
    for key in ("labels", "descriptions", "aliases"):
        if key in props:
            values = entity.get(key) or {}
            if languages is not None and isinstance(values, dict):
                values = {k: v for k, v in values.items() if k in languages}
            out[key] = values
    for key in ("claims", "sitelinks"):
        if key in props:
            out[key] = entity.get(key) or {}
    return out


# -- revisions --------------------------------------------------------------------------------


@dataclass
class StoredRevision:
    revid: int
    parentid: int
    timestamp: datetime
    content: str | None
    comment: str = ""
    derived: bool = True


@dataclass
class Page:
    title: str
    pageid: int
    ns: int = 0
    revisions: dict[int, StoredRevision] = field(default_factory=dict)

    def ordered(self) -> list[StoredRevision]:
        return sorted(self.revisions.values(), key=lambda r: (r.timestamp, r.revid))


class RevisionStore:
    """Pages and their revisions (content = entity JSON text), from the recorded answers."""

    RECORDED = (
        "mediawiki_api/wikiedu_wikidata_query_revisions_rvprop_content_ids_comment.json",
        "mediawiki_api/wikiedu_wikidata_query_revisions_rvprop_content_ids_comment_parents.json",
        "mediawiki_api/editgroups_revisions_content_Q56427813.json",
        "mediawiki_api/editgroups_revisions_content_Q62050703.json",
    )

    def __init__(self, fixtures_dir: Path) -> None:
        self.fixtures_dir = fixtures_dir
        self.pages: dict[str, Page] = {}
        self._added: list[tuple[str, int]] = []  # dropped by reset()
        self._loaded = False
        self._lock = threading.Lock()

    def reset(self) -> None:
        for title, revid in self._added:
            page = self.pages.get(title)
            if page is not None:
                page.revisions.pop(revid, None)
                if not page.revisions:
                    del self.pages[title]
        self._added.clear()

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            for name in self.RECORDED:
                data = json.loads((self.fixtures_dir / name).read_text(encoding="utf-8"))
                pages = data["query"]["pages"]
                for page in pages.values() if isinstance(pages, dict) else pages:
                    stored = self.pages.setdefault(
                        page["title"], Page(page["title"], int(page.get("pageid", 0)), int(page.get("ns", 0)))
                    )
                    for rev in page.get("revisions", []):
                        main = rev.get("slots", {}).get("main", {})
                        stored.revisions[int(rev["revid"])] = StoredRevision(
                            revid=int(rev["revid"]),
                            parentid=int(rev.get("parentid", 0)),
                            timestamp=derived_timestamp(int(rev["revid"])),
                            content=main.get("content", main.get("*")),
                            comment=rev.get("comment", ""),
                        )
            self._loaded = True

    def add_revision(
        self,
        title: str,
        revid: int,
        timestamp: datetime,
        entity: Mapping[str, Any] | None,
        *,
        parentid: int | None = None,
        comment: str = "",
    ) -> None:
        """Add one revision (content = ``entity`` serialised), e.g. to build a timeline in a test."""
        self._load()
        page = self.pages.setdefault(title, Page(title, 10_000_000 + len(self.pages)))
        if parentid is None:
            earlier = [r.revid for r in page.revisions.values() if r.revid < revid]
            parentid = max(earlier, default=0)
        page.revisions[revid] = StoredRevision(
            revid, parentid, timestamp.astimezone(UTC), json.dumps(entity) if entity else None, comment
        )
        self._added.append((title, revid))

    def pages_snapshot(self) -> list[Page]:
        self._load()
        return list(self.pages.values())

    def page(self, title: str) -> Page | None:
        self._load()
        return self.pages.get(title)

    def by_revid(self, revid: int) -> tuple[Page, StoredRevision] | None:
        self._load()
        for page in self.pages.values():
            if revid in page.revisions:
                return page, page.revisions[revid]
        return None


# -- Wikipedia page props ----------------------------------------------------------------------


class PageProps:
    """Wikipedia pages (title -> page with pageprops) and redirects, from the wptools answers."""

    RECORDED = (
        "mediawiki_api/wptools_enwiki_query_pageprops_wikibase_item_Douglas_Adams.json",
        "mediawiki_api/wptools_enwiki_query_pageprops_redirect_Adams_Douglas.json",
        "mediawiki_api/wptools_enwiki_query_pageprops_disambiguation.json",
    )

    def __init__(self, fixtures_dir: Path) -> None:
        self.pages: dict[str, dict[str, Any]] = {}
        self.redirects: dict[str, str] = {}
        for name in self.RECORDED:
            data = json.loads((fixtures_dir / name).read_text(encoding="utf-8"))
            query = data.get("query", {})
            for page in query.get("pages", []):
                kept = {k: page[k] for k in ("pageid", "ns", "title", "pageprops") if k in page}
                self.pages.setdefault(page["title"], kept)
            for red in query.get("redirects", []):
                self.redirects[red["from"]] = red["to"]
        self._recorded = (dict(self.pages), dict(self.redirects))

    def reset(self) -> None:
        self.pages, self.redirects = dict(self._recorded[0]), dict(self._recorded[1])

    def add_page(
        self,
        title: str,
        qid: str | None,
        *,
        disambiguation: bool = False,
        redirects_from: Iterable[str] = (),
    ) -> None:
        props: dict[str, str] = {}
        if qid:
            props["wikibase_item"] = qid
        if disambiguation:
            props["disambiguation"] = ""
        page: dict[str, Any] = {"pageid": 20_000_000 + len(self.pages), "ns": 0, "title": title}
        if props:
            page["pageprops"] = props
        self.pages[title] = page
        for source in redirects_from:
            self.redirects[source] = title


def normalize_title(title: str) -> str:
    text = title.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


# -- page views ---------------------------------------------------------------------------------


@dataclass
class Recorded:
    status: int
    body: bytes
    content_type: str


class PageviewsData:
    """Daily views per (project, article) and the recorded per-article answers."""

    def __init__(self, fixtures_dir: Path) -> None:
        self.dir = fixtures_dir / "pageviews" / "wikiedu_per_article"
        self.daily: dict[tuple[str, str], dict[date, int]] = {}
        self.derived: set[tuple[str, str]] = set()
        self.recorded: dict[str, Recorded] = {}  # unquoted REST path -> exact recorded answer
        for line in (self.dir / "index.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            body = (self.dir / entry["file"]).read_bytes()
            path = unquote(urlsplit(entry["request_uri"]).path)
            rest = path.split("/api/rest_v1", 1)[1]
            self.recorded[rest] = Recorded(int(entry["http_status"]), body, entry["content_type"])
            if int(entry["http_status"]) == 200:
                for item in json.loads(body).get("items", []):
                    key = (item["project"], normalize_title(item["article"]))
                    day = datetime.strptime(item["timestamp"][:8], "%Y%m%d").date()
                    self.daily.setdefault(key, {})[day] = int(item["views"])
        self._recorded = {k: dict(v) for k, v in self.daily.items()}

    def reset(self) -> None:
        self.daily = {k: dict(v) for k, v in self._recorded.items()}
        self.derived.clear()

    def add_daily(self, article: str, views: Mapping[date, int], project: str = "en.wikipedia") -> None:
        """Give an article daily views (DERIVED data, e.g. to build a top list in a test)."""
        key = (project, normalize_title(article))
        self.daily.setdefault(key, {}).update({d: int(v) for d, v in views.items()})
        self.derived.add(key)

    def views_between(self, project: str, article: str, start: date, end: date) -> dict[date, int] | None:
        days = self.daily.get((project, normalize_title(article)))
        if days is None:
            return None
        return {d: v for d, v in sorted(days.items()) if start <= d <= end}

    def top(self, project: str, start: date, end: date, limit: int = 1000) -> list[tuple[str, int]]:
        totals: dict[str, int] = {}
        for (proj, article), days in self.daily.items():
            if proj != project:
                continue
            total = sum(v for d, v in days.items() if start <= d <= end)
            if total:
                totals[article] = total
        return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def parse_query(raw: str) -> dict[str, str]:
    return dict(parse_qsl(raw, keep_blank_values=True))
