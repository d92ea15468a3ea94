"""English wording rules for rendered prompts and answers: the definite article some labels need,
the preposition a date takes by its precision, spacing, and which aliases are junk or ambiguous.

Each rule is small, closed and tested on real Wikidata labels (tests/test_trust_wording.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

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


def the(label: str) -> str:
    """The label as it reads mid-sentence: "the People's Republic of China", "Canada"."""
    return f"the {label}" if needs_article(label) else label


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


# -- names and spacing ---------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def clean_name(text: str) -> str:
    """A label or alias as it may be inserted: Wikidata holds some with trailing or doubled spaces
    ("Baby, Come to Me "), which would leave "Baby, Come to Me  was produced by" behind."""
    return _SPACES.sub(" ", text).strip()


def spacing_problem(text: str) -> str | None:
    """Why a rendered string is badly spaced ("double space", "edge space"), or None."""
    if "  " in text:
        return "double space"
    if text != text.strip():
        return "edge space"
    return None


# -- aliases -------------------------------------------------------------------------------------

_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_DIGIT_RUN = re.compile(r"\d{5,}")
# ISO-style language and country codes Wikidata keeps as aliases ("can", "pol", "slo"): lower-case
# and at most three letters. Upper-case abbreviations ("UK", "USA", "PRC") are names and stay.
_LOWER_CODE = re.compile(r"^[a-z]{1,3}$")
BLOCKLIST = Path(__file__).with_name("data") / "blocked_aliases.txt"


@lru_cache(maxsize=1)
def blocked_aliases() -> frozenset[str]:
    """The maintained block list of offensive aliases (casefolded; see the file's header)."""
    lines = BLOCKLIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def alias_problem(alias: str, label: str | None) -> str | None:
    """Why an alias must never count as an answer, as the manifest counts it, or None:
    ``blocked_aliases`` (on the block list of offensive aliases), ``code_aliases`` (a lower-case
    code of three letters or fewer), ``junk_aliases`` (two characters or fewer, no letter or digit
    at all, or identifier-like: a run of five or more digits, as in '00033982178 IPI'). The label
    itself is never junk."""
    text = alias.strip()
    if text == (label or "").strip():
        return None
    if text.casefold() in blocked_aliases():
        return "blocked_aliases"
    if _LOWER_CODE.match(text):
        return "code_aliases"
    if len(text) <= 2 or not _LETTER_OR_DIGIT.search(text) or _DIGIT_RUN.search(text):
        return "junk_aliases"
    return None


def junk_alias(alias: str, label: str | None) -> bool:
    return alias_problem(alias, label) is not None


def good_aliases(aliases: list[str], label: str | None) -> list[str]:
    return [a for a in aliases if not junk_alias(a, label)]


def shared_names(names: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Names (casefolded) that belong to more than one entity, from ``(entity id, name)`` pairs of
    every label and alias the build knows: such an alias ("Washington" for George Washington, also
    a state and a city) does not name its entity unambiguously."""
    owners: dict[str, str] = {}
    shared: set[str] = set()
    for qid, name in names:
        key = name.casefold()
        if owners.setdefault(key, qid) != qid:
            shared.add(key)
    return frozenset(shared)
