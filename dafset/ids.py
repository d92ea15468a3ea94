"""Wikidata id checks. Every id is checked here before it can enter a query or a URL."""

from __future__ import annotations

import re
from collections.abc import Iterable

from dafset.errors import BadIdError

_ITEM = re.compile(r"^Q[1-9][0-9]{0,11}$")
_PROPERTY = re.compile(r"^P[1-9][0-9]{0,6}$")


def check_item(qid: str) -> str:
    """Return ``qid`` if it is an item id like ``Q42``; else raise BadIdError."""
    if not isinstance(qid, str) or not _ITEM.match(qid):
        raise BadIdError(f"bad item id {qid!r}: expected Q followed by digits, e.g. Q42")
    return qid


def check_property(pid: str) -> str:
    """Return ``pid`` if it is a property id like ``P19``; else raise BadIdError."""
    if not isinstance(pid, str) or not _PROPERTY.match(pid):
        raise BadIdError(f"bad property id {pid!r}: expected P followed by digits, e.g. P19")
    return pid


def check_items(qids: Iterable[str]) -> list[str]:
    return [check_item(q) for q in qids]


def check_properties(pids: Iterable[str]) -> list[str]:
    return [check_property(p) for p in pids]


def is_item(value: str | None) -> bool:
    return isinstance(value, str) and bool(_ITEM.match(value))


def is_property(value: str | None) -> bool:
    return isinstance(value, str) and bool(_PROPERTY.match(value))


def chunks(values: list[str], size: int) -> list[list[str]]:
    """Split a list into batches (50 for wbgetentities/pageprops, larger for SPARQL VALUES)."""
    return [values[i : i + size] for i in range(0, len(values), size)]
