"""The dump as a seekable stream of uncompressed bytes, whatever its compression.

Shards are byte ranges of the *uncompressed* JSON, so a shard can start anywhere only if the
reader can seek there without decompressing everything before it. ``.json`` seeks natively. For
``.json.gz`` (rapidgzip) and ``.json.bz2`` (indexed_bzip2) one pass over the file, decompressing
in parallel, builds a seek index (deflate checkpoints / bzip2 block offsets) that every shard then
loads: each worker seeks straight to its range. Python's own ``gzip``/``bz2`` readers cannot seek
without re-decompressing from the start (bench/dump_ingest.py measures both).

The kind is told by the file's magic bytes, not its name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from dafset.errors import SourceError
from dafset.sources.dump import seek_index
from dafset.sources.dump.shards import Shard

Compression = Literal["none", "gzip", "bzip2"]
IDENTITY_SPAN = 1 << 20  # bytes hashed at each end of the file
IDENTITY_SAMPLES = 256  # blocks hashed across the whole file ...
IDENTITY_SAMPLE = 64 << 10  # ... of 64 KiB each (16 MiB read, whatever the size)
IDENTITY_METHOD = (
    "sha256 over the file size, its modification time (ns), its first and last MiB and "
    f"{IDENTITY_SAMPLES} blocks of {IDENTITY_SAMPLE >> 10} KiB spread evenly across it (docs/dump.md)"
)


@dataclass(frozen=True)
class DumpInfo:
    """What identifies a dump file and how to read it."""

    path: str
    size: int  # bytes on disk
    mtime_ns: int
    compression: Compression
    identity: str  # see ``identity`` (IDENTITY_METHOD)
    uncompressed_size: int
    index: str | None  # the seek index file (compressed dumps), under the ingest folder

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def compression_of(path: Path) -> Compression:
    with path.open("rb") as f:
        magic = f.read(3)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"BZh":
        return "bzip2"
    return "none"


def identity(path: Path) -> str:
    """A cheap identity of a (possibly 100 GB) file that still sees its middle change.

    sha256 over its size, its modification time, its first and last MiB and evenly spread
    blocks. The modification time catches any write through the filesystem (a download that
    completes a same-size preallocated file); the blocks catch a different file that kept the
    time (``cp -p``, ``rsync -t``) unless it differs only between them. Reading the whole file
    would cost minutes to an hour on every run, resumes included (docs/dump.md).
    """
    stat = path.stat()
    size = stat.st_size
    h = hashlib.sha256(f"{size}|{stat.st_mtime_ns}".encode())
    step = max(size // IDENTITY_SAMPLES, 1)
    offsets = [0, max(0, size - IDENTITY_SPAN)] + [i * step for i in range(1, IDENTITY_SAMPLES)]
    with path.open("rb") as f:
        for n, offset in enumerate(offsets):
            f.seek(min(offset, size))
            h.update(f.read(IDENTITY_SPAN if n < 2 else IDENTITY_SAMPLE))
    return h.hexdigest()


def describe(path: Path, index_dir: Path, parallelization: int = 1) -> DumpInfo:
    """Identify the dump and, when compressed, build its seek index under ``index_dir`` (one
    parallel decompression pass; reused when it exists for the same identity)."""
    stat = path.stat()
    kind = compression_of(path)
    ident = identity(path)
    if kind == "none":
        return DumpInfo(str(path), stat.st_size, stat.st_mtime_ns, kind, ident, stat.st_size, None)
    index = index_dir / f"dump-{ident[:16]}.{'gzindex' if kind == 'gzip' else 'bz2offsets.json'}"
    size = _indexed_size(index, kind)
    if size is None:  # none yet, or left corrupt by a crash: rebuilt, never fatal
        index_dir.mkdir(parents=True, exist_ok=True)
        for stale in index_dir.glob(f"{index.name}*"):
            stale.unlink()
        try:
            size = seek_index.build(path, kind, index, parallelization)
        except (OSError, RuntimeError, ValueError, EOFError) as exc:
            raise SourceError(f"{path}: cannot decompress ({kind}): {exc}") from exc
        seek_index.write_atomic(_size_file(index), str(size).encode())
    return DumpInfo(str(path), stat.st_size, stat.st_mtime_ns, kind, ident, size, str(index))


def _size_file(index: Path) -> Path:
    return index.with_name(index.name + ".size")


def _indexed_size(index: Path, kind: Compression) -> int | None:
    """The uncompressed size recorded beside a whole, readable index; None otherwise."""
    try:
        size = int(_size_file(index).read_text())
        seek_index.check(index, kind)
    except (OSError, ValueError):
        return None
    return size if size >= 0 else None


@contextmanager
def open_uncompressed(info: DumpInfo, shard: Shard | None = None) -> Iterator[BinaryIO]:
    """The dump's uncompressed bytes, seekable: through the shard's own index when there is one,
    else the whole file's (compressed dumps)."""
    if info.compression == "none":
        with open(info.path, "rb") as f:
            yield f
        return
    index = Path(info.index) if info.index else None
    if index is not None and shard is not None and seek_index.shard_index_path(index, shard).exists():
        index = seek_index.shard_index_path(index, shard)
    if info.compression == "gzip":
        import rapidgzip

        with rapidgzip.open(info.path, parallelization=1) as f:
            if index is not None:
                with index.open("rb") as idx:
                    f.import_index(idx)
            yield f
    else:
        import indexed_bzip2

        with indexed_bzip2.open(info.path, parallelization=1) as f:
            if index is not None:
                f.set_block_offsets({int(k): int(v) for k, v in json.loads(index.read_text())})
            yield f
