"""What bad input gets (issue 13): read this file as the list.

Every case runs the real command line (typer's CliRunner, or ``python -m dafset.cli`` where a
separate process matters) and asserts the exit code, exactly ONE error line naming the file or
option at fault, and that nothing was published: every file under the build root, byte for byte,
and ``latest`` are as before. Items:

1. a model folder that carries code (``auto_map``) or only pickled weights: refused, no prompt;
2. ``latest`` only moves forward: older snapshots land beside it, future dates are refused, a
   second build into one folder fails at once, two racing builds leave the newer one latest;
3. every option, path and template is checked before the first request (live source: zero
   requests), and a template's error names the template file;
4. one line, never a traceback, for the inputs that used to print 50-97 lines;
5. templates that would exhaust memory or CPU fail at once;
6. a label holding the old span marker (U+E000) keeps its text and span.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dafset.cli import app
from dafset.config import SAMPLE_SNAPSHOT, today
from dafset.publish.place import build_lock
from dafset.publish.split import split_table
from dafset.publish.synthetic import synthetic_samples
from dafset.publish.writer import publish_snapshot
from dafset.settings import get_settings

REPO = Path(__file__).resolve().parents[1]
# dates around the bundled sample's data date (a sample build may not be dated later)
NEWEST = SAMPLE_SNAPSHOT.isoformat()
LATEST = (SAMPLE_SNAPSHOT - timedelta(days=7)).isoformat()  # the build root's latest before every hostile run
OLDER = (SAMPLE_SNAPSHOT - timedelta(days=14)).isoformat()
SMALL = ["--recent", "3", "--popular", "3", "--long-tail", "3", "--robust", "3", "--no-figures"]
EXTRA = {"source": "synthetic", "snapshot_date": LATEST, "seed": 0}


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFSET_PROGRESS", "off")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A build root whose ``latest`` is LATEST (synthetic samples, so it is quick to make)."""
    out = tmp_path / "out"
    publish_snapshot(out, LATEST, split_table(synthetic_samples(12)), EXTRA, figures=False)
    return out


def tree(root: Path) -> dict[str, Any]:
    """Every path under root with its bytes (files) or target (links)."""
    found: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        found[rel] = (
            ("link", os.readlink(path))
            if path.is_symlink()
            else path.read_bytes()
            if path.is_file()
            else "dir"
        )
    return found


def build(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["build", "--source", "sample", "--out", str(root), *SMALL, *args])


def refused(result: Any, *names: str, code: int = 2) -> str:
    """The one error line of a refused run (asserting there is exactly one, naming ``names``)."""
    output = result.output if hasattr(result, "exit_code") else result.stdout + result.stderr
    rc = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert rc == code, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def cli(
    *args: str, stdin: str = "", prefix: tuple[str, ...] | list[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``python -m dafset.cli`` in its own process (answers "y" to any prompt it might print)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAFSET_PROGRESS": "off"}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "dafset.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of templates/, in use for this test."""
    copy = tmp_path / "templates"
    shutil.copytree(get_settings().templates_dir, copy)
    monkeypatch.setenv("DAFSET_TEMPLATES_DIR", str(copy))
    return copy


# -- 1. model folders are data, never code --------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from test_lm_support import tiny_gpt2, tiny_tokenizer

    out = tmp_path_factory.mktemp("tiny-model")
    tiny_gpt2().save_pretrained(out)  # safetensors
    tiny_tokenizer().save_pretrained(out)
    return out


EVIL_CODE = "from pathlib import Path\nPath(__file__).with_name('RAN').write_text('custom code ran')\n"


def hostile_model(model_dir: Path, dest: Path, kind: str) -> Path:
    shutil.copytree(model_dir, dest)
    (dest / "evil.py").write_text(EVIL_CODE)
    if kind == "auto_map":
        config = json.loads((dest / "config.json").read_text())
        config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
        (dest / "config.json").write_text(json.dumps(config))
    elif kind == "tokenizer auto_map":
        config = json.loads((dest / "tokenizer_config.json").read_text())
        config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
        (dest / "tokenizer_config.json").write_text(json.dumps(config))
    else:  # pickle-only weights
        import torch
        from safetensors.torch import load_file

        weights = dest / "model.safetensors"
        torch.save(load_file(weights), dest / "pytorch_model.bin")
        weights.unlink()
    return dest


@pytest.mark.parametrize("kind", ["auto_map", "tokenizer auto_map", "pickle-only"])
@pytest.mark.parametrize("command", ["build", "train"])
def test_1_model_folder_with_code_or_pickles_is_refused_without_prompting(
    model_dir: Path, root: Path, tmp_path: Path, kind: str, command: str
) -> None:
    model = hostile_model(model_dir, tmp_path / "model", kind)
    before = tree(root)
    if command == "build":
        args = ["build", "--source", "sample", "--out", str(root), "--model", str(model), *SMALL]
    else:
        args = ["train", "--data", str(root / "latest"), "--model", str(model), "--out", str(tmp_path / "ed")]
    result = cli(*args, stdin="y\ny\n")
    cause = "pickled" if kind == "pickle-only" else "auto_map"
    refused(result, str(model), cause, code=2 if command == "build" else 1)
    assert not (model / "RAN").exists()  # the folder's code never ran, whatever stdin said
    assert tree(root) == before and not (tmp_path / "ed").exists()


# -- 2. latest only moves forward; one build per folder ------------------------------------------


def test_2_an_older_snapshot_is_published_beside_latest_and_says_so(root: Path) -> None:
    result = cli("build", "--source", "sample", "--out", str(root), "--snapshot", OLDER, *SMALL)
    assert result.returncode == 0, result.stderr
    assert "older than latest" in result.stderr and LATEST in result.stderr
    assert os.readlink(root / "latest") == f"snapshots/{LATEST}"
    assert (root / "LATEST").read_text().strip() == LATEST
    assert (root / "snapshots" / OLDER / "manifest.json").is_file()


@pytest.mark.parametrize("day", ["2099-01-01", (today() + timedelta(days=1)).isoformat()])
def test_2_a_snapshot_dated_after_today_is_refused(root: Path, day: str) -> None:
    before = tree(root)
    refused(build(root, "--snapshot", day), "--snapshot", day, "future")
    assert tree(root) == before


def test_2_a_second_build_into_the_same_folder_fails_at_once(root: Path) -> None:
    with build_lock(root):  # another build is running
        before = tree(root)
        refused(build(root), "another build", str(root))
        assert tree(root) == before


def test_2_racing_builds_leave_latest_at_the_newest_published(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAFSET_PROGRESS": "off"}
    runs = {
        day: subprocess.Popen(
            [sys.executable, "-m", "dafset.cli", "build", "--out", str(out), "--snapshot", day, *SMALL],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for day in (NEWEST, OLDER)  # the newer one starts first, as in the report
    }
    published = []
    for day, proc in runs.items():
        _, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            published.append(day)
        else:  # it met the other build's lock: one clear line
            assert proc.returncode == 2 and "another build is writing" in err, err
    assert published
    assert os.readlink(out / "latest") == f"snapshots/{max(published)}"


# -- 3. every check before the first request -------------------------------------------------------


def _break(templates: Path, name: str, text: str) -> None:
    (templates / name).write_text(text, encoding="utf-8")


PREFLIGHT_CASES = {
    "negative --recent": (["--recent", "-1"], ["--recent", "-1"]),
    "negative --popular": (["--popular", "-5"], ["--popular"]),
    "negative --long-tail": (["--long-tail", "-1"], ["--long-tail"]),
    "negative --robust": (["--robust", "-2"], ["--robust"]),
    "--out a file": (["--out", "{file}"], ["--out", "not a folder"]),
    "missing --model": (["--model", "{tmp}/no-model"], ["--model", "no-model"]),
    "unusable --previous": (["--previous", "{tmp}"], ["--previous"]),
    "undefined name in prompt.j2": (
        ["@prompt.j2={{ relation.render_prompt(subjekt) }}"],
        ["templates/prompt.j2:1", "subjekt"],
    ),
    "sandbox refusal in locality.j2": (
        ["@locality.j2={{ relation.__class__ }}"],
        ["templates/locality.j2", "sandbox"],
    ),
    "bad filter in robust_long.j2": (
        ["@robust_long.j2={{ facts | nosuchfilter }}"],
        ["templates/robust_long.j2"],
    ),
}


@pytest.mark.parametrize("case", list(PREFLIGHT_CASES))
def test_3_bad_input_is_found_before_the_first_request(
    case: str, root: Path, tmp_path: Path, templates: Path, live_env: Any
) -> None:
    args, names = PREFLIGHT_CASES[case]
    (tmp_path / "a-file").write_text("not a folder")
    options: list[str] = []
    for arg in args:
        if arg.startswith("@"):
            name, text = arg[1:].split("=", 1)
            _break(templates, name, text)
        else:
            options.append(arg.format(file=tmp_path / "a-file", tmp=tmp_path))
    before = tree(root)
    runner = CliRunner()
    result = runner.invoke(app, ["build", "--source", "live", "--out", str(root), *SMALL, *options])
    line = refused(result, *names)
    assert "relations.yaml" not in line  # a template's fault names the template, not an inline one
    assert live_env.requests == []  # nothing was asked of Wikidata
    assert tree(root) == before


# -- 4. one line, never a traceback ------------------------------------------------------------


def _corrupt_previous(root: Path) -> Path:
    facts = root / "snapshots" / LATEST / "facts.parquet"
    facts.write_bytes(b"PAR1 this is not parquet")
    return facts


def _foreign_previous(root: Path) -> Path:
    facts = root / "snapshots" / LATEST / "facts.parquet"
    pq.write_table(pa.table({"qid": ["Q1"], "stuff": [1]}), facts)
    return facts


ONE_LINE_CASES: dict[str, tuple[list[str], list[str]]] = {
    "--out a file": (["--out", "{file}"], ["--out", "a-file"]),
    "--out empty": (["--out", ""], ["--out", "empty"]),
    "--snapshot 0001-01-01": (["--snapshot", "0001-01-01"], ["--snapshot", "0001-01-01"]),
    "--snapshot empty": (["--snapshot", ""], ["--snapshot", "''"]),
    "--window-days 1000000000": (["--window-days", "1000000000"], ["--window-days", "1000000000"]),
    "--device without it": (["--device", "{gpu}"], ["--device", "{gpu}"]),
    "--previous nonexistent": (["--previous", "{tmp}/gone"], ["--previous", "gone"]),
}


@pytest.mark.parametrize("case", list(ONE_LINE_CASES))
def test_4_bad_options_get_one_line(case: str, root: Path, tmp_path: Path) -> None:
    import torch

    gpu = "cuda:99" if torch.cuda.is_available() else "cuda"  # a device this machine lacks
    (tmp_path / "a-file").write_text("x")
    args, names = ONE_LINE_CASES[case]
    options = [a.format(file=tmp_path / "a-file", tmp=tmp_path, gpu=gpu) for a in args]
    if "--out" not in options:
        options = ["--out", str(root), *options]
    before = tree(root)
    result = CliRunner().invoke(app, ["build", "--source", "sample", *SMALL, *options])
    refused(result, *[n.format(gpu=gpu) for n in names])
    assert tree(root) == before


@pytest.mark.parametrize("damage", [_corrupt_previous, _foreign_previous], ids=["corrupt", "wrong schema"])
def test_4_a_broken_previous_facts_file_is_named_with_the_way_on(root: Path, damage: Any) -> None:
    facts = damage(root)
    before = tree(root)
    refused(build(root, "--snapshot", NEWEST), str(facts), "--previous none")
    assert tree(root) == before
    # ... and the way on works: the build goes ahead without a witness
    assert build(root, "--snapshot", NEWEST, "--previous", "none").exit_code == 0
    assert os.readlink(root / "latest") == f"snapshots/{NEWEST}"


def test_4_a_non_utf8_template_is_named(root: Path, templates: Path) -> None:
    (templates / "rephrase.j2").write_bytes(b"{{ subject }} caf\xe9")
    before = tree(root)
    refused(build(root), "templates/rephrase.j2", "UTF-8")
    assert tree(root) == before


READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" || exit 99; exec "$@"'


def test_4_a_read_only_out_gets_one_line(tmp_path: Path) -> None:
    out = tmp_path / "read-only"
    out.mkdir()
    args = ["build", "--source", "sample", "--out", str(out), *SMALL]
    if os.geteuid() != 0:
        out.chmod(0o555)
        result = cli(*args)
    else:  # root writes through any mode bits: make the folder read-only in a mount namespace
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: no way to make a read-only folder")
        result = cli(*args, prefix=["unshare", "-m", "sh", "-c", READ_ONLY_MOUNT, str(out)])
        if result.returncode == 99:
            pytest.skip("running as root without mount namespaces: no way to make a read-only folder")
    refused(result, "--out", str(out), "cannot write")
    assert list(out.iterdir()) == []


# -- 5. templates cannot exhaust the machine ---------------------------------------------------


@pytest.mark.parametrize(
    "bomb",
    [
        "{{ 'a' * 100000000000 }}",
        "{{ (9**99999999) % 7 }}",
        "{{ '%0999999999d' % 1 }}",
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    ],
)
def test_5_template_bombs_fail_at_once_with_one_line(root: Path, templates: Path, bomb: str) -> None:
    _break(templates, "prompt.j2", bomb)
    before = tree(root)
    refused(build(root), "templates/prompt.j2", "sandbox")
    assert tree(root) == before


# -- 6. spans need no in-band marker a label could hold ----------------------------------------------


@pytest.mark.parametrize("label", ["Ann\ue000e", "\ue000", "A\ue0000\ue001B"])
def test_6_a_label_holding_the_marker_keeps_its_text_and_span(label: str) -> None:
    from dafset.lm.entities import neutral_items
    from dafset.lm.statements import render_statement

    # the object comes first, so a marker found in it would take the subject's place
    item = render_statement("{{ object }} is where {{ subject }} was born.", "Ada", label)
    assert item.text == f"{label} is where Ada was born." and item.text[item.start : item.end] == "Ada"
    item = render_statement("{{ object }} is where {{ subject }} was born.", label, "Paris")
    assert item.text == f"Paris is where {label} was born." and item.text[item.start : item.end] == label
    for item in neutral_items(label):
        assert item.text[item.start : item.end] == label and "\ue001" not in item.text.replace(label, "")


# -- the Prefect flow checks the same inputs before its first task --------------------------------


def test_the_flow_checks_its_inputs_before_any_task(root: Path, tmp_path: Path) -> None:
    """``build_dafset`` (the flow's body, run without a server) refuses an empty or unusable
    ``out`` and a missing ``previous`` before it submits a stage."""
    from dafset.errors import ConfigError
    from flows.build_dafset import build_dafset

    before = tree(root)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^out: "):
        build_dafset.fn(out=" ")
    with pytest.raises(ConfigError, match="a-file"):
        build_dafset.fn(out=str(a_file))
    with pytest.raises(ConfigError, match="no-such-snapshot"):
        build_dafset.fn(out=str(root), previous=str(tmp_path / "no-such-snapshot"))
    assert tree(root) == before
