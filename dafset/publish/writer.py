"""``publish_snapshot``: Sample tables in, a complete snapshot directory out — or nothing.

Everything is written into ``<root>/snapshots/.tmp-<snapshot>-<random>``, checked, and renamed into
place; ``latest`` moves last, and only forward (``dafset.publish.place``). Any failure removes the temp dir and leaves the previous snapshot
and ``latest`` as they were, raising one ``PublishError`` line that names the step.
"""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dafset.errors import DafsetError, PublishError
from dafset.publish import place
from dafset.publish.card import CardInputs, SplitFiles, config_names, render_card
from dafset.publish.layout import (
    ALL_CONFIG,
    CARD,
    DATA_DIR,
    FACTS,
    FIGURES_DIR,
    SNAPSHOTS_DIR,
    SPLIT_NAME,
    check_snapshot_name,
    shard_name,
)
from dafset.publish.manifest import build_manifest, code_version, write_manifest
from dafset.publish.split import find_leaks
from dafset.schema import FACT_SCHEMA, PROPERTIES, SAMPLE_SCHEMA, validate

log = logging.getLogger("dafset.publish")

DEFAULT_MAX_SHARD_BYTES = 500 * 2**20  # push_to_hub's default max_shard_size, in Arrow bytes
DEFAULT_ROW_GROUP_SIZE = 10_000
_SORT_KEYS = [
    ("criterion", "ascending"),
    ("subject_id", "ascending"),
    ("relation_id", "ascending"),
    ("id", "ascending"),
]
_FACT_SORT_KEYS = [
    ("subject_id", "ascending"),
    ("relation_id", "ascending"),
    ("object_value", "ascending"),
    ("statement_id", "ascending"),
]


@dataclass(frozen=True)
class _Options:
    """How a snapshot is written (publish_snapshot's keyword options)."""

    figures: bool
    max_shard_bytes: int
    row_group_size: int
    verify_with_datasets: bool
    created_at: datetime | None


class _Steps:
    """Remembers which step is running, so a failure can name it in one line."""

    def __init__(self) -> None:
        self.current = "start"

    def __call__(self, name: str) -> _Steps:
        self.current = name
        return self


def publish_snapshot(
    root: Path,
    snapshot: str,
    splits: Mapping[str, pa.Table],
    manifest_extra: Mapping[str, Any],
    facts: pa.Table | None = None,
    figures: bool = True,
    *,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    move_latest: bool = True,
    verify_with_datasets: bool = False,
    created_at: datetime | None = None,
) -> Path:
    """Publish ``splits`` (split name -> SAMPLE_SCHEMA table holding every property) as
    ``<root>/snapshots/<snapshot>/`` and point ``<root>/latest`` at it; return the snapshot dir.

    ``manifest_extra`` goes into manifest.json verbatim (source, endpoint, snapshot_date, window,
    seeds, thresholds, skipped criteria, rule-drop counts, ...). The card also reads from it:
    ``caveats`` (list of str) and ``derived_data`` (str) derived-data notes, ``relation_domains``
    (P-id -> domain, for the domain figure), ``license``, ``pretty_name`` and the provenance keys
    source, endpoint, snapshot_date, window, dump, model, seed(s), skipped_criteria.
    Re-publishing an existing name replaces it atomically. ``latest`` only moves forward: a
    snapshot older than the one it names is published beside it (a warning says so), as is any
    snapshot with ``move_latest=False`` (a backfill).
    """
    root = Path(root)
    try:
        check_snapshot_name(snapshot)
    except DafsetError as exc:
        raise PublishError(f"publish: {exc}") from exc
    steps = _Steps()
    snapshots = root / SNAPSHOTS_DIR
    snapshots.mkdir(parents=True, exist_ok=True)
    with place.publish_lock(root):
        place.sweep_stale(root)
        move = move_latest and place.moves_latest(root, snapshot)
        if move_latest and not move:
            log.warning(
                "snapshot %s is older than latest (%s): published beside it, latest not moved",
                snapshot,
                place.latest_name(root),
            )
        tmp = place.make_temp_dir(snapshots, snapshot)
        try:
            options = _Options(figures, max_shard_bytes, row_group_size, verify_with_datasets, created_at)
            _build(tmp, snapshot, splits, manifest_extra, facts, steps, options)
            target = snapshots / snapshot
            steps("swap into place")
            old = place.replace_dir(tmp, target)
            try:
                if move:
                    steps("move latest")
                    place.point_latest(root, snapshot)
            except BaseException:
                place.undo_replace(target, old, tmp)
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            return target
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and friends: cleaned up, passed on unchanged
            raise PublishError(f"publish {snapshot}: {steps.current} failed: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _build(
    tmp: Path,
    snapshot: str,
    splits: Mapping[str, pa.Table],
    extra: Mapping[str, Any],
    facts: pa.Table | None,
    steps: _Steps,
    options: _Options,
) -> None:
    steps("validate samples")
    tables = _validate(splits)
    counts, criterion_counts = _counts(tables)

    written: list[SplitFiles] = []
    for config in PROPERTIES:
        for split, table in tables.items():
            steps(f"write {DATA_DIR}/{config}/{split} shards")
            written.append(
                _write_split(tmp, config, split, table, options.max_shard_bytes, options.row_group_size)
            )

    files = [tmp / f for w in written for f in w.files]
    if facts is not None:
        steps(f"write {FACTS}")
        files.append(_write_facts(tmp, facts, options.row_group_size))

    figure_list: list[tuple[str, str]] = []
    if options.figures:
        steps("figures")
        from dafset.publish.figures import pool_reference, write_figures  # matplotlib only when drawing

        cuts = {
            name: (entry.get("reference") or {}).get("threshold")
            for name, entry in (extra.get("long_tail_thresholds") or {}).items()
        }
        made = write_figures(
            tmp / FIGURES_DIR, tables, extra.get("relation_domains"), pool_reference(facts), cuts
        )
        figure_list = [(f"{FIGURES_DIR}/{name}", caption) for name, caption in made]
        files += [tmp / path for path, _ in figure_list]

    steps(f"write {CARD}")
    stamp = (options.created_at or datetime.now(UTC)).isoformat(timespec="seconds")
    code = code_version()
    inputs = CardInputs(
        snapshot=snapshot,
        splits=list(tables),
        written=written,
        criterion_counts=criterion_counts,
        extra=extra,
        created_at=stamp,
        code=code,
        figures=figure_list,
        has_facts=facts is not None,
    )
    (tmp / CARD).write_text(render_card(inputs, SAMPLE_SCHEMA), encoding="utf-8")
    files.append(tmp / CARD)

    steps("verify shards")
    _verify_shards(tmp, written, facts)
    if options.verify_with_datasets:
        steps("verify with datasets.load_dataset")
        _verify_with_datasets(tmp, counts)

    steps("write manifest.json")
    if any(p.suffix == ".py" for p in tmp.rglob("*")):
        raise PublishError("a .py file in the snapshot would make load_dataset refuse it")
    nested_criteria = {
        p: {c: dict(n) for (pp, c), n in criterion_counts.items() if pp == p} for p in PROPERTIES
    }
    manifest_extra = {
        "card_configs": [ALL_CONFIG, *config_names(written)],
        "criterion_counts": nested_criteria,
        "schema_sha256": {
            "sample": hashlib.sha256(str(SAMPLE_SCHEMA).encode()).hexdigest(),
            "fact": hashlib.sha256(str(FACT_SCHEMA).encode()).hexdigest(),
        },
        **extra,
    }
    manifest = build_manifest(tmp, snapshot, stamp, code, counts, files, manifest_extra)
    write_manifest(tmp, manifest)


def _validate(splits: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
    if not splits:
        raise PublishError("no splits given")
    tables: dict[str, pa.Table] = {}
    for name, table in splits.items():
        if not SPLIT_NAME.match(name):
            raise PublishError(f"bad split name {name!r}: letters, digits and '_' only")
        tables[name] = validate(table, SAMPLE_SCHEMA, where=f"publish split '{name}'")
    if sum(t.num_rows for t in tables.values()) == 0:
        raise PublishError("no samples in any split")
    leaks = find_leaks(tables)
    if leaks:
        (s, r), names = next(iter(sorted(leaks.items())))
        raise PublishError(f"{len(leaks)} fact(s) in more than one split, e.g. {s}|{r} in {names}")
    ids = pa.chunked_array([c for t in tables.values() for c in t.column("id").chunks], type=pa.string())
    if len(pc.unique(ids)) != len(ids):
        freq = pc.value_counts(ids)
        dup = freq.filter(pc.greater(freq.field("counts"), 1))
        raise PublishError(f"{len(dup)} duplicate sample id(s), e.g. {dup[0]['values']}")
    return tables


def _counts(
    tables: Mapping[str, pa.Table],
) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], dict[str, int]]]:
    counts: dict[str, dict[str, int]] = {c: dict.fromkeys(tables, 0) for c in (*PROPERTIES, ALL_CONFIG)}
    crit: dict[tuple[str, str], dict[str, int]] = {}
    for split, t in tables.items():
        if not t.num_rows:
            continue
        grouped = t.group_by(["property", "criterion"]).aggregate([("id", "count")]).to_pylist()
        for row in grouped:
            counts[row["property"]][split] += row["id_count"]
            counts[ALL_CONFIG][split] += row["id_count"]
            key = (row["property"], row["criterion"])
            crit.setdefault(key, dict.fromkeys(tables, 0))[split] = row["id_count"]
    # group_by's output order is not guaranteed; the manifest's should be
    ordered = sorted(crit.items(), key=lambda kv: (PROPERTIES.index(kv[0][0]), kv[0][1]))
    return counts, dict(ordered)


def _write_split(
    tmp: Path, config: str, split: str, table: pa.Table, max_shard_bytes: int, row_group_size: int
) -> SplitFiles:
    part = table.filter(pc.equal(table.column("property"), config))
    if part.num_rows == 0:
        # no file: an empty split cannot be loaded by datasets 5.2, so the card leaves it out
        return SplitFiles(config, split, 0, 0, (), 0)
    # take() gives fresh buffers, so nbytes is this split's own size (not a parent's)
    part = part.take(pc.sort_indices(part, sort_keys=_SORT_KEYS))
    rows = part.num_rows
    per_shard = max(1, math.ceil(rows / max(1, math.ceil(part.nbytes / max_shard_bytes))))
    count = math.ceil(rows / per_shard)
    folder = tmp / DATA_DIR / config
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    size = 0
    for i in range(count):
        path = folder / shard_name(split, i, count)
        _write_parquet(part.slice(i * per_shard, per_shard), path, row_group_size)
        files.append(path.relative_to(tmp).as_posix())
        size += path.stat().st_size
    return SplitFiles(config, split, rows, part.nbytes, tuple(files), size)


def _write_parquet(table: pa.Table, path: Path, row_group_size: int) -> None:
    pq.write_table(table, path, compression="zstd", row_group_size=row_group_size, write_statistics=True)


def _write_facts(tmp: Path, facts: pa.Table, row_group_size: int) -> Path:
    facts = validate(facts, FACT_SCHEMA, where=f"publish {FACTS}")
    facts = facts.take(pc.sort_indices(facts, sort_keys=_FACT_SORT_KEYS))
    path = tmp / FACTS
    if facts.num_rows == 0:
        # a file with no row group: readers get the schema, nothing trips on a 0-row group
        pq.ParquetWriter(path, FACT_SCHEMA, compression="zstd").close()
    else:
        _write_parquet(facts, path, row_group_size)
    return path


def _verify_shards(tmp: Path, written: list[SplitFiles], facts: pa.Table | None) -> None:
    """Re-read every shard: the exact schema (nullability included) and the row counts."""
    for w in written:
        total = 0
        for rel in w.files:
            got = pq.read_table(tmp / rel)
            if not got.schema.equals(SAMPLE_SCHEMA, check_metadata=False):
                raise PublishError(f"{rel}: schema differs from SAMPLE_SCHEMA")
            total += got.num_rows
        if total != w.rows:
            raise PublishError(f"{DATA_DIR}/{w.config}/{w.split}: {total} rows read, {w.rows} written")
    if facts is not None:
        got = pq.read_table(tmp / FACTS)
        if not got.schema.equals(FACT_SCHEMA, check_metadata=False) or got.num_rows != facts.num_rows:
            raise PublishError(f"{FACTS}: schema or row count differs from what was written")


def _verify_with_datasets(tmp: Path, counts: Mapping[str, Mapping[str, int]]) -> None:
    import datasets  # heavy; only when asked

    cache = Path(tempfile.mkdtemp(prefix="dafset-verify-"))
    try:
        for config in [ALL_CONFIG, *PROPERTIES]:
            expected = {s: n for s, n in counts[config].items() if n}
            if not expected:
                continue
            ds = datasets.load_dataset(str(tmp), config, cache_dir=str(cache))
            got = {s: ds[s].num_rows for s in ds}
            if got != expected:
                raise PublishError(f"load_dataset({config!r}) gave {got}, expected {expected}")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
