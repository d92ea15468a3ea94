"""Never publish or read the wrong data quietly (issue 20, items 6, 7 and 13-17): what a careless
or unlucky user gets from ``export``, ``stats``, ``build --out``, ``ingest-dump``, ``dump-stats``,
``train`` and ``eval``. Read this file as the list; each case asserts the exit code, exactly ONE
error line naming the option or file, and that nothing already written was lost or changed.

6. export and stats verify the manifest's checksums (and the shards' schema) before reading;
7. a build refuses an output folder holding files it did not write (a user's README.md, a dump's
   ingest.json), so it never replaces them;
13. one line, not a traceback: a file or a symlink loop as --out, a bad --memory-limit, an
    unreadable table, a dead ingest worker, out-of-range trainer settings, an --editor folder
    that is no checkpoint;
14. eval checks --out before it evaluates; a failed retrain leaves the earlier checkpoint whole;
15. --config is read with a size cap (/dev/zero is refused, not read);
16. terminal output escapes control characters from labels;
17. a live run without a contact for Wikimedia's User-Agent stops before its first request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_hostile import EXTRA, LATEST, SMALL, cli, refused, tree
from typer.testing import CliRunner

from dafset.cli import app
from dafset.publish.layout import shard_files
from dafset.publish.manifest import file_entry, read_manifest, write_manifest
from dafset.publish.split import split_table
from dafset.publish.synthetic import synthetic_samples
from dafset.publish.writer import publish_snapshot
from dafset.settings import Settings

REPO = Path(__file__).resolve().parents[1]
HEAD50 = REPO / "tests" / "data" / "entity_json" / "wikibase-dump-filter_latest-all_head50.json"


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFSET_PROGRESS", "off")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    publish_snapshot(out, LATEST, split_table(synthetic_samples(12)), EXTRA, figures=False)
    return out


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _shard(root: Path) -> Path:
    return shard_files(root / "snapshots" / LATEST, "popular", "train")[0]


def _rewrite(path: Path, edit: Any) -> None:
    pq.write_table(edit(pq.read_table(path)), path)


def _reseal(snapshot: Path) -> None:
    """Recompute the manifest's checksums over edited files (a manifest that matches wrong data)."""
    manifest = read_manifest(snapshot)
    manifest["files"] = [file_entry(snapshot, snapshot / e["path"]) for e in manifest["files"]]
    write_manifest(snapshot, manifest)


def _prompts_as_integers(table: pa.Table) -> pa.Table:
    i = table.schema.get_field_index("prompt")
    return table.set_column(i, "prompt", pa.array(range(table.num_rows), pa.int64()))


# -- 6. readers verify before they read -------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    ["prompts turned into integers", "a column dropped", "an extra shard"],
)
def test_6_export_and_stats_refuse_a_tampered_snapshot(tamper: str, root: Path, tmp_path: Path) -> None:
    shard = _shard(root)
    if tamper == "prompts turned into integers":
        _rewrite(shard, _prompts_as_integers)
    elif tamper == "a column dropped":
        _rewrite(shard, lambda t: t.drop_columns(["prompt"]))
    else:
        pq.write_table(pq.read_table(shard), shard.with_name("train-00001-of-00002.parquet"))
    out = tmp_path / "json"
    refused(run("export", str(root), "--out", str(out)), "manifest.json")
    assert not out.exists()  # nothing half-written
    refused(run("stats", str(root)), "manifest.json")


def test_13_a_wrong_schema_snapshot_is_one_line_even_with_a_matching_manifest(
    root: Path, tmp_path: Path
) -> None:
    shard = _shard(root)
    _rewrite(shard, _prompts_as_integers)
    _reseal(root / "snapshots" / LATEST)
    for result in (run("export", str(root), "--out", str(tmp_path / "json")), run("stats", str(root))):
        line = refused(result, shard.name, "prompt")
        assert "int64" in line


# -- 7. a build never replaces files it did not write -----------------------------------------


@pytest.mark.parametrize("name", ["README.md", "ingest.json"])
def test_7_build_refuses_a_folder_with_files_it_did_not_write(name: str, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text("the user's own file\n")
    before = tree(out)
    result = run("build", "--source", "sample", "--out", str(out), *SMALL)
    refused(result, "--out", name)
    assert tree(out) == before


def test_7_an_earlier_build_root_is_accepted(root: Path) -> None:
    from dafset.publish.place import foreign_entries

    assert foreign_entries(root) == []  # its README.md is the root card a build wrote


# -- 13. one line, never a traceback ----------------------------------------------------------


def test_13_a_symlink_loop_as_out_is_one_line(root: Path, tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    refused(run("build", "--source", "sample", "--out", str(loop), *SMALL), "loop")
    refused(run("export", str(root), "--out", str(loop)), "loop")
    refused(run("ingest-dump", str(HEAD50), "--out", str(loop)), "loop")


def test_13_ingest_into_a_file_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("mine")
    refused(run("ingest-dump", str(HEAD50), "--out", str(target)), "--out", "a-file")
    assert target.read_text() == "mine"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ingest") / "dump"
    result = run("ingest-dump", str(HEAD50), "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_13_dump_stats_bad_memory_limit_is_one_line(ingested: Path) -> None:
    refused(run("dump-stats", str(ingested), "--memory-limit", "abc"), "--memory-limit", "abc")


def test_13_dump_stats_on_a_garbage_shard_is_one_line(ingested: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "dump"
    shutil.copytree(ingested, copy)
    shard = sorted((copy / "statements").glob("*.parquet"))[0]
    shard.write_bytes(b"this is not parquet")
    refused(run("dump-stats", str(copy)), shard.name)


def _spawned_children(pid: int) -> list[int]:
    """Processes started by ``pid`` through multiprocessing's spawn (the pool's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the pool's workers through /proc")
def test_13_a_killed_ingest_worker_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "dump"
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAFSET_PROGRESS": "off"}
    args = [sys.executable, "-m", "dafset.cli", "ingest-dump", str(HEAD50), "--out", str(out)]
    proc = subprocess.Popen(
        [*args, "--workers", "2", "--shards", "8"], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    killed = False
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not killed:
        for child in _spawned_children(proc.pid):
            os.kill(child, signal.SIGKILL)  # as the OOM killer would
            killed = True
            break
        time.sleep(0.01)
    stdout, stderr = proc.communicate(timeout=120)
    if not killed:
        pytest.fail(f"no worker was seen to kill: {stdout}{stderr}")
    line = refused(subprocess.CompletedProcess(args, proc.returncode, stdout, stderr), "worker")
    assert "rerun" in line


TRAIN_SETTINGS = ["attn_heads=0", "attn_dim=-2", "log_every=0", "steps=0", "last_blocks=0", "last_blocks=-1"]


@pytest.mark.parametrize("setting", TRAIN_SETTINGS)
def test_13_out_of_range_trainer_settings_are_one_line(setting: str, tmp_path: Path) -> None:
    # the model does not exist: the setting must be refused before anything is loaded
    result = run("train", "--data", str(tmp_path), "--model", str(tmp_path / "none"),
                 "--out", str(tmp_path / "ckpt"), "--set", setting)  # fmt: skip
    refused(result, f"--set {setting}", code=1)
    assert not (tmp_path / "ckpt").exists()


def test_13_eval_last_blocks_zero_is_one_line(tmp_path: Path) -> None:
    result = run("eval", "--data", str(tmp_path), "--model", str(tmp_path / "none"), "--last-blocks", "0")
    refused(result, "--last-blocks", code=1)


def test_13_eval_editor_without_editor_json_is_one_line_before_the_model_loads(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-checkpoint"
    folder.mkdir()
    result = run("eval", "--data", str(tmp_path), "--model", str(tmp_path / "none"), "--editor", str(folder))
    refused(result, "--editor", "editor.json", code=1)


# -- 14. outputs checked first, earlier results never damaged ---------------------------------


def test_14_eval_out_is_checked_before_the_evaluation(tmp_path: Path) -> None:
    existing = tmp_path / "results"
    existing.mkdir()
    result = run("eval", "--data", str(tmp_path), "--model", str(tmp_path / "none"), "--out", str(existing))
    refused(result, "--out", "folder", code=1)  # not a model error: nothing was loaded


def test_14_a_failed_retrain_leaves_the_earlier_checkpoint_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from dafset.trainer import toy
    from dafset.trainer import train as train_module

    data, world = toy.toy_dafset(tmp_path / "dafset", n_subjects=12, n_train=30, n_test=10, seed=0)
    tok = toy.word_tokenizer(toy.toy_corpus(world))
    model_dir = tmp_path / "model"
    toy.tiny_gpt2(len(tok), seed=0).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    ckpt = tmp_path / "editor"
    small = ["--set", "attn_dim=16", "--set", "score_dim=8", "--set", "ffn_dim=32", "--set", "last_blocks=1",
             "--set", "max_length=32", "--device", "cpu", "--no-progress"]  # fmt: skip
    common = ["train", "--data", str(data), "--model", str(model_dir), "--out", str(ckpt), *small]
    first = run(*common, "--set", "steps=3", "--set", "log_every=1")
    assert first.exit_code == 0, first.output
    before = tree(ckpt)
    assert len((ckpt / "train_log.jsonl").read_text().splitlines()) == 3

    real_total_loss = train_module.total_loss
    calls = {"n": 0}

    def diverges_at_step_two(losses: Any, cfg: Any) -> Any:
        calls["n"] += 1
        loss = real_total_loss(losses, cfg)
        return loss * float("nan") if calls["n"] == 2 else loss

    monkeypatch.setattr(train_module, "total_loss", diverges_at_step_two)
    again = run(*common, "--set", "steps=5", "--set", "log_every=1")
    assert again.exit_code == 1 and "Traceback" not in again.output  # loaders print progress first
    assert again.output.strip().splitlines()[-1].startswith("error: step 2: non-finite loss")
    assert tree(ckpt) == before  # train_log.jsonl keeps its three lines, the weights their bytes


# -- 15. bounded reads --------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_15_config_from_dev_zero_is_refused_not_read(tmp_path: Path) -> None:
    result = cli("train", "--data", str(tmp_path), "--model", str(tmp_path / "none"),
                 "--out", str(tmp_path / "ckpt"), "--config", "/dev/zero")  # fmt: skip
    refused(result, "--config", "/dev/zero", code=1)


# -- 16. terminal output ------------------------------------------------------------------------


def test_16_stats_escapes_control_characters_from_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that rich shows whole labels
    table = synthetic_samples(12)
    hostile = "occupation\x1b]0;owned\x07\x1b[2J\u202e"
    labels = pc.if_else(pc.equal(table["relation_id"], "P106"), hostile, table["relation_label"])
    table = table.set_column(table.schema.get_field_index("relation_label"), "relation_label", labels)
    out = tmp_path / "out"
    publish_snapshot(out, LATEST, split_table(table), EXTRA, figures=False)
    result = cli("stats", str(out))
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\u202e" not in result.stdout
    assert "\\x1b" in result.stdout and "\\u202e" in result.stdout  # shown, not obeyed
    as_json = cli("stats", str(out), "--json")
    assert as_json.returncode == 0 and "\x1b" not in as_json.stdout  # JSON escapes it itself
    json.loads(as_json.stdout)


# -- 17. live runs name who runs them ---------------------------------------------------------


def test_17_live_build_without_a_contact_stops_before_any_request(
    root: Path, live_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAFSET_CONTACT")
    before = tree(root)
    result = run("build", "--source", "live", "--out", str(root), *SMALL)
    refused(result, "DAFSET_CONTACT", "--contact")
    assert live_env.requests == []
    assert tree(root) == before


def test_17_a_contact_that_reaches_nobody_is_refused(root: Path, live_env: Any) -> None:
    result = run("build", "--source", "live", "--out", str(root), "--contact", "nobody", *SMALL)
    refused(result, "contact", "nobody")
    assert live_env.requests == []


def test_17_no_request_can_carry_an_empty_contact(monkeypatch: pytest.MonkeyPatch) -> None:
    from dafset.errors import ConfigError

    monkeypatch.delenv("DAFSET_CONTACT", raising=False)
    with pytest.raises(ConfigError, match="DAFSET_CONTACT"):
        _ = Settings().user_agent
    monkeypatch.setenv("DAFSET_CONTACT", "ops@example.org")
    assert "(ops@example.org)" in Settings().user_agent


def test_6_train_refuses_a_tampered_snapshot_before_loading_the_model(root: Path, tmp_path: Path) -> None:
    _rewrite(_shard(root), _prompts_as_integers)
    model = tmp_path / "model"  # passes the cheap folder check; loading it would fail
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"")
    result = run("train", "--data", str(root / "latest"), "--model", str(model),
                 "--out", str(tmp_path / "ckpt"))  # fmt: skip
    refused(result, "manifest.json", code=1)
