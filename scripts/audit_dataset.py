"""Audit a published DAFSet snapshot for the defects of issue 10: leakage, thin locality, insertion
truths, counterfactual targets that are true or of the wrong type, date rendering, reflexive facts,
missing articles, junk aliases and relation skew.

    python scripts/audit_dataset.py out/dafset/latest                  # one snapshot, JSON
    python scripts/audit_dataset.py BEFORE AFTER --table               # before/after, Markdown

Reads only the published files (``data/<config>/<split>-*.parquet``, ``facts.parquet``) and
relations.yaml, so it audits any snapshot, old or new. Locality probes of the old shape
(``answer``) and the new one (``answers``) are both read.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dafset.build.render import OVERLAPPING_CLASSES
from dafset.build.wording import MONTHS, YEAR_OR_MONTH, junk_alias, missing_article
from dafset.relations import load_relations

CONFIGS = ("recent", "popular", "long_tail", "robust")
HELD_OUT = ("validation", "test")
_MONTHS = "|".join(MONTHS)
_ON_YEAR_INSIDE = re.compile(r"\bon (?:(?:" + _MONTHS + r") )?-?\d{1,4}\b(?! (?:" + _MONTHS + r"))")
YEAR_RELATIONS = ("P569", "P570", "P571")


def load_rows(snapshot: Path) -> list[dict[str, Any]]:
    rows = []
    for config in CONFIGS:
        for path in sorted((snapshot / "data" / config).glob("*.parquet")):
            split = path.name.split("-", 1)[0]
            for row in pq.read_table(path).to_pylist():
                row["split"] = split
                for probe in row["locality"]:
                    if "answers" not in probe:
                        probe["answers"] = [probe["answer"]] if probe.get("answer") else []
                rows.append(row)
    return rows


class Graph:
    """What facts.parquet tells about entities: classes by role, years, labels per relation."""

    def __init__(self, snapshot: Path) -> None:
        object_class = {r.id: r.object_class for r in load_relations()}
        facts = pq.read_table(snapshot / "facts.parquet").to_pylist()
        self.classes: dict[str, set[str]] = defaultdict(set)
        self.years: dict[str, dict[str, int]] = defaultdict(dict)
        self.ids_by_label: dict[tuple[str, str], set[str]] = defaultdict(set)  # (relation, label)
        self.values: dict[tuple[str, str], set[str]] = defaultdict(set)  # (subject, relation) -> labels
        self.labels: set[str] = set()
        self.subject_labels: set[str] = set()
        for f in facts:
            self.labels.add(f["object_label"] or "")
            self.subject_labels.add(f["subject_label"] or "")
            self.values[(f["subject_id"], f["relation_id"])].add(f["object_label"])
            if f["object_id"]:
                self.ids_by_label[(f["relation_id"], f["object_label"])].add(f["object_id"])
                if object_class.get(f["relation_id"]):
                    self.classes[f["object_id"]].add(object_class[f["relation_id"]])
            if f["relation_id"] in YEAR_RELATIONS:
                match = re.match(r"\+?(-?\d{1,4})-", f["object_value"] or "")
                if match:
                    self.years[f["subject_id"]][f["relation_id"]] = int(match.group(1))

    def kind_of(self, ids: set[str]) -> set[frozenset[str]]:
        """The kinds (``dafset.build.render.OVERLAPPING_CLASSES`` left out) of the ids."""
        return {frozenset(self.classes.get(q, set())) - OVERLAPPING_CLASSES for q in ids}


def _prompt_patterns() -> list[re.Pattern[str]]:
    """Every relation's cloze as a regex that captures the subject (after an optional "the")."""
    patterns = []
    for relation in load_relations():
        before, _, after = relation.render_prompt("\x00").partition("\x00")
        after = (
            re.sub(r" (on|in)$", " (?:on|in)", re.escape(after))
            if relation.value_type == "time"
            else re.escape(after)
        )
        patterns.append(re.compile("^" + re.escape(before) + r"(?:[Tt]he )?(.+?)" + after + "$"))
    return patterns


PATTERNS = _prompt_patterns()


def probe_subject(prompt: str) -> str:
    """The subject label of a locality probe, read back through the relation templates ("" if none)."""
    for pattern in PATTERNS:
        match = pattern.match(prompt)
        if match:
            return match.group(1)
    return ""


def had_values(rows: list[dict[str, Any]], source_name: str) -> dict[tuple[str, str], set[str]]:
    """Labels of every value (all ranks, ended ones included) each counterfactual row's subject has
    or had for its relation, read from a source (``sample``: the bundled store, offline)."""
    from dafset.build.enrich import fetch_names
    from dafset.build.pipeline import open_source
    from dafset.config import BuildConfig
    from dafset.properties.facts import fetch_history

    source = open_source(BuildConfig(source=source_name))
    cases = [r for r in rows if r["edit_kind"] == "counterfactual"]
    history = fetch_history(
        source, [r["subject_id"] for r in cases], sorted({r["relation_id"] for r in cases})
    )
    names = fetch_names(source, [h["value"] for hs in history.values() for h in hs])
    return {
        key: {names[h["value"]].label if h["value"] in names else h["value"] for h in hs}
        for key, hs in history.items()
    }


def audit(snapshot: Path, history_source: str | None = None) -> dict[str, Any]:
    rows = load_rows(snapshot)
    had = had_values(rows, history_source) if history_source else {}
    graph = Graph(snapshot)
    out: dict[str, Any] = {"snapshot": str(snapshot), "rows": len(rows)}

    # 1. leakage: probes whose prompt is an edit prompt (or rephrase) of a case in another split
    prompt_splits: dict[str, set[str]] = defaultdict(set)
    held_out_insertions: dict[tuple[str, str], str] = {}
    for r in rows:
        for p in [r["prompt"], *r["rephrase_prompts"]]:
            prompt_splits[p].add(r["split"])
        if r["split"] in HELD_OUT and r["edit_kind"] == "insertion":
            held_out_insertions[(r["prompt"], r["target_new"])] = r["id"]
    leaking, exact = 0, 0
    revealed: set[str] = set()
    held_prompts = {r["prompt"]: r["id"] for r in rows if r["split"] in HELD_OUT}
    for r in rows:
        for probe in r["locality"]:
            if prompt_splits.get(probe["prompt"], set()) - {r["split"]}:
                leaking += 1
                if probe["prompt"] in held_prompts and r["split"] not in HELD_OUT:
                    revealed.add(held_prompts[probe["prompt"]])
                if any((probe["prompt"], a) in held_out_insertions for a in probe["answers"]):
                    exact += 1
    held = sum(1 for r in rows if r["split"] in HELD_OUT)
    out["leaking_probes"] = leaking
    out["held_out_cases_revealed_share"] = round(len(revealed) / held, 3) if held else 0.0
    out["leaking_probes_exact_held_out_insertion"] = exact

    # 2. locality size
    counts = [len(r["locality"]) for r in rows]
    out["probes_per_case_median"] = statistics.median(counts) if counts else 0
    out["cases_with_one_probe_share"] = round(sum(c == 1 for c in counts) / len(rows), 3) if rows else 0.0
    out["cases_with_5_probes_share"] = round(sum(c >= 5 for c in counts) / len(rows), 3) if rows else 0.0
    out["probe_kinds"] = dict(Counter(p["kind"] for r in rows for p in r["locality"]))

    # 3. insertion truths
    out["insertion_rows_target_true_eq_new"] = sum(
        1 for r in rows if r["edit_kind"] == "insertion" and r["target_true"] == r["target_new"]
    )

    # 4. counterfactual targets
    true_target, wrong_type, stale = 0, 0, 0
    for r in rows:
        if r["edit_kind"] != "counterfactual":
            continue
        key = (r["subject_id"], r["relation_id"])
        truths = graph.values.get(key, set()) | had.get(key, set())
        if r["target_new"] in r["answers"] or r["target_new"] in truths:
            true_target += 1
        target_ids = graph.ids_by_label.get((r["relation_id"], r["target_new"]), set())
        truth_ids = graph.ids_by_label.get((r["relation_id"], r["target_true"] or ""), set())
        if target_ids and truth_ids and not (graph.kind_of(target_ids) & graph.kind_of(truth_ids)):
            wrong_type += 1
        subject_years = graph.years.get(r["subject_id"], {})
        subject_start = subject_years.get("P569", subject_years.get("P571"))
        for q in target_ids:
            died = graph.years.get(q, {}).get("P570")
            if died is not None and subject_start is not None and died < subject_start:
                stale += 1
                break
    out["counterfactual_true_targets"] = true_target
    out["counterfactual_wrong_type_targets"] = wrong_type
    out["counterfactual_stale_targets"] = stale

    # 5. rendering
    on_year = 0
    for r in rows:
        texts = [(p, r["target_new"]) for p in [r["prompt"], *r["rephrase_prompts"]]]
        texts += [(p["prompt"], (p["answers"] or [""])[0]) for p in r["locality"]]
        on_year += sum(1 for t, v in texts if t.endswith(" on") and YEAR_OR_MONTH.match(v or ""))
        on_year += sum(1 for t, _ in texts if _ON_YEAR_INSIDE.search(t))
        on_year += sum(1 for p in r["prefix"] if _ON_YEAR_INSIDE.search(p["text"]))
    out["on_year_renders"] = on_year
    out["reflexive_rows"] = sum(
        1
        for r in rows
        if r["subject"] in (r["target_true"], r["target_new"])
        or any(probe_subject(p["prompt"]) in p["answers"] for p in r["locality"])
    )
    missing = sum(
        missing_article(p, r["subject"]) for r in rows for p in [r["prompt"], *r["rephrase_prompts"]]
    )
    for r in rows:
        for probe in r["locality"]:
            subject = probe_subject(probe["prompt"])
            missing += bool(subject) and missing_article(probe["prompt"], subject)
    out["missing_articles"] = missing

    def junk(values: list[str]) -> bool:
        return any(junk_alias(a, a if a in graph.labels else None) for a in values)

    junk_rows = sum(1 for r in rows if junk(r["answers"]) or any(junk(p["answers"]) for p in r["locality"]))
    out["junk_alias_rows_share"] = round(junk_rows / len(rows), 3) if rows else 0.0

    # relation skew
    shares = {}
    for config in CONFIGS:
        per = Counter(r["relation_id"] for r in rows if r["property"] == config)
        total = sum(per.values())
        if total:
            relation, n = per.most_common(1)[0]
            shares[config] = {"relation": relation, "share": round(n / total, 3)}
    out["max_relation_share"] = shares
    return out


FIGURES = (
    ("leaking_probes", "locality probes repeating an edit prompt of another split"),
    ("held_out_cases_revealed_share", "share of held-out cases whose prompt is a train probe"),
    (
        "leaking_probes_exact_held_out_insertion",
        "leaking probes with the exact prompt -> answer of a held-out insertion",
    ),
    ("probes_per_case_median", "probes per case, median"),
    ("cases_with_one_probe_share", "share of cases with exactly one probe"),
    ("cases_with_5_probes_share", "share of cases with at least 5 probes"),
    ("insertion_rows_target_true_eq_new", "insertion rows with target_true == target_new"),
    (
        "counterfactual_true_targets",
        "counterfactual targets the subject has or had (with --history: all ranks, ended)",
    ),
    ("counterfactual_wrong_type_targets", "counterfactual targets of another inferred kind than the truth"),
    ("counterfactual_stale_targets", "counterfactual targets who died before the subject began"),
    ("on_year_renders", '"on <year>" renders (prompts, rephrases, probes, prefixes)'),
    ("reflexive_rows", "rows with a reflexive fact (edit or probe)"),
    ("missing_articles", "prompts with a bare label that needs 'the'"),
    ("junk_alias_rows_share", "share of rows with a junk alias among answers"),
)


def table(before: dict[str, Any], after: dict[str, Any]) -> str:
    lines = ["| figure | before | after |", "|---|---|---|"]
    for key, text in FIGURES:
        lines.append(f"| {text} | {before[key]} | {after[key]} |")
    for config in CONFIGS:
        b, a = before["max_relation_share"].get(config, {}), after["max_relation_share"].get(config, {})
        lines.append(
            f"| max relation share, {config} | {b.get('share')} ({b.get('relation')}) | {a.get('share')} ({a.get('relation')}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshots", nargs="+", type=Path, help="published snapshot folder(s)")
    parser.add_argument(
        "--history", choices=("sample", "live"), help="also read every statement (all ranks) from this source"
    )
    parser.add_argument(
        "--table", action="store_true", help="with two snapshots: a Markdown before/after table"
    )
    args = parser.parse_args(argv)
    for path in args.snapshots:
        if not (path / "facts.parquet").is_file():
            print(f"{path}: not a published snapshot (no facts.parquet)", file=sys.stderr)
            return 2
    results = [audit(p, args.history) for p in args.snapshots]
    if args.table and len(results) == 2:
        print(table(*results))
    else:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
