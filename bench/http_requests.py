"""HTTP requests and bytes a live-path build issues per 1,000 samples, next to the naive way.

The live code path (SPARQLWrapper to a SPARQL endpoint, the MediaWiki revisions API, the pageviews
REST API) runs against local stand-ins serving the bundled sample: a real ``oxigraph serve`` and
the recorded-response server from ``tests/standins``. Nothing leaves 127.0.0.1.

The naive way is one request per fact, as RippleEdits fetches (one query per subject-relation,
with the labels and aliases it needs). Its request count is the number of facts the build touched;
its bytes are measured in the same run by sending such single-fact queries for a sample of those
facts to the same endpoint and scaling up.

    python bench/http_requests.py [--naive-probe 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--naive-probe", type=int, default=200, help="single-fact requests sent to measure bytes"
    )
    parser.add_argument("--fixtures", type=Path, default=None, help="real fixtures dir (default: settings)")
    args = parser.parse_args()

    from standins.oxigraph import OxigraphServer
    from standins.recorded import RecordedServer
    from standins.sample_world import install_sample_world, load_sample_rdf

    from dafset.build import pipeline
    from dafset.build.run import build
    from dafset.config import SAMPLE_SNAPSHOT, BuildConfig
    from dafset.hashing import stable_order
    from dafset.ids import check_item, check_property
    from dafset.settings import get_settings
    from dafset.sources.live.cache import ResponseCache
    from dafset.sources.live.http import HttpStats
    from dafset.sources.live.sparql import SparqlClient
    from dafset.sources.queries import PREFIXES

    os.environ.setdefault("DAFSET_PROGRESS", "off")
    work = Path(tempfile.mkdtemp(prefix="dafset-bench-http-"))
    oxigraph = load_sample_rdf(OxigraphServer().start())
    recorded = RecordedServer(args.fixtures or get_settings().fixtures_dir).start()
    try:
        cfg = BuildConfig(snapshot=SAMPLE_SNAPSHOT, out=work / "out", source="live", figures=False)
        world = install_sample_world(recorded, oxigraph, cfg.window[0].date(), cfg.window_days)
        os.environ.update(world.env)
        from dafset.sources.live.live import LiveSource

        stats = HttpStats()
        source = LiveSource(cache=ResponseCache(work / "cache"), stats=stats)
        pipeline.open_source = lambda _cfg: source  # one source, one counter for the whole build
        began = time.perf_counter()
        result = build(cfg)
        seconds = time.perf_counter() - began
        samples = sum(result.counts.values())
        facts = pq.read_table(result.snapshot_dir / "facts.parquet")

        # naive: one query per (subject, relation) fact; bytes measured on a probe of them
        probe_stats = HttpStats()
        client = SparqlClient(world.env["DAFSET_SPARQL_ENDPOINT"], cache=None, stats=probe_stats)
        keys = sorted(
            set(zip(facts["subject_id"].to_pylist(), facts["relation_id"].to_pylist(), strict=True))
        )
        probe = stable_order([f"{s}|{r}" for s, r in keys], "naive-probe")[: args.naive_probe]
        for key in probe:
            subject, relation = key.split("|")
            client.select(PREFIXES + NAIVE_QUERY % {"s": check_item(subject), "p": check_property(relation)})
        naive_requests = len(keys)
        naive_bytes = probe_stats.bytes / max(1, probe_stats.requests) * naive_requests
    finally:
        recorded.stop()
        oxigraph.stop()

    per = 1000 / samples
    ours = stats.snapshot()
    print(f"live-path build on the stand-ins: {samples} samples, {facts.num_rows} facts, {seconds:.1f} s")
    print(f"{'':28}{'requests':>12}{'MB':>10}{'requests/1k':>14}{'MB/1k':>10}")
    print(
        f"{'dafset (batched)':28}{ours['requests']:>12}{ours['bytes'] / 1e6:>10.2f}"
        f"{ours['requests'] * per:>14.0f}{ours['bytes'] / 1e6 * per:>10.2f}"
    )
    print(
        f"{'naive (1 request per fact)':28}{naive_requests:>12}{naive_bytes / 1e6:>10.2f}"
        f"{naive_requests * per:>14.0f}{naive_bytes / 1e6 * per:>10.2f}"
    )
    print(
        f"ratio naive / batched: requests {naive_requests / max(1, ours['requests']):.1f}x, "
        f"bytes {naive_bytes / max(1, ours['bytes']):.1f}x (retries {ours['retries']}, cache hits {ours['cache_hits']})"
    )


if __name__ == "__main__":
    main()
