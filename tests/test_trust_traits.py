"""Issue 18 items 5 and 8: what an entity is and when it lived (``entity_traits.rq``), the kind and
era checks of counterfactual targets that use it, the share of targets they checked, and the past
tense for the dead, the dissolved and ended statements."""

from __future__ import annotations

from typing import Any

import pytest

from dafset.build.render import FactIndex, counterfactual_target, render_case
from dafset.build.target_checks import target_checks
from dafset.build.tense import case_in_past, ended_entities, fact_in_past
from dafset.build.traits import attach_traits, fetch_traits
from dafset.relations import load_relations
from dafset.sources.sample import SampleSource

INTERGOVERNMENTAL, POLITICAL_PARTY, STATE, HISTORICAL_COUNTRY = "Q245065", "Q7278", "Q7275", "Q3024240"


def test_the_sample_answers_the_traits_query_with_real_dates() -> None:
    """Q42 (Douglas Adams) carries his real dates of birth and death in the sample."""
    traits = fetch_traits(SampleSource(), ["Q42", "Q31", "Q999999999"])
    assert traits["Q42"].began == "1952-03-11T00:00:00Z"
    assert traits["Q42"].ended == "2001-05-11T00:00:00Z"
    assert "Q999999999" not in traits
    facts = [{"subject_id": "Q42", "object_id": None, "relation_id": "P19"}]
    attach_traits(facts, traits)
    assert facts[0]["subject_ended"] == "2001-05-11T00:00:00Z" and facts[0]["object_classes"] == []


def _fact(subject: str, relation: str, obj: str, label: str, **extra: Any) -> dict[str, Any]:
    return {
        "subject_id": subject,
        "subject_label": extra.pop("subject_label", subject),
        "relation_id": relation,
        "object_id": obj,
        "object_value": obj,
        "object_label": label,
        "object_aliases": [],
        "statement_id": f"{subject}-{relation}-{obj}",
        "value_type": "item",
        "history": [{"statement_id": f"{subject}-{relation}-{obj}", "value": obj, "label": label}],
        **extra,
    }


def _choices(fact: dict[str, Any], index: FactIndex) -> set[str | None]:
    return {counterfactual_target(fact, [fact["object_label"]], index, seed) for seed in range(40)}


def test_the_kind_check_uses_instance_of_classes() -> None:
    """ "Belgium is a member of -> Hamas": a political party is no target for an intergovernmental
    organisation once the source holds both classes."""
    belgium = _fact("Q31", "P463", "Q7184", "NATO", object_classes=[INTERGOVERNMENTAL])
    others = [
        _fact(f"Q{100 + i}", "P463", f"Q{900 + i}", f"Party {i}", object_classes=[POLITICAL_PARTY])
        for i in range(6)
    ] + [_fact("Q200", "P463", "Q1065", "United Nations", object_classes=[INTERGOVERNMENTAL])]
    index = FactIndex.build([belgium, *others])
    assert _choices(belgium, index) == {"United Nations"}
    report = target_checks([_case(belgium, "United Nations")], index)
    assert report["kind_checked"] == 1 and report["kind_share"] == 1.0


def test_the_era_check_uses_dates() -> None:
    """Someone born in 1995 is no citizen of a state dissolved in 1991 (its dates come from the
    traits, not from facts of the build); undated candidates stay possible."""
    person = _fact("Q1", "P27", "Q31", "Belgium", subject_began="1995-04-01T00:00:00Z")
    others = [
        _fact("Q2", "P27", "Q15180", "Soviet Union", object_began="1922-12-30T00:00:00Z",
              object_ended="1991-12-26T00:00:00Z"),
        _fact("Q3", "P27", "Q142", "France", object_began="0843-01-01T00:00:00Z"),
    ] + [_fact(f"Q{10 + i}", "P27", f"Q{800 + i}", f"Land {i}") for i in range(6)]  # fmt: skip
    index = FactIndex.build([person, *others])
    choices = _choices(person, index)
    assert "Soviet Union" not in choices and "France" in choices and len(choices) > 2
    report = target_checks([_case(person, "France")], index)
    assert report["era_checked"] == 1 and report["subject_dated"] == 1 and report["target_dated"] == 1


def _case(fact: dict[str, Any], target: str) -> dict[str, Any]:
    return {
        "subject_id": fact["subject_id"],
        "relation_id": fact["relation_id"],
        "target_new": target,
        "target_true": fact["object_label"],
        "edit_kind": "counterfactual",
        "property": "popular",
        "snapshot": "2026-11-23",
    }


def test_the_dead_the_dissolved_and_ended_statements_take_the_past() -> None:
    narses = _fact(
        "Q312", "P39", "Q1", "exarch", subject_label="Narses", subject_ended="0574-01-01T00:00:00Z"
    )
    alive = _fact("Q5", "P39", "Q2", "mayor", subject_label="Ada")
    ended = _fact("Q6", "P39", "Q3", "consul", subject_label="Bo", end_time="2001-01-01T00:00:00Z")
    later = _fact("Q7", "P39", "Q4", "senator", subject_label="Cy", end_time="2030-01-01T00:00:00Z")
    by_place = _fact("Q8", "P20", "Q9", "Vienna", subject_label="Di")  # a place of death tells it too
    gone = ended_entities([narses, alive, ended, later, by_place])
    assert gone == {"Q312", "Q8"}
    assert [fact_in_past(f, gone, "2026-11-23") for f in (narses, alive, ended, later)] == [
        True,
        False,
        True,
        False,
    ]
    case = _case(ended, "tribune")
    assert case_in_past(case, {("Q6", "P39"): [ended]}, gone)


def test_render_case_speaks_of_the_dead_in_the_past_in_prompt_and_rephrases() -> None:
    relations = load_relations()
    narses = _fact(
        "Q312", "P39", "Q1", "exarch", subject_label="Narses", subject_ended="0574-01-01T00:00:00Z"
    )
    other = _fact("Q5", "P39", "Q2", "magister militum", subject_label="Ada")
    index = FactIndex.build([narses, other], {r.id: r.object_class for r in relations})
    sample = render_case(
        narses, prop="popular", criterion="pageviews", edit_kind="counterfactual",
        relations=relations, index=index, snapshot="2026-11-23", seed=0,
    )  # fmt: skip
    assert sample is not None
    assert sample["prompt"] == "Narses held the position of"
    assert all(" holds " not in r and " has " not in r for r in sample["rephrase_prompts"])


@pytest.mark.parametrize("subject_ended", [None, "2001-05-11T00:00:00Z"])
def test_the_present_stays_for_the_living(subject_ended: str | None) -> None:
    relations = load_relations()
    fact = _fact(
        "Q42", "P39", "Q1", "writer in residence", subject_label="Douglas Adams", subject_ended=subject_ended
    )
    other = _fact("Q5", "P39", "Q2", "mayor", subject_label="Ada")
    index = FactIndex.build([fact, other])
    sample = render_case(
        fact, prop="popular", criterion="pageviews", edit_kind="counterfactual",
        relations=relations, index=index, snapshot="2026-11-23", seed=0,
    )  # fmt: skip
    assert sample is not None
    expected = "held" if subject_ended else "holds"
    assert sample["prompt"] == f"Douglas Adams {expected} the position of"
