"""A small, deterministic SAMPLE_SCHEMA table for tests and demos of publishing, export and stats:
every property and criterion, lists and structs both filled and empty, some null evidence.
Not Wikidata data: subjects are "Entity <n>" with made-up Q-ids."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from dafset.publish.split import sample_id
from dafset.schema import CRITERIA, SAMPLE_SCHEMA, rows_to_table

_RELATIONS = [
    ("P19", "place of birth"),
    ("P27", "country of citizenship"),
    ("P69", "educated at"),
    ("P106", "occupation"),
    ("P36", "capital"),
]


def synthetic_samples(
    n_facts: int = 40, snapshot: str = "2026-07-14", seed: int = 0, id_offset: int = 0
) -> pa.Table:
    """About 2.5 samples per fact across the four properties. ``id_offset`` shifts the Q-ids, so
    two tables can share some facts and not others."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n_facts):
        q = f"Q{1000 + id_offset + i}"
        subject = f"Entity {id_offset + i}"
        pid, label = _RELATIONS[i % len(_RELATIONS)]
        base = {
            "subject": subject,
            "subject_id": q,
            "relation_id": pid,
            "relation_label": label,
            "prompt": f"The {label} of {subject} is",
            "target_new": f"Target {i}",
            "answers": [f"Truth {i}", f"Truth alias {i}"] if i % 3 else [],
            "rephrase_prompts": [f"{subject}'s {label} is", f"Speaking of {subject}, its {label} is"]
            if i % 5
            else [],
            "locality": [
                {
                    "prompt": f"The {label} of Other {i} is",
                    "answers": [f"Other {i}"],
                    "kind": "same_relation",
                },
                {
                    "prompt": f"{subject} was born in",
                    "answers": ["Somewhere", "Somewhere Else"],
                    "kind": "same_subject",
                },
            ][: i % 3],
            "question": f"What is the {label} of {subject}?",
            "portability": [
                {
                    "prompt": f"The {label} of Ent. {i} is",
                    "answers": [f"Target {i}"],
                    "kind": "subject_aliasing",
                },
                {
                    "prompt": f"The capital of the {label} of {subject} is",
                    "answers": [f"Cap {i}"],
                    "kind": "compositional",
                },
                {"prompt": f"Target {i} relates back to", "answers": [subject], "kind": "logical"},
                {
                    "prompt": f"The {label} of {subject} is",
                    "answers": [f"Other truth {i}"],
                    "kind": "preservation",
                },
            ][: i % 5],
            "snapshot": snapshot,
        }
        evidence = (
            None
            if i % 7 == 0
            else {
                "pageviews": rng.randint(10, 10**6),
                "sitelinks": rng.randint(0, 300),
                "frequency": rng.randint(1, 5000),
                "in_degree": rng.randint(0, 2000),
                "out_degree": rng.randint(1, 200) if i % 5 else None,
                "likelihood": -rng.uniform(1, 40) if i % 2 else None,
                "hop": i % 2,
                "root_id": "Q1" if i % 2 else None,
                "tail_bucket": ("head", "torso", "tail")[i % 3],
                "added_at": datetime(2026, 7, 10, tzinfo=UTC) + timedelta(hours=i),
                "revision_id": 2_000_000_000 + i,
                "physically_new": bool(i % 2),
                "derived": ["pageviews"] if i % 6 == 0 else [],
            }
        )
        kind = i % 4
        if kind == 0:
            prop, crits = "recent", CRITERIA["recent"]
        elif kind == 1:
            prop, crits = "popular", CRITERIA["popular"]
        else:
            prop, crits = "long_tail", CRITERIA["long_tail"][: 1 + i % 3]
        for crit in crits:
            rows.append(
                _row(
                    base,
                    prop,
                    crit,
                    evidence,
                    edit_kind="counterfactual" if prop == "popular" else "insertion",
                    target_true=f"Truth {i}" if prop == "popular" else None,
                )
            )
        if i % 3 == 1:  # robust variants of this fact (these have one locality case)
            base_id = sample_id(prop, crits[0], q, pid)
            for crit in CRITERIA["robust"]:
                prefixes: list[dict[str, Any]] = []
                if crit == "context":
                    prefixes = [
                        {
                            "text": f"{subject} is often discussed.",
                            "kind": "context",
                            "polarity": "neutral",
                            "score": None,
                        }
                    ]
                elif crit == "sentiment":
                    prefixes = [
                        {
                            "text": f"{subject} is wonderful.",
                            "kind": "sentiment",
                            "polarity": "positive",
                            "score": 0.57,
                        },
                        {
                            "text": f"{subject} is dreadful.",
                            "kind": "sentiment",
                            "polarity": "negative",
                            "score": -0.48,
                        },
                    ]
                rows.append(
                    _row(base, "robust", crit, evidence, "insertion", None, prefix=prefixes)
                    | {"base_id": base_id}
                )
    return rows_to_table(rows, SAMPLE_SCHEMA)


def _row(
    base: dict[str, Any],
    prop: str,
    crit: str,
    evidence: dict[str, Any] | None,
    edit_kind: str,
    target_true: str | None,
    prefix: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        **base,
        "id": sample_id(prop, crit, base["subject_id"], base["relation_id"]),
        "property": prop,
        "criterion": crit,
        "edit_kind": edit_kind,
        "target_true": target_true,
        "prefix": prefix or [],
        "evidence": evidence,
    }
