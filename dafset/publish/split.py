"""Stable train/validation/test splits keyed by the fact, and stable sample ids.

A fact is (subject_id, relation_id). Hashing the fact, not the sample, keeps every sample of one
fact (any property, any criterion, any week) in the same split, so nothing leaks across splits
and a fact does not wander between splits from one snapshot to the next.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from dafset.errors import PublishError
from dafset.schema import SAMPLE_SCHEMA, validate

SPLITS = ("train", "validation", "test")
DEFAULT_RATIOS: Mapping[str, float] = {"train": 0.8, "validation": 0.1, "test": 0.1}

# blake2b personalisation keeps the split hash and the id hash independent of each other.
_SPLIT_PERSON = b"dafset-split"
_ID_PERSON = b"dafset-sample"


def fact_key(subject_id: str, relation_id: str) -> str:
    return f"{subject_id}|{relation_id}"


def fact_bucket(subject_id: str, relation_id: str) -> float:
    """Where the fact falls in [0, 1): the first 8 bytes of blake2b("Q42|P19") / 2**64."""
    digest = hashlib.blake2b(
        fact_key(subject_id, relation_id).encode("utf-8"), digest_size=8, person=_SPLIT_PERSON
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


def check_ratios(ratios: Mapping[str, float]) -> list[tuple[str, float]]:
    """The ratios as cumulative upper bounds, in the mapping's order; raises on bad input."""
    if not ratios:
        raise PublishError("split ratios are empty")
    bounds: list[tuple[str, float]] = []
    total = 0.0
    for name, ratio in ratios.items():
        if ratio < 0:
            raise PublishError(f"split ratio for '{name}' is negative ({ratio})")
        total += ratio
        bounds.append((name, total))
    if abs(total - 1.0) > 1e-9:
        raise PublishError(f"split ratios sum to {total}, expected 1.0: {dict(ratios)}")
    # float sums can land a hair under 1.0; the last split takes the rest
    bounds[-1] = (bounds[-1][0], 1.0)
    return bounds


def assign_split(subject_id: str, relation_id: str, ratios: Mapping[str, float] = DEFAULT_RATIOS) -> str:
    """The split a fact belongs to. Same fact and same ratios give the same split, always."""
    return _pick(fact_bucket(subject_id, relation_id), check_ratios(ratios))


def _pick(bucket: float, bounds: list[tuple[str, float]]) -> str:
    for name, upper in bounds:
        if bucket < upper:
            return name
    return bounds[-1][0]


def split_table(table: pa.Table, ratios: Mapping[str, float] = DEFAULT_RATIOS) -> dict[str, pa.Table]:
    """Cut a SAMPLE_SCHEMA table into splits by fact. Every split named in ratios is present,
    possibly empty; row order within a split follows the input."""
    table = validate(table, SAMPLE_SCHEMA, where="split_table")
    bounds = check_ratios(ratios)
    subjects = table.column("subject_id").to_pylist()
    relations = table.column("relation_id").to_pylist()
    cache: dict[tuple[str, str], str] = {}
    names = []
    for s, r in zip(subjects, relations, strict=True):
        key = (s, r)
        if key not in cache:
            cache[key] = _pick(fact_bucket(s, r), bounds)
        names.append(cache[key])
    labels = pa.array(names, pa.string())
    return {name: table.filter(pc.equal(labels, name)) for name, _ in bounds}


def find_leaks(splits: Mapping[str, pa.Table]) -> dict[tuple[str, str], list[str]]:
    """Facts (subject_id, relation_id) found in more than one split, with those splits."""
    seen: dict[tuple[str, str], list[str]] = {}
    for name, table in splits.items():
        facts = set(
            zip(
                table.column("subject_id").to_pylist(),
                table.column("relation_id").to_pylist(),
                strict=True,
            )
        )
        for fact in facts:
            seen.setdefault(fact, []).append(name)
    return {fact: names for fact, names in seen.items() if len(names) > 1}


def sample_id(property: str, criterion: str, subject_id: str, relation_id: str, extra: str = "") -> str:
    """A stable 16-hex-char id for a sample; ``extra`` tells apart variants of one fact
    (e.g. the positive and negative sentiment prefix of a robust case)."""
    key = "|".join((property, criterion, subject_id, relation_id, extra))
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=_ID_PERSON).hexdigest()
