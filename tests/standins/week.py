"""A LOAD SIMULATION of one week of Wikidata at its real volume, in the shapes of the real recordings.

Nothing here is recorded data. The shapes are copied from the real recordings in the test data
(``mediawiki_api/wdqs_recent_changes.json`` and ``editgroups_eventstreams_recentchange_*.jsonl``
for recent-change rows and edit summaries, ``editgroups_revisions_content_*.json`` for revision
contents, the Blazegraph-style timeout of ``recorded.TIMEOUT_BODY`` for refusals); the volume is
set by ``edits`` (2 M, 4 M, 8 M ...). Everything is a pure function of ``(seed, index)``, so no
entry is ever materialised: a ``list=recentchanges`` slice, a revision, an item's statements or
its labels are computed when asked for.

The world (stated assumptions, not measurements):

- ``edits`` main-namespace edits in ``[start, end)``, with a daily cycle (rate 1 +/- 0.3);
  consecutive revision ids; each edited item takes two consecutive edits (a tool's session);
- per edit: 4.0% ``wbcreateclaim-create`` and 0.5% ``wbsetclaim-create`` on one of the relations
  (item-valued ones; shares Zipf-like over the relations), 0.5% ``wbeditentity-create`` of a new
  item with 1-3 statements on them: ~5% of edits create claims on the relations; 10% create claims
  on other properties; 2% are ``wbeditentity-update`` that add descriptions only (candidates the
  contents refute); a second edit removes the claim the first one made in 10% of sessions that
  made one (created, then gone by the window end: not an addition); the rest edit labels,
  descriptions, references, sitelinks and claim values;
- ``ID_SPACE`` items exist (Q1 .. ~Q115 M), each with 0-6 statements on the relations made before
  the window, an English label (syllables encoding its number, so labels are unique), 0-2 aliases,
  sitelinks, and a heavy-tailed number of incoming statements;
- WDQS: a query is answered by ``pyoxigraph`` over the triples of the items it names in VALUES,
  generated for the query; a query naming no item, or more than ``WORK_BUDGET_IDS``, would scan
  Wikidata and is refused with HTTP 500 and the timeout text, as WDQS does after 60 s.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from pyoxigraph import QueryResultsFormat, RdfFormat, Store

from standins.recorded import DERIVED_HEADER, TIMEOUT_BODY, RecordedServer, Reply, Request

ID_SPACE = 115_000_007  # a prime: Q1 .. Q115000007 exist in the simulated world
R0 = 2_300_000_000  # the first revision id of the window
WORK_BUDGET_IDS = 500
DAY_S = 86_400.0
CYCLE = 0.3

NAMED_SHARE = 0.040  # wbcreateclaim-create on a relation
SETCLAIM_SHARE = 0.005  # wbsetclaim-create on a relation
CREATE_SHARE = 0.005  # wbeditentity-create with statements on relations
OTHER_CLAIM_SHARE = 0.10  # wbcreateclaim-create on another property
DESCRIPTION_SHARE = 0.02  # wbeditentity-update, descriptions only
REMOVE_SHARE = 0.10  # of sessions whose first edit created a relation claim
OTHER_PROPERTIES = ("P18", "P214", "P227", "P244", "P373", "P646", "P856", "P1566", "P2002", "P625")
OTHER_ACTIONS = (
    "/* wbsetdescription-add:1|nl */ {label}",
    "/* wbsetlabel-add:1|fr */ {label}",
    "/* wbsetreference-add:2| */ [[Property:P31]]: [[Q5]]",
    "/* wbsetclaim-update:2||1|1 */ [[Property:P69]]: [[Q43452]]",
    "/* wbsetsitelink-add:1|dewiki */ {label}",
    "/* wbsetaliases-add:1|en */ {label}",
)
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]  # 70


def _h(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _u(*parts: object) -> float:
    return _h(*parts) / 2.0**64


def label_of(qid: str) -> str:
    """A pronounceable English label that encodes the item number (so titles map back)."""
    n = int(qid[1:])
    words = []
    while True:
        n, digit = divmod(n, len(SYLLABLES))
        words.append(SYLLABLES[digit])
        if n == 0:
            break
    word = "".join(reversed(words))
    half = max(2, len(word) // 2)
    return f"{word[:half].capitalize()} {word[half:].capitalize() or 'Ba'}"


def qid_of_label(label: str) -> str | None:
    text = label.replace(" ", "").lower()
    if len(text) % 2:
        return None
    n = 0
    for i in range(0, len(text), 2):
        syl = text[i : i + 2]
        if syl not in SYLLABLES:
            return None
        n = n * len(SYLLABLES) + SYLLABLES.index(syl)
    qid = f"Q{n}"
    return qid if 1 <= n <= ID_SPACE and label_of(qid) == label else None


@dataclass(frozen=True)
class Claim:
    sid: str  # GUID form Q1$XXXXXXXX-...
    pid: str
    value: str  # a Q-id


@dataclass(frozen=True)
class Entry:
    k: int
    qid: str
    revid: int
    old_revid: int
    timestamp: datetime
    comment: str
    creates: tuple[Claim, ...] = ()
    removes: tuple[str, ...] = ()  # statement GUIDs
    new_item: bool = False


@dataclass
class SimulatedWeek:
    """One simulated week. ``relations`` are the item-valued relations claims are created on."""

    seed: int
    edits: int
    start: datetime
    relations: Sequence[str]
    days: int = 7
    _weights: list[tuple[str, float]] = field(default_factory=list, init=False)
    _a: int = field(default=1, init=False)
    _c: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.relations = frozenset(self.relations)
        ranked = sorted(sorted(self.relations), key=lambda p: _h(self.seed, "rank", p))
        raw = [(p, 1.0 / (i + 1) ** 0.8) for i, p in enumerate(ranked)]
        total = sum(w for _, w in raw)
        running = 0.0
        for p, w in raw:
            running += w / total
            self._weights.append((p, running))
        self._a = 1 + _h(self.seed, "a") % (ID_SPACE - 1)
        self._c = _h(self.seed, "c") % ID_SPACE

    # -- time -------------------------------------------------------------------------------------

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def window_s(self) -> float:
        return self.days * DAY_S

    def _cdf(self, t: float) -> float:
        """Share of the window's edits before ``t`` seconds (rate 1 + CYCLE sin(2 pi t / day))."""
        w = 2 * math.pi / DAY_S
        return (t + CYCLE / w * (1 - math.cos(w * t))) / self.window_s

    def _time_of(self, k: int) -> float:
        y = (k + 0.5) / self.edits
        t = y * self.window_s
        for _ in range(30):
            step = (self._cdf(t) - y) * self.window_s / (1 + CYCLE * math.sin(2 * math.pi * t / DAY_S))
            t -= step
            if abs(step) < 1e-4:
                break
        return t

    def _first_at_or_after(self, seconds: float) -> int:
        return max(0, min(self.edits, math.ceil(self.edits * self._cdf(seconds) - 0.5)))

    def index_range(self, low: datetime, high: datetime) -> range:
        """Edits whose (whole-second) timestamp lies in ``[low, high]``."""
        a = (low - self.start).total_seconds()
        b = (high - self.start).total_seconds() + 1
        return range(self._first_at_or_after(a), self._first_at_or_after(b))

    # -- items ------------------------------------------------------------------------------------

    @property
    def sessions(self) -> int:
        return (self.edits + 1) // 2

    def item_of_session(self, g: int) -> str:
        return f"Q{1 + (self._a * g + self._c) % ID_SPACE}"

    def session_of_item(self, qid: str) -> int | None:
        n = int(qid[1:]) - 1
        g = (pow(self._a, -1, ID_SPACE) * (n - self._c)) % ID_SPACE
        return g if g < self.sessions else None

    def _value(self, *parts: object) -> str:
        return f"Q{1 + _h(self.seed, 'value', *parts) % ID_SPACE}"

    def _guid(self, qid: str, *parts: object) -> str:
        x = f"{_h(self.seed, 'guid', *parts):016X}{_h(self.seed, 'guid2', *parts):016X}"
        return f"{qid}${x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}"

    def _relation(self, *parts: object) -> str:
        u = _u(self.seed, "relation", *parts)
        for p, cum in self._weights:
            if u < cum:
                return p
        return self._weights[-1][0]

    def base_claims(self, qid: str) -> list[Claim]:
        """Statements the item had before the window (none for an item created in it)."""
        g = self.session_of_item(qid)
        if g is not None and self.entry(2 * g).new_item:
            return []
        count = min(6, int(-math.log(1 - _u(self.seed, "count", qid) * 0.999) * 2.0))
        return [
            Claim(self._guid(qid, "base", i), self._relation(qid, "base", i), self._value(qid, "base", i))
            for i in range(count)
        ]

    # -- edits ------------------------------------------------------------------------------------

    def _kind(self, k: int) -> str:
        u = _u(self.seed, "kind", k)
        cuts = (
            ("named", NAMED_SHARE),
            ("setclaim", SETCLAIM_SHARE),
            ("create", CREATE_SHARE),
            ("other_claim", OTHER_CLAIM_SHARE),
            ("description", DESCRIPTION_SHARE),
        )
        for kind, share in cuts:
            if u < share:
                return kind
            u -= share
        return "other"

    def entry(self, k: int) -> Entry:
        g, j = divmod(k, 2)
        qid = self.item_of_session(g)
        stamp = (self.start + timedelta(seconds=self._time_of(k))).replace(microsecond=0)
        revid = R0 + k
        kind = self._kind(k)
        if kind == "create" and j == 1:
            kind = "setclaim"  # a page is created by its session's first edit only
        old = (R0 - 1 - g) if j == 0 else revid - 1
        if j == 1:
            first = self.entry(k - 1)
            made = [c for c in first.creates if c.pid in self.relations]
            if made and _u(self.seed, "remove", k) < REMOVE_SHARE:
                c = made[0]
                comment = f"/* wbremoveclaims-remove:1| */ [[Property:{c.pid}]]: [[{c.value}]]"
                return Entry(k, qid, revid, old, stamp, comment, removes=(c.sid,))
        if kind in ("named", "setclaim"):
            claim = Claim(self._guid(qid, k), self._relation(k), self._value(k))
            action = "wbcreateclaim-create:1|" if kind == "named" else "wbsetclaim-create:2||1"
            comment = f"/* {action} */ [[Property:{claim.pid}]]: [[{claim.value}]]"
            return Entry(k, qid, revid, old, stamp, comment, creates=(claim,))
        if kind == "create":
            n = 1 + _h(self.seed, "n", k) % 3
            claims = tuple(Claim(self._guid(qid, k, i), self._relation(k, i), self._value(k, i)) for i in range(n))
            comment = "/* wbeditentity-create:0| */ #quickstatements; [[:toollabs:quickstatements/#mode=batch]]"
            return Entry(k, qid, revid, 0, stamp, comment, creates=claims, new_item=True)
        if kind == "other_claim":
            pid = OTHER_PROPERTIES[_h(self.seed, "other", k) % len(OTHER_PROPERTIES)]
            claim = Claim(self._guid(qid, k), pid, self._value(k))
            comment = f"/* wbcreateclaim-create:1| */ [[Property:{pid}]]: [[{claim.value}]], #petscan"
            return Entry(k, qid, revid, old, stamp, comment, creates=(claim,))
        if kind == "description":
            comment = "/* wbeditentity-update:0| */ BOT - Adding descriptions (2 languages): cs, io"
            return Entry(k, qid, revid, old, stamp, comment)
        template = OTHER_ACTIONS[_h(self.seed, "action", k) % len(OTHER_ACTIONS)]
        return Entry(k, qid, revid, old, stamp, template.format(label=label_of(qid)))

    def claims_at(self, qid: str, upto: int | None) -> list[Claim]:
        """The item's statements after window edit ``upto`` (None: before the window; the
        window end when ``upto`` is past its session)."""
        claims = {c.sid: c for c in self.base_claims(qid)}
        g = self.session_of_item(qid)
        if g is None or upto is None:
            return list(claims.values())
        for k in range(2 * g, min(2 * g + 2, upto + 1, self.edits)):
            e = self.entry(k)
            claims.update({c.sid: c for c in e.creates})
            for sid in e.removes:
                claims.pop(sid, None)
        return list(claims.values())

    def end_claims(self, qid: str) -> list[Claim]:
        return self.claims_at(qid, self.edits)

    # -- ground truth -----------------------------------------------------------------------------

    def is_addition(self, statement_key: str, revid: int) -> bool:
        """True when window edit ``revid`` created this statement on a relation and it still
        exists at the window end (statement keys in either spelling)."""
        k = revid - R0
        if not 0 <= k < self.edits:
            return False
        e = self.entry(k)
        created = {c.sid.replace("$", "-", 1): c for c in e.creates if c.pid in self.relations}
        key = statement_key.replace("$", "-", 1)
        if key not in created:
            return False
        return key in {c.sid.replace("$", "-", 1) for c in self.end_claims(e.qid)}

    def adds(self, subject: str, relation: str, revid: int) -> bool:
        """True when window edit ``revid`` gave ``subject`` a statement on ``relation`` that
        still exists at the window end."""
        k = revid - R0
        if not 0 <= k < self.edits or self.entry(k).qid != subject:
            return False
        return any(
            self.is_addition(c.sid, revid) for c in self.entry(k).creates if c.pid == relation
        )

    def expected_creations(self) -> float:
        """The expected number of claims created on the relations in the window (some are
        removed again before its end): what the confirmed candidates estimate."""
        makes = NAMED_SHARE + SETCLAIM_SHARE + CREATE_SHARE
        first = NAMED_SHARE + SETCLAIM_SHARE + 2 * CREATE_SHARE
        return self.edits / 2 * (first + (1 - makes * REMOVE_SHARE) * makes)

    def expected_shares(self) -> dict[str, float]:
        """Each relation's expected share of the window's additions."""
        previous = 0.0
        out = {}
        for p, cum in self._weights:
            out[p] = cum - previous
            previous = cum
        return out

    def expected_additions(self) -> float:
        """The expected number of statement additions on the relations in the window."""
        makes = NAMED_SHARE + SETCLAIM_SHARE + CREATE_SHARE  # an edit creating relation claims
        first = NAMED_SHARE + SETCLAIM_SHARE + 2 * CREATE_SHARE  # new items: 1-3 claims, mean 2
        removal = makes * REMOVE_SHARE
        second = (1 - removal) * makes
        return self.edits / 2 * (first + second - removal)

    # -- RDF of items, for the SPARQL stand-in ----------------------------------------------------

    def ntriples(self, qids: Sequence[str], properties: Sequence[str]) -> str:
        wd, wdt = "http://www.wikidata.org/entity/", "http://www.wikidata.org/prop/direct/"
        p_, ps, wds = "http://www.wikidata.org/prop/", "http://www.wikidata.org/prop/statement/", (
            "http://www.wikidata.org/entity/statement/"
        )
        wb, rdfs, skos, schema = (
            "http://wikiba.se/ontology#",
            "http://www.w3.org/2000/01/rdf-schema#",
            "http://www.w3.org/2004/02/skos/core#",
            "http://schema.org/",
        )
        lines: list[str] = []
        for pid in properties:
            lines += [
                f"<{wd}{pid}> <{wb}claim> <{p_}{pid}> .",
                f"<{wd}{pid}> <{wb}statementProperty> <{ps}{pid}> .",
                f"<{wd}{pid}> <{wb}directClaim> <{wdt}{pid}> .",
            ]

        def statement(subject: str, c: Claim) -> None:
            node = f"<{wds}{c.sid.replace('$', '-', 1)}>"
            lines.extend(
                [
                    f"<{wd}{subject}> <{p_}{c.pid}> {node} .",
                    f"{node} <{ps}{c.pid}> <{wd}{c.value}> .",
                    f"{node} <{wb}rank> <{wb}NormalRank> .",
                    f"{node} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{wb}BestRank> .",
                    f"<{wd}{subject}> <{wdt}{c.pid}> <{wd}{c.value}> .",
                ]
            )

        for qid in dict.fromkeys(qids):
            claims = self.end_claims(qid)
            for c in claims:
                statement(qid, c)
            label = label_of(qid)
            lines.append(f"<{wd}{qid}> <{rdfs}label> {json.dumps(label)}@en .")
            for i in range(_h(self.seed, "aliases", qid) % 3):
                alias = f"{label.split()[0]} {SYLLABLES[_h(qid, 'alias', i) % 70].capitalize()}"
                lines.append(f"<{wd}{qid}> <{skos}altLabel> {json.dumps(alias)}@en .")
            sitelinks = int(2 ** (_u(self.seed, "sitelinks", qid) * 7)) - 1
            lines.append(f'<{wd}{qid}> <{wb}sitelinks> "{sitelinks}"^^<http://www.w3.org/2001/XMLSchema#integer> .')
            lines.append(
                f'<{wd}{qid}> <{wb}statements> "{len(claims)}"^^<http://www.w3.org/2001/XMLSchema#integer> .'
            )
            if sitelinks:
                article = f"<https://en.wikipedia.org/wiki/{label.replace(' ', '_')}>"
                lines += [
                    f"{article} <{schema}about> <{wd}{qid}> .",
                    f"{article} <{schema}isPartOf> <https://en.wikipedia.org/> .",
                    f"{article} <{schema}name> {json.dumps(label)}@en .",
                ]
            # incoming statements from other items (heavy-tailed in-degree)
            for i in range(int(2 ** (_u(self.seed, "in", qid) * 6)) - 1):
                source = self._value(qid, "in", i)
                statement(source, Claim(self._guid(source, qid, "in", i), self._relation(qid, "in", i), qid))
        return "\n".join(lines) + "\n"

    # -- JSON of revisions ------------------------------------------------------------------------

    def revision(self, revid: int) -> tuple[str, dict[str, Any]] | None:
        """``(title, revision JSON with content)`` for a window edit or a session's base revision."""
        k = revid - R0
        if 0 <= k < self.edits:
            e = self.entry(k)
            qid, claims, parent, stamp = e.qid, self.claims_at(e.qid, k), e.old_revid, e.timestamp
        elif 0 <= R0 - 1 - revid < self.sessions:
            g = R0 - 1 - revid
            qid = self.item_of_session(g)
            if self.entry(2 * g).new_item:
                return None  # created in the window: it has no revision before it
            claims, parent = self.base_claims(qid), revid - 1_000_000_000
            stamp = self.start - timedelta(days=30 + _h(self.seed, "age", g) % 3000)
        else:
            return None
        entity = {
            "type": "item",
            "id": qid,
            "labels": {"en": {"language": "en", "value": label_of(qid)}},
            "descriptions": {},
            "aliases": {},
            "claims": _claims_json(claims),
            "sitelinks": {},
        }
        rev = {
            "revid": revid,
            "parentid": parent,
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "slots": {
                "main": {
                    "contentmodel": "wikibase-item",
                    "contentformat": "application/json",
                    "content": json.dumps(entity, separators=(",", ":")),
                }
            },
        }
        return qid, rev


def _claims_json(claims: Sequence[Claim]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for c in claims:
        out.setdefault(c.pid, []).append(
            {
                "mainsnak": {
                    "snaktype": "value",
                    "property": c.pid,
                    "datavalue": {
                        "value": {"entity-type": "item", "numeric-id": int(c.value[1:]), "id": c.value},
                        "type": "wikibase-entityid",
                    },
                    "datatype": "wikibase-item",
                },
                "type": "statement",
                "id": c.sid,
                "rank": "normal",
            }
        )
    return out


# -- the routes ------------------------------------------------------------------------------------


@dataclass
class WeekCounters:
    refused: int = 0
    sparql: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def install_week(server: RecordedServer, week: SimulatedWeek, properties: Sequence[str]) -> WeekCounters:
    """Answer the MediaWiki, pageviews and SPARQL requests of a live build from ``week``."""
    counters = WeekCounters()
    header = {DERIVED_HEADER: "load simulation of a real week (tests/standins/week.py)"}

    def api(request: Request) -> Reply:
        params = request.params
        if params.get("list") == "recentchanges":
            return _recent_changes(week, params, header)
        if params.get("list") == "random":
            return _random(week, params, header)
        if "revisions" in params.get("prop", "") and params.get("revids"):
            return _revisions(week, params, header)
        if "pageprops" in params.get("prop", ""):
            return _pageprops(params, header)
        return Reply(200, {"error": {"code": "badvalue", "info": "not simulated"}})

    def sparql(request: Request) -> Reply:
        text = request.params.get("query", "")
        ids = list(dict.fromkeys(re.findall(r"\bwd:(Q[1-9][0-9]*)\b", text)))
        with counters.lock:
            counters.sparql += 1
        if not ids or len(ids) > WORK_BUDGET_IDS:
            with counters.lock:
                counters.refused += 1
            return Reply(500, TIMEOUT_BODY.replace("SELECT ...", " ".join(text.split())[:200]), "text/plain; charset=utf-8")
        store = Store()
        store.load(week.ntriples(ids, properties).encode(), RdfFormat.N_TRIPLES)
        body = store.query(text).serialize(format=QueryResultsFormat.JSON)
        return Reply(200, body, "application/sparql-results+json")

    server.add_route(lambda r: r.path == "/wikidata/w/api.php", api)
    server.add_route(lambda r: r.path == "/enwiki/w/api.php", api)
    server.add_route(lambda r: r.path == "/sparql", sparql)
    server.add_route(lambda r: r.path.startswith("/api/rest_v1/metrics/pageviews/top/"), lambda r: _top(week, r, header))
    return counters


def _recent_changes(week: SimulatedWeek, params: dict[str, str], header: dict[str, str]) -> Reply:
    older = params.get("rcdir", "older") == "older"
    first, last = _stamp(params.get("rcstart")), _stamp(params.get("rcend"))
    high, low = (first, last) if older else (last, first)
    low, high = low or week.start, high or week.end
    span = week.index_range(max(low, week.start), min(high, week.end - timedelta(seconds=1)))
    limit = min(500, int(params.get("rclimit", "10")))
    props = set(params.get("rcprop", "title|timestamp|ids").split("|"))
    indices = range(span.stop - 1, span.start - 1, -1) if older else span
    if params.get("rccontinue"):
        resume = int(params["rccontinue"].split("|")[-1])
        indices = range(resume, span.start - 1, -1) if older else range(resume, span.stop)
    chunk = list(indices[:limit])
    rows = []
    for k in chunk:
        e = week.entry(k)
        row: dict[str, Any] = {"type": "new" if e.new_item else "edit", "ns": 0}
        if "title" in props:
            row.update(title=e.qid, pageid=int(e.qid[1:]) + 1_000)
        if "ids" in props:
            row.update(revid=e.revid, old_revid=e.old_revid, rcid=e.revid + 300_000_000)
        if "timestamp" in props:
            row["timestamp"] = e.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        if "comment" in props:
            row["comment"] = e.comment
        rows.append(row)
    body: dict[str, Any] = {"batchcomplete": "", "query": {"recentchanges": rows}}
    rest = indices[limit:]
    if len(rest):
        nxt = week.entry(rest[0])
        body = {"batchcomplete": "", "continue": {"rccontinue": f"{nxt.timestamp:%Y%m%d%H%M%S}|{rest[0]}", "continue": "-||"}, "query": body["query"]}
    return Reply(200, body, headers=header)


def _revisions(week: SimulatedWeek, params: dict[str, str], header: dict[str, str]) -> Reply:
    revids = [int(r) for r in params["revids"].split("|") if r]
    if len(revids) > 50:
        info = 'Too many values supplied for parameter "revids". The limit is 50.'
        return Reply(200, {"error": {"code": "toomanyvalues", "info": info}})
    pages: dict[str, dict[str, Any]] = {}
    bad = {}
    for revid in revids:
        found = week.revision(revid)
        if found is None:
            bad[str(revid)] = {"revid": revid, "missing": True}
            continue
        qid, rev = found
        page = pages.setdefault(qid, {"pageid": int(qid[1:]) + 1_000, "ns": 0, "title": qid, "revisions": []})
        page["revisions"].append(rev)
    query: dict[str, Any] = {"pages": list(pages.values())}
    if bad:
        query["badrevids"] = bad
    return Reply(200, {"batchcomplete": True, "query": query}, headers=header)


def _random(week: SimulatedWeek, params: dict[str, str], header: dict[str, str]) -> Reply:
    offset = int(params.get("rncontinue", "0|0").split("|")[-1])
    limit = min(500, int(params.get("rnlimit", "1")))
    rows = []
    for i in range(offset, offset + limit):
        n = 1 + _h(week.seed, "random-page", i) % ID_SPACE
        rows.append({"id": n + 1_000, "ns": 0, "title": f"Q{n}"})
    body = {"batchcomplete": "", "continue": {"rncontinue": f"0.5|0.5|0|{offset + limit}", "continue": "-||"}, "query": {"random": rows}}
    return Reply(200, body, headers=header)


def _pageprops(params: dict[str, str], header: dict[str, str]) -> Reply:
    titles = [t for t in params.get("titles", "").split("|") if t]
    if len(titles) > 50:
        info = 'Too many values supplied for parameter "titles". The limit is 50.'
        return Reply(200, {"error": {"code": "toomanyvalues", "info": info}})
    pages = []
    for title in titles:
        qid = qid_of_label(title.replace("_", " "))
        if qid is None:
            pages.append({"ns": 0, "title": title, "missing": True})
        else:
            pages.append({"pageid": int(qid[1:]) + 5_000_000, "ns": 0, "title": title, "pageprops": {"wikibase_item": qid}})
    return Reply(200, {"batchcomplete": True, "query": {"pages": pages}}, headers=header)


def _top(week: SimulatedWeek, request: Request, header: dict[str, str]) -> Reply:
    raw = urlsplit(request.raw_path).path.split("/top/", 1)[1]
    project, access, year, month, day = [unquote(p) for p in raw.split("/")]
    days = 30 if day == "all-days" else 1
    articles = [{"article": "Main_Page", "views": 9_000_000 * days, "rank": 1}]
    articles.append({"article": "Special:Search", "views": 2_000_000 * days, "rank": 2})
    for rank in range(3, 1001):
        qid = f"Q{1 + _h(week.seed, 'top', rank) % ID_SPACE}"
        views = int(1_000_000 * days / rank)
        articles.append({"article": label_of(qid).replace(" ", "_"), "views": views, "rank": rank})
    body = {"items": [{"project": project, "access": access, "year": year, "month": month, "day": day, "articles": articles}]}
    return Reply(200, body, headers=header)


def _stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def week_ending(snapshot: date) -> datetime:
    """The window start of a build whose snapshot date is ``snapshot``."""
    return datetime(snapshot.year, snapshot.month, snapshot.day, tzinfo=UTC) - timedelta(days=7)
