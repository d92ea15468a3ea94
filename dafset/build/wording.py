"""English wording rules for rendered prompts and answers: the definite article some labels need,
the preposition a date takes by its precision, and which aliases are junk.

Each rule is small, closed and tested on real Wikidata labels (tests/test_trust_wording.py).
"""

from __future__ import annotations

import re
from functools import lru_cache

# -- the definite article ------------------------------------------------------------------------

# Head nouns of "<Head> of <Name>" that make a proper name needing "the" ("the University of Oxford",
# "the Kingdom of Greece"). A closed list of institutional and political heads: titles of works
# ("Portrait of Jennie", "Attack of the Crab Monsters") start with other words and stay bare.
OF_HEADS = frozenset(
    {
        "Academy", "Archdiocese", "Bank", "Canton", "Caliphate", "City", "Club", "Colony",
        "Commonwealth", "Council", "County", "Diocese", "Dominion", "Duchy", "Electorate", "Emirate",
        "Empire", "Federation", "Government", "Institute", "Kingdom", "Library",
        "Margraviate", "Marquisate", "Ministry", "Municipality", "Principality", "Province",
        "Republic", "State", "States", "Sultanate", "Union", "University",
    }
)  # fmt: skip
# Last words that make a multi-word name take "the" when it has no "of" ("the United Kingdom",
# "the Soviet Union", "the Ottoman Empire", "the Marshall Islands", "the United Nations").
TAIL_HEADS = frozenset(
    {
        "Academy", "Army", "Council", "Emirates", "Empire", "Federation", "Islands", "Kingdom",
        "Nations", "Navy", "Republic", "States", "Union",
    }
)  # fmt: skip
# One-word names that are plural in form and always take "the".
PLURAL_NAMES = frozenset({"Bahamas", "Maldives", "Netherlands", "Philippines"})


@lru_cache(maxsize=65536)
def needs_article(label: str) -> bool:
    """Whether the label, used mid-sentence, reads "the <label>" in English."""
    words = label.split()
    if not words or words[0].casefold() == "the" or " and " in label:
        return False
    if len(words) == 1:
        return label in PLURAL_NAMES
    head, of, _ = label.partition(" of ")
    if of:  # the head noun is the last word before "of": "People's Republic of China"
        return head.split()[-1] in OF_HEADS
    return words[-1] in TAIL_HEADS


def with_article(text: str, subject: str) -> str:
    """``text`` with "the" (or "The" at the start) before every bare occurrence of ``subject``,
    when the subject's label needs it. The subject stays verbatim in the text."""
    if not needs_article(subject):
        return text
    pattern = _bare(subject)

    def fix(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)
        sentence_start = not text[: match.start()].strip() or text[: match.start()].rstrip()[-1] in ".!?"
        return ("The " if sentence_start else "the ") + subject

    return pattern.sub(fix, text)


def missing_article(text: str, subject: str) -> bool:
    """Whether ``text`` has the subject bare where it needs "the" (the audit's check)."""
    return needs_article(subject) and with_article(text, subject) != text


@lru_cache(maxsize=65536)
def _bare(subject: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w'’])([Tt]he\s+)?" + re.escape(subject) + r"(?!\w)")


# -- dates ---------------------------------------------------------------------------------------

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
# Wikibase time precisions
YEAR, MONTH, DAY = 9, 10, 11
_DAY_DATE = re.compile(r"^\d{1,2} (" + "|".join(MONTHS) + r") -?\d+$")
YEAR_OR_MONTH = re.compile(r"^(?:(?:" + "|".join(MONTHS) + r") )?-?\d{1,4}$")  # "1991", "May 1991"
_TRAILING_PREPOSITION = re.compile(r"\s(on|in)$")


def date_precision(rendered: str) -> int:
    """The precision of a date as ``dafset.build.enrich.format_time`` renders it."""
    if _DAY_DATE.match(rendered):
        return DAY
    return MONTH if rendered.split()[0] in MONTHS else YEAR


_MONTH_NAMES = "|".join(MONTHS)
# "on" before a bare year or a month and year, not before a day ("on 3 May 1991" stays)
_ON_BARE_DATE = re.compile(r"\bon ((?:" + _MONTH_NAMES + r") )?(-?\d{1,4})\b(?! (?:" + _MONTH_NAMES + r"))")


def fix_date_prepositions(text: str) -> str:
    """Full sentences with dates inside ("X was founded on 1554.") read "in 1554"."""
    return _ON_BARE_DATE.sub(lambda m: "in " + (m.group(1) or "") + m.group(2), text)


def fit_preposition(prompt: str, rendered_date: str) -> str:
    """A date prompt ending in "on"/"in" takes the preposition its value's precision needs:
    "on 3 May 1991", "in May 1991", "in 1991" (never "on 1991")."""
    wanted = "on" if date_precision(rendered_date) == DAY else "in"
    return _TRAILING_PREPOSITION.sub(" " + wanted, prompt)


# -- aliases -------------------------------------------------------------------------------------

_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_DIGIT_RUN = re.compile(r"\d{5,}")


def junk_alias(alias: str, label: str | None) -> bool:
    """An alias that must never count as an answer: two characters or fewer (unless it is the
    label itself), no letter or digit at all (emoji, punctuation), or identifier-like (a run of
    five or more digits, as in '00033982178 IPI' or a catalogue number)."""
    text = alias.strip()
    if text == (label or "").strip():
        return False
    if len(text) <= 2:
        return True
    if not _LETTER_OR_DIGIT.search(text):
        return True
    return bool(_DIGIT_RUN.search(text))


def good_aliases(aliases: list[str], label: str | None) -> list[str]:
    return [a for a in aliases if not junk_alias(a, label)]
