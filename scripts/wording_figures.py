"""Issue 18 items 4, 5, 6 and 8 measured on a published snapshot: aliases, tense, articles and
spacing, and how much the era and kind checks of counterfactual targets could see.

    python scripts/wording_figures.py SNAPSHOT_DIR

Reads every Parquet row under SNAPSHOT_DIR/data and SNAPSHOT_DIR/facts.parquet; the same checks
run on a build of any version (columns a version lacks count as absent).
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from dafset.build.wording import needs_article

CODE = re.compile(r"^[a-z]{1,3}$")
SLURS = {"jap", "japs", "nip", "chink", "kraut", "wop", "gook", "paki"}
PRESENT = re.compile(r"\b(is|are|holds|has|works|speaks|plays|belongs|records|lies|serves)\b")
DEATH_EVIDENCE = {"P570", "P576", "P20", "P509"}


def rows(snapshot: Path) -> list[dict]:
    out = []
    for path in sorted((snapshot / "data").rglob("*.parquet")):
        out.extend(pq.read_table(path).to_pylist())
    return out


def rendered(row: dict) -> list[str]:
    """Every rendered string of a row (prompts, rephrases, question, probes, length prefixes)."""
    texts = [row["prompt"], *row["rephrase_prompts"], row.get("question") or ""]
    texts += [p["prompt"] for p in row["locality"]] + [p["prompt"] for p in row.get("portability") or []]
    texts += [p["text"] for p in row["prefix"] if p["kind"] == "length"]
    return [t for t in texts if t]


def answer_lists(row: dict) -> list[list[str]]:
    lists = [row["answers"]] + [p["answers"] for p in row["locality"]]
    return lists + [p["answers"] for p in row.get("portability") or []]


def main(snapshot: Path) -> None:
    data = rows(snapshot)
    facts = pq.read_table(snapshot / "facts.parquet").to_pylist()
    owners: dict[str, set[str]] = defaultdict(set)  # casefolded name -> entity ids
    aliases: dict[str, list[str]] = defaultdict(list)
    ended: set[str] = set()
    dated: set[str] = set()
    classed: set[str] = set()
    for f in facts:
        for side in ("subject", "object"):
            qid = f.get(f"{side}_id")
            if not qid:
                continue
            for name in [f.get(f"{side}_label") or "", *(f.get(f"{side}_aliases") or [])]:
                owners[name.casefold()].add(qid)
            if side == "subject":
                aliases[qid] = list(f.get("subject_aliases") or [])
            if f.get(f"{side}_began") or f.get(f"{side}_ended"):
                dated.add(qid)
            if f.get(f"{side}_ended"):
                ended.add(qid)
            if f.get(f"{side}_classes"):
                classed.add(qid)
        if f["relation_id"] in DEATH_EVIDENCE:
            ended.add(f["subject_id"])
        if f["relation_id"] in ("P569", "P570", "P571"):
            dated.add(f["subject_id"])
    article_labels = sorted(
        {n for f in facts for n in [f.get("subject_label"), f.get("object_label")] if n and needs_article(n)},
        key=len,
        reverse=True,
    )
    bare = (
        re.compile(
            r"(?<![\w'’])([Tt]he\s+)?(" + "|".join(map(re.escape, article_labels)) + r")(?!\w)"
        )  # case-sensitive: "government of India" is no mention of "Government of India"
        if article_labels
        else None
    )

    strings = [t for r in data for t in rendered(r)]
    figures = {
        "rows": len(data),
        "rendered_strings": len(strings),
        "double_spaces": sum("  " in t for t in strings),
        "edge_spaces": sum(t != t.strip() for t in strings),
        "missing_article": sum(
            1 for t in strings if bare and any(m.group(1) is None for m in bare.finditer(t))
        ),
        "questions_missing_article": sum(
            1
            for r in data
            if bare and r.get("question") and any(m.group(1) is None for m in bare.finditer(r["question"]))
        ),
        "answer_lists_with_lowercase_code": sum(
            1
            for r in data
            for a in answer_lists(r)
            if any(CODE.match(x) for x in a) and any(len(x) > 3 for x in a)
        ),
        "answer_lists_with_slur": sum(
            1 for r in data for a in answer_lists(r) if any(x.casefold() in SLURS for x in a)
        ),
        "ambiguous_aliasing_probes": 0,
        "rows_about_ended_subjects": sum(1 for r in data if r["subject_id"] in ended),
        "ended_subject_rows_present_tense_prompt": sum(
            1 for r in data if r["subject_id"] in ended and PRESENT.search(r["prompt"])
        ),
        "ended_subject_present_tense_strings": sum(
            1
            for r in data
            if r["subject_id"] in ended
            for t in [r["prompt"], *r["rephrase_prompts"], r.get("question") or ""]
            if PRESENT.search(t)
        ),
    }
    for r in data:
        for p in r.get("portability") or []:
            if p["kind"] != "subject_aliasing":
                continue
            used = [a for a in aliases.get(r["subject_id"], []) if a in p["prompt"]]
            if any(owners.get(a.casefold(), set()) - {r["subject_id"]} for a in used):
                figures["ambiguous_aliasing_probes"] += 1
    entities = {f["subject_id"] for f in facts} | {f["object_id"] for f in facts if f.get("object_id")}
    figures["facts_entities"] = len(entities)
    figures["facts_entities_with_date"] = len(dated & entities)
    figures["facts_entities_with_class"] = len(classed & entities)
    targets = [r for r in data if r["edit_kind"] == "counterfactual" and r["property"] != "robust"]
    label_ids = defaultdict(set)
    for f in facts:
        if f.get("object_id"):
            label_ids[(f["relation_id"], f["object_label"])].add(f["object_id"])
    tids = [next(iter(label_ids.get((r["relation_id"], r["target_new"]), {None}))) for r in targets]
    figures["counterfactual_targets"] = len(targets)
    figures["targets_with_date"] = sum(1 for t in tids if t in dated)
    figures["targets_with_class"] = sum(1 for t in tids if t in classed)
    for name, value in figures.items():
        print(f"{name:45s} {value}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
