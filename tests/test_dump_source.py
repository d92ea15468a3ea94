"""The bundled sample as a JSON dump -> ``ingest_dump`` -> stats -> ``DumpSource`` and
``dafset build --source dump``: the same answers, facts and samples as ``--source sample``."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dafset.build.sequence import CHECKS
from dafset.cli import app
from dafset.config import BuildConfig
from dafset.errors import BadIdError, ConfigError
from dafset.hashing import stable_hash
from dafset.properties.facts import statement_key
from dafset.properties.long_tail import GLOBAL_KEY, MAX_DRAW, RARE_KEY, eligible, harvest_long_tail, reference
from dafset.relations import load_relations
from dafset.sources.dump.ingest import ingest_dump
from dafset.sources.dump.sample_dump import json_time
from dafset.sources.dump.source import DumpSource
from dafset.sources.dump.tables import STATS_FILE
from dafset.sources.sample.readers import iter_entities
from dafset.sources.sample.source import SampleSource
from dafset.sources.sample.values import wdqs_time


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dafset sample-dump`` (gzip), as a user runs it."""
    out = tmp_path_factory.mktemp("sample-dump") / "sample.json.gz"
    result = CliRunner().invoke(app, ["sample-dump", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def ingested(dumped: Path) -> Path:
    out = dumped.parent / "ingest"
    report = ingest_dump(dumped, out, shards=3)
    assert report.malformed == 0
    result = CliRunner().invoke(app, ["dump-stats", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def sources(ingested: Path) -> tuple[SampleSource, DumpSource]:
    sample = SampleSource()
    return sample, DumpSource(ingested, sample)


def _lines(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()


# -- the dump file ------------------------------------------------------------------------------------


def test_the_sample_dump_has_the_dump_framing_and_every_sample_entity(dumped: Path) -> None:
    lines = _lines(dumped)
    assert lines[0] == "[" and lines[-1] == "]"
    body = lines[1:-1]
    assert all(line.endswith(",") for line in body[:-1]) and not body[-1].endswith(",")
    entities = [json.loads(line.rstrip(",")) for line in body]
    manifest = SampleSource().manifest
    items = [e for e in entities if e["type"] == "item"]
    assert len(items) == manifest["counts"]["entities"]
    assert sum(len(g) for e in items for g in e["claims"].values()) == manifest["counts"]["statements"]
    assert {e["id"] for e in entities if e["type"] == "property"} >= set(manifest["relations"])


def test_a_real_entity_comes_out_with_its_real_statements(dumped: Path, fixtures_dir: Path) -> None:
    """Q42's statements on the relations keep their real ids, ranks, values and date qualifiers."""
    (origin,) = [s for s in SampleSource()._provenance["Q42"]["sources"] if s.startswith("entity_json/")]
    real = next(e for e in iter_entities(fixtures_dir / origin) if e.get("id") == "Q42")
    ours = next(
        json.loads(x.rstrip(",")) for x in _lines(dumped) if x.startswith('{"type":"item","id":"Q42",')
    )
    assert ours["labels"]["en"] == real["labels"]["en"]
    assert ours["sitelinks"]["enwiki"]["title"] == real["sitelinks"]["enwiki"]["title"]
    assert len(ours["sitelinks"]) == len(real["sitelinks"])
    assert ours["lastrevid"] == real["lastrevid"] and ours["modified"] == real["modified"]
    for pid, group in ours["claims"].items():
        theirs = {c["id"]: c for c in real["claims"][pid]}
        for claim in group:
            original = theirs[claim["id"]]
            assert claim["rank"] == original["rank"]
            assert claim["mainsnak"]["datavalue"]["type"] == original["mainsnak"]["datavalue"]["type"]
            for q in ("P580", "P582"):
                got = [wdqs_time(s["datavalue"]["value"]) for s in claim.get("qualifiers", {}).get(q, [])]
                want = [wdqs_time(s["datavalue"]["value"]) for s in original.get("qualifiers", {}).get(q, [])]
                assert got == want
    assert "P69" in ours["claims"] and "P569" in ours["claims"]


@pytest.mark.parametrize(
    "xsd", ["1952-03-11T00:00:00Z", "1974-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "-0043-03-15T00:00:00Z"]
)
def test_times_go_back_to_the_same_wdqs_value(xsd: str) -> None:
    assert wdqs_time(json_time(xsd)) == xsd


# -- the source, query by query -----------------------------------------------------------------------


def _items(sample: SampleSource) -> list[str]:
    """A stable spread of subjects and objects, plus hubs and a famous entity."""
    relations = list(load_relations().ids)
    subjects = [
        r["item"]
        for r in sample.select("subjects_with_relations", properties=relations, limit=10**6, offset=0)
    ]
    chosen = sorted(subjects, key=lambda q: stable_hash("dump-test", q))[:300]
    return [*chosen, "Q42", "Q5", "Q30", "Q145", "Q64", "Q1299"]


def _canonical(query: str, rows: list[dict[str, str]]) -> list[tuple[tuple[str, str], ...]]:
    out = []
    for row in rows:
        row = dict(row)
        if query in ("truthy_facts", "statement_history"):
            row["statement"] = statement_key(row["statement"])
        if query == "entity_meta":
            # the sample keeps the real total statement count and last edit of its complete entities
            # but only their statements on the relations; the dump holds those statements and no
            # revision data (modified/version come from the revision services, not the dump)
            for key in ("statements", "modified", "version"):
                row.pop(key, None)
        out.append(tuple(sorted(row.items())))
    return sorted(out)


def _calls(sample: SampleSource) -> list[tuple[str, dict[str, Any]]]:
    relations = list(load_relations().ids)
    items = _items(sample)
    titles = [*[r["title"] for r in sample._views.values()][:150], "No Such Article", "Douglas_Adams"]
    return [
        ("truthy_facts", {"items": items, "properties": relations}),
        ("statement_history", {"items": items, "properties": relations}),
        ("items_with_relations", {"items": [*items, "Q999999999"], "properties": relations}),
        ("portability_hops", {"items": items, "properties": ["P17", "P36", "P27", "P19", "P26"]}),
        ("labels", {"items": items}),
        ("entity_traits", {"items": items}),
        ("descriptions", {"items": items}),
        ("entity_meta", {"items": items}),
        ("frequency", {"items": items}),
        ("in_degree", {"items": items}),
        ("out_degree", {"items": items}),
        ("items_for_titles", {"titles": titles[:-1]}),
        ("subjects_with_relations", {"properties": relations, "limit": 500, "offset": 250}),
        ("objects_of_relation", {"properties": ["P27"], "limit": 25}),
        ("objects_of_relation", {"properties": ["P1082"], "limit": 25}),
        ("facts_on_relations", {"properties": ["P19", "P569", "P1082"], "limit": 400, "offset": 0}),
    ]


def test_every_query_the_properties_send_gets_the_sample_store_answer(
    sources: tuple[SampleSource, DumpSource],
) -> None:
    sample, dump = sources
    for query, values in _calls(sample):
        want = _canonical(query, sample.select(query, **values))
        got = _canonical(query, dump.select(query, **values))
        assert len(want) > 0, query
        assert got == want, f"{query} differs"


def test_every_query_file_has_a_dump_answer() -> None:
    """A new .rq file the properties send must get an SQL answer (or a delegate) in the dump."""
    from dafset.settings import get_settings
    from dafset.sources.dump.source import DELEGATED_QUERIES, SQL_DIR

    answered = {p.stem for p in SQL_DIR.glob("*.sql")} | DELEGATED_QUERIES
    missing = sorted(p.stem for p in get_settings().queries_dir.glob("*.rq") if p.stem not in answered)
    assert not missing, f"no dump answer for {missing}"


def test_recency_page_views_and_titles(sources: tuple[SampleSource, DumpSource]) -> None:
    sample, dump = sources
    cfg = BuildConfig()
    start, end = cfg.window
    relations = list(load_relations().ids)
    modified = dump.select("modified_items", properties=relations, start=start, end=end)
    assert modified == sample.select("modified_items", properties=relations, start=start, end=end)
    items = [r["item"] for r in modified]
    assert dump.statement_additions(items, start, end, relations) == sample.statement_additions(
        items, start, end, relations
    )
    top = dump.top_articles(start.date(), end.date(), 20)
    assert top == sample.top_articles(start.date(), end.date(), 20)
    titles = [p.title for p in top] + ["Douglas_Adams"]
    assert dump.items_for_titles(titles) == sample.items_for_titles(titles)
    assert dump.items_for_titles(["Douglas_Adams"]) == {"Douglas_Adams": "Q42"}


def test_bad_input_is_one_clear_line(sources: tuple[SampleSource, DumpSource], tmp_path: Path) -> None:
    _, dump = sources
    with pytest.raises(BadIdError, match="bad item id 'Q42; DROP'"):
        dump.select("labels", items=["Q42; DROP"])
    with pytest.raises(ConfigError, match="no such dump query"):
        dump.select("no_such_query", items=["Q42"])
    with pytest.raises(ConfigError, match="needs a non-empty list"):
        dump.select("labels", items=[])
    with pytest.raises(ConfigError, match="ingest-dump"):
        DumpSource(tmp_path, SampleSource())
    with pytest.raises(ConfigError, match="--dump-dir"):
        BuildConfig(source="dump")


# -- the long tail at scale ---------------------------------------------------------------------------


def test_a_small_pool_is_a_hash_sample_cut_by_the_global_distribution(
    sources: tuple[SampleSource, DumpSource], ingested: Path
) -> None:
    sample, dump = sources
    relations = list(load_relations().ids)
    population = [
        r["item"]
        for r in sample.select("subjects_with_relations", properties=relations, limit=10**6, offset=0)
    ]
    cfg = BuildConfig(source="dump", dump_dir=ingested, long_tail_pool=200)
    rows, report = harvest_long_tail(dump, cfg, relations)

    pool = sorted({r["subject_id"] for r in rows})
    # 200 items, or MAX_DRAW times more when 200 hold fewer than 200 known to be rare (the dump of
    # the sample carries the sample's made-up sitelink counts, which the delegate names)
    drawn = report["pool"]
    assert drawn in (200, MAX_DRAW * 200) and set(pool) <= set(population)
    assert pool != sorted(population)[: len(pool)]  # not the first ids in IRI order
    by_hash = sorted(population, key=lambda q: stable_hash(f"pool/{cfg.seed}", q))[:drawn]
    assert set(pool) <= set(by_hash) and len(pool) > 0.85 * drawn
    rare = {r["subject_id"] for r in rows if r[RARE_KEY]}
    assert report["popularity_guard"]["pool_unknown"] > 0 and rare and rare < set(pool)

    stats = {r["id"]: r for r in pq.read_table(ingested / STATS_FILE).to_pylist()}
    for criterion in ("frequency", "degree"):
        values = {
            q: float(
                stats[q]["frequency"]
                if criterion == "frequency"
                else stats[q]["in_degree"] + stats[q]["out_degree"]
            )
            for q in population
        }
        recorded = report["global"][criterion]
        assert recorded["scope"] == "global" and recorded["n"] == len(population) > 20 * len(pool)
        whole = reference(values, cfg.long_tail_quantile)
        assert recorded["threshold"] == whole["threshold"] and recorded["quantiles"] == whole["quantiles"]
        # the low 80% of ALL items (ties cut by the same hash), seen through the pool
        chosen = eligible(values, cfg.long_tail_quantile, salt=f"{criterion}/{cfg.seed}")
        assert len(chosen) == math.ceil(cfg.long_tail_quantile * len(population))
        for fact in rows:
            assert fact[GLOBAL_KEY][criterion]["eligible"] == (fact["subject_id"] in chosen)


# -- the whole build ----------------------------------------------------------------------------------


def _build(out: Path, *args: str) -> Path:
    common = ["--out", str(out), "--no-figures", "--long-tail-pool", "1000000"]
    result = CliRunner().invoke(app, ["build", *common, *args])
    assert result.exit_code == 0, result.output
    return out / "latest"


def _parquet_rows(path: Path) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in pq.read_table(path).to_pylist())


@pytest.mark.slow
def test_build_from_the_dump_publishes_what_the_sample_build_publishes(
    ingested: Path, tmp_path: Path
) -> None:
    """The long-tail pool is the whole population in both builds (``--long-tail-pool`` above the
    ~21k items having the relations): the sample's pool distribution is then the global one but for
    the few items enrich drops (no English label), so both builds choose the same cases. Every
    Parquet row must be equal; the manifest differs only where the source is named."""
    sample = _build(tmp_path / "sample", "--source", "sample")
    dump = _build(tmp_path / "dump", "--source", "dump", "--dump-dir", str(ingested))

    files = sorted(p.relative_to(sample).as_posix() for p in sample.rglob("*.parquet"))
    assert files == sorted(p.relative_to(dump).as_posix() for p in dump.rglob("*.parquet"))
    assert "facts.parquet" in files and len(files) >= 13
    for name in files:
        assert _parquet_rows(dump / name) == _parquet_rows(sample / name), name

    manifest = json.loads((dump / "manifest.json").read_text())
    loaded = datasets.load_dataset(str(dump))  # the default config: every property
    assert {name: len(split) for name, split in loaded.items()} == manifest["counts"]["all"]
    reference_manifest = json.loads((sample / "manifest.json").read_text())
    assert manifest["source"] == "dump" and manifest["endpoint"].startswith("duckdb:")
    assert manifest["counts"] == reference_manifest["counts"]
    assert manifest["rule_drops"] == reference_manifest["rule_drops"]
    # the rules of one split's edit sequence hold on both (issue 18): every figure zero
    assert manifest["sequence_rules"] == reference_manifest["sequence_rules"] == dict.fromkeys(CHECKS, 0)
    # The global population holds every item having the relations; the sample's pool distribution
    # only the subjects with a fact that survived enrich: not those without an English label, nor
    # those whose every object lacks one.
    dump_source = DumpSource(ingested, SampleSource())
    relations = list(load_relations().ids)
    population = [
        r["item"]
        for r in dump_source.select("subjects_with_relations", properties=relations, limit=10**6, offset=0)
    ]
    unlabelled = {r["item"] for r in dump_source.select("labels", items=population) if "label" not in r}
    for criterion in ("frequency", "degree"):
        glob = manifest["harvest"]["long_tail"]["global"][criterion]
        pool = reference_manifest["long_tail_thresholds"][criterion]["reference"]
        assert glob["scope"] == "global"
        assert manifest["long_tail_thresholds"][criterion]["reference"]["scope"] == "global"
        assert glob["threshold"] == pool["threshold"]
        no_object_label = manifest["enrich_drops"]["long_tail"]["no_object_label"]
        assert 0 < len(unlabelled) <= glob["n"] - pool["n"] <= len(unlabelled) + no_object_label
