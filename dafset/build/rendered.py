"""The wording rule every rendered string of a build obeys, checked once all of them exist:
no double space, no leading or trailing space, and every label the build knows that reads
"the <label>" mid-sentence has its article (prompts, rephrases, questions, locality and
portability probes, length prefixes alike).

A violation fails the build (never publish one); the manifest's ``wording`` says how many strings
were checked and that each count is zero.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from dafset.build.wording import needs_article, spacing_problem
from dafset.errors import DafsetError


def rendered_strings(sample: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(field, text)`` for every string the build rendered into the sample."""
    yield "prompt", sample["prompt"]
    for text in sample["rephrase_prompts"]:
        yield "rephrase_prompts", text
    if sample.get("question"):
        yield "question", sample["question"]
    for probe in sample["locality"]:
        yield "locality", probe["prompt"]
    for probe in sample.get("portability") or []:
        yield f"portability.{probe['kind']}", probe["prompt"]
    for prefix in sample["prefix"]:
        if prefix["kind"] == "length":  # the others are written by a model, not rendered
            yield "prefix.length", prefix["text"]


class ArticleCheck:
    """Finds a label that needs "the" standing bare in a text. A label inside a longer label the
    build knows ("Republic of China" in "People's Republic of China") is that label's business."""

    def __init__(self, labels: Iterable[str]) -> None:
        known = {label for label in labels if label}
        needing = sorted((label for label in known if needs_article(label)), key=len, reverse=True)
        self.pattern = (
            re.compile(r"(?<![\w'’])([Tt]he\s+)?(" + "|".join(map(re.escape, needing)) + r")(?!\w)")
            if needing
            else None
        )
        self.containers: dict[str, list[str]] = {}
        if self.pattern is not None:
            for label in known:
                for match in self.pattern.finditer(label):
                    if match.group(2) != label:
                        self.containers.setdefault(match.group(2), []).append(label)

    def missing(self, text: str) -> list[str]:
        """The labels standing bare in ``text``."""
        if self.pattern is None:
            return []
        return [
            m.group(2)
            for m in self.pattern.finditer(text)
            if m.group(1) is None and not self._inside_longer(text, m.group(2), m.start(2), m.end(2))
        ]

    def _inside_longer(self, text: str, label: str, start: int, end: int) -> bool:
        for longer in self.containers.get(label, []):
            for m in re.finditer(re.escape(longer), text):
                if m.start() <= start and end <= m.end():
                    return True
        return False


def check_rendered(samples: list[dict[str, Any]], labels: Iterable[str]) -> dict[str, Any]:
    """Count the wording violations of every rendered string; fail the build on any."""
    articles = ArticleCheck(labels)
    problems: Counter[str] = Counter()
    first: dict[str, str] = {}
    checked = 0
    for sample in samples:
        for field, text in rendered_strings(sample):
            checked += 1
            found = [spacing_problem(text)] + [
                f"no article before {label!r}" for label in articles.missing(text)
            ]
            for problem in filter(None, found):
                kind = "missing_article" if problem.startswith("no article") else problem.replace(" ", "_")
                problems[kind] += 1
                first.setdefault(kind, f"{sample['id']} {field}: {problem}: {text!r}")
    if problems:
        detail = "; ".join(first.values())
        raise DafsetError(
            f"assemble: {sum(problems.values())} rendered string(s) break the wording rule ({detail})"
        )
    return {"strings_checked": checked, "double_space": 0, "edge_space": 0, "missing_article": 0}
