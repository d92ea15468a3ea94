"""The sample's RDF in an in-process pyoxigraph store, loaded once per process and directory."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

from pyoxigraph import RdfFormat, Store

from dafset.errors import SourceError
from dafset.settings import get_settings

RDF_FILE = "wikidata.nt.gz"
_LOCK = threading.Lock()
_STORES: dict[tuple[Path, int, int], Store] = {}


def rdf_path(sample_dir: Path | None = None) -> Path:
    return (sample_dir or get_settings().sample_dir) / RDF_FILE


def load_store(sample_dir: Path | None = None) -> Store:
    """An in-memory store holding the sample (bulk-loaded; cached, so later calls are free).

    Treat it as read-only: it is shared by every caller in the process."""
    path = rdf_path(sample_dir).resolve()
    if not path.is_file():
        raise SourceError(f"{path}: sample RDF not found (run scripts/build_sample.py)")
    stat = path.stat()
    key = (path, stat.st_mtime_ns, stat.st_size)  # a rebuilt file is loaded afresh
    with _LOCK:
        if key not in _STORES:
            store = Store()
            store.bulk_load(gzip.decompress(path.read_bytes()), RdfFormat.N_TRIPLES)
            _STORES[key] = store
        return _STORES[key]


def clear_cache() -> None:
    """Forget loaded stores (tests that rebuild the sample in a temporary folder use this)."""
    with _LOCK:
        _STORES.clear()
