"""``dafset.hashing.stable_hash(salt, id)`` for millions of ids at once, bit for bit.

The long-tail pool and tie cut-offs hash every item having the relations (~100 M on Wikidata);
``hashlib`` costs a Python call per id. Here BLAKE2b (RFC 7693, 8-byte digest, no key) runs over
numpy columns: one message block per id (``salt \\x1f id`` fits 128 bytes), so one compression per
id, computed for a whole chunk with vector operations. Ids whose message would not fit one block
fall back to ``stable_hash``. DuckDB has no BLAKE2b; the source pulls the ids out as Arrow and
hashes them here.

A hash is returned as an order key: the digest read big-endian as ``uint64``, so comparing keys
compares the hex strings ``stable_hash`` returns (``hex_of`` gives them back).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from dafset.hashing import stable_hash

BLOCK = 128  # bytes in one BLAKE2b block
CHUNK = 8192  # ids per vector pass: the 16 state words stay in cache
_IV = np.array(
    [
        0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
        0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
    ],
    dtype=np.uint64,
)  # fmt: skip
_SIGMA = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0),
)
# the four column steps, then the four diagonal steps of a round
_STEPS = ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
          (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14))  # fmt: skip
_PARAMS = 0x01010000 | 8  # depth 1, fanout 1, no key, 8-byte digest


def hash_keys(salt: str, ids: pa.Array | pa.ChunkedArray, workers: int | None = None) -> np.ndarray:
    """Order keys (``uint64``) of ``stable_hash(salt, id)`` for every id (no nulls).

    Chunks run on ``workers`` threads (default: every core): numpy releases the GIL inside each
    vector operation, and the chunks share nothing."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    ids = ids.cast(pa.large_string())
    out = np.empty(len(ids), dtype=np.uint64)
    prefix = f"{salt}\x1f".encode()

    def one(start: int) -> None:
        part = ids.slice(start, CHUNK)
        out[start : start + len(part)] = _chunk_keys(prefix, salt, part)

    starts = range(0, len(ids), CHUNK)
    workers = min(workers or os.cpu_count() or 1, len(starts))
    if workers <= 1:
        for start in starts:
            one(start)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, starts))
    return out


def hex_of(key: int | np.uint64) -> str:
    """The ``stable_hash`` hex string of an order key."""
    return f"{int(key):016x}"


def _chunk_keys(prefix: bytes, salt: str, ids: pa.Array) -> np.ndarray:
    words, lengths = _messages(prefix, ids)
    fits = lengths <= BLOCK
    keys = _compress(words, lengths).byteswap()  # digest bytes, read big-endian
    for i in np.flatnonzero(~fits):  # longer than one block: rare, the slow way
        keys[i] = int(stable_hash(salt, ids[i].as_py()), 16)
    return keys


def _messages(prefix: bytes, ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Each ``prefix + id`` zero-padded to one block, as 16 little-endian words per row."""
    n = len(ids)
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int64, count=n + 1, offset=ids.offset * 8)
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8) if n else np.empty(0, np.uint8)
    sizes = np.diff(offsets)
    lengths = sizes + len(prefix)
    sizes = np.minimum(sizes, BLOCK - len(prefix)).clip(min=0)  # what fits (the rest falls back)
    block = np.zeros((n, BLOCK), dtype=np.uint8)
    block[:, : min(len(prefix), BLOCK)] = np.frombuffer(prefix[:BLOCK], dtype=np.uint8)
    rows = np.repeat(np.arange(n), sizes)
    within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    block[rows, len(prefix) + within] = data[np.repeat(offsets[:-1], sizes) + within]
    return block.view("<u8"), lengths.astype(np.uint64)


def _rotr(x: np.ndarray, n: int, tmp: np.ndarray) -> None:
    np.right_shift(x, np.uint64(n), out=tmp)
    np.left_shift(x, np.uint64(64 - n), out=x)
    np.bitwise_or(x, tmp, out=x)


def _mix(v: list[np.ndarray], step: tuple[int, int, int, int], x: np.ndarray | None,
         y: np.ndarray | None, tmp: np.ndarray) -> None:  # fmt: skip
    """BLAKE2b's G on four state words, in place (uint64 arithmetic wraps, as the spec wants)."""
    a, b, c, d = (v[i] for i in step)
    a += b
    if x is not None:
        a += x
    d ^= a
    _rotr(d, 32, tmp)
    c += d
    b ^= c
    _rotr(b, 24, tmp)
    a += b
    if y is not None:
        a += y
    d ^= a
    _rotr(d, 16, tmp)
    c += d
    b ^= c
    _rotr(b, 63, tmp)


def _compress(words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The first digest word of each one-block message (the final, only block)."""
    n = len(lengths)
    # message words that are zero in every row add nothing: skipped
    m = [np.ascontiguousarray(words[:, i]) if words[:, i].any() else None for i in range(16)]
    v = [np.full(n, _IV[i % 8]) for i in range(16)]
    v[0] ^= np.uint64(_PARAMS)
    h0 = v[0].copy()
    v[12] ^= np.minimum(lengths, BLOCK)  # the byte counter (the long rows are redone anyway)
    v[14] ^= np.uint64(0xFFFFFFFFFFFFFFFF)  # last-block flag
    tmp = np.empty(n, dtype=np.uint64)
    for r in range(12):
        s = _SIGMA[r % 10]
        for j, step in enumerate(_STEPS):
            _mix(v, step, m[s[2 * j]], m[s[2 * j + 1]], tmp)
    return h0 ^ v[0] ^ v[8]
