"""The vectorised BLAKE2b of the dump source gives ``stable_hash`` bit for bit, so a seed picks the
same pool and the same tie cut-offs on every source."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dafset.hashing import stable_hash
from dafset.sources.dump.hashes import hash_keys, hex_of


def test_a_million_ids_hash_as_stable_hash_does() -> None:
    rng = np.random.default_rng(7)
    numbers = rng.integers(1, 10**12, size=1_000_000)
    ids = [f"Q{n}" for n in numbers]
    keys = hash_keys("pool/0", pa.array(ids))
    assert [hex_of(k) for k in keys] == [stable_hash("pool/0", q) for q in ids]


def test_odd_lengths_unicode_slices_and_messages_over_one_block() -> None:
    ids = ["Q1", "", "é" * 70, "x" * 121, "x" * 122, "Q" + "9" * 200, "P31", "Q42"]
    for salt in ("frequency/12", "", "s" * 140, "ü/7"):
        array = pa.array(ids)
        assert [hex_of(k) for k in hash_keys(salt, array)] == [stable_hash(salt, q) for q in ids]
        sliced = array.slice(2, 4)  # an Arrow slice starts inside the buffers
        assert [hex_of(k) for k in hash_keys(salt, sliced)] == [stable_hash(salt, q) for q in ids[2:6]]
    chunked = pa.chunked_array([ids[:3], ids[3:]])
    assert [hex_of(k) for k in hash_keys("t", chunked)] == [stable_hash("t", q) for q in ids]
    assert len(hash_keys("t", pa.array([], pa.string()))) == 0


def test_key_order_is_the_hex_order() -> None:
    ids = [f"Q{i}" for i in range(5000)]
    keys = hash_keys("pool/3", pa.array(ids))
    by_key = [ids[i] for i in np.argsort(keys, kind="stable")]
    assert by_key == sorted(ids, key=lambda q: stable_hash("pool/3", q))
