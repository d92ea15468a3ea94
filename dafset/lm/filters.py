"""Checks a generated prefix must pass before it is kept, and the clean-up before them.

Sentiment prefixes are also scored with VADER (a lexicon and rule scorer that runs offline from the
lexicon shipped in its wheel): its compound score in [-1, 1] must have the prefix's polarity, and a
pair's two scores must be clearly apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")

# In order: the first check a text fails is the one counted.
FILTERS = ("empty", "too_short", "too_long", "no_subject", "reveals_answer")


@dataclass(frozen=True)
class PrefixBounds:
    min_chars: int = 20
    max_chars: int = 400
    min_words: int = 4
    max_words: int = 80


def clean(lead: str, continuation: str) -> str:
    """The lead plus the continuation's first paragraph, cut after its last complete sentence.

    Without a sentence end the text is kept as generated (the length checks decide).
    """
    text = (lead + continuation).split("\n", 1)[0].strip()
    ends = list(_SENTENCE_END.finditer(text))
    if ends:
        text = text[: ends[-1].end()]
    return " ".join(text.split())


def mentions(text: str, subject: str) -> bool:
    """The subject occurs verbatim as whole words ("Obama" is not in "Obamaerk")."""
    return re.search(rf"(?<!\w){re.escape(subject)}(?!\w)", text) is not None


def check(text: str, lead: str, subject: str, avoid: Sequence[str], bounds: PrefixBounds) -> str | None:
    """The name of the first failed filter, or None when the text may be kept.

    ``avoid`` holds the edit target, the true object and its aliases: a prefix that contains any
    of them (case-insensitive substring, deliberately strict) would give the answer away.
    """
    if not text or text == lead.strip():
        return "empty"
    words = len(text.split())
    if len(text) < bounds.min_chars or words < bounds.min_words:
        return "too_short"
    if len(text) > bounds.max_chars or words > bounds.max_words:
        return "too_long"
    if not mentions(text, subject):
        return "no_subject"
    lowered = text.casefold()
    if any(a and a.casefold() in lowered for a in avoid):
        return "reveals_answer"
    return None


# VADER's own documented cut: compound >= 0.05 is positive, <= -0.05 negative, between is neutral.
SENTIMENT_THRESHOLD = 0.05
# A positive and a negative prefix of one case must differ by at least this much in compound score,
# so a "pair" is never two near-neutral texts on either side of the cut.
PAIR_MARGIN = 0.5


@cache
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_score(text: str) -> float:
    """VADER's compound score of the text, in [-1, 1]."""
    return float(_analyzer().polarity_scores(text)["compound"])


def wrong_polarity(score: float, polarity: str) -> bool:
    """The score does not clear VADER's neutral band on the polarity's side."""
    if polarity == "positive":
        return score < SENTIMENT_THRESHOLD
    if polarity == "negative":
        return score > -SENTIMENT_THRESHOLD
    raise ValueError(f"unknown polarity {polarity!r}")


def pair_apart(positive: float, negative: float, margin: float = PAIR_MARGIN) -> bool:
    return positive - negative >= margin
