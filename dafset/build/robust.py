"""robust: variants of published base edit cases along length, context and sentiment.

A variant is its base case (a published popular or long_tail row: same subject, relation, targets,
answers, locality and portability) under another id, with ``criterion`` naming the variant kind,
``base_id`` the base case's id, and the variant itself in ``prefix`` (each with kind and polarity):

- length: a short form (question style) first among the rephrases, and a long context prefix made
  of the subject's other facts (none of which mentions the target, a true answer or a locality
  answer: the prefix must not hand over what the locality probes test);
- context: an LLM-written passage about the subject, as a prefix (``dafset.lm``);
- sentiment: a positive and a negative LLM-written prefix for the same fact, each with its VADER
  score (``dafset.lm.filters``).

Rephrases never contain the prefix: trainers build ``prefix + rephrase`` themselves (DAFNet's
reference loader does), so a rephrase that already held it would double it.
"""

from __future__ import annotations

from typing import Any

from dafset.build.render import FactIndex, phrase
from dafset.build.rules import contains
from dafset.build.sequence import plain
from dafset.build.tense import case_in_past, fact_in_past
from dafset.lm.filters import pair_apart, wrong_polarity
from dafset.publish.split import sample_id
from dafset.relations import RelationSet
from dafset.templating import render

MAX_CONTEXT_FACTS = 6
BASE_PROPERTIES = ("popular", "long_tail")

# Rules only robust rows have (checked on every variant, counted in the manifest's rule_drops).
VARIANT_RULES = (
    "base_published",
    "prefix_present",
    "prefix_reveals_answer",
    "prefix_reveals_locality",
    "sentiment_scored_and_apart",
)


def variant(base: dict[str, Any], criterion: str) -> dict[str, Any]:
    """The base case as a robust case of ``criterion``, without its prefix yet."""
    return {
        **base,
        "id": sample_id("robust", criterion, base["subject_id"], base["relation_id"]),
        "property": "robust",
        "criterion": criterion,
        "prefix": [],
        "base_id": base["id"],
    }


def locality_answers(sample: dict[str, Any]) -> list[str]:
    return [a for probe in sample["locality"] for a in probe["answers"] if a]


def length_variant(sample: dict[str, Any], relations: RelationSet, index: FactIndex) -> dict[str, Any] | None:
    """The variant with its length prefix and short rephrase, or None when the subject has no other
    facts that may be told."""
    relation = relations[sample["relation_id"]].tense(case_in_past(sample, index.by_case, index.ended))
    subject = sample["subject"]
    banned = [sample["target_new"], *sample["answers"], *locality_answers(sample)]
    others = [
        f
        for f in index.by_subject.get(sample["subject_id"], [])
        if f["relation_id"] != sample["relation_id"]
        and f["relation_id"] in relations
        and not any(contains(f["object_label"], b) or contains(b, f["object_label"]) for b in banned)
    ]
    if not others:
        return None
    others = sorted(others, key=lambda f: (f["relation_id"], f["object_label"]))[:MAX_CONTEXT_FACTS]
    statements = [
        relations[f["relation_id"]]
        .tense(fact_in_past(f, index.ended, sample["snapshot"]))
        .render_statement(subject, f["object_label"])
        for f in others
    ]
    short = render("robust_short.j2", relation=relation, subject=subject)
    short = phrase(short, subject, relation, sample["target_new"])
    return {
        **sample,
        "rephrase_prompts": distinct_rephrases(sample["prompt"], [short, *sample["rephrase_prompts"]]),
        "prefix": [{"text": " ".join(statements), "kind": "length", "polarity": "neutral", "score": None}],
    }


def distinct_rephrases(prompt: str, rephrases: list[str]) -> list[str]:
    """The rephrases in order, each once and none equal to the prompt (case and spacing aside)."""
    seen = {plain(prompt)}
    out = []
    for text in rephrases:
        if plain(text) not in seen:
            seen.add(plain(text))
            out.append(text)
    return out


def broken_variant_rule(sample: dict[str, Any], published: set[str]) -> str | None:
    """The first robust-only rule the variant breaks, or None. ``published``: ids of the cases
    accepted so far (a base must be one of them)."""
    if sample.get("base_id") not in published:
        return "base_published"
    prefixes = sample["prefix"]
    if not prefixes or not all(p["text"] and p["kind"] == sample["criterion"] for p in prefixes):
        return "prefix_present"
    for p in prefixes:
        if any(contains(p["text"], a) for a in [sample["target_new"], *sample["answers"]] if a):
            return "prefix_reveals_answer"
        if any(contains(p["text"], a) for a in locality_answers(sample)):
            return "prefix_reveals_locality"
    if sample["criterion"] == "sentiment":
        scores = {p["polarity"]: p.get("score") for p in prefixes}
        if set(scores) != {"positive", "negative"} or any(s is None for s in scores.values()):
            return "sentiment_scored_and_apart"
        if any(wrong_polarity(s, pol) for pol, s in scores.items()) or not pair_apart(
            scores["positive"], scores["negative"]
        ):
            return "sentiment_scored_and_apart"
    return None
