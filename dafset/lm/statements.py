"""Relation statements (``relations.yaml``: each relation's ``statement``, a full sentence over
``subject`` and ``object``) rendered with the character span of one entity, for scoring."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from dafset.lm.score import ScoreItem, span_marker
from dafset.relations import load_relations
from dafset.templating import render_string

Role = Literal["subject", "object"]


def statement_templates() -> Mapping[str, tuple[str, ...]]:
    """Relation id -> its statement templates (one per relation in relations.yaml)."""
    return {relation.id: (relation.statement,) for relation in load_relations()}


def render_statement(template: str, subject: str, obj: str, focus: Role = "subject") -> ScoreItem:
    """Render a statement and return it with the character span of the ``focus`` entity.

    The span is found by rendering a marker in place of the focus label, so it is exact even when
    subject and object share words. ValueError if the template does not mention the focus.
    """
    mark = span_marker(template, subject, obj)
    values = {"subject": subject, "object": obj}
    values[focus] = mark
    marked = render_string(template, "statement", **values)
    start = marked.find(mark)
    if start < 0:
        raise ValueError(f"statement template {template!r} does not mention the {focus}")
    label = subject if focus == "subject" else obj
    text = marked.replace(mark, label)
    return ScoreItem(text, start, start + len(label))


def render_plain(template: str, subject: str, obj: str) -> str:
    return render_string(template, "statement", subject=subject, object=obj)
