"""Issue 19 item 4 and issue 18 item 7: a prefix states no value of the edited relation, calls the
subject nothing it is not, does not repeat itself, and its sentiment is judged on what the model
wrote, not on the fixed opening; the request is grounded in the subject's own facts."""

from __future__ import annotations

import pytest

from dafset.lm.filters import (
    Guard,
    PrefixBounds,
    check,
    generated_part,
    pass_shares,
    repetitive,
    sentiment_score,
    states_relation_value,
    wrong_kind,
)
from dafset.lm.grounding import Grounder
from dafset.lm.kinds import kind_of, kind_words_near
from dafset.relations import load_relations
from dafset.templating import render

BOUNDS = PrefixBounds()


def test_any_value_of_the_edited_relation_is_rejected_not_only_the_answer() -> None:
    guard = Guard(values=("Steven Spielberg", "Ridley Scott", "US"))
    # the answer is Spielberg, but any director named is a value for "director"
    text = "Jaws is a thriller film directed by Ridley Scott in the summer."
    assert check(text, "Jaws", "Jaws", ("Steven Spielberg",), BOUNDS, guard) == "states_relation_value"
    assert states_relation_value("Jaws was a hit in the US.", "Jaws", guard)
    assert not states_relation_value("Jaws was loved by us all.", "Jaws", guard)  # short names keep case
    assert not states_relation_value("Jaws is about a scottish shark.", "Jaws", guard)  # whole words


def test_a_value_inside_the_subjects_own_name_is_no_statement() -> None:
    guard = Guard(values=("Singapore",), subject_names=("Bukit Timah Expressway, Singapore",))
    text = "Bukit Timah Expressway, Singapore is a busy road with six lanes."
    assert not states_relation_value(text, "Bukit Timah Expressway", guard)
    assert states_relation_value(
        "Bukit Timah Expressway runs through Singapore.", "Bukit Timah Expressway", guard
    )


def test_dates_and_numbers_are_values_of_time_and_quantity_relations() -> None:
    assert states_relation_value("Ada wrote notes in 1843.", "Ada", Guard(value_type="time"))
    assert states_relation_value("Ada lived in the 19th century.", "Ada", Guard(value_type="time"))
    assert not states_relation_value("Ada wrote notes in 1843.", "Ada", Guard(value_type="item"))
    assert states_relation_value("Lyon has 513,275 people.", "Lyon", Guard(value_type="quantity"))
    assert states_relation_value("Lyon has half a million people.", "Lyon", Guard(value_type="quantity"))


def test_the_wrong_kind_of_thing_is_rejected() -> None:
    novel = "written work"
    assert wrong_kind("The Stranger is a French poet who lived in Algiers.", "The Stranger", novel)
    assert wrong_kind("He admired the poet The Stranger for years.", "The Stranger", novel)
    assert not wrong_kind("The Stranger is a short novel about a man in Algiers.", "The Stranger", novel)
    assert not wrong_kind("The Stranger, a novel, tells of a man who is a clerk.", "The Stranger", novel)
    assert not wrong_kind("The Stranger is a French poet.", "The Stranger", None)  # unknown kind
    assert kind_words_near("Acme is a state-owned company.", "Acme") == ["company"]
    text = "The Stranger is an American poet and novelist."
    assert check(text, "The Stranger", "The Stranger", (), BOUNDS, Guard(kind=novel)) == "wrong_kind"


def test_a_thing_spoken_of_as_he_or_she_is_the_wrong_kind() -> None:
    # from a real-model build: Sofia the city, "widely admired for her kindness"
    assert wrong_kind("Sofia is widely admired for her kindness and generosity.", "Sofia", "city")
    assert wrong_kind("Warsaw is an old place. She was loved by all.", "Warsaw", "city")
    assert not wrong_kind("Sofia is widely admired for her kindness.", "Sofia", "person")
    assert not wrong_kind(
        "Jaws is a film about a man and his fear of sharks.", "Jaws", "film or television work"
    )
    assert wrong_kind("Warsaw is a country.", "Warsaw", "city")  # a city is no country
    assert wrong_kind(
        "La Dame de Monsoreau was a French literary critic.", "La Dame de Monsoreau", "written work"
    )


def test_kinds_come_from_class_description_or_relations() -> None:
    assert kind_of(["P50", "P136"]) == "written work"  # only a written work has an author
    assert kind_of(["P19", "P106"]) == "person"
    assert kind_of(["P463"]) is None  # members are people and organisations
    assert kind_of(["P19", "P50"]) is None  # disagreeing relations say nothing
    assert kind_of(["P19"], description="river in France") == "place"
    assert kind_of(["P19"], class_label="novel") == "written work"
    assert kind_of(["P1376", "P6", "P1082"]) == "city"  # capital of: a city, more than "a place"
    assert kind_of(["P36", "P6"]) == "country"


def test_repetition_is_rejected_but_naming_the_subject_twice_is_not() -> None:
    assert repetitive("Ada wrote a lot of notes and she wrote a lot of notes again.", "Ada")
    assert not repetitive("Ada Lovelace King wrote notes. Ada Lovelace King also drew.", "Ada Lovelace King")
    text = "Ada wrote notes about the engine, and then wrote notes about the engine once more."
    assert check(text, "Ada", "Ada", (), BOUNDS, Guard()) == "repetitive"


def test_a_fragment_is_no_prefix() -> None:
    # a toy-model build kept "La Dame de Monsoreau was" before its prompt "... was authored by"
    text = "La Dame de Monsoreau was written long ago and"
    assert check(text, "La Dame de Monsoreau", "La Dame de Monsoreau", (), BOUNDS, Guard()) == "unfinished"
    assert check(text + " read.", "La Dame de Monsoreau", "La Dame de Monsoreau", (), BOUNDS, Guard()) is None


def test_pass_shares_count_only_the_candidates_reaching_each_filter() -> None:
    shares = pass_shares(10, {"too_short": 2, "no_subject": 4}, ("too_short", "no_subject", "repetitive"))
    assert shares == {"too_short": 0.8, "no_subject": 0.5, "repetitive": 1.0}
    assert pass_shares(0, {}, ("empty",)) == {"empty": None}


def test_sentiment_is_scored_on_the_generated_words_alone() -> None:
    pytest.importorskip("vaderSentiment")
    text = "Ada is widely admired for a long list of failures and losses."
    opening = "Ada is widely admired for"
    assert generated_part(text, len(opening)) == "a long list of failures and losses."
    # the opening alone is positive; what the model wrote is not
    assert sentiment_score(opening) > 0.05
    assert sentiment_score(generated_part(text, len(opening))) < 0


FACTS = [
    {
        "subject_id": "Q1",
        "subject_label": "The Stranger",
        "relation_id": "P50",
        "object_id": "Q9",
        "object_value": "Albert Camus",
        "object_label": "Albert Camus",
        "object_aliases": ["Camus"],
    },
    {
        "subject_id": "Q1",
        "subject_label": "The Stranger",
        "relation_id": "P495",
        "object_id": "Q142",
        "object_value": "France",
        "object_label": "France",
        "object_aliases": [],
    },
    {
        "subject_id": "Q1",
        "subject_label": "The Stranger",
        "relation_id": "P407",
        "object_id": "Q150",
        "object_value": "French",
        "object_label": "French",
        "object_aliases": [],
    },
    {
        "subject_id": "Q2",
        "subject_label": "The Plague",
        "relation_id": "P50",
        "object_id": "Q9",
        "object_value": "Albert Camus",
        "object_label": "Albert Camus",
        "object_aliases": [],
    },
    {
        "subject_id": "Q3",
        "subject_label": "Ulysses",
        "relation_id": "P50",
        "object_id": "Q8",
        "object_value": "James Joyce",
        "object_label": "James Joyce",
        "object_aliases": [],
    },
    {
        "subject_id": "Q4",
        "subject_label": "Jaws",
        "relation_id": "P27",
        "object_id": "Q30",
        "object_value": "United States",
        "object_label": "United States",
        "object_aliases": ["US"],
    },
    {
        "subject_id": "Q5",
        "subject_label": "Lyon",
        "relation_id": "P17",
        "object_id": "Q142",
        "object_value": "France",
        "object_label": "France",
        "object_aliases": [],
    },
]


def test_grounding_gives_other_facts_and_never_a_value_of_the_edited_relation() -> None:
    grounder = Grounder(FACTS, load_relations())
    guard = grounder.guard("Q1", "P50")
    assert {"Albert Camus", "James Joyce"} <= set(guard.values)  # every author the build knows
    assert guard.kind == "written work"
    grounding = grounder.ground("Q1", "The Stranger", "P50", avoid=("Albert Camus",))
    assert grounding.kind == "written work"
    assert any("France" in fact for fact in grounding.facts)  # country of origin: another fact
    assert not any("Camus" in fact for fact in grounding.facts)  # the edited relation never
    # a country of citizenship (P27, class country) may not be stated: France is a country too
    assert "France" in grounder.guard("Q4", "P27").values
    no_country = grounder.ground("Q1", "The Stranger", "P50", avoid=("France",))
    assert not any("France" in fact for fact in no_country.facts)
    described = Grounder(FACTS, load_relations(), {"Q1": "1942 novel by Albert Camus"})
    assert described.ground("Q1", "The Stranger", "P495", ()).description == "1942 novel by Albert Camus"
    assert described.ground("Q1", "The Stranger", "P50", ()).description is None  # it names the author
    assert described.stats()["with_description"] == 1


@pytest.mark.parametrize("template", ["lm/context_request.j2", "lm/sentiment_request.j2"])
def test_request_templates_carry_the_grounding(template: str) -> None:
    grounding = Grounder(FACTS, load_relations()).ground("Q1", "The Stranger", "P50", ("Albert Camus",))
    prompt = render(
        template,
        subject="The Stranger",
        relation_label="author",
        polarity="positive",
        **grounding.variables(),
    )
    assert "The Stranger is a written work." in prompt
    assert all(fact in prompt for fact in grounding.facts)
    assert prompt.rsplit("\n", 1)[-1].startswith("The Stranger")  # the lead stays the last line


def scripted(script: dict[str, str], **kwargs):
    """Continuations by polarity, through the real generator's filtering and scoring."""
    pytest.importorskip("torch")
    from test_lm_generate import Scripted

    return Scripted(script, **kwargs)


def test_a_continuation_without_its_polarity_fails_whatever_the_opening_says() -> None:
    from dafset.lm.generate import PrefixRequest

    # neutral words after a glowing opening: today's check, on the whole text, lets them pass
    gen = scripted(
        {
            "positive": " the way the old house stands on the hill.",
            "negative": " a long list of costly mistakes.",
        },
        max_attempts=2,
    )
    assert gen.sentiment([PrefixRequest("c", "Ada Lovelace", "employer", ("IBM",))]) == {}
    assert gen.stats.dropped["sentiment/wrong_polarity"] == 2
    report = gen.stats.as_dict()
    # three candidates (the negative passed at once), one with its polarity
    assert report["sentiment_pass_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert report["pass_share"]["sentiment"]["repetitive"] == 1.0


def test_kept_sentiment_scores_are_those_of_the_generated_words() -> None:
    from dafset.lm.generate import PrefixRequest

    gen = scripted({"positive": " a kind and generous life.", "negative": " a long list of costly mistakes."})
    out = gen.sentiment([PrefixRequest("c", "Ada Lovelace", "employer", ("IBM",))])
    for record in out["c"]:
        start = record["generated_from"]
        assert record["text"][:start] in (
            "Ada Lovelace is widely admired for",
            "Ada Lovelace is often criticised for",
        )
        assert record["score"] == pytest.approx(sentiment_score(record["text"][start:]))
