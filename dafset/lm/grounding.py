"""What the model is told about a subject before it writes a prefix, and what the prefix must not say.

A small model asked for "a short passage about Wonder Egg Priority" invents: the subject becomes "a
French poet", the relation being edited gets a made-up value. So the request templates
(``templates/lm/*_request.j2``) are given the subject's kind, its description when the build knows
one, and a few of its other true facts as sentences; and the prefix is checked against a ``Guard``:
no value of the edited relation, no kind word but the subject's own.

The facts handed to the model leave out the edited relation and every fact whose object the prefix
must not name (an answer, a locality answer, any value of the edited relation), so the prompt never
seeds what the filters reject.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dafset.lm.filters import Guard
from dafset.lm.kinds import kind_name, kind_of
from dafset.lm.statements import render_plain
from dafset.relations import RelationSet

MAX_FACTS = 4  # facts in a request: enough to anchor the subject, few enough for a small model
CLASS_RELATION = "P31"  # instance of: the subject's class label, where the source carries it
# the request templates' grounding variables when a request brings none
NO_GROUNDING: dict[str, Any] = {"kind": None, "description": None, "facts": []}


@dataclass(frozen=True)
class Grounding:
    """The template variables about the subject: kind (words), description, fact sentences."""

    kind: str | None
    description: str | None
    facts: tuple[str, ...]

    def variables(self) -> dict[str, Any]:
        return {"kind": kind_name(self.kind), "description": self.description, "facts": list(self.facts)}


class Grounder:
    """Groundings and guards for the subjects of one build, from its facts (every property's)."""

    def __init__(
        self,
        facts: Iterable[Mapping[str, Any]],
        relations: RelationSet,
        descriptions: Mapping[str, str] | None = None,
        max_facts: int = MAX_FACTS,
    ) -> None:
        self.relations = relations
        self.descriptions = dict(descriptions or {})
        self.max_facts = max_facts
        self.counts: Counter[str] = Counter()
        self.by_subject: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        self.names: dict[str, set[str]] = defaultdict(set)  # subject id -> label and aliases
        values: dict[str, set[str]] = defaultdict(set)  # relation id -> object names
        by_class: dict[str, set[str]] = defaultdict(set)  # object class -> object names
        seen: set[tuple[str, str, str]] = set()
        for fact in facts:
            key = (fact["subject_id"], fact["relation_id"], fact.get("object_value") or "")
            if key in seen:
                continue
            seen.add(key)
            self.by_subject[fact["subject_id"]].append(fact)
            self.names[fact["subject_id"]].update(_names(fact, "subject"))
            objects = _names(fact, "object")
            values[fact["relation_id"]].update(objects)
            relation = relations.get(fact["relation_id"])
            if relation is not None and relation.object_class:
                by_class[relation.object_class].update(objects)
        self.values = {
            r.id: values.get(r.id, set()) | (by_class.get(r.object_class, set()) if r.object_class else set())
            for r in relations
        }

    def stats(self) -> dict[str, int]:
        """How many requests were grounded, and with what (for the manifest)."""
        return dict(self.counts)

    def kind(self, subject_id: str) -> str | None:
        facts = self.by_subject.get(subject_id, [])
        classes = [f.get("object_label") for f in facts if f["relation_id"] == CLASS_RELATION]
        description = self.descriptions.get(subject_id) or _first(f.get("subject_description") for f in facts)
        return kind_of((f["relation_id"] for f in facts), _first(classes), description)

    def guard(self, subject_id: str, relation_id: str) -> Guard:
        """What a prefix about (subject, relation) must not say: any value of the relation."""
        names = self.names.get(subject_id, set())
        relation = self.relations.get(relation_id)
        return Guard(
            values=tuple(sorted(v for v in self.values.get(relation_id, set()) if v not in names)),
            value_type=relation.value_type if relation is not None else "item",
            kind=self.kind(subject_id),
            subject_names=tuple(sorted(names)),
        )

    def ground(self, subject_id: str, subject: str, relation_id: str, avoid: Sequence[str]) -> Grounding:
        """The kind, description and up to ``max_facts`` other facts of the subject, as sentences
        that name nothing in ``avoid`` and no value of ``relation_id``."""
        banned = {a.casefold() for a in avoid} | {
            v.casefold() for v in self.guard(subject_id, relation_id).values
        }
        sentences: list[str] = []
        facts = sorted(
            self.by_subject.get(subject_id, []), key=lambda f: (f["relation_id"], f.get("object_value") or "")
        )
        for fact in facts:
            relation = self.relations.get(fact["relation_id"])
            obj = fact.get("object_label") or fact.get("object_value")
            if relation is None or fact["relation_id"] == relation_id or not obj:
                continue
            if any(n.casefold() in banned for n in _names(fact, "object")) or obj.casefold() in banned:
                continue
            sentence = render_plain(relation.statement, subject, obj)
            if sentence not in sentences:
                sentences.append(sentence)
            if len(sentences) >= self.max_facts:
                break
        description = self.descriptions.get(subject_id) or _first(f.get("subject_description") for f in facts)
        if description and any(_names_in(description, banned)):
            description = None  # "1942 novel by Albert Camus" would seed the author it must not name
        grounding = Grounding(self.kind(subject_id), description, tuple(sentences))
        self.counts["requests"] += 1
        self.counts["with_kind"] += grounding.kind is not None
        self.counts["with_description"] += grounding.description is not None
        self.counts["with_facts"] += bool(grounding.facts)
        return grounding


def lighter(variables: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The grounding, then ever smaller ones: facts dropped from the last, then the description,
    then the kind, down to none (for models whose positions a long request would fill)."""
    current = dict(variables)
    yield current
    for n in range(len(current["facts"]) - 1, -1, -1):
        current = {**current, "facts": current["facts"][:n]}
        yield current
    for name in ("description", "kind"):
        if current[name]:
            current = {**current, name: None}
            yield current


def _names(fact: Mapping[str, Any], role: str) -> set[str]:
    label = fact.get(f"{role}_label") or (fact.get("object_value") if role == "object" else None)
    return {n for n in [label, *(fact.get(f"{role}_aliases") or [])] if n}


def _names_in(text: str, names: set[str]) -> Iterator[str]:
    lowered = text.casefold()
    return (n for n in names if n and re.search(rf"(?<!\w){re.escape(n)}(?!\w)", lowered))


def _first(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)


__all__ = ["NO_GROUNDING", "Grounder", "Grounding", "lighter"]
