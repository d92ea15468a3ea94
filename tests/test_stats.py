"""Stats counts match the input tables; the rich rendering and the progress display work."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from rich.console import Console

from dafset.publish.progress import stage
from dafset.publish.split import split_table
from dafset.publish.stats import compute_stats, print_stats
from dafset.publish.synthetic import synthetic_samples
from dafset.publish.writer import publish_snapshot


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pa.Table]]:
    root = tmp_path_factory.mktemp("stats")
    splits = split_table(synthetic_samples(50))
    publish_snapshot(root, "2026-07-14", splits, {"source": "synthetic"}, figures=False)
    return root, splits


def _expected(splits: dict[str, pa.Table], *cols: str) -> Counter:
    out: Counter = Counter()
    for split, t in splits.items():
        for row in t.select(list(cols)).to_pylist():
            out[(*(row[c] for c in cols), split)] += 1
    return out


def test_counts_match_the_input(published: tuple[Path, dict[str, pa.Table]]) -> None:
    root, splits = published
    stats = compute_stats(root)  # the root: goes through latest
    by_config = {(r.config, r.split): r.n for r in stats.by_config.itertuples()}
    expected = _expected(splits, "property")
    assert {k: v for k, v in by_config.items() if k[0] != "all"} == dict(expected)
    for split, t in splits.items():
        assert by_config.get(("all", split), 0) == t.num_rows
    assert {(r.property, r.criterion, r.split): r.n for r in stats.by_criterion.itertuples()} == dict(
        _expected(splits, "property", "criterion")
    )
    assert {(r.relation_id, r.split): r.n for r in stats.by_relation.itertuples()} == dict(
        _expected(splits, "relation_id")
    )
    assert stats.splits == ["train", "validation", "test"]
    assert stats.mismatches == []
    assert set(stats) == {"by_config", "by_criterion", "by_relation", "by_edit_kind"}  # a Mapping too
    wide = stats.pivot("by_config")
    assert list(wide.columns) == ["config", "train", "validation", "test", "total"]
    assert int(wide.loc[wide.config == "all", "total"].iloc[0]) == sum(t.num_rows for t in splits.values())


def test_stats_notice_a_manifest_that_disagrees(tmp_path: Path) -> None:
    snap = publish_snapshot(tmp_path, "s", split_table(synthetic_samples(10)), {}, figures=False)
    manifest = orjson.loads((snap / "manifest.json").read_bytes())
    manifest["counts"]["recent"]["train"] += 5
    (snap / "manifest.json").write_bytes(orjson.dumps(manifest))
    assert any(m.startswith("recent/train") for m in compute_stats(snap).mismatches)


def test_print_stats_renders_tables(published: tuple[Path, dict[str, pa.Table]]) -> None:
    root, splits = published
    console = Console(record=True, width=140, file=io.StringIO())
    print_stats(root / "snapshots" / "2026-07-14", console=console)
    text = console.export_text()
    assert "Samples per config and split" in text and "Samples per relation" in text
    assert "long_tail" in text and "place of birth" in text and "synthetic" in text
    assert str(sum(t.num_rows for t in splits.values())) in text


# -- progress --------------------------------------------------------------------------------


def test_stage_plain_logs_start_progress_and_done() -> None:
    out = io.StringIO()
    with stage("harvest recent", total=4, mode="plain", stream=out, log_every_s=0) as s:
        for _ in range(4):
            s.advance()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[dafset] harvest recent: start (4 to do)"
    assert any("2/4 (50%)" in line for line in lines)
    assert lines[-1].startswith("[dafset] harvest recent: done 4/4 (100%) in ")


def test_stage_reports_items_and_tokens_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from dafset.publish import progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    with stage("score likelihood", total=40, mode="plain", stream=out, log_every_s=0) as s:
        clock[0] = 102.0
        s.advance(10, tokens=500)
        clock[0] = 104.0
        s.advance(10, tokens=700)
    lines = out.getvalue().splitlines()
    assert lines[1].endswith("10/40 (25%) (2.0s, 5.0 items/s, 250 tokens/s)")
    assert lines[-1].endswith("done 20/40 (50%) in 4.0s, 5.0 items/s, 300 tokens/s")
    rich = io.StringIO()
    with stage("generate", total=4, mode="rich", stream=rich) as s:
        clock[0] = 106.0
        s.advance(4, tokens=40)
    assert "tokens/s" in rich.getvalue()


def test_stage_plain_reports_failure_and_reraises() -> None:
    out = io.StringIO()
    with pytest.raises(ValueError), stage("score", mode="plain", stream=out):
        raise ValueError("x")
    assert "score: failed after" in out.getvalue() and "(ValueError)" in out.getvalue()


def test_stage_rich_nests_and_off_is_silent() -> None:
    out = io.StringIO()
    with stage("build", total=2, mode="rich", stream=out) as outer:
        with stage("inner", mode="rich", stream=out) as inner:
            inner.advance(3)
        outer.advance(2)
    assert "build" in out.getvalue() and "inner" in out.getvalue()
    quiet = io.StringIO()
    with stage("nothing", mode="off", stream=quiet) as s:
        s.advance()
    assert quiet.getvalue() == "" and s.completed == 1


def test_stage_auto_is_plain_when_not_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAFSET_PROGRESS", raising=False)
    out = io.StringIO()  # not a TTY, like a CI log
    with stage("publish", stream=out):
        pass
    assert out.getvalue().startswith("[dafset] publish: start")
