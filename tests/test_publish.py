"""publish_snapshot: the published layout loads with datasets offline, with the declared types;
the manifest matches the files; a failure at any step leaves the previous state untouched."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import datasets
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from dafset.errors import PublishError
from dafset.publish import place, writer
from dafset.publish.card import features_yaml
from dafset.publish.layout import resolve_snapshot
from dafset.publish.manifest import read_manifest, verify_manifest
from dafset.publish.split import split_table
from dafset.publish.synthetic import synthetic_samples
from dafset.publish.writer import publish_snapshot
from dafset.schema import FACT_SCHEMA, PROPERTIES, SAMPLE_SCHEMA, rows_to_table

EXTRA: dict[str, Any] = {
    "source": "synthetic",
    "endpoint": "memory://test",
    "snapshot_date": "2026-07-14",
    "window": {"start": "2026-07-07", "end": "2026-07-14", "days": 7},
    "seed": 0,
    "caveats": ["added_at is derived for the sample source"],
    "relation_domains": {"P19": "people", "P36": "geography"},
    "long_tail_thresholds": {"frequency": {"threshold": 120, "quantile": 0.8}},
}
STAMP = datetime(2026, 7, 14, 12, 0, tzinfo=UTC)


def _splits(n: int = 40, **kw: Any) -> dict[str, pa.Table]:
    return split_table(synthetic_samples(n, **kw))


def _facts() -> pa.Table:
    return rows_to_table(
        [
            {
                "subject_id": "Q1001",
                "relation_id": "P27",
                "object_id": "Q30",
                "object_value": "USA",
                "value_type": "item",
                "subject_aliases": [],
                "object_aliases": ["US"],
                "derived": [],
            },
            {
                "subject_id": "Q1000",
                "relation_id": "P19",
                "object_id": None,
                "object_value": "1990",
                "value_type": "time",
                "frequency": 12,
                "derived": ["added_at"],
            },
        ],
        FACT_SCHEMA,
    )


def _tree(root: Path) -> dict[str, Any]:
    """Every path under root with its bytes (files) or target (symlinks)."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = "dir"
    return out


def _load(path: Path, config: str | None = None) -> datasets.DatasetDict:
    return datasets.load_dataset(str(path), config) if config else datasets.load_dataset(str(path))


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pa.Table]]:
    root = tmp_path_factory.mktemp("pub")
    splits = _splits(40)
    publish_snapshot(root, "2026-07-14", splits, EXTRA, facts=_facts(), created_at=STAMP)
    return root, splits


def _card_meta(snap: Path) -> dict[str, Any]:
    text = (snap / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


# -- layout and card -------------------------------------------------------------------------


def test_layout_latest_and_no_python(published: tuple[Path, dict[str, pa.Table]]) -> None:
    root, _ = published
    snap = root / "snapshots" / "2026-07-14"
    assert (root / "latest").is_symlink() and os.readlink(root / "latest") == "snapshots/2026-07-14"
    assert (root / "LATEST").read_text().strip() == "2026-07-14"
    assert resolve_snapshot(root) == snap.resolve()
    assert (snap / "facts.parquet").is_file() and not (snap / "data" / "facts.parquet").exists()
    shards = sorted(p.relative_to(snap).as_posix() for p in (snap / "data").rglob("*"))
    assert "data/recent/train-00000-of-00001.parquet" in shards
    assert not list(snap.rglob("*.py"))
    assert not [p for p in (root / "snapshots").iterdir() if p.name.startswith(".")]
    figures = {p.name for p in (snap / "figures").iterdir()}
    assert {"frequency.png", "degree.png", "relations.png", "domains.png", "property_split.png"} <= figures
    card = (snap / "README.md").read_text()
    assert all(f"figures/{name}" in card for name in figures)


def test_card_front_matter(published: tuple[Path, dict[str, pa.Table]]) -> None:
    root, splits = published
    meta = _card_meta(root / "latest")
    assert meta["license"] == "cc-by-sa-4.0" and meta["language"] == ["en"]
    names = [c["config_name"] for c in meta["configs"]]
    assert names == ["all", *PROPERTIES]
    assert [c["config_name"] for c in meta["configs"] if c.get("default")] == ["all"]
    recent = next(c for c in meta["configs"] if c["config_name"] == "recent")
    assert {"split": "train", "path": "data/recent/train-*"} in recent["data_files"]
    info = {i["config_name"]: i for i in meta["dataset_info"]}
    total = sum(t.num_rows for t in splits.values())
    assert sum(s["num_examples"] for s in info["all"]["splits"]) == total
    assert info["all"]["download_size"] == sum(i["download_size"] for n, i in info.items() if n != "all")
    assert "&id" not in (root / "latest" / "README.md").read_text()
    body = (root / "latest" / "README.md").read_text()
    assert "CC0" in body and "added_at is derived" in body and "memory://test" in body


def test_declared_features_are_what_datasets_derives_from_the_schema() -> None:
    ours = features_yaml(SAMPLE_SCHEMA)
    assert ours == datasets.Features.from_arrow_schema(SAMPLE_SCHEMA)._to_yaml_list()
    assert datasets.Features._from_yaml_list(
        features_yaml(FACT_SCHEMA)
    ) == datasets.Features.from_arrow_schema(FACT_SCHEMA)


# -- loading with datasets, offline ----------------------------------------------------------


def test_load_dataset_default_and_per_config(published: tuple[Path, dict[str, pa.Table]]) -> None:
    root, splits = published
    snap = resolve_snapshot(root)
    expected = datasets.Features.from_arrow_schema(SAMPLE_SCHEMA)
    ds = _load(snap)
    assert {s: ds[s].num_rows for s in ds} == {s: t.num_rows for s, t in splits.items() if t.num_rows}
    for split in ds:
        assert ds[split].features == expected
    feats = ds["train"].features
    assert isinstance(feats["locality"], datasets.List) and feats["locality"].feature[
        "kind"
    ] == datasets.Value("string")
    assert feats["evidence"]["added_at"] == datasets.Value("timestamp[us, tz=UTC]")
    assert feats["evidence"]["hop"] == datasets.Value("int32")

    for prop in ("recent", "robust"):
        one = _load(snap, prop)
        want = {s: pc.sum(pc.equal(t.column("property"), prop)).as_py() or 0 for s, t in splits.items()}
        assert {s: one[s].num_rows for s in one} == {s: n for s, n in want.items() if n}
        assert set(one["train"]["property"]) == {prop}


def test_values_round_trip_through_load_dataset(published: tuple[Path, dict[str, pa.Table]]) -> None:
    root, splits = published
    ds = _load(resolve_snapshot(root), "long_tail")
    got = {r["id"]: r for r in ds["train"]}
    source = {r["id"]: r for r in splits["train"].to_pylist() if r["property"] == "long_tail"}
    assert got.keys() == source.keys()
    for key, row in source.items():
        assert got[key]["locality"] == row["locality"]  # list of structs, empty or filled
        assert got[key]["rephrase_prompts"] == row["rephrase_prompts"]
        if row["evidence"] is None:
            assert got[key]["evidence"] is None
        else:
            assert got[key]["evidence"]["added_at"] == row["evidence"]["added_at"]
            assert got[key]["evidence"]["likelihood"] == row["evidence"]["likelihood"]
    # both shapes occurred, so the loop checked null and filled evidence, empty and filled lists
    assert any(r["evidence"] is None for r in source.values())
    assert any(r["locality"] == [] for r in source.values()) and any(r["locality"] for r in source.values())


def test_rows_sorted_and_bytes_deterministic(tmp_path: Path) -> None:
    splits = _splits(30)
    a = publish_snapshot(tmp_path, "a", splits, EXTRA, figures=False, created_at=STAMP)
    shuffled = {s: t.take(list(reversed(range(t.num_rows)))) for s, t in splits.items()}
    b = publish_snapshot(tmp_path, "b", shuffled, EXTRA, figures=False, created_at=STAMP)
    files_a = {f["path"]: f["sha256"] for f in read_manifest(a)["files"] if f["path"].startswith("data/")}
    files_b = {f["path"]: f["sha256"] for f in read_manifest(b)["files"] if f["path"].startswith("data/")}
    assert files_a == files_b and files_a
    table = pq.read_table(a / "data" / "long_tail" / "train-00000-of-00001.parquet")
    keys = list(
        zip(
            *(table.column(c).to_pylist() for c in ("criterion", "subject_id", "relation_id", "id")),
            strict=True,
        )
    )
    assert keys == sorted(keys)


def test_empty_split_and_empty_config_still_load(tmp_path: Path) -> None:
    table = synthetic_samples(40)
    table = table.filter(pc.not_equal(table.column("property"), "robust"))  # no robust at all
    splits = split_table(table)
    recent_val = pc.and_(pc.equal(splits["validation"].column("property"), "recent"), True)
    splits["validation"] = splits["validation"].filter(pc.invert(recent_val))  # no recent/validation
    snap = publish_snapshot(tmp_path, "s", splits, EXTRA, figures=False)
    meta = _card_meta(snap)
    assert [c["config_name"] for c in meta["configs"]] == ["all", "recent", "popular", "long_tail"]
    recent = next(c for c in meta["configs"] if c["config_name"] == "recent")
    assert "validation" not in [d["split"] for d in recent["data_files"]]
    assert not (snap / "data" / "robust").exists()
    assert read_manifest(snap)["counts"]["robust"] == {"train": 0, "validation": 0, "test": 0}
    assert set(_load(snap, "recent")) == {"train", "test"}
    assert _load(snap)["validation"].num_rows == splits["validation"].num_rows
    assert "`robust`" in (snap / "README.md").read_text()


def test_shard_size_limit_makes_several_shards(tmp_path: Path) -> None:
    splits = _splits(60)
    snap = publish_snapshot(tmp_path, "s", splits, EXTRA, figures=False, max_shard_bytes=4000)
    shards = sorted(p.name for p in (snap / "data" / "long_tail").glob("train-*"))
    assert len(shards) > 1 and shards[0].endswith(f"-of-{len(shards):05d}.parquet")
    n = pc.sum(pc.equal(splits["train"].column("property"), "long_tail")).as_py()
    assert _load(snap, "long_tail")["train"].num_rows == n


# -- manifest --------------------------------------------------------------------------------


def test_manifest_matches_files(published: tuple[Path, dict[str, pa.Table]]) -> None:
    root, splits = published
    snap = resolve_snapshot(root)
    manifest = read_manifest(snap)
    assert verify_manifest(snap) == []
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    assert manifest["counts"]["all"] == {s: t.num_rows for s, t in splits.items()}
    shard_rows = sum(f["rows"] for f in manifest["files"] if f["path"].startswith("data/"))
    assert shard_rows == sum(t.num_rows for t in splits.values())
    assert manifest["code"]["dafset_version"] and manifest["created_at"] == "2026-07-14T12:00:00+00:00"
    assert (
        manifest["endpoint"] == "memory://test"
        and manifest["long_tail_thresholds"]["frequency"]["threshold"] == 120
    )
    assert manifest["criterion_counts"]["long_tail"]["frequency"]["train"] > 0


def test_verify_manifest_catches_a_changed_file(tmp_path: Path) -> None:
    snap = publish_snapshot(tmp_path, "s", _splits(12), EXTRA, figures=False)
    shard = next((snap / "data").rglob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-1] + b"x")
    problems = verify_manifest(snap)
    assert problems and shard.name in problems[0]


def test_reserved_manifest_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="reserved"):
        publish_snapshot(tmp_path, "s", _splits(8), {"files": []}, figures=False)


# -- refusing bad input ----------------------------------------------------------------------


def test_leak_duplicate_ids_empty_and_bad_names_are_refused(tmp_path: Path) -> None:
    table = synthetic_samples(12)
    with pytest.raises(PublishError, match="more than one split"):
        publish_snapshot(tmp_path, "s", {"train": table, "test": table.slice(0, 1)}, EXTRA, figures=False)
    with pytest.raises(PublishError, match="duplicate sample id"):
        publish_snapshot(
            tmp_path, "s", {"train": pa.concat_tables([table, table.slice(0, 1)])}, EXTRA, figures=False
        )
    with pytest.raises(PublishError, match="no samples"):
        publish_snapshot(tmp_path, "s", {"train": table.slice(0, 0)}, EXTRA, figures=False)
    with pytest.raises(PublishError, match="bad snapshot name"):
        publish_snapshot(tmp_path, "../x", {"train": table}, EXTRA, figures=False)
    with pytest.raises(PublishError, match="bad split name"):
        publish_snapshot(tmp_path, "s", {"train-1": table}, EXTRA, figures=False)
    assert not (tmp_path / "snapshots" / "s").exists() and not (tmp_path / "latest").exists()
    assert list((tmp_path / "snapshots").iterdir()) == []


# -- atomicity -------------------------------------------------------------------------------


def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("injected failure\nsecond line")


@pytest.mark.parametrize("target", ["figures", "shard", "latest"])
@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_failure_leaves_previous_snapshot_and_latest_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, exchange: bool
) -> None:
    publish_snapshot(tmp_path, "2026-07-07", _splits(12), EXTRA, figures=False)
    publish_snapshot(tmp_path, "2026-07-14", _splits(16), EXTRA, figures=False)
    before = _tree(tmp_path)
    if not exchange:
        monkeypatch.setattr(place, "exchange", lambda a, b: False)
    if target == "figures":
        import dafset.publish.figures as figures

        monkeypatch.setattr(figures, "write_figures", _boom)
        step = "figures"
    elif target == "shard":
        calls = iter(range(100))
        real = writer._write_parquet
        monkeypatch.setattr(writer, "_write_parquet", lambda *a: _boom() if next(calls) == 3 else real(*a))
        step = "write data/"
    else:
        monkeypatch.setattr(place, "point_latest", _boom)
        step = "move latest"
    # re-publish the name latest points at (the swap path) with different data
    with pytest.raises(PublishError) as info:
        publish_snapshot(tmp_path, "2026-07-14", _splits(30, seed=3), EXTRA, figures=target == "figures")
    message = str(info.value)
    assert "\n" not in message and step in message and "injected failure" in message
    assert _tree(tmp_path) == before  # byte-identical, no temp dir, latest unchanged


def test_republish_replaces_snapshot_and_moves_latest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_snapshot(tmp_path, "2026-07-07", _splits(12), EXTRA, figures=False)
    first = publish_snapshot(tmp_path, "2026-07-14", _splits(12), EXTRA, figures=False)
    assert os.readlink(tmp_path / "latest") == "snapshots/2026-07-14"
    again = publish_snapshot(tmp_path, "2026-07-14", _splits(24), EXTRA, figures=False)
    assert again == first
    assert read_manifest(again)["counts"]["all"] == {s: t.num_rows for s, t in _splits(24).items()}
    assert verify_manifest(again) == []
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["2026-07-07", "2026-07-14"]
    # a backfill does not move latest
    publish_snapshot(tmp_path, "2026-06-30", _splits(8), EXTRA, figures=False, move_latest=False)
    assert os.readlink(tmp_path / "latest") == "snapshots/2026-07-14"


def test_latest_file_fallback_without_symlinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish_snapshot(tmp_path, "a", _splits(8), EXTRA, figures=False)

    def no_symlinks(*_: Any, **__: Any) -> None:
        raise OSError("symlinks not supported here")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    publish_snapshot(tmp_path, "b", _splits(8), EXTRA, figures=False)
    assert (tmp_path / "LATEST").read_text().strip() == "b"
    assert not (tmp_path / "latest").exists()  # the stale link to "a" must not outvote LATEST
    assert resolve_snapshot(tmp_path) == tmp_path / "snapshots" / "b"


def test_stale_temp_dirs_from_a_killed_run_are_swept(tmp_path: Path) -> None:
    stale = tmp_path / "snapshots" / ".tmp-2026-07-14-dead"
    stale.mkdir(parents=True)
    (stale / "partial.parquet").write_bytes(b"x")
    publish_snapshot(tmp_path, "2026-07-14", _splits(8), EXTRA, figures=False)
    assert not stale.exists()


def test_verify_with_datasets_option(tmp_path: Path) -> None:
    snap = publish_snapshot(tmp_path, "s", _splits(10), EXTRA, figures=False, verify_with_datasets=True)
    assert orjson.loads((snap / "manifest.json").read_bytes())["snapshot"] == "s"


# -- what a user sees on disk ----------------------------------------------------------------


def test_published_snapshot_is_readable_by_others(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the common default; the writer must not narrow it (mkdtemp's 0o700 did)
    try:
        snap = publish_snapshot(tmp_path, "2026-07-14", _splits(8), EXTRA, figures=False)
    finally:
        os.umask(old)
    for path in [snap, *snap.rglob("*")]:
        mode = path.stat().st_mode
        assert mode & stat.S_IROTH and mode & stat.S_IRGRP, f"{path} is {stat.filemode(mode)}"
        if path.is_dir():
            assert mode & stat.S_IXOTH, f"{path} is {stat.filemode(mode)}"


def test_build_root_loads_as_latest_only(tmp_path: Path) -> None:
    publish_snapshot(tmp_path, "2026-07-07", _splits(12), EXTRA, figures=False)
    latest = publish_snapshot(tmp_path, "2026-07-14", _splits(20, seed=5), EXTRA, figures=False)
    for config in (None, "recent"):
        from_root, from_latest = _load(tmp_path, config), _load(latest, config)
        assert set(from_root) == set(from_latest)
        for split in from_root:
            assert sorted(from_root[split]["id"]) == sorted(from_latest[split]["id"])
    assert "2026-07-14" in (tmp_path / "README.md").read_text()


def test_latest_only_moves_forward(tmp_path: Path) -> None:
    publish_snapshot(tmp_path, "2026-07-14", _splits(12), EXTRA, figures=False)
    card = (tmp_path / "README.md").read_bytes()
    older = publish_snapshot(tmp_path, "2026-07-07", _splits(8), EXTRA, figures=False)
    assert older.is_dir() and verify_manifest(older) == []  # published beside latest
    assert os.readlink(tmp_path / "latest") == "snapshots/2026-07-14"
    assert (tmp_path / "LATEST").read_text().strip() == "2026-07-14"
    assert (tmp_path / "README.md").read_bytes() == card
    publish_snapshot(tmp_path, "2026-07-21", _splits(8), EXTRA, figures=False)
    assert os.readlink(tmp_path / "latest") == "snapshots/2026-07-21"
