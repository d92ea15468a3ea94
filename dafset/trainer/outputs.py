"""Where ``dafset train`` and ``dafset eval`` write, checked before any work and written so that a
failure never damages an earlier result: a checkpoint is trained in a hidden sibling folder and
moved into place only when training finished; a result file is written whole, then renamed."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from dafset.errors import DafsetError

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "editor.json"  # what marks a folder as a checkpoint of ours (see editor.CONFIG_FILE)


def check_checkpoint_out(out: Path) -> None:
    """``--out`` of ``dafset train``: absent, an empty folder, or an earlier checkpoint."""
    if out.exists() and not out.is_dir():
        raise DafsetError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / CHECKPOINT_FILE).is_file():
        raise DafsetError(
            f"--out {out}: a folder that is not a checkpoint (no {CHECKPOINT_FILE}); give a new or empty one"
        )
    _check_parent_writable(out, "--out")


@contextlib.contextmanager
def staged_checkpoint(out: Path) -> Iterator[Path]:
    """A fresh hidden folder beside ``out`` to train into; on success it replaces ``out`` (the
    earlier checkpoint is removed only then); on failure ``out`` is untouched and the partial
    folder (its log and periodic checkpoints) is kept and named."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.with_name(f".{out.name}.partial-{secrets.token_hex(4)}")
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        log.warning("training stopped: %s is unchanged; the partial run is in %s", out, stage)
        raise
    old = out.with_name(f".{out.name}.old-{secrets.token_hex(4)}")
    if out.exists():
        os.rename(out, old)
    os.rename(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def check_result_out(path: Path) -> None:
    """``--out`` of ``dafset eval``: a file path we can write, checked before hours of evaluation."""
    if path.is_dir():
        raise DafsetError(f"--out {path}: is a folder; give the result file's path (e.g. {path}/eval.json)")
    _check_parent_writable(path, "--out")


def write_result(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    tmp.write_text(text)
    os.replace(tmp, path)  # a reader never sees half a file; a failed write leaves the old one


def _check_parent_writable(path: Path, option: str) -> None:
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise DafsetError(f"{option} {path}: {parent} is not a folder")
    try:
        with open(parent / f".dafset-probe-{secrets.token_hex(4)}", "x") as probe:
            probe_path = Path(probe.name)
        probe_path.unlink()
    except OSError as exc:
        raise DafsetError(f"{option} {path}: cannot write in {parent} ({exc.strerror or exc})") from None
