"""The main job end to end: `dafset build --source sample` and what it publishes."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dafset.build.rules import broken_rule
from dafset.cli import app
from dafset.config import SAMPLE_SNAPSHOT
from dafset.publish.split import assign_split, find_leaks
from dafset.relations import load_relations
from dafset.schema import CRITERIA, LOCALITY_KINDS, PROPERTIES, SAMPLE_SCHEMA
from dafset.settings import get_settings

SPLITS = ("train", "validation", "test")


def run_build(out: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["build", "--source", "sample", "--out", str(out), "--no-figures", *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dafset")
    run_build(out)
    return out / "latest"


def load_all(path: Path, config: str = "all") -> datasets.DatasetDict:
    return datasets.load_dataset(str(path), config)


def test_load_dataset_offline_with_declared_features(built: Path) -> None:
    declared = datasets.Features.from_arrow_schema(SAMPLE_SCHEMA)
    everything = datasets.load_dataset(str(built))  # the default config is `all`
    recent = datasets.load_dataset(str(built), "recent")
    assert set(everything) == set(SPLITS)
    for ds in (everything, recent):
        for split in ds.values():
            assert split.features == declared
    assert set(recent["train"]["property"]) == {"recent"}
    total = sum(len(s) for s in everything.values())
    per_config = sum(sum(len(s) for s in load_all(built, p).values()) for p in PROPERTIES)
    assert total == per_config


def test_every_config_and_criterion_present(built: Path) -> None:
    rows = {p: [r for s in load_all(built, p).values() for r in s] for p in PROPERTIES}
    for prop in PROPERTIES:
        assert rows[prop], f"config {prop} is empty"
    assert {r["criterion"] for r in rows["long_tail"]} == {"frequency", "degree"}
    assert {r["criterion"] for r in rows["robust"]} == {"length"}
    manifest = json.loads((built / "manifest.json").read_text())
    assert set(manifest["skipped_criteria"]) == {"long_tail/likelihood", "robust/context", "robust/sentiment"}
    for criterion in ("frequency", "degree"):
        ref = manifest["long_tail_thresholds"][criterion]["reference"]
        assert ref["n"] > 1000 and ref["threshold"] is not None


def test_every_published_sample_obeys_the_rules(built: Path) -> None:
    relations = load_relations()
    ds = load_all(built)
    splits = {name: split.data.table for name, split in ds.items()}
    assert not find_leaks(splits)
    for name, split in ds.items():
        seen: set[tuple[str, str]] = set()
        for row in split:
            assert broken_rule(row) is None, row
            key = (row["subject_id"], row["relation_id"])
            # a robust variant repeats its base case's fact by design (base_id), once per kind
            unique = (*key, row["criterion"]) if row["property"] == "robust" else key
            assert unique not in seen, f"duplicate {unique} in {name}"
            seen.add(unique)
            assert assign_split(*key) == name
            assert row["criterion"] in CRITERIA[row["property"]]
            assert row["relation_id"] in relations
            assert row["subject"] in row["prompt"]
            assert row["target_new"].casefold() not in row["prompt"].casefold()
            kinds = {c["kind"] for c in row["locality"]}
            assert kinds <= set(LOCALITY_KINDS) and kinds
            if row["edit_kind"] == "counterfactual":
                assert row["target_new"] not in row["answers"]
            if row["property"] == "robust":
                assert row["prefix"] and row["prefix"][0]["kind"] == "length"


def test_popular_samples_keep_root_views_and_hop(built: Path) -> None:
    rows = [r for s in load_all(built, "popular").values() for r in s]
    hops = {r["evidence"]["hop"] for r in rows}
    assert hops == {1, 2}
    assert all(r["evidence"]["pageviews"] and r["evidence"]["root_id"] for r in rows)
    assert all(r["edit_kind"] == "counterfactual" for r in rows)


def _expected_recent(start: datetime, end: datetime) -> set[tuple[str, str]]:
    """From the sample's revision log, independently of the build code."""
    relations = set(load_relations().ids)
    pairs = set()
    for line in (get_settings().sample_dir / "revisions.jsonl").read_text().splitlines():
        rev = json.loads(line)
        moment = datetime.fromisoformat(rev["timestamp"].replace("Z", "+00:00"))
        if start <= moment < end:
            pairs |= {(rev["qid"], a["property"]) for a in rev["adds"] if a["property"] in relations}
    return pairs


def _recent_pairs(snapshot_dir: Path) -> dict[tuple[str, str], dict]:
    rows = [r for s in load_all(snapshot_dir, "recent").values() for r in s]
    return {(r["subject_id"], r["relation_id"]): r for r in rows}


def test_two_weekly_builds_keep_splits_and_find_the_right_recent_set(tmp_path: Path) -> None:
    first, second = SAMPLE_SNAPSHOT - timedelta(days=7), SAMPLE_SNAPSHOT
    sizes = ["--recent", "1000", "--popular", "100", "--long-tail", "150", "--robust", "60"]
    run_build(tmp_path, "--snapshot", first.isoformat(), *sizes)
    run_build(tmp_path, "--snapshot", second.isoformat(), *sizes)
    snaps = {d: tmp_path / "snapshots" / d.isoformat() for d in (first, second)}
    assert (tmp_path / "latest").resolve() == snaps[second].resolve()

    for day, snap in snaps.items():
        end = datetime(day.year, day.month, day.day, tzinfo=datetime.now().astimezone().tzinfo).astimezone()
        end = end.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=end.tzinfo)
        end = datetime.fromisoformat(f"{day.isoformat()}T00:00:00+00:00")
        start = end - timedelta(days=7)
        expected = _expected_recent(start, end)
        got = _recent_pairs(snap)
        assert got, f"no recent samples for {day}"
        assert set(got) <= expected  # nothing outside the window, nothing merely entity-modified
        assert len(got) >= 0.8 * len(expected)  # the few missing ones were dropped by a counted rule
        for row in got.values():
            added = row["evidence"]["added_at"]
            assert start <= added < end
            assert row["evidence"]["revision_id"]
        manifest = json.loads((snap / "manifest.json").read_text())
        assert manifest["snapshot_date"] == day.isoformat()

    # the second build saw the first as a witness (the first had none before it); the weeks differ
    assert not json.loads((snaps[first] / "manifest.json").read_text())["harvest"]["recent"][
        "previous_snapshot_witness"
    ]
    assert json.loads((snaps[second] / "manifest.json").read_text())["harvest"]["recent"][
        "previous_snapshot_witness"
    ]
    assert set(_recent_pairs(snaps[first])).isdisjoint(_recent_pairs(snaps[second]))

    # stable splits: a (subject, relation) in both builds sits in the same split
    def placement(snap: Path) -> dict[tuple[str, str], str]:
        out = {}
        for name, split in load_all(snap).items():
            for s, r in zip(split["subject_id"], split["relation_id"], strict=True):
                out[(s, r)] = name
        return out

    a, b = placement(snaps[first]), placement(snaps[second])
    common = set(a) & set(b)
    assert len(common) > 100
    assert all(a[k] == b[k] for k in common)


def test_live_code_path_on_stand_ins_gives_the_same_facts(tmp_path: Path, live_sample_standins) -> None:
    sizes = ["--recent", "1000", "--popular", "100", "--long-tail", "150", "--robust", "60"]
    run_build(tmp_path / "sample", *sizes)
    result = CliRunner().invoke(
        app,
        [
            "build",
            "--source",
            "live",
            "--snapshot",
            SAMPLE_SNAPSHOT.isoformat(),
            "--out",
            str(tmp_path / "live"),
            "--no-figures",
            *sizes,
        ],
    )
    assert result.exit_code == 0, result.output
    sample_facts = pq.read_table(tmp_path / "sample" / "latest" / "facts.parquet")
    live_facts = pq.read_table(tmp_path / "live" / "latest" / "facts.parquet")
    # the derived flags differ by design (the live path cannot know the stand-in's data is derived),
    # and so do made-up sitelink counts: the stand-in leaves them out (unknown), the sample flags them
    key = ["subject_id", "relation_id", "statement_id"]
    cols = [c for c in sample_facts.column_names if c not in ("derived", "sitelinks")]
    assert sample_facts.num_rows > 1000
    assert (
        sample_facts.select(cols)
        .sort_by([(k, "ascending") for k in key])
        .equals(live_facts.select(cols).sort_by([(k, "ascending") for k in key]))
    )
    for config in PROPERTIES:
        s = load_all(tmp_path / "sample" / "latest", config)
        live = load_all(tmp_path / "live" / "latest", config)
        for split in s:
            a = sorted(s[split].remove_columns(["evidence"]).to_list(), key=lambda r: r["id"])
            b = sorted(live[split].remove_columns(["evidence"]).to_list(), key=lambda r: r["id"])
            assert a == b, f"{config}/{split} differs"
    manifest = json.loads((tmp_path / "live" / "latest" / "manifest.json").read_text())
    assert manifest["endpoint"] == live_sample_standins.env["DAFSET_SPARQL_ENDPOINT"]
    assert live_sample_standins.recorded.requests  # it really went over HTTP


def test_a_broken_template_fails_before_any_request_and_keeps_latest(
    tmp_path: Path, built: Path, monkeypatch
) -> None:
    import shutil

    templates = tmp_path / "templates"
    shutil.copytree(get_settings().templates_dir, templates)
    (templates / "prompt.j2").write_text("{{ relation.prompt_text(subject }}")
    monkeypatch.setenv("DAFSET_TEMPLATES_DIR", str(templates))
    out = built.parent
    before = (out / "latest").resolve()
    result = CliRunner().invoke(
        app,
        [
            "build",
            "--source",
            "sample",
            "--out",
            str(out),
            "--snapshot",
            (SAMPLE_SNAPSHOT - timedelta(days=14)).isoformat(),
        ],
    )
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "prompt.j2" in errors[0]
    assert (out / "latest").resolve() == before
    assert not (out / "snapshots" / (SAMPLE_SNAPSHOT - timedelta(days=14)).isoformat()).exists()


def test_snapshot_date_is_parsed_strictly(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["build", "--out", str(tmp_path), "--snapshot", "next monday"])
    assert result.exit_code == 2 and "snapshot" in result.output
    assert date.fromisoformat(SAMPLE_SNAPSHOT.isoformat()) == SAMPLE_SNAPSHOT
