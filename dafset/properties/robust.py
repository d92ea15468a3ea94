"""robust: variants of base edit cases along length, context and sentiment.

- length: a short form (question style) among the rephrases, and a long context prefix made of the
  subject's other facts (none of which mentions the target or a true answer);
- context: an LLM-written passage about the subject, as a prefix (``dafset.lm``);
- sentiment: a positive and a negative LLM-written prefix for the same fact (``dafset.lm``).

The trainer uses ``prefix + rephrase`` for generality, as DAFNet's reference loader does.
"""

from __future__ import annotations

from typing import Any

from dafset.build.render import FactIndex
from dafset.build.rules import contains
from dafset.relations import RelationSet
from dafset.templating import render

MAX_CONTEXT_FACTS = 6


def length_variant(sample: dict[str, Any], relations: RelationSet, index: FactIndex) -> dict[str, Any] | None:
    """The sample turned into a robust/length case, or None when the subject has no other facts."""
    relation = relations[sample["relation_id"]]
    subject = sample["subject"]
    banned = [sample["target_new"], *sample["answers"]]
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
    statements = [relations[f["relation_id"]].render_statement(subject, f["object_label"]) for f in others]
    short = render("robust_short.j2", relation=relation, subject=subject)
    long = render(
        "robust_long.j2",
        relation=relation,
        subject=subject,
        facts=[
            {"relation_label": relations[f["relation_id"]].label, "object": f["object_label"]} for f in others
        ],
    )
    return {
        **sample,
        "rephrase_prompts": list(dict.fromkeys([short, long, *sample["rephrase_prompts"]])),
        "prefix": [{"text": " ".join(statements), "kind": "length", "polarity": "neutral"}],
    }
