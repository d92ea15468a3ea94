"""Text bound for a terminal: labels come from Wikidata, which anyone can edit, so a label may hold
escape sequences that recolour, retitle or rewrite the user's terminal. Every control character
(C0, DEL, C1) and every bidirectional override is shown as its escape (``\\x1b``, ``\\u202e``)."""

from __future__ import annotations

import re

# C0 controls but tab, DEL, C1 controls, and the bidi embeddings/overrides/isolates that reorder text
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` with every unsafe character written as a visible Python-style escape."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
