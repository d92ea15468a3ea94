"""How often the kind and era checks of counterfactual targets really ran, for the manifest.

A check runs only where the source holds its data: the kind check (instance-of classes, P31) needs
the classes of the truth and of the target (``kind_inferred`` counts the weaker fallback on classes
inferred from the graph), the era check the dates of the target and of the
subject (or the true statement's start). The report gives the share of targets checked, and how
much the source holds, so a reader can tell "passed" from "never asked".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dafset.build.render import FactIndex, era_checkable


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def target_checks(samples: Iterable[dict[str, Any]], index: FactIndex) -> dict[str, Any]:
    """Over the published counterfactual cases with an item target (robust variants repeat their
    base and are not counted again)."""
    ids = {
        (f["relation_id"], f["object_label"]): f["object_id"]
        for facts in index.by_relation.values()
        for f in facts
        if f.get("object_id")
    }
    counts = dict.fromkeys(
        ("targets", "kind_checked", "truth_typed", "target_typed", "kind_inferred", "era_checked",
         "subject_dated", "target_dated"),
        0,
    )  # fmt: skip
    for s in samples:
        target = ids.get((s["relation_id"], s["target_new"]))
        if s["edit_kind"] != "counterfactual" or s["property"] == "robust" or target is None:
            continue
        truth = next(
            (f for f in index.by_case.get((s["subject_id"], s["relation_id"]), [])
             if f["object_label"] == s["target_true"]),
            {"subject_id": s["subject_id"], "relation_id": s["relation_id"]},
        )  # fmt: skip
        truth_typed = bool(index.truth_types(truth))
        target_typed = target in index.types
        counts["targets"] += 1
        counts["truth_typed"] += truth_typed
        counts["target_typed"] += target_typed
        counts["kind_checked"] += truth_typed and target_typed
        # the fallback where P31 is missing: classes inferred from the relations an entity is the
        # object of (relations.yaml object_class); weaker, and reported apart
        counts["kind_inferred"] += bool(index.kind_of(truth.get("object_id")) and index.kind_of(target))
        counts["subject_dated"] += s["subject_id"] in index.life
        counts["target_dated"] += target in index.life
        counts["era_checked"] += era_checkable({"object_id": target}, truth, index)
    entities = set(index.by_subject) | set(index.by_object)
    return {
        **counts,
        "kind_share": _share(counts["kind_checked"], counts["targets"]),
        "era_share": _share(counts["era_checked"], counts["targets"]),
        "source_holds": {
            "entities": len(entities),
            "with_class": sum(1 for q in entities if q in index.types),
            "with_date": sum(1 for q in entities if q in index.life),
        },
    }
