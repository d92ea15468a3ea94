"""Stable hashes: the same inputs give the same choice on every machine, run and week."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def stable_hash(*parts: object, size: int = 8) -> str:
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=size).hexdigest()


def stable_unit(*parts: object) -> float:
    """A number in [0, 1) determined by the parts."""
    return int(stable_hash(*parts), 16) / 16 ** (8 * 2)


def stable_pick(options: Sequence[T], *parts: object) -> T:
    return options[int(stable_hash(*parts), 16) % len(options)]


def stable_order(keys: Sequence[str], *parts: object) -> list[str]:
    """A seeded, stable shuffle: sort by the hash of each key (with the parts as salt)."""
    return sorted(keys, key=lambda k: stable_hash(k, *parts))
