"""The rules every published sample obeys (DESIGN.md section 3), checked on every row.

A row that breaks a rule is dropped and counted under the rule's name, so the manifest says how
much each rule removed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from dafset.build.sequence import plain
from dafset.build.wording import YEAR_OR_MONTH, junk_alias, missing_article, spacing_problem

_TOKEN = re.compile(r"\w+", re.UNICODE)
# a year or a month and year after "on": "founded on 1991" (dates take "in" unless they name a day)
_ON_YEAR = re.compile(r"\bon$")

RULES = (
    "subject_in_prompt",
    "subject_in_rephrases",
    "rephrase_differs_from_prompt",
    "target_not_in_prompt",
    "target_not_empty",
    "counterfactual_shares_no_token",
    "insertion_truth_differs",
    "no_year_after_on",
    "not_reflexive",
    "article_before_subject",
    "no_junk_alias",
    "clean_spacing",
    "unique_subject_relation",
    # counted by the assembly, not per row:
    "ended_before_snapshot",  # a truthy statement with an end time before the snapshot
    "reflexive",  # a fact whose object is its subject
    "subject_type",  # the relation's subject_excludes (relations.yaml)
    "relation_share_cap",  # no relation over 20% of a config
    "no_counterfactual_target",
    "tied_to_another_edit",  # changes what another edit of its split changes (dafset.build.sequence)
)


def tokens(text: str) -> set[str]:
    return {t.casefold() for t in _TOKEN.findall(text)}


def contains(text: str, needle: str) -> bool:
    """Case-insensitive containment on word boundaries ("Paris" is not in "Parisian")."""
    return _word(needle.casefold()).search(text.casefold()) is not None


@lru_cache(maxsize=65536)
def _word(needle: str) -> re.Pattern[str]:
    # compiled once per needle: the build asks about the same labels thousands of times
    return re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")


def broken_rule(sample: dict[str, Any]) -> str | None:
    """The first rule the sample breaks, or None."""
    subject, target = sample["subject"], sample["target_new"]
    if subject not in sample["prompt"]:
        return "subject_in_prompt"
    if any(subject not in r for r in sample["rephrase_prompts"]):
        return "subject_in_rephrases"
    if any(plain(r) == plain(sample["prompt"]) for r in sample["rephrase_prompts"]):
        return "rephrase_differs_from_prompt"
    if not target.strip():
        return "target_not_empty"
    if contains(sample["prompt"], target):
        return "target_not_in_prompt"
    if sample["edit_kind"] == "counterfactual":
        truth = tokens(" ".join(sample["answers"]))
        if tokens(target) & truth:
            return "counterfactual_shares_no_token"
    elif sample.get("target_true") == target:
        return "insertion_truth_differs"  # target_true is the replaced value, or null
    prompts = [sample["prompt"], *sample["rephrase_prompts"]]
    if YEAR_OR_MONTH.match(target) and any(_ON_YEAR.search(p) for p in prompts):
        return "no_year_after_on"
    if subject in (target, sample.get("target_true")):
        return "not_reflexive"
    if any(missing_article(p, subject) for p in prompts):
        return "article_before_subject"
    labels = {target, sample.get("target_true")}
    if any(junk_alias(a, a if a in labels else None) for a in sample["answers"]):
        return "no_junk_alias"
    if any(spacing_problem(t) for t in [*prompts, subject, target, *sample["answers"]]):
        return "clean_spacing"
    return None


def enforce(samples: Iterable[dict[str, Any]], drops: Counter[str] | None = None) -> list[dict[str, Any]]:
    """Keep the samples that obey every rule; the first of each (subject, relation) wins."""
    drops = drops if drops is not None else Counter()
    kept: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for sample in samples:
        rule = broken_rule(sample)
        key = (sample["subject_id"], sample["relation_id"])
        if rule is None and key in seen:
            rule = "unique_subject_relation"
        if rule is not None:
            drops[rule] += 1
            continue
        seen.add(key)
        kept.append(sample)
    return kept
