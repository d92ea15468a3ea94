"""Every .rq file: documented, portable, parses, and answers correctly on the bundled sample."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from pyoxigraph import Quad, RdfFormat, Store

from dafset.config import SAMPLE_SNAPSHOT
from dafset.settings import get_settings
from dafset.sources.queries import render_query, shorten
from dafset.sources.sample import SampleSource

QUERIES = sorted(p.stem for p in get_settings().queries_dir.glob("*.rq"))
EXAMPLE_VALUES = {
    "items": ["Q42", "Q30", "Q350"],
    "properties": ["P19", "P69", "P27"],
    "titles": ["Douglas Adams", "Italy"],
    "start": datetime.combine(SAMPLE_SNAPSHOT, time(0), tzinfo=UTC) - timedelta(days=7),
    "end": datetime.combine(SAMPLE_SNAPSHOT, time(0), tzinfo=UTC),
    "limit": 50,
    "offset": 0,
}
EXPECTED = {
    "truthy_facts",
    "labels",
    "entity_meta",
    "in_degree",
    "out_degree",
    "frequency",
    "subjects_with_relations",
    "items_for_titles",
    "modified_items",
    "objects_of_relation",
}


@pytest.fixture(scope="module")
def sample() -> SampleSource:
    return SampleSource()


def _placeholders(name: str) -> set[str]:
    text = (get_settings().queries_dir / f"{name}.rq").read_text(encoding="utf-8")
    template = string.Template(text)
    return {m.group("braced") or m.group("named") for m in template.pattern.finditer(text)} - {None}


def test_the_required_queries_exist() -> None:
    assert set(QUERIES) >= EXPECTED


@pytest.mark.parametrize("name", QUERIES)
def test_query_is_documented_and_portable(name: str) -> None:
    text = (get_settings().queries_dir / f"{name}.rq").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("Placeholders:" in line for line in header) and any("Output:" in line for line in header)
    for placeholder in _placeholders(name):
        assert any(placeholder in line for line in header), f"{name}: {placeholder} undocumented"
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    for vendor in ("SERVICE", "wikibase:label", "hint:", "bd:", "PREFIX"):
        assert vendor not in body, f"{name}: {vendor} is not portable (PREFIXES are prepended)"
    assert "$" not in "\n".join(header), "a $ in a comment would be read as a placeholder"


@pytest.mark.parametrize("name", QUERIES)
def test_query_parses_and_runs_on_the_sample(sample: SampleSource, name: str) -> None:
    values = {k: EXAMPLE_VALUES[k] for k in _placeholders(name)}
    text = render_query(name, **values)
    assert not re.search(r"\$\{?\w", text)
    sample.store.query(text)  # parses (a SyntaxError would raise) ...
    rows = sample.select(name, **values)  # ... and runs through the source
    assert isinstance(rows, list)


@pytest.mark.parametrize("name", QUERIES)
def test_query_is_plain_sparql_11_for_a_second_parser(name: str) -> None:
    # rdflib's parser follows the SPARQL 1.1 grammar and knows no engine's extensions.
    from rdflib.plugins.sparql import prepareQuery

    values = {k: EXAMPLE_VALUES[k] for k in _placeholders(name)}
    prepareQuery(render_query(name, **values))


def test_truthy_facts_of_douglas_adams(sample: SampleSource) -> None:
    rows = sample.select("truthy_facts", items=["Q42"], properties=["P19", "P69", "P569", "P1082"])
    by_property: dict[str, set[str]] = {}
    for r in rows:
        by_property.setdefault(r["property"], set()).add(r["value"])
        assert r["rank"].endswith("#NormalRank") or r["rank"].endswith("#PreferredRank")
        assert r["statement"].rsplit("/", 1)[-1].lower().startswith("q42-")
    assert by_property["P19"] == {"Q350"}
    assert {"Q691283", "Q4961791"} <= by_property["P69"]
    assert by_property["P569"] == {"1952-03-11T00:00:00Z"}
    assert "P1082" not in by_property
    starts = {r["value"]: r.get("start") for r in rows if r["property"] == "P69"}
    assert starts["Q691283"] == "1971-01-01T00:00:00Z"  # real pq:P580 from the entity JSON


def test_truthy_facts_leave_out_non_best_ranks(sample: SampleSource) -> None:
    # Berlin's population: several P1082 statements, one preferred (best) in the real entity.
    rows = sample.select("truthy_facts", items=["Q64"], properties=["P1082"])
    assert rows and all(r["rank"].endswith("#PreferredRank") for r in rows)
    everything = list(
        sample.store.query(
            "SELECT (COUNT(*) AS ?n) WHERE { <http://www.wikidata.org/entity/Q64> "
            "<http://www.wikidata.org/prop/P1082> ?s }"
        )
    )
    assert int(everything[0]["n"].value) > len(rows)


def test_labels_and_aliases(sample: SampleSource) -> None:
    rows = sample.select("labels", items=["Q42", "Q350"])
    labels = {r["item"]: r.get("label") for r in rows}
    assert labels["Q42"] == "Douglas Adams"
    assert "Douglas Noel Adams" in {r.get("alias") for r in rows if r["item"] == "Q42"}
    assert "Q350" in labels  # no label in the sample: the item still comes back


def test_entity_meta(sample: SampleSource) -> None:
    rows = {r["item"]: r for r in sample.select("entity_meta", items=["Q42", "Q1299"])}
    q42 = rows["Q42"]
    assert (q42["sitelinks"], q42["version"], q42["title"]) == ("107", "716282445", "Douglas Adams")
    assert q42["modified"] == "2018-07-27T08:03:25Z"
    assert rows["Q1299"]["sitelinks"] == "0" and "title" not in rows["Q1299"]  # derived: no title


def _count(sample: SampleSource, query: str) -> int:
    rows = list(sample.store.query(query))
    return int(rows[0]["n"].value)


def test_degrees_and_frequency_match_direct_counts(sample: SampleSource) -> None:
    items = ["Q30", "Q42", "Q350"]
    wd = "http://www.wikidata.org/entity/"
    ins = {r["item"]: int(r["inDegree"]) for r in sample.select("in_degree", items=items)}
    outs = {r["item"]: int(r["outDegree"]) for r in sample.select("out_degree", items=items)}
    freq = {r["item"]: int(r["frequency"]) for r in sample.select("frequency", items=items)}
    for q in items:
        direct_in = _count(
            sample,
            f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s ?p <{wd}{q}> . "
            "FILTER(STRSTARTS(STR(?p), 'http://www.wikidata.org/prop/direct/')) }",
        )
        assert ins[q] == direct_in
        subject_statements = _count(
            sample,
            f"SELECT (COUNT(*) AS ?n) WHERE {{ <{wd}{q}> ?p ?s . "
            "FILTER(STRSTARTS(STR(?s), 'http://www.wikidata.org/entity/statement/')) }",
        )
        value_statements = _count(
            sample,
            f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s ?p <{wd}{q}> . "
            "FILTER(STRSTARTS(STR(?p), 'http://www.wikidata.org/prop/statement/')) }",
        )
        assert freq[q] == subject_statements + value_statements
    assert ins["Q30"] > 50 and outs["Q42"] >= 20 and outs["Q350"] == 0


def test_subjects_with_relations_pages_do_not_overlap(sample: SampleSource) -> None:
    first = [
        r["item"] for r in sample.select("subjects_with_relations", properties=["P19"], limit=40, offset=0)
    ]
    second = [
        r["item"] for r in sample.select("subjects_with_relations", properties=["P19"], limit=40, offset=40)
    ]
    assert len(first) == len(second) == 40 and not set(first) & set(second)
    assert first == sorted(first, key=lambda q: f"http://www.wikidata.org/entity/{q}")


def test_items_for_titles(sample: SampleSource) -> None:
    rows = sample.select("items_for_titles", titles=["Douglas Adams", "Italy", "No such page"])
    assert {r["title"]: r["item"] for r in rows} == {"Douglas Adams": "Q42", "Italy": "Q38"}


def test_modified_items_inside_the_window(sample: SampleSource) -> None:
    start, end = EXAMPLE_VALUES["start"], EXAMPLE_VALUES["end"]
    rows = sample.select("modified_items", properties=["P19", "P27", "P30", "P106"], start=start, end=end)
    assert rows
    for r in rows:
        moment = datetime.fromisoformat(r["modified"].replace("Z", "+00:00"))
        assert start <= moment <= end


def test_objects_of_relation(sample: SampleSource) -> None:
    rows = sample.select("objects_of_relation", properties=["P19"], limit=10)
    assert len(rows) == 10 and {r["property"] for r in rows} == {"P19"}
    uses = [int(r["uses"]) for r in rows]
    assert uses == sorted(uses, reverse=True)
    assert all(r.get("label") for r in rows)


def test_the_same_queries_answer_on_the_real_wdqs_dump_of_q42(
    sample: SampleSource, fixtures_dir: Path
) -> None:
    """The real dump keeps metadata on the EntityData document (not munged): the path
    alternatives still find it. Property definitions come from the sample (the dump of one item
    has none)."""
    store = Store()
    store.load(path=fixtures_dir / "rdf" / "wdqs_dump_Q42.ttl", format=RdfFormat.TURTLE)
    for triple in sample.store.query(
        "CONSTRUCT { ?p ?k ?v } WHERE { ?p a <http://wikiba.se/ontology#Property> ; ?k ?v }"
    ):
        store.add(Quad(triple.subject, triple.predicate, triple.object))

    def run(name: str, **values: object) -> list[dict[str, str]]:
        solutions = store.query(render_query(name, **values))
        names = [v.value for v in solutions.variables]
        return [{n: shorten(s[n].value) for n in names if s[n] is not None} for s in solutions]

    facts = run("truthy_facts", items=["Q42"], properties=["P19", "P69"])
    assert {r["value"] for r in facts if r["property"] == "P19"} == {"Q350"}
    assert {"Q691283", "Q4961791"} <= {r["value"] for r in facts if r["property"] == "P69"}
    meta = run("entity_meta", items=["Q42"])[0]
    assert (meta["sitelinks"], meta["title"]) == ("122", "Douglas Adams")
    assert run("labels", items=["Q42"])[0]["label"] == "Douglas Adams"
    assert run("items_for_titles", titles=["Douglas Adams"]) == [{"title": "Douglas Adams", "item": "Q42"}]
