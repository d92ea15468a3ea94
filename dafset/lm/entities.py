"""Per-entity log-probability of the entity's label in sentences about it.

This was the long-tail ``likelihood`` criterion until issue 19; it measured mostly how many tokens
a name has (docs/likelihood.md), and the criterion is now ``dafset.lm.knowledge``. It stays as the
scoring bench's workload and as the baseline ``bench/real_llm.py`` prints beside the new score.

An entity's sentences are the neutral lines of ``templates/lm/likelihood.j2`` plus statements of
its own facts (relation ``statement`` templates); the entity's score averages its span scores over
those sentences.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dafset.lm.score import LikelihoodScorer, ScoreItem, span_marker
from dafset.lm.statements import Role, render_statement, statement_templates
from dafset.templating import render

LIKELIHOOD_TEMPLATE = "lm/likelihood.j2"


@dataclass(frozen=True)
class EntityText:
    """An entity and the sentences (with the span of its label) it is scored in."""

    id: str
    label: str
    items: tuple[ScoreItem, ...]


@dataclass(frozen=True)
class EntityLikelihood:
    """Mean over the entity's sentences of its summed and of its per-token log-probability."""

    id: str
    logprob_sum: float
    logprob_per_token: float
    n_sentences: int
    n_tokens: int


def neutral_items(label: str, template: str = LIKELIHOOD_TEMPLATE) -> list[ScoreItem]:
    """The likelihood template's lines about ``label``, each with the label's span."""
    items = []
    mark = span_marker(label)
    for line in render(template, entity=mark).splitlines():
        start = line.find(mark)
        if start < 0:
            continue  # a line that does not mention the entity measures nothing
        items.append(ScoreItem(line.replace(mark, label), start, start + len(label)))
    return items


def entity_texts(
    facts: Iterable[Mapping[str, Any]],
    role: Role = "subject",
    max_statements: int = 3,
    neutral: bool = True,
    templates: Mapping[str, Sequence[str]] | None = None,
) -> list[EntityText]:
    """Group Fact rows by the ``role`` entity and build its sentences.

    Facts need ``subject_id``, ``subject_label``, ``relation_id`` and ``object_label`` (or
    ``object_value``); ``object_id`` too when ``role="object"``. Statements use the relation's
    first template, at most ``max_statements`` per entity, in a stable order.
    """
    templates = statement_templates() if templates is None else templates
    labels: dict[str, str] = {}
    statements: dict[str, list[ScoreItem]] = defaultdict(list)
    ordered = sorted(facts, key=lambda f: (f.get(f"{role}_id") or "", f["relation_id"], _object(f)))
    for fact in ordered:
        entity_id = fact.get(f"{role}_id")
        label = fact.get(f"{role}_label") if role == "subject" else _object(fact)
        if not entity_id or not label:
            continue
        labels.setdefault(entity_id, label)
        relation_templates = templates.get(fact["relation_id"])
        subject = fact.get("subject_label")
        if not relation_templates or not subject or len(statements[entity_id]) >= max_statements:
            continue
        try:
            item = render_statement(relation_templates[0], subject, _object(fact), focus=role)
        except ValueError:
            continue
        if item not in statements[entity_id]:
            statements[entity_id].append(item)
    return [
        EntityText(
            entity_id,
            label,
            tuple((neutral_items(label) if neutral else []) + statements[entity_id]),
        )
        for entity_id, label in labels.items()
    ]


def _object(fact: Mapping[str, Any]) -> str:
    return fact.get("object_label") or fact.get("object_value") or ""


def score_entities(scorer: LikelihoodScorer, entities: Iterable[EntityText]) -> dict[str, EntityLikelihood]:
    """Score every entity's sentences in one batched pass; entity id -> its likelihood.

    Entities without a scorable sentence are left out (the caller treats them as unknown).
    """
    entities = list(entities)
    flat = [item for entity in entities for item in entity.items]
    scores = iter(scorer.score(flat))
    out: dict[str, EntityLikelihood] = {}
    for entity in entities:
        own = [next(scores) for _ in entity.items]
        usable = [s for s in own if s.n_tokens > 0]
        if not usable:
            continue
        out[entity.id] = EntityLikelihood(
            id=entity.id,
            logprob_sum=sum(s.logprob_sum for s in usable) / len(usable),
            logprob_per_token=sum(s.logprob_mean for s in usable) / len(usable),
            n_sentences=len(usable),
            n_tokens=sum(s.n_tokens for s in usable),
        )
    return out


def per_token(likelihoods: Mapping[str, EntityLikelihood]) -> dict[str, float]:
    """Entity id -> mean per-token log-probability.

    Beware: per token, a rare name split into many predictable pieces ("Zub", "row", "ka") can
    outscore a frequent one-token name; with the toy it does not track training frequency.
    """
    return {q: v.logprob_per_token for q, v in likelihoods.items() if math.isfinite(v.logprob_per_token)}


def summed(likelihoods: Mapping[str, EntityLikelihood]) -> dict[str, float]:
    """Entity id -> mean summed log-probability of its label, log P(label | context): the
    quantity that tracks how often a model has seen the entity."""
    return {q: v.logprob_sum for q, v in likelihoods.items() if math.isfinite(v.logprob_sum)}
