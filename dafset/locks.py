"""One writer per folder: a lock file taken at once or refused in one line (a second build or
ingest into the same folder fails immediately instead of racing the first one)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from dafset.errors import DafsetError


@contextlib.contextmanager
def sole_writer(lock_file: Path, who: str, error: type[DafsetError]) -> Iterator[None]:
    """Hold ``lock_file`` while the block runs; raise ``error`` naming ``who`` if another holds it."""
    lock = FileLock(lock_file, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise error(
            f"another {who} is writing to {lock_file.parent} (it holds {lock_file}); "
            "wait for it to finish or choose another --out"
        ) from None
    try:
        yield
    finally:
        lock.release()
