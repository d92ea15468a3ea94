"""Where facts come from: every source implements the contract in ``dafset.source``.

- ``sample``: the bundled real sample in an in-process pyoxigraph store (no network);
- ``live``: Wikidata's query service, the MediaWiki API and the pageviews REST API;
- ``dump``: the weekly JSON dump, ingested to Parquet and read through DuckDB.

The SPARQL query files (``queries/*.rq``) are shared by every SPARQL-speaking source.
"""
