"""A local HTTP server that answers like Wikidata, Wikipedia and the pageviews REST API.

Answers come from the real recorded responses (``wikimedia_data``): an exact recorded request is
replayed byte for byte (the ``index.jsonl`` files map request URIs to bodies); anything else is
answered by looking up the ids or titles in the request. On top of that:

- a route table other code can extend: ``server.add_route(matcher, factory)``;
- fault injection, for the next N requests or a seeded random fraction: 429 with Retry-After,
  500 with a ``java.util.concurrent.TimeoutException`` body (WDQS's timeout), 503, slow answers,
  truncated bodies (short of their Content-Length, or cut JSON) and the real maxlag error;
- ``/sparql`` proxied to a SPARQL endpoint (``oxigraph serve``), so faults can sit in front of it;
- a log of every request (path, params, headers) for assertions on the User-Agent.

Endpoints: ``mediawiki_api`` (``/wikidata/w/api.php``), ``wikipedia_api`` (``/enwiki/w/api.php``),
``pageviews_api`` (``/api/rest_v1``), ``sparql_endpoint`` (``/sparql``).
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from standins.wikimedia_data import (
    EntityIndex,
    PageProps,
    PageviewsData,
    RevisionStore,
    filter_entity,
    iso,
    normalize_title,
)

DERIVED_HEADER = "X-Standin-Derived"
API_LIMIT = 50

# WDQS reports its 60 s query timeout as a 500 with a Java stack trace. The text below follows
# that shape; it is synthesised (no recorded body exists in the fixtures).
TIMEOUT_BODY = (
    "SPARQL-QUERY: queryStr=SELECT ...\n"
    "java.util.concurrent.TimeoutException\n"
    "\tat java.util.concurrent.FutureTask.get(FutureTask.java:205)\n"
    "\tat com.bigdata.rdf.sail.webapp.BigdataServlet.submitApiTask(BigdataServlet.java:292)\n"
)


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str  # percent-decoded
    raw_path: str
    params: dict[str, str]  # query string and form body
    headers: dict[str, str]
    body: bytes

    @property
    def user_agent(self) -> str:
        return self.headers.get("User-Agent", "")


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


Matcher = Callable[[Request], bool] | str
Factory = Callable[[Request], Reply]

FAULT_KINDS = ("429", "500_timeout", "503", "slow", "truncated_length", "truncated_json", "maxlag", "status")
RANDOM_KINDS = ("429", "500_timeout", "503", "truncated_length", "truncated_json")


@dataclass
class Fault:
    """One injected failure. ``status`` is for kind "status" (e.g. a permanent 404)."""

    kind: str
    retry_after: str | None = None
    delay_s: float = 0.0
    status: int = 400

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")


def _matches(matcher: Matcher | None, request: Request) -> bool:
    if matcher is None:
        return True
    if isinstance(matcher, str):
        return request.path.startswith(matcher)
    return bool(matcher(request))


class FaultPlan:
    """Faults queued for the next N matching requests, then a seeded random fraction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[list[Any]] = []  # [matcher, fault, remaining]
        self._random: tuple[float, random.Random, tuple[Fault, ...], Matcher | None] | None = None
        self.served: list[tuple[str, str]] = []  # (path, kind) of every fault served

    def add(self, fault: Fault, times: int, match: Matcher | None) -> None:
        with self._lock:
            self._queue.append([match, fault, times])

    def set_random(self, fraction: float, seed: int, faults: tuple[Fault, ...], match: Matcher | None) -> None:
        with self._lock:
            self._random = (fraction, random.Random(seed), faults, match)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._random = None
            self.served.clear()

    def take(self, request: Request) -> Fault | None:
        with self._lock:
            for entry in self._queue:
                matcher, fault, remaining = entry
                if remaining > 0 and _matches(matcher, request):
                    entry[2] -= 1
                    self.served.append((request.path, fault.kind))
                    return fault
            if self._random is not None:
                fraction, rng, faults, matcher = self._random
                if _matches(matcher, request) and rng.random() < fraction:
                    fault = rng.choice(faults)
                    self.served.append((request.path, fault.kind))
                    return fault
        return None


class RecordedServer:
    """``ThreadingHTTPServer`` on 127.0.0.1 in a thread; see the module docstring."""

    def __init__(self, fixtures_dir: Path) -> None:
        self.fixtures_dir = fixtures_dir
        self.entities = EntityIndex(fixtures_dir)
        self.revisions = RevisionStore(fixtures_dir)
        self.pageprops = PageProps(fixtures_dir)
        self.pageviews = PageviewsData(fixtures_dir)
        self.maxlag_body = (fixtures_dir / "mediawiki_api" / "wdtk_error-maxlag-full.json").read_bytes()
        self.replays = _load_replays(fixtures_dir)
        self.faults = FaultPlan()
        self.requests: list[Request] = []
        self.random_titles: list[str] | None = None  # list=random's order; None: the recorded ids
        self.sparql_upstream: str | None = None
        self._routes: list[tuple[Matcher, Factory]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> RecordedServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="recorded-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def reset(self) -> None:
        """Forget added routes, faults, added data and the request log; recorded data stays."""
        with self._lock:
            self._routes.clear()
            self.requests.clear()
        self.faults.clear()
        self.sparql_upstream = None
        self.random_titles = None
        for store in (self.entities, self.revisions, self.pageprops, self.pageviews):
            store.reset()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def mediawiki_api(self) -> str:
        return f"{self.url}/wikidata/w/api.php"

    @property
    def wikipedia_api(self) -> str:
        return f"{self.url}/enwiki/w/api.php"

    @property
    def pageviews_api(self) -> str:
        return f"{self.url}/api/rest_v1"

    @property
    def sparql_endpoint(self) -> str:
        return f"{self.url}/sparql"

    def env(self) -> dict[str, str]:
        """``DAFSET_*`` settings that point the live code path at this server."""
        return {
            "DAFSET_SPARQL_ENDPOINT": self.sparql_endpoint,
            "DAFSET_MEDIAWIKI_API": self.mediawiki_api,
            "DAFSET_WIKIPEDIA_API": self.wikipedia_api,
            "DAFSET_PAGEVIEWS_API": self.pageviews_api,
        }

    # -- extension points -------------------------------------------------------------------------

    def add_route(self, matcher: Matcher, factory: Factory) -> None:
        """Answer requests ``matcher`` accepts (a path prefix or a predicate) with ``factory``.
        Added routes are tried newest first, before the built-in ones."""
        with self._lock:
            self._routes.insert(0, (matcher, factory))

    def proxy_sparql(self, upstream: str) -> None:
        """Forward ``/sparql`` to ``upstream`` (e.g. ``oxigraph.query_url``), faults applied first."""
        self.sparql_upstream = upstream

    def fail_next(
        self,
        kind: str,
        times: int = 1,
        *,
        match: Matcher | None = None,
        retry_after: str | None = None,
        delay_s: float = 0.0,
        status: int = 400,
    ) -> None:
        """Answer the next ``times`` matching requests with a fault (see ``FAULT_KINDS``)."""
        self.faults.add(Fault(kind, retry_after, delay_s, status), times, match)

    def fail_randomly(
        self,
        fraction: float = 0.2,
        *,
        seed: int = 0,
        kinds: Iterable[str] = RANDOM_KINDS,
        match: Matcher | None = None,
        retry_after: str = "0",
        delay_s: float = 0.0,
    ) -> None:
        """Answer a seeded random ``fraction`` of matching requests with one of ``kinds``."""
        faults = tuple(Fault(k, retry_after, delay_s) for k in kinds)
        self.faults.set_random(fraction, seed, faults, match)

    def clear_faults(self) -> None:
        self.faults.clear()

    def requests_to(self, prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    # -- dispatch ---------------------------------------------------------------------------------

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def answer(self, request: Request) -> Reply:
        with self._lock:
            routes = list(self._routes)
        for matcher, factory in routes:
            if _matches(matcher, request):
                return factory(request)
        replay = self.replays.get(_replay_key(request.path, request.params))
        if replay is not None:
            return replay
        if request.path.endswith("/w/api.php"):
            return self._mediawiki(request)
        if request.path.startswith("/api/rest_v1/metrics/pageviews/"):
            return self._pageviews(request)
        if request.path == "/sparql" and self.sparql_upstream:
            return self._proxy(request)
        return Reply(404, {"error": f"no stand-in route for {request.path}"})

    def fault_reply(self, fault: Fault, request: Request) -> Reply | None:
        """The reply for a fault, or None when the fault only changes how the real one is sent."""
        if fault.kind == "429":
            return Reply(429, "Too Many Requests", "text/plain", {"Retry-After": fault.retry_after or "1"})
        if fault.kind == "500_timeout":
            return Reply(500, TIMEOUT_BODY, "text/plain; charset=utf-8")
        if fault.kind == "503":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return Reply(503, "Service Unavailable", "text/plain", headers)
        if fault.kind == "maxlag":
            headers = {"Retry-After": fault.retry_after or "1", "MediaWiki-API-Error": "maxlag", "X-Database-Lag": "3"}
            return Reply(200, self.maxlag_body, "application/json; charset=utf-8", headers)
        if fault.kind == "status":
            return Reply(fault.status, {"error": {"code": f"http-{fault.status}", "info": "injected"}})
        return None

    # -- MediaWiki Action API -----------------------------------------------------------------------

    def _mediawiki(self, request: Request) -> Reply:
        params = request.params
        action = params.get("action")
        if action == "wbgetentities":
            return self._wbgetentities(params)
        if action == "query" and "revisions" in params.get("prop", "").split("|"):
            return self._revisions(params)
        if action == "query" and "pageprops" in params.get("prop", "").split("|"):
            return self._pageprops(params)
        if action == "query" and params.get("list") == "recentchanges":
            return self._recentchanges(params)
        if action == "query" and params.get("list") == "random":
            return self._random(params)
        return Reply(200, _api_error("badvalue", f"stand-in does not answer action={action}"))

    def _wbgetentities(self, params: dict[str, str]) -> Reply:
        ids = [i for i in params.get("ids", "").split("|") if i]
        if len(ids) > API_LIMIT:
            return Reply(200, _api_error("toomanyvalues", f'Too many values supplied for parameter "ids". The limit is {API_LIMIT}.'))
        props = set(params.get("props", "info|sitelinks|aliases|labels|descriptions|claims|datatype").split("|"))
        languages = set(params["languages"].split("|")) if params.get("languages") else None
        entities: dict[str, Any] = {}
        for ident in ids:
            state, entity = self.entities.lookup(ident)
            if state == "missing" or entity is None:
                if not _looks_like_id(ident):
                    return Reply(200, _api_error("no-such-entity", f'Could not find an entity with the ID "{ident}".'))
                entities[ident] = {"id": ident, "missing": ""}
                continue
            out = filter_entity(entity, props, languages)
            if state == "redirect":  # keyed by the requested id, as the recorded Q32063953 is
                out["redirects"] = {"from": ident, "to": entity["id"]}
            entities[ident] = out
        return Reply(200, {"entities": entities, "success": 1})

    def _revisions(self, params: dict[str, str]) -> Reply:
        props = set(params.get("rvprop", "ids|timestamp|flags|comment|user").split("|"))
        headers = {DERIVED_HEADER: "revision timestamps derived from revision ids"}
        if params.get("revids"):
            grouped: dict[str, dict[str, Any]] = {}
            bad: list[dict[str, int]] = []
            for text in params["revids"].split("|"):
                found = self.revisions.by_revid(int(text))
                if found is None:
                    bad.append({"revid": int(text)})
                    continue
                page, rev = found
                entry = grouped.setdefault(page.title, {"pageid": page.pageid, "ns": page.ns, "title": page.title, "revisions": []})
                entry["revisions"].append(_revision_json(rev, props))
            query: dict[str, Any] = {"pages": list(grouped.values())}
            if bad:
                query["badrevids"] = {str(b["revid"]): b for b in bad}
            return Reply(200, {"batchcomplete": True, "query": query}, headers=headers)
        titles = [t for t in params.get("titles", "").split("|") if t]
        if len(titles) != 1 and ("rvstart" in params or "rvlimit" in params):
            return Reply(200, _api_error("multpages", "rvstart/rvlimit may only be used with a single page."))
        pages = []
        cont: dict[str, str] | None = None
        for title in titles:
            page = self.revisions.page(title)
            if page is None:
                pages.append({"ns": 0, "title": title, "missing": True})
                continue
            revs, cont = _select_revisions(page.ordered(), params)
            entry: dict[str, Any] = {"pageid": page.pageid, "ns": page.ns, "title": page.title}
            if revs:
                entry["revisions"] = [_revision_json(r, props) for r in revs]
            pages.append(entry)
        body: dict[str, Any] = {"batchcomplete": True, "query": {"pages": pages}}
        if cont:
            body = {"continue": {**cont, "continue": "||"}, "query": {"pages": pages}}
        return Reply(200, body, headers=headers)

    def _recentchanges(self, params: dict[str, str]) -> Reply:
        """``list=recentchanges`` over the revision store (rcdir=older: rcstart is the later time)."""
        newer = params.get("rcdir", "older") == "newer"
        first, last = _stamp(params.get("rcstart")), _stamp(params.get("rcend"))
        low, high = (first, last) if newer else (last, first)
        namespaces = {int(n) for n in params.get("rcnamespace", "0").split("|") if n}
        rows = []
        for page in self.revisions.pages_snapshot():
            if page.ns not in namespaces:
                continue
            for rev in page.ordered():
                if (low is None or rev.timestamp >= low) and (high is None or rev.timestamp <= high):
                    rows.append((rev.timestamp, rev.revid, page, rev))
        rows.sort(key=lambda r: (r[0], r[1]), reverse=not newer)
        offset = int(params.get("rccontinue", "0|0").split("|")[-1])
        limit = 500 if params.get("rclimit", "10") == "max" else int(params.get("rclimit", "10"))
        chunk = rows[offset : offset + limit]
        changes = [
            {
                "type": "new" if rev.parentid == 0 else "edit",
                "ns": page.ns,
                "title": page.title,
                "pageid": page.pageid,
                "revid": rev.revid,
                "old_revid": rev.parentid,
                "rcid": 900_000_000 + rev.revid % 100_000_000,
                "timestamp": f"{rev.timestamp:%Y-%m-%dT%H:%M:%SZ}",
                **({"comment": rev.comment} if "comment" in params.get("rcprop", "").split("|") else {}),
            }
            for _, _, page, rev in chunk
        ]
        body: dict[str, Any] = {"batchcomplete": True, "query": {"recentchanges": changes}}
        if offset + limit < len(rows):
            body = {"continue": {"rccontinue": f"{chunk[-1][0]:%Y%m%d%H%M%S}|{offset + limit}", "continue": "-||"}, **body}
        return Reply(200, body, headers={DERIVED_HEADER: "recent changes listed from the stand-in's revisions"})

    def _random(self, params: dict[str, str]) -> Reply:
        """``list=random`` over ``random_titles`` (a fixed order, walked on by ``rncontinue``), in
        the documented shape; no real answer was recorded, so it is marked derived."""
        offset = int(params.get("rncontinue", "0|0").split("|")[-1])
        limit = min(500, int(params.get("rnlimit", "1")))
        order = self.random_titles if self.random_titles is not None else self.entities.ids
        titles = order[offset : offset + limit]
        rows = [{"id": 30_000_000 + offset + i, "ns": 0, "title": t} for i, t in enumerate(titles)]
        body: dict[str, Any] = {"batchcomplete": "", "query": {"random": rows}}
        if offset + limit < len(order):
            body["continue"] = {"rncontinue": f"0.5|0.5|0|{offset + limit}", "continue": "-||"}
        return Reply(200, body, headers={DERIVED_HEADER: "random pages listed from the stand-in's items"})

    def _pageprops(self, params: dict[str, str]) -> Reply:
        titles = [t for t in params.get("titles", "").split("|") if t]
        if len(titles) > API_LIMIT:
            return Reply(200, _api_error("toomanyvalues", f'Too many values supplied for parameter "titles". The limit is {API_LIMIT}.'))
        wanted = set(params.get("ppprop", "").split("|")) - {""}
        normalized, redirects, pages = [], [], {}
        for title in titles:
            name = normalize_title(title)
            if name != title:
                normalized.append({"fromencoded": False, "from": title, "to": name})
            if "redirects" in params and name in self.pageprops.redirects:
                target = self.pageprops.redirects[name]
                redirects.append({"from": name, "to": target})
                name = target
            page = self.pageprops.pages.get(name)
            if page is None:
                pages[name] = {"ns": 0, "title": name, "missing": True}
                continue
            out = {k: v for k, v in page.items() if k != "pageprops"}
            props = {k: v for k, v in (page.get("pageprops") or {}).items() if not wanted or k in wanted}
            if props:
                out["pageprops"] = props
            pages[name] = out
        query: dict[str, Any] = {"pages": list(pages.values())}
        if normalized:
            query["normalized"] = normalized
        if redirects:
            query["redirects"] = redirects
        return Reply(200, {"batchcomplete": True, "query": query})

    # -- pageviews REST ---------------------------------------------------------------------------

    def _pageviews(self, request: Request) -> Reply:
        raw = urlsplit(request.raw_path).path.split("/api/rest_v1/metrics/pageviews/", 1)[1]
        parts = [unquote(p) for p in raw.split("/")]  # split first: titles may hold "/"
        if parts[0] == "per-article" and len(parts) == 8:
            _, project, access, agent, article, granularity, start, end = parts
            days = self.pageviews.views_between(project, article, _day(start), _day(end))
            if not days:
                return _not_found(request.path)
            items = [
                {"project": project, "article": article.replace(" ", "_"), "granularity": granularity,
                 "timestamp": f"{d:%Y%m%d}00", "access": access, "agent": agent, "views": v}
                for d, v in days.items()
            ]
            headers = {}
            if (project, normalize_title(article)) in self.pageviews.derived:
                headers[DERIVED_HEADER] = "per-article views added by a test (not recorded)"
            return Reply(200, {"items": items}, headers=headers)
        if parts[0] == "top" and len(parts) == 6:
            _, project, access, year, month, day = parts
            if day == "all-days":
                first = date(int(year), int(month), 1)
                last = (date(first.year + first.month // 12, first.month % 12 + 1, 1)).toordinal() - 1
                start, end = first, date.fromordinal(last)
            else:
                start = end = date(int(year), int(month), int(day))
            ranked = self.pageviews.top(project, start, end)
            if not ranked:
                return _not_found(request.path)
            articles = [{"article": a.replace(" ", "_"), "views": v, "rank": i + 1} for i, (a, v) in enumerate(ranked)]
            body = {"items": [{"project": project, "access": access, "year": year, "month": month, "day": day, "articles": articles}]}
            return Reply(200, body, headers={DERIVED_HEADER: "top list synthesised from per-article data; no real top answer was recorded"})
        return Reply(400, {"type": "about:blank", "title": "Bad Request", "status": 400, "uri": request.path})

    # -- SPARQL proxy -------------------------------------------------------------------------------

    def _proxy(self, request: Request) -> Reply:
        assert self.sparql_upstream is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept", "user-agent")}
        url = self.sparql_upstream
        data = request.body if request.method == "POST" else None
        if request.method == "GET":
            url = f"{url}?{urlsplit(request.raw_path).query}"
        upstream = urllib.request.Request(url, data=data, headers=headers, method=request.method)
        try:
            with urllib.request.urlopen(upstream, timeout=60) as resp:
                return Reply(resp.status, resp.read(), resp.headers.get("Content-Type", "application/octet-stream"))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read(), exc.headers.get("Content-Type", "text/plain"))


class _Handler(BaseHTTPRequestHandler):
    owner: RecordedServer
    server_version = "dafset-standin/1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        request = Request(self.command, unquote(split.path), self.path, params, dict(self.headers.items()), body)
        self.owner.record(request)
        fault = self.owner.faults.take(request)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_s or 2.0)
        reply = (self.owner.fault_reply(fault, request) if fault else None) or self.owner.answer(request)
        payload = reply.payload()
        declared = len(payload)
        if fault is not None and fault.kind == "truncated_json":
            payload = payload[: max(1, len(payload) // 2)]
            declared = len(payload)  # honest length, broken JSON
        elif fault is not None and fault.kind == "truncated_length":
            payload = payload[: max(1, len(payload) // 2)]  # declared length stays the full one
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(declared))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired during a slow answer)
        self.close_connection = True


def _api_error(code: str, info: str) -> dict[str, Any]:
    return {"error": {"code": code, "info": info}, "servedby": "dafset-standin"}


def _looks_like_id(text: str) -> bool:
    return len(text) > 1 and text[0] in "QPL" and text[1:].isdigit() and text[1] != "0"


def _day(stamp: str) -> date:
    return datetime.strptime(stamp[:8], "%Y%m%d").date()


def _not_found(path: str) -> Reply:
    # the shape of the real 404 problem document (pageviews/wikiedu_per_article/*NOT_A_REAL*)
    body = {
        "detail": "The date(s) you used are valid, but we either do not have data for those date(s), or the project you asked for is not loaded yet. Please check documentation for more information",
        "method": "get", "status": 404, "title": "Not Found", "type": "about:blank",
        "uri": path.split("/api/rest_v1", 1)[-1],
    }
    return Reply(404, body, "application/problem+json")


def _revision_json(rev: Any, props: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "ids" in props:
        out["revid"] = rev.revid
        out["parentid"] = rev.parentid
    if "timestamp" in props:
        out["timestamp"] = iso(rev.timestamp)
    if "comment" in props:
        out["comment"] = rev.comment
    if "content" in props:
        if rev.content is None:
            out["slots"] = {"main": {"texthidden": True}}
        else:
            out["slots"] = {"main": {"contentmodel": "wikibase-item", "contentformat": "application/json", "content": rev.content}}
    return out


def _select_revisions(ordered: list[Any], params: dict[str, str]) -> tuple[list[Any], dict[str, str] | None]:
    """Revisions per rvdir/rvstart/rvend/rvlimit/rvcontinue, and the continuation if any."""
    newer = params.get("rvdir", "older") == "newer"
    revs = ordered if newer else list(reversed(ordered))
    start = _stamp(params.get("rvstart"))
    end = _stamp(params.get("rvend"))
    if start is not None:
        revs = [r for r in revs if (r.timestamp >= start if newer else r.timestamp <= start)]
    if end is not None:
        revs = [r for r in revs if (r.timestamp <= end if newer else r.timestamp >= end)]
    if params.get("rvcontinue"):
        resume = int(params["rvcontinue"].split("|")[-1])
        ids = [r.revid for r in revs]
        revs = revs[ids.index(resume):] if resume in ids else []
    limit_text = params.get("rvlimit", "1" if "rvstart" not in params and "rvend" not in params else "10")
    limit = 500 if limit_text == "max" else int(limit_text)
    if len(revs) > limit:
        nxt = revs[limit]
        return revs[:limit], {"rvcontinue": f"{nxt.timestamp:%Y%m%d%H%M%S}|{nxt.revid}"}
    return revs, None


def _stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _replay_key(path: str, params: dict[str, str]) -> tuple[str, frozenset[tuple[str, str]]]:
    return path, frozenset((k, v) for k, v in params.items() if k != "maxlag")


def _load_replays(fixtures_dir: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], Reply]:
    """Exact recorded request URI -> recorded body, from the three index files."""
    prefixes = {"www.wikidata.org": "/wikidata", "en.wikipedia.org": "/enwiki", "wikimedia.org": ""}
    indexes = [
        (fixtures_dir / "mediawiki_api" / "wikiedu_mediawiki_api_index.jsonl", fixtures_dir / "mediawiki_api"),
        (fixtures_dir / "mediawiki_api" / "wptools_index.jsonl", fixtures_dir / "mediawiki_api"),
        (fixtures_dir / "pageviews" / "wikiedu_per_article" / "index.jsonl", fixtures_dir / "pageviews" / "wikiedu_per_article"),
    ]
    replays: dict[tuple[str, frozenset[tuple[str, str]]], Reply] = {}
    for index, folder in indexes:
        for line in index.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            uri = urlsplit(entry["request_uri"])
            path = prefixes.get(uri.hostname or "", "") + unquote(uri.path)
            params = dict(parse_qsl(uri.query, keep_blank_values=True))
            content_type = entry.get("content_type", "application/json; charset=utf-8")
            body = (folder / entry["file"]).read_bytes()
            replays[_replay_key(path, params)] = Reply(int(entry.get("http_status", 200)), body, content_type)
    return replays
