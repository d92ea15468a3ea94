"""Checks a generated prefix must pass before it is kept, and the clean-up before them.

Beyond length and the answers it must not give away, a prefix is rejected when it states any value
for the edited relation (``Guard.values``, or a date / number where the relation takes one), calls
the subject the wrong kind of thing (a novel "a poet": ``Guard.kind``, see ``dafset.lm.grounding``)
or repeats itself.

Sentiment prefixes are also scored with VADER (a lexicon and rule scorer that runs offline from the
lexicon shipped in its wheel) on the generated words alone, never on the fixed opening the request
template writes for the model: its compound score in [-1, 1] must have the prefix's polarity, and a
pair's two scores must be clearly apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from dafset.lm.kinds import kind_words_near

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_FINISHED = re.compile(r"[.!?][\"')\]]*$")

# In order: the first check a text fails is the one counted.
FILTERS = (
    "empty",
    "too_short",
    "too_long",
    "no_subject",
    "reveals_answer",
    "states_relation_value",
    "wrong_kind",
    "repetitive",
    "unfinished",
)
REPEATED_NGRAM = 4  # words; a prefix in which some 4 words occur twice in a row is repeating itself
_YEAR = re.compile(r"(?<!\d)(1\d{3}|20\d{2})(?!\d)|\b\d{1,2}(st|nd|rd|th)? century\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])\d[\d,.]*\d(?![\w])|\b(hundred|thousand|million|billion)s?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Guard:
    """What a prefix about one case must not say, beyond the answers in ``avoid``.

    values: labels of every object the build knows for the edited relation (and of its objects'
    class), so no value at all is stated for it; value_type: "time" / "quantity" relations also
    reject any year / number; kind: the subject's kind (``dafset.lm.kinds``), None when unknown.
    """

    values: tuple[str, ...] = ()
    value_type: str = "item"
    kind: str | None = None
    subject_names: tuple[str, ...] = field(default_factory=tuple)  # label and aliases, never values


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


def check(
    text: str,
    lead: str,
    subject: str,
    avoid: Sequence[str],
    bounds: PrefixBounds,
    guard: Guard | None = None,
) -> str | None:
    """The name of the first failed filter (in ``FILTERS`` order), or None when the text may be kept.

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
    guard = guard or Guard()
    if states_relation_value(text, subject, guard):
        return "states_relation_value"
    if wrong_kind(text, subject, guard.kind):
        return "wrong_kind"
    if repetitive(text, subject):
        return "repetitive"
    if not _FINISHED.search(text):
        return "unfinished"  # "La Dame de Monsoreau was": a fragment would run into the prompt
    return None


def _without(text: str, names: Sequence[str], placeholder: str = " ") -> str:
    """The text with every occurrence of the subject's names replaced: a value inside the
    subject's own name ("Singapore" in "Bukit Timah Expressway, Singapore") is no statement."""
    for name in sorted((n for n in names if n), key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", placeholder, text, flags=re.IGNORECASE)
    return text


def states_relation_value(text: str, subject: str, guard: Guard) -> bool:
    """Does the text name any value of the edited relation (whole words; names of four letters or
    fewer must match their case, so "US" is not "us")? Dates and numbers count for relations
    whose values are dates and quantities."""
    rest = _without(text, (subject, *guard.subject_names))
    if guard.value_type == "time" and _YEAR.search(rest):
        return True
    if guard.value_type == "quantity" and _NUMBER.search(rest):
        return True
    lowered = rest.casefold()
    for value in guard.values:
        if len(value) <= 4:
            if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", rest):
                return True
        elif value.casefold() in lowered and re.search(
            rf"(?<!\w){re.escape(value.casefold())}(?!\w)", lowered
        ):
            return True
    return False


def wrong_kind(text: str, subject: str, kind: str | None) -> bool:
    """Does the text call the subject a kind of thing it is not ("The Stranger is a French poet"
    about a novel)? Only the words that describe the subject are read: after "is a", "was the",
    a comma, or just before its name ("the poet X"). Unknown kind: nothing to check against."""
    if kind is None:
        return False
    from dafset.lm.kinds import allowed, called_a_person

    if kind != "person" and called_a_person(text, subject):
        return True
    return any(word not in allowed(kind) for word in kind_words_near(text, subject))


def repetitive(text: str, subject: str, n: int = REPEATED_NGRAM) -> bool:
    """Does some run of ``n`` words occur twice? The subject's name counts as one word, so naming
    it twice is not a repetition."""
    words = re.findall(r"\w+", _without(text, (subject,), " subject ").casefold())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


def generated_part(text: str, generated_from: int | None) -> str:
    """What the model wrote: the text after the fixed opening the request template gave it."""
    return text[generated_from or 0 :].strip()


def pass_shares(generated: int, dropped: dict[str, int], order: Sequence[str]) -> dict[str, float | None]:
    """Filter -> share of the candidates reaching it (not dropped by an earlier one) that pass it."""
    out: dict[str, float | None] = {}
    reaching = generated
    for name in order:
        failed = dropped.get(name, 0)
        out[name] = round((reaching - failed) / reaching, 4) if reaching else None
        reaching -= failed
    return out


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
