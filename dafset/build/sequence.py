"""What the edits of one split change, and the rules that keep every probe meaning what it says.

DAFNet and every sequential editor apply the edits of one split (train, validation or test, across
all configs) as one sequence. An edit of (X, relation) changes that (subject, relation) and the
pairs tied to it in relations.yaml: (each old or new object, the inverse relation), and for a
symmetric relation (each old or new object, the same relation). So within a split:

- no locality probe may ask a changed pair (it would be contradicted, or taught, by another edit);
- no portability probe may rest on a pair another edit changes (a compositional second hop, a
  logical read-back), and no rephrase may ask another edit's pair;
- no two edits may be tied to each other or swap their true values (A -> B's truth, B -> A's).

Pairs are tracked by id while drawing; the final check (:func:`violations`) reads only published
fields and the relation templates, so it also runs on any snapshot (``scripts/probe_rules.py``).
Prompts are compared case-, space- and article-insensitively: a probe that reads as an edited
prompt asks it, whatever ids lie behind it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from dafset.errors import DafsetError
from dafset.relations import Relation, RelationSet

Pair = tuple[str, str]  # (subject id, relation id)
SplitOf = Callable[[dict[str, Any]], str]
# Does another edit of a case's split change this pair, or the question any of these texts ask?
Edited = Callable[[Pair | None, Iterable[str]], bool]

_THE = re.compile(r"\bthe\b")

# The figures of the final check; every one must be zero in a published build.
CHECKS = (
    "locality_asks_edited",  # a locality probe asks what an edit of its split changes
    "portability_premise_edited",  # a portability probe rests on what another edit of its split changes
    "rephrase_asks_other_edit",  # a prompt or rephrase asks what another edit of its split changes
    "rephrase_equals_prompt",
    "preservation_repeats_prompt",
    "swapped_true_values",  # two edits of a split, same relation, each taking the other's truth
)


def norm(text: str) -> str:
    """A prompt as compared: case, spacing and "the" do not tell two questions apart."""
    return " ".join(_THE.sub(" ", text.casefold()).split())


def plain(text: str) -> str:
    """Case and spacing only (the rule "no rephrase equals its prompt")."""
    return " ".join(text.casefold().split())


def edit_key(sample: dict[str, Any]) -> Pair:
    """The edit a row makes (a robust variant makes its base's edit)."""
    return sample["subject_id"], sample["relation_id"]


def tied_labels(sample: dict[str, Any]) -> list[str]:
    """Every name of an old or new object of the edit: the subjects of its tied pairs."""
    names = [sample["target_new"], sample.get("target_true") or "", *sample["answers"]]
    return [n for n in dict.fromkeys(names) if n]


@lru_cache(maxsize=65536)
def asked_texts(relation: Relation, subject: str) -> tuple[str, ...]:
    """Every way the build words (subject, relation): prompt and paraphrases, normalised."""
    return tuple(norm(t) for t in [relation.render_prompt(subject), *relation.render_paraphrases(subject)])


@dataclass
class SplitEdits:
    """Per split, the pairs and prompt texts its edits change, each with the edits changing it."""

    relations: RelationSet
    pairs: dict[str, dict[Pair, set[Pair]]] = field(default_factory=lambda: defaultdict(dict))
    texts: dict[str, dict[str, set[Pair]]] = field(default_factory=lambda: defaultdict(dict))

    def changes(self, sample: dict[str, Any], objects: Iterable[str] = ()) -> tuple[set[Pair], set[str]]:
        """The pairs (``objects``: ids of the edit's old and new objects) and texts an edit changes."""
        relation = self.relations[sample["relation_id"]]
        pairs = {edit_key(sample)}
        texts = {norm(t) for t in [sample["prompt"], *sample["rephrase_prompts"]]}
        tied = self.relations.get(relation.tied)
        if tied is not None:
            pairs |= {(q, tied.id) for q in objects if q}
            for label in tied_labels(sample):
                texts.update(asked_texts(tied, label))
        return pairs, texts

    def add(self, sample: dict[str, Any], split: str, objects: Iterable[str] = ()) -> None:
        pairs, texts = self.changes(sample, objects)
        for pair in pairs:
            self.pairs[split].setdefault(pair, set()).add(edit_key(sample))
        for text in texts:
            self.texts[split].setdefault(text, set()).add(edit_key(sample))

    def clash(self, sample: dict[str, Any], split: str, objects: Iterable[str] = ()) -> bool:
        """Would this edit change what another edit of ``split`` changes (tied edits)?"""
        pairs, texts = self.changes(sample, objects)
        own = {edit_key(sample)}
        return any(self.pairs[split].get(p, own) - own for p in pairs) or any(
            self.texts[split].get(t, own) - own for t in texts
        )

    def edited(
        self,
        split: str,
        pair: Pair | None = None,
        text: str | None = None,
        own: Pair | None = None,
    ) -> bool:
        """Does an edit of ``split`` (other than ``own``) change ``pair`` or the question ``text``?"""
        mine = {own} if own else set()
        by_pair = self.pairs[split].get(pair, set()) if pair else set()
        by_text = self.texts[split].get(norm(text), set()) if text else set()
        return bool((by_pair | by_text) - mine)

    def by_others(self, split: str, own: Pair) -> Edited:
        """The question one case's probes put: does another edit of its split change it?"""

        def edited(pair: Pair | None, texts: Iterable[str]) -> bool:
            return self.edited(split, pair=pair, own=own) or any(
                self.edited(split, text=t, own=own) for t in texts
            )

        return edited

    def edited_anywhere(self, pair: Pair | None = None, text: str | None = None) -> bool:
        """Does an edit of any split change ``pair`` or the question ``text``?"""
        if pair is not None and any(pair in pairs for pairs in self.pairs.values()):
            return True
        key = norm(text) if text else None
        return key is not None and any(key in texts for texts in self.texts.values())


def split_edits(
    samples: Iterable[dict[str, Any]],
    split_of: SplitOf,
    relations: RelationSet,
    objects: Callable[[dict[str, Any]], Iterable[str]] = lambda s: (),
) -> SplitEdits:
    edits = SplitEdits(relations)
    for sample in samples:
        edits.add(sample, split_of(sample), objects(sample))
    return edits


# -- the final check ------------------------------------------------------------------------------


def violations(samples: list[dict[str, Any]], split_of: SplitOf, relations: RelationSet) -> dict[str, int]:
    """Count every breach of the rules above in finished rows (text only: no ids beyond the row's)."""
    edits = split_edits(samples, split_of, relations)
    hops = _HopReader(relations)
    out = dict.fromkeys(CHECKS, 0)
    for s in samples:
        split, own = split_of(s), edit_key(s)
        out["locality_asks_edited"] += sum(edits.edited(split, text=p["prompt"]) for p in s["locality"])
        out["rephrase_asks_other_edit"] += sum(
            edits.edited(split, text=t, own=own) for t in [s["prompt"], *s["rephrase_prompts"]]
        )
        out["rephrase_equals_prompt"] += sum(plain(r) == plain(s["prompt"]) for r in s["rephrase_prompts"])
        for probe in s.get("portability") or []:
            if probe["kind"] == "preservation" and plain(probe["prompt"]) == plain(s["prompt"]):
                out["preservation_repeats_prompt"] += 1
            premise = hops.premise(s, probe)
            if premise is not None and any(edits.edited(split, text=t, own=own) for t in premise):
                out["portability_premise_edited"] += 1
    out["swapped_true_values"] = len(swaps(samples, split_of))
    return out


def check_zero(figures: dict[str, int]) -> None:
    """Fail the build, never publish a violation."""
    broken = {k: v for k, v in figures.items() if v}
    if broken:
        listed = ", ".join(f"{k}={v}" for k, v in broken.items())
        raise DafsetError(f"assemble: edits of one split would contradict their probes ({listed})")


def swaps(samples: Iterable[dict[str, Any]], split_of: SplitOf) -> list[tuple[Pair, Pair]]:
    """Pairs of counterfactual edits of one split and relation where each new target is a true
    value of the other's subject (a model could learn the swap instead of the edits)."""
    groups: dict[tuple[str, str], dict[Pair, dict[str, Any]]] = defaultdict(dict)
    for s in samples:
        if s["edit_kind"] == "counterfactual":
            groups[(split_of(s), s["relation_id"])].setdefault(edit_key(s), s)
    found = []
    for cases in groups.values():
        by_answer: dict[str, list[Pair]] = defaultdict(list)
        for key, s in cases.items():
            for a in s["answers"]:
                by_answer[a].append(key)
        for key, s in cases.items():
            for other in by_answer.get(s["target_new"], []):
                if other > key and cases[other]["target_new"] in s["answers"]:
                    found.append((key, other))
    return found


def swap_avoid(
    sample_answers: Iterable[str], split: str, relation: str, taken: dict[tuple[str, str, str], set[str]]
) -> frozenset[str]:
    """Targets that would swap with an edit already taken: the true values of every taken edit of
    the split and relation whose new target is one of this subject's true values."""
    out: set[str] = set()
    for a in sample_answers:
        out |= taken.get((split, relation, a), set())
    return frozenset(out)


class _HopReader:
    """The fact a portability probe rests on besides the edit itself, as texts that ask it:
    a logical probe's own prompt; a compositional probe's second hop, read back through the
    relation templates ("The capital of the country of citizenship of X is" -> "The capital of
    <new target> is")."""

    def __init__(self, relations: RelationSet) -> None:
        self.relations = relations
        self.patterns = []
        for r in relations:
            before, _, after = r.render_prompt("\x00").partition("\x00")
            pattern = re.compile("^" + re.escape(before) + "(.+)" + re.escape(after) + "$", re.IGNORECASE)
            self.patterns.append((r, pattern))

    def premise(self, sample: dict[str, Any], probe: dict[str, Any]) -> tuple[str, ...] | None:
        if probe["kind"] == "logical":
            return (probe["prompt"],)
        if probe["kind"] != "compositional":
            return None
        lead = f"the {sample['relation_label']} of {sample['subject']}".casefold()
        for relation, pattern in self._matching(probe["prompt"]):
            match = pattern.match(probe["prompt"])
            if match and match.group(1).casefold() == lead:
                return asked_texts(relation, sample["target_new"])
        return None

    def _matching(self, prompt: str) -> Iterator[tuple[Relation, re.Pattern[str]]]:
        return ((r, p) for r, p in self.patterns if p.match(prompt))
