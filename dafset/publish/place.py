"""Putting a finished snapshot in place: one publisher per root (a file lock), an atomic swap of
the snapshot folder, and ``latest`` that only moves forward.

``latest`` is three things, each replaced by an atomic ``os.replace``: the ``latest`` symlink, the
``LATEST`` text file (for stores without symlinks) and the root's ``README.md``, a dataset card
whose configs point into ``snapshots/<latest>/`` so that ``load_dataset(<root>)`` gives exactly the
rows of ``latest`` (without it, datasets would read every snapshot's shards at once).

Snapshot names compare as strings: ISO dates sort by time, so "newer" is "sorts later".
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from dafset.errors import PublishError
from dafset.locks import sole_writer
from dafset.publish.layout import CARD, LATEST_FILE, LATEST_LINK, SNAPSHOTS_DIR

PUBLISH_LOCK = ".publish.lock"  # held while a snapshot is swapped in and latest moves (seconds)
BUILD_LOCK = ".build.lock"  # held by a whole build, from its checks to its publish
ROOT_CARD_HEADING = "# DAFSet build root"  # marks the root's README.md as ours (we replace it)
# Every name a build root may hold: what we write, the flow's result store, our temp names.
ROOT_NAMES = {SNAPSHOTS_DIR, LATEST_LINK, LATEST_FILE, CARD, PUBLISH_LOCK, BUILD_LOCK, ".prefect-results"}
ROOT_TEMP_PREFIXES = (".latest-", ".dafset-probe-")


# -- what a build root may hold ----------------------------------------------------------------------


def foreign_entries(root: Path) -> list[str]:
    """Names in ``root`` that no build wrote. A build replaces the root's ``README.md`` and
    ``LATEST``, so it must never run in a folder holding someone else's files."""
    if not root.is_dir():
        return []
    foreign = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name == CARD:
            if not _is_root_card(entry):
                foreign.append(name)
        elif name not in ROOT_NAMES and not name.startswith(ROOT_TEMP_PREFIXES):
            foreign.append(name)
    return foreign


def _is_root_card(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            head = f.read(1 << 16)  # the card's front matter is a few KB; the heading follows it
    except OSError:
        return False
    return ROOT_CARD_HEADING in head


# -- locks ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def publish_lock(root: Path) -> Iterator[None]:
    """One publisher per root at a time (waits), so stale temp dirs can be swept safely."""
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(root / PUBLISH_LOCK):
        yield


@contextlib.contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """One build per root at a time. A second build fails at once with one line instead of
    harvesting for an hour and then racing the first one to ``latest``."""
    root.mkdir(parents=True, exist_ok=True)
    with sole_writer(root / BUILD_LOCK, "build", PublishError):
        yield


def sweep_stale(root: Path) -> None:
    """Leftovers of a publisher that was killed (we hold the lock, so none is running)."""
    for pattern in (".tmp-*", ".old-*"):
        for p in (root / SNAPSHOTS_DIR).glob(pattern):
            shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".latest-*"):
        with contextlib.suppress(OSError):
            p.unlink()


def make_temp_dir(snapshots: Path, snapshot: str) -> Path:
    """A fresh hidden folder beside the snapshots. Made by ``os.mkdir`` (mode 0o777 less the
    umask), not ``mkdtemp`` (0o700): the folder is renamed into place, and a dataset on a shared
    filesystem must be readable by others."""
    while True:
        path = snapshots / f".tmp-{snapshot}-{secrets.token_hex(6)}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue


# -- latest -----------------------------------------------------------------------------------------


def latest_name(root: Path) -> str | None:
    """The snapshot ``latest`` names now (the symlink first, else LATEST), or None."""
    link = root / LATEST_LINK
    if link.is_symlink():
        return Path(os.readlink(link)).name
    marker = root / LATEST_FILE
    if marker.is_file():
        return marker.read_text(encoding="utf-8").strip() or None
    return None


def moves_latest(root: Path, snapshot: str) -> bool:
    """True when ``snapshot`` is not older than what ``latest`` names (so latest may point at it)."""
    current = latest_name(root)
    return current is None or snapshot >= current


def point_latest(root: Path, snapshot: str) -> None:
    """Point LATEST, the ``latest`` symlink and the root card at ``snapshot``, each by an atomic
    ``os.replace`` of a freshly made temporary; on failure all three are put back."""
    link = root / LATEST_LINK
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} exists and is not a symlink")
    token = secrets.token_hex(4)
    staged: dict[Path, Path] = {
        root / LATEST_FILE: _stage(root, f".latest-{token}.txt", snapshot + "\n"),
        root / CARD: _stage(root, f".latest-{token}.md", root_card(root, snapshot)),
    }
    tmp_link = root / f".latest-{token}"
    try:
        os.symlink(Path(SNAPSHOTS_DIR) / snapshot, tmp_link, target_is_directory=True)
        has_link = True
    except (OSError, NotImplementedError):
        has_link = False  # e.g. Windows without the privilege: LATEST alone marks it
    before = {path: path.read_bytes() if path.is_file() else None for path in staged}
    try:
        for final, tmp in staged.items():
            os.replace(tmp, final)
        if has_link:
            os.replace(tmp_link, link)
        elif link.is_symlink():
            link.unlink()  # readers prefer the link; a stale one must not outvote LATEST
    except BaseException:
        for path, content in before.items():
            if content is not None:
                path.write_bytes(content)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
        for p in (*staged.values(), tmp_link):
            with contextlib.suppress(OSError):
                p.unlink()
        raise


def _stage(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path


def root_card(root: Path, snapshot: str) -> str:
    """The snapshot's card front matter with every ``data_files`` path moved under
    ``snapshots/<snapshot>/``: the build root loads as the latest snapshot."""
    text = (root / SNAPSHOTS_DIR / snapshot / CARD).read_text(encoding="utf-8")
    parts = text.split("---\n", 2)
    if len(parts) < 3 or parts[0]:
        raise PublishError(f"{SNAPSHOTS_DIR}/{snapshot}/{CARD}: no YAML front matter to point the root at")
    meta: dict[str, Any] = yaml.safe_load(parts[1]) or {}
    prefix = f"{SNAPSHOTS_DIR}/{snapshot}/"
    for config in meta.get("configs", []):
        for entry in config.get("data_files", []):
            paths = entry["path"]
            entry["path"] = [prefix + p for p in paths] if isinstance(paths, list) else prefix + paths
    body = (
        f"{ROOT_CARD_HEADING}\n\nThis folder holds every published snapshot under `{SNAPSHOTS_DIR}/`. "
        f"`load_dataset(<this folder>)` loads the latest one, `{snapshot}` (also at `{LATEST_LINK}/`, "
        f"whose card describes it); load `{SNAPSHOTS_DIR}/<date>` for another.\n"
    )
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body


# -- swapping a snapshot folder in ------------------------------------------------------------------


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(new: Path, target: Path) -> Path | None:
    """Put ``new`` at ``target``; return where the old target now is (to delete), or None."""
    if not target.exists():
        os.rename(new, target)
        return None
    if exchange(new, target):
        return new  # the old content now sits at the temp path
    # no atomic exchange: two renames, with a brief moment where target is absent
    old = target.with_name(f".old-{target.name}-{secrets.token_hex(4)}")
    os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    return old


def undo_replace(target: Path, old: Path | None, tmp: Path) -> None:
    """Put the previous snapshot back after a failure past the swap; the new one goes to tmp."""
    if old is None:
        os.rename(target, tmp)
    elif old == tmp:
        if not exchange(tmp, target):
            raise PublishError("could not swap the previous snapshot back")  # pragma: no cover
    else:
        os.rename(target, tmp)
        os.rename(old, target)
