"""HTTP requests and bytes the live path issues per 1,000 samples: sample scale and a real week.

Two worlds, both served on 127.0.0.1 through the live code path (SPARQLWrapper, the MediaWiki
API, the pageviews REST API):

- sample scale: the bundled sample behind a real ``oxigraph serve`` and the recorded-response
  server (``tests/standins``): today's design (the new one) and the old one side by side. The old
  design's changed parts are re-run here: recent from a ``schema:dateModified`` scan plus a
  recent-changes sweep, long_tail's pool from ``ORDER BY ?item LIMIT n``;
- a simulated real week (``tests/standins/week.py``: a load simulation in the shapes of the real
  recordings, 2 M / 4 M / 8 M edits): the whole build at 4 M, the recent harvest at 2 M and 8 M.
  The old design cannot run there (its ``dateModified`` scan is refused like WDQS's 60 s timeout);
  its sweep's size is computed and printed as such.

Per property, the requests are those of its harvest (labels and sitelinks, fetched once for all
properties, count in "all"). The naive way is one request per fact, as RippleEdits fetches (the
fact with its labels and aliases); its bytes are measured on a probe of the build's facts.

    python bench/http_requests.py [--naive-probe 200] [--recent 1000]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the stand-ins live with the tests

# What a per-fact fetcher asks for each fact: its value with the subject's and value's English
# label and aliases (RippleEdits fetches entities one by one for the same information).
NAIVE_QUERY = """
SELECT ?value ?sLabel ?sAlias ?vLabel ?vAlias WHERE {
  wd:%(s)s wdt:%(p)s ?value .
  OPTIONAL { wd:%(s)s rdfs:label ?sLabel FILTER(LANG(?sLabel) = "en") }
  OPTIONAL { wd:%(s)s skos:altLabel ?sAlias FILTER(LANG(?sAlias) = "en") }
  OPTIONAL { ?value rdfs:label ?vLabel FILTER(LANG(?vLabel) = "en") }
  OPTIONAL { ?value skos:altLabel ?vAlias FILTER(LANG(?vAlias) = "en") }
}"""
PROPS = ("recent", "popular", "long_tail")
WEEK_SNAPSHOT = date(2026, 11, 23)


class Metered:
    """Requests and bytes per harvest phase, read off one shared ``HttpStats``."""

    def __init__(self, stats: Any) -> None:
        self.stats = stats
        self.phases: dict[str, tuple[int, int]] = {}

    def around(self, name: str, fn: Callable[[], Any]) -> Any:
        before = self.stats.snapshot()
        try:
            return fn()
        finally:
            after = self.stats.snapshot()
            old = self.phases.get(name, (0, 0))
            self.phases[name] = (
                old[0] + after["requests"] - before["requests"],
                old[1] + after["bytes"] - before["bytes"],
            )


def run_build(cfg: Any, source: Any) -> tuple[Any, Metered, float]:
    """The whole build through ``source``, with each property's harvest metered."""
    from dafset.build import pipeline
    from dafset.build.run import build

    meter = Metered(source.stats)
    original = pipeline.harvest
    pipeline.open_source = lambda _cfg: source  # one source, one counter for the whole build

    def metered(cfg_: Any, prop: str, previous: Any = None) -> Any:
        return meter.around(prop, lambda: original(cfg_, prop, previous))

    pipeline.harvest = metered
    began = time.perf_counter()
    try:
        result = build(cfg)
    finally:
        pipeline.harvest = original
    return result, meter, time.perf_counter() - began


OLD_POOL = 8000  # the old design's long-tail pool: the first 8,000 items by IRI


def old_design(cfg: Any, source: Any, relations: list[str]) -> dict[str, tuple[int, int]]:
    """The old design's recent and long_tail harvests (their requests only), re-run here."""
    from dafset.ids import chunks
    from dafset.properties.facts import SPARQL_BATCH, distinct, fetch_truthy_facts
    from dafset.sources.queries import render_query

    start, end = cfg.window
    meter = Metered(source.stats)

    def recent() -> None:
        far = end.replace(year=end.year + 10)
        text = render_query("modified_items", properties=relations, start=start, end=far)
        candidates = distinct(r["item"] for r in source.sparql.select(text))
        additions = source.statement_additions(candidates, start, far, relations)
        fetch_truthy_facts(source, distinct(a.subject_id for a in additions), relations)

    def long_tail() -> None:
        text = render_query("subjects_with_relations", properties=relations, limit=OLD_POOL, offset=0)
        pool = distinct(r["item"] for r in source.sparql.select(text))
        for query in ("frequency", "in_degree", "out_degree"):
            for batch in chunks(pool, SPARQL_BATCH):
                source.select(query, items=batch)
        fetch_truthy_facts(source, pool, relations)

    meter.around("recent", recent)
    meter.around("long_tail", long_tail)
    return meter.phases


def naive(endpoint: str, facts: Any, probe_n: int) -> tuple[int, float]:
    """(requests, bytes) of fetching every fact the build touched one request at a time."""
    from dafset.hashing import stable_order
    from dafset.ids import check_item, check_property
    from dafset.sources.live.http import HttpStats
    from dafset.sources.live.sparql import SparqlClient
    from dafset.sources.queries import PREFIXES

    stats = HttpStats()
    client = SparqlClient(endpoint, cache=None, stats=stats)
    keys = sorted(set(zip(facts["subject_id"].to_pylist(), facts["relation_id"].to_pylist(), strict=True)))
    probe = stable_order([f"{s}|{r}" for s, r in keys], "naive-probe")[:probe_n]
    for key in probe:
        subject, relation = key.split("|")
        client.select(PREFIXES + NAIVE_QUERY % {"s": check_item(subject), "p": check_property(relation)})
    return len(keys), stats.bytes / max(1, stats.requests) * len(keys)


def bytes_by_kind(server: Any) -> Counter:
    """Wrap the server's dispatch to add up answer bytes per kind of request."""
    totals: Counter = Counter()
    answer = server.answer

    def counted(request: Any) -> Any:
        reply = answer(request)
        params = request.params
        kind = (
            "sparql" if request.path == "/sparql" else params.get("list") or params.get("prop") or "pageviews"
        )
        totals[kind] += len(reply.payload())
        return reply

    server.answer = counted
    return totals


def row(label: str, requests: int, nbytes: float, samples: int) -> str:
    per = 1000 / max(1, samples)
    return (
        f"{label:44}{requests:>9}{nbytes / 1e6:>9.2f}{samples:>8}"
        f"{requests * per:>12.0f}{nbytes / 1e6 * per:>9.2f}{nbytes / max(1, samples) / 1e3:>10.1f}"
    )


HEADER = f"{'':44}{'requests':>9}{'MB':>9}{'samples':>8}{'req/1k':>12}{'MB/1k':>9}{'KB/sample':>10}"


def sample_scale(args: argparse.Namespace, work: Path) -> None:
    from standins.oxigraph import OxigraphServer
    from standins.recorded import RecordedServer
    from standins.sample_world import install_sample_world, load_sample_rdf

    from dafset.config import SAMPLE_SNAPSHOT, BuildConfig
    from dafset.relations import load_relations
    from dafset.settings import get_settings
    from dafset.sources.live.cache import ResponseCache
    from dafset.sources.live.http import HttpStats

    oxigraph = load_sample_rdf(OxigraphServer().start())
    recorded = RecordedServer(args.fixtures or get_settings().fixtures_dir).start()
    try:
        cfg = BuildConfig(snapshot=SAMPLE_SNAPSHOT, out=work / "sample", source="live", figures=False)
        world = install_sample_world(recorded, oxigraph, cfg.window[0].date(), cfg.window_days)
        os.environ.update(world.env)
        from dafset.sources.live.live import LiveSource

        source = LiveSource(cache=ResponseCache(work / "cache-sample"), stats=HttpStats())
        result, meter, seconds = run_build(cfg, source)
        old_source = LiveSource(cache=ResponseCache(work / "cache-old"), stats=HttpStats())
        old = old_design(cfg, old_source, list(load_relations().ids))
        facts = pq.read_table(result.snapshot_dir / "facts.parquet")
        naive_requests, naive_bytes = naive(world.env["DAFSET_SPARQL_ENDPOINT"], facts, args.naive_probe)
    finally:
        recorded.stop()
        oxigraph.stop()
    samples = sum(result.counts.values())
    print(
        f"\n== sample scale (bundled sample behind oxigraph serve + recorded server): {samples} samples, "
        f"{facts.num_rows} facts, {seconds:.1f} s"
    )
    print(HEADER)
    for prop in PROPS:
        n = result.counts.get(prop, 0)
        print(row(f"{prop}: new design", *meter.phases.get(prop, (0, 0)), n))
        if prop in old:
            print(row(f"{prop}: old design", *old[prop], n))
    total = source.stats.snapshot()
    print(row("all (new design)", total["requests"], total["bytes"], samples))
    print(row("naive (1 request per fact)", naive_requests, naive_bytes, samples))


def simulated(args: argparse.Namespace, work: Path) -> dict[str, float]:
    from standins.recorded import RecordedServer
    from standins.week import SimulatedWeek, install_week, week_ending

    from dafset.config import BuildConfig, Sizes
    from dafset.properties.recent import harvest_recent
    from dafset.relations import load_relations
    from dafset.settings import get_settings
    from dafset.sources.live.cache import ResponseCache
    from dafset.sources.live.http import HttpStats

    relations = load_relations()
    ids = list(relations.ids)
    item_relations = [r for r in ids if relations.get(r).value_type == "item"]
    sizes = Sizes(recent=args.recent, popular=100, long_tail=150, robust=60)
    out: dict[str, float] = {"refused": 0}
    print(f"\n== simulated real week (load simulation, tests/standins/week.py): recent wanted {args.recent}")
    print(HEADER)
    for edits in (2_000_000, 4_000_000, 8_000_000):
        server = RecordedServer(args.fixtures or get_settings().fixtures_dir).start()
        try:
            week = SimulatedWeek(
                seed=1, edits=edits, start=week_ending(WEEK_SNAPSHOT), relations=item_relations
            )
            counters = install_week(server, week, ids)
            kinds = bytes_by_kind(server)
            os.environ.update({**server.env(), "DAFSET_CONTACT": "bench@example.org"})
            from dafset.sources.live.live import LiveSource

            cfg = BuildConfig(
                snapshot=WEEK_SNAPSHOT, out=work / f"week-{edits}", source="live", figures=False, sizes=sizes
            )
            source = LiveSource(cache=ResponseCache(work / f"cache-week-{edits}"), stats=HttpStats())
            tag = f"{edits // 1_000_000}M"
            if edits == 4_000_000:
                result, meter, seconds = run_build(cfg, source)
                samples = sum(result.counts.values())
                for prop in PROPS:
                    print(
                        row(
                            f"{tag} {prop}: new design",
                            *meter.phases.get(prop, (0, 0)),
                            result.counts.get(prop, 0),
                        )
                    )
                total = source.stats.snapshot()
                print(
                    row(
                        f"{tag} all (new design, {seconds:.0f} s)", total["requests"], total["bytes"], samples
                    )
                )
                facts = pq.read_table(result.snapshot_dir / "facts.parquet")
                naive_requests, naive_bytes = naive(server.sparql_endpoint, facts, args.naive_probe)
                print(row(f"{tag} naive (1 request per fact)", naive_requests, naive_bytes, samples))
                recent_requests = meter.phases["recent"][0]
                recent_samples = result.counts.get("recent", 0)
                out["all_per_1k_4M"] = total["requests"] * 1000 / max(1, samples)
                print(
                    f"{'':44}bytes by kind: "
                    + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in kinds.most_common())
                )
            else:
                meter = Metered(source.stats)
                rows, *_ = meter.around("recent", lambda s=source, c=cfg: harvest_recent(s, c, ids))
                recent_requests, recent_bytes = meter.phases["recent"]
                # the harvest's facts stand for the samples (the build renders one per fact, minus rule drops)
                recent_samples = min(len(rows), args.recent)
                print(
                    row(
                        f"{tag} recent: new design (harvest only)",
                        recent_requests,
                        recent_bytes,
                        recent_samples,
                    )
                )
            sweep = math.ceil(edits / 500)
            contents = math.ceil(0.8 * edits / 2 * 3 / 50)
            print(
                f"{tag + ' recent: old design':44}refused: the dateModified scan times out; its sweep alone "
                f"would be {sweep:,} pages + >= {contents:,} content requests (computed)"
            )
            out[f"recent_per_1k_{tag}"] = recent_requests * 1000 / max(1, recent_samples)
            out["refused"] += counters.refused
        finally:
            server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--naive-probe", type=int, default=200, help="single-fact requests sent to measure bytes"
    )
    parser.add_argument(
        "--recent", type=int, default=1000, help="recent samples wanted on the simulated week"
    )
    parser.add_argument("--fixtures", type=Path, default=None, help="real fixtures dir (default: settings)")
    args = parser.parse_args()
    os.environ.setdefault("DAFSET_PROGRESS", "off")
    work = Path(tempfile.mkdtemp(prefix="dafset-bench-http-"))
    sample_scale(args, work)
    figures = simulated(args, work)
    print(
        "live_requests: "
        f"recent_per_1k_2M={figures['recent_per_1k_2M']:.0f} recent_per_1k_4M={figures['recent_per_1k_4M']:.0f} "
        f"recent_per_1k_8M={figures['recent_per_1k_8M']:.0f} all_per_1k_4M={figures['all_per_1k_4M']:.0f} "
        f"refused={figures['refused']:.0f}"
    )


if __name__ == "__main__":
    main()
