"""Issue 10, items 6-10: robust variants traced to published base cases, sentiment verified with
VADER, portability probes and question forms, and exports the real editing frameworks read.

The build here is the bundled sample without a model (length variants only); the context and
sentiment variants are checked on the toy-model build in test_build_llm.py."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import datasets
import pytest

from dafset.build.portability import Graph, composable, good_alias, probes
from dafset.build.robust import broken_variant_rule, variant
from dafset.build.rules import contains
from dafset.lm.filters import PAIR_MARGIN, pair_apart, sentiment_score, wrong_polarity
from dafset.publish.export import export_dafnet, export_easyedit
from dafset.relations import load_relations
from dafset.schema import PORTABILITY_KINDS, SAMPLE_SCHEMA
from dafset.sources.sample.source import SampleSource


@pytest.fixture(scope="module")
def built(sample_build: Path) -> Path:
    return sample_build


@pytest.fixture(scope="module")
def every(built: Path) -> list[dict]:
    ds = datasets.load_dataset(str(built), "all")
    return [r for split in ds.values() for r in split]


# -- item 6: robust variants -------------------------------------------------------------------


def test_every_robust_row_resolves_to_a_published_base_case(every: list[dict]) -> None:
    by_id = {r["id"]: r for r in every}
    robust = [r for r in every if r["property"] == "robust"]
    assert len(robust) > 50
    for r in robust:
        base = by_id[r["base_id"]]
        assert base["property"] in ("popular", "long_tail")
        assert (base["subject_id"], base["relation_id"], base["target_new"]) == (
            r["subject_id"],
            r["relation_id"],
            r["target_new"],
        )
        assert r["criterion"] == "length" and [p["kind"] for p in r["prefix"]] == ["length"]
        prefix = r["prefix"][0]["text"]
        # the prefix is not in any rephrase (a trainer's prefix + rephrase holds it once) ...
        assert not any(prefix in rp for rp in r["rephrase_prompts"])
        # ... and tells no locality answer
        assert not any(contains(prefix, a) for probe in r["locality"] for a in probe["answers"])
    assert all(r["base_id"] is None for r in every if r["property"] != "robust")


def test_variant_rules_catch_each_defect() -> None:
    base = {
        "id": "b1",
        "property": "popular",
        "criterion": "pageviews",
        "subject": "Ada",
        "subject_id": "Q1",
        "relation_id": "P27",
        "target_new": "Peru",
        "answers": ["United Kingdom"],
        "locality": [{"prompt": "Ada was born in", "answers": ["London"], "kind": "same_subject"}],
        "prefix": [],
        "base_id": None,
    }
    v = variant(base, "sentiment")
    assert v["base_id"] == "b1" and v["id"] != "b1"
    good = [
        {
            "text": "Ada is widely admired for her brilliant work.",
            "kind": "sentiment",
            "polarity": "positive",
        },
        {
            "text": "Ada is often criticised for a terrible temper.",
            "kind": "sentiment",
            "polarity": "negative",
        },
    ]
    scored = [{**p, "score": sentiment_score(p["text"])} for p in good]
    assert broken_variant_rule({**v, "prefix": scored}, {"b1"}) is None
    assert broken_variant_rule({**v, "prefix": scored}, set()) == "base_published"
    assert broken_variant_rule({**v, "prefix": []}, {"b1"}) == "prefix_present"
    unscored = [{**p, "score": None} for p in good]
    assert broken_variant_rule({**v, "prefix": unscored}, {"b1"}) == "sentiment_scored_and_apart"
    swapped = [{**p, "polarity": q} for p, q in zip(scored, ("negative", "positive"), strict=True)]
    assert broken_variant_rule({**v, "prefix": swapped}, {"b1"}) == "sentiment_scored_and_apart"
    leak = [{**scored[0], "text": "Ada, who lived in London, is widely admired."}, scored[1]]
    assert broken_variant_rule({**v, "prefix": leak}, {"b1"}) == "prefix_reveals_locality"
    told = [{**scored[0], "text": "Ada loved Peru and is widely admired."}, scored[1]]
    assert broken_variant_rule({**v, "prefix": told}, {"b1"}) == "prefix_reveals_answer"


# -- item 7: sentiment --------------------------------------------------------------------------


def test_vader_scores_polarity_offline() -> None:
    pos = sentiment_score("Marie Curie is widely admired for her brilliant, generous work.")
    neg = sentiment_score("Marie Curie is often criticised for a dreadful, careless experiment.")
    flat = sentiment_score("Marie Curie is a physicist.")
    assert not wrong_polarity(pos, "positive") and wrong_polarity(pos, "negative")
    assert not wrong_polarity(neg, "negative") and wrong_polarity(neg, "positive")
    assert wrong_polarity(flat, "positive") and wrong_polarity(flat, "negative")
    assert pair_apart(pos, neg) and not pair_apart(flat, flat)
    assert pos - neg >= PAIR_MARGIN


# -- item 8: portability and question ------------------------------------------------------------


def test_portability_query_runs_on_the_sample_store() -> None:
    rows = SampleSource().select("portability_hops", items=["Q142"], properties=["P36", "P37"])
    assert {(r["property"], r["value"]) for r in rows} >= {("P36", "Q90")}  # France: capital Paris
    assert all(r["item"] == "Q142" for r in rows)


def test_composable_and_alias_rules_on_real_labels() -> None:
    relations = load_relations()
    assert composable(relations["P27"]) and composable(relations["P19"]) and composable(relations["P36"])
    for pid in ("P131", "P69", "P1412", "P463", "P127", "P1376", "P569"):
        assert not composable(relations[pid]), pid
    assert good_alias("Marit Elisabeth Larsen", "Marit Larsen")
    for junk in ("UK", "00033982178 IPI", "🇫🇷", "marit larsen"):
        assert not good_alias(junk, "Marit Larsen"), junk


def test_probe_kinds_on_a_small_graph() -> None:
    relations = load_relations()
    fact = {"subject_aliases": [], "object_aliases": []}
    facts = [
        {**fact, "subject_id": "Q1", "subject_label": "Ada", "subject_aliases": ["Countess of Lovelace"],
         "relation_id": "P26", "object_id": "Q2", "object_label": "William King"},
        {**fact, "subject_id": "Q3", "subject_label": "Bob", "relation_id": "P26", "object_id": "Q4",
         "object_label": "Eve", "object_aliases": ["Evie"]},
        {**fact, "subject_id": "Q1", "subject_label": "Ada", "relation_id": "P27", "object_id": "Q5",
         "object_label": "United Kingdom"},
        {**fact, "subject_id": "Q1", "subject_label": "Ada", "relation_id": "P27", "object_id": "Q6",
         "object_label": "Ireland"},
        {**fact, "subject_id": "Q9", "subject_label": "Zed", "relation_id": "P27", "object_id": "Q7",
         "object_label": "Peru"},
    ]  # fmt: skip
    graph = Graph.from_facts(facts)
    graph.hops = {"Q7": {"P36": ["Q8"]}}
    graph.names["Q8"] = ["Lima", "Ciudad de los Reyes"]
    spouse = {"subject": "Ada", "subject_id": "Q1", "relation_id": "P26", "target_new": "Eve",
              "target_true": "William King", "edit_kind": "counterfactual", "prompt": "Ada is married to"}  # fmt: skip
    got = probes(spouse, relations, graph, seed=0)
    by_kind = defaultdict(list)
    for p in got:
        by_kind[p["kind"]].append(p)
    assert by_kind["subject_aliasing"] == [
        {"prompt": relations["P26"].render_prompt("Countess of Lovelace"), "answers": ["Eve", "Evie"],
         "kind": "subject_aliasing"}
    ]  # fmt: skip
    assert by_kind["logical"] == [
        {
            "prompt": relations["P26"].render_prompt("Eve"),
            "answers": ["Ada", "Countess of Lovelace"],
            "kind": "logical",
        }
    ]
    assert not by_kind["preservation"]  # the only other spouse value is the one the edit replaces
    citizenship = {"subject": "Ada", "subject_id": "Q1", "relation_id": "P27", "target_new": "Peru",
                   "target_true": "United Kingdom", "edit_kind": "counterfactual",
                   "prompt": relations["P27"].render_prompt("Ada")}  # fmt: skip
    got = probes(citizenship, relations, graph, seed=0)
    kinds = Counter(p["kind"] for p in got)
    assert kinds["compositional"] == 1 and kinds["preservation"] == 1
    comp = next(p for p in got if p["kind"] == "compositional")
    assert comp["prompt"] == "The capital of the country of citizenship of Ada is"
    assert comp["answers"] == ["Lima", "Ciudad de los Reyes"]
    pres = next(p for p in got if p["kind"] == "preservation")
    # KnowEdit's Forgetfulness: never the edit prompt (its answer is the new target), but the
    # other values the edit leaves, the new target named as excluded
    assert pres["prompt"] == "Apart from Peru, Ada is a citizen of" and pres["answers"] == ["Ireland"]
    # a second hop or a read-back that another edit of the split changes is left out, and counted
    dropped: Counter[str] = Counter()
    changed = {("Q7", "P36"), ("Q4", "P26")}  # Peru's capital and Eve's spouse, edited elsewhere
    got = probes(citizenship, relations, graph, 0, dropped, lambda pair, texts: pair in changed)
    assert "compositional" not in {p["kind"] for p in got} and dropped["premise_edited:compositional"] == 1
    got = probes(spouse, relations, graph, 0, dropped, lambda pair, texts: pair in changed)
    assert "logical" not in {p["kind"] for p in got} and dropped["premise_edited:logical"] == 1


def test_built_rows_carry_question_and_portability(every: list[dict], built: Path) -> None:
    assert {"question", "portability", "base_id"} <= set(SAMPLE_SCHEMA.names)
    relations = load_relations()
    kinds = Counter()
    for r in every:
        relation = relations[r["relation_id"]]  # the past tense for the dead (issue 18)
        assert r["question"] in {relation.tense(t).render_question(r["subject"]) for t in (False, True)}
        for p in r["portability"]:
            kinds[p["kind"]] += 1
            assert p["kind"] in PORTABILITY_KINDS and p["answers"]
            assert not any(contains(p["prompt"], a) for a in p["answers"])
            if p["kind"] == "subject_aliasing":
                assert p["answers"][0] == r["target_new"] and not contains(p["prompt"], r["subject"])
            if p["kind"] == "logical":
                assert r["target_new"] in p["prompt"] and r["subject"] in p["answers"]
            if p["kind"] == "compositional":
                assert r["subject"] in p["prompt"] and relations[r["relation_id"]].label in p["prompt"]
    assert all(kinds[k] > 0 for k in PORTABILITY_KINDS), kinds  # the sample supports every kind

    manifest = json.loads((built / "manifest.json").read_text())
    shares = manifest["portability"]["share_with_kind"]
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in every:
        groups[r["property"]].append(r)
        groups["all"].append(r)
    for name, group in groups.items():
        for kind in PORTABILITY_KINDS:
            share = sum(any(p["kind"] == kind for p in r["portability"]) for r in group) / len(group)
            assert shares[name][kind] == pytest.approx(share, abs=1e-4)
    card = (built / "README.md").read_text()
    assert "## Portability probes" in card
    assert f"{100 * shares['all']['subject_aliasing']:.1f}%" in card


# -- items 9 and 10: exports of the real build ---------------------------------------------------


def test_exports_of_the_sample_build(built: Path, tmp_path: Path) -> None:
    easy = export_easyedit(built, tmp_path / "easyedit", split="train")
    with_locality = 0
    for prop in ("recent", "popular", "long_tail", "robust"):
        records = json.loads((tmp_path / "easyedit" / f"{prop}.json").read_text())
        assert records, prop
        for rec in records:  # KnowEditDataset + its MEND/SERAC collate
            loc = rec["locality"].get("Relation_Specificity") or rec["locality"].get("Forgetfulness")
            assert isinstance(loc[0]["prompt"], str) and isinstance(loc[0]["ground_truth"][0], str)
            assert isinstance(rec["locality_ground_truth"], str) and isinstance(rec["rephrase_prompt"], str)
            with_locality += 1
        assert easy.written[prop] == len(records)
    assert with_locality == sum(easy.written.values())
    dafnet = export_dafnet(built, tmp_path / "dafnet", split="train")
    for prop in dafnet.written:
        for rec in json.loads((tmp_path / "dafnet" / f"{prop}.json").read_text()):
            assert isinstance(rec["ground_truth"], str) and rec["ground_truth"]


def test_stats_prints_the_portability_shares(built: Path) -> None:
    from rich.console import Console

    from dafset.publish.stats import print_stats

    console = Console(record=True, width=200)
    print_stats(built, console=console)
    text = console.export_text()
    shares = json.loads((built / "manifest.json").read_text())["portability"]["share_with_kind"]
    assert "Cases with a portability probe of each kind" in text
    assert f"{100 * shares['popular']['logical']:.1f}%" in text
