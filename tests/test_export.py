"""Exporters write the fields DAFNet's reference loader and EasyEdit read."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from dafset.errors import DafsetError
from dafset.publish.export import (
    EASYEDIT_NO_GROUND_TRUTH,
    export_dafnet,
    export_easyedit,
    read_split,
)
from dafset.publish.split import split_table
from dafset.publish.synthetic import synthetic_samples
from dafset.publish.writer import publish_snapshot
from dafset.schema import PROPERTIES

DAFNET_KEYS = {
    "prompt",
    "target_new",
    "subject",
    "rephrase_prompt",
    "locality_prompt",
    "locality_ground_truth",
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    publish_snapshot(
        root, "2026-07-14", split_table(synthetic_samples(60)), {"source": "synthetic"}, figures=False
    )
    return root


def _rows(root: Path, prop: str, split: str) -> list[dict]:
    return read_split(root, prop, split).to_pylist()


def test_dafnet_fields(root: Path, tmp_path: Path) -> None:
    report = export_dafnet(root, tmp_path, split="train")  # root: goes through latest
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{p}.json" for p in PROPERTIES)
    for prop in PROPERTIES:
        records = json.loads((tmp_path / f"{prop}.json").read_text())
        rows = _rows(root, prop, "train")
        assert len(records) == report.written[prop]
        assert report.written[prop] + sum(report.skipped[prop].values()) == len(rows)
        want = DAFNET_KEYS | ({"prefix"} if prop == "robust" else set())
        assert all(set(r) == want for r in records)
        assert all(isinstance(r[k], str) and r[k] for r in records for k in DAFNET_KEYS)
        usable = [
            r for r in rows if r["rephrase_prompts"] and r["locality"] and (prop != "robust" or r["prefix"])
        ]
        assert [r["prompt"] for r in records] == [r["prompt"] for r in usable]
        for rec, row in zip(records, usable, strict=True):
            assert rec["rephrase_prompt"] == row["rephrase_prompts"][0]
            assert rec["locality_prompt"] == row["locality"][0]["prompt"]
            assert rec["locality_ground_truth"] == row["locality"][0]["answers"][0]
            if prop == "robust":
                assert rec["prefix"] == [p["text"] for p in row["prefix"]]
                assert all(isinstance(p, str) for p in rec["prefix"])
    # the synthetic table has rows without rephrases/locality/prefix: they were skipped, counted;
    # and every file got records, so the field checks above were not vacuous
    assert all(report.written[p] > 0 for p in PROPERTIES)
    assert report.skipped["robust"].get("no prefix", 0) > 0
    assert sum(report.skipped["long_tail"].values()) > 0
    assert "train split" in str(report)


def test_easyedit_knowedit_records_and_edit_inputs(root: Path, tmp_path: Path) -> None:
    snap = root / "latest"
    report = export_easyedit(snap, tmp_path, split="train")
    for prop in PROPERTIES:
        rows = _rows(root, prop, "train")
        records = json.loads((tmp_path / f"{prop}.json").read_text())
        inputs = json.loads((tmp_path / f"{prop}_edit_inputs.json").read_text())
        assert report.written[prop] == len(records) == len(rows)
        for rec, row in zip(records, rows, strict=True):
            assert {"subject", "prompt", "target_new", "ground_truth", "locality", "portability"} <= set(rec)
            assert rec["ground_truth"] == row["target_true"]
            assert ("rephrase" in rec) == bool(row["rephrase_prompts"])
            same_subject = [c for c in row["locality"] if c["kind"] == "same_subject"]
            assert rec["locality"].get("Relation_Specificity", []) == [
                {"prompt": c["prompt"], "ground_truth": c["answers"][0]} for c in same_subject
            ]
        n = len(rows)
        assert {
            "prompts",
            "target_new",
            "ground_truth",
            "subject",
            "rephrase_prompts",
            "locality_inputs",
        } == set(inputs)
        assert all(
            len(inputs[k]) == n
            for k in ("prompts", "target_new", "ground_truth", "subject", "rephrase_prompts")
        )
        for key, block in inputs["locality_inputs"].items():
            assert key in {"Relation_Specificity", "neighborhood"}
            assert len(block["prompt"]) == len(block["ground_truth"]) == n
        assert inputs["ground_truth"] == [r["target_true"] or EASYEDIT_NO_GROUND_TRUTH for r in rows]
    popular = json.loads((tmp_path / "popular_edit_inputs.json").read_text())
    assert EASYEDIT_NO_GROUND_TRUTH not in popular["ground_truth"]  # counterfactuals know the truth
    recent = json.loads((tmp_path / "recent_edit_inputs.json").read_text())
    nb = recent["locality_inputs"]["neighborhood"]["prompt"]
    assert None in nb and any(p for p in nb)  # missing cases are None, present ones kept


def test_unknown_split_is_a_clear_error(root: Path, tmp_path: Path) -> None:
    with pytest.raises(DafsetError, match="split 'dev' not in snapshot"):
        export_dafnet(root, tmp_path, split="dev")


def test_missing_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DafsetError, match="no DAFSet snapshot"):
        export_easyedit(tmp_path, tmp_path / "out")


def test_read_split_of_an_empty_config_is_typed(tmp_path: Path) -> None:
    table = synthetic_samples(12)
    only_recent = table.filter(pa.compute.equal(table.column("property"), "recent"))
    snap = publish_snapshot(tmp_path, "s", {"train": only_recent}, {}, figures=False)
    empty = read_split(snap, "robust", "train")
    assert empty.num_rows == 0 and empty.schema.names == table.schema.names
    report = export_dafnet(snap, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "robust.json").read_text()) == []
    assert report.written["robust"] == 0
