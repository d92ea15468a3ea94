"""What kind of thing an entity is, in words a prefix may use for it.

The sample holds no instance-of (P31) statements and few descriptions, so the kind is read, in
order, from the entity's class label or description when known, else from the relations it is the
subject of: only a person has a place of birth, only a written work an author (``RELATION_KINDS``;
relations whose subjects are mixed, such as "member of" or "country", say nothing). A prefix may call
the entity only by the words of its kind (``allowed``); any other kind word in a position that
describes it ("X is a French poet", "the poet X") makes the prefix wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# kind -> (how the request template names it, with its article; the words a text may call it)
KINDS: dict[str, tuple[str, frozenset[str]]] = {
    "person": (
        "a person",
        _words(
            """person man woman boy girl child poet writer author novelist playwright screenwriter
            journalist actor actress singer songwriter musician composer pianist guitarist drummer
            violinist rapper dancer comedian painter artist sculptor photographer illustrator
            cartoonist designer architect politician statesman diplomat judge lawyer activist
            footballer player athlete cyclist swimmer boxer wrestler coach scientist physicist
            chemist biologist mathematician economist historian philosopher engineer inventor
            explorer teacher professor physician doctor surgeon priest bishop monk nun saint pope
            king queen prince princess emperor empress duke duchess lord knight soldier general
            officer pilot astronaut businessman businesswoman entrepreneur producer director
            model chef critic scholar leader campaigner candidate president minister senator
            governor mayor monarch ruler warrior hero character sailor fighter skier golfer
            runner jumper scientist researcher campaigner"""
        ),
    ),
    "written work": (
        "a written work",
        _words(
            """book novel novella story poem play essay manga comic magazine newspaper work
            publication collection anthology series trilogy text sequel adaptation drama tragedy
            comedy"""
        ),
    ),
    "film or television work": (
        "a film or television work",
        _words(
            """film movie documentary series show sitcom drama episode programme program
            miniseries anime work sequel adaptation production comedy thriller"""
        ),
    ),
    "musical work": (
        "a musical work",
        _words("song single album record track ep composition opera symphony ballad soundtrack work piece"),
    ),
    "software": (
        "a piece of software or a video game",
        _words("game software application app program programme engine system title sequel franchise series"),
    ),
    "product": (
        "a product",
        _words(
            """product car vehicle aircraft airplane plane ship boat phone device computer
            locomotive train rifle gun camera console model engine machine"""
        ),
    ),
    "place": (
        "a place",
        _words(
            """place city town village country state region province county district municipality
            island river lake mountain land kingdom capital area territory nation republic
            settlement neighbourhood neighborhood suburb valley commune parish hamlet metropolis
            port community"""
        ),
    ),
    # two kinds of place the relations tell apart: what has a capital, and what is one
    "country": (
        "a country",
        _words(
            "place country state region province territory nation republic kingdom land monarchy federation"
        ),
    ),
    "city": (
        "a city",
        _words(
            """place city town village capital municipality commune settlement metropolis port
            community suburb hamlet"""
        ),
    ),
    "organisation": (
        "an organisation",
        _words(
            """organisation organization company band group team club party university school
            college firm corporation label society association institute agency union league
            network channel broadcaster station business brand publisher studio orchestra choir
            duo trio"""
        ),
    ),
}

# Relations whose subjects are of one kind. Relations whose subjects are mixed (member of,
# country, located in, owned by, genre, sport, record label, composer, country of origin) are absent.
_PERSON = "P19 P20 P27 P26 P22 P3373 P106 P69 P108 P1412 P103 P509 P39 P140 P101 P413 P1303 P569 P570"
RELATION_KINDS: dict[str, str] = {
    **dict.fromkeys(_PERSON.split(), "person"),
    "P50": "written work",
    **dict.fromkeys(["P57", "P58", "P162", "P272", "P449", "P364"], "film or television work"),
    "P175": "musical work",
    "P178": "software",
    "P176": "product",
    **dict.fromkeys(["P36", "P37"], "country"),  # a capital, official languages
    **dict.fromkeys(["P1376", "P190"], "city"),  # capital of, twinned with
    **dict.fromkeys(["P1082", "P6"], "place"),  # population, head of government: either
}
# a kind and the more general kind it refines: "city" and "place" together mean a city
PARENT = {"country": "place", "city": "place"}
PERSON_PRONOUNS = re.compile(r"^(?:his|her)\b|(?:^|[.!?]\s+)(?:he|she)\b", re.IGNORECASE)

_VOCABULARY = {word: kind for kind, (_, words) in KINDS.items() for word in words}
_ARTICLE = r"(?:a|an|the|one of the|another)"
_LINK = r"(?:,|\s+(?:is|was|are|were|has been|had been|remains|became|becomes))"


def allowed(kind: str) -> frozenset[str]:
    return KINDS[kind][1]


def kind_name(kind: str | None) -> str | None:
    """How the request template names the kind ("a written work")."""
    return KINDS[kind][0] if kind else None


def words_in(text: str) -> list[str]:
    """The kind words of a text, in order (plurals read as their singular)."""
    out = []
    for token in text.casefold().split():
        word = token.strip(".,;:!?()\"'")
        if not word.isalpha():
            continue  # "state-owned", "1990s": compounds and numbers name no kind
        for candidate in (word, word[:-1] if word.endswith("s") else word):
            if candidate in _VOCABULARY:
                out.append(candidate)
                break
    return out


def kind_from_words(text: str | None) -> str | None:
    """The kind of the first kind word of a class label or description ("American actor")."""
    for word in words_in(text or ""):
        kinds = [k for k, (_, words) in KINDS.items() if word in words]
        if len(kinds) == 1:
            return kinds[0]
    return None


def kind_of(
    relations: Iterable[str], class_label: str | None = None, description: str | None = None
) -> str | None:
    """The entity's kind: from its class label, its description, else the relations it is the
    subject of (None when they disagree or say nothing)."""
    for text in (class_label, description):
        kind = kind_from_words(text)
        if kind:
            return kind
    kinds = {RELATION_KINDS[r] for r in relations if r in RELATION_KINDS}
    kinds -= {PARENT[k] for k in kinds if k in PARENT}
    return kinds.pop() if len(kinds) == 1 else None


def called_a_person(text: str, subject: str) -> bool:
    """Does the text speak of the subject as he or she: "his"/"her" right after its opening line
    ("Sofia is widely admired for her kindness", about a city) or a sentence opening with "He"/
    "She"? Read only for subjects that are no person."""
    for match in re.finditer(rf"(?<!\w){re.escape(subject)}(?!\w)", text):
        rest = text[match.end() :]
        opening = re.match(r"\s+(?:is|was)\s+(?:widely admired|often criticised)\s+for\s+", rest)
        if opening and PERSON_PRONOUNS.match(rest[opening.end() :]):
            return True
    return any(PERSON_PRONOUNS.match(sentence) for sentence in re.split(r"(?<=[.!?])\s+", text)[1:])


def kind_words_near(text: str, subject: str) -> list[str]:
    """The kind words used of the subject: in the (up to six) words after "<subject> is a" (or a
    comma and an article), and the word just before its name ("the French poet <subject>")."""
    name = re.escape(subject)
    found: list[str] = []
    after = re.compile(rf"(?<!\w){name}{_LINK}\s+{_ARTICLE}\s+((?:[\w'-]+\s*){{1,6}})", re.IGNORECASE)
    for match in after.finditer(text):
        phrase = re.split(r"\b(?:of|in|from|by|with|who|which|that|and|for)\b|[,.;:]", match.group(1))[0]
        found += words_in(phrase)[:1]  # the head of "an American poet": its first kind word
    before = re.compile(rf"\b{_ARTICLE}\s+(?:[\w'-]+\s+){{0,2}}?([\w'-]+)\s+{name}(?!\w)", re.IGNORECASE)
    for match in before.finditer(text):
        found += words_in(match.group(1))
    return found


__all__ = ["KINDS", "RELATION_KINDS", "allowed", "kind_name", "kind_of", "kind_words_near"]
