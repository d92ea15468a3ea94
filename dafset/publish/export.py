"""Exporters: a published snapshot -> the JSON that DAFNet's reference loader and EasyEdit read.

Read with pyarrow straight from the shards (offline, no datasets cache copy). Fields follow DAFNet's
``utils/data.py`` (training and CounterFact evaluation readers) and EasyEdit's ``KnowEditDataset``,
``CounterFactDataset`` and ``BaseEditor.edit`` request building; docs/export.md lists them.
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

from dafset.errors import DafsetError, SchemaError
from dafset.publish.layout import MANIFEST, resolve_snapshot, shard_files
from dafset.publish.manifest import verified_snapshot
from dafset.schema import PROPERTIES, SAMPLE_SCHEMA, check_file_schema

# EasyEdit's own stand-in when no ground truth is given (BaseEditor.edit)
EASYEDIT_NO_GROUND_TRUTH = "<|endoftext|>"
# KnowEditDataset reads locality only under these two keys and portability only under the three
# below. Every locality probe (any kind: its ``kind`` rides along in the item) is a fact the edit
# must not change: Relation_Specificity. Preservation probes (the other values of a multi-valued
# relation still hold) are KnowEdit's Forgetfulness.
EASYEDIT_LOCALITY = "Relation_Specificity"
EASYEDIT_FORGETFULNESS = "Forgetfulness"
EASYEDIT_PORTABILITY_KEYS = {
    "subject_aliasing": "Subject_Aliasing",
    "compositional": "Reasoning",
    "logical": "Logical_Generalization",
}


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
    return pa.concat_tables(_read_shard(f) for f in files)


def _read_shard(path: Path) -> pa.Table:
    try:
        check_file_schema(pq.read_schema(path), SAMPLE_SCHEMA, where=str(path))
        return pq.read_table(path, schema=SAMPLE_SCHEMA)
    except (pa.ArrowException, ValueError) as exc:
        message = " ".join(str(exc).split())[:300]
        raise SchemaError(f"{path}: not a DAFSet sample table ({message})") from None


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
    snap = verified_snapshot(snapshot_dir)
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
        # DAFNet's CounterFact evaluation reader reads ground_truth (KeyError without it)
        "ground_truth": _ground_truth(row),
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


def _write_records(
    out: Path, prop: str, rows: list[dict[str, Any]], make: Callable[[Any], dict[str, Any] | str], report: ExportReport
) -> list[dict[str, Any]]:
    """``<prop>.json`` of the rows ``make`` turns into records; a row it answers with a reason
    (a string) is skipped and counted under that reason."""
    records, skipped = [], Counter()
    for row in rows:
        rec = make(row)
        if isinstance(rec, str):
            skipped[rec] += 1
        else:
            records.append(rec)
    path = out / f"{prop}.json"
    _write_json(path, records)
    report.files[prop] = path
    report.written[prop] = len(records)
    report.skipped[prop] = dict(skipped)
    return records


def _write_dafnet(out: Path, prop: str, rows: list[dict[str, Any]], report: ExportReport) -> None:
    _write_records(out, prop, rows, dafnet_record, report)


def export_dafnet(snapshot_dir: str | Path, out_dir: str | Path, split: str = "train") -> ExportReport:
    """Write recent.json, popular.json, long_tail.json and robust.json for DAFNet's reference
    loader: prompt, target_new, ground_truth, subject, rephrase_prompt (first rephrase),
    locality_prompt and locality_ground_truth (first locality probe, its first answer), and for
    robust ``prefix`` (list of str). Rows lacking a field DAFNet needs are skipped and counted.
    The reference loader also opens ``zsre_train.json`` beside these files (``[]`` will do)."""
    return _export(snapshot_dir, out_dir, split, _write_dafnet)


# -- EasyEdit ----------------------------------------------------------------------------------


def _ground_truth(row: Mapping[str, Any]) -> str:
    # EasyEdit formats ground_truth into strings: an insertion with no previous value gets the
    # stand-in EasyEdit itself uses when none is given
    return row["target_true"] or EASYEDIT_NO_GROUND_TRUTH


def _items(probes: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"prompt": p["prompt"], "ground_truth": list(p["answers"]), "kind": p["kind"]}
        for p in probes
        if p["answers"]
    ]


def knowedit_record(row: Mapping[str, Any]) -> dict[str, Any] | str:
    """A KnowEdit record, or the reason the row cannot be one.

    KnowEditDataset reads subject, prompt, target_new, ground_truth, ``locality`` under
    Relation_Specificity / Forgetfulness and ``portability`` under Subject_Aliasing / Reasoning /
    Logical_Generalization, items ``{prompt, ground_truth: [answers]}``; its MEND/SERAC collate
    takes the first locality item of every record, so a row without locality cannot be one.
    The flat fields CounterFactDataset reads (ground_truth, rephrase_prompt, locality_prompt,
    locality_ground_truth as strings) ride along; other keys are ignored by both loaders."""
    locality = {EASYEDIT_LOCALITY: _items(row["locality"])}
    preserved = _items([p for p in row["portability"] if p["kind"] == "preservation"])
    if preserved:
        locality[EASYEDIT_FORGETFULNESS] = preserved
    if not locality[EASYEDIT_LOCALITY]:
        return "no locality"
    if not row["rephrase_prompts"]:
        return "no rephrase"  # CounterFactDataset's collate reads rephrase_prompt unconditionally
    portability: dict[str, list[dict[str, Any]]] = {}
    for kind, key in EASYEDIT_PORTABILITY_KEYS.items():
        items = _items([p for p in row["portability"] if p["kind"] == kind])
        if items:
            portability[key] = items
    first = locality[EASYEDIT_LOCALITY][0]
    rec: dict[str, Any] = {
        "id": row["id"],
        "subject": row["subject"],
        "prompt": row["prompt"],
        "target_new": row["target_new"],
        "ground_truth": _ground_truth(row),
        "portability": portability,
        "locality": locality,
        "rephrase_prompt": row["rephrase_prompts"][0],
        "locality_prompt": first["prompt"],
        "locality_ground_truth": first["ground_truth"][0],
        "rephrase_prompts": list(row["rephrase_prompts"]),
        "question": row["question"],
        "base_id": row["base_id"],
    }
    if row["prefix"]:
        rec["prefix"] = [p["text"] for p in row["prefix"]]
    return rec


def _inputs_block(records: list[dict[str, Any]], part: str, key: str) -> dict[str, list[Any]] | None:
    """One locality/portability key as ``BaseEditor.edit`` takes it: per edit, the list of probe
    prompts and their first answers (as the KnowEdit example builds them), or None."""
    prompts: list[list[str] | None] = []
    answers: list[list[str] | None] = []
    for rec in records:
        items = rec[part].get(key)
        prompts.append([i["prompt"] for i in items] if items else None)
        answers.append([i["ground_truth"][0] for i in items] if items else None)
    if all(p is None for p in prompts):
        return None
    return {"prompt": prompts, "ground_truth": answers}


def edit_inputs(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Keyword arguments for ``BaseEditor.edit(**inputs)`` from KnowEdit records: parallel lists,
    one entry per edit; a request without probes of a key gets None, which EasyEdit skips."""
    locality = {
        key: block
        for key in (EASYEDIT_LOCALITY, EASYEDIT_FORGETFULNESS)
        if (block := _inputs_block(records, "locality", key)) is not None
    }
    portability = {
        key: block
        for key in EASYEDIT_PORTABILITY_KEYS.values()
        if (block := _inputs_block(records, "portability", key)) is not None
    }
    return {
        "prompts": [r["prompt"] for r in records],
        "target_new": [r["target_new"] for r in records],
        "ground_truth": [r["ground_truth"] for r in records],
        "subject": [r["subject"] for r in records],
        "rephrase_prompts": [r["rephrase_prompt"] for r in records],
        "locality_inputs": locality,
        "portability_inputs": portability,
    }


def _write_easyedit(out: Path, prop: str, rows: list[dict[str, Any]], report: ExportReport) -> None:
    records = _write_records(out, prop, rows, knowedit_record, report)
    _write_json(out / f"{prop}_edit_inputs.json", edit_inputs(records))


def export_easyedit(snapshot_dir: str | Path, out_dir: str | Path, split: str = "test") -> ExportReport:
    """Write, per property, ``<property>.json`` (KnowEdit records that EasyEdit's KnowEditDataset
    and CounterFactDataset both read) and ``<property>_edit_inputs.json``
    (``BaseEditor.edit(**json.load(f))`` keyword arguments: prompts, target_new, ground_truth,
    subject, rephrase_prompts, locality_inputs, portability_inputs). Rows without a locality probe
    or a rephrase are skipped and counted (both loaders' collate functions need them)."""
    return _export(snapshot_dir, out_dir, split, _write_easyedit)
