"""The 48 relations of relations.yaml as typed, validated objects.

Each entry carries its id, label, value type, cardinality, domain, expected object class, the
datasets that use it, and four kinds of inline Jinja2 templates over ``subject`` (and ``object``):

- ``prompt`` and ``paraphrases``: cloze prompts that end where the object follows (causal-LM
  editing); they contain ``{{ subject }}`` verbatim and never the object;
- ``question``: the same fact asked as a question;
- ``statement``: a full sentence with subject and object (likelihood scoring, context, locality).

A malformed file fails at load with one line naming the file, line, relation and field::

    relations.yaml:57: relation P19, field 'paraphrases': at least 3 paraphrases required

Templates in ``templates/`` receive the :class:`Relation` object itself (variable ``relation``) and
call its methods, so they never re-implement the wording: ``relation.render_prompt(subject)``,
``relation.render_paraphrases(subject)[index]``, ``relation.render_question(subject)``,
``relation.render_fact(subject, fact)`` (another fact of the subject as a sentence), and read plain
fields such as ``relation.label``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails

from dafset.build.wording import with_article
from dafset.errors import BadIdError, ConfigError
from dafset.ids import check_item, check_property
from dafset.schema import VALUE_TYPES
from dafset.settings import get_settings
from dafset.templating import display_path, render_string, syntax_problem, template_variables

Domain = Literal[
    "Biographical",
    "Geographic",
    "Arts",
    "Movies",
    "Music",
    "Political",
    "Scientific",
    "Sports",
    "Economic",
    "Historical",
]
# Datasets whose relation lists we checked (fixtures and research/anchors-datasets.md).
Source = Literal["LAMA", "BEAR", "PopQA", "MQuAKE", "RippleEdits", "TempLAMA"]

MIN_PARAPHRASES = 3

# A plain ``{{ subject }}``: no filter, so the subject string lands in the prompt verbatim.
_PLAIN = {name: re.compile(r"\{\{-?\s*" + name + r"\s*-?\}\}") for name in ("subject", "object")}
# A cloze prompt stops where the object would follow, so no closing punctuation.
_CLOSING_PUNCTUATION = ".?!;:,"


# --- template checks (pydantic validators; ValueError becomes a located ConfigError) -------------


def _check_template(source: str, allowed: frozenset[str], required: tuple[str, ...]) -> str:
    if not source.strip():
        raise ValueError("empty template")
    problem = syntax_problem(source)
    if problem:
        raise ValueError(problem)
    names = template_variables(source, "template")
    if "object" in names and "object" not in allowed:
        raise ValueError("must not contain {{ object }}: it ends where the object follows")
    unknown = sorted(names - allowed)
    if unknown:
        raise ValueError(f"unknown template variable {unknown[0]!r} (allowed: {sorted(allowed)})")
    for name in required:
        if not _PLAIN[name].search(source):
            raise ValueError(f"must contain {{{{ {name} }}}} (plain, no filter)")
    return source


def _cloze(source: str) -> str:
    _check_template(source, frozenset({"subject"}), ("subject",))
    if source.rstrip()[-1] in _CLOSING_PUNCTUATION:
        raise ValueError("must end where the object follows, without closing punctuation")
    return source


def _question(source: str) -> str:
    _check_template(source, frozenset({"subject"}), ("subject",))
    if not source.rstrip().endswith("?"):
        raise ValueError("a question must end with '?'")
    return source


def _statement(source: str) -> str:
    _check_template(source, frozenset({"subject", "object"}), ("subject", "object"))
    if source.rstrip()[-1] not in ".!":
        raise ValueError("a statement must be a full sentence ending with '.'")
    return source


ClozeTemplate = Annotated[str, AfterValidator(_cloze)]
QuestionTemplate = Annotated[str, AfterValidator(_question)]
StatementTemplate = Annotated[str, AfterValidator(_statement)]


# --- the model ----------------------------------------------------------------------------------


class PastForms(BaseModel):
    """A relation's templates in the past tense, for a subject that has died or been dissolved
    and for an ended statement ("Narses held the position of", not "holds")."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    prompt: ClozeTemplate
    question: QuestionTemplate
    paraphrases: tuple[ClozeTemplate, ...]
    statement: StatementTemplate


class Relation(BaseModel):
    """One relation of relations.yaml. Immutable; render its templates with the methods below."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str
    label: str = Field(min_length=1)
    value_type: str
    cardinality: Literal["single", "multi"]
    domain: Domain
    object_class: str | None
    sources: tuple[Source, ...]
    prompt: ClozeTemplate
    question: QuestionTemplate
    paraphrases: tuple[ClozeTemplate, ...]
    statement: StatementTemplate
    # classes (Q-ids) a subject must not be an instance of for the prompt to fit it: no
    # "Belgium is located in the country of" (P17 on a country). Optional; empty = no constraint.
    subject_excludes: tuple[str, ...] = ()
    # the templates speak of the past ("was educated at"), so a statement with an end time before
    # the snapshot still holds; for every other relation an ended statement is no truth
    holds_after_end: bool = False
    # ties for sequential editing and logical probes: X rel Y <=> Y rel X (symmetric), or
    # X rel Y <=> Y inverse X (the P-id of the relation read backwards, also in the file)
    symmetric: bool = False
    inverse: str | None = None
    # the same templates in the past tense (``Relation.tense``); optional: a relation whose
    # templates read right for the dead and the ended ("was born in") needs none
    past: PastForms | None = None

    # Where the templates came from, for error messages; set by the loader.
    _origin: str = PrivateAttr(default="relations.yaml")
    # The set this relation was loaded with, so it can phrase its sibling relations' facts.
    _siblings: RelationSet | None = PrivateAttr(default=None)
    # "" for the relation as written, ".past" for its past-tense view (error messages name it)
    _tense: str = PrivateAttr(default="")
    _past_view: Relation | None = PrivateAttr(default=None)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _checked(check_property, value)

    @field_validator("value_type")
    @classmethod
    def _value_type(cls, value: str) -> str:
        if value not in VALUE_TYPES:
            raise ValueError(f"must be one of {list(VALUE_TYPES)}, got {value!r}")
        return value

    @field_validator("object_class")
    @classmethod
    def _object_class(cls, value: str | None) -> str | None:
        return None if value is None else _checked(check_item, value)

    @field_validator("subject_excludes")
    @classmethod
    def _subject_excludes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_checked(check_item, v) for v in value)

    @field_validator("inverse")
    @classmethod
    def _inverse(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = _checked(check_property, value)
        if value == info.data.get("id"):
            raise ValueError("a relation that is its own inverse is 'symmetric: true'")
        if info.data.get("symmetric"):
            raise ValueError("a symmetric relation has no inverse")
        return value

    @field_validator("symmetric", "inverse")
    @classmethod
    def _tie_needs_items(cls, value: Any, info: ValidationInfo) -> Any:
        if value and info.data.get("value_type") != "item":
            raise ValueError("only an item-valued relation can be read backwards")
        return value

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a source is listed twice")
        return value

    @field_validator("paraphrases")
    @classmethod
    def _paraphrases(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if len(value) < MIN_PARAPHRASES:
            raise ValueError(f"at least {MIN_PARAPHRASES} paraphrases required, got {len(value)}")
        seen = {info.data.get("prompt")}
        for text in value:
            if text in seen:
                raise ValueError(f"repeats the prompt or another paraphrase: {text!r}")
            seen.add(text)
        return value

    def tense(self, past: bool) -> Relation:
        """The relation to render in the past tense (its ``past`` templates) when ``past`` is true
        and it has them; else the relation itself."""
        if not past or self.past is None:
            return self
        if self._past_view is None:
            forms = self.past
            view = self.model_copy(
                update={
                    "prompt": forms.prompt,
                    "question": forms.question,
                    "paraphrases": forms.paraphrases,
                    "statement": forms.statement,
                    "past": None,
                }
            )
            view._origin, view._siblings, view._tense = self._origin, self._siblings, ".past"
            self._past_view = view
        return self._past_view

    # Rendering: every call goes through the sandboxed renderer, and every label inserted takes
    # the article it needs ("the capital of the People's Republic of China").

    def render_prompt(self, subject: str) -> str:
        return with_article(render_string(self.prompt, self._where("prompt"), subject=subject), subject)

    def render_paraphrases(self, subject: str) -> list[str]:
        return [
            with_article(render_string(text, self._where(f"paraphrases[{i}]"), subject=subject), subject)
            for i, text in enumerate(self.paraphrases)
        ]

    def render_question(self, subject: str) -> str:
        return with_article(render_string(self.question, self._where("question"), subject=subject), subject)

    def render_statement(self, subject: str, object: str) -> str:  # `object`: the template's name
        text = render_string(self.statement, self._where("statement"), subject=subject, object=object)
        return with_article(with_article(text, subject), object)

    def render_fact(self, subject: str, fact: Mapping[str, Any]) -> str:
        """Phrase another known fact of ``subject`` (``{relation_label, object}``, optionally
        ``relation_id``) with that relation's statement; used for long-prompt context."""
        return fact_statement(subject, fact, self._siblings)

    @property
    def tied(self) -> str | None:
        """The relation an edit of this one also changes, read from the object: itself when
        symmetric, else its inverse (None when neither)."""
        return self.id if self.symmetric else self.inverse

    def _where(self, field: str) -> str:
        return f"{self._origin}#{self.id}{self._tense}.{field}"


class RelationSet:
    """The relations in file order; look one up by P-id (``relations["P19"]``)."""

    def __init__(self, relations: Iterable[Relation], origin: str = "relations.yaml") -> None:
        self.origin = origin
        self._by_id: dict[str, Relation] = {}
        for relation in relations:
            if relation.id in self._by_id:
                raise ConfigError(f"{origin}: relation {relation.id} is listed twice")
            self._by_id[relation.id] = relation
            relation._siblings = self
        self._by_label = {r.label: r for r in self._by_id.values()}

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def __getitem__(self, pid: str) -> Relation:
        try:
            return self._by_id[pid]
        except KeyError:
            raise KeyError(f"relation {pid!r} is not in {self.origin}") from None

    def get(self, pid: str | None) -> Relation | None:
        return self._by_id.get(pid) if pid else None

    def by_label(self, label: str | None) -> Relation | None:
        return self._by_label.get(label) if label else None

    def __contains__(self, pid: object) -> bool:
        return pid in self._by_id

    def __iter__(self) -> Iterator[Relation]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"RelationSet({len(self)} relations from {self.origin})"


def fact_statement(subject: str, fact: Mapping[str, Any], relations: RelationSet | None = None) -> str:
    """One sentence for a known fact ``{relation_label, object}`` (``relation_id`` optional).

    Uses the relation's own ``statement`` when the relation is known, else a neutral
    "<subject>'s <label> is <object>." so that any Wikidata property can serve as context.
    """
    relations = relations if relations is not None else load_relations()
    obj = str(fact["object"])
    relation = relations.get(fact.get("relation_id")) or relations.by_label(fact.get("relation_label"))
    if relation is not None:
        return relation.render_statement(subject, obj)
    return with_article(with_article(f"{subject}'s {fact['relation_label']} is {obj}.", subject), obj)


# --- loading ------------------------------------------------------------------------------------


def load_relations(path: Path | None = None) -> RelationSet:
    """Load and validate relations.yaml (default: ``settings.relations_file``).

    Cached per file and modification time, so repeated calls are cheap and an edited file is
    re-read. Raises ConfigError with one line naming file, line, relation and field.
    """
    path = Path(path or get_settings().relations_file)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"{display_path(path)}: cannot read relations file ({exc.strerror})") from None
    return _load_cached(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _load_cached(path: Path, mtime_ns: int, size: int) -> RelationSet:
    return parse_relations(path.read_text(encoding="utf-8"), display_path(path))


def parse_relations(text: str, origin: str = "relations.yaml") -> RelationSet:
    """Validate the YAML ``text`` of a relations file; ``origin`` names it in error messages."""
    root, data = _compose(text, origin)
    entries_node = _relations_node(root, origin)
    relations: list[Relation] = []
    entries: list[_Entry] = []
    first_line: dict[str, int] = {}
    for index, node in enumerate(entries_node.value):
        entry = _Entry(node, data["relations"][index], index, origin)
        relation = entry.build()
        if relation.id in first_line:
            entry.fail("id", f"duplicate relation id (first defined at line {first_line[relation.id]})")
        first_line[relation.id] = entry.line
        relations.append(relation)
        entries.append(entry)
    _check_inverses(relations, entries, origin)
    return RelationSet(relations, origin)


def _check_inverses(relations: list[Relation], entries: list[_Entry], origin: str) -> None:
    """An ``inverse`` names a relation of the same file, and that relation names it back."""
    by_id = {r.id: r for r in relations}
    for relation, entry in zip(relations, entries, strict=True):
        if relation.inverse is None:
            continue
        other = by_id.get(relation.inverse)
        if other is None:
            entry.fail("inverse", f"names {relation.inverse}, which is not a relation of {origin}")
        if other.inverse != relation.id:
            entry.fail(
                "inverse",
                f"names {other.id}, whose own 'inverse' is {other.inverse or 'not set'} "
                f"(it must be {relation.id})",
            )


def _compose(text: str, origin: str) -> tuple[yaml.Node | None, Any]:
    # Compose (keeping node marks for line numbers) and construct from the same single parse.
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_yaml_problem(exc, origin)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: YAML error: {' '.join(str(exc).split())}") from None
    finally:
        loader.dispose()
    return node, data


def _yaml_problem(exc: yaml.MarkedYAMLError, origin: str) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{origin}:{mark.line + 1}" if mark else origin
    message = f"{where}: YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    # The context often points at the real culprit, e.g. the line of an unclosed quote.
    if exc.problem and exc.context and exc.context_mark:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return _one_line(message)


def _relations_node(root: yaml.Node | None, origin: str) -> yaml.SequenceNode:
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{origin}:1: expected a mapping with a 'relations' list at the top")
    for key, value in root.value:
        if key.value != "relations":
            raise ConfigError(
                f"{origin}:{key.start_mark.line + 1}: unknown top-level key {key.value!r} "
                "(only 'relations' is allowed)"
            )
        if not isinstance(value, yaml.SequenceNode):
            raise ConfigError(f"{origin}:{value.start_mark.line + 1}: 'relations' must be a list")
        return value
    raise ConfigError(f"{origin}:1: missing the top-level 'relations' list")


class _Entry:
    """One list item of the file, with the line of each of its fields."""

    def __init__(self, node: yaml.Node, data: Any, index: int, origin: str) -> None:
        self.node, self.data, self.origin = node, data, origin
        self.line = node.start_mark.line + 1
        raw_id = data.get("id") if isinstance(data, dict) else None
        self.name = raw_id if isinstance(raw_id, str) and raw_id else f"#{index + 1}"
        self.fields: dict[str, yaml.Node] = {}
        self.field_lines: dict[str, int] = {}

    def build(self) -> Relation:
        if not isinstance(self.node, yaml.MappingNode) or not isinstance(self.data, dict):
            raise ConfigError(f"{self.origin}:{self.line}: relation {self.name}: expected a mapping")
        for key, value in self.node.value:
            name = str(key.value)
            if name in self.fields:
                self._fail_at(key.start_mark.line + 1, name, "field given twice")
            self.fields[name] = value
            self.field_lines[name] = key.start_mark.line + 1
        try:
            relation = Relation(**{str(k): v for k, v in self.data.items()})
        except ValidationError as exc:
            self._fail_at(*self._first_problem(exc))
        relation._origin = self.origin
        if relation.past is not None and len(relation.past.paraphrases) != len(relation.paraphrases):
            node = self.fields["past"]
            found = [k for k, _ in node.value if k.value == "paraphrases"] if isinstance(node, yaml.MappingNode) else []
            self._fail_at(
                found[0].start_mark.line + 1 if found else self.field_lines["past"],
                "past.paraphrases",
                f"must match paraphrases one for one: {len(relation.past.paraphrases)} given, "
                f"{len(relation.paraphrases)} expected",
            )
        return relation

    def fail(self, field: str, message: str) -> NoReturn:
        self._fail_at(self.field_lines.get(field, self.line), field, message)

    def _fail_at(self, line: int, field: str, message: str) -> NoReturn:
        raise ConfigError(
            f"{self.origin}:{line}: relation {self.name}, field {field!r}: {_one_line(message)}"
        )

    def _first_problem(self, exc: ValidationError) -> tuple[int, str, str]:
        # An unknown field ranks first (a typo there also explains a "missing" one), then by line.
        ranked = [
            (error["type"] != "extra_forbidden", *self._locate(error))
            for error in exc.errors(include_url=False)
        ]
        _, line, field, message = min(ranked, key=lambda item: (item[0], item[1]))
        return line, field, message

    def _locate(self, error: ErrorDetails) -> tuple[int, str, str]:
        loc = error["loc"]
        field = str(loc[0]) if loc else "?"
        line = self.field_lines.get(field, self.line)
        node = self.fields.get(field)
        # Point at the nested key or list item itself (the third paraphrase, past.prompt), not the
        # field's key; the field named is the dotted path ("past.paraphrases").
        names = [field]
        for part in loc[1:]:
            if isinstance(part, int) and isinstance(node, yaml.SequenceNode) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            elif isinstance(part, str) and isinstance(node, yaml.MappingNode):
                names.append(part)
                found = [(k, v) for k, v in node.value if k.value == part]
                if not found:
                    break
                line, node = found[0][0].start_mark.line + 1, found[0][1]
            else:
                break
        return line, ".".join(names), _message(error, names[-1], PastForms if len(names) > 1 else Relation)


def _message(error: ErrorDetails, field: str, model: type[BaseModel] | None = None) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(field, (model or Relation).model_fields, n=1)
        return "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {type(error['input']).__name__}"
    if kind == "string_type":
        return f"expected a string, got {type(error['input']).__name__}"
    if kind == "literal_error":
        return f"must be {error.get('ctx', {}).get('expected')}, got {error['input']!r}"
    return error["msg"].removeprefix("Value error, ")


def _checked(check: Any, value: str) -> str:
    try:
        return check(value)
    except BadIdError as exc:
        raise ValueError(str(exc)) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())
