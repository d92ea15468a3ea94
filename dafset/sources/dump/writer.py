"""One shard's Parquet files (zstd), written whole or not at all.

Each table goes to ``<table>/shard-NNNNN.parquet.tmp`` batch by batch (one row group per batch)
and is renamed into place only when the shard is complete, so a crash never leaves a file that
looks finished.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from dafset.sources.dump.tables import SCHEMAS, shard_file

COMPRESSION = "zstd"


class ShardWriter:
    def __init__(self, out: Path, shard: int) -> None:
        self.paths = {table: out / shard_file(table, shard) for table in SCHEMAS}
        self.rows = dict.fromkeys(SCHEMAS, 0)
        self._writers: dict[str, pq.ParquetWriter] = {}
        for table, path in self.paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writers[table] = pq.ParquetWriter(_tmp(path), SCHEMAS[table], compression=COMPRESSION)

    def write(self, batches: dict[str, pa.RecordBatch]) -> None:
        for table, batch in batches.items():
            if batch.num_rows:
                self._writers[table].write_batch(batch)
                self.rows[table] += batch.num_rows

    def commit(self) -> None:
        for table, writer in self._writers.items():
            writer.close()
            os.replace(_tmp(self.paths[table]), self.paths[table])
        self._writers.clear()

    def abort(self) -> None:
        for table, writer in self._writers.items():
            writer.close()
            _tmp(self.paths[table]).unlink(missing_ok=True)
        self._writers.clear()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")
