"""Count, in a published snapshot, the probes that another edit of the same split changes (issue 18,
items 1-3 and 9), with the very check the build runs (``dafset.build.sequence.violations``).

    python scripts/probe_rules.py out/dafset/latest                 # one snapshot, JSON
    python scripts/probe_rules.py BEFORE AFTER --table              # before/after, Markdown

Reads only ``data/<config>/<split>-*.parquet`` and relations.yaml (its ``inverse``/``symmetric``
ties), so it measures old snapshots too. Besides the build's figures it prints the plain ones of
the issue: locality probes whose prompt is, character for character, the prompt or a rephrase of
another case of the split, and exact swaps (A -> B's ``target_true`` and B -> A's).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dafset.build.sequence import swaps, violations
from dafset.relations import load_relations

CONFIGS = ("recent", "popular", "long_tail", "robust")


def load_rows(snapshot: Path) -> list[dict[str, Any]]:
    rows = []
    for config in CONFIGS:
        for path in sorted((snapshot / "data" / config).glob("*.parquet")):
            split = path.name.split("-", 1)[0]
            rows.extend({**row, "split": split} for row in pq.read_table(path).to_pylist())
    return rows


def plain_figures(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The issue's own counts: exact prompt re-asks and exact swaps."""
    prompts: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for r in rows:
        for p in [r["prompt"], *r["rephrase_prompts"]]:
            prompts[(r["split"], p)].add((r["subject_id"], r["relation_id"]))
    reask = rows_hit = 0
    for r in rows:
        own = (r["subject_id"], r["relation_id"])
        hits = sum(bool(prompts.get((r["split"], p["prompt"]), set()) - {own}) for p in r["locality"])
        reask += hits
        rows_hit += hits > 0
    exact = [
        (a, b)
        for a, b in swaps(rows, lambda s: s["split"])
        if _case(rows, a)["target_new"] == _case(rows, b)["target_true"]
        and _case(rows, b)["target_new"] == _case(rows, a)["target_true"]
    ]
    return {
        "rows": len(rows),
        "locality_probes": sum(len(r["locality"]) for r in rows),
        "locality_reasks_other_case_prompt": reask,
        "rows_with_such_probe": rows_hit,
        "preservation_probes": sum(p["kind"] == "preservation" for r in rows for p in r["portability"]),
        "exact_swaps": len(exact),
    }


def _case(rows: list[dict[str, Any]], key: tuple[str, str]) -> dict[str, Any]:
    return next(r for r in rows if (r["subject_id"], r["relation_id"]) == key and r["property"] != "robust")


def audit(snapshot: Path) -> dict[str, int]:
    rows = load_rows(snapshot)
    return {**plain_figures(rows), **violations(rows, lambda s: s["split"], load_relations())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshots", nargs="+", type=Path)
    parser.add_argument("--table", action="store_true", help="a Markdown before/after table")
    args = parser.parse_args(argv)
    results = [audit(s) for s in args.snapshots]
    if args.table and len(results) == 2:
        print("| figure | before | after |\n|---|---:|---:|")
        for name in results[0]:
            print(f"| {name} | {results[0][name]} | {results[1].get(name, '')} |")
    else:
        print(json.dumps(results if len(results) > 1 else results[0], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
