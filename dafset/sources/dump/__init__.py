"""The scale path: the weekly Wikidata JSON dump, ingested to Parquet and served through DuckDB."""
