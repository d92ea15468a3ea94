"""Truths and targets on real facts of the bundled sample: the statement history (all ranks, ended
statements), ended truths, the previous value of an insertion, counterfactual targets of the
truth's class that the subject never had, era plausibility and the subject-type constraint."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time
from typing import Any

import pytest

from dafset.build.assemble import Assembly, true_facts
from dafset.build.enrich import enrich
from dafset.build.render import FactIndex, counterfactual_target, fits_era, previous_value
from dafset.config import SAMPLE_SNAPSHOT, BuildConfig
from dafset.properties.facts import fetch_history, fetch_truthy_facts
from dafset.relations import RelationSet, load_relations
from dafset.sources.sample import SampleSource

SNAPSHOT = datetime.combine(SAMPLE_SNAPSHOT, time(0), tzinfo=UTC)


def _subjects(source: SampleSource, relation: str, obj: str, limit: int = 20) -> list[str]:
    query = f"""PREFIX wd: <http://www.wikidata.org/entity/> PREFIX wdt: <http://www.wikidata.org/prop/direct/>
    SELECT ?s WHERE {{ ?s wdt:{relation} wd:{obj} }} ORDER BY ?s LIMIT {limit}"""
    return [str(r["s"].value).rsplit("/", 1)[-1] for r in source.store.query(query)]


@pytest.fixture(scope="module")
def world() -> tuple[RelationSet, list[dict[str, Any]]]:
    """Real facts: Karlsruhe (its P17 and P6 history holds ended statements), Beethoven (died in
    Vienna), people who died in Vienna or in Tunisia, citizens of Tunisia and of Belgium, Belgium."""
    source = SampleSource()
    relations = load_relations()
    items = ["Q1040", "Q255", "Q31", "Q145", "Q23", "Q59054"]
    # Vienna, Tunisia, Göttingen, Saint Petersburg, Brussels-Capital Region (most P20 objects of the
    # sample are countries: the case of "Beethoven died in -> Tunisia")
    for place in ("Q1741", "Q948", "Q3033", "Q656", "Q240"):
        items += _subjects(source, "P20", place)
    items += _subjects(source, "P27", "Q948") + _subjects(source, "P27", "Q31")
    for country in ("Q31", "Q142", "Q43287", "Q38"):  # places in Belgium, France, the German Empire, Italy
        items += _subjects(source, "P17", country)
    facts = fetch_truthy_facts(source, items, list(relations.ids))
    rows, _ = enrich(source, facts, {r.id: r.value_type for r in relations})
    return relations, rows


def _index(relations: RelationSet, rows: list[dict[str, Any]]) -> FactIndex:
    kept = true_facts({"all": rows}, SNAPSHOT, Counter())["all"]
    return FactIndex.build(kept, {r.id: r.object_class for r in relations}, rows)


def _fact(rows: list[dict[str, Any]], subject: str, relation: str) -> dict[str, Any]:
    return next(f for f in rows if f["subject_id"] == subject and f["relation_id"] == relation)


def test_history_holds_ended_statements_of_every_rank() -> None:
    history = fetch_history(SampleSource(), ["Q1040"], ["P17", "P6"])
    p17 = history[("Q1040", "P17")]
    assert {h["value"] for h in p17} >= {"Q183", "Q43287"}  # Germany, and the German Empire (ended)
    ended = [h for h in p17 if h["end"]]
    assert ended and all(h["end"] < "2000" for h in ended)
    assert len(history[("Q1040", "P6")]) > 3  # the mayors of Karlsruhe, past ones included


def test_counterfactual_target_is_never_a_value_the_subject_had(world) -> None:
    relations, rows = world
    index = _index(relations, rows)
    karlsruhe = _fact(rows, "Q1040", "P17")
    had = {h["label"] for h in karlsruhe["history"]}
    assert "German Empire" in had
    # no truthy P17 of the sample points at the German Empire: put Karlsruhe's ended value in the
    # pool as another place's country, as a larger graph would
    ended = next(h for h in karlsruhe["history"] if h["label"] == "German Empire")
    pool_entry = {**karlsruhe, "subject_id": "Q64", "subject_label": "Berlin", "statement_id": "pool",
                  "object_id": ended["value"], "object_value": "German Empire", "object_label": "German Empire",
                  "object_aliases": [], "history": []}  # fmt: skip
    index = _index(relations, [*rows, pool_entry])
    answers = index.answers("Q1040", "P17")
    forgetful = {**karlsruhe, "history": []}
    assert "German Empire" in {counterfactual_target(forgetful, answers, index, seed) for seed in range(40)}
    targets = {counterfactual_target(karlsruhe, answers, index, seed) for seed in range(40)}
    assert targets and None not in targets
    assert not targets & had


def test_counterfactual_target_has_the_truth_class(world) -> None:
    relations, rows = world
    index = _index(relations, rows)
    beethoven = _fact(rows, "Q255", "P20")
    assert beethoven["object_label"] == "Vienna"
    country = index.class_of("Q948")
    assert "Q6256" in country  # Tunisia is the citizenship of someone: a country
    pool = {f["object_label"] for f in index.by_relation["P20"]}
    assert "Tunisia" in pool  # so a same-relation pool alone would offer it for a city slot
    targets = {counterfactual_target(beethoven, ["Vienna"], index, seed) for seed in range(60)}
    assert targets and None not in targets
    assert "Tunisia" not in targets
    by_label = {f["object_label"]: f["object_id"] for f in index.by_relation["P20"]}
    assert all("Q6256" not in index.class_of(by_label[t]) for t in targets)


def test_ended_truths_are_no_truths(world) -> None:
    _, rows = world
    people = [f for f in rows if f["subject_id"] in ("Q23", "Q59054")]
    ended = {(f["subject_id"], f["relation_id"], f["object_label"]) for f in people if f["end_time"]}
    # best-rank statements with an end time (P582) in the sample
    assert ended >= {("Q59054", "P27", "Soviet Union"), ("Q23", "P26", "Martha Washington")}
    drops: Counter[str] = Counter()
    kept = true_facts({"x": people}, SNAPSHOT, drops)["x"]
    assert drops["ended_before_snapshot"] == len(ended)
    assert not {(f["subject_id"], f["relation_id"], f["object_label"]) for f in kept} & ended
    assert len(kept) == len(people) - len(ended)
    lasting = true_facts({"x": people}, SNAPSHOT, Counter(), frozenset({"P27"}))["x"]
    assert ("Q59054", "P27", "Soviet Union") in {
        (f["subject_id"], f["relation_id"], f["object_label"]) for f in lasting
    }


def test_reflexive_facts_are_dropped(world) -> None:
    _, rows = world
    belgium = _fact(rows, "Q31", "P17")
    assert belgium["object_id"] == "Q31"  # "Belgium is located in the country of Belgium"
    drops: Counter[str] = Counter()
    assert true_facts({"x": [belgium]}, SNAPSHOT, drops)["x"] == [] and drops["reflexive"] == 1


def test_previous_value_of_an_insertion(world) -> None:
    _, rows = world
    karlsruhe = _fact(rows, "Q1040", "P17")
    assert karlsruhe["object_label"] == "Germany"
    assert previous_value(karlsruhe) == "German Empire"  # the ended statement with a label
    beethoven = _fact(rows, "Q255", "P20")
    assert previous_value(beethoven) is None  # nothing was replaced
    same = {
        **karlsruhe,
        "history": [{**karlsruhe["history"][0], "statement_id": "x", "end": "1990", "label": "Germany"}],
    }
    assert previous_value(same) is None  # a re-added value is no previous value


def test_subject_type_constraint(world) -> None:
    relations, rows = world
    index = _index(relations, rows)
    run = Assembly(BuildConfig(source="sample"), relations, index)
    belgium = _fact(rows, "Q31", "P36")
    assert "Q6256" in index.class_of("Q31")  # a citizenship: a country
    assert not run.fits({**belgium, "relation_id": "P17"})  # a country is no subject of P17
    assert run.fits(_fact(rows, "Q1040", "P17"))  # a city is
    assert run.fits(belgium)  # and a country has a capital


def test_era_plausibility() -> None:
    index = FactIndex()
    index.life = {"Qold": (1802, 1894), "Qyoung": (1940, None), "Qsubject": (1900, None)}
    case = {"subject_id": "Qsubject", "start_time": "2016-05-09T00:00:00+00:00"}
    assert not fits_era({"object_id": "Qold"}, case, index)  # dead before the statement began
    assert fits_era({"object_id": "Qyoung"}, case, index)
    assert fits_era({"object_id": "Qundated"}, case, index)  # no dates: no judgement
    dead_subject = {"subject_id": "Qdead"}
    index.life["Qdead"] = (1700, 1750)
    assert not fits_era({"object_id": "Qyoung"}, dead_subject, index)  # born after the subject died
