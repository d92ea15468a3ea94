"""Issue 18, items 1-3 and 9: every probe means what it says when a split's edits are applied as one
sequence. No locality probe, portability premise or rephrase asks what another edit of its split
changes (its pair, or a pair tied to it by relations.yaml's ``inverse``/``symmetric``); preservation
probes are KnowEdit's Forgetfulness, never the edit prompt; no rephrase is its prompt; no two edits
of a split swap their true values. On the shared sample build, and on the drawing functions."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dafset.build.locality import LocalityPool
from dafset.build.render import FactIndex, counterfactual_target
from dafset.build.robust import length_variant
from dafset.build.rules import RULES
from dafset.build.sequence import (
    CHECKS,
    SplitEdits,
    check_zero,
    plain,
    split_edits,
    swap_avoid,
    swaps,
    violations,
)
from dafset.errors import DafsetError
from dafset.relations import load_relations


@pytest.fixture(scope="module")
def rows(sample_build: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((sample_build / "data").glob("*/*.parquet")):
        split = path.name.split("-", 1)[0]
        out.extend({**row, "split": split} for row in pq.read_table(path).to_pylist())
    assert out
    return out


# -- the sample build --------------------------------------------------------------------------------


def test_no_locality_probe_reasks_an_edit_prompt_of_its_split(rows: list[dict[str, Any]]) -> None:
    """The issue's own count (2,819 on the build before the fix), character for character."""
    asked: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for r in rows:
        for p in [r["prompt"], *r["rephrase_prompts"]]:
            asked[(r["split"], p)].add((r["subject_id"], r["relation_id"]))
    reasked = [
        (r["id"], p["prompt"]) for r in rows for p in r["locality"] if asked.get((r["split"], p["prompt"]))
    ]
    assert reasked == []


def test_no_locality_probe_asks_a_pair_tied_to_an_edit(rows: list[dict[str, Any]]) -> None:
    """ "X is the capital of" is changed by an edit of "The capital of Y is" when X is Y's old or new
    capital; "Y is married to" by an edit of "X is married to" when Y is X's old or new spouse."""
    relations = load_relations()
    tied: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        back = relations.get(relations[r["relation_id"]].tied)
        if back is not None:
            for label in {r["target_new"], r["target_true"] or "", *r["answers"]} - {""}:
                tied[r["split"]].add(plain(back.render_prompt(label)))
    assert sum(len(v) for v in tied.values()) > 50  # the sample has capitals, spouses, twin towns
    hits = [p["prompt"] for r in rows for p in r["locality"] if plain(p["prompt"]) in tied[r["split"]]]
    assert hits == []


def test_every_sequence_rule_is_zero_and_in_the_manifest(
    rows: list[dict[str, Any]], sample_build: Path
) -> None:
    manifest = json.loads((sample_build / "manifest.json").read_text())
    assert manifest["sequence_rules"] == dict.fromkeys(CHECKS, 0)
    assert violations(rows, lambda r: r["split"], load_relations()) == dict.fromkeys(CHECKS, 0)
    assert (
        {"tied_to_another_edit", "rephrase_differs_from_prompt"} <= set(RULES) <= set(manifest["rule_drops"])
    )
    # the sample holds capitals and their countries: some edits are tied, and dropped
    assert manifest["rule_drops"]["tied_to_another_edit"] > 0
    assert "dropped_premise_edited" in manifest["portability"]


def test_no_rephrase_is_its_prompt(rows: list[dict[str, Any]]) -> None:
    same = [r["id"] for r in rows for rp in r["rephrase_prompts"] if plain(rp) == plain(r["prompt"])]
    assert same == []
    length = [r for r in rows if r["criterion"] == "length"]
    assert length and all(r["rephrase_prompts"] for r in length)


def test_preservation_is_forgetfulness_never_the_edit_prompt(rows: list[dict[str, Any]]) -> None:
    relations = load_relations()
    kept = [(r, p) for r in rows for p in r["portability"] if p["kind"] == "preservation"]
    assert kept
    for r, p in kept:
        assert relations[r["relation_id"]].cardinality == "multi"
        assert plain(p["prompt"]) != plain(r["prompt"])
        assert p["prompt"].startswith(f"Apart from {r['target_new']}, ")
        assert r["target_new"] not in p["answers"] and (r["target_true"] not in p["answers"])


def test_no_two_edits_of_a_split_swap_their_truths(rows: list[dict[str, Any]]) -> None:
    cases = {
        (r["split"], r["subject_id"], r["relation_id"]): r for r in rows if r["edit_kind"] == "counterfactual"
    }
    by_truth = {(k[0], r["relation_id"], r["target_true"]): r for k, r in cases.items()}
    exact = [
        r["id"]
        for (split, _, rid), r in cases.items()
        if (b := by_truth.get((split, rid, r["target_new"]))) is not None
        and b["target_new"] == r["target_true"]
    ]
    assert exact == []
    assert swaps(rows, lambda r: r["split"]) == []


# -- the drawing functions ---------------------------------------------------------------------------


def _fact(subject: str, label: str, relation: str, obj: str, obj_label: str) -> dict[str, Any]:
    return {"subject_id": subject, "subject_label": label, "relation_id": relation, "object_id": obj,
            "object_label": obj_label, "object_value": obj, "statement_id": f"{subject}-{relation}-{obj}",
            "object_aliases": [], "subject_aliases": []}  # fmt: skip


def _case(
    subject: str, label: str, relation: str, new: str, true: str, split: str = "train"
) -> dict[str, Any]:
    prompt = load_relations()[relation].render_prompt(label)
    return {"id": f"{subject}/{relation}", "subject": label, "subject_id": subject, "relation_id": relation,
            "prompt": prompt, "rephrase_prompts": [], "target_new": new, "target_true": true,
            "answers": [true], "edit_kind": "counterfactual", "prefix": [], "locality": [],
            "portability": [], "relation_label": load_relations()[relation].label, "split": split, "snapshot": "2022-01-01"}  # fmt: skip


def test_locality_draws_no_edited_and_no_tied_pair() -> None:
    """Ada's spouse edited from William to Eve: William's and Eve's spouse change too (symmetric),
    and Fay's is edited in another split; only Bob's and Cleo's may be probed."""
    relations = load_relations()
    facts = [
        _fact("Q1", "Ada", "P26", "Q2", "William"),
        _fact("Q2", "William", "P26", "Q1", "Ada"),
        _fact("Q4", "Eve", "P26", "Q3", "Bob"),
        _fact("Q3", "Bob", "P26", "Q9", "Iris"),
        _fact("Q5", "Cleo", "P26", "Q7", "Dan"),
        _fact("Q6", "Fay", "P26", "Q8", "Gus"),
    ]
    index = FactIndex.build(facts)
    ada = _case("Q1", "Ada", "P26", "Eve", "William")
    fay = _case("Q6", "Fay", "P26", "Hal", "Gus", split="test")
    objects = {"Q1": {"Q2", "Q4"}, "Q6": {"Q8"}}
    edits = split_edits([ada, fay], lambda s: s["split"], relations, lambda s: objects[s["subject_id"]])
    pool = LocalityPool(index, relations, edits, lambda f: True, seed=0, snapshot="2022-01-01")
    asked = {p["prompt"] for p in pool.probes(ada)}
    assert asked == {"Bob is married to", "Cleo is married to"}
    assert pool.skipped_edited > 0


def test_tied_edits_clash_within_a_split_only() -> None:
    """Editing the capital of France and what Paris is the capital of, in one sequence, is one edit
    told twice (or two that contradict): the second is refused; in another split it is free."""
    relations = load_relations()
    edits = SplitEdits(relations)
    france = _case("Q142", "France", "P36", "Berlin", "Paris")
    edits.add(france, "train", {"Q90", "Q64"})
    paris = _case("Q90", "Paris", "P1376", "Japan", "France")
    assert edits.clash(paris, "train", {"Q142", "Q17"})
    assert not edits.clash(paris, "test", {"Q142", "Q17"})
    assert not edits.clash(_case("Q183", "Germany", "P30", "Asia", "Europe"), "train", {"Q46", "Q48"})
    # the probes' view: Paris's "capital of" is changed in train, by France's edit and not its own
    assert edits.edited("train", pair=("Q90", "P1376"))
    assert not edits.edited("train", pair=("Q90", "P1376"), own=("Q142", "P36"))
    assert edits.edited("train", text="paris is THE capital of")


def test_a_counterfactual_target_never_swaps_with_a_taken_edit() -> None:
    """Once A's country is edited to B's, B's may not become A's (in the same split)."""
    facts = [_fact(f"Q{i}", f"P{i}", "P27", f"Q{100 + i}", f"Land{chr(65 + i)}") for i in range(6)]
    index = FactIndex.build(facts)
    first = counterfactual_target(facts[0], ["LandA"], index, seed=0)
    assert first is not None and first != "LandA"
    owner = next(f for f in facts if f["object_label"] == first)
    # a seed where B, left alone, would take A's truth
    seed = next(s for s in range(200) if counterfactual_target(owner, [first], index, s) == "LandA")
    taken = {("train", "P27", first): {"LandA"}}  # A took B's truth as its new target
    avoid = swap_avoid([first], "train", "P27", taken)
    assert avoid == {"LandA"} and swap_avoid([first], "test", "P27", taken) == frozenset()
    assert counterfactual_target(owner, [first], index, seed, avoid) not in (None, "LandA")
    a = {**_case("Q0", "P0", "P27", first, "LandA"), "answers": ["LandA"]}
    b = {**_case(owner["subject_id"], owner["subject_label"], "P27", "LandA", first), "answers": [first]}
    assert len(swaps([a, b], lambda s: "train")) == 1
    assert swaps([a, b], lambda s: s["subject_id"]) == []  # different splits: no sequence holds both


def test_length_variant_short_form_is_never_the_prompt() -> None:
    """ "Prague is the capital of" is shorter than every paraphrase: the short form is a paraphrase."""
    relations = load_relations()
    index = FactIndex.build(
        [
            _fact("Q1085", "Prague", "P1376", "Q213", "Czech Republic"),
            _fact("Q1085", "Prague", "P17", "Q213b", "Bohemia"),
        ]
    )
    case = {**_case("Q1085", "Prague", "P1376", "Slovakia", "Czech Republic"),
            "rephrase_prompts": relations["P1376"].render_paraphrases("Prague")}  # fmt: skip
    got = length_variant(case, relations, index)
    assert got is not None
    assert all(plain(r) != plain(case["prompt"]) for r in got["rephrase_prompts"])
    assert len({plain(r) for r in got["rephrase_prompts"]}) == len(got["rephrase_prompts"])
    assert len(got["rephrase_prompts"][0]) == min(len(r) for r in case["rephrase_prompts"])


def test_the_final_check_counts_each_breach_and_fails_the_build() -> None:
    relations = load_relations()
    ada = _case("Q1", "Ada", "P26", "Eve", "William")
    ada["rephrase_prompts"] = ["ada is  married to"]  # the prompt again
    ada["locality"] = [{"prompt": "Eve is married to", "answers": ["Bob"], "kind": "same_relation"}]
    ada["portability"] = [{"prompt": "Ada is married to", "answers": ["Tom"], "kind": "preservation"}]
    bob = _case("Q3", "Bob", "P26", "William", "Eve")  # takes Ada's truth while Ada takes his
    bob["portability"] = [{"prompt": "William is married to", "answers": ["Bob"], "kind": "logical"}]
    eve = _case("Q4", "Eve", "P26", "Tom", "Zed")  # Eve's spouse: Ada's edit changes it
    figures = violations([ada, bob, eve], lambda s: "train", relations)
    assert figures == {
        "locality_asks_edited": 1,
        "portability_premise_edited": 1,  # William's spouse is Ada's old one: Ada's edit changes it
        "rephrase_asks_other_edit": 1,  # Eve's prompt
        "rephrase_equals_prompt": 1,
        "preservation_repeats_prompt": 1,
        "swapped_true_values": 1,
    }
    with pytest.raises(DafsetError, match="locality_asks_edited=1"):
        check_zero(figures)
    check_zero(dict.fromkeys(CHECKS, 0))
