"""Byte-range shards of the dump and the entity lines inside one range.

The dump is ``[`` + one entity per line ending in ``,`` + the last entity + ``]``. A shard is the
half-open range ``[start, end)`` of uncompressed bytes and owns every line that *starts* inside
it: a reader seeks to ``start - 1``, skips to the next newline (resync), and reads on until a
line starts at or after ``end`` — finishing the line it is in. So any shard count gives the same
lines, each exactly once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

BLOCK = 8 << 20  # bytes read at a time
TARGET_SHARD_BYTES = 256 << 20  # a shard per 256 MiB ...
MAX_SHARDS = 400  # ... but a few hundred at most: Prefect's per-task overhead dominates tiny tasks
_TRIM = b" \t\r,"
# The longest line read whole. The largest real entity is a few MB; a longer "line" (input without
# newlines, a gzip of zeros) would grow memory without bound, so it is skipped as malformed.
MAX_LINE_BYTES = int(os.environ.get("DAFSET_DUMP_MAX_LINE_MB", "64")) << 20
TOO_LONG = memoryview(b"")  # yielded in place of a line longer than ``max_line``


@dataclass(frozen=True)
class Shard:
    index: int
    start: int  # first byte (uncompressed offset)
    end: int  # one past the last byte a line may start at

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}"


def default_shards(size: int, workers: int) -> int:
    """Enough shards to keep every worker busy, ~256 MiB each, at most ``MAX_SHARDS``."""
    return max(1, min(MAX_SHARDS, max(workers, math.ceil(size / TARGET_SHARD_BYTES))))


def plan(size: int, shards: int) -> list[Shard]:
    """``shards`` ranges of near-equal size covering ``[0, size)``."""
    if shards < 1:
        raise ValueError(f"shards: expected at least 1, got {shards}")
    bounds = [size * i // shards for i in range(shards + 1)]
    return [Shard(i, bounds[i], bounds[i + 1]) for i in range(shards)]


def entity_lines(
    stream: BinaryIO, shard: Shard, block: int | None = None, max_line: int | None = None
) -> Iterator[tuple[int, memoryview]]:
    """(offset, line) for every entity line starting in ``shard``, without the trailing comma.

    The dump's ``[`` and ``]`` lines and blank lines are skipped. A line is a view into the
    current block: use it before asking for the next one. A line longer than ``max_line`` comes
    as ``TOO_LONG`` (empty) and is skipped to its end, holding at most ~``2 * (max_line + block)``.
    """
    block, max_line = block or BLOCK, max_line or MAX_LINE_BYTES  # read now: settings a test may set
    pos = max(shard.start - 1, 0)
    stream.seek(pos)
    skipping = shard.start > 0  # the byte before ``start`` decides: a newline there means "ours"
    carry = b""
    while True:
        chunk = stream.read(block)
        data = carry + chunk if carry else chunk
        view = memoryview(data)
        i = 0
        if skipping:
            nl = data.find(b"\n")
            if nl < 0:
                # no newline up to the shard's end: no line starts in it any more (reading on to
                # the next newline could mean the rest of a file without newlines)
                if not chunk or pos + len(data) >= shard.end:
                    return
                pos += len(data)
                carry = b""
                continue
            i, skipping = nl + 1, False
        while pos + i < shard.end:
            nl = data.find(b"\n", i)
            last = nl < 0 and not chunk  # the file's last line, without a newline
            if nl < 0 and not last:
                break  # the line goes on in the next block
            line = _trimmed(view, i, len(data) if last else nl)
            if line is not None:
                yield pos + i, line
            if last:
                return
            i = nl + 1
        else:
            return
        if not chunk:
            return
        carry = data[i:]
        pos += i
        if len(carry) > max_line:
            yield pos, TOO_LONG
            pos, carry, skipping = pos + len(carry), b"", True


def _trimmed(view: memoryview, start: int, end: int) -> memoryview | None:
    """The line without trailing whitespace and comma; None for "[", "]" and blank lines."""
    while end > start and view[end - 1] in _TRIM:
        end -= 1
    return view[start:end] if end - start > 1 else None
