"""relations.yaml and its typed loader: the real file, the error messages, the fixture coverage."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest

from dafset.errors import ConfigError
from dafset.relations import MIN_PARAPHRASES, Relation, RelationSet, load_relations, parse_relations
from dafset.settings import REPO_ROOT, get_settings

REAL_FILE = REPO_ROOT / "relations.yaml"
SUBJECT = "Ada Lovelace"
OBJECT = "Marylebone"

# The relation list fixed by the foundation issue, in file order.
EXPECTED_IDS = [
    "P19", "P20", "P27", "P26", "P22", "P3373", "P69", "P106", "P108", "P101", "P103", "P1412",
    "P39", "P463", "P140", "P509", "P413", "P641", "P1303", "P264", "P136", "P50", "P57", "P58",
    "P86", "P162", "P170", "P175", "P272", "P449", "P364", "P495", "P176", "P178", "P127", "P17",
    "P131", "P30", "P36", "P1376", "P37", "P6", "P190", "P569", "P570", "P571", "P577", "P1082",
]  # fmt: skip


@pytest.fixture(scope="module")
def relations() -> RelationSet:
    return load_relations(REAL_FILE)


# --- the real file ------------------------------------------------------------------------------


def test_real_file_has_the_48_relations_in_order(relations: RelationSet) -> None:
    assert len(relations) == 48
    assert list(relations.ids) == EXPECTED_IDS
    assert [r.id for r in relations] == EXPECTED_IDS


def test_default_path_comes_from_settings_and_is_cached(relations: RelationSet) -> None:
    assert get_settings().relations_file == REAL_FILE
    assert load_relations() is load_relations(REAL_FILE)
    assert load_relations() is relations


@pytest.mark.parametrize("pid", EXPECTED_IDS)
def test_every_template_renders_with_the_subject_verbatim(relations: RelationSet, pid: str) -> None:
    relation = relations[pid]
    cloze = [relation.render_prompt(SUBJECT), *relation.render_paraphrases(SUBJECT)]
    assert len(cloze) == 1 + len(relation.paraphrases) >= 1 + MIN_PARAPHRASES
    assert len(set(cloze)) == len(cloze), "paraphrases must differ from the prompt and each other"
    for text in cloze:
        assert SUBJECT in text
        assert OBJECT not in text
        assert "{" not in text and "}" not in text
        assert text[-1].isalnum(), f"{text!r} must end where the object follows"
    question = relation.render_question(SUBJECT)
    assert SUBJECT in question and question.endswith("?")
    statement = relation.render_statement(SUBJECT, OBJECT)
    assert SUBJECT in statement and OBJECT in statement and statement.endswith(".")


def test_time_and_quantity_prompts_read_naturally(relations: RelationSet) -> None:
    assert relations["P569"].render_prompt("Ada Lovelace") == "Ada Lovelace was born on"
    assert relations["P570"].render_prompt("Ada Lovelace") == "Ada Lovelace died on"
    assert relations["P1082"].render_prompt("Berlin") == "The population of Berlin is"
    assert relations["P19"].render_statement("Ada", "London") == "Ada was born in London."


def test_value_types_object_classes_and_sources(relations: RelationSet) -> None:
    by_type = {r.id for r in relations if r.value_type == "time"}
    assert by_type == {"P569", "P570", "P571", "P577"}
    assert relations["P1082"].value_type == "quantity"
    assert relations["P26"].object_class == "Q5"
    assert relations["P27"].object_class == "Q6256"
    assert relations["P569"].object_class is None
    # Sources as found in the fixtures: LAMA's T-REx list, BEAR's metadata, PopQA's props.
    assert {"LAMA", "BEAR", "PopQA"} <= set(relations["P19"].sources)
    assert "LAMA" not in relations["P26"].sources
    assert relations["P1082"].sources == ()


def test_sources_match_the_fixture_relation_lists(relations: RelationSet, fixtures_dir: Path) -> None:
    lama = {
        json.loads(line)["relation"]
        for line in (fixtures_dir / "relation_templates" / "optiprompt_LAMA_relations.jsonl").open()
    }
    bear = set(json.loads((fixtures_dir / "facts" / "bear_BEAR-big" / "metadata_relations.json").read_text()))
    for relation in relations:
        assert ("LAMA" in relation.sources) == (relation.id in lama), relation.id
        assert ("BEAR" in relation.sources) == (relation.id in bear), relation.id


def test_relation_set_lookup(relations: RelationSet) -> None:
    assert relations["P36"].label == "capital"
    assert "P36" in relations and "P999999" not in relations
    assert relations.get("P999999") is None
    assert relations.by_label("place of birth") is relations["P19"]
    with pytest.raises(KeyError, match="P999999"):
        relations["P999999"]


def test_relation_facts_use_their_own_statement(relations: RelationSet) -> None:
    p19 = relations["P19"]
    assert p19.render_fact("Ada", {"relation_label": "place of death", "object": "Marylebone"}) == (
        "Ada died in Marylebone."
    )
    # A property outside the 48 still gives a readable sentence.
    assert p19.render_fact("Ada", {"relation_label": "notable work", "object": "Note G"}) == (
        "Ada's notable work is Note G."
    )


# --- malformed files: one line naming file, line, relation and field ----------------------------

VALID = """\
relations:
  - id: P19
    label: place of birth
    value_type: item
    cardinality: single
    domain: Biographical
    object_class: Q2221906
    sources: [LAMA, BEAR]
    prompt: "{{ subject }} was born in"
    question: "Where was {{ subject }} born?"
    paraphrases:
      - "The birthplace of {{ subject }} is"
      - "{{ subject }}'s place of birth is"
      - "{{ subject }} is a native of"
    statement: "{{ subject }} was born in {{ object }}."
"""
SECOND = """\
  - id: P20
    label: place of death
    value_type: item
    cardinality: single
    domain: Biographical
    object_class: Q2221906
    sources: [LAMA, BEAR]
    prompt: "{{ subject }} died in"
    question: "Where did {{ subject }} die?"
    paraphrases:
      - "{{ subject }} passed away in"
      - "The place of death of {{ subject }} is"
      - "{{ subject }}'s place of death is"
    statement: "{{ subject }} died in {{ object }}."
"""

# (case, replace this, with that, expected line, relation, field, words in the message)
MALFORMED = [
    ("missing field", '    question: "Where was {{ subject }} born?"\n', "", 2, "P19", "question", "missing"),
    ("bad P-id", "id: P19", "id: X19", 2, "X19", "id", "bad property id"),
    (
        "prompt without subject",
        '"{{ subject }} was born in"',
        '"She was born in"',
        9,
        "P19",
        "prompt",
        "must contain {{ subject }}",
    ),
    (
        "prompt with object",
        '"{{ subject }} was born in"',
        '"{{ subject }} was born in {{ object }}"',
        9,
        "P19",
        "prompt",
        "must not contain {{ object }}",
    ),
    (
        "paraphrase without subject",
        '"{{ subject }} is a native of"',
        '"He is a native of"',
        14,
        "P19",
        "paraphrases",
        "must contain {{ subject }}",
    ),
    (
        "too few paraphrases",
        '      - "{{ subject }} is a native of"\n',
        "",
        11,
        "P19",
        "paraphrases",
        "at least 3 paraphrases required",
    ),
    (
        "statement without object",
        '"{{ subject }} was born in {{ object }}."',
        '"{{ subject }} was born."',
        15,
        "P19",
        "statement",
        "must contain {{ object }}",
    ),
    (
        "filtered subject",
        '"{{ subject }} was born in"',
        '"{{ subject|upper }} was born in"',
        9,
        "P19",
        "prompt",
        "plain",
    ),
    (
        "template syntax",
        '"{{ subject }} was born in"',
        '"{{ subject }} was born in {{"',
        9,
        "P19",
        "prompt",
        "template syntax error",
    ),
    (
        "unknown variable",
        '"{{ subject }} was born in"',
        '"{{ subject }} was born in {{ year }}"',
        9,
        "P19",
        "prompt",
        "unknown template variable 'year'",
    ),
    ("unknown field", "    prompt:", "    promt:", 9, "P19", "promt", "did you mean 'prompt'"),
    (
        "wrong type: list",
        "sources: [LAMA, BEAR]",
        "sources: LAMA",
        8,
        "P19",
        "sources",
        "expected a list, got str",
    ),
    ("wrong type: string", "label: place of birth", "label: 5", 3, "P19", "label", "expected a string"),
    ("bad value type", "value_type: item", "value_type: entity", 4, "P19", "value_type", "one of"),
    ("bad cardinality", "cardinality: single", "cardinality: one", 5, "P19", "cardinality", "single"),
    ("bad domain", "domain: Biographical", "domain: Gossip", 6, "P19", "domain", "Biographical"),
    (
        "bad object class",
        "object_class: Q2221906",
        "object_class: city",
        7,
        "P19",
        "object_class",
        "bad item id",
    ),
    ("unknown source", "[LAMA, BEAR]", "[LAMA, Wikipedia]", 8, "P19", "sources", "BEAR"),
    (
        "field twice",
        "    label: place of birth\n",
        "    label: place of birth\n    label: birthplace\n",
        4,
        "P19",
        "label",
        "given twice",
    ),
]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relations.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _assert_one_line(message: str, path: Path, line: int, relation: str, field: str) -> None:
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: relation {relation}, field {field!r}: "), message


def test_the_valid_sample_loads(tmp_path: Path) -> None:
    relations = load_relations(_write(tmp_path, VALID + SECOND))
    assert relations.ids == ("P19", "P20")


@pytest.mark.parametrize(("case", "old", "new", "line", "relation", "field", "words"), MALFORMED)
def test_malformed_entry_names_file_line_relation_and_field(
    tmp_path: Path, case: str, old: str, new: str, line: int, relation: str, field: str, words: str
) -> None:
    assert old in VALID, case
    path = _write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_relations(path)
    message = str(caught.value)
    _assert_one_line(message, path, line, relation, field)
    assert words in message


def test_duplicate_id_points_at_the_second_entry(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID + VALID.removeprefix("relations:\n"))
    with pytest.raises(ConfigError) as caught:
        load_relations(path)
    _assert_one_line(str(caught.value), path, 16, "P19", "id")
    assert "duplicate relation id (first defined at line 2)" in str(caught.value)


def test_second_entry_errors_point_into_the_second_entry(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID + SECOND.replace('"{{ subject }} died in"', '"died in"'))
    with pytest.raises(ConfigError) as caught:
        load_relations(path)
    _assert_one_line(str(caught.value), path, 23, "P20", "prompt")


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("    label: place of birth", '    label: "place of birth'))
    with pytest.raises(ConfigError) as caught:
        load_relations(path)
    message = str(caught.value)
    assert "\n" not in message
    assert re.match(rf"^{re.escape(str(path))}:\d+: YAML syntax error: ", message), message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("- id: P19\n", "expected a mapping with a 'relations' list"),
        ("relation:\n  - id: P19\n", "unknown top-level key 'relation'"),
        ("relations: P19\n", "'relations' must be a list"),
        ("relations:\n  - P19\n", "relation #1: expected a mapping"),
    ],
)
def test_bad_file_shape(tmp_path: Path, text: str, words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(words)) as caught:
        load_relations(path)
    assert str(caught.value).startswith(f"{path}:")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read relations file"):
        load_relations(tmp_path / "nope.yaml")


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    first = load_relations(path)
    assert load_relations(path) is first
    path.write_text(VALID + SECOND, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_relations(path).ids == ("P19", "P20")


def test_parse_relations_names_its_origin() -> None:
    with pytest.raises(ConfigError, match=r"^inline\.yaml:2: relation P19, field 'question'"):
        parse_relations(VALID.replace('    question: "Where was {{ subject }} born?"\n', ""), "inline.yaml")


def test_relation_model_is_immutable(relations: RelationSet) -> None:
    with pytest.raises(ValueError, match="frozen"):
        relations["P19"].label = "birthplace"  # type: ignore[misc]
    assert isinstance(relations["P19"], Relation)


# --- the real facts cover the relations ---------------------------------------------------------

# PopQA's prop names (longtailqa_DisambPopQA.csv) and their P-ids.
POPQA_PROPS = {
    "country": "P17", "author": "P50", "sport": "P641", "place of birth": "P19", "occupation": "P106",
    "genre": "P136", "director": "P57", "composer": "P86", "screenwriter": "P58", "religion": "P140",
    "producer": "P162", "capital": "P36", "father": "P22", "capital of": "P1376", "mother": "P25",
}  # fmt: skip


def _entity_claim_properties(path: Path) -> set[str]:
    """P-ids with claims in one entity JSON file (single entity, wbgetentities or dump lines)."""
    text = path.read_text(encoding="utf-8")
    try:
        documents = [json.loads(text)]
    except json.JSONDecodeError:  # dump slices: one entity per line, with trailing commas
        stripped = (line.strip().rstrip(",") for line in text.splitlines())
        documents = [json.loads(line) for line in stripped if line not in ("", "[", "]")]
    found: set[str] = set()
    stack: list[object] = list(documents)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            claims = item.get("claims")
            if isinstance(claims, dict):
                found.update(claims)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_most_relations_have_real_facts(relations: RelationSet) -> None:
    fixtures = get_settings().fixtures_dir
    bear = {p.stem for p in (fixtures / "facts" / "bear_BEAR-big").glob("P*.jsonl")}
    with (fixtures / "facts" / "longtailqa_DisambPopQA.csv").open(encoding="utf-8") as handle:
        popqa = {POPQA_PROPS[row["prop"]] for row in csv.DictReader(handle)}
    entities: set[str] = set()
    for path in (fixtures / "entity_json").glob("*.json"):
        entities |= _entity_claim_properties(path)
    covered = {pid for pid in relations.ids if pid in bear | popqa | entities}
    missing = sorted(set(relations.ids) - covered)
    assert len(covered) >= 40, f"only {len(covered)} of 48 relations have real facts; missing {missing}"
    # The time and quantity relations come only from entity JSON; make sure that path is counted.
    assert {"P569", "P1082"} <= entities


# --- ties between relations (inverse, symmetric): sequential editing reads them -----------------


def _tie(text: str, pid: str, line: str) -> str:
    """``text`` with ``line`` added to relation ``pid`` just after its cardinality."""
    head, _, tail = text.partition(f"  - id: {pid}\n")
    before, _, after = tail.partition("    cardinality: single\n")
    return f"{head}  - id: {pid}\n{before}    cardinality: single\n    {line}\n{after}"


def test_the_real_file_declares_the_ties_both_ways(relations: RelationSet) -> None:
    assert relations["P36"].inverse == "P1376" and relations["P1376"].inverse == "P36"
    assert {r.id for r in relations if r.symmetric} == {"P26", "P3373", "P190"}
    assert relations["P36"].tied == "P1376" and relations["P26"].tied == "P26"
    assert relations["P19"].tied is None


def test_mutual_inverses_load(tmp_path: Path) -> None:
    text = _tie(_tie(VALID + SECOND, "P19", "inverse: P20"), "P20", "inverse: P19")
    relations = load_relations(_write(tmp_path, text))
    assert relations["P19"].tied == "P20" and relations["P20"].tied == "P19"


@pytest.mark.parametrize(
    ("tie", "words"),
    [
        ("inverse: P999", "names P999, which is not a relation of"),
        ("inverse: P20", "names P20, whose own 'inverse' is not set (it must be P19)"),
        ("inverse: P19", "its own inverse is 'symmetric: true'"),
        ("inverse: city", "bad property id"),
        ("symmetric: maybe", "valid boolean"),
    ],
)
def test_a_bad_tie_names_file_line_relation_and_field(tmp_path: Path, tie: str, words: str) -> None:
    path = _write(tmp_path, _tie(VALID + SECOND, "P19", tie))
    with pytest.raises(ConfigError) as caught:
        load_relations(path)
    field = tie.split(":")[0]
    _assert_one_line(str(caught.value), path, 6, "P19", field)
    assert words in str(caught.value)


def test_only_an_item_relation_can_be_tied(tmp_path: Path) -> None:
    text = _tie(VALID.replace("value_type: item", "value_type: time"), "P19", "symmetric: true")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_relations(path)
    _assert_one_line(str(caught.value), path, 6, "P19", "symmetric")
    assert "only an item-valued relation" in str(caught.value)
# --- past tense (issue 18): a `past` block, validated, rendered by Relation.tense ------------------

PAST = """\
    past:
      prompt: "{{ subject }} was born in"
      question: "Where was {{ subject }} born?"
      paraphrases:
        - "The birthplace of {{ subject }} was"
        - "{{ subject }}'s place of birth was"
        - "{{ subject }} was a native of"
      statement: "{{ subject }} was born in {{ object }}."
"""


def test_a_past_block_renders_in_the_past_and_the_present_stays(tmp_path: Path) -> None:
    relations = load_relations(_write(tmp_path, VALID + PAST))
    p19 = relations["P19"]
    assert p19.tense(False) is p19
    past = p19.tense(True)
    assert past.render_paraphrases("Ada")[2] == "Ada was a native of"
    assert p19.render_paraphrases("Ada")[2] == "Ada is a native of"
    assert past.render_question("Ada") == "Where was Ada born?"
    assert p19.tense(True) is past  # one view per relation
    assert load_relations(_write(tmp_path, VALID))["P19"].tense(True).past is None  # no block: as written


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ('      prompt: "{{ subject }} was born in"', '      prompt: "She was born in"', 17, "past.prompt", "must contain"),
        ('        - "{{ subject }} was a native of"\n', "", 19, "past.paraphrases", "one for one"),
        ("      statement:", "      statment:", 23, "past.statment", "did you mean 'statement'"),
        ('        - "{{ subject }} was a native of"', '        - "{{ subject }} was a native of."', 22, "past.paraphrases", "closing punctuation"),
    ],
)
def test_a_bad_past_block_is_one_line_naming_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, words: str
) -> None:
    path = _write(tmp_path, VALID + PAST.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_relations(path)
    _assert_one_line(str(caught.value), path, line, "P19", field)
    assert words in str(caught.value)


def test_every_present_tense_relation_of_the_real_file_has_past_forms(relations: RelationSet) -> None:
    """Relations whose prompt speaks in the present read wrong for the dead and the dissolved."""
    present = re.compile(r"\b(is|are|holds|works|speaks|plays)\b")
    works = {"P272", "P364", "P495"}  # a film's studio, language and origin read right in the present
    for relation in relations:
        if relation.value_type == "item" and relation.id not in works and present.search(relation.prompt):
            assert relation.past is not None, relation.id
            assert not present.search(relation.past.prompt), relation.id
    assert relations["P39"].tense(True).render_prompt("Narses") == "Narses held the position of"
