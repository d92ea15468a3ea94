"""Wording rules on real Wikidata labels and aliases of the bundled sample: the article a label
needs, the preposition a date takes, junk aliases."""

from __future__ import annotations

from collections import Counter

import pytest

from dafset.build.enrich import fetch_names
from dafset.build.rendered import ArticleCheck
from dafset.build.wording import (
    BLOCKLIST,
    blocked_aliases,
    clean_name,
    fit_preposition,
    fix_date_prepositions,
    junk_alias,
    missing_article,
    needs_article,
    shared_names,
    spacing_problem,
    the,
    with_article,
)
from dafset.relations import load_relations
from dafset.sources.sample import SampleSource

# real labels of the sample (asserted below), with the English usage a style guide gives them
NEEDS_THE = {
    "Q145": "United Kingdom",
    "Q30": "United States of America",
    "Q148": "People's Republic of China",
    "Q55": "Netherlands",
    "Q15180": "Soviet Union",
    "Q12560": "Ottoman Empire",
    "Q34433": "University of Oxford",
}
BARE = {
    "Q31": "Belgium",
    "Q1741": "Vienna",
    "Q255": "Ludwig van Beethoven",
    "Q64": "Berlin",
}


@pytest.fixture(scope="module")
def names() -> dict[str, str | None]:
    found = fetch_names(SampleSource(), [*NEEDS_THE, *BARE])
    return {q: n.label for q, n in found.items()}


def test_labels_are_real_sample_labels(names: dict[str, str | None]) -> None:
    assert names == {**NEEDS_THE, **BARE}


@pytest.mark.parametrize("label", list(NEEDS_THE.values()))
def test_names_that_take_the(label: str) -> None:
    assert needs_article(label)
    assert with_article(f"The capital of {label} is", label) == f"The capital of the {label} is"
    assert with_article(f"{label} is located in", label) == f"The {label} is located in"
    assert with_article(f"{label}'s capital is", label) == f"The {label}'s capital is"


@pytest.mark.parametrize(
    "label",
    [
        *BARE.values(),
        "Portrait of Jennie",  # a film: a work title keeps its words
        "Attack of the Crab Monsters",
        "First Lady of the United States",  # the head is "First Lady"
        "OneRepublic",
        "United Abominations",  # an album
        "Heard Island and McDonald Islands",
        "the Czech Republic",  # carries its article already
    ],
)
def test_names_that_stay_bare(label: str) -> None:
    assert not needs_article(label)
    assert with_article(f"The capital of {label} is", label) == f"The capital of {label} is"


def test_article_at_a_sentence_start_and_never_twice() -> None:
    text = "Canton of Neuchâtel is located in Switzerland. Canton of Neuchâtel is located on the continent of"
    fixed = with_article(text, "Canton of Neuchâtel")
    assert fixed == (
        "The Canton of Neuchâtel is located in Switzerland. The Canton of Neuchâtel is located on the continent of"
    )
    assert with_article(fixed, "Canton of Neuchâtel") == fixed
    assert missing_article(text, "Canton of Neuchâtel") and not missing_article(fixed, "Canton of Neuchâtel")


@pytest.mark.parametrize(
    ("prompt", "value", "expected"),
    [
        ("Denmark was founded on", "1991", "Denmark was founded in"),
        ("Denmark was founded on", "May 1991", "Denmark was founded in"),
        ("Denmark was founded on", "3 May 1991", "Denmark was founded on"),
        ("Denmark was founded in", "3 May 1991", "Denmark was founded on"),
        ("The founding date of Denmark is", "1991", "The founding date of Denmark is"),
    ],
)
def test_date_preposition_by_precision(prompt: str, value: str, expected: str) -> None:
    assert fit_preposition(prompt, value) == expected


def test_dates_inside_sentences() -> None:
    assert fix_date_prepositions("São Paulo was founded on 1554. It") == "São Paulo was founded in 1554. It"
    assert fix_date_prepositions("X was born on May 1900.") == "X was born in May 1900."
    assert fix_date_prepositions("X was born on 3 May 1900.") == "X was born on 3 May 1900."
    assert fix_date_prepositions("It was originally aired on Rai 1") == "It was originally aired on Rai 1"


def test_junk_aliases_of_real_entities() -> None:
    source = SampleSource()
    raw = source.select("labels", items=["Q1029363", "Q30", "Q145"])
    aliases = {(r["item"], r["alias"]) for r in raw if r.get("alias")}
    assert ("Q1029363", "00022325429 IPI") in aliases  # a real identifier-like alias in the sample
    names = fetch_names(source, ["Q1029363", "Q30", "Q145"])
    kept = {a for n in names.values() for a in n.aliases}
    assert "00022325429 IPI" not in kept
    assert "U.S." in kept and "Great Britain" in kept  # good aliases stay
    assert all(not junk_alias(a, None) for a in kept)


@pytest.mark.parametrize(
    ("alias", "label", "junk"),
    [
        ("UK", "United Kingdom", True),
        ("U2", "U2", False),  # a label of two characters is its own answer
        ("🇬🇧", "United Kingdom", True),
        (":-)", "Smiley", True),
        ("00033982178 IPI", "Paul McCartney", True),
        ("Apollo 11", "Apollo 11 mission", False),
        ("Macca", "Paul McCartney", False),
    ],
)
def test_junk_alias_rule(alias: str, label: str, junk: bool) -> None:
    assert junk_alias(alias, label) is junk


# -- issue 18: codes, offensive and ambiguous aliases; spacing; articles wherever a label goes ------


@pytest.mark.parametrize(
    ("alias", "label", "junk"),
    [
        ("can", "Canada", True),  # a lower-case code next to a longer label (real: Q16)
        ("pol", "politician", True),  # real: Q82955
        ("Jap", "Japan", True),  # on the block list of offensive aliases (real: Q17)
        ("JAP", "Japan", True),
        ("USA", "United States of America", False),  # upper-case abbreviations are names
        ("PRC", "People's Republic of China", False),
        ("Nippon", "Japan", False),
    ],
)
def test_codes_and_offensive_aliases(alias: str, label: str, junk: bool) -> None:
    assert junk_alias(alias, label) is junk


def test_the_block_list_is_a_commented_data_file() -> None:
    text = BLOCKLIST.read_text(encoding="utf-8")
    assert text.startswith("#") and "Origin:" in text
    assert "jap" in blocked_aliases()


def test_real_codes_and_slurs_never_reach_the_names() -> None:
    source = SampleSource()
    raw = {(r["item"], r.get("alias")) for r in source.select("labels", items=["Q16", "Q17", "Q82955"])}
    assert {("Q16", "can"), ("Q17", "Jap"), ("Q82955", "pol")} <= raw  # the sample holds them
    drops: Counter[str] = Counter()
    names = fetch_names(source, ["Q16", "Q17", "Q82955"], drops)
    kept = {a for n in names.values() for a in n.aliases}
    assert not {"can", "Jap", "JAP", "pol"} & kept
    assert drops["code_aliases"] >= 2 and drops["blocked_aliases"] >= 2


def test_labels_lose_the_spaces_wikidata_left_in_them() -> None:
    raw = SampleSource().select("labels", items=["Q797801"])
    assert raw[0]["label"] == "Baby, Come to Me "  # the real label, trailing space and all
    assert fetch_names(SampleSource(), ["Q797801"])["Q797801"].label == "Baby, Come to Me"
    assert clean_name("Mannenbach-Salenstein  station") == "Mannenbach-Salenstein station"
    assert spacing_problem("Baby, Come to Me  was produced by") == "double space"
    assert spacing_problem(" X was born in") == "edge space"
    assert spacing_problem("X was born in") is None


def test_an_alias_another_entity_holds_names_no_one() -> None:
    """George Washington (Q23) and Washington, D.C. (Q61) both hold the alias "Washington"."""
    names = fetch_names(SampleSource(), ["Q23", "Q61"])
    pairs = [(q, n) for q, entry in names.items() for n in [entry.label, *entry.aliases]]
    assert "washington" in shared_names(pairs)
    assert "george washington" not in shared_names(pairs)


def test_questions_and_statements_take_the_article() -> None:
    relations = load_relations()
    china = "People's Republic of China"
    assert relations["P36"].render_question(china) == "What is the capital of the People's Republic of China?"
    assert relations["P36"].render_prompt(china) == "The capital of the People's Republic of China is"
    assert relations["P27"].render_statement("Zhou", china) == "Zhou is a citizen of the People's Republic of China."
    assert relations["P36"].render_paraphrases(china)[0] == "The People's Republic of China's capital is"
    assert the(china) == "the People's Republic of China" and the("Canada") == "Canada"


def test_the_article_check_reads_every_label_but_not_inside_a_longer_one() -> None:
    check = ArticleCheck(["People's Republic of China", "Republic of China", "United Kingdom", "Canada"])
    assert check.missing("What is the capital of People's Republic of China?") == ["People's Republic of China"]
    assert check.missing("What is the capital of the People's Republic of China?") == []
    assert check.missing("United Kingdom is a member of") == ["United Kingdom"]
    assert check.missing("The United Kingdom is a member of") == []
    assert check.missing("Canada is a member of") == []
