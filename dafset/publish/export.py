"""Exporters: a published snapshot -> the JSON that DAFNet's reference loader and EasyEdit read.

Read with pyarrow straight from the shards (offline, no datasets cache copy). Fields follow
research/dafnet.md §1.3 (DAFNet ``utils/data.py``) and EasyEdit's KnowEdit loader and
``BaseEditor.edit`` (research/anchors-*.md).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from dafset.errors import DafsetError
from dafset.publish.layout import MANIFEST, resolve_snapshot, shard_files
from dafset.schema import PROPERTIES, SAMPLE_SCHEMA

# EasyEdit's own stand-in when no ground truth is given (BaseEditor.edit)
EASYEDIT_NO_GROUND_TRUTH = "<|endoftext|>"
# our locality kinds -> EasyEdit/KnowEdit locality keys. same_subject probes other relations of the
# edited subject (RippleEdits' Relation_Specificity); same_relation probes other subjects of the
# edited relation (CounterFact's neighborhood).
EASYEDIT_LOCALITY_KEYS = {"same_subject": "Relation_Specificity", "same_relation": "neighborhood"}


@dataclass
class ExportReport:
    """What an export wrote: files per property, rows written, rows skipped by reason."""

    split: str
    files: dict[str, Path] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = []
        for prop, n in self.written.items():
            skipped = self.skipped.get(prop) or {}
            why = ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items()))
            parts.append(f"{prop} {n}" + (f" (skipped {why})" if why else ""))
        where = next(iter(self.files.values())).parent if self.files else "?"
        return f"{self.split} split -> {where}: " + "; ".join(parts)


def snapshot_splits(snapshot_dir: Path) -> list[str]:
    """Split names of a snapshot, from its manifest (falls back to the shard names)."""
    path = snapshot_dir / MANIFEST
    if path.is_file():
        counts = orjson.loads(path.read_bytes()).get("counts", {})
        names = {s for per in counts.values() for s in per}
        if names:
            return sorted(names)
    from dafset.publish.layout import parse_shard

    return sorted({parse_shard(p) or "" for c in PROPERTIES for p in shard_files(snapshot_dir, c)} - {""})


def read_split(snapshot_dir: str | Path, config: str, split: str) -> pa.Table:
    """One property's rows of one split (an empty SAMPLE_SCHEMA table when it has none)."""
    snap = resolve_snapshot(snapshot_dir)
    files = shard_files(snap, config, split)
    if not files:
        return SAMPLE_SCHEMA.empty_table()
    return pa.concat_tables(pq.read_table(f, schema=SAMPLE_SCHEMA) for f in files)


def _check_split(snap: Path, split: str) -> None:
    have = snapshot_splits(snap)
    if split not in have:
        raise DafsetError(f"split {split!r} not in snapshot {snap} (has: {', '.join(have)})")


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(tmp, path)  # a reader never sees half a file


def _export(
    snapshot_dir: str | Path,
    out_dir: str | Path,
    split: str,
    write: Callable[[Path, str, list[dict[str, Any]], ExportReport], None],
) -> ExportReport:
    snap = resolve_snapshot(snapshot_dir)
    _check_split(snap, split)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = ExportReport(split=split)
    for prop in PROPERTIES:
        write(out, prop, read_split(snap, prop, split).to_pylist(), report)
    return report


# -- DAFNet ------------------------------------------------------------------------------------


def dafnet_record(row: Mapping[str, Any]) -> dict[str, Any] | str:
    """One DAFNet record, or the reason the row cannot be one (DAFNet reads every key
    unconditionally, so a missing rephrase/locality/prefix would crash its loader)."""
    if not row["rephrase_prompts"]:
        return "no rephrase"
    if not row["locality"]:
        return "no locality"
    loc = row["locality"][0]
    rec: dict[str, Any] = {
        "prompt": row["prompt"],
        "target_new": row["target_new"],
        "subject": row["subject"],
        "rephrase_prompt": row["rephrase_prompts"][0],
        "locality_prompt": loc["prompt"],
        "locality_ground_truth": loc["answers"][0],
    }
    if row["property"] == "robust":
        prefixes = [p["text"] for p in row["prefix"] if p["text"]]
        if not prefixes:
            return "no prefix"  # DAFNet draws random.choice(prefix) for robust samples
        rec["prefix"] = prefixes
    return rec


def _write_dafnet(out: Path, prop: str, rows: list[dict[str, Any]], report: ExportReport) -> None:
    records, skipped = [], Counter()
    for row in rows:
        rec = dafnet_record(row)
        if isinstance(rec, str):
            skipped[rec] += 1
        else:
            records.append(rec)
    path = out / f"{prop}.json"
    _write_json(path, records)
    report.files[prop] = path
    report.written[prop] = len(records)
    report.skipped[prop] = dict(skipped)


def export_dafnet(snapshot_dir: str | Path, out_dir: str | Path, split: str = "train") -> ExportReport:
    """Write recent.json, popular.json, long_tail.json and robust.json for DAFNet's reference
    loader: prompt, target_new, subject, rephrase_prompt (first rephrase), locality_prompt and
    locality_ground_truth (first locality case), and for robust ``prefix`` (list of str).
    Rows lacking a field DAFNet needs are skipped and counted in the report."""
    return _export(snapshot_dir, out_dir, split, _write_dafnet)


# -- EasyEdit ----------------------------------------------------------------------------------


def knowedit_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A KnowEdit-style record (EasyEdit's KnowEditDataset reads subject, prompt, target_new,
    ground_truth, portability{...}, locality{Relation_Specificity, ...} with items
    {prompt, ground_truth}). Extra keys (id, rephrase_prompts, prefix) are ignored by it."""
    locality: dict[str, list[dict[str, str]]] = {}
    for case in row["locality"]:
        key = EASYEDIT_LOCALITY_KEYS.get(case["kind"], case["kind"] or "locality")
        locality.setdefault(key, []).append({"prompt": case["prompt"], "ground_truth": case["answers"][0]})
    rec: dict[str, Any] = {
        "id": row["id"],
        "subject": row["subject"],
        "prompt": row["prompt"],
        "target_new": row["target_new"],
        "ground_truth": row["target_true"],
        "rephrase_prompts": list(row["rephrase_prompts"]),
        "portability": {},
        "locality": locality,
    }
    if row["rephrase_prompts"]:
        rec["rephrase"] = row["rephrase_prompts"][0]
    if row["prefix"]:
        rec["prefix"] = [p["text"] for p in row["prefix"]]
    return rec


def edit_inputs(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Keyword arguments for ``BaseEditor.edit(**inputs)``: parallel lists, one entry per edit.
    A missing rephrase or locality case is None, which EasyEdit skips for that request."""
    kinds = sorted({c["kind"] for r in rows for c in r["locality"]})
    locality_inputs: dict[str, dict[str, list[str | None]]] = {}
    for kind in kinds:
        key = EASYEDIT_LOCALITY_KEYS.get(kind, kind or "locality")
        prompts: list[str | None] = []
        answers: list[str | None] = []
        for r in rows:
            case = next((c for c in r["locality"] if c["kind"] == kind), None)
            prompts.append(case["prompt"] if case else None)
            answers.append(case["answers"][0] if case else None)
        locality_inputs[key] = {"prompt": prompts, "ground_truth": answers}
    inputs: dict[str, Any] = {
        "prompts": [r["prompt"] for r in rows],
        "target_new": [r["target_new"] for r in rows],
        "ground_truth": [r["target_true"] or EASYEDIT_NO_GROUND_TRUTH for r in rows],
        "subject": [r["subject"] for r in rows],
        "rephrase_prompts": [r["rephrase_prompts"][0] if r["rephrase_prompts"] else None for r in rows],
        "locality_inputs": locality_inputs,
    }
    return inputs


def _write_easyedit(out: Path, prop: str, rows: list[dict[str, Any]], report: ExportReport) -> None:
    path = out / f"{prop}.json"
    _write_json(path, [knowedit_record(r) for r in rows])
    _write_json(out / f"{prop}_edit_inputs.json", edit_inputs(rows))
    report.files[prop] = path
    report.written[prop] = len(rows)
    report.skipped[prop] = {}


def export_easyedit(snapshot_dir: str | Path, out_dir: str | Path, split: str = "test") -> ExportReport:
    """Write, per property, ``<property>.json`` (KnowEdit records, for EasyEdit's KnowEditDataset)
    and ``<property>_edit_inputs.json`` (``BaseEditor.edit(**json.load(f))`` keyword arguments:
    prompts, target_new, ground_truth, subject, rephrase_prompts, locality_inputs)."""
    return _export(snapshot_dir, out_dir, split, _write_easyedit)
