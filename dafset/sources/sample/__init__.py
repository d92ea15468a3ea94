"""The bundled sample: real Wikidata facts shipped with the package, so the build runs offline.

``data/`` holds Wikidata-shaped RDF (``wikidata.nt.gz``) plus derived side tables (revision log,
page views, provenance), ``NOTICE.md`` and ``manifest.json``; ``scripts/build_sample.py`` writes
them from the real fixtures (``dafset.sources.sample.convert.build_sample``). ``SampleSource`` serves
them through the ``dafset.source.Source`` contract, with the RDF in an in-process pyoxigraph store.
"""

from dafset.sources.sample.source import SampleSource
from dafset.sources.sample.store import load_store

__all__ = ["SampleSource", "load_store"]
