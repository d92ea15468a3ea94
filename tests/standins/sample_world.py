"""The bundled sample, served through the live code path.

``install_sample_world`` puts the sample's RDF into an ``oxigraph serve`` and its revision log,
Wikipedia titles and page views into the recorded-response server, in the shapes the real APIs
answer with, so ``LiveSource`` (SPARQLWrapper + MediaWiki + pageviews clients) sees the same world
as the in-process ``SampleSource``. Everything served from the sample's side tables is derived
data (see dafset/sources/sample/data/NOTICE.md), as the recorded server's own derived answers are.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dafset.settings import get_settings
from dafset.sources.queries import PREFIXES
from dafset.sources.sample.source import SampleSource
from standins.oxigraph import OxigraphServer
from standins.recorded import RecordedServer

_STATEMENTS = (
    PREFIXES
    + """
SELECT ?item ?property ?statement ?value ?rank WHERE {
  VALUES ?item { %s }
  ?item ?p ?statement .
  ?property wikibase:claim ?p ; wikibase:statementProperty ?ps .
  ?statement ?ps ?value ; wikibase:rank ?rank .
}"""
)


SITELINKS = "<http://wikiba.se/ontology#sitelinks>"


def load_sample_rdf(server: OxigraphServer) -> OxigraphServer:
    """The sample's RDF, less the sitelink counts the sample made up: the live code path cannot
    tell a made-up count from a real one, so the stand-in serves only what the sample knows (its
    ``derived_fields``), as the in-process source reads it."""
    path = get_settings().sample_dir / "wikidata.nt.gz"
    made_up = {
        f"<http://www.wikidata.org/entity/{qid}>"
        for qid, row in SampleSource()._provenance.items()
        if "sitelinks" in row["derived"]
    }
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    kept = [ln for ln in lines if not (f" {SITELINKS} " in ln and ln.split(" ", 1)[0] in made_up)]
    server.load(("\n".join(kept) + "\n").encode("utf-8"), "application/n-triples")
    return server


def _json_statement_id(rdf_id: str) -> str:
    """RDF spells ``Q42$ABC`` as ``Q42-ABC``; revision content uses the ``$`` form."""
    qid, _, guid = rdf_id.partition("-")
    return f"{qid}${guid}"


def _claim(pid: str, sid: str, value: str, rank: str) -> dict[str, Any]:
    if value.startswith("Q") and value[1:].isdigit():
        datavalue = {"value": {"entity-type": "item", "id": value}, "type": "wikibase-entityid"}
    else:
        datavalue = {"value": value, "type": "string"}
    return {
        "id": _json_statement_id(sid),
        "rank": rank,
        "type": "statement",
        "mainsnak": {"snaktype": "value", "property": pid, "datavalue": datavalue},
    }


def _statements(sample: SampleSource, items: list[str]) -> dict[str, list[tuple[str, str, str, str]]]:
    out: dict[str, list[tuple[str, str, str, str]]] = {}
    for start in range(0, len(items), 300):
        values = " ".join(f"wd:{q}" for q in items[start : start + 300])
        for row in sample.store.query(_STATEMENTS % values):
            item = row["item"].value.rsplit("/", 1)[-1]
            sid = row["statement"].value.rsplit("/", 1)[-1]
            rank = row["rank"].value.rsplit("#", 1)[-1].removesuffix("Rank").lower()
            value = row["value"].value
            value = value.rsplit("/", 1)[-1] if value.startswith("http://www.wikidata.org/entity/") else value
            out.setdefault(item, []).append((row["property"].value.rsplit("/", 1)[-1], sid, value, rank))
    return out


def _install_revisions(recorded: RecordedServer, sample: SampleSource) -> int:
    items = sorted(sample._revisions)
    statements = _statements(sample, items)
    count = 0
    for qid in items:
        log = sample.revisions(qid)
        later = {a["statement"] for rev in log for a in rev["adds"]}
        present = {sid for (_, sid, _, _) in statements.get(qid, []) if sid not in later}
        by_sid = {sid: (pid, sid, value, rank) for (pid, sid, value, rank) in statements.get(qid, [])}
        for rev in log:
            present |= {a["statement"] for a in rev["adds"]}
            claims: dict[str, list[dict[str, Any]]] = {}
            for sid in sorted(present):
                if sid in by_sid:
                    pid, _, value, rank = by_sid[sid]
                    claims.setdefault(pid, []).append(_claim(pid, sid, value, rank))
            moment = datetime.fromisoformat(rev["timestamp"].replace("Z", "+00:00"))
            recorded.revisions.add_revision(
                qid,
                int(rev["revid"]),
                moment,
                {"type": "item", "id": qid, "claims": claims},
                parentid=int(rev["parentid"]),
                comment=rev["comment"],
            )
            count += 1
    return count


def _install_views(recorded: RecordedServer, sample: SampleSource, start: date, days: int) -> int:
    """Daily views whose sum over the window equals what SampleSource reports for it."""
    rows = sample._views.values()
    for row in rows:
        recorded.pageprops.add_page(row["title"], row["qid"])
        total = sample._scaled(row, days).views
        base, extra = divmod(total, days)
        daily = {start + timedelta(days=i): base + (1 if i < extra else 0) for i in range(days)}
        recorded.pageviews.add_daily(row["title"], daily)
    return len(rows)


@dataclass
class SampleWorld:
    """Handle given to tests: ``env`` points the live code path at the stand-ins."""

    recorded: RecordedServer
    oxigraph: OxigraphServer
    env: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def faults(self, fraction: float, seed: int = 0) -> None:
        """About ``fraction`` of all requests (SPARQL included) answered with a transient fault."""
        self.recorded.fail_randomly(
            fraction, seed=seed, kinds=("429", "503", "truncated_length", "truncated_json")
        )


def install_sample_world(
    recorded: RecordedServer, oxigraph: OxigraphServer, window_start: date, window_days: int
) -> SampleWorld:
    sample = SampleSource()
    recorded.proxy_sparql(oxigraph.query_url)
    recorded.random_titles = sample.random_items(10**9)  # the same random order as the sample's
    counts = {
        "revisions": _install_revisions(recorded, sample),
        "titles": _install_views(recorded, sample, window_start, window_days),
    }
    env = {
        **recorded.env(),
        "DAFSET_BACKOFF_BASE_S": "0.01",
        "DAFSET_BACKOFF_MAX_S": "0.05",
        "DAFSET_HTTP_TIMEOUT_S": "20",
        "DAFSET_CONTACT": "dafset-tests@example.org",
    }
    return SampleWorld(recorded, oxigraph, env, counts)


def utc_day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
