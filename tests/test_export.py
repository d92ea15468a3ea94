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
    "ground_truth",
    "subject",
    "rephrase_prompt",
    "locality_prompt",
    "locality_ground_truth",
}
KNOWEDIT_LOCALITY = ("Relation_Specificity", "Forgetfulness")
KNOWEDIT_PORTABILITY = {
    "subject_aliasing": "Subject_Aliasing",
    "compositional": "Reasoning",
    "logical": "Logical_Generalization",
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


# -- what the readers do with a record (their field accesses, written out here; see docs/export.md)


def dafnet_train_view(rec: dict, robust: bool) -> tuple[str, str, str]:
    # (edit text, generality prompt, locality prompt)
    """DAFNet's meta-training reader: prefix + rephrase and prefix + locality prompt for robust."""
    prefix = ""
    if robust:
        prefix = " ".join(rec["prefix"][0].split(" ")[:30])
        prefix = prefix + ". " if prefix[-1] != "." else prefix + " "
    return rec["prompt"] + rec["target_new"], prefix + rec["rephrase_prompt"], prefix + rec["locality_prompt"]


def dafnet_counterfact_eval_view(rec: dict) -> dict:
    """DAFNet's CounterFact evaluation reader (the one that failed with KeyError: 'ground_truth')."""
    return {
        "request": {k: rec[k] for k in ("prompt", "target_new", "subject", "ground_truth")},
        "generality": [{"prompt": rec["rephrase_prompt"], "target": rec["target_new"]}],
        "locality": [{"prompt": rec["locality_prompt"], "target": rec["locality_ground_truth"]}],
    }


def knowedit_view(rec: dict) -> dict:
    """KnowEditDataset.__init__: locality must be a dict; keys it does not know are never read."""
    port = rec.get("portability", {})
    return {
        "subject": rec["subject"],
        "prompt": rec["prompt"],
        "target_new": rec["target_new"],
        "ground_truth": rec.get("ground_truth"),
        "portability_r": port.get("Reasoning"),
        "portability_s": port.get("Subject_Aliasing"),
        "portability_l": port.get("Logical_Generalization"),
        "locality_rs": rec["locality"].get("Relation_Specificity"),
        "locality_f": rec["locality"].get("Forgetfulness"),
    }


def knowedit_collate_view(view: dict) -> tuple[str, str]:
    """The MEND/SERAC collate (collate_fn and collate_gpt_fn): first locality item of the record,
    its ground_truth indexed as a list."""
    loc = view["locality_rs"] if view["locality_rs"] is not None else view["locality_f"]
    answer = loc[0]["ground_truth"][0]  # a plain string here would give its first character
    assert isinstance(answer, str)
    return loc[0]["prompt"], answer


def knowedit_example_answers(items: list[dict]) -> list[str]:
    """The KnowEdit example's unwrapping: ``while isinstance(an, list): an = an[0]``."""
    out = []
    for item in items:
        an = item["ground_truth"]
        while isinstance(an, list):
            an = an[0]
        out.append(an)
    return out


def counterfact_collate_view(rec: dict) -> list[str]:
    """CounterFactDataset's collate: string fields, formatted and concatenated."""
    cond = "{} >> {} || {}".format(rec["ground_truth"], rec["target_new"], rec["prompt"])
    return [cond, rec["rephrase_prompt"], rec["locality_prompt"], " " + rec["locality_ground_truth"]]


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
            assert rec["ground_truth"] == (row["target_true"] or EASYEDIT_NO_GROUND_TRUTH)
            _, rephrase, _ = dafnet_train_view(rec, robust=prop == "robust")
            assert dafnet_counterfact_eval_view(rec)["request"]["ground_truth"]
            if prop == "robust":
                assert rec["prefix"] == [p["text"] for p in row["prefix"]]
                assert all(isinstance(p, str) for p in rec["prefix"])
                assert rec["prefix"][0] not in rec["rephrase_prompt"]  # the trainer adds it once
                assert rephrase.endswith(rec["rephrase_prompt"])
    # the synthetic table has rows without rephrases/locality/prefix: they were skipped, counted;
    # and every file got records, so the field checks above were not vacuous
    assert all(report.written[p] > 0 for p in PROPERTIES)
    assert report.skipped["robust"].get("no prefix", 0) > 0
    assert sum(report.skipped["long_tail"].values()) > 0
    assert "train split" in str(report)


def test_easyedit_records_feed_knowedit_and_counterfact_readers(root: Path, tmp_path: Path) -> None:
    snap = root / "latest"
    report = export_easyedit(snap, tmp_path, split="train")
    seen_keys: set[str] = set()
    for prop in PROPERTIES:
        rows = _rows(root, prop, "train")
        records = json.loads((tmp_path / f"{prop}.json").read_text())
        assert report.written[prop] == len(records)
        assert report.written[prop] + sum(report.skipped[prop].values()) == len(rows)
        usable = [r for r in rows if r["locality"] and r["rephrase_prompts"]]
        assert [r["id"] for r in records] == [r["id"] for r in usable]
        for rec, row in zip(records, usable, strict=True):
            view = knowedit_view(rec)
            # every record has locality under a key KnowEditDataset reads, answers as lists
            assert view["locality_rs"] == [
                {"prompt": c["prompt"], "ground_truth": c["answers"], "kind": c["kind"]}
                for c in row["locality"]
            ]
            prompt, answer = knowedit_collate_view(view)
            assert prompt == row["locality"][0]["prompt"] and answer == row["locality"][0]["answers"][0]
            for kind, key in KNOWEDIT_PORTABILITY.items():
                probes = [p for p in row["portability"] if p["kind"] == kind]
                got = rec["portability"].get(key, [])
                assert [g["ground_truth"] for g in got] == [p["answers"] for p in probes]
                assert knowedit_example_answers(got) == [p["answers"][0] for p in probes]
                seen_keys.update([key] if got else [])
            preserved = [p for p in row["portability"] if p["kind"] == "preservation"]
            assert [f["prompt"] for f in view["locality_f"] or []] == [p["prompt"] for p in preserved]
            seen_keys.update(["Forgetfulness"] if preserved else [])
            flat = counterfact_collate_view(rec)
            assert flat[0].startswith(row["target_true"] or EASYEDIT_NO_GROUND_TRUTH)
            assert rec["rephrase_prompt"] == row["rephrase_prompts"][0]
            assert rec["question"] == row["question"] and rec["base_id"] == row["base_id"]
        inputs = json.loads((tmp_path / f"{prop}_edit_inputs.json").read_text())
        _check_edit_inputs(inputs, records)
    # every KnowEdit key was exercised by some record
    assert seen_keys == {*KNOWEDIT_PORTABILITY.values(), "Forgetfulness"}
    assert sum(report.skipped["long_tail"].values()) > 0  # rows without locality/rephrase: counted


def _check_edit_inputs(inputs: dict, records: list[dict]) -> None:
    """What BaseEditor.edit's request building asserts: every list as long as the prompts, one
    locality/portability input per edit, the subject inside its prompt."""
    n = len(records)
    assert set(inputs) == {
        "prompts",
        "target_new",
        "ground_truth",
        "subject",
        "rephrase_prompts",
        "locality_inputs",
        "portability_inputs",
    }
    assert all(
        len(inputs[k]) == n for k in ("prompts", "target_new", "ground_truth", "subject", "rephrase_prompts")
    )
    assert all(s in p for s, p in zip(inputs["subject"], inputs["prompts"], strict=True))
    assert set(inputs["locality_inputs"]) <= set(KNOWEDIT_LOCALITY)
    assert set(inputs["portability_inputs"]) <= set(KNOWEDIT_PORTABILITY.values())
    if n:
        assert "Relation_Specificity" in inputs["locality_inputs"]
        assert None not in inputs["locality_inputs"]["Relation_Specificity"]["prompt"]
    for part in ("locality_inputs", "portability_inputs"):
        for block in inputs[part].values():
            assert len(block["prompt"]) == len(block["ground_truth"]) == n
            for prompts, answers in zip(block["prompt"], block["ground_truth"], strict=True):
                assert (prompts is None) == (answers is None)
                assert prompts is None or (
                    len(prompts) == len(answers) and all(isinstance(a, str) for a in answers)
                )


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
