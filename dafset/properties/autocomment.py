"""What a Wikidata edit summary (the autocomment of ``rccomment``) says about claim creation.

Real summaries (EventStreams and ``list=recentchanges`` recordings in the test data)::

    /* wbcreateclaim-create:1| */ [[Property:P31]]: [[Q46190676]], #petscan
    /* wbsetclaim-create:2||1 */ [[Property:P106]]: [[Q9200127]]
    /* wbeditentity-create:0| */ #quickstatements; ...
    /* wbeditentity-update:0| */ BOT - Adding descriptions (2 languages): cs, io

The first two name the property of the claim they create; the ``wbeditentity`` family may create
claims but does not say which, so its edits are candidates on any relation, to be confirmed from
the revision contents. Every other action (labels, descriptions, references, claim updates and
removals, undo) creates no statement and is skipped without a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_AUTOCOMMENT = re.compile(r"^/\* (?P<action>[a-z]+-[a-z]+):[^*]*\*/\s*(?P<rest>.*)$", re.DOTALL)
_PROPERTY = re.compile(r"^\[\[Property:(?P<pid>P[1-9][0-9]*)\]\]")

NAMED_CREATIONS = ("wbcreateclaim-create", "wbsetclaim-create")
ENTITY_EDITS = ("wbeditentity-create", "wbeditentity-update")


@dataclass(frozen=True)
class ClaimHint:
    """A summary that may create a claim: ``property`` is None when the action does not name it."""

    action: str
    property: str | None


def claim_hint(comment: str) -> ClaimHint | None:
    """The claim creation a summary announces, or None when it announces none."""
    match = _AUTOCOMMENT.match(comment or "")
    if match is None:
        return None
    action = match.group("action")
    if action in NAMED_CREATIONS:
        named = _PROPERTY.match(match.group("rest"))
        return ClaimHint(action, named.group("pid")) if named else None
    if action in ENTITY_EDITS:
        return ClaimHint(action, None)
    return None


def is_candidate(comment: str, relations: frozenset[str] | set[str]) -> ClaimHint | None:
    """A hint for a summary that may add a statement on one of ``relations``."""
    hint = claim_hint(comment)
    if hint is None or (hint.property is not None and hint.property not in relations):
        return None
    return hint
