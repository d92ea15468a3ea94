"""The sandboxed Jinja2 renderer and the templates in templates/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dafset.errors import ConfigError
from dafset.relations import RelationSet, load_relations
from dafset.settings import REPO_ROOT
from dafset.templating import check_templates, render, render_string, template_variables

OUR_TEMPLATES = {"prompt.j2", "rephrase.j2", "locality.j2", "robust_short.j2", "robust_long.j2"}
SUBJECT = "Douglas Adams"
FACTS = [
    {"relation_label": "occupation", "object": "novelist"},
    {"relation_label": "educated at", "object": "St John's College"},
    {"relation_label": "notable work", "object": "The Hitchhiker's Guide to the Galaxy"},
    {"relation_id": "P570", "relation_label": "date of death", "object": "11 May 2001"},
    {"relation_label": "place of birth", "object": "Cambridge"},  # the edited relation: skipped
]


@pytest.fixture(scope="module")
def relations() -> RelationSet:
    return load_relations(REPO_ROOT / "relations.yaml")


@pytest.fixture
def templates_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    monkeypatch.setenv("DAFSET_TEMPLATES_DIR", str(folder))
    return folder


# --- the real templates -------------------------------------------------------------------------


def test_every_real_template_compiles() -> None:
    names = check_templates(REPO_ROOT / "templates")
    assert set(names) >= OUR_TEMPLATES


def test_prompt_and_locality_are_the_relation_prompt(relations: RelationSet) -> None:
    p19 = relations["P19"]
    assert render("prompt.j2", relation=p19, subject=SUBJECT) == "Douglas Adams was born in"
    p36 = relations["P36"]
    assert render("locality.j2", relation=p36, subject="Kenya") == "The capital of Kenya is"


@pytest.mark.parametrize("pid", ["P19", "P106", "P1082"])
def test_rephrase_gives_each_paraphrase(relations: RelationSet, pid: str) -> None:
    relation = relations[pid]
    rendered = [
        render("rephrase.j2", relation=relation, subject=SUBJECT, index=i)
        for i in range(len(relation.paraphrases))
    ]
    assert rendered == relation.render_paraphrases(SUBJECT)
    assert render("prompt.j2", relation=relation, subject=SUBJECT) not in rendered


def test_rephrase_index_out_of_range_is_a_config_error(relations: RelationSet) -> None:
    with pytest.raises(ConfigError, match=r"rephrase\.j2:\d+: undefined: .*no element 99"):
        render("rephrase.j2", relation=relations["P19"], subject=SUBJECT, index=99)


def test_robust_short_is_the_shortest_paraphrase_never_the_prompt(relations: RelationSet) -> None:
    for relation in relations:
        forms = relation.render_paraphrases(SUBJECT)
        short = render("robust_short.j2", relation=relation, subject=SUBJECT)
        assert short in forms and short != relation.render_prompt(SUBJECT)
        assert len(short) == min(map(len, forms))


def test_robust_long_puts_other_facts_before_the_prompt(relations: RelationSet) -> None:
    p19 = relations["P19"]
    long = render("robust_long.j2", relation=p19, subject=SUBJECT, facts=FACTS)
    assert long == (
        "The occupation of Douglas Adams is novelist. "
        "Douglas Adams was educated at St John's College. "
        "Douglas Adams's notable work is The Hitchhiker's Guide to the Galaxy. "
        "Douglas Adams died on 11 May 2001. "
        "Douglas Adams was born in"
    )
    assert "Cambridge" not in long  # facts of the edited relation would reveal the old object
    assert render("robust_long.j2", relation=p19, subject=SUBJECT, facts=[]) == p19.render_prompt(SUBJECT)


def test_robust_long_without_object_names_the_template(relations: RelationSet) -> None:
    with pytest.raises(ConfigError, match=r"robust_long\.j2:\d+: KeyError: 'object'"):
        render(
            "robust_long.j2",
            relation=relations["P19"],
            subject=SUBJECT,
            facts=[{"relation_label": "occupation"}],
        )


# --- broken templates: one line naming the file -------------------------------------------------


def test_syntax_error_names_file_and_line(templates_dir: Path) -> None:
    (templates_dir / "broken.j2").write_text("{# ok #}\n{{ subject }\n")
    with pytest.raises(ConfigError) as caught:
        render("broken.j2", subject=SUBJECT)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{templates_dir / 'broken.j2'}:2: template syntax error: ")


def test_undefined_variable_names_file_line_and_name(templates_dir: Path) -> None:
    (templates_dir / "locality.j2").write_text("{# vars: relation, subject #}\n\n{{ subjekt }} is\n")
    with pytest.raises(ConfigError) as caught:
        render("locality.j2", subject=SUBJECT)
    assert str(caught.value) == f"{templates_dir / 'locality.j2'}:3: undefined variable 'subjekt'"


def test_errors_are_relative_to_the_working_directory(
    templates_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (templates_dir / "locality.j2").write_text("{{ subjekt }}")
    monkeypatch.chdir(templates_dir.parent)
    with pytest.raises(ConfigError, match=r"^templates/locality\.j2:1: undefined variable 'subjekt'$"):
        render("locality.j2", subject=SUBJECT)


def test_missing_template_is_a_config_error(templates_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.j2: template not found"):
        render("nope.j2")


def test_check_templates_finds_a_broken_file_in_a_subfolder(templates_dir: Path) -> None:
    (templates_dir / "prompt.j2").write_text("{{ relation.render_prompt(subject) }}")
    (templates_dir / "lm").mkdir()
    (templates_dir / "lm" / "ok.j2").write_text("{% if x %}y{% endif %}")
    assert check_templates() == ["lm/ok.j2", "prompt.j2"]
    (templates_dir / "lm" / "bad.j2").write_text("{% if x %}y\n")
    with pytest.raises(ConfigError) as caught:
        check_templates()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{templates_dir / 'lm' / 'bad.j2'}:")


def test_subfolder_templates_render(templates_dir: Path) -> None:
    (templates_dir / "lm").mkdir()
    (templates_dir / "lm" / "context_request.j2").write_text(
        "{# vars: subject #}\n{% for w in words %}\n  {{ w }}\n{% endfor %}\nabout {{ subject }}\n\n"
    )
    # trim_blocks/lstrip_blocks: block tags leave no blank lines; the result is stripped.
    out = render("lm/context_request.j2", words=["a", "b"], subject=SUBJECT)
    assert out == "a\n  b\nabout Douglas Adams"


def test_an_edited_template_is_recompiled(templates_dir: Path) -> None:
    path = templates_dir / "prompt.j2"
    path.write_text("first {{ subject }}")
    assert render("prompt.j2", subject="X") == "first X"
    path.write_text("second {{ subject }}")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert render("prompt.j2", subject="X") == "second X"


# --- inline templates and the sandbox -----------------------------------------------------------


def test_render_string_is_stripped_and_plain_text() -> None:
    out = render_string("  <b>{{ subject }}</b> & co \n", "inline", subject="A<B>")
    assert out == "<b>A<B></b> & co"  # no HTML autoescape: prompts are plain text


def test_render_string_undefined_names_origin() -> None:
    with pytest.raises(ConfigError) as caught:
        render_string("{{ subject }} and {{ objekt }}", "relations.yaml#P19.statement", subject="A")
    assert str(caught.value) == "relations.yaml#P19.statement:1: undefined variable 'objekt'"


def test_render_string_syntax_error_names_origin() -> None:
    with pytest.raises(ConfigError, match=r"^here:1: template syntax error: "):
        render_string("{{ subject ", "here", subject="A")


@pytest.mark.parametrize(
    "source",
    [
        "{{ subject.__class__.__mro__ }}",
        "{{ subject.__class__.__mro__[1].__subclasses__() }}",
        "{{ relation.__init__.__globals__ }}",
    ],
)
def test_sandbox_refuses_python_internals(source: str, relations: RelationSet) -> None:
    with pytest.raises(ConfigError, match=r"^evil:1: refused by the sandbox: .*unsafe"):
        render_string(source, "evil", subject="A", relation=relations["P19"])


def test_sandbox_refuses_internals_in_template_files(templates_dir: Path) -> None:
    (templates_dir / "evil.j2").write_text("{{ subject.__class__ }}")
    with pytest.raises(ConfigError, match=r"evil\.j2:1: refused by the sandbox"):
        render("evil.j2", subject="A")


def test_template_variables() -> None:
    assert template_variables("{{ subject }} is {{ object }}.", "t") == {"subject", "object"}
    with pytest.raises(ConfigError, match=r"^t:1: template syntax error"):
        template_variables("{{ subject", "t")


# -- bounds: templates cannot exhaust the machine (dafset.sandbox) -----------------------------------


@pytest.mark.parametrize(
    "bomb",
    [
        "{{ 'a' * 100000000000 }}",
        "{{ [1] * 100000000000 }}",
        "{{ (9**99999999) % 7 }}",
        "{{ 'x'.center(10**10) }}",
        "{{ 'x' | center(10**10) }}",
        "{{ 'x' | indent(10**10) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>99999999999}'.format(1) }}",
        "{{ '%0999999999d' | format(1) }}",
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% for i in range(99999) %}{{ 'x' * 99 }}{% endfor %}",
    ],
)
def test_bombs_are_refused_in_one_line(bomb: str) -> None:
    with pytest.raises(ConfigError) as info:
        render_string(bomb, "relations.yaml#P1.prompt")
    message = str(info.value)
    assert "\n" not in message and message.startswith("relations.yaml#P1.prompt") and "sandbox" in message


def test_a_macro_calling_itself_is_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        render_string("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "t.j2")
    assert "\n" not in str(info.value) and "recursion" in str(info.value)


def test_ordinary_operators_still_work() -> None:
    text = "{{ 2**64 }} {{ 'ab' * 3 }} {{ '%5d' % 3 }} {{ range(3)|list }} {{ 'x'.center(5) }}|{{ 'a' ~ 1 }}"
    assert render_string(text, "t") == "18446744073709551616 ababab     3 [0, 1, 2]   x  |a1"


def test_an_undefined_name_passed_on_is_the_callers_fault(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "prompt.j2").write_text("{# a comment #}\n{{ relation.render_prompt(subjekt) }}")
    monkeypatch.setenv("DAFSET_TEMPLATES_DIR", str(tmp_path))
    relation = next(iter(load_relations()))
    with pytest.raises(ConfigError) as info:
        render("prompt.j2", relation=relation, subject="Ada")
    message = str(info.value)
    assert "prompt.j2:2" in message and "subjekt" in message and "relations.yaml" not in message


def test_a_non_utf8_template_is_one_line(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "bad.j2").write_bytes(b"caf\xe9 {{ subject }}")
    monkeypatch.setenv("DAFSET_TEMPLATES_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        render("bad.j2", subject="x")
    assert "\n" not in str(info.value) and "bad.j2" in str(info.value) and "UTF-8" in str(info.value)
