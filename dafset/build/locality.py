"""Locality probes: facts an edit must not change, drawn once every case of the build is known.

Probes come only from facts that no edit of the build changes: no case of any split, nor a pair
tied to one (an edit of "X's spouse is" changes "Y's spouse is" for its old and new Y; see
``dafset.build.sequence``), and never read as the prompt or rephrase of such a pair. So no probe is
contradicted, or taught, by another edit of its split's sequence, nor reveals an edit of another
split.
Each case gets up to ``SIMILAR`` hard neighbours (same relation, a subject sharing the true object
or an object of the same class), up to ``SAME_SUBJECT`` facts of the same subject with another
relation, and unrelated facts up to ``TOTAL``. Every probe carries its answer list (label and good
aliases of every true object).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dafset.build.render import FactIndex, phrase
from dafset.build.rules import contains
from dafset.build.sequence import SplitEdits
from dafset.build.tense import fact_in_past
from dafset.hashing import stable_hash
from dafset.relations import RelationSet
from dafset.templating import render

SIMILAR, SAME_SUBJECT, TOTAL = 3, 3, 8
KINDS = ("same_relation_similar", "same_relation", "same_subject", "unrelated")

Fits = Callable[[dict[str, Any]], bool]  # the subject-type constraint: may this fact be phrased?


class LocalityPool:
    """The facts probes may assert, and the prompts they must never repeat."""

    def __init__(
        self,
        index: FactIndex,
        relations: RelationSet,
        edits: SplitEdits,
        fits: Fits,
        seed: int,
        snapshot: str,
    ) -> None:
        self.index, self.relations, self.fits, self.seed = index, relations, fits, seed
        self.edits = edits
        self.snapshot = snapshot  # an ended statement is probed in the past tense
        self._by_relation: dict[str, list[dict[str, Any]]] = {}  # seeded order, made once
        self._phrased: dict[tuple[str, str], tuple[str, list[str]] | None] = {}
        self.skipped_edited = 0  # candidate probes left out because an edit changes them
        # one fact per (subject, relation) that fits its relation, in a seeded order (unrelated probes)
        free = [facts[0] for key, facts in index.by_case.items() if key[1] in relations and fits(facts[0])]
        self.unrelated = sorted(
            free, key=lambda f: stable_hash("unrelated", f["subject_id"], f["relation_id"], seed)
        )

    def usable(self, fact: dict[str, Any]) -> bool:
        """No edit changes the fact, and the relation's subject-type constraint holds."""
        if self.edits.edited_anywhere(pair=(fact["subject_id"], fact["relation_id"])):
            self.skipped_edited += 1
            return False
        return self.fits(fact)

    def probes(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        banned = [sample["target_new"]]
        prefixes = [p["text"] for p in sample.get("prefix") or []]
        out: list[dict[str, Any]] = []
        used: set[tuple[str, str]] = {(sample["subject_id"], sample["relation_id"])}

        def add(fact: dict[str, Any], kind: str) -> bool:
            key = (fact["subject_id"], fact["relation_id"])
            if key in used or not self.usable(fact):
                return False
            probe = self.probe(fact, kind)
            if probe is None:
                return False
            if self.edits.edited_anywhere(text=probe["prompt"]):  # reads as an edited question
                self.skipped_edited += 1
                return False
            if any(p["prompt"] == probe["prompt"] for p in out):
                return False  # two subjects of one label (PopQA's homonyms): ask it once
            # no reflexive-looking probe ("Luxembourg is the capital of" -> Luxembourg) and none
            # whose answer the prompt already spells ("The capital of Gmina Brzeszcze is" -> Brzeszcze)
            if fact["subject_label"] in probe["answers"] or contains(probe["prompt"], probe["answers"][0]):
                return False
            # the edit must not change the probe's answer, and a prefix must not spell it out
            if any(contains(a, b) or contains(b, a) for a in probe["answers"] for b in banned):
                return False
            if any(contains(text, a) for text in prefixes for a in probe["answers"]):
                return False
            used.add(key)
            out.append(probe)
            return True

        for fact, kind in self._neighbours(sample):
            if sum(p["kind"].startswith("same_relation") for p in out) >= SIMILAR:
                break
            add(fact, kind)
        for fact in self._ordered(
            self.index.by_subject.get(sample["subject_id"], []), sample, "same_subject"
        ):
            if sum(p["kind"] == "same_subject" for p in out) >= SAME_SUBJECT:
                break
            if fact["relation_id"] != sample["relation_id"]:
                add(fact, "same_subject")
        if self.unrelated:
            start = int(stable_hash("unrelated", sample["id"], self.seed), 16) % len(self.unrelated)
            for step in range(len(self.unrelated)):
                if len(out) >= TOTAL:
                    break
                fact = self.unrelated[(start + step) % len(self.unrelated)]
                if (
                    fact["subject_id"] != sample["subject_id"]
                    and fact["relation_id"] != sample["relation_id"]
                ):
                    add(fact, "unrelated")
        return out

    def _neighbours(self, sample: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
        """Same relation, other subject: those sharing a true object first, then those whose object
        is of the truth's kind (hard neighbours), then any other (plain ``same_relation``). Lazy,
        from a seeded rotation of the relation's facts: a case costs what it takes, not the
        relation's size."""
        relation = sample["relation_id"]
        truths = self.index.by_case.get((sample["subject_id"], relation), [])
        true_objects = {f["object_id"] for f in truths if f.get("object_id")}
        kind = frozenset().union(*(self.index.kind_of(q) for q in true_objects)) if true_objects else None
        sharing = [
            f for q in true_objects for f in self.index.by_object.get(q, []) if f["relation_id"] == relation
        ]
        for fact in self._ordered(sharing, sample, "sharing"):
            yield fact, "same_relation_similar"
        if kind is not None:
            for fact in self._rotation(relation, sample):
                if self.index.kind_of(fact.get("object_id")) == kind:
                    yield fact, "same_relation_similar"
        for fact in self._rotation(relation, sample):
            yield fact, "same_relation"

    def _rotation(self, relation: str, sample: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if relation not in self._by_relation:
            facts = self.index.by_relation.get(relation, [])
            self._by_relation[relation] = sorted(
                facts,
                key=lambda f: stable_hash("relation", f["subject_id"], f.get("statement_id"), self.seed),
            )
        facts = self._by_relation[relation]
        if not facts:
            return
        start = int(stable_hash("rotation", sample["id"], self.seed), 16) % len(facts)
        for step in range(len(facts)):
            fact = facts[(start + step) % len(facts)]
            if fact["subject_id"] != sample["subject_id"]:
                yield fact

    def _ordered(
        self, facts: list[dict[str, Any]], sample: dict[str, Any], salt: str
    ) -> list[dict[str, Any]]:
        return sorted(
            facts, key=lambda f: stable_hash(salt, sample["id"], f["subject_id"], f["relation_id"], self.seed)
        )

    def probe(self, fact: dict[str, Any], kind: str) -> dict[str, Any] | None:
        key = (fact["subject_id"], fact["relation_id"])
        if key not in self._phrased:  # one rendering per fact, however many cases probe it
            past = fact_in_past(fact, self.index.ended, self.snapshot)
            relation = self.relations[fact["relation_id"]].tense(past)
            answers = self.index.answers(*key)
            raw = render("locality.j2", relation=relation, subject=fact["subject_label"])
            phrased = phrase(raw, fact["subject_label"], relation, answers[0]) if answers else ""
            self._phrased[key] = (phrased, answers) if answers else None
        found = self._phrased[key]
        return None if found is None else {"prompt": found[0], "answers": list(found[1]), "kind": kind}


def leaks(samples: list[dict[str, Any]], split_of: Callable[[dict[str, Any]], str]) -> int:
    """Probes whose prompt is an edit prompt (or rephrase) of a case in another split."""
    prompts: dict[str, set[str]] = {}
    for s in samples:
        for p in [s["prompt"], *s["rephrase_prompts"]]:
            prompts.setdefault(p, set()).add(split_of(s))
    count = 0
    for s in samples:
        split = split_of(s)
        count += sum(1 for p in s["locality"] if prompts.get(p["prompt"], set()) - {split})
    return count
